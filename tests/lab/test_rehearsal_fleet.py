"""The fleet rehearsal's safety and arithmetic without a lab (rehearsal/fleet.py): the operator's tasks never reach
the rehearsal's run, the fleet forecast from two snapshots and a fleet run record (node order, per-node destinations,
refusals as shortfalls naming the node, memory replayed against each limit, the stand-in counted at real speed), and
compare's fleet checks."""
import datetime

import pytest

from rehearsal import fleet
from rehearsal.compare import compare

T0 = 1_800_000_000.0   # epoch seconds of the fleet's first start


def stamp(offset):
    return datetime.datetime.fromtimestamp(T0 + offset, datetime.timezone.utc).replace(tzinfo=None).isoformat()


def iso(offset):
    return datetime.datetime.fromtimestamp(T0 + offset, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def world(where, limit=96):
    hvs = [{"id": i, "name": "hv-%d" % i, "max_memory": limit} for i in (1, 2, 3)]
    servers = [{"id": 100 + n, "name": name, "hypervisorId": hv, "memory": 32} for n, (name, hv) in enumerate(where)]
    return {"hypervisors": hvs, "servers": servers}


def migration(n, server, sid, src, dst, start, end):
    return {"id": "m-%d" % n, "serverId": sid, "serverName": server, "sourceId": src, "destinationId": dst,
            "status": "complete", "steps": [{"key": "precheck", "status": "complete"}],
            "qemu": {"totalTimeMs": 10, "downtimeMs": 3}, "startedAt": iso(start), "finishedAt": iso(end),
            "_lab": {"created_real": T0 + start, "finished_real": T0 + end}}


def snapshots(limit=96):
    before = {"provider": "virtfusion", "time_scale": 0.05, "world": world([("a-1", 1), ("a-2", 1), ("b-1", 2)], limit),
              "migrations": {"migrations": []}, "stats": {}, "disruption": {}}
    after = {"provider": "virtfusion", "time_scale": 0.05, "world": world([("a-1", 3), ("a-2", 3), ("b-1", 2)], limit),
             "migrations": {"migrations": [migration(1, "a-1", 100, 1, 3, 1.0, 2.0),
                                           migration(2, "a-2", 101, 1, 3, 1.5, 2.5)]},
             "stats": {}, "disruption": {}}
    return before, after


def record():
    def phase(name, start, end):
        return {"name": name, "start": stamp(start), "end": stamp(end)}
    return {"kind": "fleet_maintenance", "result": "failed", "steps": [
        {"target": "patch", "target_type": "system"},
        {"target": "hv-1", "target_type": "hypervisor", "result": "maintained",
         "details": {"room": {"verdict": "pass", "detail": "2 server(s) ... fit: a-1 -> hv-3, a-2 -> hv-3"}},
         "phases": [phase("wait for a slot", -1, 0), phase("evacuate", 0, 3), phase("maintenance", 3, 4),
                    phase("health", 4, 5)]},
        {"target": "hv-2", "target_type": "hypervisor", "result": "failed",
         "message": "hv-2: hv-2 not started, nothing moved: 1 server(s), 32 MiB memory, on hv-2: the rest of the fleet "
                    "cannot absorb them", "phases": [phase("wait for a slot", -1, 6)]}]}


def ctx(label_work=300.0, nodes="hv-1,hv-2"):
    out = {"maintenance": "maintain_fleet", "topology": {"virtfusion": {"timing": {"precheck": 1}}}, "rc": 2,
           "record": record(), "window": 2}
    out.update(fleet.hosts({"compute_nodes": nodes, "window": 1, "rehearsal_node_work_seconds": label_work}))
    return out


def test_the_operators_tasks_never_reach_the_rehearsals_run(tmp_path):
    operator = {"compute_nodes": "hv-1", "tasks_file": "/srv/ops/patch.yml", "health_check_tasks": "/srv/ops/ok.yml",
                "node_connection": "ssh", "state_dir": "/shared/fleet", "rehearsal_node_work_seconds": 600}
    passed, ignored = dict(operator), []
    assumption = fleet.stand_in(operator, passed, str(tmp_path), 0.05, ignored)
    assert passed["tasks_file"] == fleet.NODE_WORK and passed["health_check_tasks"] == ""
    assert passed["node_connection"] == "local" and passed["state_dir"].startswith(str(tmp_path))
    assert passed["rehearsal_node_work_pause"] == 30.0          # 600 real seconds at a time scale of 0.05
    assert sorted(ignored) == ["health_check_tasks", "node_connection", "state_dir", "tasks_file"]
    assert "not run" in assumption["assumed"] and "patch.yml, ok.yml" in assumption["field"]
    fleet.refuse_operator_tasks(operator, passed)                # nothing of the operator's left: no refusal
    for leak in ({"tasks_file": "/srv/ops/patch.yml"}, {"extra": ["/srv/ops/ok.yml"]}):
        with pytest.raises(SystemExit, match="never runs the operator's tasks"):
            fleet.refuse_operator_tasks(operator, dict(passed, **leak))
    with pytest.raises(SystemExit, match="rehearsal_node_work_seconds: give the real seconds"):
        fleet.stand_in(dict(operator, rehearsal_node_work_seconds="soon"), {}, str(tmp_path), 0.05, [])
    # a twin without hypervisor storage: drive sizes accepted as unknown, in the rehearsal's run only, and said
    accepted = {"accept_unverified": "storage_enabled"}
    assert "memory, CPU" in fleet.accept_drive_sizes(accepted, "virtfusion.hypervisors[*].storage")["assumed"]
    assert accepted["accept_unverified"] == "storage_enabled,capacity"
    with pytest.raises(SystemExit, match="a Triton fleet is not rehearsed yet"):
        fleet.check_provider("triton")


def test_the_fleet_forecast_from_its_run_record():
    before, after = snapshots()
    f = fleet.compute(before, after, ctx(), "forecast")
    fl = f["fleet"]
    assert fl["order"] == ["hv-1"] and fl["waves"] == [["hv-1"]]
    hv1, hv2 = fl["per_node"]
    assert hv1["node"] == "hv-1" and hv1["capacity"]["verdict"] == "pass"
    assert [[e["server"], e["to"]] for e in hv1["evacuated"]] == [["a-1", "hv-3"], ["a-2", "hv-3"]]
    assert hv2["node"] == "hv-2" and hv2["start"] is None and hv2["evacuated"] == []
    # the refusal is a shortfall naming the node
    assert any(s.startswith("hv-2: hv-2 not started, nothing moved") for s in f["capacity"]["shortfalls"])
    # the stand-in's second (3 -> 4) counts 300 s at real speed; a migration's 1 s counts its modelled vendor time
    assert f["duration"]["node_work_seconds"] == 300.0
    assert hv1["seconds"] > 300.0 and f["duration"]["seconds"] >= 300.0
    assert fl["memory"]["hv-3"] == {"peak_memory": 64, "max_memory": 96} and fl["capacity_exceeded"] == []
    assert any("was NOT run: 300.0 s" in line for line in f["lines"])
    # a measurement counts a real run's work as it was measured (1 s here)
    m = fleet.compute(before, after, ctx(), "measured")
    assert m["duration"]["node_work_seconds"] == 1.0
    steps = fleet.record_steps(f, datetime.datetime.fromtimestamp(T0, datetime.timezone.utc))
    assert [s["target"] for s in steps] == ["hv-1", "a-1 (evacuation of hv-1)", "a-2 (evacuation of hv-1)", "hv-2"]


def test_memory_over_a_limit_is_a_shortfall_and_compare_checks_the_fleet():
    before, after = snapshots(limit=48)          # hv-3 holds both 32 MiB servers at once: 64 > 48
    over = fleet.compute(before, after, ctx(), "measured")
    assert over["fleet"]["capacity_exceeded"] == ["hypervisor hv-1 held 64 MiB at most, over its limit 48",
                                                  "hypervisor hv-3 held 64 MiB at most, over its limit 48"]
    assert "hypervisor hv-3 held 64 MiB at most, over its limit 48" in over["capacity"]["shortfalls"]
    before, after = snapshots()
    f, m = fleet.compute(before, after, ctx(0), "forecast"), fleet.compute(before, after, ctx(0), "measured")
    names = [c["name"] for c in compare(f, m)["checks"]]
    assert {"fleet node order", "fleet evacuation destinations", "fleet capacity never exceeded"} <= set(names)
    assert all(c["ok"] for c in compare(f, m)["checks"] if c["name"].startswith("fleet"))
    elsewhere = dict(m, fleet=dict(m["fleet"], per_node=[dict(m["fleet"]["per_node"][0], evacuated=[
        {"server": "a-1", "to": "hv-2"}, {"server": "a-2", "to": "hv-3"}])] + m["fleet"]["per_node"][1:]))
    failed = [c["name"] for c in compare(f, elsewhere)["checks"] if not c["ok"]]
    assert failed == ["fleet evacuation destinations"]
    assert "fleet node order" in [c["name"] for c in compare(f, dict(m, fleet=dict(m["fleet"], order=["hv-2"])))["checks"]
                                  if not c["ok"]]
