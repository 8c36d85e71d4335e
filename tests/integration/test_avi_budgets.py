"""Disruption budgets and anti-affinity for Avi, end to end against the lab: an SE evacuation (se_disable
method=per_vs, playbook evacuate_se; topology avi_budgets.yml: se-1 hosts db-1..3 and web-1..2, db-4 runs on se-2)
and a rolling upgrade (playbook upgrade; topology avi_budgets_upgrade.yml: db-1 in SE group sg-a, db-2 in sg-b).

What a user cares about: at most max_moving members of a group moving at once (seen in the lab's own operation
timeline, not in what the module says), never two members of an anti-affinity group on one SE afterwards (members
already elsewhere count), check mode's schedule and targets equal what the run did (the lab follows the documented
placement rules here), a budget that cannot be honoured, or is not one, refused before anything changes; the
upgrade's SE groups in waves (check mode, the run record, each SE's upgrade times) and no VS losing service."""
import functools
import os

import pytest
import yaml
from conftest import PlaybookLab, run_playbook

SE = "se-1"
BUDGETS = [
    {"name": "db", "members": ["db-1", "db-2", "db-4"], "max_moving": 1},
    {"name": "web", "pattern": "web-*", "max_moving": 1, "anti_affinity": False},
]
# as an AWX survey (and -e budgets=...) gives them: YAML text
BUDGETS_TEXT = yaml.safe_dump(BUDGETS, default_flow_style=True)
TASK = "Set the Service Engine to"


def _module_result(run):
    _start, events = run.task_events(TASK)
    return next(e for e in events if e["event"] in ("runner_on_ok", "runner_on_failed"))["event_data"]["res"]


def _migrations(lab):
    """The lab's migrate operations: {vs name: (started, ended)} in lab seconds."""
    return dict((op["target"], (op["started"], op["ended"])) for op in lab.admin("GET", "stats")["operations"]
                if op["kind"] == "migrate")


def _peak(intervals):
    """The most intervals open at once."""
    points = sorted([(s, 1) for s, _e in intervals] + [(e, -1) for _s, e in intervals])
    peak = now = 0
    for _t, step in points:
        now += step
        peak = max(peak, now)
    return peak


def test_evacuation_honours_budgets_and_check_mode_shows_the_schedule(make_lab):
    lab = make_lab("avi_budgets.yml")
    play = functools.partial(run_playbook, lab)
    inputs = {"service_engine": SE, "method": "per_vs", "concurrency": 4, "budgets": BUDGETS_TEXT}

    rc, out = check = play("evacuate_se", extra_vars=inputs, check=True)
    assert rc == 0, out
    planned = _module_result(check)["plan"]
    # waves of the window (4 at once), at most one db member and one web VS a wave; db-3 is in no group
    assert planned["budgets"]["schedule"] == [["db-1", "db-3", "web-1"], ["db-2", "web-2"]], planned["budgets"]
    assert "schedule (waves, a prediction): db-1, db-3, web-1 | db-2, web-2" in out
    targets = dict((m["name"], m["to_se"]) for m in planned["moves"])
    # db-4 (not moved) is on se-2: the db members go elsewhere, and not together
    assert targets["db-1"] != targets["db-2"] and not {targets["db-1"], targets["db-2"]} & {"se-1", "se-2"}
    assert not _migrations(lab), "check mode moved something"

    rc, out = run = play("evacuate_se", extra_vars=inputs)
    assert rc == 0, out
    ops = _migrations(lab)
    assert sorted(ops) == ["db-1", "db-2", "db-3", "web-1", "web-2"]
    # the lab's timeline: never two db members, nor two web VSs, moving at once; the window was used
    assert _peak([ops["db-1"], ops["db-2"]]) == 1
    assert _peak([ops["web-1"], ops["web-2"]]) == 1
    assert _peak(list(ops.values())) == 3, ops
    # anti-affinity: db-1, db-2 and db-4 on three different SEs
    world = lab.admin("GET", "world")["service_engines"]
    on = dict((vs, se) for se, facts in world.items() for vs in facts["vs"])
    assert len({on["db-1"], on["db-2"], on["db-4"]}) == 3, world
    assert world[SE]["vs"] == [] and world[SE]["enable_state"] == "SE_STATE_DISABLED"
    # what check mode showed is what the run did
    done = _module_result(run)
    assert dict((m["name"], m["to_se"]) for m in done["moves"]) == targets
    assert dict((m["name"], m["wave"]) for m in done["moves"]) == dict((m["name"], m["wave"]) for m in planned["moves"])
    assert done["plan"]["budgets"]["peak_moving"] == {"db": 1, "web": 1}
    record = run.stats["se_evacuate_report"]["run_record"]
    assert record["details"]["budgets"]["schedule"] == planned["budgets"]["schedule"]

    rc, out = play("evacuate_se", extra_vars=inputs)
    assert rc == 0 and "changed=0" in out, out


