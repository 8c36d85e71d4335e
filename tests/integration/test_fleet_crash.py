"""Kill the fleet maintenance anywhere (issues 12 and 18): on the Triton crash lab (cn-1 hosts web-1 and web-2,
cn-2 hosts app-1), maintain_fleet maintains cn-1 and cn-2, one at a time (window 1), each evacuated (cordoned),
its tasks run, healthy, uncordoned and its instances moved back. The run is killed while the first node's
evacuation migrations are in flight, while it sits cordoned and empty in maintenance, during its move back, and
while the second node drains (the nodes take the window in either order) - the playbook alone (the module of an
evacuation or a move back goes on, and so do the workers of ansible-playbook: crashkit.settle) and
the playbook with its module - then the same command runs again. The re-run must end as an uninterrupted fleet run
does: every instance on its home node, running, its data intact, exactly one migration out and one back (no node
evacuated twice, nothing moved back twice), none in flight, every node uncordoned, each node marked done, and the
window never exceeded (the lab's migrations: no two nodes ever drained at once).

Kill points are read from the lab's state, never timed (tests/integration/crashkit.py); the suite takes one
(killed with its module during the move back), FLEETOPS_CRASH_ALL=1 all six. A fresh lab per run (the Triton
plane has no reset).
"""
import json
import os

import pytest

from conftest import TritonPlaybookLab
from crashkit import Run, chosen, kill_ids, settle
from test_evacuate_host_crash import triton_end
from tritonkit import Operator

HOME = {"web-1": "cn-1", "web-2": "cn-1", "app-1": "cn-2"}
NODE_TASKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "fleet_node_tasks.yml")


def fleet_vars(workdir):
    return {"maintenance": "crash-1", "compute_nodes": "cn-1,cn-2", "window": 1, "move_back": True,
            "concurrency": 1, "tasks_file": NODE_TASKS, "node_connection": "local",
            "state_dir": str(workdir / "fleet"), "report_file": str(workdir / "fleet.json")}


def history(lab):
    """instance -> its migrations (the lab's history: phase, state, source and target)."""
    return dict((n, i["migrations"]) for n, i in lab.report().items())


def progress(lab):
    """(the number of migrations of each instance, the instances whose migration runs, the nodes done: each of
    their instances out and back, nothing running)."""
    migs = dict((n, len(m)) for n, m in history(lab).items())
    running = set(n for n, (_p, s) in lab.tadmin("GET", "world")["migrations"].items() if s == "running")
    done = set(node for node in set(HOME.values())
               if all(migs[n] == 2 and n not in running for n, h in HOME.items() if h == node))
    return migs, running, done


def migrating(lab, nth, nodes_done):
    """An instance's nth migration (1: out, 2: back) runs while ``nodes_done`` nodes are done (the nodes take the
    window in either order: strategy free)."""
    migs, running, done = progress(lab)
    return len(done) == nodes_done and any(migs[n] == nth for n in running)


def cordoned_empty(lab):
    """The first node evacuated and cordoned (reserved), no migration running: its maintenance, before its move
    back."""
    migs, running, done = progress(lab)
    if running or done:
        return False
    world = lab.tadmin("GET", "world")
    servers = dict((s["hostname"], s) for s in Operator(lab.t["operator_url"], lab.ca).get("/servers").json())
    return any(not world["servers"][node]["instances"] and servers[node].get("reserved") is True
               and all(migs[n] == 1 for n, h in HOME.items() if h == node) for node in ("cn-1", "cn-2"))


POINTS = {
    "evacuation": lambda lab: migrating(lab, 1, 0),     # the first node's instances leaving
    "maintenance": cordoned_empty,                      # the first node empty, cordoned, nothing back yet
    "move_back": lambda lab: migrating(lab, 2, 0),      # the first node's instances coming back
    "second_node": lambda lab: migrating(lab, 1, 1),    # the first node done, the second draining
}


