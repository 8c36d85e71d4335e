"""The steps of a hybrid migration on the VirtFusion plane: the engine's ``hybrid`` part (``lab.virtfusion.engine``).

Hybrid migration [vendor: seed] copies the disk images in two stages (online, then only what changed
with the guest suspended) and boots the guest on the destination; a failure rolls it back.
"""
import os
import time
import zlib

from lab.virtfusion import qemu
from lab.virtfusion.steps import EnginePart, StepFailed, Stopped

CHUNK = 64 * 1024               # disk copy and compare granularity (hybrid)


class HybridMigration(EnginePart):
    """prepare, stage 1, suspend, stage 2, boot, finalize and the rollback: one method per step (the precheck is
    the engine's). Uses the world and the engine like ``LiveMigration``."""

    # ------------------------------------------------------------------ hybrid
    def run(self, mig, ev):
        plan = {"precheck": self.e.precheck, "prepare": self._prepare_hybrid, "stage1": self._stage1,
                "suspend": self._suspend, "stage2": self._stage2, "boot": self._boot_hybrid,
                "finalize": self._finalize_hybrid}
        if not self.e.run_steps(mig, plan, ev):
            self._rollback_hybrid(mig)

    def _prepare_hybrid(self, mig, ev):
        w = self.w
        self.e.check_refused(mig)
        s = self.e.server_of(mig)
        for d in s["disks"]:
            dst = w.disk_path(s, d, mig["dst"])
            if not os.path.isdir(os.path.dirname(dst)):
                raise StepFailed(f"Storage mount point {os.path.dirname(dst)} does not exist on the destination")
        self.e.wait(mig, ev, w.cfg["timing"]["prepare"])
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
                if self.e.stop_event.is_set():
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
        w = self.w
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
        w = self.w
        with w.lock:
            s = w.servers[mig["server"]]
            g = self.e.guests.get(s["id"])
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
        w = self.w
        with w.lock:
            s = w.servers[mig["server"]]
            g = self.e.guests.get(s["id"])
        mig["suspended_at"] = time.time()
        if s["state"] in ("offline", "awaiting_setup"):
            return "server offline: nothing to suspend"
        if g is None or not g.alive():
            raise StepFailed(f"Server {s['id']} is not running on source hypervisor {mig['src']}")
        with g.qmp() as q:
            q.cmd("stop")   # vm stop drains and flushes the block layer: the images are consistent
        return "server suspended on the source" if s["state"] == "online" else "server already suspended"

    def _stage2(self, mig, ev):
        w = self.w
        s = self.e.server_of(mig)
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
        w = self.w
        s = self.e.server_of(mig)
        if s["state"] in ("offline", "awaiting_setup"):
            with w.lock:
                mig["data"] = "success"
            return f"server {s['state']}: not booted"
        self.e.wait(mig, ev, w.cfg["timing"]["boot"])
        dst = self.e.guest_for(s, mig["dst"])
        dst.start()
        dst.wait_booted()
        if s["state"] == "suspended":
            with dst.qmp() as q:
                q.cmd("stop")
        with w.lock:
            self.e.incoming[mig["id"]] = dst
            mig["downtime_ms"] = int((time.time() - mig["suspended_at"]) * 1000)
        return f"server booted on hypervisor {mig['dst']} ({'running' if s['state'] == 'online' else 'paused'})"

    def _finalize_hybrid(self, mig, ev):
        w = self.w
        s, dst = self.e.hand_over(mig)
        storage_map = {d["drive"]: d["storageId"] for d in mig["options"].get("disks") or []}
        self.e.switch_hypervisor(mig, s, storage_map)
        with w.lock:
            if dst is not None:
                self.e.guests[s["id"]] = dst
        return f"server {s['id']} now on hypervisor {mig['dst']}"

    def _rollback_hybrid(self, mig):
        """A failed hybrid migration leaves the server as it was on the source [lab assumption]."""
        w = self.w
        with w.lock:
            s = w.servers[mig["server"]]
            dst = self.e.incoming.pop(mig["id"], None)
            src = self.e.guests.get(s["id"])
        self.e.discard_destination(mig, s, dst)
        if s["state"] == "online" and src is not None and src.alive() and src.run_state() == "paused":
            with src.qmp() as q:
                q.cmd("cont")
        with w.lock:
            if mig["status"] != "failed":   # cancelled before it failed
                mig["status"] = "cancelled"
                mig["cancelled"] = True
            w.debug(mig, "hybrid migration rolled back: the server stays on the source")
            w.save_migration(mig["id"])
