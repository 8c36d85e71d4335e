# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Disruption budgets and anti-affinity for Avi virtual services (the ``budgets`` option of ``se_disable`` and
``cluster_upgrade``, parsed and validated by ``_common.budgets``, the same shape as the host evacuations').

An SE evacuation with ``method: per_vs`` honours them itself: :func:`plan_evacuation` chooses, for every member
of an anti-affinity group, an SE that holds no other member (members that stay where they are count), names it
in the migration (``to_se_ref``) and schedules the migrations in waves of the window; the window starts a VS only
while each of its groups has fewer than ``max_moving`` members moving (``_common.budgets.Gate``).
:func:`misplaced` checks, after the moves, that the controller put no member next to another.
For a rolling upgrade, :func:`upgrade_waves` splits the SE groups into waves so that the SEs being upgraded at
once host at most ``max_moving`` members of a budget group (an SE being upgraded takes its virtual services out
of it). Nothing here is a vendor's: the groups are the operator's; where members run is the controller's
inventory.

:class:`EvacuationBudgets` is where ``se_disable``'s step (``_avi.se_disable``) uses them: the refusals before
anything changes, the budgeted plan, the anti-affinity check after the moves; :class:`UpgradeBudgets` where
``cluster_upgrade``'s step does: the waves in the plan, and the refusal of groups that exceed the budgets together.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    SE_DISABLED,
    PlacementError,
    load_placement,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import Budgets, schedule
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure


def _vs(vs):
    """The shape ``_common.budgets`` matches (name, id)."""
    return {"name": vs["name"], "id": vs["uuid"]}


def unknown_members(budgets, names):
    """Messages for members (by name or uuid) that match no virtual service of ``names`` ({uuid: name})."""
    known = set(names.values()) | set(names)
    out = []
    for group in budgets.groups:
        missing = [m for m in group.get("members") or [] if m not in known]
        if missing:
            out.append("budgets group %s: member(s) %s match no virtual service (known: %s)" % (
                group["name"], ", ".join(missing), ", ".join(sorted(set(names.values()))[:20])))
    return out


def refusals(budgets, names, pairs, method):
    """Why an SE evacuation cannot honour ``budgets``, before anything changes: members (by name or uuid) that match
    no virtual service (``names``: {uuid: name} of every VS), or members on the SE (``pairs``) with
    ``method: controller``, where the controller alone chooses targets and pace."""
    out = unknown_members(budgets, names)
    hit = {}
    for vs, _vip in pairs:
        for group in budgets.groups_of(_vs(vs)):
            hit.setdefault(group, set()).add(vs["name"])
    if hit and method != "per_vs":
        out.append("budgets group(s) %s cannot be honoured with method=%s: the controller alone chooses the targets "
                   "and how many move at once (members on this SE: %s); use method=per_vs" % (
                       ", ".join(sorted(hit)), method, "; ".join("%s: %s" % (g, ", ".join(sorted(v)))
                                                                 for g, v in sorted(hit.items()))))
    return out


def group_summary(budgets, names_by_group):
    return [{"name": g["name"], "max_moving": g["max_moving"], "anti_affinity": g["anti_affinity"],
             "members_here": names_by_group.get(g["name"], [])} for g in budgets.groups]


def _where(budgets, placement, leaving):
    """{group: {se uuid: set(vs names)}} of the anti-affinity groups, as placed now, without ``leaving``."""
    where = {}
    for vs in placement.vss.values():
        for group in budgets.anti_affine(_vs(vs)):
            for entries in vs["vips"].values():
                for entry in entries:
                    if entry["se_uuid"] != leaving:
                        where.setdefault(group, {}).setdefault(entry["se_uuid"], set()).add(vs["name"])
    return where


def _refusal(planner, vs, source, avoid, group_names):
    """Why no SE can take ``vs`` without another member of its groups: every SE of its group, and why not."""
    why = []
    for se in sorted(planner.ses.values(), key=lambda s: s["name"]):
        if se["group_uuid"] != vs["group_uuid"] or se["uuid"] == source:
            continue
        why.append("%s: %s" % (se["name"], avoid.get(se["uuid"]) or planner.why_ineligible(se, vs) or "eligible"))
    blocker = planner.creation_blocker(vs["group_uuid"])
    return ("budgets group %s (anti_affinity): VS %s has no SE to go to without another member of the group (%s; "
            "a new SE: %s)" % (", ".join(group_names), vs["name"], "; ".join(why) or "no other SE",
                               blocker or "possible"))


