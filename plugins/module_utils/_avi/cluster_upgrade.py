# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the cluster_upgrade module: one upgrade (or rollback, or verification) step of an Avi system.

Read the running versions and upgrade states, the placement and the intent record; resolve (or upload) the
image and check its type against the deployment; compare with the wanted version and decide the steps once
(``_upgrade``, from the pure pieces of ``_avi.upgrade_plan``: check mode returns the list, a run executes the same
list): protect the virtual services that would lose service (``_avi.upgrade_protect``), start the vendor's upgrade
of the scope (one request for a batch of SE groups), or resume it, or re-attach to the one in flight; follow it
per SE through the read-only API, the controllers' reboot window and lost sessions (``_avi.upgrade_watch``);
scale back in and deal with the SEs created for protection; verify the end state against the baseline
(``_avi.upgrade_verify``). A failure part-way undoes exactly what protection did. Whatever the run changes around
the vendor's upgrade is recorded first (``_avi.upgrade_intent``, held through ``_avi.intent.Hold``), so a re-run
from anywhere restores exactly that. ``state=rolled_back`` is ``_avi.upgrade_rollback``. The step's other concerns
are mixins beside the pieces they use: following (``_avi.upgrade_watch.UpgradeFollowing``), verifying
(``_avi.upgrade_verify.UpgradeVerification``) and the budgets (``_avi.budgets.UpgradeBudgets``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.budgets import UpgradeBudgets
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.intent import Hold
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import load_placement
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_image import (
    check_image_type,
    read_docker_mode,
    resolve_image,
    upload_image,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_intent import leftovers, upgrade_record
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_plan import (
    ACTION_ON_ERROR,
    check_image,
    disrupted,
    group_states,
    merge_preview,
    nodes,
    start_body,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_protect import (
    Protector,
    ProtectionFailed,
    busy,
    plan_protection,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_rollback import rollback
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import (
    FSM_RUNNING,
    LEGACY_RUNNING,
    is_flexible,
    parse_version,
    read_view,
    running_version,
    same_version,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_verify import UpgradeVerification, baseline
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_watch import (
    RESUME_CLI,
    UpgradeFollowing,
    UpgradeWatch,
    group_results,
    se_results,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import IntentError
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure, not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout

RESUME_PATH = "segroup/resume"
RESUME_SINCE = (18, 2, 8)


class _ClusterUpgrade(UpgradeFollowing, UpgradeVerification, UpgradeBudgets):
    def __init__(self, module, client, progress=None, clock=time.monotonic, sleep=time.sleep):
        self.module = module
        self.client = client
        self.params = module.params
        self.progress = progress or Progress("cluster_upgrade")
        self._clock = clock
        self._sleep = sleep
        self.record = None
        self.hold = None
        self.protector = None
        self.locked = False      # the controller's configuration is read-only (a controller or system upgrade)

    # -- reading -------------------------------------------------------------------------------------
    def _first_contact(self):
        """The running version; a controller that refuses connections is waited for up to
        ``unreachable_timeout`` (a killed run may have left it rebooting for an upgrade), shown in the progress.
        Names that do not resolve, certificates and credentials fail at once, as everywhere."""
        deadline = self._clock() + float(self.params["unreachable_timeout"])
        while True:
            try:
                return running_version(self.client)
            except AviError as exc:
                refused = exc.status is None and "refused the connection" in (exc.msg or "")
                left = deadline - self._clock()
                if not refused or left <= 0:
                    raise
                self.progress.update("wait", "the controller refuses connections: it may be rebooting for an "
                                     "upgrade; waiting up to %.0f s more (unreachable_timeout)" % left)
                self._sleep(min(max(1.0, float(self.params["wait_sleep"])), left))

    def _scope_groups(self, view):
        """The SE group uuids the scope covers (``se_groups`` for scope se_group, every group for system)."""
        scope = self.params["scope"]
        if scope == "controller":
            return []
        if scope == "system" or not self.params["se_groups"]:
            return sorted(view.groups, key=lambda u: view.groups[u]["name"] or "")
        out = []
        for value in self.params["se_groups"]:
            group = view.group_named(value)
            if group is None:
                raise ModuleFailure(not_found("SE group", value, [g["name"] for g in view.groups.values()],
                                              "se_groups"))
            if group["uuid"] not in out:
                out.append(group["uuid"])
        return out

    def _scope_versions(self, view):
        """{node label: version} for everything the scope covers (the diff)."""
        out = {}
        if self.params["scope"] in ("controller", "system"):
            out["controller"] = view.controller.get("version")
        for guuid in self.groups:
            for se in view.ses_of(guuid):
                out["service_engine %s" % se["name"]] = se["version"]
        return out

    # -- the lease -------------------------------------------------------------------------------------
    def _claim(self):
        """Become the owner of the upgrade; True when another run held it (the caller reads the world again)."""
        if self.hold.claimed:
            return False
        try:
            contended = self.hold.claim(float(self.params["timeout"]), takeover=self.params["takeover"],
                                        interval=max(0.5, float(self.params["wait_sleep"])))[1]
        except IntentError as exc:
            raise ModuleFailure.before_any_change(str(exc), self.result)
        displaced = self.record.displaced
        if displaced:
            self.result["owner"] = {"displaced": dict((k, displaced.get(k)) for k in ("run", "host", "since"))}
        return contended

    # -- the step ---------------------------------------------------------------------------------------
    def run(self):
        params = self.params
        scope = params["scope"]
        self.flexible = is_flexible(self._first_contact(), params["api"])
        self.progress.update("read", "reading versions and upgrade state (%s API)"
                             % ("flexible" if self.flexible else "17.x"))
        view = self.view = read_view(self.client, self.flexible)
        if not self.flexible and (scope == "se_group" or params["resume"]):
            raise ModuleFailure("the controller runs %s, which has only the 17.x system upgrade (controllers, then "
                                "every SE group): %s needs 18.2.6 or later (resume of a suspended SE group 18.2.8); "
                                "use scope=system" % (view.controller.get("version"), "scope=se_group"
                                                      if scope == "se_group" else "resume"))
        self.groups = self._scope_groups(view)
        self.watch = UpgradeWatch(self.client, self.progress, scope, self.flexible, self.groups, params["wait_sleep"],
                                  disruptive=bool(params["disruptive"] or params["force"]))
        self.watch.on_poll = self._on_poll
        self.record = upgrade_record(self.client)
        self.hold = Hold(self.record, "the upgrade", self.progress, read_only_ok=True)
        before = self._scope_versions(view)
        self.result = {"changed": False, "scope": scope, "api": "flexible" if self.flexible else "17.x",
                       "versions": {"before": before, "after": before},
                       "diff": {"before": {"versions": before}, "after": {"versions": before}},
                       "plan": {"actions": []}, "progress": self.progress.history,
                       "controller": {"version": view.controller.get("version")}}
        try:
            if params["state"] == "rolled_back":
                return rollback(self, view)
            if params["state"] == "verified":
                return self._verify_only(view)
            return self._upgrade(view)
        finally:
            if not self.module.check_mode:
                self.hold.release()

    # -- deciding ---------------------------------------------------------------------------------------
    def _image_for(self, view):
        return check_image(resolve_image(self.client, self.params, self.flexible), self.params["version"])

    def _upgrade(self, view, again=0):
        params = self.params
        scope = params["scope"]
        image = self._image_for(view)
        wanted = self.wanted = params["version"] or image.get("version")
        self.image = image
        before = self.result["versions"]["before"]
        self.result.update(image=dict((k, image.get(k)) for k in ("name", "uuid", "version", "path") if image.get(k)),
                           to_version=wanted,
                           from_version=view.controller.get("version") if scope in ("controller", "system") else (
                               sorted(set(v for v in before.values() if v)) or [None])[0])
        ctl_version = view.controller.get("version")
        self.result["controller"]["upgrade"] = not same_version(ctl_version, wanted)
        controller_behind = scope == "se_group" and not same_version(ctl_version, wanted)
        if controller_behind and not self.module.check_mode:
            raise ModuleFailure("the controller runs %s: upgrade it to %s first (scope=controller); SEs cannot run a "
                                "newer version than their controller" % (ctl_version, wanted), **self.result)
        if parse_version(wanted) and any(parse_version(v) and parse_version(v) > parse_version(wanted)
                                         for v in before.values()):
            raise ModuleFailure("%s is older than what runs now (%s): use state=rolled_back to go back"
                                % (wanted, ", ".join("%s %s" % kv for kv in sorted(before.items()))), **self.result)
        todo, running, suspended, done = group_states(view, self.groups, wanted)
        if scope == "se_group" and running and (todo or suspended) and not self.module.check_mode:
            # another request of this batch is still upgrading: follow it to its end first, then decide the rest
            names = ", ".join(view.groups[g]["name"] for g in running)
            self.progress.update("attach", "SE group(s) %s are already upgrading: following them first" % names)
            first = UpgradeWatch(self.client, self.progress, scope, self.flexible, running, params["wait_sleep"])
            first.on_poll = self._on_poll
            self._wait(lambda: first.poll(wanted), "the upgrade of SE group(s) %s" % names)
            self.view = view = read_view(self.client, self.flexible)
            todo, running, suspended, done = group_states(view, self.groups, wanted)
        entries = self.record.entries()
        placement = load_placement(self.client)
        base = baseline(placement, entries, self.groups if scope == "se_group" else None)
        self.result["baseline"] = base
        ctl_running = (view.controller.get("state") in FSM_RUNNING if self.flexible else
                       bool(view.controller.get("in_progress") or view.controller.get("state") in LEGACY_RUNNING))
        ctl_todo = scope in ("controller", "system") and not same_version(ctl_version, wanted)
        if suspended and not params["resume"]:
            self._undo_now(entries)
            names = ", ".join(view.groups[g]["name"] for g in suspended)
            raise ModuleFailure("the upgrade of SE group(s) %s is suspended (an SE failed: %s). Fix what failed, then "
                                "run again with resume=true (or on the controller's CLI: %s)" % (
                                    names, "; ".join("%s" % (view.groups[g].get("reason") or "see upgradestatusinfo")
                                                     for g in suspended),
                                    "; ".join(RESUME_CLI % view.groups[g]["name"] for g in suspended)), **self.result)
        disruptive = bool(params["disruptive"] or params["force"])
        if scope == "controller":
            start_groups, starting = [], ctl_todo and not ctl_running
        elif scope == "se_group":
            start_groups = todo
            starting = bool(todo)
        else:
            start_groups = todo
            starting = bool(ctl_todo or todo) and not ctl_running and not running
        # a resumed SE group upgrades its remaining SEs: its virtual services at risk are protected as for a start
        resuming = list(suspended) if params["resume"] else []
        protect_groups = (start_groups + resuming) if ((starting or resuming) and params["protect"]
                                                       and not disruptive) else []
        if protect_groups and busy(placement, set(protect_groups)) and not self.module.check_mode:
            placement = self._settle(protect_groups)
        needs = []
        if protect_groups:
            try:
                needs = plan_protection(placement, protect_groups, wanted, params["accept_disruption"],
                                        params["allow_se_creation"])
            except ModuleFailure as exc:
                exc.result.update(self.result)
                raise
        image_line = None
        if starting:
            image_line = check_image_type(read_docker_mode(self.client), params["deployment"], image.get("kind"),
                                          image.get("name") or image.get("path"))
        vss_left, created_left, groups_left, _states = leftovers(entries)
        steps = []
        if image.get("upload"):
            steps.append(Step("upload image %s" % image["name"], self._upload))
        if needs and any(n.assignments for n in needs):
            steps.append(Step("give %d virtual service(s) a temporary second SE (%s)" % (
                sum(len(n.assignments) for n in needs), "; ".join(
                    "%s: %d%s" % (n.name, len(n.assignments), ", %d new SE(s)" % n.new_ses if n.new_ses else "")
                    for n in needs if n.assignments)), lambda: self._protect(needs)))
        if ctl_running or running:
            what = "controller upgrade" if ctl_running else "upgrade of SE group(s) %s" % ", ".join(
                view.groups[g]["name"] for g in running)
            steps.append(Step("re-attach to the %s already running" % what, lambda: self.progress.update(
                "attach", "the %s is already running: following it" % what)))
        if suspended:
            steps.append(Step("resume the suspended upgrade of SE group(s) %s" % ", ".join(
                view.groups[g]["name"] for g in suspended), lambda: self._resume(suspended)))
        start_text = None
        if starting:
            if scope == "system":
                start_text = "upgrade the system to %s%s" % (wanted, " (disruptive)" if disruptive else "")
            elif scope == "controller":
                start_text = "upgrade the controller cluster to %s" % wanted
            else:
                start_text = "upgrade SE group(s) %s to %s%s (one request; the controller runs them in parallel)" % (
                    ", ".join(view.groups[g]["name"] for g in start_groups), wanted,
                    " (disruptive)" if disruptive else "")
            body = start_body(params, view, image, self.groups, start_groups, wanted)
            steps.append(Step(start_text, lambda: self._start(start_text, body)))
        following = bool(ctl_running or running or suspended or starting)
        if following and params["wait"]:
            steps.append(Step("wait until %s runs %s, reporting each SE as the controller does" % (
                "the controller cluster" if scope == "controller" else "every SE of the scope", wanted),
                lambda: self.follow(wanted)))
        if params["wait"] and (needs or vss_left or created_left or groups_left):
            steps.append(Step("scale the protected virtual services back in%s" % (
                " and remove the SEs created for them" if params["remove_created_ses"] else ""), self._unprotect))
        if params["wait"]:
            steps.append(Step("verify: every SE of the scope on %s with its enable state, no scale-out left, every "
                              "virtual service placed as before" % wanted, lambda: self._verify(wanted, base)))
        self.result["plan"] = {
            "actions": texts(steps),
            "nodes": nodes(view, scope, self.groups, wanted, (todo, running, suspended), disruptive),
            "protection": [n.summary() for n in needs],
            "disrupted_virtual_services": disrupted(placement, view, wanted, start_groups + running + suspended,
                                                    needs, disruptive, protected=bool(protect_groups)),
            "leftovers": {"scale_outs": sorted(v.get("vs") or k for k, v in vss_left.items()),
                          "created_service_engines": sorted(created_left)},
            "image_check": image_line, "warnings": []}
        if params["budgets"] and scope != "controller":
            self._budgets(placement, [view.groups[g]["name"] for g in start_groups])
        if controller_behind:  # check mode only: plan as if the controller step came first
            self.result["plan"]["warnings"].append(
                "the controller runs %s: it must be upgraded to %s first (scope=controller)" % (ctl_version, wanted))
        changing = [s for s in steps if not s.text.startswith(("verify", "wait", "re-attach"))]
        self.result["changed"] = bool(changing)
        if self.result["changed"]:
            self.result["versions"]["after"] = dict((k, wanted) for k in before)
            self.result["diff"]["after"] = {"versions": self.result["versions"]["after"]}
        if starting and not controller_behind and not image.get("upload"):
            self.preview(start_body(params, view, image, self.groups, start_groups, wanted))
        if self.module.check_mode:
            self.result["status"] = self.watch.status(view)
            self.progress.update("plan", "; ".join(self.result["plan"]["actions"]) or "nothing to do")
            return self.result
        if changing and not self.hold.claimed:
            if self._claim() and again < 2:
                self.progress.update("read", "reading the world again after the other run")
                self.view = read_view(self.client, self.flexible)
                return self._upgrade(self.view, again + 1)
        self.protector = self._protector()
        split = next((i for i, step in enumerate(steps) if step.text.startswith("scale the protected")), len(steps))
        try:
            execute(steps[:split])
        except (ModuleFailure, ProtectionFailed, AviError, WaitTimeout) as exc:
            self._undo_after_failure(exc)
        execute(steps[split:])
        if scope in ("controller", "system") and following:
            self.result["cluster"] = self.watch.cluster()
        if scope != "controller" and "service_engines" not in self.result:
            # nothing was followed (every SE already at the target): each SE is still reported
            self.result["service_engines"] = se_results(self.view, self.groups, before, wanted)
            self.result["se_group_results"] = group_results(self.view, self.groups, wanted)
        self.progress.update("done", "%s at %s, verified" % (scope.replace("_", " "), wanted), percent=100)
        return self.result

    def _protector(self):
        params = self.params
        return Protector(self.client, self.record, self.progress, concurrency=params["protect_concurrency"],
                         timeout=params["timeout"], interval=params["wait_sleep"], run_id=self.record.run_id)

    def _settle(self, groups):
        """Wait until no virtual service of the groups has a placement change in flight (an interrupted run's
        scale-out or scale-in, or the controller's own); the placement then."""
        self.progress.update("settle", "waiting for placement changes in flight to end before counting capacity")
        holder = {}

        def settled():
            placement = load_placement(self.client)
            holder["placement"] = placement
            return not busy(placement, set(groups))
        self._wait(settled, "placement changes in flight to end")
        return holder["placement"]

    # -- acting ---------------------------------------------------------------------------------------------
    def _upload(self):
        self.image = upload_image(self.client, self.image, self.progress, self._wait)
        self.result["image"] = dict((k, self.image.get(k)) for k in ("name", "uuid", "version", "path")
                                    if self.image.get(k))

    def _protect(self, needs):
        self.protector.protect(needs)
        self.result["protected_virtual_services"] = list(self.protector.protected)

    def _start(self, text, body):
        self.progress.update("start", text)
        if self.flexible and body.get("image_uuid") is None and self.image.get("uuid"):
            body["image_uuid"] = self.image["uuid"]   # uploaded in this run
        try:
            self.client.post("upgrade" if self.flexible else "cluster/upgrade", body)
        except AviError as exc:
            raise ModuleFailure("the controller refused the upgrade: %s" % exc.msg, **self.result)
        if self.params["scope"] != "se_group":
            self.locked = True

    def _resume(self, groups):
        names = [self.view.groups[g]["name"] for g in groups]
        if parse_version(self.view.controller.get("version")) and parse_version(
                self.view.controller.get("version")) < RESUME_SINCE:
            raise ModuleFailure("the controller runs %s: resuming a suspended SE group needs 18.2.8 or later"
                                % self.view.controller.get("version"), **self.result)
        body = {"se_group_refs": [self.client.ref("serviceenginegroup", g) for g in groups],
                "se_group_options": {"action_on_error": ACTION_ON_ERROR[self.params["action_on_error"]],
                                     "disruptive": bool(self.params["disruptive"]), "skip_suspended": False}}
        try:
            preview = self.client.post(RESUME_PATH + "/preview/", body)
        except AviError as exc:
            if exc.status in (404, 405):
                raise ModuleFailure(
                    "this controller has no REST resume of a suspended SE group (POST /api/%s/preview/ answered "
                    "%s; the URL is in the vendor's API reference but in no guide): resume on the controller's "
                    "CLI - %s - then run again" % (RESUME_PATH, exc.status, "; ".join(RESUME_CLI % n for n in names)),
                    **self.result)
            if exc.status == 400:
                raise ModuleFailure("the controller's pre-checks refuse to resume %s: %s" % (", ".join(names), exc.msg),
                                    **self.result)
            raise
        self.result.setdefault("plan", {})["resume_prechecks"] = preview
        self.progress.update("resume", "resuming the upgrade of SE group(s) %s" % ", ".join(names))
        try:
            self.client.post(RESUME_PATH, body)
        except AviError as exc:
            raise ModuleFailure("the controller refused to resume %s: %s" % (", ".join(names), exc.msg), **self.result)

    def _unprotect(self):
        try:
            self.protector.undo(None if self.params["scope"] == "system" else self.groups,
                                remove_created=self.params["remove_created_ses"])
        finally:
            self._protection_result()

    def _protection_result(self):
        p = self.protector
        self.result["protected_virtual_services"] = list(p.protected)
        self.result["scaled_back_in"] = sorted(set(p.unprotected))
        self.result["created_service_engines"] = sorted(p.created.values(), key=lambda c: c.get("name") or "")
        if p.kept:
            self.result["kept_scale_outs"] = p.kept

    def _undo_now(self, entries):
        """Undo an interrupted run's protection now (before failing for a reason a re-run must fix first)."""
        if self.module.check_mode or not leftovers(entries)[0]:
            return
        self._claim()
        self.protector = self._protector()
        self._unprotect()

    def _undo_after_failure(self, exc):
        """A step before the scale-in failed: undo exactly what protection did (the record says what), then fail."""
        msg = getattr(exc, "msg", None) or str(exc)
        if self.locked:
            raise ModuleFailure("%s (the controller's configuration is read-only now: what protection did stays "
                                "recorded; run again to finish or undo it)" % msg, **self.result)
        self.progress.update("undo", "the upgrade step failed (%s): undoing what protection did" % msg)
        try:
            self.protector.undo(None if self.params["scope"] == "system" else self.groups,
                                remove_created=self.params["remove_created_ses"])
            undone = "what protection did was undone"
        except (ModuleFailure, AviError, WaitTimeout) as undo_exc:
            undone = "undoing protection failed too (%s): run again" % (getattr(undo_exc, "msg", None) or undo_exc)
        self._protection_result()
        raise ModuleFailure("%s; %s" % (msg, undone), **self.result)

    # -- the controller's dry run ---------------------------------------------------------------------------
    def preview(self, body):
        """The vendor's dry run (flexible API: ``/preview/`` of the request); nothing where it does not exist."""
        if not self.flexible:
            return
        path = "rollback/preview/" if self.params["state"] == "rolled_back" else "upgrade/preview/"
        try:
            preview = self.client.post(path, body)
        except AviError as exc:
            if exc.status == 404:
                return
            if exc.status == 400:
                raise ModuleFailure("the controller's pre-checks refuse this %s: %s" % (
                    "rollback" if self.params["state"] == "rolled_back" else "upgrade", exc.msg), **self.result)
            raise
        if preview:
            merge_preview(self.result, self.params, preview)


def upgrade_cluster(module, client, progress):
    return _ClusterUpgrade(module, client, progress).run()
