# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The intent record and its lease, on the directory store (the vendors' stores are tested against the labs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from fake_clock import FakeClock
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import (
    OWNER,
    Conflict,
    DirectoryStore,
    IntentError,
    IntentRecord,
)


def record(tmp_path, clk, run_id, lease=60.0):
    return IntentRecord(DirectoryStore(str(tmp_path), "se-evacuate-se-1"), run_id=run_id, lease_seconds=lease,
                        clock=clk.clock, sleep=clk.sleep)


def test_a_record_keeps_what_a_run_changed_until_it_is_undone(tmp_path):
    clk = FakeClock()
    one = record(tmp_path, clk, "run-1")
    assert one.claim() == {}
    one.remember("se/abc", {"was": "SE_STATE_ENABLED"})
    one.remember("vs/v1/0", {"scaled_out_to": "se-2"})
    # another machine's run reads the same record: what to restore, never more
    other = record(tmp_path, clk, "run-2")
    assert other.entries() == {"se/abc": {"was": "SE_STATE_ENABLED"}, "vs/v1/0": {"scaled_out_to": "se-2"}}
    assert other.entries("vs/") == {"vs/v1/0": {"scaled_out_to": "se-2"}}
    one.forget("se/abc", "vs/v1/0")
    one.release()
    assert not os.path.exists(one.store.path)   # an empty record is removed


def test_a_live_owner_is_waited_for_then_refused_naming_it(tmp_path):
    clk = FakeClock()
    one = record(tmp_path, clk, "run-1", lease=600)
    one.claim()
    waits = []
    other = record(tmp_path, clk, "run-2")
    with pytest.raises(IntentError) as err:
        other.claim(wait_seconds=30, on_wait=lambda lease, waited: waits.append((lease["run"], waited)))
    assert "held by run run-1" in str(err.value) and "takeover" in str(err.value)
    assert waits and all(run == "run-1" for run, waited in waits)
    assert 30 <= clk.now - 100.0 < 33


def test_the_owner_leaving_lets_the_waiting_run_adopt_the_work(tmp_path):
    clk = FakeClock()
    one = record(tmp_path, clk, "run-1", lease=600)
    one.claim()
    one.remember("se/abc", {"was": "SE_STATE_DISABLED_FOR_PLACEMENT"})
    other = record(tmp_path, clk, "run-2")

    def leave(lease, waited):
        if waited >= 4:
            one.release()
    assert other.claim(wait_seconds=60, on_wait=leave) == {"se/abc": {"was": "SE_STATE_DISABLED_FOR_PLACEMENT"}}
    assert other.owner()["run"] == "run-2" and other.displaced is None


def test_a_stale_lease_is_taken_over_and_reported(tmp_path):
    clk = FakeClock()
    one = record(tmp_path, clk, "run-1", lease=60)
    one.claim()
    clk.now += 61                       # the killed run stopped renewing
    other = record(tmp_path, clk, "run-2")
    other.claim()
    assert other.displaced["run"] == "run-1"
    # the displaced run, if it comes back, stops instead of acting on a target it no longer owns
    with pytest.raises(IntentError) as err:
        one.remember("se/x", {})
    assert "lost its lease" in str(err.value)


def test_takeover_ignores_a_live_lease(tmp_path):
    clk = FakeClock()
    record(tmp_path, clk, "run-1", lease=600).claim()
    other = record(tmp_path, clk, "run-2")
    other.claim(takeover=True)
    assert other.displaced["run"] == "run-1" and other.owner()["run"] == "run-2"


def test_renew_moves_the_expiry_but_not_on_every_tick(tmp_path):
    clk = FakeClock()
    one = record(tmp_path, clk, "run-1", lease=60)
    one.claim()
    first = one.owner()["expires"]
    clk.now += 5
    one.renew()                          # within a third of the lease: no write
    assert one.owner()["expires"] == first
    clk.now += 20
    one.renew()
    assert one.owner()["expires"] == clk.now + 60


