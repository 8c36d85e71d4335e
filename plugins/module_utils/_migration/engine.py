# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instance migration between compute nodes, independent of the vendor: the provider interface,
the registry of providers, the shared state machine and the result shape of the
``instance_migrate`` module, and the sliding window that migrates several instances at once.

Adding a provider (e.g. VirtFusion):

1. Write ``module_utils/<vendor>_migrate.py`` with a subclass of :class:`MigrationProvider`
   implementing the methods marked "provider", and call ``register("<vendor>", YourProvider)`` at
   import time.
2. Add its name to ``PROVIDER_MODULES`` below and to the choices of the module's ``provider``
   option, import its module_utils in ``plugins/modules/instance_migrate.py`` (AnsiballZ ships only
   the module_utils a module imports), add its connection options to the module's argument spec
   and a doc fragment.
3. Map the vendor's migration record onto :class:`Migration` (phase, state, syncs...). The state
   machine (:func:`next_action`) then gives every provider the same behaviour: idempotence, re-attach,
   check mode, failure policy and results.
4. A vendor whose migration model differs (VirtFusion: one ``start`` that runs every step, ``cancel``
   and ``abort`` instead of phases) overrides the state-machine hooks of :class:`MigrationProvider`
   (``states``, ``start_actions``, ``next_action``, ``running_action``, ``waits_for``, ``reached``,
   ``simulate``, ``needs_start``, ``cleanup_failed``, ``check_failure``); :func:`converge`, the check
   mode plan and the sliding window call those hooks, so re-attach, check mode, the failure policy and
   the result shape stay shared. A provider that measures the migration itself (QEMU's downtime and
   bytes) returns them in the end event of :meth:`MigrationProvider.wait` as ``downtime_seconds``,
   ``bytes`` and ``measured``.

