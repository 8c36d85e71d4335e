# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Predicting where the Avi controller places a virtual service, on a copy of a ``Placement``.

:class:`Planner` mirrors the documented placement rules (an SE can take a VS when it is enabled, up, in the
VS's group, holds fewer than ``max_vs_per_se`` VSs and does not already host it; PACKED fills existing SEs,
DISTRIBUTED prefers a new SE while the group is below ``max_se``; a new SE needs ``max_se`` room and a cloud
whose access mode lets the controller create SEs). Everything else is a prediction, and is labelled so: the
controller's choice among eligible SEs (ties are broken by name here), whether it creates an SE or fills an
existing one, and the host of a new SE. Capacity comes only from what the vendor exposes (``max_se``,
``max_vs_per_se``, the cloud's access mode, the SEs and their states); how many SEs a host can still run is
not exposed by any vendor object, so it is reported as unknown and never counted as free room.
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

    def hosts_of(self, cloud_uuid):
        """The hosts of the cloud that are not in maintenance. Whether they have room is unknown."""
        return [host for host in self.placement.hosts.values()
                if not (cloud_uuid and host.get("cloud_uuid") and host["cloud_uuid"] != cloud_uuid)
                and not host.get("maintenance_mode")]

    def creation_blocker(self, group_uuid, host_uuid=None):
        """Why no SE can be created in the group (None when the vendor's limits allow one)."""
        group = self.group(group_uuid)
        count = len(self._group_ses(group_uuid))
        if count >= group["max_se"]:
            return "group '%s' has reached max_se (%d of %d SEs, disabled SEs count)" % (
                group["name"], count, group["max_se"])
        cloud = self.placement.clouds.get(group.get("cloud_uuid"))
        if cloud is not None and cloud.get("can_create_se") is not True:
            return cloud.get("create_blocked_by") or "cloud '%s' cannot create SEs" % cloud["name"]
        if host_uuid is not None:
            host = self.placement.hosts.get(host_uuid)
            if host is None or host_uuid not in [h["uuid"] for h in self.hosts_of(group.get("cloud_uuid"))]:
                return "host '%s' is not an available host of the group's cloud (unknown, another cloud's, or in " \
                       "maintenance)" % (host["name"] if host else host_uuid)
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
        """An SE the controller would create (the host is the controller's choice unless one is named)."""
        group = self.group(vs["group_uuid"])
        host = self.placement.hosts.get(host_uuid) if host_uuid else None
        number = len(self.created) + 1
        se = {
            "uuid": "new-se-%d" % number,
            "name": "new SE %d%s" % (number, " on %s" % host["name"] if host else ""),
            "group_uuid": vs["group_uuid"], "cloud_uuid": group.get("cloud_uuid"),
            "host_uuid": host_uuid, "enable_state": SE_ENABLED,
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
        blocker = self.creation_blocker(group_uuid)
        count = len(self._group_ses(group_uuid))
        return {"virtual_services_to_move": needed, "other_enabled_ses": len(others),
                "free_slots": free, "max_vs_per_se": group["max_vs_per_se"],
                "group_ses": count, "max_se": group["max_se"],
                "new_ses_allowed": 0 if blocker else max(0, group["max_se"] - count),
                "creation_blocker": blocker,
                "host_capacity": "unknown: no vendor object says how many service engines a host can run"}

    def pairs_on(self, se_uuid):
        """(vs, vip_id) pairs on an SE in the simulation (moves already planned included), by VS name."""
        pairs = []
        for vs_uuid in self.ses[se_uuid]["vs_uuids"]:
            vs = self.placement.vss.get(vs_uuid)
            if vs is None:
                continue
            vip_ids = sorted(vs["vips"]) or ["0"]
            here = [v for v in vip_ids if any(e["se_uuid"] == se_uuid for e in vs["vips"].get(v, []))]
            pairs += [(vs, v) for v in (here or vip_ids[:1])]
        pairs.sort(key=lambda p: (p[0]["name"], p[1]))
        return pairs

    def remove(self, se_uuid):
        """Take an (empty) SE out of the simulation, as deleting it would."""
        self.ses.pop(se_uuid, None)

    def plan_evacuation(self, se_uuid):
        """Predict where every VS on ``se_uuid`` goes. Raises PlacementError saying what is short."""
        source = self.ses[se_uuid]
        pairs = self.pairs_on(se_uuid)
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
                              "created_se": bool(target["new"]), "predicted": True})
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
