"""The Triton world's ``actions`` part: the migration actions (VMAPI migrate: begin, sync, switch, pause, abort,
rollback, finalize, estimate): validation with the vendor's messages, the records, starting and finishing an
action. The ``simulation`` part advances a started action and calls ``finish`` when it ends."""
import copy
import shutil
import time
import uuid as uuidlib

from lab.part import Part
from lab.triton.common import ACTIONS, ApiError, PHASE_MESSAGES, iso, log, precondition, tree_manifest


class MigrationActions(Part):
    """The migration actions (``world.actions``): the world's instances and migration records through ``self.w``,
    under its lock."""

    # ------------------------------------------------------------------ migration actions
    def migrate(self, vm_uuid, action, owner_uuid=None, automatic=False, override=None):
        """Validate and start a migration action, as VMAPI's migrateVm does.

        Returns (kind, payload): ("started", translated record with phase/state of the new action),
        ("finalized", None), ("estimate", {"size"}), ("early_abort", record).
        """
        with self.w.lock:
            vm = self.w.vms.get(vm_uuid)
            if not vm or (owner_uuid and vm["owner_uuid"] != owner_uuid):
                raise ApiError(404, "ResourceNotFound", "VM not found")
            if action not in ACTIONS:
                raise ApiError(409, "InvalidArgument", "Invalid migration action")
            rec = self.w.record_of(vm_uuid)
            if rec is None and action not in ("begin", "estimate"):
                raise ApiError(404, "ResourceNotFound", "migration not found")
            if action in ("begin", "estimate"):
                self._validate_begin(vm, rec, owner_uuid)
                if action == "estimate":
                    src = self.w._ds(vm["server_uuid"], vm_uuid)
                    return "estimate", {"size": sum(s for s, _m in tree_manifest(src).values())}
            else:
                self._validate_action(rec, action)
            if action == "finalize":
                return "finalized", self._finalize(rec)
            if action == "abort" and not rec.get("target_server_uuid"):
                self._delete_record(rec, "abort")
                return "early_abort", rec
            if action == "begin":
                rec = self._new_or_retry_record(vm, rec, owner_uuid, automatic, override)
            self._start_action(rec, action)
            view = self.w.migration_view(rec)
            view["phase"], view["state"] = action, "running"
            self.w._flush()
            return "started", view

    def _validate_begin(self, vm, rec, owner_uuid):
        if owner_uuid:
            allowed = self.w.cfg["user_migration_allowed"] is True
            if "user_migration_allowed" in vm["internal_metadata"]:
                allowed = vm["internal_metadata"]["user_migration_allowed"] is True
            if not allowed:
                raise precondition("User migration on this VM not allowed")
        if rec:
            hist = rec["progress_history"]
            retry = (rec["phase"] == "begin" and rec["state"] == "failed" and hist and hist[-1]["phase"] == "begin")
            if rec["state"] == "successful":
                raise precondition("A previous migration exists for this instance, use migration finalize to "
                                   "complete it.")
            if not retry:
                raise precondition("An active migration already exists for this instance")
        if vm["tags"].get("smartdc_type") == "core" and vm["tags"].get("smartdc_role") != "nat":
            raise precondition("Cannot migrate a core instance")

    @staticmethod
    def _validate_action(rec, action):
        phase, state = rec["phase"], rec["state"]
        if action == "abort" and state in ("running", "successful"):
            raise precondition(f"Abort cannot work on a {state} migration")
        if action == "finalize" and state != "successful":
            raise precondition("Finalize only works on a successful migration")
        if action == "pause" and (phase != "sync" or state != "running"):
            raise precondition("Pause requires a running migration sync action")
        if action == "rollback" and state != "successful":
            raise precondition("Rollback only works on a successful migration")
        if action == "switch":
            if phase not in ("begin", "sync"):
                raise precondition(f"Cannot switch in migration phase: {phase}")
            if state not in ("paused", "failed"):
                raise precondition(f"Cannot switch in migration state: {state}")
            if not rec["num_sync_phases"]:
                raise precondition('You must perform at least one "migration sync" operation before switching')
        if action == "sync":
            if state not in ("paused", "failed"):
                raise precondition(f"Cannot sync in migration state: {state}")
            if not ((phase == "begin" and state == "paused") or phase == "sync"):
                raise precondition(f"Cannot sync when in migration phase: {phase}")

    def _new_or_retry_record(self, vm, rec, owner_uuid, automatic, override):
        now = self.w.wall()
        if rec is None:
            rec = {"id": str(uuidlib.uuid4()), "vm_uuid": vm["uuid"], "target_vm_uuid": vm["uuid"],
                   "owner_uuid": owner_uuid or vm["owner_uuid"], "automatic": bool(automatic),
                   "created_timestamp": iso(now), "num_sync_phases": 0, "phase": "begin", "state": "running",
                   "progress_history": [], "source_server_uuid": vm["server_uuid"], "target_server_uuid": None,
                   "_lab": {"manifest": {}, "override": override, "summary": None}}
            self.w.migrations[rec["id"]] = rec
            summary = {"id": rec["id"], "automatic": bool(automatic), "source_server": vm["server_uuid"],
                       "target_server": None, "result": "running", "syncs": [], "bytes_sent": 0,
                       "downtime_lab_seconds": None, "downtime_real_seconds": None, "source_checksum_at_stop": None,
                       "target_checksum_after_sync": None, "data_intact": None, "started": round(self.w.lab_now(), 3),
                       "switched": None, "ended": None, "started_real": round(time.time(), 3), "switched_real": None,
                       "ended_real": None}
            vm["_lab"]["history"].append(summary)
            self.w._save("vms", vm["uuid"])
        elif override:
            rec["_lab"]["override"] = override
        return rec

    def summary(self, rec):
        """The lab's summary of this migration in its instance's history ({} when the instance is gone)."""
        vm = self.w.vms.get(rec["vm_uuid"])
        if not vm:
            return {}
        for s in vm["_lab"]["history"]:
            if s["id"] == rec["id"]:
                return s
        return {}

    def _start_action(self, rec, action):
        now_lab, now = self.w.lab_now(), self.w.wall()
        rec.pop("error", None)
        prev = rec["_lab"].get("action")
        if action == "pause" and prev and prev["kind"] == "sync":
            # the running sync stops where it is: what it copied stays (the next sync sends the rest)
            if "sync" in prev:
                self.w.simulation.end_sync(rec, prev)
            entry = rec["progress_history"][-1]
            entry.update(state="failed", error="sync paused", finished_timestamp=iso(now), _finished_wall=now)
        rec["phase"], rec["state"] = action, "running"
        rec.setdefault("started_timestamp", iso(now))
        rec["progress_history"].append({"type": "progress", "message": PHASE_MESSAGES[action], "phase": action,
                                        "state": "running", "started_timestamp": iso(now), "_started_wall": now,
                                        "current_progress": 1, "total_progress": 100})
        act = {"kind": action, "started": now_lab, "step": 0, "step_started": now_lab, "carry": 0.0}
        rec["_lab"]["action"] = act
        self.w.progress.pop(rec["vm_uuid"], None)
        rec["_lab"]["progress"] = None
        self.w.last_record[rec["vm_uuid"]] = rec
        self.w._save("migrations", rec["id"])
        log.info("migration %s of %s: %s started", rec["id"], rec["vm_uuid"], action)

    def finish(self, rec, ok=True, error=None, next_action=None):
        """The running action of ``rec`` ends (successful, or failed with ``error``); ``next_action`` starts."""
        now = self.w.wall()
        act = rec["_lab"].pop("action", None) or {}
        entry = rec["progress_history"][-1]
        entry["finished_timestamp"], entry["_finished_wall"] = iso(now), now
        entry["state"] = "successful" if ok else "failed"
        entry["current_progress"] = entry["total_progress"] if ok else entry.get("current_progress", 1)
        rec["finished_timestamp"] = iso(now)
        kind = act.get("kind", rec["phase"])
        summary = self.summary(rec)
        if not ok:
            rec["state"] = "failed"
            rec["error"] = f"failed to {kind} migration instance - {error}"
            entry["error"] = error
            if kind == "switch":
                rec["phase"] = "sync"
            if summary:
                summary["result"] = "failed"
                summary["failed_real"] = round(time.time(), 3)
            log.info("migration %s: %s failed: %s", rec["id"], kind, error)
        elif kind in ("abort", "rollback"):
            rec["state"] = "successful"
            if summary:
                summary["result"] = "aborted" if kind == "abort" else "rolled_back"
                summary["ended"] = round(self.w.lab_now(), 3)
                summary["ended_real"] = round(time.time(), 3)
            self._delete_record(rec, kind)
            return
        elif kind == "switch":
            rec["state"] = "successful"
            if summary:
                summary["result"] = "switched"
        elif kind == "pause":
            rec["phase"], rec["state"] = "sync", "paused"
            if summary:
                summary["result"] = "paused"
        else:
            if kind == "sync":
                rec["num_sync_phases"] += 1
            rec["state"] = "running" if next_action else "paused"
            if summary and not next_action:
                summary["result"] = "paused"
        self.w._save("migrations", rec["id"])
        self.w._save("vms", rec["vm_uuid"])
        if ok and next_action:
            self._start_action(rec, next_action)

    def _delete_record(self, rec, kind):
        self.w.last_record[rec["vm_uuid"]] = copy.deepcopy(rec)
        self.w.last_record[rec["vm_uuid"]]["phase"] = kind
        self.w.last_record[rec["vm_uuid"]]["state"] = "successful"
        self.w.migrations.pop(rec["id"], None)
        self.w._mark("migrations", rec["id"], None)
        self.w._save("vms", rec["vm_uuid"])

    def _finalize(self, rec):
        vm = self.w.vms[rec["vm_uuid"]]
        delay = float(self.w.cfg["timing"]["finalize"]) * self.w.time_scale
        src = self.w._ds(rec["source_server_uuid"], vm["uuid"])
        shutil.rmtree(src, ignore_errors=True)
        summary = self.summary(rec)
        if summary:
            summary["result"] = "finalized"
            summary["ended"] = round(self.w.lab_now() + float(self.w.cfg["timing"]["finalize"]), 3)
            summary["ended_real"] = round(time.time() + delay, 3)
        self._delete_record(rec, "finalize")
        self.w._flush()
        log.info("migration %s of %s finalized", rec["id"], vm["uuid"])
        return delay
