"""The Avi world's upgrade engine: images, the controller cluster, upgrade and rollback operations,
the configuration lock, reboot windows, SE upgrades and the vendor's ``upgradestatusinfo`` view.

``UpgradeEngine`` is held by the world (``world.upgrade``), not mixed into it. It keeps its state in
``self.up`` (persisted in the meta row ``upgrade``) and is made of parts, each a concern:
``images`` (lab.avi.upgrade.images), ``status`` (status documents and views, lab.avi.upgrade.status),
``plans`` (checks and previews, lab.avi.upgrade.plans), ``runner`` (the operations and how the tick
advances them, lab.avi.upgrade.runner) and ``requests`` (the REST requests that start them,
lab.avi.upgrade.requests). Everything runs under the world's lock; slow work is operations in the
world's ``ops`` that the world's tick hands to :meth:`UpgradeEngine.advance` (the kinds in
:data:`lab.avi.upgrade.package.UPGRADE_OP_KINDS`). Durations are lab seconds from the topology's
``upgrade_timing``; each step is scheduled at the lab time the previous one ended (not at the tick
that noticed it), so the lab's own operation times add up exactly.

What is vendor behaviour and what is the lab's assumption is listed in lab/README.md and lab/AVI.md
("Upgrades").
"""
import datetime
import logging
import time
import uuid as uuidlib

from lab.avi.common import ApiError
from lab.avi.upgrade.images import Images
from lab.avi.upgrade.package import LOCKED_MESSAGE, NODE_CTL, PACKAGE_OF, UPGRADE_TIMING_DEFAULTS, is_flexible
from lab.avi.upgrade.plans import Plans
from lab.avi.upgrade.requests import Requests
from lab.avi.upgrade.runner import Runner
from lab.avi.upgrade.status import StatusBook

log = logging.getLogger("lab.avi.upgrade")


