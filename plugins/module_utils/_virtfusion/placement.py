# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Capacity-aware destinations for VirtFusion (``target_servers``: several destination hypervisors; ``exclude_servers``:
any hypervisor but these). VirtFusion has no allocator for a migration, so the module chooses one destination per
server, from the vendor's own numbers:

- memory, CPU cores and server count against each hypervisor's limits, and storage allocation: ``GET
  /compute/hypervisors/groups/{groupId}/resources`` [vendor: "server counts, CPU, memory and storage allocation
  against each hypervisor's limits"; its field names are not documented: the module reads ``memory``, ``cpu``,
  ``servers`` as ``{allocated, max}`` and ``storage`` as ``[{storageId, allocated, max}]``, the lab's shape];
- storage mount points and the server's IP addresses on the destination: the hybrid destination endpoint (the
  ``storage`` and ``ip_addresses`` pre-checks of the provider);
- what a server takes: ``memory`` and ``cpu`` of ``GET /servers/{id}`` and each drive's ``size`` from the
  destination endpoint (field names observed, not documented).

A number the vendor does not give (a field missing, a limit of 0: "not set") is unknown, never free room: the
``capacity`` check is then unknown and blocks, unless the operator accepts it (``accept_unverified: [capacity]``);
an accepted hypervisor is chosen only after every one whose room is known. Never over-commit: each placement is
subtracted before the next server is placed. Spread: the server goes to the hypervisor with the most memory left
after placing it (ties: the most CPU left, then the name). Anti-affinity (``budgets``) keeps a server off any
hypervisor that holds another member of its group.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import (
    FAIL,
    PASS,
    SKIPPED,
    UNKNOWN,
    check,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError

CHECK_NAMES = ("capacity",)
HOW = ("REST GET /compute/hypervisors/groups/{groupId}/resources (vendor: allocation against each hypervisor's "
       "limits; field names as the lab shows them) and GET /servers/{id}, /servers/{id}/migrate/hybrid/destinations/{hv}")
RESOURCES = (("memory", "MiB memory"), ("cpu", "CPU core(s)"), ("servers", "server slot(s)"))


def placement_argument_spec():
    return dict(
        target_servers=dict(type="list", elements="str"),
        exclude_servers=dict(type="list", elements="str"),
    )


def check_params(params):
    problems = []
    if params.get("target_servers") is not None and params.get("exclude_servers") is not None:
        problems.append("target_servers and exclude_servers are mutually exclusive: name the destinations, or the "
                        "hypervisors to keep servers off")
    several = params.get("target_servers") is not None or params.get("exclude_servers") is not None
    if several and params.get("target_server"):
        problems.append("target_server (one destination) and target_servers / exclude_servers (the module chooses "
                        "one per server) are mutually exclusive")
    if params.get("target_servers") is not None and not [v for v in params["target_servers"] if str(v).strip()]:
        problems.append("target_servers is empty: name one destination hypervisor or more (id or name)")
    for name in ("target_servers", "exclude_servers"):
        if any(not str(v).strip() for v in params.get(name) or []):
            problems.append("%s has an empty name" % name)
    return problems


def wanted(params):
    return params.get("target_servers") is not None or params.get("exclude_servers") is not None


def _limit(doc, key):
    """[free, max] of one resource ({allocated, max}) or None when the vendor does not say (missing, or max 0)."""
    item = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(item, dict):
        return None
    alloc, top = item.get("allocated"), item.get("max")
    if not isinstance(alloc, (int, float)) or not isinstance(top, (int, float)) or top <= 0:
        return None
    return [top - alloc, top]


class Placement(object):
    """One run's placement of servers on candidate hypervisors."""

    def __init__(self, provider):
        self.p = provider
        self.report = None

    def candidates(self, source_ids):
        hvs = self.p.hypervisors()
        params = self.p.params
        if params.get("target_servers") is not None:
            ids = []
            for value in params["target_servers"]:
                hid = self.p.resolve_server(value)[0]
                if hid not in ids:
                    ids.append(hid)
        else:
            drop = [self.p.resolve_server(v)[0] for v in params.get("exclude_servers") or []]
            ids = [h for h in sorted(hvs) if h not in drop]
        ids = [h for h in ids if h not in source_ids]
        if not ids:
            raise MigrationError("no destination hypervisor is left: target_servers / exclude_servers leave none but "
                                 "the source")
        return ids

    def room(self, ids):
        """{hypervisor: {"memory": [free, max] | None, "cpu": ..., "servers": ..., "storage": {id: [free, max] | None}},
        from the group resources of each candidate's group (read once per group)."""
        hvs = self.p.hypervisors()
        groups, out = {}, {}
        for hid in ids:
            gid = hvs.get(hid, {}).get("groupId")
            if gid is None:
                out[hid] = None
                continue
            if gid not in groups:
                groups[gid] = {}
                page = 1
                while True:
                    try:
                        doc = self.p.client.rest("GET", "/compute/hypervisors/groups/%s/resources?results=200&page=%d"
                                                 % (gid, page)) or {}
                    except Exception as exc:  # any failure: the room is unknown, never free
                        groups[gid] = {"_error": "reading the resources of hypervisor group %s: %s" % (
                            gid, getattr(exc, "msg", exc))}
                        break
                    for item in doc.get("data") or []:
                        if isinstance(item, dict) and "hypervisorId" in item:
                            groups[gid][item["hypervisorId"]] = item
                    if not isinstance(doc.get("last_page"), int) or page >= doc["last_page"]:
                        break
                    page += 1
            item = groups[gid].get(hid)
            if item is None:
                out[hid] = None
                continue
            storage = {}
            for st in item.get("storage") or []:
                if isinstance(st, dict) and "storageId" in st:
                    storage[st["storageId"]] = _limit({"s": st}, "s")
            out[hid] = dict((key, _limit(item, key)) for key, _label in RESOURCES)
            out[hid]["storage"] = storage
        return out

    def _need(self, inst, dest):
        doc = self.p._server_doc(inst["id"]) or {}
        need = {"memory": doc.get("memory", inst.get("ram")), "cpu": doc.get("cpu"), "servers": 1}
        disks = []
        for d in dest.get("disks") or []:
            if isinstance(d, dict):
                disks.append((d.get("suggestedStorageId"), d.get("size")))
        need["storage"] = disks
        return need

    @staticmethod
    def _fit(room, need):
        """(result, why) of ``need`` on a hypervisor with ``room``: pass, fail (what is short) or unknown (what the
        vendor does not say)."""
        if room is None:
            return UNKNOWN, "the vendor's resources show no allocation or limits for it"
        short, unknown = [], []
        for key, label in RESOURCES:
            have, want = room.get(key), need.get(key)
            if not isinstance(want, (int, float)):
                unknown.append("the server's %s is not shown" % key)
            elif have is None:
                unknown.append("no %s limit (not set or not shown)" % key)
            elif have[0] < want:
                short.append("%s %s free, needs %s" % (have[0], label, want))
        if not need["storage"]:
            unknown.append("the destination endpoint lists no drive sizes")
        for sid, size in need["storage"]:
            have = room["storage"].get(sid)
            if not isinstance(size, (int, float)):
                unknown.append("a drive's size is not shown")
            elif have is None:
                unknown.append("no limit of storage %s (not set or not shown)" % sid)
            elif have[0] < size:
                short.append("storage %s: %s MiB free, needs %s" % (sid, have[0], size))
        if short:
            return FAIL, "; ".join(short)
        if unknown:
            return UNKNOWN, "; ".join(unknown)
        return PASS, None

    @staticmethod
    def _take(room, need):
        if room is None:
            return
        for key, _label in RESOURCES:
            if room.get(key) is not None and isinstance(need.get(key), (int, float)):
                room[key][0] -= need[key]
        for sid, size in need["storage"]:
            if room["storage"].get(sid) is not None and isinstance(size, (int, float)):
                room["storage"][sid][0] -= size

    def precheck(self, instances, opts):
        accepted = "capacity" in (opts.get("accept_unverified") or ())
        skipped = not opts.get("capacity_check", True)   # the operator's choice: room not a gate (still the score)
        placer = opts.get("placer")
        ids = self.candidates(set(i["server"] for i in instances))
        room = self.room(ids)
        names = dict((h, self.p._hv_name(h) or str(h)) for h in ids)
        out = []
        for inst in instances:
            entry = {"id": inst["id"], "name": inst["name"], "target": None, "target_name": None, "predicted": False,
                     "pin": True, "placed": True, "reason": None, "checks": [self.p._server_state(inst)]}
            out.append(entry)
            avoid = placer.avoid(inst) if placer is not None else {}
            fits, unsure, why = [], [], []
            for hid in ids:
                if hid == inst["server"]:
                    continue
                if hid in avoid:
                    why.append("%s: %s" % (names[hid], avoid[hid]))
                    continue
                try:
                    dest = self.p._destinations(inst, hid)
                except MigrationError as exc:
                    dest = {"_error": exc.msg}
                checks = self.p._destination_checks(inst, hid, dest)
                failed = [c for c in checks if c["result"] == FAIL]
                if failed:
                    why.append("%s: %s" % (names[hid], "; ".join(c["detail"] or c["name"] for c in failed)))
                    continue
                need = self._need(inst, dest)
                result, detail = self._fit(room[hid], need)
                if skipped:
                    result, detail = PASS, None
                if result == FAIL:
                    why.append("%s: %s" % (names[hid], detail))
                elif result == UNKNOWN:
                    unsure.append((hid, checks, need, detail))
                else:
                    fits.append((hid, checks, need, None))
            usable = fits + (unsure if accepted else [])
            if not usable:
                if unsure:
                    detail = "room unknown on %s; no room on: %s" % (
                        "; ".join("%s (%s)" % (names[u[0]], u[3]) for u in unsure), "; ".join(why) or "none")
                    entry["checks"].append(check("capacity", UNKNOWN, HOW, "%s: %s" % (inst["name"], detail)))
                else:
                    entry["checks"].append(check("capacity", FAIL, HOW, "%s: no destination hypervisor can take it: "
                                                 "%s" % (inst["name"], "; ".join(why) or "no candidate")))
                entry["reason"] = entry["checks"][-1]["detail"]
                continue

            def score(option):
                hid, _checks, need, detail = option
                r = room[hid]
                mem = r["memory"][0] - need["memory"] if r and r.get("memory") else float("-inf")
                cpu = r["cpu"][0] - (need["cpu"] or 0) if r and r.get("cpu") else float("-inf")
                return (detail is None, mem, cpu, names[hid])

            best = max(usable, key=score)
            hid, checks, need, detail = best
            self._take(room[hid], need)
            if placer is not None:
                placer.place(inst, hid)
            entry["checks"].extend(checks)
            if skipped:
                entry["checks"].append(check("capacity", SKIPPED, "capacity_check=false", "%s on %s: room not checked"
                                             " (the vendor's start still refuses a destination without room)" % (
                                                 inst["name"], names[hid])))
            elif detail is None:
                entry["checks"].append(check("capacity", PASS, HOW, "%s fits on %s: %s" % (
                    inst["name"], names[hid], _left(room[hid]))))
            else:
                entry["checks"].append(check("capacity", UNKNOWN, HOW, "%s on %s: %s" % (inst["name"], names[hid], detail)))
            if placer is not None and placer.budgets.anti_affine(inst):
                entry["checks"].append(check("anti_affinity", PASS, "the budgets option (anti_affinity)",
                                             "group %s: no other member on %s" % (
                                                 ", ".join(placer.budgets.anti_affine(inst)), names[hid])))
            others = [names[o[0]] for o in usable if o[0] != hid]
            entry.update(target=hid, target_name=names[hid], reason="chosen: %s (most memory left after placing%s)" % (
                names[hid], "; also fit: %s" % ", ".join(others) if others else "; the only one that fits"))
        self.report = {"placement": [{"server": e["name"], "target": e["target_name"]} for e in out],
                       "headroom": dict((names[h], _headroom(room[h])) for h in ids)}
        return out


def _headroom(r):
    if r is None:
        return None
    out = dict(("%s_free" % key, r[key][0] if r.get(key) else None) for key, _label in RESOURCES)
    out["storage_free"] = dict((str(sid), v[0] if v else None) for sid, v in sorted(r["storage"].items()))
    return out


def _left(r):
    h = _headroom(r)
    if h is None:
        return "room unknown"
    return "left after placing: %s MiB memory, %s core(s), %s server slot(s), storage %s" % (
        h["memory_free"], h["cpu_free"], h["servers_free"],
        ", ".join("%s: %s MiB" % (k, v) for k, v in h["storage_free"].items()) or "none")
