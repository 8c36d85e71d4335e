#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: se_info
short_description: Read Avi service engines and where virtual services are placed
version_added: 0.1.0
description:
  - Returns the service engines (SEs) of an Avi controller with their state and the virtual services (VSs) on
    each, and the virtual services with their placement per VIP.
  - Read-only.
  - With O(settle), waits until the placement is as given (for example after a migration, until the controller shows
    the virtual service up on its new SE and off the old one), reading again quietly, and returns the last read with
    what is still not as given. It never fails for that; the caller judges the end state.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  se_group:
    description:
      - Only SEs and VSs of these SE groups (names or UUIDs).
    type: list
    elements: str
  names:
    description:
      - Only these SEs (names or UUIDs), and the VSs placed on them.
    type: list
    elements: str
  settle:
    description:
      - Read again until every one of these virtual services is placed as given, or O(settle_timeout) passes.
      - Each entry is placed as given when its VIP is on O(settle[].on_se) and up there, no longer on
        O(settle[].off_se) (when given), and the virtual service itself is up.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the virtual service.
        type: str
        required: true
      vip_id:
        description: Its VIP.
        type: str
        default: "0"
      on_se:
        description: Name or UUID of the SE the VIP must be on, up.
        type: str
        required: true
      off_se:
        description: Name or UUID of an SE the VIP must no longer be on.
        type: str
  settle_timeout:
    description:
      - Seconds to keep reading for O(settle); V(0) reads once.
    type: int
    default: 30
seealso:
  - module: fleetops.maintenance.se_disable
  - module: fleetops.maintenance.vs_migrate
'''

EXAMPLES = r'''
- name: Read all SEs and VS placement
  fleetops.maintenance.se_info:
    controller: avi.example.com
    username: admin
    password: "{{ avi_password }}"
  register: avi

- name: SEs of one group
  fleetops.maintenance.se_info:
    se_group: [Default-Group]
  register: group_ses

- name: After moving web-vs from se-01 to se-03, read until the controller shows it up on se-03 only
  fleetops.maintenance.se_info:
    settle:
      - {name: web-vs, on_se: se-03, off_se: se-01}
  register: after

- name: Names of the VSs on se-01
  ansible.builtin.debug:
    msg: "{{ (avi.service_engines | selectattr('name', 'equalto', 'se-01') | first).virtual_services }}"
'''

RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
service_engines:
  description: The service engines, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Name., type: str, returned: always}
    uuid: {description: UUID., type: str, returned: always}
    se_group: {description: Name of the SE group., type: str, returned: always}
    enable_state: {description: "C(enable_state), for example C(SE_STATE_ENABLED).", type: str, returned: always}
    oper_status: {description: "Operational state, for example C(OPER_UP).", type: str, returned: always}
    migrate_state: {description: "C(migrate_state), for example C(SE_MIGRATE_STATE_IDLE).", type: str, returned: always}
    version: {description: SE software version., type: str, returned: always}
    host: {description: Name of the host the SE runs on., type: str, returned: always}
    virtual_services: {description: Names of the VSs placed on the SE., type: list, elements: str, returned: always}
  sample: [{"name": "se-01", "uuid": "serviceengine-1", "se_group": "Default-Group", "enable_state": "SE_STATE_ENABLED",
            "oper_status": "OPER_UP", "migrate_state": "SE_MIGRATE_STATE_IDLE", "version": "22.1.3", "host": "esx-01",
            "virtual_services": ["web-vs"]}]
virtual_services:
  description: The virtual services, sorted by name, with their placement per VIP.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Name., type: str, returned: always}
    uuid: {description: UUID., type: str, returned: always}
    se_group: {description: Name of the SE group., type: str, returned: always}
    oper_status: {description: Operational state., type: str, returned: always}
    placement:
      description: One entry per VIP, C(vip_id) and C(service_engines) (C(name), C(uuid), C(primary), C(standby), C(oper_status)).
      type: list
      elements: dict
      returned: always
  sample: [{"name": "web-vs", "uuid": "virtualservice-1", "se_group": "Default-Group", "oper_status": "OPER_UP",
            "placement": [{"vip_id": "0", "service_engines": [{"name": "se-01", "uuid": "serviceengine-1",
                                                                "primary": true, "standby": false, "oper_status": "OPER_UP"}]}]}]
settled:
  description: With O(settle), whether every entry was placed as given at the last read.
  returned: when O(settle) is given
  type: bool
  sample: true
unsettled:
  description: With O(settle), one line per entry not placed as given at the last read.
  returned: when O(settle) is given
  type: list
  elements: str
  sample: ["web-vs is still on se-01 too"]
reads:
  description: With O(settle), how many times the placement was read.
  returned: when O(settle) is given
  type: int
  sample: 2
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import (
    avi_module,
    run_avi_module,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.se_info import gather_se_info


def main():
    argument_spec = dict(
        se_group=dict(type="list", elements="str"),
        names=dict(type="list", elements="str"),
        settle=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            vip_id=dict(type="str", default="0"),
            on_se=dict(type="str", required=True),
            off_se=dict(type="str"),
        )),
        settle_timeout=dict(type="int", default=30),
    )
    module = avi_module(argument_spec, names=("se_group", "names"))
    if module.params["settle_timeout"] < 0:
        module.fail_json(msg="settle_timeout must be 0 or more seconds, got %d" % module.params["settle_timeout"])
    run_avi_module(module, gather_se_info, "se_info")


if __name__ == "__main__":
    main()
