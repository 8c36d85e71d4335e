# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_migrate against the FakeTriton, for what the lab cannot produce (tests/unit/fake_triton.py says why):
answers of CloudAPIs and CNAPIs the lab does not stand for, and a request whose answer was lost. Everything else
(the phases, wrong states, failed phases and the failure policy, pre-checks, the refusals of bad input, the
secrecy of the key) runs end to end against the lab (tests/integration/test_triton_playbooks.py,
test_triton_phases.py, test_refuse_bad_input.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def test_answers_the_vendor_does_not_give_block_unless_accepted(triton, run_triton):
    """(The lab stands for a CloudAPI with the estimate route and a CNAPI that shows capacity.)"""
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
    """(The lab answers every request that went through.)"""
    run_triton({"instance": "web-1", "state": "synced"})
    triton.lost_answer.add("sync")      # the resync starts, but the module hears 412 (its retry's answer)
    r = run_triton({"instance": "web-1", "state": "switched", "resync": True})
    assert not r.get("failed"), r
    assert r["phases"] == ["sync", "switch"], r
    assert [a for _n, a in triton.started] == ["begin", "sync", "sync", "switch"]
