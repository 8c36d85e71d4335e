# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Intent records: what a run changed and must later undo, written BEFORE the change, where a re-run
from another machine finds it; and the lease that makes one run the owner of a target at a time.

A record is a small key/value map kept by a :class:`Store` (one per vendor: an Avi StringGroup on the
controller, Triton's internal metadata, ...; :class:`DirectoryStore` for shared storage and tests).
Keys say what was changed (``se/<uuid>``, ``vs/<uuid>/<vip>``, ...), values what to restore (JSON).
The key :data:`OWNER` holds the lease: the run id, where it runs, and until when it holds the target.

How a module uses it::

    record = IntentRecord(store, run_id, lease_seconds=300)
    record.claim(wait_seconds=timeout, on_wait=progress_fn)  # waits out (adopts) a live owner
    left = record.entries()        # what an interrupted run changed: restore exactly that
    record.remember("se/abc", {"was": "SE_STATE_ENABLED"})   # before changing it
    ...change...
    record.renew()                 # while waiting, at least every lease_seconds / 3
    ...undo and verify...
    record.forget("se/abc")
    record.release()               # drops the lease; the store removes an empty record

No atomic compare-and-set is documented on the vendors' APIs: a claim writes, reads back and
compares (a store may also compare a version token it reads, such as Avi's ``_last_modified``). Two
runs starting in the same second could both believe they won; the vendor's own operation state (an
upgrade in progress, a migration record) is the second guard, and the module reports the owner it
displaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import socket
import tempfile
import time
import uuid

OWNER = "owner"


class IntentError(Exception):
    """The record could not be read or written, or the target is held by another run."""


class Conflict(IntentError):
    """Someone else wrote the record between our read and our write."""


class Store(object):
    """Where a record lives. ``read()`` returns ``(entries, token)``: the key/value map (values
    decoded) and an opaque version token; ``write(entries, token)`` replaces the map, raising
    :class:`Conflict` when the stored version is no longer ``token`` (stores that cannot tell accept
    the write); an empty map may remove the record. ``where`` says where it is, for messages."""

    where = "?"

    def read(self):
        raise NotImplementedError

    def write(self, entries, token):
        raise NotImplementedError


class DirectoryStore(Store):
    """A record as one JSON file ``<directory>/<name>.json``, replaced atomically. Survives a
    throw-away container only when ``directory`` is shared storage (an AWX project volume, NFS)."""

    def __init__(self, directory, name):
        if not directory or not str(directory).strip():
            raise IntentError("the record directory is empty")
        self.directory = os.path.abspath(os.path.expanduser(str(directory)))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.path = os.path.join(self.directory, safe + ".json")
        self.where = self.path

    def read(self):
        try:
            with open(self.path) as stream:
                text = stream.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return {}, None
            raise IntentError("cannot read the intent record %s: %s" % (self.path, exc))
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise IntentError("the intent record %s is not JSON: %s" % (self.path, exc))
        return dict(doc.get("entries") or {}), doc.get("version")

    def write(self, entries, token):
        current = self.read()[1]
        if current != token:
            raise Conflict("the intent record %s changed under us" % self.path)
        if not entries:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            return
        try:
            if not os.path.isdir(self.directory):
                os.makedirs(self.directory)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".intent-")
            with os.fdopen(fd, "w") as stream:
                json.dump({"version": uuid.uuid4().hex, "entries": entries}, stream, sort_keys=True)
            os.rename(tmp, self.path)
        except (IOError, OSError) as exc:
            raise IntentError("cannot write the intent record %s: %s" % (self.path, exc))


def new_run_id():
    """An id for one run: where it runs and a random part (readable in messages)."""
    return "%s-%d-%s" % (socket.gethostname().split(".")[0], os.getpid(), uuid.uuid4().hex[:8])


