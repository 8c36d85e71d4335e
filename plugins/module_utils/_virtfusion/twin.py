# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The twin of a VirtFusion control server, read-only (research-triton-vf.md V9): the REST API's
``GET /compute/hypervisors`` (paged: ``results``, ``page``, ``last_page``; since 7.1.0), the servers of each
hypervisor with ``vfcli-ctrl server:migrate-live servers --src=HV --json`` over SSH (the one documented JSON of
that command), ``GET /servers/{id}`` for each, and ``GET /compute/hypervisors/groups/{groupId}/resources`` of each
hypervisor group (the limits the capacity-aware placement reads, when the hypervisor answer has none).

The paths are the vendor's; the field names read from the answers (hypervisors: ``id``, ``name``, ``sshEnabled``,
``sshPort``, ``cpu``, ``storage``, ``ipRanges``, ``groupId``, ``maxServers``, ``maxCpu``, ``maxMemory``, and
``enabled``, ``maintenance``, ``prohibit`` kept in the twin section as ``hypervisor_state``, which the fleet playbook's
health wait reads; servers: ``name``, ``uuid``, ``hypervisorId``, ``state``, ``memory``, ``cpu``, ``nics``, ``disks``;
group resources: ``hypervisorId``, ``servers``, ``cpu``, ``memory`` as ``{allocated, max}``, ``storage`` as
``[{storageId, max}]``) are observed, not documented: a field missing from an answer is written null and
listed as unknown, never guessed.

When a server answer lists no disks (the vendor documents none in it), the disks come from the hybrid destination
endpoint, ``GET /servers/{serverId}/migrate/hybrid/destinations/{destinationId}`` [vendor, since 7.1.0: "Resource,
storage and networking detail for one destination, plus ready-to-send start bodies"; read-only; the one the
migration's storage pre-check reads]: each drive's ``drive``, ``size``, ``sourceStorageId`` and ``mount``, and the
destination's storage options ``storage [{storageId, mount, enabled}]`` (field names observed in the lab, not
documented), which also give a hypervisor's storage when its own answer has none. One call per such server, and one
per hypervisor whose storage is still unknown after them; what no answer gives stays null and unknown, never 0.

Never exported: the API token, SSH keys, server passwords, hostnames beyond the server's name, rDNS, user ids.
Guest memory activity and disk contents are unknown to any API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import VirtFusionError

PAGE = 200
LAB_STATES = ("online", "offline", "suspended")


def _data(answer):
    return answer.get("data") if isinstance(answer, dict) and "data" in answer else answer


def read_hypervisors(client):
    """Every hypervisor of ``GET /compute/hypervisors`` (all pages)."""
    out = []
    page = 1
    while True:
        answer = client.rest("GET", "/compute/hypervisors?results=%d&page=%d" % (PAGE, page))
        items = _data(answer) or []
        if isinstance(items, dict):
            items = [items]
        out.extend(i for i in items if isinstance(i, dict))
        last = answer.get("last_page") if isinstance(answer, dict) else None
        if not isinstance(last, int) or page >= last or not items:
            return out
        page += 1


def read_destination(client, server_id, dst, twin):
    """The ``data`` of ``GET /servers/{id}/migrate/hybrid/destinations/{dst}`` (read-only), or None when it cannot be
    read (before 7.1.0: no such endpoint; noted)."""
    try:
        data = _data(client.rest("GET", "/servers/%s/migrate/hybrid/destinations/%s" % (server_id, dst)))
    except VirtFusionError as exc:
        twin.note("the hybrid destination endpoint of server %s (destination %s) could not be read (%s): its disks "
                  "and that storage stay unknown" % (server_id, dst, exc.reason))
        return None
    return data if isinstance(data, dict) else None


