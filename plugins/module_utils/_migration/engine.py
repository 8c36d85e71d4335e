# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The vendor-neutral migration engine of ``instance_migrate``: converge one instance to the wanted
state, with one decision (:func:`_decide`) for a run and for its check-mode plan; follow progress.
Several instances go through a sliding window (``_migration.window``) that calls :func:`converge` for
each. What a vendor's migration is (its record, its actions, its state machine) is the provider's
(``_migration.provider``); the engine only calls its hooks, so re-attach, check mode, the failure
policy and the result shape are the same for all.

Adding a provider: write ``module_utils/_<vendor>/provider.py`` with a subclass of
``MigrationProvider`` implementing its hooks (its option spec, connection, record, state machine),
add it to ``_migration.registry.PROVIDERS``, and document its options in a doc fragment the
module extends.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import human_bytes
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import describe, describe_blocking, settle
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import DONE, VENDOR_DONE, VENDOR_FAILED, MigrationError

MAX_STEPS = 12


class _NoSlot(object):
    """The slot of a single migration (no window): nothing to wait for."""

    def acquire(self, name=None):
        return None

    def release(self, failed=False):
        return None

    def failed(self):
        return None


class _Observer(object):
    """Turns progress events into progress lines and the observed numbers of a migration."""

    def __init__(self, provider, progress, name, clock=time.time, on_vendor_done=None, on_vendor_failed=None):
        self.provider = provider
        self.progress = progress
        self.name = name
        self.clock = clock
        self.on_vendor_done = on_vendor_done   # the vendor says the migration is over: the window may go on
        self.on_vendor_failed = on_vendor_failed   # the vendor shows it failing: a window may have to stop
        self.syncs = []
        self._bytes = {}   # sync (its started_timestamp) -> most bytes seen
        self._order = []
        self.stop_seen = None
        self.downtime = None
        self.measured = None   # what the provider measured itself (e.g. QEMU), from the end event

    def begin_action(self, action):
        self._bytes, self._order = {}, []
        if action in self.provider.downtime_actions:
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
        if end.get("state") == "successful" and end.get("phase") == self.provider.downtime_end_phase:
            # from the stop event; if the stream did not show it, from the switch request (an upper bound)
            start = self.stop_seen if self.stop_seen is not None else getattr(self, "switch_requested", None)
            if start is not None:
                self.downtime = round(self.clock() - start, 3)
            self.stop_seen = None

    def __call__(self, event):
        if event.get("type") in (VENDOR_DONE, VENDOR_FAILED):
            hook = self.on_vendor_done if event["type"] == VENDOR_DONE else self.on_vendor_failed
            if hook is not None:
                hook()
            return
        phase = event.get("phase") or "migration"
        msg = event.get("message") or ""
        if msg and msg == self.provider.downtime_start_message and self.stop_seen is None:
            self.stop_seen = self.clock()
        cur, total = event.get("current_progress"), event.get("total_progress")
        percent = None
        if isinstance(cur, (int, float)) and isinstance(total, (int, float)) and total:
            percent = max(0, min(100, int(100.0 * cur / total)))
        data = {"instance": self.name}
        if event.get("transfer_bytes_second") is not None and phase in self.provider.transfer_phases:
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


# ``converge``'s ``record`` when the caller read none (None is a record read: no migration)
UNREAD = object()


def converge(provider, key, opts, progress, check_mode, clock=time.time, slot=None, record=UNREAD):
    """Drive one instance to ``opts["state"]``. Returns the per-instance result dict; raises
    MigrationError (with ``result`` attached) on failure. Changes nothing in check mode. ``record``: the
    instance's migration record as this run's plan just read it (``window.read_records``), the first decision's
    instead of a second read of the same record (a worker reading ahead decides before its slot either way).

    ``slot`` (a sliding window's place) is taken right before the first request that changes something
    (or before following a migration that runs already) and given back when the provider reports the
    vendor's migration complete (or, at the latest, by the window when this returns): the reads that
    decide come before it, the reads that confirm after it."""
    want = opts["state"]
    slot = slot or _NoSlot()
    inst = provider.resolve(key)
    target = opts.get("target_server")
    obs = _Observer(provider, progress, inst["name"], clock=clock, on_vendor_done=slot.release,
                    on_vendor_failed=slot.failed)
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
    rec = provider.record(inst) if record is UNREAD else record
    before = rec.view() if rec else None
    result["migration_before"] = before
    memo = {}
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
        action = _decide(provider, want, rec, inst, opts, memo, target)
        if action is None:
            slot.acquire(inst["name"])   # a running migration counts in the window
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
        if starts:
            _prechecked(provider, inst, opts, result)
        provider.ready()
        slot.acquire(inst["name"])
        progress.update(action, "%s: %s" % (inst["name"], action), 0, instance=inst["name"])
        key_before = rec.key() if rec else None
        try:
            provider.start(inst, action, target if starts else None)
        except MigrationError as exc:
            again = provider.record(inst)
            if provider.went_through(exc, key_before, again):
                provider.note(action, rec, memo)
                rec = again  # our own request got through before a retry: follow it
                result["changed"] = True
                result["phases"].append(action)
                continue
            raise _fail("%s: %s refused: %s" % (inst["name"], action, exc.reason), result, reason=exc.reason)
        result["changed"] = True
        result["phases"].append(action)
        provider.note(action, rec, memo)
        if not provider.waits_for(action):
            rec = provider.record(inst)
            continue
        obs.begin_action(action)
        end = _follow(provider, inst, obs, opts["timeout"], result)
        obs.end_action(end)
        rec = provider.record(inst)
        if end.get("state") == "failed" or (rec is not None and rec.state == "failed"):
            slot.failed()
            reason = (rec.error if rec is not None and rec.error else end.get("message")) or "failed"
            result["migration"] = rec.view() if rec else None
            if obs.measured is not None:   # what was measured up to the failure (e.g. bytes sent before an abort)
                result["measured"] = obs.measured
            tail = ""
            if end.get("debug_tail"):      # the vendor's debug log of the failed migration (its last lines)
                result["debug_tail"] = end["debug_tail"]
                tail = "; last-debug (last %d lines): %s" % (
                    min(10, len(end["debug_tail"])), " | ".join(end["debug_tail"][-10:]))
            phase = provider.failed_phase(rec, end, action)
            hint = provider.next_steps(phase)
            raise _fail("%s: %s failed: %s%s%s" % (inst["name"], phase, reason, tail, "; next: " + hint if hint else ""),
                        result, reason=reason, failed_phase=phase)
    else:
        raise _fail("%s: did not reach state %s after %d steps" % (inst["name"], want, MAX_STEPS), result)
    _finish(provider, inst, rec, obs, result, opts)
    return result


