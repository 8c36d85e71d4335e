# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The logic of the se_group_refresh module: move the service engines of a group onto a redefined hardware
(vCPUs, memory, disk, flavor in the SE group), the vendor's way: the group's hardware settings apply only to
SEs created afterwards ("Changes to this setting do not affect existing SEs"), so each SE built on the old
definition is replaced, one at a time: disabled (the controller moves its virtual services "in the usual
way", creating SEs where placement needs them, which get the new definition), verified empty, deleted. The
controller creates SEs when placement needs them; nothing promises one new SE per deleted one, so the module
reports what the controller created and never assumes a count (vendor sources: /work/notes/research-avi.md
Q5; docs/docsite/rst/guide_evacuate_se.rst).

One decision for plan and run: the steps (the group's hardware change, then one replacement per SE) are
decided once; check mode returns them with the placement the controller is predicted to choose for each
evacuation (a prediction), a run executes them. Refused before any change: a legacy active/standby group
(its SEs are switched over, not disabled one by one), a cloud in which the controller cannot create SEs
(no orchestrator, read or no access: the VMs would have to be made by hand), and a group that could not
absorb an evacuation under its ``max_se`` (disabled SEs count).

Crash safety: an intent record on the controller (StringGroup ``fleetops-maintenance-se-group-refresh-<group
uuid>``) holds one entry per SE being replaced (its enable_state before) and the group's lease; a re-run
continues the replacement it finds there (an SE left disabled, with or without VSs, is evacuated and deleted)
and never acts while another run holds the group.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.intent import target_hold
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    HA_LEGACY,
    MIGRATE_STARTED,
    OPER_UP,
    SE_DISABLED,
    SE_ENABLED,
    PlacementError,
    load_placement,
    se_from_inventory,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.se_evacuation import (
    LEASE_SECONDS,
    PREDICTION,
    SERVING,
    EvacuationFailed,
    follow_evacuation,
    set_enable_state,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import run_migrations
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts

# SE group hardware settings, and the field of a ServiceEngine's ``resources`` (SeResources) each becomes
HARDWARE = (("vcpus_per_se", "num_vcpus"), ("memory_per_se", "memory"), ("disk_per_se", "disk"))
FLAVOR = ("instance_flavor", "flavor")


def record_target(group_uuid):
    return "se-group-refresh-%s" % group_uuid


class _Refresh(object):
    def __init__(self, module, client, progress):
        self.module = module
        self.client = client
        self.params = module.params
        self.progress = progress
        self.record = None
        self.hold = None

    # -- reading --------------------------------------------------------------------------------
    def read(self):
        client = self.client
        self.group_obj = group = client.resolve("serviceenginegroup", self.params["se_group"], option="se_group")
        self.group_uuid = group["uuid"]
        self.progress.update("read", "reading SE group %s" % group.get("name"))
        self.placement = load_placement(client, self.group_uuid)
        self.objects = dict((o["uuid"], o)
                            for o in client.get_all("serviceengine", params={"se_group_ref": self.group_uuid}))
        if self.hold is None:
            self.hold = target_hold(client, record_target(self.group_uuid), "SE group '%s'" % group["name"],
                                    self.progress, LEASE_SECONDS)
            self.record = self.hold.record
        self.left = self.hold.entries()

    def wanted(self):
        """The hardware definition wanted: each option given, else the group's own setting (which new SEs get)."""
        out = {}
        for field, _resource in HARDWARE + (FLAVOR,):
            value = self.params.get(field)
            if value is None:
                value = self.group_obj.get(field)
            if value not in (None, ""):
                out[field] = value
        return out

    def outdated(self, se_uuid, wanted):
        """[(setting, the SE's value, wanted)] where the SE was built on another definition."""
        obj = self.objects.get(se_uuid) or {}
        resources = obj.get("resources") or {}
        diffs = []
        for field, resource in HARDWARE:
            if field in wanted and resources.get(resource) is not None and resources.get(resource) != wanted[field]:
                diffs.append((field, resources.get(resource), wanted[field]))
        if FLAVOR[0] in wanted and obj.get(FLAVOR[1]) != wanted[FLAVOR[0]]:
            diffs.append((FLAVOR[0], obj.get(FLAVOR[1]), wanted[FLAVOR[0]]))
        return diffs

    # -- deciding -------------------------------------------------------------------------------
    def refuse(self, why):
        raise ModuleFailure("not refreshing SE group '%s': %s" % (self.group_obj.get("name"), why), **self.result)

    def decide(self):
        placement = self.placement
        group = Planner(placement).group(self.group_uuid)
        wanted = self.wanted()
        self.result["se_group"]["hardware"] = {
            "before": dict((f, self.group_obj.get(f)) for f in wanted), "after": wanted}
        if group.get("ha_mode") == HA_LEGACY:
            self.refuse("its ha_mode is %s: SEs of a legacy active/standby group are not disabled one by one; the "
                        "vendor's workflow is a switchover of the SE (switchover serviceengine), then moving it to a "
                        "maintenance SE group, after which the controller creates a replacement" % HA_LEGACY)
        cloud = placement.clouds.get(group.get("cloud_uuid")) or {}
        if cloud.get("can_create_se") is not True:
            self.refuse("the controller must create the replacement SEs, and %s"
                        % (cloud.get("create_blocked_by") or "the group's cloud is unknown"))
        steps = []
        change = dict((f, v) for f, v in wanted.items() if self.group_obj.get(f) != v)
        if change:
            steps.append(Step("set SE group %s: %s" % (group["name"], ", ".join(
                "%s %s -> %s" % (f, self.group_obj.get(f), v) for f, v in sorted(change.items()))),
                lambda: self.set_hardware(change)))
        recorded = [k.split("/", 1)[1] for k in self.left if k.startswith("se/")]
        todo, skipped = [], []
        for se in sorted(placement.group_ses(self.group_uuid), key=lambda s: (len(s["vs_uuids"]), s["name"] or "")):
            diffs = self.outdated(se["uuid"], wanted)
            if se["uuid"] in recorded:
                todo.insert(0, (se, diffs or [("replacement", "started by an earlier run", "to finish")]))
            elif not diffs:
                continue
            elif se["enable_state"] != SE_ENABLED:
                skipped.append({"name": se["name"], "uuid": se["uuid"], "why": "%s by the operator: left as it is"
                                % se["enable_state"]})
            else:
                todo.append((se, diffs))
        self.result["left_alone"] = skipped
        planner = Planner(placement)
        planned = []
        for se, diffs in todo:
            try:
                plan = planner.plan_evacuation(se["uuid"])
            except PlacementError as exc:
                self.refuse("the replacement of SE '%s' could not be absorbed: %s. Raise the group's max_se (disabled "
                            "SEs count until they are deleted) or free room on its other SEs" % (se["name"], exc))
            planner.remove(se["uuid"])
            planned.append({"name": se["name"], "uuid": se["uuid"], "virtual_services": len(plan["moves"]),
                            "outdated": [{"setting": f, "is": have, "wanted": want} for f, have, want in diffs],
                            "moves": plan["moves"]})
            steps.append(Step("replace SE %s (%d virtual service(s)): disable it, wait for the controller to move "
                              "them, verify, delete it" % (se["name"], len(plan["moves"])),
                              lambda se=se: self.replace(se)))
        self.result["plan"] = {"actions": texts(steps), "replacements": planned,
                               "created_service_engines": [s["name"] for s in planner.created],
                               "predicted": True, "prediction": PREDICTION + "; the controller may create more or "
                               "fewer SEs than it deletes"}
        return steps

    # -- steps ----------------------------------------------------------------------------------
    def set_hardware(self, change):
        self.progress.update("configure", "setting the hardware of SE group %s" % self.group_obj["name"])
        body = dict(self.client.get("serviceenginegroup/%s" % self.group_uuid))
        body.update(change)
        self.client.put("serviceenginegroup/%s" % self.group_uuid, body)
        self.group_obj.update(change)

    def _inventory_se(self, se_uuid):
        for item in self.client.get_all("serviceengine-inventory", params={"uuid": se_uuid, "include_name": "true"}):
            se = se_from_inventory(item)
            if se["uuid"] == se_uuid:
                return se
        return None

    def replace(self, se):
        name, uuid = se["name"], se["uuid"]
        key = "se/%s" % uuid
        now = self._inventory_se(uuid)
        if now is None:           # deleted already (an earlier run was stopped right after)
            self.record.forget(key)
            self.result["replaced"].append({"name": name, "uuid": uuid, "moved": [], "deleted": True})
            return
        if key not in self.left:
            self.record.remember(key, {"was": now["enable_state"], "run": self.record.run_id})
            self.left[key] = {"was": now["enable_state"]}
        hosted = set(now["vs_uuids"]) | set(v["uuid"] for v, _vip in self.placement.vs_on_se(uuid))
        before = dict((u, self.placement.vip_ses(u, "0")) for u in hosted if u in self.placement.vss)
        clock, sleep = self.clock()
        if now["enable_state"] == SE_DISABLED and now.get("migrate_state") != MIGRATE_STARTED and now["vs_uuids"]:
            self.move_left_over(now)         # the controller's evacuation ended with some left: one by one
        elif now["enable_state"] != SE_DISABLED:
            self.progress.update("disable", "disabling SE %s: the controller moves its %d virtual service(s)"
                                 % (name, len(hosted)))
            set_enable_state(self.client, uuid, SE_DISABLED)
        try:
            follow_evacuation(self.client, uuid, name, hosted, self.params["timeout"], self.params["wait_sleep"],
                              self.progress, on_tick=self.renew, clock=clock, sleep=sleep)
        except EvacuationFailed as exc:
            names = sorted(self.placement.vss[u]["name"] if u in self.placement.vss else u for u in exc.left)
            raise ModuleFailure("the controller could not move %d virtual service(s) off SE '%s': %s. They keep "
                                "serving there; the SE stays disabled. Run the task again to move them one by one "
                                "and continue." % (len(exc.left), name, ", ".join(names)), **self.result)
        after = load_placement(self.client, self.group_uuid, static=self.placement)
        lost = self.unplaced(after, hosted, avoid=uuid)
        if lost:
            raise ModuleFailure("not deleting SE '%s': %s" % (name, "; ".join(lost)), **self.result)
        self.progress.update("delete", "deleting SE %s (empty, disabled)" % name)
        try:
            self.client.call("DELETE", "serviceengine/%s" % uuid)
        except AviError as exc:
            if exc.status != 404:
                raise ModuleFailure("SE '%s' is empty and disabled but the controller refused to delete it: %s. It "
                                    "stays disabled; run the task again." % (name, exc.msg), **self.result)
        if self._inventory_se(uuid) is not None:
            raise ModuleFailure("SE '%s' is still in the inventory after its deletion" % name, **self.result)
        self.record.forget(key)
        self.left.pop(key, None)
        moved = []
        for vs_uuid in sorted(hosted, key=lambda u: after.vss[u]["name"] if u in after.vss else u):
            vs = after.vss.get(vs_uuid)
            if vs is None:
                continue
            now_on = after.vip_ses(vs_uuid, "0")
            new = [u for u in now_on if u not in before.get(vs_uuid, [])]
            moved.append({"name": vs["name"], "to_se": after.se_name(new[0]) if new else None})
        self.result["replaced"].append({"name": name, "uuid": uuid, "moved": moved, "deleted": True})
        self.progress.update("replaced", "SE %s replaced: %d virtual service(s) moved, SE deleted" % (name, len(moved)))
        self.placement = after

    def move_left_over(self, se):
        jobs = []
        for vs, vip_id in self.placement.vs_on_se(se["uuid"]):
            jobs.append({"uuid": vs["uuid"], "name": vs["name"], "vip_id": vip_id, "from_se": se["uuid"],
                         "before": self.placement.vip_ses(vs["uuid"], vip_id)})
        run_migrations(self.client, jobs, self.progress, concurrency=1, timeout=self.params["timeout"],
                       interval=self.params["wait_sleep"], group_uuid=self.group_uuid,
                       known_ses=set(self.placement.ses), on_tick=self.renew)
        failed = [job for job in jobs if job.get("result") != "moved"]
        if failed:
            raise ModuleFailure("could not move %s off SE '%s': %s" % (
                ", ".join(j["name"] for j in failed), se["name"], "; ".join(j.get("error") or "" for j in failed)),
                **self.result)

    @staticmethod
    def unplaced(after, vs_uuids, avoid=None):
        """What is wrong with these VSs now: gone, duplicated, or on no SE that is up (besides ``avoid``)."""
        problems = []
        for vs_uuid in vs_uuids:
            vs = after.vss.get(vs_uuid)
            if vs is None:
                problems.append("VS %s is gone from the inventory" % vs_uuid)
                continue
            if sum(1 for v in after.vss.values() if v["name"] == vs["name"]) != 1:
                problems.append("VS %s is in the inventory more than once" % vs["name"])
            for vip_id, entries in sorted(vs["vips"].items()):
                up = [e for e in entries if e["se_uuid"] != avoid and e.get("oper_state") in SERVING + (None,)]
                if not up:
                    problems.append("VS %s (vip %s) is placed on no SE that is up" % (vs["name"], vip_id))
        return problems

    def clock(self):
        retry = getattr(self.client, "retry", None)
        return getattr(retry, "clock", None) or time.monotonic, getattr(retry, "sleep", None) or time.sleep

    # -- the record -------------------------------------------------------------------------------
    def claim(self):
        self.left, contended = self.hold.claim_before_change(self.params, self.result)
        return contended

    def renew(self):
        self.hold.renew()

    def release(self):
        self.hold.release()

    # -- the run ----------------------------------------------------------------------------------
    def new_result(self):
        self.result = {
            "changed": False,
            "se_group": {"name": self.group_obj.get("name"), "uuid": self.group_uuid},
            "replaced": [], "left_alone": [], "created_service_engines": [],
            "service_engines": {"before": len(self.placement.group_ses(self.group_uuid)), "after": None},
            "intent": {"record": self.record.store.name, "taken_over_from": None,
                       "left_by_an_earlier_run": sorted(k for k in self.left if k.startswith("se/"))},
            "progress": self.progress.history,
        }

    def run(self):
        self.read()
        self.initial = set(se["uuid"] for se in self.placement.group_ses(self.group_uuid))
        self.vs_before = set(u for u, vs in self.placement.vss.items() if vs["group_uuid"] == self.group_uuid)
        self.new_result()
        steps = self.decide()
        if not steps:
            self.result["service_engines"]["after"] = self.result["service_engines"]["before"]
            return self.result
        self.result["changed"] = True
        self.result["diff"] = {"before": {"hardware": self.result["se_group"]["hardware"]["before"],
                                          "outdated_service_engines": [r["name"] for r in self.result["plan"]
                                                                       ["replacements"]]},
                               "after": {"hardware": self.result["se_group"]["hardware"]["after"],
                                         "outdated_service_engines": []}}
        if self.module.check_mode:
            self.progress.update("plan", "would replace %d SE(s) of group %s, one at a time (targets predicted)"
                                 % (len(self.result["plan"]["replacements"]), self.group_obj["name"]))
            return self.result
        if self.claim():
            # another run held the group: it may have done (part of) the work; decide again from what is now
            self.read()
            steps = self.decide()
            self.result["changed"] = bool(steps)
        for key in [k for k in self.left if k.startswith("se/") and k.split("/", 1)[1] not in self.placement.ses]:
            self.record.forget(key)      # an SE an earlier run deleted before it could say so
            self.left.pop(key, None)
        try:
            execute(steps)
            self.verify()
        finally:
            self.release()
        self.progress.update("done", "SE group %s: %d SE(s) replaced, %d created by the controller; end state "
                             "verified" % (self.group_obj["name"], len(self.result["replaced"]),
                                           len(self.result["created_service_engines"])), percent=100)
        return self.result

    def verify(self):
        """Every VS of the group present once and placed on an SE that is up, no SE left on the old hardware
        (except those skipped), and the SEs the controller created built on the new one."""
        after = load_placement(self.client, self.group_uuid, static=self.placement)
        self.objects = dict((o["uuid"], o) for o in self.client.get_all(
            "serviceengine", params={"se_group_ref": self.group_uuid}))
        problems = self.unplaced(after, self.vs_before)
        wanted = self.wanted()
        skipped = set(s["uuid"] for s in self.result["left_alone"])
        created = []
        for se in sorted(after.group_ses(self.group_uuid), key=lambda s: s["name"] or ""):
            diffs = self.outdated(se["uuid"], wanted)
            if se["uuid"] not in self.initial:
                resources = (self.objects.get(se["uuid"]) or {}).get("resources") or {}
                created.append({"name": se["name"], "uuid": se["uuid"],
                                "resources": dict((r, resources.get(r)) for _f, r in HARDWARE),
                                "oper_status": se["oper_state"]})
                if diffs:
                    problems.append("SE %s, created by the controller during the run, is not on the new hardware: %s"
                                    % (se["name"], ", ".join("%s %s (wanted %s)" % d for d in diffs)))
            elif diffs and se["uuid"] not in skipped:
                problems.append("SE %s is still on the old hardware: %s" % (
                    se["name"], ", ".join("%s %s (wanted %s)" % d for d in diffs)))
            elif se["enable_state"] == SE_ENABLED and se["oper_state"] not in (OPER_UP, None):
                problems.append("SE %s is %s" % (se["name"], se["oper_state"]))
        self.result["created_service_engines"] = created
        self.result["service_engines"]["after"] = len(after.group_ses(self.group_uuid))
        self.result["verified"] = {"virtual_services": len(self.vs_before), "problems": problems}
        if problems:
            raise ModuleFailure("SE group '%s': the end state is not what the refresh promised: %s"
                                % (self.group_obj["name"], "; ".join(problems)), **self.result)


def refresh_se_group(module, client, progress):
    return _Refresh(module, client, progress).run()
