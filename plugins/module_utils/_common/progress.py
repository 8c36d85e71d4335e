# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Progress reporting shared by every long-running module.

A module records each progress step with :meth:`Progress.update`. Steps are kept in
``history`` (returned to the user as ``progress``) and, when the collection's action plugin
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

    def __init__(self, task, path=None, clock=time.time):
        self.task = task
        self.history = []
        self._clock = clock
        self._start = clock()
        self._path = path if path is not None else os.environ.get(PROGRESS_FILE_ENV)
        self._last_key = None

    def update(self, phase, msg, percent=None, **data):
        """Record one step. Repeats of the same (phase, msg, percent) are dropped."""
        key = (phase, msg, percent)
        if key == self._last_key:
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
        self.history.append(entry)
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