def precheck_entries(provider, instances, opts):
    """The provider's pre-checks of starting ``instances`` (read-only), each entry settled against
    ``opts["accept_unverified"]``: ``blocked`` and ``problems`` (the blocking checks, as text) added."""
    entries = provider.precheck(instances, opts) if instances else []
    for entry in entries:
        blocking = settle(entry["checks"], opts.get("accept_unverified"))
        entry["blocked"] = bool(blocking)
        entry["problems"] = [describe(item) for item in blocking]
    return entries


def _prechecked(provider, inst, opts, result):
    """The pre-checks of starting ``inst`` (once per instance and run: a window checks every instance up front);
    a blocking one fails the instance before anything is asked of the vendor."""
    done = opts.get("prechecked")
    if done is not None and inst["id"] in done:
        result["prechecks"] = done[inst["id"]]["checks"]
        return
    entry = precheck_entries(provider, [inst], opts)[0]
    result["prechecks"] = entry["checks"]
    if entry["blocked"]:
        raise _fail("%s: not migrating: pre-checks: %s" % (
            inst["name"], describe_blocking([c for c in entry["checks"] if c["result"] in ("fail", "unknown")])),
            result)


def _decide(provider, want, rec, inst, opts, memo, target):
    """The next step toward ``want`` from record ``rec``, the same for a run and its check-mode plan:
    None while a running action is to be waited for, DONE, an action the provider can take, or
    ``(message, reason)`` when ``want`` cannot be reached from here."""
    if rec is not None and rec.state == "running":
        action = provider.running_action(want, rec, inst, opts)
        if action is None:
            return None
    else:
        action = provider.next_action(want, rec, inst, opts, memo)
    if isinstance(action, tuple):
        return "%s: cannot reach state %s: %s" % (inst["name"], want, action[1]), action[1]
    if action != DONE:
        why = provider.unsupported(action, target if action in provider.start_actions else None)
        if why:
            return "%s: %s" % (inst["name"], why), None
    return action


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
            "target_predicted": False, "estimated_bytes": None, "notes": [], "prechecks": [], "problems": []}
    sim, memo = rec, {}
    if rec is not None and rec.target_server:
        plan["target_server"], plan["target_server_name"] = provider.resolve_server(rec.target_server)
        plan["target_reason"] = "the migration's target, chosen at begin"
    for _i in range(MAX_STEPS):
        action = _decide(provider, want, sim, inst, opts, memo, target)
        if action is None:
            plan["notes"].append("a %s is running: the module would wait for it, then decide" % sim.phase)
            return plan
        if action == DONE:
            break
        if isinstance(action, tuple):
            plan["fail"] = action[0]
            return plan
        if action in provider.start_actions:
            entry = precheck_entries(provider, [inst], opts)[0]
            plan["prechecks"] = entry["checks"]
            plan["problems"] = entry["problems"]
            plan["target_server"], plan["target_server_name"] = entry.get("target"), entry.get("target_name")
            plan["target_reason"] = entry.get("reason")
            plan["target_predicted"] = bool(entry.get("predicted"))
            if entry["blocked"]:
                plan["fail"] = "%s: not migrating: pre-checks: %s" % (inst["name"], "; ".join(entry["problems"]))
                return plan
            plan["estimated_bytes"] = provider.estimate(inst)
        plan["phases"].append(action)
        provider.note(action, sim, memo)
        sim = provider.simulate(sim, action, inst, plan["target_server"])
    return plan
