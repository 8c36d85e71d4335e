# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory Triton (CloudAPI, and the operator APIs' server and VM listings) for unit tests, plugged in at
TritonClient._send. It checks every CloudAPI signature with the account's public key, keeps migration records, and
runs a started action when its progress is watched. KEY, KEY_PEM and KEY_ID are the test account's key (also used by
the client and signing tests).

Why a fake and not the lab: it answers as CloudAPIs and CNAPIs the lab does not stand for (an old CloudAPI without
the estimate route, ``estimate_route``; a CNAPI server without its capacity fields), and loses the answer to a
request that went through (the 412 to its retry, ``lost_answer``). It holds only what tests/unit/plugins/modules/
test_instance_migrate_triton.py reads; the phases, wrong states, failed phases, the failure policy and the refusals
run end to end against the lab (tests/integration/test_triton_playbooks.py, test_triton_phases.py,
test_refuse_bad_input.py). Move a case there rather than extend this fake.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import threading
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
        self.started = []              # (vm name, action) in the order actions were started
        # actions whose next start succeeds but answers 412, as a retried request gets when its first
        # attempt went through and the answer was lost
        self.lost_answer = set()
        self.estimate_route = None     # (status, body) the CloudAPI estimate route answers instead

    # -- plumbing --------------------------------------------------------------------------
    def send(self, client, method, url, body=None, headers=None, stream=False):
        client.stats["requests"] += 1
        parts = urlsplit(url)
        q = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
        if url.startswith(CLOUDAPI):
            self._check_signature(method, parts, headers or {})
            return self._cloudapi(method, parts.path, q, body, stream)
        return self._operator(method, parts.path, q)

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

    @staticmethod
    def view(rec):
        return dict((k, rec[k]) for k in ("phase", "state", "automatic", "progress_history") if k in rec)

    # -- CloudAPI ------------------------------------------------------------------------------
    def _cloudapi(self, method, path, q, body, stream):
        parts = path.strip("/").split("/")
        assert parts[0] == "alice", path
        rest = parts[1:]
        with self.lock:
            if rest == ["machines"]:
                return 200, [self.machine(v) for v in self.vms.values() if not q.get("name") or v["name"] == q["name"]]
            vm = self.vms.get(rest[1]) if len(rest) > 1 else None
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
                return self._action(vm, action)
            if rest[0] == "migrations":
                rec = self.recs.get(rest[1])
                if rec is None:
                    return self.err(404, "ResourceNotFound", "migration not found")
                return 200, self.view(rec)
        raise AssertionError("unexpected CloudAPI call %s %s" % (method, path))

    # -- operator: CNAPI's servers, VMAPI's VMs and migrations ------------------------------
    def _operator(self, method, path, q):
        parts = path.strip("/").split("/")
        with self.lock:
            if parts == ["servers"]:
                return 200, list(self.servers.values())
            if parts[0] == "servers" and len(parts) == 2 and parts[1] in self.servers:
                return 200, dict(self.servers[parts[1]], comments=self.servers[parts[1]].get("comments", ""))
            if parts == ["vms"]:
                return 200, [self.vmapi_vm(v) for v in self.vms.values()
                             if (not q.get("alias") or v["name"] == q["alias"])
                             and (not q.get("server_uuid") or v["server"] == q["server_uuid"])]
            if parts[0] == "migrations" and len(parts) == 2:
                rec = self.recs.get(parts[1])
                return (200, self.view(rec)) if rec else self.err(404, "ResourceNotFound", "migration not found")
        raise AssertionError("unexpected operator call %s %s" % (method, path))

    # -- the migration model --------------------------------------------------------------------
    def _action(self, vm, action):
        with self.lock:
            self.writes.append((vm["name"], action))
            rec = self.recs.get(vm["id"])
            if rec is None:
                rec = {"phase": "begin", "state": "running", "automatic": action == "automatic", "syncs": 0,
                       "progress_history": [], "source": vm["server"], "target": None}
                self.recs[vm["id"]] = rec
            rec.update(phase=action, state="running", pending=action)
            rec["progress_history"].append({"phase": rec["phase"], "state": "running", "message": action})
            self.started.append((vm["name"], action))
            if action in self.lost_answer:
                self.lost_answer.discard(action)
                return self.err(412, "PreconditionFailed", "An active migration already exists for this instance")
            return 201, self.view(rec)

    def _complete(self, vm):
        """Finish the pending action of vm's record; return the end event."""
        with self.lock:
            rec = self.recs[vm["id"]]
            action = rec.pop("pending")
            rec["progress_history"][-1]["state"] = "successful"
            if action == "begin":
                rec["target"] = CN["cn-3"] if vm["server"] != CN["cn-3"] else CN["cn-2"]
                rec["state"] = "paused"
            elif action == "sync":
                rec.update(syncs=rec["syncs"] + 1, state="paused")
            elif action == "switch":
                rec["state"] = "successful"
                vm["server"] = rec["target"]
            return {"type": "end", "phase": action, "state": rec["state"], "message": None}

    def _watch(self, vm, stream):
        assert stream, "a watch must be read as a stream"
        with self.lock:
            phase = self.recs[vm["id"]]["phase"]

        def lines():
            yield {"type": "progress", "phase": phase, "state": "running", "message": "syncing data",
                   "current_progress": 524288, "total_progress": 1048576, "transfer_bytes_second": 1048576,
                   "eta_ms": 500}
            if phase == "switch":
                yield {"type": "progress", "phase": "switch", "state": "running", "message": "stopping the instance",
                       "current_progress": 3, "total_progress": 100}
            yield {"type": "progress", "phase": phase, "state": "running", "message": "syncing data",
                   "current_progress": 1048576, "total_progress": 1048576, "transfer_bytes_second": 1048576,
                   "eta_ms": 0}
            yield self._complete(vm)
        return 200, lines()
