# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the cluster_upgrade module: one upgrade (or rollback) step of an Avi system.

Read the running versions and upgrade states, resolve (or upload) the image, compare with the
wanted version, plan (the vendor's dry run where it exists, plus the placement-based prediction of
which virtual services lose service and why), act unless in check mode, then wait through the
read-only API, the controllers' reboot window (503s, dropped connections, lost sessions) and the
SE upgrades, reporting progress per phase and per node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError, ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import HA_LEGACY, load_placement
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import (
    FSM_RUNNING,
    FSM_SUSPENDED,
    LEGACY_RUNNING,
    image_summary,
    is_flexible,
    parse_version,
    read_view,
    running_version,
    same_version,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_watch import UpgradeWatch
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import (
    ModuleFailure,
    not_found,
    readable_file,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout, wait_until

ACTION_ON_ERROR = {
    "suspend": "SUSPEND_UPGRADE_OPS_ON_ERROR",
    "rollback": "ROLLBACK_UPGRADE_OPS_ON_ERROR",
    "continue": "CONTINUE_UPGRADE_OPS_ON_ERROR",
}
# The resume of a suspended SE group: its URL is not settled by public documentation (see
# lab/API.md); the lab serves this path.
RESUME_PATH = "resumesegroup"
# Per-SE upgrade: no public vendor API; the lab's extension (see lab/API.md).
SE_UPGRADE_PATH = "serviceengine/%s/upgrade"


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def plan_disruption(placement, group_uuid, se_uuids, disruptive):
    """Virtual services of the group that would lose service while ``se_uuids`` upgrade, and why.

    Non-disruptive (vendor, seed 001): SEs of a group upgrade one at a time; active/active
    VSs and N+M VSs scaled to 2+ SEs keep serving from another SE, a legacy active/standby pair
    switches over to its standby first, and an N+M VS placed on a single SE is unavailable while
    that SE upgrades. Disruptive: every SE of the group upgrades at once.
    """
    group = placement.groups.get(group_uuid) or {}
    ha_mode = group.get("ha_mode")
    upgrading = set(se_uuids)
    out = []
    for vs in sorted((v for v in placement.vss.values() if v["group_uuid"] == group_uuid), key=lambda v: v["name"] or ""):
        if vs["group_uuid"] != group_uuid or not vs.get("enabled", True):
            continue
        for vip_id, entries in sorted(vs["vips"].items()):
            ses = [e["se_uuid"] for e in entries]
            hit = [u for u in ses if u in upgrading]
            if not hit:
                continue
            names = ", ".join(placement.se_name(u) for u in hit)
            if disruptive:
                if all(u in upgrading for u in ses):
                    out.append({"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id, "se_group": group.get("name"),
                                "ha_mode": ha_mode, "service_engines": [placement.se_name(u) for u in ses],
                                "reason": "disruptive upgrade: every SE of group %s upgrades at once (%s)"
                                          % (group.get("name"), names)})
                continue
            if len(ses) >= 2:
                continue  # another SE serves it (active/active, scaled-out N+M, or the A/S standby)
            why = ("legacy active/standby virtual service without a standby" if ha_mode == HA_LEGACY else
                   "placed on a single SE in an elastic HA %s group" % (ha_mode or "HA_MODE_SHARED"))
            out.append({"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id, "se_group": group.get("name"),
                        "ha_mode": ha_mode, "service_engines": [placement.se_name(u) for u in ses],
                        "reason": "%s: unavailable while %s upgrades" % (why, names)})
    return out


class _ClusterUpgrade(object):
    def __init__(self, module, client, progress=None, clock=time.monotonic, sleep=time.sleep):
        self.module = module
        self.client = client
        self.params = module.params
        self.progress = progress or Progress("cluster_upgrade")
        self._clock = clock
        self._sleep = sleep

    # -- reading ---------------------------------------------------------------------------
    def _read(self):
        return read_view(self.client, self.flexible)

    def _scope_targets(self, view):
        """(group uuids, se uuid or None) the scope covers."""
        params = self.params
        scope = params["scope"]
        if scope in ("controller",):
            return [], None
        if scope == "system":
            return sorted(view.groups, key=lambda u: view.groups[u]["name"] or ""), None
        if scope == "se_group":
            group = view.group_named(params["se_group"])
            if group is None:
                raise ModuleFailure(not_found("SE group", params["se_group"],
                                              [g["name"] for g in view.groups.values()], "se_group"))
            return [group["uuid"]], None
        matches = [se for se in view.ses.values() if params["service_engine"] in (se["uuid"], se["name"])]
        if not matches:
            raise ModuleFailure(not_found("service engine", params["service_engine"],
                                          [se["name"] for se in view.ses.values()], "service_engine"))
        se = matches[0]
        return [se["group_uuid"]], se["uuid"]

    def _scope_versions(self, view, groups, se_uuid):
        """{node label: version} for everything the scope covers (the diff)."""
        out = {}
        scope = self.params["scope"]
        if scope in ("controller", "system"):
            out["controller"] = view.controller.get("version")
        if se_uuid:
            se = view.ses[se_uuid]
            out["service_engine %s" % se["name"]] = se["version"]
            return out
        for guuid in groups:
            for se in view.ses_of(guuid):
                out["service_engine %s" % se["name"]] = se["version"]
        return out

    # -- images ------------------------------------------------------------------------------
    def _image(self):
        """The image to upgrade to: a summary dict, ``{"upload": path}`` for a local file not yet on
        the controller, ``{"path": ...}`` for a 17.x image path, or None (version given only)."""
        params = self.params
        value = params["image"]
        if not self.flexible:
            if value and not str(value).startswith("controller://"):
                raise ModuleFailure("image '%s': a 17.x controller takes the image as a controller:// path, e.g. "
                                    "controller://upgrade_pkgs/controller.pkg (copy the package to "
                                    "/var/lib/avi/upgrade_pkgs/ on the leader first)" % value)
            if not params["version"]:
                raise ModuleFailure("version is required with a 17.x controller: its API cannot tell the "
                                    "version of an image path")
            return {"path": value or "controller://upgrade_pkgs/controller.pkg", "version": params["version"]}
        images = [image_summary(i) for i in self.client.get_all("image")]
        path = os.path.expanduser(value) if value else None
        if path and (os.path.isfile(path) or os.path.sep in path and not value.startswith("controller://")
                     and os.path.exists(path)):
            try:
                readable_file(path, "image (a local package file)")
            except ValueError as exc:
                raise ModuleFailure(str(exc))
            digest = _md5(path)
            for image in images:
                if image["hash"] == digest:
                    return image
            return {"upload": path, "hash": digest, "version": params["version"], "name": os.path.basename(path)}
        if value:
            for image in images:
                if value in (image["uuid"], image["name"], image["path"]):
                    return image
            raise ModuleFailure("image: '%s' is no local file and no image of the controller (by uuid, name or "
                                "path); images: %s" % (value, ", ".join(sorted(
                                    "%s (%s)" % (i["name"], i["version"]) for i in images)) or "none"))
        if not params["version"]:
            return None
        found = [i for i in images if same_version(i["version"], params["version"])]
        if not found:
            return {"missing": True, "version": params["version"],
                    "known": sorted("%s (%s)" % (i["name"], i["version"]) for i in images)}
        if len(found) > 1:
            raise ModuleFailure("several images have version %s (%s): set image to choose one"
                                % (params["version"], ", ".join(sorted(i["name"] for i in found))))
        return found[0]

    def _upload(self, image):
        self.progress.update("image", "uploading %s" % image["name"])
        answer = self.client.upload("image", "file", image["upload"])
        uploaded = answer.get("uuid") if isinstance(answer, dict) else None

        def ready():
            for item in self.client.get_all("image"):
                found = image_summary(item)
                if found["uuid"] == uploaded or found["hash"] == image["hash"]:
                    if found["state"] in ("IMAGE_FSM_FAILED",):
                        raise ModuleFailure("image upload failed: %s" % (item.get("img_state") or {}).get("reason"))
                    self.progress.update("image", "image %s: %s" % (found["name"], found["state"]),
                                         percent=found.get("progress"))
                    if found["state"] in (None, "IMAGE_FSM_COMPLETED"):
                        return found
            return None
        return self._wait(ready, "the uploaded image to be ready")

    # -- planning --------------------------------------------------------------------------------
    def _disruption(self, placement, view, groups, se_uuid, wanted, disruptive):
        out = []
        for guuid in groups:
            if se_uuid:
                todo = [se_uuid] if not same_version(view.ses[se_uuid]["version"], wanted) else []
            else:
                todo = [se["uuid"] for se in view.ses_of(guuid) if not same_version(se["version"], wanted)]
            if todo:
                out.extend(plan_disruption(placement, guuid, todo, disruptive))
        return out

    def _nodes(self, view, groups, se_uuid, wanted):
        nodes = []
        scope = self.params["scope"]
        if scope in ("controller", "system"):
            ctl = view.controller
            nodes.append({"type": "controller_cluster", "name": "controller cluster",
                          "version": ctl.get("version"), "upgrade": not same_version(ctl.get("version"), wanted),
                          "step": 1})
        step = 2 if scope == "system" else 1
        for guuid in groups:
            group = view.groups[guuid]
            members = [view.ses[se_uuid]] if se_uuid else view.ses_of(guuid)
            order = [se["name"] for se in members if not same_version(se["version"], wanted)]
            nodes.append({"type": "se_group", "name": group["name"], "version": group.get("version"),
                          "upgrade": bool(order), "step": step, "size": len(members),
                          "order": order, "parallel_with_other_groups": scope == "system",
                          "all_at_once": bool(self.params["disruptive"] or self.params["force"])})
        return nodes

    def _preview(self, body):
        """The vendor's dry run (flexible API); None where it does not exist."""
        if not self.flexible or self.params["scope"] == "service_engine":
            return None
        path = "rollback/preview" if self.params["state"] == "rolled_back" else "upgrade/preview"
        try:
            return self.client.post(path, body)
        except AviError as exc:
            if exc.status == 404:
                return None
            if exc.status == 400:
                raise ModuleFailure("the controller's pre-checks refuse this %s: %s" % (
                    "rollback" if self.params["state"] == "rolled_back" else "upgrade", exc.msg), **self.result)
            raise

    # -- acting ------------------------------------------------------------------------------------
    def _start_body(self, image):
        params = self.params
        force = params["force"]
        if not self.flexible:
            return {"image_path": image["path"], "force": bool(force), "disruptive": bool(params["disruptive"] or force)}
        body = {"image_ref": self.client.ref("image", image["uuid"])}
        if force:
            body["skip_warnings"] = True
        scope = params["scope"]
        options = {"action_on_error": ACTION_ON_ERROR[params["action_on_error"]],
                   "disruptive": bool(params["disruptive"] or force)}
        if scope == "system" and same_version(self.view.controller.get("version"), self.wanted):
            # The controllers already run it (e.g. a system upgrade that was interrupted, or a
            # controller-only upgrade earlier): the SE groups still behind are what is left.
            behind = [g for g in self.groups
                      if not all(same_version(se["version"], self.wanted) for se in self.view.ses_of(g))]
            body.update(se_group_refs=[self.client.ref("serviceenginegroup", g) for g in behind],
                        se_group_options=options)
        elif scope == "system":
            body.update(system=True, se_group_options=options)
        elif scope == "se_group":
            body.update(se_group_refs=[self.client.ref("serviceenginegroup", self.groups[0])],
                        se_group_options=options)
        elif scope == "service_engine":
            body = {"image_ref": body["image_ref"], "disruptive": options["disruptive"]}
        return body

    def _start(self, text):
        self.progress.update("start", text)
        try:
            self._post_start(self._start_body(self.image))
        except AviError as exc:
            raise ModuleFailure("the controller refused the upgrade: %s" % exc.msg, **self.result)

    def _post_start(self, body):
        scope = self.params["scope"]
        if not self.flexible:
            self.client.post("cluster/upgrade", body)
        elif scope == "service_engine":
            try:
                self.client.post(SE_UPGRADE_PATH % self.se_uuid, body)
            except AviError as exc:
                if exc.status in (404, 405):
                    raise ModuleFailure("this controller has no per-SE upgrade API (%s is a lab extension, see "
                                        "the module documentation): use scope=se_group (with the rolling_upgrade "
                                        "role: strategy per_group)" % (SE_UPGRADE_PATH % "<uuid>"), **self.result)
                raise
        else:
            self.client.post("upgrade", body)

    def _resume(self):
        self.progress.update("resume", "resuming SE group %s" % self.view.groups[self.groups[0]]["name"])
        body = {"se_group_refs": [self.client.ref("serviceenginegroup", self.groups[0])],
                "se_group_options": {"action_on_error": ACTION_ON_ERROR[self.params["action_on_error"]],
                                     "disruptive": bool(self.params["disruptive"]), "skip_suspended": False}}
        self.client.post(RESUME_PATH, body)

    # -- waiting -----------------------------------------------------------------------------------
    def _wait(self, condition, what):
        try:
            return wait_until(condition, self.params["timeout"], self.params["wait_sleep"], clock=self._clock,
                              sleep=self._sleep, what=what)
        except WaitTimeout as exc:
            raise ModuleFailure("%s; the controller carries on: run the task again to re-attach" % exc.msg,
                                **self.result)

    def _wait_for(self, wanted, rollback=False):
        """Follow the upgrade (or rollback) to ``wanted`` to its end; fail with what was reached otherwise."""
        outcome, view = self._wait(lambda: self.watch.poll(wanted),
                                   "the %s to %s" % ("rollback" if rollback else "upgrade", wanted))
        self.result["status"] = self.watch.status(view)
        self.result["versions"]["after"] = self._scope_versions(view, self.groups, self.se_uuid)
        self.result["diff"]["after"] = {"versions": self.result["versions"]["after"]}
        if outcome == "failed":
            raise ModuleFailure("the %s did not complete: %s" % ("rollback" if rollback else "upgrade",
                                                                 self.watch.failure), **self.result)
        return view

    # -- the step -------------------------------------------------------------------------------
    def run(self):
        params = self.params
        scope = params["scope"]
        self.flexible = is_flexible(running_version(self.client), params["api"])
        if not self.flexible and scope != "system":
            raise ModuleFailure("a 17.x controller upgrades the whole system (controllers, then every SE group): "
                                "use scope=system (scope %s needs 18.2.6 or later)" % scope)
        self.progress.update("read", "reading versions and upgrade state (%s API)"
                             % ("flexible" if self.flexible else "17.x"))
        view = self.view = self._read()
        self.groups, self.se_uuid = self._scope_targets(view)
        self.watch = UpgradeWatch(self.client, self.progress, scope, self.flexible, self.groups, self.se_uuid,
                                  self.params["wait_sleep"])
        before = self._scope_versions(view, self.groups, self.se_uuid)
        self.result = {"changed": False, "scope": scope, "api": "flexible" if self.flexible else "17.x",
                       "versions": {"before": before, "after": before},
                       "diff": {"before": {"versions": before}, "after": {"versions": before}},
                       "plan": {"actions": []}, "progress": self.progress.history}
        if params["state"] == "rolled_back":
            return self._rollback(view)
        image = self._image()
        if image is None:
            raise ModuleFailure("give image (name, uuid, controller:// path or a local package file) or version")
        if image.get("missing"):
            raise ModuleFailure("version: no image with version %s on the controller; images: %s. Upload one (give "
                                "image as a local package file)" % (image["version"], ", ".join(image["known"]) or "none"))
        if image.get("upload") and not params["version"]:
            # Only the controller can tell the version of a package: upload it first, then decide (check
            # mode cannot upload, so it plans with an unknown version).
            steps = [self._upload_step(image),
                     Step("upgrade %s to the version of that image (unknown until uploaded: give version to plan in "
                          "detail)" % scope.replace("_", " "), lambda: self._upgrade(view, self.image))]
            self.result.update(changed=True, image={"name": image["name"]})
            self.result["plan"]["actions"] = texts(steps)
            if not self.module.check_mode:
                execute(steps)
            return self.result
        return self._upgrade(view, image)

    def _upgrade(self, view, image):
        """Compare the versions with the wanted one and decide the steps once: check mode returns them (the
        plan), a run executes them."""
        params = self.params
        scope = params["scope"]
        before = self.result["versions"]["before"]
        if params["version"] and image.get("version") and not same_version(image["version"], params["version"]):
            raise ModuleFailure("image %s is version %s, not the wanted version %s"
                                % (image.get("name"), image["version"], params["version"]))
        wanted = self.wanted = params["version"] or image.get("version")
        self.image = image
        self.result["image"] = dict((k, image.get(k)) for k in ("name", "uuid", "version", "path") if image.get(k))
        self.result["to_version"] = wanted
        self.result["from_version"] = view.controller.get("version") if scope in ("controller", "system") else (
            sorted(set(v for v in before.values() if v)) or [None])[0]
        controller_behind = (scope in ("se_group", "service_engine") and wanted
                             and not same_version(view.controller.get("version"), wanted))
        if controller_behind and not self.module.check_mode:
            raise ModuleFailure("the controller runs %s: upgrade it to %s first (scope=controller); SEs cannot run a "
                                "newer version than their controller" % (view.controller.get("version"), wanted),
                                **self.result)
        if wanted and parse_version(wanted) and any(parse_version(v) and parse_version(v) > parse_version(wanted)
                                                    for v in before.values()):
            raise ModuleFailure("%s is older than what runs now (%s): use state=rolled_back to go back"
                                % (wanted, ", ".join("%s %s" % kv for kv in sorted(before.items()))), **self.result)

        todo = [k for k, v in before.items() if not same_version(v, wanted)]
        running = self._running(view)
        suspended = self._suspended(view)
        if not todo and not running and not suspended:
            self.result["plan"]["actions"] = []
            self.result["status"] = self.watch.status(view)
            if scope in ("controller", "system"):
                self.result["cluster"] = self.watch.cluster()
            self.progress.update("done", "%s already at %s" % (scope, wanted), percent=100)
            return self.result

        placement = load_placement(self.client)
        disruptive = bool(params["disruptive"] or params["force"])
        steps = []
        if image.get("upload"):
            steps.append(self._upload_step(image))
        if running:
            steps.append(Step("re-attach to the %s already running" % running, lambda: self.progress.update(
                "attach", "an upgrade of %s is already running: waiting for it" % running)))
        elif suspended:
            steps.append(Step("resume the suspended upgrade of SE group %s" % view.groups[self.groups[0]]["name"],
                              self._resume))
        else:
            text = "upgrade %s to %s%s" % (scope.replace("_", " "), wanted, " (disruptive)" if disruptive else "")
            steps.append(Step(text, lambda: self._start(text)))
        if params["wait"]:
            steps.append(Step("wait until %s runs %s" % (scope.replace("_", " "), wanted), lambda: self._wait_for(wanted)))
        self.result["plan"] = {"actions": texts(steps), "nodes": self._nodes(view, self.groups, self.se_uuid, wanted),
                               "disrupted_virtual_services": self._disruption(placement, view, self.groups,
                                                                              self.se_uuid, wanted, disruptive),
                               "warnings": []}
        if controller_behind:  # check mode only: plan as if the controller step came first
            self.result["plan"]["warnings"].append(
                "the controller runs %s: it must be upgraded to %s first (scope=controller)"
                % (view.controller.get("version"), wanted))
        self.result["changed"] = True
        self.result["versions"]["after"] = dict((k, wanted) for k in before)
        self.result["diff"]["after"] = {"versions": self.result["versions"]["after"]}
        if not running and not suspended and not image.get("upload") and not controller_behind:
            preview = self._preview(self._start_body(image))
            if preview:
                self._merge_preview(preview)
        if self.module.check_mode:
            self.result["status"] = self.watch.status(view)
            self.progress.update("plan", "; ".join(self.result["plan"]["actions"]))
            return self.result
        execute(steps)
        if not params["wait"]:
            self.result["status"] = self.watch.status(self.watch.view() or view)
            return self.result
        if scope in ("controller", "system"):
            self.result["cluster"] = self.watch.cluster()
        self.progress.update("done", "%s at %s" % (scope.replace("_", " "), wanted), percent=100)
        return self.result

    def _upload_step(self, image):
        def upload():
            self.image = self._upload(image)
            self.result["image"] = dict((k, self.image.get(k)) for k in ("name", "uuid", "version", "path")
                                        if self.image.get(k))
        return Step("upload image %s" % image["name"], upload)

    def _running(self, view):
        """What of the scope is being upgraded now (a label), or None."""
        if not self.flexible:
            ctl = view.controller
            return "system upgrade" if ctl.get("in_progress") or ctl.get("state") in LEGACY_RUNNING else None
        scope = self.params["scope"]
        if scope in ("controller", "system") and view.controller.get("state") in FSM_RUNNING:
            return "controller upgrade"
        for guuid in self.groups:
            if self.se_uuid:
                if view.ses[self.se_uuid].get("state") in FSM_RUNNING:
                    return "upgrade of service engine %s" % view.ses[self.se_uuid]["name"]
            elif view.groups[guuid].get("state") in FSM_RUNNING:
                return "upgrade of SE group %s" % view.groups[guuid]["name"]
        return None

    def _suspended(self, view):
        return (self.flexible and self.params["scope"] == "se_group"
                and view.groups[self.groups[0]].get("state") in FSM_SUSPENDED)

    def _merge_preview(self, preview):
        """Fold the vendor's dry run into the plan: warnings, errors, disrupted VSs."""
        plan = self.result["plan"]
        plan["prechecks"] = preview
        for key in ("warnings", "errors"):
            for item in preview.get(key) or []:
                plan.setdefault(key, []).append(item if isinstance(item, str) else str(item.get("message", item)))
        if preview.get("errors"):
            raise ModuleFailure("the controller's pre-checks refuse this upgrade: %s"
                                % "; ".join(plan["errors"]), **self.result)
        vendor = {}
        for seg in preview.get("se_groups") or []:
            name = seg.get("se_group_name")
            vendor[name] = seg
        if vendor:
            seen = set((d["uuid"], d["vip_id"]) for d in plan["disrupted_virtual_services"])
            for name, seg in vendor.items():
                for ref in seg.get("disrupted_vs_ref") or []:
                    uuid = ref_uuid(ref)
                    if not any(u == uuid for u, _v in seen):
                        plan["disrupted_virtual_services"].append({
                            "name": ref.split("#", 1)[1] if "#" in ref else uuid, "uuid": uuid, "vip_id": None,
                            "se_group": name, "ha_mode": seg.get("ha_mode"), "service_engines": [],
                            "reason": "reported by the controller's dry run"})

    # -- rollback -----------------------------------------------------------------------------------
    def _rollback(self, view):
        params = self.params
        scope = params["scope"]
        if scope == "service_engine":
            raise ModuleFailure("state=rolled_back works for the controller, an SE group or the system, not one SE")
        ctl = view.controller
        if scope == "se_group":
            node = view.groups[self.groups[0]]
        else:
            node = ctl
        target = params["version"] or node.get("previous_version")
        current = self.result["versions"]["before"]
        self.result["to_version"] = target
        self.result["from_version"] = node.get("version")
        if params["version"] and all(same_version(v, params["version"]) for v in current.values()):
            self.progress.update("done", "%s already at %s" % (scope, params["version"]), percent=100)
            self.result["status"] = self.watch.status(view)
            return self.result
        if not target or node.get("enable_rollback") is False or same_version(target, node.get("version")):
            if params["version"]:
                raise ModuleFailure("cannot roll %s back to %s: the controller offers no rollback (enable_rollback "
                                    "%s, previous version %s)" % (scope, params["version"], node.get("enable_rollback"),
                                                                  node.get("previous_version")), **self.result)
            self.result["plan"]["actions"] = []
            self.result["status"] = self.watch.status(view)
            self.progress.update("done", "nothing to roll back for %s (running %s)" % (scope, node.get("version")))
            return self.result
        body = {}
        if scope == "system":
            body["system"] = True
        elif scope == "se_group":
            body["se_group_refs"] = [self.client.ref("serviceenginegroup", self.groups[0])]
        text = "roll %s back from %s to %s" % (scope.replace("_", " "), node.get("version"), target)

        def start():
            self.progress.update("start", text)
            try:
                self.client.post("rollback" if self.flexible else "cluster/rollback", body)
            except AviError as exc:
                raise ModuleFailure("the controller refused the rollback: %s" % exc.msg, **self.result)
        steps = [Step(text, start)]
        if params["wait"]:
            steps.append(Step("wait until %s runs %s" % (scope.replace("_", " "), target),
                              lambda: self._wait_for(target, rollback=True)))
        self.result["changed"] = True
        self.result["plan"]["actions"] = texts(steps)
        self.result["versions"]["after"] = dict((k, target) for k in current)
        self.result["diff"]["after"] = {"versions": self.result["versions"]["after"]}
        preview = self._preview(body)
        if preview:
            self.result["plan"]["prechecks"] = preview
        self.result["status"] = self.watch.status(view)
        if self.module.check_mode:
            self.progress.update("plan", text)
            return self.result
        execute(steps)
        if not params["wait"]:
            self.result["status"] = self.watch.status(self.watch.view() or view)
        elif scope in ("controller", "system"):
            self.result["cluster"] = self.watch.cluster()
        return self.result


def upgrade_cluster(module, client, progress):
    return _ClusterUpgrade(module, client, progress).run()
