#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: se_disable
short_description: Disable (evacuate) or re-enable an Avi service engine
version_added: 0.1.0
description:
  - Sets the C(enable_state) of an Avi service engine (SE) and, for O(state=disabled), waits until every virtual
    service (VS) has moved off it.
  - Before disabling, checks that the SE group can absorb the load with what the controller exposes (free
    room on the other enabled SEs under C(max_vs_per_se), SEs it may still create under C(max_se), whether the
    cloud's access mode lets it create SEs) and fails without changing anything when it cannot, saying what is
    short. How many SEs a host can still run is exposed by no vendor object; it is reported as unknown, never
    counted as room.
  - Where each virtual service goes is the controller's choice. The plan (check mode, C(plan.moves), the diff)
    shows the targets the controller's documented placement rules predict, labelled as predictions; the result
    of a run reports where each one actually went.
  - With O(method=controller) the controller evacuates the SE itself; with O(method=per_vs) the module first
    stops new placements (C(SE_STATE_DISABLED_FOR_PLACEMENT)), migrates each VS itself, O(concurrency) at a time
    (make-before-break, like M(fleetops.maintenance.vs_migrate)), then disables the SE.
  - If a VS cannot be moved, it keeps serving where it is and the module fails listing it; running the task
    again moves what is left. The outcome of each migration is learnt from the controller's runtime
    (in-progress flags), its placement (the final judge) and its event log; when they disagree or one is missing
    the outcome is unknown and the module fails.
  - Kill it anywhere. Before the first change the module records the SE's C(enable_state) as the operator had it
    in an intent record on the controller (a StringGroup named C(fleetops-maintenance-se-evacuate-<SE uuid>)) and
    takes that record's lease, so one run changes an SE at a time. A re-run (from any machine) waits for a run
    still working on the SE (a module left running by a killed C(ansible-playbook) keeps renewing its lease),
    then continues from the state it finds; it takes over a lease that has expired, or whose process has ended
    on the same machine, or with O(takeover=true). O(state=enabled) restores the recorded state, not the one an
    interrupted run left, and removes the record.
  - A run that disables the SE (with O(wait=true)) ends by verifying what it promised (the SE disabled and empty,
    every virtual service it hosted present once in the inventory and placed on an SE that is up); otherwise it
    fails listing the differences.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
  - fleetops.maintenance.wait
  - fleetops.maintenance.avi_budgets
attributes:
  check_mode:
    support: full
    details: Reads the placement, runs the capacity check and returns the plan (where each VS is predicted to go, which SEs
      the controller is predicted to create) without writing.
  diff_mode:
    support: full
    details: Shows the enable_state and the placement of the SE's virtual services before and after.
  platform:
    platforms: all
options:
  name:
    description:
      - Name of the service engine.
      - Exactly one of O(name) and O(uuid) is required.
    type: str
  uuid:
    description:
      - UUID of the service engine.
    type: str
  state:
    description:
      - V(disabled) moves every virtual service off the SE and disables it (C(SE_STATE_DISABLED)).
      - V(disabled_for_placement) only stops new placements on the SE (C(SE_STATE_DISABLED_FOR_PLACEMENT));
        nothing moves.
      - V(enabled) re-enables the SE (C(SE_STATE_ENABLED)).
    type: str
    choices: [disabled, disabled_for_placement, enabled]
    default: disabled
  method:
    description:
      - How to evacuate the SE for O(state=disabled).
      - V(controller) lets the controller migrate the virtual services when the SE is disabled.
      - V(per_vs) migrates them one by one from the module, O(concurrency) at a time, then disables the SE.
    type: str
    choices: [controller, per_vs]
    default: controller
  concurrency:
    description:
      - With O(method=per_vs), how many virtual services to migrate at once.
    type: int
    default: 4
  takeover:
    description:
      - Take the SE over from another run that holds its intent record's lease, without waiting for that lease
        to expire. Only when you know that run is gone (its machine died); a live run renews its lease.
      - Without it, a run that holds the lease is waited for, up to O(timeout); then the module fails naming that run,
        having changed nothing (RV(ignore:changed=false)).
    type: bool
    default: false
seealso:
  - module: fleetops.maintenance.vs_migrate
  - module: fleetops.maintenance.se_info
'''

EXAMPLES = r'''
- name: Evacuate and disable se-01 before host maintenance
  fleetops.maintenance.se_disable:
    controller: avi.example.com
    username: admin
    password: "{{ avi_password }}"
    ca_path: /etc/pki/avi-ca.pem
    name: se-01
    state: disabled
    timeout: 3600

- name: Plan the evacuation only
  fleetops.maintenance.se_disable:
    name: se-01
    method: per_vs
  check_mode: true
  register: evacuation_plan

- name: Evacuate se-01, at most one db VS moving at once and never two db VSs on one SE
  fleetops.maintenance.se_disable:
    name: se-01
    method: per_vs
    budgets:
      - {name: db, pattern: "db-*", max_moving: 1}

- name: Put se-01 back in service
  fleetops.maintenance.se_disable:
    name: se-01
    state: enabled
'''

RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
service_engine:
  description: The service engine.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, returned: always}
    uuid: {description: UUID., type: str, returned: always}
    se_group: {description: Name of its SE group., type: str, returned: always}
    enable_state:
      description: C(enable_state) before and after (after is the planned one in check mode).
      type: dict
      returned: always
      sample: {"before": "SE_STATE_ENABLED", "after": "SE_STATE_DISABLED"}
    migrate_state: {description: Last C(migrate_state) seen., type: str, returned: always}
  sample: {"name": "se-01", "uuid": "serviceengine-1", "se_group": "Default-Group",
           "enable_state": {"before": "SE_STATE_ENABLED", "after": "SE_STATE_DISABLED"},
           "migrate_state": "SE_MIGRATE_STATE_FINISHED"}
moves:
  description:
    - One entry per virtual service VIP that was on the SE (planned moves in check mode).
    - C(result) is V(moved), V(not_moved) or V(planned) (in check mode C(to_se) is then a prediction).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "web-vs", "uuid": "virtualservice-1", "vip_id": "0", "from_se": "se-01", "to_se": "se-02",
            "created_se": false, "result": "moved"}]
created_service_engines:
  description: Names of the SEs the controller created for the evacuation (predicted ones in check mode).
  returned: always
  type: list
  elements: str
  sample: []
plan:
  description:
    - What the module does or would do. C(actions) lists the steps, the same in check mode (the plan) and in a run (what
      it executes), including the waits when O(wait=true); for O(state=disabled) also C(moves) (where each
      VS would go as the controller would choose; C(to_se) of an SE to be created reads C(new SE N on <host>)),
      C(created_service_engines) and C(capacity) (VSs to move, free slots on other enabled SEs, group size and
      C(max_se), C(new_ses_allowed), why no SE can be created if so, and C(host_capacity), always unknown).
    - C(moves) and C(created_service_engines) are predictions (C(predicted) is true, C(prediction) says why). The
      controller's choice among eligible SEs, whether it creates an SE and on which host, are its own; the
      predicted targets follow its documented placement rules with ties broken by name. After a run,
      C(predictions_met) counts the moves that went where predicted.
    - With O(budgets) and O(method=per_vs), C(budgets) - C(groups) (name, C(max_moving), C(anti_affinity),
      C(members_here)), C(schedule) (waves of VS names, a prediction), after a run C(peak_moving) (the most members of
      each group moving at once); each move has C(wave), C(budget_groups) and C(to_se_chosen) (the module named the SE,
      for anti-affinity), and after a run C(started_s) / C(ended_s) (seconds from the start of the migrations).
  returned: always
  type: dict
  sample: {"method": "controller", "actions": ["set enable_state SE_STATE_DISABLED"], "moves": [],
           "created_service_engines": [], "predicted": true,
           "capacity": {"virtual_services_to_move": 2, "free_slots": 8, "host_capacity": "unknown"}}
intent:
  description:
    - The SE's intent record on the controller (C(record), a StringGroup name), the C(enable_state) it holds as the
      operator's (C(original_enable_state)), whether a record was found (C(recorded)), and the run whose lease this
      run took over (C(taken_over_from)), if any.
  returned: always
  type: dict
  sample: {"record": "fleetops-maintenance-se-evacuate-serviceengine-1", "original_enable_state": "SE_STATE_ENABLED",
           "recorded": false, "taken_over_from": null}
verified:
  description:
    - After disabling (with O(wait=true)), what the end-state check found. C(service_engine_empty), C(virtual_services)
      checked, and C(problems), empty when the run succeeded.
  returned: when the SE was disabled and waited for
  type: dict
  sample: {"service_engine_empty": true, "virtual_services": 2, "problems": []}
progress:
  description:
    - Progress steps recorded while the module ran (also streamed live by the collection's action plugin).
    - Of the updates about one instance or VS that only advance its current step (a rising percentage, a sync's
      bytes), the latest replaces the earlier ones here, keeping the step's place and its C(elapsed) (when it
      began), with C(updated) the latest's C(elapsed); repeats are left out. Live, every one is shown.
  returned: always
  type: list
  elements: dict
  sample: [{"task": "se_disable", "elapsed": 3.1, "phase": "evacuate", "msg": "SE se-01: 1/2 virtual service(s) moved",
            "percent": 50}]
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import (
    avi_module,
    run_avi_module,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.se_disable import disable_service_engine
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import (
    budgets_argument_spec,
    problems as budget_problems,
)


def main():
    argument_spec = dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        state=dict(type="str", default="disabled", choices=["disabled", "disabled_for_placement", "enabled"]),
        method=dict(type="str", default="controller", choices=["controller", "per_vs"]),
        concurrency=dict(type="int", default=4),
        takeover=dict(type="bool", default=False),
    )
    argument_spec.update(budgets_argument_spec())
    module = avi_module(
        argument_spec,
        with_wait=True,
        names=("name", "uuid"),
        required_one_of=[("name", "uuid")],
        mutually_exclusive=[("name", "uuid")],
    )
    problems = budget_problems(module.params["budgets"], "avi")
    if module.params["concurrency"] < 1:
        problems.insert(0, "concurrency must be at least 1, got %d" % module.params["concurrency"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    run_avi_module(module, disable_service_engine, "se_disable")


if __name__ == "__main__":
    main()
