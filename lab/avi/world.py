"""The simulated Avi world: its state (objects, operations, sessions, faults, stats) and the parts
that work on it, each a concern of its own (composition, not mixins):

- ``objects`` (lab.avi.objects): seeding from the topology, configuration writes;
- ``placement`` (lab.avi.placement): where a virtual service goes, creating SEs;
- ``operations`` (lab.avi.operations): migrate, scale out/in, SE disable, advanced by the tick;
- ``views`` (lab.avi.views): objects, inventories and runtime in the vendor's shapes;
- ``eventlog`` (lab.avi.events): the controller's event log and the logs API;
- ``upgrade`` (lab.avi.upgrade): images, the controller cluster, upgrades and their status.

Everything runs under one re-entrant lock (``World.lock``); HTTP handlers call the parts, and one
background thread (``World.run_simulation``) advances the operations. Every mutation is written
through to SQLite (``lab.store``) at the end of the public call that made it.

Time: the lab clock counts *lab seconds*. A duration of D lab seconds takes D * time_scale real
seconds. The lab clock is persisted; while the lab process is down the lab clock stands still, so
in-flight operations resume where they were after a restart **[lab assumption]**.
"""
import logging
import random
import secrets
import time

from lab.avi.common import SERVING_OPER, ApiError, ref, uuid_of
from lab.avi.events import Events
from lab.avi.objects import TYPES, Objects
from lab.avi.operations import OP_KINDS, Operations
from lab.avi.placement import Placement
from lab.avi.upgrade.engine import UpgradeEngine
from lab.avi.views import Views
from lab.worldbase import WorldBase

log = logging.getLogger("lab.avi.world")

TIMING_DEFAULTS = {"login": 0, "se_create": 300, "scaleout": 20, "scalein": 10,
                   "se_disable_settle": 2, "honour_scalein_timeout": False, "se_disable_parallel": 1,
                   "se_spawn_retry": 300}
# How the controller decides (topology `decisions:`, GET/POST /_lab/decisions). `predicted`: the placement
# rules as lab/AVI.md states them, ties broken by name (what the collection's planner predicts).
# `otherwise`: another valid choice within what the vendor documents [lab assumption: which one]: any
# eligible SE or a new SE where one may be created, ties broken at random (seeded), a new SE on any host
# with room; SE creations failing (`se_create_failures`: the next ones fail with these events, and the
# controller retries on another host after `timing.se_spawn_retry`, vendor: "wait for five minutes and then
# attempt to recreate the SE on a new host"); every duration times `slow`, spread by +/- `jitter`.
DECISION_DEFAULTS = {"mode": "predicted", "seed": 1, "se_create_failures": [], "slow": 1.0, "jitter": 0.0}
DECISION_MODES = ("predicted", "otherwise")
SE_CREATE_FAILURE_EVENTS = ("CREATE_SE_FAIL", "CREATE_SE_TIMEOUT")


