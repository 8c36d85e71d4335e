# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory VirtFusion (vfcli-ctrl over SSH + the REST API) for unit tests, plugged in at
VirtFusionClient._exec (the one SSH method) and VirtFusionClient._send (the one HTTP method).

It follows the vendor semantics the lab documents (lab/VIRTFUSION.md): start re-attaches to a running
migration and retries a failed one, "already on the destination", "Specify a destination hypervisor ID",
abort only while transferring, cancel up to a successful data transfer, the force commands. A running
migration advances one step each time its status is read (``last-status``), so tests are deterministic.

Why a fake and not the lab: it drops the SSH connection just before or just after a chosen command
runs (``drop``), holds a transfer until a test releases it (``hold``: the sliding window's order),
loses the data-transfer tracking (``lose_tracking``) and fails a chosen step once (``fail_next``); the
lab's live migrations move real QEMU guests, which takes seconds each, and are tested end to end in
tests/integration/test_virtfusion_playbooks.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import shlex
import threading
from urllib.parse import urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem as _Dropped

API = "https://cp.example.test"
TOKEN = "unit-test-api-token-0123456789"
VF_CREDENTIALS = {"host": "cp.example.test", "port": 2222, "username": "root", "known_hosts_file": "/nonexistent/kh",
                  "api_url": API, "api_token": TOKEN}
GROUP = "server:migrate-live"
STEPS = (("precheck", "Pre-migration checks"), ("filters", "Check source filters"),
         ("prepare", "Prepare destination hypervisor"), ("transfer", "Transfer data"),
         ("start_dst", "Start server on destination"), ("finalize", "Finalise migration"))
HYBRID_STEPS = (("precheck", "Pre-migration checks"), ("prepare", "Prepare destination hypervisor"),
                ("stage1", "Transfer disks (online)"), ("suspend", "Suspend server"),
                ("stage2", "Transfer disk changes (suspended)"), ("boot", "Boot server on destination"),
                ("finalize", "Finalise migration"))
WRITES = ("start", "cancel", "abort", "data-success-force", "cancel-force")


class FakeVirtFusion(object):
    def __init__(self):
        self.lock = threading.RLock()
        self.hvs = {
            1: {"id": 1, "name": "hv-ams-1", "sshEnabled": True, "vendor": "GenuineIntel",
                "flags": ["aes", "avx", "avx2"], "mounts": ["/home/vf-data/disk"], "ranges": ["10.0.1.0/24"]},
            2: {"id": 2, "name": "hv-ams-2", "sshEnabled": True, "vendor": "GenuineIntel",
                "flags": ["aes", "avx", "avx2", "avx512f"], "mounts": ["/home/vf-data/disk"],
                "ranges": ["10.0.1.0/24"]},
            3: {"id": 3, "name": "hv-fra-1", "sshEnabled": False, "vendor": "AuthenticAMD", "flags": ["avx"],
                "mounts": ["/srv"], "ranges": ["10.9.0.0/24"]},
        }
        self.servers = {}
        for sid, name, hv, state, nat in ((101, "web-1", 1, "online", False), (102, "web-2", 1, "online", False),
                                          (103, "web-3", 1, "online", False), (201, "db-1", 2, "online", False)):
            self.add_server(sid, name, hv, state, nat)
        self.migrations = {}          # id -> migration doc (the lab's MIGRATION shape)
        self.last = {}                # server id -> last migration id (any kind)
        self.seq = 0
        self.commands = []            # argv of every vfcli-ctrl command, in order
        self.requests = []            # (method, path, body)
        self.fail_next = {}           # server id -> (step key, message): the next migration fails there
        self.hold = {}                # server id -> threading.Event: its transfer does not finish before it is set
        self.lose_tracking = set()    # server ids whose next transfer ends with dataTransfer "unknown"
        # [(when, command)]: drop the SSH connection "before" or "after" the next vfcli-ctrl COMMAND runs
        self.drop = []
        self.finished = []            # (server name, status) in the order migrations ended
        self.downtime_ms = 4
        self.transferred = 34196684

    def add_server(self, sid, name, hv, state="online", nat=False):
        nics = [{"name": "eth0", "ips": ["10.0.1.%d" % (sid % 250)], "nat": False}]
        if nat:
            nics.append({"name": "nat0", "ips": ["192.168.100.2"], "nat": True})
        self.servers[sid] = {"id": sid, "name": name, "uuid": "uuid-%d" % sid, "hypervisorId": hv, "state": state,
                             "memory": 64, "nics": nics, "flags": ["aes", "avx"],
                             "disks": [{"drive": "a", "mount": "/home/vf-data/disk"}]}

    # -- plumbing ----------------------------------------------------------------------------------
    def writes(self):
        return [c for c in self.commands if c[2] in WRITES]

    def exec_(self, client, command, timeout):
        argv = shlex.split(command)
        with self.lock:
            when = self.drop[0][0] if self.drop and self.drop[0][1] == argv[2] else None
            if when == "before":
                self.drop.pop(0)
                client.close()
                raise _Dropped("the SSH connection dropped (fake, before the command)")
            self.commands.append(argv)
            rc, doc = self._vfcli(argv)
            if when == "after":
                self.drop.pop(0)
                client.close()
                raise _Dropped("the SSH connection dropped (fake, after the command ran)")
        return rc, json.dumps(doc), ""

    def send(self, client, method, url, body=None):
        parts = urlsplit(url)
        assert url.startswith(API + "/api/v1/"), url
        headers_ok = client.conn["api_token"] == TOKEN
        with self.lock:
            self.requests.append((method, parts.path, body))
            if not headers_ok:
                return 401, {"message": "Unauthenticated."}
            return self._rest(method, parts.path[len("/api/v1"):], body)

    # -- vfcli-ctrl ----------------------------------------------------------------------------------
    def _vfcli(self, argv):
        assert argv[:2] == ["vfcli-ctrl", GROUP], argv
        assert argv[-1] == "--json", argv
        cmd = argv[2]
        opts = {}
        for a in argv[3:-1]:
            key, _sep, value = a[2:].partition("=")
            opts[key] = value if _sep else True
        try:
            if cmd == "servers":
                hv = int(opts["src"])
                return 0, {"servers": [{"id": s["id"], "name": s["name"], "uuid": s["uuid"]}
                                       for s in sorted(self.servers.values(), key=lambda s: s["id"])
                                       if s["hypervisorId"] == hv]}
            sid = int(opts["server"])
            if cmd == "start":
                return self._start(sid, opts)
            mig = self._last_live(sid)
            if cmd == "last-status":
                self._advance(mig)
                return 0, {"status": mig["status"], "cancelled": mig["cancelled"], "migration": self.view(mig)}
            if cmd == "abort":
                if not (mig["status"] == "in-progress" and mig["dataTransfer"] == "transferring"):
                    raise _Err("The migration of server %d can't be aborted: it is not transferring data. A migration "
                               "can only be aborted while its data transfer is running." % sid)
                self._end(mig, "failed", "aborted by the operator", dataTransfer="failed", aborted=True)
            elif cmd == "cancel":
                if mig["status"] == "complete":
                    raise _Err("The migration of server %d is complete and can't be cancelled" % sid)
                if mig["cancelled"]:
                    raise _Err("The migration of server %d is already cancelled" % sid)
                if mig["dataTransfer"] == "success":
                    raise _Err("The data transfer of server %d has succeeded: the migration can no longer be "
                               "cancelled; run start again to complete it" % sid)
                if mig["status"] == "in-progress" and mig["dataTransfer"] == "transferring":
                    raise _Err("The migration of server %d is still transferring data; abort it first "
                               "(server:migrate-live abort)" % sid)
                self._cancel(mig)
            elif cmd == "cancel-force":
                if mig["status"] == "complete" or mig["cancelled"]:
                    raise _Err("The migration of server %d can't be cancelled" % sid)
                self._cancel(mig)
            elif cmd == "data-success-force":
                if mig["status"] != "failed" or mig["dataTransfer"] == "success":
                    raise _Err("The data transfer of server %d is already marked complete" % sid)
                mig["dataTransfer"] = "success"
                for st in mig["steps"][:4]:
                    st["status"] = "complete"
            else:
                raise _Err("unknown command %s" % cmd)
            return 0, {"success": True, "errors": [], "status": mig["status"], "migration": self.view(mig)}
        except _Err as exc:
            return 1, {"success": False, "errors": exc.errors}

    def _last_live(self, sid):
        live = [m for m in self.migrations.values() if m["serverId"] == sid and m["type"] == "live"]
        if not live:
            raise _Err("No live migration found for server %d" % sid)
        return max(live, key=lambda m: int(m["id"].split("-")[1]))

    def prechecks(self, s, dst, live=True, force_offline=False):
        src, d = self.hvs[s["hypervisorId"]], self.hvs[dst]
        errors = []
        if live and s["state"] == "offline" and not force_offline:
            errors.append("Server %d is offline. A live migration needs the server online (running or suspended); "
                          "use --force-offline to start it paused for the transfer." % s["id"])
        if not d["sshEnabled"]:
            errors.append("Destination hypervisor %d (%s) does not have SSH enabled." % (dst, d["name"]))
        for n in s["nics"]:
            for ip in n["ips"]:
                if not any(ipaddress.ip_address(ip) in ipaddress.ip_network(r) for r in d["ranges"]):
                    errors.append("IP address %s is not usable on destination hypervisor %d (%s)."
                                  % (ip, dst, d["name"]))
        for disk in s["disks"]:
            if disk["mount"] not in d["mounts"]:
                errors.append("Storage mount point %s (drive %s) does not exist on destination hypervisor %d (%s)."
                              % (disk["mount"], disk["drive"], dst, d["name"]))
        if src["vendor"] != d["vendor"]:
            errors.append("CPU vendor mismatch: source hypervisor %d is %s, destination hypervisor %d is %s."
                          % (src["id"], src["vendor"], dst, d["vendor"]))
        missing = sorted(set(s["flags"]) - set(d["flags"]))
        if missing:
            errors.append("CPU flags used by server %d are missing on destination hypervisor %d: %s."
                          % (s["id"], dst, ", ".join(missing)))
        nat = [n["name"] for n in s["nics"] if n["nat"]]
        if nat:
            errors.append("Server %d has NAT interfaces (%s); servers with NAT interfaces can't be migrated."
                          % (s["id"], ", ".join(nat)))
        return errors

    def _start(self, sid, opts):
        s = self.servers[sid]
        dst = int(opts["dst"]) if opts.get("dst") else None
        last = self.migrations.get(self.last.get(sid))
        if last is not None and last["status"] == "in-progress":
            if dst is not None and dst != last["destinationId"]:
                raise _Err("Server %d is being migrated to hypervisor %d, not %d" % (sid, last["destinationId"], dst))
            return 0, self._started(last, "attached")
        if last is not None and last["type"] == "live" and last["status"] == "failed" and not last["cancelled"]:
            if dst is not None and dst != last["destinationId"]:
                raise _Err("Server %d has a failed migration to hypervisor %d; cancel it first" % (
                    sid, last["destinationId"]))
            last.update(status="in-progress", attempts=last["attempts"] + 1, errors=[])
            if last["dataTransfer"] != "success":
                last.update(dataTransfer="pending", aborted=False)
                for st in last["steps"]:
                    st.update(status="pending", message="")
            else:
                for st in last["steps"]:
                    if st["status"] != "complete":
                        st.update(status="pending", message="")
            return 0, self._started(last, "resumed")
        if dst is None:
            raise _Err("Specify a destination hypervisor ID")
        if s["hypervisorId"] == dst:
            raise _Err("Server %d is already on the destination hypervisor %d" % (sid, dst))
        problems = self.prechecks(s, dst, True, bool(opts.get("force-offline")))
        if problems:
            raise _Err(problems)
        mig = self._new("live", s, dst, opts)
        return 0, self._started(mig, "started")

    def _started(self, mig, action):
        return {"success": True, "errors": [], "status": mig["status"], "detached": True, "action": action,
                "migration": self.view(mig)}

    def _new(self, kind, s, dst, options):
        self.seq += 1
        mid = "%s-%d" % ("lm" if kind == "live" else "hm", self.seq)
        steps = STEPS if kind == "live" else HYBRID_STEPS
        mig = {"id": mid, "type": kind, "serverId": s["id"], "serverName": s["name"], "sourceId": s["hypervisorId"],
               "destinationId": dst, "status": "in-progress", "cancelled": False, "aborted": False,
               "dataTransfer": "pending", "dataLost": False, "attempts": 1, "errors": [], "options": options,
               "steps": [{"key": k, "name": n, "status": "pending", "message": ""} for k, n in steps]}
        self.migrations[mid] = mig
        self.last[s["id"]] = mid
        return mig

    def started_elsewhere(self, sid, dst, until="transfer"):
        """A migration started by someone else, advanced until step ``until`` is in progress."""
        with self.lock:
            mig = self.migrations[self._start(sid, {"dst": str(dst)})[1]["migration"]["id"]]
            while next(st for st in mig["steps"] if st["key"] == until)["status"] != "in-progress":
                self._advance(mig)
            return mig

    def _advance(self, mig):
        """One step further (called when the migration's status is read)."""
        if mig["status"] != "in-progress":
            return
        steps = mig["steps"]
        cur = next((st for st in steps if st["status"] == "in-progress"), None)
        if cur is None:
            nxt = next(st for st in steps if st["status"] == "pending")
            nxt["status"] = "in-progress"
            if nxt["key"] in ("transfer", "stage1"):
                mig["dataTransfer"] = "transferring"
            return
        fail = self.fail_next.get(mig["serverId"])
        if fail and fail[0] == cur["key"]:
            del self.fail_next[mig["serverId"]]
            self._end(mig, "failed", fail[1], step=cur)
            return
        if cur["key"] == "transfer":
            gate = self.hold.get(mig["serverId"])
            if gate is not None and not gate.is_set():
                mig["qemu"] = {"progress": {"transferredBytes": 8388608, "remainingBytes": 33554432,
                                            "totalBytes": 67108864, "dirtyPagesRate": 1024, "throttlePercent": 20}}
                return
            if mig["serverId"] in self.lose_tracking:
                self.lose_tracking.discard(mig["serverId"])
                self._end(mig, "failed", "Lost track of the data transfer", step=cur, dataTransfer="unknown")
                return
            mig["dataTransfer"] = "success"
            mig["qemu"] = {"status": "completed", "downtimeMs": self.downtime_ms, "totalTimeMs": 1150,
                           "setupTimeMs": 2, "transferredBytes": self.transferred, "precopyBytes": self.transferred,
                           "postcopyBytes": 0, "downtimeBytes": 4096, "dirtySyncCount": 3, "maxThrottlePercent": 0,
                           "maxDirtyRateMiBs": 0.0, "postcopyStartedMs": None,
                           "parameters": {"downtime-limit": int(mig["options"].get("max-downtime") or 300)},
                           "capabilities": {"auto-converge": "disable-auto-converge" not in mig["options"]},
                           "progress": {"transferredBytes": self.transferred, "remainingBytes": 0,
                                        "totalBytes": 67108864, "dirtyPagesRate": 0, "throttlePercent": 0}}
            cur["message"] = "%d bytes, downtime %d ms (QEMU)" % (self.transferred, self.downtime_ms)
        if cur["key"] == "stage2":
            mig["dataTransfer"] = "success"
        cur["status"] = "complete"
        if all(st["status"] == "complete" for st in steps):
            self.servers[mig["serverId"]]["hypervisorId"] = mig["destinationId"]
            self._end(mig, "complete")

    def _end(self, mig, status, error=None, step=None, **fields):
        mig["status"] = status
        mig.update(fields)
        if step is None and status == "failed":
            step = next((st for st in mig["steps"] if st["status"] == "in-progress"), None)
        if step is not None:
            step["status"] = "failed"
            step["message"] = error
        if error:
            mig["errors"].append(error)
        if status == "failed" and mig["dataTransfer"] in ("pending", "transferring"):
            mig["dataTransfer"] = "failed"
        self.finished.append((mig["serverName"], status))

    def _cancel(self, mig):
        mig["status"] = "failed"
        mig["cancelled"] = True
        self.finished.append((mig["serverName"], "cancelled"))

    def view(self, mig):
        return json.loads(json.dumps(mig))

    # -- REST ----------------------------------------------------------------------------------------
    def _rest(self, method, path, body):
        parts = [p for p in path.split("/") if p]
        if parts == ["hypervisors"] and method == "GET":
            return 200, {"data": [{"id": h["id"], "name": h["name"], "sshEnabled": h["sshEnabled"]}
                                  for h in self.hvs.values()]}
        if parts[:1] == ["servers"]:
            s = self.servers.get(int(parts[1]))
            if s is None:
                return 404, {"message": "Server %s not found" % parts[1], "errors": ["Server %s not found" % parts[1]]}
            if len(parts) == 2 and method == "GET":
                mig = self.migrations.get(self.last.get(s["id"]))
                if mig is not None and mig["type"] == "hybrid":
                    self._advance(mig)
                h = self.hvs[s["hypervisorId"]]
                return 200, {"data": {"id": s["id"], "name": s["name"], "uuid": s["uuid"],
                                      "hypervisorId": h["id"], "hypervisorName": h["name"], "state": s["state"],
                                      "memory": s["memory"], "nics": s["nics"],
                                      "migration": None if mig is None else {
                                          "id": mig["id"], "type": mig["type"], "status": mig["status"],
                                          "cancelled": mig["cancelled"], "destinationId": mig["destinationId"]}}}
            if parts[2:5] == ["migrate", "hybrid", "destinations"] and method == "GET":
                dst = int(parts[5])
                problems = self.prechecks(s, dst, live=False)
                return 200, {"data": {"serverId": s["id"], "destinationId": dst, "available": not problems,
                                      "problems": problems,
                                      "disks": [{"drive": d["drive"], "mount": d["mount"],
                                                 "suggestedStorageId": 30 + dst} for d in s["disks"]]}}
            if parts[2:] == ["migrate", "hybrid"] and method == "POST":
                last = self.migrations.get(self.last.get(s["id"]))
                if last is not None and last["status"] == "in-progress":
                    return 409, {"message": "in progress", "errors": ["Server %d has a migration in progress" % s["id"]]}
                problems = self.prechecks(s, body["destinationId"], live=False)
                if problems:
                    return 422, {"message": "The given data was invalid.", "errors": problems}
                mig = self._new("hybrid", s, body["destinationId"], body)
                return 201, {"data": self.view(mig)}
        return 404, {"message": "not implemented by the fake: %s %s" % (method, path)}


class _Err(Exception):
    def __init__(self, errors):
        self.errors = errors if isinstance(errors, list) else [errors]
        super(_Err, self).__init__("; ".join(self.errors))
