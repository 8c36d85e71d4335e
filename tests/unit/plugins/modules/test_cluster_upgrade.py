# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cluster_upgrade against an in-memory controller that upgrades (fake_avi_upgrade)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from types import SimpleNamespace

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.cluster_upgrade import _ClusterUpgrade
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import check_version
from ansible_collections.fleetops.maintenance.plugins.modules import cluster_upgrade
from fake_clock import FakeClock


def started(ctl):
    return [w for w in ctl.writes if w[1] in ("/api/upgrade", "/api/rollback", "/api/cluster/upgrade")
            or w[1].endswith("/upgrade") and "/serviceengine/" in w[1]]


def test_check_mode_plans_and_starts_nothing(ctl, run_module):
    result = run_module(cluster_upgrade, {"scope": "system", "version": "22.1.7"}, check_mode=True, diff=True)
    assert result["changed"] is True, result
    assert started(ctl) == []
    assert ctl.version == "22.1.6"
    nodes = dict((n["name"], n) for n in result["plan"]["nodes"])
    assert nodes["controller cluster"]["upgrade"] is True
    assert nodes["g1"]["order"] == ["se1", "se2", "se3"]
    # vs1, vs2 (se1) and vs3 (se2) sit on a single SE of the N+M group g1; vs4 is legacy A/S without a standby
    disrupted = dict((d["name"], d["reason"]) for d in result["plan"]["disrupted_virtual_services"])
    assert sorted(disrupted) == ["vs1", "vs2", "vs3", "vs4"]
    assert "single SE" in disrupted["vs1"] and "se1" in disrupted["vs1"]
    assert result["diff"]["after"]["versions"]["controller"] == "22.1.7"
    assert result["plan"]["prechecks"]["se_groups"], "the controller's dry run is part of the plan"


def test_controller_upgrade_rides_out_the_reboot_and_is_idempotent(ctl, run_module):
    result = run_module(cluster_upgrade, {"scope": "controller", "image": "controller-22.1.7-9300"})
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert ctl.version == "22.1.7"
    assert result["versions"] == {"before": {"controller": "22.1.6"}, "after": {"controller": "22.1.7"}}
    assert result["api_stats"]["relogins"] >= 1, "sessions end with the reboot: the module logs in again"
    assert result["api_stats"]["retries"] >= 1
    assert any("unavailable" in p["msg"] for p in result["progress"])
    assert result["cluster"]["state"] == "CLUSTER_UP_HA_ACTIVE"
    assert [w[2]["image_ref"].rsplit("/", 1)[-1] for w in started(ctl)] == ["image-22.1.7"]
    assert "system" not in started(ctl)[0][2] and "se_group_refs" not in started(ctl)[0][2]
    ctl.writes[:] = []
    again = run_module(cluster_upgrade, {"scope": "controller", "version": "22.1.7"})
    assert again["changed"] is False and not again.get("failed"), again
    assert started(ctl) == []


def test_se_group_needs_the_controller_first(ctl, run_module):
    result = run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g1", "version": "22.1.7"})
    assert result["failed"]
    assert "scope=controller" in result["msg"] and "22.1.6" in result["msg"]
    assert started(ctl) == []


def test_se_group_upgrade_then_no_change(ctl, run_module):
    ctl.version = "22.1.7"
    result = run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g1", "version": "22.1.7"}, diff=True)
    assert not result.get("failed"), result
    assert [ctl.se_version[u] for u in ("serviceengine-1", "serviceengine-2", "serviceengine-3")] == ["22.1.7"] * 3
    assert ctl.se_version["serviceengine-4"] == "22.1.6", "another group is left alone"
    body = started(ctl)[0][2]
    assert body["se_group_refs"][0].endswith("serviceenginegroup-1")
    assert body["se_group_options"] == {"action_on_error": "SUSPEND_UPGRADE_OPS_ON_ERROR", "disruptive": False}
    assert run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g1", "version": "22.1.7"})["changed"] is False


def test_a_failed_se_suspends_the_group_and_a_rerun_resumes(ctl, run_module):
    ctl.version = "22.1.7"
    ctl.fail_se.add("serviceengine-2")
    result = run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g1", "version": "22.1.7"})
    assert result["failed"]
    assert "UPGRADE_FSM_SUSPENDED" in result["msg"] and "g1" in result["msg"]
    assert result["status"]["service_engines"]["se2"]["state"] == "UPGRADE_FSM_ERROR"
    again = run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g1", "version": "22.1.7"})
    assert not again.get("failed"), again
    assert any(w[1] == "/api/resumesegroup" for w in ctl.writes)
    assert ctl.se_version["serviceengine-2"] == "22.1.7"


