"""The lab's upgrade engine: images, the controller cluster, upgrade and rollback operations, the
configuration lock, reboot windows, SE upgrades and the vendor's ``upgradestatusinfo`` view.

``UpgradeMixin`` is mixed into ``lab.world.World``: it runs under the world's lock, keeps its state
in ``self.up`` (persisted in the meta row ``upgrade``), and does its slow work as operations in
``self.ops`` that the world's tick advances (``World._advance`` hands the kinds in
:data:`UPGRADE_OP_KINDS` to :meth:`UpgradeMixin._advance_upgrade`). Durations are lab seconds from
the topology's ``upgrade_timing``. Each step is scheduled at the lab time the previous one ended
(not at the tick that noticed it), so the lab's own operation times add up exactly.

What is vendor behaviour and what is the lab's assumption is listed in lab/README.md and
lab/AVI.md ("Upgrades").
"""
import copy
import datetime
import hashlib
import io
import json
import logging
import re
import tarfile
import time
import uuid as uuidlib

from lab.avi.common import HA_LEGACY, HA_PAIR, HA_SHARED, ApiError, new_uuid, ref, uuid_of

log = logging.getLogger("lab.upgrade")

UPGRADE_TIMING_DEFAULTS = {"prechecks": 2, "controller_install": 30, "controller_reboot": 20,
                           "cluster_form": 10, "se_upgrade": 60, "image_upload": 5, "reboot_drop_rate": 0.5}
PACKAGE_OF = {"vm": "controller.pkg", "bare_metal": "controller_docker.tgz"}
PACKAGES = tuple(PACKAGE_OF.values())
FLEXIBLE_SINCE = (18, 2, 6)
NODE_CTL, NODE_SEG, NODE_SE = "NODE_CONTROLLER_CLUSTER", "NODE_SE_GROUP", "NODE_SE_TYPE"
SUSPEND, ROLLBACK, CONTINUE = ("SUSPEND_UPGRADE_OPS_ON_ERROR", "ROLLBACK_UPGRADE_OPS_ON_ERROR",
                               "CONTINUE_UPGRADE_OPS_ON_ERROR")
ACTIONS = (ROLLBACK, SUSPEND, CONTINUE)
UPGRADE_OP_KINDS = ("system_upgrade", "controller_upgrade", "se_group_upgrade", "se_upgrade", "rollback",
                    "controller_rollback", "se_group_rollback", "se_rollback", "image_upload")
# operations that fail_operation faults may name (besides the world's own)
UPGRADE_FAULT_OPS = ("cluster_reform", "se_upgrade")
FSM = "UPGRADE_FSM_"
# controller tasks, in the order the vendor's upgrade reports them (EventMap.task enum and the 17.x
# tasks_completed list of Avi's own upgrade test suite)
CTL_TASKS = {
    "prechecks": ["COPY_AND_VERIFY_IMAGE"],
    "install": ["INSTALL_IMAGE", "PREPARE_CONTROLLER_FOR_SHUTDOWN", "STOP_CONTROLLER",
                "PREPARE_FOR_REBOOT_CONTROLLER_NODES"],
    "reboot": ["REBOOT_CONTROLLER_NODES"],
    "cluster_form": ["WAIT_FOR_ALL_CONTROLLER_NODES_ONLINE", "PRE_UPGRADE_HOOKS", "MIGRATE_CONFIG",
                     "START_PRIMARY_CONTROLLER", "START_ALL_CONTROLLERS", "POST_UPGRADE_HOOKS",
                     "SET_CONTROLLER_UPGRADE_COMPLETED"],
}
SYSTEM_TASKS = ["SE_UPGRADE_START", "COMMIT_UPGRADE"]
LOCKED_MESSAGE = ("Controller upgrade in progress: the configuration is read-only until the upgrade "
                  "ends (reads and upgrade status still work)")


def vkey(version):
    """Sortable key of a version string: '22.1.6' -> (22, 1, 6); '22.1.3(9096) ...' -> (22, 1, 3)."""
    head = str(version or "").split("(", 1)[0].split("-", 1)[0]
    return tuple(int(n) for n in re.findall(r"\d+", head)[:4]) or (0,)


def is_flexible(version):
    return vkey(version) >= FLEXIBLE_SINCE


