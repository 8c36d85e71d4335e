"""The simulated Avi world: objects, placement engine, asynchronous operations, faults, stats.

Everything here runs under one re-entrant lock (``World.lock``); HTTP handlers call the public
methods, and one background thread (``World.run_simulation``) advances the operations. Every
mutation is written through to SQLite (``lab.store``) at the end of the public call that made it.

Time: the lab clock counts *lab seconds*. A duration of D lab seconds takes D * time_scale real
seconds. The lab clock is persisted; while the lab process is down the lab clock stands still, so
in-flight operations resume where they were after a restart **[lab assumption]**.
"""
import copy
import logging
import re
import secrets
import string
import time

from lab.avi.common import HA_LEGACY, HA_PAIR, HA_SHARED, SERVING_OPER, ApiError, new_uuid, ref, uuid_of
from lab.avi.upgrade.engine import UPGRADE_FAULT_OPS, UPGRADE_OP_KINDS, UpgradeMixin
from lab.worldbase import WorldBase

log = logging.getLogger("lab.world")

TYPES = ("cloud", "vimgrhostruntime", "serviceenginegroup", "serviceengine", "virtualservice")
HA_MODES = (HA_PAIR, HA_SHARED, HA_LEGACY)
ALGOS = ("PLACEMENT_ALGO_PACKED", "PLACEMENT_ALGO_DISTRIBUTED")
SE_ENABLED, SE_DFP, SE_DISABLED, SE_FORCE = ("SE_STATE_ENABLED", "SE_STATE_DISABLED_FOR_PLACEMENT",
                                             "SE_STATE_DISABLED", "SE_STATE_DISABLED_FORCE")
ENABLE_STATES = (SE_ENABLED, SE_DFP, SE_DISABLED, SE_FORCE)
MIG_IDLE, MIG_STARTED, MIG_FINISHED, MIG_FAILED = ("SE_MIGRATE_STATE_IDLE", "SE_MIGRATE_STATE_STARTED",
                                                   "SE_MIGRATE_STATE_FINISHED",
                                                   "SE_MIGRATE_STATE_FINISHED_WITH_FAILURE")
OP_KINDS = ("migrate", "scaleout", "scalein", "se_create", "se_disable") + UPGRADE_FAULT_OPS

SEG_DEFAULTS = {
    "ha_mode": HA_SHARED, "min_scaleout_per_vs": 1, "max_scaleout_per_vs": 4, "max_se": 10,
    "min_se": 1, "max_vs_per_se": 10, "buffer_se": 1, "algo": "PLACEMENT_ALGO_PACKED",
    "vs_scalein_timeout": 30, "vs_scaleout_timeout": 600, "max_cpu_usage": 80,
    "vcpus_per_se": 1, "memory_per_se": 2048, "disk_per_se": 15, "se_name_prefix": "Avi",
}
TIMING_DEFAULTS = {"login": 0, "se_create": 300, "scaleout": 20, "scalein": 10,
                   "se_disable_settle": 2, "honour_scalein_timeout": False, "se_disable_parallel": 1}