def test_a_write_that_races_another_retries_on_the_fresh_record(tmp_path):
    clk = FakeClock()
    store = DirectoryStore(str(tmp_path), "t")
    one = IntentRecord(store, run_id="run-1", clock=clk.clock, sleep=clk.sleep)
    one.claim()
    real_write = store.write
    raced = []

    def racing_write(entries, token):
        if not raced:                    # someone else writes between our read and our write
            raced.append(1)
            real_write(dict(store.read()[0], **{"vs/other": {"by": "someone"}}), token)
        return real_write(entries, token)
    store.write = racing_write
    one.remember("se/abc", {"was": "SE_STATE_ENABLED"})
    assert set(one.entries()) == {"se/abc", "vs/other"}


def test_the_directory_store_refuses_a_stale_token(tmp_path):
    store = DirectoryStore(str(tmp_path), "t")
    store.write({"a": 1}, None)
    token = store.read()[1]
    store.write({"a": 2}, token)
    with pytest.raises(Conflict):
        store.write({"a": 3}, token)
    with open(store.path) as stream:
        assert json.load(stream)["entries"] == {"a": 2}


def test_an_unreadable_record_is_an_error_not_an_empty_one(tmp_path):
    store = DirectoryStore(str(tmp_path), "t")
    with open(store.path, "w") as stream:
        stream.write("{not json")
    with pytest.raises(IntentError) as err:
        IntentRecord(store).claim()
    assert "not JSON" in str(err.value)
    with pytest.raises(IntentError):
        DirectoryStore("  ", "t")
    assert OWNER == "owner"


@contextlib.contextmanager
def holder_process(tmp_path, clk, lease):
    """A process of this machine (a sleeping child) holding the record with a lease of ``lease`` seconds: yields
    (the child, its record); the child is killed and reaped at the end."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = record(tmp_path, clk, "%s-%d-abc" % (socket.gethostname().split(".")[0], child.pid), lease=lease)
        holder.claim()
        yield child, holder
    finally:
        child.kill()
        child.wait()


def test_a_lease_judged_by_its_process_outlives_its_expiry_and_dies_with_its_process(tmp_path):
    # a run that cannot renew (the controller's configuration is read-only during its upgrade) keeps its lease as
    # long as its process runs on this machine; once the process is gone the lease is stale at once
    clk = FakeClock()
    with holder_process(tmp_path, clk, lease=60) as (_child, holder):
        clk.now += 600                      # far past its expiry, but its process runs
        other = IntentRecord(DirectoryStore(str(tmp_path), "se-evacuate-se-1"), run_id="run-2", clock=clk.clock,
                             sleep=clk.sleep, live_while_running=True)
        with pytest.raises(IntentError) as err:
            other.claim(wait_seconds=5)
        assert "is held by run" in str(err.value)
    other.claim()                           # the process is gone: taken over without waiting
    assert other.displaced["run"] == holder.run_id


def test_a_run_waiting_for_a_lease_takes_it_over_once_its_process_ends_even_before_it_is_reaped(tmp_path):
    # a killed run's module on this machine: its lease is stale once its process ended (a zombie that its parent
    # has not reaped yet can no longer act), not only at its expiry; the waiting run notices while it waits
    clk = FakeClock()
    with holder_process(tmp_path, clk, lease=600) as (child, holder):
        other = record(tmp_path, clk, "run-2")
        looks, start = [], clk.now

        def on_wait(lease, waited):
            looks.append(waited)
            if len(looks) == 2:
                child.kill()                # ends while the other run waits; reaped only when the test ends
                deadline = time.time() + 10
                while time.time() < deadline:
                    with open("/proc/%d/stat" % child.pid) as stream:
                        if stream.read().rsplit(")", 1)[1].split()[0] == "Z":
                            break
                    time.sleep(0.01)
        other.claim(wait_seconds=300, on_wait=on_wait, interval=1.0)
        assert len(looks) == 2 and clk.now - start < 10 and other.displaced["run"] == holder.run_id
