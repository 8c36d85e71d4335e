# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The ``instance_migrate`` module around the engine: its own options, the assembly of every provider's
options into one spec, the refusal of options that belong to another provider, then one instance
(``converge``) or several (the pre-checks of every instance, then ``run_window``), the diff and the
exit. The run holds the lease of each compute node it moves instances off (``_migration.owner``);
an evacuation (``from_server``) records what it moves before it moves anything (and, with
``cordon``, the value the cordon replaced), and ends by verifying what it promised.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.fanout import fan_out
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import IntentError
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import blank_names
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import (
    Budgets,
    Gate,
    Placer,
    budgets_argument_spec,
    problems as budget_problems,
    schedule,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.checks import FAIL, check, unknown_names
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.engine import converge, precheck_entries
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.owner import Owner
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.window import read_records, run_window

START_STATES = ("begun", "synced", "switched", "migrated")
NAME_OPTIONS = ("instance", "instances", "from_server", "target_server", "source_server")


def states(providers):
    """Every state some provider reaches, in the providers' order."""
    out = []
    for cls in providers.values():
        out.extend(s for s in cls.states if s not in out)
    return out


def argument_spec(providers, default):
    """The module's spec: what the engine takes, then each provider's own options."""
    spec = dict(
        provider=dict(type="str", default=default, choices=sorted(providers)),
        instance=dict(type="str"),
        instances=dict(type="list", elements="str"),
        from_server=dict(type="str"),
        state=dict(type="str", default="migrated", choices=states(providers)),
        target_server=dict(type="str"),
        source_server=dict(type="str"),
        concurrency=dict(type="int", default=1),
        order=dict(type="str", default="largest_first", choices=["largest_first", "listed"]),
        on_failure=dict(type="str", default="stop", choices=["stop", "continue"]),
        failed_action=dict(type="str", default="leave", choices=["abort", "leave"]),
        capacity_check=dict(type="bool", default=True),
        accept_unverified=dict(type="list", elements="str", default=[]),
        cordon=dict(type="bool", default=False),
        keep_cordon=dict(type="bool", default=False),
        record_dir=dict(type="path"),
        takeover=dict(type="bool", default=False),
        timeout=dict(type="int", default=3600),
    )
    spec.update(budgets_argument_spec())
    for cls in providers.values():
        spec.update(cls.argument_spec())
    return spec


def foreign_options(params, providers, chosen):
    """Messages for options given that belong to another provider than ``chosen`` (given: set to a
    value other than the option's default).

    A provider's ``<vendor>_credentials`` dict is not counted: the module is in every provider's action
    group, so ``module_defaults`` for those groups hand each task every provider's connection dict.
    """
    own = set(providers[chosen].argument_spec())
    problems = []
    for name, cls in sorted(providers.items()):
        if name == chosen:
            continue
        given = [option for option, spec in sorted(cls.argument_spec().items())
                 if option not in own and option != cls.credentials_option and params.get(option) is not None
                 and params.get(option) != spec.get("default")]
        if given:
            problems.append("%s %s an option of provider=%s, not of provider=%s: drop %s or set provider=%s" % (
                ", ".join(given), "is" if len(given) == 1 else "are", name, chosen,
                "it" if len(given) == 1 else "them", name))
    return problems


def _diff_side(res, side):
    """One side (``before`` or ``after``) of an instance's diff: its server and its migration's phase/state."""
    mig = res.get("migration_before" if side == "before" else "migration") or {}
    return {"server": res.get("server_name", {}).get(side) or res.get("server", {}).get(side),
            "migration": "%s/%s" % (mig.get("phase"), mig.get("state")) if mig else None}


def run_module(module, providers):
    """Check the options, build the provider, migrate, exit the module."""
    p = module.params
    problems = ["%s must be a positive number, got %s" % (name, p[name]) for name in ("concurrency", "timeout")
                if p[name] < 1]
    problems += blank_names(p, NAME_OPTIONS)
    problems += foreign_options(p, providers, p["provider"])
    problems += providers[p["provider"]].check_params(p)
    problems += budget_problems(p["budgets"], p["provider"])
    if p["budgets"] and p["instance"]:
        problems.append("budgets apply to several instances (instances or from_server), not to one (instance)")
    wrong = unknown_names(p["accept_unverified"], providers[p["provider"]].check_names)
    if wrong:
        problems.append("accept_unverified: %s %s no pre-check of provider=%s; its pre-checks: %s" % (
            ", ".join(wrong), "is" if len(wrong) == 1 else "are", p["provider"],
            ", ".join(providers[p["provider"]].check_names)))
    if problems:
        module.fail_json(msg="; ".join(problems))
    progress = Progress("instance_migrate")
    try:
        provider = providers[p["provider"]](p)
    except (ValueError, MigrationError) as exc:
        module.fail_json(msg=getattr(exc, "msg", None) or str(exc))
    provider.on_wait(progress.waiting)
    result = {"changed": False, "progress": progress.history}
    opts = {"state": p["state"], "timeout": p["timeout"], "capacity_check": p["capacity_check"],
            "accept_unverified": list(p["accept_unverified"])}
    owners = Owners(provider, p, progress, module.check_mode, result)
    try:
        if p["cordon"] and not p["from_server"]:
            raise MigrationError("cordon applies to an evacuation (from_server): it keeps new instances off the "
                                 "compute node while it is emptied")
        if p["target_server"]:
            opts["target_server"] = provider.resolve_server(p["target_server"])[0]
        if p["source_server"] or p["from_server"]:
            opts["source_server"] = provider.resolve_server(p["source_server"] or p["from_server"])[0]
        if p["instance"]:
            inst = provider.resolve(p["instance"])
            owners.claim([provider.scope_of(inst, opts)])
            try:
                res = converge(provider, p["instance"], opts, progress, module.check_mode)
            except MigrationError as exc:
                res = getattr(exc, "result", None) or {}
                res.pop("failed", None)
                result.update(res)   # what the run did goes with the failure (below)
                raise
            result.update(res)
            if module._diff:
                result["diff"] = {"before": _diff_side(res, "before"), "after": _diff_side(res, "after")}
        else:
            _many(module, provider, opts, progress, result, owners)
    except (MigrationError, IntentError) as exc:
        owners.release()
        result["api_stats"] = provider.api_stats()
        module.fail_json(msg=getattr(exc, "msg", None) or str(exc), **dict((k, v) for k, v in result.items()
                                                                           if k != "msg"))
    owners.release()
    result["api_stats"] = provider.api_stats()
    module.exit_json(**result)


class Owners(object):
    """The leases this run holds (one per compute node it moves instances off), and their intent records."""

    def __init__(self, provider, params, progress, check_mode, result):
        self.provider = provider
        self.params = params
        self.progress = progress
        self.check_mode = check_mode
        self.result = result
        self.held = {}

    def claim(self, scopes):
        """Hold each of ``scopes`` (in order: two runs never wait on each other crosswise); in check mode only
        report a holder. Returns {scope: the entries an earlier run left}."""
        left = {}
        for scope in sorted(set(s for s in scopes if s is not None), key=str):
            if scope in self.held:
                continue
            owner = Owner(self.provider.intent_store(scope, self.params), self.progress)
            if self.check_mode:
                holder = owner.record.holder()
                if holder:
                    self.result.setdefault("held_by", []).append(dict(holder, where=owner.where))
                left[scope] = owner.record.entries()
                continue
            left[scope] = owner.claim(self.params["timeout"], takeover=self.params["takeover"])
            self.held[scope] = owner
            if owner.record.displaced:
                self.result.setdefault("took_over", []).append(dict(owner.record.displaced, where=owner.where))
        return left

    def owner(self, scope):
        return self.held.get(scope)

    def release(self):
        for owner in self.held.values():
            try:
                owner.release()
            except IntentError as exc:
                self.result.setdefault("warnings_intent", []).append(str(exc))
        self.held = {}


def _many(module, provider, opts, progress, result, owners):
    p = module.params
    source = opts.get("source_server") if p["from_server"] else None
    if p["from_server"]:
        left = owners.claim([source]).get(source) or {}
        instances = provider.instances_on(p["from_server"])
        progress.update("read", "%d instance(s) on %s" % (len(instances), p["from_server"]))
        planned = dict(left.get("evacuation") or {})
        if planned:
            progress.update("owner", "an earlier run began this evacuation (%d instance(s)): going on from where it "
                            "stopped" % len(planned))
        for inst in instances:
            planned.setdefault(str(inst["id"]), {"name": inst["name"], "state": inst.get("state")})
        owner = owners.owner(source)
        if owner is not None and planned != (left.get("evacuation") or {}):
            owner.remember("evacuation", planned)   # what this evacuation moves, before anything moves
        _cordon(module, provider, source, left, owner, result)
        keys = [i["id"] for i in instances]
    else:
        keys = list(dict.fromkeys(p["instances"]))
        instances = [provider.resolve(k) for k in keys]
        owners.claim([provider.scope_of(i, opts) for i in instances])
    plan = {"prechecks": None}
    records = None
    ranked = list(range(len(keys)))   # the order the migrations start in, as indexes into keys: as listed
    budgets = Budgets(p["budgets"])
    targets = {}
    gate = None
    spare = None
    if budgets:
        names = dict((i["id"], i["name"]) for i in instances)
        names.update((k, k) for k in keys if k not in names)
        by_key = dict((k, budgets.groups_of(_inst_of(instances, k))) for k in keys)
        gate = Gate(budgets, by_key, names)
        plan["budgets"] = {
            "groups": [{"name": g["name"], "max_moving": g["max_moving"], "anti_affinity": g["anti_affinity"],
                        "members_here": [names[k] for k in keys if g["name"] in by_key[k]]} for g in budgets.groups]}
    if opts["state"] in START_STATES:
        # every instance's record, read as many at once as the window will run (sequential reads over SSH cost
        # ~0.4 s each); the forks that read them become the window's first workers
        records, spare = read_records(provider, instances, p["concurrency"])
        to_move = [i for i, rec in zip(instances, records) if provider.needs_start(i, rec, opts)]
        if budgets:
            everyone = provider.everyone()
            wrong = budgets.unmatched(everyone)
            if wrong:
                result["plan"] = plan
                _uncordon(provider, source, owners.owner(source), result)
                raise MigrationError("budgets: %s; nothing was moved" % "; ".join(wrong))
            if any(budgets.anti_affine(i) for i in to_move):
                opts["placer"] = Placer(budgets, everyone, [i["id"] for i in to_move])
        entries = precheck_entries(provider, to_move, opts)
        if opts.get("placer") is not None:
            _anti_affinity(opts["placer"], to_move, entries, opts)
        for entry in entries:
            if entry.get("pin") and entry.get("target") is not None:
                targets[_key_of(keys, entry)] = entry["target"]
        opts.pop("placer", None)
        opts["placement"] = dict((e["id"], e["target"]) for e in entries if e.get("target") is not None)
        plan["prechecks"] = entries
        if provider.placement_report is not None:
            plan["placement"] = provider.placement_report
            progress.update("placement", "headroom left per hypervisor after placing: %s" % "; ".join(
                "%s: %s" % (hv, _room_text(room)) for hv, room in sorted(provider.placement_report["headroom"].items())))
        opts["prechecked"] = dict((e["id"], e) for e in entries if not e["blocked"])
        blocked = [e for e in entries if e["blocked"]]
        if blocked:
            result["plan"] = plan
            _uncordon(provider, source, owners.owner(source), result)
            raise MigrationError("pre-checks failed, nothing was moved: %d of %d %s cannot be migrated: %s" % (
                len(blocked), len(to_move), provider.noun, "; ".join(
                    "%s: %s" % (e["name"], "; ".join(e["problems"])) for e in blocked)))
        if p["order"] == "largest_first" and p["concurrency"] > 1 and len(to_move) > 1:
            ranked, plan["order"] = _largest_first(provider, instances, to_move, spare, progress)
    if gate is not None:   # in the order the migrations start (largest first, or as listed)
        rounds = schedule([keys[n] for n in ranked], names, by_key, gate.limits, p["concurrency"])
        plan["budgets"]["schedule"] = rounds
        progress.update("budget", "schedule (window %d; rounds of equal-length migrations, a prediction): %s" % (
            p["concurrency"], " | ".join(", ".join(r) for r in rounds)))
    if targets and any(e.get("target") for e in plan["prechecks"] or ()):
        progress.update("placement", "; ".join("%s -> %s" % (e["name"], e.get("target_name") or e["target"])
                                               for e in plan["prechecks"] if e.get("target") is not None))
    result["plan"] = plan
    results, summary = run_window(provider, [keys[n] for n in ranked], opts, progress, module.check_mode,
                                  concurrency=p["concurrency"], on_failure=p["on_failure"],
                                  failed_action=p["failed_action"], gate=gate, targets=targets, spare=spare,
                                  records=None if records is None else [records[n] for n in ranked])
    results = [res for _n, res in sorted(zip(ranked, results), key=lambda pair: pair[0])]   # reported as listed
    if gate is not None:
        plan["budgets"]["peak_moving"] = dict(gate.peak)
    known = dict((i["id"], {"id": i["id"], "name": i["name"]}) for i in instances)
    for res in results:   # entries the window never resolved (skipped, crashed): name them
        if res["instance"].get("id") is None and res["instance"].get("name") in known:
            res["instance"] = dict(known[res["instance"]["name"]])
    result["migrations"] = results
    result["summary"] = summary
    result["changed"] = summary["changed"] > 0
    if module._diff:
        resolved = [r for r in results if "server" in r]
        result["diff"] = dict((side, dict((r["instance"]["name"], _diff_side(r, side)) for r in resolved))
                              for side in ("before", "after"))
    if summary["failed"]:
        failed = [r for r in results if r["result"] == "failed"]
        why = "; ".join(r["msg"] for r in failed)
        _uncordon(provider, source, owners.owner(source), result)
        raise MigrationError("%d of %d migration(s) failed: %s" % (len(failed), len(results), why))
    if source is not None and not module.check_mode and opts["state"] in VERIFIED_STATES:
        expected = [{"id": _id(provider, k), "name": v.get("name"), "state": v.get("state")}
                    for k, v in sorted(planned.items())]
        problems = provider.verify_evacuation(source, expected, opts)
        result["verified"] = {"instances": len(expected), "problems": problems}
        progress.update("verify", "%s: %s" % (p["from_server"], "; ".join(problems) if problems else
                                              "verified: %d %s moved, each once, as it was before; the source is "
                                              "empty" % (len(expected), provider.noun)))
        if problems:
            _uncordon(provider, source, owners.owner(source), result)
            raise MigrationError("the evacuation of %s did not end as promised: %s" % (p["from_server"],
                                                                                       "; ".join(problems)))
        owner = owners.owner(source)
        if owner is not None:
            owner.forget("evacuation")
    if p["keep_cordon"] and "cordon" in (owners.owner(source).entries() if owners.owner(source) else {}):
        result.setdefault("cordon", {}).update(kept=True)   # a later run without keep_cordon restores it
        return
    _uncordon(provider, source, owners.owner(source), result)


VERIFIED_STATES = ("migrated", "switched", "finalized")


def _room_text(room):
    if room is None:
        return "unknown"
    return "%s MiB memory, %s core(s), %s server slot(s)%s" % (
        room["memory_free"], room["cpu_free"], room["servers_free"], "".join(
            ", storage %s: %s MiB" % (k, v) for k, v in sorted(room.get("storage_free", {}).items())))


def _largest_first(provider, instances, to_move, spare, progress):
    """The order the migrations start in: first, as listed, the instances with nothing to start (a migration an
    earlier run left in flight takes its slot again before any new one; one already moved ends at once); then the
    most data first, by the vendor's size estimate (``provider.estimate``), so a window ends with its shortest
    migrations and they pack onto its slots (the longest-first rule); last, as listed, those whose size is not known.
    The estimates are read as many at once as the window runs, by the forks that read the records. Returns (indexes
    into ``instances`` in that order, the plan's entry); the sizes are a prediction of each migration's length, and
    a wrong one costs packing, never correctness."""
    sizes = fan_out(to_move, spare or [provider], lambda prov, inst: prov.estimate(inst))
    size_of = dict((i["id"], s) for i, s in zip(to_move, sizes) if isinstance(s, (int, float)) and s >= 0)
    moving = set(i["id"] for i in to_move)

    def rank(n):
        key = instances[n]["id"]
        return (0 if key not in moving else 1 if key in size_of else 2), -size_of.get(key, 0)

    ranked = sorted(range(len(instances)), key=rank)
    entry = [{"name": instances[n]["name"], "estimated_bytes": size_of.get(instances[n]["id"])}
             for n in ranked if instances[n]["id"] in moving]
    others = [instances[n]["name"] for n in ranked if instances[n]["id"] not in moving]
    first = "first %s (nothing to start: in flight or done), then " % ", ".join(others) if others else ""
    progress.update("order", first + "largest first, by the vendor's size estimate (a prediction of each migration's "
                    "length): %s" % ", ".join("%s %s" % (e["name"], _mib(e["estimated_bytes"])) for e in entry))
    return ranked, entry


def _mib(size):
    return "size unknown" if size is None else "%.1f MiB" % (size / 1048576.0)


def _inst_of(instances, key):
    for inst in instances:
        if key in (inst["id"], inst["name"], str(inst["id"])):
            return inst
    return {"id": key, "name": key}


def _key_of(keys, entry):
    for key in keys:
        if key in (entry["id"], entry["name"], str(entry["id"])):
            return key
    return entry["id"]


def _anti_affinity(placer, to_move, entries, opts):
    """Anti-affinity for the targets the provider did not place itself: a given or chosen target that holds another
    member of the instance's group fails; an instance whose target the vendor chooses at begin cannot be kept off
    its group's servers, and fails too (nothing moves: the run is refused before acting)."""
    by_id = dict((i["id"], i) for i in to_move)
    for entry in entries:
        inst = by_id.get(entry["id"])
        if inst is None or entry.get("placed") or not placer.budgets.anti_affine(inst):
            continue
        groups = ", ".join(placer.budgets.anti_affine(inst))
        how = "the budgets option (anti_affinity) against where the provider lists every member"
        if entry.get("target") is None or (entry.get("predicted") and not entry.get("pin")):
            entry["checks"].append(check("anti_affinity", FAIL, how, "group %s: the destination of %s is chosen by the "
                                         "vendor's allocator at begin, so no run can keep it off the other members' "
                                         "servers; give a target (api=operator)" % (groups, inst["name"])))
            continue
        avoid = placer.avoid(inst)
        if entry["target"] in avoid:
            entry["checks"].append(check("anti_affinity", FAIL, how, "%s -> %s: %s" % (
                inst["name"], entry.get("target_name") or entry["target"], avoid[entry["target"]])))
        else:
            placer.place(inst, entry["target"])
            entry["checks"].append(check("anti_affinity", "pass", how, "group %s: no other member on %s" % (
                groups, entry.get("target_name") or entry["target"])))
    for entry in entries:
        blocking = [c for c in entry["checks"] if c["name"] == "anti_affinity" and c["result"] == FAIL]
        if blocking and not entry.get("blocked"):
            entry["blocked"] = True
            entry["problems"] = list(entry.get("problems") or []) + ["anti_affinity failed: %s" % c["detail"]
                                                                     for c in blocking]


def _id(provider, key):
    """An instance id as the provider keeps it (the intent record's keys are strings)."""
    return int(key) if provider.name == "virtfusion" and str(key).isdigit() else key


def _cordon(module, provider, source, left, owner, result):
    """With ``cordon``: keep new instances off the compute node while it is emptied, recording the value it had
    first (an interrupted run's cordon is kept, and restored to what it recorded)."""
    if "cordon" in left:
        result["cordon"] = dict(left["cordon"], adopted=True)
        return
    if not module.params["cordon"] or module.check_mode or owner is None:
        if module.params["cordon"]:
            result["cordon"] = {"would_set": True, "was": provider.cordon_state(source)}
        return
    was = provider.cordon_state(source)
    owner.remember("cordon", {"was": was})
    provider.set_cordon(source, True)
    result["cordon"] = {"was": was, "set": True}


def _uncordon(provider, source, owner, result):
    """Restore what a cordon of this evacuation (or an interrupted one) replaced, then forget it."""
    if owner is None:
        return
    entry = owner.entries().get("cordon")
    if not entry:
        return
    provider.set_cordon(source, entry.get("was"))
    owner.forget("cordon")
    result.setdefault("cordon", {}).update(restored=entry.get("was"))
    result["changed"] = True
