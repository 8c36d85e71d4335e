# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What an upgrade promised, and whether it holds: the *baseline* is the system as the operator had it before any
run of the upgrade changed it (what is there now, corrected by the intent record: a virtual service a killed run
scaled out counts with the placement it had before, an SE it created does not count, an SE whose enable state it
changed counts with the state it had). The end state holds when every SE of the scope runs the target version
with its baseline enable state, no SE is there that the baseline has not (but those kept at the operator's
choice), every virtual service is placed as in the baseline, and the record holds nothing left to undo.

:class:`UpgradeVerification` is the check ``cluster_upgrade``'s step runs at the end of a run and for
``state=verified``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import load_placement
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_intent import leftovers
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import running_version, same_version
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure


def created_ses(placement, entries):
    """Uuids of the SEs the record says protection created (by name, or new in a group since it recorded its SEs)."""
    _vss, created, groups, _states = leftovers(entries)
    out = set(created)
    for guuid, value in groups.items():
        before = set(value.get("ses_before") or [])
        out |= set(se["uuid"] for se in placement.ses.values() if se["group_uuid"] == guuid and se["uuid"] not in before)
    return out


def baseline(placement, entries, group_uuids=None):
    """``{"service_engines": {name: {"enable_state", "se_group"}}, "virtual_services": {name: {vip_id: [se
    names]}}}`` as the operator had it (see the module docstring); only ``group_uuids`` when given."""
    vss, _created, _groups, states = leftovers(entries)
    made = created_ses(placement, entries)
    wanted = set(group_uuids) if group_uuids is not None else None

    def group_name(uuid):
        return (placement.groups.get(uuid) or {}).get("name") or uuid
    ses = {}
    for se in placement.ses.values():
        if se["uuid"] in made or (wanted is not None and se["group_uuid"] not in wanted):
            continue
        state = (states.get(se["uuid"]) or {}).get("was") or se["enable_state"]
        ses[se["name"]] = {"enable_state": state, "se_group": group_name(se["group_uuid"])}
    out = {}
    for vs in placement.vss.values():
        if wanted is not None and vs["group_uuid"] not in wanted:
            continue
        vips = {}
        for vip_id, found in vs["vips"].items():
            recorded = vss.get("vs/%s/%s" % (vs["uuid"], vip_id))
            uuids = recorded["before"] if recorded else [e["se_uuid"] for e in found]
            vips[vip_id] = sorted(placement.se_name(u) for u in uuids)
        out[vs["name"]] = vips
    return {"service_engines": ses, "virtual_services": out}


def differences(placement, entries, base, wanted, kept=(), group_uuids=None, controller_version=None):
    """Every way the system differs from what the upgrade promised (see the module docstring), as lines."""
    out = []
    if controller_version is not None and wanted and not same_version(controller_version, wanted):
        out.append("the controller runs %s, not %s" % (controller_version, wanted))
    scope = set(group_uuids) if group_uuids is not None else None
    now = dict((se["name"], se) for se in placement.ses.values()
               if scope is None or se["group_uuid"] in scope)
    for name, want in sorted((base.get("service_engines") or {}).items()):
        se = now.get(name)
        if se is None:
            out.append("SE %s (SE group %s) is gone" % (name, want.get("se_group")))
            continue
        if wanted and not same_version(se["version"], wanted):
            out.append("SE %s runs %s, not %s" % (name, se["version"], wanted))
        if want.get("enable_state") and se["enable_state"] != want["enable_state"]:
            out.append("SE %s is %s, it was %s" % (name, se["enable_state"], want["enable_state"]))
    kept = set(kept or ())
    for name in sorted(set(now) - set(base.get("service_engines") or {})):
        if name in kept:
            continue
        out.append("SE %s (SE group %s) was not there before the upgrade%s" % (
            name, (placement.groups.get(now[name]["group_uuid"]) or {}).get("name"),
            " (created for protection: remove it, or keep it with remove_created_ses=false)"
            if now[name]["uuid"] in created_ses(placement, entries) else ""))
    vss = dict((vs["name"], vs) for vs in placement.vss.values() if scope is None or vs["group_uuid"] in scope)
    for name, vips in sorted((base.get("virtual_services") or {}).items()):
        vs = vss.get(name)
        if vs is None:
            out.append("virtual service %s is gone" % name)
            continue
        for vip_id, ses in sorted(vips.items()):
            found = sorted(placement.se_name(e["se_uuid"]) for e in vs["vips"].get(vip_id, []))
            if found != sorted(ses):
                out.append("virtual service %s (vip %s) is on %s, it was on %s" % (
                    name, vip_id, ", ".join(found) or "no SE", ", ".join(sorted(ses)) or "no SE"))
    vss_left, created, groups, states = leftovers(entries)
    for key, value in sorted(vss_left.items()):
        out.append("the intent record still holds the scale-out of %s (%s)" % (value.get("vs") or key, key))
    for uuid in sorted(set(created) | set(groups) | set(states)):
        out.append("the intent record still holds %s" % uuid)
    return out


class UpgradeVerification(object):
    """Verifying the end state (a mixin of ``cluster_upgrade``'s step): uses ``self.client``, ``self.params``,
    ``self.record``, ``self.protector``, ``self.groups``, ``self.progress`` and ``self.result``."""

    def _verify(self, wanted, base, kept=None):
        placement = load_placement(self.client)
        entries = self.record.entries()
        if kept is None:
            kept = [c.get("name") for c in (self.protector.created.values() if self.protector else [])
                    if not c.get("removed")]
        scope = self.params["scope"]
        ctl = running_version(self.client) if scope in ("controller", "system") else None
        found = differences(placement, entries, base, wanted if scope != "controller" else None, kept=kept,
                            group_uuids=self.groups if scope == "se_group" else None, controller_version=ctl)
        if scope == "controller":
            found = [line for line in found if line.startswith("the controller")]
        self.result["verification"] = {"ok": not found, "differences": found, "kept_service_engines": sorted(
            k for k in kept if k)}
        if found:
            raise ModuleFailure("the end state differs from what the upgrade promised: %s" % "; ".join(found),
                                **self.result)

    def _verify_only(self, view):
        """state=verified: compare the system with ``baseline`` (from the plan), read-only."""
        wanted = self.params["version"]
        if not wanted:
            raise ModuleFailure("state=verified needs version (the version every node must run)")
        base = self.params["baseline"]
        if not base:
            entries = self.record.entries()
            base = baseline(load_placement(self.client), entries, self.groups if self.params["scope"] == "se_group"
                            else None)
        self.result["baseline"] = base
        self.result["plan"]["actions"] = ["verify the end state"]
        self._verify(wanted, base, kept=self.params["kept_service_engines"])
        self.progress.update("done", "verified: the end state is what the upgrade promised", percent=100)
        return self.result
