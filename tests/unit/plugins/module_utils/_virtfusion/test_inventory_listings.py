# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The listing (``vfcli-ctrl servers --src``) the workers of a window share: a listing serves every worker whose
migration had ended when it began, never one whose migration ended after; a failed shared listing is listed again
by the worker that waited for it; an older listing never replaces a newer one; the end-state check lists only the
hypervisors no worker listed after the last end. The order of listings across threads is what this holds steady
(each listing waits for the test's go); the lab cannot, so what the lab shows of it (fewer listings after the
last migration's end) is asserted in tests/integration/test_virtfusion_playbooks.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import VirtFusionError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.inventory import Inventory

WAIT = 5.0


class GatedClient(object):
    """``servers(hid)`` blocks until the test lets that call answer (``answer``), then returns what it was given
    (or raises it); ``calls`` holds each listing's hypervisor in order, ``begun`` is notified as each call starts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []
        self.pending = {}   # (hid, n-th call of it) -> [event, answer]
        self.begun = threading.Condition(self.lock)

    def servers(self, hid):
        with self.lock:
            n = sum(1 for h in self.calls if h == hid)
            self.calls.append(hid)
            slot = self.pending.setdefault((hid, n), [threading.Event(), None])
            self.begun.notify_all()
        assert slot[0].wait(WAIT), "listing %s #%d never answered" % (hid, n)
        if isinstance(slot[1], Exception):
            raise slot[1]
        return [{"id": sid, "name": "srv-%d" % sid} for sid in slot[1]]

    def answer(self, hid, n, value):
        with self.lock:
            slot = self.pending.setdefault((hid, n), [threading.Event(), None])
            slot[1] = value
        slot[0].set()

    def wait_calls(self, count):
        with self.lock:
            assert self.begun.wait_for(lambda: len(self.calls) >= count, WAIT), self.calls

    def fork(self):
        raise AssertionError("a refresh opens no connection")


class Inv(Inventory):
    def __init__(self, client, cache):
        self.client, self._cache = client, cache


def listed(where_on, at):
    """A cache whose listings of hypervisors 1, 2 and 3 (server 7 on ``where_on``) began at ``at``."""
    return {"lock": threading.Lock(), "hypervisors": {1: {"id": 1, "name": "hv-1"}, 2: {"id": 2, "name": "hv-2"},
                                                      3: {"id": 3, "name": "hv-3"}},
            "where": {7: list(where_on)}, "names": {"srv-7": [7]}, "idle": [], "clients": [],
            "listed_at": {1: at, 2: at, 3: at}, "flights": {}, "asked": None}


def run(target, *args):
    out = {}

    def body():
        try:
            out["value"] = target(*args)
        except Exception as exc:  # pylint: disable=broad-except
            out["error"] = exc
    t = threading.Thread(target=body)
    t.daemon = True
    t.start()
    return t, out


def test_workers_whose_migrations_ended_before_a_listing_began_share_it():
    ended = time.monotonic()           # both migrations (server 7 to hypervisor 2) ended before either listing
    client = GatedClient()
    cache = listed([1], ended - 10)
    a, out_a = run(Inv(client, cache)._where, 7, (1, 2), ended)
    client.wait_calls(1)               # a lists hypervisor 1
    b, out_b = run(Inv(client, cache)._where, 7, (1, 2), ended)
    client.wait_calls(2)               # b joins a's listing of 1 and lists 2 meanwhile, on its own connection
    assert client.calls == [1, 2]
    client.answer(1, 0, [])
    client.answer(2, 0, [7])
    a.join(WAIT)
    b.join(WAIT)
    assert out_a == {"value": 2} and out_b == {"value": 2}
    assert sorted(client.calls) == [1, 2]   # one listing of each for both workers
    assert cache["asked"] == ended


def test_a_listing_begun_before_a_migration_ended_does_not_serve_it():
    client = GatedClient()
    cache = listed([1], time.monotonic() - 10)
    a, out_a = run(Inv(client, cache)._where, 7, (1,), time.monotonic())
    client.wait_calls(1)
    late = time.monotonic()            # a second migration ends while a's listing runs: it lists again
    b, out_b = run(Inv(client, cache)._where, 7, (1,), late)
    client.wait_calls(2)
    assert client.calls == [1, 1]
    client.answer(1, 1, [])            # the newer listing answers first (the server has left)...
    b.join(WAIT)
    assert out_b == {"value": None} and cache["where"][7] == []
    client.answer(1, 0, [7])           # ...and the older one, answering last, does not put it back
    a.join(WAIT)
    assert out_a == {"value": None} and cache["where"][7] == [] and cache["listed_at"][1] >= late


def test_a_worker_lists_again_when_the_listing_it_waited_for_failed():
    ended = time.monotonic()
    client = GatedClient()
    cache = listed([1], ended - 10)
    a, out_a = run(Inv(client, cache)._where, 7, (1,), ended)
    client.wait_calls(1)
    b, out_b = run(Inv(client, cache)._where, 7, (1,), ended)
    time.sleep(0.05)
    assert client.calls == [1]         # b waits for a's listing
    client.answer(1, 0, VirtFusionError("connection lost", rc=255))
    client.wait_calls(2)               # a failed: b lists it itself
    client.answer(1, 1, [])
    a.join(WAIT)
    b.join(WAIT)
    assert isinstance(out_a.get("error"), MigrationError) and "connection lost" in str(out_a["error"])
    assert out_b == {"value": None}


def test_the_end_state_check_lists_only_what_no_worker_listed_after_the_last_end():
    client = GatedClient()
    start = time.monotonic()
    cache = listed([1], start - 10)
    inv = Inv(client, cache)
    ended = time.monotonic()
    client.answer(1, 0, [])
    client.answer(2, 0, [7])
    assert inv._where(7, (1, 2), ended) == 2    # the last worker's listings, begun after its end
    client.answer(3, 0, [])
    where, _names = inv._listing((1, 2, 3), since=cache["asked"])
    assert where[7] == [2]
    assert client.calls == [1, 2, 3]           # hypervisor 3, not listed since, is listed; 1 and 2 are not again
    client.answer(1, 1, [])
    client.answer(2, 1, [7])
    client.answer(3, 1, [])
    inv._listing((1, 2, 3))                    # without a "since": listed now, every one
    assert client.calls == [1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize("idle", [0, 2])
def test_a_refresh_uses_idle_connections_but_opens_none(idle):
    client = GatedClient()
    cache = listed([1], time.monotonic() - 10)
    spare = [GatedClient() for _n in range(idle)]
    cache["idle"] = list(spare)
    for c in [client] + spare:
        for hid in (1, 2, 3):
            c.answer(hid, 0, [])
    Inv(client, cache)._listing((1, 2, 3))     # GatedClient.fork fails the test if a connection is opened
    assert sorted(client.calls + [h for c in spare for h in c.calls]) == [1, 2, 3]
    assert cache["idle"] == spare              # the idle ones are idle again
