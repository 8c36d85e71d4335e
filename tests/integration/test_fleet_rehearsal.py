"""A fleet maintenance rehearsed on a twin (issue 18, item 1 x item 5), end to end on VirtFusion (and with
FLEETOPS_TWIN_DEMO=1 on Triton: tests/integration/files/triton_fleet_twin.yml, cn-1 then cn-2): export a twin of a
small lab (tests/integration/files/vf_fleet_twin.yml: hv-1 holds a-1 and a-2, hv-2 b-1, hv-3 none), rehearse
fleetops.maintenance.maintain_fleet on it with rehearsal/rehearse.yml (hv-1; with FLEETOPS_TWIN_DEMO=1 also hv-1
then hv-2, a window of 1, without and with move back),
then run the real maintain_fleet on the source lab and compare: the node order, every destination, the capacity
verdicts, capacity never exceeded, within the tolerances of rehearsal/compare.py. The operator's tasks file and
health check never run in the rehearsal (they would act on real machines): a file they write stays empty until the
real run, and the rehearsal's run never receives their paths. The rehearsal never touches the source lab."""
import json
import os
import time

import pytest
import yaml
from conftest import TritonPlaybookLab, VirtFusionPlaybookLab, run_playbook

from test_twin_rehearsal import (REHEARSE, TRITON_SCALE, VF_UNREADABLE, agree, api_calls, demo, export, long_lived,
                                 real_run)

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")
TOPOLOGY = os.path.join(FILES, "vf_fleet_twin.yml")
TRITON_TOPOLOGY = os.path.join(FILES, "triton_fleet_twin.yml")
WORK_SECONDS = 2   # the operator's work on one node: the real run's tasks wait as long, the rehearsal stands in for it
OPERATOR_TASKS = """
- name: The operator's work on the node (a stand-in for patching; notes that it ran)
  ansible.builtin.lineinfile:
    path: "{marker}"
    line: "{{{{ inventory_hostname }}}} {what}"
    create: true
    mode: "0600"
  delegate_to: localhost
  throttle: 1

- name: Take as long as the work
  ansible.builtin.wait_for:
    timeout: {seconds}
  delegate_to: localhost
"""


@pytest.fixture
def source(tmp_path):
    yield from long_lived(VirtFusionPlaybookLab)(tmp_path / "lab", TOPOLOGY).running()


EVACUATED = {"hv-1": ["a-1", "a-2"], "hv-2": ["b-1"]}


def test_virtfusion_fleet_rehearsal_forecasts_the_real_fleet_maintenance(source, tmp_path):
    """A fleet of hv-1: a-1 and a-2 leave it for hv-3 (the most room); the rehearsal and the real run, each a whole
    maintain_fleet run, take about 2 minutes together on the shared machine (the CI's share)."""
    rehearse_and_run(source, tmp_path, ["hv-1"], move_back=False)


@demo
def test_virtfusion_fleet_rehearsal_of_two_nodes_in_order(source, tmp_path):
    """hv-1 then hv-2, a window of one, no move back: b-1 leaves hv-2 for the hypervisor with most room then (hv-1,
    empty again); the node order is the list's (fleet_maintenance starts nodes in that order). About 4 minutes."""
    rehearse_and_run(source, tmp_path, ["hv-1", "hv-2"], move_back=False)


@demo
def test_virtfusion_fleet_rehearsal_with_move_back(source, tmp_path):
    """The same with move back (each node's servers come home before the next starts): twice the migrations, about
    5 minutes on the shared machine."""
    rehearse_and_run(source, tmp_path, ["hv-1", "hv-2"], move_back=True)


