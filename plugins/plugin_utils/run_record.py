# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run records: one machine-readable format for what a role did.

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

This file holds the format: ``validate``, the times (``parse_time``, ``iso``), and ``phases_from_progress``,
which builds phases from the ``progress`` history the collection's modules return (every entry has
``elapsed`` seconds since the module started and a ``phase``). A record is built as the run goes on by
``run_record_builder``, kept on disk by ``run_record_store`` and rendered as a self-contained HTML page by
``run_record_html``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

FORMAT = "fleetops.maintenance.run_record/v1"
RESULTS_FAILED = ("failed",)
# Avi: controller_cluster, system, se_group, service_engine, virtual_service. Triton: compute_node, instance.
# VirtFusion: hypervisor, server (what the vendor calls a virtual machine).
TARGET_TYPES = ("controller_cluster", "system", "se_group", "service_engine", "virtual_service", "instance",
                "compute_node", "hypervisor", "server")
STEP_KEYS = ("target", "target_type", "group", "start", "end", "result", "phases", "disruption", "message")


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
    one to its own last entry or update: an entry's ``updated``, when the module folded a step's later
    updates into it). Phase names in ``disruptive`` are marked ``disruptive: true``.
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
            # a step whose later updates the module folded into it (``updated``) lasted until the last of them
            last = origin + datetime.timedelta(seconds=float(entry.get("updated") or entry.get("elapsed") or 0))
            if phases and phases[-1]["name"] == entry["phase"]:
                phases[-1]["_last"] = max(phases[-1]["_last"], last)
                continue
            if phases:
                phases[-1]["_end"] = at
            phases.append({"name": str(entry["phase"]), "_start": at, "_last": max(at, last)})
        out[target] = [{"name": p["name"], "start": iso(p["_start"], naive),
                        "end": iso(p.get("_end", p["_last"]), naive),
                        "disruptive": p["name"] in disruptive} for p in phases]
    return out if key else out.get("", [])
