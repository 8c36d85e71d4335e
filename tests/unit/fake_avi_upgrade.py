# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""FakeController plus what upgrades need: images, upgrade status, reboot windows, scale out/in.

An upgrade advances one step each time its status is read. A controller upgrade goes through a
read-only phase (writes answer 403), a reboot window (``reboot_calls`` calls that drop the
connection or answer 503), ends every session (the next call answers 401) and comes back on the
new version. SE upgrades complete one SE per status read.

Why a fake and not the lab: an upgrade here advances per status read, not with time, so the reboot
window, the read-only phase, lost sessions and a suspended group run in milliseconds with no sleep;
the lab's upgrade engine runs in (scaled) time and is tested end to end in
tests/integration/test_upgrade.py. It also plays a controller without the per-SE upgrade API (404),
which the lab always has.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import _ConnectionProblem
from fake_avi import FakeController, ref

IMAGE_REF = "image-22.1.7"


class FakeUpgradeController(FakeController):

    def __init__(self, version="22.1.6"):
        super(FakeUpgradeController, self).__init__()
        self.version = version
        self.previous = None
        self.se_version = dict((u, version) for u in self.ses)
        self.group_state = dict((g, "UPGRADE_FSM_COMPLETED") for g in self.groups)
        self.se_state = dict((u, "UPGRADE_FSM_COMPLETED") for u in self.ses)
        self.controller_state = "UPGRADE_FSM_COMPLETED"
        self.images = {
            IMAGE_REF: self._image(IMAGE_REF, "controller-22.1.7-9300", "22.1.7", "22.1.1", "md5-of-22.1.7"),
            "image-21.1.1": self._image("image-21.1.1", "controller-21.1.1-100", "21.1.1", "20.1.1", "md5-old"),
        }
        self.op = None            # the running upgrade: a list of steps, one per status read
        self.locked = False       # configuration read-only
        self.reboot_calls = 0     # calls left in the reboot window
        self.expire_sessions = False
        self.reform_fails = False
        self.fail_se = set()
        self.uploads = []
        self.per_se_api = True
        self.polls = 0

    @staticmethod
    def _image(uuid, name, version, min_version, md5):
        return {"uuid": uuid, "name": name, "type": "IMAGE_TYPE_SYSTEM",
                "controller_info": {"build": {"version": version, "build_no": 1, "min_version": min_version},
                                    "path": "controller://upgrade_pkgs/%s.pkg" % name, "hash": md5},
                "img_state": {"state": "IMAGE_FSM_COMPLETED"}, "progress": 100}

    # -- upgrade steps --------------------------------------------------------------------------
    def _controller_steps(self, to, then=()):
        def start():
            self.previous, self.controller_state, self.locked = self.version, "UPGRADE_FSM_IN_PROGRESS", True

        def reboot():
            self.reboot_calls = 30  # longer than one call's retries: the wait loop sees it

        def reformed():
            self.expire_sessions = True
            if self.reform_fails:
                self.controller_state = "UPGRADE_FSM_ABORTED"
                self.locked = False
                self.op = None
                return
            self.version = to
            self.controller_state = "UPGRADE_FSM_COMPLETED" if not then else "UPGRADE_FSM_SE_UPGRADE_IN_PROGRESS"
        return [start, lambda: None, reboot, reformed] + list(then)

    def _group_steps(self, groups, to, system=False):
        steps = []
        for guuid in groups:
            steps.append(lambda g=guuid: self.group_state.__setitem__(g, "UPGRADE_FSM_IN_PROGRESS"))
            for se in sorted((s for s in self.ses.values() if self.group_of(s) == guuid), key=lambda s: s["name"]):
                steps.append(lambda u=se["uuid"]: self._upgrade_se(u, to))
            steps.append(lambda g=guuid: self._group_done(g, to))
        if system:
            steps.append(lambda: setattr(self, "controller_state", "UPGRADE_FSM_COMPLETED"))
            steps.append(lambda: setattr(self, "locked", False))
        return steps

    def _upgrade_se(self, uuid, to):
        if self.group_state.get(self.group_of(self.ses[uuid])) == "UPGRADE_FSM_SUSPENDED":
            return
        if uuid in self.fail_se:
            self.fail_se.discard(uuid)
            self.se_state[uuid] = "UPGRADE_FSM_ERROR"
            self.group_state[self.group_of(self.ses[uuid])] = "UPGRADE_FSM_SUSPENDED"
            self.op = []  # the group stops here until resumed
            return
        self.se_version[uuid] = to
        self.se_state[uuid] = "UPGRADE_FSM_COMPLETED"

    def _group_done(self, guuid, to):
        if self.group_state[guuid] != "UPGRADE_FSM_SUSPENDED":
            self.group_state[guuid] = "UPGRADE_FSM_COMPLETED"

    def _advance(self, vs):
        FakeController._advance(self, vs)

    def _step(self):
        if self.op:
            step = self.op.pop(0)
            step()
            if not self.op:
                self.op = None
                if self.controller_state == "UPGRADE_FSM_IN_PROGRESS":
                    self.controller_state = "UPGRADE_FSM_COMPLETED"
                self.locked = False

    # -- views ---------------------------------------------------------------------------------
    def _status_entries(self):
        entries = [{"uuid": "cluster-0", "name": "cluster-0-1", "node_type": "NODE_CONTROLLER_CLUSTER",
                    "version": self.version, "previous_version": self.previous,
                    "state": {"state": self.controller_state,
                              "reason": "cluster did not re-form" if self.controller_state == "UPGRADE_FSM_ABORTED"
                              else None},
                    "enable_rollback": self.previous is not None, "progress": 50}]
        for guuid, group in self.groups.items():
            versions = set(self.se_version[u] for u, s in self.ses.items() if self.group_of(s) == guuid)
            entries.append({"uuid": guuid, "name": group["name"], "node_type": "NODE_SE_GROUP",
                            "version": versions.pop() if len(versions) == 1 else None,
                            "state": {"state": self.group_state[guuid]}})
        for uuid, se in self.ses.items():
            entries.append({"uuid": uuid, "name": se["name"], "node_type": "NODE_SE_TYPE",
                            "version": self.se_version[uuid], "state": {"state": self.se_state[uuid]}})
        return entries

    def _preview(self, body):
        if self.version < "22" and body.get("image_ref", "").endswith(IMAGE_REF) and not body.get("skip_warnings"):
            return 400, {"error": "upgrade from %s is not supported by this image" % self.version}
        segs = []
        for guuid, group in self.groups.items():
            segs.append({"se_group_name": group["name"], "se_group_uuid": guuid, "state": "SE_UPGRADE_PREVIEW",
                         "disrupted_vs_ref": []})
        return 200, {"warnings": [], "errors": [], "se_groups": segs}

    # -- the HTTP layer ----------------------------------------------------------------------------
    def send(self, client, method, url, body=None, form=None):
        path = urlsplit(url).path.rstrip("/")
        if path not in ("/login", "/logout", "/api/initial-data") and self.reboot_calls:
            self.reboot_calls -= 1
            client.stats["requests"] += 1
            self.calls.append((method, path))
            if self.reboot_calls % 2:
                raise _ConnectionProblem("connection reset by peer")
            return 503, {"error": "Controller is not ready"}
        if path == "/login":
            self.expire_sessions = False
        elif path not in ("/logout", "/api/initial-data") and self.expire_sessions:
            client.stats["requests"] += 1
            return 401, {"error": "Invalid session, please log in again."}
        if path == "/api/initial-data":
            client.stats["requests"] += 1
            return 200, {"version": {"Version": self.version}}
        if path == "/login":
            status, data = super(FakeUpgradeController, self).send(client, method, url, body)
            return status, {"version": {"Version": self.version}}
        if form is not None:
            self.calls.append((method, path))
            self.writes.append((method, path, {"form": form[0].split(";")[0]}))
            client.stats["requests"] += 1
            self.uploads.append(form)
            self.images["image-up"] = self._image("image-up", "controller-22.1.8-1", "22.1.8", "22.1.1", "md5-up")
            return 201, self.images["image-up"]
        kind = path.split("/")[2] if path.startswith("/api/") else ""
        upgrade_paths = ("image", "upgradestatusinfo", "upgrade", "rollback", "cluster", "resumesegroup")
        if kind in upgrade_paths or path.endswith("/upgrade") or path.endswith("/scaleout") or path.endswith("/scalein"):
            client.stats["requests"] += 1
            self.calls.append((method, path))
            if method != "GET":
                self.writes.append((method, path, body))
            return self._upgrade_api(method, path, body or {})
        if method != "GET" and self.locked:
            client.stats["requests"] += 1
            return 403, {"error": "Upgrade is in progress, configuration changes are not allowed"}
        status, data = super(FakeUpgradeController, self).send(client, method, url, body)
        if kind == "serviceengine-inventory" and isinstance(data, dict):
            for item in data.get("results", []):
                item["runtime"]["version"] = self.se_version[item["uuid"]]
        return status, data

    def _upgrade_api(self, method, path, body):
        segs = path.split("/")
        if segs[2] == "image":
            return 200, self._collection(list(self.images.values()), {"page_size": ["100"]})
        if segs[2] == "upgradestatusinfo":
            self.polls += 1
            self._step()
            return 200, self._collection(self._status_entries(), {"page_size": ["100"]})
        if segs[2] == "cluster":
            return 200, {"cluster_state": {"state": "CLUSTER_UP_HA_ACTIVE"},
                         "node_states": [{"name": "ctl-%d" % i, "role": "CLUSTER_FOLLOWER", "state": "CLUSTER_ACTIVE"}
                                         for i in (1, 2, 3)]}
        if segs[2] == "upgrade" and len(segs) > 3 and segs[3] == "preview":
            return self._preview(body)
        if segs[2] == "rollback" and len(segs) > 3:
            return 200, {"warnings": [], "errors": []}
        if self.op:
            return 409, {"error": "an upgrade operation is in progress"}
        if segs[2] == "resumesegroup":
            guuid = body["se_group_refs"][0].rsplit("/", 1)[-1]
            self.group_state[guuid] = "UPGRADE_FSM_IN_PROGRESS"
            self.op = self._group_steps([guuid], self.version)
            return 200, {}
        if segs[2] == "upgrade":
            to = self.images[body["image_ref"].rsplit("/", 1)[-1]]["controller_info"]["build"]["version"]
            if body.get("system"):
                self.op = self._controller_steps(to, then=self._group_steps(sorted(self.groups), to, system=True))
            elif body.get("se_group_refs"):
                groups = [r.rsplit("/", 1)[-1] for r in body["se_group_refs"]]
                self.op = self._group_steps(groups, to)
            else:
                self.op = self._controller_steps(to)
            return 200, {"status": "upgrade started"}
        if segs[2] == "rollback":
            back = self.previous
            self.op = self._controller_steps(back)
            return 200, {}
        if segs[2] == "serviceengine" and segs[-1] == "upgrade":
            if not self.per_se_api:
                return 404, {"error": "Resource not found"}
            uuid = segs[3]
            self.se_state[uuid] = "UPGRADE_FSM_IN_PROGRESS"
            self.op = [lambda: None, lambda: self._upgrade_se(uuid, self.version)]
            return 200, {}
        if segs[-1] in ("scaleout", "scalein"):
            vs = self.vss[segs[3]]
            if segs[-1] == "scaleout":
                dst = (body.get("to_se_ref") or "").rsplit("/", 1)[-1] or self._pick(vs, exclude=[])
                vs["placed"] = vs["placed"] + [dst]
            else:
                vs["placed"] = [s for s in vs["placed"] if s != body["from_se_ref"].rsplit("/", 1)[-1]]
            return 200, {}
        return 404, {"error": "no such path %s" % path}


def se_ref(uuid):
    return ref("serviceengine", uuid)
