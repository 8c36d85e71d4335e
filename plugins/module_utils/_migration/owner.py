# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

One owner per compute node (or hypervisor) for ``instance_migrate``: the lease and the intent record
of the shared ``_common.intent`` (see DESIGN-intent), kept where the provider says
(``provider.intent_store``: on Triton the compute node's CNAPI ``comments``; elsewhere a directory,
``record_dir``).

A run holds the lease of the compute node it moves instances off while it works, renewed in the
background (a thread, every third of the lease), and gives it up at the end. Another run finds it
held: it waits (the holder finishes the work; this run then adopts what is left, reading the
vendor's migration records) up to its ``timeout``, then fails naming the holder. A lease past its
expiry is stale and taken over. On the same machine a lease whose process is gone is stale at once
(the run id carries the host name and the process id), so a re-run after a crash does not wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import threading
import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import (
    IntentError,
    IntentRecord,
    process_gone,
)

LEASE_SECONDS = 120.0
DEFAULT_RECORD_DIR = "~/.ansible/fleetops/intent"
RECORD_DIR_ENV = "FLEETOPS_RECORD_DIR"


def record_dir(params, environ=None):
    """(directory, configured): the ``record_dir`` option, else FLEETOPS_RECORD_DIR, else the local default
    (``configured`` False: a local directory does not survive a throw-away container)."""
    env = os.environ if environ is None else environ
    given = params.get("record_dir") or env.get(RECORD_DIR_ENV)
    if given and str(given).strip():
        return os.path.expanduser(str(given)), True
    return os.path.expanduser(DEFAULT_RECORD_DIR), False


class Owner(object):
    """This run's hold on one target (see the module docstring)."""

    def __init__(self, store, progress=None, lease_seconds=LEASE_SECONDS, clock=time.time, sleep=time.sleep):
        self.record = IntentRecord(store, lease_seconds=lease_seconds, clock=clock, sleep=sleep)
        self.progress = progress
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.claimed = False
        self.error = None    # a renewal that failed (the run then stops at its next change)

    @property
    def where(self):
        return self.record.store.where

    def claim(self, wait_seconds, takeover=False):
        """Become the owner (waiting out a live holder up to ``wait_seconds``); the entries an earlier run left."""
        def on_wait(lease, waited):
            if self.progress is not None:
                self.progress.waiting("%s is held by run %s on %s (renewed while it works): waiting %.0f s for it to "
                                      "finish, then this run goes on from where it left" % (
                                          self.where, lease.get("run"), lease.get("host"), waited))
        with self._lock:
            left = self.record.claim(wait_seconds=wait_seconds, on_wait=on_wait, takeover=takeover, interval=1.0)
        self.claimed = True
        if self.record.displaced and self.progress is not None:
            self.progress.update("owner", "%s: took over from run %s on %s (%s)" % (
                self.where, self.record.displaced.get("run"), self.record.displaced.get("host"),
                "its process is gone" if process_gone(self.record.displaced) else "its lease expired"
                if not takeover else "takeover"))
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renewer")
        self._thread.daemon = True
        self._thread.start()
        return left

    def _renew_loop(self):
        interval = max(1.0, self.record.lease_seconds / 3.0)
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    self.record.renew(force=True)
            except Exception as exc:  # reported by the next change, which fails
                self.error = exc

    def entries(self):
        with self._lock:
            return self.record.entries()

    def remember(self, key, value):
        if self.error is not None:
            raise IntentError("this run could not renew its lease on %s (%s): it stops" % (self.where, self.error))
        with self._lock:
            self.record.remember(key, value)

    def forget(self, *keys):
        with self._lock:
            self.record.forget(*keys)

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.claimed:
            with self._lock:
                self.record.release()
            self.claimed = False
