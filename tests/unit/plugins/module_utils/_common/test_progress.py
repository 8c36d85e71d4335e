"""_common.progress: every update is streamed live; the returned history keeps one entry per step, its latest."""
import json

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress


def _progress(tmp_path):
    path = tmp_path / "progress.jsonl"
    return Progress("instance_migrate", path=str(path), clock=lambda: 0.0), path


def _streamed(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_sync_reporting_many_times_returns_its_latest_state_and_streams_every_one(tmp_path):
    progress, path = _progress(tmp_path)
    progress.update("begin", "web-1: reserving instance", 1, instance="web-1")
    for n in range(0, 1025, 64):
        progress.update("sync", "web-1: %d KiB of 1024 KiB" % n, 100 * n // 1024, instance="web-1",
                        bytes=n * 1024, total_bytes=1024 * 1024)
    progress.update("sync", "web-1: 0 KiB of 8 KiB", 0, instance="web-1", bytes=0, total_bytes=8192)
    progress.update("sync", "web-1: 8 KiB of 8 KiB", 100, instance="web-1", bytes=8192, total_bytes=8192)
    assert [(e["phase"], e["msg"]) for e in progress.history] == [
        ("begin", "web-1: reserving instance"),
        ("sync", "web-1: 1024 KiB of 1024 KiB"),       # the first sync: its last update only
        ("sync", "web-1: 8 KiB of 8 KiB"),             # the second sync is another step
    ]
    assert len(_streamed(path)) == 1 + 17 + 2          # live, every update is shown


def test_named_steps_stay_and_workers_interleaving_does_not_merge_subjects(tmp_path):
    progress, _path = _progress(tmp_path)
    for percent in (1, 10, 50):
        progress.update("begin", "a: reserving instance", percent, instance="a")
        progress.update("begin", "b: reserving instance", percent, instance="b")
    progress.update("switch", "a: stopping the instance", 3, instance="a")
    progress.update("switch", "a: starting the migrated instance", 95, instance="a")
    steps = [(e["msg"], e.get("percent")) for e in progress.history]
    assert steps == [("a: reserving instance", 50), ("b: reserving instance", 50),
                     ("a: stopping the instance", 3), ("a: starting the migrated instance", 95)]


def test_a_subjects_repeated_news_is_dropped_and_a_percentage_going_back_is_a_new_step(tmp_path):
    progress, path = _progress(tmp_path)
    for _read in range(3):
        for vs in ("vs-1", "vs-2"):
            progress.update("migrate", "migrating VS %s" % vs, vs=vs)
    progress.update("begin", "c: reserving instance", 80, instance="c")
    progress.update("begin", "c: reserving instance", 5, instance="c")    # a retry starts the step again
    assert [(e["msg"], e.get("percent")) for e in progress.history] == [
        ("migrating VS vs-1", None), ("migrating VS vs-2", None),
        ("c: reserving instance", 80), ("c: reserving instance", 5)]
    assert len(_streamed(path)) == 4
