# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_migrate against the FakeTriton, for what the lab does not show (tests/unit/fake_triton.py says why): a
request whose answer was lost, answers of APIs the lab does not stand for (unknown pre-checks), wrong states and
the failure policy without time passing, secrets and the refusal of bad input. The phases, the pre-checks, the
predicted target, the sliding window and the evacuations run end to end against the lab
(tests/integration/test_triton_playbooks.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from fake_triton import CN, KEY_PEM


def test_answers_the_vendor_does_not_give_block_unless_accepted(triton, run_triton):
    triton.estimate_route = (404, {"code": "ResourceNotFound", "message": "/alice/machines/x/migrate does not exist"})
    r = run_triton({"instance": "web-1", "state": "begun", "accept_unverified": []})
    assert r["failed"] and "migrations_allowed unverified: the estimate route answered" in r["msg"], r
    assert "capacity unverified: CloudAPI shows no compute node capacity" in r["msg"] and triton.writes == []
    r = run_triton({"instance": "web-1", "state": "begun", "accept_unverified": ["migrations_allowed", "capacity"]})
    assert not r.get("failed") and r["phases"] == ["begin"], r
    assert [(c["name"], c["result"]) for c in r["prechecks"]] == [("migrations_allowed", "accepted"),
                                                                  ("capacity", "accepted")]
    for s in triton.servers.values():           # a CNAPI that shows no capacity: unknown, not "it fits"
        s.pop("unreserved_ram")
    r = run_triton({"instance": "web-2", "state": "begun", "api": "operator", "accept_unverified": []}, check_mode=True)
    assert r["failed"] and "capacity unverified: no compute node has room for 2048 MiB RAM and 10240 MiB disk (cn-2: " \
        "CNAPI shows no unreserved_ram / unreserved_disk" in r["msg"], r


def test_a_resync_whose_answer_was_lost_is_followed_and_counts_as_the_resync(triton, run_triton):
    run_triton({"instance": "web-1", "state": "synced"})
    triton.lost_answer.add("sync")      # the resync starts, but the module hears 412 (its retry's answer)
    r = run_triton({"instance": "web-1", "state": "switched", "resync": True})
    assert not r.get("failed"), r
    assert r["phases"] == ["sync", "switch"], r
    assert [a for _n, a in triton.started] == ["begin", "sync", "sync", "switch"]


def test_after_finalize_the_source_server_keeps_it_idempotent(triton, run_triton):
    run_triton({"instance": "web-1", "state": "migrated"})
    run_triton({"instance": "web-1", "state": "finalized"})
    writes = list(triton.writes)
    for state in ("migrated", "switched", "finalized"):
        r = run_triton({"instance": "web-1", "state": state, "source_server": CN["cn-1"]})
        assert not r["changed"] and r["reached"] == "finalized", (state, r)
    assert triton.writes == writes
    r = run_triton({"instance": "web-1", "state": "migrated"})          # no hint: a new migration starts
    assert r["changed"] and r["phases"] == ["automatic"]


def test_wrong_state_fails_with_the_vendor_reason_and_changes_nothing(triton, run_triton):
    run_triton({"instance": "web-1", "state": "synced"})
    writes = list(triton.writes)
    r = run_triton({"instance": "web-1", "state": "finalized"})
    assert r["failed"] and "Finalize only works on a successful migration" in r["msg"]
    r = run_triton({"instance": "web-1", "state": "rolled_back", "api": "operator"})
    assert r["failed"] and "Rollback only works on a successful migration" in r["msg"]
    r = run_triton({"instance": "web-2", "state": "paused"})
    assert r["failed"] and "migration not found" in r["msg"]
    assert triton.writes == writes
    r = run_triton({"instance": "web-1", "state": "rolled_back"})      # cloudapi has no rollback
    assert r["failed"] and "operator action" in r["msg"]


def test_failed_switch_reports_the_reason_and_a_rerun_retries(triton, run_triton):
    triton.fail_next["switch"] = "zfs receive failed"
    r = run_triton({"instance": "web-1", "state": "switched"})
    assert r["failed"] and "failed to switch migration instance - zfs receive failed" in r["msg"]
    assert r["failed_phase"] == "switch"
    r = run_triton({"instance": "web-1", "state": "switched"})
    assert not r.get("failed") and r["phases"] == ["switch"], r


def test_failure_policy_stops_new_ones_and_aborts_the_failed(triton, run_triton):
    triton.fail_next["sync"] = "disk full"
    r = run_triton({"instances": ["web-1", "web-2", "web-3"], "state": "synced", "concurrency": 1,
                    "on_failure": "stop", "failed_action": "abort"})
    assert r["failed"] and r["summary"] == {"ok": 0, "failed": 1, "skipped": 2, "changed": 1}
    first = r["migrations"][0]
    assert first["result"] == "failed" and first["cleanup"] == "aborted"
    assert triton.recs == {} and ("web-1", "abort") in triton.started


def test_private_key_never_appears_in_results(triton, run_triton):
    r = run_triton({"instance": "nope", "state": "migrated"})
    assert r["failed"] and "instance 'nope' not found; known: db-1, web-1" in r["msg"]
    r2 = run_triton({"instance": "web-1", "state": "synced"})
    body = json.dumps([r, r2])
    assert KEY_PEM.split("\n")[1] not in body and "PRIVATE KEY" not in body


def test_cloudapi_needs_compute_node_uuids(triton, run_triton):
    r = run_triton({"instance": "web-1", "state": "migrated", "source_server": "cn-1"})
    assert r["failed"] and "with api=cloudapi give compute nodes by UUID" in r["msg"] and triton.writes == []


def test_bad_input_names_the_option(triton, run_triton):
    r = run_triton({"instance": "web-1", "concurrency": 0})
    assert r["failed"] and r["msg"] == "concurrency must be a positive number, got 0"
    r = run_triton({"instance": "web-1", "state": "gone"})
    assert r["failed"] and "state" in r["msg"] and "migrated" in r["msg"]
    r = run_triton({"instance": "web-1", "api": "operator", "vmapi_url": None})
    assert r["failed"] and "vmapi_url" in r["msg"]
    assert triton.writes == []
