"""Move back (host_move_back, move_back_host) and the fleet's rolling maintenance (fleet_maintenance, maintain_fleet),
run with ansible-playbook against the lab's Triton plane (triton_fleet topology: cn-1..cn-4 each host two 3 GiB
instances, two nodes can drain at once and three cannot; cn-5 hosts big-1, which no other node can take).
One lab for the module: the tests run in order and each starts from the placement the topology seeds.

A move back from an evacuation record (evacuate_host with report_file, move_back_host in check mode, then for real,
verified, then again: nothing to do) runs in the guide, literally: docs/docsite/rst/guide_fleet_maintenance.rst
"Move back after an evacuation", by tests/integration/test_guides.py."""
import datetime
import functools
import json
import os

import pytest
import yaml

from conftest import ROOT, TritonPlaybookLab, run_playbook
from test_playbooks import flat, recap

TOPOLOGY = os.path.join(ROOT, "lab", "topologies", "triton_fleet.yml")
NODE_TASKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "fleet_node_tasks.yml")


@pytest.fixture(scope="module")
def flab(tmp_path_factory):
    the_lab = TritonPlaybookLab(tmp_path_factory.mktemp("fleet") / "lab", "triton_fleet.yml")
    the_lab.max_lifetime = 3600
    yield from the_lab.running()


@pytest.fixture
def fplaybook(flab):
    return functools.partial(run_playbook, flab)


def placement(flab):
    return dict((name, i["server_hostname"]) for name, i in flab.report().items())


def seeded():
    with open(TOPOLOGY) as fh:
        topo = yaml.safe_load(fh)["triton"]
    return topo, dict((i["name"], i["server"]) for i in topo["instances"])


def test_move_back_refuses_a_bad_record_before_acting(flab, fplaybook):
    before = placement(flab)
    garbage = str(flab.state_dir) + "/garbage.json"
    with open(garbage, "w") as fh:
        fh.write("not json {")
    rc, out = fplaybook("move_back_host", extra_vars={"record": garbage})
    assert rc != 0 and "host_move_back_record: %s is not a readable run record (JSON)" % garbage in flat(out), out[-2000:]
    other = str(flab.state_dir) + "/other.json"
    with open(other, "w") as fh:
        json.dump({"format": "fleetops.maintenance.run_record/v1", "kind": "se_evacuate", "result": "ok", "steps": []}, fh)
    rc, out = fplaybook("move_back_host", extra_vars={"record": other})
    assert rc != 0 and "is not the record of a finished evacuation" in flat(out) and "got kind se_evacuate" in flat(out)
    gone = str(flab.state_dir) + "/gone.json"
    with open(gone, "w") as fh:
        json.dump({"format": "fleetops.maintenance.run_record/v1", "kind": "host_evacuate", "result": "ok",
                   "check_mode": False, "details": {"provider": "triton", "server": "cn-1"},
                   "steps": [{"target": "cn-1", "target_type": "compute_node"},
                             {"target": "a-1", "target_type": "instance", "details": {"id": "a-1"}},
                             {"target": "gone-1", "target_type": "instance", "details": {"id": "gone-1"}}]}, fh)
    rc, out = fplaybook("move_back_host", extra_vars={"record": gone})
    assert rc != 0 and "names what cannot be moved back to cn-1, nothing was moved" in flat(out), out[-2000:]
    assert "gone-1" in flat(out)
    assert placement(flab) == before
    assert all(i["migrations"] == [] for i in flab.report().values())


def spans_of(record):
    fmt = "%Y-%m-%dT%H:%M:%S.%f"
    out = {}
    for step in record["steps"][1:]:
        busy = [p for p in step.get("phases", []) if p["name"] != "wait for a slot"]
        if busy:
            out[step["target"]] = (datetime.datetime.strptime(busy[0]["start"], fmt),
                                   datetime.datetime.strptime(busy[-1]["end"], fmt))
    return out


