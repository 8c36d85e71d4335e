"""Triton options the collection's playbooks never pass, proven end to end on the lab (triton_small: cn-1 hosts
web-1, web-2 and db-1): instance_migrate with every top-level connection option (tests/integration/files/
triton_options.yml), the host_evacuate role with the options its playbook leaves alone (cordon kept, migrations
left unfinalized), the cordon restored by the evacuate_host playbook, and the host_move_back role without finalizing
(tests/integration/files/triton_move_back.yml). Each outcome is asserted on the lab: migrations as the operator API
keeps them, placement, the hidden halves, the compute node's reserved flag. These close gaps the option coverage
stage (scripts/option_coverage.py) found. Then the plan of an evacuation through CloudAPI (check mode). Last, the
order a window starts its migrations in: largest first by VMAPI's estimates, or as listed."""
import os

from conftest import run_playbook
from test_playbooks import flat
from tritonkit import Operator

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")
EVACUATION = {"host_evacuate_server": "cn-1", "host_evacuate_cordon": True, "host_evacuate_keep_cordon": True,
              "host_evacuate_finalize": False, "host_evacuate_on_failure": "continue",
              "host_evacuate_failed_action": "leave", "host_evacuate_rollback_unhealthy": False,
              "host_evacuate_takeover": True, "host_evacuate_concurrency": 3}
HOME = ["db-1", "web-1", "web-2"]


def reserved(tlab):
    return dict((s["hostname"], s["reserved"]) for s in Operator(tlab.t["operator_url"], tlab.ca).get("/servers").json())


def test_triton_connection_options_kept_cordon_and_unfinalized_moves(tlab):
    record = str(tlab.state_dir) + "/cn-1.json"
    run = run_playbook(tlab, os.path.join(FILES, "triton_options.yml"),
                       extra_vars=dict(EVACUATION, host_evacuate_report_file=record))
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["triton_options"]

    # web-2's migration begun (its hidden target provisioned), the capacity check reported skipped, not passed
    assert r["begun"]["changed"] and r["begun"]["reached"] == "begun", r["begun"]
    checks = dict((c["name"], c["result"]) for c in r["begun"]["prechecks"])
    assert checks.get("capacity") == "skipped", r["begun"]["prechecks"]
    assert r["begun"]["migration"]["phase"] == "begin" and r["begun"]["server_name"]["after"] == "cn-1"
    # then aborted without certificate verification: the source never stopped, the target removed
    assert r["aborted"]["changed"] and r["aborted"]["phases"] == ["abort"], r["aborted"]
    assert r["aborted"]["reached"] == "not_migrating" and r["aborted"]["server_name"]["after"] == "cn-1"
    first = tlab.report()["web-2"]["migrations"][0]
    assert first["result"] == "aborted", first

    # the evacuation: every instance off cn-1, each migration switched but not finalized (the hidden sources stay on
    # cn-1), and cn-1 left cordoned (reserved) for the maintenance that follows
    world = tlab.tadmin("GET", "world")["servers"]
    assert world["cn-1"]["instances"] == [] and world["cn-1"]["hidden"] == HOME, world["cn-1"]
    report = tlab.report()
    assert all(report[name]["migrations"][-1]["result"] == "switched" for name in HOME), report
    assert all(report[name]["server_hostname"] != "cn-1" and report[name]["state"] == "running" for name in HOME)
    assert reserved(tlab)["cn-1"] is True
    assert "compute node cn-1: 3 instance(s), 0 failed" in out

    # the evacuate_host playbook on cn-1 again, without keep_cordon, restores the reserved flag it recorded
    rc, out = run_playbook(tlab, "evacuate_host", extra_vars={"compute_node": "cn-1"})
    assert rc == 0, out[-3000:]
    assert reserved(tlab)["cn-1"] is False

    # the move back from the evacuation's record, not finalized: every instance runs on cn-1 again, the hidden
    # halves of the moves back stay where the instances were
    run = run_playbook(tlab, os.path.join(FILES, "triton_move_back.yml"), extra_vars={
        "host_move_back_record": record, "host_move_back_finalize": False, "host_move_back_takeover": True})
    rc, out = run
    assert rc == 0, out[-4000:]
    report = tlab.report()
    assert sorted(name for name in HOME if report[name]["server_hostname"] == "cn-1") == HOME, report
    assert all(report[name]["migrations"][-1]["result"] == "switched" and report[name]["state"] == "running"
               for name in HOME), report
    world = tlab.tadmin("GET", "world")["servers"]
    assert sorted(world["cn-1"]["instances"]) == HOME
    assert sorted(h for s in world.values() for h in s["hidden"]) == HOME, world
    assert "verified" in flat(out)

    # the plan of an evacuation through one account's CloudAPI (the node by UUID): alice's instance only (bob-1 is
    # not hers), its target left to the allocator, the capacity CloudAPI cannot show accepted; nothing moves
    cn_2 = tlab.tadmin("GET", "world")["servers"]["cn-2"]["uuid"]
    rc, out = run_playbook(tlab, "evacuate_host", check=True, extra_vars={
        "compute_node": cn_2, "api": "cloudapi", "accept_unverified": "capacity"})
    assert rc == 0, out[-3000:]
    assert "compute node %s: 1 instance(s), 0 failed" % cn_2 in flat(out), out[-3000:]
    assert ("stopped-1 -> ?: would run automatic; about 0.1 MiB to copy; pre-checks: migrations_allowed pass, "
            "capacity accepted") in flat(out)
    report = tlab.report()
    assert report["stopped-1"]["server_hostname"] == "cn-2" and report["stopped-1"]["migrations"] == []


