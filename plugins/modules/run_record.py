#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: run_record
short_description: Keep the run record of a maintenance run, written as the run goes on
version_added: 0.1.0
description:
  - "Keeps the run record of a role or playbook (the JSON document of format C(fleetops.maintenance.run_record/v1)
    that P(fleetops.maintenance.run_record_html#filter) renders) and its HTML report, so that the role's own tasks
    only say what happened, in the order of the maintenance: a record starts, steps (a host, a Service Engine, an
    instance...) and their phases are added as the run goes, and the record is finished with the run's result."
  - "B(Durable.) Every call writes the whole record at once (beside the file, then renamed over it), so a run killed
    at any moment leaves a complete, readable record. Until O(state=finished), its C(result) is C(unfinished),
    C(ended) is null, and the phases still running have C(open=true) and end when the record was last written
    (C(updated)): the record says that the run did not finish, and where it was."
  - B(Never overwritten.) With O(file=DIR/NAME.json) a run writes C(DIR/NAME.<UTC start>.json) (for example
    C(cn-7.20260301T020000Z.json); C(-2), C(-3)... when two runs start in the same second) and its HTML report
    C(DIR/NAME.<UTC start>.html), and points the symbolic links C(DIR/NAME.json) and C(DIR/NAME.html) at them.
    The configured name always shows the latest run; the files of earlier runs, a failed run before its re-run
    for example, stay as they were. A regular file found at the configured name (written by an earlier version)
    is first kept under its own timestamped name. Without O(file) the record lives in a private temporary
    directory for the length of the run and is removed at O(state=finished) (it is still returned).
  - "B(Several hosts, one record.) Each change is a read-modify-write under an exclusive lock of the record's
    directory, so the hosts of one play (for example one host per SE group, C(strategy=free)) can add their steps
    to one record: start it once, and give the others its RV(path)."
  - The record is kept on the controller (the machine that runs C(ansible-playbook), or the execution environment
    of an AWX job), like a callback's output, whatever host the task runs for.
  - "How a role uses it, in short: O(state=started) with the run's own step (the compute node, the Service
    Engine) and O(file); before each module call whose progress should become phases, open a phase
    (O(phase.state=started)); after the call, finish it with the module's C(progress) (O(progress)); whatever
    happened (in a C(rescue) or C(always)), O(state=finished) with the final O(steps) and O(result)."
  - "For a rolling upgrade (groups, Service Engines, phases): start the record on the controller host with a
    step for the controller cluster; each SE group host (in parallel) adds a step per Service Engine
    (O(step.group) its SE group) and opens and finishes its phases (C(placement off), C(upgrade), C(health
    check)...) around the module calls; an SE that is skipped is a step with O(step.result=skipped) and no phase;
    the controller host finishes the record with the measured VS-seconds as O(disruption) (C(measured),
    C(unit), C(total), C(by_target))."
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details:
      - The record is written in check mode too, and says so (C(check_mode=true)); it reports what the run would
        do. Nothing but the record's own files is touched, on the controller.
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
notes:
  - Returns C(changed=false) always; the record is the run's log, not a change to the managed systems, so it
    does not spoil a role's idempotence.
