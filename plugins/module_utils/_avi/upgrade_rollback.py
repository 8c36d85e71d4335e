# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The rollback of ``cluster_upgrade`` (``state=rolled_back``): back to the previous version of the controller
cluster, the system or one SE group, through the vendor's rollback (flexible ``POST /api/rollback``, 17.x
``cluster/rollback``). One list of steps: check mode returns it, a run executes it, followed like an upgrade.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import same_version
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.plan import Step, execute, texts


def rollback(step, view):
    """Roll ``step`` (the module's ``_ClusterUpgrade``) back, as the one list of steps check mode returns."""
    params = step.params
    scope = params["scope"]
    ctl = view.controller
    if scope == "se_group" and len(step.groups) != 1:
        raise ModuleFailure("state=rolled_back with scope=se_group takes exactly one SE group (se_groups)")
    node = view.groups[step.groups[0]] if scope == "se_group" else ctl
    target = params["version"] or node.get("previous_version")
    current = step.result["versions"]["before"]
    step.result["to_version"] = target
    step.result["from_version"] = node.get("version")
    if params["version"] and all(same_version(v, params["version"]) for v in current.values()):
        step.progress.update("done", "%s already at %s" % (scope, params["version"]), percent=100)
        step.result["status"] = step.watch.status(view)
        return step.result
    if not target or node.get("enable_rollback") is False or same_version(target, node.get("version")):
        if params["version"]:
            raise ModuleFailure("cannot roll %s back to %s: the controller offers no rollback (enable_rollback "
                                "%s, previous version %s)" % (scope, params["version"], node.get("enable_rollback"),
                                                              node.get("previous_version")), **step.result)
        step.result["plan"]["actions"] = []
        step.result["status"] = step.watch.status(view)
        step.progress.update("done", "nothing to roll back for %s (running %s)" % (scope, node.get("version")))
        return step.result
    body = {}
    if scope == "system":
        body["system"] = True
    elif scope == "se_group":
        body["se_group_uuids"] = [step.groups[0]]
    text = "roll %s back from %s to %s" % (scope.replace("_", " "), node.get("version"), target)

    def start():
        step.progress.update("start", text)
        try:
            step.client.post("rollback" if step.flexible else "cluster/rollback", body)
        except AviError as exc:
            raise ModuleFailure("the controller refused the rollback: %s" % exc.msg, **step.result)
    steps = [Step(text, start)]
    if params["wait"]:
        steps.append(Step("wait until %s runs %s" % (scope.replace("_", " "), target),
                          lambda: step.follow(target, rollback=True)))
    step.result["changed"] = True
    step.result["plan"]["actions"] = texts(steps)
    step.result["versions"]["after"] = dict((k, target) for k in current)
    step.result["diff"]["after"] = {"versions": step.result["versions"]["after"]}
    step.preview(body)
    step.result["status"] = step.watch.status(view)
    if step.module.check_mode:
        step.progress.update("plan", text)
        return step.result
    execute(steps)
    if not params["wait"]:
        step.result["status"] = step.watch.status(step.watch.view() or view)
    elif scope in ("controller", "system"):
        step.result["cluster"] = step.watch.cluster()
    return step.result
