# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The pre-checks of a Triton migration (a mixin of ``TritonProvider``), each pass, fail or unknown
(``_migration.checks``; an unknown blocks unless accepted): ``migrations_allowed`` (operator calls always are;
with CloudAPI the estimate route answers it), ``capacity`` (operator: CNAPI's capacity view through the
allocator's own hard filters; CloudAPI shows none: unknown) and, with a target override, ``target_server`` (VMAPI
runs no allocator filter then, so the collection checks the node itself). With the ``budgets`` option, an
anti-affinity member's target is chosen here and sent as the override. The target shown before begin is a
prediction (the best-scored node that fits).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import (
    FAIL,
    PASS,
    SKIPPED,
    UNKNOWN,
    check,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.inventory import SERVERS_LOCK
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import SigningError

CHECK_NAMES = ("migrations_allowed", "capacity", "target_server")
MIGRATIONS_DISABLED = (
    "User migration on this VM not allowed (the vendor's answer): user migrations are off for this instance. An "
    "operator allows them with the instance's internal_metadata.user_migration_allowed = true (a JSON boolean, through "
    "VMAPI) or, for the whole data center, the SAPI vmapi service metadata user_migration_allowed = true (sapiadm "
    "update <vmapi service uuid> metadata.user_migration_allowed=true); or migrate with api=operator")


class PreChecks(object):
    """Reads only (``self.client``, the provider's ``servers`` and ``_server_name``); remembers the sizes the
    CloudAPI estimate route answered in ``self._estimates``."""

    def _check_allowed(self, inst):
        """``migrations_allowed``: may this caller begin a migration of the instance? (research T1)"""
        if self.api == "operator":
            return check("migrations_allowed", PASS, "operator API (VMAPI without owner_uuid): the vendor always allows "
                         "operator-initiated migrations (sdc-vmapi lib/vm-migration/migrate.js)")
        how = ("CloudAPI GET /:login/machines/:id/migrate (the estimate route of CloudAPI's code, not of its docs), "
               "which runs VMAPI's begin validation without changing anything; it costs a zfs size estimate on the "
               "source compute node")
        try:
            doc = self.client.cloudapi("GET", "/machines/%s/migrate" % inst["id"])
        except TritonError as exc:
            if exc.status == 412 and (exc.message or "").startswith("User migration on this VM not allowed"):
                return check("migrations_allowed", FAIL, how, MIGRATIONS_DISABLED)
            if exc.status == 412:
                return check("migrations_allowed", FAIL, how, exc.message or exc.msg)
            return check("migrations_allowed", UNKNOWN, how, "the estimate route answered %s" % (exc.msg,))
        except SigningError as exc:
            return check("migrations_allowed", UNKNOWN, how, str(exc))
        if isinstance(doc, dict):
            with SERVERS_LOCK:
                self._estimates[inst["id"]] = doc.get("size")
        return check("migrations_allowed", PASS, how)

    @staticmethod
    def _filtered(s, inst):
        """Why CNAPI's allocator (its default hard filters) drops compute node ``s`` for ``inst``: None when it
        passes, "unknown: ..." when a field the filter reads is missing."""
        if s["uuid"] == inst["server"]:
            return "the instance's own server"
        for field in ("setup", "status", "reserved"):
            if field not in s:
                return "unknown: CNAPI shows no %s" % field
        if not s["setup"]:
            return "not set up"
        if s["status"] != "running":
            return "status %s" % s["status"]
        if s["reserved"]:
            return "reserved"
        if s.get("traits"):
            return "has traits (%s): the allocator keeps it for instances that ask for them" % ", ".join(
                sorted(s["traits"]))
        if s.get("headnode"):
            return "headnode"
        return None

    @staticmethod
    def _short(free, inst):
        """Why ``free`` ([ram, disk] MiB or None) cannot take ``inst``: None when it fits."""
        if free is None:
            return "unknown: CNAPI shows no unreserved_ram / unreserved_disk"
        short = []
        if free[0] < (inst.get("ram") or 0):
            short.append("%d MiB RAM free, needs %d" % (free[0], inst.get("ram") or 0))
        if free[1] < (inst.get("disk") or 0):
            short.append("%d MiB disk free, needs %d" % (free[1], inst.get("disk") or 0))
        return ", ".join(short) or None

    def precheck(self, instances, opts):
        override = opts.get("target_server")
        if self.api != "operator":
            out = []
            for inst in instances:
                checks = [self._check_allowed(inst)]
                if opts.get("capacity_check", True):
                    checks.append(check("capacity", UNKNOWN, "CloudAPI shows no compute node or capacity",
                                        "CloudAPI shows no compute node capacity: the allocator decides at begin (and "
                                        "refuses with 'No compute resources available' when nothing fits); use "
                                        "api=operator to check it"))
                else:
                    checks.append(check("capacity", SKIPPED, "capacity_check=false"))
                out.append({"id": inst["id"], "name": inst["name"], "target": None, "target_name": None,
                            "predicted": False, "reason": "chosen by the allocator at begin", "checks": checks})
            return out
        servers = self.servers(refresh=True)
        free = dict((su, [s["unreserved_ram"], s["unreserved_disk"]] if "unreserved_ram" in s and "unreserved_disk" in s
                     else None) for su, s in servers.items())
        how = ("CNAPI GET /servers?extras=capacity: the allocator's hard filters (setup, running, not reserved, no "
               "traits, not the headnode) and unreserved_ram / unreserved_disk")
        out = []
        for inst in instances:
            checks = [self._check_allowed(inst)]
            entry = {"id": inst["id"], "name": inst["name"], "target": None, "target_name": None, "predicted": False,
                     "reason": None, "checks": checks}
            out.append(entry)
            if override:
                s = servers[override]
                entry.update(target=override, target_name=s.get("hostname"),
                             reason="%s: given as target_server" % s.get("hostname"))
                why = "the instance's own server" if override == inst["server"] else self._filtered(s, inst)
                target_how = ("VMAPI runs no allocator filter with override_server_uuid: the collection checks the "
                              "allocator's hard filters itself (CNAPI GET /servers?extras=capacity)")
                if why is None:
                    checks.append(check("target_server", PASS, target_how))
                else:
                    checks.append(check("target_server", UNKNOWN if why.startswith("unknown: ") else FAIL, target_how,
                                        "%s: %s" % (s.get("hostname"), why)))
                if not opts.get("capacity_check", True):
                    checks.append(check("capacity", SKIPPED, "capacity_check=false"))
                    continue
                short = self._short(free[override], inst)
                if short is None:
                    free[override][0] -= inst.get("ram") or 0
                    free[override][1] -= inst.get("disk") or 0
                    checks.append(check("capacity", PASS, how, "%s: fits (%d MiB RAM left after placing)" % (
                        s.get("hostname"), free[override][0])))
                else:
                    checks.append(check("capacity", UNKNOWN if short.startswith("unknown: ") else FAIL, how,
                                        "%s: %s" % (s.get("hostname"), short)))
                continue
            if not opts.get("capacity_check", True):
                checks.append(check("capacity", SKIPPED, "capacity_check=false"))
                entry["reason"] = "chosen by the allocator at begin (capacity not checked)"
                continue
            fits, reasons, unknown = [], [], []
            placer = opts.get("placer")
            avoid = placer.avoid(inst) if placer is not None else {}
            for s in sorted(servers.values(), key=lambda x: x.get("hostname") or x["uuid"]):
                why = avoid.get(s["uuid"]) or self._filtered(s, inst) or self._short(free[s["uuid"]], inst)
                name = s.get("hostname") or s["uuid"]
                if why is None:
                    fits.append(s)
                elif why.startswith("unknown: "):
                    unknown.append("%s: %s" % (name, why[len("unknown: "):]))
                else:
                    reasons.append("%s: %s" % (name, why))
            if not fits:
                result = UNKNOWN if unknown else FAIL
                checks.append(check("capacity", result, how, "no compute node has room for %s MiB RAM and %s MiB disk "
                                    "(%s)" % (inst.get("ram"), inst.get("disk"), "; ".join(unknown + reasons))))
                entry["reason"] = checks[-1]["detail"]
                continue
            # the prediction: the node CNAPI's scores favour (unreserved RAM weighs twice the disk); the allocator
            # shuffles, adds a random score and (7 nodes or more) drops the emptiest 15 %, so it may choose another
            best = max(fits, key=lambda x: (2 * free[x["uuid"]][0] / float(max(1, max(free[f["uuid"]][0] for f in fits)))
                                            + free[x["uuid"]][1] / float(max(1, max(free[f["uuid"]][1] for f in fits))),
                                            x.get("hostname") or ""))
            free[best["uuid"]][0] -= inst.get("ram") or 0
            free[best["uuid"]][1] -= inst.get("disk") or 0
            names = [f.get("hostname") or f["uuid"] for f in fits]
            checks.append(check("capacity", PASS, how, "%d compute node(s) can take it: %s" % (len(fits), ", ".join(names))))
            if placer is not None and placer.budgets.anti_affine(inst):
                # anti-affinity: the allocator knows nothing of the operator's groups, so the module's choice is sent
                # as override_server_uuid (after the allocator's own hard filters and capacity, checked above)
                placer.place(inst, best["uuid"])
                checks.append(check("anti_affinity", PASS, "the budgets option (anti_affinity); sent as "
                                    "override_server_uuid", "group %s: no other member on %s" % (
                                        ", ".join(placer.budgets.anti_affine(inst)), best.get("hostname"))))
                entry.update(target=best["uuid"], target_name=best.get("hostname"), predicted=False, pin=True,
                             placed=True, reason="chosen: %s (anti-affinity: kept off %s; sent as the target)" % (
                                 best.get("hostname"), ", ".join(self._server_name(u) or u for u in avoid)))
                continue
            entry.update(target=best["uuid"], target_name=best.get("hostname"), predicted=True,
                         reason=("predicted: %s (the best-scored of %d that fit: %s; the allocator may choose another "
                                 "of them)" % (best.get("hostname"), len(fits), ", ".join(names))) if len(fits) > 1 else
                         "predicted: %s (the only compute node that fits; the allocator chooses at begin)"
                         % best.get("hostname"))
        return out
