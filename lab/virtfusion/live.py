"""The steps of a live migration on the VirtFusion plane: the engine's ``live`` part (``lab.virtfusion.engine``).

Live migration [vendor: seed, "Libvirt's (QEMU) inbuilt live migration"] is QEMU's migration between
the source guest and a destination guest started with ``-incoming``; the start options map onto
QEMU's migration parameters and capabilities (see ``qemu_settings``).
"""
import os
import shutil
import time

from lab.virtfusion import qemu
from lab.virtfusion.steps import EnginePart, StepFailed, Stopped

UNLIMITED_BANDWIDTH = 1 << 40   # bytes/s when no --xfer-speed: libvirt's "unlimited" [lab assumption]
POLL = 0.1                      # seconds between query-migrate polls


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


class LiveMigration(EnginePart):
    """filters, prepare, transfer, start on the destination, finalize: one method per step (the precheck is the
    engine's). Uses the world (``self.w``) and, through ``self.e``, the engine's guests, its runner (``run_steps``,
    ``wait``) and what both kinds share (``check_refused``, ``hand_over``, ``switch_hypervisor``)."""

    # ------------------------------------------------------------------ live
    def run(self, mig, ev):
        plan = {"precheck": self.e.precheck, "filters": self._filters, "prepare": self._prepare_live,
                "transfer": self._transfer, "start_dst": self._start_dst, "finalize": self._finalize_live}
        self.e.run_steps(mig, plan, ev)

    def _filters(self, mig, ev):
        if mig["options"].get("disable_filter_check"):
            return "skipped (--disable-filter-check)"
        self.e.wait(mig, ev, self.w.cfg["timing"]["filters"])
        return "source filters checked and up to date"

    def _copy_disks_full(self, mig, server):
        w = self.w
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
        w = self.w
        self.e.check_refused(mig)
        with w.lock:
            s = w.servers[mig["server"]]
            src_guest = self.e.guests.get(s["id"])
        if s["state"] == "awaiting_setup":
            # [vendor: "awaiting setup (internal transfer)"]: no guest runs; the records and disks move
            disk_bytes = self._copy_disks_full(mig, s)
            with w.lock:
                mig["disks"]["copied_bytes"] = disk_bytes
            self.e.wait(mig, ev, w.cfg["timing"]["prepare"])
            return f"server awaiting setup: internal transfer, disk images copied ({disk_bytes} bytes)"
        if s["state"] == "offline" and not (src_guest is not None and src_guest.alive()):
            # --force-offline [vendor: seed]: start the server paused for the transfer (once per migration)
            g = self.e.guest_for(s, mig["src"], paused=True)
            g.start()
            with w.lock:
                self.e.guests[s["id"]] = g
            w.debug(mig, "server offline: started paused on the source for the transfer (--force-offline)")
        elif src_guest is None or not src_guest.alive():
            raise StepFailed(f"Server {s['id']} is not running on source hypervisor {mig['src']}")
        disk_bytes = self._copy_disks_full(mig, s)
        with w.lock:
            mig["disks"]["copied_bytes"] = disk_bytes
        old = self.e.incoming.pop(mig["id"], None)
        if old is not None:
            old.kill()
        dst_guest = self.e.guest_for(s, mig["dst"], incoming=True)
        dst_guest.start()
        with w.lock:
            self.e.incoming[mig["id"]] = dst_guest
        w.debug(mig, f"destination QEMU pid {dst_guest.pid} waiting for the incoming migration")
        self.e.wait(mig, ev, w.cfg["timing"]["prepare"])
        return f"disk images copied ({disk_bytes} bytes); destination QEMU ready"

    def _transfer(self, mig, ev):
        w = self.w
        opts = mig["options"]
        with w.lock:
            s = w.servers[mig["server"]]
            if s["state"] == "awaiting_setup":
                mig["data"] = "success"
                return "internal transfer: the server awaits setup, no guest memory to move"
            src = self.e.guests.get(s["id"])
            dst = self.e.incoming.get(mig["id"])
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
                if self.e.stop_event.is_set():
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
        w = self.w
        t0 = time.monotonic()
        was = old.run_state()
        new = self.e.guest_for(server, old.hv_id, incoming=True)
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
            self.e.guests[server["id"]] = new
        w.debug(mig, f"lab: guest handed to a fresh QEMU process after the cancelled migration (QEMU 7.2 TCG "
                     f"dirty tracking), paused {int((time.monotonic() - t0) * 1000)} ms")

    def _sample(self, mig, r, t0, src):
        ram = r.get("ram") or {}
        sample = {"t_ms": int((time.monotonic() - t0) * 1000), "status": r.get("status"),
                  "transferred": ram.get("transferred", 0), "remaining": ram.get("remaining", 0),
                  "total": ram.get("total", 0), "dirty_pages_rate": ram.get("dirty-pages-rate", 0),
                  "dirty_sync_count": ram.get("dirty-sync-count", 0),
                  "throttle": r.get("cpu-throttle-percentage", 0), "mbps": ram.get("mbps", 0)}
        with self.w.lock:
            q = self.w.migrations[mig["id"]]["qemu"]
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
            with self.w.lock:
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
        w = self.w
        with w.lock:
            s = w.servers[mig["server"]]
            dst = self.e.incoming.get(mig["id"])
        if s["state"] == "awaiting_setup":
            return "server awaiting setup: not started on the destination"
        state = dst.run_state() if dst is not None else "dead"
        if dst is not None and ((mig.get("qemu") or {}).get("final") or {}).get("status") == "completed":
            # QEMU's source says completed once it has sent everything; the destination may still be loading
            # the last of the state (inmigrate), or slow to answer QMP under load (unknown): wait for it, so a
            # transfer that really completed is never mistaken for a forced one (its memory state would be lost)
            t0, first = time.monotonic(), state
            while state in ("inmigrate", "unknown") and time.monotonic() < t0 + 30:
                time.sleep(0.05)
                state = dst.run_state()
            if first != state:
                w.debug(mig, f"lab: the destination was {first} after the source completed; {state} after "
                             f"{int((time.monotonic() - t0) * 1000)} ms")
        if state in ("inmigrate", "dead", "unknown"):
            # data-success-force on a transfer that never finished [vendor: "may result in data loss"]
            if dst is not None:
                dst.kill()
            dst = self.e.guest_for(s, mig["dst"], paused=s["state"] == "offline")
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
                self.e.incoming[mig["id"]] = dst
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
        w = self.w
        self.e.wait(mig, ev, w.cfg["timing"]["finalize"])
        s, dst = self.e.hand_over(mig)
        self.e.switch_hypervisor(mig, s)
        with w.lock:
            if dst is not None and dst.alive():
                self.e.guests[s["id"]] = dst
        return f"server {s['id']} now on hypervisor {mig['dst']}"