def rehearse_fleet(lab, plane, twin_file, variables, timing, time_scale, tmp_path):
    """rehearsal/rehearse.yml of maintain_fleet on the twin with the operator's variables and the plane's timing;
    asserts it ran and never talked to the source lab. Returns the rehearsal's work directory."""
    work = tmp_path / "rehearsal"
    work.mkdir()
    (work / "operator-vars.yml").write_text(yaml.safe_dump(variables))
    (work / "timing.yml").write_text(yaml.safe_dump({plane: {"timing": timing}}))
    calls = api_calls(lab, plane)
    rc, out = run_playbook(lab, REHEARSE, {
        "twin": str(twin_file), "maintenance": "maintain_fleet", "maintenance_vars": str(work / "operator-vars.yml"),
        "timing_file": str(work / "timing.yml"), "work_dir": str(work / "run"), "report_file": str(work / "rehearsal.json"),
        "time_scale": str(time_scale)})
    assert rc == 0, out[-5000:]
    assert api_calls(lab, plane) == calls, "the rehearsal talked to the source"
    return work


def rehearse_and_run(source, tmp_path, fleet_nodes, move_back):
    t0 = time.monotonic()
    marker = tmp_path / "operator-work.log"
    tasks, health = tmp_path / "patch.yml", tmp_path / "health.yml"
    tasks.write_text(OPERATOR_TASKS.format(marker=marker, what="patched", seconds=WORK_SECONDS))
    health.write_text(OPERATOR_TASKS.format(marker=marker, what="checked", seconds=0))
    variables = {"provider": "virtfusion", "maintenance": "patch-twin", "compute_nodes": ",".join(fleet_nodes), "window": 1,
                 "move_back": move_back, "concurrency": 2, "accept_unverified": VF_UNREADABLE, "tasks_file": str(tasks),
                 "health_check_tasks": str(health), "node_connection": "local", "health_timeout": 60,
                 "state_dir": str(tmp_path / "fleet-state"), "rehearsal_node_work_seconds": WORK_SECONDS}
    home = source.where()
    twin_file = tmp_path / "twin.yml"
    export(source, twin_file, provider="virtfusion")
    topology = yaml.safe_load(open(TOPOLOGY))

    # the rehearsal, on the twin: never the source, never the operator's tasks
    work = rehearse_fleet(source, "virtfusion", twin_file, variables, topology["virtfusion"]["timing"],
                          topology["time_scale"], tmp_path)
    assert source.where() == home
    assert not marker.exists(), "the operator's tasks ran in the rehearsal"
    passed = (work / "run" / "maintenance-vars.json").read_text()
    assert str(tasks) not in passed and str(health) not in passed and str(tmp_path / "fleet-state") not in passed
    passed = json.loads(passed)
    assert passed["tasks_file"].endswith("rehearsal/tasks/node_work.yml") and passed["health_check_tasks"] == ""
    assert passed["node_connection"] == "local" and passed["state_dir"].startswith(str(work / "run"))
    forecast = json.load(open(work / "run" / "forecast.json"))
    print("\n".join(forecast["lines"]))
    fleet = forecast["fleet"]
    assert fleet["order"] == fleet_nodes and fleet["waves"] == [[n] for n in fleet_nodes], fleet
    nodes = dict((n["node"], n) for n in fleet["per_node"])
    for node in fleet_nodes:
        assert sorted(e["server"] for e in nodes[node]["evacuated"]) == EVACUATED[node], nodes[node]
    for node, entry in nodes.items():
        assert entry["result"] == "maintained" and entry["capacity"]["verdict"] == "pass", entry
        assert all(e["to"] not in (node, None) and e["status"] == "complete" for e in entry["evacuated"]), entry
        if move_back:
            assert sorted(e["server"] for e in entry["moved_back"]) == sorted(e["server"] for e in entry["evacuated"])
            assert all(e["to"] == node for e in entry["moved_back"]), entry
        else:
            assert entry["moved_back"] == [], entry
    if len(fleet_nodes) > 1:   # a window of one: one after the other
        assert nodes["hv-2"]["start"] >= nodes["hv-1"]["end"] - 0.5, nodes
    assert fleet["capacity_exceeded"] == [] and forecast["capacity"]["shortfalls"] == []
    # the operator's work stood in at real speed: each node's span holds it
    assert all(n["seconds"] >= WORK_SECONDS for n in fleet["per_node"]), fleet["per_node"]
    assert forecast["duration"]["node_work_seconds"] >= len(fleet_nodes) * WORK_SECONDS - 0.1, forecast["duration"]
    assert any("was NOT run" in line for line in forecast["lines"]), forecast["lines"]
    assert any(a["field"].startswith("the operator's work on each node (patch.yml, health.yml)")
               for a in forecast["assumptions"]), forecast["assumptions"]
    assert {"tasks_file", "health_check_tasks", "node_connection", "state_dir"} <= set(forecast["ignored_vars"])
    record = json.load(open(work / "rehearsal.json"))
    assert record["kind"] == "rehearsal" and record["result"] == "ok" and os.path.exists(work / "rehearsal.html")
    assert [s["target"] for s in record["steps"][1:] if s["target_type"] == "hypervisor"] == fleet_nodes
    assert len(record["steps"]) == 1 + len(fleet_nodes) + len(forecast["order"]), [s["target"] for s in record["steps"]]
    if "hv-2" in fleet_nodes and not move_back:   # hv-1 is empty and uncordoned when hv-2 starts: the most room
        assert [[e["server"], e["to"]] for e in nodes["hv-2"]["evacuated"]] == [["b-1", "hv-1"]], nodes["hv-2"]

    # the real fleet maintenance on the source lab, measured the same way, against the forecast
    measured, out = real_run(source, "virtfusion", "maintain_fleet", variables, tmp_path / "real.json")
    assert measured["result"]["ok"], out[-5000:]
    assert sorted(marker.read_text().split("\n")[:-1]) == sorted(
        "%s %s" % (node, what) for node in fleet_nodes for what in ("checked", "patched"))
    assert source.where() == home if move_back else source.where() != home
    agree(forecast, measured)
    print("fleet rehearsal, real run and comparison: %.1f s" % (time.monotonic() - t0))


