# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Changing where Avi virtual services run: :func:`run_migrations` starts
``POST /api/virtualservice/{uuid}/migrate`` calls (or ``scaleout`` / ``scalein``), at most
``concurrency`` at once, and waits for each through the VS runtime, reporting ``progress_percent``
through the module's progress.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import se_entries
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout, poll_sleeps


def read_vip_runtime(client, vs_uuid, vip_id):
    """The runtime summary of one VIP (``GET /api/virtualservice/{uuid}/runtime/``)."""
    data = client.get("virtualservice/%s/runtime/" % vs_uuid)
    if isinstance(data, dict):
        data = data.get("results") or [data]
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


DONE_RESULT = {"migrate": "moved", "scaleout": "scaled_out", "scalein": "scaled_in"}
VERB = {"migrate": "migrating", "scaleout": "scaling out", "scalein": "scaling in"}


def _busy(summary):
    return bool(summary.get("migrate_in_progress") or summary.get("scaleout_in_progress")
                or summary.get("scalein_in_progress"))


def run_migrations(client, jobs, progress, concurrency=1, timeout=1800, interval=2.0,
                   clock=time.monotonic, sleep=time.sleep):
    """Migrate VSs, ``concurrency`` at once, and wait for each.

    ``jobs``: dicts with ``uuid``, ``name``, ``vip_id``, ``from_se`` (uuid or None), and
    optionally ``to_se``, ``to_host``, ``to_new_se``, ``before`` (list of SE uuids). Each job gets
    ``result`` (``moved`` or ``failed``), ``after`` (SE uuids) and ``error``. Returns ``jobs``.
    A failed migration leaves the VS where it was (make-before-break): a re-run converges.
    """
    pending = list(jobs)
    active = []
    total = len(jobs)
    done = 0

    def start(job):
        action = job.get("action", "migrate")
        body = migrate_body(client, job["vip_id"], job.get("from_se"), job.get("to_se"),
                            job.get("to_host"), job.get("to_new_se"))
        job.setdefault("restarts", 0)
        job["polls"] = 0
        job["seen_busy"] = False
        try:
            client.post("virtualservice/%s/%s" % (job["uuid"], action), body)
        except AviError as exc:
            if exc.status == 409:
                # Another operation on this VS runs (or our own retried request was accepted):
                # wait for it, then look again.
                job["busy_before_start"] = True
            else:
                job["result"] = "failed"
                job["error"] = exc.msg
                return False
        progress.update(action, "%s VS %s (vip %s)" % (VERB[action], job["name"], job["vip_id"]),
                        percent=0, vs=job["name"])
        return True

    def finish(job, summary):
        ses = [e["se_uuid"] for e in se_entries(summary)]
        job["after"] = ses
        if job.get("busy_before_start"):
            job["busy_before_start"] = False
            if job.get("from_se") and job["from_se"] in ses and job["restarts"] < 3:
                job["restarts"] += 1
                return start(job) and None
        action = job.get("action", "migrate")
        if action == "scaleout":
            done = len(ses) > len(job.get("before") or []) and (not job.get("to_se") or job["to_se"] in ses)
        elif action == "scalein":
            done = job.get("from_se") not in ses
        else:
            done = (job.get("from_se") not in ses) if job.get("from_se") else (ses != job.get("before"))
            if job.get("to_se"):
                done = done and job["to_se"] in ses
        if done:
            job["result"] = DONE_RESULT[action]
        else:
            job["result"] = "failed"
            reason = summary.get("migrate_state") or summary.get("reason") or "placement unchanged"
            job["error"] = "%s of VS '%s' did not complete: %s" % (
                "migration" if action == "migrate" else action, job["name"], reason)
        return True

    deadline = clock() + timeout

    def fresh_budget():
        # Polling restarts fast whenever a migration ends, so the next one starts promptly.
        sleeps_left = poll_sleeps(max(0.0, deadline - clock()), interval, clock=clock, sleep=sleep)
        next(sleeps_left)  # the first attempt is immediate: this one is running now
        return sleeps_left

    budget = fresh_budget()
    while True:
        finished_now = 0
        while pending and len(active) < concurrency:
            job = pending.pop(0)
            if start(job):
                active.append(job)
            else:
                done += 1
        still = []
        for job in active:
            summary = read_vip_runtime(client, job["uuid"], job["vip_id"])
            job["polls"] += 1
            if _busy(summary):
                job["seen_busy"] = True
                percent = summary.get("progress_percent")
                action = job.get("action", "migrate")
                progress.update(action, "%s VS %s (vip %s)" % (VERB[action], job["name"], job["vip_id"]),
                                percent=percent, vs=job["name"], done=done, total=total)
                still.append(job)
                continue
            ses = [e["se_uuid"] for e in se_entries(summary)]
            settled = job["seen_busy"] or job["polls"] >= 3 or (
                job.get("from_se") and job["from_se"] not in ses)
            if not settled:
                still.append(job)
                continue
            finished = finish(job, summary)
            if finished is None:  # restarted after someone else's operation
                still.append(job)
                continue
            done += 1
            finished_now += 1
            progress.update(job.get("action", "migrate"), "VS %s %s (%d/%d)" % (job["name"], job["result"], done, total),
                            percent=100 if job["result"] != "failed" else None, vs=job["name"],
                            done=done, total=total)
        active = still
        if not active and not pending:
            return jobs
        if finished_now:
            budget = fresh_budget()
        try:
            next(budget)
        except StopIteration:
            break
    left = [job["name"] for job in active + pending]
    raise WaitTimeout("timed out after %s seconds waiting for the migration of %s"
                      % (timeout, ", ".join(left)), last=jobs)