def fleet_end(lab, workdir):
    """What the fleet leaves: the lab's end state (triton_end), every migration of every instance (from where to
    where, its result, its data), the nodes marked done, and how often the operator's tasks ran on each node."""
    end = triton_end(lab)
    end["moves"] = dict((n, [(m["source_server_hostname"], m["target_server_hostname"], m["result"], m["data_intact"])
                             for m in migs]) for n, migs in history(lab).items())
    state = workdir / "fleet" / "crash-1"
    end["done"] = sorted(os.listdir(state / "done"))
    end["draining"] = sorted(os.listdir(state / "draining"))
    with open(state / "maintenance.log") as fh:
        end["tasks_ran"] = sorted(line.split()[0] for line in fh)
    return end


def drained_at_once(lab):
    """The most nodes ever drained at once, from the lab's migrations: a node drains from the start of its first
    instance's migration out to the end of its last instance's migration back."""
    spans = {}
    for name, migs in history(lab).items():
        for m in migs:
            lo, hi = spans.get(HOME[name], (float("inf"), float("-inf")))
            spans[HOME[name]] = (min(lo, m["started_real"]), max(hi, m["ended_real"] or float("inf")))
    return max(sum(1 for s, e in spans.values() if s <= t < e) for t, _e in spans.values())


def record_of(workdir):
    with open(workdir / "fleet.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def fleet_uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet-clean")
    for lab in TritonPlaybookLab(base / "lab", "triton_crash.yml").running():
        run = Run(lab, base, "clean", "maintain_fleet", fleet_vars(base))
        assert run.wait(timeout=900) == 0, run.output()
        assert drained_at_once(lab) == 1
        return fleet_end(lab, base)


def test_an_uninterrupted_fleet_run_moves_each_instance_out_and_back_once(fleet_uninterrupted):
    end = fleet_uninterrupted
    assert end["in_flight"] == [] and end["done"] == ["cn-1", "cn-2"] and end["draining"] == []
    assert end["cordon"] == {"cn-1": (False, ""), "cn-2": (False, "")}, end["cordon"]
    assert dict((n, i["on"]) for n, i in end["instances"].items()) == HOME
    assert all(i["state"] == "running" for i in end["instances"].values()), end["instances"]
    assert end["moves"] == {
        "web-1": [("cn-1", "cn-2", "finalized", True), ("cn-2", "cn-1", "finalized", True)],
        "web-2": [("cn-1", "cn-2", "finalized", True), ("cn-2", "cn-1", "finalized", True)],
        "app-1": [("cn-2", "cn-1", "finalized", True), ("cn-1", "cn-2", "finalized", True)]}, end["moves"]
    assert end["tasks_ran"] == ["cn-1", "cn-2"]


KILLS = chosen([("evacuation", False), ("evacuation", True), ("maintenance", False), ("move_back", False),
                ("move_back", True), ("second_node", False)],
               [("move_back", True)])   # the point that found the re-run evacuating again (CI time: one)


@pytest.mark.parametrize("point,module", KILLS, ids=kill_ids(KILLS))
def test_fleet_killed_anywhere_a_rerun_resumes_and_converges(fleet_uninterrupted, tmp_path, point, module):
    for lab in TritonPlaybookLab(tmp_path / "lab", "triton_crash.yml").running():
        killed = Run(lab, tmp_path, "killed", "maintain_fleet", fleet_vars(tmp_path))
        killed.kill_at(point, lambda: POINTS[point](lab), module)
        again = Run(lab, tmp_path, "again", "maintain_fleet", fleet_vars(tmp_path))
        assert again.wait(timeout=900) == 0, again.output()
        end = fleet_end(lab, tmp_path)
        # what the killed run left running (its module, its workers: crashkit.settle) ends, having acted on
        # nothing afterwards
        settle(killed)
        assert fleet_end(lab, tmp_path) == end
        tasks_ran = end.pop("tasks_ran")
        expected = dict(fleet_uninterrupted)
        expected.pop("tasks_ran")
        assert end == expected
        # the operator's tasks ran once on each node; a kill while they may have been running lets them run again
        assert sorted(set(tasks_ran)) == ["cn-1", "cn-2"] and len(tasks_ran) <= (3 if point == "maintenance" else 2), \
            tasks_ran
        assert drained_at_once(lab) == 1
        record = record_of(tmp_path)
        assert record["kind"] == "fleet_maintenance" and record["result"] == "ok", record
        results = sorted(s["result"] for s in record["steps"][1:])
        assert results == sorted(["done_before" if point == "second_node" else "maintained", "maintained"]), record
