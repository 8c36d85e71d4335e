#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: check_inputs
short_description: Check the variables a playbook or role was given, strictly, before anything changes
version_added: 0.1.0
description:
  - Checks each variable named in O(inputs) (an extra var of a playbook, a role variable) against its rules and
    fails with B(only) what is missing or wrong, naming each variable as it was given, and saying what is
    accepted. Nothing is changed by a run that ends here.
  - Stricter than Ansible's own conversions, which read C(flase) or C(yes please) as a boolean and C(4.5) or C(abc)
    as a whole number without a word. A boolean is V(true) or V(false) (also V(yes)/V(no), V(on)/V(off), V(1)/V(0),
    in any case); a whole number is digits only; a name or uuid is not blank and has no spaces around it.
  - An input given as an empty string (an optional question of an AWX survey left empty) counts as not given.
  - Files the run will read (C(readable)) must exist and be readable; files it will write (C(writable)) must be in
    an existing, writable directory. Relative paths are taken from the directory C(ansible-playbook) runs in, and
    returned absolute.
  - The collection's playbooks check their extra vars with it before their first task that changes anything; its
    roles check with it what their argument specs cannot say (blank names, ranges, files).
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: It only reads the variables and looks at the files named.
  diff_mode:
    support: none
  platform:
    platforms: all
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
options:
  inputs:
    description:
      - "The variables to check, each with its rules, C(name: {rule: value, ...})."
      - C(type), V(str) (default), V(name) (a name or uuid, no spaces around it), V(int), V(bool), V(path), V(dict),
        V(list), V(yaml_list) (a list, or its YAML text as an AWX survey or C(-e name=[...]) gives it).
      - C(required), the variable must be given (not empty, not blank).
      - "C(required_when), required only when other inputs have these values, C({provider: virtfusion}) (a list of
        values, any of them; several inputs, all of them)."
      - C(choices), the accepted values (after conversion to C(type)).
      - C(min) and C(max), the range of a V(int).
      - C(default), the value returned when the variable is not given.
      - C(description), what the variable is, said when it is missing.
      - C(env), an environment variable that may give the value instead (said when it is missing).
      - C(value), the value to check instead of the variable of that name (for an input that a vars file reads from
        an extra var or the environment, for example C("{{ avi_connection.controller }}")).
      - C(readable), a V(path) the run reads; C(writable), a V(path) the run writes.
      - C(differs_from), the name of another input this one must not equal.
    type: dict
    required: true
  mutually_exclusive:
    description: Lists of inputs of which at most one may be given (V(false) counts as not given).
    type: list
    elements: list
    default: []
notes:
  - The collection's roles have argument specs (C(meta/argument_specs.yml), types and choices, checked by Ansible
    when a role is included) and check with this what those cannot say.
seealso:
  - ref: ansible_collections.fleetops.maintenance.docsite.guide_evacuate_host
    description: What the evacuation playbook refuses.
'''

EXAMPLES = r'''
- name: Check the inputs before anything changes
  fleetops.maintenance.check_inputs:
    inputs:
      service_engine: {type: name, required: true, description: name or uuid of the Service Engine}
      state: {choices: [disabled, disabled_for_placement, enabled], default: disabled}
      concurrency: {type: int, min: 1, default: 4}
      verify: {type: bool, default: true}
      report_file: {type: path, writable: true}
      avi_controller: {required: true, value: "{{ avi_connection.controller }}", env: AVI_CONTROLLER}
  register: checked

- name: Use the checked values (converted, defaults applied)
  ansible.builtin.debug:
    msg: "{{ checked.inputs.concurrency + 1 }}"
'''

RETURN = r'''
inputs:
  description: The value of each input, converted to its type (a path made absolute), its default when not given.
    Only when every input passed.
  returned: success
  type: dict
  sample: {service_engine: se-1, state: disabled, concurrency: 4, verify: true, report_file: /var/tmp/se-1.json}
problems:
  description: One line per input to fix, each naming the input and what it accepts.
  returned: always
  type: list
  elements: str
  sample: ["concurrency must be a whole number, got 'abc'", "verify must be true or false (also yes/no, on/off,
           1/0), got 'flase'"]
'''
