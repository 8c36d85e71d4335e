# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What every Avi module does around its own logic: build the AnsibleModule from the shared
specs and refuse blank names, open one API session whose waits show in the module's progress,
turn known errors into clean failures with the API statistics."""

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
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import (
    ModuleFailure,
    check_names,
    check_positive,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout


def avi_module(argument_spec, with_wait=False, names=(), **kwargs):
    """The AnsibleModule of an Avi module: the connection options (and the wait options), then its own;
    counts and durations in range; ``names`` (options holding names or uuids) not empty or blank."""
    specs = [avi_argument_spec()]
    if with_wait:
        specs.append(wait_argument_spec())
    specs.append(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    module = AnsibleModule(argument_spec=merge_specs(*specs), **kwargs)
    check_positive(module)
    check_names(module, names)
    return module


def run_avi_module(module, logic, task, client_factory=client_from_params):
    """Run ``logic(module, client, progress) -> result dict`` in one session and exit the module.

    ``progress`` is the module's :class:`Progress` (named ``task``); the client's waits (a controller
    rebooting, read-only during an upgrade) show in it.
    """
    try:
        client = client_factory(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    progress = Progress(task)
    client.retry.on_wait = progress.waiting
    result = {}
    try:
        with client:
            result = logic(module, client, progress)
    except ModuleFailure as exc:
        failure = dict(exc.result)
        failure["api_stats"] = dict(client.stats)
        module.fail_json(msg=exc.msg, **failure)
    except (AviError, PlacementError, WaitTimeout) as exc:
        module.fail_json(msg=getattr(exc, "msg", None) or str(exc), api_stats=dict(client.stats))
    result["api_stats"] = dict(client.stats)
    module.exit_json(**result)
