"""The runner of the upgrade engine: the operations of an accepted upgrade or rollback (controller
phases, SE groups, SEs) and how the world's tick advances them."""
import logging

from lab.avi.common import HA_LEGACY, ref, uuid_of
from lab.avi.upgrade.package import CTL_TASKS, FSM, NODE_CTL, NODE_SEG, ROLLBACK, SUSPEND, SYSTEM_TASKS
from lab.avi.upgrade.part import UpgradePart

log = logging.getLogger("lab.avi.upgrade")


class Runner(UpgradePart):
    def launch(self, plan, p, legacy):
        """Create the operations of an accepted upgrade plan; returns the answer body."""
        now = self.w.lab_now()
        img = p["image"]
        to_ver = img["_lab"]["version"]
        scope = plan["scope"]
        params = {"image_ref": ref("image", img["uuid"]),
                  "se_group_options": {"action_on_error": p["action"], "disruptive": plan["disruptive"]}}
        group_objs = [self.w.objs["serviceenginegroup"][x["se_group_uuid"]] for x in plan["se_groups"]]
        ctl = self.u.up["cluster"]
        common = {"to": to_ver, "to_build": img["_lab"]["build"], "image": img["uuid"],
                  "action": p["action"], "disruptive": plan["disruptive"], "legacy": legacy}
        est = plan["lab_estimated_seconds"]
        if scope == "system":
            top = self.w.operations.start_op("system_upgrade", [], target=ctl["name"], stage="controller", system=True,
                                             groups=[g["uuid"] for g in group_objs], children_ops=[], **common)
            self.start_at(top, now)
            top["est_total"] = est
            c = self.start_controller(top, "controller_upgrade", to_ver, img["_lab"]["build"], img["uuid"], now,
                                      params, system=True, groups=group_objs)
            top["ctl"] = c["id"]
            self.wait_groups(group_objs, top, now, params, "UPGRADE", img["uuid"])
            answer_uuid, node_type = ctl["uuid"], NODE_CTL
        elif scope == "controller":
            self.start_controller(None, "controller_upgrade", to_ver, img["_lab"]["build"], img["uuid"], now,
                                  params, system=False, groups=[])
            answer_uuid, node_type = ctl["uuid"], NODE_CTL
        else:
            for g in group_objs:
                self.start_group(g, "se_group_upgrade", to_ver, now, None, common, params, "UPGRADE")
            answer_uuid, node_type = group_objs[0]["uuid"], NODE_SEG
        log.info("upgrade accepted: %s to %s (%s%s)", scope, to_ver, img["name"],
                 ", disruptive" if plan["disruptive"] else "")
        return {"status": f"Upgrade operation started: {scope} to {to_ver}", "upgrade_ops": "UPGRADE",
                "node_type": node_type, "uuid": answer_uuid, "image_ref": plan["image_ref"],
                "from_version": plan["from_version"], "to_version": to_ver, "system": scope == "system",
                "se_group_refs": [ref("serviceenginegroup", x["se_group_uuid"]) for x in plan["se_groups"]]
                if scope == "se_groups" else [],
                "disruptive": plan["disruptive"], "warnings": plan["warnings"]}

    # ------------------------------------------------------------------ operation builders
    def wait_groups(self, groups, top, at, params, ops_name, image):
        """The SE groups of a system operation wait while the controller phase runs."""
        for g in groups:
            d = self.u.status.group_doc(g)
            self.u.status.begin_doc(d, ops_name, at, 0, params, image=image)
            d["_lab"]["parent"] = top["id"]
            self.u.status.set_state(d, "WAITING", at, f"waiting for the controller {ops_name.lower()}")

    def start_controller(self, parent, kind, to_ver, to_build, image, at, params, system, groups):
        phases = [("prechecks", self.u.timing("prechecks")), ("install", self.u.timing("controller_install")),
                  ("reboot", self.u.timing("controller_reboot")), ("cluster_form", self.u.timing("cluster_form"))]
        ctl = self.u.up["cluster"]
        op = self.w.operations.start_op(kind, phases, target=ctl["name"], parent=parent["id"] if parent else None,
                                        to=to_ver, to_build=to_build, image=image, system=system,
                                        frm=self.w.cfg["version"], frm_build=self.w.cfg["build"],
                                        frm_image=uuid_of(self.u.status.ctl_doc().get("image_ref")))
        self.start_at(op, at)
        if parent:
            parent.setdefault("children_ops", []).append(op["id"])
        doc = self.u.status.ctl_doc()
        rollback = kind == "controller_rollback"
        total = sum(len(v) for v in CTL_TASKS.values()) + (len(SYSTEM_TASKS) if system else 0)
        self.u.status.begin_doc(doc, "ROLLBACK" if rollback else "UPGRADE",
                                at, total, params, system=system, image=image)
        doc["_lab"].update(frm=self.w.cfg["version"], to=to_ver, groups=[g["uuid"] for g in groups], op=op["id"],
                           legacy=bool(parent and parent.get("legacy")))
        self.u.status.set_state(doc, "STARTED", at)
        return op

    def start_at(self, op, at):
        op["started"] = at
        op["phase_started"] = at
        self.w._mark("operations", op["id"], op)

    def start_group(self, g, kind, to_ver, at, parent, common, params, ops_name, order=None, resume=None):
        plan = self.u.plans.group_plan(g, to_ver, common["disruptive"], state="SE_UPGRADE_IN_PROGRESS")
        ses = sorted(self.w.ses_of_group(g["uuid"]), key=lambda s: s["name"])
        if order is None:
            order = [s["uuid"] for s in ses if s["_lab"]["version"] != to_ver]
        frm = {s["uuid"]: s["_lab"]["version"] for s in ses}
        op = self.w.operations.start_op(kind, [], target=g["name"], parent=parent["id"] if parent else None, group=g["uuid"],
                                        order=list(order), running=[], completed=[], failed=[], suspended=[], rolled_back=[],
                                        skipped=list(resume.get("skipped", [])) if resume else [], rb_queue=None,
                                        cursor=at, frm=frm, group_from=self.u.status.group_version(g), started_any=False,
                                        **{k: v for k, v in common.items() if k not in ("frm",)})
        self.start_at(op, at)
        se_t = self.u.timing("se_upgrade")
        op["est_total"] = se_t if common["disruptive"] and order else se_t * len(order)
        if parent:
            parent.setdefault("children_ops", []).append(op["id"])
        doc = self.u.status.group_doc(g)
        if not (parent and doc["_lab"].get("parent") == parent["id"]):
            self.u.status.begin_doc(doc, ops_name, at, len(order), params, image=common.get("image"))
        doc["total_tasks"] = len(order)
        doc["_lab"].update(op=op["id"], frm=op["group_from"])
        seg = {k: v for k, v in plan.items() if not k.startswith("lab_")}
        seg.update(state="SEGROUP_UPGRADE_IN_PROGRESS", in_progress=True, progress=0,
                   se_upgrade_completed=[], se_upgrade_in_progress=[], se_upgrade_failed=[],
                   se_upgrade_suspended=[], se_upgrade_skip_suspended=[ref("serviceengine", u) for u in op["skipped"]],
                   se_upgrade_not_started=[ref("serviceengine", u) for u in order], se_upgrade_errors=[],
                   disrupted_vs_ref=[], num_vs_disrupted=0, start_time=self.u.ts(at), request_time=self.u.ts(at),
                   notes=plan["notes"] + (["resumed"] if resume else []))
        doc["seg_status"] = seg
        self.u.status.set_state(doc, "IN_PROGRESS", at)
        for u in order:
            sd = self.u.status.se_doc(self.w.objs["serviceengine"][u])
            self.u.status.begin_doc(sd, ops_name, at, 1, params, image=common.get("image"))
            self.u.status.set_state(sd, "WAITING", at, f"queued in the upgrade of SE group {g['name']}")
        log.info("%s of SE group %s to %s: %d SE(s)%s", kind, g["name"], to_ver, len(order),
                 " at once (disruptive)" if common["disruptive"] else " one at a time")
        return op

    def start_se(self, se, kind, to_ver, at, parent, extra=None):
        """Take one SE down for its upgrade window (it serves nothing until the window ends)."""
        op = self.w.operations.start_op(kind, [("upgrade", self.u.timing("se_upgrade"))], se=se["uuid"], target=se["name"],
                                        parent=parent["id"] if parent else None, group=uuid_of(se["se_group_ref"]),
                                        to=to_ver, frm=se["_lab"]["version"], prior_oper=se["_lab"]["oper"],
                                        **(extra or {}))
        if kind == "se_rollback":
            op["fail"] = None
        self.start_at(op, at)
        g = self.w.group_of(se)
        op["notes"] = []
        if g["ha_mode"] == HA_LEGACY:  # vendor: the active switches over to its standby first (no outage)
            for vs in self.w.vss_on(se["uuid"]):
                mine = self.w.vs_entry(vs, se["uuid"])
                other = next((p for p in vs["_lab"]["placement"] if p is not mine and self.w.se_serving(p["se"])),
                             None)
                if mine["primary"] and other:
                    mine["primary"], mine["standby"] = False, True
                    other["primary"], other["standby"] = True, False
                    self.w.save_obj("virtualservice", vs["uuid"])
                    note = (f"{vs['name']} switched over to {self.w.objs['serviceengine'][other['se']]['name']} "
                            f"before {se['name']} upgraded")
                    op["notes"].append(note)
                    log.info("VS %s", note)
        se["_lab"]["oper"] = "OPER_UPGRADING"
        self.w.save_obj("serviceengine", se["uuid"])
        op["disrupted"] = [v["uuid"] for v in self.w.vss_on(se["uuid"])
                           if v["enabled"] and self.w.serving_count(v) == 0]
        self.w.update_disruption(at=at)
        sd = self.u.status.se_doc(se)
        if not sd.get("upgrade_ops") or sd["state"]["state"] != FSM + "WAITING":
            self.u.status.begin_doc(sd, "ROLLBACK" if kind == "se_rollback" else "UPGRADE", at, 1,
                                    image=parent.get("image") if parent else (extra or {}).get("image"))
        sd["_lab"].update(started=at, op=op["id"])
        sd["start_time"] = self.u.ts(at)
        self.u.status.set_state(sd, "IN_PROGRESS", at)
        log.info("SE %s: %s to %s started (%s)", se["name"], kind.replace("_", " "), to_ver, op["id"])
        return op

    def due(self, op):
        name, dur = op["phases"][op["phase"]]
        end = op["phase_started"] + float(dur)
        return name, (end if self.w.lab_now() >= end else None)

    def advance_controller(self, op):
        name, end = self.due(op)
        if end is None:
            return False
        doc = self.u.status.ctl_doc()
        start = op["phase_started"]
        for task in CTL_TASKS.get(name, []):
            if name == "cluster_form" and task != "WAIT_FOR_ALL_CONTROLLER_NODES_ONLINE":
                continue
            self.u.status.event(doc, task, start, end)
        rollback = op["kind"] == "controller_rollback"
        if name == "prechecks":
            self.u.status.set_state(doc, "IN_PROGRESS", end)
        elif name == "install":
            self.u.up["api"] = "rebooting"
            self.u.end_sessions()
            log.info("controller nodes rebooting (%s): the API answers 503 or drops connections", op["id"])
        elif name == "reboot":
            doc["state"]["rebooted"] = True
            self.w.cfg["version"], self.w.cfg["build"] = op["to"], str(op["to_build"])
            self.u.up["api"] = "forming"
            self.w._save_meta()
        elif name == "cluster_form":
            fault = self.w.take_fault("cluster_reform", [self.u.up["cluster"]["name"], "*"] +
                                      [n["name"] for n in self.u.up["cluster"]["nodes"]])
            if fault:
                doc["upgrade_events"][-1]["sub_events"][0].update(status=False, message=fault)
                self.u.status.set_state(doc, "ERROR", end, f"The controller cluster did not re-form: {fault}")
                self.u.status.set_state(doc, "ABORT_IN_PROGRESS", end, f"Rolling back to {op['frm']}: the controller "
                                        f"cluster did not re-form ({fault})")
                op["abort_reason"] = fault
                op["phases"] += [["abort_reboot", self.u.timing("controller_reboot")],
                                 ["abort_form", self.u.timing("cluster_form")]]
                op["est_total"] = sum(p[1] for p in op["phases"])
                self.u.up["api"] = "rebooting"
                self.u.end_sessions()
                log.info("cluster did not re-form (%s): aborting, rolling back to %s", fault, op["frm"])
            else:
                for task in CTL_TASKS["cluster_form"][1:]:
                    self.u.status.event(doc, task, end, end)
                self.u.up["api"] = "up"
                self.u.up["cluster"]["up_since"] = end
                if not rollback:
                    doc["previous_version"] = op["frm"]
                    doc["previous_image_ref"] = ref("image", op["frm_image"]) if op.get("frm_image") else None
                    self.u.up["previous_build"] = op["frm_build"]
                    doc["enable_rollback"] = True
                else:
                    doc["previous_version"] = op["frm"]
                    doc["enable_rollback"] = False
                doc["image_ref"] = ref("image", op["image"]) if op.get("image") else doc.get("image_ref")
                doc["version"] = self.w.cfg["version"]
                if op.get("parent"):
                    self.u.status.set_state(doc, "CONTROLLER_COMPLETED", end)
                else:
                    self.u.status.end_doc(doc, end, "COMPLETED", version=self.w.cfg["version"])
                self.w.operations.finish_op(op, "success", at=end)
                log.info("controller cluster up on %s", self.w.cfg["version"])
                return True
        elif name == "abort_reboot":
            self.w.cfg["version"], self.w.cfg["build"] = op["frm"], str(op["frm_build"])
            self.u.up["api"] = "forming"
            self.w._save_meta()
        elif name == "abort_form":
            self.u.up["api"] = "up"
            self.u.up["cluster"]["up_since"] = end
            reason = f"Upgrade aborted and rolled back to {op['frm']}: the controller cluster did not re-form " \
                f"({op['abort_reason']})"
            self.u.status.end_doc(doc, end, "ABORTED", reason, version=self.w.cfg["version"])
            self.w.operations.finish_op(op, "failed", reason, at=end)
            return True
        op["phase"] += 1
        op["phase_started"] = end
        return True

    def advance_se(self, op):
        _name, end = self.due(op)
        if end is None:
            return False
        se = self.w.objs["serviceengine"].get(op["se"])
        if se is None:
            self.w.operations.finish_op(op, "failed", "SE deleted", at=end)
            return True
        if se["_lab"]["oper"] == "OPER_UPGRADING":
            se["_lab"]["oper"] = op["prior_oper"] if op["prior_oper"] != "OPER_UPGRADING" else "OPER_UP"
        sd = self.u.status.se_doc(se)
        if op.get("fail"):
            reason = f"Upgrade of SE {se['name']} to {op['to']} failed: {op['fail']}; it came back on {op['frm']}"
            self.u.status.end_doc(sd, end, "ERROR", reason, version=se["_lab"]["version"])
            self.w.operations.finish_op(op, "failed", reason, at=end)
        else:
            se["_lab"]["version"] = op["to"]
            sd["previous_version"] = op["frm"]
            sd["enable_rollback"] = op["kind"] == "se_upgrade"
            self.u.status.end_doc(sd, end, "COMPLETED", version=op["to"])
            self.w.operations.finish_op(op, "success", at=end)
        self.w.save_obj("serviceengine", se["uuid"])
        self.w.update_disruption(at=end)
        return True

    def advance_group(self, op):
        g = self.w.objs["serviceenginegroup"].get(op["group"])
        doc = self.u.status.group_doc(g) if g else None
        seg = doc["seg_status"] if doc else {}
        changed = False
        for cid in list(op["running"]):
            c = self.w.ops.get(cid)
            if c is None or c["state"] != "done":
                continue
            op["running"].remove(cid)
            changed = True
            op["cursor"] = max(op["cursor"], c["ended"])
            su = c["se"]
            sref = ref("serviceengine", su)
            if sref in seg.get("se_upgrade_in_progress", []):
                seg["se_upgrade_in_progress"].remove(sref)
            if c["kind"] == "se_rollback":
                op["rolled_back"].append(su)
                seg.setdefault("notes", []).append(f"rolled back {self.name_of(su)} to {c['to']}")
            elif c["result"] == "success":
                op["completed"].append(su)
                seg["se_upgrade_completed"].append(sref)
            else:
                op["failed"].append(su)
                err = {"se_ref": sref, "se_group_ref": ref("serviceenginegroup", op["group"]),
                       "task": "SE_UPGRADE_FAILED", "reason": [c["reason"]], "traffic_status": "TRAFFIC_NOT_DISRUPTED"}
                seg["se_upgrade_errors"].append(err)
                if op["action"] == SUSPEND:
                    op["suspended"].append(su)
                    seg["se_upgrade_suspended"].append(sref)
                elif op["action"] == ROLLBACK:
                    seg["se_upgrade_failed"].append(sref)
                    op["rb_wanted"] = True
                else:
                    seg["se_upgrade_failed"].append(sref)
            for vu in c.get("disrupted", []):
                vr = ref("virtualservice", vu)
                if vr not in seg["disrupted_vs_ref"]:
                    seg["disrupted_vs_ref"].append(vr)
            seg["num_vs_disrupted"] = len(seg["disrupted_vs_ref"])
        if op["running"]:
            if changed:
                self._group_progress(op, doc)
            return changed
        at = op["cursor"]
        if op.get("rb_wanted") and op["rb_queue"] is None:
            op["rb_queue"] = [u for u in reversed(op["completed"]) if u not in op["rolled_back"]]
        if op["rb_queue"]:
            su = op["rb_queue"].pop(0)
            se = self.w.objs["serviceengine"].get(su)
            if se:
                c = self.start_se(se, "se_rollback", op["frm"].get(su, se["_lab"]["version"]), at, op)
                op["running"].append(c["id"])
            return True
        if op["rb_queue"] is not None or op["suspended"] or not op["order"]:
            self._end_group(op, g, doc, at)
            return True
        batch = list(op["order"]) if op["disruptive"] else [op["order"][0]]
        for su in batch:
            op["order"].remove(su)
            se = self.w.objs["serviceengine"].get(su)
            sref = ref("serviceengine", su)
            if sref in seg.get("se_upgrade_not_started", []):
                seg["se_upgrade_not_started"].remove(sref)
            if se is None:
                continue
            kind = "se_rollback" if op["kind"] == "se_group_rollback" else "se_upgrade"
            c = self.start_se(se, kind, op["to"], at, op)
            op["running"].append(c["id"])
            seg["se_upgrade_in_progress"].append(sref)
            seg.setdefault("notes", []).extend(c["notes"])
            for vu in c["disrupted"]:
                vr = ref("virtualservice", vu)
                if vr not in seg["disrupted_vs_ref"]:
                    seg["disrupted_vs_ref"].append(vr)
            seg["num_vs_disrupted"] = len(seg["disrupted_vs_ref"])
        self._group_progress(op, doc)
        return True

    def name_of(self, su):
        return self.w.objs["serviceengine"].get(su, {}).get("name", su)

    def _group_progress(self, op, doc):
        if not doc:
            return
        total = max(1, doc.get("total_tasks") or 1)
        done = len(op["completed"]) + len(op["failed"])
        doc["tasks_completed"] = len(op["completed"])
        doc["progress"] = int(min(99, done * 100 / total))
        doc["seg_status"]["progress"] = doc["progress"]
        self.u.dirty()

    def _end_group(self, op, g, doc, at):
        seg = doc["seg_status"] if doc else {}
        rollback_op = op["kind"] == "se_group_rollback"
        for su in op["order"]:
            sd = self.u.up["status"].get(su)
            if sd and sd["state"]["state"] == FSM + "WAITING":
                self.u.status.set_state(sd, "COMPLETED", at, "not started: the SE group upgrade stopped")
        if op["rb_queue"] is not None:
            state, result = "ABORTED", "failed"
            reason = (f"SE upgrade failed ({', '.join(self.name_of(u) for u in op['failed'])}); "
                      f"rolled back {len(op['rolled_back'])} upgraded SE(s) to {op['group_from']} "
                      f"(ROLLBACK_UPGRADE_OPS_ON_ERROR)")
            seg_state = "SEGROUP_UPGRADE_ERROR"
        elif op["suspended"]:
            state, result = "SUSPENDED", "suspended"
            reason = (f"SE upgrade failed on {', '.join(self.name_of(u) for u in op['suspended'])}: the SE group "
                      f"upgrade is suspended (SUSPEND_UPGRADE_OPS_ON_ERROR); resume it (CLI: resume segroup "
                      f"se_group_refs {g['name'] if g else op['target']})")
            seg_state = "SEGROUP_UPGRADE_SUSPENDED"
        elif op["failed"]:
            state, result = "ERROR", "failed"
            reason = (f"SE upgrade failed on {', '.join(self.name_of(u) for u in op['failed'])} "
                      f"(CONTINUE_UPGRADE_OPS_ON_ERROR: the other SEs were upgraded)")
            seg_state = "SEGROUP_UPGRADE_ERROR"
        else:
            state, result, reason, seg_state = "COMPLETED", "success", None, "SEGROUP_UPGRADE_COMPLETE"
        if doc:
            seg.update(state=seg_state, in_progress=False, end_time=self.u.ts(at),
                       duration=str(int(round(at - op["started"]))),
                       reason=[reason] if reason else [],
                       traffic_status="TRAFFIC_DISRUPTED" if seg.get("disrupted_vs_ref") else "TRAFFIC_NOT_DISRUPTED")
            if state == "COMPLETED":
                seg["progress"] = 100
                doc["previous_version"] = op["group_from"] if op["group_from"] != op["to"] else doc.get(
                    "previous_version", "")
                doc["enable_rollback"] = not rollback_op and bool(doc["previous_version"])
                if rollback_op:
                    doc["enable_rollback"] = False
            self.u.status.end_doc(doc, at, state, reason, version=self.u.status.group_version(g))
            doc["tasks_completed"] = len(op["completed"])
        self.w.operations.finish_op(op, result, reason, at=at)

    def advance_parent(self, op):
        if op["stage"] == "controller":
            c = self.w.ops.get(op.get("ctl"))
            if c is None or c["state"] == "running":
                return False
            doc = self.u.status.ctl_doc()
            if c["result"] != "success":
                for gu in op["groups"]:
                    g = self.w.objs["serviceenginegroup"].get(gu)
                    if g:
                        gd = self.u.status.group_doc(g)
                        self.u.status.end_doc(gd, c["ended"], "ABORTED", "not started: the controller upgrade was aborted",
                                              version=self.u.status.group_version(g))
                self.w.operations.finish_op(op, "failed", c["reason"], at=c["ended"])
                return True
            at = c["ended"]
            op["stage"] = "groups"
            op["group_ops"] = []
            if op["groups"]:
                self.u.status.set_state(doc, "SE_UPGRADE_IN_PROGRESS", at)
                self.u.status.event(doc, "SE_UPGRADE_START", at, at)
            common = {k: op[k] for k in ("to", "image", "action", "disruptive", "legacy") if k in op}
            kind = "se_group_rollback" if op["kind"] == "rollback" else "se_group_upgrade"
            for gu in op["groups"]:
                g = self.w.objs["serviceenginegroup"].get(gu)
                if not g:
                    continue
                gto = op.get("group_to", {}).get(gu, op["to"])
                gop = self.start_group(g, kind, gto, at, op, dict(common, to=gto), doc.get("params"),
                                       "ROLLBACK" if op["kind"] == "rollback" else "UPGRADE")
                op["group_ops"].append(gop["id"])
            op["cursor"] = at
            return True
        gops = [self.w.ops.get(i) for i in op.get("group_ops", [])]
        if any(g is not None and g["state"] == "running" for g in gops):
            return False
        at = max([g["ended"] for g in gops if g is not None] + [op.get("cursor") or op["started"]])
        results = [g["result"] for g in gops if g is not None]
        doc = self.u.status.ctl_doc()
        if op.get("ctl") is None and op["kind"] == "rollback":
            result = "success" if all(r == "success" for r in results) else "failed"
            self.w.operations.finish_op(op, result, None if result == "success" else "SE group rollback did not complete",
                                        at=at)
            return True
        if all(r == "success" for r in results):
            self.u.status.event(doc, "COMMIT_UPGRADE", at, at)
            self.u.status.end_doc(doc, at, "COMPLETED", version=self.w.cfg["version"])
            self.w.operations.finish_op(op, "success", at=at)
        else:
            bad = [g["target"] for g in gops if g is not None and g["result"] != "success"]
            state = "SUSPENDED" if all(g["result"] in ("success", "suspended") for g in gops if g) else "ERROR"
            reason = f"SE group(s) {', '.join(bad)} did not complete the upgrade"
            self.u.status.end_doc(doc, at, state, reason, version=self.w.cfg["version"])
            self.w.operations.finish_op(op, "failed" if state == "ERROR" else "suspended", reason, at=at)
        return True
