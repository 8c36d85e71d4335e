# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the se_disable module: read, check capacity, decide the steps once (check mode
returns them as the plan, a run executes them), wait, report the placement after."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    MIGRATE_FAILED,
    MIGRATE_STARTED,
    OPER_UP,
    SE_DISABLED,
    SE_DISABLED_FOR_PLACEMENT,
    SE_ENABLED,
    PlacementError,
    load_placement,
    se_from_inventory,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import run_migrations
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import wait_until

STATES = {
    "enabled": SE_ENABLED,
    "disabled_for_placement": SE_DISABLED_FOR_PLACEMENT,
    "disabled": SE_DISABLED,
}
OPER_DISABLED = "OPER_DISABLED"
OPER_DISABLING = "OPER_DISABLING"


def _placement_view(placement, pairs):
    """{"<vs> (vip <id>)": [se names]} for the given (vs, vip_id) pairs."""
    view = {}
    for vs, vip_id in pairs:
        current = placement.vss.get(vs["uuid"]) or vs
        entries = current["vips"].get(vip_id, [])
        view["%s (vip %s)" % (vs["name"], vip_id)] = sorted(placement.se_name(e["se_uuid"]) for e in entries)
    return view


def _read_se(client, se_uuid):
    items = client.get_all("serviceengine-inventory", params={"uuid": se_uuid, "include_name": "true"})
    for item in items:
        se = se_from_inventory(item)
        if se["uuid"] == se_uuid:
            return se
    raise ModuleFailure("serviceengine %s disappeared from the inventory" % se_uuid)


def _set_enable_state(client, se_uuid, wanted):
    config = client.get("serviceengine/%s" % se_uuid)
    config["enable_state"] = wanted
    client.put("serviceengine/%s" % se_uuid, config)


