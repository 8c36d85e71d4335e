# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the se_info module: service engines and virtual service placement, read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import find_in, load_placement


def gather_se_info(module, client, progress):
    params = module.params
    placement = load_placement(client)
    group_uuids = None
    if params["se_group"]:
        group_uuids = set(find_in(placement.groups, g, "serviceenginegroup", "se_group")["uuid"] for g in params["se_group"])
    se_uuids = None
    if params["names"]:
        se_uuids = set(find_in(placement.ses, n, "serviceengine", "names")["uuid"] for n in params["names"])

    def group_name(uuid):
        group = placement.groups.get(uuid)
        return group["name"] if group else uuid

    def host_name(uuid):
        host = placement.hosts.get(uuid)
        return host["name"] if host else uuid

    service_engines = []
    for se in sorted(placement.ses.values(), key=lambda s: s["name"] or ""):
        if group_uuids is not None and se["group_uuid"] not in group_uuids:
            continue
        if se_uuids is not None and se["uuid"] not in se_uuids:
            continue
        service_engines.append({
            "name": se["name"], "uuid": se["uuid"], "se_group": group_name(se["group_uuid"]),
            "enable_state": se["enable_state"], "oper_status": se["oper_state"],
            "migrate_state": se["migrate_state"], "version": se["version"], "host": host_name(se["host_uuid"]),
            "virtual_services": sorted(placement.vss[u]["name"] if u in placement.vss else u
                                       for u in se["vs_uuids"]),
        })
    virtual_services = []
    for vs in sorted(placement.vss.values(), key=lambda v: v["name"] or ""):
        if group_uuids is not None and vs["group_uuid"] not in group_uuids:
            continue
        vips = []
        for vip_id in sorted(vs["vips"]):
            vips.append({"vip_id": vip_id, "service_engines": [
                {"name": placement.se_name(e["se_uuid"]), "uuid": e["se_uuid"], "primary": e["primary"],
                 "standby": e["standby"], "oper_status": e["oper_state"]}
                for e in vs["vips"][vip_id]]})
        if se_uuids is not None and not any(e["uuid"] in se_uuids for v in vips for e in v["service_engines"]):
            continue
        virtual_services.append({"name": vs["name"], "uuid": vs["uuid"], "se_group": group_name(vs["group_uuid"]),
                                 "oper_status": vs["oper_state"], "placement": vips})
    return {"changed": False, "service_engines": service_engines, "virtual_services": virtual_services}
