"""The VirtFusion world: hypervisors, servers and migrations, persisted in ``virtfusion.sqlite``.

Plain data under one lock; ``lab.virtfusion.engine`` does the slow work (QEMU, disk copies) and
writes its progress back through the methods here. Every public mutation is written through to
SQLite before it returns, so a restarted lab finds the world as it was.

Time: lab seconds, each ``time_scale`` real seconds (the topology's ``time_scale``, or
``--time-scale``). Only the lab's own waits (step overheads, ``--abort-after``) follow it; QEMU's
transfers run in real time.
"""
import copy
import ipaddress
import logging
import os
import time

from lab.store import doc_tables
from lab.virtfusion.topology import OUTPUT_MODES, parse_topology
from lab.worldbase import WorldBase

log = logging.getLogger("lab.virtfusion.world")

TABLES = doc_tables("hypervisors", "servers", "migrations", "faults", "meta")
LIVE_STEPS = (("precheck", "Pre-migration checks"), ("filters", "Check source filters"),
              ("prepare", "Prepare destination hypervisor"), ("transfer", "Transfer data"),
              ("start_dst", "Start server on destination"), ("finalize", "Finalise migration"))
HYBRID_STEPS = (("precheck", "Pre-migration checks"), ("prepare", "Prepare destination hypervisor"),
                ("stage1", "Transfer disks (online)"), ("suspend", "Suspend server"),
                ("stage2", "Transfer disk changes (suspended)"), ("boot", "Boot server on destination"),
                ("finalize", "Finalise migration"))
STEP_KEYS = frozenset(step[0] for step in LIVE_STEPS + HYBRID_STEPS)
FAULT_KINDS = ("fail_step", "refuse_destination", "lose_tracking", "kill_ssh")


class VfError(Exception):
    """An error answered to the caller: ``status`` for HTTP, ``errors`` is the list of messages."""

    def __init__(self, status, errors):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(self.errors))
        self.status = status
        self.message = "; ".join(self.errors)