options:
  state:
    description:
      - V(started) begins a new record (O(kind), O(title) and optionally O(file), O(step), O(details)).
      - V(updated) adds to the record at O(path) (O(step), O(steps), O(phase), O(progress), O(details)).
      - V(finished) ends it at O(path) with O(result); open phases end now. Give the final O(steps) here too.
    type: str
    choices: [started, updated, finished]
    default: updated
  path:
    description:
      - The record of this run, the RV(path) that O(state=started) returned. Required unless O(state=started).
    type: path
  file:
    description:
      - With O(state=started), where the runs are kept, C(DIR/NAME.json) (see the description for the names of each
        run's files and the links). Its directory must exist and be writable. Relative to the directory
        C(ansible-playbook) runs in.
      - Empty keeps the record in a temporary file removed at O(state=finished).
    type: path
    default: ""
  kind:
    description: What ran, for example V(host_evacuate), V(se_evacuate), V(rolling_upgrade). With O(state=started).
    type: str
  title:
    description: One line for people, the title of the HTML report. Required with O(state=started).
    type: str
  details:
    description: Merged into the record's C(details) (the role's options, what it found).
    type: dict
  step:
    description:
      - One step to add or update (matched by O(step.target)); the fields given replace the step's, O(step.details)
        and O(step.disruption) are merged into its own.
      - With O(state=started), the run's own step (first in C(steps), starting with the run).
      - O(phase) applies to this step; without O(step.target), to the step of the phase this call finishes, or the
        first step.
    type: dict
    suboptions:
      target:
        description: The step's name (a host, a Service Engine, an instance...).
        type: str
      target_type:
        description: What the target is. Required for a new step.
        type: str
        choices: [controller_cluster, system, se_group, service_engine, virtual_service, instance, compute_node,
                  hypervisor, server]
      group:
        description: The row group of the HTML timeline (an SE group, the host emptied).
        type: str
      result:
        description:
          - The step's outcome, free text (C(failed) counts as a failure). A new step is C(unfinished) until it is
            given one; the first step gets the run's result at O(state=finished) if it has none.
        type: str
      message:
        description: One line on what happened.
        type: str
      start:
        description: When the step began, ISO 8601 (default, its first phase).
        type: str
      end:
        description: When it ended (default, the end of its last phase).
        type: str
      details:
        description: Anything more about the step.
        type: dict
      disruption:
        description:
          - Keys C(expected) (bool), C(virtual_services) (list), C(seconds) (the measured disruption, a number, or
            null).
        type: dict
  steps:
    description: Several steps to add or update, each as O(step) (O(step.target) required).
    type: list
    elements: dict
    default: []
    suboptions:
      target:
        description: The step's name.
        type: str
        required: true
      target_type:
        description: What the target is. Required for a new step.
        type: str
        choices: [controller_cluster, system, se_group, service_engine, virtual_service, instance, compute_node,
                  hypervisor, server]
      group:
        description: The row group of the HTML timeline.
        type: str
      result:
        description: The step's outcome.
        type: str
      message:
        description: One line on what happened.
        type: str
      start:
        description: When the step began, ISO 8601.
        type: str
      end:
        description: When it ended.
        type: str
      details:
        description: Anything more about the step.
        type: dict
      disruption:
        description: Keys C(expected), C(virtual_services), C(seconds).
        type: dict
  phase:
    description:
      - A phase of O(step) that begins (O(phase.state=started)) or ends (O(phase.state=finished)).
      - An open phase is written with C(open=true) and ends when the record was last written, so a killed run shows
        where it was.
    type: dict
    suboptions:
      name:
        description:
          - "The phase's name. Required to start one. To finish one, without a name, the phase opened last (of
            O(step) when given, else of any step): what a C(rescue) wants."
        type: str
      state:
        description: V(started) or V(finished).
        type: str
        choices: [started, finished]
        default: started
      disruptive:
        description: Whether the target does not serve during this phase (red in the HTML report).
        type: bool
        default: false
  progress:
    description:
      - The C(progress) history a module of this collection returned (each entry with C(elapsed) seconds since the
        module started and a C(phase)), turned into phases placed in time from the start of the phase this call
        finishes (open that phase just before the module call). Needs O(phase.state=finished).
      - When the step of that phase gets phases from the progress, they take the phase's place (it only marked when
        the call began); otherwise it stays, spanning the call.
    type: dict
    suboptions:
      entries:
        description: The module's C(progress) (for a failed task, C(ansible_failed_result.progress)).
        type: list
        elements: raw
        required: true
      key:
        description:
          - Split the entries into steps by this field (C(instance) for M(fleetops.maintenance.instance_migrate),
            C(vs) for M(fleetops.maintenance.se_disable)); a step that does not exist yet is added with
            O(progress.target_type) and O(progress.group).
        type: str
        default: ""
      target_type:
        description: The target type of the steps added from O(progress.key).
        type: str
        choices: [controller_cluster, system, se_group, service_engine, virtual_service, instance, compute_node,
                  hypervisor, server]
      group:
        description: The group of the steps added from O(progress.key).
        type: str
        default: ""
      disruptive:
        description: Phase names to mark disruptive (for example V(switch) for a Triton migration).
        type: list
        elements: str
        default: []
      unkeyed:
        description:
          - V(step), entries without O(progress.key) (all of them when it is empty) become phases of the step of the
            finished phase. V(drop) leaves them out.
        type: str
        choices: [step, drop]
        default: step
  result:
    description:
      - With O(state=finished), the run's result. Default V(failed) when a step failed, else V(ok).
    type: str
    choices: [ok, failed, stopped]
  disruption:
    description:
      - The record's C(disruption) (C(measured), C(unit), C(total), C(by_target)).
      - With O(state=started), for example its C(unit). At O(state=finished), unless it gives C(by_target), the
        disruption is summed from the steps' C(disruption.seconds) (C(measured) when any step has a number and the
        run was not a check).
    type: dict
