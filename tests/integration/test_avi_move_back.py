"""Avi move back (se_move_back, move_back_se), run with ansible-playbook against the lab (small topology: se-a hosts
vs-1 and vs-2, se-b hosts vs-3; an evacuation of se-a moves vs-1 and vs-2 onto se-b and se-c).
One lab for the module: the tests run in order, each starting from the placement the topology seeds."""
import functools
import json
import os

import pytest

from conftest import PlaybookLab, run_playbook
from crashkit import Run, chosen, kill_ids, running
from test_playbooks import flat, recap

SEEDED = {"vs-1": ["se-a"], "vs-2": ["se-a"], "vs-3": ["se-b"]}


@pytest.fixture(scope="module")
def mlab(tmp_path_factory):
    the_lab = PlaybookLab(tmp_path_factory.mktemp("avi-move-back") / "lab", "small.yml")
    the_lab.max_lifetime = 900
    yield from the_lab.running()


@pytest.fixture
def mplaybook(mlab):
    return functools.partial(run_playbook, mlab)


def placement(mlab, names=("vs-1", "vs-2", "vs-3")):
    client = mlab.client()
    return dict((name, sorted(client.vs_ses(name)[0])) for name in names)


def operations(mlab):
    return mlab.admin("GET", "stats")["operations"]


def evacuate(mlab, mplaybook, report_file, **extra):
    """Evacuate se-a with a run record, then re-enable it; returns the evacuation's record (the file of its run)."""
    rc, out = mplaybook("evacuate_se", extra_vars=dict({"service_engine": "se-a", "report_file": report_file}, **extra))
    assert rc == 0, out[-3000:]
    moved = placement(mlab)
    assert "se-a" not in moved["vs-1"] + moved["vs-2"], moved
    return os.path.realpath(report_file)


def test_move_back_round_trip(mlab, mplaybook):
    assert placement(mlab) == SEEDED
    state = str(mlab.state_dir)
    record = evacuate(mlab, mplaybook, state + "/se-a.json")
    evacuated = placement(mlab)
    ops = len(operations(mlab))

    # the SE is still disabled: refused before any change, naming the command that re-enables it
    rc, out = mplaybook("move_back_se", extra_vars={"record": state + "/se-a.json"})
    assert rc != 0 and "se-a is SE_STATE_DISABLED, not SE_STATE_ENABLED: nothing was moved" in flat(out), out[-3000:]
    assert "ansible-playbook fleetops.maintenance.evacuate_se -e service_engine=se-a -e state=enabled" in flat(out)
    assert placement(mlab) == evacuated and len(operations(mlab)) == ops

    # re-enabled, with a record of its own: that record is not an evacuation's, refused naming the option
    rc, out = mplaybook("evacuate_se", extra_vars={"service_engine": "se-a", "state": "enabled",
                                                   "report_file": state + "/se-a-enable.json"})
    assert rc == 0, out[-3000:]
    rc, out = mplaybook("move_back_se", extra_vars={"record": state + "/se-a-enable.json"})
    assert rc != 0 and "se_move_back_record: %s/se-a-enable.json is not the record of a finished SE evacuation" % state \
        in flat(out) and "state enabled" in flat(out), out[-3000:]
    ops = len(operations(mlab))

    # check mode: the plan lists what would move from where, nothing changes
    run = mplaybook("move_back_se", extra_vars={"record": state + "/se-a.json"}, check=True)
    rc, out = run
    assert rc == 0, out[-3000:]
    for vs in ("vs-1", "vs-2"):
        assert "%s: %s -> se-a: would move back" % (vs, evacuated[vs][0]) in flat(out), out[-3000:]
    assert "would move back: 2, skipped: none" in flat(out)
    assert "vs-3" not in run.stats["se_move_back_report"]["summary"]
    assert recap(out)["changed"] == 0
    assert placement(mlab) == evacuated and len(operations(mlab)) == ops

    # the move back: both where they were before the evacuation, make-before-break, vs-3 never touched
    run = mplaybook("move_back_se", extra_vars={"record": record, "concurrency": 2,
                                                "report_file": state + "/se-a-back.json"})
    rc, out = run
    assert rc == 0, out[-3000:]
    assert placement(mlab) == SEEDED
    assert mlab.admin("GET", "disruption")["total_vs_seconds"] == 0
    new = operations(mlab)[ops:]
    assert sorted((op["kind"], op["target"], op["result"]) for op in new) == [
        ("migrate", "vs-1", "success"), ("migrate", "vs-2", "success")], new
    assert "moved back: 2 of 2, skipped: none" in flat(out)
    assert "verified: 2 virtual service(s) on se-a and up, nothing lost" in flat(out)
    # the wave is followed quietly: each migration's progress live and one line as it ends, no retry noise
    assert "FAILED - RETRYING" not in out, out[-3000:]
    for vs in ("vs-1", "vs-2"):
        assert "[job_wait] localhost %s | ended, changed" % vs in out, out[-3000:]
        assert "[vs_migrate] localhost %s |" % vs in out, out[-3000:]
    with open(state + "/se-a-back.json") as fh:
        back = json.load(fh)
    assert back["kind"] == "se_move_back" and back["result"] == "ok" and not back["check_mode"]
    assert [(s["target"], s["result"]) for s in back["steps"]] == [
        ("se-a", "moved_back"), ("vs-1", "moved_back"), ("vs-2", "moved_back")]
    assert back["steps"][1]["details"]["from"] == evacuated["vs-1"][0]
    assert back["details"]["evacuation"] == record
    assert os.path.exists(back["files"]["html"])

    # a second run changes nothing
    ops = len(operations(mlab))
    rc, out = mplaybook("move_back_se", extra_vars={"record": record})
    assert rc == 0, out[-3000:]
    assert recap(out)["changed"] == 0
    assert "moved back: 0 of 0, skipped: vs-1 (already on se-a), vs-2 (already on se-a)" in flat(out)
    assert len(operations(mlab)) == ops and placement(mlab) == SEEDED


