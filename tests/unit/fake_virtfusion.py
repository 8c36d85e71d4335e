# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VirtFusion control server (vfcli-ctrl over SSH + the REST API) for unit tests, plugged in at
VirtFusionClient._exec (a command run to its end), VirtFusionClient.follow (an attached command whose
console is read as it comes) and VirtFusionClient._send (HTTP).

Why a fake and not the lab: it answers in the forms the vendor leaves open and the lab does not use (other
wordings around the status words, ``status_text``; a status text with none of them; REST objects without the
fields the lab shows, ``destination_fields``; a server state word the module does not know; hypervisors on several
pages, ``per_page``; a last-debug holding a secret, ``debug``), and fails a migration with a message of the test's
choosing (``fail_next``). It holds only what tests/unit/plugins/modules/test_instance_migrate_virtfusion.py reads.
What the lab can show (live, hybrid and forced migrations, cancel and abort, a console cut in the middle,
pre-checks, the sliding window, failures, the refusals of bad input) is tested end to end in tests/integration
(test_virtfusion_playbooks.py, test_virtfusion_fleet.py, test_refuse_bad_input.py). Move a case there rather than
extend this fake.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shlex
import threading
from urllib.parse import parse_qs, urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import CliAnswer

API = "https://cp.example.test"
TOKEN = "unit-test-api-token-0123456789"
VF_CREDENTIALS = {"host": "cp.example.test", "port": 2222, "username": "root", "known_hosts_file": "/nonexistent/kh",
                  "api_url": API, "api_token": TOKEN}
GROUP = "server:migrate-live"
STEPS = ("Pre-migration checks", "Check source filters", "Prepare destination hypervisor", "Transfer data",
         "Start server on destination", "Finalise migration")
WRITES = ("start", "cancel", "abort", "data-success-force", "cancel-force")


