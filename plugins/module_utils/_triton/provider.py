# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The Triton provider of ``instance_migrate``: its options, its connection, and its state machine.

Two ways in, chosen with the ``api`` option:

- ``cloudapi`` (the end user's): ``POST /:login/machines/:id/migrate`` with an ``action``, the
  ``?action=watch`` progress stream, ``GET /:login/migrations/:id``, signed with the account's
  SSH key. The allocator chooses the target; rollback and a target override are not offered.
- ``operator`` (the operator's, as ``sdc-migrate`` does it): VMAPI ``POST /vms/:uuid?action=migrate
  &migration_action=...`` (with ``override_server_uuid`` for a chosen target, and ``rollback``),
  ``GET /migrations/:uuid[/watch]``, and CNAPI ``GET /servers?extras=capacity`` for the capacity
  check and the predicted target. No authentication (the admin network).

Pre-checks (``_migration.checks``: pass, fail or unknown, an unknown blocks unless accepted):
``migrations_allowed``, ``capacity`` and, with a target override, ``target_server``. The target shown
before begin is a prediction (the best-scored node that fits: CNAPI's allocator shuffles, adds a random
score and drops the emptiest nodes of large fleets); the real target is the migration record's
``target_server_uuid`` (operator) or where the instance runs after its switch.

Triton's migration model (sdc-migrate, CloudAPI's MigrateMachine): an optional record per instance
with a ``phase`` (begin, sync, switch, pause, abort, rollback) and a ``state`` (running, paused,
failed, successful); actions ``begin``, ``automatic``, ``sync``, ``switch``, ``pause``, ``abort``,
``rollback``, ``finalize``; ``finalize``, ``abort`` and ``rollback`` delete the record.

This file holds the provider's options, records, actions, evacuation hooks and state machine; its other
concerns are mixins in their own files: ``inventory`` (compute nodes and instances, shared helpers) and
``prechecks`` (the checks above and the predicted target).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import DirectoryStore
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.owner import record_dir
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import (
    DONE,
    Migration,
    MigrationError,
    MigrationProvider,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import (
    TritonClient,
    TritonError,
    TritonNotFound,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.intent import CnapiCommentsStore
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.inventory import (
    SERVERS_LOCK,
    Inventory,
    as_error,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.prechecks import CHECK_NAMES, PreChecks
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import SigningError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import (
    resolve_connection,
    triton_argument_spec,
)

STATES = ("begun", "synced", "switched", "migrated", "finalized", "rolled_back", "aborted", "paused")
# states reached from a successful migration: state -> (the action, the refusal otherwise)
AFTER_SUCCESS = {"rolled_back": ("rollback", "Rollback only works on a successful migration"),
                 "finalized": ("finalize", "Finalize only works on a successful migration")}


# after a failed phase: the instance runs on its source; what the vendor allows next (lab/TRITON.md, transitions)
NEXT_STEPS = {
    "begin": "run again with state=begun to retry the begin, or state=aborted to discard the migration",
    "sync": "the instance runs on its source; run again with state=synced to sync again, or state=aborted to discard "
            "the migration",
    "switch": "the instance runs on its source again; run again with state=switched to retry the switch, or "
              "state=aborted to discard the migration",
    "abort": "run again with state=aborted",
    "rollback": "run again with state=rolled_back (api=operator)",
}


class TritonProvider(Inventory, PreChecks, MigrationProvider):
    name = "triton"
    credentials_option = "triton_credentials"
    states = STATES
    start_actions = ("begin", "automatic")
    downtime_actions = ("switch", "automatic")
    downtime_start_message = "stopping the instance"
    downtime_end_phase = "switch"
    transfer_phases = ("sync",)
    check_names = CHECK_NAMES

    def __init__(self, params, client=None, servers=None, estimates=None):
        super(TritonProvider, self).__init__(params)
        self.conn = resolve_connection(params)
        self.api = self.conn["api"]
        self.resync = bool(params.get("resync"))
        self.client = client or TritonClient(self.conn)
        self._servers = servers  # cache shared with forks: {uuid: server}
        # instance id -> the size the estimate route answered (CloudAPI pre-check), shared with forks
        self._estimates = {} if estimates is None else estimates

    @classmethod
    def argument_spec(cls):
        spec = triton_argument_spec()
        spec["resync"] = {"type": "bool", "default": False}
        return spec

    def fork(self):
        if self.api == "operator":
            self.servers()
        return TritonProvider(self.params, client=self.client.fork(), servers=self._servers, estimates=self._estimates)

    def api_stats(self):
        return dict(self.client.stats)

    def on_wait(self, callback):
        self.client.on_wait(callback)

    # -- migrations --------------------------------------------------------------------------------
    def record(self, inst):
        try:
            if self.api == "operator":
                doc = self.client.vmapi("GET", "/migrations/%s" % inst["id"], params={"format": "raw"})
            else:
                doc = self.client.cloudapi("GET", "/migrations/%s" % inst["id"])
        except TritonNotFound:
            return None
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "reading the migration of %s" % inst["name"])
        if not isinstance(doc, dict):
            return None
        hist = doc.get("progress_history") or []
        syncs = doc.get("num_sync_phases")
        if syncs is None:  # CloudAPI hides the counter: count the successful syncs
            syncs = sum(1 for e in hist if e.get("phase") == "sync" and e.get("state") == "successful")
        return Migration(doc.get("phase"), doc.get("state"), doc.get("automatic"), syncs, doc.get("error"),
                         source_server=doc.get("source_server_uuid"), target_server=doc.get("target_server_uuid"),
                         raw=doc)

    def unsupported(self, action, target_server=None):
        if self.api == "cloudapi" and action == "rollback":
            return ("rollback is an operator action (VMAPI, sdc-migrate rollback), not in CloudAPI: set api=operator "
                    "and vmapi_url")
        if self.api == "cloudapi" and target_server:
            return ("target_server needs api=operator: CloudAPI's begin lets the allocator choose the server "
                    "(it takes no server, only affinity rules)")
        return None

    def failed_phase(self, rec, end, action):
        # the vendor puts a failed switch's record back to phase sync (so that the switch can be retried): the
        # failed entry of progress_history names the phase that failed
        last = ((rec.raw.get("progress_history") if rec is not None else None) or [None])[-1]
        if isinstance(last, dict) and last.get("state") == "failed" and last.get("phase"):
            return last["phase"]
        return action if action != "automatic" else (end.get("phase") or action)

    def next_steps(self, phase):
        return NEXT_STEPS.get(phase, "")

    def went_through(self, exc, before, again):
        # 412 PreconditionFailed to the retry of a request whose answer was lost: the first one went through
        return exc.status == 412 and again is not None and again.key() != before and again.state == "running"

    def start(self, inst, action, target_server=None):
        try:
            if self.api == "operator":
                params = {"action": "migrate", "migration_action": "begin" if action == "automatic" else action}
                if action == "automatic":
                    params["migration_automatic"] = "true"
                if target_server and action in ("begin", "automatic"):
                    params["override_server_uuid"] = self.resolve_server(target_server)[0]
                self.client.vmapi("POST", "/vms/%s" % inst["id"], params=params)
            else:
                self.client.cloudapi("POST", "/machines/%s/migrate" % inst["id"], body={"action": action})
        except TritonNotFound as exc:
            if action == "abort" and exc.message == "migration not found":
                return  # already gone (e.g. an abort answered 500 by CloudAPI, then retried)
            raise as_error(exc, "%s of %s" % (action, inst["name"]))
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "%s of %s" % (action, inst["name"]))

    def wait(self, inst, on_event, timeout):
        def open_stream():
            if self.api == "operator":
                return self.client.vmapi("GET", "/migrations/%s/watch" % inst["id"], stream=True)
            return self.client.cloudapi("POST", "/machines/%s/migrate" % inst["id"], params={"action": "watch"},
                                        stream=True)

        def get_state():
            rec = self.record(inst)
            if rec is None:
                return {"type": "end", "phase": None, "state": "successful", "message": None}
            if rec.state != "running":
                return {"type": "end", "phase": rec.phase, "state": rec.state, "message": rec.error}
            return None
        try:
            return self.client.watch(open_stream, on_event, timeout, get_state=get_state)
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "following the migration of %s" % inst["name"])

    def estimate(self, inst):
        """Asked once per instance and run (each ask is a zfs size estimate on its compute node): the CloudAPI
        pre-check, the window's start order and the check-mode plan share the answer."""
        with SERVERS_LOCK:
            if inst["id"] in self._estimates:
                return self._estimates[inst["id"]]
        try:
            if self.api == "operator":
                doc = self.client.vmapi("POST", "/vms/%s" % inst["id"],
                                        params={"action": "migrate", "migration_action": "estimate"})
            else:
                doc = self.client.cloudapi("GET", "/machines/%s/migrate" % inst["id"])
        except (TritonError, SigningError):
            return None
        size = (doc or {}).get("size") if isinstance(doc, dict) else None
        with SERVERS_LOCK:
            self._estimates[inst["id"]] = size
        return size

    def cleanup_failed(self, key, progress):
        """Failure policy: abort a failed migration that has not switched (the source keeps running)."""
        try:
            inst = self.resolve(key)
            rec = self.record(inst)
            if rec is None or rec.state in ("running", "successful"):
                return "left (%s)" % ("no record" if rec is None else rec.state)
            progress.update("abort", "%s: aborting the failed migration" % inst["name"], 0, instance=inst["name"])
            self.start(inst, "abort")
            self.wait(inst, lambda _e: None, 900)
            return "aborted"
        except MigrationError as exc:
            return "abort failed: %s" % exc.reason

    # -- one owner per compute node, intent, verification ------------------------------------------------
    def scope_of(self, inst, opts):
        rec = self.record(inst)
        return (rec.source_server if rec is not None and rec.source_server else None) or inst["server"]

    def intent_store(self, scope, params):
        if self.api == "operator":
            return CnapiCommentsStore(self.client.fork(), scope, self._server_name(scope))
        directory, _configured = record_dir(params)
        # keyed by the data center's CloudAPI URL as well: one record directory may serve several data centers
        return DirectoryStore(directory, "triton-%s-%s-%s" % (self.conn.get("url"), self.conn.get("account") or "my",
                                                              scope))

    def cordon_state(self, server):
        if self.api != "operator":
            raise MigrationError("cordon needs api=operator: CNAPI's ServerUpdate (reserved) is an operator API")
        try:
            doc = self.client.cnapi("GET", "/servers/%s" % server) or {}
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "reading compute node %s (CNAPI)" % server)
        if not isinstance(doc.get("reserved"), bool):
            raise MigrationError("compute node %s: CNAPI shows no reserved flag; not cordoning what cannot be restored"
                                 % server)
        return doc["reserved"]

    def set_cordon(self, server, value):
        if self.api != "operator":
            raise MigrationError("cordon needs api=operator: CNAPI's ServerUpdate (reserved) is an operator API")
        try:   # [vendor: CNAPI ServerUpdate; reserved = the allocator places nothing new there]
            self.client.cnapi("POST", "/servers/%s" % server, body={"reserved": bool(value)})
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "setting reserved=%s on compute node %s (CNAPI)" % (bool(value), server))

    def verify_evacuation(self, source, expected, opts):
        problems = []
        finalized = opts.get("state") == "finalized"
        try:
            if self.api == "operator":
                listed = [v for v in self.client.vmapi("GET", "/vms") or [] if not v.get("do_not_inventory")
                          and v.get("state") not in ("destroyed", "failed")]
                where = dict((v["uuid"], (v.get("server_uuid"), v.get("state"))) for v in listed)
                counts = {}
                for v in listed:
                    counts[v["uuid"]] = counts.get(v["uuid"], 0) + 1
                left = [v.get("alias") or v["uuid"] for v in listed if v.get("server_uuid") == source]
                records = self.client.vmapi("GET", "/migrations",
                                            params={"source_server_uuid": source, "format": "raw"}) or []
            else:
                listed = self.client.cloudapi("GET", "/machines") or []
                where = dict((m["id"], (m.get("compute_node"), m.get("state"))) for m in listed)
                counts = dict((m["id"], 1) for m in listed)
                left = [m.get("name") or m["id"] for m in listed if m.get("compute_node") == source]
                records = [r for r in self.client.cloudapi("GET", "/migrations") or []
                           if r.get("machine") in set(e["id"] for e in expected)]
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "verifying the evacuation of %s" % (self._server_name(source) or source))
        for e in expected:
            got = where.get(e["id"])
            if got is None:
                problems.append("%s is not listed any more" % e["name"])
                continue
            if counts.get(e["id"], 0) != 1:
                problems.append("%s is listed %d times" % (e["name"], counts.get(e["id"], 0)))
            if got[0] == source:
                problems.append("%s is still on %s" % (e["name"], self._server_name(source) or source))
            elif e.get("state") and got[1] != e["state"]:
                problems.append("%s was %s before and is %s now" % (e["name"], e["state"], got[1]))
        others = [n for n in left if n not in set(e["name"] for e in expected)]
        if others:
            problems.append("%s still hosts %s (not part of this evacuation)" % (
                self._server_name(source) or source, ", ".join(sorted(others))))
        if finalized:
            mine = [r for r in records if (r.get("vm_uuid") or r.get("machine")) in set(e["id"] for e in expected)]
            if mine:
                problems.append("%d migration record(s) from %s are not finalized" % (len(mine), source))
        return problems

    # -- the state machine (Triton's model) ------------------------------------------------------
    def next_action(self, want, rec, inst, opts, memo):
        if want == "paused":
            if rec is None:
                return "fail", "migration not found"
            if rec.state == "paused":
                return DONE
            return "fail", "Pause requires a running migration sync action"
        if want == "aborted":
            if rec is None:
                return DONE
            if rec.state == "successful":
                return "fail", "Abort cannot work on a successful migration"
            return "abort"
        if want in AFTER_SUCCESS:  # rolled_back, finalized
            if rec is None:
                return DONE
            action, refusal = AFTER_SUCCESS[want]
            if rec.state != "successful":
                return "fail", refusal
            return action
        # begun, synced, switched, migrated
        if rec is None:
            if _moved_already(inst, opts):
                return DONE
            return "automatic" if want == "migrated" and not self.resync else "begin"
        if rec.state == "successful":
            return DONE
        if rec.phase == "begin" and rec.state == "failed":
            return "begin"
        if want == "begun":
            return DONE
        needs_sync = rec.syncs == 0 or (self.resync and not memo.get("resynced")) or (
            rec.phase == "sync" and rec.state == "failed" and want == "synced")
        if needs_sync:
            return "sync"
        if want == "synced":
            return DONE
        return "switch"

    def running_action(self, want, rec, inst, opts):
        if want == "paused" and rec.phase == "sync":
            return "pause"
        return None

    def note(self, action, rec, memo):
        # the resync that ``resync`` asks for: a sync after the first one, or an automatic migration (which
        # syncs again before its switch)
        if action == "automatic" or (action == "sync" and rec is not None and rec.syncs >= 1):
            memo["resynced"] = True

    def waits_for(self, action):
        return action != "finalize"

    def reached(self, rec, inst, opts):
        if rec is None:
            moved = _moved_already(inst, opts)
            return "finalized" if moved else ("not_migrating" if moved is False else "no_migration")
        if rec.state == "failed":
            return "failed"
        if rec.state == "running":
            return "running"
        if rec.state == "successful":
            return "switched"
        return {"begin": "begun", "sync": "synced"}.get(rec.phase, rec.phase)

    def simulate(self, rec, action, inst, target):
        if action in ("begin", "automatic"):
            if action == "automatic":
                return Migration("switch", "successful", automatic=True, syncs=2, source_server=inst["server"],
                                 target_server=target)
            return Migration("begin", "paused", syncs=0, source_server=inst["server"], target_server=target)
        if action == "sync":
            return Migration("sync", "paused", rec.automatic, rec.syncs + 1, source_server=rec.source_server,
                             target_server=rec.target_server)
        if action == "switch":
            return Migration("switch", "successful", rec.automatic, rec.syncs, source_server=rec.source_server,
                             target_server=rec.target_server)
        if action == "pause":
            return Migration("sync", "paused", rec.automatic, rec.syncs, source_server=rec.source_server,
                             target_server=rec.target_server)
        return None  # abort, rollback, finalize delete the record

    def needs_start(self, inst, rec, opts):
        # no record, and not moved already: off the source_server, or (a move back) on the target_server
        return rec is None and not _moved_already(inst, opts)


def _moved_already(inst, opts):
    """With no record: has the instance left its source (the rule that keeps a finalized migration
    idempotent)? True/False, or None when neither source_server nor target_server says."""
    src, dst = opts.get("source_server"), opts.get("target_server")
    if dst:
        return inst["server"] == dst
    if src:
        return inst["server"] != src
    return None
