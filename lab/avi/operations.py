"""Operations of the Avi world: VS migrate / scale out / scale in, SE disable (evacuation) and SE
creation as operations with phases in lab seconds, advanced by the world's tick."""
import logging
import secrets
import time

from lab.avi.common import HA_LEGACY, ApiError, ref, uuid_of
from lab.avi.objects import (MIG_FAILED, MIG_FINISHED, MIG_IDLE, MIG_STARTED, SE_DFP, SE_DISABLED, SE_ENABLED,
                             SE_FORCE)
from lab.avi.upgrade.package import UPGRADE_FAULT_OPS, UPGRADE_OP_KINDS
from lab.part import Part

log = logging.getLogger("lab.avi.operations")

OP_KINDS = ("migrate", "scaleout", "scalein", "se_create", "se_disable") + UPGRADE_FAULT_OPS


# the events an operation of a virtual service ends with: kind -> (on failure, on success) [vendor: event ids]
FINISH_EVENTS = {"migrate": ("VS_MIGRATE_FAILED", "VS_MIGRATE_COMPLETE"),
                 "scaleout": ("VS_SCALEOUT_FAILED", "VS_SCALEOUT_COMPLETE"),
                 "scalein": ("VS_SCALEIN_FAILED", "VS_SCALEIN_COMPLETE")}
DETAILS = {"migrate": "vs_migrate_details", "scaleout": "vs_scaleout_details", "scalein": "vs_scalein_details"}