class World(WorldBase):
    def __init__(self, store, topology, time_scale=None, reset=False):
        super().__init__(store, topology)
        self.objects = Objects(self)
        self.placement = Placement(self)
        self.operations = Operations(self)
        self.views = Views(self)
        self.eventlog = Events(self)
        self.upgrade = UpgradeEngine(self)
        self._meta_saved = 0.0
        self._objects_changed = True
        self._open(time_scale, reset, "objects")

    # ------------------------------------------------------------------ persistence (lab.worldbase)
    def save_obj(self, typ, uuid):
        self._objects_changed = True   # the tick looks at availability again (update_disruption)
        self._mark("objects", (typ, uuid), self.objs[typ].get(uuid))

    def _save_meta(self):
        super()._save_meta()
        if self.upgrade.up is not None:
            self._mark("meta", "upgrade", self.upgrade.up)

    def _load(self, time_scale):
        self.objs = {t: {} for t in TYPES}
        self.objs.update(self.store.load_objects())
        for se in self.objs["serviceengine"].values():   # a state dir from before mgmt_ip moved under _lab
            if "mgmt_ip_address" in se:
                se["_lab"]["mgmt_ip"] = se.pop("mgmt_ip_address")
        meta = self.store.load("meta")
        self.cfg = meta["config"]
        self.cfg.pop("vip_summary", None)   # a state dir from when the lab could serve a list here
        self.cfg.setdefault("decisions", dict(DECISION_DEFAULTS))
        self.eventlog.load(meta)
        self.stats = meta["stats"]
        self._load_clock(meta["clock"], time_scale)
        self.ops = self.store.load("operations")
        self.sessions = self.store.load("sessions")
        self.faults = self.store.load("faults")
        self.disruption = self.store.load("disruption")
        self.upgrade.load(meta)
        self._save_meta()
        log.info("world loaded from state dir: %d SEs, %d VSs, %d operations in flight",
                 len(self.objs["serviceengine"]), len(self.objs["virtualservice"]),
                 sum(1 for o in self.ops.values() if o["state"] == "running"))

    # ------------------------------------------------------------------ seeding
    def _seed(self, time_scale):
        topo = self.topology or {}
        ctl = topo.get("controller", {})
        timing = dict(TIMING_DEFAULTS)
        timing.update(topo.get("timing") or {})
        self.cfg = {
            "version": str(ctl.get("version", "22.1.6")),
            "build": str(ctl.get("build", "9191")),
            "username": ctl.get("username", "admin"),
            "password": ctl.get("password", "admin"),
            "tenants": list(ctl.get("tenants", ["admin"])),
            "api_idle_timeout": float(ctl.get("api_idle_timeout", 900)),
            "timing": timing,
            "decisions": self.check_decisions(dict(DECISION_DEFAULTS, **(topo.get("decisions") or {}))),
        }
        self._start_clock(time_scale)
        self.eventlog.seed()
        self.objs = {t: {} for t in TYPES}
        self.ops, self.sessions, self.faults, self.disruption = {}, {}, {}, {}
        self.stats = self._empty_stats()
        self.objects.seed(topo)
        self.upgrade.seed(topo)
        for t in TYPES:
            for u in self.objs[t]:
                self.save_obj(t, u)
        self.update_disruption()
        self._save_meta()
        log.info("world seeded: %d clouds, %d hosts, %d SE groups, %d SEs, %d VSs", len(self.objs["cloud"]),
                 len(self.objs["vimgrhostruntime"]), len(self.objs["serviceenginegroup"]),
                 len(self.objs["serviceengine"]), len(self.objs["virtualservice"]))

    @staticmethod
    def _empty_stats():
        return {"logins": 0, "failed_logins": 0, "requests": {}, "status": {}, "operations_done": []}

    # ------------------------------------------------------------------ sessions
    def login(self, username, password):
        with self.lock:
            ok = (username == self.cfg["username"] and password is not None
                  and secrets.compare_digest(str(password), str(self.cfg["password"])))
            if not ok:
                self.stats["failed_logins"] += 1
                self._save_meta()
                self._flush()
                return None
            sid = secrets.token_hex(16)
            csrf = secrets.token_hex(16)
            self.sessions[sid] = {"csrftoken": csrf, "username": username, "last_used": time.time(),
                                  "created": time.time()}
            self._mark("sessions", sid, self.sessions[sid])
            self.stats["logins"] += 1
            self._save_meta()
            self._flush()
            return sid, csrf

    def check_session(self, sid):
        """Return the session dict, or raise ApiError(401)."""
        with self.lock:
            s = self.sessions.get(sid) if sid else None
            if s is None:
                raise ApiError(401, "Authentication credentials were not provided." if not sid
                               else "Invalid session, please log in again.")
            if time.time() - s["last_used"] > self.cfg["api_idle_timeout"]:
                del self.sessions[sid]
                self._mark("sessions", sid, None)
                self._flush()
                raise ApiError(401, "Session expired, please log in again.")
            s["last_used"] = time.time()
            # persisting last_used on every call would cost a write per request; flushed with the tick
            self._mark("sessions", sid, s)
            return s

    def logout(self, sid):
        with self.lock:
            if self.sessions.pop(sid, None) is not None:
                self._mark("sessions", sid, None)
                self._flush()

    def expire_sessions(self):
        """Admin helper (tests): forget every session's freshness so the next call answers 401."""
        with self.lock:
            for sid, s in self.sessions.items():
                s["last_used"] = 0
                self._mark("sessions", sid, s)
            self._flush()

    # ------------------------------------------------------------------ lookups
    def lookup(self, typ, u):
        return self.objs[typ].get(uuid_of(u))

    def group_of(self, obj):
        return self.objs["serviceenginegroup"].get(uuid_of(obj["se_group_ref"]))

    def cloud_of(self, obj):
        return self.objs["cloud"].get(uuid_of(obj["cloud_ref"]))

    def ses_of_group(self, gu):
        r = ref("serviceenginegroup", gu)
        return [s for s in self.objs["serviceengine"].values() if s["se_group_ref"] == r]

    def load_of(self, su):
        return sum(1 for v in self.objs["virtualservice"].values()
                   for p in v["_lab"]["placement"] if p["se"] == su)

    def vss_on(self, su):
        return [v for v in self.objs["virtualservice"].values()
                if any(p["se"] == su for p in v["_lab"]["placement"])]

    def find(self, typ, key):
        """Find by uuid, ref or name (admin plane helpers)."""
        with self.lock:
            o = self.lookup(typ, key)
            if o:
                return o
            for o in self.objs[typ].values():
                if o["name"] == key:
                    return o
            return None

    def se_serving(self, su):
        se = self.objs["serviceengine"].get(su)
        return bool(se) and se["_lab"]["oper"] in SERVING_OPER

    def serving_count(self, vs):
        return sum(1 for p in vs["_lab"]["placement"]
                   if p["state"] in ("active", "scaling_in") and self.se_serving(p["se"]))

    # ------------------------------------------------------------------ how the controller decides
    def check_decisions(self, d):
        if d.get("mode") not in DECISION_MODES:
            raise ValueError(f"decisions.mode must be one of {', '.join(DECISION_MODES)}")
        fails = d.get("se_create_failures") or []
        if isinstance(fails, int):
            fails = ["CREATE_SE_FAIL"] * fails
        if not isinstance(fails, list) or any(f not in SE_CREATE_FAILURE_EVENTS for f in fails):
            raise ValueError(f"decisions.se_create_failures: a count or a list of {', '.join(SE_CREATE_FAILURE_EVENTS)}")
        d["se_create_failures"] = list(fails)
        for key in ("slow", "jitter"):
            d[key] = float(d.get(key, DECISION_DEFAULTS[key]))
        if d["slow"] <= 0 or not 0 <= d["jitter"] < 1:
            raise ValueError("decisions: slow must be > 0 and jitter in [0, 1)")
        d["seed"] = int(d.get("seed", 1))
        unknown = set(d) - set(DECISION_DEFAULTS)
        if unknown:
            raise ValueError(f"decisions: unknown keys {', '.join(sorted(unknown))}")
        self._decision_rng = random.Random(d["seed"])
        return d

    def otherwise(self):
        """Whether the controller decides otherwise than predicted (``decisions.mode``)."""
        return self.cfg["decisions"]["mode"] == "otherwise"

    def decision_rng(self):
        if getattr(self, "_decision_rng", None) is None:
            self._decision_rng = random.Random(self.cfg["decisions"]["seed"])
        return self._decision_rng

    def decisions(self, update=None):
        """GET/POST /_lab/decisions: the current settings, after applying ``update`` (also `host_capacity`:
        {host name: SEs it can run}, the lab's own host capacity, which no vendor object carries)."""
        with self.lock:
            if update:
                update = dict(update)
                capacity = update.pop("host_capacity", None) or {}
                for name, n in capacity.items():
                    host = next((h for h in self.objs["vimgrhostruntime"].values() if h["name"] == name), None)
                    if host is None or not isinstance(n, int) or n < 0:
                        raise ApiError(400, f"host_capacity: unknown host {name} or not a count: {n!r}")
                    host["_lab"]["max_se"] = n
                    self.save_obj("vimgrhostruntime", host["uuid"])
                try:
                    self.cfg["decisions"] = self.check_decisions(dict(self.cfg["decisions"], **update))
                except ValueError as e:
                    raise ApiError(400, str(e)) from None
                self._save_meta()
                self._flush()
            return dict(self.cfg["decisions"], host_capacity={
                h["name"]: h["_lab"]["max_se"]
                for h in sorted(self.objs["vimgrhostruntime"].values(), key=lambda h: h["name"])})

    # ------------------------------------------------------------------ operations
    def timing(self, name):
        return float(self.cfg["timing"].get(name, TIMING_DEFAULTS.get(name, 0)))

    def duration(self, name):
        """How long an operation phase takes this time: its timing, times ``decisions.slow`` and spread by
        ``decisions.jitter`` when the controller decides otherwise."""
        base = self.timing(name)
        d = self.cfg["decisions"]
        if d["mode"] != "otherwise":
            return base
        spread = 1.0 + d["jitter"] * (2 * self.decision_rng().random() - 1) if d["jitter"] else 1.0
        return base * d["slow"] * spread

    def take_fault(self, kind, names):
        for fid, f in list(self.faults.items()):
            if f["kind"] != "fail_operation" or f["operation"] != kind:
                continue
            if f.get("target", "*") not in ("*", None) and f["target"] not in names:
                continue
            self._use_fault(fid, f)
            return f.get("reason") or f"{kind} failed (injected fault)"
        return None

    def vs_entry(self, vs, su):
        for p in vs["_lab"]["placement"]:
            if p["se"] == su:
                return p
        return None

    # ------------------------------------------------------------------ simulation
    def tick(self):
        with self.lock:
            # availability changes only with the objects (placement, SE state, VS enabled): an operation
            # running, or a write since the last tick; an idle world of 10,000 VSs skips the scan
            busy = self._objects_changed or any(o["state"] == "running" for o in self.ops.values())
            self._objects_changed = False
            for _unused in range(50):  # let zero-length phases chain within one tick
                changed = False
                for op in sorted([o for o in self.ops.values() if o["state"] == "running"],
                                 key=lambda o: o["id"]):
                    if op["state"] == "running" and self.operations.advance(op):
                        changed = True
                        self._mark("operations", op["id"], op)
                if not changed:
                    break
            if busy:
                self.update_disruption()
            if time.monotonic() - self._meta_saved > 0.5:
                self._meta_saved = time.monotonic()
                self._save_meta()
            self._flush()

    def update_disruption(self, at=None):
        """Open/close unavailability intervals; ``at``: the lab time of the change (default now)."""
        now = self.lab_now() if at is None else at
        for u, vs in self.objs["virtualservice"].items():
            d = self.disruption.get(u)
            if d is None:
                d = self.disruption[u] = {"intervals": [], "open": None}
            down = vs["enabled"] and self.serving_count(vs) == 0
            if down and d["open"] is None:
                d["open"] = now
                self._mark("disruption", u, d)
                log.info("VS %s unavailable (no up SE serves it)", vs["name"])
            elif not down and d["open"] is not None:
                d["intervals"].append([d["open"], now])
                d["open"] = None
                self._mark("disruption", u, d)
                log.info("VS %s available again", vs["name"])

    def run_simulation(self, interval=0.01):
        while not self.stop_event.wait(interval):
            try:
                self.tick()
            except Exception:  # keep the simulation alive; the log tells what went wrong
                log.exception("simulation tick failed")

    # ------------------------------------------------------------------ admin plane (faults, stats: lab.worldbase)
    @staticmethod
    def _bad_request(message):
        return ApiError(400, message)

    def _check_fault(self, f):
        if f.get("kind") != "fail_operation":
            raise ApiError(400, "kind must be http_error, unavailable, latency or fail_operation")
        if f.get("operation") not in OP_KINDS:
            raise ApiError(400, f"operation must be one of {', '.join(OP_KINDS)}")
        f.setdefault("target", "*")
        f.setdefault("count", 1)

    @staticmethod
    def _unavailable_covers(path):
        return path.startswith("/api/") or path.rstrip("/") in ("/login", "/logout")

    def disruption_report(self):
        with self.lock:
            now = self.lab_now()
            out, total = {}, 0.0
            for u, vs in sorted(self.objs["virtualservice"].items(), key=lambda kv: kv[1]["name"]):
                d = self.disruption.get(u, {"intervals": [], "open": None})
                iv = [list(x) for x in d["intervals"]] + ([[d["open"], None]] if d["open"] is not None else [])
                secs = sum((e if e is not None else now) - s for s, e in iv)
                total += secs
                out[vs["name"]] = {"uuid": u, "unavailable_seconds": round(secs, 3),
                                   "unavailable_real_seconds": round(secs * self.time_scale, 3),
                                   "intervals": iv, "available": d["open"] is None}
            return {"virtualservice": out, "total_vs_seconds": round(total, 3),
                    "total_vs_real_seconds": round(total * self.time_scale, 3), "lab_now": round(now, 3),
                    "time_scale": self.time_scale}

    def stats_report(self):
        with self.lock:
            now = self.lab_now()
            ops = []
            total = 0.0
            for op in sorted(self.ops.values(), key=lambda o: o["id"]):
                end = op["ended"] if op["ended"] is not None else now
                secs = end - op["started"]
                if op["state"] == "done" and not op.get("parent"):
                    total += secs
                ops.append({"id": op["id"], "kind": op["kind"], "target": op["target"], "vs": op.get("vs"),
                            "parent": op.get("parent"), "started": round(op["started"], 3),
                            "ended": None if op["ended"] is None else round(op["ended"], 3),
                            "lab_seconds": round(secs, 3), "real_seconds": round(secs * self.time_scale, 3),
                            "result": op["result"] or "running", "reason": op["reason"],
                            "progress_percent": self.operations.progress(op),
                            # wall clock (epoch seconds), to line operations up with a client's own times
                            "started_epoch": op.get("started_real"), "ended_epoch": op.get("ended_real")})
            return {"logins": self.stats["logins"], "failed_logins": self.stats["failed_logins"],
                    "requests": dict(self.stats["requests"]), "status": dict(self.stats["status"]),
                    "operations": ops, "operation_lab_seconds": round(total, 3),
                    "operation_real_seconds": round(total * self.time_scale, 3),
                    "time_scale": self.time_scale, "lab_now": round(now, 3)}

    def stats_reset(self):
        with self.lock:
            self.stats = self._empty_stats()
            for oid, op in list(self.ops.items()):
                parent = self.ops.get(op.get("parent") or "")
                if op["state"] == "done" and not (parent and parent["state"] == "running"):
                    del self.ops[oid]
                    self._mark("operations", oid, None)
            for u, d in self.disruption.items():
                d["intervals"] = []
                if d["open"] is not None:
                    d["open"] = self.lab_now()
                self._mark("disruption", u, d)
            self._save_meta()
            self._flush()
