# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""se_info against the in-memory controller (fake_avi)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.fleetops.maintenance.plugins.modules import se_info


# -- se_info ----------------------------------------------------------------------------------
def test_se_info_lists_ses_and_placement_across_pages(fake, run_module):
    result = run_module(se_info, {})
    assert not result.get("failed"), result
    names = [se["name"] for se in result["service_engines"]]
    assert names == ["se1", "se2", "se3", "se4"]  # fake pages hold 2 items: paging was followed
    se1 = result["service_engines"][0]
    assert se1["virtual_services"] == ["vs1", "vs2"] and se1["host"] == "esx-1" and se1["se_group"] == "g1"
    vs1 = [v for v in result["virtual_services"] if v["name"] == "vs1"][0]
    assert vs1["placement"][0]["service_engines"][0]["name"] == "se1"
    assert result["api_stats"]["logins"] == 1
    assert fake.writes == []
    assert fake.calls[-1] == ("POST", "/logout")


def test_se_info_filters(fake, run_module):
    result = run_module(se_info, {"se_group": ["g2"]})
    assert [se["name"] for se in result["service_engines"]] == ["se4"]
    assert [vs["name"] for vs in result["virtual_services"]] == ["vs4"]
    result = run_module(se_info, {"names": ["nope"]})
    assert result["failed"] and "serviceengine 'nope' not found" in result["msg"]


def test_password_is_never_returned(fake, run_module):
    result = run_module(se_info, {"names": ["nope"]})
    assert "s3cret-pw" not in json.dumps(result)


def test_se_info_reads_vip_summary_as_one_object_or_a_list(fake, run_module):
    as_list = run_module(se_info, {})
    fake.vip_summary_object = True   # VsInventory.runtime.vip_summary as one VipSummary object (22.1.1+)
    as_object = run_module(se_info, {})
    for result in (as_list, as_object):
        result.pop("api_stats")
    assert as_object == as_list and as_object["service_engines"][0]["virtual_services"] == ["vs1", "vs2"]


def test_se_info_refuses_blank_and_unknown_names(fake, run_module):
    result = run_module(se_info, {"names": ["se1", " "]})
    assert result["failed"] and result["msg"].startswith("names must not be empty or blank") and fake.calls == []
    result = run_module(se_info, {"se_group": ["g3"]})
    assert result["failed"] and result["msg"].startswith("se_group: serviceenginegroup 'g3' not found; known: g1, g2")


# -- settle: read again until the placement is as given -------------------------------------------
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
