# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The VirtFusion provider of ``instance_migrate``: live migration through ``vfcli-ctrl`` on the
control server (the vendor's way: "Live migration is currently managed via CLI"), hybrid migration
through the REST API (``POST /servers/{id}/migrate/hybrid``, as the vendor's API offers since 7.1.0).

The vendor's model (the seed's "Server Migration" guide) is this provider's state machine:

- ``state: migrated`` runs ``start --server=S --dst=D --detach --json`` and follows the migration's
  steps with ``last-status --json`` until it ends. Already on the destination: nothing to do
  (``changed: false``). A running migration to the same destination is re-attached to, never started
  twice; one to another destination is an error. A failed one is tried again with the same ``start``
  (the vendor's retry: from after the data transfer when that succeeded). With
  ``force_may_lose_data: data_success`` a failed migration whose data transfer is not marked complete
  is first marked complete with ``data-success-force`` (the vendor: "may result in data loss").
- ``state: cancelled`` runs ``cancel`` (the vendor allows it up to a successful data transfer); while
  data is transferring it first runs ``abort`` (``cancel`` is refused then), then ``cancel``. With
  ``force_may_lose_data: cancel`` it runs ``cancel-force`` instead (the checks skipped).
- ``state: aborted`` runs ``abort``, which the vendor allows only while the data transfer runs; the
  migration is then ``failed`` with ``aborted: true`` (exit it with ``state: cancelled``).

The force commands are never sent unless ``force_may_lose_data`` asks for them.

Pre-checks without side effects: ``vfcli-ctrl`` has no dry run (``start`` runs the pre-checks and
starts), so check mode and the up-front check of an evacuation read the REST API's hybrid
destination check (``GET /servers/{id}/migrate/hybrid/destinations/{hv}``, a vendor path whose
``problems`` list is the lab's shape) and add the live-only "server online" check from the server's
state. The QEMU-measured downtime and bytes of a live migration come from ``last-status --json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import human_bytes
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import (
    DONE,
    Migration,
    MigrationError,
    MigrationProvider,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import (
    HAS_PARAMIKO,
    VirtFusionClient,
    VirtFusionError,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import (
    hybrid_speed_limit,
    live_cli_options,
    resolve_connection,
    validate_migration_options,
    virtfusion_argument_spec,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import poll_sleeps

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # reported when the provider is built
    jmespath = None
    HAS_JMESPATH = False

if HAS_JMESPATH:
    # what QEMU measured, from a migration's JSON (vfcli-ctrl --json, the lab's MIGRATION shape)
    MEASURED = jmespath.compile(
        "{downtime_ms: qemu.downtimeMs, max_downtime_ms: qemu.parameters.\"downtime-limit\", "
        "total_time_ms: qemu.totalTimeMs, setup_time_ms: qemu.setupTimeMs, transferred_bytes: qemu.transferredBytes, "
        "precopy_bytes: qemu.precopyBytes, postcopy_bytes: qemu.postcopyBytes, downtime_bytes: qemu.downtimeBytes, "
        "dirty_sync_count: qemu.dirtySyncCount, max_throttle_percent: qemu.maxThrottlePercent, "
        "max_dirty_rate_mib_s: qemu.maxDirtyRateMiBs, postcopy_started_ms: qemu.postcopyStartedMs, "
        "qemu_status: qemu.status, capabilities: qemu.capabilities, disk_copied_bytes: diskCopiedBytes, "
        "attempts: attempts, data_lost: dataLost}")
    STARTED_STEPS = jmespath.compile("steps[?status != 'pending'].{key: key, name: name, status: status, "
                                     "message: message}")
    SERVER_IDS = jmespath.compile("servers[].id")


def _err(exc, what):
    return MigrationError("%s: %s" % (what, exc.reason), reason=exc.reason, status=exc.status)


class VirtFusionProvider(MigrationProvider):
    name = "virtfusion"
    credentials_option = "virtfusion_credentials"
    states = ("migrated", "cancelled", "aborted")
    start_actions = ("start", "hybrid")
    POLL_SECONDS = 1.0   # the longest pause between two status reads while waiting

    def __init__(self, params, client=None, cache=None):
        super(VirtFusionProvider, self).__init__(params)
        if not HAS_PARAMIKO or not HAS_JMESPATH:
            raise MigrationError("provider=virtfusion needs the Python libraries paramiko and jmespath on the host "
                                 "that runs the module (pip install paramiko jmespath); missing: %s" % ", ".join(
                                     n for n, ok in (("paramiko", HAS_PARAMIKO), ("jmespath", HAS_JMESPATH)) if not ok))
        try:
            self.conn = resolve_connection(params)
            self.opts = validate_migration_options(params)
        except ValueError as exc:
            raise MigrationError(str(exc))
        self.mode = self.opts["mode"]
        self.force = self.opts.get("force_may_lose_data")
        self.client = client or VirtFusionClient(self.conn)
        # shared with forks: hypervisors by id, server ids by name, the hybrid starts' answers
        self._cache = cache if cache is not None else {"lock": threading.Lock(), "hypervisors": None,
                                                       "names": None, "started": {}}

    @classmethod
    def argument_spec(cls):
        return virtfusion_argument_spec()

    @classmethod
    def check_params(cls, params):
        if params.get("state") == "migrated" and not params.get("target_server"):
            return ["target_server (the destination hypervisor, id or name) is required with provider=virtfusion and "
                    "state=migrated: VirtFusion has no allocator"]
        return []

    def fork(self):
        self.hypervisors()
        return VirtFusionProvider(self.params, client=self.client.fork(), cache=self._cache)

    def api_stats(self):
        return dict(self.client.stats)

    def on_wait(self, callback):
        self.client.on_wait(callback)

    # -- hypervisors -------------------------------------------------------------------------------
    def hypervisors(self):
        with self._cache["lock"]:
            if self._cache["hypervisors"] is None:
                try:
                    items = (self.client.rest("GET", "/hypervisors") or {}).get("data") or []
                except VirtFusionError as exc:
                    raise _err(exc, "listing the hypervisors (REST API)")
                self._cache["hypervisors"] = dict((h["id"], h) for h in items)
            return dict(self._cache["hypervisors"])

    def resolve_server(self, value):
        if value in (None, ""):
            return None, None
        hvs = self.hypervisors()
        for h in hvs.values():
            if str(value).strip() in (str(h["id"]), h.get("name")):
                return h["id"], h.get("name")
        raise MigrationError(not_found("hypervisor", value, [h.get("name") or str(h["id"]) for h in hvs.values()]) +
                             " (by id or name)")

    def _hv_name(self, hid):
        h = self.hypervisors().get(hid)
        return h.get("name") if h else None

    # -- servers -----------------------------------------------------------------------------------
    @staticmethod
    def _inst(doc):
        return {"id": doc["id"], "name": doc.get("name") or str(doc["id"]), "uuid": doc.get("uuid"),
                "server": doc.get("hypervisorId"), "server_name": doc.get("hypervisorName"),
                "state": doc.get("state"), "ram": doc.get("memory"), "disk": None,
                "last_migration": doc.get("migration")}

    def _server_doc(self, sid):
        try:
            return (self.client.rest("GET", "/servers/%s" % sid) or {}).get("data")
        except VirtFusionError as exc:
            if exc.status == 404:
                return None
            raise _err(exc, "reading server %s (REST API)" % sid)

    def _names(self):
        """Server name -> ids, from ``servers --src`` of every hypervisor (the CLI's server list)."""
        with self._cache["lock"]:
            names = self._cache["names"]
        if names is not None:
            return names
        names = {}
        for hid in sorted(self.hypervisors()):
            for s in self._servers_on(hid):
                ids = names.setdefault(s.get("name"), [])
                if s["id"] not in ids:   # a server that moved between two listings is seen twice
                    ids.append(s["id"])
        with self._cache["lock"]:
            self._cache["names"] = names
        return names

    def _servers_on(self, hid):
        try:
            return self.client.vfcli("servers", src=hid).get("servers") or []
        except VirtFusionError as exc:
            raise _err(exc, "listing the servers of hypervisor %s (vfcli-ctrl servers)" % hid)

    def resolve(self, key):
        key = str(key).strip()
        if key.isdigit():
            doc = self._server_doc(key)
        else:
            ids = self._names().get(key) or []
            if len(ids) > 1:
                raise MigrationError("server name %s is ambiguous (ids %s): give the server id"
                                     % (key, ", ".join(str(i) for i in ids)))
            doc = self._server_doc(ids[0]) if ids else None
        if not doc:
            raise MigrationError("%s (no server has that id or name)" % not_found("server", key, list(self._names())))
        return self._inst(doc)

    def instances_on(self, server):
        hid, _name = self.resolve_server(server)
        listed = self._servers_on(hid)
        ids = SERVER_IDS.search({"servers": listed}) or []
        return sorted((self.resolve(str(i)) for i in ids), key=lambda i: i["name"])

    # -- migrations --------------------------------------------------------------------------------
    def record(self, inst):
        doc = self._server_doc(inst["id"])
        last = (doc or {}).get("migration")
        if not last:
            return None
        if last.get("type") == "hybrid":
            # the REST API shows a hybrid migration's status only; its steps are those the start answered
            with self._cache["lock"]:
                started = copy.deepcopy(self._cache["started"].get(last.get("id")) or {"sourceId": None})
            started.pop("qemu", None)
            view = dict(started, id=last.get("id"), type="hybrid", status=last.get("status"),
                        cancelled=last.get("cancelled"), destinationId=last.get("destinationId"))
            if view["status"] != "in-progress":   # complete: every step completed; failed: which is not shown
                done = "complete" if view["status"] == "complete" else "unknown"
                view["steps"] = [dict(st, status=done) if st.get("status") in ("pending", "in-progress")
                                 else st for st in view.get("steps") or []]
            return self._migration(view)
        return self._live_record(inst)

    def _live_record(self, inst):
        try:
            view = self.client.vfcli("last-status", server=inst["id"]).get("migration")
        except VirtFusionError as exc:
            if any(e.startswith("No live migration found") for e in exc.errors):
                return None
            raise _err(exc, "reading the migration of %s (vfcli-ctrl last-status)" % inst["name"])
        return self._migration(view) if view else None

    @staticmethod
    def _migration(view, simulated=False):
        status = view.get("status")
        if status == "in-progress":
            state = "running"
        elif status == "complete":
            state = "successful"
        else:
            state = "cancelled" if view.get("cancelled") else "failed"
        steps = view.get("steps") or []
        current = [s for s in steps if s.get("status") in ("in-progress", "failed")]
        done = [s for s in steps if s.get("status") == "complete"]
        # the step running or failed, else the last one completed, else the kind of migration
        phase = (current[:1] or done[-1:] or [{"key": view.get("type") or "live"}])[0]["key"]
        extra = {"id": view.get("id"), "type": view.get("type") or "live", "aborted": bool(view.get("aborted")),
                 "data_transfer": view.get("dataTransfer"), "data_lost": bool(view.get("dataLost")),
                 "attempts": view.get("attempts"),
                 "steps": [{"key": s.get("key"), "status": s.get("status"), "message": s.get("message")}
                           for s in steps]}
        if simulated:
            extra["simulated"] = True
        return Migration(phase, state, automatic=True, syncs=0, error="; ".join(view.get("errors") or []) or None,
                         source_server=view.get("sourceId"), target_server=view.get("destinationId"), raw=view,
                         extra=extra)

    # -- the state machine (VirtFusion's model) ----------------------------------------------------
    def next_action(self, want, rec, inst, opts, memo):
        target = opts.get("target_server")
        kind = rec.extra.get("type") if rec is not None else None
        if want == "migrated":
            if target is not None and inst["server"] == target:
                return DONE
            if rec is not None and rec.state == "successful" and rec.target_server == target and (
                    rec.extra.get("simulated") or self._ended_since_read(rec, inst)):
                return DONE   # it completed after the server was read: the server is on the destination now
            if rec is not None and rec.state == "failed" and kind == "live":
                if target is not None and rec.target_server != target:
                    return ("fail", "server %s has a failed migration to hypervisor %s; exit it with state=cancelled "
                                    "first, or migrate it to hypervisor %s"
                            % (inst["id"], rec.target_server, rec.target_server))
                if self.mode == "live":
                    if self.force == "data_success" and rec.extra.get("data_transfer") != "success":
                        return "data_success_force"
                    return "start"   # the vendor's retry: the same start command
                return ("fail", "server %s has a failed live migration to hypervisor %s: run it again with mode=live, "
                                "or exit it with state=cancelled before a hybrid migration"
                        % (inst["id"], rec.target_server))
            return "hybrid" if self.mode == "hybrid" else "start"
        if want == "cancelled":
            if rec is None or rec.state == "cancelled":
                return DONE
            if rec.state == "successful":
                return ("fail", "the last migration of server %s (%s) is complete and can't be cancelled"
                        % (inst["id"], rec.extra.get("id")))
            if kind == "hybrid":
                return DONE   # a failed hybrid migration is rolled back at once [lab assumption]: nothing to exit
            if self.force == "cancel":
                return "cancel_force"
            if rec.extra.get("data_transfer") == "success":
                return ("fail", "the data transfer of server %s has succeeded: the migration can no longer be "
                                "cancelled; complete it with state=migrated (or force it with "
                                "force_may_lose_data=cancel, which may lose data)" % inst["id"])
            return "cancel"
        # aborted
        if rec is not None and rec.state == "failed" and rec.extra.get("aborted"):
            return DONE
        return ("fail", "a migration can only be aborted while its data transfer is running; the last migration of "
                        "server %s is %s" % (inst["id"], "absent" if rec is None else "%s (data transfer %s)" % (
                            rec.state, rec.extra.get("data_transfer"))))

    @staticmethod
    def _ended_since_read(rec, inst):
        """Whether ``rec`` completed after ``inst`` was read (so ``inst["server"]`` is out of date)."""
        seen = inst.get("last_migration") or {}
        return seen.get("id") != rec.extra.get("id") or seen.get("status") != "complete"

    def running_action(self, want, rec, inst, opts):
        target = opts.get("target_server")
        transfer = rec.extra.get("data_transfer")
        if want == "migrated":
            if target is not None and rec.target_server != target:
                return ("fail", "server %s is being migrated to hypervisor %s, not %s"
                        % (inst["id"], rec.target_server, target))
            return None   # re-attach: wait for it
        if rec.extra.get("type") == "hybrid":
            return ("fail", "a running hybrid migration can't be %s (vfcli-ctrl cancels and aborts live migrations)"
                    % want)
        if want == "cancelled":
            if self.force == "cancel":
                return "cancel_force"
            if transfer == "transferring":
                return "abort"    # cancel is refused while data transfers; abort first, then cancel
            if transfer == "pending":
                return "cancel"
            return ("fail", "the data transfer of server %s has succeeded: the migration can no longer be cancelled "
                            "(it is finishing)" % inst["id"])
        if transfer == "transferring":
            return "abort"
        return ("fail", "the migration of server %s can't be aborted: %s. A migration can only be aborted while its "
                        "data transfer is running" % (inst["id"], "the data transfer has not started yet"
                                                      if transfer == "pending" else "it is not transferring data"))

    def waits_for(self, action):
        return action in self.start_actions

    def reached(self, rec, inst, opts):
        target = opts.get("target_server")
        on_target = target is not None and inst["server"] == target
        if rec is None:
            return "migrated" if on_target else ("not_migrating" if target is not None else "no_migration")
        if rec.state == "running":
            return "running"
        if rec.state == "successful":
            return "migrated" if on_target or target is None else "not_migrating"
        if rec.state == "cancelled":
            return "cancelled"
        return "aborted" if rec.extra.get("aborted") else "failed"

    def simulate(self, rec, action, inst, target):
        base = dict(rec.raw) if rec is not None else {}
        if action in self.start_actions:
            view = {"id": None, "type": "live" if action == "start" else "hybrid", "status": "complete",
                    "dataTransfer": "success", "sourceId": inst["server"], "destinationId": target}
        elif action in ("cancel", "cancel_force"):
            view = dict(base, status="failed", cancelled=True)
        elif action == "abort":
            view = dict(base, status="failed", aborted=True, dataTransfer="failed")
        else:  # data_success_force
            view = dict(base, dataTransfer="success")
        return self._migration(view, simulated=True)

    def needs_start(self, inst, rec, opts):
        src, target = opts.get("source_server"), opts.get("target_server")
        if src is not None and inst["server"] != src:
            return False
        if target is not None and inst["server"] == target:
            return False
        return rec is None or rec.state != "running"

    def unsupported(self, action, target_server=None):
        if action in self.start_actions and target_server is None:
            return ("target_server (the destination hypervisor, id or name) is required with provider=virtfusion: "
                    "VirtFusion has no allocator")
        return None

    # -- actions -----------------------------------------------------------------------------------
    def start(self, inst, action, target_server=None):
        sid = inst["id"]
        try:
            if action == "start":
                try:
                    doc = self.client.vfcli("start", server=sid, dst=target_server,
                                            options=live_cli_options(self.opts), detach=True)
                except VirtFusionError as exc:
                    # [vendor] "you will receive an error that the server is already on the destination. In this
                    # case, no further action is required" (it completed since we read it)
                    if any("is already on the destination" in e for e in exc.errors):
                        return "already"
                    raise
                return doc.get("action")
            if action == "hybrid":
                return self._start_hybrid(inst, target_server)
            if action == "cancel":
                return self._cancel(inst)
            if action == "cancel_force":
                return self._checked(inst, "cancel-force", lambda r: r is not None and r.state == "cancelled")
            if action == "abort":
                return self._checked(inst, "abort", lambda r: r is not None and r.extra.get("aborted"))
            if action == "data_success_force":
                return self._checked(inst, "data-success-force",
                                     lambda r: r is not None and r.extra.get("data_transfer") == "success")
        except VirtFusionError as exc:
            raise _err(exc, "%s of server %s" % (action, sid))
        raise MigrationError("unknown action %s" % action)

    def _checked(self, inst, command, done):
        """Run a command whose repetition is refused (after a dropped connection the first try may have
        worked): a refusal counts as success when the migration already shows the command's effect."""
        try:
            self.client.vfcli(command, server=inst["id"])
        except VirtFusionError:
            if done(self.record(inst)):
                return "done"
            raise
        return "done"

    def _cancel(self, inst):
        try:
            return self._checked(inst, "cancel", lambda r: r is not None and r.state == "cancelled")
        except VirtFusionError as exc:
            if not any("still transferring data" in e for e in exc.errors):
                raise
        # the transfer started after our read: abort it, then cancel (the vendor's way out)
        self._checked(inst, "abort", lambda r: r is not None and r.extra.get("aborted"))
        return self._checked(inst, "cancel", lambda r: r is not None and r.state == "cancelled")

    def _destination_check(self, inst, target):
        try:
            return (self.client.rest("GET", "/servers/%s/migrate/hybrid/destinations/%s" % (inst["id"], target))
                    or {}).get("data") or {}
        except VirtFusionError as exc:
            raise _err(exc, "checking hypervisor %s as the destination of %s (REST API)" % (target, inst["name"]))

    def _start_hybrid(self, inst, target):
        dest = self._destination_check(inst, target)
        if dest.get("problems"):
            raise VirtFusionError("pre-checks failed", errors=dest["problems"])
        disks = [{"drive": d["drive"], "storageId": d["suggestedStorageId"]} for d in dest.get("disks") or []
                 if d.get("suggestedStorageId") is not None]
        body = {"destinationId": target, "disks": disks, "compress": bool(self.opts.get("compression")),
                "speedLimit": hybrid_speed_limit(self.opts["xfer_speed"]) if self.opts.get("xfer_speed") else 0}
        view = (self.client.rest("POST", "/servers/%s/migrate/hybrid" % inst["id"], body) or {}).get("data") or {}
        with self._cache["lock"]:
            self._cache["started"][view.get("id")] = view
        return "started"

    def wait(self, inst, on_event, timeout):
        shown = {}
        last_progress = None
        rec = None
        for _attempt in poll_sleeps(timeout, self.POLL_SECONDS):
            # a live migration is read with last-status alone once known (the REST read tells its kind)
            rec = self._live_record(inst) if rec is not None and rec.extra.get("type") == "live" else self.record(inst)
            if rec is None:
                raise MigrationError("%s: the migration disappeared while it was followed" % inst["name"])
            view = rec.raw
            for st in STARTED_STEPS.search(view) or []:
                if shown.get(st["key"]) == st["status"] or st["status"] == "unknown":
                    continue
                shown[st["key"]] = st["status"]
                text = "[%s] %s" % (st["status"], st["name"])
                if st.get("message") and st["status"] in ("complete", "failed"):
                    text += ": %s" % st["message"]
                on_event({"phase": st["key"], "message": text, "state": st["status"]})
            prog = ((view.get("qemu") or {}).get("progress") or {}) if rec.state == "running" else {}
            if shown.get("transfer") == "in-progress" and prog.get("totalBytes"):
                total, left = prog["totalBytes"], prog.get("remainingBytes") or 0
                line = (total - left, prog.get("transferredBytes"), prog.get("throttlePercent"))
                if line != last_progress:
                    last_progress = line
                    text = "[in-progress] Transfer data: %s sent, %s of %s left, dirty %.1f MiB/s" % (
                        human_bytes(prog.get("transferredBytes")), human_bytes(left), human_bytes(total),
                        (prog.get("dirtyPagesRate") or 0) * 4096 / 1048576.0)
                    if prog.get("throttlePercent"):
                        text += ", CPU throttled %s%%" % prog["throttlePercent"]
                    on_event({"phase": "transfer", "message": text, "current_progress": total - left,
                              "total_progress": total, "state": "in-progress"})
            if rec.state != "running":
                return self._end(rec)
        raise MigrationError("%s: still migrating after %d seconds (timeout); the migration goes on: run the task "
                             "again to re-attach to it" % (inst["name"], timeout))

    def _end(self, rec):
        view = rec.raw
        end = {"type": "end", "phase": rec.phase, "state": rec.state, "message": rec.error}
        if rec.state == "cancelled":   # cancelled by someone else while followed: not a success
            end.update(state="failed", message="the migration was cancelled while it was followed")
        if rec.extra.get("type") == "live":
            measured = MEASURED.search(view) or {}
            measured["source"] = "qemu"
            end["measured"] = measured
            end["bytes"] = measured.get("transferred_bytes")
            if measured.get("downtime_ms") is not None:
                end["downtime_seconds"] = measured["downtime_ms"] / 1000.0
        return end

    # -- pre-checks --------------------------------------------------------------------------------
    def prechecks(self, inst, target):
        """Every failing pre-check of moving ``inst`` to hypervisor ``target``, read-only."""
        problems = list(self._destination_check(inst, target).get("problems") or [])
        if self.mode == "live" and inst.get("state") == "offline" and not self.opts.get("force_offline"):
            problems.insert(0, "Server %s is offline. A live migration needs the server online (running or suspended); "
                               "set force_offline=true to start it paused for the transfer." % inst["id"])
        return problems

    def plan_targets(self, instances, target_server=None):
        out = []
        name = self._hv_name(target_server) if target_server is not None else None
        for inst in instances:
            if target_server is None:
                out.append({"id": inst["id"], "name": inst["name"], "target": None, "target_name": None,
                            "reason": self.unsupported("start"), "problems": []})
                continue
            problems = self.prechecks(inst, target_server)
            out.append({"id": inst["id"], "name": inst["name"], "target": None if problems else target_server,
                        "target_name": name, "problems": problems,
                        "reason": " ".join(problems) if problems else "hypervisor %s (%s): every pre-check passed"
                        % (target_server, name)})
        return out

    def check_failure(self, short, to_move):
        return "pre-checks failed, nothing was moved: %d of %d server(s) cannot be migrated: %s" % (
            len(short), len(to_move), "; ".join("%s: %s" % (t["name"], t["reason"]) for t in short))

    def estimate(self, inst):
        """Bytes of the first pre-copy pass of a live migration: the guest's memory."""
        if self.mode == "live" and inst.get("ram"):
            return int(inst["ram"]) * 1048576
        return None

    # -- failure policy ------------------------------------------------------------------------------
    def cleanup_failed(self, key, progress):
        """Cancel a failed live migration (the server keeps running on its source); leave the others."""
        try:
            inst = self.resolve(key)
            rec = self.record(inst)
            if rec is None or rec.state in ("running", "successful", "cancelled"):
                return "left (%s)" % ("no migration" if rec is None else rec.state)
            if rec.extra.get("type") == "hybrid":
                return "left (a failed hybrid migration is rolled back at once)"
            if rec.extra.get("data_transfer") == "success":
                return ("left (its data transfer succeeded: it can no longer be cancelled; run it again to complete "
                        "it)")
            progress.update("cancel", "%s: cancelling the failed migration" % inst["name"], 0, instance=inst["name"])
            self._cancel(inst)
            return "cancelled"
        except (MigrationError, VirtFusionError) as exc:
            return "cancel failed: %s" % getattr(exc, "reason", exc)