# ------------------------------------------------------------------------------------------------------------ Triton
@pytest.fixture
def tsource(tmp_path):
    yield from long_lived(TritonPlaybookLab)(tmp_path / "lab", TRITON_TOPOLOGY, time_scale=TRITON_SCALE).running()


# where each node's instances go: without move back b-1 finds cn-1 empty again (more RAM left than cn-3); with it,
# cn-1's instances are home again when cn-2 starts, and cn-3 has the most room
TRITON_EVACUATED = {False: {"cn-1": [["a-1", "cn-3"], ["a-2", "cn-3"]], "cn-2": [["b-1", "cn-1"]]},
                    True: {"cn-1": [["a-1", "cn-3"], ["a-2", "cn-3"]], "cn-2": [["b-1", "cn-3"]]}}


@demo
def test_triton_fleet_rehearsal_forecasts_the_real_fleet_maintenance(tsource, tmp_path):
    """cn-1 then cn-2, a window of one, no move back: a-1 and a-2 leave cn-1 for cn-3 (the most RAM), then b-1 leaves
    cn-2 for cn-1 (empty again, uncordoned). The forecast reads the Triton lab's migration records (lab seconds) and
    maps each node's span onto the fleet's real-speed clock; the real run on the source lab agrees. About 3 minutes."""
    rehearse_and_run_triton(tsource, tmp_path, move_back=False)


@demo
def test_triton_fleet_rehearsal_with_move_back(tsource, tmp_path):
    """The same with move back: each node's instances come home (by their target hostname, during the node's move
    back) before the next node starts. Twice the migrations, about 4 minutes."""
    rehearse_and_run_triton(tsource, tmp_path, move_back=True)