def _lease_pid(lease):
    """The pid of the run holding ``lease`` when it runs on this machine (the run id is
    ``<host>-<pid>-<random>``), else None."""
    if not lease or lease.get("host") != socket.gethostname():
        return None
    try:
        return int(str(lease.get("run", "")).rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return None


def process_gone(lease):
    """Whether the run holding ``lease`` is known to be gone: it ran on this machine and its process
    no longer exists. Elsewhere only the lease's expiry tells."""
    pid = _lease_pid(lease)
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.ESRCH
    return _zombie(pid)


def _zombie(pid):
    """Whether process ``pid`` has ended and only waits for its parent to reap it (it can no longer act); False
    where ``/proc`` cannot tell."""
    try:
        with open("/proc/%d/stat" % pid) as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (IOError, OSError, IndexError):
        return False


class IntentRecord(object):
    """One target's record and lease (see the module docstring)."""

    def __init__(self, store, run_id=None, lease_seconds=300.0, clock=time.time, sleep=time.sleep,
                 live_while_running=False):
        self.store = store
        # a lease whose run's process still runs on this machine is live even past its expiry, and one whose
        # process is gone is stale at once: for a run that cannot renew while the vendor's configuration is
        # read-only (an Avi controller or system upgrade); from another machine the expiry decides
        self.live_while_running = live_while_running
        self.run_id = run_id or new_run_id()
        self.lease_seconds = float(lease_seconds)
        self.clock = clock
        self.sleep = sleep
        self.displaced = None      # the stale owner this run took over from, if any
        self._renewed = None

    # -- reading ----------------------------------------------------------------------------------
    def entries(self, prefix=""):
        """What the record holds besides the lease, optionally only the keys starting with ``prefix``."""
        entries = self.store.read()[0]
        return dict((k, v) for k, v in entries.items() if k != OWNER and k.startswith(prefix))

    def owner(self):
        """The lease as stored (``run``, ``host``, ``since``, ``expires``), or None."""
        return self.store.read()[0].get(OWNER)

    def holder(self):
        """The live lease of another run, or None."""
        lease = self.owner()
        return lease if self._live(lease) else None

    def _live(self, lease):
        """Whether ``lease`` holds the record for another run: not once its process on this machine has ended (checked
        again at every look, so a run waiting for it goes on then), else until its expiry."""
        if not lease or lease.get("run") == self.run_id or process_gone(lease):
            return False
        if self.live_while_running and _lease_pid(lease) is not None:
            return True
        return float(lease.get("expires", 0)) > self.clock()

    # -- the lease --------------------------------------------------------------------------------
    def claim(self, wait_seconds=0.0, on_wait=None, takeover=False, interval=2.0):
        """Become the owner. A live lease of another run is waited out for up to ``wait_seconds``
        (``on_wait(lease, waited)`` reports it) and then refused with an :class:`IntentError` naming
        the owner; a stale lease (past its expiry), or any lease with ``takeover``, is taken over
        (``displaced`` says whose). Returns the entries an earlier run left."""
        start = self.clock()
        while True:
            entries, token = self.store.read()
            lease = entries.get(OWNER)
            if self._live(lease) and not takeover:
                waited = self.clock() - start
                if waited >= wait_seconds:
                    raise IntentError(
                        "%s is held by run %s on %s since %s (until %s, renewed while it works): wait for it, or "
                        "take it over once you know it is gone (takeover)" % (
                            self.store.where, lease.get("run"), lease.get("host"), _stamp(lease.get("since")),
                            _stamp(lease.get("expires"))))
                if on_wait:
                    on_wait(lease, waited)
                self.sleep(min(interval, max(0.1, wait_seconds - waited)))
                continue
            if lease and lease.get("run") != self.run_id:
                self.displaced = lease
            entries[OWNER] = self._lease()
            try:
                self.store.write(entries, token)
            except Conflict:
                continue
            if (self.store.read()[0].get(OWNER) or {}).get("run") == self.run_id:
                self._renewed = self.clock()
                return dict((k, v) for k, v in entries.items() if k != OWNER)

    def _lease(self):
        now = self.clock()
        return {"run": self.run_id, "host": socket.gethostname(), "since": now, "expires": now + self.lease_seconds}

    def renew(self, force=False):
        """Push the lease's expiry forward (at most once a third of the lease, unless ``force``)."""
        if not force and self._renewed is not None and self.clock() - self._renewed < self.lease_seconds / 3.0:
            return
        self._update(lambda entries: entries.__setitem__(OWNER, dict(entries.get(OWNER) or {}, **{
            "run": self.run_id, "host": socket.gethostname(), "expires": self.clock() + self.lease_seconds})))
        self._renewed = self.clock()

    def release(self):
        """Give the target up (the record keeps whatever entries remain)."""
        self._update(lambda entries: entries.pop(OWNER, None), check_owner=False)

    # -- entries ----------------------------------------------------------------------------------
    def remember(self, key, value):
        """Record ``key`` -> ``value`` before making the change it describes."""
        self._update(lambda entries: entries.__setitem__(key, value))

    def remember_new(self, items):
        """Record every key of ``items`` not recorded yet, in one write (a key that exists keeps what the
        first run saw: a re-run must restore that, not what it finds). Returns the keys written."""
        written = []

        def change(entries):
            del written[:]
            for key, value in items.items():
                if key not in entries:
                    entries[key] = value
                    written.append(key)
        if items:
            self._update(change)
        return list(written)

    def forget(self, *keys):
        """Drop entries once their change is undone (and verified)."""
        if keys:
            self._update(lambda entries: [entries.pop(k, None) for k in keys])

    def _update(self, change, check_owner=True):
        for _attempt in range(10):
            entries, token = self.store.read()
            lease = entries.get(OWNER) or {}
            if check_owner and lease.get("run") not in (None, self.run_id) and self._live(lease):
                raise IntentError("%s is now held by run %s on %s: this run lost its lease and stops" % (
                    self.store.where, lease.get("run"), lease.get("host")))
            change(entries)
            try:
                self.store.write(entries, token)
                return
            except Conflict:
                continue
        raise IntentError("%s kept changing under this run (10 tries)" % self.store.where)


def _stamp(epoch):
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))
    except (TypeError, ValueError):
        return "?"
