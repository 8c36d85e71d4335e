# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Progress reporting shared by every long-running module.

A module records each progress step with :meth:`Progress.update`. Steps are kept in
``history`` (returned to the user as ``progress``; of one step's rising updates, its percentage
or a sync's bytes, only the latest is kept there, in the place and with the ``elapsed`` of the first, and
``updated`` the latest's) and, when the collection's action plugin
runs the module, also appended as JSON lines to the file named by the environment variable
``FLEETOPS_PROGRESS_FILE``. The action plugin tails that file and prints the lines while the
module is still waiting, which is how progress shows up live in ``ansible-playbook`` output and
as job events in AWX.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

PROGRESS_FILE_ENV = "FLEETOPS_PROGRESS_FILE"


def human_bytes(n):
    """A byte count as people read it: 512 B, 1.5 MiB."""
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%.1f TiB" % n


class Progress(object):
    """Collects progress steps and streams them to the action plugin when it listens."""

    # what an update is about (the instance, VS or server of a window's worker): updates about one subject are
    # compared with that subject's last one, however the workers' updates interleave
    SUBJECT_KEYS = ("instance", "vs", "server")

    def __init__(self, task, path=None, clock=time.time):
        self.task = task
        self.history = []
        self._clock = clock
        self._start = clock()
        self._path = path if path is not None else os.environ.get(PROGRESS_FILE_ENV)
        self._last_key = None
        self._last_of = {}      # subject -> index in history of its latest entry

    def update(self, phase, msg, percent=None, **data):
        """Record one step. Repeats of the same (phase, msg, percent), in a row or for the same subject, are
        dropped. An update that only advances the subject's last step (same phase, its percentage not lower,
        and the same message or the same sync's byte count) is streamed live but replaces that step in
        ``history``: a sync reporting every second for hours returns one entry, not thousands."""
        key = (phase, msg, percent)
        subject = tuple(data.get(k) for k in self.SUBJECT_KEYS)
        if not any(subject):
            subject = None
        if key == self._last_key:
            return None
        last = self.history[self._last_of[subject]] if subject in self._last_of else None
        if last is not None and (last["phase"], last["msg"], last.get("percent")) == key:
            return None
        self._last_key = key
        entry = {
            "task": self.task,
            "elapsed": round(self._clock() - self._start, 2),
            "phase": phase,
            "msg": msg,
        }
        if percent is not None:
            entry["percent"] = int(percent)
        if data:
            entry.update(data)
        if last is not None and _advances(last, entry):
            # the step keeps its place and when it began (``elapsed``: the run record's phases start there);
            # ``updated`` says when it last advanced
            self.history[self._last_of[subject]] = dict(entry, elapsed=last["elapsed"], updated=entry["elapsed"])
        else:
            self.history.append(entry)
            if subject is not None:
                self._last_of[subject] = len(self.history) - 1
        if self._path:
            try:
                with open(self._path, "a") as stream:
                    stream.write(json.dumps(entry, sort_keys=True) + "\n")
            except (IOError, OSError):
                # Progress is a convenience: never fail the step because it cannot be shown.
                self._path = None
        return entry

    def waiting(self, text):
        """Record a wait the run is riding out (a server restarting, read-only, dropping connections)."""
        return self.update("wait", text)


def _advances(last, entry):
    """Whether ``entry`` only advances the step ``last`` recorded: same phase, a percentage not lower, and the
    same message or the same sync (a byte count of the same total)."""
    if last["phase"] != entry["phase"] or "percent" not in last or "percent" not in entry:
        return False
    if entry["percent"] < last["percent"]:
        return False
    if last["msg"] == entry["msg"]:
        return True
    return "bytes" in last and "bytes" in entry and last.get("total_bytes") == entry.get("total_bytes")
