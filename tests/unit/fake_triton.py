# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory Triton (CloudAPI + VMAPI/CNAPI) for unit tests, plugged in at TritonClient._send.

It checks every CloudAPI signature with the account's public key, keeps migration records with the
vendor's transitions and 412 messages, and runs a started action when its progress is watched.

Why a fake and not the lab: it loses the answer to a request that went through (the 412 to its retry),
answers as CloudAPIs and CNAPIs the lab does not stand for (an old CloudAPI without the estimate route,
a CNAPI server without its capacity fields), and runs a migration at the moment its progress is read,
all without time passing; the lab's migrations copy real files in (scaled) time and are tested end to
end in tests/integration/test_triton_playbooks.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import threading
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem as _ConnectionProblem
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import md5_fingerprint

CLOUDAPI = "https://cloudapi.example"
VMAPI = "https://vmapi.example"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
PUB_BLOB = base64.b64decode(KEY.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                          serialization.PublicFormat.OpenSSH).split()[1])
KEY_ID = md5_fingerprint(PUB_BLOB)
CN = {"cn-1": "00000000-0000-4000-8000-000000000001", "cn-2": "00000000-0000-4000-8000-000000000002",
      "cn-3": "00000000-0000-4000-8000-000000000003"}


def vm_uuid(i):
    return "11111111-0000-4000-8000-%012d" % i


