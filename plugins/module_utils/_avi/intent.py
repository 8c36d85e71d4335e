# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Intent records on the Avi controller itself (see ``_common.intent``): one StringGroup per target, type
``SG_TYPE_KEYVAL``, named ``fleetops-maintenance-<target>``, in the tenant the module uses; one
KeyValue per changed object, its value JSON. A StringGroup is a documented configuration object of every
supported release (alb-sdk ``swagger/StringGroup.json`` 17.2 to 30.2) that nothing references unless a
DataScript or policy names it, so it is inert; the operator sees it under Templates > Groups > String
Groups. Configuration is read-only during a controller or system upgrade (vendor: 403), so a module
writes its intent before starting one; during an SE-group-only upgrade configuration other than
virtual services and VIPs stays writable (NSX ALB 30.2 docs, flexible upgrades).

The version token is the StringGroup's uuid and content (17.2 objects carry no ``_last_modified``):
a write re-reads the group first and refuses (``Conflict``) when someone changed it in between.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import (
    Conflict,
    IntentError,
    IntentRecord,
    Store,
    process_gone,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure

PREFIX = "fleetops-maintenance-"
DESCRIPTION = ("fleetops.maintenance intent record: what a maintenance run changed and must undo; "
               "removed when the run has undone it. Do not edit by hand while a run is active.")


def _decode(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


class StringGroupStore(Store):
    """The record of ``target`` (e.g. ``upgrade``, ``se-evacuate-se-17``) in a StringGroup."""

    def __init__(self, client, target):
        if not target or not str(target).strip():
            raise IntentError("an intent record needs a target name")
        self.client = client
        self.name = PREFIX + str(target)
        self.where = "the intent record %s (StringGroup on %s)" % (self.name, client.base_url)

    def _group(self):
        return self.client.find("stringgroup", name=self.name)

    @staticmethod
    def _token(group):
        if group is None:
            return None
        return json.dumps([group.get("uuid"), group.get("kv") or []], sort_keys=True)

    def read(self):
        group = self._group()
        if group is None:
            return {}, None
        entries = dict((kv.get("key"), _decode(kv.get("value"))) for kv in group.get("kv") or [] if kv.get("key"))
        return entries, self._token(group)

    def write(self, entries, token):
        group = self._group()
        if self._token(group) != token:
            raise Conflict("%s changed under this run" % self.where)
        kv = [{"key": key, "value": json.dumps(value, sort_keys=True)} for key, value in sorted(entries.items())]
        if not kv:
            if group is not None:
                self.client.call("DELETE", "stringgroup/%s" % group["uuid"])
            return
        body = {"name": self.name, "type": "SG_TYPE_KEYVAL", "kv": kv, "description": DESCRIPTION}
        if group is None:
            self.client.post("stringgroup", body)
        else:
            self.client.put("stringgroup/%s" % group["uuid"], body)


@contextlib.contextmanager
def _no_upgrade_wait(client):
    """Calls inside fail at once on a 403 "upgrade in progress" instead of waiting it out."""
    saved = client.retry.wait_timeout
    client.retry.wait_timeout = 0
    try:
        yield
    finally:
        client.retry.wait_timeout = saved


class Hold(object):
    """A module run's hold on one target's intent record (``se_disable``, ``se_group_refresh``, ``cluster_upgrade``):
    claimed before the first change (waiting out another run's live lease, taking over one whose run is gone),
    renewed while the run waits, released at the end.

    ``read_only_ok``: the controller's configuration may be read-only while the run holds the record (a controller
    or system upgrade, vendor: 403). Renewing and releasing then neither wait the upgrade out nor fail on it; the
    record's lease is judged by its process meanwhile (``IntentRecord(live_while_running=True)``)."""

    def __init__(self, record, what, progress, read_only_ok=False):
        self.record = record
        self.what = what            # e.g. "SE 'se-1'", for messages
        self.progress = progress
        self.read_only_ok = read_only_ok
        self.claimed = False

    def claim(self, wait_seconds, takeover=False, interval=2.0):
        """Own the record. Returns ``(entries an earlier run left, contended)``; ``contended`` is True when another
        run held it (and may have changed the target meanwhile). Raises ``IntentError``."""
        waited = {"any": False}

        def on_wait(holder, seconds):
            waited["any"] = True
            self.progress.update("wait", "%s is being changed by run %s on %s: waiting for it (%.0fs)"
                                 % (self.what, holder.get("run"), holder.get("host"), seconds))
        left = self.record.claim(wait_seconds=wait_seconds, on_wait=on_wait, takeover=takeover, interval=interval)
        self.claimed = True
        displaced = self.record.displaced
        if displaced:
            self.progress.update("record", "took over %s from run %s (%s)" % (
                self.what, displaced.get("run"),
                "its process is gone" if process_gone(displaced) else "its lease had expired, or takeover"))
        return left, waited["any"] or bool(displaced)

    def entries(self):
        """What the record holds now (what an earlier run changed and must undo); the module fails naming the
        target when the record cannot be read."""
        try:
            return self.record.entries()
        except IntentError as exc:
            raise ModuleFailure("cannot read the intent record of %s: %s" % (self.what, exc))

    def claim_before_change(self, params, result):
        """``claim`` with the module's ``timeout`` and ``takeover`` options, before the run's first change: when the
        record cannot be owned the module fails with ``result`` (its plan) and ``changed`` false (nothing changed);
        ``result["intent"]`` names the run it took the record over from. Returns what ``claim`` returns."""
        try:
            left, contended = self.claim(params["timeout"], takeover=params.get("takeover"))
        except IntentError as exc:
            raise ModuleFailure.before_any_change("not changing %s: %s" % (self.what, exc), result)
        if self.record.displaced:
            result["intent"]["taken_over_from"] = self.record.displaced.get("run")
        return left, contended

    def renew(self):
        if not self.claimed:
            return
        if not self.read_only_ok:
            self.record.renew()
            return
        with _no_upgrade_wait(self.record.store.client):
            try:
                self.record.renew()
            except AviError as exc:
                if exc.status != 403:
                    raise

    def release(self):
        if not self.claimed:
            return
        self.claimed = False
        if not self.read_only_ok:
            try:
                self.record.release()
            except IntentError as exc:
                self.progress.update("record", "could not release the intent record: %s" % exc)
            return
        with _no_upgrade_wait(self.record.store.client):
            try:
                self.record.release()
            except (AviError, IntentError):
                pass   # read-only now: the lease is judged by its process, then its expiry


def target_hold(client, target, what, progress, lease_seconds):
    """A run's hold on the intent record of one SE or SE group (``se_disable``, ``se_group_refresh``): the record
    ``target`` (e.g. ``se-evacuate-<uuid>``) on the controller, its lease ``lease_seconds`` long; ``what`` names the
    target in messages (``SE 'se-1'``)."""
    return Hold(IntentRecord(StringGroupStore(client, target), lease_seconds=lease_seconds), what, progress)
