# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the se_disable module: read, check capacity, decide the steps once (check mode returns them
as the plan, a run executes them), wait, verify the end state.

Crash safety (issue 12): before the first change, the SE's enable_state as the operator had it is
recorded on the controller (:class:`StringGroupStore` ``fleetops-maintenance-se-evacuate-<uuid>``, key
``se/<uuid>``), and the run takes the record's lease: one run acts on an SE at a time; a re-run waits for a
live run (a module left running by a killed ansible-playbook keeps renewing its lease) and then continues
from what it finds; a lease whose run is gone (expired, or its process dead on this very host) is taken
over. A later ``state: enabled`` restores the recorded state, not what an interrupted run set. A run reports
success only after it verified the end: the SE empty and disabled, every VS it hosted present once and placed
on an SE that is up.

The SE-level pieces shared with ``se_group_refresh`` (set the enable state, follow the controller's
evacuation) are ``_avi.se_evacuation``; the budgets (refusals, the budgeted plan, the anti-affinity check after
the moves) are ``_avi.budgets``' ``EvacuationBudgets``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.budgets import EvacuationBudgets
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.intent import target_hold
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    MIGRATE_FAILED,
    MIGRATE_STARTED,
    OPER_CREATING,
    OPER_UP,
    SE_DISABLED,
    SE_DISABLED_FOR_PLACEMENT,
    SE_ENABLED,
    PlacementError,
    load_placement,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.se_evacuation import (
    LEASE_SECONDS,
    OPER_DISABLED,
    OPER_DISABLING,
    PREDICTION,
    SERVING,
    EvacuationFailed,
    follow_evacuation,
    read_se,
    set_enable_state,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import run_migrations
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import Budgets, Gate
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import IntentError, process_gone
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import wait_until

STATES = {
    "enabled": SE_ENABLED,
    "disabled_for_placement": SE_DISABLED_FOR_PLACEMENT,
    "disabled": SE_DISABLED,
}


def record_target(se_uuid):
    return "se-evacuate-%s" % se_uuid


def _placement_view(placement, pairs):
    """{"<vs> (vip <id>)": [se names]} for the given (vs, vip_id) pairs."""
    view = {}
    for vs, vip_id in pairs:
        current = placement.vss.get(vs["uuid"]) or vs
        entries = current["vips"].get(vip_id, [])
        view["%s (vip %s)" % (vs["name"], vip_id)] = sorted(placement.se_name(e["se_uuid"]) for e in entries)
    return view


class _SeDisable(EvacuationBudgets):
    def __init__(self, module, client, progress):
        self.module = module
        self.client = client
        self.params = module.params
        self.progress = progress
        self.record = None
        self.hold = None
        self.budgets = Budgets(module.params.get("budgets"))
        self.jobs = {}

    # -- reading and deciding -------------------------------------------------------------------
    def read(self):
        client, params = self.client, self.params
        se_obj = client.resolve("serviceengine", params["uuid"] or params["name"],
                                option="uuid" if params["uuid"] else "name")
        self.se_uuid = se_obj["uuid"]
        self.group_uuid = ref_uuid(se_obj.get("se_group_ref"))
        self.progress.update("read", "reading placement of SE %s" % se_obj.get("name"))
        self.placement = placement = load_placement(client, self.group_uuid)
        se = placement.ses.get(self.se_uuid)
        if se is None:
            se = read_se(client, self.se_uuid)
            placement.ses[self.se_uuid] = se
        self.se = se
        self.pairs = placement.vs_on_se(self.se_uuid)
        self.hosted = set(se["vs_uuids"]) | set(vs["uuid"] for vs, _vip in self.pairs)
        if self.hold is None:
            self.hold = target_hold(client, record_target(self.se_uuid), "SE '%s'" % se["name"], self.progress,
                                    LEASE_SECONDS)
            self.record = self.hold.record
        self.left = self.hold.entries()

    def _changes_under_way(self):
        """The placement changes the controller shows under way that the SE's evacuation depends on: its VSs' VIPs
        with a move, scale-out or scale-in in progress (the VS runtime's flags), and SEs of its group still being
        created. None when the SE hosts nothing (nothing to plan)."""
        if not self.hosted:
            return []
        under_way = ["VS %s (vip %s): %s" % (vs["name"], vip_id, ", ".join(flags))
                     for vs in sorted(self.placement.vss.values(), key=lambda v: v["name"]) if vs["uuid"] in self.hosted
                     for vip_id, flags in sorted((vs.get("busy") or {}).items()) if flags]
        return under_way + ["SE %s: %s" % (se["name"], OPER_CREATING)
                            for se in sorted(self.placement.ses.values(), key=lambda e: e["name"])
                            if se.get("oper_state") == OPER_CREATING]

    def _wait_settled(self):
        """Wait (``timeout``, polling every ``wait_sleep``) until the group shows no placement change under way,
        reading the placement again each time: the capacity check must not count a move or an SE half done."""
        def settled():
            self.read()
            under_way = self._changes_under_way()
            if under_way:
                more = " (and %d more)" % (len(under_way) - 3) if len(under_way) > 3 else ""
                self.progress.waiting("placement changes under way in the SE group, waiting for them to end: %s%s"
                                      % ("; ".join(under_way[:3]), more))
            return not under_way
        wait_until(settled, self.params["timeout"], self.params["wait_sleep"],
                   what="the placement changes under way in SE group of %s to end" % self.se["name"])

    def _begin_result(self):
        """The state wanted and the state recorded before the evacuation, from what ``read`` found; the result
        started from them."""
        se, params = self.se, self.params
        wanted = STATES[params["state"]]
        recorded = (self.left.get("se/%s" % self.se_uuid) or {}).get("was")
        self.original = recorded or se["enable_state"]
        if params["state"] == "enabled" and recorded:
            wanted = recorded      # what the operator had before the evacuation, not what a run set
        group = Planner(self.placement).group(self.group_uuid)
        self.result = {
            "changed": False,
            "service_engine": {"name": se["name"], "uuid": self.se_uuid, "se_group": group["name"],
                               "enable_state": {"before": se["enable_state"], "after": se["enable_state"]},
                               "migrate_state": se.get("migrate_state")},
            "moves": [], "created_service_engines": [], "plan": {"method": params["method"], "actions": []},
            "intent": {"record": self.record.store.name, "original_enable_state": self.original,
                       "recorded": bool(recorded), "taken_over_from": (self.record.displaced or {}).get("run")},
            "progress": self.progress.history,
        }
        return wanted, recorded

    def run(self):
        self.read()
        wanted, recorded = self._begin_result()
        if not self.module.check_mode and self.record.holder():
            # Another run is changing this SE now (a killed run's module goes on): its moves are half done, and an
            # SE it is creating counts against max_se before it takes any load. Wait for it (claiming the record),
            # then decide and plan from what it left.
            self._claim()
            self.read()
            wanted, recorded = self._begin_result()
        if wanted == SE_DISABLED and not self.module.check_mode and self._changes_under_way():
            # moves or SE creations a killed run started go on at the controller: plan from where they end
            self._wait_settled()
            wanted, recorded = self._begin_result()
        se, params = self.se, self.params
        if wanted == SE_DISABLED and self.budgets:
            self._check_budgets()
        self.before_view = _placement_view(self.placement, self.pairs)
        self.diff_before = {"enable_state": se["enable_state"], "placement": self.before_view}
        steps = self._decide(wanted)
        self.result["plan"]["actions"] = texts(steps)
        if not steps:
            try:
                self._tidy_record(wanted)
                self._drop_dead_lease()
                if wanted == SE_DISABLED and params["wait"] and not self.module.check_mode and self._in_flight():
                    # disabled and empty, but the evacuation an interrupted run started is not over yet (the SE is
                    # still disabling): nothing to change, and success only once it ends as promised
                    self._wait_evacuated(set())
                    self._report_after()
                    self._verify()
            finally:
                self._release()     # held only when this run waited for another one
            return self.result
        self.result["changed"] = True
        self.result["service_engine"]["enable_state"]["after"] = wanted
        if wanted != SE_DISABLED:
            self.result["diff"] = {"before": self.diff_before,
                                   "after": {"enable_state": wanted, "placement": self.before_view}}
        else:
            try:
                self._predict()
            except ModuleFailure:
                self._release()     # held only when this run waited for another one
                raise
        if self.module.check_mode:
            if wanted == SE_DISABLED:
                self.progress.update("plan", "would disable SE %s and move %d virtual service(s) (targets predicted)"
                                     % (se["name"], len(self.pairs)))
            return self.result
        if self._claim():
            # another run held the SE: it may have done (part of) the work; decide again from what is now
            self.read()
            steps = self._decide(wanted)
            self.result["plan"]["actions"] = texts(steps)
            if not steps:
                self.result["changed"] = False
                self._tidy_record(wanted)
                self._release()
                return self.result
        try:
            if wanted == SE_DISABLED and "se/%s" % self.se_uuid not in self.left:
                self.record.remember("se/%s" % self.se_uuid, {"was": self.original, "run": self.record.run_id})
            execute(steps)
            if wanted == SE_DISABLED and params["wait"]:
                self._report_after()
                self._verify()
            elif wanted != SE_DISABLED:
                self.record.forget("se/%s" % self.se_uuid)
        finally:
            self._release()
        if wanted != SE_DISABLED:
            self.progress.update("done", "SE %s is %s%s" % (se["name"], wanted, " (the state recorded before its "
                                                            "evacuation)" if recorded and params["state"] == "enabled"
                                                            else ""), percent=100)
        elif not params["wait"] and params["method"] == "controller":
            self.progress.update("done", "SE %s set to %s (not waiting for the evacuation)" % (se["name"], SE_DISABLED))
        else:
            self.progress.update("done", "SE %s disabled, %d virtual service(s) moved, end state verified"
                                 % (se["name"], len(self.result["moves"])), percent=100)
        return self.result

    def _decide(self, wanted):
        """The steps from the SE as it is to ``wanted``, the same list for check mode (its plan) and a run."""
        se, params = self.se, self.params
        state = se["enable_state"]
        wait = params["wait"]
        if wanted != SE_DISABLED:
            if state == wanted:
                return []
            steps = [self._configure(wanted)]
            if wanted == SE_ENABLED and wait:
                steps.append(Step("wait for SE %s to be up" % se["name"], self._wait_up))
            return steps
        if state == SE_DISABLED and not self.hosted:
            return []
        method = params["method"]
        already = state == SE_DISABLED
        started = se.get("migrate_state") == MIGRATE_STARTED
        steps = []
        if method == "per_vs" and state not in (SE_DISABLED_FOR_PLACEMENT, SE_DISABLED):
            steps.append(self._configure(SE_DISABLED_FOR_PLACEMENT))
        if method == "per_vs" or (already and not started):
            # the controller ran its evacuation already and left these: move them one by one
            steps.append(Step("migrate %d virtual service(s), %d at once" % (len(self.pairs), params["concurrency"]),
                              self._migrate_each))
        if not already:
            steps.append(self._configure(SE_DISABLED))
        if wait and method == "controller" and (not already or started):
            steps.append(Step("wait for the controller to evacuate %d virtual service(s)" % len(self.pairs),
                              lambda: self._wait_evacuated(self.hosted)))
        elif wait and method == "per_vs" and not already:
            steps.append(Step("wait for SE %s to be %s" % (se["name"], OPER_DISABLED),
                              lambda: self._wait_evacuated(set())))
        return steps

    def _in_flight(self):
        """The SE's own evacuation has not ended (the controller still disabling it)."""
        return self.se.get("migrate_state") == MIGRATE_STARTED or self.se.get("oper_state") == OPER_DISABLING

    # -- the record and its lease -----------------------------------------------------------------
    def _claim(self):
        """Own the SE's record before the first change. Returns True when another run held it (and may have
        changed the SE meanwhile); False when this run owns it already."""
        if self.hold.claimed:
            return False
        self.left, contended = self.hold.claim_before_change(self.params, self.result)
        return contended

    def _drop_dead_lease(self):
        """Nothing to change: a lease left by a run whose process is gone (killed on this host) is released, so
        the record is as an uninterrupted run leaves it (not in check mode)."""
        owner = self.record.owner() if self.record is not None else None
        if not owner or self.hold.claimed or self.module.check_mode or not process_gone(owner):
            return
        try:
            self.record.claim(wait_seconds=0, takeover=True)
            self.hold.claimed = True
        except IntentError:
            return
        self._release()

    def _renew(self):
        self.hold.renew()

    def _release(self):
        self.hold.release()

    def _tidy_record(self, wanted):
        """Nothing to change. A record of an earlier evacuation has nothing left to restore once the SE is
        in the state it recorded (e.g. re-enabled by hand): drop it (not in check mode)."""
        key = "se/%s" % self.se_uuid
        if key in self.left and wanted != SE_DISABLED and not self.module.check_mode:
            try:
                self.record.claim(wait_seconds=0)
                self.hold.claimed = True
                self.record.forget(key)
            except IntentError:
                pass
            finally:
                self._release()

    # -- steps ----------------------------------------------------------------------------------
    def _configure(self, wanted):
        def run():
            self.progress.update("configure", "setting SE %s to %s" % (self.se["name"], wanted))
            set_enable_state(self.client, self.se_uuid, wanted)
        return Step("set enable_state %s" % wanted, run)

    def _wait_up(self):
        def enabled():
            se = read_se(self.client, self.se_uuid)
            return se if se["oper_state"] == OPER_UP else None
        se = wait_until(enabled, self.params["timeout"], self.params["wait_sleep"],
                        what="SE %s to be up" % self.se["name"])
        self.result["service_engine"]["migrate_state"] = se.get("migrate_state")

    def _predict(self):
        """Where the controller would put each virtual service (a prediction, in both modes); refuses an
        evacuation the group cannot absorb before anything changes."""
        se = self.se
        try:
            if self.budgets and self.params["method"] == "per_vs":
                planner = Planner(self.placement)
                plan = self._budget_plan()
                plan["capacity"] = planner.capacity_summary(self.se_uuid, self.group_uuid, len(self.pairs))
                self.result["plan"]["budgets"] = {"groups": plan["groups"], "schedule": plan["schedule"]}
                self.progress.update("budget", "schedule (window %d; waves of equal-length migrations, a prediction): "
                                     "%s" % (self.params["concurrency"],
                                             " | ".join(", ".join(w) for w in plan["schedule"])))
            else:
                plan = Planner(self.placement).plan_evacuation(self.se_uuid)
        except PlacementError as exc:
            self.result["service_engine"]["enable_state"]["after"] = se["enable_state"]   # it stays as it is
            raise ModuleFailure.before_any_change("not disabling SE '%s': %s" % (se["name"], exc), self.result)
        self.result["plan"].update(moves=plan["moves"], created_service_engines=plan["created_service_engines"],
                                   capacity=plan["capacity"], predicted=True, prediction=PREDICTION)
        predicted = {}
        for move in plan["moves"]:
            key = "%s (vip %s)" % (move["name"], move["vip_id"])
            predicted[key] = sorted([n for n in self.before_view.get(key, []) if n != se["name"]]
                                    + ["%s (predicted)" % move["to_se"]])
        self.result["diff"] = {"before": self.diff_before,
                               "after": {"enable_state": SE_DISABLED, "placement": predicted}}
        if self.module.check_mode:
            self.result["moves"] = [dict(m, result="planned") for m in plan["moves"]]
            self.result["created_service_engines"] = plan["created_service_engines"]

    def _migrate_each(self):
        jobs = []
        plan = self._budget_plan() if self.budgets else None
        for vs, vip_id in self.pairs:
            key = "%s/%s" % (vs["uuid"], vip_id)
            job = {"uuid": vs["uuid"], "name": vs["name"], "vip_id": vip_id, "from_se": self.se_uuid, "key": key,
                   "before": self.placement.vip_ses(vs["uuid"], vip_id)}
            target = plan["targets"].get(key) if plan else None
            if target is not None:
                # an anti-affinity member: the SE chosen away from the other members, or a new one
                job.update(to_new_se=True) if target["new"] else job.update(to_se=target["uuid"])
            jobs.append(job)
            self.jobs[key] = job
        if not jobs:
            return
        gate = Gate(self.budgets, plan["gate_groups"], plan["names"]) if plan else None
        run_migrations(self.client, jobs, self.progress, concurrency=self.params["concurrency"],
                       timeout=self.params["timeout"], interval=self.params["wait_sleep"], group_uuid=self.group_uuid,
                       known_ses=set(self.placement.ses), on_tick=self._renew, gate=gate)
        if plan is not None:
            self.result["plan"].setdefault("budgets", {})["peak_moving"] = gate.peak
            self._check_anti_affinity(jobs)
        failed = [job for job in jobs if job.get("result") not in ("moved", "misplaced")]
        misplaced = [job for job in jobs if job.get("result") == "misplaced"]
        if misplaced and not failed:
            self._report_after()
            raise ModuleFailure(
                "%d virtual service(s) moved off SE '%s' but the controller placed them next to another member of "
                "their budget group: %s. They keep serving there. The SE is left %s; run the task again to finish."
                % (len(misplaced), self.se["name"], "; ".join(job["error"] for job in misplaced),
                   SE_DISABLED_FOR_PLACEMENT if self.se["enable_state"] != SE_DISABLED else SE_DISABLED),
                **self.result)
        if failed:
            self._report_after()
            raise ModuleFailure(
                "%d of %d virtual service(s) could not be moved off SE '%s' (or their outcome is unknown) and keep "
                "serving where they are: %s. The SE is left %s; run the task again to retry." % (
                    len(failed), len(jobs), self.se["name"],
                    "; ".join("%s: %s" % (job["name"], job.get("error")) for job in failed),
                    SE_DISABLED_FOR_PLACEMENT if self.se["enable_state"] != SE_DISABLED else SE_DISABLED),
                **self.result)

    def _wait_evacuated(self, hosted):
        clock, sleep = self.module_clock()
        try:
            se = follow_evacuation(self.client, self.se_uuid, self.se["name"], hosted, self.params["timeout"],
                                   self.params["wait_sleep"], self.progress, on_tick=self._renew, clock=clock,
                                   sleep=sleep)
        except EvacuationFailed as exc:
            self._report_after()
            names = sorted(self.placement.vss[u]["name"] if u in self.placement.vss else u for u in exc.left)
            raise ModuleFailure(
                "the controller could not move %d virtual service(s) off SE '%s' (migrate_state %s): %s. They "
                "keep serving there; the SE is %s. Run the task again to move them one by one."
                % (len(exc.left), self.se["name"], MIGRATE_FAILED, ", ".join(names), SE_DISABLED),
                **self.result)
        self.result["service_engine"]["migrate_state"] = se.get("migrate_state")
        return se

    def module_clock(self):
        """The clock and sleep of the client's retry loop (tests give fakes)."""
        retry = getattr(self.client, "retry", None)
        return getattr(retry, "clock", None) or time.monotonic, getattr(retry, "sleep", None) or time.sleep

    # -- the end ----------------------------------------------------------------------------------
    def _report_after(self):
        self.after = after = load_placement(self.client, self.group_uuid, static=self.placement)
        moves = []
        created = []
        for vs, vip_id in self.pairs:
            before = self.placement.vip_ses(vs["uuid"], vip_id)
            now = after.vip_ses(vs["uuid"], vip_id)
            new = [u for u in now if u not in before]
            to_se = new[0] if new else None
            created_se = bool(to_se and to_se not in self.placement.ses)
            if created_se and after.se_name(to_se) not in created:
                created.append(after.se_name(to_se))
            move = {"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id, "from_se": self.se["name"],
                    "to_se": after.se_name(to_se) if to_se else None, "created_se": created_se,
                    "result": "moved" if self.se_uuid not in now else "not_moved"}
            job = self.jobs.get("%s/%s" % (vs["uuid"], vip_id))
            if job is not None and self.budgets:
                planned = [m for m in self.result["plan"].get("moves") or []
                           if m["uuid"] == vs["uuid"] and m["vip_id"] == vip_id]
                move.update(started_s=job.get("started_s"), ended_s=job.get("ended_s"),
                            wave=planned[0].get("wave") if planned else None)
                if job.get("result") == "misplaced":
                    move["result"] = "misplaced"
            moves.append(move)
        self.result["moves"] = moves
        self.result["created_service_engines"] = created
        predicted = dict(((m["name"], m["vip_id"]), m["to_se"]) for m in self.result["plan"].get("moves") or [])
        self.result["plan"]["predictions_met"] = sum(
            1 for m in moves if m["to_se"] and predicted.get((m["name"], m["vip_id"])) == m["to_se"])
        se_after = after.ses.get(self.se_uuid)
        if se_after:
            self.result["service_engine"]["enable_state"]["after"] = se_after["enable_state"]
            self.result["service_engine"]["migrate_state"] = se_after.get("migrate_state")
        self.result["diff"] = {"before": self.diff_before,
                               "after": {"enable_state": se_after["enable_state"] if se_after else None,
                                         "placement": _placement_view(after, self.pairs)}}

    def _verify(self):
        """The promise of an evacuation: the SE disabled and empty, every VS it hosted present once and placed
        on an SE that is up. Anything else fails the run, listing it."""
        after = self.after
        problems = []
        se_after = after.ses.get(self.se_uuid)
        if se_after is None:
            problems.append("SE %s is no longer in the inventory" % self.se["name"])
        else:
            if se_after["enable_state"] != SE_DISABLED:
                problems.append("SE %s is %s, not %s" % (self.se["name"], se_after["enable_state"], SE_DISABLED))
            still = sorted(after.vss[u]["name"] if u in after.vss else u
                           for u in (se_after["vs_uuids"] | set(v["uuid"] for v, _vip in after.vs_on_se(self.se_uuid))))
            if still:
                problems.append("still on SE %s: %s" % (self.se["name"], ", ".join(still)))
        for vs, vip_id in self.pairs:
            current = after.vss.get(vs["uuid"])
            copies = sum(1 for v in after.vss.values() if v["name"] == vs["name"])
            if current is None:
                problems.append("VS %s is gone from the inventory" % vs["name"])
                continue
            if copies != 1:
                problems.append("VS %s is in the inventory %d times" % (vs["name"], copies))
            up = [e for e in current["vips"].get(vip_id, []) if e["se_uuid"] != self.se_uuid
                  and e.get("oper_state") in SERVING + (None,)]
            if not up:
                problems.append("VS %s (vip %s) is placed on no SE that is up" % (vs["name"], vip_id))
        self.result["verified"] = {"service_engine_empty": not any(p.startswith("still on") for p in problems),
                                   "virtual_services": len(self.pairs), "problems": problems}
        if problems:
            raise ModuleFailure("SE '%s': the end state is not what the evacuation promised: %s"
                                % (self.se["name"], "; ".join(problems)), **self.result)


def disable_service_engine(module, client, progress):
    return _SeDisable(module, client, progress).run()
