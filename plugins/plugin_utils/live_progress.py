# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base that shows a module's progress while the module is still running.

A module's output reaches Ansible only when it exits, so a module that waits twenty minutes for
an evacuation would print nothing for twenty minutes. The modules of this collection record
their progress with ``module_utils.progress.Progress``, which appends JSON lines to the file
named by ``FLEETOPS_PROGRESS_FILE``; this base reads that file every ``poll`` seconds while the
module runs and prints each new line with ``Display``, which ``ansible-playbook`` shows at once and
AWX / ansible-runner turn into job events. Two ways, by where the module runs:

- on this machine (``connection: local`` without become, the usual case of these API modules):
  the module runs the ordinary way, synchronously, and a thread reads the file from the local
  disk. Nothing is started on top of the module (no async wrapper, no poll command), and its result
  comes back the ordinary way the moment it ends.
- anywhere else: the module runs through Ansible's own async wrapper on the target, and one short
  shell command per poll reads the file and the job file there (the end is seen within
  ``WAKE_SECONDS``).

A line is printed when something changes: a new phase or message, or an item's progress moving on
by ``PERCENT_STEP`` points or finishing (not every percent of every item); with ``-v`` every line
is printed. When the task uses ``async`` itself, runs in check mode, or sets ``wait: false``, the
module runs the ordinary way, without progress lines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager

from ansible import constants as C
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

PROGRESS_FILE_ENV = "FLEETOPS_PROGRESS_FILE"
# Extra time the async wrapper allows beyond the module's own timeout, so the module always
# reports its own timeout (with the state it reached) before the wrapper would kill it.
ASYNC_MARGIN = 600
DEFAULT_TIMEOUT = 1800
ASYNC_INTERNAL_KEYS = ("ansible_job_id", "started", "finished", "results_file", "erased",
                       "stdout", "stderr", "stdout_lines", "stderr_lines")


def format_progress(host, entry):
    """One human line for a progress entry written by module_utils.progress."""
    parts = ["[%s] %s" % (entry.get("task", "progress"), host)]
    if entry.get("phase"):
        parts.append(str(entry["phase"]))
    if entry.get("percent") is not None:
        parts.append("%s%%" % entry["percent"])
    if entry.get("msg"):
        parts.append(str(entry["msg"]))
    return " | ".join(parts) + " (%ss)" % entry.get("elapsed", 0)


PERCENT_STEP = 25


class ProgressFilter:
    """Decides which progress entries are worth a line: the first of each (phase, message), then the same one
    again only when its percent moved on by ``step`` points or reached 100 (``verbose``: every entry)."""

    def __init__(self, verbose=False, step=PERCENT_STEP):
        self.verbose = verbose
        self.step = step
        self.last = {}  # (phase, msg) -> the percent last shown

    def wanted(self, entry):
        if self.verbose:
            return True
        key = (entry.get("phase"), entry.get("msg"))
        percent = entry.get("percent")
        if key not in self.last:
            self.last[key] = percent
            return True
        shown = self.last[key]
        try:
            moved = percent is not None and (shown is None or float(percent) - float(shown) >= self.step
                                             or (float(percent) >= 100 > float(shown)))
        except (TypeError, ValueError):
            moved = percent != shown
        if moved:
            self.last[key] = percent
        return moved


