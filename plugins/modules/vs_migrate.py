#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vs_migrate
short_description: Migrate an Avi virtual service from one service engine to another
version_added: 0.1.0
description:
  - Moves one VIP of an Avi virtual service off a service engine (SE), make-before-break, through
    C(POST /api/virtualservice/{uuid}/migrate), and waits until the controller reports the migration done.
  - The target is a given SE (O(to_se)), a new SE on a given host (O(to_host)), a new SE (O(to_new_se)),
    or, when none is given, the controller's best choice.
  - Before calling the API the module checks that the target can take the virtual service, using the
    controller's placement rules, and refuses legacy active/standby SE groups (the controller does not
    support migration there). Without O(to_se) the target is the controller's choice; the plan shows the one its
    documented rules predict, labelled as a prediction, and the result the one it chose.
  - The outcome is learnt from the controller's runtime (in-progress flags), the placement (the final judge) and its
    event log; when they disagree or one is missing the outcome is unknown and the module fails. With O(to_host) or
    O(to_new_se) the VIP must end on an SE that did not exist before (on that host); the controller may need several
    attempts to create it (the vendor documents a retry a few minutes after a failed creation).
  - Idempotent when O(from_se) or O(to_se) is given; a VS already on O(to_se), or no longer on O(from_se)
    when no target is given, is left alone (RV(ignore:changed=false)).
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
  - fleetops.maintenance.wait
attributes:
  check_mode:
    support: full
    details: Reads the placement and returns the planned target (as the controller would choose it) without migrating.
  diff_mode:
    support: full
    details: Shows the SEs of the VIP before and after.
  platform:
    platforms: all
options:
  name:
    description:
      - Name of the virtual service.
      - Exactly one of O(name) and O(uuid) is required.
    type: str
  uuid:
    description:
      - UUID of the virtual service.
    type: str
  vip_id:
    description:
      - The VIP of the virtual service to migrate.
    type: str
    default: "0"
  from_se:
    description:
      - Name or UUID of the SE to move the VIP away from.
      - Required only when the VIP is placed on several SEs.
    type: str
  to_se:
    description:
      - Name or UUID of the SE to move to. It must be enabled, up, in the virtual service's SE group and below
        C(max_vs_per_se).
      - Mutually exclusive with O(to_host) and O(to_new_se).
    type: str
  to_host:
    description:
      - Name or UUID of a host (C(vimgrhostruntime)) on which the controller creates a new SE to move to.
      - Mutually exclusive with O(to_se) and O(to_new_se).
    type: str
  to_new_se:
    description:
      - Move to a new SE that the controller creates.
      - Mutually exclusive with O(to_se) and O(to_host).
    type: bool
    default: false
seealso:
  - module: fleetops.maintenance.se_disable
  - module: fleetops.maintenance.se_info
'''

EXAMPLES = r'''
- name: Move web-vs off se-01 to wherever the controller prefers
  fleetops.maintenance.vs_migrate:
    controller: avi.example.com
    username: admin
    password: "{{ avi_password }}"
    name: web-vs
    from_se: se-01

- name: Move web-vs to a given SE, credentials from module_defaults
  module_defaults:
    group/fleetops.maintenance.avi:
      avi_credentials: "{{ avi_credentials }}"
  fleetops.maintenance.vs_migrate:
    name: web-vs
    to_se: se-03

- name: Plan only
  fleetops.maintenance.vs_migrate:
    name: web-vs
    from_se: se-01
    to_new_se: true
  check_mode: true
  register: plan
'''

RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
virtual_service:
  description: The virtual service.
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str, returned: always}
    uuid: {description: UUID., type: str, returned: always}
    vip_id: {description: The VIP migrated., type: str, returned: always}
    se_group: {description: Name of its SE group., type: str, returned: always}
  sample: {"name": "web-vs", "uuid": "virtualservice-1", "vip_id": "0", "se_group": "Default-Group"}
from_se:
  description: The SE the VIP moves away from (null when nothing moves).
  returned: always
  type: dict
  sample: {"name": "se-01", "uuid": "serviceengine-1"}
target:
  description:
    - The SE the VIP moved to (or would move to in check mode). C(uuid) is null for an SE still to be created.
    - Null when nothing changes.
  returned: always
  type: dict
  contains:
    name: {description: "Name (for a predicted new SE, a description such as C(new SE 1 on host-a)).", type: str, returned: always}
    uuid: {description: UUID., type: str, returned: always}
    created: {description: Whether the SE was (or would be) created for this migration., type: bool, returned: always}
    predicted:
      description:
        - True when C(name) is a prediction (check mode, and no O(to_se)); the controller picks the target itself.
      type: bool
      returned: always
    prediction_met:
      description: After a run, whether the controller moved the VIP where the plan predicted.
      type: bool
      returned: after a migration
  sample: {"name": "se-03", "uuid": "serviceengine-3", "created": false, "predicted": false, "prediction_met": true}
created_service_engine:
  description: Name of the SE created for the migration, null if none.
  returned: always
  type: str
  sample: null
placement:
  description: SE names of the VIP before and after (after is predicted in check mode, null without O(wait)).
  returned: always
  type: dict
  contains:
    before: {description: SE names before., type: list, elements: str, returned: always}
    after: {description: SE names after., type: list, elements: str, returned: always}
  sample: {"before": ["se-01", "se-02"], "after": ["se-02", "se-03"]}
plan:
  description:
    - What the module decided, and why. C(to_se) is the predicted target unless O(to_se) names it (C(predicted),
      C(prediction)).
  returned: always
  type: dict
  sample: {"action": "migrate", "reason": "VS is on se-01", "to_se": "se-03", "created_se": false, "predicted": true}
events:
  description:
    - What the controller's event log reported about the virtual service while it moved (for example a failed SE
      creation it retried), as C(EVENT_ID; description).
  returned: after a migration waited for
  type: list
  elements: str
  sample: ["CREATE_SE_FAIL: Service Engine Avi-se-abcde creation failed (no room on the host)"]
progress:
  description:
    - Progress steps (see the collection's progress reporting), including C(progress_percent) of the migration.
    - Of the updates about one instance or VS that only advance its current step (a rising percentage, a sync's
      bytes), the latest replaces the earlier ones here, keeping the step's place and its C(elapsed) (when it
      began), with C(updated) the latest's C(elapsed); repeats are left out. Live, every one is shown.
  returned: always
  type: list
  elements: dict
  sample: [{"task": "vs_migrate", "elapsed": 0.5, "phase": "migrate", "msg": "migrating VS web-vs (vip 0)", "percent": 40}]
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import (
    avi_module,
    run_avi_module,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_migrate import migrate_virtual_service


def main():
    argument_spec = dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        vip_id=dict(type="str", default="0"),
        from_se=dict(type="str"),
        to_se=dict(type="str"),
        to_host=dict(type="str"),
        to_new_se=dict(type="bool", default=False),
    )
    module = avi_module(
        argument_spec,
        with_wait=True,
        names=("name", "uuid", "vip_id", "from_se", "to_se", "to_host"),
        required_one_of=[("name", "uuid")],
        mutually_exclusive=[("name", "uuid"), ("to_se", "to_host", "to_new_se")],
    )
    run_avi_module(module, migrate_virtual_service, "vs_migrate")


if __name__ == "__main__":
    main()
