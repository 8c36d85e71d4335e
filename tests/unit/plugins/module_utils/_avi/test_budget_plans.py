# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi import budgets as avi_budgets
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import Placement, PlacementError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.planner import Planner
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import Budgets


def world(layout, groups=("g",), max_se=None):
    """``layout``: {se: (group, [vs names])}; SE groups with max_vs_per_se 4 that cannot grow."""
    sgs = dict((g, {"uuid": g, "name": g, "cloud_uuid": "c", "algo": "PLACEMENT_ALGO_PACKED",
                    "max_se": max_se or len(layout), "max_vs_per_se": 4, "ha_mode": "HA_MODE_SHARED"}) for g in groups)
    ses, vss = {}, {}
    for se, (group, names) in sorted(layout.items()):
        ses[se] = {"uuid": se, "name": se, "group_uuid": group, "cloud_uuid": "c", "host_uuid": "h",
                   "enable_state": "SE_STATE_ENABLED", "oper_state": "OPER_UP", "migrate_state": None,
                   "version": None, "vs_uuids": set()}
        for name in names:
            vss[name] = {"uuid": name, "name": name, "group_uuid": group, "cloud_uuid": "c",
                         "vips": {"0": [{"se_uuid": se, "primary": True, "standby": False, "oper_state": "OPER_UP"}]}}
            ses[se]["vs_uuids"].add(name)
    clouds = {"c": {"uuid": "c", "name": "c", "vtype": "CLOUD_NONE", "can_create_se": False,
                    "create_blocked_by": "no orchestrator"}}
    return Placement(sgs, clouds, {}, ses, vss)


def budgets(*groups):
    return Budgets([dict({"max_moving": 1, "anti_affinity": True}, **g) for g in groups])


def test_members_go_to_distinct_ses_away_from_members_that_stay_and_move_one_at_a_time():
    p = world({"s1": ("g", ["db-1", "db-2", "web-1"]), "s2": ("g", ["db-3"]), "s3": ("g", []), "s4": ("g", [])})
    plan = avi_budgets.plan_evacuation(budgets({"name": "db", "members": ["db-1", "db-2", "db-3"]}), Planner(p), "s1",
                                       [(p.vss[n], "0") for n in ("db-1", "db-2", "web-1")], concurrency=4)
    to = dict((m["name"], m["to_se"]) for m in plan["moves"])
    assert {to["db-1"], to["db-2"]} == {"s3", "s4"}
    assert plan["schedule"] == [["db-1", "web-1"], ["db-2"]]
    assert plan["targets"]["web-1/0"] is None and plan["targets"]["db-1/0"]["uuid"] == to["db-1"]


def test_a_member_with_no_se_free_of_other_members_is_refused_naming_the_group():
    p = world({"s1": ("g", ["db-1", "db-2"]), "s2": ("g", ["db-3"]), "s3": ("g", [])})
    with pytest.raises(PlacementError, match=r"budgets group db \(anti_affinity\): VS db-2 has no SE .*s2: holds db-3"):
        avi_budgets.plan_evacuation(budgets({"name": "db", "pattern": "db-*"}), Planner(p), "s1",
                                    [(p.vss[n], "0") for n in ("db-1", "db-2")], concurrency=4)


def test_controller_method_and_unknown_members_are_refused():
    p = world({"s1": ("g", ["db-1"]), "s2": ("g", [])})
    names = dict((u, v["name"]) for u, v in p.vss.items())
    wrong = avi_budgets.refusals(budgets({"name": "db", "members": ["db-1", "db-9"]}), names, [(p.vss["db-1"], "0")],
                                 "controller")
    assert "member(s) db-9 match no virtual service" in wrong[0]
    assert "cannot be honoured with method=controller" in wrong[1]


def test_upgrade_waves_keep_members_of_a_budget_group_out_one_se_at_a_time():
    p = world({"a1": ("sg-a", ["db-1"]), "a2": ("sg-a", ["db-2"]), "b1": ("sg-b", ["db-3"]), "c1": ("sg-c", ["web"])},
              groups=("sg-a", "sg-b", "sg-c"))
    db = budgets({"name": "db", "pattern": "db-*"})
    # sg-a upgrades a1 then a2: one db member out at a time, so it may run with sg-c, not with sg-b
    waves = avi_budgets.upgrade_waves(db, p, ["sg-a", "sg-b", "sg-c"], parallel=True)["waves"]
    assert waves == [["sg-a", "sg-c"], ["sg-b"]]
    members = avi_budgets.upgrade_waves(db, p, ["sg-a", "sg-b"], parallel=True)["members"]
    assert members == {"sg-a": {"db": 1}, "sg-b": {"db": 1}}
    # disruptive: every SE of sg-a at once, two db members (over the budget alone: a wave of its own)
    out = avi_budgets.upgrade_waves(db, p, ["sg-a", "sg-b", "sg-c"], parallel=True, disruptive=True)
    assert out["members"]["sg-a"] == {"db": 2} and out["waves"] == [["sg-a", "sg-c"], ["sg-b"]]
    # one group a wave without parallel groups
    assert avi_budgets.upgrade_waves(db, p, ["sg-a", "sg-b"], parallel=False)["waves"] == [["sg-a"], ["sg-b"]]
    plan, problems, refusal = avi_budgets.upgrade_plan(db, p, ["sg-a", "sg-b", "sg-c"], "se_group", False)
    assert not problems and plan["waves"] == [["sg-a", "sg-c"], ["sg-b"]]
    assert "db: 2 member(s) out of service at once (sg-a 1, sg-b 1), max_moving 1" in refusal
    assert avi_budgets.upgrade_plan(db, p, ["sg-a", "sg-c"], "se_group", False)[2] is None


def test_a_member_the_controller_put_next_to_another_is_named():
    p = world({"s1": ("g", []), "s2": ("g", ["db-1", "db-2", "web-1"]), "s3": ("g", ["db-3"])})
    wrong = avi_budgets.misplaced(budgets({"name": "db", "pattern": "db-*"}), p, [("db-1", ["s2"]), ("web-1", ["s2"])])
    assert wrong == ["VS db-1 is on SE s2 next to db-2 (budgets group db, anti_affinity)"]
    assert avi_budgets.misplaced(budgets({"name": "db", "pattern": "db-*", "anti_affinity": False}), p,
                                 [("db-1", ["s2"])]) == []
