# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Several instances of ``instance_migrate`` through a sliding window: at most ``concurrency`` migrations at the
vendor at once, each instance converged by the engine (``_migration.engine.converge``) in a worker thread that
reads and decides ahead and takes its slot right before its first change; the failure policy (``on_failure``,
``failed_action``) and the budgets' gate (``_common.budgets.Gate``) decide what starts next.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.fanout import fan_out
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.engine import UNREAD, converge
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError


class WindowStopped(MigrationError):
    """A window stopped (an earlier migration failed, on_failure=stop) before this instance's turn: nothing was
    asked of the vendor for it."""


class LockedProgress(object):
    """A Progress shared by worker threads."""

    def __init__(self, progress):
        self._progress = progress
        self._lock = threading.Lock()
        self.history = progress.history

    def update(self, *args, **kwargs):
        with self._lock:
            return self._progress.update(*args, **kwargs)

    def waiting(self, text):
        return self.update("wait", text)


class _Window(object):
    """The slots of a sliding window: at most ``size`` migrations run at the vendor at once. A worker reads and
    decides before it takes a slot (:meth:`Slot.acquire`) and gives it back as soon as the vendor reports its
    migration complete, so the next one starts then, not after the confirming reads. After a failure with
    ``on_failure=stop`` no slot is given any more (:class:`WindowStopped`)."""

    def __init__(self, size, on_failure):
        self.size = size
        self.on_failure = on_failure
        self.cond = threading.Condition()
        self.busy = 0
        self.stopped = False
        self.waiting = set()   # the order of each worker that has not had its first slot yet

    def slot(self, clock, order=0):
        with self.cond:
            self.waiting.add(order)
        return _Slot(self, clock, order)

    def _first_turn(self, order):
        """Whether no earlier worker still waits for its first slot (slots go out in the instances' order)."""
        return not any(o < order for o in self.waiting)


class _Slot(object):
    def __init__(self, window, clock, order=0):
        self.window = window
        self.clock = clock
        self.order = order   # slots go out in the instances' order: a worker ahead never overtakes an earlier one
        self.held = False
        self.taken_at = None   # when the worker first got its slot (its instance's time counts from then)

    def acquire(self, name=None):
        if self.held:
            return
        w = self.window
        with w.cond:
            first = self.taken_at is None
            while not w.stopped and (w.busy >= w.size or (first and not w._first_turn(self.order))):
                w.cond.wait()
            if w.stopped:
                raise WindowStopped("%s: not started (an earlier migration failed and on_failure=stop)" % name)
            w.busy += 1
            self.held = True
            if first:
                self.taken_at = self.clock()
                w.waiting.discard(self.order)
                w.cond.notify_all()

    def failed(self):
        """This worker's migration failed (the slot stays taken until its failure is handled)."""
        w = self.window
        with w.cond:
            if w.on_failure == "stop":
                w.stopped = True
            w.cond.notify_all()

    def release(self, failed=False):
        w = self.window
        with w.cond:
            if failed and w.on_failure == "stop":
                w.stopped = True   # before the slot is free: no start slips in after a failure
            if self.held:
                w.busy -= 1
                self.held = False
            w.waiting.discard(self.order)   # a worker that ends without a slot (nothing to change) holds no one up
            w.cond.notify_all()


def read_records(provider, instances, width):
    """Each instance's migration record (``provider.record``), in the instances' order, read up to ``width`` at
    once (the window's own width: no more requests at once than the window makes) by forks of the provider, as the
    window's workers read; sequentially by ``provider`` when ``width`` is 1 or there is one instance. Returns
    (records, forks): the forks, idle now, for :func:`run_window`'s workers (``spare``), so no connection is opened
    twice. A read that fails raises its error (the first in the instances' order) once every read has ended."""
    if width <= 1 or len(instances) <= 1:
        return [provider.record(i) for i in instances], []
    forks = [provider.fork() for _slot in range(min(width, len(instances)))]
    records = fan_out(instances, forks, lambda prov, inst: prov.record(inst))
    return records, forks


