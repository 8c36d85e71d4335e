# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: fleet_room
author: fleetops maintainers
version_added: 0.3.0
short_description: Whether the rest of a Triton fleet can absorb the compute nodes being drained
description:
  - Given a read of the data center (the twin that M(fleetops.maintenance.twin_export) writes, from CNAPI C(GET
    /servers?extras=capacity) and VMAPI C(GET /vms)), the compute nodes draining (those in maintenance and the one
    about to start), answers whether every instance still on them fits on the other compute nodes, from the vendor's
    own numbers (C(unreserved_ram), C(unreserved_disk)). An instance whose migration is in flight (the twin's
    C(in_flight)) already holds its room on its target and is not counted again.
  - A compute node takes instances when the allocator's hard filters let it (set up, running, not reserved, not the
    headnode) and it is not draining. Instances are placed largest first, each on the node with the most unreserved
    RAM left (the allocator's main score); the result is a prediction, the allocator chooses at each C(begin).
  - C(verdict) is V(pass), V(fail) (the vendor's numbers show no room) or V(unknown) (a node that could take them
    has no capacity numbers, so room cannot be shown); unknown is not room.
positional: draining
options:
  _input:
    description: The twin of the data center (the parsed YAML document M(fleetops.maintenance.twin_export) wrote).
    type: dict
    required: true
  draining:
    description: Names of the compute nodes draining, the one about to start included.
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
- name: Check that the rest of the fleet can absorb cn-3 while cn-1 drains
  ansible.builtin.assert:
    that: (twin | fleetops.maintenance.fleet_room(['cn-1', 'cn-3'])).verdict == 'pass'
'''

RETURN = r'''
_value:
  description: The verdict, C(detail) (one line), C(need_ram) (MiB still on the draining nodes), C(placement)
    (instance to predicted compute node) and C(headroom) (unreserved MiB RAM left per compute node after placing).
  type: dict
'''

from ansible.errors import AnsibleFilterError


def fleet_room(twin, draining):
    """See DOCUMENTATION."""
    if not isinstance(twin, dict) or not isinstance((twin.get("triton") or {}).get("servers"), list):
        raise AnsibleFilterError("fleet_room: expects the twin of a Triton data center (twin_export provider=triton)")
    draining = set(str(name) for name in draining or [])
    capacity = (twin.get("twin") or {}).get("source_capacity") or {}
    servers = twin["triton"]["servers"]
    known = set(s["name"] for s in servers)
    missing = sorted(draining - known)
    if missing:
        raise AnsibleFilterError("fleet_room: no compute node named %s in the data center" % ", ".join(missing))
    free, unknown = {}, []
    for s in servers:
        if s["name"] in draining or s.get("reserved") or s.get("headnode") or not s.get("setup", True) \
                or s.get("status") != "running":
            continue
        cap = capacity.get(s["name"])
        if not cap or cap.get("unreserved_ram") is None or cap.get("unreserved_disk") is None:
            unknown.append(s["name"])
            continue
        free[s["name"]] = [cap["unreserved_ram"], cap["unreserved_disk"]]
    # an instance whose migration runs already holds its room on the target (VMAPI counts it from the begin)
    moving = set(m.get("instance") for m in (twin.get("twin") or {}).get("in_flight") or [])
    movers = sorted((i for i in twin["triton"].get("instances") or []
                     if i.get("server") in draining and i["name"] not in moving),
                    key=lambda i: (-(i.get("ram") or 0), i["name"]))
    need = sum(i.get("ram") or 0 for i in movers)
    placement, short = {}, []
    for inst in movers:
        ram, disk = inst.get("ram") or 0, inst.get("disk") or 0
        fits = [name for name, (r, d) in free.items() if r >= ram and d >= disk]
        if not fits:
            short.append("%s (%s MiB RAM, on %s)" % (inst["name"], ram, inst["server"]))
            continue
        best = max(fits, key=lambda name: (free[name][0], name))
        free[best][0] -= ram
        free[best][1] -= disk
        placement[inst["name"]] = best
    headroom = dict((name, r) for name, (r, _d) in free.items())
    where = "the rest of the fleet (%s)" % (", ".join(sorted(free)) or "no compute node")
    if not short:
        verdict = "pass"
        detail = "%d instance(s), %d MiB RAM, fit on %s; RAM left: %s" % (
            len(movers), need, where, ", ".join("%s %d MiB" % kv for kv in sorted(headroom.items())) or "none")
    else:
        verdict = "unknown" if unknown else "fail"
        detail = "%s cannot absorb %s while %s drain%s" % (
            where, "; ".join(short), ", ".join(sorted(draining)), "s" if len(draining) == 1 else "")
    if unknown:
        detail += "; no capacity numbers from CNAPI for %s (unknown, not room)" % ", ".join(sorted(unknown))
    return {"verdict": verdict, "detail": detail, "need_ram": need, "placement": placement, "headroom": headroom,
            "unknown_nodes": sorted(unknown)}


class FilterModule(object):
    def filters(self):
        return {"fleet_room": fleet_room}
