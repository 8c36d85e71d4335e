# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The pre-checks of a VirtFusion migration (a mixin of ``VirtFusionProvider``): ``server_state`` from the
REST server object, ``storage`` and ``ip_addresses`` from the hybrid destination endpoint, and the live
requirements no read-only call shows (unknown unless a richer answer reports them failing).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import (
    FAIL,
    PASS,
    UNKNOWN,
    check,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion import placement

# REST ``state`` words (observed; the vendor does not document them): what the server-state check recognises
ONLINE = ("online", "running")
SUSPENDED = ("suspended", "paused")
OFFLINE = ("offline", "stopped", "shutdown", "shut down")
CHECK_NAMES = ("server_state", "storage", "ip_addresses", "storage_enabled", "destination_ssh", "cpu_compatible",
               "nat_interfaces")
# the lab's rich pre-check texts (an extra source: a failure it reports fails the check, its silence proves nothing)
RICH_PROBLEMS = (("server_state", "is offline"), ("destination_ssh", "SSH enabled"), ("ip_addresses", "IP address"),
                 ("storage_enabled", "is not enabled"), ("storage", "mount point"), ("cpu_compatible", "CPU "),
                 ("nat_interfaces", "NAT interfaces"))
NO_READ = "no read-only vendor call shows it; vfcli-ctrl's start runs it among its pre-tests"


class PreChecks(object):
    """Reads only (the provider's ``_destinations`` and ``_hv_name``); ``self.mode`` and ``self.opts`` say what
    the migration asks."""

    def _server_state(self, inst):
        how = "REST GET /servers/{id} state (the field is observed, its values are not documented)"
        state = str(inst.get("state") or "").strip().lower()
        if not state:
            return check("server_state", UNKNOWN, how, "the server object shows no state")
        if state in ONLINE or state in SUSPENDED:
            return check("server_state", PASS, how, "server %s is %s" % (inst["id"], state))
        if state in OFFLINE:
            if self.mode == "hybrid" or self.opts.get("force_offline"):
                return check("server_state", PASS, how, "server %s is %s (%s)" % (
                    inst["id"], state, "hybrid takes offline servers" if self.mode == "hybrid" else "force_offline"))
            return check("server_state", FAIL, how, "Server %s is offline: a live migration needs the server online "
                         "(running or suspended) or awaiting setup; set force_offline=true to start it paused for "
                         "the transfer (vendor: --force-offline)" % inst["id"])
        return check("server_state", UNKNOWN, how, "server %s is in state %r, which the module does not know (the "
                     "vendor migrates servers online, suspended or awaiting setup live; offline with "
                     "--force-offline)" % (inst["id"], state))

    def _destination_checks(self, inst, target, dest):
        how = ("REST GET /servers/{id}/migrate/hybrid/destinations/{hv} (vendor, 7.1.0+: storage and networking "
               "detail; its field names are observed, not documented)")
        out = []
        disks = dest.get("disks")
        if not isinstance(disks, list) or not disks or not all(
                isinstance(d, dict) and isinstance(d.get("storage"), list) and d.get("mount") for d in disks):
            out.append(check("storage", UNKNOWN, how, dest.get("_error") or
                             "the answer lists no destination storage per drive"))
        else:
            missing = ["drive %s (%s)" % (d.get("drive"), d["mount"]) for d in disks
                       if not any(isinstance(o, dict) and o.get("mount") == d["mount"] and o.get("enabled", True)
                                  for o in d["storage"])]
            out.append(check("storage", FAIL if missing else PASS, how, (
                "storage mount point(s) missing or disabled on destination hypervisor %s: %s" % (
                    target, ", ".join(missing))) if missing else "every drive's mount point exists on hypervisor %s"
                % target))
        net = dest.get("networking")
        if not isinstance(net, dict) or not isinstance(net.get("ipRanges"), list) or not isinstance(net.get("ips"), list):
            out.append(check("ip_addresses", UNKNOWN, how, dest.get("_error") or "the answer shows no networking detail"))
        else:
            try:
                nets = [ipaddress.ip_network(r, strict=False) for r in net["ipRanges"]]
                bad = [ip for ip in net["ips"] if not any(
                    ipaddress.ip_address(ip).version == n.version and ipaddress.ip_address(ip) in n for n in nets)]
                out.append(check("ip_addresses", FAIL if bad else PASS, how, (
                    "IP address(es) not usable on destination hypervisor %s: %s" % (target, ", ".join(bad)))
                    if bad else "every IP address of the server is usable on hypervisor %s" % target))
            except ValueError as exc:
                out.append(check("ip_addresses", UNKNOWN, how, "unreadable networking detail: %s" % exc))
        for name in ("storage_enabled", "destination_ssh", "cpu_compatible", "nat_interfaces"):
            out.append(check(name, UNKNOWN, NO_READ, None))
        problems = dest.get("problems")
        if isinstance(problems, list):   # the lab's rich verdict: a reported problem fails its check
            for item in out + []:
                said = [p for p in problems if any(key == item["name"] and text in str(p) for key, text in RICH_PROBLEMS)]
                if said and item["result"] != FAIL:
                    item.update(result=FAIL, detail=" ".join(str(p) for p in said),
                                how=item["how"] + "; the destination endpoint's problems list (observed in the lab)")
        return out

    def precheck(self, instances, opts):
        target = opts.get("target_server")
        if target is None and placement.wanted(self.params) and instances:
            chooser = placement.Placement(self)
            out = chooser.precheck(instances, opts)
            self.placement_report = chooser.report
            return out
        name = self._hv_name(target) if target is not None else None
        out = []
        for inst in instances:
            entry = {"id": inst["id"], "name": inst["name"], "target": target, "target_name": name, "predicted": False,
                     "reason": "hypervisor %s (%s), given as target_server" % (target, name), "checks": []}
            out.append(entry)
            if target is None:
                entry["checks"].append(check("server_state", FAIL, "target_server", self.unsupported("start")))
                continue
            server_state = self._server_state(inst)
            try:
                dest = self._destinations(inst, target)
            except MigrationError as exc:   # e.g. before 7.1.0: no such endpoint; the checks it covers stay unknown
                dest = {"_error": exc.msg}
            checks = [server_state] + self._destination_checks(inst, target, dest)
            problems = dest.get("problems")
            if isinstance(problems, list) and any("is offline" in str(p) for p in problems) and \
                    server_state["result"] == PASS and self.mode == "live" and not self.opts.get("force_offline"):
                server_state.update(result=FAIL, detail=" ".join(str(p) for p in problems if "is offline" in str(p)))
            if self.mode == "hybrid":   # live-only requirements
                checks = [c for c in checks if c["name"] not in ("cpu_compatible",)]
            entry["checks"] = checks
        return out
