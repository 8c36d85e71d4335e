"""The VirtFusion plane's engine: the servers' QEMU guests and the migrations that move them.

Each migration runs in its own thread, step by step, writing its progress into the world (and so into
SQLite) as it goes. This file holds the guests, the control of a running migration (start, abort,
cancel), the step runner and what both kinds share (the precheck, the server's switch to its destination,
the undo of a destination, the cleanup of a cancelled migration). The steps of each kind are a part the
engine holds by composition (``lab.virtfusion.steps.EnginePart``): ``live`` (lab.virtfusion.live, QEMU's
live migration) and ``hybrid`` (lab.virtfusion.hybrid, the two-stage disk copy).
"""
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from lab.virtfusion import qemu
from lab.virtfusion.hybrid import HybridMigration
from lab.virtfusion.live import LiveMigration
from lab.virtfusion.steps import StepFailed, Stopped
from lab.virtfusion.world import VfError

log = logging.getLogger("lab.virtfusion.engine")


class Engine:
    def __init__(self, world, state_dir, spawner, on_ssh_fault=None):
        self.world = world
        self.state_dir = state_dir
        self.spawner = spawner
        self.run_dir = qemu.run_dir_for(state_dir)
        self.log_dir = os.path.join(state_dir, "qemu")
        os.makedirs(self.log_dir, exist_ok=True)
        self.kernel = qemu.build_guest_kernel(os.path.join(state_dir, "guest"))
        self.guests = {}            # server id -> Guest (the server's QEMU on its current hypervisor)
        self.incoming = {}          # migration id -> destination Guest
        self.runs = {}              # migration id -> {"thread", "abort", "cancel"}
        self.stop_event = threading.Event()
        self.on_ssh_fault = on_ssh_fault
        self.qemu_version = qemu.qemu_version()
        self.live = LiveMigration(self)
        self.hybrid = HybridMigration(self)

    # ------------------------------------------------------------------ guests
    def ensure_layout(self):
        """Mount-point directories of every hypervisor and the disk images of every server."""
        w = self.world
        with w.lock:
            for hv in w.hvs.values():
                for st in hv["storage"]:
                    os.makedirs(os.path.join(w.hv_root(hv["id"]), st["mount"].lstrip("/")), exist_ok=True)
            todo = [(s, d, w.disk_path(s, d, s["hypervisor"])) for s in w.servers.values() for d in s["disks"]]
        for s, d, path in todo:
            if not os.path.exists(path):
                qemu.create_image(path, d["size"], d["data"], fill=0x40 + (s["id"] % 60))

    def guest_for(self, server, hv_id, paused=False, incoming=False):
        w = self.world
        disks = [(d["drive"], w.disk_path(server, d, hv_id)) for d in server["disks"]]
        return qemu.Guest(self.spawner, self.run_dir, self.log_dir, self.kernel, server["id"], hv_id,
                          server["memory"], server["dirty_rate"], server["working_set"], disks, paused=paused,
                          incoming=incoming)

    def boot_server(self, server, wait=True):
        """Start the server's QEMU on its hypervisor; a suspended server boots, then is paused."""
        g = self.guest_for(server, server["hypervisor"])
        g.start()
        if wait or server["state"] == "suspended":
            g.wait_booted()
        if server["state"] == "suspended":
            with g.qmp() as q:
                q.cmd("stop")
        with self.world.lock:
            self.guests[server["id"]] = g
        return g

    def boot_all(self):
        """Start every online or suspended server, several at a time; wait for them."""
        self.ensure_layout()
        with self.world.lock:
            todo = [s for s in self.world.servers.values() if s["state"] in ("online", "suspended")
                    and not (self.guests.get(s["id"]) and self.guests[s["id"]].alive())]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="vf-boot") as pool:
            for f in [pool.submit(self.boot_server, s) for s in todo]:
                f.result()
        log.info("booted %d QEMU guest(s)", len(todo))

    def stop_all(self):
        with self.world.lock:
            guests = list(self.guests.values()) + list(self.incoming.values())
            self.guests, self.incoming = {}, {}
        for g in guests:
            g.kill()

    def set_dirty_rate(self, sid, rate, working_set=None):
        """Change a server's dirty rate (and working set): its guest reboots with the new setting."""
        w = self.world
        with w.lock:
            s = w.server(sid)
            if s.get("migration") and w.migrations[s["migration"]]["status"] == "in-progress":
                raise VfError(409, f"Server {s['id']} is being migrated; change its dirty rate afterwards")
            if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 4096:
                raise VfError(400, f"rate must be a whole number of MiB/s from 0 to 4096, got {rate!r}")
            if working_set is not None and (isinstance(working_set, bool) or not isinstance(working_set, int)
                                            or not 1 <= working_set <= s["memory"] - 8):
                raise VfError(400, f"working_set must be 1 to {s['memory'] - 8} MiB, got {working_set!r}")
            s["dirty_rate"] = rate
            if working_set is not None:
                s["working_set"] = working_set
            w.save_server(s["id"])
            old = self.guests.pop(s["id"], None)
        if old is not None:
            old.kill()
        if s["state"] in ("online", "suspended"):
            self.boot_server(s)
        return w.server_view(s)

    def guest_status(self, sid):
        with self.world.lock:
            s = self.world.server(sid)
            g = self.guests.get(s["id"])
        if g is None or not g.alive():
            return {"server": s["id"], "hypervisor": s["hypervisor"], "qemu": "not running"}
        doc = {"server": s["id"], "hypervisor": s["hypervisor"], "qemu": g.run_state(), "pid": g.pid}
        try:
            doc["guest"] = g.status_words()
        except qemu.QemuError as e:
            doc["guest_error"] = str(e)
        return doc

    def measure_dirty_rate(self, sid, seconds=1):
        """QEMU's own dirty-rate measurement (calc-dirty-rate, page sampling) and the guest's counter."""
        with self.world.lock:
            s = self.world.server(sid)
            g = self.guests.get(s["id"])
        if g is None or not g.alive():
            raise VfError(409, f"Server {s['id']} has no running guest")
        before = g.status_words()
        t0 = time.monotonic()
        with g.qmp() as q:   # page sampling at the finest grain (the dirty-bitmap mode crashes QEMU 7.2 TCG)
            q.cmd("calc-dirty-rate", **{"calc-time": int(seconds), "sample-pages": 4096})
        time.sleep(seconds + 0.2)
        deadline = time.monotonic() + 10
        while True:
            with g.qmp() as q:
                r = q.cmd("query-dirty-rate")
            if r.get("status") == "measured" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        after = g.status_words()
        pages = (after["pages"] - before["pages"]) & 0xFFFFFFFF
        return {"server": s["id"], "target_mib_s": s["dirty_rate"], "qemu_dirty_rate_mb_s": r.get("dirty-rate"),
                "qemu_mode": r.get("mode"), "guest_written_mib_s": round(pages / 256 / (time.monotonic() - t0), 2),
                "guest": after}

    # ------------------------------------------------------------------ migration control
    def start_migration(self, mig):
        ev = {"abort": threading.Event(), "cancel": threading.Event(), "aborted_ack": threading.Event()}
        fn = self.live.run if mig["kind"] == "live" else self.hybrid.run
        t = threading.Thread(target=self._run, args=(fn, mig, ev), name=f"vf-{mig['id']}", daemon=True)
        ev["thread"] = t
        with self.world.lock:
            self.runs[mig["id"]] = ev
        t.start()

    def running(self, mid):
        ev = self.runs.get(mid)
        return ev is not None and ev["thread"].is_alive()

    def request_abort(self, mig, timeout=15.0):
        ev = self.runs.get(mig["id"])
        if ev is None or not ev["thread"].is_alive():
            return False
        ev["abort"].set()
        ev["aborted_ack"].wait(timeout)
        return True

    def request_cancel(self, mig, timeout=15.0):
        """Stop a running migration before its data transfer (the runner stops at its next check)."""
        ev = self.runs.get(mig["id"])
        if ev is not None and ev["thread"].is_alive():
            ev["cancel"].set()
            ev["thread"].join(timeout)

    def shutdown(self):
        self.stop_event.set()
        for ev in list(self.runs.values()):
            ev["thread"].join(timeout=5)
        self.stop_all()

    # ------------------------------------------------------------------ runner
    def _run(self, fn, mig, ev):
        w = self.world
        try:
            fn(mig, ev)
        except Stopped:
            w.debug(mig, "lab shutting down: migration left in progress")
            w.save_migration(mig["id"])
        except Exception as e:  # a lab bug must not leave a migration in progress forever
            log.exception("migration %s crashed", mig["id"])
            self._fail(mig, None, f"internal lab error: {e}")

    def _check(self, mig, ev, key):
        if self.stop_event.is_set():
            raise Stopped()
        if ev["cancel"].is_set():
            raise StepFailed("cancelled")
        f = self.world.take_fault("kill_ssh", server=mig["server"], step=key)
        if f is not None and self.on_ssh_fault is not None:
            self.world.debug(mig, f"lab fault: SSH sessions dropped at step {key}")
            self.on_ssh_fault()
        f = self.world.take_fault("fail_step", server=mig["server"], step=key)
        if f is not None:
            raise StepFailed(f["message"])

    def wait(self, mig, ev, lab_seconds):
        """A lab-timed pause in a step; a cancel or the lab's shutdown ends it at once."""
        deadline = time.monotonic() + max(0.0, float(lab_seconds)) * self.world.time_scale
        while True:
            if self.stop_event.is_set():
                raise Stopped()
            if ev["cancel"].is_set():
                raise StepFailed("cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ev["cancel"].wait(min(left, 0.05))

    def _fail(self, mig, key, message, data=None):
        w = self.world
        with w.lock:
            if key is not None:
                w.set_step(mig, key, "failed", message)
            mig["status"] = "failed"
            if data is not None:
                mig["data"] = data
            elif mig["data"] in ("pending", "transferring"):
                mig["data"] = "failed"
            if message not in mig["errors"]:
                mig["errors"].append(message)
            mig["finished"] = time.time()
            w.bump("migrations_failed")
            w.save_migration(mig["id"])
        log.info("migration %s of server %s failed at %s: %s", mig["id"], mig["server"], key, message)

    def run_steps(self, mig, plan, ev):
        """Run the steps of ``plan`` (key -> fn) that are not complete yet, in order."""
        w = self.world
        for st in mig["steps"]:
            key = st["key"]
            if st["status"] == "complete":
                continue
            w.set_step(mig, key, "in-progress")
            try:
                self._check(mig, ev, key)
                message = plan[key](mig, ev)
            except StepFailed as e:
                if e.message == "cancelled" and ev["cancel"].is_set():
                    w.set_step(mig, key, "failed", "cancelled")
                    return False
                self._fail(mig, key, e.message, e.data)
                return False
            except qemu.QemuError as e:
                self._fail(mig, key, str(e))
                return False
            w.set_step(mig, key, "complete", message or "")
        with w.lock:
            mig["status"] = "complete"
            mig["finished"] = time.time()
            w.bump("migrations_complete")
            w.save_migration(mig["id"])
        log.info("migration %s of server %s complete", mig["id"], mig["server"])
        return True

    # ------------------------------------------------------------------ shared by live and hybrid
    def precheck(self, mig, ev):
        """The first step of both kinds: the world's pre-migration checks, all reported at once."""
        w = self.world
        self.wait(mig, ev, w.cfg["timing"]["precheck"])
        with w.lock:
            s = w.servers[mig["server"]]
            errors = w.prechecks(s, mig["dst"], mig["kind"], mig["options"].get("force_offline", False))
        if errors:
            raise StepFailed("; ".join(errors))
        return "all pre-migration checks passed"

    def server_of(self, mig):
        """The migration's server record, read under the world lock."""
        with self.world.lock:
            return self.world.servers[mig["server"]]

    def check_refused(self, mig):
        w = self.world
        f = w.take_fault("refuse_destination", server=mig["server"], hypervisor=mig["dst"])
        if f is not None:
            dst = w.hvs[mig["dst"]]
            raise StepFailed(f"Connection to destination hypervisor {dst['id']} ({dst['name']}) on SSH port "
                             f"{dst['ssh']['port']} refused")

    def hand_over(self, mig):
        """The end of a migration, both kinds: the source guest stops; (the server, the destination guest or None)."""
        w = self.world
        with w.lock:
            s = w.servers[mig["server"]]
            src = self.guests.pop(s["id"], None)
            dst = self.incoming.pop(mig["id"], None)
        if src is not None:
            src.stop()
        return s, dst

    def switch_hypervisor(self, mig, s, storage_map=None):
        """The server belongs to the destination: storage ids follow the mount points (or the map)."""
        w = self.world
        with w.lock:
            old_paths = [w.disk_path(s, d, mig["src"]) for d in s["disks"]]
            for d in s["disks"]:
                mount = w.storage_mount(mig["src"], d["storage"])
                if storage_map and d["drive"] in storage_map:
                    d["storage"] = storage_map[d["drive"]]
                else:
                    d["storage"] = next(st["id"] for st in w.hvs[mig["dst"]]["storage"] if st["mount"] == mount)
            s["hypervisor"] = mig["dst"]
            w.save_server(s["id"])
        qemu.remove_files(old_paths)

    def discard_destination(self, mig, s, dst):
        """Undo a migration's destination side: its QEMU (``dst``, taken out of ``incoming``) is killed
        and, while the server still belongs to the source, its disk images there are removed."""
        if dst is not None:
            dst.kill()
        if s["hypervisor"] == mig["src"]:
            qemu.remove_files(self.world.disk_path(s, d, mig["dst"]) for d in s["disks"])

    # ------------------------------------------------------------------ cancel (CLI cancel / cancel-force)
    def cleanup_cancelled(self, mig, force=False):
        """Undo a migration that did not complete: the destination goes, the server runs on the source."""
        w = self.world
        self.request_cancel(mig)
        with w.lock:
            if mig["status"] == "complete":    # it finished before the cancel reached it
                raise VfError(409, f"The migration of server {mig['server']} completed before it could be cancelled")
            s = w.servers[mig["server"]]
            dst = self.incoming.pop(mig["id"], None)
        self.discard_destination(mig, s, dst)
        with w.lock:
            src = self.guests.get(s["id"])
        if mig["server_state"] == "awaiting_setup":
            pass                         # no guest: the records stay on the source
        elif mig["server_state"] == "offline":
            if src is not None:          # the paused --force-offline guest goes back to off
                src.stop()
                with w.lock:
                    self.guests.pop(s["id"], None)
        elif src is None or not src.alive():
            if force:                    # cancel-force [vendor: may lose data]: boot from disks
                self.boot_server(s)
                with w.lock:
                    mig["data_lost"] = True
                w.debug(mig, "cancel-force: the source QEMU was gone; the server was booted again from its disks "
                             "on the source (memory state lost)")
        else:
            state = src.run_state()
            if s["state"] == "online" and state in ("postmigrate", "paused"):
                with src.qmp() as q:
                    q.cmd("cont")
        with w.lock:
            mig["status"] = "cancelled"
            mig["cancelled"] = True
            mig["finished"] = time.time()
            w.bump("migrations_cancelled")
            w.debug(mig, "cancelled" + (" (cancel-force)" if force else ""))
            w.save_migration(mig["id"])
