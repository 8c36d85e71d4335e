# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the se_info module: service engines and virtual service placement, read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import find_in, load_placement

# the pauses between two reads while waiting for the placement to settle: the first short, then growing to this
SETTLE_FIRST_PAUSE = 0.25
SETTLE_LONGEST_PAUSE = 2.0


def unsettled(result, wanted):
    """What is not yet as ``wanted`` (the module's ``settle`` entries) in a read: one line per virtual service."""
    vss = dict((vs["name"], vs) for vs in result["virtual_services"])
    out = []
    for want in wanted:
        vs = vss.get(want["name"])
        if vs is None:
            out.append("%s is not on the controller" % want["name"])
            continue
        vip = [v for v in vs["placement"] if v["vip_id"] == str(want["vip_id"])]
        entries = vip[0]["service_engines"] if vip else []
        names = [e["name"] for e in entries]
        here = [e for e in entries if want["on_se"] in (e["name"], e["uuid"])]
        if not here:
            out.append("%s (vip %s) is on %s, not on %s" % (want["name"], want["vip_id"], ", ".join(names) or "no SE",
                                                            want["on_se"]))
        elif here[0]["oper_status"] != "OPER_UP":
            out.append("%s is %s on %s" % (want["name"], here[0]["oper_status"], want["on_se"]))
        elif want.get("off_se") and any(want["off_se"] in (e["name"], e["uuid"]) for e in entries):
            out.append("%s is still on %s too" % (want["name"], want["off_se"]))
        elif vs["oper_status"] != "OPER_UP":
            out.append("%s is %s" % (want["name"], vs["oper_status"]))
    return out


def gather_se_info(module, client, progress):
    """One read; with ``settle``, reads again (quietly, pausing up to SETTLE_LONGEST_PAUSE s) until every entry is as
    wanted or ``settle_timeout`` seconds have passed, and returns the last read with what is still not as wanted."""
    params = module.params
    wanted = params.get("settle") or []
    retry = getattr(client, "retry", None)
    clock = getattr(retry, "clock", None) or time.monotonic
    sleep = getattr(retry, "sleep", None) or time.sleep
    deadline = clock() + (params.get("settle_timeout") or 0)
    pause, reads = SETTLE_FIRST_PAUSE, 0
    while True:
        result, reads = _read(params, client), reads + 1
        left = unsettled(result, wanted)
        if not left or clock() + pause > deadline:
            break
        progress.update("settle", "waiting for %d virtual service(s) to settle: %s" % (len(left), "; ".join(left)))
        sleep(pause)
        pause = min(pause * 2, SETTLE_LONGEST_PAUSE)
    if wanted:
        result.update(settled=not left, unsettled=left, reads=reads)
    return result


def _read(params, client):
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
