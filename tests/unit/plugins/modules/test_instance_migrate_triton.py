# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_migrate against the FakeTriton: phases, idempotence, re-attach, wrong states, check mode,
capacity, the sliding window, failure policy, and secrets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading

from fake_triton import CN, KEY_PEM


def test_synced_runs_begin_and_sync_then_is_idempotent(triton, run_triton):
    r = run_triton({"instance": "web-1", "state": "synced"})
    assert not r.get("failed"), r
    assert r["changed"] and r["phases"] == ["begin", "sync"] and r["reached"] == "synced"
    assert r["migration"]["syncs"] == 1 and r["syncs"] == [1048576]
    assert any(p.get("bytes") == 524288 and p.get("eta_seconds") == 0.5 for p in r["progress"])
    writes = list(triton.writes)
    r = run_triton({"instance": "web-1", "state": "synced"})
    assert not r["changed"] and r["phases"] == [] and triton.writes == writes
    r = run_triton({"instance": "web-1", "state": "begun"})            # already beyond
    assert not r["changed"]


def test_resync_then_switch_and_finalize(triton, run_triton):
    run_triton({"instance": "web-1", "state": "synced"})
    r = run_triton({"instance": "web-1", "state": "switched", "resync": True}, diff=True)
    assert r["phases"] == ["sync", "switch"], r
    assert r["server"] == {"before": CN["cn-1"], "after": CN["cn-3"]} and r["target_server"] == CN["cn-3"]
    assert r["downtime_seconds"] is not None and r["diff"]["before"]["migration"] == "sync/paused"
    assert r["diff"]["after"] == {"server": CN["cn-3"], "migration": "switch/successful"}
    r = run_triton({"instance": "web-1", "state": "switched"})
    assert not r["changed"]
    r = run_triton({"instance": "web-1", "state": "finalized"})
    assert r["changed"] and r["phases"] == ["finalize"] and r["migration"] is None


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


def test_a_running_phase_is_reattached_not_started_again(triton, run_triton):
    vm = triton.by_name("web-2")
    triton.recs[vm["id"]] = {"phase": "sync", "state": "running", "automatic": False, "syncs": 0, "pending": "sync",
                             "progress_history": [{"phase": "begin", "state": "successful"},
                                                  {"phase": "sync", "state": "running"}],
                             "source": CN["cn-1"], "target": CN["cn-2"]}
    triton.drop_watches = 1                                            # and the first watch drops
    r = run_triton({"instance": "web-2", "state": "synced"})
    assert not r.get("failed"), r
    assert r["waited_for"] == ["sync"] and r["phases"] == [] and not r["changed"]
    assert triton.writes == [] and r["api_stats"]["reattaches"] == 1


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


def test_check_mode_plans_target_and_size_without_writing(triton, run_triton):
    r = run_triton({"instance": "web-1", "state": "migrated", "api": "operator"}, check_mode=True)
    assert r["changed"] and r["phases"] == ["automatic"] and triton.writes == []
    assert r["plan"]["target_server_name"] in ("cn-2",) and r["plan"]["estimated_bytes"] == 1048576
    r = run_triton({"instance": "web-1", "state": "switched", "api": "operator", "target_server": "cn-3"},
                   check_mode=True)
    assert r["failed"] and "cn-3: 1024 MiB RAM free, needs 2048" in r["msg"] and triton.writes == []
    r = run_triton({"instance": "web-1", "state": "switched"}, check_mode=True)    # cloudapi: allocator's choice
    assert r["phases"] == ["begin", "sync", "switch"] and r["plan"]["target_server"] is None
    assert "allocator" in r["plan"]["target_reason"]


def test_target_server_override_goes_to_vmapi(triton, run_triton):
    r = run_triton({"instance": "web-1", "state": "switched", "api": "operator", "target_server": "cn-2"})
    assert r["target_server_name"] == "cn-2" and r["server_name"]["after"] == "cn-2"
    begin = [c for c in triton.posts() if c[2].get("migration_action") == "begin"][0]
    assert begin[2]["override_server_uuid"] == CN["cn-2"]
    r = run_triton({"instance": "web-2", "state": "begun", "target_server": CN["cn-2"]})
    assert r["failed"] and "target_server needs api=operator" in r["msg"]


def test_capacity_check_fails_before_anything_moves(triton, run_triton):
    triton.servers[CN["cn-2"]]["unreserved_ram"] = 2048
    triton.servers[CN["cn-3"]]["unreserved_ram"] = 2048
    r = run_triton({"from_server": "cn-1", "state": "migrated", "api": "operator", "concurrency": 2})
    assert r["failed"] and "capacity check failed, nothing was moved: 1 of 3 instance(s) do not fit" in r["msg"]
    assert "web-3: no compute node has room for 2048 MiB RAM" in r["msg"]
    assert triton.writes == []


def test_window_slides_a_new_migration_starts_when_one_finishes(triton, run_triton):
    slow = triton.by_name("web-1")
    gate = threading.Event()
    triton.block[slow["id"]] = gate
    seen = {}

    def release_when_web3_done():
        # web-1 holds its slot until web-2 and web-3 (started in web-2's freed slot) have finished
        while ("web-3", "automatic", "ok") not in triton.finished:
            threading.Event().wait(0.01)
        seen["web1_running_while_web3_done"] = ("web-1", "automatic", "ok") not in triton.finished
        gate.set()
    threading.Thread(target=release_when_web3_done, daemon=True).start()
    r = run_triton({"from_server": "cn-1", "state": "migrated", "api": "operator", "concurrency": 2})
    assert not r.get("failed"), r
    assert r["summary"] == {"ok": 3, "failed": 0, "skipped": 0, "changed": 3}
    assert seen["web1_running_while_web3_done"] is True
    assert [m["instance"]["name"] for m in r["migrations"]] == ["web-1", "web-2", "web-3"]
    r = run_triton({"from_server": "cn-1", "state": "migrated", "api": "operator", "concurrency": 2})
    assert not r["changed"] and [m["reached"] for m in r["migrations"]] == ["switched"] * 3   # not finalized yet
    r = run_triton({"from_server": "cn-1", "state": "finalized", "api": "operator", "concurrency": 2})
    assert r["summary"]["changed"] == 3
    r = run_triton({"from_server": "cn-1", "state": "migrated", "api": "operator", "concurrency": 2})
    assert not r["changed"] and r["migrations"] == []                # nothing left on cn-1


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