def plan_evacuation(budgets, planner, se_uuid, pairs, concurrency):
    """Where every (vs, vip_id) of ``pairs`` goes and when, honouring ``budgets``, on ``planner`` (a
    ``_avi.planner.Planner``). Returns {"moves": [...], "targets": {key: se dict}, "schedule": [[names]], "groups":
    [...], "gate_groups": {key: [group names]}}; raises PlacementError naming the group when a member has no SE
    free of other members, or the group has no room."""
    source = planner.ses[se_uuid]
    where = _where(budgets, planner.placement, se_uuid)
    saved_state = source["enable_state"]
    source["enable_state"] = SE_DISABLED
    moves, targets, failures, by_key = [], {}, [], {}
    try:
        for vs, vip_id in pairs:
            key = "%s/%s" % (vs["uuid"], vip_id)
            by_key[key] = budgets.groups_of(_vs(vs))
            anti = budgets.anti_affine(_vs(vs))
            avoid = {}
            for group in anti:
                for se, names in where.get(group, {}).items():
                    others = sorted(n for n in names if n != vs["name"])
                    if others and se != se_uuid:
                        avoid.setdefault(se, "holds %s of group %s" % (", ".join(others), group))
            try:
                target = planner.choose(vs, exclude=set([se_uuid]) | set(avoid))
            except PlacementError as exc:
                if anti:
                    raise PlacementError(_refusal(planner, vs, se_uuid, avoid, anti))
                failures.append("%s (%s)" % (vs["name"], exc))
                continue
            planner.apply(vs, target, from_se=se_uuid)
            for group in anti:
                where.setdefault(group, {}).setdefault(target["uuid"], set()).add(vs["name"])
            targets[key] = target if anti else None
            moves.append({"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id, "from_se": source["name"],
                          "to_se": target["name"], "to_se_uuid": None if target["new"] else target["uuid"],
                          "created_se": bool(target["new"]), "predicted": True, "budget_groups": by_key[key],
                          "to_se_chosen": bool(anti)})
    finally:
        source["enable_state"] = saved_state
    if failures:
        raise PlacementError("SE group cannot absorb the load of SE '%s': no place for %s"
                             % (source["name"], "; ".join(failures)))
    keys = ["%s/%s" % (m["uuid"], m["vip_id"]) for m in moves]
    limits = dict((g["name"], g.get("max_moving") or 1) for g in budgets.groups)
    rounds = schedule(keys, {}, by_key, limits, concurrency)
    wave = dict((key, number + 1) for number, keys_of in enumerate(rounds) for key in keys_of)
    for move, key in zip(moves, keys):
        move["wave"] = wave[key]
    names = dict((key, m["name"]) for key, m in zip(keys, moves))
    members = {}
    for key in keys:
        for group in by_key[key]:
            members.setdefault(group, []).append(names[key])
    return {"moves": moves, "targets": targets, "gate_groups": by_key, "names": names,
            "schedule": [[names[k] for k in r] for r in rounds], "groups": group_summary(budgets, members),
            "created_service_engines": [se["name"] for se in planner.created]}


def misplaced(budgets, placement, moved):
    """Messages for each moved VS (``moved``: [(vs uuid, se uuids after)]) that now shares an SE with another
    member of one of its anti-affinity groups (``placement``: as read after the moves)."""
    out = []
    for vs_uuid, ses in moved:
        vs = placement.vss.get(vs_uuid)
        if vs is None:
            continue
        for group in budgets.anti_affine(_vs(vs)):
            for other in placement.vss.values():
                if other["uuid"] == vs_uuid or group not in budgets.anti_affine(_vs(other)):
                    continue
                shared = set(ses) & set(e["se_uuid"] for entries in other["vips"].values() for e in entries)
                for se in sorted(shared):
                    out.append("VS %s is on SE %s next to %s (budgets group %s, anti_affinity)"
                               % (vs["name"], placement.se_name(se), other["name"], group))
    return out


def upgrade_waves(budgets, placement, group_names, parallel, disruptive=False):
    """The SE groups (``group_names``, in order) as waves of the upgrade. An SE group upgrades its SEs one at a
    time [vendor], so it takes at most the members one of its SEs hosts out of service at once (with
    ``disruptive``, every SE at once: all its members). With ``parallel``, a wave holds as many groups as the
    budgets allow (at most ``max_moving`` members of each budget group out at once; a group that alone exceeds it
    is a wave of its own), else one group a wave. Returns {"waves": [[names]], "members": {se group: {budget group:
    n}}}: n the members out of service at once."""
    uuid_of = dict((g["name"], u) for u, g in placement.groups.items())
    at_once = {}
    for name in group_names:
        counts = {}
        for se in placement.ses.values():
            if se["group_uuid"] != uuid_of.get(name, name):
                continue
            here = {}
            for vs in placement.vss.values():
                if any(e["se_uuid"] == se["uuid"] for entries in vs["vips"].values() for e in entries):
                    for group in budgets.groups_of(_vs(vs)):
                        here[group] = here.get(group, 0) + 1
            for group, n in here.items():
                counts[group] = counts.get(group, 0) + n if disruptive else max(counts.get(group, 0), n)
        at_once[name] = counts
    limits = dict((g["name"], g.get("max_moving") or 1) for g in budgets.groups)
    members = dict((n, c) for n, c in at_once.items() if c)
    if not parallel:
        return {"waves": [[n] for n in group_names], "members": members}
    waves, pending = [], list(group_names)
    while pending:
        used, wave = {}, []
        for name in list(pending):
            counts = at_once[name]
            if wave and not all(used.get(g, 0) + n <= limits[g] for g, n in counts.items()):
                continue
            wave.append(name)
            pending.remove(name)
            for g, n in counts.items():
                used[g] = used.get(g, 0) + n
        waves.append(wave)
    return {"waves": waves, "members": members}


