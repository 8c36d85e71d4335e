# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_migrate with provider=virtfusion against the FakeVirtFusion: live migration with its steps and
QEMU's numbers, idempotence, re-attach, retry, cancel/abort, the force commands, check mode's pre-checks,
option validation, the sliding window and its failure policy, dropped SSH connections, hybrid, secrets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading

from fake_virtfusion import VF_CREDENTIALS

FORCE = ("data-success-force", "cancel-force")


def cmds(vf, name):
    return [c for c in vf.commands if c[2] == name]


def no_force(vf):
    return not [c for c in vf.commands if c[2] in FORCE]


def test_live_migration_shows_every_step_and_reports_what_qemu_measured(vf, run_vf):
    r = run_vf({"instance": "web-1", "target_server": "hv-ams-2", "xfer_speed": 100, "max_downtime": 500,
                "auto_converge": {"initial": 30, "increment": 10}, "filter_check": False, "post_copy": True})
    assert not r.get("failed"), r
    assert r["changed"] and r["phases"] == ["start"] and r["reached"] == "migrated"
    assert r["server"] == {"before": 1, "after": 2} and r["server_name"]["after"] == "hv-ams-2"
    assert r["target_server"] == 2 and r["target_server_name"] == "hv-ams-2"
    start = cmds(vf, "start")[0]
    assert start[3:] == ["--server=101", "--dst=2", "--xfer-speed=100", "--max-downtime=500",
                         "--auto-converge-initial=30", "--auto-converge-increment=10", "--auto-post-copy",
                         "--disable-filter-check", "--detach", "--json"]
    msgs = [p["msg"] for p in r["progress"]]
    for name in ("Pre-migration checks", "Check source filters", "Prepare destination hypervisor", "Transfer data",
                 "Start server on destination", "Finalise migration"):
        done = [m for m in msgs if m.startswith("web-1: [complete] %s" % name)]
        assert "web-1: [in-progress] %s" % name in msgs and done, (name, msgs)
    assert any("web-1: [complete] Transfer data: 34196684 bytes, downtime 4 ms (QEMU)" == m for m in msgs)
    assert r["downtime_seconds"] == 0.004 and r["bytes_sent"] == 34196684 and r["syncs"] == [34196684]
    m = r["measured"]
    assert m["source"] == "qemu" and m["downtime_ms"] == 4 and m["max_downtime_ms"] == 500
    assert m["transferred_bytes"] == 34196684 and m["dirty_sync_count"] == 3
    assert r["migration"]["id"] == "lm-1" and r["migration"]["state"] == "successful"
    assert no_force(vf)


def test_already_on_the_destination_is_unchanged_and_sends_nothing(vf, run_vf):
    run_vf({"instance": "web-1", "target_server": "2"})
    writes = list(vf.writes())
    r = run_vf({"instance": "101", "target_server": "hv-ams-2"})
    assert not r.get("failed") and not r["changed"] and r["phases"] == [] and r["reached"] == "migrated", r
    assert vf.writes() == writes and "measured" not in r
    r = run_vf({"instance": "db-1", "target_server": "2"})                  # never migrated, created there
    assert not r["changed"] and r["reached"] == "migrated" and vf.writes() == writes


def test_a_running_migration_is_reattached_never_started_twice(vf, run_vf):
    vf.started_elsewhere(102, 2)                           # someone started it; its transfer is under way
    assert vf.migrations["lm-1"]["dataTransfer"] == "transferring"
    r = run_vf({"instance": "web-2", "target_server": "2"})
    assert not r.get("failed"), r
    assert r["waited_for"] == ["transfer"] and r["phases"] == [] and not r["changed"]
    assert cmds(vf, "start") == [] and r["reached"] == "migrated" and r["measured"]["downtime_ms"] == 4
    assert len(vf.migrations) == 1


def test_a_running_migration_to_another_destination_is_an_error(vf, run_vf):
    vf.started_elsewhere(102, 2)
    r = run_vf({"instance": "web-2", "target_server": "3"})
    assert r["failed"] and "server 102 is being migrated to hypervisor 2, not 3" in r["msg"], r
    assert vf.writes() == []