class _SeDisable(object):
    def __init__(self, module, client, progress):
        self.module = module
        self.client = client
        self.params = module.params
        self.progress = progress

    def run(self):
        params = self.params
        client = self.client
        se_obj = client.resolve("serviceengine", params["uuid"] or params["name"],
                                option="uuid" if params["uuid"] else "name")
        self.se_uuid = se_uuid = se_obj["uuid"]
        self.group_uuid = ref_uuid(se_obj.get("se_group_ref"))
        self.progress.update("read", "reading placement of SE %s" % se_obj.get("name"))
        self.placement = placement = load_placement(client, self.group_uuid)
        se = placement.ses.get(se_uuid)
        if se is None:
            se = _read_se(client, se_uuid)
            placement.ses[se_uuid] = se
        self.se = se
        self.pairs = placement.vs_on_se(se_uuid)
        hosted = set(se["vs_uuids"]) | set(vs["uuid"] for vs, _vip in self.pairs)
        wanted = STATES[params["state"]]
        group = Planner(placement).group(self.group_uuid)
        self.result = {
            "changed": False,
            "service_engine": {"name": se["name"], "uuid": se_uuid, "se_group": group["name"],
                               "enable_state": {"before": se["enable_state"], "after": se["enable_state"]},
                               "migrate_state": se.get("migrate_state")},
            "moves": [], "created_service_engines": [], "plan": {"method": params["method"], "actions": []},
            "progress": self.progress.history,
        }
        self.before_view = _placement_view(placement, self.pairs)
        self.diff_before = {"enable_state": se["enable_state"], "placement": self.before_view}
        steps = self._decide(wanted, hosted)
        self.result["plan"]["actions"] = texts(steps)
        if not steps:
            return self.result
        self.result["changed"] = True
        self.result["service_engine"]["enable_state"]["after"] = wanted
        if wanted != SE_DISABLED:
            self.result["diff"] = {"before": self.diff_before,
                                   "after": {"enable_state": wanted, "placement": self.before_view}}
        else:
            self._predict()
        if self.module.check_mode:
            if wanted == SE_DISABLED:
                self.progress.update("plan", "would disable SE %s and move %d virtual service(s)"
                                     % (se["name"], len(self.pairs)))
            return self.result
        execute(steps)
        if wanted != SE_DISABLED:
            self.progress.update("done", "SE %s is %s" % (se["name"], wanted), percent=100)
        elif not params["wait"] and params["method"] == "controller":
            self.progress.update("done", "SE %s set to %s (not waiting for the evacuation)" % (se["name"], SE_DISABLED))
        else:
            self._report_after()
            self.progress.update("done", "SE %s disabled, %d virtual service(s) moved"
                                 % (se["name"], len(self.result["moves"])), percent=100)
        return self.result

    def _decide(self, wanted, hosted):
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
        if state == SE_DISABLED and not hosted:
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
                              lambda: self._wait_evacuated(hosted)))
        elif wait and method == "per_vs" and not already:
            steps.append(Step("wait for SE %s to be %s" % (se["name"], OPER_DISABLED),
                              lambda: self._wait_evacuated(set())))
        return steps

    def _configure(self, wanted):
        def run():
            self.progress.update("configure", "setting SE %s to %s" % (self.se["name"], wanted))
            _set_enable_state(self.client, self.se_uuid, wanted)
        return Step("set enable_state %s" % wanted, run)

    def _wait_up(self):
        def enabled():
            se = _read_se(self.client, self.se_uuid)
            return se if se["oper_state"] == OPER_UP else None
        se = wait_until(enabled, self.params["timeout"], self.params["wait_sleep"],
                        what="SE %s to be up" % self.se["name"])
        self.result["service_engine"]["migrate_state"] = se.get("migrate_state")

    def _predict(self):
        """Where the controller would put each virtual service (a prediction, in both modes); refuses an
        evacuation the group cannot absorb before anything changes."""
        se = self.se
        try:
            plan = Planner(self.placement).plan_evacuation(self.se_uuid)
        except PlacementError as exc:
            self.result["changed"] = False
            self.result["service_engine"]["enable_state"]["after"] = se["enable_state"]
            raise ModuleFailure("not disabling SE '%s': %s" % (se["name"], exc), **self.result)
        self.result["plan"].update(moves=plan["moves"], created_service_engines=plan["created_service_engines"],
                                   capacity=plan["capacity"])
        predicted = {}
        for move in plan["moves"]:
            key = "%s (vip %s)" % (move["name"], move["vip_id"])
            predicted[key] = sorted([n for n in self.before_view.get(key, []) if n != se["name"]] + [move["to_se"]])
        self.result["diff"] = {"before": self.diff_before,
                               "after": {"enable_state": SE_DISABLED, "placement": predicted}}
        if self.module.check_mode:
            self.result["moves"] = [dict(m, result="planned") for m in plan["moves"]]
            self.result["created_service_engines"] = plan["created_service_engines"]

    def _migrate_each(self):
        jobs = []
        for vs, vip_id in self.pairs:
            jobs.append({"uuid": vs["uuid"], "name": vs["name"], "vip_id": vip_id, "from_se": self.se_uuid,
                         "before": [e["se_uuid"] for e in vs["vips"].get(vip_id, [])]})
        if not jobs:
            return
        if not self.params["wait"]:
            self.params = dict(self.params, wait=True)  # per-VS moves are sequenced: waiting is required
        run_migrations(self.client, jobs, self.progress, concurrency=self.params["concurrency"],
                       timeout=self.params["timeout"], interval=self.params["wait_sleep"])
        failed = [job for job in jobs if job.get("result") != "moved"]
        if failed:
            self._report_after()
            raise ModuleFailure(
                "%d of %d virtual service(s) could not be moved off SE '%s' and keep serving there: %s. The SE is "
                "left %s; run the task again to retry." % (
                    len(failed), len(jobs), self.se["name"],
                    "; ".join("%s: %s" % (job["name"], job.get("error")) for job in failed),
                    SE_DISABLED_FOR_PLACEMENT if self.se["enable_state"] != SE_DISABLED else SE_DISABLED),
                **self.result)

    def _wait_evacuated(self, hosted):
        state = {"polls": 0, "started": False}
        total = len(hosted)

        def evacuated():
            se = _read_se(self.client, self.se_uuid)
            state["polls"] += 1
            if se.get("migrate_state") == MIGRATE_STARTED or se.get("oper_state") == OPER_DISABLING:
                state["started"] = True
            left = set(se["vs_uuids"])
            moved = total - len(left & hosted)
            self.progress.update("evacuate", "SE %s: %d/%d virtual service(s) moved, %s, %s"
                                 % (self.se["name"], moved, total, se.get("migrate_state"), se.get("oper_state")),
                                 percent=100 * moved // total if total else None)
            self.result["service_engine"]["migrate_state"] = se.get("migrate_state")
            if not left and se.get("oper_state") == OPER_DISABLED and se.get("migrate_state") != MIGRATE_STARTED:
                return se
            if left and se.get("migrate_state") == MIGRATE_FAILED and (state["started"] or state["polls"] >= 3):
                self._report_after()
                names = sorted(self.placement.vss[u]["name"] if u in self.placement.vss else u for u in left)
                raise ModuleFailure(
                    "the controller could not move %d virtual service(s) off SE '%s' (migrate_state %s): %s. They "
                    "keep serving there; the SE is %s. Run the task again to move them one by one."
                    % (len(left), self.se["name"], MIGRATE_FAILED, ", ".join(names), SE_DISABLED),
                    **self.result)
            return None

        wait_until(evacuated, self.params["timeout"], self.params["wait_sleep"],
                   what="SE %s to be evacuated and disabled" % self.se["name"])

    def _report_after(self):
        after = load_placement(self.client, self.group_uuid)
        moves = []
        created = []
        for vs, vip_id in self.pairs:
            before = [e["se_uuid"] for e in vs["vips"].get(vip_id, [])]
            current = after.vss.get(vs["uuid"])
            now = [e["se_uuid"] for e in current["vips"].get(vip_id, [])] if current else []
            new = [u for u in now if u not in before]
            to_se = new[0] if new else None
            created_se = bool(to_se and to_se not in self.placement.ses)
            if created_se and after.se_name(to_se) not in created:
                created.append(after.se_name(to_se))
            moves.append({"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id, "from_se": self.se["name"],
                          "to_se": after.se_name(to_se) if to_se else None, "created_se": created_se,
                          "result": "moved" if self.se_uuid not in now else "not_moved"})
        self.result["moves"] = moves
        self.result["created_service_engines"] = created
        se_after = after.ses.get(self.se_uuid)
        if se_after:
            self.result["service_engine"]["enable_state"]["after"] = se_after["enable_state"]
            self.result["service_engine"]["migrate_state"] = se_after.get("migrate_state")
        self.result["diff"] = {"before": self.diff_before,
                               "after": {"enable_state": se_after["enable_state"] if se_after else None,
                                         "placement": _placement_view(after, self.pairs)}}


def disable_service_engine(module, client, progress):
    return _SeDisable(module, client, progress).run()
