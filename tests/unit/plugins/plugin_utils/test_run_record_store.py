"""Run records written as the run goes on (plugin_utils.run_record_builder and run_record_store): a new file per
run with the latest linked, a partial record that says it did not finish, several processes adding to one record."""
import json
import multiprocessing
import os

import pytest

from ansible_collections.fleetops.maintenance.plugins.plugin_utils import run_record as rr
from ansible_collections.fleetops.maintenance.plugins.plugin_utils import run_record_builder as build
from ansible_collections.fleetops.maintenance.plugins.plugin_utils import run_record_store as store

T0 = "2026-03-01T02:00:00"
PROGRESS = [
    {"elapsed": 0.1, "phase": "read", "msg": "2 instance(s)"},
    {"elapsed": 0.5, "phase": "begin", "instance": "web-1"},
    {"elapsed": 2.0, "phase": "sync", "instance": "web-1"},
    {"elapsed": 4.0, "phase": "switch", "instance": "web-1"},
    {"elapsed": 6.0, "phase": "switch", "instance": "web-1"},
]


def at(seconds):
    return "2026-03-01T02:00:%02d" % seconds


def evacuation():
    record = build.new_record("host_evacuate", "Evacuation of cn-1", step={"target": "cn-1", "target_type": "compute_node"},
                              disruption={"unit": "seconds"}, at=T0)
    build.open_phase(record, None, "migrations", at=at(1))
    return record


def test_a_record_grows_from_phases_and_progress_and_says_unfinished_until_finished():
    record = evacuation()
    build.refresh(record, at(3))
    assert rr.validate(record)["result"] == "unfinished" and record["ended"] is None
    assert record["steps"][0]["phases"] == [{"name": "migrations", "start": at(1), "end": at(3), "disruptive": False,
                                             "open": True}]
    step, phase = build.finish_phase(record, at=at(8))
    assert (step["target"], phase["name"]) == ("cn-1", "migrations")
    build.add_progress(record, (step, phase), PROGRESS, key="instance", target_type="instance", group="cn-1",
                       disruptive=("switch",))
    web1 = build.refresh(record, at(8)) and build.find_step(record, "web-1")
    assert [(p["name"], p["start"][17:], p["end"][17:], p["disruptive"]) for p in web1["phases"]] == [
        ("begin", "01.500000", "03", False), ("sync", "03", "05", False), ("switch", "05", "07", True)]
    assert web1["group"] == "cn-1" and web1["start"] == web1["phases"][0]["start"]
    assert [p["name"] for p in record["steps"][0]["phases"]] == ["migrations"]     # unkeyed entries left out
    # a call marked on the instance's own step: its phases take the mark's place
    build.open_phase(record, "web-1", "rollback", disruptive=True, at=at(10))
    step, phase = build.finish_phase(record, at=at(12))
    build.add_progress(record, (step, phase), [{"elapsed": 0.5, "phase": "rollback", "instance": "web-1"},
                                               {"elapsed": 1.5, "phase": "rollback", "instance": "web-1"}],
                       key="instance", disruptive=("rollback",))
    assert [p["name"] for p in web1["phases"]] == ["begin", "sync", "switch", "rollback"]
    build.update_step(record, {"target": "web-1", "result": "failed", "disruption": {"seconds": 1.5}})
    build.update_step(record, {"target": "db-1", "target_type": "instance", "result": "not_started"})
    build.finish_record(record, at=at(20))
    assert rr.validate(record)["result"] == "failed" and record["failures"] == 1
    assert record["steps"][0]["result"] == "failed" and record["ended"] == at(20)
    assert web1["disruption"]["expected"] is True and record["disruption"] == {
        "unit": "seconds", "measured": True, "total": 1.5, "by_target": {"web-1": 1.5}}
    assert record["duration_seconds"] == 20.0 and not any(p.get("open") for s in record["steps"] for p in s["phases"])


def test_mistakes_name_what_is_wrong():
    record = evacuation()
    with pytest.raises(rr.RunRecordError, match="step web-9 is new: give its target_type"):
        build.update_step(record, {"target": "web-9"})
    with pytest.raises(rr.RunRecordError, match="no open phase finalize"):
        build.finish_phase(record, name="finalize")
    with pytest.raises(rr.RunRecordError, match="result must be one of ok, failed, stopped"):
        build.finish_record(record, result="done")


def test_each_run_gets_its_own_file_the_configured_name_links_the_latest(tmp_path):
    configured = str(tmp_path / "cn-1.json")
    (tmp_path / "cn-1.json").write_text('{"from": "an earlier version"}')      # a regular file: kept, not replaced
    first = store.create(evacuation(), configured)
    second = store.create(evacuation(), configured)
    runs = sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink())
    assert len([r for r in runs if r.endswith(".json")]) == 3 and len([r for r in runs if r.endswith(".html")]) == 2
    assert first["files"]["json"] != second["files"]["json"]
    assert os.readlink(configured) == os.path.basename(second["files"]["json"])
    assert os.readlink(str(tmp_path / "cn-1.html")) == os.path.basename(second["files"]["html"])
    kept = [r for r in runs if r.endswith(".json") and "from" in (tmp_path / r).read_text()]
    assert len(kept) == 1 and kept[0].startswith("cn-1.") and kept[0] != "cn-1.json"
    # the first run's record is still there, as it was
    assert json.loads(open(first["files"]["json"]).read())["files"] == first["files"]
    with pytest.raises(store.RecordFileError, match="does not exist"):
        store.create(evacuation(), str(tmp_path / "missing" / "x.json"))


def test_a_temporary_record_lives_for_the_run_only():
    record = store.create(evacuation(), "")
    path = record["files"]["json"]
    assert os.path.isfile(path)
    record = store.update(path, build.finish_record)
    store.remove_temporary(record)
    assert not os.path.exists(os.path.dirname(path))


def _add_steps(path, worker):
    for n in range(10):
        store.update(path, lambda rec: build.update_step(rec, {"target": "se-%d-%d" % (worker, n),
                                                               "target_type": "service_engine", "group": "sg-%d" % worker}))


def test_several_processes_add_to_one_record_without_losing_a_step(tmp_path):
    record = store.create(evacuation(), str(tmp_path / "upgrade.json"))
    workers = [multiprocessing.Process(target=_add_steps, args=(record["files"]["json"], w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    with open(str(tmp_path / "upgrade.json")) as stream:
        steps = [s["target"] for s in json.load(stream)["steps"]]
    assert sorted(steps[1:]) == sorted("se-%d-%d" % (w, n) for w in range(4) for n in range(10))
