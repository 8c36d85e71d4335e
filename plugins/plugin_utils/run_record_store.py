# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run records on disk: a new file per run, never overwritten, written as the run goes on.

For a configured record file ``DIR/NAME.json`` a run writes ``DIR/NAME.<UTC start, YYYYmmddTHHMMSSZ>.json``
(``-2``, ``-3``... when two runs start in the same second) and its HTML report next to it
(``.html``), and points the symbolic links ``DIR/NAME.json`` and ``DIR/NAME.html`` at them: the
configured name always shows the latest run, and the files of earlier runs (a failed run before its
re-run) stay as they were. A regular file already at the configured name (written by an earlier
version of the collection) is first renamed to the same timestamped form, from its modification time.

Each change is a read-modify-write of the whole record under an exclusive ``flock`` of the record's
directory, so the hosts of one play (several processes: Ansible forks a worker per host) can add to
one record; the file is replaced atomically (written beside it, then renamed), so a run killed at any
moment leaves the last complete record. Without a configured file the record lives in a private
temporary directory for the length of the run.

Everything happens on the controller (where ``ansible-playbook`` runs), like a callback's output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
import tempfile

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record_html import render_html

TEMP_PREFIX = "fleetops-run-record-"
TEMP_NAME = "record.json"


class RecordFileError(Exception):
    """A record file that cannot be created, read or written; the message names the path."""


def _stem(path):
    return path[:-5] if path.endswith(".json") else path


def _stamp(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _claim(stem, stamp):
    """Create DIR/NAME.<stamp>[-n].json exclusively (no other run can take the same name)."""
    for n in range(1, 1000):
        path = "%s.%s%s.json" % (stem, stamp, "" if n == 1 else "-%d" % n)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue
            raise RecordFileError("cannot create the run record %s: %s" % (path, exc.strerror))
        os.close(fd)
        return path
    raise RecordFileError("too many run records named %s.%s*.json" % (stem, stamp))


def _set_aside(link):
    """A regular file at the name the links take (an earlier version wrote there): keep it under its own
    timestamped name instead of replacing it."""
    if os.path.islink(link) or not os.path.exists(link):
        return None
    if not os.path.isfile(link):
        raise RecordFileError("%s is not a file: give the path of a file (its directory must exist)" % link)
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(link), datetime.timezone.utc)
    kept = _claim(_stem(link), _stamp(mtime))
    os.replace(link, kept)
    html = _stem(link) + ".html"
    if os.path.isfile(html) and not os.path.islink(html):
        os.replace(html, _stem(kept) + ".html")
    return kept


def _link(target, link):
    """Point the symbolic link ``link`` at ``target`` (relative, in the same directory), atomically."""
    tmp = "%s.link-%s" % (link, os.getpid())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(os.path.basename(target), tmp)
    os.replace(tmp, link)


@contextlib.contextmanager
def locked(path):
    """An exclusive lock on the directory of ``path`` for one read-modify-write."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise RecordFileError("cannot open the directory of the run record %s: %s" % (path, exc.strerror))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write(record):
    """Write the record to its files (``record['files']``): the JSON, then its HTML report."""
    files = record["files"]
    _write_atomic(files["json"], json.dumps(record, indent=4, sort_keys=True) + "\n")
    if files.get("html"):
        _write_atomic(files["html"], render_html(record))


def create(record, configured):
    """Files for a new run: under ``configured`` (timestamped, linked), or a temporary file when it is empty.
    Sets ``record['files']``, writes the record and returns it."""
    if not configured:
        directory = tempfile.mkdtemp(prefix=TEMP_PREFIX)
        record["files"] = {"json": os.path.join(directory, TEMP_NAME), "temporary": True}
        write(record)
        return record
    configured = os.path.abspath(os.path.expanduser(configured))
    directory = os.path.dirname(configured)
    if not os.path.isdir(directory):
        raise RecordFileError("the directory of the run record %s does not exist" % configured)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise RecordFileError("the directory of the run record %s is not writable" % configured)
    stem = _stem(configured)
    with locked(configured):
        _set_aside(configured)
        run_json = _claim(stem, _stamp(datetime.datetime.now(datetime.timezone.utc)))
        record["files"] = {"json": run_json, "html": _stem(run_json) + ".html",
                           "latest_json": configured, "latest_html": stem + ".html"}
        write(record)
        _link(run_json, configured)
        _link(record["files"]["html"], stem + ".html")
    return record


def read(path):
    try:
        with open(path) as stream:
            return json.load(stream)
    except (IOError, OSError) as exc:
        raise RecordFileError("cannot read the run record %s: %s" % (path, exc.strerror))
    except ValueError as exc:
        raise RecordFileError("%s is not a run record (JSON): %s" % (path, exc))


def update(path, change):
    """Read the record at ``path``, apply ``change(record)`` and write it back, under the lock; returns
    the record as written."""
    with locked(path):
        record = read(path)
        change(record)
        write(record)
    return record


def remove_temporary(record):
    """Remove a run's temporary record (there was no configured file to keep it in)."""
    files = record.get("files") or {}
    if files.get("temporary"):
        directory = os.path.dirname(files["json"])
        if os.path.basename(directory).startswith(TEMP_PREFIX):
            shutil.rmtree(directory, ignore_errors=True)
