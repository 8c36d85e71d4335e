"""The VirtFusion plane: a control server reached over real SSH whose servers are real QEMU guests.

Pieces: the world (``world.py``, ``virtfusion.sqlite``; its topology section read by ``topology.py``), the
engine (``engine.py``: QEMU guests and the migrations' runner, with its parts ``engine.live`` and
``engine.hybrid`` holding the steps of each kind, ``live.py`` and ``hybrid.py``), the command semantics
(``service.py``, a live start's options in ``options.py``), the HTTPS listener ``virtfusion`` (``app.py``: REST
API, vfcli-ctrl's calls, ``/_lab/`` admin), the private sshd (``sshd.py``) and ``vfcli-ctrl`` itself
(``vfcli.py``, run in the SSH sessions). See lab/VIRTFUSION.md for the contract.
"""
import json
import logging
import os
import secrets
import shutil
import sys
import threading

from lab.planes import Listener, Plane as BasePlane
from lab.store import Store
from lab.virtfusion import qemu
from lab.virtfusion.app import build_app
from lab.virtfusion.engine import Engine
from lab.virtfusion.service import Service
from lab.virtfusion.sshd import Sshd, SshdError
from lab.virtfusion.topology import TopologyError
from lab.virtfusion.world import TABLES, World

log = logging.getLogger("lab.virtfusion")


def _fatal(message):
    """A missing tool or a bad topology: one clear line (stderr goes to lab.log under `lab start`)."""
    log.error("%s", message)
    print(f"lab: {message}", file=sys.stderr)
    raise SystemExit(2)


def _in_thread(fn, *args):
    """Run fn in a worker thread and wait (QMP must not run on the event loop's thread)."""
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # re-raised in the caller's thread
            out["error"] = e
    t = threading.Thread(target=run, name="vf-setup")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


class Plane(BasePlane):
    name = "virtfusion"

    def __init__(self, state_dir, topology, time_scale=None, reset=False, ports=None):
        super().__init__(state_dir, topology, time_scale, reset, ports)
        try:
            qemu.check_tools()
        except qemu.ToolMissing as e:
            _fatal(str(e))
        self.dir = os.path.join(state_dir, "virtfusion")
        if reset and os.path.isdir(os.path.join(self.dir, "hypervisors")):
            shutil.rmtree(os.path.join(self.dir, "hypervisors"))
        os.makedirs(self.dir, exist_ok=True)
        self.store = Store(os.path.join(state_dir, "virtfusion.sqlite"), TABLES)
        try:
            self.world = World(self.store, topology, self.dir, time_scale=time_scale, reset=reset)
        except TopologyError as e:
            _fatal(f"topology: {e}")
        self.spawner = qemu.Spawner()
        self.ssh_port = int(self.ports.get("virtfusion_ssh") or qemu.free_port())
        self.cli_config = os.path.join(self.dir, "vfcli.json")
        self.cli_token = self._cli_token()
        self.sshd = Sshd(self.dir, self.ssh_port, self.spawner, self.cli_config)
        self.engine = Engine(self.world, self.dir, self.spawner, on_ssh_fault=self.kill_ssh_sessions)
        self.service = Service(self.world, self.engine)

    def _cli_token(self):
        try:
            with open(self.cli_config, encoding="utf-8") as fh:
                return json.load(fh)["token"]
        except (OSError, ValueError, KeyError):
            return secrets.token_urlsafe(32)

    def listeners(self):
        return [Listener("virtfusion", build_app(self), self.ports.get("virtfusion", 0))]

    def start(self, info):
        url = info["virtfusion"]["url"]
        fd = os.open(self.cli_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"url": url, "ca_path": info["ca_path"], "token": self.cli_token}, fh)
        try:   # a port the lab picked (not configured) that is taken before sshd binds it is picked again
            self.sshd.start(new_port=None if self.ports.get("virtfusion_ssh") else qemu.free_port)
        except SshdError as e:
            _fatal(str(e))
        self.ssh_port = self.sshd.port
        info["virtfusion"]["ssh"] = self.sshd.info()
        _in_thread(self.engine.boot_all)

    def info(self, ports):
        return {"url": f"https://127.0.0.1:{ports['virtfusion']}", "port": ports["virtfusion"],
                "ssh": self.sshd.info()}

    # ------------------------------------------------------------------ admin
    def kill_ssh_sessions(self):
        return self.sshd.kill_sessions()

    def health(self):
        with self.world.lock:
            guests = [g for g in self.engine.guests.values() if g.alive()]
        return {"ok": True, "time_scale": self.world.time_scale, "qemu": {"version": self.engine.qemu_version,
                                                                          "guests_running": len(guests)},
                "sshd": {"running": self.sshd.running(), "pid": self.sshd.pid, "port": self.ssh_port}}

    def stats(self):
        with self.world.lock:
            out = self.world.stats_report()
            out["guests_running"] = sum(1 for g in self.engine.guests.values() if g.alive())
            out["time_scale"] = self.world.time_scale
        out["ssh_sessions"] = len(self.sshd.session_pids())
        return out

    def disruption(self):
        """Per server: the downtime each completed migration cost (QEMU's for live, suspend to boot
        for hybrid)."""
        w = self.world
        with w.lock:
            out = {}
            for mid in sorted(w.migrations, key=lambda m: int(m.split("-")[1])):
                m = w.migrations[mid]
                if m["status"] != "complete":
                    continue
                if m["kind"] == "live":
                    down = ((m.get("qemu") or {}).get("final") or {}).get("downtime_ms")
                else:
                    down = m.get("downtime_ms")
                entry = out.setdefault(str(m["server"]), {"migrations": 0, "downtime_ms_total": 0, "last": None})
                entry["migrations"] += 1
                entry["downtime_ms_total"] += down or 0
                entry["last"] = {"id": mid, "type": m["kind"], "downtime_ms": down, "source": m["src"],
                                 "destination": m["dst"]}
            return {"servers": out}

    def reset(self):
        self.engine.shutdown()
        with self.world.lock:
            self.world.reset()
            self.engine.guests, self.engine.incoming, self.engine.runs = {}, {}, {}
        root = os.path.join(self.dir, "hypervisors")
        if os.path.isdir(root):
            shutil.rmtree(root)
        self.engine.stop_event.clear()
        self.engine.boot_all()

    def shutdown(self):
        try:
            self.engine.shutdown()
            self.world.shutdown()
        finally:
            self.sshd.stop()
            self.spawner.shutdown()
            shutil.rmtree(self.engine.run_dir, ignore_errors=True)
            self.store.close()
