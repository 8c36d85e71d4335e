"""The VirtFusion plane's topology section (``virtfusion:`` of a lab topology file): its validation and the
defaults it fills in; ``lab.virtfusion.world`` seeds the world from what ``parse_topology`` returns.
See lab/VIRTFUSION.md, "Topology"."""
import ipaddress
import re
import uuid as uuidlib

SERVER_STATES = ("online", "offline", "suspended", "awaiting_setup")
# documented: what the vendor documents (plain status words, {success, errors}, REST objects without the lab's
# extra fields); rich: the lab's JSON shapes too (migration objects, steps, QEMU numbers, pre-check problems)
OUTPUT_MODES = ("documented", "rich")
TIMING_DEFAULTS = {"precheck": 1.0, "filters": 1.0, "prepare": 1.0, "finalize": 1.0, "boot": 1.0}
GUEST_DEFAULTS = {"memory": 64, "working_set": 16}


class TopologyError(ValueError):
    pass


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).strip().lstrip("-").isdigit():
        raise TopologyError(f"{what} must be an integer, got {v!r}")
    return int(v)


def parse_topology(section):
    """Validate the topology's ``virtfusion:`` section; return (hypervisors, servers, cfg)."""
    if not isinstance(section, dict):
        raise TopologyError("virtfusion: must be a mapping with hypervisors and servers")
    hvs, servers = {}, {}
    for i, h in enumerate(section.get("hypervisors") or []):
        where = f"virtfusion.hypervisors[{i}]"
        hid = _int(h.get("id"), f"{where}.id")
        if hid in hvs:
            raise TopologyError(f"{where}.id {hid} is used twice")
        cpu = h.get("cpu") or {}
        storage = []
        for j, s in enumerate(h.get("storage") or []):
            mount = s.get("mount")
            if not isinstance(mount, str) or not mount.startswith("/") or ".." in mount.split("/"):
                raise TopologyError(f"{where}.storage[{j}].mount must be an absolute path, got {mount!r}")
            storage.append({"id": _int(s.get("id"), f"{where}.storage[{j}].id"), "mount": mount.rstrip("/") or "/",
                            "enabled": bool(s.get("enabled", True)),
                            "size": _int(s.get("size", 0), f"{where}.storage[{j}].size")})   # MiB, 0: no limit
        ranges = []
        for r in h.get("ip_ranges") or []:
            try:
                ranges.append(str(ipaddress.ip_network(str(r), strict=False)))
            except ValueError:
                raise TopologyError(f"{where}.ip_ranges: {r!r} is not a network (e.g. 10.0.1.0/24)") from None
        ssh = h.get("ssh") or {}
        port = _int(ssh.get("port", 22), f"{where}.ssh.port")
        if not 1 <= port <= 65535:
            raise TopologyError(f"{where}.ssh.port must be 1-65535, got {port}")
        hvs[hid] = {"id": hid, "name": str(h.get("name") or f"hv-{hid}"), "prohibit": bool(h.get("prohibit", False)),
                    "enabled": bool(h.get("enabled", True)), "maintenance": bool(h.get("maintenance", False)),
                    "cpu": {"vendor": str(cpu.get("vendor", "GenuineIntel")),
                            "flags": sorted(str(f) for f in cpu.get("flags") or [])},
                    "storage": storage, "ip_ranges": ranges,
                    "ssh": {"enabled": bool(ssh.get("enabled", True)), "port": port},
                    # the limits the vendor's update endpoint names (maxServers, maxCpu, maxMemory MB); 0: not set
                    "group": _int(h.get("group", 1), f"{where}.group"),
                    "max_servers": _int(h.get("max_servers", 0), f"{where}.max_servers"),
                    "max_cpu": _int(h.get("max_cpu", 0), f"{where}.max_cpu"),
                    "max_memory": _int(h.get("max_memory", 0), f"{where}.max_memory")}
    guest = dict(GUEST_DEFAULTS)
    guest.update(section.get("guest") or {})
    for i, s in enumerate(section.get("servers") or []):
        where = f"virtfusion.servers[{i}]"
        sid = _int(s.get("id"), f"{where}.id")
        if sid in servers:
            raise TopologyError(f"{where}.id {sid} is used twice")
        hv = _int(s.get("hypervisor"), f"{where}.hypervisor")
        if hv not in hvs:
            raise TopologyError(f"{where}.hypervisor {hv} is not a hypervisor of the topology ({sorted(hvs)})")
        state = s.get("state", "online")
        if state not in SERVER_STATES:
            raise TopologyError(f"{where}.state must be one of {', '.join(SERVER_STATES)}, got {state!r}")
        memory = _int(s.get("memory", guest["memory"]), f"{where}.memory")
        wss = _int(s.get("working_set", min(int(guest["working_set"]), max(1, memory - 8))), f"{where}.working_set")
        if not 16 <= memory <= 1024:
            raise TopologyError(f"{where}.memory must be 16-1024 MiB (small QEMU guests), got {memory}")
        if not 1 <= wss <= memory - 8:
            raise TopologyError(f"{where}.working_set must be 1 to memory - 8 MiB ({memory - 8}), got {wss}")
        # the memory the REST API reports (MiB; default: the guest's): a twin's servers keep the source's size while
        # their QEMU guests stay small [lab assumption]
        api_memory = _int(s.get("api_memory", memory), f"{where}.api_memory")
        if api_memory < 1:
            raise TopologyError(f"{where}.api_memory must be 1 MiB or more, got {api_memory}")
        rate = _int(s.get("dirty_rate", 0), f"{where}.dirty_rate")
        if not 0 <= rate <= 4096:
            raise TopologyError(f"{where}.dirty_rate must be 0-4096 MiB/s, got {rate}")
        nics = []
        for j, n in enumerate(s.get("nics") or []):
            ips = n.get("ips") or []
            for ip in ips:
                try:
                    ipaddress.ip_address(str(ip))
                except ValueError:
                    raise TopologyError(f"{where}.nics[{j}].ips: {ip!r} is not an IP address") from None
            nics.append({"name": str(n.get("name") or f"eth{j}"), "ips": [str(x) for x in ips],
                         "nat": bool(n.get("nat", False))})
        disks = []
        hv_storage = {st["id"]: st for st in hvs[hv]["storage"]}
        for j, d in enumerate(s.get("disks") or []):
            drive = str(d.get("drive") or "abcdefgh"[j])
            if not re.fullmatch(r"[a-z]", drive):
                raise TopologyError(f"{where}.disks[{j}].drive must be one letter a-z, got {drive!r}")
            st = _int(d.get("storage"), f"{where}.disks[{j}].storage")
            if st not in hv_storage:
                raise TopologyError(f"{where}.disks[{j}].storage {st} is not a storage of hypervisor {hv} "
                                    f"({sorted(hv_storage)})")
            size = _int(d.get("size", 64), f"{where}.disks[{j}].size")
            data = _int(d.get("data", 4), f"{where}.disks[{j}].data")
            if not 1 <= size <= 4096 or not 0 <= data <= size:
                raise TopologyError(f"{where}.disks[{j}]: size must be 1-4096 MiB and data 0-size, got {size}/{data}")
            # the size the REST API reports (MiB; default: the qcow2's): a twin's disks keep the source's size while
            # the lab's images stay small [lab assumption]
            api_size = _int(d.get("api_size", size), f"{where}.disks[{j}].api_size")
            if api_size < 1:
                raise TopologyError(f"{where}.disks[{j}].api_size must be 1 MiB or more, got {api_size}")
            disks.append({"drive": drive, "storage": st, "size": size, "api_size": api_size, "data": data})
        cpu_flags = s.get("cpu_flags")
        servers[sid] = {"id": sid, "name": str(s.get("name") or f"server-{sid}"),
                        "uuid": str(s.get("uuid") or uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"fleetops-lab/{sid}")),
                        "hypervisor": hv, "state": state, "memory": memory, "api_memory": api_memory,
                        "working_set": wss,
                        "cpu": _int(s.get("cpu", 1), f"{where}.cpu"),
                        "dirty_rate": rate, "disk_write_rate": _int(s.get("disk_write_rate", 0),
                                                                    f"{where}.disk_write_rate"),
                        "cpu_flags": sorted(str(f) for f in (cpu_flags if cpu_flags is not None
                                                             else hvs[hv]["cpu"]["flags"])),
                        "nics": nics, "disks": disks}
    timing = dict(TIMING_DEFAULTS)
    for k, v in (section.get("timing") or {}).items():
        if k not in TIMING_DEFAULTS:
            raise TopologyError(f"virtfusion.timing.{k} is unknown (known: {', '.join(TIMING_DEFAULTS)})")
        timing[k] = float(v)
    token = section.get("api_token")
    if not isinstance(token, str) or len(token) < 16:
        raise TopologyError("virtfusion.api_token must be a string of 16 characters or more (the REST API's "
                            "bearer token)")
    output = section.get("output", "documented")
    if output not in OUTPUT_MODES:
        raise TopologyError(f"virtfusion.output must be one of {', '.join(OUTPUT_MODES)}, got {output!r}")
    cfg = {"timing": timing, "api_token": token, "output": output}
    return hvs, servers, cfg
