# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""se_disable against the in-memory controller (fake_avi)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.fleetops.maintenance.plugins.modules import se_disable


def placed(fake, vs_name):
    vs = [v for v in fake.vss.values() if v["name"] == vs_name][0]
    return sorted(fake.ses[s]["name"] for s in vs["placed"])


# -- se_disable --------------------------------------------------------------------------------
def test_se_disable_check_mode_plans_without_writing(fake, run_module):
    result = run_module(se_disable, {"name": "se1"}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert fake.writes == []
    assert [(m["name"], m["to_se"]) for m in result["moves"]] == [("vs1", "se2"), ("vs2", "se3")]
    assert result["plan"]["moves"][0]["to_se"] == "se2"
    assert result["diff"]["after"]["placement"] == {"vs1 (vip 0)": ["se2 (predicted)"], "vs2 (vip 0)": ["se3 (predicted)"]}
    assert result["plan"]["predicted"] is True and "prediction" in result["plan"]["prediction"]
    assert placed(fake, "vs1") == ["se1"]


def test_se_disable_controller_method_then_idempotent(fake, run_module):
    result = run_module(se_disable, {"name": "se1"}, diff=True)
    assert result["changed"] is True, result
    puts = [w for w in fake.writes if w[0] == "PUT" and "/serviceengine/" in w[1]]
    assert len(puts) == 1 and puts[0][2]["enable_state"] == "SE_STATE_DISABLED"
    # the operator's enable_state is on record until the SE is enabled again; the lease is released
    recorded = fake.intent("serviceengine-1")
    assert result["intent"]["record"]
    assert recorded == {"se/serviceengine-1": {"was": "SE_STATE_ENABLED", "run": recorded["se/serviceengine-1"]["run"]}}
    assert result["verified"]["problems"] == []
    assert all(m["result"] == "moved" for m in result["moves"])
    assert result["service_engine"]["enable_state"] == {"before": "SE_STATE_ENABLED", "after": "SE_STATE_DISABLED"}
    assert "se1" not in placed(fake, "vs1") + placed(fake, "vs2")
    fake.writes[:] = []
    again = run_module(se_disable, {"name": "se1"})
    assert again["changed"] is False
    assert fake.writes == []


def test_se_disable_refuses_when_the_group_cannot_absorb(fake, run_module):
    fake.groups["serviceenginegroup-1"]["max_se"] = 3
    fake.ses["serviceengine-3"]["enable_state"] = "SE_STATE_DISABLED"
    result = run_module(se_disable, {"name": "se1"})
    assert result["failed"]
    assert "cannot absorb" in result["msg"] and "max_se" in result["msg"]
    assert fake.writes == []


def test_se_disable_per_vs_migrates_each_then_disables(fake, run_module):
    result = run_module(se_disable, {"name": "se1", "method": "per_vs", "concurrency": 2})
    assert result["changed"] is True, result
    states = [w[2]["enable_state"] for w in fake.writes if w[0] == "PUT" and "/serviceengine/" in w[1]]
    assert states == ["SE_STATE_DISABLED_FOR_PLACEMENT", "SE_STATE_DISABLED"]
    migrates = [w for w in fake.writes if w[1].endswith("/migrate")]
    assert len(migrates) == 2
    assert all(w[2]["from_se_ref"].endswith("serviceengine-1") for w in migrates)
    assert sorted(m["result"] for m in result["moves"]) == ["moved", "moved"]


def test_se_disable_per_vs_failure_then_rerun_converges(fake, run_module):
    fake.fail_migrate.add("virtualservice-2")
    result = run_module(se_disable, {"name": "se1", "method": "per_vs"})
    assert result["failed"]
    assert "vs2" in result["msg"] and "run the task again" in result["msg"]
    assert placed(fake, "vs2") == ["se1"]  # still serving where it was
    assert fake.ses["serviceengine-1"]["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    again = run_module(se_disable, {"name": "se1", "method": "per_vs"})
    assert again["changed"] is True and not again.get("failed"), again
    assert fake.ses["serviceengine-1"]["enable_state"] == "SE_STATE_DISABLED"
    assert "se1" not in placed(fake, "vs2")


def test_se_disable_controller_failure_lists_what_is_left_and_rerun_converges(fake, run_module):
    fake.fail_migrate.add("virtualservice-2")
    result = run_module(se_disable, {"name": "se1"})
    assert result["failed"]
    assert "vs2" in result["msg"] and "FINISHED_WITH_FAILURE" in result["msg"] and "vs1" not in result["msg"]
    assert placed(fake, "vs2") == ["se1"]  # keeps serving
    again = run_module(se_disable, {"name": "se1"})
    assert again["changed"] is True and not again.get("failed"), again
    assert "se1" not in placed(fake, "vs2")
    assert [m["name"] for m in again["moves"]] == ["vs2"]
    assert run_module(se_disable, {"name": "se1"})["changed"] is False


def test_se_disable_counts_no_room_where_the_cloud_does_not_say_it_may_create_ses(fake, run_module):
    # se2/se3 take nothing new, so a new SE is needed; the cloud object does not show its access mode (a
    # controller the lab does not play: the lab always shows it), so whether an SE can be created is unknown:
    # unknown is no room, and nothing changes
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


def test_se_enable_and_disabled_for_placement(fake, run_module):
    result = run_module(se_disable, {"name": "se2", "state": "disabled_for_placement"})
    assert result["changed"] and fake.ses["serviceengine-2"]["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert placed(fake, "vs3") == ["se2"]
    assert run_module(se_disable, {"name": "se2", "state": "disabled_for_placement"})["changed"] is False
    result = run_module(se_disable, {"name": "se2", "state": "enabled"})
    assert result["changed"] and fake.ses["serviceengine-2"]["enable_state"] == "SE_STATE_ENABLED"


def test_se_disable_rejects_bad_choices(fake, run_module):
    result = run_module(se_disable, {"name": "se1", "state": "off"})
    assert result["failed"] and "state" in result["msg"] and "disabled_for_placement" in result["msg"]


# -- refusals before anything changes --------------------------------------------------------------
@pytest.mark.parametrize("args,option", [({"name": ""}, "name"), ({"name": "   "}, "name"), ({"uuid": " "}, "uuid")])
def test_se_disable_refuses_a_blank_name_or_uuid_before_any_call(fake, run_module, args, option):
    # an empty name used to match the first SE of the controller (an empty ?name= filter matches everything)
    result = run_module(se_disable, args)
    assert result["failed"] and result["msg"].startswith(option + " must not be empty or blank")
    assert fake.calls == [] and fake.writes == []


def test_se_disable_refuses_a_name_that_matches_nothing_listing_the_closest(fake, run_module):
    result = run_module(se_disable, {"name": "se9"})
    assert result["failed"] and result["msg"].startswith("name: serviceengine 'se9' not found; known: se1, se2")
    assert fake.writes == []


def test_se_disable_plans_the_same_from_either_shape_of_vip_summary(fake, run_module):
    as_list = run_module(se_disable, {"name": "se1"}, check_mode=True)
    fake.vip_summary_object = True   # VsInventory.runtime.vip_summary as one VipSummary object (22.1.1+)
    as_object = run_module(se_disable, {"name": "se1"}, check_mode=True)
    assert as_object["plan"] == as_list["plan"] and [m["to_se"] for m in as_object["moves"]] == ["se2", "se3"]
    assert fake.writes == []


@pytest.mark.parametrize("wait,state,steps", [
    (True, "SE_STATE_ENABLED", ["set enable_state SE_STATE_DISABLED",
                                "wait for the controller to evacuate 2 virtual service(s)"]),
    (False, "SE_STATE_ENABLED", ["set enable_state SE_STATE_DISABLED"]),
    (True, "SE_STATE_DISABLED_FOR_PLACEMENT", ["set enable_state SE_STATE_DISABLED",
                                               "wait for the controller to evacuate 2 virtual service(s)"]),
])
def test_se_disable_runs_exactly_the_steps_check_mode_planned(fake, run_module, wait, state, steps):
    fake.ses["serviceengine-1"]["enable_state"] = state
    plan = run_module(se_disable, {"name": "se1", "wait": wait}, check_mode=True)
    assert plan["plan"]["actions"] == steps and fake.writes == []
    run = run_module(se_disable, {"name": "se1", "wait": wait})
    assert run["plan"]["actions"] == steps
    assert [w[2]["enable_state"] for w in fake.writes if w[0] == "PUT" and "/serviceengine/" in w[1]] == [
        "SE_STATE_DISABLED"]


# -- outcomes the sources disagree on, or cannot tell ----------------------------------------------
def test_se_disable_per_vs_fails_when_the_event_log_contradicts_the_placement(fake, run_module):
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


def test_se_disable_per_vs_fails_when_the_event_log_cannot_be_read(fake, run_module):
    fake.events_status = 404
    result = run_module(se_disable, {"name": "se1", "method": "per_vs"})
    assert result["failed"] and "event log could not be read" in result["msg"]
    # the VSs moved (make-before-break): nothing lost; a re-run with the event log back verifies and converges
    assert "se1" not in placed(fake, "vs1") + placed(fake, "vs2")
    fake.events_status = 200
    again = run_module(se_disable, {"name": "se1", "method": "per_vs"})
    assert not again.get("failed") and again["verified"]["problems"] == [], again


def test_se_enabled_restores_the_state_recorded_before_the_evacuation(fake, run_module):
    # the operator had se1 closed to placement; an evacuation recorded that before disabling it
    fake.ses["serviceengine-1"]["enable_state"] = "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert not run_module(se_disable, {"name": "se1"}).get("failed")
    assert fake.intent("serviceengine-1")["se/serviceengine-1"]["was"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    result = run_module(se_disable, {"name": "se1", "state": "enabled"})
    assert result["service_engine"]["enable_state"]["after"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert fake.ses["serviceengine-1"]["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert fake.stringgroups == {}    # the record is gone once restored


def test_se_disable_rerun_waits_out_the_evacuation_an_interrupted_run_left_running(fake, run_module):
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


def test_se_disable_with_nothing_to_change_releases_the_lease_of_a_killed_run(fake, run_module):
    # a run killed after its work was done left its lease; a re-run changes nothing and leaves the record as an
    # uninterrupted run does: the SE's recorded state, no lease (a live lease of a run elsewhere is left alone)
    import json
    import socket
    import subprocess
    assert run_module(se_disable, {"name": "se1"})["changed"] is True
    dead = subprocess.Popen(["true"])
    dead.wait()
    group = [g for g in fake.stringgroups.values() if g["name"].endswith("serviceengine-1")][0]
    lease = {"run": "%s-%d-0abc" % (socket.gethostname(), dead.pid), "host": socket.gethostname(),
             "since": 0, "expires": 4102444800}
    group["kv"].append({"key": "owner", "value": json.dumps(lease)})
    assert "owner" in fake.intent("serviceengine-1")
    again = run_module(se_disable, {"name": "se1"})
    assert again["changed"] is False and not again.get("failed"), again
    assert sorted(fake.intent("serviceengine-1")) == ["se/serviceengine-1"]
    elsewhere = dict(lease, host="elsewhere", run="elsewhere-1-0abc")
    group = [g for g in fake.stringgroups.values() if g["name"].endswith("serviceengine-1")][0]
    group["kv"].append({"key": "owner", "value": json.dumps(elsewhere)})
    assert run_module(se_disable, {"name": "se1"})["changed"] is False
    assert fake.intent("serviceengine-1")["owner"] == elsewhere