def test_a_failed_migration_is_tried_again_with_the_same_start(vf, run_vf):
    vf.fail_next[101] = ("transfer", "QEMU: migration failed: connection reset")
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert r["failed"] and r["failed_phase"] == "transfer", r
    assert "web-1: transfer failed: QEMU: migration failed: connection reset" in r["msg"]
    assert r["migration"]["state"] == "failed" and r["migration"]["data_transfer"] == "failed"
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert not r.get("failed") and r["phases"] == ["start"] and r["reached"] == "migrated", r
    assert [c[3:5] for c in cmds(vf, "start")] == [["--server=101", "--dst=2"]] * 2
    assert len(vf.migrations) == 1 and vf.migrations["lm-1"]["attempts"] == 2 and no_force(vf)


def test_cancelled_exits_a_failed_migration_and_is_idempotent(vf, run_vf):
    vf.fail_next[101] = ("prepare", "Connection to destination hypervisor 2 refused")
    run_vf({"instance": "web-1", "target_server": "2"})
    r = run_vf({"instance": "web-1", "state": "cancelled"})
    assert not r.get("failed") and r["changed"] and r["phases"] == ["cancel"] and r["reached"] == "cancelled", r
    assert r["server"]["after"] == 1
    writes = list(vf.writes())
    r = run_vf({"instance": "web-1", "state": "cancelled"})
    assert not r["changed"] and r["reached"] == "cancelled" and vf.writes() == writes
    r = run_vf({"instance": "web-2", "state": "cancelled"})                 # never migrated: nothing to cancel
    assert not r["changed"] and r["reached"] == "no_migration"
    run_vf({"instance": "web-2", "target_server": "2"})
    r = run_vf({"instance": "web-2", "state": "cancelled"})
    assert r["failed"] and "is complete and can't be cancelled" in r["msg"] and no_force(vf)


def test_cancel_while_data_transfers_aborts_first_then_cancels(vf, run_vf):
    vf.hold[101] = threading.Event()
    vf.started_elsewhere(101, 2)
    r = run_vf({"instance": "web-1", "state": "cancelled"})
    assert not r.get("failed") and r["phases"] == ["abort", "cancel"] and r["reached"] == "cancelled", r
    assert [c[2] for c in vf.writes()] == ["abort", "cancel"] and vf.servers[101]["hypervisorId"] == 1


def test_aborted_stops_a_running_transfer_only(vf, run_vf):
    vf.hold[101] = threading.Event()
    mig = vf.started_elsewhere(101, 2, until="filters")
    r = run_vf({"instance": "web-1", "state": "aborted"})                   # before the transfer: refused
    assert r["failed"] and "the data transfer has not started yet" in r["msg"] and cmds(vf, "abort") == [], r
    while mig["dataTransfer"] != "transferring":
        vf._advance(mig)
    r = run_vf({"instance": "web-1", "state": "aborted"})
    assert not r.get("failed") and r["phases"] == ["abort"] and r["reached"] == "aborted", r
    assert r["migration"]["aborted"] is True and r["migration"]["state"] == "failed"
    r = run_vf({"instance": "web-1", "state": "aborted"})                   # idempotent
    assert not r["changed"] and len(cmds(vf, "abort")) == 1
    r = run_vf({"instance": "web-2", "state": "aborted"})
    assert r["failed"] and "can only be aborted while its data transfer is running" in r["msg"]


def test_force_commands_are_sent_only_when_force_may_lose_data_asks(vf, run_vf):
    vf.lose_tracking.add(101)
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert r["failed"] and "Lost track of the data transfer" in r["msg"], r
    assert vf.migrations["lm-1"]["dataTransfer"] == "unknown"
    vf.lose_tracking.add(101)                                          # the plain retry loses track again
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert r["failed"] and no_force(vf)                                # retried from the top, never forced
    r = run_vf({"instance": "web-1", "target_server": "2", "force_may_lose_data": "data_success"})
    assert not r.get("failed") and r["phases"] == ["data_success_force", "start"], r
    assert [c[2] for c in vf.writes()][-2:] == ["data-success-force", "start"] and r["reached"] == "migrated"

    vf.fail_next[102] = ("start_dst", "QEMU on hypervisor 2 did not start")   # after a successful data transfer
    run_vf({"instance": "web-2", "target_server": "2"})
    r = run_vf({"instance": "web-2", "state": "cancelled"})
    assert r["failed"] and "can no longer be cancelled" in r["msg"] and "force_may_lose_data=cancel" in r["msg"]
    assert not cmds(vf, "cancel-force")
    r = run_vf({"instance": "web-2", "state": "cancelled", "force_may_lose_data": "cancel"})
    assert not r.get("failed") and r["phases"] == ["cancel_force"] and r["reached"] == "cancelled", r
    assert len(cmds(vf, "cancel-force")) == 1 and not cmds(vf, "cancel")


