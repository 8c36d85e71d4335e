"""The Triton world's ``simulation`` part, clock-driven: the background tick that advances running migration
actions (started and ended by the ``actions`` part) and workloads, incremental syncs copying real dataset files,
switch and rollback steps, progress events, and what the watch stream reads."""
import os
import shutil
import time

from lab.part import Part
from lab.triton.common import ROLLBACK_STEPS, SWITCH_STEPS, iso, log, tree_checksum, tree_manifest


class Simulation(Part):
    """What the world's background thread advances (``world.simulation``): the world's instances, migration
    records and faults through ``self.w``, under its lock."""

    # ------------------------------------------------------------------ simulation
    def run(self, interval=0.01, flush_every=0.2):
        """Advance the world every ``interval`` real seconds; write what changed at most every
        ``flush_every`` real seconds (public calls write at once)."""
        last = self.w.lab_now()
        flushed = time.monotonic()
        while not self.w.stop_event.wait(interval):
            with self.w.lock:
                try:
                    now = self.w.lab_now()
                    self.tick(now, now - last)
                    last = now
                    if time.monotonic() - flushed >= flush_every:
                        self.w._flush()
                        flushed = time.monotonic()
                except Exception:  # keep the lab alive; the failure is in lab.log
                    log.exception("triton simulation tick failed")

    def tick(self, now, dt):
        for vm in list(self.w.vms.values()):
            self._workload(vm, dt)
        for rec in list(self.w.migrations.values()):
            act = rec["_lab"].get("action")
            if act:
                self._advance(rec, act, now)

    def _workload(self, vm, dt):
        wl = vm["_lab"]["workload"]
        if not wl["bytes_per_second"] or vm["state"] != "running":
            return
        wl["carry"] += wl["bytes_per_second"] * max(0.0, dt)
        root = os.path.join(self.w._ds(vm["server_uuid"], vm["uuid"]), "workload")
        n = 0
        while wl["carry"] >= wl["file_size"] and n < 64:
            os.makedirs(root, exist_ok=True)
            wl["seq"] += 1
            # a bounded set of files rewritten in turn (like a database's pages or rotating logs): the
            # dataset stays the same size while each sync has changes to send
            with open(os.path.join(root, "w-%05d.dat" % (wl["seq"] % max(1, wl.get("max_files", 64)))), "wb") as fh:
                fh.write(os.urandom(wl["file_size"]))
            wl["carry"] -= wl["file_size"]
            n += 1
        if n:
            self.w._save("vms", vm["uuid"])

    def _step_duration(self, spec):
        t = self.w.cfg["timing"]
        if isinstance(spec, str):
            return float(t[spec])
        return float(t["switch"]) * float(spec)

    def _fault(self, rec, phase, act, now, duration):
        """True when an injected fail_phase fault fires for this action now."""
        vm = self.w.vms[rec["vm_uuid"]]
        for fid, f in list(self.w.faults.items()):
            if f["kind"] != "fail_phase" or f["phase"] != phase:
                continue
            if f["instance"] not in ("*", vm["uuid"], vm["alias"]):
                continue
            if now - act["started"] < float(f.get("at", 0.5)) * max(duration, 1e-9):
                continue
            self.w._use_fault(fid, f)
            return True
        return False

    def _advance(self, rec, act, now):
        kind = act["kind"]
        vm = self.w.vms[rec["vm_uuid"]]
        t = self.w.cfg["timing"]
        if kind == "begin":
            if act["step"] == 0:
                override = rec["_lab"].get("override")
                target, why = self.w.allocation.allocate(vm, override)
                if not target:
                    self.w.actions.finish(rec, ok=False, error=why)
                    return
                if override:
                    # no allocator ran: a target without room fails late, when cn-agent reserves the instance
                    cap = self.w.allocation.capacity(target)
                    short = [f"{cap['ram']} MiB RAM free, needs {vm['ram']}" if cap["ram"] < vm["ram"] else None,
                             f"{cap['disk']} MiB disk free, needs {vm['disk']}" if cap["disk"] < vm["disk"] else None]
                    short = [x for x in short if x]
                    if short:
                        host = self.w.servers[target]["hostname"]
                        act["late_failure"] = f"reserving instance failed - server {host}: " + ", ".join(short)
                rec["target_server_uuid"] = target
                rec["_lab"]["target_reserved"] = True
                self.w.actions.summary(rec)["target_server"] = target
                act["step"] = 1
                self.w._save("migrations", rec["id"])
            if self._fault(rec, "begin", act, now, float(t["begin"])):
                shutil.rmtree(self.w._ds(rec["target_server_uuid"], vm["uuid"]), ignore_errors=True)
                rec["target_server_uuid"] = None
                self.w.actions.finish(rec, ok=False, error="lab fault: injected begin failure")
                return
            self._set_progress(rec, {"phase": "begin", "state": "running", "message": "reserving instance",
                                     "current_progress": min(99, int(100 * (now - act["started"]) /
                                                                     max(float(t["begin"]), 1e-9))),
                                     "total_progress": 100})
            if now - act["started"] >= float(t["begin"]):
                if act.get("late_failure"):
                    rec["_lab"]["target_reserved"] = False
                    rec["target_server_uuid"] = None
                    self.w.actions.finish(rec, ok=False, error=act["late_failure"])
                    return
                os.makedirs(self.w._ds(rec["target_server_uuid"], vm["uuid"]), exist_ok=True)
                self.w.actions.finish(rec, next_action="sync" if rec["automatic"] else None)
            return
        if kind == "sync":
            self._advance_sync(rec, act, now, final=False)
            return
        if kind == "switch":
            self._advance_steps(rec, act, now, SWITCH_STEPS, self._switch_step)
            return
        if kind == "rollback":
            self._advance_steps(rec, act, now, ROLLBACK_STEPS, self._rollback_step)
            return
        if kind == "abort":
            if self._fault(rec, "abort", act, now, float(t["abort"])):
                self.w.actions.finish(rec, ok=False, error="lab fault: injected abort failure")
                return
            if now - act["started"] >= float(t["abort"]):
                shutil.rmtree(self.w._ds(rec["target_server_uuid"], vm["uuid"]), ignore_errors=True)
                rec["_lab"]["target_reserved"] = False
                self.w.actions.finish(rec)
            return
        if kind == "pause":
            if now - act["started"] >= float(t["pause"]):
                self.w.actions.finish(rec)

    # -- sync ------------------------------------------------------------------------------
    def _begin_sync(self, rec, act, final):
        vm = self.w.vms[rec["vm_uuid"]]
        src = self.w._ds(rec["source_server_uuid"], vm["uuid"])
        dst = self.w._ds(rec["target_server_uuid"], vm["uuid"])
        os.makedirs(dst, exist_ok=True)
        manifest = rec["_lab"]["manifest"]
        current = tree_manifest(src)
        queue = sorted(p for p, st in current.items() if manifest.get(p) != st)
        for gone in sorted(set(manifest) - set(current)):
            try:
                os.unlink(os.path.join(dst, gone))
            except FileNotFoundError:
                pass
            manifest.pop(gone, None)
        act["sync"] = {"queue": queue, "total": sum(current[p][0] for p in queue), "sent": 0, "files": 0,
                       "started": self.w.lab_now(), "started_wall": self.w.wall(), "final": final,
                       "last_rate": 0.0}

    def _copy_some(self, rec, act, dt):
        """Copy files of the running sync within this tick's byte budget; True when done."""
        vm = self.w.vms[rec["vm_uuid"]]
        s = act["sync"]
        src = self.w._ds(rec["source_server_uuid"], vm["uuid"])
        dst = self.w._ds(rec["target_server_uuid"], vm["uuid"])
        rate = float(self.w.cfg["timing"]["sync_bytes_per_second"])
        act["carry"] = act.get("carry", 0.0) + rate * max(0.0, dt)
        manifest = rec["_lab"]["manifest"]
        while s["queue"] and act["carry"] > 0:
            rel = s["queue"].pop(0)
            sp = os.path.join(src, rel)
            try:
                st = os.stat(sp)
            except FileNotFoundError:
                continue
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copyfile(sp, os.path.join(dst, rel))
            manifest[rel] = [st.st_size, st.st_mtime_ns]
            s["sent"] += st.st_size
            s["files"] += 1
            act["carry"] -= st.st_size
        if not s["queue"]:
            act["carry"] = 0.0
        return not s["queue"]

    def _sync_progress(self, rec, act, phase_label="sync"):
        s = act["sync"]
        final = s["sent"] >= s["total"] and not s["queue"]
        elapsed = max(self.w.lab_now() - s["started"], 1e-9)
        rate = s["sent"] / elapsed
        left = max(s["total"] - s["sent"], 0)
        eta_ms = int(left / max(rate, 1.0) * 1000 * self.w.time_scale) if rate > 0 else 0
        self._set_progress(rec, {"phase": phase_label, "state": "running", "message": "syncing data",
                                 "current_progress": s["sent"], "total_progress": max(s["sent"], s["total"]),
                                 "eta_ms": eta_ms, "transfer_bytes_second": int(rate / self.w.time_scale),
                                 "started_timestamp": iso(s["started_wall"]),
                                 "duration_ms": int(elapsed * self.w.time_scale * 1000)}, final=final)

    def end_sync(self, rec, act):
        """The running sync of ``act`` ends (done, failed or paused): its bytes go into the migration's summary."""
        s = act.pop("sync")
        summary = self.w.actions.summary(rec)
        if summary:
            summary["syncs"].append({"bytes": s["sent"], "files": s["files"],
                                     "lab_seconds": round(self.w.lab_now() - s["started"], 3), "final": s["final"]})
            summary["bytes_sent"] += s["sent"]
        return s

    def _advance_sync(self, rec, act, now, final):
        if "sync" not in act:
            self._begin_sync(rec, act, final)
            act["last_tick"] = now
        dt = now - act.get("last_tick", now)
        act["last_tick"] = now
        rate = float(self.w.cfg["timing"]["sync_bytes_per_second"])
        expected = act["sync"]["total"] / max(rate, 1.0)
        if self._fault(rec, "sync", act, now, expected):
            self.end_sync(rec, act)
            self.w.actions.finish(rec, ok=False, error="lab fault: injected sync failure")
            return
        done = self._copy_some(rec, act, dt)
        self._sync_progress(rec, act)
        if done:
            self.end_sync(rec, act)
            nxt = None
            if rec["automatic"]:
                nxt = "sync" if rec["num_sync_phases"] == 0 else "switch"
            self.w.actions.finish(rec, next_action=nxt)

    # -- switch / rollback -------------------------------------------------------------------
    def _advance_steps(self, rec, act, now, steps, on_step):
        while act["step"] < len(steps):
            msg, pct, spec = steps[act["step"]]
            if act.get("entered") != act["step"]:
                act["entered"] = act["step"]
                act["step_started"] = now
                act["last_tick"] = now
                self._set_progress(rec, {"phase": act["kind"], "state": "running", "message": msg,
                                         "current_progress": pct, "total_progress": 100})
                if on_step(rec, act, msg, "enter") is False:
                    return
            if spec == "sync":
                dt = now - act.get("last_tick", now)
                act["last_tick"] = now
                if "sync" not in act:
                    self._begin_sync(rec, act, final=True)
                if self._copy_some(rec, act, dt):
                    self._sync_progress(rec, act)
                    self.end_sync(rec, act)
                else:
                    self._sync_progress(rec, act)
                    return
            elif now - act["step_started"] < self._step_duration(spec):
                return
            if on_step(rec, act, msg, "done") is False:
                return
            act["step"] += 1
        self.w.actions.finish(rec)

    def _switch_step(self, rec, act, msg, when):
        vm = self.w.vms[rec["vm_uuid"]]
        summary = self.w.actions.summary(rec)
        now = self.w.lab_now()
        if when == "enter" and msg == "stopping the instance":
            act["was_running"] = vm["state"] == "running"
            vm["state"] = "stopping"
            act["stop_lab"], act["stop_real"] = now, time.time()
        if when == "done" and msg == "stopping the instance":
            vm["state"] = "stopped"
            summary["source_checksum_at_stop"] = self._checksum_off_clock(act, rec["source_server_uuid"], vm)
        if when == "done" and msg == "filesytem sync finished, switching instances":
            summary["target_checksum_after_sync"] = self._checksum_off_clock(act, rec["target_server_uuid"], vm)
            summary["data_intact"] = summary["target_checksum_after_sync"] == summary["source_checksum_at_stop"]
            if self._fault(rec, "switch", act, now, 0.0):
                vm["state"] = "running" if act.get("was_running") else "stopped"
                self.w._save("vms", vm["uuid"])
                self.w.actions.finish(rec, ok=False, error="lab fault: injected switch failure")
                return False
        if when == "done" and msg == "hiding the original instance":
            pass  # the source half keeps its dataset at zones/<source>/<uuid>, hidden from listings
        if when == "done" and msg == "promoting the migrated instance":
            vm["server_uuid"] = rec["target_server_uuid"]
            vm["updated"] = iso(self.w.wall())
        if when == "done" and msg == "starting the migrated instance":
            vm["state"] = "running" if act.get("was_running", True) else "stopped"
            if summary:
                summary["downtime_lab_seconds"] = round(now - act["stop_lab"], 3)
                summary["downtime_real_seconds"] = round(time.time() - act["stop_real"], 3)
                summary["switched"] = round(now, 3)
                summary["switched_real"] = round(time.time(), 3)
        self.w._save("vms", vm["uuid"])
        return True

    def _checksum_off_clock(self, act, server_uuid, vm):
        """The dataset's checksum; the time the lab spends computing it is not counted as downtime."""
        t0 = time.monotonic()
        digest = tree_checksum(self.w._ds(server_uuid, vm["uuid"]))
        spent = time.monotonic() - t0
        act["stop_lab"] += spent / self.w.time_scale
        act["stop_real"] += spent
        act["step_started"] += spent / self.w.time_scale
        return digest

    def _rollback_step(self, rec, act, msg, when):
        vm = self.w.vms[rec["vm_uuid"]]
        if when == "enter" and msg == "stopping the instance":
            act["was_running"] = vm["state"] == "running"
            if self._fault(rec, "rollback", act, self.w.lab_now() + 1e9, 0):
                self.w.actions.finish(rec, ok=False, error="lab fault: injected rollback failure")
                return False
            vm["state"] = "stopping"
        if when == "done" and msg == "stopping the instance":
            vm["state"] = "stopped"
        if when == "done" and msg == "promoting the original instance":
            vm["server_uuid"] = rec["source_server_uuid"]
            vm["updated"] = iso(self.w.wall())
        if when == "done" and msg == "removing the migrated instance":
            shutil.rmtree(self.w._ds(rec["target_server_uuid"], vm["uuid"]), ignore_errors=True)
            rec["_lab"]["target_reserved"] = False
        if when == "done" and msg == "starting the original instance":
            vm["state"] = "running" if act.get("was_running") else "stopped"
        self.w._save("vms", vm["uuid"])
        return True

    def _set_progress(self, rec, event, final=False):
        """Record the latest progress event, and log it for watchers at the vendor's cadence (one
        event per lab second and kind, as cn-agent sends one a second; the last of a sync always)."""
        ev = {"type": "progress"}
        ev.update(event)
        if ev == self.w.progress.get(rec["vm_uuid"]):
            return
        self.w.progress[rec["vm_uuid"]] = ev
        rec["_lab"]["progress"] = ev
        log_ = rec["_lab"].setdefault("events", [])
        seq = rec["_lab"].get("seq", 0) + 1
        rec["_lab"]["seq"] = seq
        now = self.w.lab_now()
        last = log_[-1] if log_ else None
        if (last and not last["final"] and now - last["lab_t"] < 1.0
                and (last["event"].get("phase"), last["event"].get("message")) == (ev.get("phase"), ev.get("message"))):
            last.update(seq=seq, event=ev, final=final)
        else:
            log_.append({"seq": seq, "lab_t": now, "event": ev, "final": final})
            del log_[:-200]
        self.w._save("migrations", rec["id"])

    def events_since(self, vm_uuid, seq):
        """(progress events logged after seq, the last seq) for a watcher."""
        with self.w.lock:
            rec = self.w.record_of(vm_uuid) or self.w.last_record.get(vm_uuid)
            if not rec:
                return [], seq
            log_ = rec["_lab"].get("events", [])
            return [e["event"] for e in log_ if e["seq"] > seq], rec["_lab"].get("seq", 0)

    # ------------------------------------------------------------------ watch support
    def watch_snapshot(self, vm_uuid):
        """(record-or-None, whether it is live, latest progress event, the event log's last seq), all from one
        moment under the lock: a watcher that sends the latest event and then asks for the events after that
        seq misses none (an event logged between two separate reads was lost: a sync's last event, the 100%)."""
        def light(r):  # what a watcher needs, without the lab's bookkeeping (manifest, event log)
            return {"phase": r["phase"], "state": r["state"], "error": r.get("error"),
                    "progress_history": [dict(e) for e in r["progress_history"]]}
        with self.w.lock:
            rec = self.w.record_of(vm_uuid)
            live = rec is not None
            if rec is None:
                rec = self.w.last_record.get(vm_uuid)
            seq = rec["_lab"].get("seq", 0) if rec else 0
            return (light(rec) if rec else None), live, self.w.progress.get(vm_uuid), seq
