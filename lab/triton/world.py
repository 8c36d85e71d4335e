"""The simulated Triton data center: compute nodes, instances with real datasets, migrations.

Everything runs under ``TritonWorld.lock``; HTTP handlers call the public methods, one background
thread (``run_simulation``) advances the running migration actions and the workloads. State is
written through to ``triton.sqlite`` (``lab.store.Store`` with this plane's tables).

Datasets are directories under ``<state>/triton/zones/<server uuid>/<vm uuid>/``; a sync copies the
files that changed since the previous sync (a real incremental copy, counted in bytes) at the
topology's rate; see lab/TRITON.md for the contract.
"""
import base64
import copy
import datetime
import hashlib
import logging
import math
import os
import random
import re
import shutil
import time
import uuid as uuidlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.store import doc_tables
from lab.tls import write_private_key
from lab.worldbase import WorldBase

log = logging.getLogger("lab.triton")

TABLES = doc_tables("servers", "vms", "migrations", "faults", "meta")
TIMING_DEFAULTS = {"sync_bytes_per_second": 4 * 1024 * 1024, "begin": 20, "switch": 10, "finalize": 2,
                   "abort": 10, "rollback": 15, "pause": 1, "stop": 5, "start": 5}
ACTIONS = ("begin", "sync", "switch", "pause", "abort", "rollback", "finalize", "estimate")
# vendor: the DAPI pipeline (sdc-designation, CNAPI's default allocationDescription) with its random parts;
# other_than_best: a valid server other than the best-scored one (or the only valid one); none: no server
ALLOCATOR_MODES = ("vendor", "other_than_best", "none")
LARGE_POOL_RATIO = 0.15     # hard-filter-large-servers [vendor: sdc-designation]
SCORE_WEIGHTS = {"unreserved_ram": 2.0, "unreserved_disk": 1.0, "uniform_random": 0.5}   # [vendor: CNAPI defaults]
SERVER_UPDATE_FIELDS = ("reserved", "reservoir", "comments", "traits", "next_reboot", "rack_identifier",
                        "reservation_ratio", "overprovision_ratios", "etag_retries")
PHASE_MESSAGES = {"begin": "reserving instance", "abort": "aborting migration", "pause": "pausing migration",
                  "rollback": "reverting migration", "sync": "syncing data", "switch": "switching instances"}
# switch steps: (message, percent, share of timing.switch or a named duration)
SWITCH_STEPS = (("stopping the instance", 3, "stop"), ("syncing data", 5, "sync"),
                ("filesytem sync finished, switching instances", 50, 0.2),
                ("reserving the IP addresses for the instance", 55, 0.2),
                ("setting up the target filesystem", 65, 0.2), ("hiding the original instance", 75, 0.1),
                ("promoting the migrated instance", 85, 0.2), ("removing sync snapshots", 90, 0.1),
                ("starting the migrated instance", 95, "start"))
ROLLBACK_STEPS = (("stopping the instance", 10, "stop"), ("hiding the target instance", 40, 0.3),
                  ("promoting the original instance", 60, 0.4), ("removing the migrated instance", 80, 0.3),
                  ("starting the original instance", 95, "start"))
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NS = uuidlib.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


class ApiError(Exception):
    """A restify-style error: HTTP status, restCode and message."""

    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def precondition(msg):
    return ApiError(412, "PreconditionFailed", msg)


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (int(ts * 1000) % 1000)


def stable_uuid(*parts):
    return str(uuidlib.uuid5(NS, "/".join(str(p) for p in parts)))


