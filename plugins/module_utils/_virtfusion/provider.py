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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import re
import threading
import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import DirectoryStore
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import poll_sleeps
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import (
    FAIL,
    PASS,
    UNKNOWN,
    check,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.owner import record_dir
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import (
    DONE,
    Migration,
    MigrationError,
    MigrationProvider,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import (
    GROUP,
    HAS_PARAMIKO,
    VirtFusionClient,
    VirtFusionError,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion import placement
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import (
    hybrid_speed_limit,
    live_cli_options,
    resolve_connection,
    validate_migration_options,
    virtfusion_argument_spec,
)

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # reported when the provider is built
    jmespath = None
    HAS_JMESPATH = False

if HAS_JMESPATH:
    # what QEMU measured, from the lab's rich migration object (read when present, never required)
    MEASURED = jmespath.compile(
        "{downtime_ms: qemu.downtimeMs, max_downtime_ms: qemu.parameters.\"downtime-limit\", "
        "total_time_ms: qemu.totalTimeMs, setup_time_ms: qemu.setupTimeMs, transferred_bytes: qemu.transferredBytes, "
        "precopy_bytes: qemu.precopyBytes, postcopy_bytes: qemu.postcopyBytes, downtime_bytes: qemu.downtimeBytes, "
        "dirty_sync_count: qemu.dirtySyncCount, max_throttle_percent: qemu.maxThrottlePercent, "
        "max_dirty_rate_mib_s: qemu.maxDirtyRateMiBs, postcopy_started_ms: qemu.postcopyStartedMs, "
        "qemu_status: qemu.status, capabilities: qemu.capabilities, disk_copied_bytes: diskCopiedBytes, "
        "attempts: attempts, data_lost: dataLost}")
    STARTED_STEPS = jmespath.compile("steps[?status != 'pending'].{name: name, status: status, message: message}")

WORDS = ("complete", "in-progress", "failed")            # [vendor: the statuses of last-status and of each step]
WORD_RE = re.compile(r"(?<![\w-])(complete|in-progress|failed)(?![\w-])", re.I)
STEP_RE = re.compile(r"^\s*\[(complete|in-progress|failed)\]\s+(.+?)\s*$", re.I)   # a console step line
NO_MIGRATION_RE = re.compile(r"\bno\b[^\n]*\bmigration", re.I)
CANCELLED_RE = re.compile(r"\bcancell?ed\b", re.I)
# REST ``state`` words (observed; the vendor does not document them): what the server-state check recognises
ONLINE = ("online", "running")
SUSPENDED = ("suspended", "paused")
OFFLINE = ("offline", "stopped", "shutdown", "shut down")
DEBUG_LINES = 40
SECRET_RE = re.compile(r"(?i)(password|passwd|token|secret|authorization|api[_-]?key)(\S*\s*[=:]\s*)(\S+)")
CHECK_NAMES = ("server_state", "storage", "ip_addresses", "storage_enabled", "destination_ssh", "cpu_compatible",
               "nat_interfaces")
# the lab's rich pre-check texts (an extra source: a failure it reports fails the check, its silence proves nothing)
RICH_PROBLEMS = (("server_state", "is offline"), ("destination_ssh", "SSH enabled"), ("ip_addresses", "IP address"),
                 ("storage_enabled", "is not enabled"), ("storage", "mount point"), ("cpu_compatible", "CPU "),
                 ("nat_interfaces", "NAT interfaces"))
NO_READ = "no read-only vendor call shows it; vfcli-ctrl's start runs it among its pre-tests"


def _err(exc, what):
    return MigrationError("%s: %s" % (what, exc.reason), reason=exc.reason, status=exc.status)


def slug(name):
    """A step's console name as a phase key: "Transfer data" -> "transfer-data"."""
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "migration"


def redact(line):
    return SECRET_RE.sub(lambda m: m.group(1) + m.group(2) + "********", line)


class VirtFusionProvider(MigrationProvider):
    name = "virtfusion"
    credentials_option = "virtfusion_credentials"
    states = ("migrated", "cancelled", "aborted")
    start_actions = ("start", "hybrid")
    check_names = CHECK_NAMES + placement.CHECK_NAMES
    noun = "server(s)"
    POLL_SECONDS = 1.0   # the longest pause between two status reads (re-attach without a console, hybrid)

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
        # shared with forks: hypervisors by id, where each server is, name -> ids, what this run started
        self._cache = cache if cache is not None else {
            "lock": threading.Lock(), "hypervisors": None, "where": None, "names": None, "started": {}}
        self._attached = {}   # server id -> the attached start this worker runs (its console)
        self._reattach = {}   # server id -> the destination of a running migration this run re-attaches to

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
        return VirtFusionProvider(self.params, client=self.client.fork(), cache=self._cache)

    def api_stats(self):
        return dict(self.client.stats)

    def on_wait(self, callback):
        self.client.on_wait(callback)

    # -- hypervisors -------------------------------------------------------------------------------
    def hypervisors(self):
        """Every hypervisor, ``GET /compute/hypervisors`` [vendor: paged, ``results`` up to 200]."""
        with self._cache["lock"]:
            if self._cache["hypervisors"] is None:
                items, page = [], 1
                while True:
                    try:
                        doc = self.client.rest("GET", "/compute/hypervisors?results=200&page=%d" % page) or {}
                    except VirtFusionError as exc:
                        raise _err(exc, "listing the hypervisors (REST API GET /compute/hypervisors)")
                    items.extend(doc.get("data") or [])
                    if not isinstance(doc.get("last_page"), int) or page >= doc["last_page"]:
                        break
                    page += 1
                self._cache["hypervisors"] = dict((h["id"], h) for h in items if isinstance(h, dict) and "id" in h)
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

    # -- where the servers are (servers --src, the documented listing) ----------------------------------
    def _servers_on(self, hid):
        try:
            return self.client.servers(hid)
        except VirtFusionError as exc:
            raise _err(exc, "listing the servers of hypervisor %s (vfcli-ctrl %s servers)" % (hid, GROUP))

    def _listing(self, refresh=()):
        """server id -> hypervisor id, and name -> ids, from ``servers --src`` of every hypervisor (once), or of
        the hypervisors in ``refresh`` again (after a migration moved a server between them)."""
        with self._cache["lock"]:
            where = self._cache["where"]
        if where is None:
            where, names = {}, {}
            for hid in sorted(self.hypervisors()):
                for s in self._servers_on(hid):
                    where.setdefault(s["id"], []).append(hid)
                    ids = names.setdefault(s.get("name"), [])
                    if s["id"] not in ids:
                        ids.append(s["id"])
            with self._cache["lock"]:
                self._cache["where"], self._cache["names"] = where, names
        for hid in refresh:
            listed = self._servers_on(hid)
            with self._cache["lock"]:
                where = self._cache["where"]
                for sid in list(where):
                    if hid in where[sid]:
                        where[sid] = [h for h in where[sid] if h != hid]
                for s in listed:
                    if hid not in where.setdefault(s["id"], []):
                        where[s["id"]].append(hid)
                    ids = self._cache["names"].setdefault(s.get("name"), [])
                    if s["id"] not in ids:
                        ids.append(s["id"])
        with self._cache["lock"]:
            return dict((k, list(v)) for k, v in self._cache["where"].items()), dict(self._cache["names"])

    def _where(self, sid, refresh=()):
        where, _names = self._listing(refresh)
        hvs = where.get(sid) or []
        return hvs[0] if len(hvs) == 1 else None

    # -- servers -----------------------------------------------------------------------------------
    def _server_doc(self, sid):
        try:
            return (self.client.rest("GET", "/servers/%s" % sid) or {}).get("data")
        except VirtFusionError as exc:
            if exc.status == 404:
                return None
            raise _err(exc, "reading server %s (REST API)" % sid)

    def _inst(self, sid, doc, hid):
        doc = doc if isinstance(doc, dict) else {}
        return {"id": sid, "name": doc.get("name") or str(sid), "uuid": doc.get("uuid"), "server": hid,
                "server_name": self._hv_name(hid) if hid is not None else None, "state": doc.get("state"),
                "ram": doc.get("memory"), "disk": None, "last_migration": doc.get("migration")}

    def resolve(self, key, refresh=()):
        key = str(key).strip()
        where, names = self._listing(refresh)
        if key.isdigit():
            sid = int(key)
        else:
            ids = names.get(key) or []
            if len(ids) > 1:
                raise MigrationError("server name %s is ambiguous (ids %s): give the server id"
                                     % (key, ", ".join(str(i) for i in ids)))
            sid = ids[0] if ids else None
        doc = self._server_doc(sid) if sid is not None else None
        if sid is None or (doc is None and sid not in where):
            raise MigrationError("%s (no server has that id or name)" % not_found("server", key, list(names)))
        hvs = where.get(sid) or []
        if len(hvs) > 1 and not refresh:   # listed twice: one listing is older than a migration; list them again
            return self.resolve(key, refresh=tuple(hvs))
        if len(hvs) > 1:
            raise MigrationError("server %s is listed on hypervisors %s at once (vfcli-ctrl servers --src)" % (
                sid, ", ".join(str(h) for h in hvs)))
        return self._inst(sid, doc, hvs[0] if hvs else None)

    def everyone(self):
        where, names = self._listing()
        name_of = dict((sid, name) for name, ids in names.items() for sid in ids)
        return [{"id": sid, "name": name_of.get(sid, str(sid)), "server": hvs[0] if len(hvs) == 1 else None}
                for sid, hvs in sorted(where.items())]

    def instances_on(self, server):
        hid, _name = self.resolve_server(server)
        ids = [s["id"] for s in self._servers_on(hid)]
        self._listing((hid,))
        return sorted((self.resolve(str(i)) for i in ids), key=lambda i: i["name"])

    # -- migrations --------------------------------------------------------------------------------
    def record(self, inst):
        sid = inst["id"]
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
            return self._migration(view)
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
        return self._migration(view)

    def _status(self, sid):
        """``last-status`` of server ``sid``: (word or None, cancelled, the rich migration object or None, text)."""
        try:
            ans = self.client.run("last-status", server=sid)
        except VirtFusionError as exc:
            raise _err(exc, "reading the migration of server %s (vfcli-ctrl last-status)" % sid)
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
                                 "failed: %s" % (inst["name"], (ans.text or "no output").splitlines()[0][:300]))
        view = dict(rich or {}, type="live", status="failed" if word == "failed" else word, cancelled=cancelled)
        if rich is None:
            with self._cache["lock"]:
                started = self._cache["started"].get(inst["id"]) or {}
            view["destinationId"] = started.get("dst")
        return self._migration(view)

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
        step = (current[:1] or done[-1:] or [None])[0]
        phase = slug(step["name"]) if step else (view.get("type") or "live")
        extra = {"id": view.get("id"), "type": view.get("type") or "live", "aborted": view.get("aborted"),
                 "data_transfer": view.get("dataTransfer"), "data_lost": bool(view.get("dataLost")),
                 "attempts": view.get("attempts"),
                 "steps": [{"name": s.get("name"), "status": s.get("status"), "message": s.get("message")}
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
            if rec is not None and rec.state == "successful" and target is not None:
                if rec.extra.get("simulated") and rec.target_server == target:
                    return DONE
                # it may have completed after the server was read: where is it listed now?
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
                return self._checked(inst, "abort", lambda r: r is not None and r.state != "running")
            if action == "data_success_force":
                return self._checked(inst, "data-success-force", None)
        except VirtFusionError as exc:
            raise _err(exc, "%s of server %s" % (action, sid))
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
            raise _err(exc, "reading hypervisor %s as a destination of %s (REST API)" % (target, inst["name"]))

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

    # -- following ---------------------------------------------------------------------------------
    def wait(self, inst, on_event, timeout):
        sid = inst["id"]
        attached = self._attached.pop(sid, None)
        with self._cache["lock"]:
            started = self._cache["started"].get(sid) or {}
        if attached is None and started.get("kind") != "hybrid":
            rec = self._live_record(inst)
            target = (rec.target_server if rec is not None else None) or started.get("dst") or \
                self._reattach.get(sid)
            if rec is not None and rec.state == "running" and target is not None:
                # re-attach with the same command [vendor]: its console shows the steps, it ends with the migration
                attached = {"argv": self.client.argv("start", server=sid, dst=target, as_json=False), "dst": target,
                            "src": inst["server"], "reattach": True}
        if attached is not None:
            return self._follow_console(inst, attached, on_event, timeout)
        return self._poll(inst, on_event, timeout)

    def _follow_console(self, inst, attached, on_event, timeout):
        sid, name = inst["id"], inst["name"]
        deadline = time.monotonic() + timeout
        shown, lines = {}, []

        def on_line(line):
            lines.append(line)
            m = STEP_RE.match(line)
            if not m:
                return
            status, step = m.group(1).lower(), m.group(2)
            base = step.split("  ")[0].split(":")[0].strip()
            if shown.get(base) == (status, step):
                return
            shown[base] = (status, step)
            on_event({"phase": slug(base), "message": "[%s] %s" % (status, step), "state": status})
        for _attempt in range(20):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ans = self.client.follow(attached["argv"], on_line, left)
            except (ConnectionProblem, VirtFusionError):
                ans = False   # dropped: re-attach with the same command [vendor]
            if ans is None:
                break
            rec = self._live_record(inst)
            if rec is not None and rec.state == "running":
                continue      # the console ended before the migration (a dropped connection): re-attach
            return self._outcome(inst, attached, rec, ans, bool(shown), lines, on_event)
        raise MigrationError("%s: still migrating after %d seconds (timeout); the migration goes on: run the task "
                             "again to re-attach to it" % (name, timeout))

    def _outcome(self, inst, attached, rec, ans, ran, lines, on_event):
        """How an attached start ended: where the server is listed now and ``last-status``."""
        sid, dst = inst["id"], attached["dst"]
        on = self._where(sid, refresh=tuple(h for h in (attached.get("src"), dst) if h is not None))
        text = ans.text if ans else ""
        done_texts = ("is already on the destination", "Specify a destination hypervisor ID")
        if on == dst and (rec is None or rec.state == "successful" or any(t in text for t in done_texts)):
            end = {"type": "end", "phase": rec.phase if rec else "live", "state": "successful", "message": None}
            if rec is not None and rec.raw.get("qemu") is not None:
                self._measured(rec, end)
            return end
        reason = "; ".join(e for e in (ans.errors if ans else []) if e) or (rec.error if rec else None)
        if rec is not None and rec.state in ("failed", "cancelled") and (ran or not ans or ans.rc not in (None, 0)):
            tail = self.debug_tail(inst)
            end = {"type": "end", "phase": rec.phase, "state": "failed", "debug_tail": tail,
                   "message": (rec.error or self._failed_line(lines) or reason or "the migration failed")}
            return end
        raise MigrationError("%s: vfcli-ctrl %s start was refused: %s" % (
            inst["name"], GROUP, reason or "the server is not on hypervisor %s and no migration runs" % dst),
            reason=reason)

    @staticmethod
    def _failed_line(lines):
        failed = [line.strip() for line in lines if line.strip().lower().startswith(("migration failed", "error:"))]
        steps = [line.strip() for line in lines if STEP_RE.match(line) and "[failed]" in line.lower()]
        return "; ".join(steps[-1:] + failed[-1:]) or None

    def _poll(self, inst, on_event, timeout):
        """Follow a migration without a console (a hybrid one; or a live one this run did not start): its status,
        and its steps when the answer shows them, polled with sleeps that start short and grow to POLL_SECONDS."""
        shown = {}
        for _attempt in poll_sleeps(timeout, self.POLL_SECONDS):
            rec = self.record(inst)
            if rec is None:
                raise MigrationError("%s: the migration disappeared while it was followed" % inst["name"])
            for st in STARTED_STEPS.search(rec.raw) or []:
                if shown.get(st["name"]) == st["status"] or st["status"] == "unknown":
                    continue
                shown[st["name"]] = st["status"]
                text = "[%s] %s" % (st["status"], st["name"])
                if st.get("message") and st["status"] in ("complete", "failed"):
                    text += ": %s" % st["message"]
                on_event({"phase": slug(st["name"]), "message": text, "state": st["status"]})
            if rec.state != "running":
                end = {"type": "end", "phase": rec.phase, "state": rec.state, "message": rec.error}
                if rec.state == "cancelled":   # cancelled by someone else while followed: not a success
                    end.update(state="failed", message="the migration was cancelled while it was followed")
                if rec.state in ("failed", "cancelled") and rec.extra.get("type") == "live":
                    end["debug_tail"] = self.debug_tail(inst)
                if rec.state == "successful" and rec.raw.get("qemu") is not None:
                    self._measured(rec, end)
                return end
        raise MigrationError("%s: still migrating after %d seconds (timeout); the migration goes on: run the task "
                             "again to re-attach to it" % (inst["name"], timeout))

    @staticmethod
    def _measured(rec, end):
        """What QEMU measured, when the answer shows it (the lab's rich output; never required)."""
        measured = MEASURED.search(rec.raw) or {}
        measured["source"] = "qemu"
        end["measured"] = measured
        end["bytes"] = measured.get("transferred_bytes")
        if measured.get("downtime_ms") is not None:
            end["downtime_seconds"] = measured["downtime_ms"] / 1000.0

    def debug_tail(self, inst, lines=DEBUG_LINES):
        """The last lines of ``last-debug`` [vendor: "the debug information of the last migration"], secrets
        masked; [] when it cannot be read."""
        try:
            ans = self.client.run("last-debug", server=inst["id"], as_json=False)
        except VirtFusionError:
            return []
        text = ans.out if ans.out.strip() else ans.err
        return [redact(line) for line in text.splitlines() if line.strip()][-lines:]

    # -- pre-checks --------------------------------------------------------------------------------
    def _server_state(self, inst):
        how = "REST GET /servers/{id} state (the field is observed, its values are not documented)"
        state = str(inst.get("state") or "").strip().lower()
        if not state:
            return check("server_state", UNKNOWN, how, "the server object shows no state")
        if state in ONLINE or state in SUSPENDED:
            return check("server_state", PASS, how, "server %s is %s" % (inst["id"], state))
        if state in OFFLINE:
            if self.mode == "hybrid" or self.opts.get("force_offline"):
                return check("server_state", PASS, how, "server %s is %s (%s)" % (
                    inst["id"], state, "hybrid takes offline servers" if self.mode == "hybrid" else "force_offline"))
            return check("server_state", FAIL, how, "Server %s is offline: a live migration needs the server online "
                         "(running or suspended) or awaiting setup; set force_offline=true to start it paused for "
                         "the transfer (vendor: --force-offline)" % inst["id"])
        return check("server_state", UNKNOWN, how, "server %s is in state %r, which the module does not know (the "
                     "vendor migrates servers online, suspended or awaiting setup live; offline with "
                     "--force-offline)" % (inst["id"], state))

    def _destination_checks(self, inst, target, dest):
        how = ("REST GET /servers/{id}/migrate/hybrid/destinations/{hv} (vendor, 7.1.0+: storage and networking "
               "detail; its field names are observed, not documented)")
        out = []
        disks = dest.get("disks")
        if not isinstance(disks, list) or not disks or not all(
                isinstance(d, dict) and isinstance(d.get("storage"), list) and d.get("mount") for d in disks):
            out.append(check("storage", UNKNOWN, how, dest.get("_error") or
                             "the answer lists no destination storage per drive"))
        else:
            missing = ["drive %s (%s)" % (d.get("drive"), d["mount"]) for d in disks
                       if not any(isinstance(o, dict) and o.get("mount") == d["mount"] and o.get("enabled", True)
                                  for o in d["storage"])]
            out.append(check("storage", FAIL if missing else PASS, how, (
                "storage mount point(s) missing or disabled on destination hypervisor %s: %s" % (
                    target, ", ".join(missing))) if missing else "every drive's mount point exists on hypervisor %s"
                % target))
        net = dest.get("networking")
        if not isinstance(net, dict) or not isinstance(net.get("ipRanges"), list) or not isinstance(net.get("ips"), list):
            out.append(check("ip_addresses", UNKNOWN, how, dest.get("_error") or "the answer shows no networking detail"))
        else:
            try:
                nets = [ipaddress.ip_network(r, strict=False) for r in net["ipRanges"]]
                bad = [ip for ip in net["ips"] if not any(
                    ipaddress.ip_address(ip).version == n.version and ipaddress.ip_address(ip) in n for n in nets)]
                out.append(check("ip_addresses", FAIL if bad else PASS, how, (
                    "IP address(es) not usable on destination hypervisor %s: %s" % (target, ", ".join(bad)))
                    if bad else "every IP address of the server is usable on hypervisor %s" % target))
            except ValueError as exc:
                out.append(check("ip_addresses", UNKNOWN, how, "unreadable networking detail: %s" % exc))
        for name in ("storage_enabled", "destination_ssh", "cpu_compatible", "nat_interfaces"):
            out.append(check(name, UNKNOWN, NO_READ, None))
        problems = dest.get("problems")
        if isinstance(problems, list):   # the lab's rich verdict: a reported problem fails its check
            for item in out + []:
                said = [p for p in problems if any(key == item["name"] and text in str(p) for key, text in RICH_PROBLEMS)]
                if said and item["result"] != FAIL:
                    item.update(result=FAIL, detail=" ".join(str(p) for p in said),
                                how=item["how"] + "; the destination endpoint's problems list (observed in the lab)")
        return out

    def precheck(self, instances, opts):
        target = opts.get("target_server")
        if target is None and placement.wanted(self.params) and instances:
            chooser = placement.Placement(self)
            out = chooser.precheck(instances, opts)
            self.placement_report = chooser.report
            return out
        name = self._hv_name(target) if target is not None else None
        out = []
        for inst in instances:
            entry = {"id": inst["id"], "name": inst["name"], "target": target, "target_name": name, "predicted": False,
                     "reason": "hypervisor %s (%s), given as target_server" % (target, name), "checks": []}
            out.append(entry)
            if target is None:
                entry["checks"].append(check("server_state", FAIL, "target_server", self.unsupported("start")))
                continue
            server_state = self._server_state(inst)
            try:
                dest = self._destinations(inst, target)
            except MigrationError as exc:   # e.g. before 7.1.0: no such endpoint; the checks it covers stay unknown
                dest = {"_error": exc.msg}
            checks = [server_state] + self._destination_checks(inst, target, dest)
            problems = dest.get("problems")
            if isinstance(problems, list) and any("is offline" in str(p) for p in problems) and \
                    server_state["result"] == PASS and self.mode == "live" and not self.opts.get("force_offline"):
                server_state.update(result=FAIL, detail=" ".join(str(p) for p in problems if "is offline" in str(p)))
            if self.mode == "hybrid":   # live-only requirements
                checks = [c for c in checks if c["name"] not in ("cpu_compatible",)]
            entry["checks"] = checks
        return out

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
            raise _err(exc, "reading hypervisor %s (REST API)" % server)
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
            raise _err(exc, "setting prohibit=%s on hypervisor %s (REST API)" % (bool(value), server))

    # -- verification of an evacuation -------------------------------------------------------------
    def verify_evacuation(self, source, expected, opts):
        """What differs from the promise of an evacuation to ``target_server``: the source lists none of the
        servers, each is listed once, on the destination, and online again if it was online."""
        problems = []
        where, _names = self._listing(tuple(sorted(self.hypervisors())))
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