def run_window(provider, keys, opts, progress, check_mode, concurrency=1, on_failure="stop",
               failed_action="abort", clock=time.time, gate=None, targets=None, spare=None, records=None):
    """Migrate several instances, at most ``concurrency`` at once at the vendor: a new one starts as soon
    as the vendor reports one complete (not batches, and not after that one's confirming reads). Up to
    ``concurrency`` more workers read and decide ahead, each waiting for a slot right before its first
    request that changes something. ``on_failure``: ``stop`` starts no new ones after a failure (running
    ones finish), ``continue`` goes on. ``failed_action``: ``abort`` aborts a migration that failed
    before its switch, ``leave`` leaves it for inspection. ``gate`` (``_common.budgets.Gate``): an
    instance's worker starts only while its groups' budgets allow (the first allowed one in order starts
    next); a member counts as moving from its worker's start, reads ahead included, to its end, so a budget
    is never exceeded at the vendor. ``targets``: {key: destination} chosen per instance (else
    ``opts["target_server"]``). ``spare``: idle forks of ``provider`` (:func:`read_records`) the first workers use
    instead of new ones; ``records``: the records those reads returned, in ``keys``' order (each worker's first
    decision uses its instance's instead of reading it again). Returns (results, summary)."""
    shared = LockedProgress(progress)
    results = [None] * len(keys)
    window = _Window(concurrency, on_failure)
    lock = threading.Condition()
    workers = 1 if concurrency == 1 and len(keys) == 1 else 2 * concurrency   # the ones ahead read and decide
    state = {"pending": list(range(len(keys))), "running": 0}

    def work(index, prov, slot):
        key = keys[index]
        started = clock()
        own = dict(opts, target_server=targets[key]) if targets and key in targets else opts
        res = None
        try:
            res = converge(prov, key, own, shared, check_mode, clock=clock, slot=slot,
                           record=records[index] if records else UNREAD)
            res["result"] = "ok"
        except WindowStopped:
            res = None    # never started: reported as skipped
        except MigrationError as exc:
            res = getattr(exc, "result", None) or {"instance": {"id": None, "name": key}, "changed": False}
            res["result"] = "failed"
            res["msg"] = exc.msg
            res["failed"] = True
            slot.failed()   # no new start while the failure is handled
            if not check_mode and failed_action == "abort":
                res["cleanup"] = prov.cleanup_failed(key, shared)
        except Exception as exc:  # a worker never takes the others down
            res = {"instance": {"id": None, "name": key}, "changed": False, "result": "failed", "failed": True,
                   "msg": "%s: %s" % (key, exc)}
        finally:
            slot.release(failed=res is not None and res.get("result") == "failed")
        if res is not None:   # from its slot (the reads ahead while it waited for one are not its time)
            res["seconds"] = round(clock() - (slot.taken_at or started), 3)
        if prov is not provider:
            prov.retire()   # before the next worker's fork, which takes its connection
        with lock:
            results[index] = res
            state["running"] -= 1
            if gate is not None:
                gate.end(key)
            lock.notify_all()

    threads = []
    with lock:
        while True:
            while state["running"] >= workers:
                lock.wait()
            if window.stopped or not state["pending"]:
                break
            allowed = [i for i in state["pending"] if gate is None or gate.allows(keys[i])]
            if not allowed:   # every pending one waits for its group's budget: a running one ends first
                lock.wait()
                continue
            index = allowed[0]
            state["pending"].remove(index)
            if gate is not None:
                gate.start(keys[index])
                if gate.groups_by_key.get(keys[index]):
                    shared.update("budget", "%s: starts; %s" % (gate.names.get(keys[index], keys[index]), ", ".join(
                        "group %s: %d of at most %d moving" % (g, gate.running[g], gate.limits[g])
                        for g in gate.groups_by_key[keys[index]])))
            state["running"] += 1
            prov = provider if workers == 1 else (spare.pop(0) if spare else provider.fork())
            prov.on_wait(shared.waiting)
            slot = window.slot(clock, index)   # registered in order, before its worker runs
            t = threading.Thread(target=work, args=(index, prov, slot), name="migrate-%d" % index)
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