class FakeTriton(object):
    def __init__(self):
        self.calls = []
        self.writes = []
        self.lock = threading.RLock()
        self.vms = {}
        for i, (name, server) in enumerate([("web-1", "cn-1"), ("web-2", "cn-1"), ("web-3", "cn-1"),
                                            ("db-1", "cn-2")], 1):
            u = vm_uuid(i)
            self.vms[u] = {"id": u, "name": name, "server": CN[server], "state": "running", "ram": 2048,
                           "disk": 10240}
        self.servers = {u: {"uuid": u, "hostname": h, "status": "running", "setup": True, "reserved": False,
                            "unreserved_ram": 8192 if h != "cn-3" else 1024, "unreserved_disk": 512000}
                        for h, u in CN.items()}
        self.recs = {}
        self.drop_watches = 0          # cut the next N watch connections after their first event
        self.fail_next = {}            # action -> error message of its next run
        self.block = {}                # vm uuid -> threading.Event the watch waits for before finishing
        self.started = []              # (vm name, action) in the order actions were started
        self.finished = []
        self.http_errors = []          # statuses to answer to the next calls
        # actions whose next start succeeds but answers 412, as a retried request gets when its first
        # attempt went through and the answer was lost
        self.lost_answer = set()
        self.estimate_route = None     # (status, body) the CloudAPI estimate route answers instead

    # -- plumbing --------------------------------------------------------------------------
    def send(self, client, method, url, body=None, headers=None, stream=False):
        client.stats["requests"] += 1
        parts = urlsplit(url)
        q = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
        with self.lock:
            self.calls.append((method, parts.path, dict(q), body))
            if self.http_errors:
                return self.http_errors.pop(0), {"code": "ServiceUnavailable", "message": "try later"}
        if url.startswith(CLOUDAPI):
            self._check_signature(method, parts, headers or {})
            return self._cloudapi(method, parts.path, q, body, stream)
        return self._operator(method, parts.path, q, body, stream)

    @staticmethod
    def _check_signature(method, parts, headers):
        authz = headers["Authorization"]
        assert authz.startswith('Signature keyId="/alice/keys/%s",algorithm="rsa-sha256",headers="(request-target) '
                                'date",signature="' % KEY_ID), authz
        sig = base64.b64decode(authz.rsplit('signature="', 1)[1][:-1])
        target = parts.path + ("?" + parts.query if parts.query else "")
        signing = "(request-target): %s %s\ndate: %s" % (method.lower(), target, headers["Date"])
        KEY.public_key().verify(sig, signing.encode(), padding.PKCS1v15(), hashes.SHA256())

    @staticmethod
    def err(status, code, message):
        return status, {"code": code, "message": message}

    def machine(self, vm):
        return {"id": vm["id"], "name": vm["name"], "compute_node": vm["server"], "state": vm["state"],
                "memory": vm["ram"], "disk": vm["disk"]}

    def vmapi_vm(self, vm):
        return {"uuid": vm["id"], "alias": vm["name"], "server_uuid": vm["server"], "state": vm["state"],
                "ram": vm["ram"], "quota": vm["disk"] // 1024}

    def view(self, rec, raw=False):
        out = dict((k, rec[k]) for k in ("phase", "state", "automatic", "progress_history") if k in rec)
        if rec.get("error"):
            out["error"] = rec["error"]
        if raw:
            out.update(num_sync_phases=rec["syncs"], target_server_uuid=rec["target"],
                       source_server_uuid=rec["source"])
        return out

    # -- CloudAPI ------------------------------------------------------------------------------
    def _cloudapi(self, method, path, q, body, stream):
        parts = path.strip("/").split("/")
        assert parts[0] == "alice", path
        rest = parts[1:]
        with self.lock:
            if rest == ["machines"]:
                return 200, [self.machine(v) for v in self.vms.values() if not q.get("name") or v["name"] == q["name"]]
            vm = self.vms.get(rest[1]) if len(rest) > 1 else None
            if rest[0] == "machines" and vm is None:
                return self.err(404, "ResourceNotFound", "VM not found")
            if rest[0] == "machines" and len(rest) == 2:
                return 200, self.machine(vm)
            if rest[0] == "machines" and rest[2] == "migrate" and method == "GET":
                if self.estimate_route is not None:   # e.g. an old CloudAPI without the route
                    return self.estimate_route
                return 200, {"size": 1048576}
            if rest[0] == "machines" and rest[2] == "migrate":
                action = q.get("action") or (body or {}).get("action")
                if action == "watch":
                    return self._watch(vm, stream)
                return self._action(vm, action, override=None)
            if rest[0] == "migrations":
                rec = self.recs.get(rest[1])
                if rec is None:
                    return self.err(404, "ResourceNotFound", "migration not found")
                return 200, self.view(rec)
        raise AssertionError("unexpected CloudAPI call %s %s" % (method, path))

    # -- operator --------------------------------------------------------------------------------
    def _operator(self, method, path, q, body, stream):
        parts = path.strip("/").split("/")
        with self.lock:
            if parts == ["servers"]:
                return 200, list(self.servers.values())
            if parts[0] == "servers" and len(parts) == 2 and parts[1] in self.servers:
                if method == "POST":
                    self.servers[parts[1]].update(body or {})
                    return 204, None
                return 200, dict(self.servers[parts[1]], comments=self.servers[parts[1]].get("comments", ""))
            if parts == ["migrations"]:
                return 200, [dict(self.view(r, raw=True), vm_uuid=u) for u, r in self.recs.items()
                             if not q.get("source_server_uuid") or r["source"] == q["source_server_uuid"]]
            if parts == ["vms"]:
                return 200, [self.vmapi_vm(v) for v in self.vms.values()
                             if (not q.get("alias") or v["name"] == q["alias"])
                             and (not q.get("server_uuid") or v["server"] == q["server_uuid"])]
            vm = self.vms.get(parts[1]) if len(parts) > 1 else None
            if vm is None:
                return self.err(404, "ResourceNotFound", "VM not found")
            if parts[0] == "vms" and method == "GET":
                return 200, self.vmapi_vm(vm)
            if parts[0] == "vms":
                action = q["migration_action"]
                if action == "estimate":
                    return 200, {"size": 1048576}
                if action == "begin" and q.get("migration_automatic") == "true":
                    action = "automatic"
                return self._action(vm, action, override=q.get("override_server_uuid"), operator=True)
            if parts[0] == "migrations" and len(parts) == 3:
                return self._watch(vm, stream)
            rec = self.recs.get(vm["id"])
            if rec is None:
                return self.err(404, "ResourceNotFound", "migration not found")
            return 200, self.view(rec, raw=q.get("format") == "raw")

    # -- the migration model --------------------------------------------------------------------
    def _action(self, vm, action, override=None, operator=False):
        with self.lock:
            self.writes.append((vm["name"], action))
            rec = self.recs.get(vm["id"])
            if action not in ("begin", "automatic") and rec is None:
                return self.err(404, "ResourceNotFound", "migration not found")
            msg = self._refusal(rec, action, operator)
            if msg:
                return self.err(412, "PreconditionFailed", msg)
            if action == "finalize":
                vm["hidden_source"] = None
                del self.recs[vm["id"]]
                return 200, None
            if rec is None:
                rec = {"phase": "begin", "state": "running", "automatic": action == "automatic", "syncs": 0,
                       "progress_history": [], "source": vm["server"], "target": override}
                self.recs[vm["id"]] = rec
            rec.update(phase="begin" if action == "automatic" else action, state="running", pending=action)
            rec.pop("error", None)
            rec["progress_history"].append({"phase": rec["phase"], "state": "running", "message": action})
            self.started.append((vm["name"], action))
            if action in self.lost_answer:
                self.lost_answer.discard(action)
                return self.err(412, "PreconditionFailed", "An active migration already exists for this instance")
            return 201, self.view(rec)

    @staticmethod
    def _refusal(rec, action, operator):
        if action in ("begin", "automatic"):
            if rec and rec["state"] == "successful":
                return "A previous migration exists for this instance, use migration finalize to complete it."
            if rec and not (rec["phase"] == "begin" and rec["state"] == "failed"):
                return "An active migration already exists for this instance"
            return None
        phase, state = rec["phase"], rec["state"]
        if action == "sync" and state not in ("paused", "failed"):
            return "Cannot sync in migration state: %s" % state
        if action == "switch":
            if state not in ("paused", "failed"):
                return "Cannot switch in migration state: %s" % state
            if not rec["syncs"]:
                return 'You must perform at least one "migration sync" operation before switching'
        if action == "abort" and state in ("running", "successful"):
            return "Abort cannot work on a %s migration" % state
        if action == "finalize" and state != "successful":
            return "Finalize only works on a successful migration"
        if action == "rollback" and state != "successful":
            return "Rollback only works on a successful migration"
        if action == "pause" and (phase != "sync" or state != "running"):
            return "Pause requires a running migration sync action"
        return None

    def _complete(self, vm):
        """Finish the pending action of vm's record; return the end event."""
        with self.lock:
            rec = self.recs[vm["id"]]
            action = rec.pop("pending", None)
            if action is None:
                return {"type": "end", "phase": rec["phase"], "state": rec["state"], "message": rec.get("error")}
            error = self.fail_next.pop(action, None)
            if error:
                rec.update(state="failed", error="failed to %s migration instance - %s" % (action, error))
                rec["progress_history"][-1]["state"] = "failed"
                if action == "switch":
                    rec["phase"] = "sync"
                self.finished.append((vm["name"], action, "failed"))
                return {"type": "end", "phase": action, "state": "failed", "message": rec["error"]}
            rec["progress_history"][-1]["state"] = "successful"
            if action in ("begin", "automatic") and not rec["target"]:
                rec["target"] = CN["cn-3"] if vm["server"] != CN["cn-3"] else CN["cn-2"]
            if action == "automatic":
                rec.update(syncs=2, phase="switch", state="successful")
                vm["server"] = rec["target"]
            elif action == "sync":
                rec.update(syncs=rec["syncs"] + 1, state="paused")
            elif action == "begin":
                rec["state"] = "paused"
            elif action == "pause":
                rec.update(phase="sync", state="paused")
            elif action == "switch":
                rec["state"] = "successful"
                vm["server"] = rec["target"]
            elif action in ("abort", "rollback"):
                if action == "rollback":
                    vm["server"] = rec["source"]
                del self.recs[vm["id"]]
            self.finished.append((vm["name"], action, "ok"))
            return {"type": "end", "phase": action if action != "automatic" else "switch", "state":
                    rec["state"] if action not in ("abort", "rollback") else "successful", "message": None}

    def _watch(self, vm, stream):
        assert stream, "a watch must be read as a stream"
        with self.lock:
            rec = self.recs.get(vm["id"])
            if rec is None:
                return self.err(404, "ResourceNotFound", "migration not found")
            drop = self.drop_watches > 0
            if drop:
                self.drop_watches -= 1
            phase = rec["phase"]

        def lines():
            yield {"type": "progress", "phase": phase, "state": "running", "message": "syncing data",
                   "current_progress": 524288, "total_progress": 1048576, "transfer_bytes_second": 1048576,
                   "eta_ms": 500}
            if drop:
                raise _ConnectionProblem("connection reset by peer")
            if phase == "switch":
                yield {"type": "progress", "phase": "switch", "state": "running", "message": "stopping the instance",
                       "current_progress": 3, "total_progress": 100}
            gate = self.block.get(vm["id"])
            if gate is not None:
                gate.wait(10)
            yield {"type": "progress", "phase": phase, "state": "running", "message": "syncing data",
                   "current_progress": 1048576, "total_progress": 1048576, "transfer_bytes_second": 1048576,
                   "eta_ms": 0}
            yield self._complete(vm)
        return 200, lines()

    # -- helpers for tests -------------------------------------------------------------------------
    def by_name(self, name):
        return [v for v in self.vms.values() if v["name"] == name][0]

    def posts(self):
        return [c for c in self.calls if c[0] == "POST" and not (c[2].get("action") == "watch")]
