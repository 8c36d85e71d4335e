# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run records: one machine-readable format for what a role did, and its HTML report.

Every role of the collection writes the same JSON document (``FORMAT``)::

    {"format": "fleetops.maintenance.run_record/v1", "kind": "rolling_upgrade", "title": "...",
     "started": ISO 8601, "ended": ISO 8601, "duration_seconds": float, "check_mode": bool,
     "result": "ok" | "failed" | "stopped", "failures": int,
     "details": {...kind-specific...},
     "steps": [{"target": "nm-se-01", "target_type": "service_engine", "group": "sg-nm",
                "start": ISO 8601 or null, "end": ISO 8601 or null, "result": "upgraded",
                "phases": [{"name": "upgrade", "start": ISO, "end": ISO, "disruptive": false}],
                "disruption": {"expected": false, "virtual_services": [], "seconds": null},
                "message": "", "details": {...}}],
     "disruption": {"measured": bool, "unit": "...", "total": float, "by_target": {name: seconds}}}

``render_html`` turns one into a self-contained page (inline CSS and SVG, nothing fetched) with a
timeline: one row per step, grouped by ``group``, each phase a bar, disruptive phases and steps
marked. ``phases_from_progress`` builds phases from the ``progress`` history the collection's
modules return (every entry has ``elapsed`` seconds since the module started and a ``phase``).

A record that is still being written (the ``run_record`` action plugin writes it as the run goes on,
``run_record_store`` keeps it on disk) has ``result`` ``unfinished`` and ``ended`` null; its phases
still running have ``open: true`` and end when the record was last written (``updated``). A run that
was killed leaves it so: it says it did not finish, and where it was. ``new_record``,
``update_step``, ``open_phase``, ``finish_phase``, ``add_progress`` and ``finish_record`` build one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import html

FORMAT = "fleetops.maintenance.run_record/v1"
RESULTS_FAILED = ("failed",)
# Avi: controller_cluster, system, se_group, service_engine, virtual_service. Triton: compute_node, instance.
# VirtFusion: hypervisor, server (what the vendor calls a virtual machine).
TARGET_TYPES = ("controller_cluster", "system", "se_group", "service_engine", "virtual_service", "instance",
                "compute_node", "hypervisor", "server")
STEP_KEYS = ("target", "target_type", "group", "start", "end", "result", "phases", "disruption", "message")
# Colours of the phases, in order of first appearance; red is kept for disruption.
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
           "#aec7e8")
DISRUPTIVE = "#d62728"
SKIPPED = "#c7c7c7"


class RunRecordError(ValueError):
    """A document that is not a run record; the message names the field."""