class LiveProgressAction(ActionBase):
    """Run the module of the same name, printing its progress lines as they appear."""

    _supports_check_mode = True
    _supports_async = True
    POLL_SECONDS = 0.5
    WAKE_SECONDS = 0.05
    # The module's own default for ``timeout`` (the async budget must outlast the module).
    DEFAULT_TIMEOUT = DEFAULT_TIMEOUT

    def _wants_live_progress(self):
        args = self._task.args
        if self._task.async_val or self._play_context.check_mode or self._quick(args):
            return False
        return args.get("wait", True) not in (False, "false", "no", "False", 0)

    def _quick(self, args):
        """Whether this call ends at once (nothing to wait for): then it runs the ordinary way,
        without progress lines."""
        return False

    def _runs_here(self):
        """Whether the module runs on this machine as this user (``connection: local`` without become): then
        its progress file is read here, from a thread, while the module runs the ordinary way."""
        return (getattr(self._connection, "transport", None) == "local"
                and not getattr(self._connection, "become", None) and not self._play_context.become)

    def run(self, tmp=None, task_vars=None):
        result = super(LiveProgressAction, self).run(tmp, task_vars)
        del tmp
        if not self._wants_live_progress():
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        host = task_vars.get("inventory_hostname", "localhost") if task_vars else "localhost"
        if self._runs_here():
            result.update(self._run_here_with_progress(task_vars, host))
        else:
            result.update(self._run_with_progress(task_vars, host))
        return result

    @contextmanager
    def _progress_file_env(self, path):
        """The task's environment, for the module's run, with ``FLEETOPS_PROGRESS_FILE`` naming ``path``."""
        saved_env = self._task.environment
        extra_env = {PROGRESS_FILE_ENV: path}
        if not saved_env:
            self._task.environment = [extra_env]
        elif isinstance(saved_env, list):
            self._task.environment = list(saved_env) + [extra_env]
        else:
            self._task.environment = [saved_env, extra_env]
        try:
            yield
        finally:
            self._task.environment = saved_env

    def _run_here_with_progress(self, task_vars, host):
        """The module run synchronously on this machine, its progress file (in Ansible's local temporary
        directory of this run) read by a thread every ``POLL_SECONDS``, then once more after the module ended."""
        fd, path = tempfile.mkstemp(prefix="fleetops-progress-", suffix=".jsonl", dir=C.DEFAULT_LOCAL_TMP)
        os.close(fd)
        tail = LocalTail(host, path, ProgressFilter(verbose=display.verbosity >= 1), self.POLL_SECONDS)
        tail.start()
        try:
            with self._progress_file_env(path):
                return self._execute_module(task_vars=task_vars, wrap_async=False)
        finally:
            tail.finish()
            try:
                os.remove(path)
            except OSError:
                pass
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _total_timeout(self, args):
        """Seconds the module may run at most (its own ``timeout`` option by default)."""
        try:
            return int(args.get("timeout") or self.DEFAULT_TIMEOUT)
        except (TypeError, ValueError):
            return self.DEFAULT_TIMEOUT

    def _async_dir(self):
        return self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))

    def _run_with_progress(self, task_vars, host):
        """The module run through the async wrapper on the target, its progress and job files read there."""
        async_dir = self._async_dir()
        progress_path = self._connection._shell.join_path(
            async_dir, "fleetops-progress-%s.jsonl" % secrets.token_hex(8))
        timeout = self._total_timeout(self._task.args)

        saved_async = self._task.async_val
        self._task.async_val = timeout + ASYNC_MARGIN
        try:
            with self._progress_file_env(progress_path):
                started = self._execute_module(task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = saved_async
        jid = started.get("ansible_job_id")
        if started.get("failed") or not jid:
            return started

        self._progress_filter = ProgressFilter(verbose=display.verbosity >= 1)
        shown = 0
        deadline = time.time() + timeout + ASYNC_MARGIN
        job_path = self._connection._shell.join_path(async_dir, jid)
        final = None
        ended = False
        try:
            while True:
                # One cheap shell command per poll: it waits on the target until the job ends or the poll's
                # time is up, then prints the progress lines and the job file, whose text is the module's
                # result once it says done. The end is seen within WAKE_SECONDS, not a whole poll late.
                asked = time.time()
                shown, done, job_text = self._poll(host, progress_path, job_path, shown, wait=self.POLL_SECONDS)
                if done:
                    # the job file already read holds the module's result: parsed here as async_status would
                    # return it, without starting a Python process for async_status (about a second); the
                    # progress read after it is complete (the module wrote it before it ended)
                    final = self._job_result(job_text)
                    if final is not None:
                        ended = True
                        break
                    final = self._execute_module(
                        module_name="ansible.legacy.async_status", task_vars=task_vars,
                        module_args={"jid": jid, "_async_dir": async_dir})
                    if final.get("finished") or final.get("failed") and not final.get("started"):
                        break
                if time.time() > deadline:
                    final = {"failed": True,
                             "msg": "the module did not finish within %s seconds" % (timeout + ASYNC_MARGIN)}
                    break
                # a target whose sleep takes whole seconds only answers at once: the poll's time is spent here
                left = self.POLL_SECONDS - (time.time() - asked)
                if left > self.WAKE_SECONDS:
                    time.sleep(left)
            if not ended:
                self._poll(host, progress_path, job_path, shown)
        finally:
            # what async_status mode=cleanup does, without starting a Python process
            self._low_level_execute_command("rm -f %s %s" % (self._connection._shell.quote(progress_path),
                                                             self._connection._shell.quote(job_path)))
            self._remove_tmp_path(self._connection._shell.tmpdir)
        for key in ASYNC_INTERNAL_KEYS:
            final.pop(key, None)
        return final

    def _poll(self, host, progress_path, job_path, shown, wait=0):
        """Print progress lines after the first ``shown`` ones; return (new count, job done?, the job file's text).
        With ``wait``, the command first waits on the target, at most ``wait`` seconds, while the job file still
        holds async_wrapper's running marker (``{"started": ...``; the module's result replaces it when it ends).
        The job file is read before the progress file: when it holds the result, the progress printed is whole."""
        quote = self._connection._shell.quote
        res = self._low_level_execute_command(
            wait_for_end(job_path, wait, self.WAKE_SECONDS, quote)
            + "j=$(cat %s 2>/dev/null); cat %s 2>/dev/null; printf '%s'; printf '%%s' \"$j\"; true"
            % (quote(job_path), quote(progress_path), JOB_SEPARATOR), sudoable=False)
        out = to_text(res.get("stdout", ""))
        progress, _sep, job = out.partition(JOB_SEPARATOR)
        return show_new_lines(host, progress, shown, self._progress_filter), job_done(job), job

    def _job_result(self, text):
        """The module's result from its finished async job file (see :func:`job_result`), or None."""
        return job_result(self, text)


def job_result(action, text):
    """The module's result from its finished async job file, as ``_execute_module`` returns the module's own
    result (the async_wrapper wrote the module's output there): parsed with the module result parser of
    this ansible-core (the legacy serialization profile, the one async_status and this collection's
    modules use), internal keys removed, the interpreter found by discovery added. None when the parser is
    not one known here (then async_status reads the file, as before)."""
    try:
        if not isinstance(json.loads(text), dict):
            return None
    except ValueError:
        return None
    res = {"rc": 0, "stdout": text, "stderr": "", "stdout_lines": text.splitlines(), "stderr_lines": []}
    try:
        if "profile" in inspect.signature(action._parse_returned_data).parameters:   # ansible-core 2.19+
            parsed = action._parse_returned_data(res, "legacy")
        else:
            parsed = action._parse_returned_data(res)
        if isinstance(parsed, dict):   # ansible-core 2.17-2.20
            from ansible.vars.clean import remove_internal_keys
            data = parsed
            data.pop("_ansible_suppress_tmpdir_delete", None)
            if "results" in data and (not isinstance(data["results"], Sequence)
                                      or isinstance(data["results"], (str, bytes))):
                data["ansible_module_results"] = data.pop("results")
            remove_internal_keys(data)
        elif hasattr(parsed, "as_result_dict") and hasattr(parsed, "remove_internal_keys"):   # 2.21+
            parsed.remove_internal_keys()
            data = parsed.as_result_dict(for_round_trip=True)
        else:
            return None
    except Exception:  # pylint: disable=broad-except
        return None
    if not isinstance(data, dict):
        return None
    if getattr(action, "_discovered_interpreter_key", None):
        if data.get("ansible_facts") is None:
            data["ansible_facts"] = {}
        data["ansible_facts"][action._discovered_interpreter_key] = action._discovered_interpreter
    return data


def show_new_lines(host, progress, shown, progress_filter):
    """Print the complete progress lines of ``progress`` (a progress file's text) after the first ``shown`` that
    ``progress_filter`` wants; return how many complete lines there are (a last line without its newline is still
    being written)."""
    lines = progress.splitlines()
    complete = lines if progress.endswith("\n") else lines[:-1]
    for line in complete[shown:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if progress_filter.wanted(entry):
            display.display(format_progress(host, entry))
    return max(shown, len(complete))


class LocalTail(threading.Thread):
    """Prints the new progress lines of a module running on this machine: reads its progress file ``path`` every
    ``poll`` seconds until ``finish``, which reads it once more (the module wrote its last lines before it ended)."""

    def __init__(self, host, path, progress_filter, poll):
        super(LocalTail, self).__init__(name="fleetops-progress", daemon=True)
        self.host, self.path, self.progress_filter, self.poll = host, path, progress_filter, poll
        self.shown = 0
        self._ended = threading.Event()

    def run(self):
        while not self._ended.wait(self.poll):
            self.read()

    def read(self):
        try:
            with open(self.path, encoding="utf-8", errors="replace") as stream:
                text = stream.read()
        except OSError:
            return
        self.shown = show_new_lines(self.host, text, self.shown, self.progress_filter)

    def finish(self):
        self._ended.set()
        self.join()
        self.read()


JOB_SEPARATOR = "\n--fleetops-async-job--\n"


def wait_for_end(job_paths, wait, step, quote):
    """A POSIX shell prefix that waits (at most ``wait`` seconds, checking every ``step``) while every async job file
    in ``job_paths`` (one path or a list) still holds async_wrapper's running marker; it gives up at once where
    ``sleep`` takes no fractions."""
    paths = [job_paths] if isinstance(job_paths, str) else list(job_paths)
    rounds = int(wait / step) if wait and step else 0
    if rounds < 1 or not paths:
        return ""
    return ('i=0; while [ "$i" -lt %d ]; do r=1; for f in %s; do case "$(cat "$f" 2>/dev/null)" in \'{"started"\'*) ;; '
            '*) r=0;; esac; done; [ "$r" = 1 ] || break; sleep %s 2>/dev/null || break; i=$((i+1)); done; '
            % (rounds, " ".join(quote(p) for p in paths), step))


def job_done(text):
    """Whether an async job file holds the module's result (async_wrapper writes a ``started``
    marker while the module runs, and the module's own JSON once it ends)."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and ("started" not in data or bool(data.get("finished")))
