"""Taking over what a run that is gone left held, end to end on the small lab (tests/integration/files/
avi_takeover.yml): the test leaves an intent record's lease on se-c and on sg-full as a run on another machine
that died would (live for an hour more, so without takeover the modules would wait for it: se_disable refuses once
its timeout has passed); with takeover=true se_disable and se_group_refresh take them over at once, do their work and
leave no record. The same run passes the top-level validate_certs=false to se_group_refresh and vs_scale. These close
gaps the option coverage stage (scripts/option_coverage.py) found.

Beside it, se_disable across runs on the small lab (tests/integration/files/se_disable_rerun.yml, one tag per run):
the plan check mode shows is the one a run executes, a killed run's lease is released, the recorded state restored,
and a run that fails (a move that fails, an event log that cannot be read) names what is left for a re-run to
finish."""
import json
import os
import time

import pytest

from conftest import run_playbook

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "avi_takeover.yml")
RERUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "se_disable_rerun.yml")
GONE = {"run": "gone-host-4242-deadbeef", "host": "gone-host"}


def plant_lease(client, target):
    """The intent record of ``target`` as a run on another machine left it: its lease only, an hour to go."""
    now = time.time()
    lease = dict(GONE, since=now - 60, expires=now + 3600)
    r = client.post("stringgroup", {"name": "fleetops-maintenance-" + target, "type": "SG_TYPE_KEYVAL",
                                    "kv": [{"key": "owner", "value": json.dumps(lease, sort_keys=True)}]})
    assert r.status_code in (200, 201), r.text


def assert_refused_while_held(result):
    """A module run refused because the gone run's lease (plant_lease) still held its target once its timeout had
    passed: failed, nothing changed, the message naming that run, its host and takeover."""
    assert result["failed"] and result["changed"] is False, result
    assert "is held by run %s on %s" % (GONE["run"], GONE["host"]) in result["msg"], result["msg"]
    assert "(takeover)" in result["msg"], result["msg"]


def records(client):
    return sorted(g["name"] for g in client.get("stringgroup").json()["results"]
                  if g["name"].startswith("fleetops-maintenance-"))


def test_takeover_of_records_a_gone_run_left_and_no_certificate_verification(lab):
    client = lab.client()
    se_c = client.by_name("serviceengine", "se-c")["uuid"]
    sg_full = client.by_name("serviceenginegroup", "sg-full")["uuid"]
    plant_lease(client, "se-evacuate-" + se_c)
    plant_lease(client, "se-group-refresh-" + sg_full)
    run = run_playbook(lab, PLAYBOOK)
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["avi_takeover"]
    client = lab.client()

    # se-c without takeover: the gone run's live lease is waited for until timeout, then refused, nothing changed
    held = r["se_c_held"]
    assert_refused_while_held(held)
    assert held["msg"].startswith("not changing SE 'se-c': the intent record fleetops-maintenance-se-evacuate-%s "
                                  "(StringGroup on " % se_c), held["msg"]
    assert any("waiting for it" in p["msg"] for p in held["progress"]), held["progress"]

    # se-c: taken over from the gone run (not waited for), disabled, enabled again
    took = [p["msg"] for p in r["se_c_disabled"]["progress"] if "took over" in p["msg"]]
    assert took == ["took over SE 'se-c' from run %s (its lease had expired, or takeover)" % GONE["run"]], took
    assert r["se_c_disabled"]["intent"]["taken_over_from"] == GONE["run"], r["se_c_disabled"]["intent"]
    assert r["se_c_disabled"]["changed"] and r["se_c_enabled"]["changed"]
    assert client.by_name("serviceengine", "se-c")["enable_state"] == "SE_STATE_ENABLED"

    # sg-full: taken over, every SE replaced by one on the new definition, its virtual services kept
    took = [p["msg"] for p in r["refreshed"]["progress"] if "took over" in p["msg"]]
    assert took == ["took over SE group 'sg-full' from run %s (its lease had expired, or takeover)" % GONE["run"]]
    assert r["refreshed"]["intent"]["taken_over_from"] == GONE["run"], r["refreshed"]["intent"]
    assert sorted(s["name"] for s in r["refreshed"]["replaced"]) == ["se-f1", "se-f2"], r["refreshed"]["replaced"]
    world = lab.admin("GET", "world")["service_engines"]
    full = dict((name, se) for name, se in world.items() if se["group"] == "sg-full")
    assert not {"se-f1", "se-f2"} & set(full) and sorted(vs for se in full.values() for vs in se["vs"]) == [
        "vs-f1", "vs-f2"], full
    assert client.by_name("serviceenginegroup", "sg-full")["vcpus_per_se"] == 2

    # vs_scale without certificate verification: vs-p1 out to se-p3 and back
    assert sorted(r["scaled_out"]["placement"]["after"]) == ["se-p1", "se-p2", "se-p3"]
    assert sorted(client.vs_ses("vs-p1")[0]) == ["se-p1", "se-p2"]
    assert r["scaled_out_again"]["changed"] is False and r["scaled_in_again"]["changed"] is False   # idempotent

    # no record left, the gone run's leases included; nothing interrupted
    assert records(client) == []
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def intent(client, se_uuid):
    """The key/values of se_disable's intent record of an SE (its recorded state, any lease), values decoded."""
    group = [g for g in client.get("stringgroup").json()["results"]
             if g["name"] == "fleetops-maintenance-se-evacuate-" + se_uuid]
    return dict((kv["key"], json.loads(kv["value"])) for kv in (group[0].get("kv") or [])) if group else {}