def parse_time(value):
    """An ISO 8601 time (as ``now(utc=true).isoformat()`` writes it) as an aware datetime, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        stamp = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            stamp = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise RunRecordError("not an ISO 8601 time: %r" % (value,))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp


def iso(stamp, naive=False):
    """ISO 8601 in UTC; ``naive`` leaves out the offset, as ``now(utc=true).isoformat()`` does."""
    if not stamp:
        return None
    stamp = stamp.astimezone(datetime.timezone.utc)
    return (stamp.replace(tzinfo=None) if naive else stamp).isoformat()


def validate(record):
    """Raise RunRecordError naming the first field that does not follow the format."""
    if not isinstance(record, dict):
        raise RunRecordError("a run record is a mapping, got %s" % type(record).__name__)
    if record.get("format") != FORMAT:
        raise RunRecordError("format must be %s, got %r" % (FORMAT, record.get("format")))
    for key in ("kind", "title", "result"):
        if not isinstance(record.get(key), str) or not record.get(key):
            raise RunRecordError("%s must be a non-empty string" % key)
    parse_time(record.get("started"))
    parse_time(record.get("ended"))
    steps = record.get("steps")
    if not isinstance(steps, list):
        raise RunRecordError("steps must be a list")
    for index, step in enumerate(steps):
        where = "steps[%d]" % index
        if not isinstance(step, dict):
            raise RunRecordError("%s must be a mapping" % where)
        missing = [key for key in STEP_KEYS if key not in step]
        if missing:
            raise RunRecordError("%s lacks %s" % (where, ", ".join(missing)))
        if not isinstance(step["target"], str) or not step["target"]:
            raise RunRecordError("%s.target must be a non-empty string" % where)
        if step["target_type"] not in TARGET_TYPES:
            raise RunRecordError("%s.target_type must be one of %s, got %r"
                                 % (where, ", ".join(TARGET_TYPES), step["target_type"]))
        start, end = parse_time(step["start"]), parse_time(step["end"])
        if start and end and end < start:
            raise RunRecordError("%s ends before it starts" % where)
        if not isinstance(step["phases"], list):
            raise RunRecordError("%s.phases must be a list" % where)
        for pindex, phase in enumerate(step["phases"]):
            pwhere = "%s.phases[%d]" % (where, pindex)
            if not isinstance(phase, dict) or not phase.get("name"):
                raise RunRecordError("%s needs a name" % pwhere)
            if parse_time(phase.get("start")) is None or parse_time(phase.get("end")) is None:
                raise RunRecordError("%s needs start and end" % pwhere)
        if not isinstance(step["disruption"], dict):
            raise RunRecordError("%s.disruption must be a mapping (expected, virtual_services, seconds)" % where)
    return record


def phases_from_progress(progress, started, key=None, disruptive=()):
    """Phases from a module's ``progress`` history.

    ``started`` is when the task began (ISO 8601); each entry's ``elapsed`` is added to it. With
    ``key`` (``instance``, ``vs``...) the entries are split by that field and a mapping
    ``{value: [phases]}`` is returned (entries without it are left out); without, one list. A phase
    runs from its first entry to the first entry of the next phase of the same target (the last
    one to its own last entry). Phase names in ``disruptive`` are marked ``disruptive: true``.
    """
    origin = parse_time(started)
    # write the times the way ``started`` was written (the roles use naive UTC from now(utc=true))
    naive = isinstance(started, str) and not started.endswith("Z") and "+" not in started[10:] and \
        "-" not in started[10:]
    if origin is None:
        raise RunRecordError("started is needed to place the progress entries in time")
    by_target = {}
    order = []
    for entry in progress or []:
        if not isinstance(entry, dict) or entry.get("phase") in (None, ""):
            continue
        target = entry.get(key) if key else ""
        if key and target in (None, ""):
            continue
        if target not in by_target:
            by_target[target] = []
            order.append(target)
        by_target[target].append(entry)
    out = {}
    for target in order:
        phases = []
        for entry in by_target[target]:
            at = origin + datetime.timedelta(seconds=float(entry.get("elapsed") or 0))
            if phases and phases[-1]["name"] == entry["phase"]:
                phases[-1]["_last"] = at
                continue
            if phases:
                phases[-1]["_end"] = at
            phases.append({"name": str(entry["phase"]), "_start": at, "_last": at})
        out[target] = [{"name": p["name"], "start": iso(p["_start"], naive),
                        "end": iso(p.get("_end", p["_last"]), naive),
                        "disruptive": p["name"] in disruptive} for p in phases]
    return out if key else out.get("", [])


# -- Building a record while the run goes on ------------------------------------------------------
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


# -- HTML ----------------------------------------------------------------------------------------
CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px;
       color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #555; margin-bottom: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600; }
.badge.ok { background: #2e7d32; } .badge.failed { background: #d62728; } .badge.other { background: #ef6c00; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
table { border-collapse: collapse; margin-top: 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; font-size: 13px; }
th { background: #f4f4f4; }
td.failed { color: #d62728; font-weight: 600; }
svg text { font: 12px system-ui, "DejaVu Sans", sans-serif; }
"""

LABEL_W = 230
CHART_W = 860
ROW_H = 22
GROUP_H = 20
AXIS_H = 26
BAR_H = 14
MIN_BAR = 3


def _esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _nice_step(span):
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400):
        if span / step <= 10:
            return step
    return 86400


def _fmt_seconds(seconds):
    seconds = int(round(seconds))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm%02ds" % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    return "%dh%02dm" % (hours, rest // 60)


def _step_disrupted(step):
    dis = step.get("disruption") or {}
    return bool(dis.get("expected")) or bool(dis.get("seconds")) or any(
        p.get("disruptive") for p in step.get("phases") or [])