def _text(budgets):
    return yaml.safe_dump(budgets, default_flow_style=True)


REFUSALS = [
    ({"method": "per_vs", "budgets": _text([{"name": "db", "pattern": "db-*"}])},
     "budgets group db (anti_affinity): VS db-"),
    ({"method": "controller", "budgets": BUDGETS_TEXT}, "cannot be honoured with method=controller"),
    ({"method": "per_vs", "budgets": _text([{"name": "db", "members": ["db-1", "db-9"]}])},
     "member(s) db-9 match no virtual service"),
    ({"method": "per_vs", "budgets": _text([{"name": "db", "members": []}])}, "budgets[0] (db) must name its members one way"),
    ({"method": "per_vs", "budgets": _text([{"name": "db", "pattern": "db-*", "max_moving": 0}])},
     "budgets[0] (db).max_moving must be a positive number"),
    ({"method": "per_vs", "budgets": _text([{"name": "db", "pattern": "db-*", "anti_affinity": "maybe"}])},
     "anti_affinity"),
    ({"method": "per_vs", "budgets": "[{name: db, pattern: 'db-*', tags: {role: db}}]"},
     "must name its members one way"),
]


def test_budgets_that_cannot_be_honoured_or_are_not_budgets_are_refused_before_anything_changes(make_lab):
    lab = make_lab("avi_budgets.yml")
    for extra, why in REFUSALS:
        rc, out = run_playbook(lab, "evacuate_se", extra_vars=dict(extra, service_engine=SE))
        assert rc != 0 and why in out, (extra, out[-3000:])
        world = lab.admin("GET", "world")["service_engines"]
        assert world[SE]["enable_state"] == "SE_STATE_ENABLED", (extra, world[SE])
        assert len(world[SE]["vs"]) == 5
        assert not _migrations(lab), extra


UPGRADE_BUDGETS = _text([{"name": "db", "pattern": "db-*", "max_moving": 1}])


@pytest.fixture
def ulab(tmp_path):
    the_lab = PlaybookLab(tmp_path / "lab", "avi_budgets_upgrade.yml")
    the_lab.max_lifetime = 900
    yield from the_lab.running()


def _versions(lab):
    summary = lab.admin("GET", "upgrade")
    return summary["controller"]["version"], sorted(set(
        se["version"] for group in summary["se_groups"].values() for se in group["service_engines"].values()))


def test_rolling_upgrade_runs_the_se_groups_in_waves_that_honour_the_budgets(ulab):
    lab = ulab
    inputs = {"version": "22.1.7", "deployment": "vm", "wait_sleep": 0.5, "budgets": UPGRADE_BUDGETS,
              "report_file": os.path.join(str(lab.state_dir), "upgrade.json")}
    rc, out = run_playbook(lab, "upgrade", extra_vars=inputs, check=True)
    assert rc == 0, out[-3000:]
    # db-1 (sg-a) and db-2 (sg-b) never out of service at once: sg-b waits for the next wave; sg-c has no member
    assert "budgets db: SE groups in 2 wave(s): sg-a, sg-c | sg-b" in out, out[-3000:]

    # the system upgrade takes every SE group at once: refused before anything changes, naming the group
    rc, out = run_playbook(lab, "upgrade", extra_vars=dict(inputs, upgrade_strategy="system"))
    assert rc != 0 and "SE groups sg-a, sg-b, sg-c cannot be upgraded at once (db: 2 member(s)" in out, out[-3000:]
    assert _versions(lab) == ("22.1.6", ["22.1.6"])

    rc, out = run = run_playbook(lab, "upgrade", extra_vars=inputs)
    assert rc == 0, out[-3000:]
    assert _versions(lab) == ("22.1.7", ["22.1.7"])
    steps = run.stats["rolling_upgrade_report"]["steps"]
    # the run record: one step a wave, in the order check mode showed
    assert [s["target"] for s in steps if s["target_type"] == "se_group" and not s["target"].startswith("SE group")] \
        == ["sg-a, sg-c", "sg-b"]
    ses = dict((s["target"], (s["start"], s["end"])) for s in steps if s["target_type"] == "service_engine")
    assert sorted(ses) == ["a-se-1", "a-se-2", "b-se-1", "b-se-2", "c-se-1", "c-se-2"]
    # sg-b's SEs upgraded only after every SE of sg-a; sg-a and sg-c at the same time
    assert max(ses["a-se-1"][1], ses["a-se-2"][1]) <= min(ses["b-se-1"][0], ses["b-se-2"][0]), ses
    assert ses["c-se-1"][0] < ses["a-se-2"][1], ses
    assert not [n for n, vs in lab.admin("GET", "disruption")["virtualservice"].items() if vs["unavailable_seconds"]]