The migration model (Triton's, which the others map onto): an optional record per instance with a
``phase`` (begin, sync, switch, pause, abort, rollback) and a ``state`` (running, paused, failed,
successful); actions ``begin``, ``automatic``, ``sync``, ``switch``, ``pause``, ``abort``,
``rollback``, ``finalize``; ``finalize``, ``abort`` and ``rollback`` delete the record.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import threading
import time

TRITON_STATES = ("begun", "synced", "switched", "migrated", "finalized", "rolled_back", "aborted", "paused")
# every state of every provider (the module's choices); each provider says which it supports
STATES = TRITON_STATES + ("cancelled",)
ACTIONS = ("begin", "automatic", "sync", "switch", "pause", "abort", "rollback", "finalize")
PROVIDER_MODULES = {
    "triton": "ansible_collections.fleetops.maintenance.plugins.module_utils._triton.provider",
    "virtfusion": "ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.provider",
}
_REGISTRY = {}
MAX_STEPS = 12


class MigrationError(Exception):
    """A migration request failed; ``reason`` is the vendor's message when there is one."""

    def __init__(self, msg, reason=None, status=None, code=None):
        super(MigrationError, self).__init__(msg)
        self.msg = msg
        self.reason = reason or msg
        self.status = status
        self.code = code


def register(name, cls):
    _REGISTRY[name] = cls


def provider_class(name):
    if name not in _REGISTRY and name in PROVIDER_MODULES:
        importlib.import_module(PROVIDER_MODULES[name])
    if name not in _REGISTRY:
        raise MigrationError("unknown provider %s (known: %s)" % (name, ", ".join(sorted(PROVIDER_MODULES))))
    return _REGISTRY[name]


class Migration(object):
    """A provider's migration record, normalized."""

    def __init__(self, phase, state, automatic=False, syncs=0, error=None, source_server=None,
                 target_server=None, raw=None, extra=None):
        self.phase = phase
        self.state = state
        self.automatic = bool(automatic)
        self.syncs = int(syncs or 0)
        self.error = error
        self.source_server = source_server
        self.target_server = target_server
        self.raw = raw or {}
        self.extra = extra  # provider-specific fields added to view()

    def key(self):
        return (self.phase, self.state, self.syncs, len(self.raw.get("progress_history") or []))

    def view(self):
        out = {"phase": self.phase, "state": self.state, "automatic": self.automatic, "syncs": self.syncs,
               "error": self.error, "source_server": self.source_server, "target_server": self.target_server}
        if self.extra:
            out.update(self.extra)
        return out


class MigrationProvider(object):
    """The interface every provider implements (methods raising NotImplementedError)."""

    name = "provider"
    #: the states this provider can reach (a subset of STATES)
    states = TRITON_STATES
    #: the actions that start a migration: they get the target plan and the capacity / pre-check
    start_actions = ("begin", "automatic")

    def __init__(self, params):
        self.params = params

    def fork(self):
        """A provider for another worker thread (its own HTTP client), same settings. provider"""
        raise NotImplementedError

    def api_stats(self):
        """Counters of this provider's API calls. provider"""
        return {}

    def resolve(self, key):
        """The instance named or with uuid ``key``: dict with id, name, server, server_name, state,
        ram, disk. Raises MigrationError when there is none. provider"""
        raise NotImplementedError

    def record(self, inst):
        """The instance's current :class:`Migration`, or None. provider"""
        raise NotImplementedError

    def start(self, inst, action, target_server=None):
        """Ask for ``action``; raise MigrationError with the vendor's reason when refused. provider"""
        raise NotImplementedError

    def wait(self, inst, on_event, timeout):
        """Follow the running action until it ends; return {"phase", "state", "message"}. provider"""
        raise NotImplementedError

    def estimate(self, inst):
        """Bytes the first sync would send, or None. provider"""
        return None

    def unsupported(self, action, target_server=None):
        """None, or why this provider (as configured) cannot do ``action``. provider"""
        return None

    def resolve_server(self, value):
        """(uuid, name) of a compute node given by name or uuid; (value, None) if not visible. provider"""
        return value, None

    def plan_targets(self, instances, target_server=None):
        """Predicted target per instance, in order, with capacity taken as they are placed:
        list of {"id", "target", "target_name", "reason"}; None when capacity is not visible. provider"""
        return None

    def instances_on(self, server):
        """Instances on a compute node (for evacuations). provider"""
        raise NotImplementedError

    # -- state-machine hooks: the defaults are Triton's model ----------------------------------------
    def next_action(self, want, rec, inst, opts, resynced):
        """What to do next when no action is running (see :func:`next_action`)."""
        return next_action(want, rec, inst, opts, resynced)

    def running_action(self, want, rec, inst, opts):
        """With a running record: an action to take now, ("fail", reason), or None to wait for it."""
        if want == "paused" and rec.phase == "sync":
            return "pause"
        return None

    def waits_for(self, action):
        """Whether ``action`` runs on (and is followed with :meth:`wait`) after it was requested."""
        return action != "finalize"

    def reached(self, rec, inst, opts):
        """A name for where the instance stands (see :func:`reached`)."""
        return reached(rec, inst, opts)

    def simulate(self, rec, action, inst, target):
        """The record ``action`` would leave (check mode planning)."""
        return _simulate(rec, action, inst, target)

    def needs_start(self, inst, rec, opts):
        """Whether a migration of ``inst`` would be started (it gets the capacity / pre-check)."""
        return rec is None and not (opts.get("source_server") and inst["server"] != opts["source_server"])

    def check_failure(self, short, to_move):
        """The message when the up-front check of several instances finds some that cannot move."""
        why = "; ".join("%s: %s" % (t["name"], t["reason"]) for t in short)
        return "capacity check failed, nothing was moved: %d of %d instance(s) do not fit: %s" % (
            len(short), len(to_move), why)

    def cleanup_failed(self, key, progress):
        """Failure policy ``failed_action=abort``: discard a failed migration; returns what was done."""
        return _abort_failed(self, key, progress)


# -- the state machine ---------------------------------------------------------------------------
DONE = "done"
# states reached from a successful migration: state -> (the action, the refusal otherwise)
AFTER_SUCCESS = {"rolled_back": ("rollback", "Rollback only works on a successful migration"),
                 "finalized": ("finalize", "Finalize only works on a successful migration")}


def _moved_already(inst, opts):
    """With no record: has the instance left its source (the rule that keeps a finalized migration
    idempotent)? True/False, or None when neither source_server nor target_server says."""
    src, dst = opts.get("source_server"), opts.get("target_server")
    if dst:
        return inst["server"] == dst
    if src:
        return inst["server"] != src
    return None


def next_action(want, rec, inst, opts, resynced):
    """What to do next to reach ``want`` from record ``rec``: an action name, DONE, or
    ("fail", reason). A running record is handled by the caller (waited for first)."""
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
        return "automatic" if want == "migrated" and not opts.get("resync") else "begin"
    if rec.state == "successful":
        return DONE
    if rec.phase == "begin" and rec.state == "failed":
        return "begin"
    if want == "begun":
        return DONE
    needs_sync = rec.syncs == 0 or (opts.get("resync") and not resynced) or (
        rec.phase == "sync" and rec.state == "failed" and want == "synced")
    if needs_sync:
        return "sync"
    if want == "synced":
        return DONE
    return "switch"


def reached(rec, inst, opts):
    """A name for where the instance stands."""
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


def _simulate(rec, action, inst, target):
    """The record an action would leave (check mode planning)."""
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


class _Observer(object):
    """Turns progress events into progress lines and the observed numbers of a migration."""

    def __init__(self, progress, name, clock=time.time):
        self.progress = progress
        self.name = name
        self.clock = clock
        self.syncs = []
        self._bytes = {}   # sync (its started_timestamp) -> most bytes seen
        self._order = []
        self.stop_seen = None
        self.downtime = None
        self.measured = None   # what the provider measured itself (e.g. QEMU), from the end event

    def begin_action(self, action):
        self._bytes, self._order = {}, []
        if action in ("switch", "automatic"):
            self.switch_requested = self.clock()

    def end_action(self, end):
        self.syncs.extend(self._bytes[k] for k in self._order)
        self._bytes, self._order = {}, []
        if end.get("measured") is not None:
            # the provider's own numbers (VirtFusion: QEMU's downtime and bytes) beat the observed ones
            self.measured = end["measured"]
            if end.get("bytes") is not None:
                self.syncs.append(int(end["bytes"]))
            if end.get("downtime_seconds") is not None:
                self.downtime = end["downtime_seconds"]
            return
        if end.get("state") == "successful" and end.get("phase") == "switch":
            # from the stop event; if the stream did not show it, from the switch request (an upper bound)
            start = self.stop_seen if self.stop_seen is not None else getattr(self, "switch_requested", None)
            if start is not None:
                self.downtime = round(self.clock() - start, 3)
            self.stop_seen = None

    def __call__(self, event):
        phase = event.get("phase") or "migration"
        msg = event.get("message") or ""
        if msg == "stopping the instance" and self.stop_seen is None:
            self.stop_seen = self.clock()
        cur, total = event.get("current_progress"), event.get("total_progress")
        percent = None
        if isinstance(cur, (int, float)) and isinstance(total, (int, float)) and total:
            percent = max(0, min(100, int(100.0 * cur / total)))
        data = {"instance": self.name}
        if event.get("transfer_bytes_second") is not None and phase == "sync":
            key = event.get("started_timestamp") or "sync"
            if key not in self._bytes:
                self._order.append(key)
            self._bytes[key] = max(self._bytes.get(key, 0), int(cur or 0))
            rate = event.get("transfer_bytes_second") or 0
            eta = (event.get("eta_ms") or 0) / 1000.0
            msg = "%s: %s of %s at %s/s, ETA %.0fs" % (
                self.name, human_bytes(cur), human_bytes(total), human_bytes(rate), eta)
            data.update(bytes=cur, total_bytes=total, bytes_per_second=rate, eta_seconds=round(eta, 1))
        else:
            msg = "%s: %s" % (self.name, msg or event.get("state", ""))
        self.progress.update(phase, msg, percent, **data)


def human_bytes(n):
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%.1f TiB" % n


def converge(provider, key, opts, progress, check_mode, clock=time.time):
    """Drive one instance to ``opts["state"]``. Returns the per-instance result dict; raises
    MigrationError (with ``result`` attached) on failure. Changes nothing in check mode."""
    want = opts["state"]
    inst = provider.resolve(key)
    target = opts.get("target_server")
    obs = _Observer(progress, inst["name"], clock=clock)
    result = {"instance": {"id": inst["id"], "name": inst["name"]}, "provider": provider.name, "changed": False,
              "state": want, "phases": [], "waited_for": [], "server": {"before": inst["server"], "after": None},
              "server_name": {"before": inst.get("server_name"), "after": None}, "target_server": None,
              "target_server_name": None, "migration": None, "estimated_bytes": None, "syncs": [],
              "bytes_sent": 0, "downtime_seconds": None, "reached": None, "msg": ""}
    if want not in provider.states:
        raise _fail("%s: state %s is not supported by provider %s (its states: %s)"
                    % (inst["name"], want, provider.name, ", ".join(provider.states)), result)
    if want == "rolled_back" and provider.unsupported("rollback"):
        raise _fail("%s: %s" % (inst["name"], provider.unsupported("rollback")), result)
    rec = provider.record(inst)
    before = rec.view() if rec else None
    result["migration_before"] = before
    resynced = False
    plan_rec = rec
    if check_mode:
        result["plan"] = _plan(provider, inst, want, rec, opts, target)
        result["phases"] = list(result["plan"]["phases"])
        result["changed"] = bool(result["phases"])
        result["target_server"] = result["plan"].get("target_server")
        result["target_server_name"] = result["plan"].get("target_server_name")
        result["estimated_bytes"] = result["plan"].get("estimated_bytes")
        result["reached"] = provider.reached(rec, inst, opts)
        result["migration"] = before
        result["server"]["after"] = inst["server"]
        result["server_name"]["after"] = inst.get("server_name")
        if result["plan"].get("fail"):
            raise _fail(result["plan"]["fail"], result)
        result["msg"] = "check mode: would run %s" % (", ".join(result["phases"]) or "nothing")
        return result
    for _step in range(MAX_STEPS):
        action = _decide(provider, want, rec, inst, opts, resynced, target)
        if action is None:
            progress.update("wait", "%s: re-attaching to the running %s" % (inst["name"], rec.phase),
                            instance=inst["name"])
            result["waited_for"].append(rec.phase)
            obs.begin_action(rec.phase)
            end = _follow(provider, inst, obs, opts["timeout"], result)
            obs.end_action(end)
            rec = provider.record(inst)
            continue
        if action == DONE:
            break
        if isinstance(action, tuple):
            raise _fail(action[0], result, reason=action[1])
        starts = action in provider.start_actions
        if starts and opts.get("capacity_check", True):
            plans = provider.plan_targets([inst], target)
            if plans and not plans[0]["target"]:
                raise _fail("%s: not migrating: %s" % (inst["name"], plans[0]["reason"]), result)
        progress.update(action, "%s: %s" % (inst["name"], action), 0, instance=inst["name"])
        key_before = rec.key() if rec else None
        try:
            provider.start(inst, action, target if starts else None)
        except MigrationError as exc:
            again = provider.record(inst)
            if exc.status == 412 and again is not None and again.key() != key_before and again.state == "running":
                resynced = resynced or _resyncs(action, rec)
                rec = again  # our own request got through before a retry: follow it
                result["changed"] = True
                result["phases"].append(action)
                continue
            raise _fail("%s: %s refused: %s" % (inst["name"], action, exc.reason), result, reason=exc.reason)
        result["changed"] = True
        result["phases"].append(action)
        resynced = resynced or _resyncs(action, rec)
        if not provider.waits_for(action):
            rec = provider.record(inst)
            continue
        obs.begin_action(action)
        end = _follow(provider, inst, obs, opts["timeout"], result)
        obs.end_action(end)
        rec = provider.record(inst)
        if end.get("state") == "failed" or (rec is not None and rec.state == "failed"):
            reason = (rec.error if rec is not None and rec.error else end.get("message")) or "failed"
            result["migration"] = rec.view() if rec else None
            if obs.measured is not None:   # what was measured up to the failure (e.g. bytes sent before an abort)
                result["measured"] = obs.measured
            raise _fail("%s: %s failed: %s" % (inst["name"], end.get("phase") or action, reason), result,
                        reason=reason, failed_phase=end.get("phase") or action)
    else:
        raise _fail("%s: did not reach state %s after %d steps" % (inst["name"], want, MAX_STEPS), result)
    _finish(provider, inst, rec, obs, result, opts)
    return result


def _decide(provider, want, rec, inst, opts, resynced, target):
    """The next step toward ``want`` from record ``rec``, the same for a run and its check-mode plan:
    None while a running action is to be waited for, DONE, an action the provider can take, or
    ``(message, reason)`` when ``want`` cannot be reached from here."""
    if rec is not None and rec.state == "running":
        action = provider.running_action(want, rec, inst, opts)
        if action is None:
            return None
    else:
        action = provider.next_action(want, rec, inst, opts, resynced)
    if isinstance(action, tuple):
        return "%s: cannot reach state %s: %s" % (inst["name"], want, action[1]), action[1]
    if action != DONE:
        why = provider.unsupported(action, target if action in provider.start_actions else None)
        if why:
            return "%s: %s" % (inst["name"], why), None
    return action


def _resyncs(action, rec):
    """Whether ``action`` on record ``rec`` counts as the resync that ``resync`` asks for (a sync after
    the first one, or an automatic migration, which syncs again before its switch)."""
    return action == "automatic" or (action == "sync" and rec is not None and rec.syncs >= 1)


def _finish(provider, inst, rec, obs, result, opts):
    now = provider.resolve(inst["id"])
    result["server"]["after"] = now["server"]
    result["server_name"]["after"] = now.get("server_name")
    result["migration"] = rec.view() if rec else None
    if rec is not None and rec.target_server:
        result["target_server"] = rec.target_server
    elif result["changed"] and now["server"] != inst["server"]:
        result["target_server"] = now["server"]
    if result["target_server"]:
        result["target_server_name"] = provider.resolve_server(result["target_server"])[1]
    result["syncs"] = list(obs.syncs)
    result["bytes_sent"] = sum(obs.syncs)
    result["downtime_seconds"] = obs.downtime
    if obs.measured is not None:
        result["measured"] = obs.measured
    result["reached"] = provider.reached(rec, now, opts if rec or not result["changed"] else dict(
        opts, source_server=inst["server"]))
    result["msg"] = "%s: %s (%s)" % (inst["name"], result["reached"],
                                     ", ".join(result["phases"]) if result["phases"] else "nothing to do")


def _follow(provider, inst, obs, timeout, result):
    """provider.wait, with what this run did attached to a failure (a timeout: the action goes on)."""
    try:
        return provider.wait(inst, obs, timeout)
    except MigrationError as exc:
        if getattr(exc, "result", None) is not None:
            raise
        raise _fail(exc.msg, result, reason=exc.reason)


def _fail(msg, result, reason=None, failed_phase=None):
    exc = MigrationError(msg, reason=reason)
    result["msg"] = msg
    result["failed"] = True
    if failed_phase:
        result["failed_phase"] = failed_phase
    exc.result = result
    return exc


def _plan(provider, inst, want, rec, opts, target):
    plan = {"phases": [], "target_server": None, "target_server_name": None, "target_reason": None,
            "estimated_bytes": None, "notes": []}
    sim, resynced = rec, False
    if rec is not None and rec.target_server:
        plan["target_server"], plan["target_server_name"] = provider.resolve_server(rec.target_server)
        plan["target_reason"] = "the migration's target, chosen at begin"
    for _i in range(MAX_STEPS):
        action = _decide(provider, want, sim, inst, opts, resynced, target)
        if action is None:
            plan["notes"].append("a %s is running: the module would wait for it, then decide" % sim.phase)
            return plan
        if action == DONE:
            break
        if isinstance(action, tuple):
            plan["fail"] = action[0]
            return plan
        if action in provider.start_actions:
            plans = provider.plan_targets([inst], target)
            if plans is None:
                plan["target_reason"] = "chosen by the provider's allocator at begin (capacity not visible)"
                if target:
                    plan["target_server"], plan["target_server_name"] = provider.resolve_server(target)
            elif plans[0]["target"]:
                plan["target_server"], plan["target_server_name"] = plans[0]["target"], plans[0]["target_name"]
                plan["target_reason"] = plans[0]["reason"]
                if plans[0].get("problems") is not None:
                    plan["problems"] = plans[0]["problems"]
            else:
                if plans[0].get("problems") is not None:   # a provider's pre-check: every failing check
                    plan["problems"] = plans[0]["problems"]
                plan["fail"] = "%s: not migrating: %s" % (inst["name"], plans[0]["reason"])
                plan["target_reason"] = plans[0]["reason"]
                return plan
            plan["estimated_bytes"] = provider.estimate(inst)
        plan["phases"].append(action)
        resynced = resynced or _resyncs(action, sim)
        sim = provider.simulate(sim, action, inst, plan["target_server"])
    return plan


# -- several instances: a sliding window ---------------------------------------------------------
class LockedProgress(object):
    """A Progress shared by worker threads."""

    def __init__(self, progress):
        self._progress = progress
        self._lock = threading.Lock()
        self.history = progress.history

    def update(self, *args, **kwargs):
        with self._lock:
            return self._progress.update(*args, **kwargs)


def run_window(provider, keys, opts, progress, check_mode, concurrency=1, on_failure="stop",
               failed_action="abort", clock=time.time):
    """Migrate several instances, at most ``concurrency`` at once: a new one starts as soon as one
    finishes (not batches). ``on_failure``: ``stop`` starts no new ones after a failure (running
    ones finish), ``continue`` goes on. ``failed_action``: ``abort`` aborts a migration that failed
    before its switch, ``leave`` leaves it for inspection. Returns (results, summary)."""
    shared = LockedProgress(progress)
    results = [None] * len(keys)
    lock = threading.Condition()
    state = {"next": 0, "running": 0, "stopped": False}

    def work(index, prov):
        key = keys[index]
        started = clock()
        try:
            res = converge(prov, key, opts, shared, check_mode, clock=clock)
            res["result"] = "ok"
        except MigrationError as exc:
            res = getattr(exc, "result", None) or {"instance": {"id": None, "name": key}, "changed": False}
            res["result"] = "failed"
            res["msg"] = exc.msg
            res["failed"] = True
            if not check_mode and failed_action == "abort":
                res["cleanup"] = prov.cleanup_failed(key, shared)
        except Exception as exc:  # a worker never takes the others down
            res = {"instance": {"id": None, "name": key}, "changed": False, "result": "failed", "failed": True,
                   "msg": "%s: %s" % (key, exc)}
        res["seconds"] = round(clock() - started, 3)
        with lock:
            results[index] = res
            state["running"] -= 1
            if res["result"] == "failed" and on_failure == "stop":
                state["stopped"] = True
            lock.notify_all()

    threads = []
    with lock:
        while True:
            while state["running"] >= concurrency:
                lock.wait()
            if state["stopped"] or state["next"] >= len(keys):
                break
            index = state["next"]
            state["next"] += 1
            state["running"] += 1
            prov = provider if concurrency == 1 else provider.fork()
            t = threading.Thread(target=work, args=(index, prov), name="migrate-%d" % index)
            t.daemon = True
            threads.append(t)
            t.start()
        while state["running"] > 0:
            lock.wait()
    for t in threads:
        t.join()
    for i, key in enumerate(keys):
        if results[i] is None:
            results[i] = {"instance": {"id": None, "name": key}, "changed": False, "result": "skipped",
                          "msg": "%s: not started (an earlier migration failed and on_failure=stop)" % key}
    summary = {"ok": sum(1 for r in results if r["result"] == "ok"),
               "failed": sum(1 for r in results if r["result"] == "failed"),
               "skipped": sum(1 for r in results if r["result"] == "skipped"),
               "changed": sum(1 for r in results if r.get("changed"))}
    return results, summary


def _abort_failed(provider, key, progress):
    """Failure policy: abort a failed migration that has not switched (the source keeps running)."""
    try:
        inst = provider.resolve(key)
        rec = provider.record(inst)
        if rec is None or rec.state in ("running", "successful"):
            return "left (%s)" % ("no record" if rec is None else rec.state)
        progress.update("abort", "%s: aborting the failed migration" % inst["name"], 0, instance=inst["name"])
        provider.start(inst, "abort")
        provider.wait(inst, lambda _e: None, 900)
        return "aborted"
    except MigrationError as exc:
        return "abort failed: %s" % exc.reason