class Operations(Part):
    def vs_event(self, event_id, vs, module, description, op, error=None):
        """An event about a virtual service's operation, with its VsMigrate/ScaleOut/ScaleInEventDetails."""
        details = {"vs_uuid": vs["uuid"]}
        if vs["vip"]:
            details["ip"] = vs["vip"][0]["ip_address"]["addr"]
        if error:
            details["error_message"] = str(error)
        self.w.eventlog.emit(event_id, "virtualservice", vs, module, description, {DETAILS[op["kind"]]: details})

    def active_op(self, vs_uuid):
        for op in self.w.ops.values():
            if op["state"] == "running" and op.get("vs") == vs_uuid and op["kind"] in (
                    "migrate", "scaleout", "scalein"):
                return op
        return None

    def start_op(self, kind, phases, vs=None, se=None, target="", parent=None, **extra):
        oid = f"op-{len(self.w.ops) + 1:05d}-{secrets.token_hex(3)}"
        now = self.w.lab_now()
        names = [x for x in (target, vs, se) if x]
        if vs:
            names.append(self.w.objs["virtualservice"][vs]["name"])
        if se and se in self.w.objs["serviceengine"]:
            names.append(self.w.objs["serviceengine"][se]["name"])
        op = {"id": oid, "kind": kind, "vs": vs, "se": se, "target": target, "parent": parent,
              "state": "running", "result": None, "reason": None, "started": now, "ended": None,
              "started_real": time.time(), "phases": [list(p) for p in phases], "phase": 0,
              "phase_started": now, "fail": self.w.take_fault(kind, names), "children": [], **extra}
        op["est_total"] = sum(p[1] for p in op["phases"])
        self.w.ops[oid] = op
        self.w._mark("operations", oid, op)
        return op

    def finish_op(self, op, result, reason=None, at=None):
        """End an operation now, or at lab time ``at`` (the upgrade engine ends its operations when their
        phases were due; never before the start)."""
        op["state"] = "done"
        op["result"] = result
        op["reason"] = reason
        op["ended"] = self.w.lab_now() if at is None else max(at, op["started"])
        op["ended_real"] = time.time()
        self.w._mark("operations", op["id"], op)
        log.info("operation %s %s %s: %s%s (%.1f lab s)", op["id"], op["kind"], op["target"], result,
                 f" ({reason})" if reason else "", op["ended"] - op["started"])
        if op["kind"] in FINISH_EVENTS and op.get("vs") and result in ("success", "failed"):
            vs = self.w.objs["virtualservice"].get(op["vs"])
            if vs:
                event_id = FINISH_EVENTS[op["kind"]][result == "success"]
                self.vs_event(event_id, vs, "VSMGR", f"Virtual service {vs['name']} {op['kind']} "
                              + ("complete" if result == "success" else f"failed: {reason}"), op, error=reason)
        if op["kind"] == "se_disable" and result in ("success", "failed"):
            se = self.w.objs["serviceengine"].get(op["se"])
            if se:
                reasons = [f"{self.w.objs['virtualservice'].get(f['vs'], {}).get('name', f['vs'])}: {f['reason']}"
                           for f in op.get("failures", [])]
                self.w.eventlog.emit("MIGRATE_SE_FINISHED" if result == "success" else "MIGRATE_SE_FAILED",
                                     "serviceengine", se, "RESMGR",
                                     f"Service Engine {se['name']} migration " + (
                                         "finished" if result == "success" else "failed: " + "; ".join(reasons)),
                                     {"semigrate_event_details": {"se_uuid": se["uuid"], "se_name": se["name"],
                                                                  "num_vs": len(op.get("tried", [])),
                                                                  "reason": reasons}})
        if op.get("vs"):
            vs = self.w.objs["virtualservice"].get(op["vs"])
            if vs:
                vs["_lab"]["last_op"] = {"id": op["id"], "kind": op["kind"], "result": result, "reason": reason}
                if op["kind"] == "migrate":
                    vs["_lab"]["migrate_state"] = MIG_FINISHED if result == "success" else MIG_FAILED
                self.w.save_obj("virtualservice", op["vs"])

    def progress(self, op):
        if op["state"] != "running":
            return 100
        total = op["est_total"]
        if op["kind"] in ("migrate", "scaleout") and op.get("wait_se"):
            child = self._creating_op(op["wait_se"])
            if child:
                total += child["est_total"]
        if total <= 0:
            return 99
        return max(0, min(99, int((self.w.lab_now() - op["started"]) / total * 100)))

    def _creating_op(self, su):
        for o in self.w.ops.values():
            if o["state"] == "running" and o["kind"] == "se_create" and o["se"] == su:
                return o
        return None

    # public actions --------------------------------------------------------
    def vs_for_action(self, vs_uuid, params):
        vs = self.w.objs["virtualservice"].get(vs_uuid)
        if not vs:
            raise ApiError(404, "Object not found!")
        if not isinstance(params, dict) or "vip_id" not in params:
            raise ApiError(400, "vip_id is required")
        if str(params["vip_id"]) not in [v["vip_id"] for v in vs["vip"]]:
            raise ApiError(400, f"vip_id {params['vip_id']} not found in VS {vs['name']}")
        return vs, self.w.group_of(vs)

    def migrate(self, vs_uuid, params, parent=None, force=False):
        with self.w.lock:
            op = self._migrate(vs_uuid, params, parent=parent, force=force)
            self.w._flush()
            return op

    def _migrate(self, vs_uuid, params, parent=None, force=False):
        vs, g = self.vs_for_action(vs_uuid, params)
        evacuation = parent is not None
        if g["ha_mode"] == HA_LEGACY and not evacuation:
            raise ApiError(400, "Migrate is not supported for SE group in legacy active standby HA mode")
        if self.active_op(vs_uuid):
            raise ApiError(409, "VS operation in progress")
        placement = vs["_lab"]["placement"]
        if params.get("from_se_ref"):
            src = uuid_of(params["from_se_ref"])
            if not self.w.vs_entry(vs, src):
                se = self.w.objs["serviceengine"].get(src)
                raise ApiError(400, f"VS is not placed on SE {se['name'] if se else src}")
        elif len(placement) == 1:
            src = placement[0]["se"]
        elif not placement:
            raise ApiError(400, "VS is not placed on any SE")
        else:
            raise ApiError(400, "from_se_ref is required: the VS is placed on more than one SE")
        kind, tgt = self.w.placement.target_from_params(vs, g, params, exclude=(src,))
        if kind in ("new", "new_on_host"):
            tgt = self.w.placement.create_se(g, tgt, forced_host=kind == "new_on_host")
            kind = "new"
        src_entry = self.w.vs_entry(vs, src)
        tgt_entry = {"se": tgt, "primary": False, "standby": False, "state": "scaling_out"}
        if g["ha_mode"] == HA_LEGACY:
            # controller-driven evacuation of a legacy pair: switch over to the standby first (no
            # outage: the standby is up), then place a new standby and drop the old SE [lab assumption]
            if src_entry["primary"]:
                for p in placement:
                    if p is not src_entry and self.w.se_serving(p["se"]):
                        p["primary"], p["standby"] = True, False
                        src_entry["primary"], src_entry["standby"] = False, True
                        break
            tgt_entry["standby"] = any(p["primary"] for p in placement if p is not src_entry)
        if force:
            placement.remove(src_entry)  # SE_STATE_DISABLED_FORCE: break before make [lab assumption]
        placement.append(tgt_entry)
        vs["_lab"]["migrate_state"] = MIG_STARTED
        self.w.save_obj("virtualservice", vs_uuid)
        scalein = self.w.duration("scalein") + (g.get("vs_scalein_timeout", 0) if self.w.cfg["timing"].get(
            "honour_scalein_timeout") else 0)
        phases = [("scaleout", self.w.duration("scaleout"))]
        if not force:
            phases.append(("scalein", scalein))
        creating = kind == "new" or self.w.objs["serviceengine"][tgt]["_lab"]["oper"] == "OPER_CREATING"
        op = self.start_op("migrate", phases, vs=vs_uuid, se=tgt, target=vs["name"], parent=parent,
                           from_se=src, to_se=tgt, wait_se=tgt if creating else None,
                           force=force)
        self.w.update_disruption()
        self.vs_event("VS_MIGRATE_STARTED", vs, "VSMGR", f"Virtual service {vs['name']} migrate started", op)
        log.info("migrate %s from %s to %s started (%s)", vs["name"], self.w.objs["serviceengine"][src]["name"],
                 self.w.objs["serviceengine"][tgt]["name"], op["id"])
        return op

    def scaleout(self, vs_uuid, params):
        with self.w.lock:
            vs, g = self.vs_for_action(vs_uuid, params)
            if g["ha_mode"] == HA_LEGACY:
                raise ApiError(400, "Scaleout is not supported for SE group in legacy active standby HA mode")
            if self.active_op(vs_uuid):
                raise ApiError(409, "VS operation in progress")
            if len(vs["_lab"]["placement"]) >= g["max_scaleout_per_vs"]:
                raise ApiError(400, f"VS is already scaled out to max_scaleout_per_vs={g['max_scaleout_per_vs']}"
                               " SEs")
            kind, tgt = self.w.placement.target_from_params(vs, g, params)
            if kind in ("new", "new_on_host"):
                tgt = self.w.placement.create_se(g, tgt, forced_host=kind == "new_on_host")
            vs["_lab"]["placement"].append({"se": tgt, "primary": not vs["_lab"]["placement"],
                                            "standby": False, "state": "scaling_out"})
            self.w.save_obj("virtualservice", vs_uuid)
            creating = self.w.objs["serviceengine"][tgt]["_lab"]["oper"] == "OPER_CREATING"
            op = self.start_op("scaleout", [("scaleout", self.w.duration("scaleout"))], vs=vs_uuid, se=tgt,
                               target=vs["name"], to_se=tgt, wait_se=tgt if creating else None)
            self.w._flush()
            return op

    def scalein(self, vs_uuid, params):
        with self.w.lock:
            vs, g = self.vs_for_action(vs_uuid, params)
            if g["ha_mode"] == HA_LEGACY:
                raise ApiError(400, "Scalein is not supported for SE group in legacy active standby HA mode")
            if self.active_op(vs_uuid):
                raise ApiError(409, "VS operation in progress")
            placement = vs["_lab"]["placement"]
            if len(placement) <= max(1, g["min_scaleout_per_vs"]):
                raise ApiError(400, f"Cannot scale in: VS is on {len(placement)} SE(s), "
                               f"min_scaleout_per_vs={g['min_scaleout_per_vs']}")
            if params.get("from_se_ref"):
                src = uuid_of(params["from_se_ref"])
                entry = self.w.vs_entry(vs, src)
                if not entry:
                    raise ApiError(400, "VS is not placed on the given SE")
            else:
                cands = [p for p in placement if not p["primary"]] or placement
                if params.get("scalein_primary"):
                    cands = [p for p in placement if p["primary"]] or cands
                entry = cands[-1]
            entry["state"] = "scaling_in"
            self.w.save_obj("virtualservice", vs_uuid)
            op = self.start_op("scalein", [("scalein", self.w.duration("scalein"))], vs=vs_uuid, se=entry["se"],
                               target=vs["name"], from_se=entry["se"])
            self.w._flush()
            return op

    def set_enable_state(self, se, new):
        old = se["enable_state"]
        if new == old:
            return
        se["enable_state"] = new
        su = se["uuid"]
        running = [o for o in self.w.ops.values() if o["state"] == "running" and o["kind"] == "se_disable"
                   and o["se"] == su]
        if new in (SE_DISABLED, SE_FORCE):
            if not running:
                se["_lab"]["oper"] = "OPER_DISABLING" if se["_lab"]["oper"] != "OPER_CREATING" else "OPER_CREATING"
                se["_lab"]["migrate_state"] = MIG_STARTED
                se["_lab"]["failures"] = []
                self.start_op("se_disable", [("evacuate", 0), ("settle", self.w.duration("se_disable_settle"))],
                              se=su, target=se["name"], force=new == SE_FORCE, tried=[])
                self.w.eventlog.emit("MIGRATE_SE_STARTED", "serviceengine", se, "RESMGR",
                                     f"Service Engine {se['name']} migration started",
                                     {"semigrate_event_details": {"se_uuid": su, "se_name": se["name"],
                                                                  "num_vs": len(self.w.vss_on(su))}})
                log.info("SE %s: %s, evacuation started", se["name"], new)
        else:
            for o in running:  # re-enabled while evacuating: stop after the VSs in flight
                self.finish_op(o, "cancelled", f"enable_state changed to {new}")
            if se["_lab"]["oper"] in ("OPER_DISABLING", "OPER_DISABLED", "OPER_ERROR_DISABLED"):
                se["_lab"]["oper"] = "OPER_UP"
            se["_lab"]["migrate_state"] = MIG_IDLE
            log.info("SE %s: %s", se["name"], new)

    def advance(self, op):
        now = self.w.lab_now()
        k = op["kind"]
        if k in UPGRADE_OP_KINDS:
            return self.w.upgrade.advance(op)
        if k in ("migrate", "scaleout") and op.get("wait_se"):
            se = self.w.objs["serviceengine"].get(op["wait_se"])
            if se is None or se["_lab"]["oper"] == "OPER_FAILED":
                self._rollback_placement(op)
                self.finish_op(op, "failed", "service engine creation failed")
                return True
            if se["_lab"]["oper"] == "OPER_CREATING":
                return False
            op["wait_se"] = None
            op["phase_started"] = now
            return True
        if k == "se_disable" and op["phases"][op["phase"]][0] == "evacuate":
            return self._advance_evacuation(op)
        name, dur = op["phases"][op["phase"]]
        if now - op["phase_started"] < dur:
            return False
        # phase `name` has elapsed
        if op.get("fail") and self._fail_here(op, name):
            return True
        if k == "se_create" and name == "create":
            se = self.w.objs["serviceengine"].get(op["se"])
            if se and self._creation_fails(op, se):
                return True
            if se:
                se["_lab"]["oper"] = "OPER_UP" if se["enable_state"] in (SE_ENABLED, SE_DFP) else "OPER_DISABLED"
                self.w.save_obj("serviceengine", op["se"])
                g = self.w.group_of(se)
                self.w.placement.spawn_event("CREATED_SE", se, g, uuid_of(se.get("host_ref")),
                                             f"Service Engine {se['name']} created")
        elif name == "scaleout":
            vs = self.w.objs["virtualservice"].get(op["vs"])
            e = self.w.vs_entry(vs, op["to_se"]) if vs else None
            if e:
                e["state"] = "active"
                self.w.save_obj("virtualservice", op["vs"])
            if k == "migrate" and not op.get("force"):
                src = self.w.vs_entry(vs, op["from_se"])
                if src:
                    src["state"] = "scaling_in"
        elif name == "scalein":
            vs = self.w.objs["virtualservice"].get(op["vs"])
            src = self.w.vs_entry(vs, op["from_se"]) if vs else None
            if src:
                vs["_lab"]["placement"].remove(src)
                if src["primary"] and vs["_lab"]["placement"]:
                    new = self.w.vs_entry(vs, op.get("to_se")) if k == "migrate" else None
                    (new or vs["_lab"]["placement"][0])["primary"] = True
                    if new:
                        new["standby"] = False
                self.w.save_obj("virtualservice", op["vs"])
        elif name == "retry_wait":
            se = self.w.objs["serviceengine"].get(op["se"])
            if se:
                self.w.placement.spawn_event("CREATING_SE", se, self.w.group_of(se), uuid_of(se.get("host_ref")),
                                             f"Creating Service Engine {se['name']} (retry)")
        elif name == "settle":
            se = self.w.objs["serviceengine"].get(op["se"])
            if se:
                se["_lab"]["oper"] = "OPER_DISABLED"
                se["_lab"]["migrate_state"] = MIG_FAILED if op.get("failures") else MIG_FINISHED
                self.w.save_obj("serviceengine", op["se"])
        op["phase"] += 1
        op["phase_started"] = now
        if op["phase"] >= len(op["phases"]):
            if k == "se_disable" and op.get("failures"):
                self.finish_op(op, "failed", f"{len(op['failures'])} VS(s) could not be migrated")
            else:
                self.finish_op(op, "success")
        return True

    def _creation_fails(self, op, se):
        """When the controller decides otherwise, the next creations fail (decisions.se_create_failures): the
        event, then a retry on another host after timing.se_spawn_retry [vendor: "If creation of the SE fails,
        the Controller will wait for five minutes and then attempt to recreate the SE on a new host"; lab
        assumption: with a host the request named, the retry stays on that host]. True if this one failed."""
        fails = self.w.cfg["decisions"]["se_create_failures"]
        if not self.w.otherwise() or not fails:
            return False
        event_id = fails.pop(0)
        self.w._save_meta()
        g = self.w.group_of(se)
        failed_host = uuid_of(se.get("host_ref"))
        reason = ("timed out waiting for the SE to connect" if event_id == "CREATE_SE_TIMEOUT"
                  else "the cloud could not create the VM on this host")
        self.w.placement.spawn_event(event_id, se, g, failed_host, f"Service Engine {se['name']} creation failed: "
                                     f"{reason}", reason=reason)
        op["failed_hosts"] = op.get("failed_hosts", []) + [failed_host]
        host = failed_host
        if not op.get("forced_host"):
            cloud = uuid_of(g["cloud_ref"])
            se_host = se.pop("host_ref", None)       # this SE's own slot does not count against the other hosts
            host = self.w.placement.pick_host(cloud, {}, avoid=op["failed_hosts"]) or failed_host
            se["host_ref"] = ref("vimgrhostruntime", host) if host else se_host
        self.w.save_obj("serviceengine", se["uuid"])
        op["phases"] += [["retry_wait", self.w.duration("se_spawn_retry")], ["create", self.w.duration("se_create")]]
        op["est_total"] = sum(p[1] for p in op["phases"])
        op["phase"] += 1
        op["phase_started"] = self.w.lab_now()
        log.info("SE %s: creation failed (%s) on host %s, retrying on %s", se["name"], event_id,
                 failed_host, host)
        return True

    def _fail_here(self, op, phase):
        """Apply an injected fail_operation at the end of the first phase; True if it failed."""
        k = op["kind"]
        if k == "se_create":
            se = self.w.objs["serviceengine"].pop(op["se"], None)
            self.w._mark("objects", ("serviceengine", op["se"]), None)
            if se:
                se["_lab"]["oper"] = "OPER_FAILED"
                self.w.placement.spawn_event("CREATE_SE_FAIL", se, self.w.group_of(se), uuid_of(se.get("host_ref")),
                                             f"Service Engine {se['name']} creation failed: {op['fail']}",
                                             reason=op["fail"])
            self.finish_op(op, "failed", op["fail"])
            return True
        if k in ("migrate", "scaleout") and phase == "scaleout":
            self._rollback_placement(op)
            self.finish_op(op, "failed", op["fail"])
            return True
        if k == "scalein":
            vs = self.w.objs["virtualservice"].get(op["vs"])
            e = self.w.vs_entry(vs, op["from_se"]) if vs else None
            if e:
                e["state"] = "active"
                self.w.save_obj("virtualservice", op["vs"])
            self.finish_op(op, "failed", op["fail"])
            return True
        return False

    def _rollback_placement(self, op):
        vs = self.w.objs["virtualservice"].get(op["vs"])
        if not vs:
            return
        e = self.w.vs_entry(vs, op.get("to_se"))
        if e and e["state"] == "scaling_out":
            vs["_lab"]["placement"].remove(e)
        if op["kind"] == "migrate":
            src = self.w.vs_entry(vs, op.get("from_se"))
            if src:
                src["state"] = "active"
            elif op.get("force"):
                pass  # forced disable already removed the source: the VS lost that SE
            if vs["_lab"]["placement"] and not any(p["primary"] for p in vs["_lab"]["placement"]):
                vs["_lab"]["placement"][0]["primary"] = True
                vs["_lab"]["placement"][0]["standby"] = False
        self.w.save_obj("virtualservice", op["vs"])

    def _advance_evacuation(self, op):
        se = self.w.objs["serviceengine"].get(op["se"])
        if se is None:
            self.finish_op(op, "failed", "SE deleted")
            return True
        children = [self.w.ops[c] for c in op["children"] if c in self.w.ops]
        running = [c for c in children if c["state"] == "running"]
        changed = False
        for c in children:
            if c["state"] == "done" and not c.get("accounted"):
                c["accounted"] = True
                self.w._mark("operations", c["id"], c)
                changed = True
                if c["result"] != "success":
                    op.setdefault("failures", []).append({"vs": c["vs"], "reason": c["reason"]})
        if op.get("fail") and op["children"] and not running:
            # injected failure: the evacuation stops after the first VS [lab assumption]
            remaining = [v for v in self.w.vss_on(op["se"]) if v["uuid"] not in op["tried"]]
            for v in remaining:
                op.setdefault("failures", []).append({"vs": v["uuid"], "reason": op["fail"]})
                op["tried"].append(v["uuid"])
        parallel = max(1, int(self.w.cfg["timing"].get("se_disable_parallel", 1)))
        while len(running) < parallel:
            todo = [v for v in sorted(self.w.vss_on(op["se"]), key=lambda v: v["name"])
                    if v["uuid"] not in op["tried"] and not self.active_op(v["uuid"])]
            if not todo:
                break
            v = todo[0]
            op["tried"].append(v["uuid"])
            changed = True
            try:
                child = self._migrate(v["uuid"], {"vip_id": "0", "from_se_ref": ref("serviceengine", op["se"])},
                                      parent=op["id"], force=op.get("force", False))
            except ApiError as e:
                op.setdefault("failures", []).append({"vs": v["uuid"], "reason": e.message})
                log.info("evacuation of SE %s: VS %s stays (%s)", se["name"], v["name"], e.message)
                continue
            op["children"].append(child["id"])
            running.append(child)
        waiting = [v for v in self.w.vss_on(op["se"]) if v["uuid"] not in op["tried"]]
        if not running and not waiting:
            se["_lab"]["failures"] = [{"vs_ref": ref("virtualservice", f["vs"]), "reason": f["reason"]}
                                      for f in op.get("failures", [])]
            self.w.save_obj("serviceengine", op["se"])
            op["phase"] += 1
            op["phase_started"] = self.w.lab_now()
            return True
        return changed
