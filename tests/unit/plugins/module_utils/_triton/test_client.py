# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Triton client: retries and the watch re-attach."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_clock import FakeClock
from fake_triton import KEY_ID, KEY_PEM
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem as _ConnectionProblem
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonClient, TritonError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import resolve_connection


def _client(clock=None):
    clock = clock or FakeClock()
    conn = resolve_connection({"url": "https://cloudapi.example", "account": "alice", "key_id": KEY_ID,
                               "private_key": KEY_PEM}, environ={})
    return TritonClient(conn, clock=clock.clock, sleep=clock.sleep, rand=lambda: 0.0), clock


def test_retries_5xx_and_connection_errors_then_gives_up(monkeypatch):
    client, clock = _client()
    answers = [_ConnectionProblem("reset"), (503, {"code": "ServiceUnavailable", "message": "x"}), (200, [1])]

    def send(method, url, body=None, headers=None, stream=False):
        assert headers["Authorization"].startswith('Signature keyId="/alice/keys/')
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    monkeypatch.setattr(client, "_send", send)
    assert client.cloudapi("GET", "/machines") == [1]
    assert client.stats["retries"] == 2 and clock.slept == [1.0, 2.0]
    monkeypatch.setattr(client, "_send", lambda *a, **k: (503, {"code": "ServiceUnavailable", "message": "down"}))
    with pytest.raises(TritonError, match=r"HTTP 503 ServiceUnavailable: down \(gave up after \d+ attempts\)"):
        client.cloudapi("GET", "/machines")
    monkeypatch.setattr(client, "_send", lambda *a, **k: (412, {"code": "PreconditionFailed", "message": "no"}))
    with pytest.raises(TritonError) as exc:
        client.cloudapi("POST", "/machines/x/migrate", body={"action": "sync"})
    assert (exc.value.status, exc.value.code, exc.value.message) == (412, "PreconditionFailed", "no")


def test_watch_reattaches_until_the_end_event():
    client, _clock = _client()
    opened = []

    def open_stream():
        opened.append(1)

        def gen():
            yield {"type": "progress", "phase": "sync", "current_progress": len(opened)}
            if len(opened) < 3:
                raise _ConnectionProblem("dropped")
            yield {"type": "end", "phase": "sync", "state": "paused"}
        return gen()
    seen = []
    end = client.watch(open_stream, seen.append, timeout=60, get_state=lambda: None)
    assert end["state"] == "paused" and len(opened) == 3 and client.stats["reattaches"] == 2
    assert [e["current_progress"] for e in seen] == [1, 2, 3]
    gone = client.watch(lambda: iter(()), seen.append, timeout=60,
                        get_state=lambda: {"type": "end", "state": "successful"})
    assert gone["state"] == "successful"
