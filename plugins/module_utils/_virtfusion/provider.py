# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The VirtFusion provider of ``instance_migrate``: live migration through ``vfcli-ctrl`` on the
control server (the vendor's way: "Live migration is currently managed via CLI"), hybrid migration
through the REST API (``POST /servers/{id}/migrate/hybrid``, since 7.1.0).

It works from what the vendor documents (docs.virtfusion.com "Server Migration"; the research notes
of the collection, V6-V9) and reads anything richer only when it is there:

- ``start`` runs attached: "Each step will be shown in the console. The possible statuses are
  complete, in-progress or failed": every step line becomes a progress event, and the command ends
  when the migration does. Its outcome is then read as the vendor documents it: ``last-status``
  ("complete, in-progress or failed", matched as a whole word) and where the server is listed
  (``servers --src=HV --json``, the one documented JSON). A dropped connection is re-attached by
  running the same ``start`` again ("you can re-attach ... by using the same command"); "the server
  is already on the destination" and ``Specify a destination hypervisor ID`` mean done.
- On a failure the tail of ``last-debug`` ("the debug information of the last migration") goes into
  the error and the result (``debug_tail``).
- ``last-status --json`` is read as JSON when it is JSON (a ``status`` word, and the lab's rich
  ``migration`` object: steps, QEMU's numbers), never required: without it there is no measured
  downtime, and the result says so.
- Where a server is comes from ``servers --src`` of each hypervisor; the REST server object gives
  its ``state`` and ``memory`` when it has them (field names observed, not documented).
- A hybrid migration is followed through the server object's ``migration`` when the API shows one
  (the lab's rich output), else by where the server is listed until it is on the destination: the
  REST API documents no status for it.

The state machine is the vendor's (the seed): ``state: migrated`` starts (or re-attaches to, or
retries) the migration; ``cancelled`` runs ``cancel`` (up to a successful data transfer; while
data transfers, ``abort`` first); ``aborted`` runs ``abort`` (only while data transfers). The force
commands are sent only when ``force_may_lose_data`` asks.

Pre-checks (``_migration.checks``): ``server_state`` (online, suspended, or offline with
``force_offline``; any other state, "awaiting setup" too, is unknown: the REST state names are not
documented), ``storage`` and ``ip_addresses`` (the hybrid destination endpoint, documented to give
"storage and networking detail"), and the live requirements no read-only call shows
(``storage_enabled``, ``destination_ssh``, ``cpu_compatible``, ``nat_interfaces``): unknown unless a
richer answer reports them failing. ``vfcli-ctrl start`` runs the vendor's own pre-tests anyway.

This file holds the provider's records, state machine and actions; its other concerns are mixins in
their own files: ``inventory`` (hypervisors, where servers are listed, the server object),
``follow`` (the attached console, polling, the outcome, ``last-debug``), ``prechecks``; ``output``
reads the vendor's text (status words, step lines, QEMU's numbers when shown).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import DirectoryStore
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.owner import record_dir
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import (
    DONE,
    MigrationError,
    MigrationProvider,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import (
    GROUP,
    has_paramiko,
    VirtFusionClient,
    VirtFusionError,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.follow import Following
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.inventory import Inventory
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.output import (
    CANCELLED_RE,
    HAS_JMESPATH,
    NO_MIGRATION_RE,
    WORD_RE,
    WORDS,
    as_error,
    migration_record,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.prechecks import CHECK_NAMES, ONLINE, PreChecks
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion import placement
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import (
    hybrid_speed_limit,
    live_cli_options,
    resolve_connection,
    validate_migration_options,
    virtfusion_argument_spec,
)


class VirtFusionProvider(Inventory, Following, PreChecks, MigrationProvider):
    name = "virtfusion"
    credentials_option = "virtfusion_credentials"
    states = ("migrated", "cancelled", "aborted")
    start_actions = ("start", "hybrid")
    check_names = CHECK_NAMES + placement.CHECK_NAMES
    noun = "server(s)"

    def __init__(self, params, client=None, cache=None):
        super(VirtFusionProvider, self).__init__(params)
        paramiko_ok = has_paramiko()
        if not paramiko_ok or not HAS_JMESPATH:
            raise MigrationError("provider=virtfusion needs the Python libraries paramiko and jmespath on the host "
                                 "that runs the module (pip install paramiko jmespath); missing: %s" % ", ".join(
                                     n for n, ok in (("paramiko", paramiko_ok), ("jmespath", HAS_JMESPATH)) if not ok))
        try:
            self.conn = resolve_connection(params)
            self.opts = validate_migration_options(params)
        except ValueError as exc:
            raise MigrationError(str(exc))
        self.mode = self.opts["mode"]
        self.force = self.opts.get("force_may_lose_data")
        self.client = client or VirtFusionClient(self.conn)
        # shared with forks: hypervisors by id, where each server is, name -> ids, what this run started, idle
        # connections, when each hypervisor's listing in "where" began and the listings running now (inventory)
        self._cache = cache if cache is not None else {
            "lock": threading.Lock(), "hypervisors": None, "where": None, "names": None, "started": {}, "clients": [],
            "idle": [], "listed_at": {}, "flights": {}, "asked": None}
        with self._cache["lock"]:
            if self.client not in self._cache["clients"]:
                self._cache["clients"].append(self.client)   # api_stats counts every worker's connection
        self._attached = {}   # server id -> the attached start this worker runs (its console)
        self._reattach = {}   # server id -> the destination of a running migration this run re-attaches to
        self._ended = {}      # server id -> its record read after this worker's console ended (read once)
        self._arrived = {}    # server id -> the hypervisor the listing showed it on after that
        self._aborted = set()  # servers whose migration this run aborted (the documented last-status says "failed")

    @classmethod
    def argument_spec(cls):
        spec = virtfusion_argument_spec()
        spec.update(placement.placement_argument_spec())
        return spec

    @classmethod
    def check_params(cls, params):
        problems = placement.check_params(params)
        if params.get("state") == "migrated" and not params.get("target_server") and not placement.wanted(params):
            problems.append("target_server (the destination hypervisor, id or name) is required with provider=virtfusion "
                            "and state=migrated: VirtFusion has no allocator (or, for several servers, target_servers "
                            "or exclude_servers: the module then chooses one per server from the vendor's capacity "
                            "numbers)")
        if placement.wanted(params) and params.get("instance"):
            problems.append("target_servers / exclude_servers choose destinations for several servers (instances or "
                            "from_server); for one server give target_server")
        return problems

    def fork(self):
        self.hypervisors()
        self._listing()
        with self._cache["lock"]:   # a connection the listing opened and left idle, else a new one
            client = self._cache["idle"].pop(0) if self._cache["idle"] else None
        return VirtFusionProvider(self.params, client=client or self.client.fork(), cache=self._cache)

    def ready(self):
        self.client.ready()

    def retire(self):
        """A worker's end: its connection, open, waits (``idle``) for the next worker or listing."""
        with self._cache["lock"]:
            if self.client not in self._cache["idle"]:
                self._cache["idle"].append(self.client)

    def api_stats(self):
        """This run's counters, summed over the connections of every worker of a window."""
        total = {}
        with self._cache["lock"]:
            clients = list(self._cache["clients"])
        for client in clients:
            for key, value in client.stats.items():
                total[key] = total.get(key, 0) + value
        return total

    def on_wait(self, callback):
        self.client.on_wait(callback)

    # -- migrations --------------------------------------------------------------------------------
    def record(self, inst):
        sid = inst["id"]
        ended = self._ended.pop(sid, None)
        if ended is not None:   # read right after this worker's console ended: no second last-status
            return ended
        with self._cache["lock"]:
            hybrid = self._cache["started"].get(sid)
        last = inst.get("last_migration") if hybrid is None else None
        doc = None
        if hybrid is not None and hybrid.get("kind") == "hybrid":
            doc = self._server_doc(sid) or {}
            last = doc.get("migration")
        if isinstance(last, dict) and last.get("type") == "hybrid":
            return self._hybrid_record(inst, last)
        if hybrid is not None and hybrid.get("kind") == "hybrid":
            # no status shown: where the server is listed tells whether it arrived [the REST API documents none]
            on = self._where(sid, refresh=tuple(h for h in (hybrid.get("src"), hybrid["dst"]) if h is not None))
            view = {"type": "hybrid", "status": "complete" if on == hybrid["dst"] else "in-progress",
                    "destinationId": hybrid["dst"]}
            return migration_record(view)
        return self._live_record(inst)

    def _hybrid_record(self, inst, last):
        """A hybrid migration as the server object shows it (the lab's rich output)."""
        with self._cache["lock"]:
            started = copy.deepcopy((self._cache["started"].get(inst["id"]) or {}).get("view") or {})
        started.pop("qemu", None)
        view = dict(started, id=last.get("id"), type="hybrid", status=last.get("status"),
                    cancelled=last.get("cancelled"), destinationId=last.get("destinationId"))
        if view["status"] != "in-progress":   # complete: every step completed; failed: which is not shown
            done = "complete" if view["status"] == "complete" else "unknown"
            view["steps"] = [dict(st, status=done) if st.get("status") in ("pending", "in-progress") else st
                             for st in view.get("steps") or []]
        return migration_record(view)

    def _status(self, sid):
        """``last-status`` of server ``sid``: (word or None, cancelled, the rich migration object or None, text)."""
        try:
            ans = self.client.run("last-status", server=sid)
        except VirtFusionError as exc:
            raise as_error(exc, "reading the migration of server %s (vfcli-ctrl last-status)" % sid)
        word, rich, cancelled = None, None, None
        if ans.doc is not None:
            if str(ans.doc.get("status")).lower() in WORDS:
                word = str(ans.doc["status"]).lower()
            if isinstance(ans.doc.get("migration"), dict):
                rich = ans.doc["migration"]
            if isinstance(ans.doc.get("cancelled"), bool):
                cancelled = ans.doc["cancelled"]
        if word is None:
            found = set(m.lower() for m in WORD_RE.findall(ans.out if ans.doc is None else ""))
            if len(found) == 1:
                word = found.pop()
        if cancelled is None:   # the lab prints "(the migration was cancelled)" [observed, not documented]
            cancelled = word == "failed" and bool(CANCELLED_RE.search(ans.text))
        return word, cancelled, rich, ans

    def _live_record(self, inst):
        word, cancelled, rich, ans = self._status(inst["id"])
        if word is None:
            if NO_MIGRATION_RE.search(ans.text):
                return None
            raise MigrationError("%s: vfcli-ctrl last-status answered none of the statuses complete, in-progress, "
                                 "failed: %s" % (inst["name"], " ".join((ans.text or "no output").split())[:300]))
        view = dict(rich or {}, type="live", status="failed" if word == "failed" else word, cancelled=cancelled)
        if rich is None:
            with self._cache["lock"]:
                started = self._cache["started"].get(inst["id"]) or {}
            view["destinationId"] = started.get("dst")
            if word == "failed" and not cancelled and inst["id"] in self._aborted:
                view["aborted"] = True   # the documented word is only "failed": this run's abort made it so
        return migration_record(view)

    # -- the state machine (VirtFusion's model) ----------------------------------------------------
    def next_action(self, want, rec, inst, opts, memo):
        target = opts.get("target_server")
        kind = rec.extra.get("type") if rec is not None else None
        if want == "migrated":
            if target is not None and inst["server"] == target:
                return DONE
            if rec is not None and rec.state == "successful" and target is not None:
                if rec.extra.get("simulated") and rec.target_server == target:
                    return DONE
                # listed on the target when this worker's console ended, or (it may have completed after the server
                # was read) now
                if self._arrived.pop(inst["id"], None) == target:
                    return DONE
                if self._where(inst["id"], refresh=tuple(h for h in (inst["server"], target) if h is not None)) \
                        == target:
                    return DONE
            if rec is not None and rec.state == "failed" and kind == "live":
                if target is not None and rec.target_server not in (None, target):
                    return ("fail", "server %s has a failed migration to hypervisor %s; exit it with state=cancelled "
                                    "first, or migrate it to hypervisor %s"
                            % (inst["id"], rec.target_server, rec.target_server))
                if self.mode == "live":
                    if self.force == "data_success" and rec.extra.get("data_transfer") != "success" and \
                            not memo.get("forced"):
                        return "data_success_force"
                    return "start"   # the vendor's retry: the same start command
                return ("fail", "server %s has a failed live migration: run it again with mode=live, or exit it with "
                                "state=cancelled before a hybrid migration" % inst["id"])
            return "hybrid" if self.mode == "hybrid" else "start"
        if want == "cancelled":
            if rec is None or rec.state == "cancelled":
                return DONE
            if rec.state == "successful":
                return ("fail", "the last migration of server %s is complete and can't be cancelled" % inst["id"])
            if kind == "hybrid":
                return DONE   # a failed hybrid migration is rolled back at once [lab assumption]: nothing to exit
            if self.force == "cancel":
                return "cancel_force"
            if rec.extra.get("data_transfer") == "success":
                return ("fail", "the data transfer of server %s has succeeded: the migration can no longer be "
                                "cancelled; complete it with state=migrated (or force it with "
                                "force_may_lose_data=cancel, which may lose data)" % inst["id"])
            return "cancel"
        # aborted: a failed migration (aborted or not) has no transfer left to abort
        if rec is not None and rec.state == "failed":
            return DONE
        return ("fail", "a migration can only be aborted while its data transfer is running; the last migration of "
                        "server %s is %s" % (inst["id"], "absent" if rec is None else rec.state))

    def running_action(self, want, rec, inst, opts):
        target = opts.get("target_server")
        if want == "migrated":
            if target is not None and rec.target_server not in (None, target):
                return ("fail", "server %s is being migrated to hypervisor %s, not %s"
                        % (inst["id"], rec.target_server, target))
            if target is not None:
                self._reattach[inst["id"]] = target
            return None   # re-attach: wait for it
        if rec.extra.get("type") == "hybrid":
            return ("fail", "a running hybrid migration can't be %s (vfcli-ctrl cancels and aborts live migrations)"
                    % want)
        if want == "cancelled":
            if self.force == "cancel":
                return "cancel_force"
            return "cancel"   # while data transfers the vendor refuses it: abort first (see _cancel)
        return "abort"

    def note(self, action, rec, memo):
        if action == "data_success_force":
            memo["forced"] = True

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
            view = dict(base, dataTransfer="success", status="failed")
        return migration_record(view, simulated=True)

    def needs_start(self, inst, rec, opts):
        src, target = opts.get("source_server"), opts.get("target_server")
        if src is not None and inst["server"] != src:
            return False
        if target is not None and inst["server"] == target:
            return False
        return rec is None or rec.state != "running"

    def next_steps(self, phase):
        if self.mode == "hybrid":
            return "run again with state=migrated to try the hybrid migration again"
        return ("run again with state=migrated to continue it (the vendor's start continues a failed migration), or "
                "state=cancelled to end it with the server on its source (possible until its data transfer succeeded)")

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
                argv = self.client.argv("start", server=sid, dst=target_server, options=live_cli_options(self.opts),
                                        as_json=False)
                with self._cache["lock"]:
                    self._cache["started"][sid] = {"kind": "live", "dst": target_server}
                self._attached[sid] = {"argv": argv, "dst": target_server, "src": inst["server"]}
                return "started"
            if action == "hybrid":
                return self._start_hybrid(inst, target_server)
            if action == "cancel":
                return self._cancel(inst)
            if action == "cancel_force":
                return self._checked(inst, "cancel-force", lambda r: r is None or r.state in ("cancelled", "failed"))
            if action == "abort":
                done = self._checked(inst, "abort", lambda r: r is not None and r.state != "running")
                self._aborted.add(sid)
                return done
            if action == "data_success_force":
                return self._checked(inst, "data-success-force", None)
        except VirtFusionError as exc:
            raise as_error(exc, "%s of server %s" % (action, sid))
        raise MigrationError("unknown action %s" % action)

    def _checked(self, inst, command, done):
        """Run a command; its ``success`` says whether it worked, and where the answer does not say (or says no
        after a dropped connection that may have let the first try through), the migration's state does
        (``done(record)``; None: only the answer counts)."""
        try:
            ans = self.client.run(command, server=inst["id"])
        except VirtFusionError:
            if done is not None and done(self._live_record(inst)):
                return "done"
            raise
        if ans.success is True:
            return "done"
        if done is not None and done(self._live_record(inst)):
            return "done"
        raise VirtFusionError("vfcli-ctrl %s %s: %s" % (GROUP, command, "; ".join(ans.errors) or "no answer"),
                              errors=ans.errors or ["no answer from %s" % command], rc=ans.rc)

    def _cancel(self, inst):
        try:
            return self._checked(inst, "cancel", lambda r: r is not None and r.state == "cancelled")
        except VirtFusionError:
            rec = self._live_record(inst)
            if rec is None or rec.state != "running":
                raise
        # refused while the migration runs: the data transfer is on; the vendor's way out is abort, then cancel
        self._checked(inst, "abort", lambda r: r is not None and r.state != "running")
        return self._checked(inst, "cancel", lambda r: r is not None and r.state == "cancelled")

    def _destinations(self, inst, target):
        try:
            return (self.client.rest("GET", "/servers/%s/migrate/hybrid/destinations/%s" % (inst["id"], target))
                    or {}).get("data") or {}
        except VirtFusionError as exc:
            raise as_error(exc, "reading hypervisor %s as a destination of %s (REST API)" % (target, inst["name"]))

    def _start_hybrid(self, inst, target):
        dest = self._destinations(inst, target)
        bodies = [b for b in dest.get("startBodies") or [] if isinstance(b, dict)]
        body = dict(bodies[0]) if bodies else None
        if body is None:
            disks = [{"drive": d["drive"], "storageId": d["suggestedStorageId"]} for d in dest.get("disks") or []
                     if isinstance(d, dict) and d.get("suggestedStorageId") is not None]
            if not disks:
                raise VirtFusionError("the destination endpoint gave no storage for the drives of server %s on hypervisor "
                                      "%s" % (inst["id"], target), errors=["no destination storage for the drives"])
            body = {"disks": disks}
        body.update(destinationId=target, compress=bool(self.opts.get("compression")),
                    speedLimit=hybrid_speed_limit(self.opts["xfer_speed"]) if self.opts.get("xfer_speed") else 0)
        view = (self.client.rest("POST", "/servers/%s/migrate/hybrid" % inst["id"], body) or {}).get("data") or {}
        with self._cache["lock"]:
            self._cache["started"][inst["id"]] = {"kind": "hybrid", "dst": target, "src": inst["server"], "view": view}
        return "started"

    def estimate(self, inst):
        """Bytes of the first pre-copy pass of a live migration: the guest's memory."""
        if self.mode == "live" and inst.get("ram"):
            return int(inst["ram"]) * 1048576
        return None

    # -- one owner per hypervisor, intent ------------------------------------------------------------
    def scope_of(self, inst, opts):
        return inst["server"]

    def intent_store(self, scope, params):
        directory, _configured = record_dir(params)
        # keyed by the control server (its API URL and SSH endpoint) as well: hypervisor ids repeat across control
        # servers, and one record directory may serve several
        return DirectoryStore(directory, "virtfusion-%s-%s-%s-hypervisor-%s" % (
            self.conn.get("api_url"), self.conn.get("host"), self.conn.get("port"), scope))

    def cordon_state(self, server):
        directory, configured = record_dir(self.params)
        if not configured:
            raise MigrationError("cordon (the hypervisor's prohibit flag) needs a shared record_dir (or "
                                 "FLEETOPS_RECORD_DIR): VirtFusion has no place to keep the value it replaces, and a "
                                 "re-run from another machine must find it to restore it")
        try:
            doc = (self.client.rest("GET", "/compute/hypervisors/%s" % server) or {}).get("data") or {}
        except VirtFusionError as exc:
            raise as_error(exc, "reading hypervisor %s (REST API)" % server)
        if not isinstance(doc.get("prohibit"), bool):
            raise MigrationError("hypervisor %s: the REST API shows no prohibit flag; not cordoning what cannot be "
                                 "restored" % server)
        return doc["prohibit"]

    def set_cordon(self, server, value):
        try:   # [vendor 7.1.0+: PUT /compute/hypervisors/{id}; what prohibit does exactly is not documented]
            self.client.rest("PUT", "/compute/hypervisors/%s" % server, {"prohibit": bool(value)})
        except VirtFusionError as exc:
            if exc.status in (404, 405):
                raise MigrationError("hypervisor %s: the REST API cannot change prohibit (VirtFusion before 7.1.0): "
                                     "set it in the admin UI, and run without cordon" % server)
            raise as_error(exc, "setting prohibit=%s on hypervisor %s (REST API)" % (bool(value), server))

    # -- verification of an evacuation -------------------------------------------------------------
    def verify_evacuation(self, source, expected, opts):
        """What differs from the promise of an evacuation to ``target_server``: the source lists none of the
        servers, each is listed once, on the destination, and online again if it was online."""
        problems = []
        # every hypervisor as listed after the last migration's end: the listings the workers began after their
        # ends serve, the others are listed now (each worker asks for listings begun after its end: "asked")
        with self._cache["lock"]:
            since = self._cache["asked"]
        where, _names = self._listing(tuple(sorted(self.hypervisors())), since=since)
        for inst in expected:
            hvs = where.get(inst["id"]) or []
            target = (opts.get("placement") or {}).get(inst["id"], opts.get("target_server"))
            if target is None and len(hvs) == 1 and hvs[0] != source:
                target = hvs[0]   # placed by an earlier run (target_servers): on one hypervisor, not the source
            if hvs != [target]:
                problems.append("%s (%s) is listed on hypervisor(s) %s, not only on %s" % (
                    inst["name"], inst["id"], ", ".join(str(h) for h in hvs) or "none", target))
                continue
            before = str(inst.get("state") or "").lower()
            if before in ONLINE:
                now = str((self._server_doc(inst["id"]) or {}).get("state") or "").lower()
                if now and now not in ONLINE:
                    problems.append("%s (%s) was %s and is %s after its migration" % (
                        inst["name"], inst["id"], before, now))
        left = [sid for sid, hvs in where.items() if source in hvs]
        if left:
            problems.append("hypervisor %s still lists server(s) %s" % (source, ", ".join(str(s) for s in sorted(left))))
        return problems

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
