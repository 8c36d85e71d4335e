"""Requests of the upgrade engine: the REST calls that preview, start, resume and roll back upgrades
(the flexible API of 18.2.6 and later, and the 17.x ``/api/cluster/upgrade``)."""
import logging

from lab.avi.common import ApiError, uuid_of
from lab.avi.upgrade.package import (ACTIONS, CONTINUE, FSM, NODE_CTL, NODE_SEG, SUSPEND, absolute, drop_none, flag,
                                     vkey)
from lab.avi.upgrade.part import UpgradePart

log = logging.getLogger("lab.avi.upgrade")
# the fields of the 17.2 SeGroupStatus (alb-sdk 17.2.18 go/models/se_group_status.go; 18.2 added more)
LEGACY_SE_GROUP_STATUS = frozenset((
    "disrupted_vs_ref", "duration", "end_time", "enqueue_time", "ha_mode", "notes", "num_se", "num_se_with_no_vs",
    "num_se_with_vs_not_scaledout", "num_se_with_vs_scaledout", "num_vs", "num_vs_disrupted", "progress", "reason",
    "request_time", "se_group_name", "se_group_uuid", "se_reboot_in_progress_ref", "se_with_no_vs",
    "se_with_vs_not_scaledout", "se_with_vs_scaledout", "start_time", "state", "tenant_ref", "thread",
    "traffic_status", "vs_migrate_in_progress_ref", "vs_scalein_in_progress_ref", "vs_scaleout_in_progress_ref",
    "worker"))


