# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_migrate with provider=virtfusion against the FakeVirtFusion, for what the lab cannot produce
(tests/unit/fake_virtfusion.py says why): the vendor's answers in other forms than the lab's (status words among
other text, a status with none of them, an unknown server state, a destination without networking detail,
hypervisors on several pages), last-debug's tail with a secret in it. Everything else, a console cut in the
middle, the refusals of bad input and the secrecy of the credentials included, runs end to end against the lab
(tests/integration/test_virtfusion_playbooks.py, test_virtfusion_fleet.py, test_refuse_bad_input.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

ACCEPT = ["storage_enabled", "destination_ssh", "cpu_compatible", "nat_interfaces"]   # no read-only vendor call


def cmds(vf, name):
    return [c for c in vf.commands if c[2] == name]


def test_the_documented_forms_are_enough_steps_from_the_console_outcome_from_status_and_listing(vf, run_vf):
    """(The lab shows more than the vendor documents, and its hypervisors fit on one page.)"""
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
    """(The lab words its statuses one way only.)"""
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


def test_a_failure_carries_the_tail_of_last_debug_with_secrets_masked(vf, run_vf):
    """(The lab's last-debug holds no secret.)"""
    vf.fail_next[101] = "QEMU: migration failed: connection reset"
    r = run_vf({"instance": "web-1", "target_server": "2", "accept_unverified": ACCEPT})
    assert r["failed"] and "web-1: " in r["msg"] and "QEMU: migration failed: connection reset" in r["msg"], r
    assert "last-debug (last 4 lines): 2026-01-01T00:00:00 step transfer: in-progress | QMP migrate" in r["msg"]
    assert r["debug_tail"][2] == "api token=******** used for the destination"
    assert "s3cr3t-debug-token" not in json.dumps(r)


def test_unknown_server_states_and_missing_destination_detail_block_unless_accepted(vf, run_vf):
    """(The lab's servers have known states, and its destinations show their networking.)"""
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
