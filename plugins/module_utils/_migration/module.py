# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The ``instance_migrate`` module around the engine: its own options, the assembly of every provider's
options into one spec, the refusal of options that belong to another provider, then one instance
(``converge``) or several (the capacity pre-check, then ``run_window``), the diff and the exit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import blank_names
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.progress import Progress
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.engine import converge, run_window
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError

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
        on_failure=dict(type="str", default="stop", choices=["stop", "continue"]),
        failed_action=dict(type="str", default="leave", choices=["abort", "leave"]),
        capacity_check=dict(type="bool", default=True),
        timeout=dict(type="int", default=3600),
    )
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
    if problems:
        module.fail_json(msg="; ".join(problems))
    progress = Progress("instance_migrate")
    try:
        provider = providers[p["provider"]](p)
    except (ValueError, MigrationError) as exc:
        module.fail_json(msg=getattr(exc, "msg", None) or str(exc))
    provider.on_wait(progress.waiting)
    result = {"changed": False, "progress": progress.history}
    opts = {"state": p["state"], "timeout": p["timeout"], "capacity_check": p["capacity_check"]}
    try:
        if p["target_server"]:
            opts["target_server"] = provider.resolve_server(p["target_server"])[0]
        if p["source_server"] or p["from_server"]:
            opts["source_server"] = provider.resolve_server(p["source_server"] or p["from_server"])[0]
        if p["instance"]:
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
            _many(module, provider, opts, progress, result)
    except MigrationError as exc:
        result["api_stats"] = provider.api_stats()
        module.fail_json(msg=exc.msg, **dict((k, v) for k, v in result.items() if k != "msg"))
    result["api_stats"] = provider.api_stats()
    module.exit_json(**result)


def _many(module, provider, opts, progress, result):
    p = module.params
    if p["from_server"]:
        instances = provider.instances_on(p["from_server"])
        keys = [i["id"] for i in instances]
        progress.update("read", "%d instance(s) on %s" % (len(keys), p["from_server"]))
    else:
        keys = list(dict.fromkeys(p["instances"]))
        instances = [provider.resolve(k) for k in keys]
    plan = {"capacity": None}
    if opts["state"] in START_STATES and opts.get("capacity_check"):
        to_move = [i for i in instances if provider.needs_start(i, provider.record(i), opts)]
        targets = provider.plan_targets(to_move, opts.get("target_server")) if to_move else []
        plan["capacity"] = targets
        short = [t for t in (targets or []) if not t["target"]]
        if short:
            result["plan"] = plan
            raise MigrationError(provider.check_failure(short, to_move))
    result["plan"] = plan
    results, summary = run_window(provider, keys, opts, progress, module.check_mode, concurrency=p["concurrency"],
                                  on_failure=p["on_failure"], failed_action=p["failed_action"])
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
        raise MigrationError("%d of %d migration(s) failed: %s" % (len(failed), len(results), why))
