# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: the ``invocation`` key of an action plugin's result, as modules give it.

ansible-core 2.21 adds the setting ``INJECT_INVOCATION`` (``ANSIBLE_INJECT_INVOCATION``, the variable
``ansible_inject_invocation``): when it is on, every module's result carries ``invocation.module_args``, the
arguments it ran with. Action plugins that run no module (check_inputs, run_record) add it themselves, as
ansible-core's own ``copy`` action does; the collection's tests read it from the job events to see which options
each test exercised (scripts/option_coverage.py). Older cores have no such setting: nothing is added.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible import constants as C
from ansible.errors import AnsibleError


def add_invocation(result, module_args, task_vars, templar):
    """Add ``invocation: {module_args: ...}`` to ``result`` when INJECT_INVOCATION is on; give it only arguments
    that hold no secret."""
    try:
        wanted = C.config.get_config_value("INJECT_INVOCATION", variables=task_vars or {}, templar=templar)
    except (AnsibleError, KeyError, TypeError):  # an ansible-core without the setting (before 2.21; before 2.20
        wanted = False                         # get_config_value takes no templar either)
    if wanted and "invocation" not in result:
        result["invocation"] = {"module_args": module_args}
    return result
