#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: job_wait
short_description: Wait for several async jobs of this collection's modules, showing their progress live
version_added: 0.3.0
description:
  - Waits until every job in O(jobs) has ended (the registered results of a looped task started with C(async) and
    C(poll) set to V(0)), and returns each job's result, in the order given, as C(ansible.builtin.async_status) in a loop
    would.
  - Unlike C(async_status) in an C(until) loop, it prints no C(FAILED - RETRYING) line per poll. It prints a job's
    progress lines as they appear (when the job was started with the environment variable
    C(FLEETOPS_PROGRESS_FILE) set to C(<progress_dir>/<index>.jsonl), C(index) being the job's loop index,
    C(loop_control.index_var)), and one line as each job ends, naming it and
    its outcome. A job is named by its loop item's C(name) (an item that is not a mapping, the item itself; no item,
    its job id). With C(-v), every progress line.
  - All jobs are read with one command per poll (every half second at most). A job that failed does not fail this
    task; it is in RV(results) with C(failed) and in RV(failed_jobs), so the caller reports every outcome at once.
  - Each job's files are removed once its result is read (what C(async_status) C(mode=cleanup) does).
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: It only reads the jobs' files (jobs started in check mode change nothing).
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
options:
  jobs:
    description:
      - The registered results of the task that started the jobs, one per loop item (C("{{ started.results }}")).
        Each must have an C(ansible_job_id).
    type: list
    elements: raw
    required: true
  progress_dir:
    description:
      - The directory on the target where each job writes its progress lines, C(<index>.jsonl) (the job's position in
        O(jobs), from 0). Not given, only the line at each job's end is printed.
    type: path
  timeout:
    description:
      - Seconds to wait for every job at most. Then the task fails naming each job still running and its job id (the
        jobs go on in the background; C(async_status) reads them later).
    type: int
    default: 3600
'''

EXAMPLES = r'''
- name: Make a temporary directory for the jobs' progress
  ansible.builtin.tempfile:
    state: directory
    suffix: .progress
  register: progress_dir

- name: Start moving three virtual services at once
  fleetops.maintenance.vs_migrate:
    name: "{{ item.name }}"
    from_se: "{{ item.from }}"
    to_se: se-1
  loop: [{name: vs-1, from: se-2}, {name: vs-2, from: se-3}, {name: vs-3, from: se-2}]
  loop_control: {index_var: job}
  environment:
    FLEETOPS_PROGRESS_FILE: "{{ progress_dir.path }}/{{ job }}.jsonl"
  async: 2400
  poll: 0
  register: started

- name: Wait for each to end, showing its progress
  fleetops.maintenance.job_wait:
    jobs: "{{ started.results }}"
    progress_dir: "{{ progress_dir.path }}"
  register: ended
'''

RETURN = r'''
results:
  description: Each job's result (the module's own return values), in the order of O(jobs), with C(item) the
    registered start result it came from (so C(item.item) is the loop item).
  returned: always
  type: list
  elements: dict
  sample: [{changed: true, item: {ansible_job_id: "j1234.5678", item: {name: vs-1}}}]
failed_jobs:
  description: The names of the jobs whose module failed.
  returned: always
  type: list
  elements: str
  sample: [vs-2]
'''
