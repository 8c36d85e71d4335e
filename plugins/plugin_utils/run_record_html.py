# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run record (``run_record``'s format) as one self-contained HTML page.

``render_html`` draws it with inline CSS and SVG, nothing fetched: a timeline with one row per step,
grouped by ``group``, each phase a bar, disruptive phases and steps marked; then a table of the steps and
the measured disruption.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import RESULTS_FAILED, parse_time, validate

# Colours of the phases, in order of first appearance; red is kept for disruption.
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
           "#aec7e8")
DISRUPTIVE = "#d62728"
SKIPPED = "#c7c7c7"

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
