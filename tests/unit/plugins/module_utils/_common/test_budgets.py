# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The budgets option's validation, group matching, anti-affinity bookkeeping and schedule, and the VirtFusion
placement's fit rule (unknown is never room). End to end against the lab: tests/integration/test_budgets_capacity.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import (
    Budgets,
    Gate,
    Placer,
    budgets_argument_spec,
    problems,
    schedule,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.placement import Placement


def _validated(budgets):
    result = ArgumentSpecValidator(budgets_argument_spec()).validate({"budgets": budgets})
    return result.validated_parameters["budgets"], " ".join(str(e) for e in result.error_messages)


def test_the_shape_is_checked_strictly_naming_the_option():
    _val, errors = _validated([{"name": "db", "pattern": "db-*", "max_move": 2}])
    assert "max_move" in errors and "budgets" in errors
    _val, errors = _validated([{"pattern": "db-*"}])
    assert "name" in errors
    _val, errors = _validated([{"name": "db", "pattern": "db-*", "max_moving": "two"}])
    assert "max_moving" in errors
    good, errors = _validated([{"name": "db", "pattern": "db-*"}])
    assert errors == "" and good[0]["max_moving"] == 1 and good[0]["anti_affinity"] is True
    assert problems(good, "virtfusion") == []

    def said(budgets, provider="triton"):
        return " | ".join(problems(_validated(budgets)[0], provider))

    assert "budgets[0] (db) must name its members one way" in said([{"name": "db"}])
    assert "got members, pattern" in said([{"name": "db", "members": ["a"], "pattern": "a*"}])
    assert "budgets[1].name db is used twice" in said([{"name": "db", "pattern": "a"}, {"name": "db", "pattern": "b"}])
    assert "budgets[0].name must be a non-empty group name" in said([{"name": " ", "pattern": "a"}])
    assert "max_moving must be a positive number" in said([{"name": "db", "pattern": "a", "max_moving": 0}])
    assert "budgets[0] (db).tags: provider=virtfusion has no instance tags" in said(
        [{"name": "db", "tags": {"role": "db"}}], "virtfusion")
    assert said([{"name": "db", "tags": {"role": "db"}}]) == ""
    assert "members has an empty name" in said([{"name": "db", "members": ["a", ""]}])


def test_groups_are_matched_by_members_pattern_and_tags():
    b = Budgets(_validated([{"name": "db", "pattern": "db-*"}, {"name": "pair", "members": ["web-1", "7"]},
                            {"name": "tagged", "tags": {"role": "DB"}, "anti_affinity": False}])[0])
    assert b.groups_of({"id": 1, "name": "db-1"}) == ["db"]
    assert b.groups_of({"id": 7, "name": "x"}) == ["pair"]
    assert b.groups_of({"id": 2, "name": "db-2", "tags": {"role": "db"}}) == ["db", "tagged"]
    assert b.anti_affine({"id": 2, "name": "db-2", "tags": {"role": "db"}}) == ["db"]
    assert b.groups_of({"id": 3, "name": "web-2"}) == []
    assert b.unmatched([{"id": 1, "name": "db-1"}, {"id": 7, "name": "x"}]) == [
        "budgets group pair: member(s) web-1 match no instance (known: db-1, x)"]


def test_anti_affinity_counts_members_that_stay_and_those_this_run_places():
    b = Budgets(_validated([{"name": "db", "pattern": "db-*"}])[0])
    everyone = [{"id": 0, "name": "db-0", "server": "c"}, {"id": 1, "name": "db-1", "server": "src"},
                {"id": 2, "name": "db-2", "server": "src"}, {"id": 3, "name": "web", "server": "b"}]
    placer = Placer(b, everyone, [1, 2])
    assert placer.avoid(everyone[1]) == {"c": "group db (anti_affinity): db-0 already there"}
    placer.place(everyone[1], "b")
    assert sorted(placer.avoid(everyone[2])) == ["b", "c"]
    assert placer.avoid(everyone[3]) == {}


def test_the_schedule_and_the_gate_keep_each_group_within_its_budget():
    by_key = {1: ["db"], 2: ["db"], 3: [], 4: ["db", "pair"], 5: ["pair"]}
    names = dict((k, "s%d" % k) for k in by_key)
    assert schedule([1, 2, 3, 4, 5], names, by_key, {"db": 1, "pair": 1}, 3) == [["s1", "s3", "s5"], ["s2"], ["s4"]]
    assert schedule([1, 2, 3], names, by_key, {"db": 2, "pair": 1}, 1) == [["s1"], ["s2"], ["s3"]]
    b = Budgets(_validated([{"name": "db", "pattern": "*", "max_moving": 2}])[0])
    gate = Gate(b, {1: ["db"], 2: ["db"], 3: ["db"]})
    gate.start(1)
    assert gate.allows(2)
    gate.start(2)
    assert not gate.allows(3)
    gate.end(1)
    assert gate.allows(3) and gate.peak == {"db": 2}


def test_placement_never_counts_what_the_vendor_does_not_say_as_room():
    need = {"memory": 32, "cpu": 1, "servers": 1, "storage": [(2, 8)]}
    room = {"memory": [40, 96], "cpu": [4, 8], "servers": [3, 10], "storage": {2: [100, 100]}}
    assert Placement._fit(room, need) == ("pass", None)
    assert Placement._fit(dict(room, memory=[16, 96]), need) == ("fail", "16 MiB memory free, needs 32")
    assert Placement._fit(dict(room, memory=None), need) == ("unknown", "no memory limit (not set or not shown)")
    assert Placement._fit(None, need)[0] == "unknown"
    assert Placement._fit(room, dict(need, cpu=None)) == ("unknown", "the server's cpu is not shown")
    assert Placement._fit(dict(room, storage={2: None}), need)[0] == "unknown"
    Placement._take(room, need)
    assert room["memory"] == [8, 96] and room["storage"][2] == [92, 100]
