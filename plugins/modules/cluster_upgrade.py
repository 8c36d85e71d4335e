#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_upgrade
short_description: Upgrade (or roll back) an Avi controller cluster, an SE group, one service engine, or the whole system
version_added: 0.2.0
description:
  - Runs one upgrade step of an Avi Vantage (NSX Advanced Load Balancer) system and waits for it, idempotently. A scope
    already at the wanted version is V(changed=false); a suspended SE group upgrade is resumed; an upgrade already
    running for the scope is re-attached to and waited for, not started again.
  - With the flexible-upgrade API (controllers 18.2.6 and later) the scopes are the controller cluster
    (C(POST /api/upgrade) with neither C(system) nor C(se_group_refs)), one SE group (C(se_group_refs)), the whole
    system (C(system), the controller's own orchestration - controllers in parallel, then SE groups in parallel and the
    SEs of each group one after another), and one service engine.
  - The per-SE upgrade (O(scope=service_engine)) uses C(POST /api/serviceengine/{uuid}/upgrade), an extension of the
    collection's lab - no public Avi API upgrades a single SE. Against a controller without it the module fails and says
    so; use O(scope=se_group) there.
  - With a 17.x controller (before 18.2.6) only the system upgrade exists (C(POST /api/cluster/upgrade) with
    C(image_path), C(force), C(disruptive); status at C(GET /api/cluster/upgrade/status)).
  - While the controllers upgrade, configuration is read-only (HTTP 403) and, while they reboot, the API answers 503 or
    drops connections and every session ends. The module waits through all of it, logs in again, and reports progress
    per phase and per node (live in C(ansible-playbook) output through the collection's action plugin).
  - Check mode runs the vendor's dry run (C(POST /api/upgrade/preview)) where it exists and returns the plan - the nodes
    that would upgrade, their order, and every virtual service that would lose service and why - without changing
    anything.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
  - fleetops.maintenance.wait
attributes:
  check_mode:
    support: full
    details: Runs the controller's pre-checks / dry run where it has one and returns the plan; uploads and upgrades nothing.
  diff_mode:
    support: full
    details: Shows the versions of the controller cluster and of each service engine of the scope before and after.
  platform:
    platforms: all
options:
  scope:
    description:
      - What to upgrade.
      - V(controller) upgrades the controller cluster only (every node in parallel, then the cluster re-forms).
      - V(se_group) upgrades the SEs of O(se_group), one after another (all at once with O(disruptive)).
      - V(service_engine) upgrades the one SE O(service_engine) (lab extension, see the description).
      - V(system) upgrades the controllers, then every SE group, as the controller orchestrates it.
      - The SE scopes need the controllers at the wanted version first.
    type: str
    required: true
    choices: [controller, se_group, service_engine, system]
  se_group:
    description: Name or uuid of the SE group, for O(scope=se_group).
    type: str
  service_engine:
    description: Name or uuid of the service engine, for O(scope=service_engine).
    type: str
  image:
    description:
      - The image to upgrade to, by name or uuid of an image on the controller, by its C(controller://) path, or as the
        path of a local package file, which is uploaded first unless an image with the same MD5 is already there.
      - With a 17.x controller, the C(controller://) path of the package on the leader (default
        C(controller://upgrade_pkgs/controller.pkg)).
      - Optional when O(version) names exactly one image on the controller.
    type: str
  version:
    description:
      - The version wanted, for example V(22.1.7). A scope already running it is left alone.
      - Accepted forms are a base version V(22.1.7), with a build V(22.1.7-9300), or with a patch V(30.2.1-2p1);
        anything else (V(22.1.7x), V(22.1.7 foo)) is refused before anything changes.
      - Required with a 17.x controller; otherwise taken from the image when not given.
      - With O(state=rolled_back), the version to go back to (default the previous version).
    type: str
  state:
    description:
      - V(upgraded) upgrades the scope to the wanted version (or resumes its suspended SE group upgrade).
      - V(rolled_back) returns the controller cluster, an SE group or the system to its previous version.
    type: str
    choices: [upgraded, rolled_back]
    default: upgraded
  force:
    description:
      - Upgrade even when the running version is older than the image's minimum compatible version, which the
        controller otherwise refuses with a warning. Forcing makes the upgrade disruptive (as O(disruptive)).
      - On the flexible API this sets C(skip_warnings).
    type: bool
    default: false
  disruptive:
    description:
      - Upgrade every SE of a group at once instead of one after another. Faster; every virtual service of the group
        is unavailable while its SEs upgrade.
    type: bool
    default: false
  action_on_error:
    description:
      - What the controller does when an SE of a group fails to upgrade (C(se_group_options.action_on_error)).
      - V(suspend) stops the group's upgrade (run the task again to resume it), V(rollback) rolls the group's upgraded
        SEs back, V(continue) skips the failed SE and carries on.
    type: str
    choices: [suspend, rollback, continue]
    default: suspend
  api:
    description:
      - Which upgrade API to use. V(auto) chooses from the running version (17.x before 18.2.6, flexible after).
    type: str
    choices: [auto, flexible, legacy]
    default: auto
  timeout:
    default: 7200
seealso:
  - module: fleetops.maintenance.se_info
  - module: fleetops.maintenance.se_disable
  - module: fleetops.maintenance.vs_scale
notes:
  - The order in which the controller upgrades the SEs of a group is not documented; the plan lists them by name, a
    prediction.
'''

EXAMPLES = r'''
- name: Upgrade the controller cluster first
  fleetops.maintenance.cluster_upgrade:
    scope: controller
    image: controller-22.1.7-9300
    timeout: 3600

- name: Then one SE group, one SE after another, suspending on error
  fleetops.maintenance.cluster_upgrade:
    scope: se_group
    se_group: sg-web
    version: 22.1.7

- name: What would a system upgrade do? (runs the controller's pre-checks, changes nothing)
  fleetops.maintenance.cluster_upgrade:
    scope: system
    image: /srv/images/controller-22.1.7.pkg
    version: 22.1.7
  check_mode: true
  register: upgrade_plan

- name: Roll the controllers back
  fleetops.maintenance.cluster_upgrade:
    scope: controller
    state: rolled_back
'''

RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
scope:
  description: The scope of this step.
  returned: always
  type: str
  sample: se_group
api:
  description: The upgrade API used, V(flexible) or V(17.x).
  returned: always
  type: str
  sample: flexible
from_version:
  description: The version the scope ran before (the controller's, or the lowest of the scope's SEs).
  returned: when an image or version was resolved
  type: str
  sample: 22.1.6
to_version:
  description: The version wanted.
  returned: when an image or version was resolved
  type: str
  sample: 22.1.7
image:
  description: The image used (name, uuid, version, path).
  returned: when an image was resolved
  type: dict
  sample: {"name": "controller-22.1.7-9300", "uuid": "image-1", "version": "22.1.7"}
versions:
  description: Version of the controller cluster and of each service engine of the scope, before and after (planned in check mode).
  returned: always
  type: dict
  sample: {"before": {"controller": "22.1.6"}, "after": {"controller": "22.1.7"}}
plan:
  description:
    - What the step does or would do. C(actions) lists the steps, the same in check mode (the plan) and in a run (what
      it executes), including the wait when O(wait=true). C(nodes) the controller cluster and SE groups with the
      order in which their SEs upgrade. C(disrupted_virtual_services) every virtual service that loses service while its
      SEs upgrade, with the reason (for example an N+M virtual service placed on a single SE). C(prechecks) is the
      controller's dry-run answer where it has one, C(warnings) and C(errors) its findings.
  returned: always
  type: dict
  sample: {"actions": ["upgrade se group to 22.1.7", "wait until se group runs 22.1.7"],
           "nodes": [{"type": "se_group", "name": "sg-1", "order": ["se-1", "se-2"]}],
           "disrupted_virtual_services": [{"name": "vs-1", "se_group": "sg-1", "service_engines": ["se-1"],
                                           "reason": "placed on a single SE in an elastic HA HA_MODE_SHARED group: unavailable while se-1 upgrades"}]}
status:
  description:
    - The controller's upgrade state at the end (before acting, in check mode), for the controller cluster, each SE group
      and each SE of the scope. C(state) is the vendor's FSM state and C(reason) its reason; SEs also have their
      C(version), C(oper_state) and C(enable_state).
  returned: always, except when the module fails before reading the scope
  type: dict
  sample: {"api": "flexible", "controller": {"version": "22.1.7", "state": "UPGRADE_FSM_COMPLETED"}}
cluster:
  description: The controller cluster's state after a controller or system step (C(GET /api/cluster/status)).
  returned: with scope controller or system, after acting or when nothing had to change
  type: dict
  sample: {"state": "CLUSTER_UP_HA_ACTIVE", "nodes": [{"name": "ctl-1", "role": "CLUSTER_LEADER", "state": "CLUSTER_ACTIVE"}]}
progress:
  description: Progress steps recorded while the module ran (also streamed live by the collection's action plugin).
  returned: always
  type: list
  elements: dict
  sample: [{"task": "cluster_upgrade", "elapsed": 40.2, "phase": "reboot",
            "msg": "controller API unavailable (503): nodes rebooting or the cluster re-forming, waiting"}]
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.cluster_upgrade import upgrade_cluster
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import avi_module, run_avi_module
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import check_version


def main():
    argument_spec = dict(
        scope=dict(type="str", required=True, choices=["controller", "se_group", "service_engine", "system"]),
        se_group=dict(type="str"),
        service_engine=dict(type="str"),
        image=dict(type="str"),
        version=dict(type="str"),
        state=dict(type="str", default="upgraded", choices=["upgraded", "rolled_back"]),
        force=dict(type="bool", default=False),
        disruptive=dict(type="bool", default=False),
        action_on_error=dict(type="str", default="suspend", choices=["suspend", "rollback", "continue"]),
        api=dict(type="str", default="auto", choices=["auto", "flexible", "legacy"]),
        timeout=dict(type="int", default=7200),
    )
    module = avi_module(
        argument_spec,
        with_wait=True,
        names=("se_group", "service_engine", "image"),
        required_if=[("scope", "se_group", ("se_group",)), ("scope", "service_engine", ("service_engine",))],
    )
    params = module.params
    for option, scope in (("se_group", "se_group"), ("service_engine", "service_engine")):
        if params[option] and params["scope"] != scope:
            module.fail_json(msg="%s is only used with scope=%s (scope is %s)" % (option, scope, params["scope"]))
    if params["version"] is not None:
        try:
            check_version(params["version"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    if params["state"] == "rolled_back" and (params["image"] or params["force"]):
        module.fail_json(msg="image and force only apply to state=upgraded")
    run_avi_module(module, upgrade_cluster, "cluster_upgrade")


if __name__ == "__main__":
    main()