class World(WorldBase):
    """The plane's state on the shared base (lab.worldbase): lock, write-through persistence, lab
    clock, faults (its own kinds beside the HTTP ones) and request counters."""

    def __init__(self, store, topology, state_dir, time_scale=None, reset=False):
        super().__init__(store, topology or {})
        self.state_dir = state_dir
        self.section = self.topology.get("virtfusion") or {}
        self.listeners = []           # callables(event, doc) notified on changes (the engine)
        self._open(time_scale, reset, "meta")

    # ------------------------------------------------------------------ persistence (lab.worldbase)
    def _seed(self, time_scale):
        hvs, servers, cfg = parse_topology(self.section)
        self.hvs, self.servers, self.cfg = hvs, servers, cfg
        self.migrations, self.faults = {}, {}
        self.stats = self._empty_stats()
        self.seq = 0
        self._start_clock(time_scale)
        self.seeded = True
        self._mark_all()
        log.info("virtfusion world seeded: %d hypervisors, %d servers", len(hvs), len(servers))

    def _load(self, time_scale):
        _hvs, _servers, cfg = parse_topology(self.section)   # the topology still has to be valid
        self.hvs = {int(k): v for k, v in self.store.load("hypervisors").items()}
        self.servers = {int(k): v for k, v in self.store.load("servers").items()}
        self.migrations = self.store.load("migrations")
        self.faults = self.store.load("faults")
        meta = self.store.load("meta")
        self.cfg = dict(cfg, output=(meta.get("config") or {}).get("output", cfg["output"]))
        self.stats = dict(self._empty_stats(), **(meta.get("stats") or {}))
        self.seq = meta.get("seq", {}).get("n", 0)
        clock = meta.get("clock") or {}
        self._load_clock({"lab_now": clock.get("lab_now", 0.0), "time_scale": clock.get("time_scale", 1.0)},
                         time_scale)
        self.seeded = False
        for mig in self.migrations.values():
            if mig["status"] == "in-progress":   # its QEMU processes died with the old lab process
                step = next((st for st in mig["steps"] if st["status"] == "in-progress"), None)
                msg = f"the lab restarted during step {step['key'] if step else '?'}; the guests were power-cycled"
                if step is not None:
                    step.update(status="failed", finished=time.time(), message=msg)
                mig["status"] = "failed"
                if mig["data"] != "success":
                    mig["data"] = "failed"
                mig["errors"].append(msg)
                mig["finished"] = time.time()
                self._mark("migrations", mig["id"], mig)
        self._save_meta()
        log.info("virtfusion world loaded: %d hypervisors, %d servers, %d migrations", len(self.hvs),
                 len(self.servers), len(self.migrations))

    @staticmethod
    def _empty_stats():
        return {"cli_calls": {}, "api_calls": 0, "migrations_started": 0, "migrations_complete": 0,
                "migrations_failed": 0, "migrations_cancelled": 0, "aborts": 0, "precheck_refusals": 0,
                "requests": {}, "status": {}}

    def _mark_all(self):
        for k, v in self.hvs.items():
            self._mark("hypervisors", str(k), v)
        for k, v in self.servers.items():
            self._mark("servers", str(k), v)
        for table in ("migrations", "faults"):
            for k, v in getattr(self, table).items():
                self._mark(table, k, v)
        self._save_meta()

    def _save_meta(self):
        super()._save_meta()
        self._mark("meta", "seq", {"n": self.seq})

    def _write(self, table, key, doc):
        with self.lock:
            self._mark(table, key, doc)
            self._flush()

    def save_server(self, sid):
        with self.lock:
            self._write("servers", str(sid), self.servers[sid])

    def save_migration(self, mid):
        with self.lock:
            self._write("migrations", mid, self.migrations[mid])

    def bump(self, key, n=1):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n
            self._save_meta()
            self._flush()

    def stats_reset(self):
        with self.lock:
            self.stats = self._empty_stats()
            self._save_meta()
            self._flush()

    def stats_report(self):
        with self.lock:
            return copy.deepcopy(self.stats)

    def count_cli(self, command):
        with self.lock:
            calls = self.stats.setdefault("cli_calls", {})
            calls[command] = calls.get(command, 0) + 1
            self._save_meta()
            self._flush()

    @staticmethod
    def _bad_request(message):
        return VfError(400, message)

    @property
    def rich(self):
        return self.cfg.get("output") == "rich"

    def set_output(self, mode):
        if mode not in OUTPUT_MODES:
            raise VfError(400, f"mode must be one of {', '.join(OUTPUT_MODES)}, got {mode!r}")
        with self.lock:
            self.cfg["output"] = mode
            self._save_meta()
            self._flush()

    def update_hypervisor(self, hid, body):
        """``PUT /compute/hypervisors/{id}`` [vendor, 7.1.0+]: send only the fields to change; unknown fields are
        rejected; nothing is pushed to the hypervisor. The lab takes the three booleans."""
        if not isinstance(body, dict) or not body:
            raise VfError(422, "JSON object with the fields to change expected")
        errors = [f"unknown field {k}" for k in sorted(body) if k not in ("prohibit", "maintenance", "enabled")]
        errors += [f"{k} must be true or false, got {v!r}" for k, v in sorted(body.items())
                   if k in ("prohibit", "maintenance", "enabled") and not isinstance(v, bool)]
        if errors:
            raise VfError(422, errors)
        with self.lock:
            hv = self.hypervisor(hid)
            hv.update(body)
            self._write("hypervisors", str(hv["id"]), hv)
            return hv

    @staticmethod
    def _unavailable_covers(path):
        return path.startswith("/api/")

    def sleep_lab(self, lab_seconds, stop=None):
        """Sleep lab_seconds (time-scaled); return early (True) when ``stop`` is set."""
        real = max(0.0, float(lab_seconds)) * self.time_scale
        if stop is not None:
            return stop.wait(real)
        time.sleep(real)
        return False

    # ------------------------------------------------------------------ lookups
    @staticmethod
    def _by_id(docs, value, label, kind):
        """The document whose numeric id is ``value``: 400 when it is not a number, 404 when unknown."""
        try:
            key = int(value)
        except (TypeError, ValueError):
            raise VfError(400, f"{label} id must be a number, got {value!r}") from None
        doc = docs.get(key)
        if doc is None:
            raise VfError(404, f"{kind} {key} not found")
        return doc

    def server(self, sid):
        return self._by_id(self.servers, sid, "server", "Server")

    def hypervisor(self, hid, label="hypervisor"):
        return self._by_id(self.hvs, hid, label, "Hypervisor")

    def disk_path(self, server, disk, hv_id):
        """Where a server's disk image lives on a hypervisor: under the storage's mount point, which
        is the same path on every hypervisor it exists on (the seed's mount-point requirement)."""
        mount = self.storage_mount(server["hypervisor"], disk["storage"])
        return os.path.join(self.hv_root(hv_id), mount.lstrip("/"), f"{server['uuid']}_{disk['drive']}.qcow2")

    def hv_root(self, hv_id):
        return os.path.join(self.state_dir, "hypervisors", str(hv_id))

    def storage_mount(self, hv_id, storage_id):
        for st in self.hvs[hv_id]["storage"]:
            if st["id"] == storage_id:
                return st["mount"]
        return None

    def servers_on(self, hv_id):
        return [s for s in sorted(self.servers.values(), key=lambda s: s["id"]) if s["hypervisor"] == hv_id]

    # ------------------------------------------------------------------ pre-checks [vendor: seed]
    def prechecks(self, server, dst_id, kind="live", force_offline=False):
        """Every failing requirement, as vendor-style messages (empty list: all pass)."""
        errors = []
        src = self.hvs[server["hypervisor"]]
        dst = self.hvs[dst_id]
        sid = server["id"]
        if kind == "live" and server["state"] == "offline" and not force_offline:   # awaiting setup: internal transfer
            errors.append(f"Server {sid} is offline. A live migration needs the server online (running or "
                          "suspended); use --force-offline to start it paused for the transfer.")
        if not dst["ssh"]["enabled"]:
            errors.append(f"Destination hypervisor {dst_id} ({dst['name']}) does not have SSH enabled.")
        nets = [ipaddress.ip_network(r) for r in dst["ip_ranges"]]
        for nic in server["nics"]:
            for ip in nic["ips"]:
                addr = ipaddress.ip_address(ip)
                if not any(addr.version == n.version and addr in n for n in nets):
                    errors.append(f"IP address {ip} is not usable on destination hypervisor {dst_id} "
                                  f"({dst['name']}).")
        dst_mounts = {st["mount"] for st in dst["storage"]}
        for disk in server["disks"]:
            mount = self.storage_mount(src["id"], disk["storage"])
            st = next((x for x in src["storage"] if x["id"] == disk["storage"]), None)
            if st is not None and not st["enabled"]:
                errors.append(f"Storage {st['id']} ({mount}) of server {sid} (drive {disk['drive']}) is not enabled.")
            if mount not in dst_mounts:
                errors.append(f"Storage mount point {mount} (drive {disk['drive']}) does not exist on destination "
                              f"hypervisor {dst_id} ({dst['name']}).")
        if src["cpu"]["vendor"] != dst["cpu"]["vendor"]:
            errors.append(f"CPU vendor mismatch: source hypervisor {src['id']} is {src['cpu']['vendor']}, "
                          f"destination hypervisor {dst_id} is {dst['cpu']['vendor']}.")
        missing = sorted(set(server["cpu_flags"]) - set(dst["cpu"]["flags"]))
        if missing:
            errors.append(f"CPU flags used by server {sid} are missing on destination hypervisor {dst_id}: "
                          f"{', '.join(missing)}.")
        nat = [n["name"] for n in server["nics"] if n["nat"]]
        if nat:
            errors.append(f"Server {sid} has NAT interfaces ({', '.join(nat)}); servers with NAT interfaces can't "
                          "be migrated.")
        return errors

    # ------------------------------------------------------------------ migrations
    def new_migration(self, kind, server, dst_id, options, via):
        with self.lock:
            self.seq += 1
            mid = f"{'lm' if kind == 'live' else 'hm'}-{self.seq}"
            steps = LIVE_STEPS if kind == "live" else HYBRID_STEPS
            doc = {"id": mid, "kind": kind, "server": server["id"], "src": server["hypervisor"], "dst": dst_id,
                   "server_state": server["state"], "options": options, "via": via, "status": "in-progress",
                   "data": "pending", "cancelled": False, "aborted": False, "data_lost": False,
                   "steps": [{"key": k, "name": n, "status": "pending", "started": None, "finished": None,
                              "message": ""} for k, n in steps],
                   "errors": [], "debug": [], "qemu": {}, "disks": {}, "created": time.time(), "finished": None,
                   "attempts": 1}
            self.migrations[mid] = doc
            server["migration"] = mid
            self.bump("migrations_started")
            self._mark("migrations", mid, doc)
            self._mark("servers", str(server["id"]), server)
            self._flush()
            return doc

    def last_migration(self, sid, kind=None):
        best = None
        for m in self.migrations.values():
            if m["server"] == sid and (kind is None or m["kind"] == kind):
                if best is None or int(m["id"].split("-")[1]) > int(best["id"].split("-")[1]):
                    best = m
        return best

    def debug(self, mig, line):
        with self.lock:
            mig["debug"].append(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}")
            if len(mig["debug"]) > 2000:
                del mig["debug"][:500]

    def step(self, mig, key):
        return next(s for s in mig["steps"] if s["key"] == key)

    def set_step(self, mig, key, status, message=None):
        with self.lock:
            st = self.step(mig, key)
            st["status"] = status
            if status == "in-progress":
                st["started"] = time.time()
                st["finished"] = None
                st["message"] = message or ""
            else:
                st["finished"] = time.time()
                if message is not None:
                    st["message"] = message
            self.debug(mig, f"step {key}: {status}{' - ' + message if message else ''}")
            self.save_migration(mig["id"])

    # ------------------------------------------------------------------ faults (lab.worldbase: add, list, clear)
    def _check_fault(self, f):
        """Validate and complete one of the plane's own fault kinds (``times``: default 1, 0 = until
        cleared; it is the shared base's ``count``)."""
        kind = f.get("kind")
        if kind not in FAULT_KINDS:
            raise VfError(400, f"fault kind must be one of {', '.join(FAULT_KINDS + ('http_error', 'unavailable', 'latency'))}, "
                               f"got {kind!r}")
        if kind == "fail_step":
            keys = sorted(STEP_KEYS)
            if f.get("step") not in keys:
                raise VfError(400, f"fail_step needs step, one of {', '.join(keys)}, got {f.get('step')!r}")
            f["message"] = str(f.get("message") or f"lab fault: step {f['step']} failed")
        if kind == "refuse_destination":
            f["hypervisor"] = self.hypervisor(f.get("hypervisor"))["id"]
        if kind == "kill_ssh":
            step = f.get("step")
            if step is not None and step not in STEP_KEYS:
                raise VfError(400, f"kill_ssh step must be a step key, got {step!r}")
            f["step"] = step
        if f.get("server") is not None:
            f["server"] = self.server(f["server"])["id"]
        times = f.get("times", 1)
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise VfError(400, f"times must be a whole number (0 = until cleared), got {times!r}")
        f["times"] = times
        f["count"] = times or None
        log.info("fault added: %s", f)

    def take_fault(self, kind, server=None, step=None, hypervisor=None):
        """The first matching fault (each firing counted against its ``times``), or None."""
        with self.lock:
            for fid, f in sorted(self.faults.items()):
                if f["kind"] != kind:
                    continue
                if f.get("server") is not None and f["server"] != server:
                    continue
                if "step" in f and f["step"] is not None and f["step"] != step:
                    continue
                if "hypervisor" in f and f["hypervisor"] != hypervisor:
                    continue
                hit = copy.deepcopy(f)
                self._use_fault(fid, f)
                self._flush()
                return hit
        return None

    # ------------------------------------------------------------------ views
    def server_view(self, s, rich=None):
        """``GET /servers/{id}``: what third-party clients read (id, name, uuid, state, the hypervisor) and, rich,
        the lab's fields (NICs, disks, the last migration) [lab assumption: the vendor's shape is not documented]."""
        hv = self.hvs[s["hypervisor"]]
        mig = self.migrations.get(s.get("migration") or "")
        out = {"id": s["id"], "name": s["name"], "uuid": s["uuid"], "hypervisorId": s["hypervisor"],
               "state": s["state"], "memory": s.get("api_memory", s["memory"]), "cpu": s.get("cpu", 1)}
        if not (self.rich if rich is None else rich):
            return out
        return {"id": s["id"], "name": s["name"], "uuid": s["uuid"], "hypervisorId": s["hypervisor"],
                "hypervisorName": hv["name"], "state": s["state"], "memory": s.get("api_memory", s["memory"]),
                "cpu": s.get("cpu", 1),
                "dirtyRate": s["dirty_rate"], "workingSet": s["working_set"],
                "nics": s["nics"], "disks": [{"drive": d["drive"], "storageId": d["storage"],
                                              "size": d.get("api_size", d["size"]),
                                              "mount": self.storage_mount(s["hypervisor"], d["storage"])}
                                             for d in s["disks"]],
                "migration": None if mig is None else {"id": mig["id"], "type": mig["kind"], "status": mig["status"],
                                                       "cancelled": mig["cancelled"], "destinationId": mig["dst"]}}

    def group_resources(self, gid):
        """``GET /compute/hypervisors/groups/{id}/resources`` [vendor: path; "server counts, CPU, memory and storage
        allocation against each hypervisor's limits"; lab assumption: the field names]: per hypervisor of the group,
        what its servers take against its limits (a limit of 0 is "not set", as the vendor's update endpoint allows)."""
        try:
            gid = int(gid)
        except ValueError:
            raise VfError(404, f"hypervisor group {gid!r} not found") from None
        with self.lock:
            hvs = [h for h in sorted(self.hvs.values(), key=lambda h: h["id"]) if h.get("group", 1) == gid]
            if not hvs:
                raise VfError(404, f"hypervisor group {gid} not found")
            out = []
            for h in hvs:
                on = self.servers_on(h["id"])
                used = {}
                for s in on:
                    for d in s["disks"]:
                        used[d["storage"]] = used.get(d["storage"], 0) + d.get("api_size", d["size"])
                out.append({"hypervisorId": h["id"], "name": h["name"],
                            "servers": {"allocated": len(on), "max": h.get("max_servers", 0)},
                            "cpu": {"allocated": sum(s.get("cpu", 1) for s in on), "max": h.get("max_cpu", 0)},
                            "memory": {"allocated": sum(s.get("api_memory", s["memory"]) for s in on),
                                       "max": h.get("max_memory", 0)},
                            "storage": [{"storageId": st["id"], "allocated": used.get(st["id"], 0),
                                         "max": st.get("size", 0)} for st in h["storage"]]})
            return out

    def world_view(self):
        with self.lock:
            return {"hypervisors": [{"id": h["id"], "name": h["name"], "prohibit": h.get("prohibit", False),
                                     "ssh": h["ssh"], "cpu": h["cpu"], "group": h.get("group", 1),
                                     "max_memory": h.get("max_memory", 0), "max_cpu": h.get("max_cpu", 0),
                                     "max_servers": h.get("max_servers", 0),
                                     "storage": h["storage"], "ip_ranges": h["ip_ranges"],
                                     "servers": [s["id"] for s in self.servers_on(h["id"])]}
                                    for h in sorted(self.hvs.values(), key=lambda h: h["id"])],
                    "servers": [self.server_view(s, rich=True)
                                for s in sorted(self.servers.values(), key=lambda s: s["id"])],
                    "time_scale": self.time_scale}
