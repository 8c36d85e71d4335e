# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory Avi controller for unit tests, plugged in at AviClient._send (the one HTTP point).

Why a fake and not the lab: ansible-test units runs each module's main() in-process, with no lab
server, and these tests assert on what the lab does not report: every request and write the module
sent, in order (``calls``, ``writes``: nothing sent before a refusal, nothing written in check mode),
pages of two items (paging followed), an empty ``?name=`` filter matching everything as a server's
query parser does, a migration that fails at a chosen poll (``fail_migrate``, ``migrate_polls``),
both shapes of ``VsInventory.runtime.vip_summary`` from one world, and sources of an outcome that disagree
(an event saying a migration failed whose placement says it moved, ``migrate_events``) or are missing (an
event log that cannot be read, ``events_status``), which the lab, being consistent, never shows. Cases the lab serves as quickly
(evacuation, migration and scale outcomes) are also tested end to end against it
(tests/integration); move them there rather than extend this fake.
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
    """Small world: one PACKED group g1 (max_se 4, max_vs_per_se 2) in a vCenter cloud with two hosts,
    and a legacy active/standby group g2."""

    def __init__(self, migrate_polls=2):
        self.calls = []
        self.writes = []
        self.logins = 0
        self.migrate_polls = migrate_polls
        self.vip_summary_object = False
        self.fail_migrate = set()
        self.stringgroups = {}       # intent records (StringGroup objects) by uuid
        self.events = []             # the event log (EventLog dicts) GET /api/analytics/logs answers
        self.events_status = 200     # what GET /api/analytics/logs answers (e.g. 404: no event log to read)
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
            "serviceenginegroup-2": {"uuid": "serviceenginegroup-2", "name": "g2", "cloud_ref": ref("cloud", "cloud-1"),
                                     "ha_mode": "HA_MODE_LEGACY_ACTIVE_STANDBY", "max_se": 2, "max_vs_per_se": 2},
        }
        self.ses = {}
        for idx, (group, host) in enumerate([("1", "1"), ("1", "1"), ("1", "2"), ("2", "2")], 1):
            uuid = "serviceengine-%d" % idx
            self.ses[uuid] = {"uuid": uuid, "name": "se%d" % idx, "cloud_ref": ref("cloud", "cloud-1"),
                              "se_group_ref": ref("serviceenginegroup", "serviceenginegroup-" + group),
                              "host_ref": ref("vimgrhostruntime", "host-" + host),
                              "enable_state": "SE_STATE_ENABLED", "oper": "OPER_UP",
                              "migrate_state": "SE_MIGRATE_STATE_IDLE"}
        self.vss = {}
        for idx, (group, ses) in enumerate([("1", [1]), ("1", [1]), ("1", [2]), ("2", [4])], 1):
            uuid = "virtualservice-%d" % idx
            self.vss[uuid] = {"uuid": uuid, "name": "vs%d" % idx,
                              "se_group_ref": ref("serviceenginegroup", "serviceenginegroup-" + group),
                              "vip": [{"vip_id": "0"}], "placed": ["serviceengine-%d" % s for s in ses],
                              "busy": 0, "pending": None}

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
            if vs["uuid"] in self.fail_migrate or dst is None:
                self.fail_migrate.discard(vs["uuid"])
                return
            vs["placed"] = [s for s in vs["placed"] if s != src] + [dst]

    def _runtime(self, vs):
        return {"vip_id": "0", "service_engine": [
            {"ref": ref("serviceengine", s), "uuid": s, "primary": i == 0, "standby": False,
             "oper_status": {"state": self.ses[s]["oper"]}} for i, s in enumerate(vs["placed"])],
            "migrate_in_progress": vs["pending"] is not None,
            "progress_percent": 50 if vs["pending"] is not None else 100}

    def _collection(self, items, query):
        for key in ("name", "uuid"):
            if key in query:
                items = [i for i in items if (i.get("config", i)).get(key) == query[key][0]]
        if "se_group_ref" in query:
            items = [i for i in items if query["se_group_ref"][0] in (i.get("config", i)).get("se_group_ref", "")]
        size = int(query.get("page_size", ["2"])[0])
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * size
        body = {"count": len(items), "results": items[start:start + size]}
        if start + size < len(items):
            body["next"] = "%s%s?%s" % (BASE, self._path, "&".join(
                ["%s=%s" % (k, v[0]) for k, v in query.items() if k != "page"] + ["page=%d" % (page + 1)]))
        return body

    def _stringgroup(self, method, segs, query, body):
        """StringGroup objects (the modules' intent records): collection by name, create, replace, delete."""
        if len(segs) == 3:
            if method == "POST":
                uuid = "stringgroup-%d" % (len(self.stringgroups) + 1)
                while uuid in self.stringgroups:
                    uuid += "x"
                self.stringgroups[uuid] = dict(copy.deepcopy(body), uuid=uuid)
                return 201, self.stringgroups[uuid]
            items = list(self.stringgroups.values())
            if "name" in query:
                items = [i for i in items if i["name"] == query["name"][0]]
            return 200, {"count": len(items), "results": copy.deepcopy(items)}
        uuid = segs[3]
        if uuid not in self.stringgroups:
            return 404, {"error": "Object not found!"}
        if method == "DELETE":
            del self.stringgroups[uuid]
            return 204, None
        if method in ("PUT", "PATCH"):
            self.stringgroups[uuid] = dict(copy.deepcopy(body), uuid=uuid)
        return 200, copy.deepcopy(self.stringgroups[uuid])

    def intent(self, se_uuid):
        """The entries of an SE's intent record (fleetops-maintenance-se-evacuate-<uuid>), values decoded."""
        for group in self.stringgroups.values():
            if group["name"] == "fleetops-maintenance-se-evacuate-%s" % se_uuid:
                return dict((kv["key"], json.loads(kv["value"])) for kv in group["kv"])
        return {}

    # -- the HTTP layer ----------------------------------------------------------------------
    def send(self, client, method, url, body=None):
        """Stand-in for AviClient._send."""
        client.stats["requests"] += 1
        parts = urlsplit(url)
        self._path = parts.path
        query = parse_qs(parts.query)
        self.calls.append((method, parts.path))
        if method != "GET" and parts.path not in ("/login", "/logout"):
            self.writes.append((method, parts.path, copy.deepcopy(body)))
        path = parts.path.rstrip("/")
        if path == "/login":
            self.logins += 1
            return 200, {"version": {"Version": "22.1.3"}}
        if path == "/logout":
            return 200, {}
        if method == "GET" and (path.endswith("/runtime") or "/virtualservice-inventory" in path):
            for vs in self.vss.values():
                self._advance(vs)
        kind = path.split("/")[2]
        segs = path.split("/")
        if kind == "analytics":
            if self.events_status != 200:
                return self.events_status, {"error": "Search system is down"}
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
            if len(segs) == 4:
                found = [i for i in items if i["uuid"] == segs[3]]
                return (200, found[0]) if found else (404, {"error": "Object not found!"})
            return 200, self._collection(items, query)
        if kind == "virtualservice-inventory":
            items = []
            for v in self.vss.values():
                config = {"uuid": v["uuid"], "name": v["name"], "se_group_ref": v["se_group_ref"], "vip": v["vip"]}
                # one VipSummary object (the vendor's VsInventory definition since 22.1.1) or a list of them
                summary = self._runtime(v) if self.vip_summary_object else [self._runtime(v)]
                runtime = {"oper_status": {"state": "OPER_UP"}, "vip_summary": summary}
                items.append({"uuid": v["uuid"], "config": config, "runtime": runtime})
            if len(segs) == 4:
                found = [i for i in items if i["uuid"] == segs[3]]
                return (200, found[0]) if found else (404, {"error": "Object not found!"})
            return 200, self._collection(items, query)
        if kind == "serviceengine":
            if len(path.split("/")) == 3:
                items = [self.se_config(s) for s in self.ses.values()]
                return 200, self._collection(items, query)
            se = self.ses.get(path.split("/")[3])
            if se is None:
                return 404, {"error": "Object not found!"}
            if method == "PUT":
                se["enable_state"] = body["enable_state"]
                if body["enable_state"] == "SE_STATE_DISABLED":
                    for vs in self.vss.values():
                        if se["uuid"] in vs["placed"]:
                            if vs["uuid"] in self.fail_migrate:  # this one cannot move this time
                                self.fail_migrate.discard(vs["uuid"])
                                continue
                            dst = self._pick(vs, exclude=[se["uuid"]])
                            if dst:
                                vs["placed"] = [s for s in vs["placed"] if s != se["uuid"]] + [dst]
                    se["migrate_state"] = ("SE_MIGRATE_STATE_FINISHED_WITH_FAILURE" if self.vs_refs(se["uuid"])
                                           else "SE_MIGRATE_STATE_FINISHED")
                    se["oper"] = "OPER_DISABLED"
                else:
                    se["oper"] = "OPER_UP" if body["enable_state"] == "SE_STATE_ENABLED" else se["oper"]
            return 200, self.se_config(se)
        if kind == "virtualservice":
            if len(segs) == 3:
                items = [{"uuid": v["uuid"], "name": v["name"], "se_group_ref": v["se_group_ref"]}
                         for v in self.vss.values()]
                return 200, self._collection(items, query)
            vs = self.vss.get(segs[3])
            if vs is None:
                return 404, {"error": "Object not found!"}
            if len(segs) == 5 and segs[4] == "runtime":
                return 200, [self._runtime(vs)]
            if len(segs) == 5 and segs[4] == "migrate":
                if self.groups[self.group_of(vs)]["ha_mode"] == "HA_MODE_LEGACY_ACTIVE_STANDBY":
                    return 400, {"error": "Migrate is not supported for SE group in legacy active standby HA mode"}
                if vs["pending"] is not None:
                    return 409, {"error": "VS operation in progress"}
                src = (body.get("from_se_ref") or ref("serviceengine", vs["placed"][0])).rsplit("/", 1)[-1]
                dst = body.get("to_se_ref", "").rsplit("/", 1)[-1] or self._pick(vs, exclude=[src])
                vs["pending"] = (src, dst)
                vs["busy"] = self.migrate_polls
                if vs["uuid"] in self.migrate_events:
                    self.events.append(self.migrate_events.pop(vs["uuid"]))
                return 200, {}
            return 200, {"uuid": vs["uuid"], "name": vs["name"], "se_group_ref": vs["se_group_ref"]}
        return 404, {"error": "no such path %s" % json.dumps(path)}
