# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: run_record_phases
author: fleetops maintainers
version_added: 0.1.0
short_description: Turn a module's progress history into the phases of run-record steps
description:
  - The long-running modules of this collection return C(progress), the steps they recorded while they ran; each
    entry has C(elapsed) (seconds since the module started), a C(phase) and, for modules that work on several
    objects at once, the object it concerns (C(instance) for M(fleetops.maintenance.instance_migrate), C(vs) for
    M(fleetops.maintenance.se_disable) with C(method=per_vs)).
  - This filter places those entries in time from O(started) (when the task began) and returns phases in the run
    record format (C(name), C(start), C(end), C(disruptive)). A phase runs from its first entry to the first entry
    of the next phase of the same object; the last one ends at its own last entry.
positional: started, key, disruptive
options:
  _input:
    description: The C(progress) list a module returned.
    type: list
    elements: dict
    required: true
  started:
    description: When the task began, ISO 8601 (for example C(now(utc=true\).isoformat(\)) set just before it).
    type: str
    required: true
  key:
    description:
      - Split the entries by this field and return a dictionary of phases per value (entries without it are left
        out). Empty returns one list of phases for all entries.
    type: str
    default: ""
  disruptive:
    description: Phase names to mark C(disruptive) (for example V(switch) for instance migrations).
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Note when the migrations start
  ansible.builtin.set_fact:
    evacuation_started: "{{ now(utc=true).isoformat() }}"

- name: Migrate every instance off the compute node
  fleetops.maintenance.instance_migrate:
    from_server: cn-7
    api: operator
    state: migrated
  register: evacuation

- name: Phases per instance, the switch marked disruptive
  ansible.builtin.set_fact:
    phases_by_instance: "{{ evacuation.progress | fleetops.maintenance.run_record_phases(evacuation_started,
                            'instance', ['switch']) }}"
'''

RETURN = r'''
_value:
  description:
    - With O(key), a dictionary of lists of phases per object; without, one list of phases.
    - Each phase has C(name), C(start), C(end) (ISO 8601, UTC) and C(disruptive).
  type: raw
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import (
    RunRecordError, phases_from_progress)


def run_record_phases(progress, started, key="", disruptive=None):
    try:
        return phases_from_progress(progress, started, key=key or None, disruptive=tuple(disruptive or ()))
    except RunRecordError as exc:
        raise AnsibleFilterError("run_record_phases: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"run_record_phases": run_record_phases}
