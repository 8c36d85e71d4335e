# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cluster_upgrade's pieces that need no controller: a wait that runs out, and the version forms.

Its refusals of bad input (a version that is no Avi version, a package path that is no file, an SE group before
the controller) and the secrecy of its password run end to end against the lab (tests/integration/
test_refuse_bad_input.py, test_upgrade_options.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from types import SimpleNamespace

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.cluster_upgrade import _ClusterUpgrade
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import check_version
from fake_clock import FakeClock


def test_a_wait_that_runs_out_fails_with_the_partial_result_and_says_how_to_re_attach():
    """(A fake clock: the lab would make the test wait the timeout out in real time.)"""
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
def test_versions_are_parsed_strictly(version):
    with pytest.raises(ValueError) as refused:
        check_version(version)
    assert str(refused.value).startswith("version must be an Avi version such as 22.1.7"), refused.value


@pytest.mark.parametrize("version", ["22.1.7", "22.1.7-9300", "30.2.1-2p1"])
def test_the_forms_avi_versions_take_are_accepted(version):
    assert check_version(version) == version
