# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The twin of a Triton data center, read-only, through the operator APIs (research-triton-vf.md T5): CNAPI
``GET /servers?extras=capacity`` (compute nodes, their size, reservation and unreserved capacity), VMAPI
``GET /vms?state=active`` (instances: size, owner, server, state, brand, the per-instance migration flag),
VMAPI ``GET /migrations?format=raw`` (migrations in flight, noted), and only when asked VMAPI
``POST /vms/:uuid?action=migrate&migration_action=estimate`` (VmMigrateEstimate: the bytes a first sync would
send; it runs a zfs size estimate on the instance's compute node: it reads, but it is not free).

Never exported: data, ``customer_metadata``, ``internal_metadata`` other than ``user_migration_allowed`` (it can
hold credentials), NIC addresses and MACs, server comments, account logins (VMAPI knows owners by uuid
only: the twin names them ``owner-NNN``). Instance ``tags`` are exported (disruption budgets select groups by tag,
and the vendor's ``smartdc_*`` tags mark its core zones): as they are, or with ``pseudonymise`` each key and value
replaced by a pseudonym (``tag-001: tagvalue-001``) like names, except the vendor's own ``smartdc_*`` tags.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonError

MIB = 1024 * 1024
PAGE = 1000
# the instance states the lab models; the others are noted
LAB_STATES = ("running", "stopped")


def _pages(call, path, params):
    """Every item of a VMAPI/CNAPI list read with ``limit``/``offset``; stops when a page is short or repeats."""
    out = []
    offset = 0
    seen_first = set()
    while True:
        query = dict(params, limit=PAGE, offset=offset)
        page = call("GET", path, params=query) or []
        if not isinstance(page, list):
            raise TritonError("GET %s: expected a list, got %s" % (path, type(page).__name__))
        if not page:
            return out
        first = page[0].get("uuid") if isinstance(page[0], dict) else None
        if first in seen_first:
            return out   # the server ignores offset: the first page was everything
        seen_first.add(first)
        out.extend(page)
        if len(page) < PAGE:
            return out
        offset += len(page)


def _mib(value_bytes):
    return int(value_bytes // MIB) if isinstance(value_bytes, (int, float)) else None


VENDOR_TAG_PREFIX = "smartdc_"   # the vendor's own tags (smartdc_type, smartdc_role): kept as they are


def instance_tags(p, tags):
    """An instance's tags as the twin holds them: as they are, or keys and values pseudonymised (names tables
    ``tag`` and ``tagvalue``) but for the vendor's ``smartdc_*``; None when VMAPI shows none."""
    if not isinstance(tags, dict):
        return None
    out = {}
    for key, value in sorted(tags.items()):
        if str(key).startswith(VENDOR_TAG_PREFIX) or not p.enabled:
            out[key] = value
        else:
            out[p.name("tag", str(key))] = p.name("tagvalue", str(value))
    return out


def export_triton(client, twin, estimate_data=False):
    """Fill ``twin`` from the data center behind ``client`` (operator APIs); returns nothing."""
    p = twin.pseudonyms
    servers = _pages(client.cnapi, "/servers", {"extras": "capacity"})
    vms = [vm for vm in _pages(client.vmapi, "/vms", {"state": "active"}) if not vm.get("do_not_inventory")]
    try:
        migrations = client.vmapi("GET", "/migrations", params={"format": "raw"}) or []
    except TritonError as exc:
        migrations = []
        twin.note("migrations in flight could not be read (%s)" % exc.msg)

    datacenter = next((s.get("datacenter") for s in servers if s.get("datacenter")), None)
    server_names = {}
    out_servers = []
    capacity = {}
    for server in sorted(servers, key=lambda s: s.get("hostname") or s.get("uuid") or ""):
        name = p.name("cn", server.get("hostname") or server["uuid"])
        server_names[server["uuid"]] = name
        ram = server.get("ram")
        if ram is None:
            ram = _mib(server.get("memory_total_bytes"))
        entry = {"name": name, "uuid": p.uuid("server", server["uuid"]), "ram": ram,
                 "disk": _mib(server.get("disk_pool_size_bytes")),
                 "reservation_ratio": server.get("reservation_ratio"), "reserved": bool(server.get("reserved")),
                 "status": server.get("status") or "unknown", "setup": server.get("setup", True) is not False,
                 "headnode": bool(server.get("headnode"))}
        for key, why in (("ram", "CNAPI gave neither ram nor memory_total_bytes"),
                         ("disk", "CNAPI gave no disk_pool_size_bytes"),
                         ("reservation_ratio", "CNAPI gave no reservation_ratio")):
            if entry[key] is None:
                twin.mark_unknown("triton.servers[*].%s" % key, why, "the lab's default")
        if server.get("traits"):
            twin.note("compute node %s has traits, which the lab's allocator does not model" % name)
        if server.get("reservoir"):
            twin.note("compute node %s is a reservoir, which the lab's allocator does not model" % name)
        if server.get("overprovision_ratios"):
            twin.note("compute node %s sets overprovision_ratios, which the lab's capacity formula does not model"
                      % name)
        if all(server.get(k) is not None for k in ("unreserved_ram", "unreserved_disk")):
            capacity[name] = {"unreserved_ram": server["unreserved_ram"], "unreserved_disk": server["unreserved_disk"]}
        out_servers.append(entry)
    twin.leave_out("compute node comments, traits, sysinfo and NIC details")

    owners = {}
    out_vms = []
    data_bytes = {}
    for vm in sorted(vms, key=lambda v: (v.get("alias") or "", v.get("uuid"))):
        owner_uuid = vm.get("owner_uuid")
        if owner_uuid not in owners:
            owners[owner_uuid] = "owner-%03d" % (len(owners) + 1)
        name = p.name("instance", vm.get("alias") or vm["uuid"])
        server = server_names.get(vm.get("server_uuid"))
        if server is None:
            twin.note("instance %s is on a compute node CNAPI did not list: left out" % name)
            continue
        state = vm.get("state")
        if state not in LAB_STATES:
            twin.note("instance %s is %s at the source: the lab models it stopped" % (name, state))
            state = "stopped"
        ram = vm.get("max_physical_memory") or vm.get("ram")
        quota = vm.get("quota")
        entry = {"name": name, "uuid": p.uuid("vm", vm["uuid"]), "owner": owners[owner_uuid], "server": server,
                 "ram": ram, "disk": int(quota) * 1024 if isinstance(quota, (int, float)) else None,
                 "state": state, "brand": vm.get("brand"), "dataset": None}
        tags = instance_tags(p, vm.get("tags"))
        if tags:
            entry["tags"] = tags
        if entry["disk"] is None:
            twin.mark_unknown("triton.instances[*].disk", "VMAPI gave no quota for some instances", "10 GiB")
        flag = (vm.get("internal_metadata") or {}).get("user_migration_allowed")
        if isinstance(flag, bool):
            entry["internal_metadata"] = {"user_migration_allowed": flag}
        if estimate_data:
            try:
                answer = client.vmapi("POST", "/vms/%s" % vm["uuid"],
                                      params={"action": "migrate", "migration_action": "estimate"}) or {}
                if isinstance(answer.get("size"), (int, float)):
                    data_bytes[name] = int(answer["size"])
            except TritonError as exc:
                twin.note("the data size of instance %s could not be estimated (%s)" % (name, exc.message or exc.msg))
        out_vms.append(entry)
    twin.mark_unknown("triton.instances[*].dataset",
                      "the twin never copies data; the size a migration sends is %s" % (
                          "in twin.data_bytes (VMAPI VmMigrateEstimate)" if estimate_data else
                          "not read (set estimate_data: true to read VMAPI's estimate)"),
                      "twin.data_bytes when present, else a share of the disk quota (assume.triton_data_fraction)")
    twin.leave_out("instance data, customer_metadata, internal_metadata other than user_migration_allowed, "
                   "NIC addresses and MACs")

    in_flight = []
    for rec in migrations if isinstance(migrations, list) else []:
        unfinished = rec.get("state") == "successful" and rec.get("phase") != "finalize"
        if rec.get("state") in ("running", "paused") or unfinished:
            in_flight.append({"instance": p.name("instance", next(
                (v.get("alias") for v in vms if v.get("uuid") == rec.get("vm_uuid")), rec.get("vm_uuid"))),
                "phase": rec.get("phase"), "state": rec.get("state")})
    if in_flight:
        twin.note("%d migration(s) in flight at export; the twin starts with none" % len(in_flight))

    accounts = [{"login": login, "uuid": p.uuid("owner", owner)} for owner, login in owners.items()]
    twin.topology["triton"] = {
        "datacenter": p.name("dc", datacenter) if datacenter else "twin-1",
        "user_migration_allowed": None,
        "accounts": accounts or [{"login": "owner-001"}],
        "servers": out_servers,
        "instances": out_vms,
    }
    twin.mark_unknown("triton.user_migration_allowed",
                      "the global switch is SAPI vmapi metadata, not read by the twin (the operator API's migrations "
                      "do not depend on it: research T1.3)", "false (the vendor's default)")
    twin.note("Account logins are not read (VMAPI knows owners by uuid): the twin names them owner-NNN.")
    if data_bytes:
        twin.extra["data_bytes"] = data_bytes
    if capacity:
        twin.extra["source_capacity"] = capacity
    twin.extra["in_flight"] = in_flight
    twin.source = {"vendor": "Triton DataCenter", "datacenter": p.name("dc", datacenter) if datacenter else None,
                   "api": "operator (CNAPI, VMAPI)"}


def triton_twin(params, twin):
    """The ``twin_export`` entry point for ``provider: triton``: the operator APIs (``triton_credentials``
    ``vmapi_url`` and ``cnapi_url``, then the ``TRITON_*`` environment variables), the export, then
    ``(api_stats, secrets)``."""
    from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonClient
    from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import resolve_connection
    conn = resolve_connection({"triton_credentials": params.get("triton_credentials") or {}, "api": "operator"})
    client = TritonClient(conn)
    export_triton(client, twin, estimate_data=params.get("estimate_data"))
    return dict(client.stats), [("private key", conn.get("private_key"))]