def test_cluster_that_does_not_reform_is_reported_with_the_vendor_reason(ctl, run_module):
    ctl.reform_fails = True
    result = run_module(cluster_upgrade, {"scope": "controller", "version": "22.1.7"})
    assert result["failed"]
    assert "UPGRADE_FSM_ABORTED" in result["msg"] and "did not re-form" in result["msg"]
    assert ctl.version == "22.1.6"
    assert result["status"]["controller"]["state"] == "UPGRADE_FSM_ABORTED"


def test_per_se_upgrade_and_a_controller_without_it(ctl, run_module):
    ctl.version = "22.1.7"
    result = run_module(cluster_upgrade, {"scope": "service_engine", "service_engine": "se3", "version": "22.1.7"})
    assert not result.get("failed"), result
    assert ctl.se_version["serviceengine-3"] == "22.1.7" and ctl.se_version["serviceengine-1"] == "22.1.6"
    assert started(ctl)[0][1] == "/api/serviceengine/serviceengine-3/upgrade"
    assert [d["name"] for d in result["plan"]["disrupted_virtual_services"]] == []  # se3 hosts nothing
    ctl.per_se_api = False
    result = run_module(cluster_upgrade, {"scope": "service_engine", "service_engine": "se1", "version": "22.1.7"})
    assert result["failed"] and "scope=se_group" in result["msg"]


def test_older_version_unknown_image_and_bad_input_are_refused(ctl, run_module):
    ctl.version = "22.1.7"
    result = run_module(cluster_upgrade, {"scope": "controller", "image": "controller-21.1.1-100"})
    assert result["failed"] and "rolled_back" in result["msg"]
    result = run_module(cluster_upgrade, {"scope": "controller", "image": "nope"})
    assert result["failed"] and "nope" in result["msg"] and "controller-22.1.7-9300" in result["msg"]
    result = run_module(cluster_upgrade, {"scope": "controller", "version": "latest"})
    assert result["failed"] and "version" in result["msg"] and "22.1.7" in result["msg"]
    result = run_module(cluster_upgrade, {"scope": "controller", "se_group": "g1", "version": "22.1.7"})
    assert result["failed"] and "scope=se_group" in result["msg"]
    result = run_module(cluster_upgrade, {"scope": "cluster", "version": "22.1.7"})
    assert result["failed"] and "controller, se_group, service_engine, system" in result["msg"]
    assert started(ctl) == []


def test_local_package_is_uploaded_once(ctl, run_module, tmp_path):
    package = tmp_path / "controller.pkg"
    package.write_bytes(b"not really a controller package")
    result = run_module(cluster_upgrade, {"scope": "controller", "image": str(package)}, check_mode=True)
    assert result["changed"] and "upload image controller.pkg" in result["plan"]["actions"]
    assert ctl.uploads == []
    result = run_module(cluster_upgrade, {"scope": "controller", "image": str(package)})
    assert not result.get("failed"), result
    assert len(ctl.uploads) == 1 and ctl.uploads[0][0].startswith("multipart/form-data")
    assert ctl.version == "22.1.8"


def test_rollback_goes_back_then_has_nothing_to_do(ctl, run_module):
    assert run_module(cluster_upgrade, {"scope": "controller", "version": "22.1.7"})["changed"]
    result = run_module(cluster_upgrade, {"scope": "controller", "state": "rolled_back"})
    assert not result.get("failed"), result
    assert result["changed"] and ctl.version == "22.1.6"
    again = run_module(cluster_upgrade, {"scope": "controller", "state": "rolled_back", "version": "22.1.6"})
    assert again["changed"] is False


def test_legacy_controller_takes_only_system_upgrades(ctl, run_module):
    ctl.version = "17.2.14"
    result = run_module(cluster_upgrade, {"scope": "controller", "version": "18.2.8"})
    assert result["failed"] and "scope=system" in result["msg"]
    result = run_module(cluster_upgrade, {"scope": "system", "image": "controller-22.1.7-9300"})
    assert result["failed"] and "controller://" in result["msg"]


def test_password_is_not_in_results(ctl, run_module):
    result = run_module(cluster_upgrade, {"scope": "controller", "version": "22.1.7"})
    assert "s3cret-pw" not in json.dumps(result)


