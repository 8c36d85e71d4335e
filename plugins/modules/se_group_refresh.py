#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: se_group_refresh
short_description: Move the service engines of an Avi SE group onto a redefined hardware, one at a time
version_added: 0.2.0
description:
  - Sets the hardware of new service engines (SEs) in an SE group (O(vcpus_per_se), O(memory_per_se), O(disk_per_se),
    O(instance_flavor)) and replaces every SE built on another definition, one at a time. A group's hardware settings
    apply only to SEs created afterwards (vendor documentation of C(vcpus_per_se) and C(memory_per_se)), so each old SE
    is disabled (the controller moves its virtual services as for any disabled SE, creating SEs where placement needs
    them, with the new definition), verified empty, and deleted (C(DELETE /api/serviceengine/{uuid})).
  - The controller creates SEs when placement needs them. Nothing promises one new SE per deleted one; the module
    reports the SEs the controller created (RV(created_service_engines)) and never assumes their number.
  - Refuses before any change, saying why, a legacy active/standby group (its SEs are switched over, not disabled one
    by one; the vendor's workflow is a switchover), a group whose cloud does not let the controller create SEs (no
    orchestrator, or read or no access; the VMs would have to be made by hand), and a group that could not absorb an
    evacuation under its C(max_se) (disabled SEs count until they are deleted).
  - SEs the operator disabled (C(SE_STATE_DISABLED_FOR_PLACEMENT), C(SE_STATE_DISABLED)) are left alone and listed in
    RV(left_alone).
  - Kill it anywhere. An intent record on the controller (a StringGroup named
    C(fleetops-maintenance-se-group-refresh-<group uuid>)) holds each SE being replaced before it is disabled, and the
    group's lease (one run at a time; see M(fleetops.maintenance.se_disable) for the lease rules). A re-run finishes
    the replacement it finds there (an SE left disabled is evacuated, VSs the controller left on it are moved one by
    one, then it is deleted) before the next.
  - The run ends by verifying every virtual service of the group is present once and placed on an SE that is up, no
    SE is left on the old hardware (besides those left alone) and the SEs the controller created have the new one.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