class UpgradeEngine:
    """The upgrade engine of the world ``world`` (see the module docstring)."""

    def __init__(self, world):
        self.w = world
        self.up = None
        self.images = Images(world, self)
        self.status = StatusBook(world, self)
        self.plans = Plans(world, self)
        self.runner = Runner(world, self)
        self.requests = Requests(world, self)

    # ------------------------------------------------------------------ seeding and loading
    def seed(self, topo):
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
                   "segroup_resume_api": bool(ctl.get("segroup_resume_api", True)),
                   "cluster": {"uuid": cu, "name": "cluster-0-1", "nodes": nodes, "up_since": 0.0},
                   "images": {}, "status": {}, "previous_build": None}
        base = self.images.add_image(self.w.cfg["version"], self.w.cfg["build"],
                                     None, PACKAGE_OF[deployment], ready=True)
        for img in topo.get("images") or []:
            self.images.add_image(str(img["version"]), str(img["build"]), img.get("min_version"),
                                  img.get("package", PACKAGE_OF[deployment]), ready=True, name=img.get("name"),
                                  path=img.get("path"))
        self.up["status"][cu] = self.status.new_status(cu, self.up["cluster"]["name"], NODE_CTL, image=base)
        self.dirty()

    def load(self, meta):
        self.up = meta.get("upgrade")
        if self.up is None:  # a state dir from before the upgrade engine: seed its part
            self.seed(self.w.topology)

    def dirty(self):
        self.w._mark("meta", "upgrade", self.up)

    def timing(self, name):
        return float(self.up["timing"].get(name, UPGRADE_TIMING_DEFAULTS[name]))

    # ------------------------------------------------------------------ time in vendor formats
    def ts(self, lab_t):
        """Vendor-style time string for lab time ``lab_t`` (the lab epoch is when the world was seeded;
        one lab second is one second of these timestamps) [lab assumption]."""
        if lab_t is None:
            return None
        t = datetime.datetime.fromtimestamp(self.up["epoch"] + lab_t, datetime.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")

    def stamp(self, lab_t):
        t = self.up["epoch"] + lab_t
        return {"secs": int(t), "usecs": int((t - int(t)) * 1e6)}

    # ------------------------------------------------------------------ API generations, lock, windows
    def need_flexible(self, path):
        if not is_flexible(self.w.cfg["version"]):
            raise ApiError(404, f"Resource {path} not found: controller {self.w.cfg['version']} has the 17.x upgrade "
                           "API (POST /api/cluster/upgrade, GET /api/cluster/upgrade/status); the flexible upgrade "
                           "API exists from 18.2.6 on")

    def need_legacy(self, path):
        if is_flexible(self.w.cfg["version"]):
            raise ApiError(404, f"Resource {path} not found: controller {self.w.cfg['version']} has the flexible "
                           "upgrade API (POST /api/upgrade, GET /api/upgradestatusinfo); the 17.x API "
                           "(/api/cluster/upgrade) ended with 18.2.6")

    def config_locked(self):
        with self.w.lock:
            return self.locking_op() is not None

    def locking_op(self):
        for op in self.w.ops.values():
            if op["state"] != "running":
                continue
            if op["kind"] == "system_upgrade" or (op["kind"] == "rollback" and op.get("system")):
                return op
            if op["kind"] in ("controller_upgrade", "controller_rollback"):
                return op
        return None

    def write_refusal(self, rest):
        """Why a configuration write to ``/api/<rest>`` is refused now (the 403 text), or None. During a system
        upgrade and the controller phase of a controller upgrade every write is refused [vendor: seed 001, 18.2
        "Flexible Upgrades"]; while an SE group upgrades, writes to virtual services and their placement
        (``virtualservice`` objects, ``migrate``/``scaleout``/``scalein``) are refused, the rest of the
        configuration stays writable [vendor: NSX ALB 30.2 "configuration ... (except the configuration of virtual
        service and VIP) is allowed, irrespective of the SE group upgrade status"; lab assumption: every VS, not
        only those of the group upgrading, and the 403 text]."""
        with self.w.lock:
            if self.locking_op() is not None:
                return LOCKED_MESSAGE
            if rest.split("/", 1)[0] != "virtualservice":
                return None
            for op in self.w.ops.values():
                if op["state"] == "running" and op["kind"] in ("se_group_upgrade", "se_group_rollback"):
                    return (f"SE group upgrade in progress ({op['target']}): virtual service configuration and "
                            "placement are read-only until it ends")
            return None

    def check_locked(self):
        if self.locking_op() is not None:
            raise ApiError(403, LOCKED_MESSAGE)

    def upgrade_http_block(self, path):
        """None, or (status, message) while the controller nodes reboot (status 0: drop the
        connection) or the cluster re-forms (503)."""
        state = self.up.get("api", "up") if getattr(self, "up", None) else "up"
        if state == "up":
            return None
        if not (path.startswith("/api/") or path.rstrip("/") in ("/login", "/logout")):
            return None
        with self.w.lock:
            state = self.up.get("api", "up")
            if state == "rebooting":
                if self.w._rng.random() < float(self.timing("reboot_drop_rate")):
                    return 0, None
                return 503, "Service unavailable: the controller nodes are rebooting (upgrade in progress)"
            if state == "forming":
                return 503, "Controller not ready: the cluster is forming after the reboot (upgrade in progress)"
            return None

    def end_sessions(self):
        for sid in list(self.w.sessions):
            self.w._mark("sessions", sid, None)
        self.w.sessions = {}

    # ------------------------------------------------------------------ the simulation
    def advance(self, op):
        changed = self._advance_upgrade_kind(op)
        if changed:
            self.dirty()
        return changed

    def _advance_upgrade_kind(self, op):
        k = op["kind"]
        if k == "image_upload":
            name, end = self.runner.due(op)
            if end is None:
                return False
            img = self.up["images"].get(op["image"])
            if img:
                img["img_state"] = {"state": "IMAGE_FSM_COMPLETED", "last_changed_time": self.stamp(end)}
                img.update(progress=100, tasks_completed=1, end_time=self.ts(end),
                           duration=int(round(end - op["started"])))
                self.dirty()
            self.w.operations.finish_op(op, "success", at=end)
            return True
        if k in ("controller_upgrade", "controller_rollback"):
            return self.runner.advance_controller(op)
        if k in ("se_upgrade", "se_rollback"):
            return self.runner.advance_se(op)
        if k in ("se_group_upgrade", "se_group_rollback"):
            return self.runner.advance_group(op)
        return self.runner.advance_parent(op)
