# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building a run record (``run_record``'s format) while the run goes on.

A record that is still being written (the ``run_record`` action plugin writes it as the run goes on,
``run_record_store`` keeps it on disk) has ``result`` ``unfinished`` and ``ended`` null; its phases
still running have ``open: true`` and end when the record was last written (``updated``). A run that
was killed leaves it so: it says it did not finish, and where it was. ``new_record``,
``update_step``, ``open_phase``, ``finish_phase``, ``add_progress`` and ``finish_record`` build one;
``finish_record`` also sums up the run (its result, its failures, the disruption measured per step).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import (
    FORMAT,
    RESULTS_FAILED,
    TARGET_TYPES,
    RunRecordError,
    iso,
    parse_time,
    phases_from_progress,
)

UNFINISHED = "unfinished"
RESULTS_FINAL = ("ok", "failed", "stopped")
STEP_FIELDS = ("target_type", "group", "result", "message", "start", "end")


def now_iso():
    """Now, the way the roles write times (``now(utc=true).isoformat()``: naive UTC)."""
    return iso(datetime.datetime.now(datetime.timezone.utc), naive=True)


def _no_disruption():
    return {"expected": False, "virtual_services": [], "seconds": None}


def new_record(kind, title, check_mode=False, details=None, step=None, disruption=None, files=None, at=None):
    """A record that has just started (result ``unfinished``); ``step``, when given, is the run's own
    step (the host, the Service Engine...), first in ``steps``, starting now."""
    at = at or now_iso()
    record = {"format": FORMAT, "kind": kind, "title": title, "started": at, "ended": None, "updated": at,
              "duration_seconds": 0.0, "check_mode": bool(check_mode), "result": UNFINISHED, "failures": 0,
              "details": dict(details or {}), "steps": [],
              "disruption": dict({"measured": False}, **(disruption or {})), "files": dict(files or {})}
    if step:
        update_step(record, dict({"start": at}, **step))
    return record


def find_step(record, target):
    for step in record["steps"]:
        if step["target"] == target:
            return step
    return None


def update_step(record, spec):
    """Add the step ``spec`` names (by ``target``), or update it: the fields given replace the step's,
    ``details`` and ``disruption`` are merged into its own. Returns the step."""
    target = spec.get("target")
    if target in (None, ""):
        raise RunRecordError("a step needs a target")
    target = str(target)
    step = find_step(record, target)
    if step is None:
        step = {"target": target, "target_type": spec.get("target_type") or "server", "group": "",
                "start": None, "end": None, "result": UNFINISHED, "phases": [], "disruption": _no_disruption(),
                "message": "", "details": {}}
        if not spec.get("target_type"):
            raise RunRecordError("step %s is new: give its target_type (one of %s)" % (target, ", ".join(TARGET_TYPES)))
        record["steps"].append(step)
    for key in STEP_FIELDS:
        if spec.get(key) is not None:
            step[key] = spec[key] if key in ("start", "end") else str(spec[key])
    if step["target_type"] not in TARGET_TYPES:
        raise RunRecordError("step %s: target_type must be one of %s, got %r"
                             % (target, ", ".join(TARGET_TYPES), step["target_type"]))
    step["details"].update(spec.get("details") or {})
    step["disruption"].update(spec.get("disruption") or {})
    return step


def step_or_first(record, target):
    if target not in (None, ""):
        step = find_step(record, str(target))
        if step is None:
            raise RunRecordError("the record has no step %s" % target)
        return step
    if not record["steps"]:
        raise RunRecordError("name the step: the record has none yet")
    return record["steps"][0]


def open_phase(record, target, name, disruptive=False, at=None):
    """A phase of the step ``target`` (default the first step) begins now; it stays ``open`` until
    ``finish_phase`` or ``finish_record``."""
    at = at or now_iso()
    step = step_or_first(record, target)
    step["phases"].append({"name": str(name), "start": at, "end": at, "disruptive": bool(disruptive), "open": True})
    return step


def finish_phase(record, target=None, name=None, at=None):
    """End the open phase ``name`` of the step ``target``; without a name, the phase opened last (of any
    step, unless ``target`` is given). Returns (step, phase), or (None, None) when no phase is open."""
    at = at or now_iso()
    candidates = [(parse_time(phase["start"]), index, step, phase)
                  for index, (step, phase) in enumerate((s, p) for s in record["steps"] for p in s["phases"])
                  if phase.get("open") and (target in (None, "") or step["target"] == str(target))
                  and (name in (None, "") or phase["name"] == name)]
    if not candidates:
        if name:
            raise RunRecordError("no open phase %s%s" % (name, " of %s" % target if target not in (None, "") else ""))
        return None, None
    _start, _index, step, phase = max(candidates, key=lambda c: (c[0], c[1]))
    phase["end"] = at
    del phase["open"]
    return step, phase


