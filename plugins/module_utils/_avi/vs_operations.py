# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Changing where Avi virtual services run: :func:`run_migrations` starts
``POST /api/virtualservice/{uuid}/migrate`` calls (or ``scaleout`` / ``scalein``), at most ``concurrency``
at once, and follows them all until each has an outcome.

The controller answers these requests at once and does the work afterwards; it publishes no operation
record to poll. So the outcome is learnt the vendor's way, from three sources:

1. the runtime's in-progress flags (``migrate_in_progress``, ``scaleout_in_progress``, ... on the VIP's summary,
   ``scaleout_in_progress`` / ``scalein_in_progress`` on each of its SEs, an SE still ``OPER_CREATING``): while
   any is set, the operation runs;
2. the placement (the VIP's SEs), compared with the request: the final judge;
3. the controller's event log (``GET /api/analytics/logs?type=2``): ``VS_MIGRATE_FAILED``, ``VS_SCALEOUT_FAILED``
   and the like for the VS, newer than the run's start.

An operation succeeds when nothing is in progress, the placement is what was asked, and no failure event was
reported for it; it fails when nothing is in progress and the placement is not what was asked (the runtime
confirming that nothing runs); when the sources disagree (the placement says done but a failure event says
otherwise) or one is missing (the VS is gone from the inventory, the event log cannot be read), the outcome
is ``unknown``, which fails the step: never a silent pass.

Reads are in bulk: one inventory read serves every VS being followed (``virtualservice-inventory`` of their SE
group), one event query opens the run and one closes it. Polling wakes when an operation is due: once an
operation has been seen to end, the shortest such duration predicts when the others end, and the next read
is timed for the earliest of them (see :class:`Pacer`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError, ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    OPER_CREATING,
    se_entries,
    vip_busy,
    vs_from_inventory,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout

DONE_RESULT = {"migrate": "moved", "scaleout": "scaled_out", "scalein": "scaled_in"}
VERB = {"migrate": "migrating", "scaleout": "scaling out", "scalein": "scaling in"}
NOUN = {"migrate": "migration", "scaleout": "scale-out", "scalein": "scale-in"}
# Events that say a VS operation failed (alb-sdk EventLog.event_id, 17.2.14 to 30.2.1), by operation.
FAILURE_EVENTS = {
    "migrate": ("VS_MIGRATE_FAILED", "VS_MIGRATE_SCALEOUT_ERROR", "VS_MIGRATE_SCALEIN_ERROR"),
    "scaleout": ("VS_SCALEOUT_ERR", "VS_SCALEOUT_FAILED"),
    "scalein": ("VS_SCALEIN_ERR", "VS_SCALEIN_FAILED"),
}
# Events about the SEs a placement waits for: reported, not failures (the controller retries on another host).
SE_EVENTS = ("CREATE_SE_FAIL", "CREATE_SE_TIMEOUT", "VS_AWAITING_SE")
# With at most this many operations to follow, each VS is read on its own; above, the whole group at once.
BULK_FROM = 3


def read_vip_runtime(client, vs_uuid, vip_id):
    """The runtime summary of one VIP (``GET /api/virtualservice/{uuid}/runtime/``)."""
    data = client.get("virtualservice/%s/runtime/" % vs_uuid)
    if isinstance(data, dict):
        summaries = data.get("vip_summary")
        if isinstance(summaries, dict):
            summaries = [summaries]
        data = summaries or data.get("results") or [data]
    for summary in data or []:
        if str(summary.get("vip_id", "0")) == str(vip_id):
            return summary
    return {}


def migrate_body(client, vip_id, from_se=None, to_se=None, to_host=None, to_new_se=False):
    body = {"vip_id": str(vip_id)}
    if from_se:
        body["from_se_ref"] = client.ref("serviceengine", from_se)
    if to_se:
        body["to_se_ref"] = client.ref("serviceengine", to_se)
    if to_host:
        body["to_host_ref"] = client.ref("vimgrhostruntime", to_host)
    if to_new_se:
        body["to_new_se"] = True
    return body


class Pacer(object):
    """When to read again: before any operation has been seen to end, every ``first`` seconds, then every tenth
    of the time the earliest running operation has run (at most ``interval``), so the first end is seen at most
    about 10% late whatever the operations' length; afterwards at the moment the earliest running operation is
    due (its start plus 95% of the shortest duration seen), then in small steps past it (from 2% of that
    duration, x1.5), so an end is seen a few per cent of its time late. Without a running operation's start to
    go by, a back-off from ``first`` seconds (x1.5, at most ``interval``). The durations are the controller's,
    as observed: nothing is assumed about them."""

    # before the first end: read again after this fraction of the time the earliest operation has run
    LATE_FRACTION = 0.1

    def __init__(self, clock, interval, first=0.05):
        self.clock = clock
        self.interval = max(0.01, float(interval))
        self.first = min(first, self.interval)
        self.estimate = None
        self._backoff = self.first
        self._late = None

    def observe(self, seconds):
        if seconds > 0:
            self.estimate = seconds if self.estimate is None else min(self.estimate, seconds)

    def restart(self):
        """Something changed (an operation started or ended): the next back-off starts short again."""
        self._backoff = self.first
        self._late = None

    def pause(self, starts):
        """Seconds to sleep before the next read, given the start times of the running operations."""
        now = self.clock()
        if self.estimate is not None and starts:
            due = min(starts) + 0.95 * self.estimate
            if due > now + 0.005:
                self._late = None
                return min(due - now, self.interval)
            if self._late is None:
                self._late = max(0.005, min(self.interval, 0.02 * self.estimate))
            pause, self._late = self._late, min(self.interval, self._late * 1.5)
            return pause
        if starts:
            return min(self.interval, max(self.first, self.LATE_FRACTION * (now - min(starts))))
        pause, self._backoff = self._backoff, min(self.interval, self._backoff * 1.5)
        return pause


def _event_key(event):
    return (event.get("event_id"), event.get("obj_uuid"), event.get("report_timestamp"),
            event.get("event_description"))


def _event_vs(event):
    """The VS an event is about: its object, or the ``vs_uuid`` in its details."""
    if event.get("obj_type") == "VIRTUALSERVICE" and event.get("obj_uuid"):
        return event["obj_uuid"]
    for details in (event.get("event_details") or {}).values():
        if isinstance(details, dict) and details.get("vs_uuid"):
            return details["vs_uuid"]
    return None


def _event_se(event):
    """The SE an SE event is about (``se_uuid`` in its details: SeSpawnDetails of CREATE_SE_FAIL and the like)."""
    for details in (event.get("event_details") or {}).values():
        if isinstance(details, dict) and details.get("se_uuid"):
            return details["se_uuid"]
    return None


def _event_text(event):
    details = [d for d in (event.get("event_details") or {}).values() if isinstance(d, dict)]
    reason = next((d.get("error_message") or d.get("reason") for d in details
                   if d.get("error_message") or d.get("reason")), None)
    text = event.get("event_description") or ""
    if reason and reason not in text:
        text = "%s (%s)" % (text, reason) if text else reason
    return "%s: %s" % (event.get("event_id"), text) if text else str(event.get("event_id"))


class EventWatch(object):
    """The controller's event log, read twice: what is there at the start (the baseline), then what came
    since. Only failure events of VS operations and SE creation events are asked for, over a window of the
    run's own length (``duration``, counted by the controller's clock, so the client's clock does not
    matter)."""

    IDS = sorted(set(sum(FAILURE_EVENTS.values(), ())) | set(SE_EVENTS))

    def __init__(self, client, clock=time.monotonic):
        self.client = client
        self.clock = clock
        self.started = clock()
        self.error = None
        self.baseline = set()
        try:
            self.baseline = set(_event_key(e) for e in self._read())
        except AviError as exc:
            self.error = exc.msg

    def _read(self):
        params = {"type": "2", "filter": "eq(event_id,[%s])" % ",".join(self.IDS),
                  "duration": int(self.clock() - self.started) + 300, "page_size": 1000}
        data = self.client.get("analytics/logs", params=params)
        return (data or {}).get("results") or [] if isinstance(data, dict) else []

    def since_start(self):
        """Events newer than the baseline; None when the event log could not be read (``error`` says why)."""
        if self.error is not None:
            return None
        try:
            return [e for e in self._read() if _event_key(e) not in self.baseline]
        except AviError as exc:
            self.error = exc.msg
            return None


class _Follower(object):
    def __init__(self, client, jobs, progress, concurrency, timeout, interval, clock, sleep, group_uuid,
                 known_ses, on_tick, gate=None):
        self.client = client
        self.gate = gate
        self.jobs = jobs
        self.progress = progress
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.group_uuid = group_uuid
        self.known_ses = set(known_ses) if known_ses is not None else None
        self.on_tick = on_tick
        self.pacer = Pacer(clock, interval)
        self.done = 0
        self.hosts = {}
        self.reads = 0

    # -- starting -----------------------------------------------------------------------------
    def start(self, job):
        action = job.get("action", "migrate")
        body = migrate_body(self.client, job["vip_id"], job.get("from_se"), job.get("to_se"), job.get("to_host"),
                            job.get("to_new_se"))
        job.setdefault("restarts", 0)
        job["polls"] = 0
        job["seen_busy"] = False
        job["started_at"] = self.clock()
        try:
            self.client.post("virtualservice/%s/%s" % (job["uuid"], action), body)
        except AviError as exc:
            if exc.status == 409:
                # Another operation on this VS runs (or our own retried request was accepted): follow it,
                # then look again.
                job["busy_before_start"] = True
            else:
                job["result"] = "failed"
                job["error"] = exc.msg
                return False
        self.progress.update(action, "%s VS %s (vip %s)" % (VERB[action], job["name"], job["vip_id"]),
                             percent=0, vs=job["name"])
        return True

    # -- reading ------------------------------------------------------------------------------
    def read(self, active):
        """{vs uuid: VS dict (vs_from_inventory)} for the active jobs: one inventory read of their group
        (or of everything), or one per VS when there are few."""
        self.reads += 1
        uuids = set(job["uuid"] for job in active)
        if len(uuids) < BULK_FROM:
            out = {}
            for uuid in uuids:
                try:
                    out[uuid] = vs_from_inventory(self.client.get("virtualservice-inventory/%s" % uuid))
                except AviError as exc:
                    if exc.status != 404:
                        raise
            return out
        params = {"page_size": 200}
        if self.group_uuid:
            params["se_group_ref"] = self.group_uuid
        out = {}
        for item in self.client.get_all("virtualservice-inventory", params=params):
            vs = vs_from_inventory(item)
            if vs["uuid"] in uuids:
                out[vs["uuid"]] = vs
        return out

    def host_of(self, se_uuid):
        if se_uuid not in self.hosts:
            self.hosts[se_uuid] = ref_uuid((self.client.get("serviceengine/%s" % se_uuid) or {}).get("host_ref"))
        return self.hosts[se_uuid]

    # -- judging ------------------------------------------------------------------------------
    def shortfall(self, job, ses):
        """Why the placement ``ses`` is not what the job asked for (None when it is)."""
        action = job.get("action", "migrate")
        before = job.get("before") or []
        new = [u for u in ses if u not in before]
        if action == "scalein":
            return None if job.get("from_se") not in ses else "still on the SE it was to leave"
        if action == "migrate":
            if not ses:
                return "placed on no SE"
            if job.get("from_se") and job["from_se"] in ses:
                return "still on the SE it was to leave"
            if not job.get("from_se") and not new:
                return "placement unchanged"
        elif len(ses) <= len(before) or not new:
            return "on no additional SE"
        if job.get("to_se") and job["to_se"] not in ses:
            return "not on the SE asked for"
        if job.get("to_new_se") or job.get("to_host"):
            created = [u for u in new if self.known_ses is None or u not in self.known_ses]
            if not created:
                return "moved to an existing SE, not to a new one"
            if job.get("to_host") and not any(self.host_of(u) == job["to_host"] for u in created):
                return "the new SE is not on the host asked for"
        return None

    def follow(self, job, vs):
        """Look at one active job with the VS as read: True when it has an outcome (or restarted: None)."""
        action = job.get("action", "migrate")
        job["polls"] += 1
        if vs is None or str(job["vip_id"]) not in vs["vips"]:
            job.update(result="unknown", after=None, error="VS '%s' (vip %s) is no longer in the inventory: the "
                       "outcome of its %s is unknown" % (job["name"], job["vip_id"], NOUN[action]))
            return True
        entries = vs["vips"][str(job["vip_id"])]
        ses = [e["se_uuid"] for e in entries]
        busy = vs["busy"].get(str(job["vip_id"])) or []
        if busy:
            job["seen_busy"] = True
            self.progress.update(action, "%s VS %s (vip %s)%s" % (
                VERB[action], job["name"], job["vip_id"], " (an SE is being created)" if OPER_CREATING in busy else ""),
                vs=job["name"], done=self.done, total=len(self.jobs))
            return False
        missing = self.shortfall(job, ses)
        if missing is None:
            job["after"] = ses
            job["result"] = DONE_RESULT[action]
            job["provisional"] = True      # until the event log agrees (see finish)
            self.pacer.observe(self.clock() - job["started_at"])
            return True
        settled = job["seen_busy"] or job["polls"] >= 3
        if not settled:
            return False
        # Nothing in progress in the inventory and not where asked: the VS runtime says whether it still runs.
        summary = read_vip_runtime(self.client, job["uuid"], job["vip_id"])
        if vip_busy(summary):
            job["seen_busy"] = True
            return False
        ses = [e["se_uuid"] for e in se_entries(summary)] or ses
        if job.get("busy_before_start"):
            job["busy_before_start"] = False
            if job.get("from_se") and job["from_se"] in ses and job["restarts"] < 3:
                job["restarts"] += 1
                return None
        job["after"] = ses
        job["result"] = "failed"
        job["error"] = "%s of VS '%s' (vip %s) did not complete: %s" % (NOUN[action], job["name"], job["vip_id"],
                                                                        self.shortfall(job, ses) or missing)
        return True

    def finish(self):
        """Hold every outcome against the event log: a failure event for a VS whose placement says done makes
        its outcome unknown; an event log that cannot be read leaves every success unconfirmed."""
        events = self.watch.since_start()
        for job in self.jobs:
            provisional = job.pop("provisional", False)
            if events is None:
                if provisional:
                    job["result"] = "unknown"
                    job["error"] = ("the placement of VS '%s' says its %s completed, but the controller's event log "
                                    "could not be read to confirm it (%s): the outcome is unknown"
                                    % (job["name"], NOUN[job.get("action", "migrate")], self.watch.error))
                continue
            # about the VS, or about an SE it ended on that was not there before (created for it: the vendor's SE
            # creation events name the SE, not the VS it is for)
            new_ses = set(job.get("after") or []) - set(job.get("before") or [])
            mine = [e for e in events if _event_vs(e) == job["uuid"] or (new_ses and _event_se(e) in new_ses)]
            job["events"] = [_event_text(e) for e in mine]
            failures = [e for e in mine if e.get("event_id") in FAILURE_EVENTS[job.get("action", "migrate")]]
            if failures and provisional:
                job["result"] = "unknown"
                job["error"] = ("the placement of VS '%s' says its %s completed, but the controller reported %s: "
                                "the outcome is unknown" % (job["name"], NOUN[job.get("action", "migrate")],
                                                            "; ".join(_event_text(e) for e in failures)))
            elif job.get("result") == "failed" and mine:
                job["error"] = "%s; the controller reported %s" % (job["error"], "; ".join(job["events"]))

    # -- the budgets' gate (at most max_moving members of a group at once) ------------------------
    def next_allowed(self, pending):
        """The first pending job the gate lets start (the first one without a gate), taken off ``pending``."""
        for job in pending:
            if self.gate is None or self.gate.allows(job.get("key")):
                pending.remove(job)
                return job
        return None

    def opened(self, job):
        job["started_s"] = round(self.clock() - self.began, 3)
        if self.gate is not None:
            self.gate.start(job.get("key"))

    def closed(self, job):
        job["ended_s"] = round(self.clock() - self.began, 3)
        if self.gate is not None:
            self.gate.end(job.get("key"))

    # -- the loop -----------------------------------------------------------------------------
    def run(self):
        self.began = self.clock()
        self.watch = EventWatch(self.client, self.clock)
        pending = list(self.jobs)
        active = []
        deadline = self.clock() + self.timeout
        total = len(self.jobs)
        while True:
            started = False
            while pending and len(active) < self.concurrency:
                job = self.next_allowed(pending)
                if job is None:
                    break                    # every pending job waits for its budget group (see _common.budgets)
                if self.start(job):
                    active.append(job)
                    started = True
                    self.opened(job)
                else:
                    self.done += 1
            if not active and not pending:
                break
            if started:
                self.pacer.restart()
            if self.on_tick is not None:
                self.on_tick()
            now = self.clock()
            if now >= deadline:
                left = active + pending
                raise WaitTimeout("timed out after %s seconds waiting for the %s of %s" % (
                    self.timeout, NOUN[left[0].get("action", "migrate")] if len(left) == 1 else "operations",
                    ", ".join(job["name"] for job in left)), last=self.jobs)
            self.sleep(min(self.pacer.pause([job["started_at"] for job in active]), deadline - now))
            seen = self.read(active)
            still = []
            for job in active:
                outcome = self.follow(job, seen.get(job["uuid"]))
                if outcome is None:          # someone else's operation ended: ours starts now
                    if self.start(job):
                        still.append(job)
                    else:
                        self.done += 1
                        self.closed(job)
                    continue
                if not outcome:
                    still.append(job)
                    continue
                self.done += 1
                self.closed(job)
                self.pacer.restart()
                action = job.get("action", "migrate")
                self.progress.update(action, "VS %s %s (%d/%d)" % (job["name"], job["result"], self.done, total),
                                     percent=100 if job["result"] not in ("failed", "unknown") else None,
                                     vs=job["name"], done=self.done, total=total)
            active = still
        self.finish()
        return self.jobs


def run_migrations(client, jobs, progress, concurrency=1, timeout=1800, interval=2.0,
                   clock=time.monotonic, sleep=time.sleep, group_uuid=None, known_ses=None, on_tick=None, gate=None):
    """Migrate (or scale out / in) VSs, ``concurrency`` at once, and follow each to its outcome.

    ``jobs``: dicts with ``uuid``, ``name``, ``vip_id``, ``from_se`` (uuid or None), and optionally ``action``
    (``migrate``, ``scaleout``, ``scalein``), ``to_se``, ``to_host``, ``to_new_se``, ``before`` (SE uuids).
    ``group_uuid``: the SE group of the VSs (one inventory read of it serves them all); ``known_ses``: the SE
    uuids of the group before the run (a target that must be a new SE must not be one of them); ``on_tick()``:
    called at every wake-up (e.g. to renew a lease). ``gate`` (``_common.budgets.Gate``, keyed by each job's
    ``key``): a job starts only while the gate allows it (disruption budgets); without one, in order.

    Each job gets ``result`` (``moved`` / ``scaled_out`` / ``scaled_in``, ``failed`` or ``unknown``), ``after``
    (SE uuids), ``error``, ``events`` (what the controller reported about the VS meanwhile), and ``started_s`` /
    ``ended_s`` (seconds from the call: when it was started and when its outcome was seen). A failed
    migration leaves the VS where it was (make-before-break): a re-run converges. Returns ``jobs``.
    """
    return _Follower(client, jobs, progress, concurrency, timeout, interval, clock, sleep, group_uuid, known_ses,
                     on_tick, gate).run()
