"""Plans of the upgrade engine: reading upgrade/rollback parameters, the checks that refuse an
upgrade, per-group plans (order, disrupted virtual services) and the previews."""
from lab.avi.common import HA_LEGACY, HA_PAIR, HA_SHARED, ApiError, ref, uuid_of
from lab.avi.upgrade.package import ACTIONS, CONTINUE, PACKAGE_OF, SUSPEND, UPGRADE_OP_KINDS, flag, vkey
from lab.avi.upgrade.part import UpgradePart


# keys of a plan that are the lab's own (the preview's SE order stays: PENDING_SHIPPED_READS,
# lab/avi/allowlist.py); POST /_lab/upgrade/preview answers the whole plan
LAB_KEYS = ("lab_order", "lab_disrupted_vs", "lab_disruptive", "lab_estimated_seconds", "lab_targets")


class Plans(UpgradePart):
    @staticmethod
    def answer_group(plan):
        return {k: v for k, v in plan.items() if k not in LAB_KEYS}

    def answer(self, plan):
        """The vendor-shaped answer of a preview (or a prechecks_only request): the plan without the lab's keys."""
        out = self.answer_group(plan)
        out["controller"] = self.answer_group(plan["controller"])
        out["se_groups"] = [self.answer_group(g) for g in plan["se_groups"]]
        if not self.w.views.since("22.1.3"):    # UpgradeStatusInfo.upgrade_readiness came with 22.1.3
            out.pop("upgrade_readiness", None)
        return out

    # ------------------------------------------------------------------ plans (checks, preview)
    def groups_from(self, refs, field="se_group_refs"):
        if refs is None:
            return []
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise ApiError(400, f"{field} must be a list of SE group refs or uuids")
        out = []
        for r in refs:
            g = self.w.objs["serviceenginegroup"].get(uuid_of(r)) or next(
                (x for x in self.w.objs["serviceenginegroup"].values() if x["name"] == r), None)
            if not g:
                raise ApiError(400, f"{field}: no SE group {r!r}")
            if g not in out:
                out.append(g)
        return out

    def parse_params(self, body, rollback=False):
        if not isinstance(body, dict):
            raise ApiError(400, "JSON object expected")
        p = {"system": flag(body, "system"), "skip_warnings": flag(body, "skip_warnings"),
             "prechecks_only": flag(body, "prechecks_only") or flag(body, "dryrun")}
        refs = body.get("se_group_refs", body.get("se_group_uuids"))
        p["groups"] = [] if p["system"] else self.groups_from(refs)  # vendor: ignored when system is set
        opts = body.get("se_group_options") or {}
        if not isinstance(opts, dict):
            raise ApiError(400, "se_group_options must be an object (SeGroupOptions)")
        # older docs show a top-level suspend_on_failure flag; SeGroupOptions.action_on_error replaced it
        default = CONTINUE if body.get("suspend_on_failure") is False else SUSPEND
        action = opts.get("action_on_error", default)
        if action not in ACTIONS:
            raise ApiError(400, f"se_group_options.action_on_error must be one of {', '.join(ACTIONS)}, "
                           f"got {action!r}")
        p["action"] = action
        p["disruptive"] = flag(opts, "disruptive") or flag(body, "disruptive")
        p["skip_suspended"] = flag(opts, "skip_suspended")
        p["image"] = None
        if not rollback:
            value = body.get("image_ref") or body.get("image_uuid")
            if not value:
                raise ApiError(400, "image_ref (or image_uuid) is required: the image to upgrade to "
                               "(GET /api/image lists them)")
            if not isinstance(value, str):
                raise ApiError(400, "image_ref must be a string (an image ref, uuid or name)")
            p["image"] = self.u.images.image_for(value, "image_ref" if body.get("image_ref") else "image_uuid")
        return p

    def _disruption_of(self, g, order, disruptive):
        """Per VS of group g that would lose service while the SEs in ``order`` upgrade: name, uuid,
        se, reason. Vendor rule (seed 001): only N+M VSs on a single SE are disrupted, unless the
        upgrade is disruptive (all SEs of the group at once)."""
        out = []
        gr = ref("serviceenginegroup", g["uuid"])
        todo = set(order)
        # the group's VSs first, then sort: a system preview of 100 groups sorts 100 VSs per group, not 10,000
        for vs in sorted((v for v in self.w.objs["virtualservice"].values() if v["se_group_ref"] == gr),
                         key=lambda v: v["name"]):
            if not vs["enabled"]:
                continue
            ses = [p["se"] for p in vs["_lab"]["placement"] if p["state"] in ("active", "scaling_in")]
            hit = [s for s in ses if s in todo]
            if not hit:
                continue
            name = self.w.objs["serviceengine"].get(hit[0], {}).get("name", "?")
            if disruptive:
                out.append({"name": vs["name"], "uuid": vs["uuid"], "se": name,
                            "reason": "disruptive upgrade: every SE of the group upgrades at once"})
            elif len(set(ses)) < 2:
                why = {HA_SHARED: "N+M (HA_MODE_SHARED) virtual service placed on a single SE (not scaled out)",
                       HA_LEGACY: "legacy active/standby virtual service without a standby SE",
                       HA_PAIR: "active/active virtual service placed on a single SE"}[g["ha_mode"]]
                out.append({"name": vs["name"], "uuid": vs["uuid"], "se": name,
                            "reason": f"{why}: no service while {name} upgrades"})
        return out

    def group_plan(self, g, to_ver, disruptive, state="SE_UPGRADE_PREVIEW"):
        ses = sorted(self.w.ses_of_group(g["uuid"]), key=lambda s: s["name"])
        order = [s["uuid"] for s in ses if s["_lab"]["version"] != to_ver]
        already = [s for s in ses if s["_lab"]["version"] == to_ver]
        gr = ref("serviceenginegroup", g["uuid"])
        vss = [v for v in self.w.objs["virtualservice"].values() if v["se_group_ref"] == gr]
        scaled, single = set(), set()
        for v in vss:
            on = {p["se"] for p in v["_lab"]["placement"]}
            (scaled if len(on) >= 2 else single).update(on)
        sref = [ref("serviceengine", s["uuid"]) for s in ses]
        disrupted = self._disruption_of(g, order, disruptive)
        notes = []
        if g["ha_mode"] == HA_LEGACY and not disruptive:
            notes.append("legacy active/standby: each virtual service switches over to its standby SE before its "
                         "active SE upgrades (no outage)")
        if disruptive:
            notes.append("disruptive: every SE of the group upgrades at the same time")
        se_time = self.u.timing("se_upgrade")
        return {
            "se_group_name": g["name"], "se_group_uuid": g["uuid"], "ha_mode": g["ha_mode"], "state": state,
            "num_se": len(ses), "num_vs": len(vss), "num_vs_disrupted": len(disrupted),
            "disrupted_vs_ref": [ref("virtualservice", d["uuid"]) for d in disrupted],
            "se_with_vs_scaledout": [r for s, r in zip(ses, sref) if s["uuid"] in scaled],
            "se_with_vs_not_scaledout": [r for s, r in zip(ses, sref) if s["uuid"] in single],
            "se_with_no_vs": [r for s, r in zip(ses, sref) if s["uuid"] not in scaled | single],
            "num_se_with_vs_scaledout": len(scaled & {s["uuid"] for s in ses}),
            "num_se_with_vs_not_scaledout": len(single & {s["uuid"] for s in ses}),
            "num_se_with_no_vs": sum(1 for s in ses if s["uuid"] not in scaled | single),
            "se_already_upgraded_at_start": [ref("serviceengine", s["uuid"]) for s in already],
            "notes": notes, "reason": [], "controller_version": self.w.cfg["version"],
            "lab_order": [self.w.objs["serviceengine"][u]["name"] for u in order],
            "lab_disrupted_vs": disrupted, "lab_disruptive": disruptive,
            "lab_estimated_seconds": se_time if (disruptive and order) else se_time * len(order),
        }

    def upgrade_plan(self, p):
        img = p["image"]
        to_ver, ctl_ver = img["_lab"]["version"], self.w.cfg["version"]
        scope = "system" if p["system"] else ("se_groups" if p["groups"] else "controller")
        errors, warnings = [], []
        if img["img_state"]["state"] != "IMAGE_FSM_COMPLETED":
            errors.append(f"Image {img['name']} is not ready: img_state {img['img_state']['state']}")
        want = PACKAGE_OF[self.u.up["deployment"]]
        if img["_lab"]["package"] != want:
            errors.append(f"Image {img['name']} is a {img['_lab']['package']} package; the controller deployment "
                          f"{self.u.up['deployment']} takes {want}")
        min_v = img["_lab"].get("min_version")
        if scope in ("system", "controller"):
            if vkey(to_ver) < vkey(ctl_ver):
                errors.append(f"Image version {to_ver} is older than the running version {ctl_ver}: use rollback")
            elif to_ver == ctl_ver:
                errors.append(f"The controller is already at version {to_ver}")
            if min_v and vkey(ctl_ver) < vkey(min_v):
                warnings.append(f"The running version {ctl_ver} is too far from {to_ver}: image {img['name']} "
                                f"needs at least {min_v}; forcing the upgrade (skip_warnings) makes it disruptive")
            groups = list(self.w.objs["serviceenginegroup"].values()) if scope == "system" else []
        else:
            groups = p["groups"]
            if to_ver != ctl_ver:
                errors.append(f"SE groups can only be upgraded to the controller's running version {ctl_ver}; image "
                              f"{img['name']} is version {to_ver} (upgrade the controller first)")
            pending = [g for g in groups if any(s["_lab"]["version"] != to_ver for s in self.w.ses_of_group(
                g["uuid"]))]
            if not pending:
                errors.append(f"SE group(s) {', '.join(g['name'] for g in groups)} already at version {to_ver}")
            for g in groups:
                lowest = self.u.status.group_version(g)
                if vkey(lowest) > vkey(to_ver):
                    errors.append(f"SE group {g['name']} runs {lowest}, newer than {to_ver}: use rollback")
                if min_v and vkey(lowest) < vkey(min_v):
                    warnings.append(f"SE group {g['name']} runs {lowest}, too far from {to_ver} (needs at least "
                                    f"{min_v}); forcing it (skip_warnings) makes the upgrade disruptive")
        disruptive = p["disruptive"] or bool(warnings and p["skip_warnings"])
        plans = [self.group_plan(g, to_ver, disruptive) for g in sorted(groups, key=lambda x: x["name"])]
        ctl_phase = (self.u.timing("prechecks") + self.u.timing("controller_install") + self.u.timing("controller_reboot")
                     + self.u.timing("cluster_form"))
        est = (ctl_phase if scope != "se_groups" else 0) + max([x["lab_estimated_seconds"] for x in plans] or [0])
        frm = ctl_ver if scope != "se_groups" else (self._lowest(groups) or ctl_ver)
        return {"upgrade_ops": "EVAL_UPGRADE", "scope": scope, "from_version": frm,
                "to_version": to_ver, "image_ref": ref("image", img["uuid"]), "image_uuid": img["uuid"],
                "image_name": img["name"], "system": scope == "system", "warnings": warnings, "errors": errors,
                "disruptive": disruptive,
                "se_group_options": {"action_on_error": p["action"], "disruptive": disruptive},
                "controller": {"nodes": [n["name"] for n in self.u.up["cluster"]["nodes"]],
                               "will_upgrade": scope != "se_groups", "reboot": scope != "se_groups",
                               "lab_estimated_seconds": ctl_phase if scope != "se_groups" else 0},
                "se_groups": plans, "lab_estimated_seconds": est}

    def _lowest(self, groups):
        vs = [self.u.status.group_version(g) for g in groups]
        return min(vs, key=vkey) if vs else None

    def conflict(self, groups, controller):
        """409 when another upgrade operation touches the same nodes (any controller-level operation
        conflicts with everything)."""
        gset = {g["uuid"] for g in groups}
        for op in sorted(self.w.ops.values(), key=lambda o: o["id"]):
            if op["state"] != "running" or op["kind"] not in UPGRADE_OP_KINDS or op["kind"] == "image_upload":
                continue
            top = op["kind"] in ("system_upgrade", "controller_upgrade", "controller_rollback", "rollback")
            if controller or top or op.get("group") in gset:
                raise ApiError(409, f"An upgrade operation is in progress ({op['kind']} of {op['target']}, "
                               f"{op['id']}); wait for it to end (GET /api/upgradestatusinfo)")

    def refuse_on(self, plan, skip, flag):
        if plan["errors"]:
            raise ApiError(400, "; ".join(plan["errors"]))
        if plan["warnings"] and not skip:
            raise ApiError(400, "; ".join(plan["warnings"]) + f" (set {flag} to proceed)")

    def record_readiness(self, plan, ops):
        now = self.w.lab_now()
        state = "UPGRADE_PRE_CHECK_ERROR" if plan["errors"] else (
            "UPGRADE_PRE_CHECK_WARNING" if plan["warnings"] else "UPGRADE_PRE_CHECK_SUCCESS")
        checks = [{"check_code": "SYSERR_FAILURE", "state": "UPGRADE_PRE_CHECK_ERROR", "description": e}
                  for e in plan["errors"]]
        checks += [{"check_code": "SYSERR_FAILURE", "state": "UPGRADE_PRE_CHECK_WARNING", "description": w}
                   for w in plan["warnings"]]
        doc = self.u.status.ctl_doc()
        doc["upgrade_readiness"] = {"upgrade_ops": ops, "image_ref": plan.get("image_ref"),
                                    "state": {"state": state, "last_changed_time": self.u.stamp(now)},
                                    "checks": checks, "total_checks": len(checks), "checks_completed": len(checks),
                                    "start_time": self.u.ts(now), "end_time": self.u.ts(now), "duration": 0}
        self.u.dirty()
        self.w._flush()
        out = dict(plan)
        out["status"] = "Prechecks completed" if not plan["errors"] else "Prechecks failed"
        out["upgrade_readiness"] = doc["upgrade_readiness"]
        return out

    def rollback_plan(self, p):
        doc = self.u.status.ctl_doc()
        scope = "system" if p["system"] else ("se_groups" if p["groups"] else "controller")
        errors, warnings = [], []
        ctl_ver, prev = self.w.cfg["version"], doc.get("previous_version") or ""
        targets = {}
        if scope in ("system", "controller"):
            if not prev or not doc.get("enable_rollback"):
                errors.append("Rollback is not possible: the controller has no previous version to roll back to "
                              "(enable_rollback is false)")
            if scope == "controller" and prev:
                newer = [g["name"] for g in self.w.objs["serviceenginegroup"].values()
                         if any(vkey(s["_lab"]["version"]) > vkey(prev) for s in self.w.ses_of_group(g["uuid"]))]
                if newer:
                    errors.append(f"SE group(s) {', '.join(sorted(newer))} run a version newer than {prev}: roll them "
                                  "back first (se_group_refs), or roll back the system")
            groups = list(self.w.objs["serviceenginegroup"].values()) if scope == "system" else []
            for g in groups:
                targets[g["uuid"]] = prev
        else:
            groups = p["groups"]
            for g in groups:
                gd = self.u.up["status"].get(g["uuid"]) or {}
                gp = gd.get("previous_version")
                if not gp or not gd.get("enable_rollback"):
                    errors.append(f"Rollback is not possible for SE group {g['name']}: no previous version "
                                  "(enable_rollback is false)")
                targets[g["uuid"]] = gp or self.u.status.group_version(g)
        plans = []
        for g in sorted(groups, key=lambda x: x["name"]):
            if g["uuid"] in targets:
                plans.append(self.group_plan(g, targets[g["uuid"]], p["disruptive"]))
        ctl_phase = (self.u.timing("prechecks") + self.u.timing("controller_install") + self.u.timing("controller_reboot")
                     + self.u.timing("cluster_form"))
        est = (ctl_phase if scope != "se_groups" else 0) + max([x["lab_estimated_seconds"] for x in plans] or [0])
        return {"upgrade_ops": "EVAL_ROLLBACK", "scope": scope, "from_version": ctl_ver,
                "to_version": prev if scope != "se_groups" else (sorted(set(targets.values()), key=vkey) or [""])[0],
                "system": scope == "system", "warnings": warnings, "errors": errors, "disruptive": p["disruptive"],
                "se_group_options": {"action_on_error": p["action"], "disruptive": p["disruptive"]},
                "controller": {"nodes": [n["name"] for n in self.u.up["cluster"]["nodes"]],
                               "will_upgrade": scope != "se_groups", "reboot": scope != "se_groups",
                               "lab_estimated_seconds": ctl_phase if scope != "se_groups" else 0},
                "se_groups": plans, "lab_targets": targets, "lab_estimated_seconds": est}
