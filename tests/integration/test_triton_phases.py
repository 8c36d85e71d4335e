"""Every Triton phase on demand through ansible-playbook against the lab (triton_small: cn-1 hosts web-1,
web-2 and db-1; cn-2 is empty and large; cn-3 small; cn-4 reserved): abort, pause and resume, rollback, a
target-server override that really migrates with the collection doing the allocator's hard filters itself
(VMAPI runs none with override_server_uuid, research T2), and allocator independence: the lab's allocator
choosing another valid compute node (or none) than the module's prediction."""
import json
import os
import subprocess
import sys
import threading
import time

from conftest import ROOT
from test_playbooks import flat

OPERATOR = {"api": "operator"}
CLOUDAPI = {"accept_unverified": ["capacity"]}    # CloudAPI shows no compute node capacity


def ad_hoc(tlab, args):
    """instance_migrate run once with `ansible -m` (its JSON result): the set-up steps of a test (the phase under
    test runs through ansible-playbook)."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable, "-m", "fleetops.maintenance.instance_migrate",
           "-a", json.dumps(args), "-o"]
    proc = subprocess.run(cmd, cwd=ROOT, env=tlab.env(), capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout
    return proc.returncode, json.loads(out.split("=>", 1)[1]) if "=>" in out else {"raw": out + proc.stderr}


def phase(tlab, name):
    return tlab.tadmin("GET", "world")["migrations"].get(name)


def test_abort_discards_a_begun_migration(tlab, tplaybook):
    rc, res = ad_hoc(tlab, dict(OPERATOR, instance="web-2", state="begun"))
    assert rc == 0, res
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-2", state="aborted"))
    assert rc == 0 and "phases abort" in flat(out), out[-3000:]
    web2 = tlab.report()["web-2"]
    assert web2["server_hostname"] == "cn-1" and web2["state"] == "running"
    assert web2["migrations"][-1]["result"] == "aborted"
    world = tlab.tadmin("GET", "world")
    assert "web-2" not in world["migrations"] and world["servers"]["cn-2"]["hidden"] == []


def test_rollback_returns_a_switched_instance_to_its_source(tlab, tplaybook):
    rc, res = ad_hoc(tlab, dict(OPERATOR, instance="web-1", state="switched"))
    assert rc == 0 and tlab.report()["web-1"]["server_hostname"] == "cn-2", res
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-1", state="rolled_back"))
    assert rc == 0 and "phases rollback" in flat(out), out[-3000:]
    web1 = tlab.report()["web-1"]
    assert web1["server_hostname"] == "cn-1" and web1["state"] == "running"
    assert web1["migrations"][-1]["result"] == "rolled_back"
    world = tlab.tadmin("GET", "world")["servers"]          # cn-2 keeps only its own (stopped-1, bob-1)
    assert "web-1" not in world["cn-2"]["instances"] and world["cn-2"]["hidden"] == []


def test_pause_stops_a_running_sync_and_the_next_state_resumes_it(tlab, tplaybook):
    rc, res = ad_hoc(tlab, dict(OPERATOR, instance="web-1", state="begun"))
    assert rc == 0, res
    # a slow sync (1 MiB at 2 MiB per lab second, 400 real seconds per lab second: 200 s), started by a run that
    # stops following it after 2 s (the sync goes on), then paused through the playbook; once the pause runs the
    # lab's time goes fast again
    tlab.tadmin("POST", "time-scale", {"scale": 400.0})
    rc, res = ad_hoc(tlab, dict(OPERATOR, instance="web-1", state="synced", timeout=2))
    assert phase(tlab, "web-1") == ["sync", "running"], res
    stop = threading.Event()

    def speed_up_once_pausing():
        while not stop.is_set():
            if (phase(tlab, "web-1") or [None])[0] == "pause":
                tlab.tadmin("POST", "time-scale", {"scale": 0.01})
                return
            time.sleep(0.05)
    watcher = threading.Thread(target=speed_up_once_pausing, daemon=True)
    watcher.start()
    try:
        rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-1", state="paused"))
    finally:
        stop.set()
        watcher.join(5)
        tlab.tadmin("POST", "time-scale", {"scale": 0.01})
    assert rc == 0 and "phases pause" in flat(out), out[-3000:]
    assert phase(tlab, "web-1") == ["sync", "paused"]
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-1", state="switched"))
    assert rc == 0 and "switch" in flat(out), out[-3000:]
    mig = tlab.report()["web-1"]["migrations"][-1]
    assert mig["result"] == "switched" and mig["data_intact"] is True, mig
    assert tlab.report()["web-1"]["server_hostname"] == "cn-2"


def test_a_target_override_is_checked_by_the_collection_and_really_migrates(tlab, tplaybook):
    # cn-4 is reserved: the allocator's hard filter would drop it; VMAPI would not (override), so the module does
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-2", target_server="cn-4"))
    assert rc != 0 and "target_server failed: cn-4: reserved" in flat(out), out[-3000:]
    assert tlab.report()["web-2"]["migrations"] == []
    # cn-3 is small and not the allocator's favourite: the override takes web-2 (2048 MiB) there
    run = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-2", target_server="cn-3"))
    rc, out = run
    assert rc == 0, out[-3000:]
    result = run.stats["migrate_instance_result"]
    assert result["reached"] == "switched" and "compute node cn-1 -> cn-3" in flat(out), out[-3000:]
    mig = tlab.report()["web-2"]["migrations"][-1]
    assert mig["target_server_hostname"] == "cn-3" and mig["data_intact"] is True, mig
    assert tlab.report()["web-2"]["server_hostname"] == "cn-3"


def test_the_module_stays_correct_whatever_the_allocator_chooses(tlab, tplaybook):
    # the prediction is cn-2 (the best-scored that fits); the lab's allocator chooses the worst valid one (cn-3)
    tlab.tadmin("POST", "allocator", {"mode": "other_than_best"})
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-2"), check=True)
    assert rc == 0 and "target predicted: cn-2 (the best-scored of 2 that fit: cn-2, cn-3" in flat(out), out[-3000:]
    run = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="web-2"))
    rc, out = run
    assert rc == 0, out[-3000:]
    result = run.stats["migrate_instance_result"]
    # the module reports where the vendor put it, not its prediction
    assert result["reached"] == "switched" and "compute node cn-1 -> cn-3" in flat(out), out[-3000:]
    assert tlab.report()["web-2"]["server_hostname"] == "cn-3"
    assert tlab.report()["web-2"]["migrations"][-1]["data_intact"] is True
    # an allocator that chooses none: the begin fails with the vendor's words, nothing is left half-done
    tlab.tadmin("POST", "allocator", {"mode": "none"})
    started = time.monotonic()
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="db-1"))
    assert rc != 0 and "No compute resources available" in flat(out), out[-3000:]
    assert time.monotonic() - started < 120
    db1 = tlab.report()["db-1"]
    assert db1["server_hostname"] == "cn-1" and db1["state"] == "running"
    tlab.tadmin("POST", "allocator", {"mode": "vendor"})


def test_migrations_off_for_the_instance_are_refused_before_any_change_naming_the_flag(tlab, tplaybook):
    # db-1 has internal_metadata.user_migration_allowed = false: through CloudAPI (the account's own key) the
    # vendor answers 412 "User migration on this VM not allowed" to a begin; the module asks first, in check mode
    # too, and refuses with the flag to set instead of starting and failing late
    for check in (True, False):
        rc, out = tplaybook("migrate_instance", extra_vars={"instance": "db-1", "api": "cloudapi",
                                                            "accept_unverified": "capacity"}, check=check)
        text = flat(out)
        assert rc != 0 and "migrations_allowed failed: User migration on this VM not allowed" in text, out[-3000:]
        assert "internal_metadata.user_migration_allowed = true" in text and "api=operator" in text, out[-3000:]
    db1 = tlab.report()["db-1"]
    assert db1["migrations"] == [] and db1["server_hostname"] == "cn-1" and db1["state"] == "running"
    # the operator's way named in the message works: the operator API may always migrate
    rc, out = tplaybook("migrate_instance", extra_vars=dict(OPERATOR, instance="db-1"), check=True)
    assert rc == 0 and "migrations_allowed pass" in flat(out), out[-3000:]


def test_wrong_states_and_failed_phases_fail_with_the_vendors_reason(tlab, tplaybook):
    # a state the migration cannot go to fails with the vendor's words (its 412 or 404) and changes nothing
    rc, res = ad_hoc(tlab, dict(CLOUDAPI, instance="web-1", state="synced"))
    assert rc == 0, res["msg"]
    synced = phase(tlab, "web-1")
    for args, words in ((dict(CLOUDAPI, instance="web-1", state="finalized"), "Finalize only works on a successful migration"),
                        (dict(OPERATOR, instance="web-1", state="rolled_back"),
                         "Rollback only works on a successful migration"),
                        (dict(CLOUDAPI, instance="web-2", state="paused"), "migration not found"),
                        (dict(CLOUDAPI, instance="web-1", state="rolled_back"), "operator action")):    # cloudapi: no rollback
        rc, res = ad_hoc(tlab, args)
        assert rc != 0 and words in res["msg"], (args, res)
    assert phase(tlab, "web-1") == synced and phase(tlab, "web-2") is None

    # a switch that fails reports the vendor's reason and its phase (the source runs again); a re-run switches
    tlab.tadmin("POST", "faults", {"kind": "fail_phase", "phase": "switch", "instance": "web-1"})
    run = tplaybook("migrate_instance", extra_vars={"instance": "web-1", "state": "switched"})
    rc, out = run
    # the phase named is the switch (the vendor puts the record's phase back to sync so that the switch can be
    # retried: the failed progress entry names it), and the message says what to run next
    assert rc != 0 and "web-1: switch failed: failed to switch migration instance - lab fault" in flat(out), out[-3000:]
    assert "next: the instance runs on its source again; run again with state=switched to retry the switch, or " \
        "state=aborted to discard the migration" in flat(out), out[-3000:]
    assert tlab.report()["web-1"]["server_hostname"] == "cn-1"
    run = tplaybook("migrate_instance", extra_vars={"instance": "web-1", "state": "switched"})
    assert run[0] == 0 and run.stats["migrate_instance_result"]["phases"] == ["switch"], run[1][-3000:]
    assert tlab.report()["web-1"]["server_hostname"] == "cn-2"

    # finalized, the migration record is gone: the source compute node named, a re-run knows it is done
    rc, res = ad_hoc(tlab, dict(CLOUDAPI, instance="web-1", state="finalized"))
    assert rc == 0 and res["changed"], res.get("msg")
    cn1 = tlab.tadmin("GET", "world")["servers"]["cn-1"]["uuid"]
    for state in ("migrated", "switched", "finalized"):
        rc, res = ad_hoc(tlab, dict(CLOUDAPI, instance="web-1", state=state, source_server=cn1))
        assert rc == 0 and not res["changed"] and res["reached"] == "finalized", (state, res.get("msg"))
    assert phase(tlab, "web-1") is None and tlab.report()["web-1"]["server_hostname"] == "cn-2"

    # on_failure=stop with failed_action=abort: the first failure stops new migrations and discards its own
    tlab.tadmin("POST", "faults", {"kind": "fail_phase", "phase": "sync", "instance": "web-2"})
    rc, res = ad_hoc(tlab, dict(OPERATOR, instances=["web-2", "db-1"], state="synced", concurrency=1, on_failure="stop",
                                failed_action="abort"))
    assert rc != 0 and res.get("summary") == {"ok": 0, "failed": 1, "skipped": 1, "changed": 1}, str(res)[:3000]
    first = res["migrations"][0]
    assert first["instance"]["name"] == "web-2" and first["result"] == "failed" and first["cleanup"] == "aborted", first
    assert phase(tlab, "web-2") is None and phase(tlab, "db-1") is None
    assert tlab.report()["web-2"]["migrations"][-1]["result"] == "aborted"
