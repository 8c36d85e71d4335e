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
    fleet.check_provider("triton")                               # a Triton fleet is rehearsed too
    fleet.check_provider("virtfusion")
    with pytest.raises(SystemExit, match="provider: triton or virtfusion\\), got provider avi"):
        fleet.check_provider("avi")


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


# ------------------------------------------------------------------------------------------------------------ Triton
TRITON_SCALE = 0.05   # the Triton lab's clock: lab seconds = real seconds / time scale (lab/worldbase.py lab_now)
RAM = {"a-1": 1024, "a-2": 1024, "b-1": 1024}


def tmigration(n, src, dst, start, end):
    """A Triton lab migration record (lab/triton/migrations.py): lab seconds and their real-time stamps; its modelled
    vendor time is begin 4 + a 2 s sync + a 2 s switch + finalize 1 = 9 lab seconds."""
    def lab(offset):
        return round(offset / TRITON_SCALE, 3)
    return {"id": "tm-%d" % n, "result": "finalized", "source_server_hostname": src, "target_server_hostname": dst,
            "started": lab(start), "switched": lab(end - 0.1), "ended": lab(end), "started_real": T0 + start,
            "switched_real": T0 + end - 0.1, "ended_real": T0 + end, "syncs": [{"lab_seconds": 2.0, "final": False}],
            "downtime_lab_seconds": 2.0, "data_intact": True, "bytes_sent": 262144}


def tsnapshots(cn3_free=10444, move_back=False):
    def instances(where, migrations):
        return {"instances": dict((name, {"uuid": "u-" + name, "server_hostname": node,
                                          "migrations": migrations.get(name, [])}) for name, node in where.items())}
    servers = [{"hostname": "cn-1", "unreserved_ram": 6963 - 2048, "unreserved_disk": 10 ** 6},
               {"hostname": "cn-2", "unreserved_ram": 6963 - 1024, "unreserved_disk": 10 ** 6},
               {"hostname": "cn-3", "unreserved_ram": cn3_free, "unreserved_disk": 10 ** 6}]
    before = {"provider": "triton", "time_scale": TRITON_SCALE, "world": {}, "stats": {"migrations": []},
              "servers": servers, "instances": instances({"a-1": "cn-1", "a-2": "cn-1", "b-1": "cn-2"}, {})}
    after = {"provider": "triton", "time_scale": TRITON_SCALE, "world": {}, "stats": {"migrations": []},
             "servers": servers, "instances": instances({"a-1": "cn-3", "a-2": "cn-3", "b-1": "cn-1"}, {
                 "a-1": [tmigration(1, "cn-1", "cn-3", 0.5, 1.6)], "a-2": [tmigration(2, "cn-1", "cn-3", 0.6, 1.6)],
                 "b-1": [tmigration(3, "cn-2", "cn-1", 3.4, 4.3)]
                 + ([tmigration(4, "cn-1", "cn-2", 5.7, 6.2)] if move_back else [])})}
    if move_back:
        after["instances"]["instances"]["b-1"]["server_hostname"] = "cn-2"
    return before, after


def trecord(move_back=False):
    def phase(name, start, end):
        return {"name": name, "start": stamp(start), "end": stamp(end)}
    room = {"verdict": "pass", "detail": "the rest of the fleet can absorb them"}
    return {"kind": "fleet_maintenance", "result": "ok", "steps": [
        {"target": "patch", "target_type": "system"},
        {"target": "cn-1", "target_type": "compute_node", "result": "maintained", "details": {"room": room},
         "phases": [phase("evacuate", 0, 2), phase("maintenance", 2, 3), phase("health", 3, 3.2)]},
        {"target": "cn-2", "target_type": "compute_node", "result": "maintained", "details": {"room": room},
         "phases": [phase("wait for a slot", 0, 3.2), phase("evacuate", 3.2, 4.5), phase("maintenance", 4.5, 5.5),
                    phase("health", 5.5, 5.6)] + ([phase("move back", 5.6, 6.5)] if move_back else [])}]}


def tctx(work=300.0):
    out = {"maintenance": "maintain_fleet", "rc": 0, "record": trecord(), "window": 2,
           "topology": {"triton": {"timing": {"begin": 4, "finalize": 1},
                                   "instances": [{"name": n, "ram": r} for n, r in RAM.items()]}}}
    out.update(fleet.hosts({"compute_nodes": "cn-1,cn-2", "window": 1, "rehearsal_node_work_seconds": work}))
    return out


