"""Objects of the Avi world: the vendor's object types and enums the lab uses, seeding them from the
topology, and configuration writes (PUT / PATCH of an object)."""
import time

from lab.avi.common import HA_LEGACY, HA_PAIR, HA_SHARED, ApiError, new_uuid, ref, uuid_of
from lab.part import Part

TYPES = ("cloud", "vimgrhostruntime", "serviceenginegroup", "serviceengine", "virtualservice", "stringgroup")
# configuration objects a client may create (POST) and delete (DELETE); the others come from the topology
CREATABLE = ("stringgroup",)
# configuration objects a client may delete: those it creates, and service engines (vendor: DELETE
# /api/serviceengine/{uuid}, alb-sdk swagger/ServiceEngine.json; the controller then deletes the SE's VM)
DELETABLE = CREATABLE + ("serviceengine",)
SG_TYPES = ("SG_TYPE_STRING", "SG_TYPE_KEYVAL")
HA_MODES = (HA_PAIR, HA_SHARED, HA_LEGACY)
ALGOS = ("PLACEMENT_ALGO_PACKED", "PLACEMENT_ALGO_DISTRIBUTED")
SE_ENABLED, SE_DFP, SE_DISABLED, SE_FORCE = ("SE_STATE_ENABLED", "SE_STATE_DISABLED_FOR_PLACEMENT",
                                             "SE_STATE_DISABLED", "SE_STATE_DISABLED_FORCE")
ENABLE_STATES = (SE_ENABLED, SE_DFP, SE_DISABLED, SE_FORCE)
MIG_IDLE, MIG_STARTED, MIG_FINISHED, MIG_FAILED = ("SE_MIGRATE_STATE_IDLE", "SE_MIGRATE_STATE_STARTED",
                                                   "SE_MIGRATE_STATE_FINISHED",
                                                   "SE_MIGRATE_STATE_FINISHED_WITH_FAILURE")

SEG_DEFAULTS = {
    "ha_mode": HA_SHARED, "min_scaleout_per_vs": 1, "max_scaleout_per_vs": 4, "max_se": 10,
    "min_se": 1, "max_vs_per_se": 10, "buffer_se": 1, "algo": "PLACEMENT_ALGO_PACKED",
    "vs_scalein_timeout": 30, "vs_scaleout_timeout": 600, "max_cpu_usage": 80,
    "vcpus_per_se": 1, "memory_per_se": 2048, "disk_per_se": 15, "se_name_prefix": "Avi",
}


# the cloud types whose access mode is a `privilege` in their configuration (vendor: Cloud.json)
PRIVILEGE_CONFIG = {"CLOUD_VCENTER": "vcenter_configuration", "CLOUD_OPENSTACK": "openstack_configuration",
                    "CLOUD_VCA": "vca_configuration"}
PRIVILEGE_DEFAULTS = {"CLOUD_VCENTER": {"vcenter_url": "vcenter.lab.example", "datacenter": "lab-dc"}}


