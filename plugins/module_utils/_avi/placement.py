# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Placement of Avi virtual services on service engines, as it is: :func:`load_placement` reads SE
groups, clouds, hosts, the SE inventory and the VS inventory into a :class:`Placement` snapshot;
:func:`find_in` looks names up in it. Predicting placement is ``_avi.planner``'s, changing it
``_avi.vs_operations``'s.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found

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

GROUP_DEFAULTS = {"max_se": 10, "max_vs_per_se": 10, "min_scaleout_per_vs": 1,
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

    def vip_ses(self, vs_uuid, vip_id):
        """The UUIDs of the SEs one vip of a VS is placed on ([] for a VS or vip not in the inventory)."""
        return [e["se_uuid"] for e in (self.vss.get(vs_uuid) or {}).get("vips", {}).get(vip_id, [])]

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
    group = dict(GROUP_DEFAULTS)
    for key in ("max_se", "max_vs_per_se", "min_scaleout_per_vs", "max_scaleout_per_vs", "algo",
                "ha_mode", "min_se", "buffer_se"):
        if obj.get(key) is not None:
            group[key] = obj[key]
    group.update(uuid=obj.get("uuid"), name=obj.get("name"), cloud_uuid=ref_uuid(obj.get("cloud_ref")))
    return group


# Cloud types whose access mode is a ``privilege`` (NO_ACCESS, READ_ACCESS, WRITE_ACCESS) in their configuration:
# only write access lets the controller create SEs ("Write, which also allows Avi to create Service Engines",
# vCenterConfiguration.privilege, alb-sdk swagger/Cloud.json).
PRIVILEGE_CONFIG = {"CLOUD_VCENTER": "vcenter_configuration", "CLOUD_OPENSTACK": "openstack_configuration",
                    "CLOUD_VCA": "vca_configuration"}


def cloud_can_create(obj):
    """(True, None) when the controller may create SEs in the cloud, (False, why) when it may not, (None, why)
    when the cloud object does not say (its access mode is not readable)."""
    vtype = obj.get("vtype")
    if vtype == "CLOUD_NONE":
        return False, "cloud '%s' has no orchestrator (CLOUD_NONE): service engines are made by hand" % obj.get("name")
    config = PRIVILEGE_CONFIG.get(vtype)
    if config is None:
        return (True, None) if vtype else (None, "cloud '%s' has no vtype" % obj.get("name"))
    privilege = (obj.get(config) or {}).get("privilege")
    if privilege == "WRITE_ACCESS":
        return True, None
    if privilege:
        return False, "cloud '%s' (%s) has %s.privilege %s: only WRITE_ACCESS lets the controller create service " \
                      "engines" % (obj.get("name"), vtype, config, privilege)
    return None, "cloud '%s' (%s) does not show its %s.privilege: whether the controller may create service " \
                 "engines there is unknown" % (obj.get("name"), vtype, config)


def _cloud(obj):
    can_create, why = cloud_can_create(obj)
    return {"uuid": obj.get("uuid"), "name": obj.get("name"), "vtype": obj.get("vtype"),
            "can_create_se": can_create, "create_blocked_by": why}


def _host(obj):
    # No vendor object says how many SEs a host can run: host capacity is unknown, never free room.
    return {"uuid": obj.get("uuid"), "name": obj.get("name"), "cloud_uuid": ref_uuid(obj.get("cloud_ref")),
            "maintenance_mode": bool(obj.get("maintenance_mode"))}


def se_from_inventory(item):
    """An SE from the SE inventory: ServiceEngineInventory (22.1.1 and later: ``config.vs_refs``, ``host_ref``)
    or the inventory of earlier releases (``config.virtualservice_refs``, no ``host_ref``)."""
    config = item.get("config") or {}
    runtime = item.get("runtime") or {}
    vs_refs = config.get("vs_refs")
    if vs_refs is None:
        vs_refs = config.get("virtualservice_refs")
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
        "vs_uuids": set(ref_uuid(r) for r in vs_refs or []),
    }


