# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Where VirtFusion's hypervisors and servers are (a mixin of ``VirtFusionProvider``): the hypervisors
(``GET /compute/hypervisors``), where each server is listed (``vfcli-ctrl servers --src``, the one
documented JSON output), the REST server object, and a server or hypervisor by id or name. What is
read once is shared by the workers of a window (``self._cache``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.fanout import fan_out
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import GROUP, VirtFusionError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.output import as_error


# how many hypervisors' ``servers --src`` listings run at once (each on its own SSH connection)
LIST_WIDTH = 4


class Inventory(object):
    """Uses ``self.client`` and ``self._cache`` (a lock, the hypervisors, the listing, name -> ids)."""

    def hypervisors(self):
        """Every hypervisor, ``GET /compute/hypervisors`` [vendor: paged, ``results`` up to 200]."""
        with self._cache["lock"]:
            if self._cache["hypervisors"] is None:
                items, page = [], 1
                while True:
                    try:
                        doc = self.client.rest("GET", "/compute/hypervisors?results=200&page=%d" % page) or {}
                    except VirtFusionError as exc:
                        raise as_error(exc, "listing the hypervisors (REST API GET /compute/hypervisors)")
                    items.extend(doc.get("data") or [])
                    if not isinstance(doc.get("last_page"), int) or page >= doc["last_page"]:
                        break
                    page += 1
                self._cache["hypervisors"] = dict((h["id"], h) for h in items if isinstance(h, dict) and "id" in h)
            return dict(self._cache["hypervisors"])

    def resolve_server(self, value):
        if value in (None, ""):
            return None, None
        hvs = self.hypervisors()
        for h in hvs.values():
            if str(value).strip() in (str(h["id"]), h.get("name")):
                return h["id"], h.get("name")
        raise MigrationError(not_found("hypervisor", value, [h.get("name") or str(h["id"]) for h in hvs.values()]) +
                             " (by id or name)")

    def _hv_name(self, hid):
        h = self.hypervisors().get(hid)
        return h.get("name") if h else None

    # -- where the servers are (servers --src, the documented listing) ----------------------------------
    def _servers_on(self, hid, client=None):
        try:
            return (client or self.client).servers(hid)
        except VirtFusionError as exc:
            raise as_error(exc, "listing the servers of hypervisor %s (vfcli-ctrl %s servers)" % (hid, GROUP))

    def _list_all(self, hids, open_new=True):
        """``servers --src`` of each hypervisor in ``hids``, in that order, up to LIST_WIDTH at once: each command
        costs the control server a ``vfcli-ctrl`` process (0.3-0.6 s measured on the lab), and one after another
        they held every evacuation's first start back by seconds. The extra connections are kept (``idle``) for
        the window's workers (``fork``), so none is opened for nothing; with ``open_new`` false only idle ones are
        used (none: one after another on this connection). A failed listing raises its error (the first in
        ``hids``' order) once every listing has ended."""
        width = min(LIST_WIDTH, len(hids))
        with self._cache["lock"]:   # idle connections of an earlier listing first, then new ones
            reused = [self._cache["idle"].pop(0) for _slot in range(min(width - 1, len(self._cache["idle"])))]
        if width <= 1 or (not open_new and not reused):
            return [self._servers_on(hid) for hid in hids]
        added = [self.client.fork() for _slot in range(width - 1 - len(reused))] if open_new else []
        clients = [self.client] + reused + added
        with self._cache["lock"]:
            self._cache["clients"].extend(added)   # api_stats counts their commands
        try:
            return fan_out(hids, clients, lambda client, hid: self._servers_on(hid, client))
        finally:
            with self._cache["lock"]:
                self._cache["idle"].extend(clients[1:])

    def _listing(self, refresh=(), since=None):
        """server id -> hypervisor id, and name -> ids, from ``servers --src`` of every hypervisor (once), and of
        each hypervisor in ``refresh`` as listed by a listing begun at ``since`` (``time.monotonic()``; default:
        now) or later: after a migration moved a server between them, only a listing begun after its end shows
        where it is. A listing another worker began late enough serves this one too: the workers of a window
        whose migrations end together wait for one listing of their common source, not one each."""
        with self._cache["lock"]:
            where = self._cache["where"]
        if where is None:
            hids = sorted(self.hypervisors())
            began = time.monotonic()
            lists = self._list_all(hids)
            with self._cache["lock"]:
                if self._cache["where"] is None:
                    self._cache["where"], self._cache["names"] = {}, {}
            self._apply(hids, lists, began)
        if refresh:
            self._fresh(list(refresh), time.monotonic() if since is None else since)
        with self._cache["lock"]:
            return dict((k, list(v)) for k, v in self._cache["where"].items()), dict(self._cache["names"])

    def _fresh(self, hids, since):
        """Make the listing of each of ``hids`` one begun at ``since`` or later: keep one that is, wait for one
        another worker runs that began late enough, list the others (on this connection and any idle ones; no
        new connection). Each listing is registered when it begins (``flights``), so workers that need the same
        hypervisors share them, and a hypervisor one worker is listing is listed by the next one meanwhile."""
        cache = self._cache
        with cache["lock"]:
            cache["asked"] = max(cache["asked"] or since, since)   # the end-state check's "since"
        while True:
            mine, theirs = [], None
            with cache["lock"]:
                for hid in hids:
                    if cache["listed_at"].get(hid, since - 1) >= since:
                        continue   # listed late enough already
                    flight = cache["flights"].get(hid)
                    if flight is not None and not flight["done"].is_set() and flight["began"] >= since:
                        theirs = theirs or flight
                        continue   # another worker lists it now
                    mine.append(hid)
                mine = mine[:1 + min(len(cache["idle"]), LIST_WIDTH - 1)]   # as many as it has connections for
                began = time.monotonic()
                flights = [{"began": began, "done": threading.Event()} for _hid in mine]
                cache["flights"].update(zip(mine, flights))
            if not mine and theirs is None:
                return
            try:
                if mine:
                    self._apply(mine, self._list_all(mine, open_new=False), began)
            finally:
                for flight in flights:
                    flight["done"].set()
            if theirs is not None and not mine:
                theirs["done"].wait()   # then look again: it may have failed (listed here next round)

    def _apply(self, hids, lists, began):
        """Put each hypervisor's listing (begun at ``began``) in the shared view, unless a later one is there."""
        with self._cache["lock"]:
            where = self._cache["where"]
            for hid, listed in zip(hids, lists):
                if self._cache["listed_at"].get(hid, began) > began:
                    continue
                if hid in self._cache["listed_at"]:   # listed before: what it listed then is replaced
                    for sid in list(where):
                        if hid in where[sid]:
                            where[sid] = [h for h in where[sid] if h != hid]
                self._cache["listed_at"][hid] = began
                for s in listed:
                    if hid not in where.setdefault(s["id"], []):
                        where[s["id"]].append(hid)
                    ids = self._cache["names"].setdefault(s.get("name"), [])
                    if s["id"] not in ids:
                        ids.append(s["id"])

    def _where(self, sid, refresh=(), since=None):
        where, _names = self._listing(refresh, since)
        hvs = where.get(sid) or []
        return hvs[0] if len(hvs) == 1 else None

    # -- servers -----------------------------------------------------------------------------------
    def _server_doc(self, sid):
        try:
            return (self.client.rest("GET", "/servers/%s" % sid) or {}).get("data")
        except VirtFusionError as exc:
            if exc.status == 404:
                return None
            raise as_error(exc, "reading server %s (REST API)" % sid)

    def _inst(self, sid, doc, hid):
        doc = doc if isinstance(doc, dict) else {}
        return {"id": sid, "name": doc.get("name") or str(sid), "uuid": doc.get("uuid"), "server": hid,
                "server_name": self._hv_name(hid) if hid is not None else None, "state": doc.get("state"),
                "ram": doc.get("memory"), "disk": None, "last_migration": doc.get("migration")}

    def resolve(self, key, refresh=()):
        key = str(key).strip()
        where, names = self._listing(refresh)
        if key.isdigit():
            sid = int(key)
        else:
            ids = names.get(key) or []
            if len(ids) > 1:
                raise MigrationError("server name %s is ambiguous (ids %s): give the server id"
                                     % (key, ", ".join(str(i) for i in ids)))
            sid = ids[0] if ids else None
        doc = self._server_doc(sid) if sid is not None else None
        if sid is None or (doc is None and sid not in where):
            raise MigrationError("%s (no server has that id or name)" % not_found("server", key, list(names)))
        hvs = where.get(sid) or []
        if len(hvs) > 1 and not refresh:   # listed twice: one listing is older than a migration; list them again
            return self.resolve(key, refresh=tuple(hvs))
        if len(hvs) > 1:
            raise MigrationError("server %s is listed on hypervisors %s at once (vfcli-ctrl servers --src)" % (
                sid, ", ".join(str(h) for h in hvs)))
        return self._inst(sid, doc, hvs[0] if hvs else None)

    def everyone(self):
        where, names = self._listing()
        name_of = dict((sid, name) for name, ids in names.items() for sid in ids)
        return [{"id": sid, "name": name_of.get(sid, str(sid)), "server": hvs[0] if len(hvs) == 1 else None}
                for sid, hvs in sorted(where.items())]

    def instances_on(self, server):
        """The servers listed on hypervisor ``server`` now: the first listing of every hypervisor is fresh; after
        it, that hypervisor is listed again."""
        hid, _name = self.resolve_server(server)
        with self._cache["lock"]:
            listed = self._cache["where"] is not None
        where, _names = self._listing((hid,) if listed else ())
        ids = sorted(sid for sid, hvs in where.items() if hid in hvs)
        return sorted((self.resolve(str(i)) for i in ids), key=lambda i: i["name"])