def test_a_wait_that_runs_out_fails_with_the_partial_result_and_says_how_to_re_attach():
    clock = FakeClock()
    step = _ClusterUpgrade(SimpleNamespace(params={"timeout": 30, "wait_sleep": 5}), client=None,
                           clock=clock.clock, sleep=clock.sleep)
    step.result = {"changed": True, "scope": "controller"}
    with pytest.raises(ModuleFailure) as failure:
        step._wait(lambda: None, "the upgrade to 22.1.7")
    assert failure.value.msg == ("timed out after 30 seconds waiting for the upgrade to 22.1.7; the controller "
                                 "carries on: run the task again to re-attach")
    assert failure.value.result == {"changed": True, "scope": "controller"}
    assert step._wait(lambda: {"done": 1}, "anything") == {"done": 1}


def test_an_se_whose_enable_state_is_left_out_counts_as_enabled(ctl, run_module, monkeypatch):
    # the API may leave a field at its default out of a response; enable_state's default is SE_STATE_ENABLED
    # (ServiceEngine.json), and the role turns placement off and back on only for an enabled SE
    full = ctl.se_config
    monkeypatch.setattr(ctl, "se_config", lambda se: dict((k, v) for k, v in full(se).items() if k != "enable_state"))
    result = run_module(cluster_upgrade, {"scope": "service_engine", "service_engine": "se1", "version": "22.1.7"},
                        check_mode=True)
    assert result["status"]["service_engines"]["se1"]["enable_state"] == "SE_STATE_ENABLED", result["status"]


@pytest.mark.parametrize("version", ["22.1.7x", "22.1.7 foo", " 22.1.7", "22.1", "", "v22.1.7", "22.1.7-", "22.1.7-2q1"])
def test_versions_are_parsed_strictly(ctl, run_module, version):
    result = run_module(cluster_upgrade, {"scope": "controller", "version": version})
    assert result["failed"] and result["msg"].startswith("version must be an Avi version such as 22.1.7"), result
    assert ctl.calls == [] and started(ctl) == []


@pytest.mark.parametrize("version", ["22.1.7", "22.1.7-9300", "30.2.1-2p1"])
def test_the_forms_avi_versions_take_are_accepted(version):
    assert check_version(version) == version


def test_unknown_or_blank_scopes_are_refused_with_candidates(ctl, run_module):
    result = run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g7", "version": "22.1.7"})
    assert result["failed"] and result["msg"].startswith("se_group: SE group 'g7' not found; known: g1, g2")
    result = run_module(cluster_upgrade, {"scope": "service_engine", "service_engine": "", "version": "22.1.7"})
    assert result["failed"] and result["msg"].startswith("service_engine must not be empty or blank")
    assert started(ctl) == []


def test_an_image_path_that_is_no_readable_file_is_refused_before_anything_changes(ctl, run_module, tmp_path):
    result = run_module(cluster_upgrade, {"scope": "controller", "image": str(tmp_path)})
    assert result["failed"] and result["msg"].startswith("image (a local package file): %s is not a file" % tmp_path)
    assert ctl.writes == []


def test_the_upgrade_plan_reads_vip_summary_as_one_object_or_a_list(ctl, run_module):
    as_list = run_module(cluster_upgrade, {"scope": "system", "version": "22.1.7"}, check_mode=True)
    ctl.vip_summary_object = True   # VsInventory.runtime.vip_summary as one VipSummary object (22.1.1+)
    as_object = run_module(cluster_upgrade, {"scope": "system", "version": "22.1.7"}, check_mode=True)
    assert as_object["plan"]["disrupted_virtual_services"] == as_list["plan"]["disrupted_virtual_services"]
    assert sorted(d["name"] for d in as_object["plan"]["disrupted_virtual_services"]) == ["vs1", "vs2", "vs3", "vs4"]


def test_a_run_executes_the_steps_its_check_mode_planned(ctl, run_module):
    plan = run_module(cluster_upgrade, {"scope": "controller", "version": "22.1.7"}, check_mode=True)
    assert plan["plan"]["actions"] == ["upgrade controller to 22.1.7", "wait until controller runs 22.1.7"]
    run = run_module(cluster_upgrade, {"scope": "controller", "version": "22.1.7"})
    assert run["plan"]["actions"] == plan["plan"]["actions"] and not run.get("failed"), run
    assert [w[1] for w in started(ctl)] == ["/api/upgrade"] and ctl.version == "22.1.7"
