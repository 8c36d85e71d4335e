# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""se_disable against the in-memory controller (fake_avi), for what the lab cannot produce: a cloud object that
does not show the controller's access mode, an event log that contradicts the placement, and an SE caught still
disabling when a re-run starts. Everything else runs
end to end against the lab: evacuation by both methods, check mode, idempotence, the run that executes its plan, a
failed move and its re-run, the record and leases across runs, the refusals (tests/integration/test_playbooks.py,
test_avi_options.py, test_avi_otherwise.py, test_avi_takeover.py, test_evacuate_se_crash.py,
test_avi_move_back.py, test_refuse_bad_input.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.modules import se_disable


def test_se_disable_counts_no_room_where_the_cloud_does_not_say_it_may_create_ses(fake, run_module):
    """(The lab's cloud objects always show their access mode.)"""
    # se2/se3 take nothing new, so a new SE is needed; the cloud object does not show its access mode, so whether an
    # SE can be created is unknown: unknown is no room, and nothing changes
    fake.ses["serviceengine-2"]["enable_state"] = "SE_STATE_DISABLED_FOR_PLACEMENT"
    fake.ses["serviceengine-3"]["enable_state"] = "SE_STATE_DISABLED_FOR_PLACEMENT"
    del fake.clouds["cloud-1"]["vcenter_configuration"]
    result = run_module(se_disable, {"name": "se1"})
    assert result["failed"] and "privilege: whether the controller may create service engines there is unknown" \
        in result["msg"]
    assert fake.writes == []
    fake.clouds["cloud-1"]["vcenter_configuration"] = {"privilege": "WRITE_ACCESS"}
    plan = run_module(se_disable, {"name": "se1"}, check_mode=True)
    assert plan["plan"]["created_service_engines"] == ["new SE 1"]
    assert plan["plan"]["capacity"]["host_capacity"].startswith("unknown")


def test_se_disable_per_vs_fails_when_the_event_log_contradicts_the_placement(fake, run_module):
    """(The lab is consistent: its event log never contradicts its placement.)"""
    # vs2 moves (its placement says so) but the controller logs VS_MIGRATE_FAILED for it: the outcome is
    # unknown, and unknown fails the step, naming the event
    fake.migrate_events["virtualservice-2"] = {
        "event_id": "VS_MIGRATE_FAILED", "module": "VSMGR", "report_timestamp": 1700000000,
        "obj_type": "VIRTUALSERVICE", "obj_uuid": "virtualservice-2", "obj_name": "vs2",
        "event_description": "Virtual service vs2 migrate failed",
        "event_details": {"vs_migrate_details": {"vs_uuid": "virtualservice-2", "error_message": "rpc timeout"}}}
    result = run_module(se_disable, {"name": "se1", "method": "per_vs"})
    assert result["failed"] and "outcome is unknown" in result["msg"]
    assert "VS_MIGRATE_FAILED" in result["msg"] and "rpc timeout" in result["msg"] and "vs1:" not in result["msg"]


def test_se_disable_rerun_waits_out_the_evacuation_an_interrupted_run_left_running(fake, run_module):
    """(An exact timing: the lab shows it only by killing a run at that moment, a kill point CI does not take.)"""
    # a killed run set the SE disabled; the controller has moved its VSs but is still disabling it: a re-run has
    # nothing to change, and reports success only once the SE is disabled (the end state verified)
    assert run_module(se_disable, {"name": "se1"})["changed"] is True
    se = fake.ses["serviceengine-1"]
    se["oper"], se["migrate_state"] = "OPER_DISABLING", "SE_MIGRATE_STATE_STARTED"
    polls = []
    send = fake.send

    def settling(client, method, url, body=None):
        if method == "GET" and "/serviceengine-inventory" in url:
            polls.append(url)
            if len(polls) >= 3:
                se["oper"], se["migrate_state"] = "OPER_DISABLED", "SE_MIGRATE_STATE_FINISHED"
        return send(client, method, url, body)
    fake.send = settling
    again = run_module(se_disable, {"name": "se1", "wait_sleep": 0})
    assert again["changed"] is False and not again.get("failed"), again
    assert se["oper"] == "OPER_DISABLED" and len(polls) >= 3
    assert again["verified"]["problems"] == []
