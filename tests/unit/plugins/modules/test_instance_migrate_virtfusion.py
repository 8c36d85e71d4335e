# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_migrate with provider=virtfusion against the FakeVirtFusion, for what the lab does not show
(tests/unit/fake_virtfusion.py says why): the vendor's answers in other forms than the lab's (status words
among other text, a status with none of them, REST objects without the lab's fields, an unknown server
state, hypervisors on several pages), a console cut in the middle, last-debug's tail with a secret in it;
and the refusals of bad input. Everything else runs end to end against the lab
(tests/integration/test_virtfusion_playbooks.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from fake_virtfusion import VF_CREDENTIALS

ACCEPT = ["storage_enabled", "destination_ssh", "cpu_compatible", "nat_interfaces"]   # no read-only vendor call


def cmds(vf, name):
    return [c for c in vf.commands if c[2] == name]


def test_the_documented_forms_are_enough_steps_from_the_console_outcome_from_status_and_listing(vf, run_vf):
    r = run_vf({"instance": "web-1", "target_server": "hv-ams-2", "accept_unverified": ACCEPT, "xfer_speed": 100})
    assert not r.get("failed"), r
    assert r["phases"] == ["start"] and r["reached"] == "migrated" and r["server"] == {"before": 1, "after": 2}
    assert cmds(vf, "start") == [["vfcli-ctrl", "server:migrate-live", "start", "--server=101", "--dst=2",
                                  "--xfer-speed=100"]]                # attached, no --detach: the console is read
    steps = [(p["phase"], p["msg"]) for p in r["progress"] if p["msg"].startswith("web-1: [")]
    assert ("transfer-data", "web-1: [complete] Transfer data") in steps and len(steps) == 12, steps
    assert "measured" not in r and r["downtime_seconds"] is None       # the vendor documents no numbers
    checks = dict((c["name"], c["result"]) for c in r["prechecks"])
    assert checks == {"server_state": "pass", "storage": "pass", "ip_addresses": "pass", "storage_enabled": "accepted",
                      "destination_ssh": "accepted", "cpu_compatible": "accepted", "nat_interfaces": "accepted"}
    # hypervisors on two pages of GET /compute/hypervisors: hv-fra-1 (page 2) is found
    r = run_vf({"instance": "web-2", "target_server": "hv-fra-1", "accept_unverified": ACCEPT}, check_mode=True)
    assert not r.get("failed") and r["plan"]["target_server_name"] == "hv-fra-1", r
    assert [q[1] for q in vf.requests if "hypervisors" in q[1]][:2] == ["/api/v1/compute/hypervisors"] * 2


def test_status_words_are_read_whole_and_an_answer_without_one_fails_closed(vf, run_vf):
    vf.last[101] = {"status": "in-progress", "dst": 2, "cancelled": False, "step": 0}
    vf.status_text[101] = "Live migration of server 101: Complete.\n"   # another wording around the word
    vf.servers[101]["hv"] = 2
    r = run_vf({"instance": "web-1", "target_server": "2"})
    assert not r.get("failed") and not r["changed"] and r["reached"] == "migrated", r
    vf.status_text[102] = "Live migration of server 102: stalled\n"     # none of complete, in-progress, failed
    r = run_vf({"instance": "web-2", "target_server": "2", "accept_unverified": ACCEPT})
    assert r["failed"] and "last-status answered none of the statuses complete, in-progress, failed: Live " \
        "migration of server 102: stalled" in r["msg"], r
    assert cmds(vf, "start") == []


def test_a_console_cut_mid_way_is_reattached_with_the_same_start(vf, run_vf):
    vf.drop_console = 1
    r = run_vf({"instance": "web-1", "target_server": "2", "accept_unverified": ACCEPT})
    assert not r.get("failed") and r["reached"] == "migrated", r
    assert len(cmds(vf, "start")) == 2 and cmds(vf, "start")[0] == cmds(vf, "start")[1]   # the same command twice
    assert vf.servers[101]["hv"] == 2


def test_a_failure_carries_the_tail_of_last_debug_with_secrets_masked(vf, run_vf):
    vf.fail_next[101] = "QEMU: migration failed: connection reset"
    r = run_vf({"instance": "web-1", "target_server": "2", "accept_unverified": ACCEPT})
    assert r["failed"] and "web-1: " in r["msg"] and "QEMU: migration failed: connection reset" in r["msg"], r
    assert "last-debug (last 4 lines): 2026-01-01T00:00:00 step transfer: in-progress | QMP migrate" in r["msg"]
    assert r["debug_tail"][2] == "api token=******** used for the destination"
    assert "s3cr3t-debug-token" not in json.dumps(r)


def test_unknown_server_states_and_missing_destination_detail_block_unless_accepted(vf, run_vf):
    vf.servers[102]["state"] = "awaiting setup"            # a state word the vendor does not document
    vf.servers[103]["state"] = None                        # no state at all
    vf.destination_fields = ("disks",)                     # no networking detail
    r = run_vf({"from_server": "hv-ams-1", "target_server": "2", "accept_unverified": ACCEPT}, check_mode=True)
    assert r["failed"] and "pre-checks failed, nothing was moved: 3 of 3 server(s) cannot be migrated" in r["msg"], r
    entries = dict((e["name"], e) for e in r["plan"]["prechecks"])
    assert [c["result"] for c in entries["web-2"]["checks"]][:3] == ["unknown", "pass", "unknown"]
    assert "server 102 is in state 'awaiting setup', which the module does not know" in r["msg"]
    assert "server_state unverified: the server object shows no state" in r["msg"]
    assert "ip_addresses unverified: the answer shows no networking detail (accept it with accept_unverified: " \
           "[ip_addresses])" in r["msg"]
    r = run_vf({"from_server": "hv-ams-1", "target_server": "2", "accept_unverified": ACCEPT + [
        "server_state", "ip_addresses"]}, check_mode=True)
    assert not r.get("failed"), r
    r = run_vf({"instance": "web-1", "target_server": "2", "accept_unverified": ["ssh"]})
    assert r["failed"] and r["msg"] == (
        "accept_unverified: ssh is no pre-check of provider=virtfusion; its pre-checks: server_state, storage, "
        "ip_addresses, storage_enabled, destination_ssh, cpu_compatible, nat_interfaces, capacity")
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
    r = run_vf({"instance": "web-1", "target_server": "2", "triton_credentials": {"url": "https://cloudapi.example"},
                "accept_unverified": ACCEPT}, check_mode=True)
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


def test_secrets_never_appear_in_results(vf, run_vf):
    key = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
           "-----END OPENSSH PRIVATE KEY-----\n")
    creds = dict(VF_CREDENTIALS, private_key=key)
    r1 = run_vf({"instance": "web-1", "target_server": "2", "accept_unverified": ACCEPT}, credentials=creds)
    r2 = run_vf({"instance": "nope", "target_server": "2"}, credentials=creds)
    r3 = run_vf({"instance": "web-1", "target_server": "2"}, credentials=dict(creds, api_token="wrong-token-123456"))
    assert r2["failed"] and "server 'nope' not found" in r2["msg"]
    assert r3["failed"] and "Unauthenticated." in r3["msg"]
    body = json.dumps([r1, r2, r3])
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" not in body and "PRIVATE KEY" not in body
    assert VF_CREDENTIALS["api_token"] not in body and "wrong-token-123456" not in body
