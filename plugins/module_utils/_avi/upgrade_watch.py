# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Following one upgrade (or rollback) step of an Avi system to its end, for ``cluster_upgrade``: read the versions
and states through the controllers' reboot window (503s, dropped connections and lost sessions are waited out,
the wait shown in the progress), report the controller cluster per task and each SE as the controller reports
it, and tell done from failed (a suspended or failed upgrade is a failure once it was seen running, or after
three reads). One SE group suspending or failing does not stop the watch: the controller goes on with the other
groups of the request, and so does the watch, until each has reached its end; the step then fails naming the
group(s) that did not complete, with each group's real end in ``group_results``.

Each SE's phase is the list of its SE group's ``seg_status`` that names it (``se_upgrade_not_started``,
``se_upgrade_in_progress``, ``se_upgrade_completed``, ``se_upgrade_failed``, ``se_upgrade_suspended``,
``se_upgrade_skip_suspended``; on 17.x the same lists of ``se_state``), read at every poll; the order in which
the controller upgrades the SEs of a group is not documented, so none is assumed: a progress entry (with ``se``
and ``group``) is written whenever an SE moves from one list to another, which is what the run record's
timeline shows. ``NODE_SE_TYPE`` entries of ``upgradestatusinfo`` add their state and reason where the
controller keeps them.

:class:`UpgradeFollowing` is how ``cluster_upgrade``'s step (``_avi.cluster_upgrade``) uses the watch: wait
with the module's timeout, follow to the end and report what was reached, say how to resume a suspended group.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError, ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import (
    FSM_FAILED,
    FSM_RUNNING,
    FSM_SUSPENDED,
    LEGACY_FAILED,
    LEGACY_RUNNING,
    read_view,
    same_version,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout, wait_until

UNAVAILABLE_RETRY = 20.0
# the controller CLI's resume of a suspended SE group (told to the operator when an upgrade suspends)
RESUME_CLI = "resume segroup se_group_refs %s"
# the lists of SeGroupStatus (and of the 17.x SeUpgradeStatusSummary) that say where an SE is, later ones win
SE_LISTS = ("se_upgrade_not_started", "se_upgrade_in_progress", "se_upgrade_completed", "se_upgrade_failed",
            "se_upgrade_suspended", "se_upgrade_skip_suspended")
SE_WORDS = {"se_upgrade_not_started": "waiting", "se_upgrade_in_progress": "upgrading",
            "se_upgrade_completed": "upgraded", "se_upgrade_failed": "failed", "se_upgrade_suspended": "suspended",
            "se_upgrade_skip_suspended": "skipped (suspended)"}


def _unavailable(exc):
    """A failure that means 'the controller is not answering now' (reboot window), not a refusal."""
    return isinstance(exc, AviError) and (exc.status is None or exc.status >= 500)


def se_lists(view, group_uuids):
    """{se uuid: the SE list that names it} for the groups, from the view (flexible or 17.x)."""
    out = {}
    if view.flexible:
        sources = [(view.groups.get(g) or {}).get("seg_status") or {} for g in group_uuids]
    else:
        sources = [(view.raw or {}).get("se_state") or {}]
    for seg in sources:
        for name in SE_LISTS:
            for item in seg.get(name) or []:
                uuid = ref_uuid(item if isinstance(item, str) else (item or {}).get("se_ref"))
                if uuid:
                    out[uuid] = name
    if not view.flexible:
        wanted = set(group_uuids)
        out = dict((u, v) for u, v in out.items() if (view.ses.get(u) or {}).get("group_uuid") in wanted)
    return out


SE_RESULTS = {"se_upgrade_failed": "failed", "se_upgrade_suspended": "suspended",
              "se_upgrade_skip_suspended": "skipped", "se_upgrade_not_started": "not_started",
              "se_upgrade_in_progress": "in_progress"}


def se_results(view, group_uuids, before, wanted):
    """Each SE of the groups as the step leaves it: ``upgraded``, ``already_upgraded``, or where the controller
    lists it (``failed``, ``suspended``, ...). ``before``: the step's versions before (``service_engine <name>``);
    an SE not in it was created during the step (for protection) and is reported with the created SEs."""
    lists = se_lists(view, group_uuids)
    out = []
    for guuid in group_uuids:
        for se in view.ses_of(guuid):
            if "service_engine %s" % se["name"] not in before:
                continue
            was = before.get("service_engine %s" % se["name"])
            if same_version(se["version"], wanted):
                result = "already_upgraded" if same_version(was, wanted) else "upgraded"
            else:
                result = SE_RESULTS.get(lists.get(se["uuid"]), "not_upgraded")
            out.append({"name": se["name"], "se_group": view.groups[guuid]["name"], "result": result,
                        "version": se["version"], "controller_list": lists.get(se["uuid"])})
    return out