def test_a_window_starts_the_largest_migrations_first_unless_told_to_keep_the_listed_order(tlab):
    """web-1 and db-1 hold 1 MiB each, web-2 half of it: with a window of 2, largest first (the default) starts
    web-2 last although it is listed first; order=listed starts it first. Results are reported as listed."""
    listed = ["web-2", "web-1", "db-1"]
    run = run_playbook(tlab, os.path.join(FILES, "triton_order.yml"), extra_args=("--tags", "order"))
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["triton_order"]
    first = r["largest_first"]
    order = first["plan"]["order"]
    assert [o["name"] for o in order][-1] == "web-2", order
    sizes = [o["estimated_bytes"] for o in order]
    assert all(sizes) and sizes == sorted(sizes, reverse=True), order
    assert [m["instance"]["name"] for m in first["migrations"]] == listed
    assert "largest first, by the vendor's size estimate" in flat(out)
    history = tlab.report()
    began = dict((name, history[name]["migrations"][0]["started_real"]) for name in listed)
    assert began["web-2"] > max(began["web-1"], began["db-1"]), began    # its turn came when a slot freed
    # finalized: nothing starts, so no order; then back to cn-1 as listed: web-2 and web-1 take the two slots, db-1
    # waits for one
    assert r["finalized"]["changed"] and "order" not in r["finalized"]["plan"], r["finalized"]["plan"]
    assert "order" not in r["listed"]["plan"], r["listed"]["plan"]
    assert all(history[name]["server_hostname"] == "cn-1" for name in listed), history
    began = dict((name, history[name]["migrations"][-1]["started_real"]) for name in listed)
    assert began["db-1"] > max(began["web-2"], began["web-1"]), began


def test_a_migration_in_flight_takes_its_slot_before_the_largest_new_one(tlab):
    """web-2 (the smallest) has begun when cn-1 is evacuated with a window of 2: its migration goes on first, beside
    the largest new one; the third starts when a slot frees. Seen in the vendor's records: each phase's start."""
    run = run_playbook(tlab, os.path.join(FILES, "triton_order.yml"), extra_args=("--tags", "resume"))
    rc, out = run
    assert rc == 0, out[-4000:]
    order = run.stats["triton_order"]["evacuated"]["plan"]["order"]
    assert [o["name"] for o in order] in (["web-1", "db-1"], ["db-1", "web-1"]), order   # web-2 has nothing to start
    assert "first web-2 (nothing to start: in flight or done), then largest first" in flat(out)
    vmapi = Operator(tlab.t["operator_url"], tlab.ca)
    uuids = dict((v["alias"], v["uuid"]) for v in vmapi.get("/vms").json())
    starts = {}
    for name in ("web-2", "web-1", "db-1"):
        rec = vmapi.get("/migrations/%s" % uuids[name], format="raw").json()
        assert rec["state"] == "successful", rec
        starts[name] = dict((e["phase"], e["started_timestamp"]) for e in rec["progress_history"])
    first, last = order[0]["name"], order[1]["name"]
    # web-2's sync and the largest one's begin start together, ahead of the other's begin, which waits for a slot
    assert max(starts["web-2"]["sync"], starts[first]["begin"]) < starts[last]["begin"], starts
