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