def add_progress(record, call, entries, key=None, target_type=None, group=None, disruptive=(), step=None):
    """Phases from a module's ``progress`` (``entries``), placed in time from the start of ``call``, the
    (step, phase) that marked when the module call began. With ``key``, entries carrying that field go to
    the step of that name (created with ``target_type`` and ``group``); the others, and all of them
    without ``key``, go to ``step`` when given (else they are left out). When the step of ``call`` gets
    phases from the progress, they take the place of the phase of ``call``."""
    call_step, call_phase = call
    origin = call_phase["start"]
    entries = [e for e in entries or [] if isinstance(e, dict)]
    touched = []
    if key:
        for target, phases in phases_from_progress(entries, origin, key=key, disruptive=disruptive).items():
            spec = {"target": str(target)}
            if find_step(record, str(target)) is None:
                spec.update(target_type=target_type, group=group or "")
            touched.append((update_step(record, spec), phases))
    if step is not None:
        rest = [e for e in entries if not key or e.get(key) in (None, "")]
        phases = phases_from_progress(rest, origin, disruptive=disruptive)
        if phases:
            touched.append((step, phases))
    for target_step, phases in touched:
        if target_step is call_step:
            target_step["phases"] = [p for p in target_step["phases"] if p is not call_phase]
        target_step["phases"] += phases
    return [s["target"] for s, _p in touched]


def refresh(record, at=None):
    """Times that follow from the phases: open phases end now, a step spans its phases, the record's
    ``updated`` and ``duration_seconds``."""
    at = at or now_iso()
    for step in record["steps"]:
        for phase in step["phases"]:
            if phase.get("open"):
                phase["end"] = at
        if step["phases"]:
            starts = [parse_time(p["start"]) for p in step["phases"]] + [parse_time(step["start"])]
            ends = [parse_time(p["end"]) for p in step["phases"]] + [parse_time(step["end"])]
            naive = "+" not in step["phases"][0]["start"][10:]
            step["start"] = iso(min(t for t in starts if t), naive)
            step["end"] = iso(max(t for t in ends if t), naive)
    if record["steps"] and record["result"] == UNFINISHED:
        first = record["steps"][0]
        if first["start"] and not first["phases"]:
            first["end"] = at
    record["updated"] = at
    record["duration_seconds"] = round((parse_time(record["ended"] or at) - parse_time(record["started"]))
                                       .total_seconds(), 1)
    return record


def finish_record(record, result=None, disruption=None, at=None):
    """The run ended: open phases end now (a step with a disruptive phase was expected to disrupt),
    ``result`` (default ``failed`` when a step failed, else ``ok``), ``failures`` (the failed steps but the
    run's own, the first; at least one when the run failed), and unless ``disruption`` says it, the
    disruption measured per step (``disruption.seconds``) summed up."""
    at = at or now_iso()
    for step in record["steps"]:
        for phase in step["phases"]:
            if phase.pop("open", False):
                phase["end"] = at
        if any(p.get("disruptive") for p in step["phases"]):
            step["disruption"]["expected"] = True
    failed = [s for s in record["steps"] if s["result"] in RESULTS_FAILED]
    record["result"] = result or ("failed" if failed else "ok")
    if record["result"] not in RESULTS_FINAL:
        raise RunRecordError("result must be one of %s, got %r" % (", ".join(RESULTS_FINAL), record["result"]))
    record["failures"] = max(len([s for s in failed if s is not record["steps"][0]]),
                             1 if record["result"] == "failed" else 0)
    record["ended"] = at
    if record["steps"] and record["steps"][0]["result"] == UNFINISHED:
        record["steps"][0]["result"] = record["result"]
    measured = dict(record.get("disruption") or {})
    if disruption:
        measured.update(disruption)
    if "by_target" not in (disruption or {}):
        by_target = dict((s["target"], s["disruption"]["seconds"]) for s in record["steps"]
                         if isinstance((s.get("disruption") or {}).get("seconds"), (int, float))
                         and not isinstance(s["disruption"]["seconds"], bool))
        measured.update(measured=bool(by_target) and not record["check_mode"],
                        total=round(sum(by_target.values()), 3), by_target=by_target)
    record["disruption"] = measured
    return refresh(record, at)