def make_image_bytes(version, build, min_version=None, package="controller.pkg", product="controller"):
    """A lab image package: a tar.gz with manifest.json (see lab/AVI.md "Images")."""
    manifest = {"product": product, "version": str(version), "build": int(build), "package": package}
    if min_version:
        manifest["min_version"] = str(min_version)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("manifest.json", json.dumps(manifest, indent=2).encode()),
                           ("payload/README", b"fleetops lab image package: a manifest, not a real controller\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_package(data):
    """The manifest of an uploaded package, or ApiError(400) naming what is wrong."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            member = tar.getmember("manifest.json")
            manifest = json.loads(tar.extractfile(member).read())
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError, AttributeError):
        raise ApiError(400, "Invalid image package: not a controller package (a tar.gz with manifest.json, "
                       "as controller.pkg / controller_docker.tgz; python -m lab make-image writes one)")
    if not isinstance(manifest, dict):
        raise ApiError(400, "Invalid image package: manifest.json is not an object")
    if manifest.get("product", "controller") != "controller":
        raise ApiError(400, f"Invalid image package: product {manifest.get('product')!r} is not 'controller'")
    if manifest.get("package") not in PACKAGES:
        raise ApiError(400, f"Invalid image package: package must be one of {', '.join(PACKAGES)}, "
                       f"got {manifest.get('package')!r}")
    if not re.fullmatch(r"\d+(\.\d+){1,3}", str(manifest.get("version", ""))):
        raise ApiError(400, f"Invalid image package: version must look like 22.1.7, got {manifest.get('version')!r}")
    if not str(manifest.get("build", "")).isdigit():
        raise ApiError(400, f"Invalid image package: build must be a number, got {manifest.get('build')!r}")
    min_version = manifest.get("min_version")
    if min_version is not None and not re.fullmatch(r"\d+(\.\d+){1,3}", str(min_version)):
        raise ApiError(400, f"Invalid image package: min_version must look like 22.1.1, "
                       f"got {manifest['min_version']!r}")
    return manifest


def absolute(doc, base):
    """Every "/api/..." string in ``doc`` (refs, also inside lists) made absolute with ``base``."""
    if isinstance(doc, dict):
        return {k: absolute(v, base) for k, v in doc.items()}
    if isinstance(doc, list):
        return [absolute(v, base) for v in doc]
    if isinstance(doc, str) and doc.startswith("/api/"):
        return base + doc
    return doc


def _bool(body, key, default=False):
    v = body.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ApiError(400, f"{key} must be a boolean (true or false), got {v!r}")
    return v


class UpgradeMixin:
    """The upgrade engine of the World (see the module docstring)."""

    # ------------------------------------------------------------------ seeding and loading
    def _up_seed(self, topo):
        topo = topo or {}
        ctl = topo.get("controller") or {}
        deployment = ctl.get("deployment", "vm")
        if deployment not in PACKAGE_OF:
            raise ValueError(f"controller.deployment must be one of {', '.join(PACKAGE_OF)}, got {deployment!r}")
        timing = dict(UPGRADE_TIMING_DEFAULTS)
        timing.update(topo.get("upgrade_timing") or {})
        nodes = ctl.get("nodes", 3)
        if isinstance(nodes, int):
            nodes = [{"name": f"10.10.9.{11 + i}", "ip": f"10.10.9.{11 + i}"} for i in range(max(1, nodes))]
        nodes = [{"name": str(n["name"]), "ip": str(n.get("ip", n["name"]))} for n in nodes]
        cu = f"cluster-{uuidlib.uuid4()}"
        self.up = {"epoch": time.time(), "deployment": deployment, "timing": timing, "api": "up",
                   "cluster": {"uuid": cu, "name": "cluster-0-1", "nodes": nodes, "up_since": 0.0},
                   "images": {}, "status": {}, "previous_build": None}
        base = self._add_image(self.cfg["version"], self.cfg["build"], None, PACKAGE_OF[deployment], ready=True)
        for img in topo.get("images") or []:
            self._add_image(str(img["version"]), str(img["build"]), img.get("min_version"),
                            img.get("package", PACKAGE_OF[deployment]), ready=True, name=img.get("name"),
                            path=img.get("path"))
        self.up["status"][cu] = self._new_status(cu, self.up["cluster"]["name"], NODE_CTL, image=base)
        self._up_dirty()

    def _up_load(self, meta):
        self.up = meta.get("upgrade")
        if self.up is None:  # a state dir from before the upgrade engine: seed its part
            self._up_seed(self.topology)

    def _up_dirty(self):
        self._mark("meta", "upgrade", self.up)

    def _ut(self, name):
        return float(self.up["timing"].get(name, UPGRADE_TIMING_DEFAULTS[name]))

    # ------------------------------------------------------------------ time in vendor formats
    def _ts(self, lab_t):
        """Vendor-style time string for lab time ``lab_t`` (the lab epoch is when the world was seeded;
        one lab second is one second of these timestamps) [lab assumption]."""
        if lab_t is None:
            return None
        t = datetime.datetime.fromtimestamp(self.up["epoch"] + lab_t, datetime.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")

    def _stamp(self, lab_t):
        t = self.up["epoch"] + lab_t
        return {"secs": int(t), "usecs": int((t - int(t)) * 1e6)}

    # ------------------------------------------------------------------ images
    def _add_image(self, version, build, min_version, package, ready, name=None, path=None, digest=None):
        iu = new_uuid("image")
        name = name or f"controller-{version}-{build}"
        ext = ".tgz" if package.endswith(".tgz") else ".pkg"
        path = path or f"controller://upgrade_pkgs/{name}{ext}"
        now = self.lab_now()
        build_info = {"version": str(version), "build_no": int(build), "min_version": str(min_version or ""),
                      "product": "controller", "tag": f"{version}-{build}",
                      "date": self._ts(now)[:19], "product_name": "Avi Cloud Controller (fleetops lab)"}
        pkg = {"build": build_info, "path": path, "hash": digest or hashlib.md5(name.encode()).hexdigest()}
        se_build = dict(build_info, product="se", product_name="Avi Service Engine (fleetops lab)")
        doc = {"uuid": iu, "name": name, "type": "IMAGE_TYPE_SYSTEM", "controller_info": pkg,
               "se_info": {"build": se_build, "path": path, "hash": pkg["hash"]},
               "img_state": {"state": "IMAGE_FSM_COMPLETED" if ready else "IMAGE_FSM_IN_PROGRESS",
                             "last_changed_time": self._stamp(now)},
               "progress": 100 if ready else 0, "tasks_completed": 1 if ready else 0, "total_tasks": 1,
               "start_time": self._ts(now), "end_time": self._ts(now) if ready else None,
               "duration": 0, "lab_package": package, "tenant_ref": ref("tenant", "admin"),
               "_lab": {"version": str(version), "build": str(build), "min_version": min_version,
                        "package": package}}
        self.up["images"][iu] = doc
        self._up_dirty()
        return iu

    def _image_view(self, doc, base):
        d = copy.deepcopy(doc)
        d.pop("_lab", None)
        d["url"] = ref("image", doc["uuid"])
        op = self._image_op(doc["uuid"])
        if op:
            d["progress"] = self._progress(op)
        return absolute(d, base)

    def _image_op(self, iu):
        for op in self.ops.values():
            if op["state"] == "running" and op["kind"] == "image_upload" and op.get("image") == iu:
                return op
        return None

    def image_upload(self, data, base):
        with self.lock:
            self._need_flexible("/api/image")
            self._check_locked()
            manifest = read_package(data)
            want = PACKAGE_OF[self.up["deployment"]]
            if manifest["package"] != want:
                raise ApiError(400, f"Image package type {manifest['package']} does not match the controller "
                               f"deployment {self.up['deployment']}, which takes {want}")
            version, build = str(manifest["version"]), str(manifest["build"])
            for img in self.up["images"].values():
                if img["_lab"]["version"] == version and img["_lab"]["build"] == build:
                    raise ApiError(409, f"Image {img['name']} ({img['uuid']}) already exists with version "
                                   f"{version} build {build}")
            iu = self._add_image(version, build, manifest.get("min_version"), manifest["package"], ready=False,
                                 digest=hashlib.md5(data).hexdigest())
            self._start_op("image_upload", [("upload", self._ut("image_upload"))], target=self.up["images"][iu]
                           ["name"], image=iu)
            log.info("image %s uploaded (%d bytes), becomes usable in %.0f lab seconds", self.up["images"][iu]["name"],
                     len(data), self._ut("image_upload"))
            self._flush()
            return self._image_view(self.up["images"][iu], base)

    def image_list(self, q, base, url, inventory=False):
        with self.lock:
            self._need_flexible("/api/image")
            items = self._filter(list(self.up["images"].values()), q)

            def render(doc):
                v = self._image_view(doc, base)
                return {"uuid": doc["uuid"], "url": v["url"], "config": v} if inventory else v
            return self._page(items, q, url, render)

    def image_get(self, iu, base, inventory=False):
        with self.lock:
            self._need_flexible("/api/image")
            doc = self.up["images"].get(iu)
            if not doc:
                raise ApiError(404, "Object not found!")
            v = self._image_view(doc, base)
            return {"uuid": iu, "url": v["url"], "config": v} if inventory else v

    def image_delete(self, iu):
        with self.lock:
            self._need_flexible("/api/image")
            self._check_locked()
            doc = self.up["images"].get(iu)
            if not doc:
                raise ApiError(404, "Object not found!")
            for op in self.ops.values():
                if op["state"] == "running" and op.get("image") == iu and op["kind"] != "image_upload":
                    raise ApiError(400, f"Image {doc['name']} is in use by a running upgrade ({op['kind']} {op['id']})")
            del self.up["images"][iu]
            self._up_dirty()
            self._flush()

    def _image_for(self, value, field="image_ref"):
        iu = uuid_of(value)
        doc = self.up["images"].get(iu)
        if not doc:
            for d in self.up["images"].values():
                if d["name"] == value:
                    return d
            raise ApiError(400, f"{field}: no image {value!r} (GET /api/image lists the uploaded images)")
        return doc

    # ------------------------------------------------------------------ API generations, lock, windows
    def _need_flexible(self, path):
        if not is_flexible(self.cfg["version"]):
            raise ApiError(404, f"Resource {path} not found: controller {self.cfg['version']} has the 17.x upgrade "
                           "API (POST /api/cluster/upgrade, GET /api/cluster/upgrade/status); the flexible upgrade "
                           "API exists from 18.2.6 on")

    def _need_legacy(self, path):
        if is_flexible(self.cfg["version"]):
            raise ApiError(404, f"Resource {path} not found: controller {self.cfg['version']} has the flexible "
                           "upgrade API (POST /api/upgrade, GET /api/upgradestatusinfo); the 17.x API "
                           "(/api/cluster/upgrade) ended with 18.2.6")

    def config_locked(self):
        with self.lock:
            return self._locking_op() is not None

    def _locking_op(self):
        for op in self.ops.values():
            if op["state"] != "running":
                continue
            if op["kind"] == "system_upgrade" or (op["kind"] == "rollback" and op.get("system")):
                return op
            if op["kind"] in ("controller_upgrade", "controller_rollback"):
                return op
        return None

    def _check_locked(self):
        if self._locking_op() is not None:
            raise ApiError(403, LOCKED_MESSAGE)

    def upgrade_http_block(self, path):
        """None, or (status, message) while the controller nodes reboot (status 0: drop the
        connection) or the cluster re-forms (503)."""
        state = self.up.get("api", "up") if getattr(self, "up", None) else "up"
        if state == "up":
            return None
        if not (path.startswith("/api/") or path.rstrip("/") in ("/login", "/logout")):
            return None
        with self.lock:
            state = self.up.get("api", "up")
            if state == "rebooting":
                if self._rng.random() < float(self._ut("reboot_drop_rate")):
                    return 0, None
                return 503, "Service unavailable: the controller nodes are rebooting (upgrade in progress)"
            if state == "forming":
                return 503, "Controller not ready: the cluster is forming after the reboot (upgrade in progress)"
            return None

    def _end_sessions(self):
        for sid in list(self.sessions):
            self._mark("sessions", sid, None)
        self.sessions = {}

    # ------------------------------------------------------------------ cluster and versions
    def cluster_view(self, base):
        with self.lock:
            c = self.up["cluster"]
            return {"uuid": c["uuid"], "name": c["name"], "url": base + "/api/cluster",
                    "tenant_ref": base + ref("tenant", "admin"), "rejoin_nodes_automatically": True,
                    "nodes": [{"name": n["name"], "ip": {"addr": n["ip"], "type": "V4"}, "vm_name": n["name"]}
                              for n in c["nodes"]]}

    def cluster_status(self):
        with self.lock:
            c = self.up["cluster"]
            since = self._ts(c["up_since"])
            state = "CLUSTER_UP_HA_ACTIVE" if len(c["nodes"]) >= 3 else "CLUSTER_UP_NO_HA"
            return {"cluster_state": {"state": state, "progress": 100, "up_since": since},
                    "node_states": [{"name": n["name"], "role": "CLUSTER_LEADER" if i == 0 else "CLUSTER_FOLLOWER",
                                     "state": "CLUSTER_ACTIVE", "up_since": since,
                                     "mgmt_ip": {"addr": n["ip"], "type": "V4"}}
                                    for i, n in enumerate(c["nodes"])]}

    def controller_versions(self):
        """GET /api/version/controller: one ControllerVersion per node."""
        with self.lock:
            v = f"{self.cfg['version']}({self.cfg['build']})"
            return [{"name": n["name"], "version": v, "patch": ""} for n in self.up["cluster"]["nodes"]]

    # ------------------------------------------------------------------ status documents
    def _new_status(self, uu, name, node_type, image=None):
        return {"uuid": uu, "name": name, "node_type": node_type, "previous_version": "",
                "state": {"state": FSM + "COMPLETED", "reason": "", "last_changed_time": self._stamp(0.0),
                          "rebooted": False},
                "image_ref": ref("image", image) if image else None, "enable_rollback": False,
                "upgrade_events": [], "tasks_completed": 0, "total_tasks": 0, "history": [],
                "_lab": {}}

    def _sdoc(self, uu, node_type=None, name=None):
        d = self.up["status"].get(uu)
        if d is None:
            d = self.up["status"][uu] = self._new_status(uu, name or uu, node_type)
            self._up_dirty()
        return d

    def _set_state(self, doc, state, at, reason=None, rebooted=None):
        st = doc["state"]
        st["state"] = FSM + state
        st["reason"] = reason or ""
        st["last_changed_time"] = self._stamp(at)
        if rebooted is not None:
            st["rebooted"] = rebooted
        self._up_dirty()

    def _begin_doc(self, doc, ops, at, total_tasks, params=None, system=False, image=None):
        """Start a new operation on a node's status: the previous run goes to history."""
        doc.update(upgrade_ops=ops, upgrade_events=[], tasks_completed=0, total_tasks=total_tasks,
                   start_time=self._ts(at), end_time=None, duration=None, system=system, progress=0)
        doc["state"]["rebooted"] = False
        if params is not None:
            doc["params"] = params
        doc["_lab"] = {"started": at, "image": image}
        doc.pop("seg_status", None)
        self._up_dirty()

    def _end_doc(self, doc, at, state, reason=None, version=None):
        self._set_state(doc, state, at, reason)
        doc["end_time"] = self._ts(at)
        doc["duration"] = int(round(at - doc["_lab"].get("started", at)))
        doc["progress"] = 100 if state == "COMPLETED" else doc.get("progress", 0)
        entry = {"ops": doc.get("upgrade_ops"), "state": copy.deepcopy(doc["state"]), "start_time": doc.get(
            "start_time"), "end_time": doc["end_time"], "duration": doc["duration"],
            "version": version or "", "upgrade_events": copy.deepcopy(doc.get("upgrade_events", []))}
        if doc.get("seg_status"):
            entry["seg_status"] = copy.deepcopy(doc["seg_status"])
        doc["history"] = ([entry] + doc.get("history", []))[:20]
        self._up_dirty()

    def _event(self, doc, task, start, end, ok=True, message="", nodes=None):
        if nodes is None:
            nodes = [n["ip"] for n in self.up["cluster"]["nodes"]]
        doc.setdefault("upgrade_events", []).append({
            "task_name": task, "sub_events": [
                {"ip": {"addr": ip, "type": "V4"}, "start_time": self._ts(start), "end_time": self._ts(end),
                 "duration": int(round(end - start)), "status": ok, "message": message, "sub_tasks": [task]}
                for ip in nodes]})
        doc["tasks_completed"] = sum(1 for e in doc["upgrade_events"] if all(s["status"] for s in e["sub_events"]))
        self._up_dirty()

    def _ctl_doc(self):
        return self._sdoc(self.up["cluster"]["uuid"], NODE_CTL, self.up["cluster"]["name"])

    def _group_doc(self, g):
        d = self._sdoc(g["uuid"], NODE_SEG, g["name"])
        d["name"] = g["name"]
        return d

    def _se_doc(self, se):
        d = self._sdoc(se["uuid"], NODE_SE, se["name"])
        d["name"] = se["name"]
        return d

    def _group_version(self, g):
        ses = self._ses_of_group(g["uuid"])
        if not ses:
            return self.cfg["version"]
        return min((s["_lab"]["version"] for s in ses), key=vkey)

    # ------------------------------------------------------------------ plans (checks, preview)
    def _groups_from(self, refs, field="se_group_refs"):
        if refs is None:
            return []
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise ApiError(400, f"{field} must be a list of SE group refs or uuids")
        out = []
        for r in refs:
            g = self.objs["serviceenginegroup"].get(uuid_of(r)) or next(
                (x for x in self.objs["serviceenginegroup"].values() if x["name"] == r), None)
            if not g:
                raise ApiError(400, f"{field}: no SE group {r!r}")
            if g not in out:
                out.append(g)
        return out

    def _parse_params(self, body, rollback=False):
        if not isinstance(body, dict):
            raise ApiError(400, "JSON object expected")
        p = {"system": _bool(body, "system"), "skip_warnings": _bool(body, "skip_warnings"),
             "prechecks_only": _bool(body, "prechecks_only") or _bool(body, "dryrun")}
        refs = body.get("se_group_refs", body.get("se_group_uuids"))
        p["groups"] = [] if p["system"] else self._groups_from(refs)  # vendor: ignored when system is set
        opts = body.get("se_group_options") or {}
        if not isinstance(opts, dict):
            raise ApiError(400, "se_group_options must be an object (SeGroupOptions)")
        # older docs show a top-level suspend_on_failure flag; SeGroupOptions.action_on_error replaced it
        default = CONTINUE if body.get("suspend_on_failure") is False else SUSPEND
        action = opts.get("action_on_error", default)
        if action not in ACTIONS:
            raise ApiError(400, f"se_group_options.action_on_error must be one of {', '.join(ACTIONS)}, "
                           f"got {action!r}")
        p["action"] = action
        p["disruptive"] = _bool(opts, "disruptive") or _bool(body, "disruptive")
        p["skip_suspended"] = _bool(opts, "skip_suspended")
        p["image"] = None
        if not rollback:
            value = body.get("image_ref") or body.get("image_uuid")
            if not value:
                raise ApiError(400, "image_ref (or image_uuid) is required: the image to upgrade to "
                               "(GET /api/image lists them)")
            if not isinstance(value, str):
                raise ApiError(400, "image_ref must be a string (an image ref, uuid or name)")
            p["image"] = self._image_for(value, "image_ref" if body.get("image_ref") else "image_uuid")
        return p

    def _disruption_of(self, g, order, disruptive):
        """Per VS of group g that would lose service while the SEs in ``order`` upgrade: name, uuid,
        se, reason. Vendor rule (seed 001): only N+M VSs on a single SE are disrupted, unless the
        upgrade is disruptive (all SEs of the group at once)."""
        out = []
        gr = ref("serviceenginegroup", g["uuid"])
        todo = set(order)
        for vs in sorted(self.objs["virtualservice"].values(), key=lambda v: v["name"]):
            if vs["se_group_ref"] != gr or not vs["enabled"]:
                continue
            ses = [p["se"] for p in vs["_lab"]["placement"] if p["state"] in ("active", "scaling_in")]
            hit = [s for s in ses if s in todo]
            if not hit:
                continue
            name = self.objs["serviceengine"].get(hit[0], {}).get("name", "?")
            if disruptive:
                out.append({"name": vs["name"], "uuid": vs["uuid"], "se": name,
                            "reason": "disruptive upgrade: every SE of the group upgrades at once"})
            elif len(set(ses)) < 2:
                why = {HA_SHARED: "N+M (HA_MODE_SHARED) virtual service placed on a single SE (not scaled out)",
                       HA_LEGACY: "legacy active/standby virtual service without a standby SE",
                       HA_PAIR: "active/active virtual service placed on a single SE"}[g["ha_mode"]]
                out.append({"name": vs["name"], "uuid": vs["uuid"], "se": name,
                            "reason": f"{why}: no service while {name} upgrades"})
        return out

    def _group_plan(self, g, to_ver, disruptive, state="SE_UPGRADE_PREVIEW"):
        ses = sorted(self._ses_of_group(g["uuid"]), key=lambda s: s["name"])
        order = [s["uuid"] for s in ses if s["_lab"]["version"] != to_ver]
        already = [s for s in ses if s["_lab"]["version"] == to_ver]
        gr = ref("serviceenginegroup", g["uuid"])
        vss = [v for v in self.objs["virtualservice"].values() if v["se_group_ref"] == gr]
        scaled, single = set(), set()
        for v in vss:
            on = {p["se"] for p in v["_lab"]["placement"]}
            (scaled if len(on) >= 2 else single).update(on)
        sref = [ref("serviceengine", s["uuid"]) for s in ses]
        disrupted = self._disruption_of(g, order, disruptive)
        notes = []
        if g["ha_mode"] == HA_LEGACY and not disruptive:
            notes.append("legacy active/standby: each virtual service switches over to its standby SE before its "
                         "active SE upgrades (no outage)")
        if disruptive:
            notes.append("disruptive: every SE of the group upgrades at the same time")
        se_time = self._ut("se_upgrade")
        return {
            "se_group_name": g["name"], "se_group_uuid": g["uuid"], "ha_mode": g["ha_mode"], "state": state,
            "num_se": len(ses), "num_vs": len(vss), "num_vs_disrupted": len(disrupted),
            "disrupted_vs_ref": [ref("virtualservice", d["uuid"]) for d in disrupted],
            "se_with_vs_scaledout": [r for s, r in zip(ses, sref) if s["uuid"] in scaled],
            "se_with_vs_not_scaledout": [r for s, r in zip(ses, sref) if s["uuid"] in single],
            "se_with_no_vs": [r for s, r in zip(ses, sref) if s["uuid"] not in scaled | single],
            "num_se_with_vs_scaledout": len(scaled & {s["uuid"] for s in ses}),
            "num_se_with_vs_not_scaledout": len(single & {s["uuid"] for s in ses}),
            "num_se_with_no_vs": sum(1 for s in ses if s["uuid"] not in scaled | single),
            "se_already_upgraded_at_start": [ref("serviceengine", s["uuid"]) for s in already],
            "notes": notes, "reason": [], "controller_version": self.cfg["version"],
            "lab_order": [self.objs["serviceengine"][u]["name"] for u in order],
            "lab_disrupted_vs": disrupted, "lab_disruptive": disruptive,
            "lab_estimated_seconds": se_time if (disruptive and order) else se_time * len(order),
        }

    def _upgrade_plan(self, p):
        img = p["image"]
        to_ver, ctl_ver = img["_lab"]["version"], self.cfg["version"]
        scope = "system" if p["system"] else ("se_groups" if p["groups"] else "controller")
        errors, warnings = [], []
        if img["img_state"]["state"] != "IMAGE_FSM_COMPLETED":
            errors.append(f"Image {img['name']} is not ready: img_state {img['img_state']['state']}")
        want = PACKAGE_OF[self.up["deployment"]]
        if img["_lab"]["package"] != want:
            errors.append(f"Image {img['name']} is a {img['_lab']['package']} package; the controller deployment "
                          f"{self.up['deployment']} takes {want}")
        min_v = img["_lab"].get("min_version")
        if scope in ("system", "controller"):
            if vkey(to_ver) < vkey(ctl_ver):
                errors.append(f"Image version {to_ver} is older than the running version {ctl_ver}: use rollback")
            elif to_ver == ctl_ver:
                errors.append(f"The controller is already at version {to_ver}")
            if min_v and vkey(ctl_ver) < vkey(min_v):
                warnings.append(f"The running version {ctl_ver} is too far from {to_ver}: image {img['name']} "
                                f"needs at least {min_v}; forcing the upgrade (skip_warnings) makes it disruptive")
            groups = list(self.objs["serviceenginegroup"].values()) if scope == "system" else []
        else:
            groups = p["groups"]
            if to_ver != ctl_ver:
                errors.append(f"SE groups can only be upgraded to the controller's running version {ctl_ver}; image "
                              f"{img['name']} is version {to_ver} (upgrade the controller first)")
            pending = [g for g in groups if any(s["_lab"]["version"] != to_ver for s in self._ses_of_group(
                g["uuid"]))]
            if not pending:
                errors.append(f"SE group(s) {', '.join(g['name'] for g in groups)} already at version {to_ver}")
            for g in groups:
                lowest = self._group_version(g)
                if vkey(lowest) > vkey(to_ver):
                    errors.append(f"SE group {g['name']} runs {lowest}, newer than {to_ver}: use rollback")
                if min_v and vkey(lowest) < vkey(min_v):
                    warnings.append(f"SE group {g['name']} runs {lowest}, too far from {to_ver} (needs at least "
                                    f"{min_v}); forcing it (skip_warnings) makes the upgrade disruptive")
        disruptive = p["disruptive"] or bool(warnings and p["skip_warnings"])
        plans = [self._group_plan(g, to_ver, disruptive) for g in sorted(groups, key=lambda x: x["name"])]
        ctl_phase = (self._ut("prechecks") + self._ut("controller_install") + self._ut("controller_reboot")
                     + self._ut("cluster_form"))
        est = (ctl_phase if scope != "se_groups" else 0) + max([x["lab_estimated_seconds"] for x in plans] or [0])
        frm = ctl_ver if scope != "se_groups" else (self._lowest(groups) or ctl_ver)
        return {"upgrade_ops": "EVAL_UPGRADE", "scope": scope, "from_version": frm,
                "to_version": to_ver, "image_ref": ref("image", img["uuid"]), "image_uuid": img["uuid"],
                "image_name": img["name"], "system": scope == "system", "warnings": warnings, "errors": errors,
                "disruptive": disruptive,
                "se_group_options": {"action_on_error": p["action"], "disruptive": disruptive},
                "controller": {"nodes": [n["name"] for n in self.up["cluster"]["nodes"]],
                               "will_upgrade": scope != "se_groups", "reboot": scope != "se_groups",
                               "lab_estimated_seconds": ctl_phase if scope != "se_groups" else 0},
                "se_groups": plans, "lab_estimated_seconds": est}

    def _lowest(self, groups):
        vs = [self._group_version(g) for g in groups]
        return min(vs, key=vkey) if vs else None

    def _conflict(self, groups, controller):
        """409 when another upgrade operation touches the same nodes (any controller-level operation
        conflicts with everything)."""
        gset = {g["uuid"] for g in groups}
        for op in sorted(self.ops.values(), key=lambda o: o["id"]):
            if op["state"] != "running" or op["kind"] not in UPGRADE_OP_KINDS or op["kind"] == "image_upload":
                continue
            top = op["kind"] in ("system_upgrade", "controller_upgrade", "controller_rollback", "rollback")
            if controller or top or op.get("group") in gset:
                raise ApiError(409, f"An upgrade operation is in progress ({op['kind']} of {op['target']}, "
                               f"{op['id']}); wait for it to end (GET /api/upgradestatusinfo)")

    # ------------------------------------------------------------------ flexible API: upgrade
    def upgrade_preview(self, body, base):
        with self.lock:
            self._need_flexible("/api/upgrade/preview")
            p = self._parse_params(body)
            return absolute(self._upgrade_plan(p), base)

    def start_upgrade(self, body, base):
        with self.lock:
            self._need_flexible("/api/upgrade")
            p = self._parse_params(body)
            plan = self._upgrade_plan(p)
            if p["prechecks_only"]:
                return absolute(self._record_readiness(plan, "UPGRADE"), base)
            self._conflict(p["groups"], controller=plan["scope"] != "se_groups")
            self._refuse_on(plan, p["skip_warnings"], "skip_warnings")
            out = self._launch(plan, p, legacy=False)
            self._flush()
            return absolute(out, base)

    def _refuse_on(self, plan, skip, flag):
        if plan["errors"]:
            raise ApiError(400, "; ".join(plan["errors"]))
        if plan["warnings"] and not skip:
            raise ApiError(400, "; ".join(plan["warnings"]) + f" (set {flag} to proceed)")

    def _record_readiness(self, plan, ops):
        now = self.lab_now()
        state = "UPGRADE_PRE_CHECK_ERROR" if plan["errors"] else (
            "UPGRADE_PRE_CHECK_WARNING" if plan["warnings"] else "UPGRADE_PRE_CHECK_SUCCESS")
        checks = [{"check_code": "SYSERR_FAILURE", "state": "UPGRADE_PRE_CHECK_ERROR", "description": e}
                  for e in plan["errors"]]
        checks += [{"check_code": "SYSERR_FAILURE", "state": "UPGRADE_PRE_CHECK_WARNING", "description": w}
                   for w in plan["warnings"]]
        doc = self._ctl_doc()
        doc["upgrade_readiness"] = {"upgrade_ops": ops, "image_ref": plan.get("image_ref"),
                                    "state": {"state": state, "last_changed_time": self._stamp(now)},
                                    "checks": checks, "total_checks": len(checks), "checks_completed": len(checks),
                                    "start_time": self._ts(now), "end_time": self._ts(now), "duration": 0}
        self._up_dirty()
        self._flush()
        out = dict(plan)
        out["status"] = "Prechecks completed" if not plan["errors"] else "Prechecks failed"
        out["upgrade_readiness"] = doc["upgrade_readiness"]
        return out

    def _launch(self, plan, p, legacy):
        """Create the operations of an accepted upgrade plan; returns the answer body."""
        now = self.lab_now()
        img = p["image"]
        to_ver = img["_lab"]["version"]
        scope = plan["scope"]
        params = {"image_ref": ref("image", img["uuid"]),
                  "se_group_options": {"action_on_error": p["action"], "disruptive": plan["disruptive"]}}
        group_objs = [self.objs["serviceenginegroup"][x["se_group_uuid"]] for x in plan["se_groups"]]
        ctl = self.up["cluster"]
        common = {"to": to_ver, "to_build": img["_lab"]["build"], "image": img["uuid"],
                  "action": p["action"], "disruptive": plan["disruptive"], "legacy": legacy}
        est = plan["lab_estimated_seconds"]
        if scope == "system":
            top = self._start_op("system_upgrade", [], target=ctl["name"], stage="controller", system=True,
                                 groups=[g["uuid"] for g in group_objs], children_ops=[], **common)
            self._at(top, now)
            top["est_total"] = est
            c = self._start_controller(top, "controller_upgrade", to_ver, img["_lab"]["build"], img["uuid"], now,
                                       params, system=True, groups=group_objs)
            top["ctl"] = c["id"]
            self._wait_groups(group_objs, top, now, params, "UPGRADE", img["uuid"])
            answer_uuid, node_type = ctl["uuid"], NODE_CTL
            op_id = top["id"]
        elif scope == "controller":
            c = self._start_controller(None, "controller_upgrade", to_ver, img["_lab"]["build"], img["uuid"], now,
                                       params, system=False, groups=[])
            answer_uuid, node_type, op_id = ctl["uuid"], NODE_CTL, c["id"]
        else:
            ids = []
            for g in group_objs:
                gop = self._start_group(g, "se_group_upgrade", to_ver, now, None, common, params, "UPGRADE")
                ids.append(gop["id"])
            answer_uuid, node_type, op_id = group_objs[0]["uuid"], NODE_SEG, ",".join(ids)
        log.info("upgrade accepted: %s to %s (%s%s)", scope, to_ver, img["name"],
                 ", disruptive" if plan["disruptive"] else "")
        return {"status": f"Upgrade operation started: {scope} to {to_ver}", "upgrade_ops": "UPGRADE",
                "node_type": node_type, "uuid": answer_uuid, "image_ref": plan["image_ref"],
                "from_version": plan["from_version"], "to_version": to_ver, "system": scope == "system",
                "se_group_refs": [ref("serviceenginegroup", x["se_group_uuid"]) for x in plan["se_groups"]]
                if scope == "se_groups" else [],
                "disruptive": plan["disruptive"], "warnings": plan["warnings"], "lab_operation_id": op_id}

    # ------------------------------------------------------------------ operation builders
    def _wait_groups(self, groups, top, at, params, ops_name, image):
        """The SE groups of a system operation wait while the controller phase runs."""
        for g in groups:
            d = self._group_doc(g)
            self._begin_doc(d, ops_name, at, 0, params, image=image)
            d["_lab"]["parent"] = top["id"]
            self._set_state(d, "WAITING", at, f"waiting for the controller {ops_name.lower()}")

    def _start_controller(self, parent, kind, to_ver, to_build, image, at, params, system, groups):
        phases = [("prechecks", self._ut("prechecks")), ("install", self._ut("controller_install")),
                  ("reboot", self._ut("controller_reboot")), ("cluster_form", self._ut("cluster_form"))]
        ctl = self.up["cluster"]
        op = self._start_op(kind, phases, target=ctl["name"], parent=parent["id"] if parent else None,
                            to=to_ver, to_build=to_build, image=image, system=system,
                            frm=self.cfg["version"], frm_build=self.cfg["build"],
                            frm_image=uuid_of(self._ctl_doc().get("image_ref")))
        self._at(op, at)
        if parent:
            parent.setdefault("children_ops", []).append(op["id"])
        doc = self._ctl_doc()
        rollback = kind == "controller_rollback"
        total = sum(len(v) for v in CTL_TASKS.values()) + (len(SYSTEM_TASKS) if system else 0)
        self._begin_doc(doc, "ROLLBACK" if rollback else "UPGRADE", at, total, params, system=system, image=image)
        doc["_lab"].update(frm=self.cfg["version"], to=to_ver, groups=[g["uuid"] for g in groups], op=op["id"],
                           legacy=bool(parent and parent.get("legacy")))
        self._set_state(doc, "STARTED", at)
        return op

    def _at(self, op, at):
        op["started"] = at
        op["phase_started"] = at
        self._mark("operations", op["id"], op)

    def _start_group(self, g, kind, to_ver, at, parent, common, params, ops_name, order=None, resume=None):
        rollback = kind == "se_group_rollback"
        plan = self._group_plan(g, to_ver, common["disruptive"], state="SE_UPGRADE_IN_PROGRESS")
        ses = sorted(self._ses_of_group(g["uuid"]), key=lambda s: s["name"])
        if order is None:
            order = [s["uuid"] for s in ses if s["_lab"]["version"] != to_ver]
        frm = {s["uuid"]: s["_lab"]["version"] for s in ses}
        op = self._start_op(kind, [], target=g["name"], parent=parent["id"] if parent else None, group=g["uuid"],
                            order=list(order), running=[], completed=[], failed=[], suspended=[], rolled_back=[],
                            skipped=list(resume.get("skipped", [])) if resume else [], rb_queue=None,
                            cursor=at, frm=frm, group_from=self._group_version(g), started_any=False,
                            **{k: v for k, v in common.items() if k not in ("frm",)})
        self._at(op, at)
        se_t = self._ut("se_upgrade")
        op["est_total"] = se_t if common["disruptive"] and order else se_t * len(order)
        if parent:
            parent.setdefault("children_ops", []).append(op["id"])
        doc = self._group_doc(g)
        if not (parent and doc["_lab"].get("parent") == parent["id"]):
            self._begin_doc(doc, ops_name, at, len(order), params, image=common.get("image"))
        doc["total_tasks"] = len(order)
        doc["_lab"].update(op=op["id"], frm=op["group_from"])
        seg = {k: v for k, v in plan.items() if not k.startswith("lab_")}
        seg["lab_order"] = [self._name_of(u) for u in order]
        seg.update(state="SEGROUP_UPGRADE_IN_PROGRESS", in_progress=True, progress=0,
                   se_upgrade_completed=[], se_upgrade_in_progress=[], se_upgrade_failed=[],
                   se_upgrade_suspended=[], se_upgrade_skip_suspended=[ref("serviceengine", u) for u in op["skipped"]],
                   se_upgrade_not_started=[ref("serviceengine", u) for u in order], se_upgrade_errors=[],
                   disrupted_vs_ref=[], num_vs_disrupted=0, start_time=self._ts(at), request_time=self._ts(at),
                   notes=plan["notes"] + (["resumed"] if resume else []))
        doc["seg_status"] = seg
        self._set_state(doc, "IN_PROGRESS", at)
        for u in order:
            sd = self._se_doc(self.objs["serviceengine"][u])
            self._begin_doc(sd, ops_name, at, 1, params, image=common.get("image"))
            self._set_state(sd, "WAITING", at, f"queued in the upgrade of SE group {g['name']}")
        log.info("%s of SE group %s to %s: %d SE(s)%s", kind, g["name"], to_ver, len(order),
                 " at once (disruptive)" if common["disruptive"] else " one at a time")
        return op

    def _start_se(self, se, kind, to_ver, at, parent, extra=None):
        """Take one SE down for its upgrade window (it serves nothing until the window ends)."""
        op = self._start_op(kind, [("upgrade", self._ut("se_upgrade"))], se=se["uuid"], target=se["name"],
                            parent=parent["id"] if parent else None, group=uuid_of(se["se_group_ref"]),
                            to=to_ver, frm=se["_lab"]["version"], prior_oper=se["_lab"]["oper"],
                            **(extra or {}))
        if kind == "se_rollback":
            op["fail"] = None
        self._at(op, at)
        g = self._group_of(se)
        op["notes"] = []
        if g["ha_mode"] == HA_LEGACY:  # vendor: the active switches over to its standby first (no outage)
            for vs in self._vss_on(se["uuid"]):
                mine = self._vs_entry(vs, se["uuid"])
                other = next((p for p in vs["_lab"]["placement"] if p is not mine and self._se_serving(p["se"])),
                             None)
                if mine["primary"] and other:
                    mine["primary"], mine["standby"] = False, True
                    other["primary"], other["standby"] = True, False
                    self._save_obj("virtualservice", vs["uuid"])
                    note = (f"{vs['name']} switched over to {self.objs['serviceengine'][other['se']]['name']} "
                            f"before {se['name']} upgraded")
                    op["notes"].append(note)
                    log.info("VS %s", note)
        se["_lab"]["oper"] = "OPER_UPGRADING"
        self._save_obj("serviceengine", se["uuid"])
        op["disrupted"] = [v["uuid"] for v in self._vss_on(se["uuid"])
                           if v["enabled"] and self._serving_count(v) == 0]
        self._update_disruption(at=at)
        sd = self._se_doc(se)
        if not sd.get("upgrade_ops") or sd["state"]["state"] != FSM + "WAITING":
            self._begin_doc(sd, "ROLLBACK" if kind == "se_rollback" else "UPGRADE", at, 1,
                            image=parent.get("image") if parent else (extra or {}).get("image"))
        sd["_lab"].update(started=at, op=op["id"])
        sd["start_time"] = self._ts(at)
        self._set_state(sd, "IN_PROGRESS", at)
        log.info("SE %s: %s to %s started (%s)", se["name"], kind.replace("_", " "), to_ver, op["id"])
        return op

    # ------------------------------------------------------------------ the simulation
    def _advance_upgrade(self, op):
        changed = self._advance_upgrade_kind(op)
        if changed:
            self._up_dirty()
        return changed

    def _advance_upgrade_kind(self, op):
        k = op["kind"]
        if k == "image_upload":
            name, end = self._due(op)
            if end is None:
                return False
            img = self.up["images"].get(op["image"])
            if img:
                img["img_state"] = {"state": "IMAGE_FSM_COMPLETED", "last_changed_time": self._stamp(end)}
                img.update(progress=100, tasks_completed=1, end_time=self._ts(end),
                           duration=int(round(end - op["started"])))
                self._up_dirty()
            self._finish_op(op, "success", at=end)
            return True
        if k in ("controller_upgrade", "controller_rollback"):
            return self._advance_controller(op)
        if k in ("se_upgrade", "se_rollback"):
            return self._advance_se(op)
        if k in ("se_group_upgrade", "se_group_rollback"):
            return self._advance_group(op)
        return self._advance_parent(op)

    def _due(self, op):
        name, dur = op["phases"][op["phase"]]
        end = op["phase_started"] + float(dur)
        return name, (end if self.lab_now() >= end else None)

    def _advance_controller(self, op):
        name, end = self._due(op)
        if end is None:
            return False
        doc = self._ctl_doc()
        start = op["phase_started"]
        for task in CTL_TASKS.get(name, []):
            if name == "cluster_form" and task != "WAIT_FOR_ALL_CONTROLLER_NODES_ONLINE":
                continue
            self._event(doc, task, start, end)
        rollback = op["kind"] == "controller_rollback"
        if name == "prechecks":
            self._set_state(doc, "IN_PROGRESS", end)
        elif name == "install":
            self.up["api"] = "rebooting"
            self._end_sessions()
            log.info("controller nodes rebooting (%s): the API answers 503 or drops connections", op["id"])
        elif name == "reboot":
            doc["state"]["rebooted"] = True
            self.cfg["version"], self.cfg["build"] = op["to"], str(op["to_build"])
            self.up["api"] = "forming"
            self._save_meta()
        elif name == "cluster_form":
            fault = self._take_fault("cluster_reform", [self.up["cluster"]["name"], "*"] +
                                     [n["name"] for n in self.up["cluster"]["nodes"]])
            if fault:
                doc["upgrade_events"][-1]["sub_events"][0].update(status=False, message=fault)
                self._set_state(doc, "ERROR", end, f"The controller cluster did not re-form: {fault}")
                self._set_state(doc, "ABORT_IN_PROGRESS", end, f"Rolling back to {op['frm']}: the controller "
                                f"cluster did not re-form ({fault})")
                op["abort_reason"] = fault
                op["phases"] += [["abort_reboot", self._ut("controller_reboot")],
                                 ["abort_form", self._ut("cluster_form")]]
                op["est_total"] = sum(p[1] for p in op["phases"])
                self.up["api"] = "rebooting"
                self._end_sessions()
                log.info("cluster did not re-form (%s): aborting, rolling back to %s", fault, op["frm"])
            else:
                for task in CTL_TASKS["cluster_form"][1:]:
                    self._event(doc, task, end, end)
                self.up["api"] = "up"
                self.up["cluster"]["up_since"] = end
                if not rollback:
                    doc["previous_version"] = op["frm"]
                    doc["previous_image_ref"] = ref("image", op["frm_image"]) if op.get("frm_image") else None
                    self.up["previous_build"] = op["frm_build"]
                    doc["enable_rollback"] = True
                else:
                    doc["previous_version"] = op["frm"]
                    doc["enable_rollback"] = False
                doc["image_ref"] = ref("image", op["image"]) if op.get("image") else doc.get("image_ref")
                doc["version"] = self.cfg["version"]
                if op.get("parent"):
                    self._set_state(doc, "CONTROLLER_COMPLETED", end)
                else:
                    self._end_doc(doc, end, "COMPLETED", version=self.cfg["version"])
                self._finish_op(op, "success", at=end)
                log.info("controller cluster up on %s", self.cfg["version"])
                return True
        elif name == "abort_reboot":
            self.cfg["version"], self.cfg["build"] = op["frm"], str(op["frm_build"])
            self.up["api"] = "forming"
            self._save_meta()
        elif name == "abort_form":
            self.up["api"] = "up"
            self.up["cluster"]["up_since"] = end
            reason = f"Upgrade aborted and rolled back to {op['frm']}: the controller cluster did not re-form " \
                     f"({op['abort_reason']})"
            self._end_doc(doc, end, "ABORTED", reason, version=self.cfg["version"])
            self._finish_op(op, "failed", reason, at=end)
            return True
        op["phase"] += 1
        op["phase_started"] = end
        return True

    def _advance_se(self, op):
        _name, end = self._due(op)
        if end is None:
            return False
        se = self.objs["serviceengine"].get(op["se"])
        if se is None:
            self._finish_op(op, "failed", "SE deleted", at=end)
            return True
        if se["_lab"]["oper"] == "OPER_UPGRADING":
            se["_lab"]["oper"] = op["prior_oper"] if op["prior_oper"] != "OPER_UPGRADING" else "OPER_UP"
        sd = self._se_doc(se)
        if op.get("fail"):
            reason = f"Upgrade of SE {se['name']} to {op['to']} failed: {op['fail']}; it came back on {op['frm']}"
            self._end_doc(sd, end, "ERROR", reason, version=se["_lab"]["version"])
            self._finish_op(op, "failed", reason, at=end)
        else:
            se["_lab"]["version"] = op["to"]
            sd["previous_version"] = op["frm"]
            sd["enable_rollback"] = op["kind"] == "se_upgrade"
            self._end_doc(sd, end, "COMPLETED", version=op["to"])
            self._finish_op(op, "success", at=end)
            if not op.get("parent"):
                self._group_after_se(se, op)
        self._save_obj("serviceengine", se["uuid"])
        self._update_disruption(at=end)
        return True

    def _group_after_se(self, se, op):
        """A per-SE upgrade that brought the last SE of its group to the new version completes the
        group's version change: the group may then be rolled back like after a group upgrade."""
        g = self._group_of(se)
        if not g or op["frm"] == op["to"]:
            return
        if all(s["_lab"]["version"] == op["to"] for s in self._ses_of_group(g["uuid"])):
            d = self._group_doc(g)
            d["previous_version"] = op["frm"]
            d["enable_rollback"] = True
            self._up_dirty()

    def _advance_group(self, op):
        g = self.objs["serviceenginegroup"].get(op["group"])
        doc = self._group_doc(g) if g else None
        seg = doc["seg_status"] if doc else {}
        changed = False
        for cid in list(op["running"]):
            c = self.ops.get(cid)
            if c is None or c["state"] != "done":
                continue
            op["running"].remove(cid)
            changed = True
            op["cursor"] = max(op["cursor"], c["ended"])
            su = c["se"]
            sref = ref("serviceengine", su)
            if sref in seg.get("se_upgrade_in_progress", []):
                seg["se_upgrade_in_progress"].remove(sref)
            if c["kind"] == "se_rollback":
                op["rolled_back"].append(su)
                seg.setdefault("notes", []).append(f"rolled back {self._name_of(su)} to {c['to']}")
            elif c["result"] == "success":
                op["completed"].append(su)
                seg["se_upgrade_completed"].append(sref)
            else:
                op["failed"].append(su)
                err = {"se_ref": sref, "se_group_ref": ref("serviceenginegroup", op["group"]),
                       "task": "SE_UPGRADE_FAILED", "reason": [c["reason"]], "traffic_status": "TRAFFIC_NOT_DISRUPTED"}
                seg["se_upgrade_errors"].append(err)
                if op["action"] == SUSPEND:
                    op["suspended"].append(su)
                    seg["se_upgrade_suspended"].append(sref)
                elif op["action"] == ROLLBACK:
                    seg["se_upgrade_failed"].append(sref)
                    op["rb_wanted"] = True
                else:
                    seg["se_upgrade_failed"].append(sref)
            for vu in c.get("disrupted", []):
                vr = ref("virtualservice", vu)
                if vr not in seg["disrupted_vs_ref"]:
                    seg["disrupted_vs_ref"].append(vr)
            seg["num_vs_disrupted"] = len(seg["disrupted_vs_ref"])
        if op["running"]:
            if changed:
                self._group_progress(op, doc)
            return changed
        at = op["cursor"]
        if op.get("rb_wanted") and op["rb_queue"] is None:
            op["rb_queue"] = [u for u in reversed(op["completed"]) if u not in op["rolled_back"]]
        if op["rb_queue"]:
            su = op["rb_queue"].pop(0)
            se = self.objs["serviceengine"].get(su)
            if se:
                c = self._start_se(se, "se_rollback", op["frm"].get(su, se["_lab"]["version"]), at, op)
                op["running"].append(c["id"])
            return True
        if op["rb_queue"] is not None or op["suspended"] or not op["order"]:
            self._end_group(op, g, doc, at)
            return True
        batch = list(op["order"]) if op["disruptive"] else [op["order"][0]]
        for su in batch:
            op["order"].remove(su)
            se = self.objs["serviceengine"].get(su)
            sref = ref("serviceengine", su)
            if sref in seg.get("se_upgrade_not_started", []):
                seg["se_upgrade_not_started"].remove(sref)
            if se is None:
                continue
            kind = "se_rollback" if op["kind"] == "se_group_rollback" else "se_upgrade"
            c = self._start_se(se, kind, op["to"], at, op)
            op["running"].append(c["id"])
            seg["se_upgrade_in_progress"].append(sref)
            seg.setdefault("notes", []).extend(c["notes"])
            for vu in c["disrupted"]:
                vr = ref("virtualservice", vu)
                if vr not in seg["disrupted_vs_ref"]:
                    seg["disrupted_vs_ref"].append(vr)
            seg["num_vs_disrupted"] = len(seg["disrupted_vs_ref"])
        self._group_progress(op, doc)
        return True

    def _name_of(self, su):
        return self.objs["serviceengine"].get(su, {}).get("name", su)

    def _group_progress(self, op, doc):
        if not doc:
            return
        total = max(1, doc.get("total_tasks") or 1)
        done = len(op["completed"]) + len(op["failed"])
        doc["tasks_completed"] = len(op["completed"])
        doc["progress"] = int(min(99, done * 100 / total))
        doc["seg_status"]["progress"] = doc["progress"]
        self._up_dirty()

    def _end_group(self, op, g, doc, at):
        seg = doc["seg_status"] if doc else {}
        rollback_op = op["kind"] == "se_group_rollback"
        for su in op["order"]:
            sd = self.up["status"].get(su)
            if sd and sd["state"]["state"] == FSM + "WAITING":
                self._set_state(sd, "COMPLETED", at, "not started: the SE group upgrade stopped")
        if op["rb_queue"] is not None:
            state, result = "ABORTED", "failed"
            reason = (f"SE upgrade failed ({', '.join(self._name_of(u) for u in op['failed'])}); "
                      f"rolled back {len(op['rolled_back'])} upgraded SE(s) to {op['group_from']} "
                      f"(ROLLBACK_UPGRADE_OPS_ON_ERROR)")
            seg_state = "SEGROUP_UPGRADE_ERROR"
        elif op["suspended"]:
            state, result = "SUSPENDED", "suspended"
            reason = (f"SE upgrade failed on {', '.join(self._name_of(u) for u in op['suspended'])}: the SE group "
                      f"upgrade is suspended (SUSPEND_UPGRADE_OPS_ON_ERROR); resume with POST /api/resumesegroup")
            seg_state = "SEGROUP_UPGRADE_SUSPENDED"
        elif op["failed"]:
            state, result = "ERROR", "failed"
            reason = (f"SE upgrade failed on {', '.join(self._name_of(u) for u in op['failed'])} "
                      f"(CONTINUE_UPGRADE_OPS_ON_ERROR: the other SEs were upgraded)")
            seg_state = "SEGROUP_UPGRADE_ERROR"
        else:
            state, result, reason, seg_state = "COMPLETED", "success", None, "SEGROUP_UPGRADE_COMPLETE"
        if doc:
            seg.update(state=seg_state, in_progress=False, end_time=self._ts(at),
                       duration=str(int(round(at - op["started"]))),
                       reason=[reason] if reason else [],
                       traffic_status="TRAFFIC_DISRUPTED" if seg.get("disrupted_vs_ref") else "TRAFFIC_NOT_DISRUPTED")
            if state == "COMPLETED":
                seg["progress"] = 100
                doc["previous_version"] = op["group_from"] if op["group_from"] != op["to"] else doc.get(
                    "previous_version", "")
                doc["enable_rollback"] = not rollback_op and bool(doc["previous_version"])
                if rollback_op:
                    doc["enable_rollback"] = False
            self._end_doc(doc, at, state, reason, version=self._group_version(g))
            doc["tasks_completed"] = len(op["completed"])
        self._finish_op(op, result, reason, at=at)

    def _advance_parent(self, op):
        if op["stage"] == "controller":
            c = self.ops.get(op.get("ctl"))
            if c is None or c["state"] == "running":
                return False
            doc = self._ctl_doc()
            if c["result"] != "success":
                for gu in op["groups"]:
                    g = self.objs["serviceenginegroup"].get(gu)
                    if g:
                        gd = self._group_doc(g)
                        self._end_doc(gd, c["ended"], "ABORTED", "not started: the controller upgrade was aborted",
                                      version=self._group_version(g))
                self._finish_op(op, "failed", c["reason"], at=c["ended"])
                return True
            at = c["ended"]
            op["stage"] = "groups"
            op["group_ops"] = []
            if op["groups"]:
                self._set_state(doc, "SE_UPGRADE_IN_PROGRESS", at)
                self._event(doc, "SE_UPGRADE_START", at, at)
            common = {k: op[k] for k in ("to", "image", "action", "disruptive", "legacy") if k in op}
            kind = "se_group_rollback" if op["kind"] == "rollback" else "se_group_upgrade"
            for gu in op["groups"]:
                g = self.objs["serviceenginegroup"].get(gu)
                if not g:
                    continue
                gto = op.get("group_to", {}).get(gu, op["to"])
                gop = self._start_group(g, kind, gto, at, op, dict(common, to=gto), doc.get("params"),
                                        "ROLLBACK" if op["kind"] == "rollback" else "UPGRADE")
                op["group_ops"].append(gop["id"])
            op["cursor"] = at
            return True
        gops = [self.ops.get(i) for i in op.get("group_ops", [])]
        if any(g is not None and g["state"] == "running" for g in gops):
            return False
        at = max([g["ended"] for g in gops if g is not None] + [op.get("cursor") or op["started"]])
        results = [g["result"] for g in gops if g is not None]
        doc = self._ctl_doc()
        if op.get("ctl") is None and op["kind"] == "rollback":
            result = "success" if all(r == "success" for r in results) else "failed"
            self._finish_op(op, result, None if result == "success" else "SE group rollback did not complete",
                            at=at)
            return True
        if all(r == "success" for r in results):
            self._event(doc, "COMMIT_UPGRADE", at, at)
            self._end_doc(doc, at, "COMPLETED", version=self.cfg["version"])
            self._finish_op(op, "success", at=at)
        else:
            bad = [g["target"] for g in gops if g is not None and g["result"] != "success"]
            state = "SUSPENDED" if all(g["result"] in ("success", "suspended") for g in gops if g) else "ERROR"
            reason = f"SE group(s) {', '.join(bad)} did not complete the upgrade"
            self._end_doc(doc, at, state, reason, version=self.cfg["version"])
            self._finish_op(op, "failed" if state == "ERROR" else "suspended", reason, at=at)
        return True

    # ------------------------------------------------------------------ resume, per-SE, rollback
    def resume_groups(self, body, base):
        with self.lock:
            self._need_flexible("/api/resumesegroup")
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            groups = self._groups_from(body.get("se_group_refs"))
            if not groups:
                raise ApiError(400, "se_group_refs is required: the suspended SE group(s) to resume")
            opts = body.get("se_group_options") or {}
            if not isinstance(opts, dict):
                raise ApiError(400, "se_group_options must be an object (SeGroupResumeOptions)")
            action = opts.get("action_on_error", SUSPEND)
            if action not in ACTIONS:
                raise ApiError(400, f"se_group_options.action_on_error must be one of {', '.join(ACTIONS)}, "
                               f"got {action!r}")
            disruptive, skip = _bool(opts, "disruptive"), _bool(opts, "skip_suspended")
            self._conflict(groups, controller=False)
            plans = []
            for g in groups:
                doc = self.up["status"].get(g["uuid"])
                if not doc or doc["state"]["state"] != FSM + "SUSPENDED":
                    raise ApiError(400, f"SE group {g['name']} is not suspended (state "
                                   f"{doc['state']['state'] if doc else FSM + 'COMPLETED'})")
                plans.append((g, doc))
            if _bool(body, "prechecks_only"):
                return {"status": "Prechecks completed", "upgrade_ops": "EVAL_SEGROUP_RESUME",
                        "se_groups": absolute([self._group_plan(g, self.cfg["version"], disruptive)
                                               for g, _d in plans], base)}
            now = self.lab_now()
            ids = []
            for g, doc in plans:
                seg = doc.get("seg_status", {})
                suspended = [uuid_of(r) for r in seg.get("se_upgrade_suspended", [])]
                to_ver = self.cfg["version"]
                ses = sorted(self._ses_of_group(g["uuid"]), key=lambda s: s["name"])
                order = [s["uuid"] for s in ses if s["_lab"]["version"] != to_ver
                         and not (skip and s["uuid"] in suspended)]
                common = {"to": to_ver, "image": uuid_of(doc.get("params", {}).get("image_ref")), "action": action,
                          "disruptive": disruptive, "legacy": False}
                params = {"image_ref": doc.get("params", {}).get("image_ref"),
                          "se_group_resume_options": {"action_on_error": action, "disruptive": disruptive,
                                                      "skip_suspended": skip}}
                gop = self._start_group(g, "se_group_upgrade", to_ver, now, None, common, params, "SEGROUP_RESUME",
                                        order=order, resume={"skipped": suspended if skip else []})
                ids.append(gop["id"])
            self._flush()
            return {"status": "SE group upgrade resumed", "upgrade_ops": "SEGROUP_RESUME", "node_type": NODE_SEG,
                    "uuid": groups[0]["uuid"], "lab_operation_id": ",".join(ids)}

    def upgrade_se(self, su, body, base):
        """Lab extension: POST /api/serviceengine/{uuid}/upgrade (one SE to the controller's version)."""
        with self.lock:
            self._need_flexible(f"/api/serviceengine/{su}/upgrade")
            se = self.objs["serviceengine"].get(su)
            if not se:
                raise ApiError(404, "Object not found!")
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            disruptive = _bool(body, "disruptive")
            to_ver = self.cfg["version"]
            image = uuid_of(self._ctl_doc().get("image_ref"))
            if body.get("image_ref"):
                img = self._image_for(body["image_ref"])
                if img["_lab"]["version"] != to_ver:
                    raise ApiError(400, f"The controller is not at version {img['_lab']['version']} (it runs {to_ver}): "
                                   "an SE can only be upgraded to the controller's running version")
                image = img["uuid"]
            if se["_lab"]["version"] == to_ver:
                raise ApiError(400, f"SE {se['name']} is already at version {to_ver}")
            gu = uuid_of(se["se_group_ref"])
            for op in self.ops.values():
                if op["state"] != "running" or op["kind"] not in UPGRADE_OP_KINDS or op["kind"] == "image_upload":
                    continue
                group_op = op.get("group") == gu and (op.get("parent") or op["kind"] in (
                    "se_group_upgrade", "se_group_rollback"))   # per-SE upgrades of other SEs may run
                if op.get("se") == su or group_op or op["kind"] in (
                        "system_upgrade", "controller_upgrade", "controller_rollback", "rollback"):
                    raise ApiError(400, f"Another upgrade operation runs for SE {se['name']} or its group "
                                   f"({op['kind']} of {op['target']}, {op['id']})")
            now = self.lab_now()
            extra = {"image": image, "lab_single": True, "disruptive": disruptive}
            op = self._start_se(se, "se_upgrade", to_ver, now, None, extra=extra)
            self._flush()
            return {"status": f"Upgrade of SE {se['name']} to {to_ver} started", "upgrade_ops": "UPGRADE",
                    "node_type": NODE_SE, "uuid": su, "from_version": op["frm"], "to_version": to_ver,
                    "lab_operation_id": op["id"], "lab_extension": True}

    def _rollback_plan(self, p):
        doc = self._ctl_doc()
        scope = "system" if p["system"] else ("se_groups" if p["groups"] else "controller")
        errors, warnings = [], []
        ctl_ver, prev = self.cfg["version"], doc.get("previous_version") or ""
        targets = {}
        if scope in ("system", "controller"):
            if not prev or not doc.get("enable_rollback"):
                errors.append("Rollback is not possible: the controller has no previous version to roll back to "
                              "(enable_rollback is false)")
            if scope == "controller" and prev:
                newer = [g["name"] for g in self.objs["serviceenginegroup"].values()
                         if any(vkey(s["_lab"]["version"]) > vkey(prev) for s in self._ses_of_group(g["uuid"]))]
                if newer:
                    errors.append(f"SE group(s) {', '.join(sorted(newer))} run a version newer than {prev}: roll them "
                                  "back first (se_group_refs), or roll back the system")
            groups = list(self.objs["serviceenginegroup"].values()) if scope == "system" else []
            for g in groups:
                targets[g["uuid"]] = prev
        else:
            groups = p["groups"]
            for g in groups:
                gd = self.up["status"].get(g["uuid"]) or {}
                gp = gd.get("previous_version")
                if not gp or not gd.get("enable_rollback"):
                    errors.append(f"Rollback is not possible for SE group {g['name']}: no previous version "
                                  "(enable_rollback is false)")
                targets[g["uuid"]] = gp or self._group_version(g)
        plans = []
        for g in sorted(groups, key=lambda x: x["name"]):
            if g["uuid"] in targets:
                plans.append(self._group_plan(g, targets[g["uuid"]], p["disruptive"]))
        ctl_phase = (self._ut("prechecks") + self._ut("controller_install") + self._ut("controller_reboot")
                     + self._ut("cluster_form"))
        est = (ctl_phase if scope != "se_groups" else 0) + max([x["lab_estimated_seconds"] for x in plans] or [0])
        return {"upgrade_ops": "EVAL_ROLLBACK", "scope": scope, "from_version": ctl_ver,
                "to_version": prev if scope != "se_groups" else (sorted(set(targets.values()), key=vkey) or [""])[0],
                "system": scope == "system", "warnings": warnings, "errors": errors, "disruptive": p["disruptive"],
                "se_group_options": {"action_on_error": p["action"], "disruptive": p["disruptive"]},
                "controller": {"nodes": [n["name"] for n in self.up["cluster"]["nodes"]],
                               "will_upgrade": scope != "se_groups", "reboot": scope != "se_groups",
                               "lab_estimated_seconds": ctl_phase if scope != "se_groups" else 0},
                "se_groups": plans, "lab_targets": targets, "lab_estimated_seconds": est}

    def rollback_preview(self, body, base):
        with self.lock:
            self._need_flexible("/api/rollback/preview")
            plan = self._rollback_plan(self._parse_params(body, rollback=True))
            plan.pop("lab_targets")
            return absolute(plan, base)

    def start_rollback(self, body, base, legacy=False):
        with self.lock:
            (self._need_legacy if legacy else self._need_flexible)(
                "/api/cluster/rollback" if legacy else "/api/rollback")
            p = self._parse_params(body if not legacy else {"system": True}, rollback=True)
            plan = self._rollback_plan(p)
            if p["prechecks_only"]:
                plan.pop("lab_targets")
                return absolute(self._record_readiness(plan, "ROLLBACK"), base)
            self._conflict(p["groups"], controller=plan["scope"] != "se_groups")
            self._refuse_on(plan, p["skip_warnings"], "skip_warnings")
            now = self.lab_now()
            ctl = self.up["cluster"]
            targets = plan.pop("lab_targets")
            params = {"se_group_options": {"action_on_error": CONTINUE, "disruptive": p["disruptive"]}}
            group_objs = [self.objs["serviceenginegroup"][x["se_group_uuid"]] for x in plan["se_groups"]]
            common = {"to": plan["to_version"], "image": None, "action": CONTINUE, "disruptive": p["disruptive"],
                      "legacy": legacy}
            top = self._start_op("rollback", [], target=ctl["name"] if plan["scope"] != "se_groups" else ",".join(
                g["name"] for g in group_objs), stage="controller" if plan["scope"] != "se_groups" else "groups",
                system=plan["scope"] == "system", groups=[g["uuid"] for g in group_objs], group_to=targets,
                ctl=None, **common)
            self._at(top, now)
            top["est_total"] = plan["lab_estimated_seconds"]
            if plan["scope"] != "se_groups":
                prev_img = uuid_of(self._ctl_doc().get("previous_image_ref"))
                c = self._start_controller(top, "controller_rollback", plan["to_version"],
                                           self.up.get("previous_build") or self.cfg["build"], prev_img, now, params,
                                           system=plan["scope"] == "system", groups=group_objs)
                top["ctl"] = c["id"]
                self._wait_groups(group_objs, top, now, params, "ROLLBACK", None)
            else:
                top["group_ops"] = []
                for g in group_objs:
                    gop = self._start_group(g, "se_group_rollback", targets[g["uuid"]], now, top,
                                            dict(common, to=targets[g["uuid"]]), params, "ROLLBACK")
                    top["group_ops"].append(gop["id"])
            self._flush()
            log.info("rollback accepted: %s to %s", plan["scope"], plan["to_version"])
            return {"status": f"Rollback operation started: {plan['scope']} to {plan['to_version']}",
                    "upgrade_ops": "ROLLBACK", "node_type": NODE_CTL if plan["scope"] != "se_groups" else NODE_SEG,
                    "uuid": ctl["uuid"] if plan["scope"] != "se_groups" else group_objs[0]["uuid"],
                    "from_version": plan["from_version"], "to_version": plan["to_version"],
                    "system": plan["scope"] == "system", "lab_operation_id": top["id"]}

    # ------------------------------------------------------------------ the 17.x API
    def legacy_upgrade(self, body, base):
        with self.lock:
            self._need_legacy("/api/cluster/upgrade")
            if not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            path = body.get("image_path")
            if not path or not isinstance(path, str):
                raise ApiError(400, "image_path is required, e.g. controller://upgrade_pkgs/controller.pkg")
            force, disruptive = _bool(body, "force"), _bool(body, "disruptive")
            img = next((d for d in self.up["images"].values() if d["controller_info"]["path"] == path), None)
            if img is None:
                known = ", ".join(sorted(d["controller_info"]["path"] for d in self.up["images"].values()))
                raise ApiError(400, f"image_path {path} not found (the package must be under "
                               f"controller://upgrade_pkgs/; present: {known})")
            # seed 001: "If the force flag is set, it will be converted to a disruptive operation"
            p = {"system": True, "groups": [], "skip_warnings": force, "prechecks_only": False, "action": CONTINUE,
                 "disruptive": disruptive or force, "skip_suspended": False, "image": img}
            plan = self._upgrade_plan(p)
            self._conflict([], controller=True)
            self._refuse_on(plan, force, "force")
            self._launch(plan, p, legacy=True)
            self._flush()
            return {"status": "Upgrade started", "from_version": plan["from_version"], "to_version":
                    plan["to_version"], "disruptive": plan["disruptive"]}

    LEGACY_STATE = {"STARTED": "UPGRADE_STARTED", "WAITING": "UPGRADE_WAITING", "IN_PROGRESS": "UPGRADE_IN_PROGRESS",
                    "CONTROLLER_COMPLETED": "UPGRADE_CONTROLLER_COMPLETED",
                    "SE_UPGRADE_IN_PROGRESS": "UPGRADE_CONTROLLER_COMPLETED", "COMPLETED": "UPGRADE_COMPLETED",
                    "SUSPENDED": "UPGRADE_COMPLETED", "ERROR": "UPGRADE_ABORT_IN_PROGRESS",
                    "ABORT_IN_PROGRESS": "UPGRADE_ABORT_IN_PROGRESS", "ABORTED": "UPGRADE_ABORTED"}

    def legacy_status(self, base):
        """GET /api/cluster/upgrade/status: the 17.2 SystemUpgradeState."""
        with self.lock:
            self._need_legacy("/api/cluster/upgrade/status")
            return self._legacy_state(self._ctl_doc(), base)

    def _legacy_state(self, doc, base):
        running = any(o["state"] == "running" and o["kind"] in ("system_upgrade", "rollback")
                      for o in self.ops.values())
        if not doc.get("upgrade_ops"):
            return {"in_progress": False, "rollback": False, "controller_state": {"in_progress": False},
                    "se_state": {}, "lab_version": self.cfg["version"]}
        fsm = doc["state"]["state"].replace(FSM, "")
        cstate = self.LEGACY_STATE.get(fsm, "UPGRADE_" + fsm)
        rb = doc.get("upgrade_ops") == "ROLLBACK"
        ctl_running = fsm in ("STARTED", "IN_PROGRESS", "WAITING", "ERROR", "ABORT_IN_PROGRESS")
        tasks = [{"task": e["task_name"], "start_time": e["sub_events"][0]["start_time"],
                  "end_time": e["sub_events"][0]["end_time"], "duration": e["sub_events"][0]["duration"],
                  "status": all(s["status"] for s in e["sub_events"])} for e in doc.get("upgrade_events", [])]
        done = not running
        result = None
        if done:
            result = {"COMPLETED": "UPGRADE_SUCCESS", "ABORTED": "UPGRADE_ABORTED"}.get(fsm, "UPGRADE_FAILURE")
        out = {"in_progress": running, "rollback": rb, "from_version": doc["_lab"].get("frm"),
               "to_version": doc["_lab"].get("to"), "is_patch": False, "start_time": doc.get("start_time"),
               "end_time": doc.get("end_time"), "duration": doc.get("duration"), "result": result,
               "reason": doc["state"].get("reason", ""),
               "controller_state": {"state": cstate, "in_progress": ctl_running, "rollback": rb,
                                    "tasks_completed": tasks, "progress": self._ctl_progress(doc)},
               "se_state": {}}
        groups = [self.objs["serviceenginegroup"].get(u) for u in doc["_lab"].get("groups", [])]
        segs = [self.up["status"].get(g["uuid"], {}) for g in groups if g]
        segs = [s.get("seg_status") for s in segs if s.get("seg_status")]
        if segs:
            in_prog = any(s.get("in_progress") for s in segs)

            def pick(key):
                return [r for s in segs for r in s.get(key, [])]
            starts = [s.get("start_time") for s in segs if s.get("start_time")]
            ends = [s.get("end_time") for s in segs if s.get("end_time")]
            out["se_state"] = {
                "state": "SE_UPGRADE_IN_PROGRESS" if in_prog else "SE_UPGRADE_COMPLETE", "in_progress": in_prog,
                "rollback": rb, "start_time": min(starts)[:19] if starts else None,
                "end_time": max(ends)[:19] if ends and not in_prog else None,
                "se_upgrade_completed": pick("se_upgrade_completed"),
                "se_upgrade_in_progress": pick("se_upgrade_in_progress"),
                "se_upgrade_not_started": pick("se_upgrade_not_started"),
                "se_upgrade_errors": pick("se_upgrade_errors"), "notes": pick("notes"),
                "se_group_status": [dict(s) for s in segs]}
            for k in ("se_upgrade_in_progress", "se_upgrade_not_started", "se_upgrade_errors"):
                if not out["se_state"][k]:
                    del out["se_state"][k]
        return absolute(out, base)

    def legacy_history(self, base):
        with self.lock:
            self._need_legacy("/api/cluster/upgrade/history")
            doc = self._ctl_doc()
            return {"upgrade_events": absolute(doc.get("history", []), base)}

    # ------------------------------------------------------------------ upgradestatusinfo
    def _ctl_progress(self, doc):
        """Progress of the controller entry: its own phases (half of a system operation), then the
        share of SEs done."""
        op = self.ops.get(doc["_lab"].get("op") or "")
        if op is None:
            return doc.get("progress", 100)
        parent = self.ops.get(op.get("parent") or "")
        system = bool(parent and parent.get("groups"))
        if op["state"] == "running":
            frac = min(0.99, max(0.0, (self.lab_now() - op["started"]) / max(1e-9, op["est_total"])))
            return int(frac * (50 if system else 100))
        if parent and parent["state"] == "running":
            gops = [g for g in (self.ops.get(i) for i in parent.get("group_ops", [])) if g]
            total = sum(len(g["completed"]) + len(g["failed"]) + len(g["order"]) + len(g["running"]) for g in gops)
            done = sum(len(g["completed"]) + len(g["failed"]) for g in gops)
            return 50 + int(49 * done / max(1, total))
        return doc.get("progress", 100)

    def _status_view(self, uu, base):
        doc = self.up["status"].get(uu)
        if uu == self.up["cluster"]["uuid"]:
            doc = self._ctl_doc()
            view = copy.deepcopy(doc)
            view["version"] = self.cfg["version"]
            view["progress"] = self._ctl_progress(doc)
            view["enable_rollback"] = bool(doc.get("enable_rollback")) and self._locking_op() is None
        elif uu in self.objs["serviceenginegroup"]:
            g = self.objs["serviceenginegroup"][uu]
            view = copy.deepcopy(doc) if doc else self._new_status(uu, g["name"], NODE_SEG)
            view["name"] = g["name"]
            view["version"] = self._group_version(g)
            view["obj_cloud_ref"] = g["cloud_ref"]
            running = any(o["state"] == "running" and o.get("group") == uu for o in self.ops.values())
            view["enable_rollback"] = bool(view.get("enable_rollback")) and not running
        elif uu in self.objs["serviceengine"]:
            se = self.objs["serviceengine"][uu]
            view = copy.deepcopy(doc) if doc else self._new_status(uu, se["name"], NODE_SE)
            view["name"] = se["name"]
            view["version"] = se["_lab"]["version"]
            view["obj_cloud_ref"] = se["cloud_ref"]
            view["lab_se_group_ref"] = se["se_group_ref"]
            op = self.ops.get((doc or {}).get("_lab", {}).get("op") or "")
            if op and op["state"] == "running":
                view["progress"] = self._progress(op)
        else:
            return None
        view.pop("_lab", None)
        view["url"] = ref("upgradestatusinfo", uu)
        view["tenant_ref"] = ref("tenant", "admin")
        view.setdefault("previous_version", "")
        return absolute(view, base)

    def _status_uuids(self):
        return ([self.up["cluster"]["uuid"]] + sorted(self.objs["serviceenginegroup"])
                + sorted(self.objs["serviceengine"]))

    def status_list(self, q, base, url):
        with self.lock:
            self._need_flexible("/api/upgradestatusinfo")
            items = [self._status_view(u, base) for u in self._status_uuids()]
            items = [i for i in items if i is not None]
            if q.get("node_type"):
                items = [i for i in items if i["node_type"] == q["node_type"]]
            items = self._filter(items, q)
            return self._page(items, q, url, lambda i: i)

    def status_get(self, uu, base):
        with self.lock:
            self._need_flexible("/api/upgradestatusinfo")
            v = self._status_view(uu, base)
            if v is None:
                raise ApiError(404, "Object not found!")
            return v

    # ------------------------------------------------------------------ admin summary
    def upgrade_summary(self):
        """/_lab/upgrade: controller version/state, per group state, per SE version/state."""
        with self.lock:
            doc = self._ctl_doc()
            out = {"controller": {"version": self.cfg["version"], "build": self.cfg["build"],
                                  "previous_version": doc.get("previous_version", ""),
                                  "state": doc["state"]["state"], "reason": doc["state"].get("reason", ""),
                                  "api": self.up.get("api", "up"), "config_locked": self._locking_op() is not None,
                                  "api_generation": "flexible" if is_flexible(self.cfg["version"]) else "17.x",
                                  "deployment": self.up["deployment"],
                                  "nodes": [n["name"] for n in self.up["cluster"]["nodes"]]},
                   "se_groups": {}, "images": [
                       {"name": i["name"], "uuid": i["uuid"], "version": i["_lab"]["version"],
                        "build": i["_lab"]["build"], "package": i["_lab"]["package"],
                        "state": i["img_state"]["state"]}
                       for i in sorted(self.up["images"].values(), key=lambda d: d["name"])],
                   "running": [{"id": o["id"], "kind": o["kind"], "target": o["target"]}
                               for o in sorted(self.ops.values(), key=lambda o: o["id"])
                               if o["state"] == "running" and o["kind"] in UPGRADE_OP_KINDS],
                   "lab_now": self.lab_now()}
            for g in sorted(self.objs["serviceenginegroup"].values(), key=lambda x: x["name"]):
                gd = self.up["status"].get(g["uuid"])
                ses = {}
                for se in sorted(self._ses_of_group(g["uuid"]), key=lambda s: s["name"]):
                    sd = self.up["status"].get(se["uuid"])
                    ses[se["name"]] = {"version": se["_lab"]["version"], "oper": se["_lab"]["oper"],
                                       "state": sd["state"]["state"] if sd else FSM + "COMPLETED"}
                seg = (gd or {}).get("seg_status") or {}
                out["se_groups"][g["name"]] = {
                    "version": self._group_version(g), "ha_mode": g["ha_mode"],
                    "state": gd["state"]["state"] if gd else FSM + "COMPLETED",
                    "reason": gd["state"].get("reason", "") if gd else "",
                    "disrupted_vs": [self.objs["virtualservice"].get(uuid_of(r), {}).get("name", r)
                                     for r in seg.get("disrupted_vs_ref", [])],
                    "service_engines": ses}
            return out