class FakeVirtFusion(object):
    def __init__(self):
        self.lock = threading.RLock()
        self.hvs = {1: "hv-ams-1", 2: "hv-ams-2", 3: "hv-fra-1"}
        self.servers = {}
        for sid, name, hv in ((101, "web-1", 1), (102, "web-2", 1), (103, "web-3", 1), (201, "db-1", 2)):
            self.servers[sid] = {"id": sid, "name": name, "uuid": "uuid-%d" % sid, "hv": hv, "state": "online",
                                 "ips": ["10.0.1.%d" % (sid % 250)]}
        self.last = {}                # server id -> {"status", "dst", "cancelled"} of its last live migration
        self.commands = []            # argv of every vfcli-ctrl command, in order
        self.requests = []            # (method, path, body)
        self.status_text = {}         # server id -> what last-status prints instead of the plain word
        self.fail_next = {}           # server id -> message: its next migration fails in "Transfer data"
        self.debug = ["2026-01-01T00:00:00 step transfer: in-progress", "QMP migrate uri=tcp:10.0.0.2:49152",
                      "api token=s3cr3t-debug-token used for the destination", "QEMU: migration failed"]
        self.destination_fields = ("disks", "networking")   # what the destination endpoint shows
        self.per_page = 2

    # -- plumbing ----------------------------------------------------------------------------------
    def writes(self):
        return [c for c in self.commands if c[2] in WRITES]

    def exec_(self, client, command, timeout):
        argv = shlex.split(command)
        with self.lock:
            self.commands.append(argv)
            return self._vfcli(argv)

    def follow(self, client, argv, on_line, timeout):
        """An attached ``start``: its console, line by line, as it runs (the migration runs while it is read)."""
        argv = [str(a) for a in argv]
        with self.lock:
            self.commands.append(argv)
            opts = dict((a[2:].partition("=")[0], a[2:].partition("=")[2]) for a in argv[3:] if a.startswith("--"))
            sid = int(opts["server"])
            s = self.servers[sid]
            dst = int(opts["dst"])
            last = self.last.get(sid)
            if not (last and last["status"] == "in-progress"):
                self.last[sid] = last = {"status": "in-progress", "dst": dst, "cancelled": False, "step": 0}
        out = []
        while last["step"] < len(STEPS):
            name = STEPS[last["step"]]
            for line in ("[in-progress] %s" % name,):
                out.append(line)
                on_line(line)
            with self.lock:
                if name == "Transfer data" and sid in self.fail_next:
                    msg = self.fail_next.pop(sid)
                    last["status"] = "failed"
                    for line in ("[failed]      %s: %s" % (name, msg), "Migration failed: %s" % msg):
                        out.append(line)
                        on_line(line)
                    return CliAnswer(1, "\n".join(out) + "\n", "")
                last["step"] += 1
            line = "[complete]    %s" % name
            out.append(line)
            on_line(line)
        with self.lock:
            last["status"] = "complete"
            s["hv"] = last["dst"]
        out.append("Migration complete")
        on_line(out[-1])
        return CliAnswer(0, "\n".join(out) + "\n", "")

    def send(self, client, method, url, body=None):
        parts = urlsplit(url)
        assert url.startswith(API + "/api/v1/"), url
        with self.lock:
            self.requests.append((method, parts.path, body))
            return self._rest(method, parts.path[len("/api/v1"):], parse_qs(parts.query), body)

    # -- vfcli-ctrl (documented forms: words, {success, errors}, servers --json) ---------------------
    def _vfcli(self, argv):
        assert argv[:2] == ["vfcli-ctrl", GROUP], argv
        cmd = argv[2]
        opts = dict((a[2:].partition("=")[0], a[2:].partition("=")[2]) for a in argv[3:] if a.startswith("--"))
        if cmd == "servers":
            hv = int(opts["src"])
            return 0, json.dumps({"servers": [{"id": s["id"], "name": s["name"], "uuid": s["uuid"]}
                                              for s in sorted(self.servers.values(), key=lambda s: s["id"])
                                              if s["hv"] == hv]}), ""
        sid = int(opts["server"])
        last = self.last.get(sid)
        if cmd == "last-status":
            if sid in self.status_text:
                return 0, self.status_text[sid], ""
            if last is None:
                return 1, "", "Error: There is no migration for server %d\n" % sid
            return 0, last["status"] + "\n", ""
        if cmd == "last-debug":
            return 0, "\n".join(self.debug) + "\n", ""
        raise AssertionError("unexpected command %s" % argv)

    # -- REST (without the lab's extra fields) ---------------------------------------------------------
    def _rest(self, method, path, query, body):
        parts = [p for p in path.split("/") if p]
        if parts == ["compute", "hypervisors"] and method == "GET":
            page = int((query.get("page") or ["1"])[0])
            items = [{"id": hid, "name": name} for hid, name in sorted(self.hvs.items())]
            last = -(-len(items) // self.per_page)
            return 200, {"current_page": page, "last_page": last, "per_page": self.per_page, "total": len(items),
                         "data": items[(page - 1) * self.per_page:page * self.per_page]}
        if parts[:1] == ["servers"]:
            s = self.servers[int(parts[1])]
            if len(parts) == 2 and method == "GET":
                doc = {"id": s["id"], "name": s["name"], "uuid": s["uuid"]}
                if s["state"] is not None:
                    doc["state"] = s["state"]
                return 200, {"data": doc}
            if parts[2:5] == ["migrate", "hybrid", "destinations"] and method == "GET":
                data = {"serverId": s["id"], "destinationId": int(parts[5])}
                if "disks" in self.destination_fields:
                    data["disks"] = [{"drive": "a", "mount": "/home/vf-data/disk",
                                      "storage": [{"storageId": 30 + int(parts[5]), "mount": "/home/vf-data/disk",
                                                   "enabled": True}], "suggestedStorageId": 30 + int(parts[5])}]
                if "networking" in self.destination_fields:
                    data["networking"] = {"ipRanges": ["10.0.1.0/24"], "ips": s["ips"]}
                return 200, {"data": data}
        return 404, {"message": "not implemented by the fake: %s %s" % (method, path)}
