# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    ALGO_DISTRIBUTED,
    Placement,
    PlacementError,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner


def world(algo="PLACEMENT_ALGO_PACKED", max_se=4, max_vs=2, can_create=True, loads=(2, 1, 0), states=None):
    """Group g with SEs se1..seN holding loads[i] VSs; hosts h1 (all SEs) and h2 (empty)."""
    groups = {"g": {"uuid": "g", "name": "g", "cloud_uuid": "c", "algo": algo, "max_se": max_se,
                    "max_vs_per_se": max_vs, "ha_mode": "HA_MODE_SHARED", "min_scaleout_per_vs": 1}}
    clouds = {"c": {"uuid": "c", "name": "c", "vtype": "CLOUD_VCENTER" if can_create else "CLOUD_NONE",
                    "can_create_se": can_create, "create_blocked_by": None if can_create else "cloud 'c' cannot create SEs"}}
    hosts = {"h1": {"uuid": "h1", "name": "h1", "cloud_uuid": "c", "maintenance_mode": False},
             "h2": {"uuid": "h2", "name": "h2", "cloud_uuid": "c", "maintenance_mode": False}}
    ses, vss = {}, {}
    n = 0
    for idx, load in enumerate(loads, 1):
        se = {"uuid": "se%d" % idx, "name": "se%d" % idx, "group_uuid": "g", "cloud_uuid": "c", "host_uuid": "h1",
              "enable_state": (states or {}).get(idx, "SE_STATE_ENABLED"), "oper_state": "OPER_UP",
              "migrate_state": None, "version": None, "vs_uuids": set()}
        ses[se["uuid"]] = se
        for dummy in range(load):
            n += 1
            vs = {"uuid": "vs%d" % n, "name": "vs%d" % n, "group_uuid": "g", "cloud_uuid": "c",
                  "vips": {"0": [{"se_uuid": se["uuid"], "primary": True, "standby": False, "oper_state": "OPER_UP"}]}}
            vss[vs["uuid"]] = vs
            se["vs_uuids"].add(vs["uuid"])
    return Placement(groups, clouds, hosts, ses, vss)


def new_vs(placement, name="new"):
    vs = {"uuid": name, "name": name, "group_uuid": "g", "cloud_uuid": "c", "vips": {"0": []}}
    placement.vss[name] = vs
    return vs


def test_packed_picks_the_fullest_eligible_se():
    p = world(loads=(2, 1, 0))  # se1 is full (max_vs_per_se 2)
    assert Planner(p).choose(new_vs(p))["uuid"] == "se2"


def test_distributed_prefers_a_new_se_while_the_group_can_grow():
    p = world(algo=ALGO_DISTRIBUTED, loads=(1, 1, 0))
    target = Planner(p).choose(new_vs(p))
    assert target["new"] is True
    assert target["host_uuid"] is None and target["name"] == "new SE 1"  # the host is the controller's choice


def test_distributed_least_loaded_when_max_se_reached():
    p = world(algo=ALGO_DISTRIBUTED, loads=(1, 0, 1), max_se=3)
    assert Planner(p).choose(new_vs(p))["uuid"] == "se2"


def test_disabled_ses_are_not_eligible():
    p = world(loads=(1, 1, 0), states={2: "SE_STATE_DISABLED_FOR_PLACEMENT", 1: "SE_STATE_DISABLED"})
    assert Planner(p).choose(new_vs(p))["uuid"] == "se3"


def test_full_group_creates_an_se_when_allowed():
    p = world(loads=(2, 2), max_se=3)
    target = Planner(p).choose(new_vs(p))
    assert target["new"]


def test_no_room_anywhere_explains_why():
    p = world(loads=(2, 2), max_se=2)
    with pytest.raises(PlacementError) as err:
        Planner(p).choose(new_vs(p))
    assert "max_se" in str(err.value)


def test_cloud_that_cannot_create_ses():
    p = world(loads=(2, 2), max_se=8, can_create=False)
    with pytest.raises(PlacementError) as err:
        Planner(p).choose(new_vs(p))
    assert "cannot create SEs" in str(err.value)


def test_to_se_must_be_eligible():
    p = world(loads=(2, 1, 0))
    vs = p.vss["vs3"]  # on se2
    with pytest.raises(PlacementError) as err:
        Planner(p).choose(vs, exclude=("se2",), to_se="se1")
    assert "full" in str(err.value)
    assert Planner(p).choose(vs, exclude=("se2",), to_se="se3")["uuid"] == "se3"


def test_evacuation_plan_packs_then_spills():
    p = world(loads=(2, 1, 0))
    plan = Planner(p).plan_evacuation("se1")
    assert [(m["name"], m["to_se"]) for m in plan["moves"]] == [("vs1", "se2"), ("vs2", "se3")]
    assert plan["created_service_engines"] == []
    assert plan["capacity"]["free_slots"] == 3


def test_evacuation_plan_counts_disabled_ses_toward_max_se():
    p = world(loads=(2, 2), max_se=3)
    plan = Planner(p).plan_evacuation("se1")
    assert [m["created_se"] for m in plan["moves"]] == [True, True]
    assert plan["moves"][0]["to_se"] == plan["moves"][1]["to_se"]  # the second VS packs onto the new SE
    assert len(plan["created_service_engines"]) == 1


def test_evacuation_that_cannot_be_absorbed_says_what_is_short():
    p = world(loads=(2, 2), max_se=2)
    with pytest.raises(PlacementError) as err:
        Planner(p).plan_evacuation("se1")
    msg = str(err.value)
    assert "2 of 2 virtual services have no place" in msg
    assert "max_se" in msg and "Short by 2" in msg


def test_host_capacity_is_unknown_never_room():
    # no vendor object says how many SEs a host can run: a new SE is predicted on the controller's choice of host,
    # a named host only has to be an available host of the cloud, and the summary says capacity is unknown
    p = world(loads=(2, 2), max_se=8)
    planner = Planner(p)
    assert planner.choose(new_vs(p), to_host="h2")["name"] == "new SE 1 on h2"
    p.hosts["h2"]["maintenance_mode"] = True
    with pytest.raises(PlacementError) as err:
        Planner(p).choose(new_vs(p, "other"), to_host="h2")
    assert "maintenance" in str(err.value)
    assert Planner(p).capacity_summary("se1", "g", 2)["host_capacity"].startswith("unknown")


def test_unknown_cloud_access_is_no_room():
    p = world(loads=(2, 2), max_se=8)
    p.clouds["c"].update(can_create_se=None, create_blocked_by="cloud 'c' does not show its privilege: unknown")
    with pytest.raises(PlacementError) as err:
        Planner(p).choose(new_vs(p))
    assert "unknown" in str(err.value)


def test_planning_does_not_touch_the_snapshot():
    p = world(loads=(2, 1, 0))
    Planner(p).plan_evacuation("se1")
    assert p.ses["se1"]["vs_uuids"] == {"vs1", "vs2"}
    assert p.ses["se1"]["enable_state"] == "SE_STATE_ENABLED"
