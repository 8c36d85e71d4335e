# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waits for several async jobs of the collection's modules at once, printing their progress live and one line as
each ends. The documentation is in plugins/modules/job_wait.py.

Where ``ansible.builtin.async_status`` in an ``until`` loop prints "FAILED - RETRYING" at every poll, this reads every
job's file (and progress file) with one shell command per poll, the way the live-progress base reads one job, and
returns each job's result once it ended, in the order given, as a looped ``async_status`` would.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.live_progress import (
    ASYNC_INTERNAL_KEYS, ProgressFilter, job_done, job_result, show_new_lines, wait_for_end)
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.invocation import add_invocation

display = Display()

ARGUMENT_SPEC = {
    "jobs": {"type": "list", "elements": "raw", "required": True},
    "progress_dir": {"type": "path"},
    "timeout": {"type": "int", "default": 3600},
}
# Markers between the files one poll reads: each job's progress file, then its job file.
PROGRESS_START = "\n--fleetops-job-progress--\n"
JOB_START = "\n--fleetops-job-file--\n"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    POLL_SECONDS = 0.5
    WAKE_SECONDS = 0.05

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["timeout"] < 1:
            raise AnsibleActionFail("timeout must be a whole number of seconds of at least 1, got %s" % args["timeout"])
        host = (task_vars or {}).get("inventory_hostname", "localhost")
        jobs = [self._job(entry, index, args) for index, entry in enumerate(args["jobs"])]
        try:
            results = self._wait(host, jobs, args["timeout"], task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result["results"] = results
        result["changed"] = any(r.get("changed") for r in results)
        result["failed_jobs"] = [job["label"] for job, r in zip(jobs, results) if r.get("failed")]
        result["msg"] = "%d job(s) ended, %d failed%s" % (
            len(results), len(result["failed_jobs"]),
            (": " + ", ".join(result["failed_jobs"])) if result["failed_jobs"] else "")
        # the jobs by their ids only: their registered results may carry anything the starting task returned
        return add_invocation(result, dict(args, jobs=[job["jid"] for job in jobs]), task_vars, self._templar)

    def _job(self, entry, index, args):
        """One job to follow: its id, its name for the output, its files on the target."""
        if not isinstance(entry, dict) or not entry.get("ansible_job_id"):
            raise AnsibleActionFail(
                "jobs[%d] is not the registered result of a task started with async and poll 0 (no ansible_job_id): "
                "pass the task's registered results, e.g. jobs: \"{{ started.results }}\"" % index)
        item = entry.get("item")
        label = item.get("name") if isinstance(item, dict) else item
        label = to_text(label if label is not None else entry["ansible_job_id"])
        shell = self._connection._shell
        # Where the job writes its result: the file the starting task returned (its async wrapper expanded ~ with the
        # job's own HOME, which need not be the home ~ expands to here); the async dir for a result without one.
        path = entry.get("results_file")
        if path:
            async_dir = path.rsplit("/", 1)[0]
        else:
            async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
            path = shell.join_path(async_dir, entry["ansible_job_id"])
        return {
            "jid": entry["ansible_job_id"], "label": label, "entry": entry, "async_dir": async_dir,
            "path": path,
            "progress": shell.join_path(args["progress_dir"], "%d.jsonl" % index) if args["progress_dir"] else None,
            "shown": 0, "filter": ProgressFilter(verbose=display.verbosity >= 1),
        }

    def _wait(self, host, jobs, timeout, task_vars):
        results = [None] * len(jobs)
        deadline = time.time() + timeout
        started = time.time()
        while any(r is None for r in results):
            asked = time.time()
            waiting = [i for i, r in enumerate(results) if r is None]
            # the poll waits on the target while every job runs: an end is seen within WAKE_SECONDS
            for i, done in zip(waiting, self._poll(host, [jobs[i] for i in waiting], wait=self.POLL_SECONDS)):
                if done:
                    results[i] = self._finish(host, jobs[i], started, task_vars)
            left = self.POLL_SECONDS - (time.time() - asked)
            if left > self.WAKE_SECONDS and any(r is None for r in results):
                time.sleep(left)   # a target whose sleep takes whole seconds answers at once
            if time.time() > deadline and any(r is None for r in results):
                running = [jobs[i] for i, r in enumerate(results) if r is None]
                raise AnsibleActionFail(
                    "%d job(s) still running after %d seconds: %s. They go on in the background; their results stay in"
                    " %s (ansible.builtin.async_status with their jid reads them)" % (
                        len(running), timeout, ", ".join("%s (jid %s)" % (j["label"], j["jid"]) for j in running),
                        running[0]["async_dir"]))
        return results

    def _poll(self, host, jobs, wait=0):
        """Print each job's new progress lines; return, per job, whether it ended. One shell command for all, which
        first waits on the target (at most ``wait`` seconds) while every job still runs."""
        quote = self._connection._shell.quote
        parts = [wait_for_end([job["path"] for job in jobs], wait, self.WAKE_SECONDS, quote) + "true"]
        for job in jobs:
            parts.append("printf '%s'" % PROGRESS_START)
            if job["progress"]:
                parts.append("cat %s 2>/dev/null" % quote(job["progress"]))
            parts.append("printf '%s'; cat %s 2>/dev/null" % (JOB_START, quote(job["path"])))
        res = self._low_level_execute_command("; ".join(parts) + "; true", sudoable=False)
        chunks = to_text(res.get("stdout", "")).split(PROGRESS_START)[1:]
        ended = []
        for job, chunk in zip(jobs, chunks):
            progress, _sep, job_text = chunk.partition(JOB_START)
            job["shown"] = show_new_lines("%s %s" % (host, job["label"]), progress, job["shown"], job["filter"])
            job["text"] = job_text
            ended.append(job_done(job_text))
        return ended + [False] * (len(jobs) - len(ended))

    def _finish(self, host, job, started, task_vars):
        """The job's result from the job file the last poll read (as live progress reads it; async_status when
        that parser does not know this ansible-core), its files removed, one line printed."""
        final = job_result(self, job.get("text") or "")
        if final is None:
            final = self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                         module_args={"jid": job["jid"], "_async_dir": job["async_dir"]})
        quote = self._connection._shell.quote
        self._low_level_execute_command("rm -f %s %s" % (
            quote(job["path"]), quote(job["progress"]) if job["progress"] else ""), sudoable=False)
        for key in ASYNC_INTERNAL_KEYS:
            final.pop(key, None)
        final["item"] = job["entry"]
        outcome = "failed: %s" % final.get("msg", "") if final.get("failed") else (
            "changed" if final.get("changed") else "ok, nothing to change")
        display.display("[job_wait] %s %s | ended, %s (%ss)" % (host, job["label"], outcome,
                                                                round(time.time() - started, 1)))
        return final
