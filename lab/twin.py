"""Loading a twin: a topology written by the collection's ``twin_export`` module (it has a ``twin:`` section).

A twin holds what the source system told, and ``null`` where the vendor tells nothing (``twin.unknown`` says
why). The lab cannot run on unknowns, so :func:`resolve` fills each one with a stated assumption (the operator's,
from ``twin.assume``, else the default below) and records every assumption it made, with the credentials it made
up for the lab (a twin carries none), in ``<state dir>/twin.json`` (mode 0600). ``python -m lab serve`` calls it
for any topology with a ``twin:`` section; the rehearsal tool (``rehearsal/``) reads ``twin.json`` back.

It also scales what the lab runs for real (files of a Triton dataset, the memory of a VirtFusion QEMU guest)
down to lab size, keeping what durations depend on: a Triton instance's data is ``real bytes x k`` files and the
lab's sync rate ``real rate x k``, so a sync takes as many lab seconds as the real one would take seconds. The
factors are in ``twin.json`` (``model``).

Every value here is a **[lab assumption]**; none is vendor behaviour.
"""
import copy
import json
import os
import secrets

ASSUME = {
    # Avi
    "max_se_on_host": 1000,               # no vendor field: a host limit this high is no limit
    "deployment": "vm",
    "controller_nodes": 3,
    "controller_build": "9999",
    # Triton
    "triton_user_migration_allowed": False,  # the vendor's default
    "triton_data_fraction": 0.1,           # data a first sync sends, as a share of the disk quota, when not exported
    "triton_sync_bytes_per_second": 4194304,  # the lab's default sync rate (lab/triton/common.py), in real bytes
    "triton_max_lab_bytes": 1048576,       # the largest dataset the lab writes (real files)
    "triton_server_ram": 65536,
    "triton_server_disk": 1048576,
    "triton_reservation_ratio": 0.15,
    "triton_instance_ram": 1024,
    "triton_instance_disk": 10240,
    # VirtFusion
    "virtfusion_guest_memory": 32,         # MiB of every QEMU guest the lab runs (the real size stays in the model)
    "virtfusion_dirty_rate": 0,            # MiB/s a guest writes: idle
    "virtfusion_disk_data": 1,             # MiB written per disk
    "virtfusion_max_disk_size": 64,        # MiB of the largest qcow2 the lab makes
}
TRITON_LAB_FILE_SIZE = 65536


