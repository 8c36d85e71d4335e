# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Placement of Avi virtual services on service engines: read it, predict it, change it.

* :func:`load_placement` reads SE groups, clouds, hosts, the SE inventory and the VS
  inventory into a :class:`Placement` snapshot.
* :class:`Planner` predicts where the controller would place a virtual service, mirroring the
  placement rules (an SE can take a VS when it is enabled, up, in the VS's group, holds fewer than
  ``max_vs_per_se`` VSs and does not already host it; PACKED picks the fullest eligible SE,
  DISTRIBUTED prefers a new SE while the group is below ``max_se`` and the cloud can create SEs;
  a new SE needs ``max_se`` room, a cloud that creates SEs and a host with room). Tie-breaks
  (by name) and the host chosen for a new SE are our assumption: the controller's exact choice
  is not documented, so the plan is a prediction.
* :func:`run_migrations` starts ``POST /api/virtualservice/{uuid}/migrate`` calls (or
  ``scaleout`` / ``scalein``), at most ``concurrency`` at once, and waits for each through the VS
  runtime, reporting ``progress_percent`` through :class:`Progress`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import (
    AviError,
    ref_uuid,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout, poll_sleeps

SE_ENABLED = "SE_STATE_ENABLED"
SE_DISABLED_FOR_PLACEMENT = "SE_STATE_DISABLED_FOR_PLACEMENT"
SE_DISABLED = "SE_STATE_DISABLED"
OPER_UP = "OPER_UP"
HA_LEGACY = "HA_MODE_LEGACY_ACTIVE_STANDBY"
ALGO_PACKED = "PLACEMENT_ALGO_PACKED"
ALGO_DISTRIBUTED = "PLACEMENT_ALGO_DISTRIBUTED"

MIGRATE_IDLE = "SE_MIGRATE_STATE_IDLE"
MIGRATE_STARTED = "SE_MIGRATE_STATE_STARTED"
MIGRATE_FINISHED = "SE_MIGRATE_STATE_FINISHED"
MIGRATE_FAILED = "SE_MIGRATE_STATE_FINISHED_WITH_FAILURE"

_GROUP_DEFAULTS = {"max_se": 10, "max_vs_per_se": 10, "min_scaleout_per_vs": 1,
                   "max_scaleout_per_vs": 4, "algo": ALGO_PACKED, "ha_mode": "HA_MODE_SHARED"}


class PlacementError(Exception):
    """No SE can take a virtual service (or an evacuation cannot be absorbed)."""


def _state(value):
    if isinstance(value, dict):
        return value.get("state")
    return value


def as_list(value):
    """A field the vendor gives as one object or as a list of them, as a list. ``VsInventory``'s
    ``runtime.vip_summary`` is one ``VipSummary`` object in the vendor's definition ("introduced in
    22.1.1", 30.2.1 Swagger), a list of them per VIP elsewhere: both are read."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return [item for item in value if isinstance(item, dict)]


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
class Placement(object):
    """A snapshot of groups, clouds, hosts, SEs and VSs, keyed by uuid."""

    def __init__(self, groups=None, clouds=None, hosts=None, ses=None, vss=None):
        self.groups = groups or {}
        self.clouds = clouds or {}
        self.hosts = hosts or {}
        self.ses = ses or {}
        self.vss = vss or {}

    def se_name(self, uuid):
        se = self.ses.get(uuid)
        return se["name"] if se else uuid

    def vs_on_se(self, se_uuid):
        """(vs, vip_id) pairs placed on an SE, sorted by VS name."""
        pairs = []
        for vs in self.vss.values():
            for vip_id, entries in sorted(vs["vips"].items()):
                if any(e["se_uuid"] == se_uuid for e in entries):
                    pairs.append((vs, vip_id))
        pairs.sort(key=lambda p: (p[0]["name"], p[1]))
        return pairs

    def vs_placement(self, vs_uuid, vip_id=None):
        """{vip_id: [se names]} for a VS (or the list for one vip)."""
        vs = self.vss.get(vs_uuid)
        if vs is None:
            return [] if vip_id is not None else {}
        out = {}
        for vid, entries in vs["vips"].items():
            out[vid] = sorted(self.se_name(e["se_uuid"]) for e in entries)
        if vip_id is not None:
            return out.get(vip_id, [])
        return out

    def group_ses(self, group_uuid):
        return [se for se in self.ses.values() if se["group_uuid"] == group_uuid]


def _group(obj):
    group = dict(_GROUP_DEFAULTS)
    for key in ("max_se", "max_vs_per_se", "min_scaleout_per_vs", "max_scaleout_per_vs", "algo",
                "ha_mode", "min_se", "buffer_se"):
        if obj.get(key) is not None:
            group[key] = obj[key]
    group.update(uuid=obj.get("uuid"), name=obj.get("name"), cloud_uuid=ref_uuid(obj.get("cloud_ref")))
    return group


def _cloud(obj):
    if isinstance(obj.get("se_auto_create"), bool):
        can_create = obj["se_auto_create"]
    elif isinstance(obj.get("can_create_se"), bool):
        can_create = obj["can_create_se"]
    else:
        can_create = obj.get("vtype") not in ("CLOUD_NONE", None)
    return {"uuid": obj.get("uuid"), "name": obj.get("name"), "vtype": obj.get("vtype"),
            "can_create_se": can_create}


def _host(obj):
    return {"uuid": obj.get("uuid"), "name": obj.get("name"), "cloud_uuid": ref_uuid(obj.get("cloud_ref")),
            "max_se_on_host": obj.get("max_se_on_host"),
            "maintenance_mode": bool(obj.get("maintenance_mode"))}


def se_from_inventory(item):
    config = item.get("config") or {}
    runtime = item.get("runtime") or {}
    return {
        "uuid": item.get("uuid") or config.get("uuid"),
        "name": config.get("name"),
        "group_uuid": ref_uuid(config.get("se_group_ref")),
        "cloud_uuid": ref_uuid(config.get("cloud_ref")),
        "host_uuid": ref_uuid(config.get("host_ref")),
        "enable_state": config.get("enable_state", SE_ENABLED),
        "oper_state": _state(runtime.get("oper_status")),
        "migrate_state": runtime.get("migrate_state"),
        "version": runtime.get("version"),
        "mgmt_ip": (config.get("mgmt_ip_address") or {}).get("addr")
        if isinstance(config.get("mgmt_ip_address"), dict) else config.get("mgmt_ip_address"),
        "vs_uuids": set(ref_uuid(r) for r in config.get("vs_refs") or []),
    }


def vs_from_inventory(item):
    config = item.get("config") or {}
    runtime = item.get("runtime") or {}
    vips = {}
    for vip in config.get("vip") or []:
        vips.setdefault(str(vip.get("vip_id", "0")), [])
    for summary in as_list(runtime.get("vip_summary")):
        vips[str(summary.get("vip_id", "0"))] = _se_entries(summary)
    return {
        "uuid": item.get("uuid") or config.get("uuid"),
        "name": config.get("name"),
        "group_uuid": ref_uuid(config.get("se_group_ref")),
        "cloud_uuid": ref_uuid(config.get("cloud_ref")),
        "enabled": config.get("enabled", True),
        "oper_state": _state(runtime.get("oper_status")),
        "vips": vips,
    }


def _se_entries(summary):
    entries = []
    for se in summary.get("service_engine") or []:
        entries.append({
            "se_uuid": se.get("uuid") or ref_uuid(se.get("ref")),
            "primary": bool(se.get("primary")),
            "standby": bool(se.get("standby")),
            "oper_state": _state(se.get("oper_status")),
        })
    return entries


def load_placement(client, group_uuid=None):
    """Read everything placement depends on. ``group_uuid`` limits SEs and VSs to one group."""
    flt = {"se_group_ref": group_uuid} if group_uuid else {}
    groups = dict((g["uuid"], _group(g)) for g in client.get_all("serviceenginegroup"))
    clouds = dict((c["uuid"], _cloud(c)) for c in client.get_all("cloud"))
    hosts = dict((h["uuid"], _host(h)) for h in client.get_all("vimgrhostruntime"))
    ses = {}
    # All SEs, whatever the group: host capacity (max_se_on_host) counts every SE on a host.
    for item in client.get_all("serviceengine-inventory", params={"include_name": "true"}):
        se = se_from_inventory(item)
        ses[se["uuid"]] = se
    vss = {}
    for item in client.get_all("virtualservice-inventory", params=dict(flt, include_name="true")):
        vs = vs_from_inventory(item)
        vss[vs["uuid"]] = vs
        for entries in vs["vips"].values():
            for entry in entries:
                if entry["se_uuid"] in ses:
                    ses[entry["se_uuid"]]["vs_uuids"].add(vs["uuid"])
    return Placement(groups, clouds, hosts, ses, vss)


def read_vip_runtime(client, vs_uuid, vip_id):
    """The runtime summary of one VIP (``GET /api/virtualservice/{uuid}/runtime/``)."""
    data = client.get("virtualservice/%s/runtime/" % vs_uuid)
    if isinstance(data, dict):
        data = data.get("results") or [data]
    for summary in data or []:
        if str(summary.get("vip_id", "0")) == str(vip_id):
            return summary
    return {}


# ---------------------------------------------------------------------------------------------
# Predicting
# ---------------------------------------------------------------------------------------------
class Planner(object):
    """Simulates the controller's placement choices on a copy of a :class:`Placement`."""

    def __init__(self, placement):
        self.placement = placement
        self.ses = {}
        for uuid, se in placement.ses.items():
            copy = dict(se)
            copy["vs_uuids"] = set(se["vs_uuids"])
            copy["new"] = False
            self.ses[uuid] = copy
        self.created = []

    # -- facts ---------------------------------------------------------------------------
    def group(self, group_uuid):
        group = self.placement.groups.get(group_uuid)
        if group is None:
            group = dict(_GROUP_DEFAULTS, uuid=group_uuid, name=group_uuid, cloud_uuid=None)
        return group

    def _group_ses(self, group_uuid):
        return [se for se in self.ses.values() if se["group_uuid"] == group_uuid]

    def _host_load(self, host_uuid):
        return sum(1 for se in self.ses.values() if se.get("host_uuid") == host_uuid)

    def hosts_with_room(self, cloud_uuid):
        hosts = []
        for host in self.placement.hosts.values():
            if cloud_uuid and host.get("cloud_uuid") and host["cloud_uuid"] != cloud_uuid:
                continue
            if host.get("maintenance_mode"):
                continue
            limit = host.get("max_se_on_host")
            room = None if limit is None else limit - self._host_load(host["uuid"])
            if room is None or room > 0:
                hosts.append((host, room))
        return hosts

    def creation_blocker(self, group_uuid, host_uuid=None):
        """Why no SE can be created in the group (None when one can)."""
        group = self.group(group_uuid)
        count = len(self._group_ses(group_uuid))
        if count >= group["max_se"]:
            return "group '%s' has reached max_se (%d of %d SEs, disabled SEs count)" % (
                group["name"], count, group["max_se"])
        cloud = self.placement.clouds.get(group.get("cloud_uuid"))
        if cloud is not None and not cloud["can_create_se"]:
            return "cloud '%s' (%s) cannot create SEs" % (cloud["name"], cloud["vtype"])
        hosts = self.hosts_with_room(group.get("cloud_uuid"))
        if host_uuid is not None:
            hosts = [h for h in hosts if h[0]["uuid"] == host_uuid]
            if not hosts:
                host = self.placement.hosts.get(host_uuid)
                return "host '%s' has no room for another SE (max_se_on_host %s)" % (
                    host["name"] if host else host_uuid, host.get("max_se_on_host") if host else "?")
        elif self.placement.hosts and not hosts:
            return "no host of the cloud has room for another SE (max_se_on_host reached or maintenance)"
        return None

    def why_ineligible(self, se, vs):
        group = self.group(vs["group_uuid"])
        if se["group_uuid"] != vs["group_uuid"]:
            return "SE '%s' is not in the VS's SE group '%s'" % (se["name"], group["name"])
        if se["enable_state"] != SE_ENABLED:
            return "SE '%s' is %s" % (se["name"], se["enable_state"])
        if se["oper_state"] not in (OPER_UP, None) and not se["new"]:
            return "SE '%s' is %s" % (se["name"], se["oper_state"])
        if vs["uuid"] in se["vs_uuids"]:
            return "SE '%s' already hosts VS '%s'" % (se["name"], vs["name"])
        if len(se["vs_uuids"]) >= group["max_vs_per_se"]:
            return "SE '%s' is full (%d of max_vs_per_se %d)" % (
                se["name"], len(se["vs_uuids"]), group["max_vs_per_se"])
        return None

    def eligible(self, vs, exclude=()):
        return [se for se in self._group_ses(vs["group_uuid"])
                if se["uuid"] not in exclude and self.why_ineligible(se, vs) is None]

    # -- choices -------------------------------------------------------------------------
    def _new_se(self, vs, host_uuid=None):
        group = self.group(vs["group_uuid"])
        hosts = self.hosts_with_room(group.get("cloud_uuid"))
        if host_uuid is not None:
            hosts = [h for h in hosts if h[0]["uuid"] == host_uuid]
        # Assumption: the host with the most room (unlimited first), then by name.
        hosts.sort(key=lambda h: (-(h[1] if h[1] is not None else 1 << 30), h[0]["name"] or ""))
        host = hosts[0][0] if hosts else None
        number = len(self.created) + 1
        se = {
            "uuid": "new-se-%d" % number,
            "name": "new SE %d%s" % (number, " on %s" % host["name"] if host else ""),
            "group_uuid": vs["group_uuid"], "cloud_uuid": group.get("cloud_uuid"),
            "host_uuid": host["uuid"] if host else None, "enable_state": SE_ENABLED,
            "oper_state": OPER_UP, "migrate_state": None, "version": None, "vs_uuids": set(),
            "new": True,
        }
        return se

    def choose(self, vs, exclude=(), to_se=None, to_host=None, to_new_se=False):
        """Return the SE (a dict, ``new`` True for one to be created) the VS would move to."""
        if to_se is not None:
            se = self.ses.get(to_se)
            if se is None:
                raise PlacementError("target SE %s is unknown" % to_se)
            reason = self.why_ineligible(se, vs)
            if reason:
                raise PlacementError("cannot place VS '%s' on SE '%s': %s" % (vs["name"], se["name"], reason))
            return se
        if to_host is not None or to_new_se:
            reason = self.creation_blocker(vs["group_uuid"], host_uuid=to_host)
            if reason:
                raise PlacementError("cannot create a new SE for VS '%s': %s" % (vs["name"], reason))
            return self._new_se(vs, host_uuid=to_host)
        group = self.group(vs["group_uuid"])
        candidates = self.eligible(vs, exclude)
        blocker = self.creation_blocker(vs["group_uuid"])
        if group["algo"] == ALGO_DISTRIBUTED:
            if blocker is None:
                return self._new_se(vs)
            if candidates:
                return sorted(candidates, key=lambda s: (len(s["vs_uuids"]), s["name"]))[0]
        else:
            if candidates:
                return sorted(candidates, key=lambda s: (-len(s["vs_uuids"]), s["name"]))[0]
            if blocker is None:
                return self._new_se(vs)
        raise PlacementError("no SE available for VS '%s' in group '%s': no enabled SE with room, "
                             "and %s" % (vs["name"], group["name"], blocker))

    def apply(self, vs, target, from_se=None):
        """Record a move in the simulation."""
        if target["new"] and target["uuid"] not in self.ses:
            self.ses[target["uuid"]] = target
            self.created.append(target)
        target["vs_uuids"].add(vs["uuid"])
        if from_se is not None and from_se in self.ses:
            self.ses[from_se]["vs_uuids"].discard(vs["uuid"])

    # -- an SE evacuation ----------------------------------------------------------------
    def capacity_summary(self, se_uuid, group_uuid, needed):
        group = self.group(group_uuid)
        others = [se for se in self._group_ses(group_uuid)
                  if se["uuid"] != se_uuid and se["enable_state"] == SE_ENABLED
                  and se["oper_state"] in (OPER_UP, None)]
        free = sum(max(0, group["max_vs_per_se"] - len(se["vs_uuids"])) for se in others)
        return {"virtual_services_to_move": needed, "other_enabled_ses": len(others),
                "free_slots": free, "max_vs_per_se": group["max_vs_per_se"],
                "group_ses": len(self._group_ses(group_uuid)), "max_se": group["max_se"],
                "creation_blocker": self.creation_blocker(group_uuid)}

    def plan_evacuation(self, se_uuid):
        """Predict where every VS on ``se_uuid`` goes. Raises PlacementError saying what is short."""
        source = self.ses[se_uuid]
        pairs = self.placement.vs_on_se(se_uuid)
        summary = self.capacity_summary(se_uuid, source["group_uuid"], len(pairs))
        # The evacuated SE takes nothing new, whatever its enable_state is now.
        saved_state = source["enable_state"]
        source["enable_state"] = SE_DISABLED
        moves, failures = [], []
        try:
            for vs, vip_id in pairs:
                try:
                    target = self.choose(vs, exclude=(se_uuid,))
                except PlacementError as exc:
                    failures.append((vs, vip_id, str(exc)))
                    continue
                self.apply(vs, target, from_se=se_uuid)
                moves.append({"name": vs["name"], "uuid": vs["uuid"], "vip_id": vip_id,
                              "from_se": source["name"], "to_se": target["name"],
                              "to_se_uuid": None if target["new"] else target["uuid"],
                              "created_se": bool(target["new"])})
        finally:
            source["enable_state"] = saved_state
        if failures:
            group = self.group(source["group_uuid"])
            names = ", ".join(vs["name"] for vs, _vip, _r in failures)
            raise PlacementError(
                "SE group '%s' cannot absorb the load of SE '%s': %d of %d virtual services have no "
                "place (%s). Other enabled SEs: %d with %d free slots (max_vs_per_se %d); new SEs: %s. "
                "Short by %d placement(s)." % (
                    group["name"], source["name"], len(failures), len(pairs), names,
                    summary["other_enabled_ses"], summary["free_slots"], summary["max_vs_per_se"],
                    summary["creation_blocker"] or "possible", len(failures)))
        return {"moves": moves, "created_service_engines": [se["name"] for se in self.created],
                "capacity": summary}


# ---------------------------------------------------------------------------------------------
# Changing
# ---------------------------------------------------------------------------------------------
def migrate_body(client, vip_id, from_se=None, to_se=None, to_host=None, to_new_se=False):
    body = {"vip_id": str(vip_id)}
    if from_se:
        body["from_se_ref"] = client.ref("serviceengine", from_se)
    if to_se:
        body["to_se_ref"] = client.ref("serviceengine", to_se)
    if to_host:
        body["to_host_ref"] = client.ref("vimgrhostruntime", to_host)
    if to_new_se:
        body["to_new_se"] = True
    return body


DONE_RESULT = {"migrate": "moved", "scaleout": "scaled_out", "scalein": "scaled_in"}
VERB = {"migrate": "migrating", "scaleout": "scaling out", "scalein": "scaling in"}


def _busy(summary):
    return bool(summary.get("migrate_in_progress") or summary.get("scaleout_in_progress")
                or summary.get("scalein_in_progress"))


def run_migrations(client, jobs, progress, concurrency=1, timeout=1800, interval=2.0,
                   clock=time.monotonic, sleep=time.sleep):
    """Migrate VSs, ``concurrency`` at once, and wait for each.

    ``jobs``: dicts with ``uuid``, ``name``, ``vip_id``, ``from_se`` (uuid or None), and
    optionally ``to_se``, ``to_host``, ``to_new_se``, ``before`` (list of SE uuids). Each job gets
    ``result`` (``moved`` or ``failed``), ``after`` (SE uuids) and ``error``. Returns ``jobs``.
    A failed migration leaves the VS where it was (make-before-break): a re-run converges.
    """
    pending = list(jobs)
    active = []
    total = len(jobs)
    done = 0

    def start(job):
        action = job.get("action", "migrate")
        body = migrate_body(client, job["vip_id"], job.get("from_se"), job.get("to_se"),
                            job.get("to_host"), job.get("to_new_se"))
        job.setdefault("restarts", 0)
        job["polls"] = 0
        job["seen_busy"] = False
        try:
            client.post("virtualservice/%s/%s" % (job["uuid"], action), body)
        except AviError as exc:
            if exc.status == 409:
                # Another operation on this VS runs (or our own retried request was accepted):
                # wait for it, then look again.
                job["busy_before_start"] = True
            else:
                job["result"] = "failed"
                job["error"] = exc.msg
                return False
        progress.update(action, "%s VS %s (vip %s)" % (VERB[action], job["name"], job["vip_id"]),
                        percent=0, vs=job["name"])
        return True

    def finish(job, summary):
        ses = [e["se_uuid"] for e in _se_entries(summary)]
        job["after"] = ses
        if job.get("busy_before_start"):
            job["busy_before_start"] = False
            if job.get("from_se") and job["from_se"] in ses and job["restarts"] < 3:
                job["restarts"] += 1
                return start(job) and None
        action = job.get("action", "migrate")
        if action == "scaleout":
            done = len(ses) > len(job.get("before") or []) and (not job.get("to_se") or job["to_se"] in ses)
        elif action == "scalein":
            done = job.get("from_se") not in ses
        else:
            done = (job.get("from_se") not in ses) if job.get("from_se") else (ses != job.get("before"))
            if job.get("to_se"):
                done = done and job["to_se"] in ses
        if done:
            job["result"] = DONE_RESULT[action]
        else:
            job["result"] = "failed"
            last = summary.get("lab_last_operation") or {}
            reason = (last.get("reason") if last.get("result") == "failed" else None) or summary.get(
                "migrate_state") or summary.get("reason") or "placement unchanged"
            job["error"] = "%s of VS '%s' did not complete: %s" % (
                "migration" if action == "migrate" else action, job["name"], reason)
        return True

    deadline = clock() + timeout

    def fresh_budget():
        # Polling restarts fast whenever a migration ends, so the next one starts promptly.
        sleeps_left = poll_sleeps(max(0.0, deadline - clock()), interval, clock=clock, sleep=sleep)
        next(sleeps_left)  # the first attempt is immediate: this one is running now
        return sleeps_left

    budget = fresh_budget()
    while True:
        finished_now = 0
        while pending and len(active) < concurrency:
            job = pending.pop(0)
            if start(job):
                active.append(job)
            else:
                done += 1
        still = []
        for job in active:
            summary = read_vip_runtime(client, job["uuid"], job["vip_id"])
            job["polls"] += 1
            if _busy(summary):
                job["seen_busy"] = True
                percent = summary.get("progress_percent")
                action = job.get("action", "migrate")
                progress.update(action, "%s VS %s (vip %s)" % (VERB[action], job["name"], job["vip_id"]),
                                percent=percent, vs=job["name"], done=done, total=total)
                still.append(job)
                continue
            ses = [e["se_uuid"] for e in _se_entries(summary)]
            settled = job["seen_busy"] or job["polls"] >= 3 or (
                job.get("from_se") and job["from_se"] not in ses)
            if not settled:
                still.append(job)
                continue
            finished = finish(job, summary)
            if finished is None:  # restarted after someone else's operation
                still.append(job)
                continue
            done += 1
            finished_now += 1
            progress.update(job.get("action", "migrate"), "VS %s %s (%d/%d)" % (job["name"], job["result"], done, total),
                            percent=100 if job["result"] != "failed" else None, vs=job["name"],
                            done=done, total=total)
        active = still
        if not active and not pending:
            return jobs
        if finished_now:
            budget = fresh_budget()
        try:
            next(budget)
        except StopIteration:
            break
    left = [job["name"] for job in active + pending]
    raise WaitTimeout("timed out after %s seconds waiting for the migration of %s"
                      % (timeout, ", ".join(left)), last=jobs)


# ---------------------------------------------------------------------------------------------
# Lookups used by the modules
# ---------------------------------------------------------------------------------------------
def find_in(objects, value, kind, option=None):
    """The object of ``objects`` (uuid -> dict) whose uuid or name is exactly ``value``; PlacementError
    naming ``option`` and the closest names else."""
    if value is None or not str(value).strip():
        raise PlacementError("%s%s name or uuid must not be empty or blank (got %r)"
                             % ("%s: " % option if option else "", kind, value))
    if value in objects:
        return objects[value]
    matches = [o for o in objects.values() if o.get("name") == value]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise PlacementError("%s%s name '%s' is ambiguous (%d objects): use the uuid"
                             % ("%s: " % option if option else "", kind, value, len(matches)))
    raise PlacementError(not_found(kind, value, [o.get("name") or u for u, o in objects.items()], option))


def se_brief(placement_or_planner, se_uuid):
    ses = placement_or_planner.ses
    se = ses.get(se_uuid)
    if se is None:
        return {"name": se_uuid, "uuid": se_uuid}
    return {"name": se["name"], "uuid": None if se.get("new") else se["uuid"]}
