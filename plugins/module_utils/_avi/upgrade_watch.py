# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Following one upgrade (or rollback) step of an Avi system to its end, for ``cluster_upgrade``: read
the versions and states through the controllers' reboot window (503s, dropped connections and lost
sessions are waited out, the wait shown in the progress), report per node, and tell done from
failed (a suspended or failed upgrade is a failure once it was seen running, or after three reads).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import (
    FSM_FAILED,
    FSM_RUNNING,
    FSM_SUSPENDED,
    LEGACY_FAILED,
    LEGACY_RUNNING,
    read_view,
    same_version,
)

UNAVAILABLE_RETRY = 20.0


def _unavailable(exc):
    """A failure that means 'the controller is not answering now' (reboot window), not a refusal."""
    return isinstance(exc, AviError) and (exc.status is None or exc.status >= 500)


class UpgradeWatch(object):
    """Reads and judges the upgrade of a scope (``groups``, or the one SE ``se_uuid``; the controllers
    with scope controller or system)."""

    def __init__(self, client, progress, scope, flexible, groups, se_uuid, interval):
        self.client = client
        self.progress = progress
        self.scope = scope
        self.flexible = flexible
        self.groups = groups
        self.se_uuid = se_uuid
        self.interval = interval
        self.seen_running = False
        self.polls = 0
        self.failure = None

    def poll(self, wanted):
        """One look: ``(outcome, view)`` once done or failed (see :meth:`outcome`), None while it runs or
        the controller is unreachable."""
        view = self.view()
        if view is None:
            return None
        self.polls += 1
        self.report(view, wanted)
        outcome = self.outcome(view, wanted)
        return (outcome, view) if outcome else None

    def view(self):
        """A fresh view, or None while the controller is unreachable (reboot window)."""
        try:
            with self.client.short_retries(min(UNAVAILABLE_RETRY, max(1.0, self.interval * 4))):
                return read_view(self.client, self.flexible)
        except AviError as exc:
            if _unavailable(exc):
                self.progress.update("reboot", "controller API unavailable (%s): nodes rebooting or the cluster "
                                     "re-forming, waiting" % (exc.status or "connection dropped"))
                return None
            raise

    def report(self, view, wanted):
        scope = self.scope
        ctl = view.controller
        if scope in ("controller", "system"):
            steps = ctl.get("events") if self.flexible else ctl.get("tasks")  # the last one is shown
            self.progress.update("controller", "controller cluster %s: %s%s" % (
                ctl.get("version"), ctl.get("state"), " (%s)" % steps[-1] if steps else ""), percent=ctl.get("progress"))
        for guuid in self.groups:
            members = [view.ses[self.se_uuid]] if self.se_uuid else view.ses_of(guuid)
            done = [se["name"] for se in members if same_version(se["version"], wanted)]
            busy = [se["name"] for se in members if se.get("state") in FSM_RUNNING
                    or (se.get("oper_state") not in (None, "OPER_UP") and not same_version(se["version"], wanted))]
            group = view.groups[guuid]
            label = ("service_engine %s" % members[0]["name"]) if self.se_uuid else ("se_group %s" % group["name"])
            self.progress.update(label, "%s: %d/%d SE(s) at %s%s%s" % (
                group["name"], len(done), len(members), wanted,
                "; upgrading %s" % ", ".join(busy) if busy else "",
                "; %s" % group.get("state") if group.get("state") and not self.se_uuid else ""),
                percent=100 * len(done) // len(members) if members else None)

    def outcome(self, view, wanted):
        """'done', 'failed' (with self.failure set) or None (still running)."""
        scope = self.scope
        ctl = view.controller
        if not self.flexible:
            state = ctl.get("state")
            if state in LEGACY_FAILED and self.seen_running:
                self.failure = "upgrade %s: %s" % (state, ctl.get("reason") or "no reason given")
                return "failed"
            if state in LEGACY_RUNNING or ctl.get("in_progress"):
                self.seen_running = True
                return None
            if not same_version(ctl.get("version"), wanted):
                return None
            if all(same_version(se["version"], wanted) for guuid in self.groups for se in view.ses_of(guuid)):
                return "done"
            return None
        checks = []
        if scope in ("controller", "system"):
            checks.append(("controller cluster", ctl.get("version"), ctl.get("state"), ctl.get("reason")))
        for guuid in self.groups:
            group = view.groups[guuid]
            if self.se_uuid:
                se = view.ses[self.se_uuid]
                checks.append(("service engine %s" % se["name"], se["version"], se.get("state"), se.get("reason")))
            else:
                versions = [se["version"] for se in view.ses_of(guuid)]
                version = wanted if versions and all(same_version(v, wanted) for v in versions) else None
                checks.append(("SE group %s" % group["name"], version or group.get("version"), group.get("state"),
                               group.get("reason")))
        pending = False
        for label, version, state, reason in checks:
            if state in FSM_RUNNING:
                self.seen_running = True
                pending = True
                continue
            if (state in FSM_FAILED or state in FSM_SUSPENDED) and (self.seen_running or self.polls >= 3):
                self.failure = "%s: %s%s" % (label, state, " (%s)" % reason if reason else "")
                return "failed"
            if not same_version(version, wanted):
                pending = True
        return None if pending else "done"

    def status(self, view):
        out = {"api": "flexible" if self.flexible else "17.x"}
        scope = self.scope
        if scope in ("controller", "system"):
            ctl = view.controller
            out["controller"] = dict((k, ctl.get(k)) for k in ("version", "previous_version", "state", "reason",
                                                               "progress", "enable_rollback"))
        groups = {}
        for guuid in self.groups:
            group = view.groups[guuid]
            groups[group["name"]] = dict((k, group.get(k)) for k in ("version", "state", "reason", "progress"))
        if groups:
            out["se_groups"] = groups
        members = [view.ses[self.se_uuid]] if self.se_uuid else [se for g in self.groups for se in view.ses_of(g)]
        if members:
            out["service_engines"] = dict((se["name"], dict((k, se.get(k)) for k in (
                "version", "state", "reason", "oper_state", "enable_state"))) for se in members)
        return out

    def cluster(self):
        try:
            data = self.client.get("cluster/status") or {}
        except AviError:
            return None
        cstate = data.get("cluster_state") or {}
        return {"state": cstate.get("state"),
                "nodes": [{"name": n.get("name"), "role": n.get("role"), "state": n.get("state")}
                          for n in data.get("node_states") or []]}