def _size(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def disks_from_destination(data, src, dst, learned):
    """The server's disks from a destination answer (``None`` when it lists none), and each storage it shows
    (the source's per drive, the destination's options) added to ``learned`` ({hypervisor id: {storage id: entry}})."""
    disks = []
    for d in data.get("disks") or []:
        if not isinstance(d, dict):
            continue
        sid = d.get("sourceStorageId")
        if isinstance(sid, int) and d.get("mount"):
            learned.setdefault(src, {}).setdefault(sid, {"id": sid, "mount": d["mount"], "enabled": True})
        for o in d.get("storage") or []:
            if isinstance(o, dict) and isinstance(o.get("storageId"), int) and o.get("mount"):
                learned.setdefault(dst, {})[o["storageId"]] = {"id": o["storageId"], "mount": o["mount"],
                                                               "enabled": o.get("enabled", True) is not False}
        disks.append({"drive": d.get("drive"), "storage": sid if isinstance(sid, int) else None,
                      "size": _size(d.get("size")), "data": None})
    return disks or None


def _destination_for(server_hv, hv_ids, unknown_storage):
    """The hypervisor to ask about: one whose storage is still unknown, else any other, else the server's own."""
    others = [h for h in hv_ids if h != server_hv]
    return next((h for h in others if h in unknown_storage), others[0] if others else server_hv)


LIMITS = (("max_servers", "maxServers", "servers"), ("max_cpu", "maxCpu", "cpu"), ("max_memory", "maxMemory", "memory"))


def read_group_resources(client, gid, twin):
    """{hypervisorId: item} of ``GET /compute/hypervisors/groups/{gid}/resources`` (all pages) [vendor: the path and
    "server counts, CPU, memory and storage allocation against each hypervisor's limits"; field names observed, the
    ones the capacity-aware placement reads]; {} when the answer cannot be read (noted: the limits are then unknown)."""
    out = {}
    page = 1
    while True:
        try:
            answer = client.rest("GET", "/compute/hypervisors/groups/%s/resources?results=%d&page=%d" % (gid, PAGE, page))
        except VirtFusionError as exc:
            twin.note("the resources of hypervisor group %s could not be read (%s): its limits are unknown"
                      % (gid, exc.reason))
            return out
        for item in (_data(answer) if isinstance(answer, dict) else answer) or []:
            if isinstance(item, dict) and "hypervisorId" in item:
                out[item["hypervisorId"]] = item
        last = answer.get("last_page") if isinstance(answer, dict) else None
        if not isinstance(last, int) or page >= last:
            return out
        page += 1


def _limits(hv, resources):
    """The hypervisor's limits as the vendor gives them: its own answer's ``maxServers``, ``maxCpu``, ``maxMemory``,
    else the ``max`` of the group resources (0: "not set", kept as 0); None when neither answer has it."""
    out = {}
    for key, field, resource in LIMITS:
        value = hv.get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            item = resources.get(resource) if isinstance(resources, dict) else None
            value = item.get("max") if isinstance(item, dict) else None
        out[key] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
    return out


def _hv_storage(hv, sizes):
    out = []
    for s in hv.get("storage") or []:
        if isinstance(s, dict):
            size = s.get("size") if isinstance(s.get("size"), int) else sizes.get(s.get("id"))
            out.append({"id": s.get("id"), "mount": s.get("mount"), "enabled": s.get("enabled", True) is not False,
                        "size": size if isinstance(size, int) and size >= 0 else None})
    return out


def export_virtfusion(client, twin):
    """Fill ``twin`` from the control server behind ``client``; returns nothing."""
    p = twin.pseudonyms
    hypervisors = sorted(read_hypervisors(client), key=lambda h: (str(h.get("name") or ""), h.get("id") or 0))
    out_hvs = []
    states = {}
    groups = {}
    sizes_of = {}
    for gid in sorted(set(hv.get("groupId") for hv in hypervisors if isinstance(hv.get("groupId"), int))):
        groups[gid] = read_group_resources(client, gid, twin)
    for hv in hypervisors:
        name = p.name("hv", hv.get("name") or str(hv.get("id")))
        cpu = hv.get("cpu") if isinstance(hv.get("cpu"), dict) else None
        gid = hv.get("groupId") if isinstance(hv.get("groupId"), int) else None
        resources = groups.get(gid, {}).get(hv.get("id")) or {}
        sizes = dict((r.get("storageId"), r.get("max")) for r in resources.get("storage") or [] if isinstance(r, dict))
        sizes_of[hv.get("id")] = sizes
        storage = _hv_storage(hv, sizes)
        limits = _limits(hv, resources)
        entry = {"id": hv.get("id"), "name": name, "group": gid,
                 "cpu": {"vendor": cpu.get("vendor"), "flags": list(cpu.get("flags") or [])} if cpu else None,
                 "storage": storage or None,
                 "ip_ranges": [p.network(r) for r in hv.get("ipRanges") or []] if "ipRanges" in hv else None,
                 "ssh": {"enabled": hv.get("sshEnabled"), "port": hv.get("sshPort")}
                 if "sshEnabled" in hv else None}
        for key, field in (("cpu", "cpu"), ("ip_ranges", "ipRanges"), ("ssh", "sshEnabled")):
            if entry[key] is None:
                twin.mark_unknown("virtfusion.hypervisors[*].%s" % key,
                                  "the hypervisor answer has no %s (field names observed, not documented)" % field,
                                  "the lab's default")
        entry.update(limits)
        if gid is None:
            twin.mark_unknown("virtfusion.hypervisors[*].group", "the hypervisor answer has no groupId",
                              "group 1 in the lab")
        for key, field, _resource in LIMITS:
            if limits[key] is None:
                twin.mark_unknown("virtfusion.hypervisors[*].%s" % key,
                                  "neither the hypervisor answer (%s) nor its group's resources give it" % field,
                                  "0 in the lab: not set, so the hypervisor's room is unknown to the placement")
        # as the vendor's answer shows them (null when missing): the fleet playbook's health wait reads them
        states[name] = dict((key, hv.get(key) if isinstance(hv.get(key), bool) else None)
                            for key in ("enabled", "maintenance", "prohibit"))
        for flag in ("maintenance", "prohibit"):
            if hv.get(flag):
                twin.note("hypervisor %s has %s set at the source; the lab does not model it" % (name, flag))
        if hv.get("enabled") is False:
            twin.note("hypervisor %s is disabled at the source; the lab does not model it" % name)
        out_hvs.append(entry)
    twin.extra["hypervisor_state"] = states

    hv_ids = [hv.get("id") for hv in hypervisors]
    unknown_storage = set(e["id"] for e in out_hvs if e["storage"] is None)
    learned = {}   # {hypervisor id: {storage id: {id, mount, enabled}}} from the hybrid destination endpoint
    out_servers = []
    in_flight = []
    for hv in hypervisors:
        listed = client.servers(hv.get("id")) or []
        for item in sorted(listed, key=lambda s: s.get("id") or 0):
            try:
                server = _data(client.rest("GET", "/servers/%s" % item.get("id"))) or {}
            except VirtFusionError as exc:
                twin.note("server %s could not be read (%s): left out" % (item.get("id"), exc.reason))
                continue
            name = p.name("server", server.get("name") or item.get("name") or str(item.get("id")))
            state = server.get("state")
            if state not in LAB_STATES:
                twin.note("server %s is %s at the source; the lab models it offline" % (name, state))
                state = "offline" if state else None
            nics = []
            for nic in server.get("nics") or []:
                if isinstance(nic, dict):
                    nics.append({"name": nic.get("name"), "ips": [p.address(ip) for ip in nic.get("ips") or []],
                                 "nat": bool(nic.get("nat"))})
            disks = []
            for disk in server.get("disks") or []:
                if isinstance(disk, dict):
                    disks.append({"drive": disk.get("drive"), "storage": disk.get("storageId"),
                                  "size": _size(disk.get("size")), "data": None})
            sid = server.get("id", item.get("id"))
            where = server.get("hypervisorId", hv.get("id"))
            if not disks:   # the documented answer lists none: the destination endpoint does, with their sizes
                dst = _destination_for(where, hv_ids, unknown_storage - set(learned))
                data = read_destination(client, sid, dst, twin)
                disks = disks_from_destination(data, where, dst, learned) if data else None
            entry = {"id": sid, "name": name,
                     "uuid": p.uuid("server", server.get("uuid") or item.get("uuid")),
                     "hypervisor": where, "state": state,
                     "memory": server.get("memory"),
                     "cpu": server.get("cpu") if isinstance(server.get("cpu"), int) else None, "dirty_rate": None, "nics": nics,
                     "disks": disks}
            if disks is None:
                twin.mark_unknown("virtfusion.servers[*].disks", "neither the server answer nor the hybrid destination "
                                  "endpoint lists the server's disks", "no disks in the lab: the storage pre-check "
                                  "and the capacity check are unknown")
            elif any(d["size"] is None for d in disks):
                twin.mark_unknown("virtfusion.servers[*].disks[*].size", "neither the server answer nor the hybrid "
                                  "destination endpoint gives a drive's size", "assume.virtfusion_max_disk_size in "
                                  "the lab")
            if entry["memory"] is None:
                twin.mark_unknown("virtfusion.servers[*].memory", "the server answer has no memory",
                                  "the lab's default guest memory")
            if entry["cpu"] is None:
                twin.mark_unknown("virtfusion.servers[*].cpu", "the server answer has no cpu", "1 core in the lab")
            migration = server.get("migration") if isinstance(server.get("migration"), dict) else None
            if migration and migration.get("status") == "in-progress":
                in_flight.append({"server": name, "type": migration.get("type")})
            out_servers.append(entry)
    # a hypervisor no server answer showed the storage of: ask about it as a destination (one call, any server)
    for hid in sorted(h for h in unknown_storage - set(learned) if h is not None):
        subject = next((s for s in out_servers if s["hypervisor"] != hid), out_servers[0] if out_servers else None)
        if subject is not None:
            data = read_destination(client, subject["id"], hid, twin)
            if data:
                disks_from_destination(data, subject["hypervisor"], hid, learned)
    for entry in out_hvs:
        if entry["storage"] is None and learned.get(entry["id"]):
            entry["storage"] = _hv_storage({"storage": [st for _sid, st in sorted(learned[entry["id"]].items())]},
                                           sizes_of.get(entry["id"]) or {})
        if entry["storage"] is None:
            twin.mark_unknown("virtfusion.hypervisors[*].storage", "neither the hypervisor answer nor the hybrid "
                              "destination endpoint shows its storage", "the lab's default")
        elif any(s["size"] is None for s in entry["storage"]):
            twin.mark_unknown("virtfusion.hypervisors[*].storage[*].size",
                              "neither the hypervisor answer nor its group's resources give the storage's size",
                              "0 in the lab: no limit")
    twin.mark_unknown("virtfusion.servers[*].dirty_rate",
                      "how fast a guest writes its memory is not in any VirtFusion API",
                      "an idle guest (assume.virtfusion_dirty_rate MiB/s)")
    twin.mark_unknown("virtfusion.servers[*].disks[*].data",
                      "how much of a disk is written is not in any VirtFusion API", "1 MiB per disk in the lab")
    twin.leave_out("the API token, SSH keys, server passwords, hostnames, rDNS, user ids")
    if in_flight:
        twin.note("%d migration(s) in flight at export; the twin starts with none" % len(in_flight))
    twin.extra["in_flight"] = in_flight
    twin.topology["virtfusion"] = {"api_token": None, "hypervisors": out_hvs, "servers": out_servers}
    twin.source = {"vendor": "VirtFusion", "api": "REST /api/v1 (7.1.0+) and vfcli-ctrl over SSH"}


def virtfusion_twin(params, twin):
    """The ``twin_export`` entry point for ``provider: virtfusion``: SSH and REST (``virtfusion_credentials``,
    then the ``VIRTFUSION_*`` environment variables), the export, then ``(api_stats, secrets)``."""
    from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import VirtFusionClient
    from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import resolve_connection
    conn = resolve_connection({"virtfusion_credentials": params.get("virtfusion_credentials") or {}})
    client = VirtFusionClient(conn)
    try:
        export_virtfusion(client, twin)
    finally:
        client.close()
    return dict(client.stats), [("API token", conn.get("api_token")), ("SSH private key", conn.get("private_key"))]
