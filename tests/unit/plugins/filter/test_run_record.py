"""The run-record format: validation, phases from a module's progress history, the HTML page."""
import html.parser

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.fleetops.maintenance.plugins.filter.run_record_html import run_record_html
from ansible_collections.fleetops.maintenance.plugins.filter.run_record_phases import run_record_phases
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import FORMAT, validate


def step(target, group, start, end, phases=(), result="upgraded", **extra):
    out = {"target": target, "target_type": "service_engine", "group": group, "start": start, "end": end,
           "result": result, "phases": list(phases), "message": "",
           "disruption": {"expected": False, "virtual_services": [], "seconds": None}}
    out.update(extra)
    return out


def record(steps):
    return {"format": FORMAT, "kind": "rolling_upgrade", "title": "Upgrade", "result": "ok",
            "started": "2026-01-01T10:00:00", "ended": "2026-01-01T10:01:00", "steps": steps}


def test_validate_names_the_field_that_is_wrong():
    good = record([step("se-1", "sg-1", "2026-01-01T10:00:00", "2026-01-01T10:00:10")])
    assert validate(good) is good
    cases = [
        ({"format": "other"}, "format must be " + FORMAT),
        (dict(good, steps="x"), "steps must be a list"),
        (record([{"target": "se-1"}]),
         "steps[0] lacks target_type, group, start, end, result, phases, disruption, message"),
        (record([step("se-1", "g", None, None, target_type="router")]), "steps[0].target_type must be one of"),
        (record([step("se-1", "g", "2026-01-01T10:00:10", "2026-01-01T10:00:00")]), "steps[0] ends before it starts"),
        (record([step("se-1", "g", None, None, phases=[{"name": "up"}])]), "steps[0].phases[0] needs start and end"),
        (record([step("se-1", "g", "yesterday", None)]), "not an ISO 8601 time: 'yesterday'"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError) as info:
            validate(bad)
        assert message in str(info.value)
    with pytest.raises(AnsibleFilterError, match="run_record_html: not a run record: format must be"):
        run_record_html({"steps": []})


def test_every_platform_has_its_target_types():
    # host_evacuate: a row for the Triton compute node or VirtFusion hypervisor, one per instance or server
    kinds = [("cn-1", "compute_node"), ("web-1", "instance"), ("hv-a", "hypervisor"), ("web-2", "server")]
    good = record([step(name, "hv-a", None, None, target_type=kind, result="planned") for name, kind in kinds])
    assert validate(good) is good
    with pytest.raises(ValueError) as info:
        validate(record([step("web-1", "hv-a", None, None, target_type="vm")]))
    assert "steps[0].target_type must be one of" in str(info.value)
    assert "hypervisor, server, got 'vm'" in str(info.value)


PROGRESS = [  # what instance_migrate returns for a window of two (elapsed: seconds since the module started)
    {"task": "instance_migrate", "elapsed": 0.1, "phase": "read", "msg": "reading"},
    {"task": "instance_migrate", "elapsed": 0.5, "phase": "begin", "msg": "web-1: begin", "instance": "web-1"},
    {"task": "instance_migrate", "elapsed": 0.6, "phase": "begin", "msg": "web-2: begin", "instance": "web-2"},
    {"task": "instance_migrate", "elapsed": 2.0, "phase": "sync", "msg": "web-1: 1 MiB", "instance": "web-1"},
    {"task": "instance_migrate", "elapsed": 4.0, "phase": "sync", "msg": "web-1: 2 MiB", "instance": "web-1"},
    {"task": "instance_migrate", "elapsed": 4.5, "phase": "switch", "msg": "web-1: switch", "instance": "web-1"},
    {"task": "instance_migrate", "elapsed": 7.0, "phase": "switch", "msg": "web-1: done", "instance": "web-1"},
    {"task": "instance_migrate", "elapsed": 3.0, "phase": "sync", "msg": "web-2: sync", "instance": "web-2"},
]


def test_phases_from_progress_split_per_instance_with_the_switch_disruptive():
    phases = run_record_phases(PROGRESS, "2026-01-01T10:00:00", "instance", ["switch"])
    assert sorted(phases) == ["web-1", "web-2"]
    assert phases["web-1"] == [
        {"name": "begin", "start": "2026-01-01T10:00:00.500000", "end": "2026-01-01T10:00:02", "disruptive": False},
        {"name": "sync", "start": "2026-01-01T10:00:02", "end": "2026-01-01T10:00:04.500000", "disruptive": False},
        {"name": "switch", "start": "2026-01-01T10:00:04.500000", "end": "2026-01-01T10:00:07", "disruptive": True}]
    assert [p["name"] for p in phases["web-2"]] == ["begin", "sync"]
    whole = run_record_phases(PROGRESS[:2], "2026-01-01T10:00:00+00:00")
    assert whole == [
        {"name": "read", "start": "2026-01-01T10:00:00.100000+00:00", "end": "2026-01-01T10:00:00.500000+00:00",
         "disruptive": False},
        {"name": "begin", "start": "2026-01-01T10:00:00.500000+00:00", "end": "2026-01-01T10:00:00.500000+00:00",
         "disruptive": False}]
    with pytest.raises(AnsibleFilterError, match="started is needed"):
        run_record_phases(PROGRESS, "")


def test_phases_of_a_progress_whose_steps_were_folded_keep_their_starts_and_ends():
    # the module folds a step's rising updates into its first entry (_common.progress): the phases must still start
    # at the step's first update and last until its last one
    clock = iter([0.0, 0.5, 1.0, 1.5, 2.0, 3.5, 4.0, 6.0]).__next__
    progress = Progress("instance_migrate", path="", clock=clock)
    progress.update("begin", "web-1: reserving instance", 10, instance="web-1")       # 0.5
    progress.update("begin", "web-1: reserving instance", 90, instance="web-1")       # 1.0: folded
    for n in (0, 512, 1024):                                                           # 1.5, 2.0, 3.5: folded
        progress.update("sync", "web-1: %d KiB" % n, n * 100 // 1024, instance="web-1", bytes=n, total_bytes=1024)
    progress.update("switch", "web-1: stopping the instance", 3, instance="web-1")    # 4.0
    progress.update("switch", "web-1: starting the migrated instance", 95, instance="web-1")   # 6.0
    assert len(progress.history) == 4
    phases = run_record_phases(progress.history, "2026-01-01T10:00:00", "instance")["web-1"]
    assert phases == [
        {"name": "begin", "start": "2026-01-01T10:00:00.500000", "end": "2026-01-01T10:00:01.500000",
         "disruptive": False},
        {"name": "sync", "start": "2026-01-01T10:00:01.500000", "end": "2026-01-01T10:00:04", "disruptive": False},
        {"name": "switch", "start": "2026-01-01T10:00:04", "end": "2026-01-01T10:00:06", "disruptive": False}]


def test_the_last_phase_lasts_until_its_last_folded_update():
    entries = [{"elapsed": 1.0, "phase": "sync", "msg": "a: 1 MiB of 2 MiB", "instance": "a", "updated": 5.0}]
    phases = run_record_phases(entries, "2026-01-01T10:00:00", "instance")["a"]
    assert phases == [{"name": "sync", "start": "2026-01-01T10:00:01", "end": "2026-01-01T10:00:05",
                       "disruptive": False}]


class Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.scripts = 0
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)


def test_html_is_self_contained_escapes_names_and_draws_a_bar_per_phase():
    phases = run_record_phases(PROGRESS, "2026-01-01T10:00:00", "instance", ["switch"])
    steps = [step(name, "cn-1", ps[0]["start"], ps[-1]["end"], ps, target_type="instance") for name, ps in
             sorted(phases.items())]
    steps.append(step("<script>alert(1)</script>", "cn-1", None, None, result="skipped",
                      message="not started: 1 failure(s)", target_type="instance"))
    page = run_record_html(record(steps), "Evacuation of cn-1")
    parser = Collector()
    parser.feed(page)
    assert parser.scripts == 0 and parser.links == [], "nothing to run, nothing to fetch"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (skipped)" in page
    rows = [a for t, a in parser.tags if t == "g" and a.get("class") == "row"]
    assert [r["data-target"] for r in rows] == ["web-1", "web-2", "<script>alert(1)</script>"]
    bars = [a for t, a in parser.tags if t == "rect" and a.get("class", "").startswith("bar")]
    assert [(b["data-target"], b["data-phase"]) for b in bars] == [
        ("web-1", "begin"), ("web-1", "sync"), ("web-1", "switch"), ("web-2", "begin"), ("web-2", "sync")]
    assert [b["data-phase"] for b in bars if "disruptive" in b["class"]] == ["switch"]
    # time maps to x: web-1's switch starts where its sync ends
    sync, switch = bars[1], bars[2]
    assert abs(float(sync["x"]) + float(sync["width"]) - float(switch["x"])) < 0.2
    assert "<title>Evacuation of cn-1</title>" in page
