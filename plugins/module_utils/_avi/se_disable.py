# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of the se_disable module: read, check capacity, plan, act unless check mode, wait."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    MIGRATE_FAILED,
    MIGRATE_STARTED,
    OPER_UP,
    SE_DISABLED,
    SE_DISABLED_FOR_PLACEMENT,
    SE_ENABLED,
    PlacementError,
    Planner,
    load_placement,
    run_migrations,
    se_from_inventory,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
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
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.progress = Progress("se_disable")

    def run(self):
        params = self.params
        client = self.client
        se_obj = client.resolve("serviceengine", params["uuid"] or params["name"])
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
        before_view = _placement_view(placement, self.pairs)
        self.diff_before = {"enable_state": se["enable_state"], "placement": before_view}

        if wanted != SE_DISABLED:
            if se["enable_state"] == wanted:
                self.result["plan"]["actions"] = []
                return self.result
            return self._set_state_only(wanted, before_view)

        if se["enable_state"] == SE_DISABLED and not hosted:
            return self.result
        return self._disable(hosted, before_view)

    # -- enabled / disabled_for_placement --------------------------------------------------
    def _set_state_only(self, wanted, before_view):
        self.result["changed"] = True
        self.result["plan"]["actions"] = ["set enable_state %s" % wanted]
        self.result["service_engine"]["enable_state"]["after"] = wanted
        self.result["diff"] = {"before": self.diff_before,
                               "after": {"enable_state": wanted, "placement": before_view}}
        if self.module.check_mode:
            return self.result
        self.progress.update("configure", "setting SE %s to %s" % (self.se["name"], wanted))
        _set_enable_state(self.client, self.se_uuid, wanted)
        if wanted == SE_ENABLED and self.params["wait"]:
            def enabled():
                se = _read_se(self.client, self.se_uuid)
                return se if se["oper_state"] == OPER_UP else None
            se = wait_until(enabled, self.params["timeout"], self.params["wait_sleep"],
                            what="SE %s to be up" % self.se["name"])
            self.result["service_engine"]["migrate_state"] = se.get("migrate_state")
        self.progress.update("done", "SE %s is %s" % (self.se["name"], wanted), percent=100)
        return self.result

    # -- disabled ----------------------------------------------------------------------------
    def _disable(self, hosted, before_view):
        params = self.params
        se = self.se
        planner = Planner(self.placement)
        try:
            plan = planner.plan_evacuation(self.se_uuid)
        except PlacementError as exc:
            raise ModuleFailure("not disabling SE '%s': %s" % (se["name"], exc), **self.result)
        actions = []
        method = params["method"]
        already = se["enable_state"] == SE_DISABLED
        if method == "per_vs" and se["enable_state"] not in (SE_DISABLED_FOR_PLACEMENT, SE_DISABLED):
            actions.append("set enable_state %s" % SE_DISABLED_FOR_PLACEMENT)
        if method == "per_vs" or (already and se.get("migrate_state") != MIGRATE_STARTED):
            actions.append("migrate %d virtual service(s), %d at once" % (len(self.pairs),
                                                                          params["concurrency"]))
        if not already:
            actions.append("set enable_state %s" % SE_DISABLED)
        if method == "controller" and not already:
            actions.append("wait for the controller to evacuate %d virtual service(s)" % len(self.pairs))
        self.result["plan"].update(actions=actions, moves=plan["moves"],
                                   created_service_engines=plan["created_service_engines"],
                                   capacity=plan["capacity"])
        self.result["changed"] = True
        self.result["service_engine"]["enable_state"]["after"] = SE_DISABLED
        predicted = {}
        for move in plan["moves"]:
            key = "%s (vip %s)" % (move["name"], move["vip_id"])
            predicted[key] = sorted([n for n in before_view.get(key, []) if n != se["name"]] + [move["to_se"]])
        self.result["diff"] = {"before": self.diff_before,
                               "after": {"enable_state": SE_DISABLED, "placement": predicted}}
        if self.module.check_mode:
            self.result["moves"] = [dict(m, result="planned") for m in plan["moves"]]
            self.result["created_service_engines"] = plan["created_service_engines"]
            self.progress.update("plan", "would disable SE %s and move %d virtual service(s)"
                                 % (se["name"], len(self.pairs)))
            return self.result

        if method == "per_vs":
            if se["enable_state"] not in (SE_DISABLED_FOR_PLACEMENT, SE_DISABLED):
                self.progress.update("configure", "setting SE %s to %s" % (se["name"], SE_DISABLED_FOR_PLACEMENT))
                _set_enable_state(self.client, self.se_uuid, SE_DISABLED_FOR_PLACEMENT)
            self._migrate_each()
            if not already:
                self.progress.update("configure", "setting SE %s to %s" % (se["name"], SE_DISABLED))
                _set_enable_state(self.client, self.se_uuid, SE_DISABLED)
                if params["wait"]:
                    self._wait_evacuated(set())
        elif already:
            if se.get("migrate_state") == MIGRATE_STARTED:
                if params["wait"]:
                    self._wait_evacuated(hosted)
            else:
                # The controller ran its evacuation already and left these: move them one by one.
                self._migrate_each()
        else:
            self.progress.update("configure", "setting SE %s to %s" % (se["name"], SE_DISABLED))
            _set_enable_state(self.client, self.se_uuid, SE_DISABLED)
            if params["wait"]:
                self._wait_evacuated(hosted)
        if not params["wait"] and method == "controller":
            self.progress.update("done", "SE %s set to %s (not waiting for the evacuation)"
                                 % (se["name"], SE_DISABLED))
            return self.result
        self._report_after()
        self.progress.update("done", "SE %s disabled, %d virtual service(s) moved"
                             % (se["name"], len(self.result["moves"])), percent=100)
        return self.result

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


def disable_service_engine(module, client):
    return _SeDisable(module, client).run()