def group_results(view, group_uuids, wanted):
    """Each SE group's end as the controller reports it: ``result`` ``upgraded`` (every SE at ``wanted``),
    ``suspended``, ``failed``, ``in_progress`` or ``not_upgraded``, with the controller's ``state`` and ``reason``."""
    out = []
    for guuid in group_uuids:
        group = view.groups.get(guuid) or {}
        members = view.ses_of(guuid)
        state = group.get("state")
        if members and all(same_version(se["version"], wanted) for se in members):
            result = "upgraded"
        elif state in FSM_SUSPENDED:
            result = "suspended"
        elif state in FSM_FAILED:
            result = "failed"
        elif state in FSM_RUNNING:
            result = "in_progress"
        else:
            result = "not_upgraded"
        out.append({"name": group.get("name"), "result": result, "state": state, "reason": group.get("reason"),
                    "service_engines": len(members),
                    "upgraded": len([se for se in members if same_version(se["version"], wanted)])})
    return out


class UpgradeWatch(object):
    """Reads and judges the upgrade of a scope (``groups``; the controllers with scope controller or system)."""

    def __init__(self, client, progress, scope, flexible, groups, interval, disruptive=False):
        self.client = client
        self.progress = progress
        self.scope = scope
        self.flexible = flexible
        self.groups = list(groups)
        self.interval = interval
        self.disruptive = disruptive
        self.seen_running = set()
        self.polls = 0
        self.failure = None
        self.se_phase = {}       # se uuid -> its list, as last reported
        self.se_names = {}
        self.on_poll = None      # called after every successful read (the lease renewal)

    def poll(self, wanted):
        """One look: ``(outcome, view)`` once done or failed (see :meth:`outcome`), None while it runs or
        the controller is unreachable."""
        view = self.view()
        if view is None:
            return None
        self.polls += 1
        self.report(view, wanted)
        if self.on_poll is not None:
            self.on_poll(view)
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
        ctl = view.controller
        if self.scope in ("controller", "system"):
            steps = ctl.get("events") if self.flexible else ctl.get("tasks")  # the last one is shown
            self.progress.update("controller", "controller cluster %s: %s%s" % (
                ctl.get("version"), ctl.get("state"), " (%s)" % steps[-1] if steps else ""), percent=ctl.get("progress"))
        self.report_ses(view, wanted)

    def report_ses(self, view, wanted):
        """A progress entry for every SE whose list changed since the last read (see the module docstring)."""
        lists = se_lists(view, self.groups)
        for guuid in self.groups:
            group = view.groups.get(guuid) or {}
            for se in view.ses_of(guuid):
                self.se_names[se["uuid"]] = se["name"]
                where = lists.get(se["uuid"])
                if where is None or where == self.se_phase.get(se["uuid"]):
                    continue
                self.se_phase[se["uuid"]] = where
                detail = ""
                if se.get("state") and where in ("se_upgrade_failed", "se_upgrade_suspended"):
                    detail = " (%s%s)" % (se["state"], ": %s" % se["reason"] if se.get("reason") else "")
                version = se.get("version")
                self.progress.update(where, "SE %s of SE group %s: %s%s%s" % (
                    se["name"], group.get("name"), SE_WORDS[where],
                    " at %s" % version if where == "se_upgrade_completed" and version else "", detail),
                    se=se["name"], group=group.get("name"),
                    disruptive=bool(self.disruptive and where == "se_upgrade_in_progress"))
        for guuid in self.groups:
            group = view.groups.get(guuid) or {}
            members = view.ses_of(guuid)
            done = [se for se in members if same_version(se["version"], wanted)]
            self.progress.update("se_group", "SE group %s: %d/%d SE(s) at %s%s" % (
                group.get("name"), len(done), len(members), wanted,
                "; %s" % group.get("state") if group.get("state") else ""),
                percent=100 * len(done) // len(members) if members else None, group=group.get("name"))

    def outcome(self, view, wanted):
        """'done', 'failed' (with self.failure set) or None (still running)."""
        ctl = view.controller
        if not self.flexible:
            state = ctl.get("state")
            if state in LEGACY_FAILED and "system" in self.seen_running:
                self.failure = "upgrade %s: %s" % (state, ctl.get("reason") or "no reason given")
                return "failed"
            if state in LEGACY_RUNNING or ctl.get("in_progress"):
                self.seen_running.add("system")
                return None
            if not same_version(ctl.get("version"), wanted):
                return None
            if all(same_version(se["version"], wanted) for guuid in self.groups for se in view.ses_of(guuid)):
                return "done"
            failed = [self.se_names.get(u, u) for u, where in se_lists(view, self.groups).items()
                      if where == "se_upgrade_failed"]
            if failed and self.polls >= 3:
                self.failure = "SE(s) %s failed to upgrade: %s" % (
                    ", ".join(sorted(failed)), ctl.get("reason") or "no reason given")
                return "failed"
            return None
        checks = []
        if self.scope in ("controller", "system"):
            checks.append(("controller cluster", ctl.get("version"), ctl.get("state"), ctl.get("reason")))
        for guuid in self.groups:
            group = view.groups[guuid]
            versions = [se["version"] for se in view.ses_of(guuid)]
            if versions:   # the SEs' own versions decide (read after the status)
                version = wanted if all(same_version(v, wanted) for v in versions) else None
            else:
                version = group.get("version")
            checks.append(("SE group %s" % group["name"], version, group.get("state"), group.get("reason")))
        pending, ended = False, []
        for label, version, state, reason in checks:
            if state in FSM_RUNNING:
                self.seen_running.add(label)
                pending = True
                continue
            if (state in FSM_FAILED or state in FSM_SUSPENDED) and (label in self.seen_running or self.polls >= 3):
                ended.append("%s: %s%s" % (label, state, " (%s)" % reason if reason else ""))
                if label == "controller cluster":
                    break   # nothing goes on without the controllers
                continue    # the controller goes on with the other SE groups: so does the watch, to their end
            if not same_version(version, wanted):
                pending = True
        if ended and (not pending or ended[-1].startswith("controller cluster")):
            self.failure = "; ".join(ended)
            return "failed"
        return None if pending else "done"

    def status(self, view):
        out = {"api": "flexible" if self.flexible else "17.x"}
        if self.scope in ("controller", "system"):
            ctl = view.controller
            out["controller"] = dict((k, ctl.get(k)) for k in ("version", "previous_version", "state", "reason",
                                                               "progress", "enable_rollback"))
        groups = {}
        lists = se_lists(view, self.groups)
        for guuid in self.groups:
            group = view.groups[guuid]
            groups[group["name"]] = dict((k, group.get(k)) for k in ("version", "state", "reason", "progress"))
        if groups:
            out["se_groups"] = groups
        members = [se for g in self.groups for se in view.ses_of(g)]
        if members:
            out["service_engines"] = dict((se["name"], dict(
                [(k, se.get(k)) for k in ("version", "state", "reason", "oper_state", "enable_state")]
                + [("controller_list", lists.get(se["uuid"]))])) for se in members)
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


class UpgradeFollowing(object):
    """Following the upgrade (a mixin of ``cluster_upgrade``'s step): uses ``self.watch`` (an :class:`UpgradeWatch`),
    ``self.params``, ``self.groups``, ``self.result``, ``self.hold``, ``self.flexible`` and the step's clock."""

    def _wait(self, condition, what):
        try:
            return wait_until(condition, self.params["timeout"], self.params["wait_sleep"], clock=self._clock,
                              sleep=self._sleep, what=what)
        except WaitTimeout as exc:
            raise ModuleFailure("%s; the controller carries on: run the task again to re-attach" % exc.msg,
                                **self.result)

    def follow(self, wanted, rollback=False):
        """Follow the upgrade (or rollback) to ``wanted`` to its end; fail with what was reached otherwise."""
        outcome, view = self._wait(lambda: self.watch.poll(wanted),
                                   "the %s to %s" % ("rollback" if rollback else "upgrade", wanted))
        self.locked = False
        self.view = view
        self.result["status"] = self.watch.status(view)
        self.result["versions"]["after"] = self._scope_versions(view)
        self.result["diff"]["after"] = {"versions": self.result["versions"]["after"]}
        self.result["service_engines"] = se_results(view, self.groups, self.result["versions"]["before"], wanted)
        if self.groups:
            self.result["se_group_results"] = group_results(view, self.groups, wanted)
        if outcome == "failed":
            raise ModuleFailure("the %s did not complete: %s%s" % ("rollback" if rollback else "upgrade",
                                                                   self.watch.failure, self._ends(view, rollback)),
                                **self.result)
        return view

    def _ends(self, view, rollback):
        """After a failed follow: where the other SE groups ended, and how to resume the suspended ones."""
        ends = self.result.get("se_group_results") or []
        others = [g for g in ends if g["result"] not in ("suspended", "failed")]
        suspended = [g["name"] for g in ends if g["result"] == "suspended"]
        text = ""
        if others and len(ends) > 1:
            text += ". The other SE group(s) went on to their end: %s" % ", ".join(
                "%s %s (%d/%d SEs)" % (g["name"], g["result"], g["upgraded"], g["service_engines"]) for g in others)
        if suspended and not rollback:
            text += (". To resume SE group(s) %s: fix what failed, then run again with resume=true (the upgrade "
                     "playbook: -e resume=true), or on the controller's CLI: %s" % (
                         ", ".join(suspended), "; ".join(RESUME_CLI % name for name in suspended)))
        return text

    def _on_poll(self, view):
        """After every read while following: renew the lease (not while configuration is read-only)."""
        ctl = view.controller
        self.locked = bool(ctl.get("state") in FSM_RUNNING or (not self.flexible and (
            ctl.get("in_progress") or ctl.get("state") in LEGACY_RUNNING)))
        if self.hold is not None and not self.locked:
            self.hold.renew()