def test_the_triton_fleet_forecast_reads_the_labs_migration_records():
    before, after = tsnapshots()
    f = fleet.compute(before, after, tctx(), "forecast")
    fl = f["fleet"]
    assert fl["order"] == ["cn-1", "cn-2"] and fl["waves"] == [["cn-1"], ["cn-2"]]
    cn1, cn2 = fl["per_node"]
    assert [[e["instance"], e["to"], e["status"]] for e in cn1["evacuated"]] == [
        ["a-1", "cn-3", "finalized"], ["a-2", "cn-3", "finalized"]]
    assert [[e["instance"], e["from"], e["to"]] for e in cn2["evacuated"]] == [["b-1", "cn-2", "cn-1"]]
    assert cn1["capacity"]["verdict"] == cn2["capacity"]["verdict"] == "pass"
    # each node's evacuation counts its migrations' modelled lab seconds, two at a time: 9 s each node
    assert f["duration"]["vendor_operations_seconds"] == 18.0
    assert f["duration"]["node_work_seconds"] == 600.0                   # 300 s stood for each node's work
    assert [i["start"] for i in f["order"]] == [0.5, round(0.5 + 0.1 * 9 / 1.1, 2), cn2["start"] + 0.2]
    assert cn2["start"] >= cn1["end"] and cn1["seconds"] > 309.0
    # memory replayed against each node's reservable RAM before the run (CNAPI's unreserved_ram + its instances)
    assert fl["memory"]["cn-3"] == {"peak_memory": 2048, "max_memory": 10444}
    assert fl["memory"]["cn-1"] == {"peak_memory": 2048, "max_memory": 6963} and fl["capacity_exceeded"] == []
    assert any(line.startswith("memory held at most per compute node (forecast") for line in f["lines"])
    steps = fleet.record_steps(f, datetime.datetime.fromtimestamp(T0, datetime.timezone.utc))
    assert [(s["target"], s["target_type"]) for s in steps] == [
        ("cn-1", "compute_node"), ("a-1 (evacuation of cn-1)", "instance"), ("a-2 (evacuation of cn-1)", "instance"),
        ("cn-2", "compute_node"), ("b-1 (evacuation of cn-2)", "instance")]
    assert steps[1]["disruption"] == {"expected": True, "seconds": 2.0}   # the switch, in (lab) seconds


def test_triton_memory_over_a_limit_and_compares_fleet_checks():
    before, after = tsnapshots(cn3_free=1500)   # cn-3 takes both 1 GiB instances at once: 2048 > 1500
    over = fleet.compute(before, after, tctx(), "measured")
    assert over["fleet"]["capacity_exceeded"] == ["compute node cn-3 held 2048 MiB at most, over its limit 1500"]
    assert "compute node cn-3 held 2048 MiB at most, over its limit 1500" in over["capacity"]["shortfalls"]
    before, after = tsnapshots()
    f, m = fleet.compute(before, after, tctx(0), "forecast"), fleet.compute(before, after, tctx(0), "measured")
    result = compare(f, m)
    assert all(c["ok"] for c in result["checks"] if c["name"].startswith("fleet")), result["checks"]
    assert {"fleet node order", "fleet evacuation destinations", "fleet capacity verdicts"} <= set(
        c["name"] for c in result["checks"])
    elsewhere = dict(m, fleet=dict(m["fleet"], per_node=[dict(m["fleet"]["per_node"][0], evacuated=[
        {"instance": "a-1", "to": "cn-2"}, {"instance": "a-2", "to": "cn-3"}])] + m["fleet"]["per_node"][1:]))
    assert [c["name"] for c in compare(f, elsewhere)["checks"] if not c["ok"]] == ["fleet evacuation destinations"]
    refused = dict(m, fleet=dict(m["fleet"], per_node=m["fleet"]["per_node"][:1] + [dict(
        m["fleet"]["per_node"][1], capacity={"verdict": "fail", "detail": "no room"})]))
    assert [c["name"] for c in compare(f, refused)["checks"] if not c["ok"]] == ["fleet capacity verdicts"]


def test_a_triton_move_back_is_attributed_to_its_node_and_every_switch_counts():
    before, after = tsnapshots(move_back=True)
    ctx = dict(tctx(), record=trecord(move_back=True), move_back=True)
    f = fleet.compute(before, after, ctx, "forecast")
    cn1, cn2 = f["fleet"]["per_node"]
    assert cn1["moved_back"] == []
    assert [[e["instance"], e["from"], e["to"]] for e in cn2["moved_back"]] == [["b-1", "cn-1", "cn-2"]]
    # b-1 switched twice (2 lab seconds each): both count
    assert f["disruption"]["by_target"] == {"a-1": 2.0, "a-2": 2.0, "b-1": 4.0} and f["disruption"]["total"] == 8.0
    steps = fleet.record_steps(f, datetime.datetime.fromtimestamp(T0, datetime.timezone.utc))
    assert [s["target"] for s in steps][-2:] == ["b-1 (evacuation of cn-2)", "b-1 (move back to cn-2)"]
    # b-1 moves twice: each move is its own item in compare's order (the same order agrees fully)
    order = [c for c in compare(f, fleet.compute(before, after, ctx, "measured"))["checks"] if c["name"] == "order"]
    assert order[0]["ok"] and "(got 100%)" in order[0]["tolerance"], order