class Resolver:
    def __init__(self, topo, assume):
        self.topo = topo
        self.assume = dict(ASSUME)
        self.assume.update(assume or {})
        self.made = []
        self.model = {}

    def take(self, key, field, why=None):
        value = self.assume[key]
        if not any(a["field"] == field for a in self.made):
            self.made.append({"field": field, "assumed": value, "key": key,
                              "source": "operator (twin.assume)" if key in (self.topo["twin"].get("assume") or {})
                              else "default", **({"why": why} if why else {})})
        return value

    def default(self, field, assumed):
        """The lab's own default for an unknown (no operator key), recorded once per field."""
        if not any(a["field"] == field for a in self.made):
            self.made.append({"field": field, "assumed": assumed, "key": None, "source": "default"})

    # ------------------------------------------------------------------ Avi
    def avi(self):
        ctl = self.topo.setdefault("controller", {}) or {}
        self.topo["controller"] = ctl
        if ctl.get("deployment") is None:
            ctl["deployment"] = self.take("deployment", "controller.deployment")
        if ctl.get("nodes") is None:
            ctl["nodes"] = self.take("controller_nodes", "controller.nodes")
        if ctl.get("build") is None:
            ctl["build"] = self.take("controller_build", "controller.build")
        for cloud in self.topo.get("clouds") or []:
            for host in cloud.get("hosts") or []:
                if host.get("max_se_on_host") is None:
                    host["max_se_on_host"] = self.take("max_se_on_host", "clouds[*].hosts[*].max_se_on_host",
                                                       "SEs a host can run: no vendor field")
        for image in self.topo.get("images") or []:
            for key in [k for k, v in image.items() if v is None]:
                image.pop(key)   # the lab's default: the package the deployment takes, the image's own name
                if key == "package":
                    self.made.append({"field": "images[*].package", "assumed": "the deployment's package",
                                      "key": "deployment", "source": "default"})

    # ------------------------------------------------------------------ Triton
    def triton(self):
        tri = self.topo.get("triton")
        if not isinstance(tri, dict):
            return
        if tri.get("user_migration_allowed") is None:
            tri["user_migration_allowed"] = self.take("triton_user_migration_allowed", "triton.user_migration_allowed")
        for server in tri.get("servers") or []:
            for key, assume in (("ram", "triton_server_ram"), ("disk", "triton_server_disk"),
                                ("reservation_ratio", "triton_reservation_ratio")):
                if server.get(key) is None:
                    server[key] = self.take(assume, "triton.servers[*].%s" % key)
        data = dict((self.topo["twin"].get("data_bytes") or {}))
        real = {}
        for inst in tri.get("instances") or []:
            for key, assume in (("ram", "triton_instance_ram"), ("disk", "triton_instance_disk")):
                if inst.get(key) is None:
                    inst[key] = self.take(assume, "triton.instances[*].%s" % key)
            if inst.get("brand") is None:
                inst.pop("brand", None)
            if inst.get("dataset") is None:
                if inst["name"] in data:
                    real[inst["name"]] = int(data[inst["name"]])
                else:
                    fraction = self.take("triton_data_fraction", "triton.instances[*].dataset",
                                         "data size not exported: a share of the disk quota")
                    real[inst["name"]] = int(inst["disk"] * 1048576 * fraction)
        if not real:
            return
        timing = tri.setdefault("timing", {}) or {}
        tri["timing"] = timing
        real_rate = timing.get("sync_bytes_per_second")
        if real_rate is None:
            real_rate = self.take("triton_sync_bytes_per_second", "triton.timing.sync_bytes_per_second",
                                  "the real network rate of a sync")
        largest = max(real.values()) or 1
        k = min(1.0, float(self.assume["triton_max_lab_bytes"]) / largest)
        timing["sync_bytes_per_second"] = max(1, int(real_rate * k))
        for inst in tri.get("instances") or []:
            if inst["name"] not in real:
                continue
            lab_bytes = max(1, int(real[inst["name"]] * k))
            size = min(TRITON_LAB_FILE_SIZE, lab_bytes)
            inst["dataset"] = {"files": max(1, int(round(lab_bytes / float(size)))), "file_size": size}
        self.model["triton"] = {"data_scale": k, "real_sync_bytes_per_second": real_rate,
                                "lab_sync_bytes_per_second": timing["sync_bytes_per_second"], "real_bytes": real}

    # ------------------------------------------------------------------ VirtFusion
    def virtfusion(self):
        vf = self.topo.get("virtfusion")
        if not isinstance(vf, dict):
            return
        for hv in vf.get("hypervisors") or []:
            if hv.get("cpu") is None:
                hv.pop("cpu")
                self.made.append({"field": "virtfusion.hypervisors[*].cpu", "assumed": "the lab's default CPU",
                                  "key": None, "source": "default"})
            for key in ("storage", "ip_ranges", "ssh"):
                if key in hv and hv[key] is None:
                    hv.pop(key)
                    self.made.append({"field": "virtfusion.hypervisors[*].%s" % key, "assumed": "the lab's default",
                                      "key": None, "source": "default"})
            if isinstance(hv.get("ssh"), dict):
                hv["ssh"] = {k: v for k, v in hv["ssh"].items() if v is not None}
            # the group and limits the placement reads (group resources): as exported; unknown -> the lab's
            # "not set" (0), which leaves the hypervisor's room unknown, never free
            if hv.get("group") is None:
                hv.pop("group", None)
                self.default("virtfusion.hypervisors[*].group", 1)
            for key in ("max_servers", "max_cpu", "max_memory"):
                if key in hv and hv[key] is None:
                    hv[key] = 0
                    self.default("virtfusion.hypervisors[*].%s" % key, "0 (not set)")
            for st in hv.get("storage") or []:
                if "size" in st and st["size"] is None:
                    st.pop("size")
                    self.default("virtfusion.hypervisors[*].storage[*].size", "0 (no limit)")
        memory = {}
        for server in vf.get("servers") or []:
            memory[server["name"]] = server.get("memory")
            if isinstance(server.get("memory"), int):
                server["api_memory"] = server["memory"]   # what the REST API (and the placement) reads: the source's
            server["memory"] = self.take("virtfusion_guest_memory", "virtfusion.servers[*].memory (lab guest)",
                                         "every QEMU guest runs with this memory; the REST API reports the source's "
                                         "(api_memory), the real size is kept in the model")
            if server.get("cpu") is None:
                server.pop("cpu", None)
                self.default("virtfusion.servers[*].cpu", 1)
            if server.get("dirty_rate") is None:
                server["dirty_rate"] = self.take("virtfusion_dirty_rate", "virtfusion.servers[*].dirty_rate")
            if server.get("state") is None:
                server["state"] = "offline"
            for disk in server.get("disks") or []:
                real_size = disk.get("size")
                cap = self.assume["virtfusion_max_disk_size"]
                if not real_size:   # unknown at the source: the lab's largest disk (its API then shows that size)
                    self.take("virtfusion_max_disk_size", "virtfusion.servers[*].disks[*].size")
                disk["size"] = int(min(real_size, cap)) if isinstance(real_size, (int, float)) and real_size else cap
                if isinstance(real_size, int) and real_size > disk["size"]:
                    disk["api_size"] = real_size   # what the REST API (and the storage allocation) shows: the source's
                if disk.get("data") is None:
                    disk["data"] = min(disk["size"], self.take("virtfusion_disk_data",
                                                               "virtfusion.servers[*].disks[*].data"))
        self.model["virtfusion"] = {"real_memory_mib": memory}


