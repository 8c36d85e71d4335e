# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What makes the vendor's SE-group upgrade non-disruptive: before a group upgrades, every virtual service that
would lose service gets a temporary second SE (a scale-out); after the upgrade operation has ended, it is
scaled back in.

Who loses service [vendor: "Upgrading Avi Vantage Software" (17.x) and the 20.1.4 configuration guide, elastic
HA]: the controller upgrades the SEs of a group one at a time; a virtual service that some other SE serves while
one upgrades keeps serving (active/active, N+M scaled out to two or more SEs, legacy active/standby with its
standby); an N+M virtual service placed on a single SE is unavailable while that SE upgrades. The collection
counts as at risk every enabled virtual service served by exactly one SE, when that SE will upgrade (an SE
already at the target version does not). A legacy active/standby group cannot scale out (vendor), nor can a
group whose ``max_scaleout_per_vs`` is 1.

Capacity, counted before the first change, per group, from what the vendor exposes only: free slots on its
enabled SEs (``max_vs_per_se`` minus the virtual services placed), SEs being created (``OPER_CREATING``), and the
SEs the controller may still create (``max_se`` minus every SE of the group, disabled ones included: the vendor
counts them, "Disable SE" docs), when its cloud can create SEs. Whether a host has room for a new SE the vendor
does not tell: it is unknown, never free room (if the controller cannot create one, the scale-out fails and
what protection did is undone). The assignment of each virtual service to an SE is this module's prediction;
the scale-outs name their target (``to_se_ref``, or ``to_new_se``) so the controller does what was counted.