def rehearse_and_run_triton(tsource, tmp_path, move_back):
    t0 = time.monotonic()
    fleet_nodes = ["cn-1", "cn-2"]
    marker = tmp_path / "operator-work.log"
    tasks, health = tmp_path / "patch.yml", tmp_path / "health.yml"
    tasks.write_text(OPERATOR_TASKS.format(marker=marker, what="patched", seconds=WORK_SECONDS))
    health.write_text(OPERATOR_TASKS.format(marker=marker, what="checked", seconds=0))
    variables = {"provider": "triton", "maintenance": "patch-twin", "compute_nodes": ",".join(fleet_nodes), "window": 1,
                 "move_back": move_back, "concurrency": 2, "tasks_file": str(tasks), "health_check_tasks": str(health),
                 "node_connection": "local", "health_timeout": 60, "state_dir": str(tmp_path / "fleet-state"),
                 "rehearsal_node_work_seconds": WORK_SECONDS}
    home = dict((n, i["server_hostname"]) for n, i in tsource.report().items())
    twin_file = tmp_path / "twin.yml"
    export(tsource, twin_file, provider="triton", estimate_data=True)
    topology = yaml.safe_load(open(TRITON_TOPOLOGY))

    work = rehearse_fleet(tsource, "triton", twin_file, variables, topology["triton"]["timing"], TRITON_SCALE, tmp_path)
    assert not marker.exists(), "the operator's tasks ran in the rehearsal"
    passed = (work / "run" / "maintenance-vars.json").read_text()
    assert str(tasks) not in passed and str(health) not in passed and str(tmp_path / "fleet-state") not in passed
    forecast = json.load(open(work / "run" / "forecast.json"))
    print("\n".join(forecast["lines"]))
    fleet = forecast["fleet"]
    assert fleet["order"] == fleet_nodes and fleet["waves"] == [[n] for n in fleet_nodes], fleet
    nodes = dict((n["node"], n) for n in fleet["per_node"])
    for node, entry in nodes.items():
        assert sorted([e["instance"], e["to"]] for e in entry["evacuated"]) == TRITON_EVACUATED[move_back][node], nodes
        assert entry["result"] == "maintained" and entry["capacity"]["verdict"] == "pass", entry
        assert all(e["status"] == "finalized" for e in entry["evacuated"] + entry["moved_back"]), entry
        assert sorted([e["instance"], e["to"]] for e in entry["moved_back"]) == (
            [[e["instance"], node] for e in sorted(entry["evacuated"], key=lambda e: e["instance"])] if move_back else [])
        assert entry["seconds"] >= WORK_SECONDS, entry
    assert nodes["cn-2"]["start"] >= nodes["cn-1"]["end"] - 0.5, nodes    # a window of one: one after the other
    assert fleet["capacity_exceeded"] == [] and forecast["capacity"]["shortfalls"] == []
    assert fleet["memory"]["cn-3"]["peak_memory"] == 2048, fleet["memory"]
    assert forecast["duration"]["node_work_seconds"] >= len(fleet_nodes) * WORK_SECONDS - 0.1, forecast["duration"]
    assert all(forecast["disruption"]["data_intact"].values()) and len(forecast["disruption"]["data_intact"]) == 3
    assert len(forecast["order"]) == (6 if move_back else 3), forecast["order"]
    record = json.load(open(work / "rehearsal.json"))
    assert record["kind"] == "rehearsal" and record["result"] == "ok" and os.path.exists(work / "rehearsal.html")
    assert [s["target"] for s in record["steps"][1:] if s["target_type"] == "compute_node"] == fleet_nodes
    assert len(record["steps"]) == 1 + len(fleet_nodes) + len(forecast["order"]), [s["target"] for s in record["steps"]]

    # the real fleet maintenance on the source lab, measured the same way, against the forecast
    measured, out = real_run(tsource, "triton", "maintain_fleet", variables, tmp_path / "real.json")
    assert measured["result"]["ok"], out[-5000:]
    assert sorted(marker.read_text().split("\n")[:-1]) == sorted(
        "%s %s" % (node, what) for node in fleet_nodes for what in ("checked", "patched"))
    now = dict((n, i["server_hostname"]) for n, i in tsource.report().items())
    assert now == (home if move_back else dict(home, **{"a-1": "cn-3", "a-2": "cn-3", "b-1": "cn-1"})), now
    agree(forecast, measured)
    fd, md = forecast["duration"], measured["duration"]
    print("triton fleet (move back %s): forecast %s s (vendor %s s), measured %s s (vendor %s s, wall %s s); "
          "rehearsal, real run and comparison: %.1f s" % (move_back, fd["seconds"], fd["vendor_operations_seconds"],
                                                          md["seconds"], md["vendor_operations_seconds"],
                                                          md["run_wall_seconds"], time.monotonic() - t0))
