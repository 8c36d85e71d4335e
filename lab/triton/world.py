"""The simulated Triton data center: compute nodes, instances with real datasets, migrations. The world
holds the state (seeding, loading, lookups, views, the admin plane) and its parts, each a concern of its own
(composition, not mixins; ``lab.part.Part``):

- ``allocation`` (lab.triton.allocation): capacity, the allocator, server updates;
- ``actions`` (lab.triton.migrations): the migration actions, their validation and records;
- ``simulation`` (lab.triton.simulation): the tick that advances actions and workloads, progress events.

Everything runs under ``TritonWorld.lock``; HTTP handlers call the world and its parts, one background
thread (``run_simulation``) advances the running migration actions and the workloads. State is
written through to ``triton.sqlite`` (``lab.store.Store`` with this plane's tables).

Datasets are directories under ``<state>/triton/zones/<server uuid>/<vm uuid>/``; a sync copies the
files that changed since the previous sync (a real incremental copy, counted in bytes) at the
topology's rate; see lab/TRITON.md for the contract.
"""
import copy
import math
import os
import random
import shutil
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.tls import write_private_key
from lab.triton.allocation import Allocation
from lab.triton.common import (
    ALLOCATOR_MODES,
    TIMING_DEFAULTS,
    ApiError,
    iso,
    log,
    md5_fingerprint,
    stable_uuid,
    tree_manifest,
)
from lab.triton.migrations import MigrationActions
from lab.triton.simulation import Simulation
from lab.worldbase import WorldBase


class TritonWorld(WorldBase):
    def __init__(self, store, topology, state_dir, time_scale=None, reset=False):
        super().__init__(store, topology or {})
        self.allocation = Allocation(self)
        self.actions = MigrationActions(self)
        self.simulation = Simulation(self)
        self.state_dir = state_dir
        self.base = os.path.join(state_dir, "triton")
        self.progress = {}       # vm uuid -> latest progress event (like VMAPI's in-memory map)
        self.last_record = {}    # vm uuid -> last record, also after it was deleted (watch end events)
        self.watch_events = {}   # vm uuid -> events sent so far on watches (drop_watch fault)
        self._open(time_scale, reset, "meta")

    def run_simulation(self, interval=0.01, flush_every=0.2):
        """The background thread's loop (lab.planes): the ``simulation`` part's."""
        self.simulation.run(interval, flush_every)

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
            cap = self.allocation.capacity(s["uuid"], usage)
            out.update(unreserved_ram=cap["ram"], unreserved_disk=cap["disk"], unreserved_cpu=cap["cpu"])
        if "vms" in extras or "all" in extras:
            out["vms"] = {v["uuid"]: {"uuid": v["uuid"], "owner_uuid": v["owner_uuid"], "state": v["state"],
                                      "max_physical_memory": v["ram"]} for v in self.vms_on_server(s["uuid"])}
        return out

    def vms_on_server(self, su, include_hidden=True):
        out = [v for v in self.vms.values() if v["server_uuid"] == su]
        if include_hidden:
            out += self.allocation.hidden_halves(su)
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

    def entry_view(self, e):
        """A progress history entry as the watch stream sends it."""
        return self._entry_view(e, self.wall())

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

    # ------------------------------------------------------------------ admin plane
    def set_workload(self, key, bytes_per_second):
        with self.lock:
            vm = self.find_vm(key)
            if not vm:
                raise ApiError(404, "ResourceNotFound", f"instance {key} not found")
            vm["_lab"]["workload"]["bytes_per_second"] = int(bytes_per_second)
            self._save("vms", vm["uuid"])
            self._flush()

    def set_user_migration_allowed(self, value):
        """The SAPI vmapi metadata ``user_migration_allowed`` (the lab has no SAPI: set it here)."""
        if not isinstance(value, bool):
            raise ApiError(400, "BadRequest", "user_migration_allowed must be true or false")
        with self.lock:
            self.cfg["user_migration_allowed"] = value
            self._save_meta()
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
                cap = self.allocation.capacity(su)
                out[s["hostname"]] = {"uuid": su, "unreserved_ram": cap["ram"], "unreserved_disk": cap["disk"],
                                      "instances": sorted(v["alias"] for v in self.vms.values()
                                                          if v["server_uuid"] == su),
                                      "hidden": sorted(v["alias"] for v in self.allocation.hidden_halves(su))}
            return {"servers": out, "migrations": {self.vms[r["vm_uuid"]]["alias"]: [r["phase"], r["state"]]
                                                   for r in self.migrations.values()},
                    "lab_now": round(self.lab_now(), 3)}