def upgrade_plan(budgets, placement, group_names, scope, disruptive):
    """The budgets of an upgrade of the SE groups ``group_names`` (``scope`` se_group: in one request; system: every
    group at once). Returns (plan, problems, refusal): ``plan`` the waves that honour the budgets and the members each
    SE group takes out of service at once; ``problems`` bad input (members that match no virtual service); ``refusal``
    why the groups cannot be upgraded together (None when they can)."""
    names = dict((u, v["name"]) for u, v in placement.vss.items())
    problems = unknown_members(budgets, names)
    waves = upgrade_waves(budgets, placement, group_names, parallel=True, disruptive=disruptive)
    members = {}
    for counts in waves["members"].values():
        for group, n in counts.items():
            members[group] = members.get(group, 0) + n
    limits = dict((g["name"], g.get("max_moving") or 1) for g in budgets.groups)
    over = ["%s: %d member(s) out of service at once (%s), max_moving %d" % (
        group, n, ", ".join("%s %d" % (sg, c[group]) for sg, c in sorted(waves["members"].items()) if group in c),
        limits[group]) for group, n in sorted(members.items()) if n > limits[group]]
    plan = {"groups": [{"name": g["name"], "max_moving": g["max_moving"]} for g in budgets.groups],
            "waves": waves["waves"], "members_at_once": waves["members"]}
    refusal = None
    if len(waves["waves"]) > 1:
        refusal = "budgets: SE groups %s cannot be upgraded at once (%s): upgrade them in waves, %s%s" % (
            ", ".join(group_names), "; ".join(over), " | ".join(", ".join(w) for w in waves["waves"]),
            " (scope=se_group, one wave a run: the rolling_upgrade role does this)" if scope == "system" else
            " (one wave a run: the rolling_upgrade role does this)")
    return plan, problems, refusal


class EvacuationBudgets(object):
    """The budgets of an SE evacuation (a mixin of ``se_disable``'s step): uses ``self.budgets``, ``self.client``,
    ``self.params``, the SE read (``self.se``, ``self.se_uuid``, ``self.group_uuid``, ``self.placement``,
    ``self.pairs``) and ``self.result``."""

    def _check_budgets(self):
        names = dict((vs.get("uuid"), vs.get("name")) for vs in self.client.get_all("virtualservice"))
        wrong = refusals(self.budgets, names, self.pairs, self.params["method"])
        if wrong:
            raise ModuleFailure("not disabling SE '%s': %s" % (self.se["name"], "; ".join(wrong)), **self.result)

    def _budget_plan(self):
        """The budgeted plan from the placement as read (targets for anti-affinity members, waves)."""
        return plan_evacuation(self.budgets, Planner(self.placement), self.se_uuid, self.pairs,
                               self.params["concurrency"])

    def _check_anti_affinity(self, jobs):
        """After the moves: a member the controller put next to another member of its group fails its step (it
        keeps serving where it is; nothing is moved back)."""
        moved = [(job["uuid"], job.get("after") or []) for job in jobs if job.get("result") == "moved"]
        after = load_placement(self.client, self.group_uuid, static=self.placement)
        wrong = misplaced(self.budgets, after, moved)
        for job in jobs:
            mine = [w for w in wrong if w.startswith("VS %s is on" % job["name"])]
            if mine:
                job["result"] = "misplaced"
                job["error"] = "; ".join(mine) + " (it serves there; move it with vs_migrate)"


class UpgradeBudgets(object):
    """The budgets of an upgrade (a mixin of ``cluster_upgrade``'s step): uses ``self.params``, ``self.module``
    and ``self.result``."""

    def _budgets(self, placement, group_names):
        """The waves that honour the operator's budgets (in the plan); a run of groups that exceed them together,
        or members that match no virtual service, are refused before anything changes."""
        plan, problems, refusal = upgrade_plan(
            Budgets(self.params["budgets"]), placement, group_names, self.params["scope"],
            bool(self.params["disruptive"] or self.params["force"]))
        self.result["plan"]["budgets"] = plan
        if problems or (refusal and not self.module.check_mode):
            raise ModuleFailure("; ".join(problems + ([refusal] if refusal else [])) + "; nothing was changed",
                                **self.result)
