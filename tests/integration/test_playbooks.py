"""The collection's playbooks, run through ansible-runner against the lab (small topology)."""
import re

from conftest import live_progress, secrets_found

RECAP = re.compile(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def recap(output):
    match = RECAP.search(output)
    assert match, output[-3000:]
    ok, changed, unreachable, failed = (int(x) for x in match.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


def flat(output):
    """The output with YAML line wrapping undone, for matching phrases."""
    return " ".join(output.split())


def operations(lab):
    return lab.admin("GET", "stats")["operations"]


def test_evacuate_shows_live_progress_moves_everything_and_is_idempotent(lab, playbook):
    run = playbook("evacuate_se", extra_vars={"service_engine": "se-a"})
    rc, out = run
    assert rc == 0, out[-3000:]
    # the AWX way: progress lines are job events while the task runs, the report is a set_stats artifact
    live_progress(run, "Set the Service Engine to disabled", "[se_disable] localhost |")
    report = run.stats["se_evacuate_report"]
    assert report["lost"] == [] and report["state"] == "SE_STATE_DISABLED"
    record = report["run_record"]
    assert record["format"] == "fleetops.maintenance.run_record/v1" and record["result"] == "ok"
    assert [(s["target"], s["result"]) for s in record["steps"]][0] == ("se-a", "disabled")
    assert secrets_found(run, lab.credentials["password"], "sessionid=", "csrftoken=") == []
    # progress lines are printed while the task runs, i.e. before its result line
    task = out[out.index("TASK [fleetops.maintenance.se_evacuate : Set the Service Engine to disabled"):]
    task = task[:task.index("changed: [localhost]")]
    assert "[se_disable] localhost | evacuate" in task
    assert "lost: 0, unplaced: 0" in flat(out)
    assert recap(out)["changed"] == 1
    assert lab.credentials["password"] not in out
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    kinds = [op["kind"] for op in operations(lab)]
    assert "se_disable" in kinds

    rc, out = playbook("evacuate_se", extra_vars={"service_engine": "se-a"})
    assert rc == 0, out[-3000:]
    assert recap(out)["changed"] == 0
    assert len(operations(lab)) == len(kinds)

    rc, out = playbook("evacuate_se", extra_vars={"service_engine": "se-a", "state": "enabled"})
    assert rc == 0, out[-3000:]
    assert "SE_STATE_DISABLED -> SE_STATE_ENABLED" in flat(out)


def test_check_mode_plans_a_new_se_and_changes_nothing(lab, playbook):
    rc, out = playbook("evacuate_se", extra_vars={"service_engine": "se-f1"}, check=True, diff=True)
    assert rc == 0, out[-3000:]
    assert "vs-f1: se-f1 -> new SE" in flat(out)
    assert "(check mode: nothing changed)" in flat(out)
    assert operations(lab) == []
    run = playbook("placement_report")
    rc, out = run
    assert re.search(r"sg-full se-f1 ENABLED/UP 1 VS: vs-f1", flat(out)), out[-2000:]
    assert run.stats["placement"]["se-f1"] == ["vs-f1"]


def test_evacuation_that_cannot_fit_fails_cleanly(lab, playbook):
    # sg-bare: a cloud with no orchestrator (no SE creation), every SE full
    run = playbook("evacuate_se", extra_vars={"service_engine": "se-n1"})
    rc, out = run
    assert rc != 0
    assert recap(out)["failed"] == 1
    [refused] = [e["event_data"]["res"] for e in run.events if e["event"] in ("runner_on_ok", "runner_on_failed")
                 and e["event_data"]["task_action"] == "fleetops.maintenance.se_disable"]
    assert "not disabling SE 'se-n1'" in refused["msg"] and refused["changed"] is False, refused   # before any change
    assert refused["service_engine"]["enable_state"]["after"] == "SE_STATE_ENABLED", refused["service_engine"]
    assert "se-n1" in out and re.search(r"cannot|capacity|no room|not enough", flat(out), re.I), out[-3000:]
    assert operations(lab) == []
    rc, out = playbook("placement_report")
    assert re.search(r"sg-bare se-n1 ENABLED/UP 1 VS: vs-n1", flat(out)), out[-2000:]


def test_unknown_service_engine_is_a_clear_error(lab, playbook):
    rc, out = playbook("evacuate_se", extra_vars={"service_engine": "se-nope"})
    assert rc != 0
    assert "se-nope" in out
    assert operations(lab) == []


def test_migrate_vs_to_named_se_then_no_change(lab, playbook):
    run = playbook("migrate_vs", extra_vars={"virtual_service": "vs-3", "to_se": "se-c", "vip_id": ""})
    rc, out = run
    assert rc == 0, out[-3000:]
    live_progress(run, "Migrate ", "[vs_migrate] localhost |")
    assert run.stats["migrate_vs_result"]["placement"]["after"] == ["se-c"]
    assert secrets_found(run, lab.credentials["password"], "sessionid=", "csrftoken=") == []
    assert "vs-3: se-b -> se-c (moved" in flat(out)
    assert "[vs_migrate] localhost | migrate" in out
    rc, out = playbook("migrate_vs", extra_vars={"virtual_service": "vs-3", "to_se": "se-c"})
    assert rc == 0, out[-3000:]
    assert "already where wanted" in flat(out)
    assert recap(out)["changed"] == 0
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_a_migration_the_controller_rejects_or_fails_keeps_the_vs_and_reports_no_change(lab, playbook):
    # rejected (the migrate request answered 400), then accepted and failed (the operation ends in failure)
    faults = [{"kind": "http_error", "path": "^/api/virtualservice/[^/]+/migrate", "method": "POST", "status": 400,
               "count": 1},
              {"kind": "fail_operation", "operation": "migrate", "target": "vs-3", "count": 1}]
    for fault in faults:
        lab.admin("POST", "faults", fault)
        run = playbook("migrate_vs", extra_vars={"virtual_service": "vs-3", "to_se": "se-c"})
        rc, out = run
        assert rc != 0
        [failed] = [e["event_data"]["res"] for e in run.events if e["event"] == "runner_on_failed"]
        assert "the VS keeps serving from se-b, run the task again to retry" in failed["msg"], failed["msg"]
        assert failed["changed"] is False and failed["placement"]["after"] == ["se-b"], failed
        assert lab.client().vs_ses("vs-3")[0] == ["se-b"]
        lab.admin("DELETE", "faults")
    run = playbook("migrate_vs", extra_vars={"virtual_service": "vs-3", "to_se": "se-c"})    # the retry moves it
    assert run[0] == 0 and run.stats["migrate_vs_result"]["placement"]["after"] == ["se-c"], run[1][-3000:]
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_migrate_refused_on_legacy_active_standby(lab, playbook):
    rc, out = playbook("migrate_vs", extra_vars={"virtual_service": "vs-l1", "from_se": "se-l1"})
    assert rc != 0
    assert re.search(r"legacy active.standby", flat(out), re.I), out[-3000:]
    assert operations(lab) == []


def test_evacuation_rides_out_controller_errors_and_expired_sessions(lab, playbook):
    # a third of the reads fail with 503 while the module works: the client retries with
    # bounded backoff and the evacuation completes without losing a virtual service
    lab.admin("POST", "faults", {"kind": "http_error", "path": "^/api/(serviceengine|virtualservice)",
                                 "method": "GET", "status": 503, "rate": 0.33, "count": 12})
    rc, out = playbook("evacuate_se", extra_vars={"service_engine": "se-a", "method": "per_vs"})
    assert rc == 0, out[-3000:]
    assert "lost: 0, unplaced: 0" in flat(out)
    stats = lab.admin("GET", "stats")
    assert stats["status"].get("503", 0) >= 1, stats["status"]
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
