# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""se_info's settle loop against the in-memory controller (fake_avi): a read that must come again because a
migration settles between two reads is an exact timing the lab does not give on demand (the rest of se_info is
proven end to end: tests/integration/test_avi_options.py, test_avi_generations.py, test_refuse_bad_input.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.modules import se_info


def test_se_info_settle_reads_again_until_the_vs_is_on_its_se_and_off_the_old_one(fake, run_module, monkeypatch):
    from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviClient
    pauses = []

    def settle_on_pause(seconds):   # the controller finishes the move while the module pauses (twice)
        pauses.append(seconds)
        placed = fake.vss["virtualservice-1"]["placed"]
        if len(pauses) == 1:
            placed.append("serviceengine-3")        # on both: still settling
        else:
            placed.remove("serviceengine-1")
    init = AviClient.__init__

    def init_with_fake_sleep(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.retry.sleep = settle_on_pause
    monkeypatch.setattr(AviClient, "__init__", init_with_fake_sleep)
    result = run_module(se_info, {"settle": [{"name": "vs1", "on_se": "se3", "off_se": "se1"}]})
    assert not result.get("failed"), result
    assert result["settled"] is True and result["unsettled"] == [] and result["reads"] == 3
    assert pauses == [0.25, 0.5]
    vs1 = [v for v in result["virtual_services"] if v["name"] == "vs1"][0]
    assert [e["name"] for e in vs1["placement"][0]["service_engines"]] == ["se3"]
    assert fake.writes == []


def test_se_info_settle_reports_what_is_not_as_given_when_the_time_runs_out(fake, run_module):
    result = run_module(se_info, {"settle_timeout": 0, "settle": [
        {"name": "vs1", "on_se": "se3", "off_se": "se1"}, {"name": "vs2", "on_se": "se1", "off_se": "se2"},
        {"name": "vs3", "on_se": "se2"}, {"name": "gone", "on_se": "se1"}]})
    assert not result.get("failed"), result
    assert result["settled"] is False and result["reads"] == 1
    assert result["unsettled"][0] == "vs1 (vip 0) is on se1, not on se3"
    assert result["unsettled"][1:] == ["gone is not on the controller"], result["unsettled"]
    assert "settled" not in run_module(se_info, {})
    result = run_module(se_info, {"settle_timeout": -1, "settle": []})
    assert result["failed"] and result["msg"] == "settle_timeout must be 0 or more seconds, got -1"
