#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vs_scale
short_description: Scale an Avi virtual service out to more service engines, or in from one
version_added: 0.2.0
description:
  - V(scaled_out) places a virtual service (VS) on more service engines (SEs) of its group
    (C(POST /api/virtualservice/{uuid}/scaleout)) - on O(to_se), or until it runs on O(min_placements) SEs, the
    controller choosing where (or on a new SE with O(to_new_se) or O(to_host)). The VS keeps serving throughout.
  - V(scaled_in) takes it off O(from_se) (C(POST /api/virtualservice/{uuid}/scalein)).
  - Used for example to give an N+M virtual service placed on a single SE a second SE while that SE is upgraded or
    rebooted, and to take the extra SE away afterwards.
  - Idempotent; not supported in legacy active/standby groups (the controller refuses it).
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
  - fleetops.maintenance.wait
attributes:
  check_mode:
    support: full
    details: Predicts where the controller would place the VS (see M(fleetops.maintenance.vs_migrate)) and changes nothing.
  diff_mode:
    support: full
    details: Shows the SEs of the VS before and after.
  platform:
    platforms: all
options:
  name:
    description:
      - Name of the virtual service. Exactly one of O(name) and O(uuid) is required.
    type: str
  uuid:
    description: UUID of the virtual service.
    type: str
  vip_id:
    description: The VIP of the virtual service to scale.
    type: str
    default: '0'
  state:
    description:
      - V(scaled_out) adds SEs (see O(to_se) and O(min_placements)); V(scaled_in) removes O(from_se).
    type: str
    choices: [scaled_out, scaled_in]
    default: scaled_out
  to_se:
    description: With O(state=scaled_out), the SE (name or uuid) the VS must also run on.
    type: str
  to_host:
    description: With O(state=scaled_out), create the new SE on this host (name or uuid).
    type: str
  to_new_se:
    description: With O(state=scaled_out), scale out to a new SE the controller creates.
    type: bool
    default: false
  min_placements:
    description:
      - With O(state=scaled_out) and no O(to_se), the number of SEs the VS must run on at least.
    type: int
    default: 2
  from_se:
    description: With O(state=scaled_in), the SE (name or uuid) to take the VS off.
    type: str
seealso:
  - module: fleetops.maintenance.vs_migrate
  - module: fleetops.maintenance.cluster_upgrade
'''

EXAMPLES = r'''
- name: Give vs-web a second SE while its SE is upgraded
  fleetops.maintenance.vs_scale:
    name: vs-web
    state: scaled_out
    min_placements: 2
  register: scaled

- name: Take it back off the extra SE
  fleetops.maintenance.vs_scale:
    name: vs-web
    state: scaled_in
    from_se: "{{ scaled.added_service_engines[0] }}"
'''

RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
virtual_service:
  description: The virtual service (name, uuid, vip_id, se_group).
  returned: always
  type: dict
  sample: {"name": "vs-web", "uuid": "virtualservice-1", "vip_id": "0", "se_group": "sg-web"}
placement:
  description: Names of the SEs of the VIP before and after (planned in check mode).
  returned: always
  type: dict
  sample: {"before": ["se-1"], "after": ["se-1", "se-2"]}
added_service_engines:
  description: SEs the VS was scaled out to (predicted in check mode; a new SE reads C(new SE N on <host>)).
  returned: always
  type: list
  elements: str
  sample: ["se-2"]
removed_service_engines:
  description: SEs the VS was scaled in from.
  returned: always
  type: list
  elements: str
  sample: []
created_service_engines:
  description: SEs the controller created for the scale-out.
  returned: always
  type: list
  elements: str
  sample: []
plan:
  description: The actions taken or planned, or the reason nothing had to change.
  returned: always
  type: dict
  sample: {"actions": ["scale out to se-2"]}
progress:
  description:
    - Progress steps recorded while the module ran.
    - Of the updates about one instance or VS that only advance its current step (a rising percentage, a sync's
      bytes), the latest replaces the earlier ones here, keeping the step's place and its C(elapsed) (when it
      began), with C(updated) the latest's C(elapsed); repeats are left out. Live, every one is shown.
  returned: always
  type: list
  elements: dict
  sample: [{"task": "vs_scale", "elapsed": 1.2, "phase": "scaleout", "msg": "scaling out VS vs-web (vip 0)", "percent": 40}]
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import avi_module, run_avi_module
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_scale import scale_virtual_service


def main():
    argument_spec = dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        vip_id=dict(type="str", default="0"),
        state=dict(type="str", default="scaled_out", choices=["scaled_out", "scaled_in"]),
        to_se=dict(type="str"),
        to_host=dict(type="str"),
        to_new_se=dict(type="bool", default=False),
        min_placements=dict(type="int", default=2),
        from_se=dict(type="str"),
    )
    module = avi_module(
        argument_spec,
        with_wait=True,
        names=("name", "uuid", "vip_id", "from_se", "to_se", "to_host"),
        required_one_of=[("name", "uuid")],
        mutually_exclusive=[("name", "uuid"), ("to_se", "to_host", "to_new_se"), ("to_se", "from_se")],
        required_if=[("state", "scaled_in", ("from_se",))],
    )
    if module.params["min_placements"] < 1:
        module.fail_json(msg="min_placements must be at least 1, got %d" % module.params["min_placements"])
    if module.params["state"] == "scaled_in" and (module.params["to_se"] or module.params["to_host"]
                                                  or module.params["to_new_se"]):
        module.fail_json(msg="to_se, to_host and to_new_se only apply to state=scaled_out")
    run_avi_module(module, scale_virtual_service, "vs_scale")


if __name__ == "__main__":
    main()