class World(UpgradeMixin, WorldBase):
    def __init__(self, store, topology, time_scale=None, reset=False):
        super().__init__(store, topology)
        self._open(time_scale, reset, "objects")

    # ------------------------------------------------------------------ persistence (lab.worldbase)
    def _save_obj(self, typ, uuid):
        self._mark("objects", (typ, uuid), self.objs[typ].get(uuid))

    def _save_meta(self):
        super()._save_meta()
        if getattr(self, "up", None) is not None:
            self._mark("meta", "upgrade", self.up)

    def _load(self, time_scale):
        self.objs = {t: {} for t in TYPES}
        self.objs.update(self.store.load_objects())
        meta = self.store.load("meta")
        self.cfg = meta["config"]
        self.stats = meta["stats"]
        self._load_clock(meta["clock"], time_scale)
        self.ops = self.store.load("operations")
        self.sessions = self.store.load("sessions")
        self.faults = self.store.load("faults")
        self.disruption = self.store.load("disruption")
        self._up_load(meta)
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
        }
        self._start_clock(time_scale)
        self.objs = {t: {} for t in TYPES}
        self.ops, self.sessions, self.faults, self.disruption = {}, {}, {}, {}
        self.stats = self._empty_stats()
        names = {t: {} for t in TYPES}
        mgmt = iter(f"10.10.{i // 250}.{i % 250 + 2}" for i in range(100000))
        self._mgmt_iter_start = 0
        for c in topo.get("clouds", []):
            u = new_uuid("cloud")
            vtype = c.get("vtype", "CLOUD_VCENTER")
            can = c.get("can_create_se", vtype != "CLOUD_NONE")
            self.objs["cloud"][u] = {"uuid": u, "name": c["name"], "vtype": vtype,
                                     "tenant_ref": ref("tenant", "admin"), "_lab": {"can_create_se": bool(can)}}
            names["cloud"][c["name"]] = u
            for h in c.get("hosts", []):
                hu = new_uuid("host")
                self.objs["vimgrhostruntime"][hu] = {
                    "uuid": hu, "name": h["name"], "cloud_ref": ref("cloud", u),
                    "type": vtype, "num_cpu_cores": int(h.get("num_cpu_cores", 32)),
                    "mem": int(h.get("mem", 262144)), "maintenance_mode": bool(h.get("maintenance_mode", False)),
                    "powerstate": h.get("powerstate", "VIMGR_HOST_POWERED_ON"),
                    "connection_state": "connected", "max_se_on_host": int(h.get("max_se_on_host", 4)),
                    "tenant_ref": ref("tenant", "admin")}
                names["vimgrhostruntime"][h["name"]] = hu
        default_cloud = next(iter(names["cloud"].values()), None)
        for g in topo.get("se_groups", []):
            u = new_uuid("serviceenginegroup")
            doc = dict(SEG_DEFAULTS)
            if g.get("ha_mode") == HA_PAIR:
                doc["min_scaleout_per_vs"] = 2  # vendor: active/active places every VS on >= 2 SEs
            if g.get("ha_mode") == HA_LEGACY:
                doc.update(min_scaleout_per_vs=1, max_scaleout_per_vs=1, buffer_se=0)
            for k, v in g.items():
                if k not in ("cloud", "service_engines"):
                    doc[k] = v
            self._check_seg(doc)
            cu = names["cloud"].get(g.get("cloud")) if g.get("cloud") else default_cloud
            doc.update(uuid=u, cloud_ref=ref("cloud", cu), tenant_ref=ref("tenant", "admin"))
            self.objs["serviceenginegroup"][u] = doc
            names["serviceenginegroup"][g["name"]] = u
            for s in g.get("service_engines", []):
                su = new_uuid("serviceengine")
                hu = names["vimgrhostruntime"].get(s.get("host")) if s.get("host") else self._pick_host(cu, {})
                if s.get("host") and not hu:
                    raise ValueError(f"SE {s['name']}: unknown host {s['host']}")
                state = s.get("enable_state", SE_ENABLED)
                oper = {SE_ENABLED: "OPER_UP", SE_DFP: "OPER_UP"}.get(state, "OPER_DISABLED")
                self.objs["serviceengine"][su] = {
                    "uuid": su, "name": s["name"], "cloud_ref": ref("cloud", cu), "se_group_ref": ref(
                        "serviceenginegroup", u), "host_ref": ref("vimgrhostruntime", hu) if hu else None,
                    "enable_state": state, "mgmt_ip_address": {"addr": s.get("mgmt_ip", next(mgmt)), "type": "V4"},
                    "resources": {"num_vcpus": doc["vcpus_per_se"], "memory": doc["memory_per_se"],
                                  "disk": doc["disk_per_se"]},
                    "controller_created": True, "tenant_ref": ref("tenant", "admin"),
                    "_lab": {"oper": oper, "migrate_state": MIG_IDLE if oper == "OPER_UP" else MIG_FINISHED,
                             "version": str(s.get("version", self.cfg["version"])), "failures": []}}
                names["serviceengine"][s["name"]] = su
        for i, v in enumerate(topo.get("virtual_services", [])):
            u = new_uuid("virtualservice")
            gu = names["serviceenginegroup"][v["se_group"]]
            g = self.objs["serviceenginegroup"][gu]
            vip = v.get("vip", f"10.20.{i // 250}.{i % 250 + 10}")
            doc = {"uuid": u, "name": v["name"], "cloud_ref": g["cloud_ref"],
                   "se_group_ref": ref("serviceenginegroup", gu), "enabled": bool(v.get("enabled", True)),
                   "vip": [{"vip_id": "0", "enabled": True, "ip_address": {"addr": vip, "type": "V4"}}],
                   "services": [{"port": p, "enable_ssl": p == 443} for p in v.get("ports", [80])],
                   "tenant_ref": ref("tenant", "admin"), "_lab": {"placement": [], "migrate_state": MIG_IDLE}}
            placement = []
            for j, sname in enumerate(v.get("ses", [])):
                su = names["serviceengine"][sname]
                if self.objs["serviceengine"][su]["se_group_ref"] != doc["se_group_ref"]:
                    raise ValueError(f"VS {v['name']}: SE {sname} is not in group {v['se_group']}")
                legacy = g["ha_mode"] == HA_LEGACY
                placement.append({"se": su, "primary": j == 0, "standby": legacy and j > 0, "state": "active"})
            doc["_lab"]["placement"] = placement
            self.objs["virtualservice"][u] = doc
        self._up_seed(topo)
        for t in TYPES:
            for u in self.objs[t]:
                self._save_obj(t, u)
        self._update_disruption()
        self._save_meta()
        log.info("world seeded: %d clouds, %d hosts, %d SE groups, %d SEs, %d VSs", len(self.objs["cloud"]),
                 len(self.objs["vimgrhostruntime"]), len(self.objs["serviceenginegroup"]),
                 len(self.objs["serviceengine"]), len(self.objs["virtualservice"]))

    @staticmethod
    def _check_seg(doc):
        if doc["ha_mode"] not in HA_MODES:
            raise ApiError(400, f"Invalid ha_mode {doc['ha_mode']}")
        if doc["algo"] not in ALGOS:
            raise ApiError(400, f"Invalid algo {doc['algo']}")
        for k in ("min_scaleout_per_vs", "max_scaleout_per_vs", "max_se", "max_vs_per_se"):
            if not isinstance(doc.get(k), int) or doc[k] < 1:
                raise ApiError(400, f"{k} must be a positive integer")

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
    def _get(self, typ, u):
        return self.objs[typ].get(uuid_of(u))

    def _group_of(self, obj):
        return self.objs["serviceenginegroup"].get(uuid_of(obj["se_group_ref"]))

    def _cloud_of(self, obj):
        return self.objs["cloud"].get(uuid_of(obj["cloud_ref"]))

    def _ses_of_group(self, gu):
        r = ref("serviceenginegroup", gu)
        return [s for s in self.objs["serviceengine"].values() if s["se_group_ref"] == r]

    def _load_of(self, su):
        return sum(1 for v in self.objs["virtualservice"].values()
                   for p in v["_lab"]["placement"] if p["se"] == su)

    def _vss_on(self, su):
        return [v for v in self.objs["virtualservice"].values()
                if any(p["se"] == su for p in v["_lab"]["placement"])]

    def find(self, typ, key):
        """Find by uuid, ref or name (admin plane helpers)."""
        with self.lock:
            o = self._get(typ, key)
            if o:
                return o
            for o in self.objs[typ].values():
                if o["name"] == key:
                    return o
            return None

    def _active_op(self, vs_uuid):
        for op in self.ops.values():
            if op["state"] == "running" and op.get("vs") == vs_uuid and op["kind"] in (
                    "migrate", "scaleout", "scalein"):
                return op
        return None

    def _se_serving(self, su):
        se = self.objs["serviceengine"].get(su)
        return bool(se) and se["_lab"]["oper"] in SERVING_OPER

    def _serving_count(self, vs):
        return sum(1 for p in vs["_lab"]["placement"]
                   if p["state"] in ("active", "scaling_in") and self._se_serving(p["se"]))

    # ------------------------------------------------------------------ placement engine
    def _host_room(self, hu):
        h = self.objs["vimgrhostruntime"].get(hu)
        if not h or h.get("maintenance_mode") or h.get("powerstate") != "VIMGR_HOST_POWERED_ON":
            return 0
        used = sum(1 for s in self.objs["serviceengine"].values() if uuid_of(s.get("host_ref")) == hu)
        return h.get("max_se_on_host", 4) - used

    def _pick_host(self, cu, _unused):
        best, room = None, 0
        for h in sorted(self.objs["vimgrhostruntime"].values(), key=lambda x: x["name"]):
            if uuid_of(h["cloud_ref"]) != cu:
                continue
            r = self._host_room(h["uuid"])
            if r > room:
                best, room = h["uuid"], r
        return best

    def _can_create_se(self, g, host_uuid=None):
        """(True, host_uuid) or (False, reason)."""
        cloud = self.objs["cloud"].get(uuid_of(g["cloud_ref"]))
        if not cloud or not cloud["_lab"]["can_create_se"]:
            return False, f"cloud {cloud['name'] if cloud else '?'} cannot create service engines"
        n = len(self._ses_of_group(g["uuid"]))
        if n >= g["max_se"]:
            return False, f"SE group {g['name']} has reached max_se={g['max_se']} ({n} SEs, disabled SEs count)"
        if host_uuid:
            h = self.objs["vimgrhostruntime"].get(host_uuid)
            if not h or uuid_of(h["cloud_ref"]) != cloud["uuid"]:
                return False, "host not found in the SE group's cloud"
            if self._host_room(host_uuid) <= 0:
                return False, f"host {h['name']} has no capacity for another SE"
            return True, host_uuid
        hu = self._pick_host(cloud["uuid"], {})
        if not hu:
            return False, f"no host in cloud {cloud['name']} has capacity for another SE"
        return True, hu

    def _se_ineligible_reason(self, se, vs, g):
        if se["se_group_ref"] != vs["se_group_ref"]:
            return "in another SE group"
        if se["enable_state"] != SE_ENABLED:
            return f"{se['enable_state']}"
        if se["_lab"]["oper"] not in ("OPER_UP", "OPER_CREATING"):
            return f"{se['_lab']['oper']}"
        if any(p["se"] == se["uuid"] for p in vs["_lab"]["placement"]):
            return "already hosting the VS"
        load = self._load_of(se["uuid"])
        if load >= g["max_vs_per_se"]:
            return f"full ({load} VSs, max_vs_per_se={g['max_vs_per_se']})"
        return None

    def _choose_target(self, vs, g, exclude=()):
        """Return ("se", uuid) or ("new", host_uuid) or raise ApiError(400, No SE available...)."""
        eligible, reasons = [], []
        for se in sorted(self._ses_of_group(g["uuid"]), key=lambda s: s["name"]):
            if se["uuid"] in exclude:
                continue
            why = self._se_ineligible_reason(se, vs, g)
            if why:
                reasons.append(f"{se['name']}: {why}")
            else:
                eligible.append(se)
        can, host = self._can_create_se(g)
        if g["algo"] == "PLACEMENT_ALGO_DISTRIBUTED" and can:
            return "new", host
        if eligible:
            up = [s for s in eligible if s["_lab"]["oper"] == "OPER_UP"] or eligible
            if g["algo"] == "PLACEMENT_ALGO_DISTRIBUTED":
                return "se", min(up, key=lambda s: (self._load_of(s["uuid"]), s["name"]))["uuid"]
            return "se", max(up, key=lambda s: (self._load_of(s["uuid"]), s["name"]))["uuid"]
        if can:
            return "new", host
        raise ApiError(400, "No SE available for placement: " + "; ".join(reasons + [host]))

    def _create_se(self, g, host_uuid, parent=None):
        su = new_uuid("serviceengine")
        suffix = "".join(self._rng.choice(string.ascii_lowercase) for _unused in range(5))
        n = len(self.objs["serviceengine"])
        se = {"uuid": su, "name": f"{g.get('se_name_prefix') or 'Avi'}-se-{suffix}",
              "cloud_ref": g["cloud_ref"], "se_group_ref": ref("serviceenginegroup", g["uuid"]),
              "host_ref": ref("vimgrhostruntime", host_uuid), "enable_state": SE_ENABLED,
              "mgmt_ip_address": {"addr": f"10.11.{n // 250}.{n % 250 + 2}", "type": "V4"},
              "resources": {"num_vcpus": g["vcpus_per_se"], "memory": g["memory_per_se"],
                            "disk": g["disk_per_se"]},
              "controller_created": True, "tenant_ref": ref("tenant", "admin"),
              "_lab": {"oper": "OPER_CREATING", "migrate_state": MIG_IDLE, "version": self.cfg["version"],
                       "failures": []}}
        self.objs["serviceengine"][su] = se
        self._save_obj("serviceengine", su)
        self._start_op("se_create", se=su, target=se["name"], parent=parent,
                       phases=[("create", self._t("se_create"))])
        log.info("creating SE %s on host %s for group %s", se["name"],
                 self.objs["vimgrhostruntime"][host_uuid]["name"], g["name"])
        return su

    # ------------------------------------------------------------------ operations
    def _t(self, name):
        return float(self.cfg["timing"].get(name, TIMING_DEFAULTS.get(name, 0)))

    def _take_fault(self, kind, names):
        for fid, f in list(self.faults.items()):
            if f["kind"] != "fail_operation" or f["operation"] != kind:
                continue
            if f.get("target", "*") not in ("*", None) and f["target"] not in names:
                continue
            self._use_fault(fid, f)
            return f.get("reason") or f"{kind} failed (injected fault)"
        return None

    def _start_op(self, kind, phases, vs=None, se=None, target="", parent=None, **extra):
        oid = f"op-{len(self.ops) + 1:05d}-{secrets.token_hex(3)}"
        now = self.lab_now()
        names = [x for x in (target, vs, se) if x]
        if vs:
            names.append(self.objs["virtualservice"][vs]["name"])
        if se and se in self.objs["serviceengine"]:
            names.append(self.objs["serviceengine"][se]["name"])
        op = {"id": oid, "kind": kind, "vs": vs, "se": se, "target": target, "parent": parent,
              "state": "running", "result": None, "reason": None, "started": now, "ended": None,
              "started_real": time.time(), "phases": [list(p) for p in phases], "phase": 0,
              "phase_started": now, "fail": self._take_fault(kind, names), "children": [], **extra}
        op["est_total"] = sum(p[1] for p in op["phases"])
        self.ops[oid] = op
        self._mark("operations", oid, op)
        return op

    def _finish_op(self, op, result, reason=None, at=None):
        """End an operation now, or at lab time ``at`` (the upgrade engine ends its operations when their
        phases were due; never before the start)."""
        op["state"] = "done"
        op["result"] = result
        op["reason"] = reason
        op["ended"] = self.lab_now() if at is None else max(at, op["started"])
        op["ended_real"] = time.time()
        self._mark("operations", op["id"], op)
        log.info("operation %s %s %s: %s%s (%.1f lab s)", op["id"], op["kind"], op["target"], result,
                 f" ({reason})" if reason else "", op["ended"] - op["started"])
        if op.get("vs"):
            vs = self.objs["virtualservice"].get(op["vs"])
            if vs:
                vs["_lab"]["last_op"] = {"id": op["id"], "kind": op["kind"], "result": result, "reason": reason}
                if op["kind"] == "migrate":
                    vs["_lab"]["migrate_state"] = MIG_FINISHED if result == "success" else MIG_FAILED
                self._save_obj("virtualservice", op["vs"])

    def _progress(self, op):
        if op["state"] != "running":
            return 100
        total = op["est_total"]
        if op["kind"] in ("migrate", "scaleout") and op.get("wait_se"):
            child = self._creating_op(op["wait_se"])
            if child:
                total += child["est_total"]
        if total <= 0:
            return 99
        return max(0, min(99, int((self.lab_now() - op["started"]) / total * 100)))

    def _creating_op(self, su):
        for o in self.ops.values():
            if o["state"] == "running" and o["kind"] == "se_create" and o["se"] == su:
                return o
        return None

    def _vs_entry(self, vs, su):
        for p in vs["_lab"]["placement"]:
            if p["se"] == su:
                return p
        return None

    # public actions --------------------------------------------------------
    def _vs_for_action(self, vs_uuid, params):
        vs = self.objs["virtualservice"].get(vs_uuid)
        if not vs:
            raise ApiError(404, "Object not found!")
        if not isinstance(params, dict) or "vip_id" not in params:
            raise ApiError(400, "vip_id is required")
        if str(params["vip_id"]) not in [v["vip_id"] for v in vs["vip"]]:
            raise ApiError(400, f"vip_id {params['vip_id']} not found in VS {vs['name']}")
        return vs, self._group_of(vs)

    def _target_from_params(self, vs, g, params, exclude=()):
        to_se = params.get("to_se_ref")
        if to_se:
            se = self.objs["serviceengine"].get(uuid_of(to_se))
            if not se:
                raise ApiError(404, "Object not found!")
            if self._vs_entry(vs, se["uuid"]):
                raise ApiError(400, "VS is already placed on the target SE")
            why = self._se_ineligible_reason(se, vs, g)
            if why:
                raise ApiError(400, f"No SE available for placement: target SE {se['name']} is {why}")
            return "se", se["uuid"]
        if params.get("to_host_ref") or params.get("to_new_se"):
            hu = uuid_of(params.get("to_host_ref")) if params.get("to_host_ref") else None
            can, host = self._can_create_se(g, hu)
            if not can:
                raise ApiError(400, f"No SE available for placement: {host}")
            return "new", host
        return self._choose_target(vs, g, exclude)

    def migrate(self, vs_uuid, params, parent=None, force=False):
        with self.lock:
            op = self._migrate(vs_uuid, params, parent=parent, force=force)
            self._flush()
            return op

    def _migrate(self, vs_uuid, params, parent=None, force=False):
        vs, g = self._vs_for_action(vs_uuid, params)
        evacuation = parent is not None
        if g["ha_mode"] == HA_LEGACY and not evacuation:
            raise ApiError(400, "Migrate is not supported for SE group in legacy active standby HA mode")
        if self._active_op(vs_uuid):
            raise ApiError(409, "VS operation in progress")
        placement = vs["_lab"]["placement"]
        if params.get("from_se_ref"):
            src = uuid_of(params["from_se_ref"])
            if not self._vs_entry(vs, src):
                se = self.objs["serviceengine"].get(src)
                raise ApiError(400, f"VS is not placed on SE {se['name'] if se else src}")
        elif len(placement) == 1:
            src = placement[0]["se"]
        elif not placement:
            raise ApiError(400, "VS is not placed on any SE")
        else:
            raise ApiError(400, "from_se_ref is required: the VS is placed on more than one SE")
        kind, tgt = self._target_from_params(vs, g, params, exclude=(src,))
        if kind == "new":
            tgt = self._create_se(g, tgt)
        src_entry = self._vs_entry(vs, src)
        tgt_entry = {"se": tgt, "primary": False, "standby": False, "state": "scaling_out"}
        if g["ha_mode"] == HA_LEGACY:
            # controller-driven evacuation of a legacy pair: switch over to the standby first (no
            # outage: the standby is up), then place a new standby and drop the old SE [lab assumption]
            if src_entry["primary"]:
                for p in placement:
                    if p is not src_entry and self._se_serving(p["se"]):
                        p["primary"], p["standby"] = True, False
                        src_entry["primary"], src_entry["standby"] = False, True
                        break
            tgt_entry["standby"] = any(p["primary"] for p in placement if p is not src_entry)
        if force:
            placement.remove(src_entry)  # SE_STATE_DISABLED_FORCE: break before make [lab assumption]
        placement.append(tgt_entry)
        vs["_lab"]["migrate_state"] = MIG_STARTED
        self._save_obj("virtualservice", vs_uuid)
        scalein = self._t("scalein") + (g.get("vs_scalein_timeout", 0) if self.cfg["timing"].get(
            "honour_scalein_timeout") else 0)
        phases = [("scaleout", self._t("scaleout"))]
        if not force:
            phases.append(("scalein", scalein))
        op = self._start_op("migrate", phases, vs=vs_uuid, se=tgt, target=vs["name"], parent=parent,
                            from_se=src, to_se=tgt, wait_se=tgt if kind == "new" or self.objs[
                                "serviceengine"][tgt]["_lab"]["oper"] == "OPER_CREATING" else None,
                            force=force)
        self._update_disruption()
        log.info("migrate %s from %s to %s started (%s)", vs["name"], self.objs["serviceengine"][src]["name"],
                 self.objs["serviceengine"][tgt]["name"], op["id"])
        return op

    def scaleout(self, vs_uuid, params):
        with self.lock:
            vs, g = self._vs_for_action(vs_uuid, params)
            if g["ha_mode"] == HA_LEGACY:
                raise ApiError(400, "Scaleout is not supported for SE group in legacy active standby HA mode")
            if self._active_op(vs_uuid):
                raise ApiError(409, "VS operation in progress")
            if len(vs["_lab"]["placement"]) >= g["max_scaleout_per_vs"]:
                raise ApiError(400, f"VS is already scaled out to max_scaleout_per_vs={g['max_scaleout_per_vs']}"
                               " SEs")
            kind, tgt = self._target_from_params(vs, g, params)
            if kind == "new":
                tgt = self._create_se(g, tgt)
            vs["_lab"]["placement"].append({"se": tgt, "primary": not vs["_lab"]["placement"],
                                            "standby": False, "state": "scaling_out"})
            self._save_obj("virtualservice", vs_uuid)
            op = self._start_op("scaleout", [("scaleout", self._t("scaleout"))], vs=vs_uuid, se=tgt,
                                target=vs["name"], to_se=tgt, wait_se=tgt if self.objs["serviceengine"][tgt][
                                    "_lab"]["oper"] == "OPER_CREATING" else None)
            self._flush()
            return op

    def scalein(self, vs_uuid, params):
        with self.lock:
            vs, g = self._vs_for_action(vs_uuid, params)
            if g["ha_mode"] == HA_LEGACY:
                raise ApiError(400, "Scalein is not supported for SE group in legacy active standby HA mode")
            if self._active_op(vs_uuid):
                raise ApiError(409, "VS operation in progress")
            placement = vs["_lab"]["placement"]
            if len(placement) <= max(1, g["min_scaleout_per_vs"]):
                raise ApiError(400, f"Cannot scale in: VS is on {len(placement)} SE(s), "
                               f"min_scaleout_per_vs={g['min_scaleout_per_vs']}")
            if params.get("from_se_ref"):
                src = uuid_of(params["from_se_ref"])
                entry = self._vs_entry(vs, src)
                if not entry:
                    raise ApiError(400, "VS is not placed on the given SE")
            else:
                cands = [p for p in placement if not p["primary"]] or placement
                if params.get("scalein_primary"):
                    cands = [p for p in placement if p["primary"]] or cands
                entry = cands[-1]
            entry["state"] = "scaling_in"
            self._save_obj("virtualservice", vs_uuid)
            op = self._start_op("scalein", [("scalein", self._t("scalein"))], vs=vs_uuid, se=entry["se"],
                                target=vs["name"], from_se=entry["se"])
            self._flush()
            return op

    def _set_enable_state(self, se, new):
        old = se["enable_state"]
        if new == old:
            return
        se["enable_state"] = new
        su = se["uuid"]
        running = [o for o in self.ops.values() if o["state"] == "running" and o["kind"] == "se_disable"
                   and o["se"] == su]
        if new in (SE_DISABLED, SE_FORCE):
            if not running:
                se["_lab"]["oper"] = "OPER_DISABLING" if se["_lab"]["oper"] != "OPER_CREATING" else "OPER_CREATING"
                se["_lab"]["migrate_state"] = MIG_STARTED
                se["_lab"]["failures"] = []
                self._start_op("se_disable", [("evacuate", 0), ("settle", self._t("se_disable_settle"))],
                               se=su, target=se["name"], force=new == SE_FORCE, tried=[])
                log.info("SE %s: %s, evacuation started", se["name"], new)
        else:
            for o in running:  # re-enabled while evacuating: stop after the VSs in flight
                self._finish_op(o, "cancelled", f"enable_state changed to {new}")
            if se["_lab"]["oper"] in ("OPER_DISABLING", "OPER_DISABLED", "OPER_ERROR_DISABLED"):
                se["_lab"]["oper"] = "OPER_UP"
            se["_lab"]["migrate_state"] = MIG_IDLE
            log.info("SE %s: %s", se["name"], new)

    # ------------------------------------------------------------------ simulation
    def tick(self):
        with self.lock:
            for _unused in range(50):  # let zero-length phases chain within one tick
                changed = False
                for op in sorted([o for o in self.ops.values() if o["state"] == "running"],
                                 key=lambda o: o["id"]):
                    if op["state"] == "running" and self._advance(op):
                        changed = True
                        self._mark("operations", op["id"], op)
                if not changed:
                    break
            self._update_disruption()
            if time.monotonic() - getattr(self, "_meta_saved", 0) > 0.5:
                self._meta_saved = time.monotonic()
                self._save_meta()
            self._flush()

    def _advance(self, op):
        now = self.lab_now()
        k = op["kind"]
        if k in UPGRADE_OP_KINDS:
            return self._advance_upgrade(op)
        if k in ("migrate", "scaleout") and op.get("wait_se"):
            se = self.objs["serviceengine"].get(op["wait_se"])
            if se is None or se["_lab"]["oper"] == "OPER_FAILED":
                self._rollback_placement(op)
                self._finish_op(op, "failed", "service engine creation failed")
                return True
            if se["_lab"]["oper"] == "OPER_CREATING":
                return False
            op["wait_se"] = None
            op["phase_started"] = now
            return True
        if k == "se_disable" and op["phases"][op["phase"]][0] == "evacuate":
            return self._advance_evacuation(op)
        name, dur = op["phases"][op["phase"]]
        if now - op["phase_started"] < dur:
            return False
        # phase `name` has elapsed
        if op.get("fail") and self._fail_here(op, name):
            return True
        if k == "se_create":
            se = self.objs["serviceengine"].get(op["se"])
            if se:
                se["_lab"]["oper"] = "OPER_UP" if se["enable_state"] in (SE_ENABLED, SE_DFP) else "OPER_DISABLED"
                self._save_obj("serviceengine", op["se"])
        elif name == "scaleout":
            vs = self.objs["virtualservice"].get(op["vs"])
            e = self._vs_entry(vs, op["to_se"]) if vs else None
            if e:
                e["state"] = "active"
                self._save_obj("virtualservice", op["vs"])
            if k == "migrate" and not op.get("force"):
                src = self._vs_entry(vs, op["from_se"])
                if src:
                    src["state"] = "scaling_in"
        elif name == "scalein":
            vs = self.objs["virtualservice"].get(op["vs"])
            src = self._vs_entry(vs, op["from_se"]) if vs else None
            if src:
                vs["_lab"]["placement"].remove(src)
                if src["primary"] and vs["_lab"]["placement"]:
                    new = self._vs_entry(vs, op.get("to_se")) if k == "migrate" else None
                    (new or vs["_lab"]["placement"][0])["primary"] = True
                    if new:
                        new["standby"] = False
                self._save_obj("virtualservice", op["vs"])
        elif name == "settle":
            se = self.objs["serviceengine"].get(op["se"])
            if se:
                se["_lab"]["oper"] = "OPER_DISABLED"
                se["_lab"]["migrate_state"] = MIG_FAILED if op.get("failures") else MIG_FINISHED
                self._save_obj("serviceengine", op["se"])
        op["phase"] += 1
        op["phase_started"] = now
        if op["phase"] >= len(op["phases"]):
            if k == "se_disable" and op.get("failures"):
                self._finish_op(op, "failed", f"{len(op['failures'])} VS(s) could not be migrated")
            else:
                self._finish_op(op, "success")
        return True

    def _fail_here(self, op, phase):
        """Apply an injected fail_operation at the end of the first phase; True if it failed."""
        k = op["kind"]
        if k == "se_create":
            se = self.objs["serviceengine"].pop(op["se"], None)
            self._mark("objects", ("serviceengine", op["se"]), None)
            if se:
                se["_lab"]["oper"] = "OPER_FAILED"
            self._finish_op(op, "failed", op["fail"])
            return True
        if k in ("migrate", "scaleout") and phase == "scaleout":
            self._rollback_placement(op)
            self._finish_op(op, "failed", op["fail"])
            return True
        if k == "scalein":
            vs = self.objs["virtualservice"].get(op["vs"])
            e = self._vs_entry(vs, op["from_se"]) if vs else None
            if e:
                e["state"] = "active"
                self._save_obj("virtualservice", op["vs"])
            self._finish_op(op, "failed", op["fail"])
            return True
        return False

    def _rollback_placement(self, op):
        vs = self.objs["virtualservice"].get(op["vs"])
        if not vs:
            return
        e = self._vs_entry(vs, op.get("to_se"))
        if e and e["state"] == "scaling_out":
            vs["_lab"]["placement"].remove(e)
        if op["kind"] == "migrate":
            src = self._vs_entry(vs, op.get("from_se"))
            if src:
                src["state"] = "active"
            elif op.get("force"):
                pass  # forced disable already removed the source: the VS lost that SE
            if vs["_lab"]["placement"] and not any(p["primary"] for p in vs["_lab"]["placement"]):
                vs["_lab"]["placement"][0]["primary"] = True
                vs["_lab"]["placement"][0]["standby"] = False
        self._save_obj("virtualservice", op["vs"])

    def _advance_evacuation(self, op):
        se = self.objs["serviceengine"].get(op["se"])
        if se is None:
            self._finish_op(op, "failed", "SE deleted")
            return True
        children = [self.ops[c] for c in op["children"] if c in self.ops]
        running = [c for c in children if c["state"] == "running"]
        changed = False
        for c in children:
            if c["state"] == "done" and not c.get("accounted"):
                c["accounted"] = True
                self._mark("operations", c["id"], c)
                changed = True
                if c["result"] != "success":
                    op.setdefault("failures", []).append({"vs": c["vs"], "reason": c["reason"]})
        if op.get("fail") and op["children"] and not running:
            # injected failure: the evacuation stops after the first VS [lab assumption]
            remaining = [v for v in self._vss_on(op["se"]) if v["uuid"] not in op["tried"]]
            for v in remaining:
                op.setdefault("failures", []).append({"vs": v["uuid"], "reason": op["fail"]})
                op["tried"].append(v["uuid"])
        parallel = max(1, int(self.cfg["timing"].get("se_disable_parallel", 1)))
        while len(running) < parallel:
            todo = [v for v in sorted(self._vss_on(op["se"]), key=lambda v: v["name"])
                    if v["uuid"] not in op["tried"] and not self._active_op(v["uuid"])]
            if not todo:
                break
            v = todo[0]
            op["tried"].append(v["uuid"])
            changed = True
            try:
                child = self._migrate(v["uuid"], {"vip_id": "0", "from_se_ref": ref("serviceengine", op["se"])},
                                      parent=op["id"], force=op.get("force", False))
            except ApiError as e:
                op.setdefault("failures", []).append({"vs": v["uuid"], "reason": e.message})
                log.info("evacuation of SE %s: VS %s stays (%s)", se["name"], v["name"], e.message)
                continue
            op["children"].append(child["id"])
            running.append(child)
        waiting = [v for v in self._vss_on(op["se"]) if v["uuid"] not in op["tried"]]
        if not running and not waiting:
            se["_lab"]["failures"] = [{"vs_ref": ref("virtualservice", f["vs"]), "reason": f["reason"]}
                                      for f in op.get("failures", [])]
            self._save_obj("serviceengine", op["se"])
            op["phase"] += 1
            op["phase_started"] = self.lab_now()
            return True
        return changed

    def _update_disruption(self, at=None):
        """Open/close unavailability intervals; ``at``: the lab time of the change (default now)."""
        now = self.lab_now() if at is None else at
        for u, vs in self.objs["virtualservice"].items():
            d = self.disruption.get(u)
            if d is None:
                d = self.disruption[u] = {"intervals": [], "open": None}
            down = vs["enabled"] and self._serving_count(vs) == 0
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

    # ------------------------------------------------------------------ REST views
    def _render(self, doc, base, include_name):
        def conv(v, key=""):
            if isinstance(v, dict):
                return {k: conv(x, k) for k, x in v.items() if k != "_lab"}
            if isinstance(v, list):
                return [conv(x, key) for x in v]
            if isinstance(v, str) and v.startswith("/api/") and (key.endswith("_ref") or key.endswith("_refs")
                                                                 or key in ("url", "ref")):
                out = base + v
                if include_name:
                    parts = v.split("/")
                    obj = self.objs.get(parts[2], {}).get(parts[3]) if len(parts) > 3 else None
                    if obj:
                        out += "#" + obj["name"]
                    elif parts[2] == "tenant":
                        out += "#" + parts[3]
                return out
            return v
        return conv(doc)

    def _view(self, typ, o, base, include_name):
        d = copy.deepcopy(o)
        d.pop("_lab", None)
        d["url"] = ref(typ, o["uuid"])
        if typ == "serviceengine":
            d["vs_refs"] = [ref("virtualservice", v["uuid"]) for v in self._vss_on(o["uuid"])]
        if typ == "cloud":
            d["lab_can_create_se"] = o["_lab"]["can_create_se"]
        return self._render(d, base, include_name)

    @staticmethod
    def _filter(items, q):
        for key in ("name", "uuid"):
            if q.get(key) is not None:
                items = [o for o in items if o[key] == q[key] or (key == "uuid" and o[key] == uuid_of(q[key]))]
        for key in ("se_group_ref", "cloud_ref", "host_ref"):
            if q.get(key):
                want = uuid_of(q[key])
                items = [o for o in items if uuid_of(o.get(key)) == want]
        if q.get("name.contains"):
            items = [o for o in items if q["name.contains"] in o["name"]]
        return items

    def _page(self, items, q, url, render):
        try:
            page = max(1, int(q.get("page", 1)))
            size = max(1, int(q.get("page_size", 25)))
        except ValueError:
            raise ApiError(400, "page and page_size must be integers")
        items = sorted(items, key=lambda o: o["name"])
        chunk = items[(page - 1) * size: page * size]
        results = [render(o) for o in chunk]
        if q.get("fields"):
            keep = set(q["fields"].split(",")) | {"uuid", "url"}
            results = [{k: v for k, v in r.items() if k in keep} for r in results]
        out = {"count": len(items), "results": results}
        if page * size < len(items):
            out["next"] = re.sub(r"([?&])page=\d+&?", r"\1", url).rstrip("&?")
            out["next"] += ("&" if "?" in out["next"] else "?") + f"page={page + 1}"
        return out

    def list(self, typ, q, base, url):
        with self.lock:
            items = self._filter(list(self.objs[typ].values()), q)
            inc = "include_name" in q and q.get("include_name") not in ("false", "False", "0")
            return self._page(items, q, url, lambda o: self._view(typ, o, base, inc))

    def get(self, typ, u, base, include_name=False):
        with self.lock:
            o = self.objs[typ].get(u)
            if not o:
                raise ApiError(404, "Object not found!")
            return self._view(typ, o, base, include_name)

    WRITABLE = {
        "serviceengine": {"name": None, "enable_state": SE_ENABLED},
        "virtualservice": {"name": None, "enabled": True, "vip": None, "services": None},
        "serviceenginegroup": dict(SEG_DEFAULTS) | {"name": None},
        "vimgrhostruntime": {"maintenance_mode": False, "max_se_on_host": None},
        "cloud": {"name": None},
    }

    def update(self, typ, u, body, base, patch=False):
        with self.lock:
            o = self.objs[typ].get(u)
            if not o:
                raise ApiError(404, "Object not found!")
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            if patch:
                vals = {}
                for op_name in ("replace", "add"):
                    if isinstance(body.get(op_name), dict):
                        vals.update(body[op_name])
                if not vals and not any(k in body for k in ("replace", "add", "delete")):
                    vals = body
            else:
                vals = {}
                for k, default in self.WRITABLE[typ].items():
                    if k in body:
                        vals[k] = body[k]
                    elif default is not None:
                        vals[k] = default  # PUT replaces: an omitted field takes its default [vendor]
            vals = {k: v for k, v in vals.items() if k in self.WRITABLE[typ]}
            if typ == "serviceengine" and "enable_state" in vals and vals["enable_state"] not in ENABLE_STATES:
                raise ApiError(400, f"Invalid enable_state {vals['enable_state']}")
            if typ == "serviceenginegroup":
                cand = dict(o)
                cand.update(vals)
                self._check_seg(cand)
            if "name" in vals and (not isinstance(vals["name"], str) or not vals["name"]):
                raise ApiError(400, "name is required")
            for k, v in vals.items():
                if typ == "serviceengine" and k == "enable_state":
                    self._set_enable_state(o, v)
                else:
                    o[k] = v
            o["_last_modified"] = str(int(time.time() * 1e6))
            self._save_obj(typ, u)
            self._update_disruption()
            self._flush()
            return self._view(typ, o, base, False)

    # inventories & runtime ------------------------------------------------
    def _se_runtime(self, se):
        return {"oper_status": {"state": se["_lab"]["oper"]}, "migrate_state": se["_lab"]["migrate_state"],
                "version": se["_lab"]["version"], "power_state": "SE_POWER_ON" if se["_lab"]["oper"] not in (
                    "OPER_CREATING", "OPER_FAILED") else "SE_POWER_OFF",
                "se_connected": se["_lab"]["oper"] in SERVING_OPER, "at_curr_ver":
                    se["_lab"]["version"] == self.cfg["version"], "enable_state": se["enable_state"],
                "lab_migrate_failures": se["_lab"].get("failures", [])}

    def se_inventory(self, q, base, url, one=None):
        with self.lock:
            items = [self.objs["serviceengine"][one]] if one else self._filter(
                list(self.objs["serviceengine"].values()), q)
            if one and items[0] is None:
                raise ApiError(404, "Object not found!")
            inc = "include_name" in q

            def render(se):
                rt = self._se_runtime(se)
                rt.pop("enable_state")
                rt.pop("lab_migrate_failures")
                return {"uuid": se["uuid"], "url": base + ref("serviceengine", se["uuid"]),
                        "config": self._view("serviceengine", se, base, inc), "runtime": rt}
            if one:
                return render(items[0])
            return self._page(items, q, url, render)

    def se_runtime(self, u):
        with self.lock:
            se = self.objs["serviceengine"].get(u)
            if not se:
                raise ApiError(404, "Object not found!")
            return self._se_runtime(se)

    def _vs_ses(self, vs, base, inc):
        out = []
        for p in vs["_lab"]["placement"]:
            se = self.objs["serviceengine"].get(p["se"], {"name": "?", "_lab": {"oper": "OPER_DOWN"}})
            serving = p["state"] in ("active", "scaling_in") and self._se_serving(p["se"])
            r = base + ref("serviceengine", p["se"]) + (("#" + se["name"]) if inc else "")
            out.append({"ref": r, "uuid": p["se"], "name": se["name"], "primary": p["primary"],
                        "standby": p["standby"],
                        "oper_status": {"state": "OPER_UP" if serving else (
                            "OPER_CREATING" if p["state"] == "scaling_out" else "OPER_DOWN")},
                        "scaleout_in_progress": p["state"] == "scaling_out",
                        "scalein_in_progress": p["state"] == "scaling_in",
                        "connected": serving, "active_on_se": serving,
                        "mgmt_ip": se.get("mgmt_ip_address")})
        return out

    def _vs_runtime(self, vs, base, inc):
        ses = self._vs_ses(vs, base, inc)
        serving = sum(1 for s in ses if s["oper_status"]["state"] == "OPER_UP")
        g = self._group_of(vs)
        if not vs["enabled"]:
            state = "OPER_DISABLED"
        else:
            state = "OPER_UP" if serving else "OPER_DOWN"
        pct = int(serving * 100 / len(ses)) if ses else 0
        want = 2 if g["ha_mode"] == HA_LEGACY else g["min_scaleout_per_vs"]
        op = self._active_op(vs["uuid"])
        phase = None
        if op:
            phase = "wait_se" if op.get("wait_se") else op["phases"][min(op["phase"], len(op["phases"]) - 1)][0]
        flags = {
            "migrate_in_progress": bool(op and op["kind"] == "migrate"),
            "scaleout_in_progress": bool(op and phase in ("scaleout", "wait_se")),
            "scalein_in_progress": bool(op and phase == "scalein"),
            "progress_percent": self._progress(op) if op else 0,
            "migrate_state": vs["_lab"].get("migrate_state", MIG_IDLE),
            "lab_last_operation": vs["_lab"].get("last_op"),
        }
        summary = {"vip_id": vs["vip"][0]["vip_id"] if vs["vip"] else "0", "oper_status": {"state": state},
                   "percent_ses_up": pct, "num_se_assigned": len(ses), "num_se_requested": max(want, len(ses)),
                   "service_engine": ses, "ip_address": vs["vip"][0]["ip_address"] if vs["vip"] else None}
        return state, pct, summary, flags

    def vs_inventory(self, q, base, url, one=None):
        with self.lock:
            items = [self.objs["virtualservice"].get(one)] if one else self._filter(
                list(self.objs["virtualservice"].values()), q)
            if one and items[0] is None:
                raise ApiError(404, "Object not found!")
            inc = "include_name" in q

            def render(vs):
                state, pct, summary, _flags = self._vs_runtime(vs, base, inc)
                return {"uuid": vs["uuid"], "url": base + ref("virtualservice", vs["uuid"]),
                        "config": self._view("virtualservice", vs, base, inc),
                        "runtime": {"oper_status": {"state": state}, "percent_ses_up": pct,
                                    "vip_summary": [summary]}}
            if one:
                return render(items[0])
            return self._page(items, q, url, render)

    def vs_runtime(self, u, base):
        with self.lock:
            vs = self.objs["virtualservice"].get(u)
            if not vs:
                raise ApiError(404, "Object not found!")
            _state, _pct, summary, flags = self._vs_runtime(vs, base, False)
            summary.update(flags)
            return [summary]

    # ------------------------------------------------------------------ admin plane (faults, stats: lab.worldbase)
    @staticmethod
    def _bad_request(message):
        return ApiError(400, message)

    def _check_fault(self, f):
        if f.get("kind") != "fail_operation":
            raise ApiError(400, "kind must be http_error, unavailable or fail_operation")
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
                ops.append({"id": op["id"], "kind": op["kind"], "target": op["target"],
                            "parent": op.get("parent"), "started": round(op["started"], 3),
                            "ended": None if op["ended"] is None else round(op["ended"], 3),
                            "lab_seconds": round(secs, 3), "real_seconds": round(secs * self.time_scale, 3),
                            "result": op["result"] or "running", "reason": op["reason"],
                            "progress_percent": self._progress(op)})
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