def test_check_mode_lists_every_failing_precheck_and_changes_nothing(vf, run_vf):
    vf.add_server(104, "nat-1", 1, nat=True)
    vf.add_server(105, "batch-1", 1, state="offline")
    r = run_vf({"instance": "web-1", "target_server": "hv-fra-1"}, check_mode=True)
    assert r["failed"], r
    problems = r["plan"]["problems"]
    assert problems == [
        "Destination hypervisor 3 (hv-fra-1) does not have SSH enabled.",
        "IP address 10.0.1.101 is not usable on destination hypervisor 3 (hv-fra-1).",
        "Storage mount point /home/vf-data/disk (drive a) does not exist on destination hypervisor 3 (hv-fra-1).",
        "CPU vendor mismatch: source hypervisor 1 is GenuineIntel, destination hypervisor 3 is AuthenticAMD.",
        "CPU flags used by server 101 are missing on destination hypervisor 3: aes."]
    assert all(p in r["msg"] for p in problems)
    r = run_vf({"instance": "batch-1", "target_server": "2"}, check_mode=True)
    assert r["failed"] and r["plan"]["problems"][0].startswith("Server 105 is offline.") \
        and "set force_offline=true" in r["msg"], r
    r = run_vf({"instance": "batch-1", "target_server": "2", "force_offline": True}, check_mode=True)
    assert not r.get("failed") and r["changed"] and r["phases"] == ["start"] and r["plan"]["problems"] == [], r
    r = run_vf({"from_server": "hv-ams-1", "target_server": "2", "concurrency": 2}, check_mode=True)
    assert r["failed"] and r["msg"].startswith("pre-checks failed, nothing was moved: 2 of 5 server(s) cannot be "
                                               "migrated: "), r["msg"]
    assert "batch-1: Server 105 is offline" in r["msg"] and "nat-1: IP address 192.168.100.2 is not usable" in r["msg"]
    assert "Server 104 has NAT interfaces (nat0); servers with NAT interfaces can't be migrated." in r["msg"]
    assert [c["name"] for c in r["plan"]["capacity"] if c["target"] is None] == ["batch-1", "nat-1"]
    r = run_vf({"instance": "web-1", "target_server": "2"}, check_mode=True)
    assert not r.get("failed") and r["phases"] == ["start"] and r["estimated_bytes"] == 64 * 1048576
    assert vf.writes() == [] and [m for m in vf.requests if m[0] != "GET"] == []


def test_the_same_prechecks_stop_an_evacuation_before_anything_moves(vf, run_vf):
    vf.add_server(104, "nat-1", 1, nat=True)
    r = run_vf({"from_server": "1", "target_server": "2", "concurrency": 2})
    assert r["failed"] and "1 of 4 server(s) cannot be migrated: nat-1: " in r["msg"]
    assert "Server 104 has NAT interfaces (nat0)" in r["msg"]
    assert vf.writes() == []


