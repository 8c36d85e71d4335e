# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the vs_scale module: place a virtual service on more SEs, or take it off one. The
scale-outs or the scale-in are decided once, as steps: check mode returns them as the plan, a run
executes them in order."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    HA_LEGACY,
    PlacementError,
    find_in,
    load_placement,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import run_migrations
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts


def _se_uuid(placement, value, group, option):
    se = find_in(placement.ses, value, "serviceengine", option)
    if se["group_uuid"] != group["uuid"]:
        raise ModuleFailure("%s: serviceengine '%s' is not in SE group '%s' of the virtual service"
                            % (option, value, group["name"]))
    return se["uuid"]


def scale_virtual_service(module, client, progress):
    params = module.params
    vs_obj = client.resolve("virtualservice", params["uuid"] or params["name"],
                            option="uuid" if params["uuid"] else "name")
    group_uuid = ref_uuid(vs_obj.get("se_group_ref"))
    placement = load_placement(client, group_uuid)
    planner = Planner(placement)
    group = planner.group(group_uuid)
    vs = placement.vss.get(vs_obj["uuid"])
    if vs is None:
        raise ModuleFailure("virtual service '%s' has no runtime placement" % vs_obj.get("name"))
    vip_id = str(params["vip_id"])
    if vip_id not in vs["vips"]:
        raise ModuleFailure("vip_id: '%s' not found on virtual service '%s'; its vip_ids are: %s"
                            % (vip_id, vs["name"], ", ".join(sorted(vs["vips"])) or "none"))
    before = [e["se_uuid"] for e in vs["vips"][vip_id]]
    before_names = sorted(placement.se_name(u) for u in before)
    result = {"changed": False, "virtual_service": {"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id,
                                                    "se_group": group["name"]},
              "placement": {"before": before_names, "after": before_names},
              "added_service_engines": [], "removed_service_engines": [], "created_service_engines": [],
              "plan": {"actions": []}, "progress": progress.history}
    if group.get("ha_mode") == HA_LEGACY:
        raise ModuleFailure("virtual service '%s' is in SE group '%s' whose ha_mode is %s: the controller does not scale "
                            "virtual services out or in there" % (vs["name"], group["name"], HA_LEGACY), **result)

    state = {"current": list(before)}

    def _step(text, job):
        def run():  # one at a time: each scale-out starts from the placement the last one left
            job["before"] = list(state["current"])
            run_migrations(client, [job], progress, concurrency=1, timeout=params["timeout"],
                           interval=params["wait_sleep"], group_uuid=group_uuid, known_ses=set(placement.ses))
            if job.get("result") in ("failed", "unknown"):
                after = load_placement(client, group_uuid, static=placement)
                result["placement"]["after"] = sorted(after.se_name(u) for u in job.get("after") or state["current"])
                raise ModuleFailure("%s; the VS keeps serving from %s" % (
                    job.get("error"), ", ".join(result["placement"]["after"]) or "nowhere"), **result)
            state["current"] = job.get("after") or state["current"]
        return Step(text, run)

    steps = []
    if params["state"] == "scaled_in":
        from_se = _se_uuid(placement, params["from_se"], group, "from_se")
        if from_se not in before:
            result["plan"]["reason"] = "VS not on %s" % placement.se_name(from_se)
            return result
        floor = max(1, int(group.get("min_scaleout_per_vs") or 1))
        if len(before) - 1 < floor:
            raise ModuleFailure("cannot scale virtual service '%s' in from %s: it would be left on %d SE(s) and its group "
                                "'%s' needs at least %d (min_scaleout_per_vs)" % (
                                    vs["name"], placement.se_name(from_se), len(before) - 1, group["name"], floor),
                                **result)
        steps.append(_step("scale in from %s" % placement.se_name(from_se), {
            "action": "scalein", "uuid": vs["uuid"], "name": vs["name"], "vip_id": vip_id, "from_se": from_se,
            "before": before}))
        planned = [u for u in before if u != from_se]
        result["removed_service_engines"] = [placement.se_name(from_se)]
        planned_names = sorted(placement.se_name(u) for u in planned)
    else:
        to_se = _se_uuid(placement, params["to_se"], group, "to_se") if params["to_se"] else None
        to_host = find_in(placement.hosts, params["to_host"], "host", "to_host")["uuid"] if params["to_host"] else None
        if to_se is not None:
            wanted = 0 if to_se in before else 1
        else:
            wanted = max(0, params["min_placements"] - len(before))
        ceiling = int(group.get("max_scaleout_per_vs") or 4)
        if len(before) + wanted > ceiling:
            raise ModuleFailure("cannot place virtual service '%s' on %d SEs: its group '%s' allows %d "
                                "(max_scaleout_per_vs)" % (vs["name"], len(before) + wanted, group["name"], ceiling),
                                **result)
        planned_names = list(before_names)
        for _unused in range(wanted):
            try:
                target = planner.choose(vs, exclude=tuple(before), to_se=to_se, to_host=to_host,
                                        to_new_se=bool(params["to_new_se"]))
            except PlacementError as exc:
                raise ModuleFailure("cannot scale virtual service '%s' out: %s" % (vs["name"], exc), **result)
            planner.apply(vs, target)
            # an existing SE is asked for by name; a new SE (and its host, unless to_host) is the controller's
            guess = " (predicted)" if target["new"] else ""
            planned_names.append(target["name"] + guess)
            result["added_service_engines"].append(target["name"])
            if target["new"]:
                result["created_service_engines"].append(target["name"])
            steps.append(_step("scale out to %s%s" % (target["name"], guess), {
                "action": "scaleout", "uuid": vs["uuid"], "name": vs["name"], "vip_id": vip_id,
                "to_se": None if target["new"] else target["uuid"], "to_host": to_host,
                "to_new_se": bool(target["new"] and (params["to_new_se"] or to_host))}))
        planned_names = sorted(planned_names)
        if not steps:
            result["plan"]["reason"] = ("VS already on %s" % placement.se_name(to_se) if to_se else
                                        "VS already on %d SE(s)" % len(before))
            return result
    result["plan"]["actions"] = texts(steps)
    result["changed"] = True
    result["placement"]["after"] = planned_names
    result["diff"] = {"before": {"placement": before_names}, "after": {"placement": planned_names}}
    if module.check_mode:
        progress.update("plan", "would %s VS %s" % ("; ".join(result["plan"]["actions"]), vs["name"]))
        return result
    execute(steps)
    current = state["current"]
    after = load_placement(client, group_uuid, static=placement)
    names = sorted(after.se_name(u) for u in current)
    result["placement"]["after"] = names
    result["diff"]["after"] = {"placement": names}
    if params["state"] == "scaled_out":
        added = [u for u in current if u not in before]
        result["added_service_engines"] = sorted(after.se_name(u) for u in added)
        result["created_service_engines"] = sorted(after.se_name(u) for u in added if u not in placement.ses)
    progress.update("done", "VS %s now on %s" % (vs["name"], ", ".join(names)), percent=100)
    return result