class Objects(Part):
    @staticmethod
    def can_create_se(cloud):
        """Whether the controller may create SEs in ``cloud``, from its vendor fields: not in a no-orchestrator
        cloud (CLOUD_NONE), and only with write access where the cloud type has an access mode."""
        if cloud["vtype"] == "CLOUD_NONE":
            return False
        config = PRIVILEGE_CONFIG.get(cloud["vtype"])
        return config is None or (cloud.get(config) or {}).get("privilege") == "WRITE_ACCESS"

    WRITABLE = {
        "serviceengine": {"name": None, "enable_state": SE_ENABLED},
        "virtualservice": {"name": None, "enabled": True, "vip": None, "services": None},
        "serviceenginegroup": dict(SEG_DEFAULTS) | {"name": None, "instance_flavor": None},
        "vimgrhostruntime": {"maintenance_mode": False},
        "cloud": {"name": None, "vcenter_configuration": None, "openstack_configuration": None,
                  "vca_configuration": None},
        "stringgroup": {"name": None, "type": None, "kv": [], "description": None, "longest_match": None},
    }

    @staticmethod
    def check_seg(doc):
        if doc["ha_mode"] not in HA_MODES:
            raise ApiError(400, f"Invalid ha_mode {doc['ha_mode']}")
        if doc["algo"] not in ALGOS:
            raise ApiError(400, f"Invalid algo {doc['algo']}")
        for k in ("min_scaleout_per_vs", "max_scaleout_per_vs", "max_se", "max_vs_per_se", "vcpus_per_se",
                  "memory_per_se", "disk_per_se"):
            if not isinstance(doc.get(k), int) or doc[k] < 1:
                raise ApiError(400, f"{k} must be a positive integer")

    @staticmethod
    def check_stringgroup(doc):
        """StringGroup (vendor Swagger): ``name`` and ``type`` (SG_TYPE_STRING | SG_TYPE_KEYVAL) required,
        ``kv`` a list of KeyValue {key (required), value} strings."""
        if doc.get("type") not in SG_TYPES:
            raise ApiError(400, f"Invalid type {doc.get('type')}: one of {', '.join(SG_TYPES)}")
        kv = doc.get("kv", [])
        if not isinstance(kv, list) or not all(isinstance(e, dict) and isinstance(e.get("key"), str)
                                               and isinstance(e.get("value", ""), str) for e in kv):
            raise ApiError(400, "kv must be a list of {key, value} strings")

    def create(self, typ, body, base, tenant):
        """POST /api/<typ> of a creatable type: the new object, named uniquely within its tenant."""
        with self.w.lock:
            if typ not in CREATABLE:
                raise ApiError(405, "Method Not Allowed")
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            name = body.get("name")
            if not isinstance(name, str) or not name:
                raise ApiError(400, "name is required")
            tenant_ref = ref("tenant", tenant)
            if any(o["name"] == name and o.get("tenant_ref") == tenant_ref for o in self.w.objs[typ].values()):
                # [lab assumption: the wording] the controller refuses a second object of a name in a tenant
                raise ApiError(409, f"{typ} object with this Tenant ref and Name already exist.")
            doc = {k: body.get(k, default) for k, default in self.WRITABLE[typ].items()
                   if k in body or default is not None}
            self.check_stringgroup(doc)
            u = new_uuid(typ)
            doc.update(uuid=u, tenant_ref=tenant_ref, _last_modified=str(int(time.time() * 1e6)))
            self.w.objs[typ][u] = doc
            self.w.save_obj(typ, u)
            self.w._flush()
            return self.w.views.view(typ, doc, base, False)

    def delete(self, typ, u):
        with self.w.lock:
            if typ not in DELETABLE:
                raise ApiError(405, "Method Not Allowed")
            if u not in self.w.objs[typ]:
                raise ApiError(404, "Object not found!")
            if typ == "serviceengine":
                self._delete_se(self.w.objs[typ][u])
            del self.w.objs[typ][u]
            self.w.save_obj(typ, u)
            self.w.update_disruption()
            self.w._flush()

    def _delete_se(self, se):
        """Refuse to delete an SE that still hosts a virtual service or takes part in an operation [lab
        assumption: the vendor documents neither the preconditions nor the error]; else the SE and its VM
        go (event DELETED_SE; the VM deletion itself is not modelled)."""
        hosted = sorted(v["name"] for v in self.w.vss_on(se["uuid"]))
        if hosted:
            raise ApiError(400, f"Cannot delete Service Engine {se['name']}: it hosts virtual services "
                           f"({', '.join(hosted)}); disable it first to move them")
        busy = [o for o in self.w.ops.values() if o["state"] == "running" and se["uuid"] in (
            o.get("se"), o.get("to_se"), o.get("from_se"), o.get("wait_se"))]
        if busy:
            raise ApiError(409, f"Cannot delete Service Engine {se['name']}: operation {busy[0]['kind']} in progress")
        g = self.w.group_of(se)
        host = self.w.objs["vimgrhostruntime"].get(uuid_of(se.get("host_ref")))
        self.w.eventlog.emit("DELETED_SE", "serviceengine", se, "RESMGR", f"Service Engine {se['name']} deleted",
                             {"delete_se_details": {"se_uuid": se["uuid"], "se_name": se["name"],
                                                    "se_grp_uuid": g["uuid"], "se_grp_name": g["name"],
                                                    "host_uuid": host["uuid"] if host else "",
                                                    "host_name": host["name"] if host else "",
                                                    "reason": "deleted through the API"}})

    def seed(self, topo):
        """Create the topology's clouds, hosts, SE groups, SEs and virtual services."""
        names = {t: {} for t in TYPES}
        mgmt = iter(f"10.10.{i // 250}.{i % 250 + 2}" for i in range(100000))
        for c in topo.get("clouds", []):
            u = new_uuid("cloud")
            vtype = c.get("vtype", "CLOUD_VCENTER")
            cloud = {"uuid": u, "name": c["name"], "vtype": vtype, "tenant_ref": ref("tenant", "admin")}
            if vtype in PRIVILEGE_CONFIG:
                # vendor: the access mode decides whether the controller may create SEs ("Write, which also
                # allows Avi to create Service Engines", vCenterConfiguration.privilege); can_create_se: false
                # in the topology gives READ_ACCESS
                privilege = c.get("privilege") or ("WRITE_ACCESS" if c.get("can_create_se", True) else "READ_ACCESS")
                cloud[PRIVILEGE_CONFIG[vtype]] = {"privilege": privilege, **PRIVILEGE_DEFAULTS.get(vtype, {})}
            cloud["_lab"] = {"can_create_se": self.can_create_se(cloud)}
            self.w.objs["cloud"][u] = cloud
            names["cloud"][c["name"]] = u
            for h in c.get("hosts", []):
                hu = new_uuid("host")
                self.w.objs["vimgrhostruntime"][hu] = {
                    "uuid": hu, "name": h["name"], "cloud_ref": ref("cloud", u),
                    "type": vtype, "num_cpu_cores": int(h.get("num_cpu_cores", 32)),
                    "mem": int(h.get("mem", 262144)), "maintenance_mode": bool(h.get("maintenance_mode", False)),
                    "powerstate": h.get("powerstate", "VIMGR_HOST_POWERED_ON"),
                    "connection_state": "connected", "tenant_ref": ref("tenant", "admin"),
                    # how many SEs the host can run: no vendor object says it [lab assumption]
                    "_lab": {"max_se": int(h.get("max_se_on_host", 4))}}
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
            self.check_seg(doc)
            cu = names["cloud"].get(g.get("cloud")) if g.get("cloud") else default_cloud
            doc.update(uuid=u, cloud_ref=ref("cloud", cu), tenant_ref=ref("tenant", "admin"))
            self.w.objs["serviceenginegroup"][u] = doc
            names["serviceenginegroup"][g["name"]] = u
            for s in g.get("service_engines", []):
                su = new_uuid("serviceengine")
                hu = names["vimgrhostruntime"].get(s.get("host")) if s.get(
                    "host") else self.w.placement.pick_host(cu, {})
                if s.get("host") and not hu:
                    raise ValueError(f"SE {s['name']}: unknown host {s['host']}")
                state = s.get("enable_state", SE_ENABLED)
                oper = {SE_ENABLED: "OPER_UP", SE_DFP: "OPER_UP"}.get(state, "OPER_DISABLED")
                self.w.objs["serviceengine"][su] = {
                    "uuid": su, "name": s["name"], "cloud_ref": ref("cloud", cu), "se_group_ref": ref(
                        "serviceenginegroup", u), "enable_state": state,
                    "resources": {"num_vcpus": doc["vcpus_per_se"], "memory": doc["memory_per_se"],
                                  "disk": doc["disk_per_se"]},
                    "controller_created": True, "tenant_ref": ref("tenant", "admin"),
                    "_lab": {"oper": oper, "migrate_state": MIG_IDLE if oper == "OPER_UP" else MIG_FINISHED,
                             "version": str(s.get("version", self.w.cfg["version"])), "failures": [],
                             "mgmt_ip": {"addr": s.get("mgmt_ip", next(mgmt)), "type": "V4"}}}
                if hu:
                    self.w.objs["serviceengine"][su]["host_ref"] = ref("vimgrhostruntime", hu)
                names["serviceengine"][s["name"]] = su
        for i, v in enumerate(topo.get("virtual_services", [])):
            u = new_uuid("virtualservice")
            gu = names["serviceenginegroup"][v["se_group"]]
            g = self.w.objs["serviceenginegroup"][gu]
            vip = v.get("vip", f"10.20.{i // 250}.{i % 250 + 10}")
            doc = {"uuid": u, "name": v["name"], "cloud_ref": g["cloud_ref"],
                   "se_group_ref": ref("serviceenginegroup", gu), "enabled": bool(v.get("enabled", True)),
                   "vip": [{"vip_id": "0", "enabled": True, "ip_address": {"addr": vip, "type": "V4"}}],
                   "services": [{"port": p, "enable_ssl": p == 443} for p in v.get("ports", [80])],
                   "tenant_ref": ref("tenant", "admin"), "_lab": {"placement": [], "migrate_state": MIG_IDLE}}
            placement = []
            for j, sname in enumerate(v.get("ses", [])):
                su = names["serviceengine"][sname]
                if self.w.objs["serviceengine"][su]["se_group_ref"] != doc["se_group_ref"]:
                    raise ValueError(f"VS {v['name']}: SE {sname} is not in group {v['se_group']}")
                legacy = g["ha_mode"] == HA_LEGACY
                placement.append({"se": su, "primary": j == 0, "standby": legacy and j > 0, "state": "active"})
            doc["_lab"]["placement"] = placement
            self.w.objs["virtualservice"][u] = doc

    def update(self, typ, u, body, base, patch=False):
        with self.w.lock:
            o = self.w.objs[typ].get(u)
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
            if typ in ("serviceenginegroup", "stringgroup"):
                cand = dict(o)
                cand.update(vals)
                (self.check_seg if typ == "serviceenginegroup" else self.check_stringgroup)(cand)
            if "name" in vals and (not isinstance(vals["name"], str) or not vals["name"]):
                raise ApiError(400, "name is required")
            for k, v in vals.items():
                if typ == "serviceengine" and k == "enable_state":
                    self.w.operations.set_enable_state(o, v)
                else:
                    o[k] = v
            if typ == "cloud":
                o["_lab"]["can_create_se"] = self.can_create_se(o)
            o["_last_modified"] = str(int(time.time() * 1e6))
            self.w.save_obj(typ, u)
            self.w.update_disruption()
            self.w._flush()
            return self.w.views.view(typ, o, base, False)
