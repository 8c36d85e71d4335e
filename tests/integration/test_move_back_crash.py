"""Kill the move back anywhere (issues 12 and 18): on the Triton crash lab, evacuate_host empties cn-1 (cordon on,
one instance at a time, its run record kept), then move_back_host brings both instances back from that record and
is killed while a migration back syncs, at its switch and between the two instances - the playbook alone (its
module goes on) and the playbook with its module - then the same command runs again. The re-run
adopts the migration in flight instead of starting a second one; the end state must equal an uninterrupted move
back's: every instance on cn-1 again, running, two migrations each (out and back), both finalized with their data
intact, none in flight, the cordon and the intent records as an uninterrupted run leaves them.

Kill points are read from the lab's state, never timed (tests/integration/crashkit.py); the suite takes two,
FLEETOPS_CRASH_ALL=1 all three. For "between", each instance's first action is held a second by a lab latency fault
(hold_each_first_action): the module begins the next instance milliseconds after a switch, too soon to be seen. A
fresh lab per run (the Triton plane has no reset).
"""
import pytest

from conftest import TritonPlaybookLab
from crashkit import Run, chosen, kill_ids
from test_evacuate_host_crash import (TRITON_VARS, hold_each_first_action, triton_between, triton_end,
                                      triton_migrations)

BACK_VARS = {"concurrency": 1}


def evacuated(lab, workdir):
    """Empty cn-1 as the crash test of the evacuation does, keeping its run record; the record's path."""
    record = str(workdir / "cn-1.json")
    run = Run(lab, workdir, "evacuate", "evacuate_host", dict(TRITON_VARS, report_file=record))
    assert run.wait() == 0, run.output()
    return record


BACK_POINTS = {
    "sync": lambda lab: ["sync", "running"] in triton_migrations(lab).values(),
    "switch": lambda lab: ["switch", "running"] in triton_migrations(lab).values(),
    "between": triton_between,     # the evacuation's migrations were finalized: the lab lists only these
}


@pytest.fixture(scope="module")
def moved_back_uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("move-back-clean")
    for lab in TritonPlaybookLab(base / "lab", "triton_crash.yml").running():
        record = evacuated(lab, base)
        run = Run(lab, base, "back", "move_back_host", dict(BACK_VARS, record=record))
        assert run.wait() == 0, run.output()
        return triton_end(lab)


def test_an_uninterrupted_move_back_returns_each_instance_once(moved_back_uninterrupted):
    end = moved_back_uninterrupted
    assert end["servers"]["cn-2"][1] == [] and end["in_flight"] == []
    assert end["cordon"] == {"cn-1": (False, ""), "cn-2": (False, "")}, end["cordon"]
    assert dict((n, (i["on"], i["state"], i["migrations"], i["result"], i["data_intact"]))
                for n, i in end["instances"].items() if n != "app-1") == {
        "web-1": ("cn-1", "running", 2, "finalized", True), "web-2": ("cn-1", "running", 2, "finalized", True)}


BACK_KILLS = chosen([("sync", True), ("switch", False), ("between", True)], [("sync", False), ("between", True)])


@pytest.mark.parametrize("point,module", BACK_KILLS, ids=kill_ids(BACK_KILLS))
def test_move_back_killed_anywhere_a_rerun_adopts_and_converges(moved_back_uninterrupted, tmp_path, point, module):
    for lab in TritonPlaybookLab(tmp_path / "lab", "triton_crash.yml").running():
        record = evacuated(lab, tmp_path)
        if point == "between":
            hold_each_first_action(lab)
        killed = Run(lab, tmp_path, "killed", "move_back_host", dict(BACK_VARS, record=record))
        killed.kill_at(point, lambda: BACK_POINTS[point](lab), module)
        again = Run(lab, tmp_path, "again", "move_back_host", dict(BACK_VARS, record=record))
        assert again.wait() == 0, again.output()
        assert triton_end(lab) == moved_back_uninterrupted
        killed.survivors_end()          # a module of the killed run that went on acts on nothing afterwards
        assert triton_end(lab) == moved_back_uninterrupted