def test_move_back_refuses_bad_records_before_acting(mlab, mplaybook):
    state = str(mlab.state_dir)
    before, ops = placement(mlab), len(operations(mlab))
    garbage = state + "/garbage.json"
    with open(garbage, "w") as fh:
        fh.write("not json {")
    rc, out = mplaybook("move_back_se", extra_vars={"record": garbage})
    assert rc != 0 and "se_move_back_record: %s is not a readable run record (JSON)" % garbage in flat(out), out[-2000:]
    other = state + "/host.json"
    with open(other, "w") as fh:
        json.dump({"format": "fleetops.maintenance.run_record/v1", "kind": "host_evacuate", "result": "ok",
                   "check_mode": False, "details": {"provider": "triton", "server": "cn-1"}, "steps": []}, fh)
    rc, out = mplaybook("move_back_se", extra_vars={"record": other})
    assert rc != 0 and "is not the record of a finished SE evacuation" in flat(out) and "got kind host_evacuate" \
        in flat(out), out[-2000:]
    rc, out = mplaybook("move_back_se", extra_vars={"record": state + "/nowhere.json"})
    assert rc != 0 and "record: %s/nowhere.json does not exist" % state in flat(out), out[-2000:]
    # a check-mode evacuation's record: nothing was moved, nothing to move back
    rc, out = mplaybook("evacuate_se", extra_vars={"service_engine": "se-a", "report_file": state + "/plan.json"},
                        check=True)
    assert rc == 0, out[-2000:]
    rc, out = mplaybook("move_back_se", extra_vars={"record": state + "/plan.json"})
    assert rc != 0 and "check_mode True" in flat(out), out[-2000:]
    # an evacuation record whose SE no longer exists
    retired = state + "/retired.json"
    with open(retired, "w") as fh:
        json.dump({"format": "fleetops.maintenance.run_record/v1", "kind": "se_evacuate", "result": "ok",
                   "check_mode": False, "details": {"service_engine": "se-retired", "state": "disabled"},
                   "steps": [{"target": "se-retired", "target_type": "service_engine", "details": {"name": "se-retired"}},
                             {"target": "vs-1", "target_type": "virtual_service",
                              "details": {"from_se": "se-retired", "to_se": "se-a"}}]}, fh)
    rc, out = mplaybook("move_back_se", extra_vars={"record": retired})
    assert rc != 0 and "Service Engine se-retired of the evacuation record %s no longer exists" % retired \
        in flat(out), out[-2000:]
    assert placement(mlab) == before and len(operations(mlab)) == ops


