# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Where Triton's compute nodes and instances are (a mixin of ``TritonProvider``): the compute nodes (operator:
CNAPI ``GET /servers?extras=capacity``, read once and shared by the forks of a window), a compute node by UUID or
host name, an instance by name or UUID (VMAPI ``/vms`` or CloudAPI ``/:login/machines``), every instance, and the
instances of one compute node (operator: with those whose migration record names it as the source). Also what the
provider's other parts share: ``SERVERS_LOCK`` (guards the caches shared with forks), ``UUID_RE`` and
``as_error`` (a client error as the ``MigrationError`` the engine reports).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import threading

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonError, TritonNotFound
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import SigningError

SERVERS_LOCK = threading.Lock()
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def as_error(exc, what):
    if isinstance(exc, SigningError):
        return MigrationError("%s: %s" % (what, exc))
    reason = exc.message or exc.msg
    return MigrationError("%s: %s" % (what, exc.msg), reason=reason, status=exc.status, code=exc.code)


class Inventory(object):
    """Uses ``self.api``, ``self.conn``, ``self.client`` and ``self._servers`` (the compute nodes, shared with
    forks)."""

    # -- compute nodes -------------------------------------------------------------------------
    def servers(self, refresh=False):
        if self.api != "operator":
            return {}
        if self._servers is None or refresh:
            try:
                items = self.client.cnapi("GET", "/servers", params={"extras": "capacity"}) or []
            except (TritonError, SigningError) as exc:
                raise as_error(exc, "listing compute nodes (CNAPI)")
            fresh = dict((s["uuid"], s) for s in items)
            with SERVERS_LOCK:  # forks share the cache: replace its content in one step
                if self._servers is None:
                    self._servers = fresh
                else:
                    self._servers.update(fresh)
        with SERVERS_LOCK:
            return dict(self._servers)

    def resolve_server(self, value):
        if not value:
            return None, None
        if self.api != "operator":
            if not UUID_RE.match(value):
                raise MigrationError("compute node %s: with api=cloudapi give compute nodes by UUID (CloudAPI shows "
                                     "an instance's compute_node as a UUID; host names need api=operator)" % value)
            return value.lower(), None
        servers = self.servers()
        for s in servers.values():
            if value in (s["uuid"], s.get("hostname")):
                return s["uuid"], s.get("hostname")
        raise MigrationError(not_found("compute node", value, [s.get("hostname") or s["uuid"] for s in servers.values()]))

    def _server_name(self, su):
        if self.api != "operator" or not su:
            return None
        s = self.servers().get(su)
        return s.get("hostname") if s else None

    # -- instances -------------------------------------------------------------------------------
    def _inst(self, doc):
        if self.api == "operator":
            inst = {"id": doc["uuid"], "name": doc.get("alias") or doc["uuid"], "server": doc.get("server_uuid"),
                    "state": doc.get("state"), "ram": doc.get("ram") or doc.get("max_physical_memory"),
                    "disk": int(doc.get("quota") or 0) * 1024}
        else:
            inst = {"id": doc["id"], "name": doc.get("name") or doc["id"], "server": doc.get("compute_node"),
                    "state": doc.get("state"), "ram": doc.get("memory"), "disk": doc.get("disk")}
        inst["server_name"] = self._server_name(inst["server"])
        inst["tags"] = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
        return inst

    def resolve(self, key):
        try:
            if self.api == "operator":
                if UUID_RE.match(key):
                    return self._inst(self.client.vmapi("GET", "/vms/%s" % key))
                found = [v for v in self.client.vmapi("GET", "/vms", params={"alias": key}) or []
                         if not v.get("do_not_inventory") and v.get("alias") == key]
            else:
                if UUID_RE.match(key):
                    return self._inst(self.client.cloudapi("GET", "/machines/%s" % key))
                found = [m for m in self.client.cloudapi("GET", "/machines", params={"name": key}) or []
                         if m.get("name") == key]
        except TritonNotFound:
            found = []
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "looking up instance %s" % key)
        if not found:
            raise MigrationError("%s (no instance has that name or uuid%s)" % (
                not_found("instance", key, self._instance_names()),
                "" if self.api == "operator" else " in account %s" % self.conn["account"]))
        return self._inst(found[0])

    def _instance_names(self):
        """The names of the instances this connection sees (for a name that matches none)."""
        try:
            if self.api == "operator":
                return [v.get("alias") for v in self.client.vmapi("GET", "/vms") or [] if not v.get("do_not_inventory")]
            return [m.get("name") for m in self.client.cloudapi("GET", "/machines") or []]
        except (TritonError, SigningError):
            return []

    def everyone(self):
        """Every instance (operator: VMAPI; cloudapi: the account's machines), with its compute node and tags."""
        try:
            if self.api == "operator":
                docs = [v for v in self.client.vmapi("GET", "/vms") or []
                        if not v.get("do_not_inventory") and v.get("state") not in ("destroyed",)]
            else:
                docs = self.client.cloudapi("GET", "/machines") or []
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "listing the instances (budgets: where each group member runs)")
        return [self._inst(d) for d in docs]

    def instances_on(self, server):
        """Instances on the compute node, plus (operator) those with a migration record whose source
        it is: after a switch they run elsewhere but their migration (finalize) is not done."""
        su, _name = self.resolve_server(server)
        try:
            if self.api == "operator":
                items = self.client.vmapi("GET", "/vms", params={"server_uuid": su}) or []
                items = [v for v in items if not v.get("do_not_inventory") and v.get("state") not in ("destroyed",)]
                known = set(v["uuid"] for v in items)
                mine = self.client.vmapi("GET", "/migrations", params={"source_server_uuid": su, "format": "raw"})
                for rec in mine or []:
                    if rec.get("vm_uuid") and rec["vm_uuid"] not in known:
                        known.add(rec["vm_uuid"])
                        items.append(self.client.vmapi("GET", "/vms/%s" % rec["vm_uuid"]))
            else:
                items = [m for m in self.client.cloudapi("GET", "/machines") or [] if m.get("compute_node") == su]
        except (TritonError, SigningError) as exc:
            raise as_error(exc, "listing the instances of compute node %s" % server)
        return sorted((self._inst(d) for d in items), key=lambda i: i["name"])
