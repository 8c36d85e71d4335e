# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Reading what VirtFusion prints: the status words of ``last-status`` and of each console step, the
console's step lines, the failure a console shows, secrets masked in ``last-debug``, a migration view
as the engine's record, and QEMU's numbers when an answer has them (the lab's rich output; never
required). See ``_virtfusion.provider`` for which of these the vendor documents.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import Migration, MigrationError

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # reported when the provider is built
    jmespath = None
    HAS_JMESPATH = False

if HAS_JMESPATH:
    # what QEMU measured, from the lab's rich migration object (read when present, never required)
    MEASURED = jmespath.compile(
        "{downtime_ms: qemu.downtimeMs, max_downtime_ms: qemu.parameters.\"downtime-limit\", "
        "total_time_ms: qemu.totalTimeMs, setup_time_ms: qemu.setupTimeMs, transferred_bytes: qemu.transferredBytes, "
        "precopy_bytes: qemu.precopyBytes, postcopy_bytes: qemu.postcopyBytes, downtime_bytes: qemu.downtimeBytes, "
        "dirty_sync_count: qemu.dirtySyncCount, max_throttle_percent: qemu.maxThrottlePercent, "
        "max_dirty_rate_mib_s: qemu.maxDirtyRateMiBs, postcopy_started_ms: qemu.postcopyStartedMs, "
        "qemu_status: qemu.status, capabilities: qemu.capabilities, disk_copied_bytes: diskCopiedBytes, "
        "attempts: attempts, data_lost: dataLost}")
    STARTED_STEPS = jmespath.compile("steps[?status != 'pending'].{name: name, status: status, message: message}")
else:   # the provider refuses to start without jmespath; the names stay importable
    MEASURED = STARTED_STEPS = None

WORDS = ("complete", "in-progress", "failed")            # [vendor: the statuses of last-status and of each step]
WORD_RE = re.compile(r"(?<![\w-])(complete|in-progress|failed)(?![\w-])", re.I)
STEP_RE = re.compile(r"^\s*\[(complete|in-progress|failed)\]\s+(.+?)\s*$", re.I)   # a console step line
NO_MIGRATION_RE = re.compile(r"\bno\b[^\n]*\bmigration", re.I)
CANCELLED_RE = re.compile(r"\bcancell?ed\b", re.I)
DEBUG_LINES = 40
SECRET_RE = re.compile(r"(?i)(password|passwd|token|secret|authorization|api[_-]?key)(\S*\s*[=:]\s*)(\S+)")


def as_error(exc, what):
    """A client error (VirtFusionError) as the engine's MigrationError, saying what was being done."""
    return MigrationError("%s: %s" % (what, exc.reason), reason=exc.reason, status=exc.status)


def slug(name):
    """A step's console name as a phase key: "Transfer data" -> "transfer-data"."""
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "migration"


def redact(line):
    return SECRET_RE.sub(lambda m: m.group(1) + m.group(2) + "********", line)


def migration_record(view, simulated=False):
    """A migration as the engine's record, from a view of it (the documented status word, and the steps and
    numbers when the answer shows them)."""
    status = view.get("status")
    if status == "in-progress":
        state = "running"
    elif status == "complete":
        state = "successful"
    else:
        state = "cancelled" if view.get("cancelled") else "failed"
    steps = view.get("steps") or []
    current = [s for s in steps if s.get("status") in ("in-progress", "failed")]
    done = [s for s in steps if s.get("status") == "complete"]
    step = (current[:1] or done[-1:] or [None])[0]
    phase = slug(step["name"]) if step else (view.get("type") or "live")
    extra = {"id": view.get("id"), "type": view.get("type") or "live", "aborted": view.get("aborted"),
             "data_transfer": view.get("dataTransfer"), "data_lost": bool(view.get("dataLost")),
             "attempts": view.get("attempts"),
             "steps": [{"name": s.get("name"), "status": s.get("status"), "message": s.get("message")}
                       for s in steps]}
    if simulated:
        extra["simulated"] = True
    return Migration(phase, state, automatic=True, syncs=0, error="; ".join(view.get("errors") or []) or None,
                     source_server=view.get("sourceId"), target_server=view.get("destinationId"), raw=view,
                     extra=extra)


def failed_line(lines):
    """The failure a console showed: its last failed step and its last error line, or None."""
    failed = [line.strip() for line in lines if line.strip().lower().startswith(("migration failed", "error:"))]
    steps = [line.strip() for line in lines if STEP_RE.match(line) and "[failed]" in line.lower()]
    return "; ".join(steps[-1:] + failed[-1:]) or None


def add_measured(rec, end):
    """What QEMU measured, when the answer shows it (the lab's rich output; never required)."""
    measured = MEASURED.search(rec.raw) or {}
    measured["source"] = "qemu"
    end["measured"] = measured
    end["bytes"] = measured.get("transferred_bytes")
    if measured.get("downtime_ms") is not None:
        end["downtime_seconds"] = measured["downtime_ms"] / 1000.0
