"""What the control server does for each command: the semantics shared by vfcli-ctrl and the REST API.

Vendor semantics [vendor: seed, "Server Migration" guide]: re-running ``start`` for a server with a
running migration re-attaches to it; after a failure the same command (or ``start --server=ID``)
tries again; once complete, ``start --dst`` answers that the server is already on the destination
and ``start`` without ``--dst`` asks to "Specify a destination hypervisor ID"; ``abort`` only while
data is transferring (the migration then fails, and ``cancel`` exits it); ``cancel`` up to a
successful data transfer; ``data-success-force`` marks the data transfer complete (then ``start``
completes the migration); ``cancel-force`` cancels while skipping the checks. Every failing
pre-check is reported at once and nothing changes.
"""
import copy
import logging
import time

from lab.virtfusion.options import LIVE_OPTIONS, validate_live_options
from lab.virtfusion.world import VfError

log = logging.getLogger("lab.virtfusion.service")


def _ts(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None


def migration_view(world, mig):
    """The public JSON of a migration (vfcli-ctrl --json, the REST API, /_lab/migrations)."""
    s = world.servers.get(mig["server"], {})
    q = mig.get("qemu") or {}
    final = q.get("final") or {}
    prog = q.get("progress") or {}
    opts = mig["options"]
    view = {
        "id": mig["id"], "type": mig["kind"], "serverId": mig["server"], "serverName": s.get("name"),
        "serverUuid": s.get("uuid"), "sourceId": mig["src"], "destinationId": mig["dst"],
        "status": "failed" if mig["status"] == "cancelled" else mig["status"],
        "cancelled": mig["cancelled"], "aborted": mig["aborted"], "dataTransfer": mig["data"],
        "dataLost": mig["data_lost"], "attempts": mig["attempts"],
        "steps": [{"key": st["key"], "name": st["name"], "status": st["status"], "message": st["message"],
                   "startedAt": _ts(st["started"]), "finishedAt": _ts(st["finished"])} for st in mig["steps"]],
        "errors": list(mig["errors"]), "startedAt": _ts(mig["created"]), "finishedAt": _ts(mig["finished"]),
        "options": ({LIVE_OPTIONS[k][0]: v for k, v in opts.items() if k in LIVE_OPTIONS} if mig["kind"] == "live"
                    else dict(opts)),
    }
    if mig["kind"] == "live":
        view["qemu"] = {
            "capabilities": q.get("capabilities"), "parameters": q.get("parameters"),
            "status": final.get("status") or prog.get("status"),
            "downtimeMs": final.get("downtime_ms"), "totalTimeMs": final.get("total_time_ms"),
            "setupTimeMs": final.get("setup_time_ms"), "transferredBytes": final.get("transferred_bytes"),
            "downtimeBytes": final.get("downtime_bytes"), "precopyBytes": final.get("precopy_bytes"),
            "postcopyBytes": final.get("postcopy_bytes"), "dirtySyncCount": final.get("dirty_sync_count"),
            "maxDirtyPagesRate": q.get("max_dirty_pages_rate"),
            "maxDirtyRateMiBs": round((q.get("max_dirty_pages_rate") or 0) * 4096 / 1048576, 2),
            "maxThrottlePercent": q.get("max_throttle"), "postcopyStartedMs": q.get("postcopy_started_ms"),
            "progress": {"transferredBytes": prog.get("transferred"), "remainingBytes": prog.get("remaining"),
                         "totalBytes": prog.get("total"), "dirtyPagesRate": prog.get("dirty_pages_rate"),
                         "throttlePercent": prog.get("throttle"), "elapsedMs": prog.get("t_ms")} if prog else None,
            "samples": q.get("samples") or [],
        }
        view["diskCopiedBytes"] = (mig.get("disks") or {}).get("copied_bytes")
    else:
        d = mig.get("disks") or {}
        view["disks"] = {"stage1Bytes": d.get("stage1_bytes"), "stage2Bytes": d.get("stage2_bytes"),
                         "stage1Chunks": d.get("stage1_chunks"), "stage2Chunks": d.get("stage2_chunks"),
                         "guestWritesDuringStage1": d.get("guest_writes_during_stage1"),
                         "verified": d.get("verified", False)}
        view["downtimeMs"] = mig.get("downtime_ms")
    return view


class Service:
    def __init__(self, world, engine):
        self.world = world
        self.engine = engine

    # ------------------------------------------------------------------ helpers
    def _last_live(self, sid, command):
        mig = self.world.last_migration(sid, kind="live")
        if mig is None:
            raise VfError(404, f"No live migration found for server {sid}")
        return mig

    def _resume(self, mig):
        """Try a failed migration again: from after the data transfer if it succeeded, else from the top."""
        w = self.world
        with w.lock:
            if mig["data"] == "success":
                for st in mig["steps"]:
                    if st["status"] != "complete":
                        st.update(status="pending", started=None, finished=None, message="")
            else:
                for st in mig["steps"]:
                    st.update(status="pending", started=None, finished=None, message="")
                mig["data"] = "pending"
                mig["aborted"] = False
            mig["status"] = "in-progress"
            mig["finished"] = None
            mig["attempts"] += 1
            w.debug(mig, f"start re-run: attempt {mig['attempts']}")
            w.save_migration(mig["id"])
        self.engine.start_migration(mig)

    # ------------------------------------------------------------------ live
    def live_start(self, server_id, dst_id, raw_options, names="cli", via="cli"):
        """Start (or re-attach to, or resume) a live migration. Returns (action, migration view)."""
        w = self.world
        opts, errors = validate_live_options(raw_options, names)
        if errors:
            raise VfError(400, errors)
        with w.lock:
            s = w.server(server_id)
            sid = s["id"]
            if dst_id is not None:
                dst = w.hypervisor(dst_id, "destination hypervisor")["id"]
            else:
                dst = None
            last = w.last_migration(sid)
            if last is not None and last["status"] == "in-progress":
                if last["kind"] != "live":
                    raise VfError(409, f"Server {sid} has a hybrid migration in progress")
                if dst is not None and dst != last["dst"]:
                    raise VfError(409, f"Server {sid} is being migrated to hypervisor {last['dst']}, not {dst}")
                return "attached", migration_view(w, last)
            if last is not None and last["kind"] == "live" and last["status"] == "failed":
                if dst is not None and dst != last["dst"]:
                    raise VfError(409, f"Server {sid} has a failed migration to hypervisor {last['dst']}; cancel it "
                                       f"first (server:migrate-live cancel --server={sid})")
                resume = last
            else:
                resume = None
        if resume is not None:
            self._resume(resume)
            return "resumed", migration_view(w, resume)
        with w.lock:
            if dst is None:
                raise VfError(400, "Specify a destination hypervisor ID")
            if s["hypervisor"] == dst:
                raise VfError(409, f"Server {sid} is already on the destination hypervisor {dst}")
            problems = w.prechecks(s, dst, "live", opts["force_offline"])
            if problems:
                w.bump("precheck_refusals")
                raise VfError(422, problems)
            mig = w.new_migration("live", s, dst, opts, via)
            w.debug(mig, f"start: server {sid} from hypervisor {s['hypervisor']} to {dst} (via {via}), "
                         f"options {opts}")
        self.engine.start_migration(mig)
        log.info("live migration %s: server %s %s -> %s (via %s)", mig["id"], sid, mig["src"], dst, via)
        return "started", migration_view(w, mig)

    def live_status(self, server_id):
        w = self.world
        with w.lock:
            s = w.server(server_id)
            return migration_view(w, self._last_live(s["id"], "last-status"))

    def live_debug(self, server_id):
        w = self.world
        with w.lock:
            s = w.server(server_id)
            mig = self._last_live(s["id"], "last-debug")
            return {"id": mig["id"], "serverId": s["id"], "debug": list(mig["debug"])}

    def live_abort(self, server_id):
        w = self.world
        with w.lock:
            s = w.server(server_id)
            mig = self._last_live(s["id"], "abort")
            transfer = w.step(mig, "transfer")
            if not (mig["status"] == "in-progress" and transfer["status"] == "in-progress"
                    and mig["data"] == "transferring"):
                when = ("the data transfer has not started yet" if mig["data"] == "pending"
                        and mig["status"] == "in-progress" else "it is not transferring data")
                raise VfError(409, f"The migration of server {s['id']} can't be aborted: {when}. A migration can "
                                   "only be aborted while its data transfer is running.")
        self.engine.request_abort(mig)
        with w.lock:
            return migration_view(w, mig)

    def live_cancel(self, server_id, force=False):
        w = self.world
        with w.lock:
            s = w.server(server_id)
            mig = self._last_live(s["id"], "cancel-force" if force else "cancel")
            if mig["status"] == "complete":
                raise VfError(409, f"The migration of server {s['id']} is complete and can't be cancelled")
            if mig["status"] == "cancelled":
                raise VfError(409, f"The migration of server {s['id']} is already cancelled")
            if not force:
                if mig["data"] == "success":
                    raise VfError(409, f"The data transfer of server {s['id']} has succeeded: the migration can no "
                                       "longer be cancelled; run start again to complete it")
                if mig["status"] == "in-progress" and mig["data"] == "transferring":
                    raise VfError(409, f"The migration of server {s['id']} is still transferring data; abort it "
                                       "first (server:migrate-live abort)")
                g = self.engine.guests.get(s["id"])
                if mig["server_state"] not in ("offline", "awaiting_setup") and (g is None or not g.alive()):
                    raise VfError(409, f"Server {s['id']} is not online on the source hypervisor; use cancel-force "
                                       "if you are sure the data transfer failed")
        if force and self.engine.running(mig["id"]):
            self.engine.request_abort(mig, timeout=10)
        self.engine.cleanup_cancelled(mig, force=force)
        with w.lock:
            return migration_view(w, mig)

    def data_success_force(self, server_id):
        w = self.world
        with w.lock:
            s = w.server(server_id)
            mig = self._last_live(s["id"], "data-success-force")
            if mig["status"] != "failed":
                raise VfError(409, f"The migration of server {s['id']} is {mig['status']}: only a failed migration's "
                                   "data status can be forced")
            if mig["data"] == "success":
                raise VfError(409, f"The data transfer of server {s['id']} is already marked complete; run start "
                                   "to complete the migration")
            mig["data"] = "success"
            for st in mig["steps"]:
                if st["key"] in ("precheck", "filters", "prepare", "transfer"):
                    st.update(status="complete", message=st["message"] if st["status"] == "complete"
                              else "marked complete by data-success-force")
            w.debug(mig, "data-success-force: data transfer marked complete")
            w.save_migration(mig["id"])
            return migration_view(w, mig)

    def servers_on(self, src_id):
        w = self.world
        with w.lock:
            hv = w.hypervisor(src_id, "source hypervisor")
            return [{"id": s["id"], "name": s["name"], "uuid": s["uuid"]} for s in w.servers_on(hv["id"])]

    # ------------------------------------------------------------------ hybrid (REST; the UI's path)
    def hybrid_destination(self, server_id, dst_id):
        w = self.world
        with w.lock:
            s = w.server(server_id)
            dst = w.hypervisor(dst_id, "destination hypervisor")
            problems = w.prechecks(s, dst["id"], "hybrid")
            disks = []
            for d in s["disks"]:
                mount = w.storage_mount(s["hypervisor"], d["storage"])
                options = [{"storageId": st["id"], "mount": st["mount"], "enabled": st["enabled"]}
                           for st in dst["storage"]]
                match = next((st["id"] for st in dst["storage"] if st["mount"] == mount), None)
                disks.append({"drive": d["drive"], "size": d.get("api_size", d["size"]), "sourceStorageId": d["storage"], "mount": mount,
                              "storage": options, "suggestedStorageId": match})
            body = {"destinationId": dst["id"],
                    "disks": [{"drive": d["drive"], "storageId": d["suggestedStorageId"]} for d in disks
                              if d["suggestedStorageId"] is not None],
                    "compress": False, "speedLimit": 0}
            # [vendor: "Resource, storage and networking detail for one destination, plus ready-to-send start
            # bodies"; the field names are the lab's]; rich: the lab's pre-check verdict too [lab assumption]
            data = {"serverId": s["id"], "destinationId": dst["id"], "destinationName": dst["name"], "disks": disks,
                    "networking": {"ipRanges": dst["ip_ranges"], "ips": [ip for n in s["nics"] for ip in n["ips"]]},
                    "memory": s.get("api_memory", s["memory"]),
                    "startBodies": [body] if all(d["suggestedStorageId"] is not None for d in disks) else []}
            if w.rich:
                data.update(available=not problems, problems=problems)
            return {"data": data}

    def hybrid_start(self, server_id, body):
        w = self.world
        if not isinstance(body, dict):
            raise VfError(400, "JSON object expected")
        errors = []
        dst_id = body.get("destinationId")
        if isinstance(dst_id, bool) or not isinstance(dst_id, int):
            errors.append(f"destinationId is required (a hypervisor id), got {dst_id!r}")
        disks = body.get("disks")
        if not isinstance(disks, list) or not disks:
            errors.append("disks is required: a list of {drive, storageId}, one per disk of the server")
            disks = []
        for i, d in enumerate(disks):
            if not isinstance(d, dict) or not isinstance(d.get("drive"), str) or isinstance(d.get("storageId"), bool) \
                    or not isinstance(d.get("storageId"), int):
                errors.append(f"disks[{i}] must be {{drive: string, storageId: integer}}, got {d!r}")
        compress = body.get("compress", False)
        if not isinstance(compress, bool):
            errors.append(f"compress must be true or false, got {compress!r}")
        speed = body.get("speedLimit", 0)
        if speed is False or speed is None:
            speed = 0
        if isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed <= 625000:
            errors.append(f"speedLimit must be 0 (unlimited) to 625000 (KB/s), got {speed!r}")
        for key in ("sendMail", "altIPv4"):
            if key in body and not isinstance(body[key], bool):
                errors.append(f"{key} must be true or false, got {body[key]!r}")
        if errors:
            raise VfError(422, errors)
        with w.lock:
            s = w.server(server_id)
            dst = w.hypervisor(dst_id, "destination hypervisor")
            last = w.last_migration(s["id"])
            if last is not None and last["status"] == "in-progress":
                raise VfError(409, f"Server {s['id']} has a {last['kind']} migration in progress")
            if s["hypervisor"] == dst["id"]:
                raise VfError(409, f"Server {s['id']} is already on the destination hypervisor {dst['id']}")
            drives = {d["drive"]: d for d in s["disks"]}
            given = {d["drive"]: d["storageId"] for d in disks}
            problems = [f"disks: drive {x} is not a drive of server {s['id']} ({', '.join(sorted(drives))})"
                        for x in sorted(set(given) - set(drives))]
            problems += [f"disks: drive {x} of server {s['id']} has no destination storage" for x in
                         sorted(set(drives) - set(given))]
            for drive, sto in sorted(given.items()):
                st = next((x for x in dst["storage"] if x["id"] == sto), None)
                if st is None:
                    problems.append(f"disks: storage {sto} (drive {drive}) is not a storage of hypervisor {dst['id']}")
                elif drive in drives and st["mount"] != w.storage_mount(s["hypervisor"], drives[drive]["storage"]):
                    problems.append(f"disks: storage {sto} of hypervisor {dst['id']} is mounted at {st['mount']}, "
                                    f"not at the drive's mount point "
                                    f"{w.storage_mount(s['hypervisor'], drives[drive]['storage'])} [lab limit]")
            problems += w.prechecks(s, dst["id"], "hybrid")
            if problems:
                w.bump("precheck_refusals")
                raise VfError(422, problems)
            opts = {"disks": [{"drive": k, "storageId": v} for k, v in sorted(given.items())], "compress": compress,
                    "speed_limit": speed, "sendMail": bool(body.get("sendMail", False)),
                    "altIPv4": bool(body.get("altIPv4", False))}
            mig = w.new_migration("hybrid", s, dst["id"], opts, "api")
        self.engine.start_migration(mig)
        log.info("hybrid migration %s: server %s %s -> %s", mig["id"], s["id"], mig["src"], dst["id"])
        with w.lock:
            return migration_view(w, mig)

    def last_of_server(self, server_id):
        """The server's last migration of either kind (admin)."""
        w = self.world
        with w.lock:
            s = w.server(server_id)
            mig = w.last_migration(s["id"])
            if mig is None:
                raise VfError(404, f"No migration found for server {s['id']}")
            return migration_view(w, mig)

    def migration(self, mid):
        w = self.world
        with w.lock:
            mig = w.migrations.get(mid)
            if mig is None:
                raise VfError(404, f"Migration {mid} not found")
            view = migration_view(w, mig)
            view["debug"] = list(mig["debug"])
            view["lab_started"], view["lab_finished"] = mig["created"], mig["finished"]   # epoch seconds [lab]
            view["internal"] = copy.deepcopy({k: mig[k] for k in ("status", "data", "disks")})
            return view
