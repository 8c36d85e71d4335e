# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Avi module does around its own logic: build the AnsibleModule from the shared
specs, open one API session, turn known errors into clean failures with the API statistics."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import (
    AviError,
    client_from_params,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import PlacementError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.spec import (
    avi_argument_spec,
    merge_specs,
    wait_argument_spec,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout


class ModuleFailure(Exception):
    """Fail the module with ``msg`` and the partial ``result`` gathered so far."""

    def __init__(self, msg, **result):
        super(ModuleFailure, self).__init__(msg)
        self.msg = msg
        self.result = result


# Options that must be positive numbers (or at least 0), whichever module has them.
POSITIVE_OPTIONS = ("timeout", "concurrency", "api_timeout")
NON_NEGATIVE_OPTIONS = ("wait_sleep",)


def check_positive(module):
    """Fail, naming the option, when a count or duration is out of range."""
    for name in POSITIVE_OPTIONS:
        value = module.params.get(name)
        if value is not None and value <= 0:
            module.fail_json(msg="%s must be a positive number, got %s" % (name, value))
    for name in NON_NEGATIVE_OPTIONS:
        value = module.params.get(name)
        if value is not None and value < 0:
            module.fail_json(msg="%s must be 0 or more, got %s" % (name, value))


def avi_module(argument_spec, with_wait=False, **kwargs):
    specs = [avi_argument_spec()]
    if with_wait:
        specs.append(wait_argument_spec())
    specs.append(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    module = AnsibleModule(argument_spec=merge_specs(*specs), **kwargs)
    check_positive(module)
    return module


def run_avi_module(module, logic, client_factory=client_from_params):
    """Run ``logic(module, client) -> result dict`` in one session and exit the module."""
    try:
        client = client_factory(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = {}
    try:
        with client:
            result = logic(module, client)
    except ModuleFailure as exc:
        failure = dict(exc.result)
        failure["api_stats"] = dict(client.stats)
        module.fail_json(msg=exc.msg, **failure)
    except (AviError, PlacementError, WaitTimeout) as exc:
        module.fail_json(msg=getattr(exc, "msg", None) or str(exc), api_stats=dict(client.stats))
    result["api_stats"] = dict(client.stats)
    module.exit_json(**result)