def test_bad_option_values_name_the_option_and_the_range_and_send_nothing(vf, run_vf):
    r = run_vf({"instance": "web-1", "target_server": "2", "max_downtime": 3, "xfer_speed": 5, "abort_after": 10,
                "auto_converge": {"initial": 80, "increment": 20}})
    assert r["failed"] and r["msg"] == (
        "invalid VirtFusion migration options: xfer_speed must be from 10 to 8796093022206 (MiB/s), got 5; "
        "max_downtime must be from 5 to 9000 (milliseconds), got 3; abort_after must be from 60 to 86400 (seconds), "
        "got 10; auto_converge.initial must be from 1 to 70 (percent), got 80; auto_converge.increment must be from "
        "1 to 15 (percent), got 20")
    r = run_vf({"instance": "web-1", "target_server": "2", "auto_converge": {"enabled": False, "initial": 30}})
    assert r["failed"] and "apply only while auto-converge is enabled" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "2", "mode": "hybrid", "max_downtime": 300, "post_copy": True})
    assert r["failed"] and "max_downtime, post_copy apply only to mode=live" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "2", "mode": "hybrid", "xfer_speed": 1000})
    assert r["failed"] and "xfer_speed must be at most 596 MiB/s with mode=hybrid" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "2", "force_may_lose_data": "cancel"})
    assert r["failed"] and "force_may_lose_data=cancel applies only to state=cancelled" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "2", "mode": "warp"})
    assert r["failed"] and "mode" in r["msg"] and "live, hybrid" in r["msg"]
    r = run_vf({"instance": "web-1", "state": "switched"})
    assert r["failed"] and r["msg"] == ("web-1: state switched is not supported by provider virtfusion (its states: "
                                        "migrated, cancelled, aborted)")
    r = run_vf({"instance": "web-1"})
    assert r["failed"] and "target_server (the destination hypervisor, id or name) is required" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "hv-nowhere"})
    assert r["failed"] and "hypervisor 'hv-nowhere' not found; known: hv-ams-1, hv-ams-2, hv-fra-1" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "2", "resync": True})
    assert r["failed"] and "resync is an option of provider=triton, not of provider=virtfusion" in r["msg"]
    r = run_vf({"instance": "web-1", "target_server": "2"}, credentials={"host": "cp"})
    assert r["failed"] and "missing VirtFusion connection settings known_hosts_file, api_url, api_token" in r["msg"]
    assert vf.writes() == []


def test_an_option_of_one_provider_given_to_the_other_is_refused_naming_both(vf, run_vf):
    r = run_vf({"provider": "triton", "instance": "web-1", "max_downtime": 300, "mode": "live"})
    assert r["failed"] and r["msg"] == ("max_downtime, mode are an option of provider=virtfusion, not of provider=triton: "
                                        "drop them or set provider=virtfusion")
    # Triton connection options given with provider=virtfusion used to be ignored silently
    r = run_vf({"instance": "web-1", "target_server": "2", "url": "https://cloudapi.example", "api": "operator",
                "resync": True})
    assert r["failed"] and r["msg"] == ("api, resync, url are an option of provider=triton, not of "
                                        "provider=virtfusion: drop them or set provider=triton")
    assert vf.commands == [] and vf.requests == []
    # the connection dicts are not counted: module_defaults of both action groups give them to every task
    r = run_vf({"instance": "web-1", "target_server": "2", "triton_credentials": {"url": "https://cloudapi.example"}},
               check_mode=True)
    assert not r.get("failed"), r


def test_blank_names_are_refused_naming_the_option(vf, run_vf):
    for args, option in (({"instance": " ", "target_server": "2"}, "instance"),
                         ({"instances": ["web-1", ""], "target_server": "2"}, "instances"),
                         ({"instances": [], "target_server": "2"}, "instances"),
                         ({"instance": "web-1", "target_server": ""}, "target_server"),
                         ({"from_server": "hv-ams-1", "target_server": "2", "source_server": "  "}, "source_server")):
        r = run_vf(args)
        assert r["failed"] and r["msg"].startswith(option + " must"), (args, r["msg"])
    assert vf.commands == [] and vf.requests == []


def test_the_window_slides_a_new_migration_starts_when_one_finishes(vf, run_vf):
    gate = vf.hold[101] = threading.Event()
    seen = {}

    def release_when_web3_done():
        # web-1 holds its slot until web-2 and web-3 (started in web-2's freed slot) have finished
        while ("web-3", "complete") not in vf.finished:
            threading.Event().wait(0.01)
        seen["web1_running_while_web3_done"] = ("web-1", "complete") not in vf.finished
        gate.set()
    threading.Thread(target=release_when_web3_done, daemon=True).start()
    r = run_vf({"from_server": "hv-ams-1", "target_server": "hv-ams-2", "concurrency": 2})
    assert not r.get("failed"), r
    assert r["summary"] == {"ok": 3, "failed": 0, "skipped": 0, "changed": 3}
    assert seen["web1_running_while_web3_done"] is True
    assert [(m["instance"]["name"], m["target_server_name"], m["measured"]["downtime_ms"], m["bytes_sent"])
            for m in r["migrations"]] == [("web-1", "hv-ams-2", 4, 34196684), ("web-2", "hv-ams-2", 4, 34196684),
                                          ("web-3", "hv-ams-2", 4, 34196684)]
    r = run_vf({"from_server": "hv-ams-1", "target_server": "hv-ams-2", "concurrency": 2})
    assert not r["changed"] and r["migrations"] == []                     # nothing left on hv-ams-1