def test_move_back_skips_a_gone_vs_and_a_rerun_finishes_a_failed_run(mlab, mplaybook):
    state = str(mlab.state_dir)
    assert placement(mlab) == SEEDED
    record = evacuate(mlab, mplaybook, state + "/se-a-2.json", method="per_vs", concurrency=2)
    rc, out = mplaybook("evacuate_se", extra_vars={"service_engine": "se-a", "state": "enabled"})
    assert rc == 0, out[-3000:]
    # the record also lists a virtual service deleted since (no longer on the controller): reported, skipped
    with open(record) as fh:
        evacuation = json.load(fh)
    evacuation["steps"].append({"target": "vs-retired", "target_type": "virtual_service", "result": "moved",
                                "details": {"from_se": "se-a", "to_se": "se-b", "vip_id": "0"}})
    edited = state + "/se-a-2-edited.json"
    with open(edited, "w") as fh:
        json.dump(evacuation, fh)
    # the migration back of vs-2 fails once: vs-1 is moved back, vs-2 keeps serving where it is, the run fails
    mlab.admin("POST", "faults", {"kind": "fail_operation", "operation": "migrate", "target": "vs-2", "count": 1})
    run = mplaybook("move_back_se", extra_vars={"record": edited, "concurrency": 1, "report_file": state + "/b2.json"})
    rc, out = run
    assert rc != 0, out[-3000:]
    now = placement(mlab)
    assert now["vs-1"] == ["se-a"] and "se-a" not in now["vs-2"] and now["vs-2"], now
    assert "moved back: 1 of 2" in flat(out) and "vs-retired (no longer on the controller, skipped)" in flat(out)
    assert "failed: vs-2" in flat(out)
    assert "FAILED: move back to Service Engine se-a: 1 virtual service(s) not back (each keeps serving where it is)" \
        in flat(out) and "vs-2: se-c -> se-a: failed, migration of VS 'vs-2' (vip 0) did not complete" in flat(out)
    assert "ansible-playbook fleetops.maintenance.move_back_se -e record=%s" % edited in flat(out)
    with open(state + "/b2.json") as fh:
        failed = json.load(fh)
    assert failed["result"] == "failed"
    assert dict((s["target"], s["result"]) for s in failed["steps"][1:]) == {
        "vs-1": "moved_back", "vs-2": "failed", "vs-retired": "gone"}
    # the re-run finishes: only vs-2 moves
    ops = len(operations(mlab))
    rc, out = mplaybook("move_back_se", extra_vars={"record": edited})
    assert rc == 0, out[-3000:]
    assert placement(mlab) == SEEDED
    assert [(op["kind"], op["target"]) for op in operations(mlab)[ops:]] == [("migrate", "vs-2")]
    assert "moved back: 1 of 1, skipped: vs-1 (already on se-a), vs-retired (no longer on the controller, skipped)" \
        in flat(out)
    assert mlab.admin("GET", "disruption")["total_vs_seconds"] == 0


# the playbook alone killed (its vs_migrate job goes on and ends while the re-run starts) in the suite; with the job
# too (the controller's migration goes on alone) with FLEETOPS_CRASH_ALL=1
KILLS = chosen([("moving", False), ("moving", True)], [("moving", False)])


@pytest.mark.parametrize("module", [m for _p, m in KILLS], ids=kill_ids(KILLS))
def test_killed_while_moving_back_a_rerun_finishes_without_moving_twice(tmp_path, module):
    """The move back killed while a virtual service moves (the playbook alone: its vs_migrate job goes on; or with the
    job: the controller's migration goes on), then the same command again: every VS back once, none moved twice."""
    lab = PlaybookLab(tmp_path / "lab", "small.yml", time_scale=0.02)    # a migration takes about a second
    for the_lab in lab.running():
        record = evacuate(the_lab, functools.partial(run_playbook, the_lab), str(tmp_path / "se-a.json"))
        rc, out = run_playbook(the_lab, "evacuate_se", extra_vars={"service_engine": "se-a", "state": "enabled"})
        assert rc == 0, out[-3000:]
        ops = len(operations(the_lab))
        args = {"record": record, "concurrency": 1}
        killed = Run(the_lab, tmp_path, "killed", "move_back_se", args)
        killed.kill_at("moving", lambda: running(the_lab, "migrate"), module)
        again = Run(the_lab, tmp_path, "again", "move_back_se", args)
        assert again.wait() == 0, again.output()
        assert "verified: 2 virtual service(s) on se-a and up, nothing lost" in flat(again.output(6000))
        assert placement(the_lab) == SEEDED
        killed.survivors_end()
        moves = [op["target"] for op in operations(the_lab)[ops:] if op["kind"] == "migrate" and op["result"] != "failed"]
        assert sorted(moves) == ["vs-1", "vs-2"], operations(the_lab)[ops:]
        assert the_lab.admin("GET", "disruption")["total_vs_seconds"] == 0