def render_html(record, title=None):
    """The run record as one self-contained HTML page with a timeline."""
    validate(record)
    steps = record["steps"]
    times = []
    for step in steps:
        for stamp in (step.get("start"), step.get("end")):
            if parse_time(stamp):
                times.append(parse_time(stamp))
        for phase in step.get("phases") or []:
            times += [parse_time(phase["start"]), parse_time(phase["end"])]
    for stamp in (record.get("started"), record.get("ended")):
        if parse_time(stamp):
            times.append(parse_time(stamp))
    t0 = min(times) if times else None
    span = max(1.0, (max(times) - t0).total_seconds()) if times else 1.0

    def x_of(stamp):
        return LABEL_W + CHART_W * (parse_time(stamp) - t0).total_seconds() / span

    colours = {}
    for step in steps:
        for phase in step.get("phases") or []:
            if not phase.get("disruptive") and phase["name"] not in colours:
                colours[phase["name"]] = PALETTE[len(colours) % len(PALETTE)]
    if any(s.get("start") and s.get("end") and not s.get("phases") for s in steps) and "run" not in colours:
        colours["run"] = PALETTE[len(colours) % len(PALETTE)]

    groups = []
    for step in steps:
        group = step.get("group") or ""
        if group not in groups:
            groups.append(group)

    svg = []
    y = AXIS_H
    for group in groups:
        members = [s for s in steps if (s.get("group") or "") == group]
        svg.append('<g class="group" data-group="%s">' % _esc(group))
        svg.append('<rect x="0" y="%d" width="%d" height="%d" fill="#eef1f5"/>'
                   % (y, LABEL_W + CHART_W + 10, GROUP_H))
        svg.append('<text x="6" y="%d" font-weight="600">%s</text>'
                   % (y + 14, _esc(group or "(no group)")))
        y += GROUP_H
        for step in members:
            failed = step.get("result") in RESULTS_FAILED
            svg.append('<g class="row" data-target="%s" data-group="%s" data-result="%s">'
                       % (_esc(step["target"]), _esc(group), _esc(step.get("result"))))
            svg.append('<line x1="0" x2="%d" y1="%d" y2="%d" stroke="#eee"/>' % (LABEL_W + CHART_W + 10, y + ROW_H, y + ROW_H))
            svg.append('<text x="16" y="%d"%s>%s</text>' % (
                y + 15, ' fill="#d62728" font-weight="600"' if failed else "",
                _esc("%s (%s)" % (step["target"], step.get("result")))))
            bars = step.get("phases") or []
            if not bars and step.get("start") and step.get("end"):
                bars = [{"name": "run", "start": step["start"], "end": step["end"], "disruptive": False}]
            if not bars:
                svg.append('<text x="%d" y="%d" fill="#888" font-style="italic">%s</text>' % (
                    LABEL_W + 4, y + 15, _esc(step.get("message") or step.get("result"))))
            elif step.get("phases") and step.get("start") and step.get("end"):
                # the whole step, faint behind its phases (time outside any recorded phase shows)
                x1, x2 = x_of(step["start"]), x_of(step["end"])
                svg.append('<rect class="span" x="%.1f" y="%d" width="%.1f" height="%d" fill="#e4e4e4"/>'
                           % (x1, y + (ROW_H - BAR_H) // 2 + 3, max(MIN_BAR, x2 - x1), BAR_H - 6))
            for phase in bars:
                x1, x2 = x_of(phase["start"]), x_of(phase["end"])
                width = max(MIN_BAR, x2 - x1)
                fill = DISRUPTIVE if phase.get("disruptive") else colours.get(phase["name"], PALETTE[0])
                seconds = (parse_time(phase["end"]) - parse_time(phase["start"])).total_seconds()
                svg.append(
                    '<rect class="bar%s" data-target="%s" data-group="%s" data-phase="%s" data-start="%s" '
                    'data-end="%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"%s><title>%s</title></rect>'
                    % (" disruptive" if phase.get("disruptive") else "", _esc(step["target"]), _esc(group),
                       _esc(phase["name"]), _esc(phase["start"]), _esc(phase["end"]), x1, y + (ROW_H - BAR_H) // 2,
                       width, BAR_H, fill,
                       ' stroke="#7f0000" stroke-width="1.5"' if phase.get("disruptive") else "",
                       _esc("%s %s: %s, %.1f s" % (step["target"], phase["name"], phase["start"], seconds))))
            if _step_disrupted(step):
                end = max([x_of(p["end"]) for p in bars] or [LABEL_W])
                dis = step.get("disruption") or {}
                svg.append('<path class="disruption" data-target="%s" d="M %.1f %d l 6 -10 l 6 10 z" fill="%s">'
                           '<title>%s</title></path>' % (
                               _esc(step["target"]), end + 4, y + 17, DISRUPTIVE,
                               _esc("disruption: %s" % ", ".join(
                                   dis.get("virtual_services") or []) or "expected")))
            svg.append("</g>")
            y += ROW_H
        svg.append("</g>")
    height = y + 8
    axis = []
    if t0 is not None:
        step_s = _nice_step(span)
        tick = 0
        while tick <= span + 0.001:
            x = LABEL_W + CHART_W * tick / span
            axis.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ddd"/>' % (x, x, AXIS_H - 4, height))
            axis.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>'
                        % (x, AXIS_H - 8, _fmt_seconds(tick)))
            tick += step_s
    full_width = LABEL_W + CHART_W + 30
    svg_doc = ('<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
               'viewBox="0 0 %d %d">%s%s</svg>'
               % (full_width, height, full_width, height, "".join(axis), "".join(svg)))

    legend = "".join('<span><i style="background:%s"></i>%s</span>' % (c, _esc(n)) for n, c in colours.items())
    legend += ('<span><i style="background:%s"></i>disruptive phase</span>'
               '<span><i style="background:%s;height:10px;clip-path:polygon(50%% 0,100%% 100%%,0 100%%)"></i>'
               'service disruption</span>' % (DISRUPTIVE, DISRUPTIVE))

    rows = []
    for step in steps:
        dis = step.get("disruption") or {}
        start, end = parse_time(step.get("start")), parse_time(step.get("end"))
        duration = "%.1f s" % (end - start).total_seconds() if start and end else ""
        phases = ", ".join("%s %.1f s%s" % (p["name"], (parse_time(p["end"]) - parse_time(p["start"])).total_seconds(),
                                            " (disruptive)" if p.get("disruptive") else "")
                           for p in step.get("phases") or [])
        disruption = []
        if dis.get("expected"):
            disruption.append("expected")
        if dis.get("virtual_services"):
            disruption.append(", ".join(dis["virtual_services"]))
        if dis.get("seconds"):
            disruption.append("%s s" % dis["seconds"])
        rows.append("<tr><td>%s</td><td>%s</td><td%s>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                    "<td>%s</td></tr>" % (
                        _esc(step.get("group")), _esc(step["target"]),
                        ' class="failed"' if step.get("result") in RESULTS_FAILED else "", _esc(step.get("result")),
                        _esc(step.get("start") or ""), _esc(duration), _esc(phases), _esc("; ".join(disruption)),
                        _esc(step.get("message"))))
    measured = record.get("disruption") or {}
    measured_html = ""
    if measured.get("measured"):
        items = sorted((measured.get("by_target") or {}).items())
        measured_html = ("<h2>Measured disruption</h2><p>%s total: %s</p>" % (
            _esc(measured.get("unit") or "seconds"), _esc(measured.get("total"))))
        if items:
            measured_html += "<table><tr><th>target</th><th>seconds</th></tr>%s</table>" % "".join(
                "<tr><td>%s</td><td>%s</td></tr>" % (_esc(k), _esc(v)) for k, v in items)
    result = record["result"]
    badge = "ok" if result == "ok" else ("failed" if result in RESULTS_FAILED else "other")
    started = record.get("started") or ""
    details = record.get("details") or {}
    detail_text = ", ".join("%s: %s" % (k, v) for k, v in sorted(details.items()) if not isinstance(v, (dict, list)))
    doc_title = title or record["title"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="generator" content="fleetops.maintenance run_record_html">'
        "<title>%s</title><style>%s</style></head><body>"
        '<h1>%s <span class="badge %s" id="result">%s</span></h1>'
        '<div class="meta">%s &middot; started %s &middot; %s%s%s</div>'
        '<div class="meta">%s</div>'
        '<div class="legend">%s</div>%s'
        "<h2>Steps</h2><table><tr><th>group</th><th>target</th><th>result</th><th>start</th><th>duration</th>"
        "<th>phases</th><th>disruption</th><th>message</th></tr>%s</table>%s"
        "</body></html>\n" % (
            _esc(doc_title), CSS, _esc(doc_title), badge, _esc(result), _esc(record["kind"]), _esc(started),
            _esc("%s s" % record.get("duration_seconds") if record.get("duration_seconds") is not None else ""),
            " &middot; check mode (nothing changed)" if record.get("check_mode") else "",
            " &middot; %d failure(s)" % record["failures"] if record.get("failures") else "",
            _esc(detail_text), legend, svg_doc, "".join(rows), measured_html))
