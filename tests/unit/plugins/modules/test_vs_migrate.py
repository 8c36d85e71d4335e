# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vs_migrate against the in-memory controller (fake_avi)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.modules import vs_migrate


# -- vs_migrate ----------------------------------------------------------------------------------
def test_vs_migrate_check_mode_predicts(fake, run_module):
    result = run_module(vs_migrate, {"name": "vs3"}, check_mode=True, diff=True)
    assert result["changed"] is True
    # se1 is full (max_vs_per_se 2), se3 is the only eligible SE
    assert result["target"] == {"name": "se3", "uuid": "serviceengine-3", "created": False, "predicted": True}
    assert result["plan"]["predicted"] is True and result["plan"]["steps"] == [
        "migrate VS vs3 (vip 0) from se2 to se3 (predicted)"]
    assert fake.writes == []
    assert result["diff"]["before"] == {"placement": ["se2"]}


def test_vs_migrate_to_se_and_idempotence(fake, run_module):
    result = run_module(vs_migrate, {"name": "vs3", "to_se": "se3"}, diff=True)
    assert result["changed"] is True, result
    assert result["placement"] == {"before": ["se2"], "after": ["se3"]}
    assert result["target"]["name"] == "se3"
    assert result["target"]["prediction_met"] is True
    again = run_module(vs_migrate, {"name": "vs3", "to_se": "se3"})
    assert again["changed"] is False
    again = run_module(vs_migrate, {"name": "vs3", "from_se": "se2"})
    assert again["changed"] is False


def test_vs_migrate_refuses_full_target_before_calling_the_api(fake, run_module):
    result = run_module(vs_migrate, {"name": "vs3", "to_se": "se1"})
    assert result["failed"] and "full" in result["msg"]
    assert not [w for w in fake.writes if w[1].endswith("/migrate")]


def test_vs_migrate_refuses_legacy_active_standby(fake, run_module):
    result = run_module(vs_migrate, {"name": "vs4"})
    assert result["failed"] and "HA_MODE_LEGACY_ACTIVE_STANDBY" in result["msg"]
    assert not [w for w in fake.writes if w[1].endswith("/migrate")]


def test_vs_migrate_needs_from_se_on_several_ses(fake, run_module):
    fake.vss["virtualservice-3"]["placed"].append("serviceengine-3")
    result = run_module(vs_migrate, {"name": "vs3"})
    assert result["failed"] and "set from_se" in result["msg"]


def test_vs_migrate_unknown_names(fake, run_module):
    assert "virtualservice 'nope' not found" in run_module(vs_migrate, {"name": "nope"})["msg"]
    result = run_module(vs_migrate, {"name": "vs3", "to_se": "se-missing"})
    assert "serviceengine 'se-missing' not found" in result["msg"]
    result = run_module(vs_migrate, {"name": "vs3", "to_se": "se4"})
    assert "not in SE group" in result["msg"]


def test_vs_migrate_targets_are_mutually_exclusive(fake, run_module):
    result = run_module(vs_migrate, {"name": "vs3", "to_se": "se3", "to_new_se": True})
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_vs_migrate_refuses_blank_options_and_names_the_closest_host(fake, run_module):
    result = run_module(vs_migrate, {"name": "vs3", "to_se": ""})
    assert result["failed"] and result["msg"].startswith("to_se must not be empty or blank") and fake.calls == []
    result = run_module(vs_migrate, {"name": "vs3", "to_host": "esx-3"})
    assert result["failed"] and result["msg"].startswith("to_host: host 'esx-3' not found; known: esx-1, esx-2")
    assert fake.writes == []