def test_the_record_across_runs_plan_equals_run_a_killed_runs_lease_released_state_restored(lab):
    """se_disable runs the steps its check mode planned; a re-run with nothing to change releases the lease a run
    killed on this host left (its process is gone) and keeps the recorded state; enabling restores that state."""
    import socket
    import subprocess
    client = lab.client()
    se_b = client.by_name("serviceengine", "se-b")["uuid"]
    run = run_playbook(lab, RERUN, extra_args=("--tags", "first"))
    assert run[0] == 0, run[1][-4000:]
    r = run.stats["se_disable_rerun"]
    assert r["planned"]["plan"]["actions"] == r["evacuated"]["plan"]["actions"] == [
        "set enable_state SE_STATE_DISABLED", "wait for the controller to evacuate 1 virtual service(s)"], r
    assert client.by_name("serviceengine", "se-b")["enable_state"] == "SE_STATE_DISABLED"
    assert "se-b" not in client.vs_ses("vs-3")[0]
    assert intent(client, se_b) == {"se/" + se_b: {"was": "SE_STATE_DISABLED_FOR_PLACEMENT",
                                                   "run": intent(client, se_b)["se/" + se_b]["run"]}}

    # the lease of a run of this host whose process is gone (killed after its work was done)
    dead = subprocess.Popen(["true"])
    dead.wait()
    lease = {"run": "%s-%d-0abc" % (socket.gethostname(), dead.pid), "host": socket.gethostname(), "since": 0,
             "expires": time.time() + 3600}
    group = [g for g in client.get("stringgroup").json()["results"]
             if g["name"] == "fleetops-maintenance-se-evacuate-" + se_b][0]
    group["kv"].append({"key": "owner", "value": json.dumps(lease)})
    assert client.put("stringgroup/" + group["uuid"], group).status_code == 200
    assert "owner" in intent(client, se_b)
    run = run_playbook(lab, RERUN, extra_args=("--tags", "again"))
    assert run[0] == 0, run[1][-4000:]
    assert run.stats["se_disable_rerun"]["again"]["changed"] is False
    assert sorted(intent(client, se_b)) == ["se/" + se_b]

    run = run_playbook(lab, RERUN, extra_args=("--tags", "enable"))
    assert run[0] == 0, run[1][-4000:]
    enabled = run.stats["se_disable_rerun"]["enabled"]
    assert enabled["service_engine"]["enable_state"]["after"] == "SE_STATE_DISABLED_FOR_PLACEMENT", enabled
    assert client.by_name("serviceengine", "se-b")["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert records(client) == []          # the record is gone once restored
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_an_outcome_the_event_log_cannot_confirm_fails_and_a_rerun_converges(lab):
    """The controller's event log cannot be read (404): each move's outcome is unconfirmed, so the step fails, yet
    the virtual services moved (make-before-break, nothing lost); with the log back, a re-run verifies and ends."""
    lab.admin("POST", "faults", {"kind": "http_error", "path": "^/api/analytics/logs", "method": "GET", "status": 404})
    run = run_playbook(lab, RERUN, extra_args=("--tags", "per_vs"))
    assert run[0] == 0, run[1][-4000:]
    failed = run.stats["se_disable_rerun"]["per_vs"]
    assert failed["failed"] and "event log could not be read" in failed["msg"], failed
    client = lab.client()
    assert "se-a" not in client.vs_ses("vs-1")[0] + client.vs_ses("vs-2")[0]
    lab.admin("DELETE", "faults")
    run = run_playbook(lab, RERUN, extra_args=("--tags", "per_vs"))
    assert run[0] == 0, run[1][-4000:]
    again = run.stats["se_disable_rerun"]["per_vs"]
    assert not again.get("failed") and again["verified"]["problems"] == [], again
    assert client.by_name("serviceengine", "se-a")["enable_state"] == "SE_STATE_DISABLED"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


@pytest.mark.parametrize("method", ["per_vs", "controller"])
def test_a_move_that_fails_is_named_the_rest_done_and_a_rerun_converges(lab, method):
    """One VS's move fails: the run fails naming it (and only it), that VS keeps serving where it was, the others
    moved; a re-run moves what is left and ends with the SE disabled and empty."""
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "migrate", "target": "vs-2", "count": 1})
    run = run_playbook(lab, RERUN, extra_args=("--tags", "per_vs"), extra_vars={"se_a_method": method})
    assert run[0] == 0, run[1][-4000:]
    failed = run.stats["se_disable_rerun"]["per_vs"]
    assert failed["failed"] and "vs-2" in failed["msg"] and "vs-1" not in failed["msg"], failed["msg"]
    words, left = {"per_vs": ("run the task again to retry", "SE_STATE_DISABLED_FOR_PLACEMENT"),
                   "controller": ("SE_MIGRATE_STATE_FINISHED_WITH_FAILURE", "SE_STATE_DISABLED")}[method]
    assert words in failed["msg"], failed["msg"]
    client = lab.client()
    assert client.vs_ses("vs-2")[0] == ["se-a"] and "se-a" not in client.vs_ses("vs-1")[0]   # still serving
    assert client.by_name("serviceengine", "se-a")["enable_state"] == left
    run = run_playbook(lab, RERUN, extra_args=("--tags", "per_vs"), extra_vars={"se_a_method": method})
    assert run[0] == 0, run[1][-4000:]
    again = run.stats["se_disable_rerun"]["per_vs"]
    assert again["changed"] and not again.get("failed"), again
    assert [m["name"] for m in again["moves"]] == ["vs-2"], again["moves"]
    assert "se-a" not in client.vs_ses("vs-2")[0]
    assert client.by_name("serviceengine", "se-a")["enable_state"] == "SE_STATE_DISABLED"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