attributes:
  check_mode:
    support: full
    details: Reads the group and returns the plan (the hardware change, the SEs to replace in order, where the controller
      is predicted to move each one's virtual services and which SEs it is predicted to create) without writing.
  diff_mode:
    support: full
    details: Shows the group's hardware and its outdated SEs before and after.
  platform:
    platforms: all
options:
  se_group:
    description:
      - Name or uuid of the SE group.
    type: str
    required: true
  vcpus_per_se:
    description:
      - vCPUs of each new SE (the group's C(vcpus_per_se)). Omitted, the group's current setting is the definition SEs
        are checked against.
    type: int
  memory_per_se:
    description:
      - Memory of each new SE in MB (the group's C(memory_per_se)). Omitted, the group's current setting.
    type: int
  disk_per_se:
    description:
      - Disk of each new SE in GB (the group's C(disk_per_se)). Omitted, the group's current setting.
    type: int
  instance_flavor:
    description:
      - Instance flavor of each new SE, in clouds that use flavors (the group's C(instance_flavor)). Omitted, the group's
        current setting (if any).
    type: str
  takeover:
    description:
      - Take the group over from another run that holds its intent record's lease, without waiting for that lease to
        expire. Only when you know that run is gone.
      - Without it, a run that holds the lease is waited for, up to O(timeout); then the module fails naming that run,
        having changed nothing (RV(ignore:changed=false)).
    type: bool
    default: false
  timeout:
    description:
      - How many seconds the whole run (every replacement) may take at most. When it passes the module fails; the SE
        being replaced stays recorded, and running the task again finishes it before the next.
      - The module always waits for the end of each replacement before the next one (there is no C(wait) option, as
        the modules that start one operation have).
    type: int
    default: 1800
  wait_sleep:
    description:
      - Longest pause, in seconds, between two polls of the controller while waiting. Polling starts at a quarter of a
        second and grows to this value, so short operations are seen finished at once.
    type: float
    default: 2.0
notes:
  - O(timeout) bounds the whole run (every replacement).
  - Documented vendor behaviour the module relies on, and what it assumes, are listed in the collection's guide to SE
    evacuation (the section on redefined hardware).
seealso:
  - module: fleetops.maintenance.se_disable
  - module: fleetops.maintenance.se_info
'''

EXAMPLES = r'''
- name: Plan moving sg-web onto 4 vCPU / 8 GB SEs
  fleetops.maintenance.se_group_refresh:
    se_group: sg-web
    vcpus_per_se: 4
    memory_per_se: 8192
  check_mode: true
  register: refresh_plan

- name: Move sg-web onto 4 vCPU / 8 GB SEs, one SE at a time
  fleetops.maintenance.se_group_refresh:
    se_group: sg-web
    vcpus_per_se: 4
    memory_per_se: 8192
    timeout: 14400
'''

RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
se_group:
  description: The group, and its hardware settings before and after (only the settings the definition uses).
  returned: always
  type: dict
  sample: {"name": "sg-web", "uuid": "serviceenginegroup-1",
           "hardware": {"before": {"vcpus_per_se": 1, "memory_per_se": 2048}, "after": {"vcpus_per_se": 4,
                        "memory_per_se": 8192}}}
plan:
  description:
    - C(actions), the steps in order (the same in check mode and in a run); C(replacements), per SE to replace its
      C(outdated) settings and the C(moves) of its virtual services; C(created_service_engines), the SEs the controller
      is predicted to create.
    - C(moves) and C(created_service_engines) are predictions (C(predicted), C(prediction)).
  returned: when the group is read
  type: dict
  sample: {"actions": ["set SE group sg-web: vcpus_per_se 1 -> 4",
                       "replace SE se-1 (2 virtual service(s)): disable it, wait for the controller to move them, verify, delete it"],
           "predicted": true}
replaced:
  description: The SEs replaced, in order, with where each of their virtual services went.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "se-1", "uuid": "serviceengine-1", "deleted": true, "moved": [{"name": "vs-1", "to_se": "Avi-se-abcde"}]}]
left_alone:
  description: SEs on the old hardware left alone, and why (disabled by the operator).
  returned: always
  type: list
  elements: dict
  sample: []
created_service_engines:
  description: The SEs the controller created during the run, with their resources (number not assumed).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "Avi-se-abcde", "uuid": "serviceengine-9", "resources": {"num_vcpus": 4, "memory": 8192, "disk": 15},
            "oper_status": "OPER_UP"}]
service_engines:
  description: How many SEs the group had before and has after.
  returned: always
  type: dict
  sample: {"before": 3, "after": 2}
intent:
  description: The group's intent record (C(record)), what an earlier run left in it, and whose lease this run took over.
  returned: always
  type: dict
  sample: {"record": "fleetops-maintenance-se-group-refresh-serviceenginegroup-1", "left_by_an_earlier_run": [],
           "taken_over_from": null}
verified:
  description: What the end-state check found (C(problems) is empty when the run succeeded).
  returned: after a run that changed something
  type: dict
  sample: {"virtual_services": 4, "problems": []}
progress:
  description:
    - Progress steps recorded while the module ran (also streamed live by the collection's action plugin).
    - Of the updates about one instance or VS that only advance its current step (a rising percentage, a sync's
      bytes), the latest replaces the earlier ones here, keeping the step's place and its C(elapsed) (when it
      began), with C(updated) the latest's C(elapsed); repeats are left out. Live, every one is shown.
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import (
    avi_module,
    run_avi_module,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.se_group_refresh import refresh_se_group


def main():
    argument_spec = dict(
        se_group=dict(type="str", required=True),
        vcpus_per_se=dict(type="int"),
        memory_per_se=dict(type="int"),
        disk_per_se=dict(type="int"),
        instance_flavor=dict(type="str"),
        takeover=dict(type="bool", default=False),
        timeout=dict(type="int", default=1800),
        wait_sleep=dict(type="float", default=2.0),
    )
    module = avi_module(argument_spec, names=("se_group", "instance_flavor"))
    for option in ("vcpus_per_se", "memory_per_se", "disk_per_se"):
        if module.params[option] is not None and module.params[option] < 1:
            module.fail_json(msg="%s must be a positive number, got %d" % (option, module.params[option]))
    run_avi_module(module, refresh_se_group, "se_group_refresh")


if __name__ == "__main__":
    main()
