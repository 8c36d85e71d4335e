"""Status of the upgrade engine: the per-node status documents behind ``/api/upgradestatusinfo``
(controller cluster, SE groups, SEs), their views, the cluster and version views, and the admin
summary ``/_lab/upgrade``."""
import copy

from lab.avi.common import ApiError, ref, uuid_of
from lab.avi.upgrade.package import (FSM, NODE_CTL, NODE_SE, NODE_SEG, UPGRADE_OP_KINDS, absolute, drop_none,
                                     is_flexible, vkey)
from lab.avi.upgrade.part import UpgradePart


class StatusBook(UpgradePart):
    # ------------------------------------------------------------------ cluster and versions
    def cluster_view(self, base):
        with self.w.lock:
            c = self.u.up["cluster"]
            return {"uuid": c["uuid"], "name": c["name"], "url": base + "/api/cluster",
                    "tenant_ref": base + ref("tenant", "admin"), "rejoin_nodes_automatically": True,
                    "nodes": [{"name": n["name"], "ip": {"addr": n["ip"], "type": "V4"}, "vm_name": n["name"]}
                              for n in c["nodes"]]}

    def cluster_status(self):
        with self.w.lock:
            c = self.u.up["cluster"]
            state = "CLUSTER_UP_HA_ACTIVE" if len(c["nodes"]) >= 3 else "CLUSTER_UP_NO_HA"
            return {"cluster_state": {"state": state},
                    "node_states": [{"name": n["name"], "role": "CLUSTER_LEADER" if i == 0 else "CLUSTER_FOLLOWER",
                                     "state": "CLUSTER_ACTIVE"} for i, n in enumerate(c["nodes"])]}

    def controller_versions(self):
        """GET /api/version/controller: one ControllerVersion per node."""
        with self.w.lock:
            v = f"{self.w.cfg['version']}({self.w.cfg['build']})"
            return [{"name": n["name"], "version": v, "patch": ""} for n in self.u.up["cluster"]["nodes"]]

    def system_configuration(self, base):
        """GET /api/systemconfiguration: the SystemConfiguration singleton, as far as the lab has it: ``docker_mode``
        true for a controller deployed as a container (bare metal, which takes controller_docker.tgz), false for a VM
        (controller.pkg) [vendor: the field, alb-sdk SystemConfiguration.json 17.2-30.2; inferred: its meaning, no
        vendor text defines it (research Q4.3); lab assumption: uuid "default", the other fields left out]."""
        with self.w.lock:
            doc = {"uuid": "default", "url": base + "/api/systemconfiguration",
                   "docker_mode": self.u.up["deployment"] == "bare_metal"}
            if self.w.views.since("18.2.3"):
                doc["welcome_workflow_complete"] = True
            return doc

    # ------------------------------------------------------------------ status documents
    def new_status(self, uu, name, node_type, image=None):
        return {"uuid": uu, "name": name, "node_type": node_type, "previous_version": "",
                "state": {"state": FSM + "COMPLETED", "reason": "", "last_changed_time": self.u.stamp(0.0),
                          "rebooted": False},
                "image_ref": ref("image", image) if image else None, "enable_rollback": False,
                "upgrade_events": [], "tasks_completed": 0, "total_tasks": 0, "history": [],
                "_lab": {}}

    def _sdoc(self, uu, node_type=None, name=None):
        d = self.u.up["status"].get(uu)
        if d is None:
            d = self.u.up["status"][uu] = self.new_status(uu, name or uu, node_type)
            self.u.dirty()
        return d

    def set_state(self, doc, state, at, reason=None, rebooted=None):
        st = doc["state"]
        st["state"] = FSM + state
        st["reason"] = reason or ""
        st["last_changed_time"] = self.u.stamp(at)
        if rebooted is not None:
            st["rebooted"] = rebooted
        self.u.dirty()

    def begin_doc(self, doc, ops, at, total_tasks, params=None, system=False, image=None):
        """Start a new operation on a node's status: the previous run goes to history."""
        doc.update(upgrade_ops=ops, upgrade_events=[], tasks_completed=0, total_tasks=total_tasks,
                   start_time=self.u.ts(at), end_time=None, duration=None, system=system, progress=0)
        doc["state"]["rebooted"] = False
        if params is not None:
            doc["params"] = params
        doc["_lab"] = {"started": at, "image": image}
        doc.pop("seg_status", None)
        self.u.dirty()

    def end_doc(self, doc, at, state, reason=None, version=None):
        self.set_state(doc, state, at, reason)
        doc["end_time"] = self.u.ts(at)
        doc["duration"] = int(round(at - doc["_lab"].get("started", at)))
        doc["progress"] = 100 if state == "COMPLETED" else doc.get("progress", 0)
        entry = {"ops": doc.get("upgrade_ops"), "state": copy.deepcopy(doc["state"]), "start_time": doc.get(
            "start_time"), "end_time": doc["end_time"], "duration": doc["duration"],
            "version": version or "", "upgrade_events": copy.deepcopy(doc.get("upgrade_events", []))}
        if doc.get("seg_status"):
            entry["seg_status"] = copy.deepcopy(doc["seg_status"])
        doc["history"] = ([entry] + doc.get("history", []))[:20]
        self.u.dirty()

    def event(self, doc, task, start, end, ok=True, message="", nodes=None):
        if nodes is None:
            nodes = [n["ip"] for n in self.u.up["cluster"]["nodes"]]
        doc.setdefault("upgrade_events", []).append({
            "task_name": task, "sub_events": [
                {"ip": {"addr": ip, "type": "V4"}, "start_time": self.u.ts(start), "end_time": self.u.ts(end),
                 "duration": int(round(end - start)), "status": ok, "message": message, "sub_tasks": [task]}
                for ip in nodes]})
        doc["tasks_completed"] = sum(1 for e in doc["upgrade_events"] if all(s["status"] for s in e["sub_events"]))
        self.u.dirty()

    def ctl_doc(self):
        return self._sdoc(self.u.up["cluster"]["uuid"], NODE_CTL, self.u.up["cluster"]["name"])

    def group_doc(self, g):
        d = self._sdoc(g["uuid"], NODE_SEG, g["name"])
        d["name"] = g["name"]
        return d

    def se_doc(self, se):
        d = self._sdoc(se["uuid"], NODE_SE, se["name"])
        d["name"] = se["name"]
        return d

    def group_version(self, g):
        ses = self.w.ses_of_group(g["uuid"])
        if not ses:
            return self.w.cfg["version"]
        return min((s["_lab"]["version"] for s in ses), key=vkey)

    # ------------------------------------------------------------------ upgradestatusinfo
    def ctl_progress(self, doc):
        """Progress of the controller entry: its own phases (half of a system operation), then the
        share of SEs done."""
        op = self.w.ops.get(doc["_lab"].get("op") or "")
        if op is None:
            return doc.get("progress", 100)
        parent = self.w.ops.get(op.get("parent") or "")
        system = bool(parent and parent.get("groups"))
        if op["state"] == "running":
            frac = min(0.99, max(0.0, (self.w.lab_now() - op["started"]) / max(1e-9, op["est_total"])))
            return int(frac * (50 if system else 100))
        if parent and parent["state"] == "running":
            gops = [g for g in (self.w.ops.get(i) for i in parent.get("group_ops", [])) if g]
            total = sum(len(g["completed"]) + len(g["failed"]) + len(g["order"]) + len(g["running"]) for g in gops)
            done = sum(len(g["completed"]) + len(g["failed"]) for g in gops)
            return 50 + int(49 * done / max(1, total))
        return doc.get("progress", 100)

    def status_view(self, uu, base):
        doc = self.u.up["status"].get(uu)
        if uu == self.u.up["cluster"]["uuid"]:
            doc = self.ctl_doc()
            view = copy.deepcopy(doc)
            view["version"] = self.w.cfg["version"]
            view["progress"] = self.ctl_progress(doc)
            view["enable_rollback"] = bool(doc.get("enable_rollback")) and self.u.locking_op() is None
        elif uu in self.w.objs["serviceenginegroup"]:
            g = self.w.objs["serviceenginegroup"][uu]
            view = copy.deepcopy(doc) if doc else self.new_status(uu, g["name"], NODE_SEG)
            view["name"] = g["name"]
            view["version"] = self.group_version(g)
            view["obj_cloud_ref"] = g["cloud_ref"]
            running = any(o["state"] == "running" and o.get("group") == uu for o in self.w.ops.values())
            view["enable_rollback"] = bool(view.get("enable_rollback")) and not running
        elif uu in self.w.objs["serviceengine"]:
            se = self.w.objs["serviceengine"][uu]
            view = copy.deepcopy(doc) if doc else self.new_status(uu, se["name"], NODE_SE)
            view["name"] = se["name"]
            view["version"] = se["_lab"]["version"]
            view["obj_cloud_ref"] = se["cloud_ref"]
            op = self.w.ops.get((doc or {}).get("_lab", {}).get("op") or "")
            if op and op["state"] == "running":
                view["progress"] = self.w.operations.progress(op)
        else:
            return None
        view.pop("_lab", None)
        view["url"] = ref("upgradestatusinfo", uu)
        view["tenant_ref"] = ref("tenant", "admin")
        view.setdefault("previous_version", "")
        if not self.w.views.since("22.1.3"):   # UpgradeStatusInfo.upgrade_readiness came with 22.1.3
            view.pop("upgrade_readiness", None)
        return absolute(drop_none(view), base)

    def _status_uuids(self):
        return ([self.u.up["cluster"]["uuid"]] + sorted(self.w.objs["serviceenginegroup"])
                + sorted(self.w.objs["serviceengine"]))

    def status_list(self, q, base, url):
        with self.w.lock:
            self.u.need_flexible("/api/upgradestatusinfo")
            items = [self.status_view(u, base) for u in self._status_uuids()]
            items = [i for i in items if i is not None]
            if q.get("node_type"):
                items = [i for i in items if i["node_type"] == q["node_type"]]
            items = self.w.views.filter_items(items, q)
            return self.w.views.page(items, q, url, lambda i: i)

    def status_get(self, uu, base):
        with self.w.lock:
            self.u.need_flexible("/api/upgradestatusinfo")
            v = self.status_view(uu, base)
            if v is None:
                raise ApiError(404, "Object not found!")
            return v

    # ------------------------------------------------------------------ admin summary
    def upgrade_summary(self):
        """/_lab/upgrade: controller version/state, per group state, per SE version/state."""
        with self.w.lock:
            doc = self.ctl_doc()
            out = {"controller": {"version": self.w.cfg["version"], "build": self.w.cfg["build"],
                                  "previous_version": doc.get("previous_version", ""),
                                  "state": doc["state"]["state"], "reason": doc["state"].get("reason", ""),
                                  "api": self.u.up.get("api", "up"), "config_locked": self.u.locking_op() is not None,
                                  "api_generation": "flexible" if is_flexible(self.w.cfg["version"]) else "17.x",
                                  "deployment": self.u.up["deployment"],
                                  "nodes": [n["name"] for n in self.u.up["cluster"]["nodes"]]},
                   "se_groups": {}, "images": [
                       {"name": i["name"], "uuid": i["uuid"], "version": i["_lab"]["version"],
                        "build": i["_lab"]["build"], "package": i["_lab"]["package"],
                        "state": i["img_state"]["state"]}
                       for i in sorted(self.u.up["images"].values(), key=lambda d: d["name"])],
                   "running": [{"id": o["id"], "kind": o["kind"], "target": o["target"]}
                               for o in sorted(self.w.ops.values(), key=lambda o: o["id"])
                               if o["state"] == "running" and o["kind"] in UPGRADE_OP_KINDS],
                   "lab_now": self.w.lab_now()}
            for g in sorted(self.w.objs["serviceenginegroup"].values(), key=lambda x: x["name"]):
                gd = self.u.up["status"].get(g["uuid"])
                ses = {}
                for se in sorted(self.w.ses_of_group(g["uuid"]), key=lambda s: s["name"]):
                    sd = self.u.up["status"].get(se["uuid"])
                    ses[se["name"]] = {"version": se["_lab"]["version"], "oper": se["_lab"]["oper"],
                                       "state": sd["state"]["state"] if sd else FSM + "COMPLETED"}
                seg = (gd or {}).get("seg_status") or {}
                out["se_groups"][g["name"]] = {
                    "version": self.group_version(g), "ha_mode": g["ha_mode"],
                    "state": gd["state"]["state"] if gd else FSM + "COMPLETED",
                    "reason": gd["state"].get("reason", "") if gd else "",
                    "disrupted_vs": [self.w.objs["virtualservice"].get(uuid_of(r), {}).get("name", r)
                                     for r in seg.get("disrupted_vs_ref", [])],
                    "order": [s["name"] for s in sorted(self.w.ses_of_group(g["uuid"]), key=lambda s: s["name"])],
                    "service_engines": ses}
            return out
