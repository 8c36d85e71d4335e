# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Predicting where the Avi controller places a virtual service, on a copy of a ``Placement``.

:class:`Planner` mirrors the placement rules (an SE can take a VS when it is enabled, up, in the VS's
group, holds fewer than ``max_vs_per_se`` VSs and does not already host it; PACKED picks the fullest
eligible SE, DISTRIBUTED prefers a new SE while the group is below ``max_se`` and the cloud can create
SEs; a new SE needs ``max_se`` room, a cloud that creates SEs and a host with room). Tie-breaks (by
name) and the host chosen for a new SE are our assumption: the controller's exact choice is not
documented, so the plan is a prediction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    ALGO_DISTRIBUTED,
    GROUP_DEFAULTS,
    OPER_UP,
    SE_DISABLED,
    SE_ENABLED,
    PlacementError,
)


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
            group = dict(GROUP_DEFAULTS, uuid=group_uuid, name=group_uuid, cloud_uuid=None)
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