def vs_from_inventory(item):
    config = item.get("config") or {}
    runtime = item.get("runtime") or {}
    vips, busy = {}, {}
    for vip in config.get("vip") or []:
        vips.setdefault(str(vip.get("vip_id", "0")), [])
    for summary in as_list(runtime.get("vip_summary")):
        vip_id = str(summary.get("vip_id", "0"))
        vips[vip_id] = se_entries(summary)
        busy[vip_id] = vip_busy(summary)
    return {
        "uuid": item.get("uuid") or config.get("uuid"),
        "name": config.get("name"),
        "group_uuid": ref_uuid(config.get("se_group_ref")),
        "cloud_uuid": ref_uuid(config.get("cloud_ref")),
        "enabled": config.get("enabled", True),
        "oper_state": _state(runtime.get("oper_status")),
        "vips": vips,
        "busy": busy,
    }


# What says a placement change is under way, in the vendor's runtime: on a VIP's summary (the VS runtime,
# VirtualServiceRuntimeSummary / VipRuntimeSummary) and on each SE of it (VipSeAssigned).
SUMMARY_BUSY = ("migrate_in_progress", "scaleout_in_progress", "scalein_in_progress", "se_create_in_progress",
                "migrate_scaleout_pending", "migrate_scalein_pending", "user_scaleout_pending")
SE_BUSY = ("scaleout_in_progress", "scalein_in_progress", "se_ready_in_progress", "attach_ip_in_progress",
           "detach_ip_in_progress")
OPER_CREATING = "OPER_CREATING"


def vip_busy(summary):
    """The in-progress flags the controller shows for one VIP (names of the flags that are set), plus
    ``OPER_CREATING`` when an SE of it is still being created or joining."""
    flags = [key for key in SUMMARY_BUSY if summary.get(key)]
    for se in summary.get("service_engine") or []:
        flags += [key for key in SE_BUSY if se.get(key) and key not in flags]
        if _state(se.get("oper_status")) == OPER_CREATING and OPER_CREATING not in flags:
            flags.append(OPER_CREATING)
    return flags


def se_entries(summary):
    entries = []
    for se in summary.get("service_engine") or []:
        entries.append({
            "se_uuid": se.get("uuid") or ref_uuid(se.get("ref")),
            "primary": bool(se.get("primary")),
            "standby": bool(se.get("standby")),
            "oper_state": _state(se.get("oper_status")),
            "scalein_in_progress": bool(se.get("scalein_in_progress")),
            "scaleout_in_progress": bool(se.get("scaleout_in_progress")),
        })
    return entries


def load_placement(client, group_uuid=None, static=None):
    """Read everything placement depends on. ``group_uuid`` limits SEs and VSs to one group. ``static``: an
    earlier Placement whose groups, clouds and hosts are reused (only SEs and VSs are read again)."""
    flt = {"se_group_ref": group_uuid} if group_uuid else {}
    if static is not None:
        groups, clouds, hosts = static.groups, static.clouds, static.hosts
    else:
        groups = dict((g["uuid"], _group(g)) for g in client.get_all("serviceenginegroup"))
        clouds = dict((c["uuid"], _cloud(c)) for c in client.get_all("cloud"))
        hosts = dict((h["uuid"], _host(h)) for h in client.get_all("vimgrhostruntime"))
    ses = {}
    items = client.get_all("serviceengine-inventory", params=dict(flt, include_name="true"))
    for item in items:
        se = se_from_inventory(item)
        ses[se["uuid"]] = se
    if any("host_ref" not in (i.get("config") or {}) and "vs_refs" not in (i.get("config") or {}) for i in items):
        # before 22.1 the inventory has no host_ref: the SE objects have it
        for obj in client.get_all("serviceengine", params=dict(flt, fields="host_ref")):
            if obj.get("uuid") in ses:
                ses[obj["uuid"]]["host_uuid"] = ref_uuid(obj.get("host_ref"))
    vss = {}
    for item in client.get_all("virtualservice-inventory", params=dict(flt, include_name="true")):
        vs = vs_from_inventory(item)
        vss[vs["uuid"]] = vs
        for entries in vs["vips"].values():
            for entry in entries:
                if entry["se_uuid"] in ses:
                    ses[entry["se_uuid"]]["vs_uuids"].add(vs["uuid"])
    return Placement(groups, clouds, hosts, ses, vss)


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