def md5_fingerprint(openssh_pub):
    blob = base64.b64decode(openssh_pub.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()  # the vendor's key id format
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def tree_manifest(root):
    """{relpath: [size, mtime_ns]} of every file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            out[os.path.relpath(full, root)] = [st.st_size, st.st_mtime_ns]
    return out


def tree_checksum(root):
    """SHA-256 over every relative path and file content under root (None if root is missing)."""
    if not os.path.isdir(root):
        return None
    h = hashlib.sha256()
    for rel in sorted(tree_manifest(root)):
        h.update(rel.encode() + b"\0")
        with open(os.path.join(root, rel), "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


class TritonWorld(WorldBase):
    def __init__(self, store, topology, state_dir, time_scale=None, reset=False):
        super().__init__(store, topology or {})
        self.state_dir = state_dir
        self.base = os.path.join(state_dir, "triton")
        self.progress = {}       # vm uuid -> latest progress event (like VMAPI's in-memory map)
        self.last_record = {}    # vm uuid -> last record, also after it was deleted (watch end events)
        self.watch_events = {}   # vm uuid -> events sent so far on watches (drop_watch fault)
        self._open(time_scale, reset, "meta")

    # ------------------------------------------------------------------ clock, persistence (lab.worldbase)
    @staticmethod
    def wall():
        """Timestamps and durations in API objects are real (wall-clock) time."""
        return time.time()

    def _clock_doc(self):
        return dict(super()._clock_doc(), epoch=self.epoch)

    def _save(self, table, key):
        src = {"servers": self.servers, "vms": self.vms, "migrations": self.migrations, "faults": self.faults}[table]
        self._mark(table, key, src.get(key))

    def _load(self, time_scale):
        meta = self.store.load("meta")
        self.cfg = meta["config"]
        self.stats = meta.get("stats") or self._empty_stats()
        self._load_clock(meta["clock"], time_scale)
        self.epoch = meta["clock"]["epoch"]
        self.servers = self.store.load("servers")
        self.vms = self.store.load("vms")
        self.migrations = self.store.load("migrations")
        self.faults = self.store.load("faults")
        for rec in self.migrations.values():
            self.last_record[rec["vm_uuid"]] = rec
            if rec["_lab"].get("progress"):
                self.progress[rec["vm_uuid"]] = rec["_lab"]["progress"]
        self._save_meta()
        log.info("triton world loaded: %d servers, %d instances, %d migrations", len(self.servers), len(self.vms),
                 len(self.migrations))

    @staticmethod
    def _empty_stats():
        return {"requests": {}, "status": {}, "auth_failures": 0}

    # ------------------------------------------------------------------ seeding
    def _seed(self, time_scale):
        topo = self.topology
        tri = topo.get("triton") or {}
        timing = dict(TIMING_DEFAULTS)
        timing.update(tri.get("timing") or {})
        self._start_clock(time_scale)
        self.epoch = time.time()
        self.stats = self._empty_stats()
        self.servers, self.vms, self.migrations, self.faults = {}, {}, {}, {}
        self.progress, self.last_record = {}, {}
        if os.path.isdir(os.path.join(self.base, "zones")):
            shutil.rmtree(os.path.join(self.base, "zones"))
        os.makedirs(os.path.join(self.base, "keys"), exist_ok=True)
        dc = tri.get("datacenter", "lab-1")
        accounts = {}
        for a in tri.get("accounts") or [{"login": "admin"}]:
            login = a["login"]
            pub = a.get("public_key")
            key_file = None
            if not pub:
                key_file, pub = self._ensure_key(login)
            accounts[login] = {"uuid": a.get("uuid") or stable_uuid("account", login), "login": login,
                               "email": a.get("email", f"{login}@lab.invalid"),
                               "keys": [{"name": "lab", "key": pub.strip(), "fingerprint": md5_fingerprint(pub)}],
                               "key_file": key_file}
        alloc = tri.get("allocator") or {}
        if alloc.get("mode", "vendor") not in ALLOCATOR_MODES:
            raise ValueError(f"triton.allocator.mode must be one of {', '.join(ALLOCATOR_MODES)}, got "
                             f"{alloc.get('mode')!r}")
        self.cfg = {"datacenter": dc, "user_migration_allowed": bool(tri.get("user_migration_allowed", False)),
                    "accounts": accounts, "timing": timing,
                    "allocator": {"mode": alloc.get("mode", "vendor"), "seed": alloc.get("seed")}}
        by_name = {}
        for s in tri.get("servers") or []:
            u = s.get("uuid") or stable_uuid("server", dc, s["name"])
            self.servers[u] = {"uuid": u, "hostname": s.get("name", u), "ram": int(s.get("ram", 65536)),
                               "disk": int(s.get("disk", 1024 * 1024)),
                               "reservation_ratio": float(s.get("reservation_ratio", 0.15)),
                               "reserved": bool(s.get("reserved", False)), "status": s.get("status", "running"),
                               "setup": bool(s.get("setup", True)), "headnode": bool(s.get("headnode", False)),
                               "traits": dict(s.get("traits") or {}), "comments": str(s.get("comments", "")),
                               "datacenter": dc}
            by_name[self.servers[u]["hostname"]] = u
            by_name[u] = u
        nets = {}
        for i, v in enumerate(tri.get("instances") or []):
            owner = accounts.get(v.get("owner") or next(iter(accounts)))
            if owner is None:
                raise ValueError(f"instance {v.get('name')}: unknown owner {v.get('owner')}")
            su = by_name.get(v["server"])
            if not su:
                raise ValueError(f"instance {v.get('name')}: unknown server {v['server']}")
            u = v.get("uuid") or stable_uuid("vm", dc, v["name"])
            nics = []
            for j, n in enumerate(v.get("nics") or [{"network": "external"}]):
                net = n.get("network", "external")
                nu = nets.setdefault(net, stable_uuid("network", dc, net))
                nics.append({"mac": n.get("mac", "90:b8:d0:%02x:%02x:%02x" % ((i >> 8) & 255, i & 255, j)),
                             "ip": n.get("ip", "10.%d.%d.%d" % (len(nets) + 10, (i // 250) % 250, i % 250 + 2)),
                             "network_uuid": nu, "network": net, "primary": j == 0,
                             "netmask": n.get("netmask", "255.255.255.0"),
                             "gateway": n.get("gateway", "10.%d.%d.1" % (len(nets) + 10, (i // 250) % 250)),
                             "nic_tag": n.get("nic_tag", net)})
            im = {}
            if "user_migration_allowed" in (v.get("internal_metadata") or {}):
                im["user_migration_allowed"] = bool(v["internal_metadata"]["user_migration_allowed"])
            wl = v.get("workload") or {}
            vm = {"uuid": u, "alias": v["name"], "owner_uuid": owner["uuid"], "server_uuid": su,
                  "ram": int(v.get("ram", 1024)), "disk": int(v.get("disk", 10240)),
                  "state": v.get("state", "running"), "brand": v.get("brand", "joyent"),
                  "image_uuid": v.get("image", stable_uuid("image", v.get("brand", "joyent"))),
                  "nics": nics, "internal_metadata": im, "tags": dict(v.get("tags") or {}),
                  "created": iso(self.epoch), "do_not_inventory": False,
                  "_lab": {"workload": {"bytes_per_second": int(wl.get("bytes_per_second", 0)),
                                        "file_size": int(wl.get("file_size", 4096)),
                                        "max_files": int(wl.get("max_files", 64)), "seq": 0, "carry": 0.0},
                           "history": []}}
            self.vms[u] = vm
            ds = v.get("dataset") or {}
            self._seed_dataset(self._ds(su, u), int(ds.get("files", 8)), int(ds.get("file_size", 16384)),
                               int(ds.get("seed", i + 1)))
        for t in ("servers", "vms"):
            for k in getattr(self, t):
                self._save(t, k)
        self._save_meta()
        log.info("triton world seeded: %d servers, %d instances, %d accounts", len(self.servers), len(self.vms),
                 len(accounts))

    def _ensure_key(self, login):
        path = os.path.join(self.base, "keys", f"{login}_id_rsa")
        if not os.path.exists(path):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            write_private_key(path, key, serialization.PrivateFormat.TraditionalOpenSSL)
            pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH).decode()
            with open(path + ".pub", "w", encoding="utf-8") as fh:
                fh.write(f"{pub} {login}@fleetops-lab\n")
        with open(path + ".pub", encoding="utf-8") as fh:
            return os.path.abspath(path), fh.read().strip()

    def _ds(self, server_uuid, vm_uuid):
        return os.path.join(self.base, "zones", server_uuid, vm_uuid)

    @staticmethod
    def _seed_dataset(root, files, size, seed):
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        rng = random.Random(seed)
        for k in range(files):
            with open(os.path.join(root, "data", "f-%04d.bin" % k), "wb") as fh:
                fh.write(rng.randbytes(size))

    # ------------------------------------------------------------------ lookups
    def account(self, login):
        return self.cfg["accounts"].get(login)

    def account_by_uuid(self, u):
        for a in self.cfg["accounts"].values():
            if a["uuid"] == u:
                return a
        return None

    def find_vm(self, key):
        """By uuid or alias (admin helpers)."""
        with self.lock:
            if key in self.vms:
                return self.vms[key]
            for vm in self.vms.values():
                if vm["alias"] == key:
                    return vm
            return None

    def record_of(self, vm_uuid):
        for rec in self.migrations.values():
            if rec["vm_uuid"] == vm_uuid:
                return rec
        return None

    def require_record(self, vm_uuid, watch=False):
        """The instance's migration record, else 404 ``migration not found``. With ``watch``, an
        instance whose migration ended and was deleted passes too (a watch answers its end): None."""
        rec = self.record_of(vm_uuid)
        if not rec and not (watch and vm_uuid in self.last_record):
            raise ApiError(404, "ResourceNotFound", "migration not found")
        return rec

    def _hidden_halves(self, server_uuid):
        """(vm, role) of migration halves living on a server other than the VM's own."""
        out = []
        for rec in self.migrations.values():
            vm = self.vms.get(rec["vm_uuid"])
            if not vm:
                continue
            for su in (rec["source_server_uuid"], rec.get("target_server_uuid")):
                if su == server_uuid and su != vm["server_uuid"] and rec["_lab"].get("target_reserved", True):
                    out.append(vm)
        return out

    def server_usage(self, su):
        ram = disk = 0
        for vm in self.vms.values():
            if vm["server_uuid"] == su:
                ram += vm["ram"]
                disk += vm["disk"]
        for vm in self._hidden_halves(su):
            ram += vm["ram"]
            disk += vm["disk"]
        return ram, disk

    def usage_by_server(self):
        """{server uuid: [ram, disk]} of every server, in one pass (``server_usage`` of each: a list of
        200 servers would otherwise scan every instance 200 times)."""
        out = {su: [0, 0] for su in self.servers}
        for vm in self.vms.values():
            if vm["server_uuid"] in out:
                out[vm["server_uuid"]][0] += vm["ram"]
                out[vm["server_uuid"]][1] += vm["disk"]
        for rec in self.migrations.values():   # the hidden halves (_hidden_halves)
            vm = self.vms.get(rec["vm_uuid"])
            if not vm:
                continue
            for su in (rec["source_server_uuid"], rec.get("target_server_uuid")):
                if su in out and su != vm["server_uuid"] and rec["_lab"].get("target_reserved", True):
                    out[su][0] += vm["ram"]
                    out[su][1] += vm["disk"]
        return out

    def capacity(self, su, usage=None):
        """``usage``: ``usage_by_server()``, when asking for many servers."""
        s = self.servers[su]
        ram, disk = usage[su] if usage is not None else self.server_usage(su)
        return {"ram": int(s["ram"] * (1 - s["reservation_ratio"])) - ram,
                "disk": int(s["disk"] * (1 - s["reservation_ratio"])) - disk,
                "cpu": 100 * 32}

    def _why_not(self, su, vm):
        """Why the allocator's hard filters drop server ``su`` for ``vm`` (None: it passes), in the order of
        CNAPI's default pipeline: setup, running, reserved, traits, headnode, then RAM and disk."""
        s = self.servers[su]
        if su == vm["server_uuid"]:
            return "the instance's own server (locality: far from itself)"
        if not s["setup"]:
            return "not set up"
        if s["status"] != "running":
            return f"status {s['status']}"
        if s["reserved"]:
            return "reserved"
        if s.get("traits"):
            return "has traits " + ", ".join(sorted(s["traits"]))
        if s.get("headnode"):
            return "headnode"
        cap = self.capacity(su)
        short = []
        if cap["ram"] < vm["ram"]:
            short.append(f"{cap['ram']} MiB RAM free")
        if cap["disk"] < vm["disk"]:
            short.append(f"{cap['disk']} MiB disk free")
        return ", ".join(short) or None

    def allocate(self, vm, override=None):
        """(server uuid, None) or (None, reason), as CNAPI's allocator answers VMAPI's begin.

        With an override (operator) VMAPI skips the allocator: the server only has to exist [vendor:
        sdc-vmapi begin.js allocateServer]. Otherwise the hard filters, then (fleets of 7 servers or more) the
        large-servers filter drops the 15 % with the most unreserved RAM, then the scores: unreserved RAM
        (weight 2) and disk (1), normalised between the candidates, plus a uniform random score (0.5) [vendor:
        sdc-designation, CNAPI's default allocationDescription]. ``allocator.mode`` (``/_lab/allocator``)
        makes the lab choose otherwise: ``other_than_best`` the lowest-scored valid server, ``none`` no server.
        """
        if override:
            if override not in self.servers:
                return None, f"server {override} not found"
            if override == vm["server_uuid"]:
                return None, "Failed to allocate the instance to a different server"
            return override, None
        alloc = self.cfg.get("allocator") or {"mode": "vendor"}
        reasons, valid = [], []
        for su, s in sorted(self.servers.items(), key=lambda kv: kv[1]["hostname"]):
            why = self._why_not(su, vm)
            if why:
                reasons.append(f"{s['hostname']}: {why}")
            else:
                valid.append(su)
        if alloc["mode"] == "none":
            return None, "No compute resources available: the lab's allocator is set to choose none (lab fault)"
        if not valid:
            return None, (f"No compute resources available: no compute node has room for {vm['ram']} MiB RAM and "
                          f"{vm['disk']} MiB disk (" + "; ".join(reasons) + ")")
        if len(self.servers) >= 7 and len(valid) > 1:
            drop = int(len(valid) * LARGE_POOL_RATIO)
            if drop:
                valid = sorted(valid, key=lambda su: self.capacity(su)["ram"])[:len(valid) - drop]
        rng = self._alloc_rng()
        rng.shuffle(valid)
        scores = self._scores(valid, rng)
        ranked = sorted(valid, key=lambda su: scores[su], reverse=True)
        if alloc["mode"] == "other_than_best" and len(ranked) > 1:
            return ranked[-1], None
        return ranked[0], None

    def _alloc_rng(self):
        seed = (self.cfg.get("allocator") or {}).get("seed")
        if seed is None:
            return random.Random()
        self._alloc_draws = getattr(self, "_alloc_draws", 0) + 1
        return random.Random(f"{seed}/{self._alloc_draws}")

    def _scores(self, valid, rng):
        caps = {su: self.capacity(su) for su in valid}
        out = {su: 0.0 for su in valid}
        for key, field in (("unreserved_ram", "ram"), ("unreserved_disk", "disk")):
            values = [caps[su][field] for su in valid]
            low, high = min(values), max(values)
            for su in valid:
                norm = 1.0 if high == low else (caps[su][field] - low) / float(high - low)
                out[su] += SCORE_WEIGHTS[key] * norm
        for su in valid:
            out[su] += SCORE_WEIGHTS["uniform_random"] * rng.random()
        return out

    def set_allocator(self, mode, seed=None):
        if mode not in ALLOCATOR_MODES:
            raise ApiError(400, "BadRequest", f"mode must be one of {', '.join(ALLOCATOR_MODES)}")
        with self.lock:
            self.cfg["allocator"] = {"mode": mode, "seed": seed}
            self._alloc_draws = 0
            self._save_meta()
            self._flush()
            return dict(self.cfg["allocator"])

    def set_user_migration_allowed(self, value):
        """The SAPI vmapi metadata ``user_migration_allowed`` (the lab has no SAPI: set it here)."""
        if not isinstance(value, bool):
            raise ApiError(400, "BadRequest", "user_migration_allowed must be true or false")
        with self.lock:
            self.cfg["user_migration_allowed"] = value
            self._save_meta()
            self._flush()

    def update_server(self, su, params):
        """CNAPI ServerUpdate (``POST /servers/:uuid``): the documented fields, 204."""
        with self.lock:
            s = self.servers.get(su)
            if not s:
                raise ApiError(404, "ResourceNotFound", f"Server {su} not found")
            unknown = sorted(set(params) - set(SERVER_UPDATE_FIELDS))
            if unknown:
                raise ApiError(409, "InvalidParameters", f"Invalid parameters: {', '.join(unknown)}")
            for key in ("reserved", "reservoir"):
                if key in params:
                    if not isinstance(params[key], bool) and params[key] not in ("true", "false"):
                        raise ApiError(409, "InvalidParameters", f"{key}: must be a boolean")
                    s[key] = params[key] in (True, "true")
            if "comments" in params:
                if not isinstance(params["comments"], str):
                    raise ApiError(409, "InvalidParameters", "comments: must be a string")
                s["comments"] = params["comments"]
            if "traits" in params:
                if not isinstance(params["traits"], dict):
                    raise ApiError(409, "InvalidParameters", "traits: must be an object")
                s["traits"] = params["traits"]
            for key in ("next_reboot", "rack_identifier", "reservation_ratio", "overprovision_ratios"):
                if key in params:
                    s[key] = params[key]
            self._save("servers", su)
            self._flush()

    # ------------------------------------------------------------------ views
    def machine_view(self, vm):
        nics = [{"ip": n["ip"], "mac": n["mac"], "primary": n["primary"], "netmask": n["netmask"],
                 "gateway": n["gateway"], "network": n["network_uuid"]} for n in vm["nics"]]
        primary = next((n["ip"] for n in vm["nics"] if n["primary"]), None)
        return {"id": vm["uuid"], "name": vm["alias"],
                "type": "virtualmachine" if vm["brand"] in ("bhyve", "kvm") else "smartmachine",
                "brand": vm["brand"], "state": vm["state"], "image": vm["image_uuid"], "memory": vm["ram"],
                "disk": vm["disk"], "metadata": {}, "tags": dict(vm["tags"]), "created": vm["created"],
                "updated": vm.get("updated", vm["created"]), "docker": False, "nics": nics,
                "ips": [n["ip"] for n in vm["nics"]], "networks": [n["network_uuid"] for n in vm["nics"]],
                "primaryIp": primary, "firewall_enabled": False, "deletion_protection": False,
                "compute_node": vm["server_uuid"], "package": ""}

    def vmapi_view(self, vm, hidden=False, server=None):
        nics = [{k: n[k] for k in ("mac", "ip", "network_uuid", "primary", "netmask", "gateway", "nic_tag")}
                for n in vm["nics"]]
        return {"uuid": vm["uuid"], "alias": vm["alias"], "owner_uuid": vm["owner_uuid"],
                "server_uuid": server or vm["server_uuid"], "state": "stopped" if hidden else vm["state"],
                "brand": vm["brand"], "image_uuid": vm["image_uuid"], "ram": vm["ram"],
                "max_physical_memory": vm["ram"], "quota": int(math.ceil(vm["disk"] / 1024)),
                "nics": nics, "internal_metadata": dict(vm["internal_metadata"]), "tags": dict(vm["tags"]),
                "create_timestamp": vm["created"], "do_not_inventory": hidden}

    def server_view(self, s, extras=(), usage=None):
        out = {k: s[k] for k in ("uuid", "hostname", "datacenter", "status", "setup", "reserved", "headnode",
                                 "ram", "reservation_ratio")}
        out.update(traits=dict(s.get("traits") or {}), comments=s.get("comments", ""),
                   reservoir=bool(s.get("reservoir", False)))
        out["disk_pool_size_bytes"] = s["disk"] * 1024 * 1024
        out["memory_total_bytes"] = s["ram"] * 1024 * 1024
        if "capacity" in extras or "all" in extras:
            cap = self.capacity(s["uuid"], usage)
            out.update(unreserved_ram=cap["ram"], unreserved_disk=cap["disk"], unreserved_cpu=cap["cpu"])
        if "vms" in extras or "all" in extras:
            out["vms"] = {v["uuid"]: {"uuid": v["uuid"], "owner_uuid": v["owner_uuid"], "state": v["state"],
                                      "max_physical_memory": v["ram"]} for v in self.vms_on_server(s["uuid"])}
        return out

    def vms_on_server(self, su, include_hidden=True):
        out = [v for v in self.vms.values() if v["server_uuid"] == su]
        if include_hidden:
            out += self._hidden_halves(su)
        return out

    @staticmethod
    def _entry_view(e, now_wall):
        out = {k: e[k] for k in ("type", "current_progress", "duration_ms", "finished_timestamp", "error",
                                 "message", "phase", "state", "started_timestamp", "total_progress") if k in e}
        out["type"] = "progress"
        if "duration_ms" not in out:
            start = e.get("_started_wall")
            end = e.get("_finished_wall") or now_wall
            out["duration_ms"] = int(max(0.0, end - start) * 1000) if start else 0
        return out

    def migration_view(self, rec, raw=False, cloudapi=False):
        now_wall = self.wall()
        hist = [self._entry_view(e, now_wall) for e in rec["progress_history"]]
        out = {k: rec[k] for k in ("automatic", "created_timestamp", "error", "finished_timestamp", "phase",
                                   "started_timestamp", "state", "vm_uuid") if rec.get(k) is not None}
        out["duration_ms"] = sum(e["duration_ms"] for e in hist)
        out["progress_history"] = hist
        if raw:
            out.update({k: rec.get(k) for k in ("id", "owner_uuid", "num_sync_phases", "source_server_uuid",
                                                "target_server_uuid", "target_vm_uuid")})
        if cloudapi:
            out["machine"] = out.pop("vm_uuid")
        return out

    # ------------------------------------------------------------------ migration actions
    def migrate(self, vm_uuid, action, owner_uuid=None, automatic=False, override=None):
        """Validate and start a migration action, as VMAPI's migrateVm does.

        Returns (kind, payload): ("started", translated record with phase/state of the new action),
        ("finalized", None), ("estimate", {"size"}), ("early_abort", record).
        """
        with self.lock:
            vm = self.vms.get(vm_uuid)
            if not vm or (owner_uuid and vm["owner_uuid"] != owner_uuid):
                raise ApiError(404, "ResourceNotFound", "VM not found")
            if action not in ACTIONS:
                raise ApiError(409, "InvalidArgument", "Invalid migration action")
            rec = self.record_of(vm_uuid)
            if rec is None and action not in ("begin", "estimate"):
                raise ApiError(404, "ResourceNotFound", "migration not found")
            if action in ("begin", "estimate"):
                self._validate_begin(vm, rec, owner_uuid)
                if action == "estimate":
                    src = self._ds(vm["server_uuid"], vm_uuid)
                    return "estimate", {"size": sum(s for s, _m in tree_manifest(src).values())}
            else:
                self._validate_action(rec, action)
            if action == "finalize":
                return "finalized", self._finalize(rec)
            if action == "abort" and not rec.get("target_server_uuid"):
                self._delete_record(rec, "abort")
                return "early_abort", rec
            if action == "begin":
                rec = self._new_or_retry_record(vm, rec, owner_uuid, automatic, override)
            self._start_action(rec, action)
            view = self.migration_view(rec)
            view["phase"], view["state"] = action, "running"
            self._flush()
            return "started", view

    def _validate_begin(self, vm, rec, owner_uuid):
        if owner_uuid:
            allowed = self.cfg["user_migration_allowed"] is True
            if "user_migration_allowed" in vm["internal_metadata"]:
                allowed = vm["internal_metadata"]["user_migration_allowed"] is True
            if not allowed:
                raise precondition("User migration on this VM not allowed")
        if rec:
            hist = rec["progress_history"]
            retry = (rec["phase"] == "begin" and rec["state"] == "failed" and hist and hist[-1]["phase"] == "begin")
            if rec["state"] == "successful":
                raise precondition("A previous migration exists for this instance, use migration finalize to "
                                   "complete it.")
            if not retry:
                raise precondition("An active migration already exists for this instance")
        if vm["tags"].get("smartdc_type") == "core" and vm["tags"].get("smartdc_role") != "nat":
            raise precondition("Cannot migrate a core instance")

    @staticmethod
    def _validate_action(rec, action):
        phase, state = rec["phase"], rec["state"]
        if action == "abort" and state in ("running", "successful"):
            raise precondition(f"Abort cannot work on a {state} migration")
        if action == "finalize" and state != "successful":
            raise precondition("Finalize only works on a successful migration")
        if action == "pause" and (phase != "sync" or state != "running"):
            raise precondition("Pause requires a running migration sync action")
        if action == "rollback" and state != "successful":
            raise precondition("Rollback only works on a successful migration")
        if action == "switch":
            if phase not in ("begin", "sync"):
                raise precondition(f"Cannot switch in migration phase: {phase}")
            if state not in ("paused", "failed"):
                raise precondition(f"Cannot switch in migration state: {state}")
            if not rec["num_sync_phases"]:
                raise precondition('You must perform at least one "migration sync" operation before switching')
        if action == "sync":
            if state not in ("paused", "failed"):
                raise precondition(f"Cannot sync in migration state: {state}")
            if not ((phase == "begin" and state == "paused") or phase == "sync"):
                raise precondition(f"Cannot sync when in migration phase: {phase}")

    def _new_or_retry_record(self, vm, rec, owner_uuid, automatic, override):
        now = self.wall()
        if rec is None:
            rec = {"id": str(uuidlib.uuid4()), "vm_uuid": vm["uuid"], "target_vm_uuid": vm["uuid"],
                   "owner_uuid": owner_uuid or vm["owner_uuid"], "automatic": bool(automatic),
                   "created_timestamp": iso(now), "num_sync_phases": 0, "phase": "begin", "state": "running",
                   "progress_history": [], "source_server_uuid": vm["server_uuid"], "target_server_uuid": None,
                   "_lab": {"manifest": {}, "override": override, "summary": None}}
            self.migrations[rec["id"]] = rec
            summary = {"id": rec["id"], "automatic": bool(automatic), "source_server": vm["server_uuid"],
                       "target_server": None, "result": "running", "syncs": [], "bytes_sent": 0,
                       "downtime_lab_seconds": None, "downtime_real_seconds": None, "source_checksum_at_stop": None,
                       "target_checksum_after_sync": None, "data_intact": None, "started": round(self.lab_now(), 3),
                       "switched": None, "ended": None, "started_real": round(time.time(), 3), "switched_real": None,
                       "ended_real": None}
            vm["_lab"]["history"].append(summary)
            self._save("vms", vm["uuid"])
        elif override:
            rec["_lab"]["override"] = override
        return rec

    def _summary(self, rec):
        vm = self.vms.get(rec["vm_uuid"])
        if not vm:
            return {}
        for s in vm["_lab"]["history"]:
            if s["id"] == rec["id"]:
                return s
        return {}

    def _start_action(self, rec, action):
        now_lab, now = self.lab_now(), self.wall()
        rec.pop("error", None)
        prev = rec["_lab"].get("action")
        if action == "pause" and prev and prev["kind"] == "sync":
            # the running sync stops where it is: what it copied stays (the next sync sends the rest)
            if "sync" in prev:
                self._end_sync(rec, prev)
            entry = rec["progress_history"][-1]
            entry.update(state="failed", error="sync paused", finished_timestamp=iso(now), _finished_wall=now)
        rec["phase"], rec["state"] = action, "running"
        rec.setdefault("started_timestamp", iso(now))
        rec["progress_history"].append({"type": "progress", "message": PHASE_MESSAGES[action], "phase": action,
                                        "state": "running", "started_timestamp": iso(now), "_started_wall": now,
                                        "current_progress": 1, "total_progress": 100})
        act = {"kind": action, "started": now_lab, "step": 0, "step_started": now_lab, "carry": 0.0}
        rec["_lab"]["action"] = act
        self.progress.pop(rec["vm_uuid"], None)
        rec["_lab"]["progress"] = None
        self.last_record[rec["vm_uuid"]] = rec
        self._save("migrations", rec["id"])
        log.info("migration %s of %s: %s started", rec["id"], rec["vm_uuid"], action)

    def _finish_action(self, rec, ok=True, error=None, next_action=None):
        now = self.wall()
        act = rec["_lab"].pop("action", None) or {}
        entry = rec["progress_history"][-1]
        entry["finished_timestamp"], entry["_finished_wall"] = iso(now), now
        entry["state"] = "successful" if ok else "failed"
        entry["current_progress"] = entry["total_progress"] if ok else entry.get("current_progress", 1)
        rec["finished_timestamp"] = iso(now)
        kind = act.get("kind", rec["phase"])
        summary = self._summary(rec)
        if not ok:
            rec["state"] = "failed"
            rec["error"] = f"failed to {kind} migration instance - {error}"
            entry["error"] = error
            if kind == "switch":
                rec["phase"] = "sync"
            if summary:
                summary["result"] = "failed"
                summary["failed_real"] = round(time.time(), 3)
            log.info("migration %s: %s failed: %s", rec["id"], kind, error)
        elif kind in ("abort", "rollback"):
            rec["state"] = "successful"
            if summary:
                summary["result"] = "aborted" if kind == "abort" else "rolled_back"
                summary["ended"] = round(self.lab_now(), 3)
                summary["ended_real"] = round(time.time(), 3)
            self._delete_record(rec, kind)
            return
        elif kind == "switch":
            rec["state"] = "successful"
            if summary:
                summary["result"] = "switched"
        elif kind == "pause":
            rec["phase"], rec["state"] = "sync", "paused"
            if summary:
                summary["result"] = "paused"
        else:
            if kind == "sync":
                rec["num_sync_phases"] += 1
            rec["state"] = "running" if next_action else "paused"
            if summary and not next_action:
                summary["result"] = "paused"
        self._save("migrations", rec["id"])
        self._save("vms", rec["vm_uuid"])
        if ok and next_action:
            self._start_action(rec, next_action)

    def _delete_record(self, rec, kind):
        self.last_record[rec["vm_uuid"]] = copy.deepcopy(rec)
        self.last_record[rec["vm_uuid"]]["phase"] = kind
        self.last_record[rec["vm_uuid"]]["state"] = "successful"
        self.migrations.pop(rec["id"], None)
        self._mark("migrations", rec["id"], None)
        self._save("vms", rec["vm_uuid"])

    def _finalize(self, rec):
        vm = self.vms[rec["vm_uuid"]]
        delay = float(self.cfg["timing"]["finalize"]) * self.time_scale
        src = self._ds(rec["source_server_uuid"], vm["uuid"])
        shutil.rmtree(src, ignore_errors=True)
        summary = self._summary(rec)
        if summary:
            summary["result"] = "finalized"
            summary["ended"] = round(self.lab_now() + float(self.cfg["timing"]["finalize"]), 3)
            summary["ended_real"] = round(time.time() + delay, 3)
        self._delete_record(rec, "finalize")
        self._flush()
        log.info("migration %s of %s finalized", rec["id"], vm["uuid"])
        return delay

    # ------------------------------------------------------------------ simulation
    def run_simulation(self, interval=0.01, flush_every=0.2):
        """Advance the world every ``interval`` real seconds; write what changed at most every
        ``flush_every`` real seconds (public calls write at once)."""
        last = self.lab_now()
        flushed = time.monotonic()
        while not self.stop_event.wait(interval):
            with self.lock:
                try:
                    now = self.lab_now()
                    self.tick(now, now - last)
                    last = now
                    if time.monotonic() - flushed >= flush_every:
                        self._flush()
                        flushed = time.monotonic()
                except Exception:  # keep the lab alive; the failure is in lab.log
                    log.exception("triton simulation tick failed")

    def tick(self, now, dt):
        for vm in list(self.vms.values()):
            self._workload(vm, dt)
        for rec in list(self.migrations.values()):
            act = rec["_lab"].get("action")
            if act:
                self._advance(rec, act, now)

    def _workload(self, vm, dt):
        wl = vm["_lab"]["workload"]
        if not wl["bytes_per_second"] or vm["state"] != "running":
            return
        wl["carry"] += wl["bytes_per_second"] * max(0.0, dt)
        root = os.path.join(self._ds(vm["server_uuid"], vm["uuid"]), "workload")
        n = 0
        while wl["carry"] >= wl["file_size"] and n < 64:
            os.makedirs(root, exist_ok=True)
            wl["seq"] += 1
            # a bounded set of files rewritten in turn (like a database's pages or rotating logs): the
            # dataset stays the same size while each sync has changes to send
            with open(os.path.join(root, "w-%05d.dat" % (wl["seq"] % max(1, wl.get("max_files", 64)))), "wb") as fh:
                fh.write(os.urandom(wl["file_size"]))
            wl["carry"] -= wl["file_size"]
            n += 1
        if n:
            self._save("vms", vm["uuid"])

    def _step_duration(self, spec):
        t = self.cfg["timing"]
        if isinstance(spec, str):
            return float(t[spec])
        return float(t["switch"]) * float(spec)

    def _fault(self, rec, phase, act, now, duration):
        """True when an injected fail_phase fault fires for this action now."""
        vm = self.vms[rec["vm_uuid"]]
        for fid, f in list(self.faults.items()):
            if f["kind"] != "fail_phase" or f["phase"] != phase:
                continue
            if f["instance"] not in ("*", vm["uuid"], vm["alias"]):
                continue
            if now - act["started"] < float(f.get("at", 0.5)) * max(duration, 1e-9):
                continue
            self._use_fault(fid, f)
            return True
        return False

    def _advance(self, rec, act, now):
        kind = act["kind"]
        vm = self.vms[rec["vm_uuid"]]
        t = self.cfg["timing"]
        if kind == "begin":
            if act["step"] == 0:
                override = rec["_lab"].get("override")
                target, why = self.allocate(vm, override)
                if not target:
                    self._finish_action(rec, ok=False, error=why)
                    return
                if override:
                    # no allocator ran: a target without room fails late, when cn-agent reserves the instance
                    cap = self.capacity(target)
                    short = [f"{cap['ram']} MiB RAM free, needs {vm['ram']}" if cap["ram"] < vm["ram"] else None,
                             f"{cap['disk']} MiB disk free, needs {vm['disk']}" if cap["disk"] < vm["disk"] else None]
                    short = [x for x in short if x]
                    if short:
                        act["late_failure"] = (f"reserving instance failed - server {self.servers[target]['hostname']}: "
                                               + ", ".join(short))
                rec["target_server_uuid"] = target
                rec["_lab"]["target_reserved"] = True
                self._summary(rec)["target_server"] = target
                act["step"] = 1
                self._save("migrations", rec["id"])
            if self._fault(rec, "begin", act, now, float(t["begin"])):
                shutil.rmtree(self._ds(rec["target_server_uuid"], vm["uuid"]), ignore_errors=True)
                rec["target_server_uuid"] = None
                self._finish_action(rec, ok=False, error="lab fault: injected begin failure")
                return
            self._set_progress(rec, {"phase": "begin", "state": "running", "message": "reserving instance",
                                     "current_progress": min(99, int(100 * (now - act["started"]) /
                                                                     max(float(t["begin"]), 1e-9))),
                                     "total_progress": 100})
            if now - act["started"] >= float(t["begin"]):
                if act.get("late_failure"):
                    rec["_lab"]["target_reserved"] = False
                    rec["target_server_uuid"] = None
                    self._finish_action(rec, ok=False, error=act["late_failure"])
                    return
                os.makedirs(self._ds(rec["target_server_uuid"], vm["uuid"]), exist_ok=True)
                self._finish_action(rec, next_action="sync" if rec["automatic"] else None)
            return
        if kind == "sync":
            self._advance_sync(rec, act, now, final=False)
            return
        if kind == "switch":
            self._advance_steps(rec, act, now, SWITCH_STEPS, self._switch_step)
            return
        if kind == "rollback":
            self._advance_steps(rec, act, now, ROLLBACK_STEPS, self._rollback_step)
            return
        if kind == "abort":
            if self._fault(rec, "abort", act, now, float(t["abort"])):
                self._finish_action(rec, ok=False, error="lab fault: injected abort failure")
                return
            if now - act["started"] >= float(t["abort"]):
                shutil.rmtree(self._ds(rec["target_server_uuid"], vm["uuid"]), ignore_errors=True)
                rec["_lab"]["target_reserved"] = False
                self._finish_action(rec)
            return
        if kind == "pause":
            if now - act["started"] >= float(t["pause"]):
                self._finish_action(rec)

    # -- sync ------------------------------------------------------------------------------
    def _begin_sync(self, rec, act, final):
        vm = self.vms[rec["vm_uuid"]]
        src = self._ds(rec["source_server_uuid"], vm["uuid"])
        dst = self._ds(rec["target_server_uuid"], vm["uuid"])
        os.makedirs(dst, exist_ok=True)
        manifest = rec["_lab"]["manifest"]
        current = tree_manifest(src)
        queue = sorted(p for p, st in current.items() if manifest.get(p) != st)
        for gone in sorted(set(manifest) - set(current)):
            try:
                os.unlink(os.path.join(dst, gone))
            except FileNotFoundError:
                pass
            manifest.pop(gone, None)
        act["sync"] = {"queue": queue, "total": sum(current[p][0] for p in queue), "sent": 0, "files": 0,
                       "started": self.lab_now(), "started_wall": self.wall(), "final": final,
                       "last_rate": 0.0}

    def _copy_some(self, rec, act, dt):
        """Copy files of the running sync within this tick's byte budget; True when done."""
        vm = self.vms[rec["vm_uuid"]]
        s = act["sync"]
        src = self._ds(rec["source_server_uuid"], vm["uuid"])
        dst = self._ds(rec["target_server_uuid"], vm["uuid"])
        rate = float(self.cfg["timing"]["sync_bytes_per_second"])
        act["carry"] = act.get("carry", 0.0) + rate * max(0.0, dt)
        manifest = rec["_lab"]["manifest"]
        while s["queue"] and act["carry"] > 0:
            rel = s["queue"].pop(0)
            sp = os.path.join(src, rel)
            try:
                st = os.stat(sp)
            except FileNotFoundError:
                continue
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copyfile(sp, os.path.join(dst, rel))
            manifest[rel] = [st.st_size, st.st_mtime_ns]
            s["sent"] += st.st_size
            s["files"] += 1
            act["carry"] -= st.st_size
        if not s["queue"]:
            act["carry"] = 0.0
        return not s["queue"]

    def _sync_progress(self, rec, act, phase_label="sync"):
        s = act["sync"]
        final = s["sent"] >= s["total"] and not s["queue"]
        elapsed = max(self.lab_now() - s["started"], 1e-9)
        rate = s["sent"] / elapsed
        left = max(s["total"] - s["sent"], 0)
        eta_ms = int(left / max(rate, 1.0) * 1000 * self.time_scale) if rate > 0 else 0
        self._set_progress(rec, {"phase": phase_label, "state": "running", "message": "syncing data",
                                 "current_progress": s["sent"], "total_progress": max(s["sent"], s["total"]),
                                 "eta_ms": eta_ms, "transfer_bytes_second": int(rate / self.time_scale),
                                 "started_timestamp": iso(s["started_wall"]),
                                 "duration_ms": int(elapsed * self.time_scale * 1000)}, final=final)

    def _end_sync(self, rec, act):
        s = act.pop("sync")
        summary = self._summary(rec)
        if summary:
            summary["syncs"].append({"bytes": s["sent"], "files": s["files"],
                                     "lab_seconds": round(self.lab_now() - s["started"], 3), "final": s["final"]})
            summary["bytes_sent"] += s["sent"]
        return s

    def _advance_sync(self, rec, act, now, final):
        if "sync" not in act:
            self._begin_sync(rec, act, final)
            act["last_tick"] = now
        dt = now - act.get("last_tick", now)
        act["last_tick"] = now
        rate = float(self.cfg["timing"]["sync_bytes_per_second"])
        expected = act["sync"]["total"] / max(rate, 1.0)
        if self._fault(rec, "sync", act, now, expected):
            self._end_sync(rec, act)
            self._finish_action(rec, ok=False, error="lab fault: injected sync failure")
            return
        done = self._copy_some(rec, act, dt)
        self._sync_progress(rec, act)
        if done:
            self._end_sync(rec, act)
            nxt = None
            if rec["automatic"]:
                nxt = "sync" if rec["num_sync_phases"] == 0 else "switch"
            self._finish_action(rec, next_action=nxt)

    # -- switch / rollback -------------------------------------------------------------------
    def _advance_steps(self, rec, act, now, steps, on_step):
        while act["step"] < len(steps):
            msg, pct, spec = steps[act["step"]]
            if act.get("entered") != act["step"]:
                act["entered"] = act["step"]
                act["step_started"] = now
                act["last_tick"] = now
                self._set_progress(rec, {"phase": act["kind"], "state": "running", "message": msg,
                                         "current_progress": pct, "total_progress": 100})
                if on_step(rec, act, msg, "enter") is False:
                    return
            if spec == "sync":
                dt = now - act.get("last_tick", now)
                act["last_tick"] = now
                if "sync" not in act:
                    self._begin_sync(rec, act, final=True)
                if self._copy_some(rec, act, dt):
                    self._sync_progress(rec, act)
                    self._end_sync(rec, act)
                else:
                    self._sync_progress(rec, act)
                    return
            elif now - act["step_started"] < self._step_duration(spec):
                return
            if on_step(rec, act, msg, "done") is False:
                return
            act["step"] += 1
        self._finish_action(rec)

    def _switch_step(self, rec, act, msg, when):
        vm = self.vms[rec["vm_uuid"]]
        summary = self._summary(rec)
        now = self.lab_now()
        if when == "enter" and msg == "stopping the instance":
            act["was_running"] = vm["state"] == "running"
            vm["state"] = "stopping"
            act["stop_lab"], act["stop_real"] = now, time.time()
        if when == "done" and msg == "stopping the instance":
            vm["state"] = "stopped"
            summary["source_checksum_at_stop"] = self._checksum_off_clock(act, rec["source_server_uuid"], vm)
        if when == "done" and msg == "filesytem sync finished, switching instances":
            summary["target_checksum_after_sync"] = self._checksum_off_clock(act, rec["target_server_uuid"], vm)
            summary["data_intact"] = summary["target_checksum_after_sync"] == summary["source_checksum_at_stop"]
            if self._fault(rec, "switch", act, now, 0.0):
                vm["state"] = "running" if act.get("was_running") else "stopped"
                self._save("vms", vm["uuid"])
                self._finish_action(rec, ok=False, error="lab fault: injected switch failure")
                return False
        if when == "done" and msg == "hiding the original instance":
            pass  # the source half keeps its dataset at zones/<source>/<uuid>, hidden from listings
        if when == "done" and msg == "promoting the migrated instance":
            vm["server_uuid"] = rec["target_server_uuid"]
            vm["updated"] = iso(self.wall())
        if when == "done" and msg == "starting the migrated instance":
            vm["state"] = "running" if act.get("was_running", True) else "stopped"
            if summary:
                summary["downtime_lab_seconds"] = round(now - act["stop_lab"], 3)
                summary["downtime_real_seconds"] = round(time.time() - act["stop_real"], 3)
                summary["switched"] = round(now, 3)
                summary["switched_real"] = round(time.time(), 3)
        self._save("vms", vm["uuid"])
        return True

    def _checksum_off_clock(self, act, server_uuid, vm):
        """The dataset's checksum; the time the lab spends computing it is not counted as downtime."""
        t0 = time.monotonic()
        digest = tree_checksum(self._ds(server_uuid, vm["uuid"]))
        spent = time.monotonic() - t0
        act["stop_lab"] += spent / self.time_scale
        act["stop_real"] += spent
        act["step_started"] += spent / self.time_scale
        return digest

    def _rollback_step(self, rec, act, msg, when):
        vm = self.vms[rec["vm_uuid"]]
        if when == "enter" and msg == "stopping the instance":
            act["was_running"] = vm["state"] == "running"
            if self._fault(rec, "rollback", act, self.lab_now() + 1e9, 0):
                self._finish_action(rec, ok=False, error="lab fault: injected rollback failure")
                return False
            vm["state"] = "stopping"
        if when == "done" and msg == "stopping the instance":
            vm["state"] = "stopped"
        if when == "done" and msg == "promoting the original instance":
            vm["server_uuid"] = rec["source_server_uuid"]
            vm["updated"] = iso(self.wall())
        if when == "done" and msg == "removing the migrated instance":
            shutil.rmtree(self._ds(rec["target_server_uuid"], vm["uuid"]), ignore_errors=True)
            rec["_lab"]["target_reserved"] = False
        if when == "done" and msg == "starting the original instance":
            vm["state"] = "running" if act.get("was_running") else "stopped"
        self._save("vms", vm["uuid"])
        return True

    def _set_progress(self, rec, event, final=False):
        """Record the latest progress event, and log it for watchers at the vendor's cadence (one
        event per lab second and kind, as cn-agent sends one a second; the last of a sync always)."""
        ev = {"type": "progress"}
        ev.update(event)
        if ev == self.progress.get(rec["vm_uuid"]):
            return
        self.progress[rec["vm_uuid"]] = ev
        rec["_lab"]["progress"] = ev
        log_ = rec["_lab"].setdefault("events", [])
        seq = rec["_lab"].get("seq", 0) + 1
        rec["_lab"]["seq"] = seq
        now = self.lab_now()
        last = log_[-1] if log_ else None
        if (last and not last["final"] and now - last["lab_t"] < 1.0
                and (last["event"].get("phase"), last["event"].get("message")) == (ev.get("phase"), ev.get("message"))):
            last.update(seq=seq, event=ev, final=final)
        else:
            log_.append({"seq": seq, "lab_t": now, "event": ev, "final": final})
            del log_[:-200]
        self._save("migrations", rec["id"])

    def events_since(self, vm_uuid, seq):
        """(progress events logged after seq, the last seq) for a watcher."""
        with self.lock:
            rec = self.record_of(vm_uuid) or self.last_record.get(vm_uuid)
            if not rec:
                return [], seq
            log_ = rec["_lab"].get("events", [])
            return [e["event"] for e in log_ if e["seq"] > seq], rec["_lab"].get("seq", 0)

    # ------------------------------------------------------------------ watch support
    def watch_snapshot(self, vm_uuid):
        """(record-or-None, history length, latest progress event) under the lock."""
        def light(r):  # what a watcher needs, without the lab's bookkeeping (manifest, event log)
            return {"phase": r["phase"], "state": r["state"], "error": r.get("error"),
                    "progress_history": [dict(e) for e in r["progress_history"]]}
        with self.lock:
            rec = self.record_of(vm_uuid)
            if rec is None:
                last = self.last_record.get(vm_uuid)
                return (light(last) if last else None), False, self.progress.get(vm_uuid)
            return light(rec), True, self.progress.get(vm_uuid)

    def entry_view(self, e):
        return self._entry_view(e, self.wall())

    # ------------------------------------------------------------------ admin plane
    def set_workload(self, key, bytes_per_second):
        with self.lock:
            vm = self.find_vm(key)
            if not vm:
                raise ApiError(404, "ResourceNotFound", f"instance {key} not found")
            vm["_lab"]["workload"]["bytes_per_second"] = int(bytes_per_second)
            self._save("vms", vm["uuid"])
            self._flush()

    @staticmethod
    def _bad_request(message):
        return ApiError(400, "BadRequest", message)

    @staticmethod
    def _check_fault(f):
        kind = f.get("kind")
        if kind == "fail_phase":
            if f.get("phase") not in ("begin", "sync", "switch", "abort", "rollback"):
                raise ApiError(400, "BadRequest", "phase must be one of begin, sync, switch, abort, rollback")
            f.setdefault("instance", "*")
            f.setdefault("at", 0.5)
            f.setdefault("count", 1)
        elif kind == "drop_watch":
            f.setdefault("instance", "*")
            f.setdefault("after_events", 1)
            f.setdefault("count", 1)
        else:
            raise ApiError(400, "BadRequest", "kind must be fail_phase, drop_watch, http_error, unavailable or latency")

    def drop_watch_after(self, vm_uuid):
        """The number of events after which a watch of this instance is to be cut, or None (the fault is
        not used up here: see :meth:`use_drop_watch`)."""
        with self.lock:
            vm = self.vms.get(vm_uuid) or {}
            for f in self.faults.values():
                if f["kind"] == "drop_watch" and f["instance"] in ("*", vm.get("uuid"), vm.get("alias")):
                    return int(f["after_events"])
            return None

    def use_drop_watch(self, vm_uuid):
        """Count a firing of the drop_watch fault of this instance (when a watch is really cut): a watch
        that ends before its N events (the action ended first) leaves the fault for the next watch."""
        with self.lock:
            vm = self.vms.get(vm_uuid) or {}
            for fid, f in list(self.faults.items()):
                if f["kind"] == "drop_watch" and f["instance"] in ("*", vm.get("uuid"), vm.get("alias")):
                    self._use_fault(fid, f)
                    self._flush()
                    return True
            return False

    def count_request(self, method, status):
        with self.lock:
            super().count_request(method, status)
            if status == 401:
                self.stats["auth_failures"] += 1

    def stats_report(self):
        with self.lock:
            return {"requests": dict(self.stats["requests"]), "status": dict(self.stats["status"]),
                    "auth_failures": self.stats["auth_failures"], "lab_now": round(self.lab_now(), 3),
                    "time_scale": self.time_scale,
                    "migrations": [self.migration_view(r, raw=True) for r in self.migrations.values()]}

    def stats_reset(self):
        with self.lock:
            self.stats = self._empty_stats()
            self._save_meta()
            self._flush()

    def instances_report(self, migrations_only=False):
        with self.lock:
            out = {}
            for vm in sorted(self.vms.values(), key=lambda v: v["alias"]):
                root = self._ds(vm["server_uuid"], vm["uuid"])
                man = tree_manifest(root)
                hist = copy.deepcopy(vm["_lab"]["history"])
                for h in hist:
                    for k in ("source_server", "target_server"):
                        h[k + "_hostname"] = (self.servers.get(h[k]) or {}).get("hostname") if h[k] else None
                if migrations_only:
                    out[vm["alias"]] = hist
                    continue
                out[vm["alias"]] = {"uuid": vm["uuid"], "owner": vm["owner_uuid"], "server": vm["server_uuid"],
                                    "server_hostname": self.servers[vm["server_uuid"]]["hostname"],
                                    "state": vm["state"], "dataset": root, "files": len(man),
                                    "bytes": sum(s for s, _m in man.values()),
                                    "workload": dict(vm["_lab"]["workload"]), "migrations": hist}
            return {"instances": out, "lab_now": round(self.lab_now(), 3), "time_scale": self.time_scale}

    def world_summary(self):
        with self.lock:
            out = {}
            for su, s in sorted(self.servers.items(), key=lambda kv: kv[1]["hostname"]):
                cap = self.capacity(su)
                out[s["hostname"]] = {"uuid": su, "unreserved_ram": cap["ram"], "unreserved_disk": cap["disk"],
                                      "instances": sorted(v["alias"] for v in self.vms.values()
                                                          if v["server_uuid"] == su),
                                      "hidden": sorted(v["alias"] for v in self._hidden_halves(su))}
            return {"servers": out, "migrations": {self.vms[r["vm_uuid"]]["alias"]: [r["phase"], r["state"]]
                                                   for r in self.migrations.values()},
                    "lab_now": round(self.lab_now(), 3)}
