# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Following a VirtFusion migration (a mixin of ``VirtFusionProvider``): the attached ``start`` console
(its step lines become progress; a dropped connection is re-attached with the same command; when
it ends with every step complete the engine hears VENDOR_DONE, at a failed step VENDOR_FAILED), its
outcome from ``last-status`` and the listing, polling where there is no console (hybrid, or a
migration this run did not start), and ``last-debug``'s tail on a failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import poll_sleeps
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import VENDOR_DONE, VENDOR_FAILED, MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import GROUP, VirtFusionError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.output import (
    DEBUG_LINES,
    STARTED_STEPS,
    STEP_RE,
    add_measured,
    failed_line,
    redact,
    slug,
)


class Following(object):
    """Uses ``self.client``, the records (``self.record``, ``self._live_record``), the listing (``self._where``)
    and what this worker started (``self._attached``, ``self._reattach``, ``self._cache["started"]``)."""

    POLL_SECONDS = 1.0   # the longest pause between two status reads (re-attach without a console, hybrid)

    def wait(self, inst, on_event, timeout):
        sid = inst["id"]
        attached = self._attached.pop(sid, None)
        with self._cache["lock"]:
            started = self._cache["started"].get(sid) or {}
        if attached is None and started.get("kind") != "hybrid":
            rec = self._live_record(inst)
            target = (rec.target_server if rec is not None else None) or started.get("dst") or \
                self._reattach.get(sid)
            if rec is not None and rec.state == "running" and target is not None:
                # re-attach with the same command [vendor]: its console shows the steps, it ends with the migration
                attached = {"argv": self.client.argv("start", server=sid, dst=target, as_json=False), "dst": target,
                            "src": inst["server"], "reattach": True}
        if attached is not None:
            return self._follow_console(inst, attached, on_event, timeout)
        return self._poll(inst, on_event, timeout)

    def _follow_console(self, inst, attached, on_event, timeout):
        name = inst["name"]
        deadline = time.monotonic() + timeout
        shown, lines = {}, []

        def on_line(line):
            lines.append(line)
            m = STEP_RE.match(line)
            if not m:
                return
            status, step = m.group(1).lower(), m.group(2)
            base = step.split("  ")[0].split(":")[0].strip()
            if shown.get(base) == (status, step):
                return
            shown[base] = (status, step)
            on_event({"phase": slug(base), "message": "[%s] %s" % (status, step), "state": status})
            if status == "failed":   # a failed step fails the migration [vendor]: stop a window's new starts now
                on_event({"type": VENDOR_FAILED})
        for _attempt in range(20):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ans = self.client.follow(attached["argv"], on_line, left)
            except (ConnectionProblem, VirtFusionError):
                ans = False   # dropped: re-attach with the same command [vendor]
            ended = time.monotonic()
            if ans is None:
                break
            done = ans is not False and shown and all(st == "complete" for st, _step in shown.values()) and \
                not failed_line(lines)
            if done:
                # the console ended ("each step will be shown in the console": it ends with the migration) with every
                # step it showed complete: the vendor is done with it; a window starts the next one now, while
                # last-status and the listing confirm the outcome
                on_event({"type": VENDOR_DONE})
            rec = self._live_record(inst)
            if rec is not None and rec.state == "running":
                continue      # the console ended before the migration (a dropped connection): re-attach
            # the listings that show where it is begin after its end: the console's end when it showed every step
            # complete (the listings then serve the window's other workers whose consoles had ended), else the
            # answer of last-status
            return self._outcome(inst, attached, rec, ans, bool(shown), lines, ended if done else time.monotonic())
        raise MigrationError("%s: still migrating after %d seconds (timeout); the migration goes on: run the task "
                             "again to re-attach to it" % (name, timeout))

    def _outcome(self, inst, attached, rec, ans, ran, lines, ended):
        """How an attached start ended: ``last-status`` and where the server is listed by listings begun at
        ``ended`` (when it had ended) or later, shared with the other workers that need them."""
        sid, dst = inst["id"], attached["dst"]
        on = self._where(sid, refresh=tuple(h for h in (attached.get("src"), dst) if h is not None), since=ended)
        text = ans.text if ans else ""
        done_texts = ("is already on the destination", "Specify a destination hypervisor ID")
        if on == dst and (rec is None or rec.state == "successful" or any(t in text for t in done_texts)):
            if rec is not None:
                self._ended[sid], self._arrived[sid] = rec, on
            end = {"type": "end", "phase": rec.phase if rec else "live", "state": "successful", "message": None}
            if rec is not None and rec.raw.get("qemu") is not None:
                add_measured(rec, end)
            return end
        reason = "; ".join(e for e in (ans.errors if ans else []) if e) or (rec.error if rec else None)
        if rec is not None and rec.state in ("failed", "cancelled") and (ran or not ans or ans.rc not in (None, 0)):
            tail = self.debug_tail(inst)
            end = {"type": "end", "phase": rec.phase, "state": "failed", "debug_tail": tail,
                   "message": (rec.error or failed_line(lines) or reason or "the migration failed")}
            return end
        raise MigrationError("%s: vfcli-ctrl %s start was refused: %s" % (
            inst["name"], GROUP, reason or "the server is not on hypervisor %s and no migration runs" % dst),
            reason=reason)

    def _poll(self, inst, on_event, timeout):
        """Follow a migration without a console (a hybrid one; or a live one this run did not start): its status,
        and its steps when the answer shows them, polled with sleeps that start short and grow to POLL_SECONDS."""
        shown = {}
        for _attempt in poll_sleeps(timeout, self.POLL_SECONDS):
            rec = self.record(inst)
            if rec is None:
                raise MigrationError("%s: the migration disappeared while it was followed" % inst["name"])
            for st in STARTED_STEPS.search(rec.raw) or []:
                if shown.get(st["name"]) == st["status"] or st["status"] == "unknown":
                    continue
                shown[st["name"]] = st["status"]
                text = "[%s] %s" % (st["status"], st["name"])
                if st.get("message") and st["status"] in ("complete", "failed"):
                    text += ": %s" % st["message"]
                on_event({"phase": slug(st["name"]), "message": text, "state": st["status"]})
            if rec.state != "running":
                end = {"type": "end", "phase": rec.phase, "state": rec.state, "message": rec.error}
                if rec.state == "cancelled":   # cancelled by someone else while followed: not a success
                    end.update(state="failed", message="the migration was cancelled while it was followed")
                if rec.state in ("failed", "cancelled") and rec.extra.get("type") == "live":
                    end["debug_tail"] = self.debug_tail(inst)
                if rec.state == "successful" and rec.raw.get("qemu") is not None:
                    add_measured(rec, end)
                return end
        raise MigrationError("%s: still migrating after %d seconds (timeout); the migration goes on: run the task "
                             "again to re-attach to it" % (inst["name"], timeout))

    def debug_tail(self, inst, lines=DEBUG_LINES):
        """The last lines of ``last-debug`` [vendor: "the debug information of the last migration"], secrets
        masked; [] when it cannot be read."""
        try:
            ans = self.client.run("last-debug", server=inst["id"], as_json=False)
        except VirtFusionError:
            return []
        text = ans.out if ans.out.strip() else ans.err
        return [redact(line) for line in text.splitlines() if line.strip()][-lines:]