class Requests(UpgradePart):
    LEGACY_STATE = {"STARTED": "UPGRADE_STARTED", "WAITING": "UPGRADE_WAITING", "IN_PROGRESS": "UPGRADE_IN_PROGRESS",
                    "CONTROLLER_COMPLETED": "UPGRADE_CONTROLLER_COMPLETED",
                    "SE_UPGRADE_IN_PROGRESS": "UPGRADE_CONTROLLER_COMPLETED", "COMPLETED": "UPGRADE_COMPLETED",
                    "SUSPENDED": "UPGRADE_COMPLETED", "ERROR": "UPGRADE_ABORT_IN_PROGRESS",
                    "ABORT_IN_PROGRESS": "UPGRADE_ABORT_IN_PROGRESS", "ABORTED": "UPGRADE_ABORTED"}

    # ------------------------------------------------------------------ flexible API: upgrade
    def lab_preview(self, body, base):
        """POST /_lab/upgrade/preview: the lab's whole plan for an upgrade body (SE order, the VSs it would
        disrupt and why, estimated lab seconds), what the vendor preview does not tell."""
        with self.w.lock:
            return absolute(self.u.plans.upgrade_plan(self.u.plans.parse_params(body)), base)

    def upgrade_preview(self, body, base):
        with self.w.lock:
            self.u.need_flexible("/api/upgrade/preview")
            p = self.u.plans.parse_params(body)
            return absolute(self.u.plans.answer(self.u.plans.upgrade_plan(p)), base)

    def start_upgrade(self, body, base):
        with self.w.lock:
            self.u.need_flexible("/api/upgrade")
            p = self.u.plans.parse_params(body)
            plan = self.u.plans.upgrade_plan(p)
            if p["prechecks_only"]:
                return absolute(self.u.plans.answer(self.u.plans.record_readiness(plan, "UPGRADE")), base)
            self.u.plans.conflict(p["groups"], controller=plan["scope"] != "se_groups")
            self.u.plans.refuse_on(plan, p["skip_warnings"], "skip_warnings")
            out = self.u.runner.launch(plan, p, legacy=False)
            self.w._flush()
            return absolute(out, base)

    # ------------------------------------------------------------------ resume, rollback
    def resume_available(self, path):
        """The REST resume of a suspended SE group: POST /api/segroup/resume[/preview], as the Broadcom API
        reference (v32.1.4, "Se Group Resume Params APIs") lists it. No alb-sdk file names the URL (research Q1.7):
        whether a given release has it is unconfirmed, so the lab serves it from 18.2.8 (the release the vendor's
        docs give for resume) unless the topology says ``controller: {segroup_resume_api: false}`` (a controller
        without it: resume from its CLI, ``resume segroup se_group_refs <name>``)."""
        self.u.need_flexible(path)
        if vkey(self.w.cfg["version"]) < (18, 2, 8) or not self.u.up.get("segroup_resume_api", True):
            raise ApiError(404, f"Resource {path} not found")

    def resume_groups(self, body, base, preview=False):
        with self.w.lock:
            self.resume_available("/api/segroup/resume" + ("/preview" if preview else ""))
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            groups = self.u.plans.groups_from(body.get("se_group_refs", body.get("se_group_uuids")))
            if not groups:
                raise ApiError(400, "se_group_refs is required: the suspended SE group(s) to resume")
            opts = body.get("se_group_options") or {}
            if not isinstance(opts, dict):
                raise ApiError(400, "se_group_options must be an object (SeGroupResumeOptions)")
            action = opts.get("action_on_error", SUSPEND)
            if action not in ACTIONS:
                raise ApiError(400, f"se_group_options.action_on_error must be one of {', '.join(ACTIONS)}, "
                               f"got {action!r}")
            disruptive, skip = flag(opts, "disruptive"), flag(opts, "skip_suspended")
            if not preview:
                self.u.plans.conflict(groups, controller=False)
            plans = []
            for g in groups:
                doc = self.u.up["status"].get(g["uuid"])
                if not doc or doc["state"]["state"] != FSM + "SUSPENDED":
                    raise ApiError(400, f"SE group {g['name']} is not suspended (state "
                                   f"{doc['state']['state'] if doc else FSM + 'COMPLETED'})")
                plans.append((g, doc))
            if preview or flag(body, "prechecks_only"):
                groups = [self.u.plans.answer_group(self.u.plans.group_plan(g, self.w.cfg["version"], disruptive))
                          for g, _d in plans]
                return {"status": "Prechecks completed", "upgrade_ops": "EVAL_SEGROUP_RESUME",
                        "se_groups": absolute(groups, base)}
            now = self.w.lab_now()
            for g, doc in plans:
                seg = doc.get("seg_status", {})
                suspended = [uuid_of(r) for r in seg.get("se_upgrade_suspended", [])]
                to_ver = self.w.cfg["version"]
                ses = sorted(self.w.ses_of_group(g["uuid"]), key=lambda s: s["name"])
                order = [s["uuid"] for s in ses if s["_lab"]["version"] != to_ver
                         and not (skip and s["uuid"] in suspended)]
                common = {"to": to_ver, "image": uuid_of(doc.get("params", {}).get("image_ref")), "action": action,
                          "disruptive": disruptive, "legacy": False}
                params = {"image_ref": doc.get("params", {}).get("image_ref"),
                          "se_group_resume_options": {"action_on_error": action, "disruptive": disruptive,
                                                      "skip_suspended": skip}}
                self.u.runner.start_group(g, "se_group_upgrade", to_ver, now, None, common, params, "SEGROUP_RESUME",
                                          order=order, resume={"skipped": suspended if skip else []})
            self.w._flush()
            return {"status": "SE group upgrade resumed", "upgrade_ops": "SEGROUP_RESUME", "node_type": NODE_SEG,
                    "uuid": groups[0]["uuid"]}

    def rollback_preview(self, body, base):
        with self.w.lock:
            self.u.need_flexible("/api/rollback/preview")
            plan = self.u.plans.rollback_plan(self.u.plans.parse_params(body, rollback=True))
            return absolute(self.u.plans.answer(plan), base)

    def start_rollback(self, body, base, legacy=False):
        with self.w.lock:
            (self.u.need_legacy if legacy else self.u.need_flexible)(
                "/api/cluster/rollback" if legacy else "/api/rollback")
            p = self.u.plans.parse_params(body if not legacy else {"system": True}, rollback=True)
            plan = self.u.plans.rollback_plan(p)
            if p["prechecks_only"]:
                return absolute(self.u.plans.answer(self.u.plans.record_readiness(plan, "ROLLBACK")), base)
            self.u.plans.conflict(p["groups"], controller=plan["scope"] != "se_groups")
            self.u.plans.refuse_on(plan, p["skip_warnings"], "skip_warnings")
            now = self.w.lab_now()
            ctl = self.u.up["cluster"]
            targets = plan.pop("lab_targets")
            params = {"se_group_options": {"action_on_error": CONTINUE, "disruptive": p["disruptive"]}}
            group_objs = [self.w.objs["serviceenginegroup"][x["se_group_uuid"]] for x in plan["se_groups"]]
            common = {"to": plan["to_version"], "image": None, "action": CONTINUE, "disruptive": p["disruptive"],
                      "legacy": legacy}
            top = self.w.operations.start_op("rollback", [], target=ctl["name"] if plan["scope"] != "se_groups" else ",".join(
                g["name"] for g in group_objs), stage="controller" if plan["scope"] != "se_groups" else "groups",
                system=plan["scope"] == "system", groups=[g["uuid"] for g in group_objs], group_to=targets,
                ctl=None, **common)
            self.u.runner.start_at(top, now)
            top["est_total"] = plan["lab_estimated_seconds"]
            if plan["scope"] != "se_groups":
                prev_img = uuid_of(self.u.status.ctl_doc().get("previous_image_ref"))
                c = self.u.runner.start_controller(top, "controller_rollback", plan["to_version"],
                                                   self.u.up.get(
                                                       "previous_build") or self.w.cfg["build"], prev_img, now, params,
                                                   system=plan["scope"] == "system", groups=group_objs)
                top["ctl"] = c["id"]
                self.u.runner.wait_groups(group_objs, top, now, params, "ROLLBACK", None)
            else:
                top["group_ops"] = []
                for g in group_objs:
                    gop = self.u.runner.start_group(g, "se_group_rollback", targets[g["uuid"]], now, top,
                                                    dict(common, to=targets[g["uuid"]]), params, "ROLLBACK")
                    top["group_ops"].append(gop["id"])
            self.w._flush()
            log.info("rollback accepted: %s to %s", plan["scope"], plan["to_version"])
            return {"status": f"Rollback operation started: {plan['scope']} to {plan['to_version']}",
                    "upgrade_ops": "ROLLBACK", "node_type": NODE_CTL if plan["scope"] != "se_groups" else NODE_SEG,
                    "uuid": ctl["uuid"] if plan["scope"] != "se_groups" else group_objs[0]["uuid"],
                    "from_version": plan["from_version"], "to_version": plan["to_version"],
                    "system": plan["scope"] == "system"}

    # ------------------------------------------------------------------ the 17.x API
    def legacy_upgrade(self, body, base):
        with self.w.lock:
            self.u.need_legacy("/api/cluster/upgrade")
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            path = body.get("image_path")
            if not path or not isinstance(path, str):
                raise ApiError(400, "image_path is required, e.g. controller://upgrade_pkgs/controller.pkg")
            force, disruptive = flag(body, "force"), flag(body, "disruptive")
            img = next((d for d in self.u.up["images"].values() if d["controller_info"]["path"] == path), None)
            if img is None:
                known = ", ".join(sorted(d["controller_info"]["path"] for d in self.u.up["images"].values()))
                raise ApiError(400, f"image_path {path} not found (the package must be under "
                               f"controller://upgrade_pkgs/; present: {known})")
            # seed 001: "If the force flag is set, it will be converted to a disruptive operation"
            p = {"system": True, "groups": [], "skip_warnings": force, "prechecks_only": False, "action": CONTINUE,
                 "disruptive": disruptive or force, "skip_suspended": False, "image": img}
            plan = self.u.plans.upgrade_plan(p)
            self.u.plans.conflict([], controller=True)
            self.u.plans.refuse_on(plan, force, "force")
            self.u.runner.launch(plan, p, legacy=True)
            self.w._flush()
            return {"status": "Upgrade started", "from_version": plan["from_version"], "to_version":
                    plan["to_version"], "disruptive": plan["disruptive"]}

    def legacy_status(self, base):
        """GET /api/cluster/upgrade/status: the 17.2 SystemUpgradeState."""
        with self.w.lock:
            self.u.need_legacy("/api/cluster/upgrade/status")
            return self.legacy_state(self.u.status.ctl_doc(), base)

    def legacy_state(self, doc, base):
        running = any(o["state"] == "running" and o["kind"] in ("system_upgrade", "rollback")
                      for o in self.w.ops.values())
        if not doc.get("upgrade_ops"):
            return {"in_progress": False, "rollback": False, "controller_state": {"in_progress": False}}
        fsm = doc["state"]["state"].replace(FSM, "")
        cstate = self.LEGACY_STATE.get(fsm, "UPGRADE_" + fsm)
        rb = doc.get("upgrade_ops") == "ROLLBACK"
        ctl_running = fsm in ("STARTED", "IN_PROGRESS", "WAITING", "ERROR", "ABORT_IN_PROGRESS")
        tasks = [{"task": e["task_name"], "start_time": e["sub_events"][0]["start_time"],
                  "end_time": e["sub_events"][0]["end_time"], "duration": str(e["sub_events"][0]["duration"])}
                 for e in doc.get("upgrade_events", [])]
        done = not running
        result = None
        if done:
            result = {"COMPLETED": "UPGRADE_SUCCESS", "ABORTED": "UPGRADE_ABORTED"}.get(fsm, "UPGRADE_FAILURE")
        out = {"in_progress": running, "rollback": rb, "from_version": doc["_lab"].get("frm"),
               "to_version": doc["_lab"].get("to"), "is_patch": False, "start_time": doc.get("start_time"),
               "end_time": doc.get("end_time"), "duration": doc.get("duration"), "result": result,
               "reason": doc["state"].get("reason", ""),
               "controller_state": {"state": cstate, "in_progress": ctl_running, "rollback": rb,
                                    "tasks_completed": tasks, "controller_progress": self.u.status.ctl_progress(doc)}}
        groups = [self.w.objs["serviceenginegroup"].get(u) for u in doc["_lab"].get("groups", [])]
        segs = [self.u.up["status"].get(g["uuid"], {}) for g in groups if g]
        segs = [s.get("seg_status") for s in segs if s.get("seg_status")]
        if segs:
            in_prog = any(s.get("in_progress") for s in segs)

            def pick(key):
                return [r for s in segs for r in s.get(key, [])]
            starts = [s.get("start_time") for s in segs if s.get("start_time")]
            ends = [s.get("end_time") for s in segs if s.get("end_time")]
            out["se_state"] = {
                "state": "SE_UPGRADE_IN_PROGRESS" if in_prog else "SE_UPGRADE_COMPLETE", "in_progress": in_prog,
                "start_time": min(starts)[:19] if starts else None,
                "end_time": max(ends)[:19] if ends and not in_prog else None,
                "se_upgrade_completed": pick("se_upgrade_completed"),
                "se_upgrade_in_progress": pick("se_upgrade_in_progress"),
                "se_upgrade_not_started": pick("se_upgrade_not_started"),
                "se_upgrade_errors": pick("se_upgrade_errors"), "notes": pick("notes"),
                "se_group_status": [{k: v for k, v in s.items() if k in LEGACY_SE_GROUP_STATUS} for s in segs]}
            for k in ("se_upgrade_in_progress", "se_upgrade_not_started", "se_upgrade_errors"):
                if not out["se_state"][k]:
                    del out["se_state"][k]
        return absolute(drop_none(out), base)

    def legacy_history(self, base):
        with self.w.lock:
            self.u.need_legacy("/api/cluster/upgrade/history")
            doc = self.u.status.ctl_doc()
            return {"upgrade_events": absolute(doc.get("history", []), base)}
