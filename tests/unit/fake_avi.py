# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory Avi controller for unit tests, plugged in at AviClient._send (the one HTTP point).

Why a fake and not the lab: it plays what the lab, being a consistent controller of the documented kind, never
shows: a cloud object that does not show the controller's access mode (the lab's always do), an event log that
contradicts the placement (``migrate_events``: an event saying a migration failed for a VS whose placement says it
moved), and an SE caught still disabling at the moment a re-run starts (its ``oper`` and ``migrate_state`` set by the
test). It holds only what tests/unit/plugins/modules/test_se_disable.py reads; everything else se_disable and the
other Avi modules do is tested end to end against the lab (tests/integration). Move a case there rather than extend
this fake.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
from urllib.parse import parse_qs, urlsplit

BASE = "https://ctl.example"


def ref(kind, uuid, name=None):
    return "%s/api/%s/%s%s" % (BASE, kind, uuid, "#" + name if name else "")


class FakeController(object):
    """Small world: one PACKED group g1 (max_se 4, max_vs_per_se 2) in a vCenter cloud with two hosts; se1 holds vs1
    and vs2, se2 holds vs3, se3 is empty."""

    def __init__(self, migrate_polls=2):
        self.writes = []
        self.migrate_polls = migrate_polls
        self.stringgroups = {}       # intent records (StringGroup objects) by uuid
        self.events = []             # the event log (EventLog dicts) GET /api/analytics/logs answers
        self.migrate_events = {}     # VS uuid -> an event the controller logs when that VS is asked to migrate
        self.clouds = {"cloud-1": {"uuid": "cloud-1", "name": "vcenter", "vtype": "CLOUD_VCENTER",
                                   "vcenter_configuration": {"privilege": "WRITE_ACCESS"}}}
        self.hosts = {
            "host-1": {"uuid": "host-1", "name": "esx-1", "cloud_ref": ref("cloud", "cloud-1")},
            "host-2": {"uuid": "host-2", "name": "esx-2", "cloud_ref": ref("cloud", "cloud-1")},
        }
        self.groups = {
            "serviceenginegroup-1": {"uuid": "serviceenginegroup-1", "name": "g1", "cloud_ref": ref("cloud", "cloud-1"),
                                     "ha_mode": "HA_MODE_SHARED", "algo": "PLACEMENT_ALGO_PACKED", "max_se": 4,
                                     "max_vs_per_se": 2},
        }
        self.ses = {}
        for idx, host in enumerate(["1", "1", "2"], 1):
            uuid = "serviceengine-%d" % idx
            self.ses[uuid] = {"uuid": uuid, "name": "se%d" % idx, "cloud_ref": ref("cloud", "cloud-1"),
                              "se_group_ref": ref("serviceenginegroup", "serviceenginegroup-1"),
                              "host_ref": ref("vimgrhostruntime", "host-" + host),
                              "enable_state": "SE_STATE_ENABLED", "oper": "OPER_UP",
                              "migrate_state": "SE_MIGRATE_STATE_IDLE"}
        self.vss = {}
        for idx, se in enumerate([1, 1, 2], 1):
            uuid = "virtualservice-%d" % idx
            self.vss[uuid] = {"uuid": uuid, "name": "vs%d" % idx,
                              "se_group_ref": ref("serviceenginegroup", "serviceenginegroup-1"),
                              "vip": [{"vip_id": "0"}], "placed": ["serviceengine-%d" % se], "busy": 0, "pending": None}

    # -- helpers -------------------------------------------------------------------------
    def vs_refs(self, se_uuid):
        return [ref("virtualservice", u, v["name"]) for u, v in sorted(self.vss.items()) if se_uuid in v["placed"]]

    def group_of(self, obj):
        return obj["se_group_ref"].split("#")[0].rsplit("/", 1)[-1]

    def se_config(self, se):
        out = dict((k, v) for k, v in se.items() if k not in ("oper", "migrate_state"))
        out["vs_refs"] = self.vs_refs(se["uuid"])
        return out

    def _pick(self, vs, exclude):
        group = self.group_of(vs)
        cands = [s for s in self.ses.values() if self.group_of(s) == group and s["enable_state"] == "SE_STATE_ENABLED"
                 and s["uuid"] not in vs["placed"] and s["uuid"] not in exclude
                 and len(self.vs_refs(s["uuid"])) < self.groups[group]["max_vs_per_se"]]
        cands.sort(key=lambda s: (len(self.vs_refs(s["uuid"])), s["name"]))
        return cands[0]["uuid"] if cands else None

    def _advance(self, vs):
        if vs["pending"] is None:
            return
        vs["busy"] -= 1
        if vs["busy"] <= 0:
            src, dst = vs["pending"]
            vs["pending"] = None
            if dst is not None:    # no SE could take it: it stays
                vs["placed"] = [s for s in vs["placed"] if s != src] + [dst]

    def _runtime(self, vs):
        return {"vip_id": "0", "service_engine": [
            {"ref": ref("serviceengine", s), "uuid": s, "primary": i == 0, "standby": False,
             "oper_status": {"state": self.ses[s]["oper"]}} for i, s in enumerate(vs["placed"])],
            "migrate_in_progress": vs["pending"] is not None,
            "progress_percent": 50 if vs["pending"] is not None else 100}

    @staticmethod
    def _collection(items, query):
        for key in ("name", "uuid"):
            if key in query:
                items = [i for i in items if (i.get("config", i)).get(key) == query[key][0]]
        if "se_group_ref" in query:
            items = [i for i in items if query["se_group_ref"][0] in (i.get("config", i)).get("se_group_ref", "")]
        return {"count": len(items), "results": items}

    def _stringgroup(self, method, segs, query, body):
        """StringGroup objects (the modules' intent records): collection by name, create, replace."""
        if len(segs) == 3:
            if method == "POST":
                uuid = "stringgroup-%d" % (len(self.stringgroups) + 1)
                self.stringgroups[uuid] = dict(copy.deepcopy(body), uuid=uuid)
                return 201, self.stringgroups[uuid]
            items = list(self.stringgroups.values())
            if "name" in query:
                items = [i for i in items if i["name"] == query["name"][0]]
            return 200, {"count": len(items), "results": copy.deepcopy(items)}
        uuid = segs[3]
        if method in ("PUT", "PATCH"):
            self.stringgroups[uuid] = dict(copy.deepcopy(body), uuid=uuid)
        return 200, copy.deepcopy(self.stringgroups[uuid])

    # -- the HTTP layer ----------------------------------------------------------------------
    def send(self, client, method, url, body=None):
        """Stand-in for AviClient._send."""
        client.stats["requests"] += 1
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if method != "GET" and parts.path not in ("/login", "/logout"):
            self.writes.append((method, parts.path, copy.deepcopy(body)))
        path = parts.path.rstrip("/")
        if path == "/login":
            return 200, {"version": {"Version": "22.1.3"}}
        if path == "/logout":
            return 200, {}
        if method == "GET" and (path.endswith("/runtime") or "/virtualservice-inventory" in path):
            for vs in self.vss.values():
                self._advance(vs)
        segs = path.split("/")
        kind = segs[2]
        if kind == "analytics":
            return 200, {"count": len(self.events), "results": list(self.events)}
        if kind == "stringgroup":
            return self._stringgroup(method, segs, query, body)
        if kind == "serviceenginegroup":
            return 200, self._collection(list(self.groups.values()), query)
        if kind == "cloud":
            return 200, self._collection(list(self.clouds.values()), query)
        if kind == "vimgrhostruntime":
            return 200, self._collection(list(self.hosts.values()), query)
        if kind == "serviceengine-inventory":
            items = [{"uuid": s["uuid"], "config": self.se_config(s),
                      "runtime": {"oper_status": {"state": s["oper"]}, "migrate_state": s["migrate_state"],
                                  "version": "22.1.3"}} for s in self.ses.values()]
            return 200, self._collection(items, query)
        if kind == "virtualservice-inventory":
            items = [{"uuid": v["uuid"], "config": {"uuid": v["uuid"], "name": v["name"], "se_group_ref": v["se_group_ref"],
                                                    "vip": v["vip"]},
                      "runtime": {"oper_status": {"state": "OPER_UP"}, "vip_summary": [self._runtime(v)]}}
                     for v in self.vss.values()]
            if len(segs) == 4:    # one VS's inventory (how a migration is followed)
                return 200, [i for i in items if i["uuid"] == segs[3]][0]
            return 200, self._collection(items, query)
        if kind == "serviceengine":
            if len(segs) == 3:
                return 200, self._collection([self.se_config(s) for s in self.ses.values()], query)
            se = self.ses[segs[3]]
            if method == "PUT":
                se["enable_state"] = body["enable_state"]
                if body["enable_state"] == "SE_STATE_DISABLED":    # the controller evacuates it at once
                    for vs in self.vss.values():
                        if se["uuid"] in vs["placed"]:
                            vs["placed"] = [s for s in vs["placed"] if s != se["uuid"]] + [
                                self._pick(vs, exclude=[se["uuid"]])]
                    se["migrate_state"], se["oper"] = "SE_MIGRATE_STATE_FINISHED", "OPER_DISABLED"
            return 200, self.se_config(se)
        if kind == "virtualservice" and len(segs) == 5 and segs[4] == "migrate":
            vs = self.vss[segs[3]]
            src = (body.get("from_se_ref") or ref("serviceengine", vs["placed"][0])).rsplit("/", 1)[-1]
            dst = body.get("to_se_ref", "").rsplit("/", 1)[-1] or self._pick(vs, exclude=[src])
            vs["pending"] = (src, dst)
            vs["busy"] = self.migrate_polls
            if vs["uuid"] in self.migrate_events:
                self.events.append(self.migrate_events.pop(vs["uuid"]))
            return 200, {}
        return 404, {"error": "no such path %s" % json.dumps(path)}
