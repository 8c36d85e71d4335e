# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Reading the upgrade state of an Avi controller: versions, images and the status of upgrades.

Two API generations exist. Controllers before 18.2.6 have the 17.x system-upgrade API
(``POST /api/cluster/upgrade``, ``GET /api/cluster/upgrade/status``); from 18.2.6 on, the
flexible-upgrade API (``/api/image``, ``POST /api/upgrade``, ``GET /api/upgradestatusinfo`` with
one entry per controller cluster, SE group and SE). :class:`UpgradeView` hides the difference
behind one snapshot of versions and states.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import ref_uuid
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import SE_ENABLED

FLEXIBLE_SINCE = (18, 2, 6)

NODE_CONTROLLER = "NODE_CONTROLLER_CLUSTER"
NODE_SE_GROUP = "NODE_SE_GROUP"
NODE_SE = "NODE_SE_TYPE"

# UPGRADE_FSM_* states (UpgradeOpsState.state) by meaning.
FSM_RUNNING = ("UPGRADE_FSM_INIT", "UPGRADE_FSM_STARTED", "UPGRADE_FSM_WAITING", "UPGRADE_FSM_IN_PROGRESS",
               "UPGRADE_FSM_ENQUEUED", "UPGRADE_FSM_SE_UPGRADE_IN_PROGRESS", "UPGRADE_FSM_CONTROLLER_COMPLETED",
               "UPGRADE_FSM_ABORT_IN_PROGRESS")
FSM_FAILED = ("UPGRADE_FSM_ERROR", "UPGRADE_FSM_ABORTED", "UPGRADE_FSM_ENQUEUE_FAILED")
FSM_SUSPENDED = ("UPGRADE_FSM_SUSPENDED", "UPGRADE_FSM_PAUSED")
FSM_COMPLETED = "UPGRADE_FSM_COMPLETED"

# 17.x SystemUpgradeState.controller_state.state values.
LEGACY_RUNNING = ("UPGRADE_STARTED", "UPGRADE_WAITING", "UPGRADE_IN_PROGRESS", "UPGRADE_CONTROLLER_COMPLETED",
                  "UPGRADE_ABORT_IN_PROGRESS")
LEGACY_FAILED = ("UPGRADE_ABORTED",)


# The forms an Avi version takes: a base version (22.1.7), with a build number (22.1.7-9300, as in an
# image's tag) or with a patch (30.2.1-2p1: BuildInfo.patch_version "2p1" on base 30.2.1, the vendor's
# patch naming, e.g. its SDK branches 22.1.4-1p1 or 30.1.1-1p1).
VERSION_FORM = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-(?:\d+|\d+p\d+))?$")


def check_version(text, option="version"):
    """``text`` as given by the user, refused with ``ValueError`` naming ``option`` unless it is an Avi
    version in one of the forms in VERSION_FORM (nothing before or after it)."""
    if not isinstance(text, str) or not VERSION_FORM.match(text):
        raise ValueError("%s must be an Avi version such as 22.1.7, 22.1.7-9300 (with a build) or 30.2.1-2p1 (with "
                         "a patch), got %r" % (option, text))
    return text


def parse_version(text):
    """``"22.1.7-9300"`` / ``"22.1.7(9300)"`` / ``"22.1.7"`` -> (22, 1, 7); None when no number."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", str(text or ""))
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def same_version(one, other):
    left, right = parse_version(one), parse_version(other)
    return left is not None and left == right


def version_text(version):
    return ".".join(str(part) for part in version) if version else None


def _state(entry):
    state = entry.get("state")
    if isinstance(state, dict):
        return state.get("state"), state.get("reason")
    return state, entry.get("reason")


def image_summary(image):
    """The fields of an ``image`` object the collection uses."""
    info = image.get("controller_info") or {}
    build = info.get("build") or {}
    state = image.get("img_state") or {}
    return {
        "uuid": image.get("uuid"),
        "name": image.get("name"),
        "version": build.get("version"),
        "build": build.get("build_no"),
        "min_version": build.get("min_version"),
        "path": info.get("path"),
        "hash": info.get("hash"),
        "state": state.get("state") if isinstance(state, dict) else state,
        "progress": image.get("progress"),
    }


class UpgradeView(object):
    """A snapshot of the controller's versions and upgrade states.

    ``controller``: {version, previous_version, state, reason, progress, enable_rollback, ...};
    ``groups`` and ``ses``: uuid -> the same shape plus ``name`` (and ``group_uuid`` for SEs).
    """

    def __init__(self, flexible, controller, groups, ses, raw=None):
        self.flexible = flexible
        self.controller = controller
        self.groups = groups
        self.ses = ses
        self.raw = raw

    def group_named(self, value):
        for uuid, group in self.groups.items():
            if value in (uuid, group.get("name")):
                return group
        return None

    def ses_of(self, group_uuid):
        return sorted((se for se in self.ses.values() if se.get("group_uuid") == group_uuid),
                      key=lambda se: se.get("name") or "")


def running_version(client):
    """The controller's running version (``GET /api/initial-data``, readable without a session)."""
    data = client.get("/api/initial-data")
    version = (data or {}).get("version") or {}
    return version.get("Version") if isinstance(version, dict) else version