def test_a_failure_stops_new_starts_and_cancels_only_the_failed_one(vf, run_vf):
    vf.add_server(104, "web-4", 1)
    gate = vf.hold[101] = threading.Event()
    vf.fail_next[102] = ("transfer", "QEMU: migration failed")

    def release_after_web2_failed():
        while ("web-2", "cancelled") not in vf.finished:
            threading.Event().wait(0.01)
        gate.set()
    threading.Thread(target=release_after_web2_failed, daemon=True).start()
    r = run_vf({"from_server": "hv-ams-1", "target_server": "2", "concurrency": 2, "failed_action": "abort"})
    assert r["failed"] and r["msg"].startswith("1 of 4 migration(s) failed: web-2: transfer failed: QEMU: migration "
                                               "failed"), r["msg"]
    res = dict((m["instance"]["name"], m) for m in r["migrations"])
    assert res["web-1"]["result"] == "ok" and res["web-1"]["reached"] == "migrated"          # running one finished
    assert res["web-2"]["result"] == "failed" and res["web-2"]["cleanup"] == "cancelled"
    assert res["web-3"]["result"] == "skipped" and res["web-4"]["result"] == "skipped"       # never started
    assert r["summary"] == {"ok": 1, "failed": 1, "skipped": 2, "changed": 2}
    assert [c[3] for c in cmds(vf, "cancel")] == ["--server=102"] and no_force(vf)
    assert [c[3] for c in cmds(vf, "start")] == ["--server=101", "--server=102"]
    assert vf.servers[102]["hypervisorId"] == 1 and vf.servers[103]["hypervisorId"] == 1


def test_a_dropped_ssh_connection_is_reconnected_and_the_start_reattaches(vf, run_vf):
    vf.drop = [("after", "start")]              # the start ran, then the connection dropped before its answer
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert not r.get("failed") and r["reached"] == "migrated", r
    assert r["api_stats"]["ssh_reconnects"] == 1
    assert len(vf.migrations) == 1 and len(cmds(vf, "start")) == 2          # the second start re-attached
    vf.drop = [("before", "last-status"), ("before", "last-status")]
    r = run_vf({"instance": "web-2", "target_server": "2"})
    assert not r.get("failed") and r["api_stats"]["ssh_reconnects"] == 2 and r["reached"] == "migrated"


def test_a_connection_that_keeps_dropping_gives_up_with_a_clear_error(vf, run_vf):
    vf.drop = [("before", "start")] * 20
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert r["failed"] and "dropped" in r["msg"] and "gave up after 6 attempts" in r["msg"], r
    assert vf.migrations == {}


def test_hybrid_goes_through_the_rest_api(vf, run_vf):
    r = run_vf({"instance": "web-3", "target_server": "2", "mode": "hybrid", "compression": True, "xfer_speed": 12})
    assert not r.get("failed") and r["phases"] == ["hybrid"] and r["reached"] == "migrated", r
    post = [q for q in vf.requests if q[0] == "POST"]
    assert post == [("POST", "/api/v1/servers/103/migrate/hybrid",
                     {"destinationId": 2, "disks": [{"drive": "a", "storageId": 32}], "compress": True,
                      "speedLimit": 12582})]                            # 12 MiB/s = 12582.912 KB/s (no Mbps/8)
    assert cmds(vf, "start") == [] and r["migration"]["type"] == "hybrid" and r["server"]["after"] == 2
    r = run_vf({"instance": "web-3", "target_server": "2", "mode": "hybrid"})
    assert not r["changed"]


def test_secrets_never_appear_in_results(vf, run_vf):
    key = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
           "-----END OPENSSH PRIVATE KEY-----\n")
    creds = dict(VF_CREDENTIALS, private_key=key)
    r1 = run_vf({"instance": "web-1", "target_server": "2"}, credentials=creds)
    r2 = run_vf({"instance": "nope", "target_server": "2"}, credentials=creds)
    r3 = run_vf({"instance": "web-1", "target_server": "2"}, credentials=dict(creds, api_token="wrong-token-123456"))
    assert r2["failed"] and "server 'nope' not found" in r2["msg"]
    assert r3["failed"] and "Unauthenticated." in r3["msg"]
    body = json.dumps([r1, r2, r3])
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" not in body and "PRIVATE KEY" not in body
    assert VF_CREDENTIALS["api_token"] not in body and "wrong-token-123456" not in body