def test_fleet_window_capacity_move_back_and_resume(flab, fplaybook):
    topo, home = seeded()
    assert placement(flab) == home
    state_dir = str(flab.state_dir) + "/fleet"
    report_file = str(flab.state_dir) + "/fleet.json"
    fleet = {"maintenance": "patch-1", "compute_nodes": "cn-1,cn-2,cn-3", "window": 2, "move_back": True,
             "tasks_file": NODE_TASKS, "state_dir": state_dir, "report_file": report_file, "node_connection": "local"}
    run = fplaybook("maintain_fleet", extra_vars=fleet, timeout=1800)   # over 600 s on a loaded machine
    rc, out = run
    assert rc == 0, out[-5000:]
    # every instance runs where it ran before the fleet started, its data intact through every move
    assert placement(flab) == home
    report = flab.report()
    assert all(m["data_intact"] for i in report.values() for m in i["migrations"]), report
    moved = sorted(n for n, i in report.items() if i["migrations"])
    assert moved == ["a-1", "a-2", "b-1", "b-2", "c-1", "c-2"], moved
    # the operator's tasks ran once on each node
    with open(os.path.join(state_dir, "patch-1", "maintenance.log")) as fh:
        assert sorted(line.split()[0] for line in fh) == ["cn-1", "cn-2", "cn-3"]
    # one run record for the fleet: a step per node, maintained, with its phases; never more than 2 nodes busy
    stats = run.stats["fleet_maintenance_report"]
    record = stats["run_record"]
    with open(report_file) as fh:
        assert json.load(fh) == record
    assert record["kind"] == "fleet_maintenance" and record["result"] == "ok"
    nodes = dict((s["target"], s) for s in record["steps"][1:])
    assert sorted(nodes) == ["cn-1", "cn-2", "cn-3"] and all(s["result"] == "maintained" for s in nodes.values())
    for step in nodes.values():
        names = [p["name"] for p in step["phases"]]
        assert names[-5:] == ["evacuate", "maintenance", "health", "uncordon", "move back"], names
    spans = spans_of(record)
    at_once = max(sum(1 for s, e in spans.values() if s <= t < e) for t, _e in spans.values())
    assert at_once == 2, spans          # the window was used, and never exceeded
    first_end = min(e for _s, e in spans.values())
    last_start = max(s for s, _e in spans.values())
    assert last_start >= first_end, spans    # the third started only when a slot freed
    numbers = stats["numbers"]
    assert (numbers["nodes"], numbers["window"], numbers["peak_draining"]) == (3, 2, 2)
    print("fleet: %s" % numbers)
    # the lab's own state: no compute node ever held more RAM than it can reserve (every migration's target counts
    # from its begin, its source until its finalize), and no node drained while it was not the fleet's turn
    ram = dict((s["name"], int(s["ram"] * 0.85)) for s in topo["servers"])
    size = dict((i["name"], i["ram"]) for i in topo["instances"])
    intervals = []
    for name, inst in report.items():
        migs = sorted(inst["migrations"], key=lambda m: m["started_real"])
        where, since = home[name], float("-inf")
        for m in migs:
            intervals.append((where, since, m["ended_real"], size[name]))
            where, since = m["target_server_hostname"], m["started_real"]
        intervals.append((where, since, float("inf"), size[name]))
    for _w, t, _e, _r in intervals:
        for server, cap in ram.items():
            used = sum(r for w, s, e, r in intervals if w == server and s <= t < e)
            assert used <= cap, (server, t, used, cap)
    # resume: a re-run of the same maintenance skips every node it finished and changes nothing
    rc, out = fplaybook("maintain_fleet", extra_vars=fleet, timeout=1800)
    assert rc == 0 and recap(out)["changed"] == 0, out[-3000:]
    assert "0 maintained, 3 done before" in flat(out), out[-3000:]
    assert placement(flab) == home


def test_fleet_refuses_a_node_the_rest_cannot_absorb(flab, fplaybook):
    _topo, home = seeded()
    rc, out = fplaybook("maintain_fleet", extra_vars={
        "maintenance": "patch-2", "compute_nodes": "cn-5", "window": 1, "node_connection": "local",
        "state_dir": str(flab.state_dir) + "/fleet"})
    assert rc != 0, out[-3000:]
    assert "cn-5 not started, nothing moved: the rest of the fleet" in flat(out), out[-3000:]
    assert "cannot absorb big-1 (12288 MiB RAM, on cn-5)" in flat(out)
    assert placement(flab) == home and flab.report()["big-1"]["migrations"] == []