def is_flexible(version, api="auto"):
    if api == "flexible":
        return True
    if api == "legacy":
        return False
    parsed = parse_version(version)
    return parsed is None or parsed >= FLEXIBLE_SINCE


def _entry(item):
    state, reason = _state(item)
    seg = item.get("seg_status") or {}
    return {
        "uuid": item.get("uuid"), "name": item.get("name"), "node_type": item.get("node_type"),
        "version": item.get("version"), "previous_version": item.get("previous_version"),
        "state": state, "reason": reason or seg.get("reason"), "progress": item.get("progress"),
        "tasks_completed": item.get("tasks_completed"), "total_tasks": item.get("total_tasks"),
        "enable_rollback": item.get("enable_rollback"), "upgrade_ops": item.get("upgrade_ops"),
        "start_time": item.get("start_time"), "end_time": item.get("end_time"),
        "events": [e.get("task_name") or e.get("task") for e in item.get("upgrade_events") or []
                   if isinstance(e, dict)],
        "seg_status": seg,
    }


def _versions_from_ses(groups, ses):
    """A group without a version of its own has the version all its SEs run (None when they differ)."""
    for group in groups.values():
        if not group.get("version"):
            versions = set(se["version"] for se in ses.values() if se["group_uuid"] == group["uuid"])
            group["version"] = versions.pop() if len(versions) == 1 else None


def read_view(client, flexible):
    """Read an :class:`UpgradeView` (the SEs' runtime ``version`` and group from ``serviceengine-inventory``).

    The upgrade status is read first and the SEs after it, so an SE an upgrade status calls done is read done."""
    status = (client.get("cluster/upgrade/status") or {}) if not flexible else None
    entries = client.get_all("upgradestatusinfo") if flexible else None
    ses = {}
    for item in client.get_all("serviceengine-inventory", params={"include_name": "true"}):
        config = item.get("config") or {}
        runtime = item.get("runtime") or {}
        uuid = item.get("uuid") or config.get("uuid")
        oper = runtime.get("oper_status")
        ses[uuid] = {"uuid": uuid, "name": config.get("name"), "group_uuid": ref_uuid(config.get("se_group_ref")),
                     "version": runtime.get("version"), "state": None, "reason": None,
                     "oper_state": oper.get("state") if isinstance(oper, dict) else oper,
                     "enable_state": config.get("enable_state", SE_ENABLED)}
    groups = {}
    for group in client.get_all("serviceenginegroup"):
        groups[group["uuid"]] = {"uuid": group["uuid"], "name": group.get("name"), "version": None,
                                 "state": None, "reason": None, "ha_mode": group.get("ha_mode")}
    if not flexible:
        ctl = status.get("controller_state") or {}
        controller = {"version": running_version(client), "previous_version": status.get("from_version"),
                      "state": ctl.get("state") if isinstance(ctl, dict) else ctl,
                      "reason": status.get("reason"), "in_progress": bool(status.get("in_progress")),
                      "to_version": status.get("to_version"), "progress": status.get("progress"),
                      "tasks": [t.get("task") if isinstance(t, dict) else t
                                for t in status.get("tasks_completed") or []],
                      "enable_rollback": bool(status.get("from_version"))}
        _versions_from_ses(groups, ses)
        return UpgradeView(False, controller, groups, ses, raw=status)
    controller = {"version": None, "state": None}
    for item in entries:
        entry = _entry(item)
        kind = entry["node_type"]
        if kind == NODE_CONTROLLER:
            controller = entry
        elif kind == NODE_SE_GROUP and entry["uuid"] in groups:
            entry["ha_mode"] = groups[entry["uuid"]].get("ha_mode")
            groups[entry["uuid"]].update(dict((k, v) for k, v in entry.items() if k != "name" or v))
        elif kind == NODE_SE and entry["uuid"] in ses:
            se = ses[entry["uuid"]]
            for key in ("state", "reason", "progress", "previous_version", "start_time", "end_time"):
                se[key] = entry.get(key)
            se["version"] = se["version"] or entry.get("version")
    if not controller.get("version"):
        controller["version"] = running_version(client)
    _versions_from_ses(groups, ses)
    return UpgradeView(True, controller, groups, ses, raw=entries)
