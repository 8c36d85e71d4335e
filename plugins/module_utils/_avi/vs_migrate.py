# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the vs_migrate module: resolve, check, decide the migration once (check mode returns
it as the plan, a run executes the same step), report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    HA_LEGACY,
    PlacementError,
    find_in,
    load_placement,
    se_brief,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import (
    migrate_body,
    run_migrations,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts


def _resolve_se(client, placement, value, group, option):
    """SE uuid for a name or uuid; a clear error, naming the option, if unknown or in another group."""
    if value in placement.ses or any(se.get("name") == value for se in placement.ses.values()):
        se = find_in(placement.ses, value, "serviceengine", option)
    else:
        se = client.resolve("serviceengine", value, option=option)  # raises 'serviceengine X not found'
        se = {"uuid": se["uuid"], "group_uuid": ref_uuid(se.get("se_group_ref"))}
    if se["group_uuid"] != group["uuid"]:
        other = placement.groups.get(se["group_uuid"])
        raise ModuleFailure("%s: serviceengine '%s' is not in SE group '%s' of the virtual service (it is in '%s')"
                            % (option, value, group["name"], other["name"] if other else se["group_uuid"]))
    return se["uuid"]


def migrate_virtual_service(module, client, progress):
    params = module.params
    vs_obj = client.resolve("virtualservice", params["uuid"] or params["name"],
                            option="uuid" if params["uuid"] else "name")
    vs_uuid = vs_obj["uuid"]
    group_uuid = ref_uuid(vs_obj.get("se_group_ref"))
    progress.update("read", "reading placement of VS %s" % vs_obj.get("name"))
    placement = load_placement(client, group_uuid)
    planner = Planner(placement)
    group = planner.group(group_uuid)
    vs = placement.vss.get(vs_uuid)
    if vs is None:
        raise ModuleFailure("virtual service '%s' has no runtime placement (not found in the inventory)"
                            % vs_obj.get("name"))
    vip_id = str(params["vip_id"])
    result = {
        "changed": False,
        "virtual_service": {"name": vs["name"], "uuid": vs_uuid, "vip_id": vip_id, "se_group": group["name"]},
        "from_se": None, "target": None, "created_service_engine": None,
        "progress": progress.history,
    }
    if group.get("ha_mode") == HA_LEGACY:
        raise ModuleFailure("virtual service '%s' is in SE group '%s' whose ha_mode is %s: the controller does "
                            "not support migration in legacy active/standby groups"
                            % (vs["name"], group["name"], HA_LEGACY), **result)
    if vip_id not in vs["vips"]:
        raise ModuleFailure("vip_id: '%s' not found on virtual service '%s'; its vip_ids are: %s"
                            % (vip_id, vs["name"], ", ".join(sorted(vs["vips"])) or "none"), **result)
    before = placement.vip_ses(vs_uuid, vip_id)
    before_names = sorted(placement.se_name(u) for u in before)
    result["placement"] = {"before": before_names, "after": before_names}

    from_se = _resolve_se(client, placement, params["from_se"], group, "from_se") if params["from_se"] else None
    to_se = _resolve_se(client, placement, params["to_se"], group, "to_se") if params["to_se"] else None
    to_host = find_in(placement.hosts, params["to_host"], "host", "to_host")["uuid"] if params["to_host"] else None
    to_new_se = bool(params["to_new_se"])

    # What is wanted, compared with what is.
    if to_se is not None and to_se == from_se:
        raise ModuleFailure("from_se and to_se are the same SE (%s)" % placement.se_name(to_se), **result)
    if to_se is not None and to_se in before and (from_se is None or from_se not in before):
        result["plan"] = {"action": "none", "reason": "VS already on %s" % placement.se_name(to_se)}
        return result
    if from_se is not None and from_se not in before:
        if to_se is None:
            result["plan"] = {"action": "none", "reason": "VS not on %s" % placement.se_name(from_se)}
            return result
        raise ModuleFailure("virtual service '%s' (vip %s) is not on from_se '%s' but on %s, and not on to_se "
                            "'%s'" % (vs["name"], vip_id, placement.se_name(from_se), ", ".join(before_names),
                                      placement.se_name(to_se)), **result)
    if to_se is not None and to_se in before:
        raise ModuleFailure("virtual service '%s' (vip %s) is already on to_se '%s' and still on from_se '%s'; "
                            "choose another target or scale it in" % (
                                vs["name"], vip_id, placement.se_name(to_se), placement.se_name(from_se)),
                            **result)
    if from_se is None:
        if len(before) == 1:
            from_se = before[0]
        elif not before:
            raise ModuleFailure("virtual service '%s' (vip %s) is not placed on any SE" % (vs["name"], vip_id),
                                **result)
        else:
            raise ModuleFailure("virtual service '%s' (vip %s) is on several SEs (%s): set from_se"
                                % (vs["name"], vip_id, ", ".join(before_names)), **result)
    result["from_se"] = se_brief(placement, from_se)

    try:
        target = planner.choose(vs, exclude=(from_se,), to_se=to_se, to_host=to_host, to_new_se=to_new_se)
    except PlacementError as exc:
        raise ModuleFailure(str(exc), **result)
    # A named SE is the operator's choice; anything else (the SE, or a new SE's name and host) the controller's.
    predicted = to_se is None
    planned_after = sorted([placement.se_name(u) for u in before if u != from_se]
                           + [target["name"] + (" (predicted)" if predicted else "")])
    result["plan"] = {"action": "migrate", "reason": "VS is on %s" % placement.se_name(from_se),
                      "from_se": placement.se_name(from_se), "to_se": target["name"],
                      "created_se": bool(target["new"]),
                      "target_given": bool(to_se or to_host or to_new_se), "predicted": predicted}
    if predicted:
        result["plan"]["prediction"] = (
            "the controller picks the target (a new SE's host too, unless to_host names it); %s follows its "
            "documented placement rules, ties broken by name" % target["name"])
    result["changed"] = True
    result["target"] = dict(se_brief(planner, target["uuid"]), created=bool(target["new"]), predicted=predicted)
    result["created_service_engine"] = target["name"] if target["new"] else None
    result["placement"]["after"] = planned_after
    result["diff"] = {"before": {"placement": before_names}, "after": {"placement": planned_after}}
    job = {"uuid": vs_uuid, "name": vs["name"], "vip_id": vip_id, "from_se": from_se, "before": before,
           "to_se": to_se, "to_host": to_host, "to_new_se": to_new_se}
    text = "migrate VS %s (vip %s) from %s to %s" % (vs["name"], vip_id, placement.se_name(from_se),
                                                     target["name"] + (" (predicted)" if predicted else ""))
    if params["wait"]:
        step = Step(text, lambda: run_migrations(client, [job], progress, concurrency=1, timeout=params["timeout"],
                                                 interval=params["wait_sleep"], group_uuid=group_uuid,
                                                 known_ses=set(placement.ses)))
    else:
        step = Step(text + " (not waiting)", lambda: client.post("virtualservice/%s/migrate" % vs_uuid, migrate_body(
            client, vip_id, from_se, to_se, to_host, to_new_se)))
    result["plan"]["steps"] = texts([step])
    if module.check_mode:
        progress.update("plan", "would " + step.text)
        return result
    execute([step])
    if not params["wait"]:
        progress.update("migrate", "migration of VS %s started (not waiting)" % vs["name"])
        result["placement"]["after"] = None
        result["diff"]["after"] = {"placement": None}
        return result
    result["events"] = job.get("events") or []
    after_placement = load_placement(client, group_uuid, static=placement)
    if job.get("result") == "moved":
        after = job.get("after") or []
    else:   # as read again now (a request the controller rejected leaves the job no placement)
        after = after_placement.vip_ses(vs_uuid, vip_id)
    after_names = sorted(after_placement.se_name(u) for u in after)
    result["placement"]["after"] = after_names
    result["diff"]["after"] = {"placement": after_names}
    if job.get("result") != "moved":
        result["target"] = None
        result["created_service_engine"] = None
        # changed only if the controller changed something: the VS's SEs, or an SE it created before failing
        result["changed"] = sorted(after) != sorted(before) or bool(set(after_placement.ses) - set(placement.ses))
        raise ModuleFailure("%s; the VS keeps serving from %s, run the task again to retry"
                            % (job.get("error") or "migration failed", ", ".join(after_names)), **result)
    new = [u for u in after if u not in before]
    if new:
        created = new[0] not in placement.ses
        result["target"] = dict(se_brief(after_placement, new[0]), created=created, predicted=False,
                                prediction_met=(created and bool(target["new"])) if target["new"]
                                else new[0] == target["uuid"])
        result["created_service_engine"] = after_placement.se_name(new[0]) if created else None
    progress.update("done", "VS %s now on %s" % (vs["name"], ", ".join(after_names)), percent=100)
    return result
