# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks the variables a playbook or role was given, by the names the operator typed, before anything
changes. The documentation is in plugins/modules/check_inputs.py, the rules in plugin_utils.inputs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.inputs import RuleError, check
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.invocation import add_invocation

ARGUMENT_SPEC = {
    "inputs": {"type": "dict", "required": True},
    "mutually_exclusive": {"type": "list", "elements": "list", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        values = {}
        for name, rule in args["inputs"].items():
            if name in task_vars and "value" not in (rule or {}):
                values[name] = self._templar.template(task_vars[name])
        try:
            checked, problems = check(args["inputs"], values, args["mutually_exclusive"])
        except RuleError as exc:
            raise AnsibleActionFail("check_inputs: a rule is wrong: %s" % exc)
        result.update(changed=False, problems=problems)
        if problems:
            result.update(failed=True, msg="%d input(s) to fix, nothing was changed: %s" % (
                len(problems), "; ".join(problems)))
        else:
            result.update(inputs=checked, msg="%d input(s) checked" % len(checked))
        # the rules without the values they were given (a value may be a secret)
        rules = dict((name, dict((k, v) for k, v in (rule or {}).items() if k != "value"))
                     for name, rule in args["inputs"].items())
        return add_invocation(result, dict(args, inputs=rules), task_vars, self._templar)
