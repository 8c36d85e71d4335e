"""The VirtFusion plane's engine: the servers' QEMU guests and the migrations that move them.

Live migration [vendor: seed, "Libvirt's (QEMU) inbuilt live migration"] is QEMU's migration between
the source guest and a destination guest started with ``-incoming``; the start options map onto
QEMU's migration parameters and capabilities (see ``qemu_settings``). Hybrid migration [vendor: seed]
copies the disk images in two stages (online, then only what changed with the guest suspended) and
boots the guest on the destination. Each migration runs in its own thread, step by step, writing
its progress into the world (and so into SQLite) as it goes.
"""
import logging
import os
import shutil
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

from lab.virtfusion import qemu
from lab.virtfusion.world import VfError

log = logging.getLogger("lab.virtfusion.engine")

UNLIMITED_BANDWIDTH = 1 << 40   # bytes/s when no --xfer-speed: libvirt's "unlimited" [lab assumption]
CHUNK = 64 * 1024               # disk copy and compare granularity (hybrid)
POLL = 0.1                      # seconds between query-migrate polls


class StepFailed(Exception):
    def __init__(self, message, data=None):
        super().__init__(message)
        self.message = message
        self.data = data


class Stopped(Exception):
    """The lab is shutting down (the migration stays in-progress and fails on restart)."""


