"""The lab's Triton watch stream sends every progress event, whenever the simulation logs it.

A watch attached while a sync runs sends the running history entry, the latest progress event, then every event
logged after it. The simulation ticks in its own thread, so a tick can log an event between the watch's reads. The
test puts a tick in exactly that place: right after the watch's first read, one tick logs the sync's last event
(100%) and ends the sync. The `triton` CLI prints that event as `running: 100%`; in a CI run the lab lost it there
(the CLI printed 1%, 0% and `Done`). Real threads cannot hold that order steady, so the world here is a small stand-in
around the lab's real `Simulation` event log and `watch_stream`.
"""
import asyncio
import json
import threading

import pytest

from lab.triton import cloudapi
from lab.triton.simulation import Simulation

VM = "vm-1"


class World:
    """What `watch_stream` and the Simulation's event log read of a Triton world; one migration in its sync."""
    time_scale = 0.01

    def __init__(self):
        self.lock = threading.RLock()
        self.clock = 100.0
        self.progress = {}
        self.last_record = {}
        self.rec = {"id": "m-1", "vm_uuid": VM, "phase": "sync", "state": "running", "_lab": {},
                    "progress_history": [{"type": "progress", "phase": "sync", "state": "running",
                                          "message": "syncing data", "current_progress": 1, "total_progress": 100}]}
        self.migrations = {"m-1": self.rec}
        self.simulation = Simulation(self)

    def lab_now(self):
        return self.clock

    def wall(self):
        return self.clock

    def _save(self, kind, key):
        pass

    def record_of(self, vm_uuid):
        return self.rec if self.migrations else None

    def drop_watch_after(self, vm_uuid):
        return None

    def entry_view(self, e):
        return dict(e)

    def sync_event(self, sent, total):
        self.simulation._set_progress(self.rec, {"phase": "sync", "state": "running", "message": "syncing data",
                                                 "current_progress": sent, "total_progress": total},
                                      final=sent >= total)

    def end_sync(self):
        """The tick that ends the sync: its last event, then the record's end (under the lock, as `tick` runs)."""
        with self.lock:
            self.clock += 0.001
            self.sync_event(4096, 4096)
            self.rec["progress_history"][-1].update(state="successful", current_progress=100)
            self.rec["state"] = "successful"
            self.last_record[VM] = self.migrations.pop("m-1")


def watch(world, tick, after_read):
    """Every line one watch connection sends, with ``tick`` run right after the watch's read number ``after_read``."""
    real = world.simulation.watch_snapshot
    reads = []

    def snapshot(vm_uuid):
        got = real(vm_uuid)
        reads.append(1)
        if len(reads) == after_read:
            tick()
        return got
    world.simulation.watch_snapshot = snapshot

    async def collect():
        return [json.loads(chunk) async for chunk in cloudapi.watch_stream(world, VM)]
    return asyncio.run(collect())


def progress(lines):
    return [(e["current_progress"], e["total_progress"]) for e in lines if e["type"] == "progress"]


@pytest.mark.parametrize("after_read", [1, 2, 3], ids=["before-the-first-event", "in-the-first-round", "later"])
def test_a_watch_sends_the_last_sync_event_once_whenever_it_is_logged(after_read):
    world = World()
    world.sync_event(0, 4096)                    # the first tick of the sync: nothing copied yet
    lines = watch(world, world.end_sync, after_read)
    # the running history entry, the latest event, the sync's last event, then the end
    assert progress(lines) == [(1, 100), (0, 4096), (4096, 4096)], lines
    assert lines[-1] == {"type": "end", "phase": "sync", "state": "successful", "message": None}