def _credentials(topo, state_dir, reset):
    """The credentials of the lab made from a twin: kept in ``twin.json`` so that a restart without ``--reset`` (the
    world kept in SQLite) uses the same ones."""
    old = {}
    path = os.path.join(state_dir, "twin.json")
    if not reset and os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                old = json.load(fh).get("credentials") or {}
        except (OSError, ValueError):
            old = {}
    creds = {}
    ctl = topo.setdefault("controller", {}) or {}
    topo["controller"] = ctl
    ctl["username"] = ctl.get("username") or old.get("avi_username") or "admin"
    ctl["password"] = ctl.get("password") or old.get("avi_password") or secrets.token_urlsafe(18)
    creds.update(avi_username=ctl["username"], avi_password=ctl["password"])
    vf = topo.get("virtfusion")
    if isinstance(vf, dict):
        vf["api_token"] = vf.get("api_token") or old.get("virtfusion_api_token") or secrets.token_urlsafe(24)
        creds["virtfusion_api_token"] = vf["api_token"]
    return creds


def resolve(topo, state_dir, reset=False):
    """The lab topology of a twin: unknowns filled with stated assumptions, sizes scaled to the lab, credentials
    made up; everything assumed written to ``<state_dir>/twin.json``. Returns the new topology (a copy)."""
    topo = copy.deepcopy(topo)
    twin = topo["twin"]
    resolver = Resolver(topo, twin.get("assume"))
    if twin.get("provider") == "avi":
        resolver.avi()
    resolver.triton()
    resolver.virtfusion()
    creds = _credentials(topo, state_dir, reset)
    record = {"provider": twin.get("provider"), "format": twin.get("format"), "assumptions": resolver.made,
              "model": resolver.model, "unknown": twin.get("unknown") or [], "credentials": creds}
    path = os.path.join(state_dir, "twin.json")
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return topo