def qemu_settings(opts):
    """QEMU migration capabilities and parameters for the live start options (what the lab applies).

    compression -> ``xbzrle`` [lab assumption]: libvirt's ``--compressed`` defaults to XBZRLE, and in
    QEMU 7.2 multifd (zlib/zstd) cannot be combined with post-copy, so XBZRLE is the one method that
    works with every other option."""
    auto = not opts["disable_auto_converge"]
    caps = {"auto-converge": auto, "xbzrle": not opts["disable_compression"],
            "postcopy-ram": bool(opts["auto_post_copy"])}
    speed = opts.get("xfer_speed")
    params = {"downtime-limit": int(opts["max_downtime"]),
              "max-bandwidth": min(int(speed) * 1048576, 1 << 62) if speed else UNLIMITED_BANDWIDTH}
    if auto:
        params["cpu-throttle-initial"] = int(opts["auto_converge_initial"])
        params["cpu-throttle-increment"] = int(opts["auto_converge_increment"])
    return caps, params


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
        fn = self._run_live if mig["kind"] == "live" else self._run_hybrid
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

    def _wait(self, mig, ev, lab_seconds):
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

    def _steps(self, mig, plan, ev):
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

    # ------------------------------------------------------------------ live
    def _run_live(self, mig, ev):
        plan = {"precheck": self._precheck, "filters": self._filters, "prepare": self._prepare_live,
                "transfer": self._transfer, "start_dst": self._start_dst, "finalize": self._finalize_live}
        self._steps(mig, plan, ev)

    def _precheck(self, mig, ev):
        w = self.world
        self._wait(mig, ev, w.cfg["timing"]["precheck"])
        with w.lock:
            s = w.servers[mig["server"]]
            errors = w.prechecks(s, mig["dst"], mig["kind"], mig["options"].get("force_offline", False))
        if errors:
            raise StepFailed("; ".join(errors))
        return "all pre-migration checks passed"

    def _filters(self, mig, ev):
        if mig["options"].get("disable_filter_check"):
            return "skipped (--disable-filter-check)"
        self._wait(mig, ev, self.world.cfg["timing"]["filters"])
        return "source filters checked and up to date"

    def _server(self, mig):
        """The migration's server record, read under the world lock."""
        with self.world.lock:
            return self.world.servers[mig["server"]]

    def _refused(self, mig):
        w = self.world
        f = w.take_fault("refuse_destination", server=mig["server"], hypervisor=mig["dst"])
        if f is not None:
            dst = w.hvs[mig["dst"]]
            raise StepFailed(f"Connection to destination hypervisor {dst['id']} ({dst['name']}) on SSH port "
                             f"{dst['ssh']['port']} refused")

    def _copy_disks_full(self, mig, server):
        w = self.world
        total = 0
        for d in server["disks"]:
            src = w.disk_path(server, d, mig["src"])
            dst = w.disk_path(server, d, mig["dst"])
            if not os.path.isdir(os.path.dirname(dst)):
                raise StepFailed(f"Storage mount point {os.path.dirname(dst)} does not exist on the destination")
            shutil.copyfile(src, dst)
            total += os.path.getsize(dst)
        return total

    def _prepare_live(self, mig, ev):
        w = self.world
        self._refused(mig)
        with w.lock:
            s = w.servers[mig["server"]]
            src_guest = self.guests.get(s["id"])
        if s["state"] == "awaiting_setup":
            # [vendor: "awaiting setup (internal transfer)"]: no guest runs; the records and disks move
            disk_bytes = self._copy_disks_full(mig, s)
            with w.lock:
                mig["disks"]["copied_bytes"] = disk_bytes
            self._wait(mig, ev, w.cfg["timing"]["prepare"])
            return f"server awaiting setup: internal transfer, disk images copied ({disk_bytes} bytes)"
        if s["state"] == "offline" and not (src_guest is not None and src_guest.alive()):
            # --force-offline [vendor: seed]: start the server paused for the transfer (once per migration)
            g = self.guest_for(s, mig["src"], paused=True)
            g.start()
            with w.lock:
                self.guests[s["id"]] = g
            w.debug(mig, "server offline: started paused on the source for the transfer (--force-offline)")
        elif src_guest is None or not src_guest.alive():
            raise StepFailed(f"Server {s['id']} is not running on source hypervisor {mig['src']}")
        disk_bytes = self._copy_disks_full(mig, s)
        with w.lock:
            mig["disks"]["copied_bytes"] = disk_bytes
        old = self.incoming.pop(mig["id"], None)
        if old is not None:
            old.kill()
        dst_guest = self.guest_for(s, mig["dst"], incoming=True)
        dst_guest.start()
        with w.lock:
            self.incoming[mig["id"]] = dst_guest
        w.debug(mig, f"destination QEMU pid {dst_guest.pid} waiting for the incoming migration")
        self._wait(mig, ev, w.cfg["timing"]["prepare"])
        return f"disk images copied ({disk_bytes} bytes); destination QEMU ready"

    def _transfer(self, mig, ev):
        w = self.world
        opts = mig["options"]
        with w.lock:
            s = w.servers[mig["server"]]
            if s["state"] == "awaiting_setup":
                mig["data"] = "success"
                return "internal transfer: the server awaits setup, no guest memory to move"
            src = self.guests.get(s["id"])
            dst = self.incoming.get(mig["id"])
        if src is None or not src.alive() or dst is None or not dst.alive():
            raise StepFailed("source or destination QEMU is not running (re-run start to prepare again)")
        caps, params = qemu_settings(opts)
        capl = [{"capability": k, "state": v} for k, v in caps.items()]
        with dst.qmp() as q:
            q.cmd("migrate-set-capabilities", capabilities=capl)
            port = None
            for _attempt in range(5):
                port = qemu.free_port()
                try:
                    q.cmd("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
                    break
                except qemu.QemuError as e:
                    if "in use" not in str(e):
                        raise
            else:
                raise StepFailed("no free loopback port for the incoming migration")
        with src.qmp() as q:
            q.cmd("migrate-set-capabilities", capabilities=capl)
            q.cmd("migrate-set-parameters", **params)
            applied = q.cmd("query-migrate-parameters")
        with w.lock:
            mig["data"] = "transferring"
            mig["qemu"] = {"capabilities": caps, "parameters": {k: applied.get(k) for k in params},
                           "uri": f"tcp:127.0.0.1:{port}", "samples": [], "max_throttle": 0,
                           "max_dirty_pages_rate": 0, "postcopy_started_ms": None}
        w.debug(mig, f"QMP migrate-set-capabilities {caps}")
        w.debug(mig, f"QMP migrate-set-parameters {params}")
        t0 = time.monotonic()
        abort_at = t0 + opts["abort_after"] * w.time_scale if opts.get("abort_after") else None
        with src.qmp() as q:
            q.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        w.debug(mig, f"QMP migrate uri=tcp:127.0.0.1:{port}")
        why = None
        while True:
            with src.qmp() as q:
                r = q.cmd("query-migrate")
            status = r.get("status")
            self._sample(mig, r, t0, src)
            if status == "completed":
                break
            if status in ("failed", "cancelled"):
                if why is None:
                    why = f"QEMU migration {status}: {r.get('error-desc', 'no reason given')}"
                break
            if why is None:
                if self.stop_event.is_set():
                    with src.qmp() as q:
                        q.cmd("migrate_cancel")
                    raise Stopped()
                if ev["cancel"].is_set():   # a cancel that raced the start of the transfer
                    why = "cancelled"
                elif ev["abort"].is_set():
                    why = "Migration aborted by request (server:migrate-live abort)"
                    with w.lock:
                        mig["aborted"] = True
                        w.stats["aborts"] += 1
                elif abort_at is not None and time.monotonic() >= abort_at:
                    why = f"Migration aborted after {opts['abort_after']} seconds (--abort-after)"
                    with w.lock:
                        mig["aborted"] = True
                if why is not None:
                    w.debug(mig, f"QMP migrate_cancel ({why})")
                    with src.qmp() as q:
                        q.cmd("migrate_cancel")
                elif (caps["postcopy-ram"] and mig["qemu"]["postcopy_started_ms"] is None and status == "active"
                      and (r.get("ram") or {}).get("dirty-sync-count", 0) >= 2):
                    # --auto-post-copy [vendor: seed]: switch after the first full pre-copy pass
                    with src.qmp() as q:
                        q.cmd("migrate-start-postcopy")
                    mig["qemu"]["postcopy_started_ms"] = int((time.monotonic() - t0) * 1000)
                    w.debug(mig, "QMP migrate-start-postcopy (first pre-copy pass done)")
            time.sleep(POLL)
        final = self._final(r)
        with w.lock:
            mig["qemu"]["final"] = final
            w.save_migration(mig["id"])
        w.debug(mig, f"query-migrate final: {final}")
        if why is not None:
            if src.alive():
                self._fresh_process(mig, s, src)
            ev["aborted_ack"].set()
            raise StepFailed(why, data="failed")
        if w.take_fault("lose_tracking", server=mig["server"], step="transfer") is not None:
            raise StepFailed("Lost track of the data transfer: no final status from the destination "
                             "(lab fault)", data="unknown")
        with w.lock:
            mig["data"] = "success"
        return (f"{final['transferred_bytes']} bytes in {final['total_time_ms']} ms, downtime "
                f"{final['downtime_ms']} ms (QEMU)")

    def _fresh_process(self, mig, server, old):
        """Hand a guest whose outgoing migration was cancelled to a fresh QEMU process on the same host.

        QEMU 7.2 with TCG loses track of dirty pages in a process whose outgoing migration was cancelled:
        its next migration converges at once and the copy is stale (measured: a guest dirtying 24 MiB/s
        "converged" in 1.5 s at 10 MiB/s). So the lab moves the paused guest (an exact copy: nothing
        writes) into a new process and resumes it there [lab assumption: a workaround, ~tens of ms]."""
        w = self.world
        t0 = time.monotonic()
        was = old.run_state()
        new = self.guest_for(server, old.hv_id, incoming=True)
        new.start()
        try:
            with old.qmp() as q:
                if was in ("running", "postmigrate"):
                    q.cmd("stop")
                q.cmd("migrate-set-capabilities", capabilities=[{"capability": c, "state": False} for c in
                                                                ("auto-converge", "xbzrle", "postcopy-ram")])
                q.cmd("migrate-set-parameters", **{"max-bandwidth": UNLIMITED_BANDWIDTH})
            port = qemu.free_port()
            with new.qmp() as q:
                q.cmd("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
            with old.qmp() as q:
                q.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with old.qmp() as q:
                    st = q.cmd("query-migrate").get("status")
                if st in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.01)
            if st != "completed":
                raise qemu.QemuError(f"local hand-over ended {st}")
            while new.run_state() == "inmigrate" and time.monotonic() < deadline:
                time.sleep(0.01)
            if was in ("running", "postmigrate"):
                with new.qmp() as q:
                    q.cmd("cont")
        except qemu.QemuError as e:
            new.kill()
            if old.alive() and was in ("running", "postmigrate"):
                with old.qmp() as q:
                    q.cmd("cont")
            w.debug(mig, f"lab: could not hand the guest to a fresh QEMU process ({e}); it keeps running in the "
                         "old one")
            return
        old.stop()
        new.incoming = False
        with w.lock:
            self.guests[server["id"]] = new
        w.debug(mig, f"lab: guest handed to a fresh QEMU process after the cancelled migration (QEMU 7.2 TCG "
                     f"dirty tracking), paused {int((time.monotonic() - t0) * 1000)} ms")

    def _sample(self, mig, r, t0, src):
        ram = r.get("ram") or {}
        sample = {"t_ms": int((time.monotonic() - t0) * 1000), "status": r.get("status"),
                  "transferred": ram.get("transferred", 0), "remaining": ram.get("remaining", 0),
                  "total": ram.get("total", 0), "dirty_pages_rate": ram.get("dirty-pages-rate", 0),
                  "dirty_sync_count": ram.get("dirty-sync-count", 0),
                  "throttle": r.get("cpu-throttle-percentage", 0), "mbps": ram.get("mbps", 0)}
        with self.world.lock:
            q = self.world.migrations[mig["id"]]["qemu"]
            q["progress"] = sample
            q["max_throttle"] = max(q["max_throttle"], sample["throttle"] or 0)
            q["max_dirty_pages_rate"] = max(q["max_dirty_pages_rate"], sample["dirty_pages_rate"] or 0)
            keep = not q["samples"] or sample["t_ms"] - q["samples"][-1]["t_ms"] >= 1000
        if keep:
            # the guest's own count of pages written: what the vCPU really managed (throttled or not)
            try:
                pages = src.status_words()["pages"] if r.get("status") == "active" else None
            except qemu.QemuError:
                pages = None
            with self.world.lock:
                prev = q["samples"][-1] if q["samples"] else None
                sample["guest_pages"] = pages
                if prev and pages is not None and prev.get("guest_pages") is not None:
                    dt = (sample["t_ms"] - prev["t_ms"]) / 1000.0
                    sample["guest_write_mib_s"] = round(((pages - prev["guest_pages"]) & 0xFFFFFFFF) / 256 / dt, 2)
                q["samples"].append(sample)

    @staticmethod
    def _final(r):
        ram = r.get("ram") or {}
        return {"status": r.get("status"), "total_time_ms": r.get("total-time"), "downtime_ms": r.get("downtime"),
                "setup_time_ms": r.get("setup-time"), "transferred_bytes": ram.get("transferred"),
                "precopy_bytes": ram.get("precopy-bytes"), "postcopy_bytes": ram.get("postcopy-bytes"),
                "downtime_bytes": ram.get("downtime-bytes"), "dirty_sync_count": ram.get("dirty-sync-count"),
                "postcopy_requests": ram.get("postcopy-requests"), "mbps": ram.get("mbps"),
                "xbzrle": r.get("xbzrle-cache"), "error": r.get("error-desc")}

    def _start_dst(self, mig, ev):
        w = self.world
        with w.lock:
            s = w.servers[mig["server"]]
            dst = self.incoming.get(mig["id"])
        if s["state"] == "awaiting_setup":
            return "server awaiting setup: not started on the destination"
        state = dst.run_state() if dst is not None else "dead"
        if state in ("inmigrate", "dead", "unknown"):
            # data-success-force on a transfer that never finished [vendor: "may result in data loss"]
            if dst is not None:
                dst.kill()
            dst = self.guest_for(s, mig["dst"], paused=s["state"] == "offline")
            for d in s["disks"]:
                p = w.disk_path(s, d, mig["dst"])
                if not os.path.exists(p):
                    qemu.create_image(p, d["size"], 0)
            dst.start()
            if s["state"] == "suspended":
                dst.wait_booted()
                with dst.qmp() as q:
                    q.cmd("stop")
            with w.lock:
                mig["data_lost"] = True
                self.incoming[mig["id"]] = dst
            w.debug(mig, "the destination had no migrated state (forced data status): the server was booted "
                         "from its disks on the destination; its memory state is lost")
            state = dst.run_state()
        if s["state"] == "offline":
            dst.stop()
            return "server was offline: transferred paused, now shut down on the destination (--force-offline)"
        if s["state"] == "online" and state != "running":
            with dst.qmp() as q:
                q.cmd("cont")
        if s["state"] == "online":
            dst.wait_booted(timeout=20)
        return f"server {s['state']} on destination hypervisor {mig['dst']} (QEMU {dst.run_state()})"

    def _finalize_live(self, mig, ev):
        w = self.world
        self._wait(mig, ev, w.cfg["timing"]["finalize"])
        with w.lock:
            s = w.servers[mig["server"]]
            src = self.guests.pop(s["id"], None)
            dst = self.incoming.pop(mig["id"], None)
        if src is not None:
            src.stop()
        self._switch_hypervisor(mig, s)
        with w.lock:
            if dst is not None and dst.alive():
                self.guests[s["id"]] = dst
        return f"server {s['id']} now on hypervisor {mig['dst']}"

    def _switch_hypervisor(self, mig, s, storage_map=None):
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

    def _discard_destination(self, mig, s, dst):
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
        self._discard_destination(mig, s, dst)
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

    # ------------------------------------------------------------------ hybrid
    def _run_hybrid(self, mig, ev):
        plan = {"precheck": self._precheck, "prepare": self._prepare_hybrid, "stage1": self._stage1,
                "suspend": self._suspend, "stage2": self._stage2, "boot": self._boot_hybrid,
                "finalize": self._finalize_hybrid}
        if not self._steps(mig, plan, ev):
            self._rollback_hybrid(mig)

    def _prepare_hybrid(self, mig, ev):
        w = self.world
        self._refused(mig)
        s = self._server(mig)
        for d in s["disks"]:
            dst = w.disk_path(s, d, mig["dst"])
            if not os.path.isdir(os.path.dirname(dst)):
                raise StepFailed(f"Storage mount point {os.path.dirname(dst)} does not exist on the destination")
        self._wait(mig, ev, w.cfg["timing"]["prepare"])
        return "destination storage ready"

    def _paced_copy(self, mig, src_path, dst_path, diff_only, ev, writer=None):
        """Copy src to dst in CHUNK pieces (all, or only those that differ); pace to speedLimit (KB/s);
        count the bytes sent (zlib-compressed when ``compress``). Returns (bytes sent, chunks sent)."""
        opts = mig["options"]
        limit = opts.get("speed_limit") or 0
        sent = chunks = 0
        t0 = time.monotonic()
        size = os.path.getsize(src_path)
        mode = "r+b" if diff_only and os.path.exists(dst_path) else "wb"
        with open(src_path, "rb") as fs, open(dst_path, mode) as fd:
            off = 0
            while off < size:
                if self.stop_event.is_set():
                    raise Stopped()
                if ev["cancel"].is_set():
                    raise StepFailed("cancelled")
                buf = fs.read(CHUNK)
                if diff_only:
                    fd.seek(off)
                    if fd.read(len(buf)) == buf:
                        off += len(buf)
                        continue
                fd.seek(off)
                fd.write(buf)
                n = len(zlib.compress(buf, 1)) if opts.get("compress") else len(buf)
                sent += n
                chunks += 1
                off += len(buf)
                if writer is not None:
                    writer()
                if limit:
                    ahead = sent / (limit * 1000.0) - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            fd.truncate(size)
        return sent, chunks

    def _copy_disks(self, mig, s, ev, diff_only, writer=None, verify=False):
        """Copy every disk of server ``s`` from the source to the destination (see _paced_copy), and
        with ``verify`` check that each copy equals its source; (bytes sent, chunks sent)."""
        w = self.world
        total = chunks = 0
        for d in s["disks"]:
            src, dst = w.disk_path(s, d, mig["src"]), w.disk_path(s, d, mig["dst"])
            b, c = self._paced_copy(mig, src, dst, diff_only, ev, writer)
            total += b
            chunks += c
            if verify and not qemu.compare_images(src, dst):
                raise StepFailed(f"drive {d['drive']}: the copy differs from the source after stage 2")
        return total, chunks

    def _stage1(self, mig, ev):
        w = self.world
        with w.lock:
            s = w.servers[mig["server"]]
            g = self.guests.get(s["id"])
        rate = s.get("disk_write_rate", 0) if s["state"] == "online" else 0   # (awaiting setup: no guest)
        written = {"bytes": 0, "n": 0}
        t0 = time.monotonic()

        def writer():
            # the guest keeps writing while stage 1 copies [lab assumption: through QEMU's block layer]
            if not rate or g is None:
                return
            due = int((time.monotonic() - t0) * rate * 1024)
            while written["bytes"] + 65536 <= due:
                d = s["disks"][written["n"] % len(s["disks"])]
                off = (written["n"] * 7 % max(1, d["size"] * 16)) * 65536
                with g.qmp() as q:
                    q.hmp(f'qemu-io drive-{d["drive"]} "write -P {0x20 + written["n"] % 90} {off} 64k"')
                written["bytes"] += 65536
                written["n"] += 1
        total, chunks = self._copy_disks(mig, s, ev, False, writer)
        with w.lock:
            mig["disks"].update({"stage1_bytes": total, "stage1_chunks": chunks,
                                 "guest_writes_during_stage1": written["bytes"]})
            mig["data"] = "transferring"
        return f"{total} bytes copied while the server was {s['state']}"

    def _suspend(self, mig, ev):
        w = self.world
        with w.lock:
            s = w.servers[mig["server"]]
            g = self.guests.get(s["id"])
        mig["suspended_at"] = time.time()
        if s["state"] in ("offline", "awaiting_setup"):
            return "server offline: nothing to suspend"
        if g is None or not g.alive():
            raise StepFailed(f"Server {s['id']} is not running on source hypervisor {mig['src']}")
        with g.qmp() as q:
            q.cmd("stop")   # vm stop drains and flushes the block layer: the images are consistent
        return "server suspended on the source" if s["state"] == "online" else "server already suspended"

    def _stage2(self, mig, ev):
        w = self.world
        s = self._server(mig)
        if s["state"] in ("offline", "awaiting_setup"):
            with w.lock:
                mig["disks"].update({"stage2_bytes": 0, "stage2_chunks": 0})
            return "server offline: one stage was enough"
        total, chunks = self._copy_disks(mig, s, ev, True, verify=True)
        with w.lock:
            mig["disks"].update({"stage2_bytes": total, "stage2_chunks": chunks, "verified": True})
            mig["data"] = "success"
        return f"{total} bytes of changes copied while suspended"

    def _boot_hybrid(self, mig, ev):
        w = self.world
        s = self._server(mig)
        if s["state"] in ("offline", "awaiting_setup"):
            with w.lock:
                mig["data"] = "success"
            return f"server {s['state']}: not booted"
        self._wait(mig, ev, w.cfg["timing"]["boot"])
        dst = self.guest_for(s, mig["dst"])
        dst.start()
        dst.wait_booted()
        if s["state"] == "suspended":
            with dst.qmp() as q:
                q.cmd("stop")
        with w.lock:
            self.incoming[mig["id"]] = dst
            mig["downtime_ms"] = int((time.time() - mig["suspended_at"]) * 1000)
        return f"server booted on hypervisor {mig['dst']} ({'running' if s['state'] == 'online' else 'paused'})"

    def _finalize_hybrid(self, mig, ev):
        w = self.world
        with w.lock:
            s = w.servers[mig["server"]]
            src = self.guests.pop(s["id"], None)
            dst = self.incoming.pop(mig["id"], None)
        if src is not None:
            src.stop()
        storage_map = {d["drive"]: d["storageId"] for d in mig["options"].get("disks") or []}
        self._switch_hypervisor(mig, s, storage_map)
        with w.lock:
            if dst is not None:
                self.guests[s["id"]] = dst
        return f"server {s['id']} now on hypervisor {mig['dst']}"

    def _rollback_hybrid(self, mig):
        """A failed hybrid migration leaves the server as it was on the source [lab assumption]."""
        w = self.world
        with w.lock:
            s = w.servers[mig["server"]]
            dst = self.incoming.pop(mig["id"], None)
            src = self.guests.get(s["id"])
        self._discard_destination(mig, s, dst)
        if s["state"] == "online" and src is not None and src.alive() and src.run_state() == "paused":
            with src.qmp() as q:
                q.cmd("cont")
        with w.lock:
            if mig["status"] != "failed":   # cancelled before it failed
                mig["status"] = "cancelled"
                mig["cancelled"] = True
            w.debug(mig, "hybrid migration rolled back: the server stays on the source")
            w.save_migration(mig["id"])
