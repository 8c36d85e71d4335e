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


def test_se_group_needs_the_controller_first(ctl, run_module):
    result = run_module(cluster_upgrade, {"scope": "se_group", "se_group": "g1", "version": "22.1.7"})
    assert result["failed"]
    assert "scope=controller" in result["msg"] and "22.1.6" in result["msg"]
    assert started(ctl) == []


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


@pytest.mark.parametrize("version", ["22.1.7x", "22.1.7 foo", " 22.1.7", "22.1", "", "v22.1.7", "22.1.7-", "22.1.7-2q1"])
def test_versions_are_parsed_strictly(ctl, run_module, version):
    result = run_module(cluster_upgrade, {"scope": "controller", "version": version})
    assert result["failed"] and result["msg"].startswith("version must be an Avi version such as 22.1.7"), result
    assert ctl.calls == [] and started(ctl) == []


@pytest.mark.parametrize("version", ["22.1.7", "22.1.7-9300", "30.2.1-2p1"])
def test_the_forms_avi_versions_take_are_accepted(version):
    assert check_version(version) == version


def test_an_image_path_that_is_no_readable_file_is_refused_before_anything_changes(ctl, run_module, tmp_path):
    result = run_module(cluster_upgrade, {"scope": "controller", "image": str(tmp_path)})
    assert result["failed"] and result["msg"].startswith("image (a local package file): %s is not a file" % tmp_path)
    assert ctl.writes == []
