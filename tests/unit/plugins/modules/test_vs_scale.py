# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vs_scale against an in-memory controller (fake_avi_upgrade)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.modules import vs_scale


# -- vs_scale ------------------------------------------------------------------------------------
def test_vs_scale_out_and_back_in(ctl, run_module):
    # se1 is full (max_vs_per_se 2): the controller's choice is se3
    result = run_module(vs_scale, {"name": "vs3", "state": "scaled_out"}, check_mode=True, diff=True)
    assert result["changed"] and result["added_service_engines"] == ["se3"]
    assert [w for w in ctl.writes if w[1].endswith("/scaleout")] == []
    result = run_module(vs_scale, {"name": "vs3", "state": "scaled_out"})
    assert not result.get("failed"), result
    assert result["placement"] == {"before": ["se2"], "after": ["se2", "se3"]}
    assert result["added_service_engines"] == ["se3"]
    assert run_module(vs_scale, {"name": "vs3", "state": "scaled_out"})["changed"] is False
    result = run_module(vs_scale, {"name": "vs3", "state": "scaled_in", "from_se": "se3"})
    assert result["changed"] and result["placement"]["after"] == ["se2"]
    assert run_module(vs_scale, {"name": "vs3", "state": "scaled_in", "from_se": "se3"})["changed"] is False


def test_vs_scale_refusals(ctl, run_module):
    result = run_module(vs_scale, {"name": "vs3", "state": "scaled_in", "from_se": "se2"})
    assert result["failed"] and "min_scaleout_per_vs" in result["msg"]
    result = run_module(vs_scale, {"name": "vs4", "state": "scaled_out"})
    assert result["failed"] and "legacy" in result["msg"].lower()
    result = run_module(vs_scale, {"name": "vs3", "state": "scaled_in"})
    assert result["failed"] and "from_se" in result["msg"]
    assert [w for w in ctl.writes if w[1].endswith(("/scaleout", "/scalein"))] == []


def test_vs_scale_refuses_blank_and_unknown_names(ctl, run_module):
    result = run_module(vs_scale, {"name": "vs1", "to_se": "  "})
    assert result["failed"] and result["msg"].startswith("to_se must not be empty or blank") and ctl.calls == []
    result = run_module(vs_scale, {"name": "vs1", "state": "scaled_in", "from_se": "se7"})
    assert result["failed"] and result["msg"].startswith("from_se: serviceengine 'se7' not found")
    assert ctl.writes == []