seealso:
  - plugin: fleetops.maintenance.run_record_html
    plugin_type: filter
  - ref: ansible_collections.fleetops.maintenance.docsite.guide_evacuate_host
    description: The run record of a host evacuation.
'''

EXAMPLES = r'''
- name: Start the run record of the evacuation of cn-7
  fleetops.maintenance.run_record:
    state: started
    file: /var/tmp/cn-7.json
    kind: host_evacuate
    title: Evacuation of compute node cn-7
    step: {target: cn-7, target_type: compute_node}
    disruption: {unit: seconds of instance downtime}
  register: record

- name: Record that the migrations begin
  fleetops.maintenance.run_record:
    path: "{{ record.path }}"
    phase: {name: migrations}

- name: Migrate every instance off cn-7
  fleetops.maintenance.instance_migrate:
    from_server: cn-7
    api: operator
    state: migrated
  register: window

- name: Record the migrations, a step per instance with its phases
  fleetops.maintenance.run_record:
    path: "{{ record.path }}"
    phase: {name: migrations, state: finished}
    progress:
      entries: "{{ window.progress }}"
      key: instance
      target_type: instance
      group: cn-7
      disruptive: [switch, rollback]
      unkeyed: drop

- name: Finish the run record
  fleetops.maintenance.run_record:
    path: "{{ record.path }}"
    state: finished
    step: {result: evacuated, message: 3 instance(s) moved}
    steps:
      - {target: web-1, result: finalized, disruption: {seconds: 1.2}}
      - {target: web-2, result: finalized, disruption: {seconds: 0.9}}
      - {target: db-1, result: finalized, disruption: {seconds: 2.1}}

# A rolling upgrade: one record, SE group hosts adding to it in parallel
- name: Start the record (on localhost)
  fleetops.maintenance.run_record:
    state: started
    file: /var/tmp/upgrade.json
    kind: rolling_upgrade
    title: Upgrade to 22.1.7
    step: {target: controller cluster, target_type: controller_cluster, group: controllers}
  register: upgrade_record

- name: The placement of an SE goes off (on the host of its SE group)
  fleetops.maintenance.run_record:
    path: "{{ hostvars.localhost.upgrade_record.path }}"
    step: {target: se-3, target_type: service_engine, group: "{{ inventory_hostname }}"}
    phase: {name: placement off}
'''

RETURN = r'''
path:
  description: The file of this run's record (what later calls take as O(path)); null once a temporary record is
    removed.
  returned: always
  type: str
  sample: /var/tmp/cn-7.20260301T020000Z.json
files:
  description:
    - Where the record is, C(json) and C(html) (this run's files) and C(latest_json) and C(latest_html) (the
      links to the latest run, the configured name). C(temporary=true) while a record without O(file) exists.
    - Also in the record, as C(files).
  returned: always
  type: dict
  sample: {json: /var/tmp/cn-7.20260301T020000Z.json, html: /var/tmp/cn-7.20260301T020000Z.html,
           latest_json: /var/tmp/cn-7.json, latest_html: /var/tmp/cn-7.html}
phase:
  description: The phase this call finished (C(target) of its step, C(name), C(start), C(end)); empty if none.
  returned: always
  type: dict
record:
  description:
    - The whole record as written, format C(fleetops.maintenance.run_record/v1) (see
      P(fleetops.maintenance.run_record_html#filter)), with C(updated) (when it was last written) and C(files).
    - At O(state=finished), C(failures) counts the failed steps but the run's own (the first), at least one when the
      run failed; a step with a disruptive phase has C(disruption.expected=true).
  returned: always
  type: dict
'''