The controller creates SEs for scale-outs one at a time per group here (the vendor has
``SYSERR_RM_MAX_PARALLEL_SE_CREATE``; its limit is not documented): a scale-out that needs a new SE waits for the
group's previous creation, and the virtual services planned onto that new SE then scale out to it by name.
Every change is recorded first (``_avi.upgrade_intent``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    HA_LEGACY,
    OPER_UP,
    SE_DISABLED,
    SE_ENABLED,
    load_placement,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_intent import (
    created_key,
    group_key,
    leftovers,
    se_key,
    vs_key,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import same_version
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import run_migrations
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout, wait_until

CREATING = "OPER_CREATING"


class ProtectionFailed(Exception):
    """A scale-out of the protection did not happen (the caller undoes what protection did)."""

    def __init__(self, msg):
        super(ProtectionFailed, self).__init__(msg)
        self.msg = msg


def serving(entries):
    """The SEs of a VIP that serve it and keep serving (up, not being scaled in from)."""
    return [e["se_uuid"] for e in entries if e["oper_state"] in (OPER_UP, None) and not e.get("scalein_in_progress")]


def busy(placement, group_uuids):
    """Virtual services of the groups with a placement change in flight (an SE being added or removed)."""
    out = []
    for vs in placement.vss.values():
        if vs["group_uuid"] not in group_uuids:
            continue
        for entries in vs["vips"].values():
            if any(e.get("scaleout_in_progress") or e.get("scalein_in_progress") or e["oper_state"] == CREATING
                   for e in entries):
                out.append(vs["name"])
                break
    return sorted(out)


def _ceil(a, b):
    return -(-a // b) if b else 0


class GroupNeed(object):
    """What protecting one SE group needs and has (see the module docstring)."""

    def __init__(self, group, placement, wanted):
        self.group = group
        self.uuid = group["uuid"]
        self.name = group["name"]
        ses = [se for se in placement.ses.values() if se["group_uuid"] == self.uuid]
        self.ses = ses
        self.upgrading = set(se["uuid"] for se in ses if not same_version(se["version"], wanted))
        self.at_risk = []          # (vs, vip_id, the SE it depends on)
        self.accepted = []         # names the operator accepted to lose service
        self.cannot = []           # (vs name, why it cannot be protected)
        self.assignments = []      # (vs, vip_id, ("se", uuid) | ("new", n))
        self.short = []            # VS names there is no room for
        self.new_ses = 0
        self.max_vs = int(group.get("max_vs_per_se") or 10)
        self.max_se = int(group.get("max_se") or 0)
        self.enabled = [se for se in ses if se["enable_state"] == SE_ENABLED
                        and se["oper_state"] in (OPER_UP, CREATING, None)]
        self.creating = [se for se in ses if se["oper_state"] == CREATING]
        self.disabled = [se for se in ses if se["enable_state"] != SE_ENABLED]
        self.closed = bool(ses) and not any(se["enable_state"] == SE_ENABLED for se in ses)
        self.free = dict((se["uuid"], max(0, self.max_vs - len(se["vs_uuids"]))) for se in self.enabled)
        self.free_slots = sum(self.free.values())
        self.can_create = True
        self.create_blocker = None
        self.consent = False

    def creatable(self):
        if not self.can_create:
            return 0
        return max(0, self.max_se - len(self.ses))

    def summary(self):
        return {"se_group": self.name, "virtual_services_at_risk": len(self.at_risk),
                "accepted": sorted(self.accepted), "cannot_protect": [{"name": n, "why": w} for n, w in self.cannot],
                "free_slots": self.free_slots, "enabled_ses": len(self.enabled),
                "ses_being_created": len(self.creating), "ses": len(self.ses), "disabled_ses": len(self.disabled),
                "max_se": self.max_se, "max_vs_per_se": self.max_vs, "new_ses_possible": self.creatable(),
                "new_ses_needed": self.new_ses, "closed_to_placement": self.closed,
                "creation_consent": self.consent, "create_blocker": self.create_blocker,
                "host_capacity": "unknown (the vendor does not expose it)",
                "short": sorted(self.short),
                "scale_outs": [{"virtual_service": vs["name"], "vip_id": vip, "to": "new SE %d" % t[1] if t[0] == "new"
                                else t[2]} for vs, vip, t in self.assignments]}


def plan_protection(placement, group_uuids, wanted, accept=(), allow_creation=()):
    """A :class:`GroupNeed` per group (in ``group_uuids`` order), assigned. Raises ModuleFailure, before
    anything changes, when a virtual service at risk can be neither protected nor was accepted by name."""
    accept = set(accept or ())
    allow_creation = set(allow_creation or ())
    needs = []
    for guuid in group_uuids:
        group = placement.groups[guuid]
        need = GroupNeed(group, placement, wanted)
        cloud = placement.clouds.get(group.get("cloud_uuid"))
        if cloud is not None and not cloud["can_create_se"]:
            need.can_create = False
            need.create_blocker = "cloud %s (%s) cannot create SEs" % (cloud["name"], cloud["vtype"])
        need.consent = need.name in allow_creation or guuid in allow_creation
        for vs in sorted(placement.vss.values(), key=lambda v: v["name"] or ""):
            if vs["group_uuid"] != guuid or not vs.get("enabled", True):
                continue
            for vip_id, entries in sorted(vs["vips"].items()):
                serve = serving(entries)
                if len(serve) != 1 or serve[0] not in need.upgrading:
                    continue
                need.at_risk.append((vs, vip_id, serve[0]))
        _assign(need, placement, accept)
        needs.append(need)
    problems = [text for text in (_problem(need) for need in needs) if text]
    if problems:
        raise ModuleFailure("cannot protect every virtual service that would lose service while its SE upgrades, "
                            "so nothing was changed: %s" % " ".join(problems),
                            protection=[need.summary() for need in needs])
    return needs


def _assign(need, placement, accept):
    group = need.group
    legacy = group.get("ha_mode") == HA_LEGACY
    scaleout_max = int(group.get("max_scaleout_per_vs") or 4)
    at_target = set(se["uuid"] for se in need.ses if se["uuid"] not in need.upgrading)
    new_load = []
    for vs, vip_id, se_uuid in need.at_risk:
        if vs["name"] in accept or vs["uuid"] in accept:
            need.accepted.append(vs["name"])
            continue
        if legacy:
            need.cannot.append((vs["name"], "legacy active/standby group without a standby: the controller does not "
                                            "scale virtual services out there"))
            continue
        if scaleout_max < 2:
            need.cannot.append((vs["name"], "max_scaleout_per_vs of group %s is 1" % need.name))
            continue
        on = set(e["se_uuid"] for e in vs["vips"][vip_id])
        options = [u for u, free in need.free.items() if free > 0 and u not in on]
        if options:
            # SEs already at the target version first (they do not go down), then the emptiest, then by name
            best = sorted(options, key=lambda u: (u not in at_target, -need.free[u], placement.se_name(u)))[0]
            need.free[best] -= 1
            need.assignments.append((vs, vip_id, ("se", best, placement.se_name(best))))
            continue
        if new_load and new_load[-1] < need.max_vs:
            new_load[-1] += 1
            need.assignments.append((vs, vip_id, ("new", len(new_load), None)))
            continue
        if len(new_load) < need.creatable():
            new_load.append(1)
            need.assignments.append((vs, vip_id, ("new", len(new_load), None)))
            continue
        need.short.append(vs["name"])
    need.new_ses = len(new_load)


def _problem(need):
    out = []
    if need.short:
        reasons = []
        if not need.can_create:
            reasons.append(need.create_blocker)
        else:
            reasons.append("max_se %d reached (%d SEs, %d of them disabled; disabled SEs count)" % (
                need.max_se, len(need.ses), len(need.disabled)) if need.creatable() == 0 and not need.new_ses else
                "%d new SE(s) possible under max_se %d" % (need.creatable(), need.max_se))
        ways = []
        if need.can_create:
            ways.append("raise max_se of SE group %s by %d (each new SE takes max_vs_per_se=%d)"
                        % (need.name, _ceil(len(need.short), need.max_vs), need.max_vs))
        ways.append("free %d slot(s) on its enabled SEs" % len(need.short))
        ways.append("or accept that they lose service by naming them in accept_disruption: %s"
                    % ", ".join(sorted(need.short)))
        out.append("SE group %s: %d virtual service(s) at risk, room for %d: %d free slot(s) on %d enabled SE(s) "
                   "(max_vs_per_se %d), %d SE(s) being created, %s; host capacity for new SEs is unknown. Short by %d "
                   "(%s). To make it possible: %s." % (
                       need.name, len(need.at_risk) - len(need.accepted), len(need.assignments),
                       need.free_slots, len(need.enabled),
                       need.max_vs, len(need.creating), "; ".join(reasons), len(need.short),
                       ", ".join(sorted(need.short)), ", ".join(ways)))
    if need.cannot:
        out.append("SE group %s: cannot protect %s; accept that they lose service by naming them in "
                   "accept_disruption." % (need.name, "; ".join("%s (%s)" % c for c in need.cannot)))
    if need.new_ses and need.closed and not need.consent:
        out.append("SE group %s is closed to placement (none of its %d SE(s) is enabled): protecting %s would make "
                   "the controller create %d SE(s) there. Allow it by naming the group in allow_se_creation, or "
                   "accept the disruption (accept_disruption)." % (
                       need.name, len(need.ses),
                       ", ".join(vs["name"] for vs, _v, t in need.assignments if t[0] == "new"), need.new_ses))
    return " ".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Acting
# ---------------------------------------------------------------------------------------------------------------
class Protector(object):
    """Does and undoes protection for one module run: scale-outs recorded first, scale-ins, created SEs."""

    def __init__(self, client, record, progress, concurrency=32, timeout=1800, interval=2.0, run_id=None,
                 clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.record = record
        self.progress = progress
        self.concurrency = concurrency
        self.timeout = timeout
        self.interval = interval
        self.run_id = run_id
        self.clock = clock
        self.sleep = sleep
        self.protected = []      # {name, vip_id, se_group, added: [se names]}
        self.created = {}        # se uuid -> {name, group, removed}
        self.unprotected = []    # names scaled back in
        self.kept = []           # {virtual_service, why}: a scale-out that could not be undone

    # -- scale out ----------------------------------------------------------------------------------------
    def protect(self, needs):
        """Scale out every assigned virtual service; raise ProtectionFailed when one does not happen."""
        jobs = []
        items = {}
        for need in needs:
            if need.new_ses:
                items[group_key(need.uuid)] = {"ses_before": sorted(se["uuid"] for se in need.ses), "run": self.run_id}
            for vs, vip_id, target in need.assignments:
                before = sorted(e["se_uuid"] for e in vs["vips"][vip_id])
                items[vs_key(vs["uuid"], vip_id)] = {"before": before, "group": need.uuid, "vs": vs["name"],
                                                     "run": self.run_id}
                jobs.append({"action": "scaleout", "uuid": vs["uuid"], "name": vs["name"], "vip_id": vip_id,
                             "before": before, "group": need.uuid, "group_name": need.name,
                             "to_se": target[1] if target[0] == "se" else None, "slot": target[1]
                             if target[0] == "new" else None})
        if not jobs:
            return
        self.record.remember_new(items)
        self.progress.update("protect", "giving %d virtual service(s) a temporary second SE (%d new SE(s))" % (
            len(jobs), sum(n.new_ses for n in needs)), done=0, total=len(jobs))
        new_se = {}   # (group, slot) -> created SE uuid
        pending = list(jobs)
        while pending:
            ready, creating = [], set()
            for job in pending:
                if job["slot"] is None:
                    ready.append(job)
                elif (job["group"], job["slot"]) in new_se:
                    job["to_se"] = new_se[(job["group"], job["slot"])]
                    ready.append(job)
                elif job["group"] not in creating:   # one SE creation at a time per group
                    job["to_new_se"] = True
                    creating.add(job["group"])
                    ready.append(job)
            pending = [job for job in pending if job not in ready]
            try:
                run_migrations(self.client, ready, self.progress, concurrency=self.concurrency, timeout=self.timeout,
                               interval=self.interval, clock=self.clock, sleep=self.sleep)
            except WaitTimeout as exc:
                raise ProtectionFailed("protection: %s" % exc.msg)
            failed = [job for job in ready if job.get("result") == "failed"]
            for job in ready:
                if job.get("result") == "failed":
                    continue
                added = [u for u in job.get("after") or [] if u not in job["before"]]
                if job.get("to_new_se") and not added:
                    job.update(result="failed", error="the controller placed it on no new SE")
                    failed.append(job)
                    continue
                if job.get("to_new_se"):
                    new_se[(job["group"], job["slot"])] = added[0]
                    self.record.remember_new({created_key(added[0]): {"group": job["group"], "run": self.run_id}})
                    self.created[added[0]] = {"uuid": added[0], "group": job["group_name"], "removed": False}
                self.protected.append({"name": job["name"], "vip_id": job["vip_id"], "se_group": job["group_name"],
                                       "added": added})
            if failed:
                raise ProtectionFailed("protection failed for %s" % "; ".join(
                    "%s: %s" % (job["name"], job.get("error") or "no second SE") for job in failed))

    # -- scale in -----------------------------------------------------------------------------------------
    def undo(self, group_uuids=None, remove_created=False):
        """Scale back in what the record says was scaled out (of ``group_uuids``, or all), then deal with the SEs
        created for protection (removed with ``remove_created``, else reported as kept). Forgets what it undid."""
        entries = self.record.entries()
        vss, created, groups, states = leftovers(entries)
        if group_uuids is not None:
            wanted = set(group_uuids)
            vss = dict((k, v) for k, v in vss.items() if v.get("group") in wanted)
            created = dict((k, v) for k, v in created.items() if v.get("group") in wanted)
            groups = dict((k, v) for k, v in groups.items() if k in wanted)
        if not (vss or created or groups or states):
            return
        placement = load_placement(self.client)
        for guuid, value in groups.items():     # SEs created for protection that were not recorded by name
            before = set(value.get("ses_before") or [])
            for se in placement.ses.values():
                if se["group_uuid"] == guuid and se["uuid"] not in before and se["uuid"] not in created:
                    created[se["uuid"]] = {"group": guuid, "run": value.get("run")}
        rounds = {}
        done_keys = []
        for key, value in sorted(vss.items()):
            _kind, vs_uuid, vip_id = key.split("/", 2)
            vs = placement.vss.get(vs_uuid)
            before = set(value.get("before") or [])
            if vs is None or vip_id not in vs["vips"]:
                done_keys.append(key)     # the virtual service (or VIP) is gone: nothing to undo
                continue
            now = [e["se_uuid"] for e in vs["vips"][vip_id]]
            extra = [u for u in now if u not in before]
            if not extra:
                done_keys.append(key)
                continue
            if not any(u in before for u in now):
                self.kept.append({"virtual_service": vs["name"], "why": "it is no longer on any SE it had before the "
                                  "upgrade (%s): scaling it in would leave it nowhere" % ", ".join(
                                      placement.se_name(u) for u in now)})
                continue
            for n, se_uuid in enumerate(extra):
                rounds.setdefault(n, []).append({"action": "scalein", "uuid": vs_uuid, "name": vs["name"],
                                                 "vip_id": vip_id, "from_se": se_uuid, "key": key,
                                                 "group": value.get("group")})
        if rounds:
            self.progress.update("unprotect", "scaling %d virtual service(s) back in from their temporary SE" % len(
                set(job["key"] for jobs in rounds.values() for job in jobs)))
        failed = []
        for n in sorted(rounds):
            jobs = rounds[n]
            run_migrations(self.client, jobs, self.progress, concurrency=self.concurrency, timeout=self.timeout,
                           interval=self.interval, clock=self.clock, sleep=self.sleep)
            failed += [job for job in jobs if job.get("result") == "failed"]
        bad = set(job["key"] for job in failed)
        for jobs in rounds.values():
            for job in jobs:
                if job["key"] not in bad and job["key"] not in done_keys:
                    done_keys.append(job["key"])
                    self.unprotected.append(job["name"])
        self.record.forget(*done_keys)
        if failed:
            raise ModuleFailure("could not scale back in: %s (the record keeps them: run again to retry)" % "; ".join(
                "%s from %s: %s" % (job["name"], placement.se_name(job["from_se"]), job.get("error")) for job in failed))
        if rounds and created:
            placement = load_placement(self.client)   # the SEs as the scale-ins left them
        self._created_ses(created, states, placement, remove_created)
        self.record.forget(*[group_key(g) for g in groups])

    def _created_ses(self, created, states, placement, remove):
        for se_uuid, value in sorted(created.items()):
            se = placement.ses.get(se_uuid)
            info = self.created.setdefault(se_uuid, {"uuid": se_uuid, "group": None, "removed": False})
            group = placement.groups.get(value.get("group") or (se or {}).get("group_uuid")) or {}
            info.update(name=se["name"] if se else se_uuid, group=group.get("name") or info.get("group"))
            if se is None:
                info["removed"] = True
                self.record.forget(created_key(se_uuid), se_key(se_uuid))
                continue
            if not remove:
                info["kept"] = "kept (remove_created_ses=false)"
                self.record.forget(created_key(se_uuid))
                continue
            if se["vs_uuids"]:
                info["kept"] = "kept: virtual services are placed on it (%s)" % ", ".join(
                    sorted(placement.vss[u]["name"] if u in placement.vss else u for u in se["vs_uuids"]))
                self.record.forget(created_key(se_uuid))
                continue
            self._remove_se(se, states.get(se_uuid))
            info["removed"] = True
            self.record.forget(created_key(se_uuid), se_key(se_uuid))
        for se_uuid in states:
            if se_uuid not in created:
                self.record.forget(se_key(se_uuid))

    def _remove_se(self, se, state):
        """Disable an SE created for protection (its enable state recorded first), then delete it."""
        name = se["name"]
        self.progress.update("remove_se", "removing SE %s, created for protection" % name, created_se=name)
        if state is None:
            self.record.remember_new({se_key(se["uuid"]): {"was": se["enable_state"], "run": self.run_id}})
        obj = self.client.get("serviceengine/%s" % se["uuid"])
        if obj.get("enable_state") != SE_DISABLED:
            obj["enable_state"] = SE_DISABLED
            self.client.put("serviceengine/%s" % se["uuid"], obj)

        def disabled():
            for item in self.client.get_all("serviceengine-inventory", params={"uuid": se["uuid"]}):
                runtime = item.get("runtime") or {}
                oper = runtime.get("oper_status")
                oper = oper.get("state") if isinstance(oper, dict) else oper
                return oper in ("OPER_DISABLED", "OPER_ERROR_DISABLED", "OPER_DOWN")
            return True
        wait_until(disabled, self.timeout, self.interval, clock=self.clock, sleep=self.sleep,
                   what="SE %s to be disabled" % name)
        try:
            self.client.call("DELETE", "serviceengine/%s" % se["uuid"])
        except AviError as exc:
            if exc.status != 404:
                raise ModuleFailure("could not delete SE %s (created for protection, now disabled): %s" % (name, exc.msg))
