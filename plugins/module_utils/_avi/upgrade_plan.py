# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Deciding one upgrade step of ``cluster_upgrade`` from what was read, without I/O: where each SE group of the scope
stands, what the plan shows per node, which virtual services lose service, the body of the vendor's upgrade request
and what its dry run adds. ``_avi.cluster_upgrade`` builds its one list of steps from these (check mode returns
it, a run executes it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import HA_LEGACY
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import (
    FSM_RUNNING,
    FSM_SUSPENDED,
    same_version,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure

ACTION_ON_ERROR = {
    "suspend": "SUSPEND_UPGRADE_OPS_ON_ERROR",
    "rollback": "ROLLBACK_UPGRADE_OPS_ON_ERROR",
    "continue": "CONTINUE_UPGRADE_OPS_ON_ERROR",
}


def check_image(image, version):
    """Refuse an image the step cannot use (``image`` as ``resolve_image`` found it, ``version`` the wanted one)."""
    if image is None:
        raise ModuleFailure("give image (name, uuid, controller:// path or a local package file) or version")
    if image.get("missing"):
        raise ModuleFailure("version: no image with version %s on the controller; images: %s. Upload one (give "
                            "image as a local package file)" % (image["version"], ", ".join(image["known"]) or
                                                                "none"))
    if image.get("upload") and not version:
        raise ModuleFailure("version is required with a local package file: only the controller can tell the "
                            "version of a package once it is uploaded, and the plan needs it before")
    if version and image.get("version") and not same_version(image["version"], version):
        raise ModuleFailure("image %s is version %s, not the wanted version %s"
                            % (image.get("name"), image["version"], version))
    return image


def group_states(view, groups, wanted):
    """(todo, running, suspended, done) uuids of the SE groups ``groups``."""
    todo, running, suspended, done = [], [], [], []
    for guuid in groups:
        group = view.groups[guuid]
        behind = any(not same_version(se["version"], wanted) for se in view.ses_of(guuid))
        if view.flexible and group.get("state") in FSM_RUNNING:
            running.append(guuid)
        elif view.flexible and group.get("state") in FSM_SUSPENDED and behind:
            suspended.append(guuid)
        elif behind:
            todo.append(guuid)
        else:
            done.append(guuid)
    return todo, running, suspended, done


def nodes(view, scope, groups, wanted, states, all_at_once):
    """The plan's nodes: the controller cluster (scope controller or system) and each SE group, where it stands."""
    todo, running, suspended = states[:3]
    out = []
    if scope in ("controller", "system"):
        ctl = view.controller
        out.append({"type": "controller_cluster", "name": "controller cluster", "version": ctl.get("version"),
                    "upgrade": not same_version(ctl.get("version"), wanted)})
    for guuid in groups:
        group = view.groups[guuid]
        members = view.ses_of(guuid)
        behind = [se["name"] for se in members if not same_version(se["version"], wanted)]
        out.append({"type": "se_group", "name": group["name"], "version": group.get("version"),
                    "size": len(members), "upgrade": bool(behind), "service_engines": behind,
                    "at_target": [se["name"] for se in members if same_version(se["version"], wanted)],
                    "state": "running" if guuid in running else "suspended" if guuid in suspended else
                    "to upgrade" if guuid in todo else "done",
                    "all_at_once": bool(all_at_once)})
    return out


def plan_disruption(placement, group_uuid, se_uuids, disruptive):
    """Virtual services of the group that would lose service while ``se_uuids`` upgrade, and why.

    Non-disruptive (vendor, seed 001): SEs of a group upgrade one at a time; active/active VSs and N+M VSs
    scaled to 2+ SEs keep serving from another SE, a legacy active/standby pair switches over to its standby
    first, and an N+M VS placed on a single SE is unavailable while that SE upgrades. Disruptive: every SE of
    the group upgrades at once.
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


def disrupted(placement, view, wanted, groups, needs, disruptive, protected=False):
    """The virtual services that lose service in this step: all at risk without protection (or in the
    disruptive fast path), else those the operator accepted by name."""
    out = []
    needs = dict((n.uuid, n) for n in needs)
    for guuid in groups:
        todo = [se["uuid"] for se in view.ses_of(guuid) if not same_version(se["version"], wanted)]
        found = plan_disruption(placement, guuid, todo, disruptive)
        if protected and not disruptive:
            if guuid not in needs:
                continue
            accepted = set(needs[guuid].accepted)
            found = [d for d in found if d["name"] in accepted]
            for d in found:
                d["reason"] += " (accepted: accept_disruption)"
        out.extend(found)
    return out


def start_body(params, view, image, scope_groups, groups, wanted):
    """The body of the vendor's upgrade request (flexible ``POST /api/upgrade``, 17.x ``cluster/upgrade``)."""
    force = params["force"]
    disruptive = bool(params["disruptive"] or force)
    if not view.flexible:
        return {"image_path": image["path"], "force": bool(force), "disruptive": disruptive}
    body = {"image_uuid": image.get("uuid")}
    if force:
        body["skip_warnings"] = True
    options = {"action_on_error": ACTION_ON_ERROR[params["action_on_error"]], "disruptive": disruptive}
    scope = params["scope"]
    if scope == "system" and same_version(view.controller.get("version"), wanted):
        # the controllers already run it (an interrupted system upgrade, or a controller-only upgrade earlier):
        # the SE groups still behind are what is left
        behind = [g for g in scope_groups if not all(same_version(se["version"], wanted) for se in view.ses_of(g))]
        body.update(se_group_uuids=behind, se_group_options=options)
    elif scope == "system":
        body.update(system=True, se_group_options=options)
    elif scope == "se_group":
        body.update(se_group_uuids=list(groups), se_group_options=options)
    return body


def merge_preview(result, params, preview):
    """Fold the vendor's dry run into ``result["plan"]``: warnings, errors, disrupted VSs."""
    plan = result["plan"]
    plan["prechecks"] = preview
    for key in ("warnings", "errors"):
        for item in preview.get(key) or []:
            plan.setdefault(key, []).append(item if isinstance(item, str) else str(item.get("message", item)))
    if preview.get("errors"):
        raise ModuleFailure("the controller's pre-checks refuse this upgrade: %s" % "; ".join(plan["errors"]),
                            **result)
    if params["protect"] and not (params["disruptive"] or params["force"]):
        return   # the vendor's list is what its own upgrade would disrupt: protection is about those
    seen = set(d["uuid"] for d in plan.get("disrupted_virtual_services") or [])
    for seg in preview.get("se_groups") or []:
        for ref in seg.get("disrupted_vs_ref") or []:
            uuid = ref_uuid(ref)
            if uuid not in seen:
                seen.add(uuid)
                plan.setdefault("disrupted_virtual_services", []).append({
                    "name": ref.split("#", 1)[1] if "#" in ref else uuid, "uuid": uuid, "vip_id": None,
                    "se_group": seg.get("se_group_name"), "ha_mode": seg.get("ha_mode"), "service_engines": [],
                    "reason": "reported by the controller's dry run"})
