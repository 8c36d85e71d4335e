#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_upgrade
short_description: Upgrade an Avi controller cluster, a batch of SE groups or the whole system, no virtual service losing service
version_added: 0.2.0
description:
  - Runs one upgrade step of an Avi Vantage (NSX Advanced Load Balancer) system through the vendor's own upgrade, and
    waits for it, idempotently. A scope already at the wanted version is V(changed=false); an upgrade already running
    for the scope is re-attached to and followed, never started twice.
  - "B(Scopes) (flexible upgrade API, 18.2.6 and later, [vendor]): V(controller) - C(POST /api/upgrade) with neither
    C(system) nor SE groups; V(se_group) - one C(POST /api/upgrade) naming every SE group of O(se_groups) in
    C(se_group_uuids), which the controller upgrades in parallel, the SEs of a group one at a time; V(system) - the
    controller's system upgrade (controllers, then every SE group). The request uses the documented body spelling
    (C(image_uuid), C(se_group_uuids), C(se_group_options)); the vendor's dry run (the same body on
    C(/api/upgrade/preview/)) runs first, and its errors refuse the step."
  - "With a 17.x controller (before 18.2.6) only the system upgrade exists (C(POST /api/cluster/upgrade), status at
    C(GET /api/cluster/upgrade/status)) [vendor]: O(scope=se_group) and O(resume) are refused there, naming the
    version."
  - "B(Protection.) Before the SE groups upgrade, every enabled virtual service that would lose service - served by a
    single SE that will upgrade, the vendor's disruptive case for N+M elastic HA [vendor] - gets a temporary second SE
    (C(POST /api/virtualservice/{uuid}/scaleout) naming the target), O(protect_concurrency) at once; it is scaled back
    in once the upgrade operation has ended (virtual service changes are refused while SE groups upgrade [vendor, NSX
    ALB 30.2]; a 403 then is waited out). Capacity is counted first from what the vendor exposes (free slots on enabled
    SEs under C(max_vs_per_se), SEs being created, SEs the controller may still create under C(max_se), disabled SEs
    counted); host capacity is unknown, never counted as room. Where not every virtual service at risk can be protected
    the step refuses before acting and says what would make it possible (raise C(max_se) of a group by N, free K slots)
    or which virtual services would lose service (accept them by name in O(accept_disruption)). Creating SEs in a group
    whose SEs are all closed to placement needs O(allow_se_creation). The controller creates the SEs of one group one at
    a time here; the collection schedules around it. A failure part-way undoes exactly what protection did."
  - "B(Following.) The controller's upgrade is followed live from C(upgradestatusinfo): the controller cluster per task,
    and each SE as its SE group's C(seg_status) lists it (C(se_upgrade_not_started), C(se_upgrade_in_progress),
    C(se_upgrade_completed), C(se_upgrade_failed), C(se_upgrade_suspended)), in whatever order the controller takes
    them (it documents none). C(NODE_SE_TYPE) entries add their state where the controller keeps them. Each change of
    an SE is a progress entry (keys C(se) and C(group)), which the run record turns into the SE's phases."
  - "B(Crash safety.) What the step changes around the vendor's upgrade (each scale-out, each SE created for
    protection, the enable state of an SE it changes) is recorded first on the controller, in the StringGroup
    C(fleetops-maintenance-upgrade), with the lease of the run that owns the upgrade. A re-run, from any machine,
    restores exactly what an interrupted run changed (never the operator's own settings), waits for a module still
    running (its lease) and adopts an upgrade the controller is still running instead of starting a second one; when
    every SE group is already at the target version it still undoes what was left. The step ends by verifying every SE
    of the scope on the target version with its enable state, no temporary scale-out or SE left, every virtual service
    placed as before; any difference fails it with the list."
  - "While the controllers upgrade, configuration is read-only (HTTP 403) and, while they reboot, the API answers 503,
    drops connections or refuses them, and every session ends [vendor]. The module waits through all of it, logs in
    again, and reports the wait in its progress; a controller that refuses connections when the step starts (a killed
    run left it rebooting) is waited for up to O(unreachable_timeout)."
  - "B(Image check.) Before uploading an image or starting an upgrade, the image's package type is checked against
    the controller's deployment: C(controller.pkg) for a virtual machine controller, C(controller_docker.tgz) for a
    container one [vendor], the deployment from C(GET /api/systemconfiguration) C(docker_mode) (the field is the
    vendor's; that C(true) means a container deployment is inferred). A mismatch is refused naming both; an unknown
    type (an image already on the controller does not tell its package) is refused unless O(deployment) is given."
  - Check mode runs the vendor's dry run and returns the plan - the nodes that would upgrade, the protection of each
    group with its capacity count, what an interrupted run left, every virtual service that would lose service and
    why - without changing anything.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.avi
  - fleetops.maintenance.wait
  - fleetops.maintenance.avi_budgets
attributes:
  check_mode:
    support: full
    details: Runs the controller's dry run where it has one and returns the plan; uploads, protects and upgrades nothing.
  diff_mode:
    support: full
    details: Shows the versions of the controller cluster and of each service engine of the scope before and after.
  platform:
    platforms: all
options:
  scope:
    description:
      - What to upgrade.
      - V(controller) upgrades the controller cluster only (every node, then the cluster re-forms).
      - V(se_group) upgrades the SE groups of O(se_groups) (every SE group when empty) in one request, protected; the
        controllers must run the wanted version first.
      - V(system) hands the controllers and every SE group to the controller's own system upgrade, protected (the
        protection happens before it starts, as configuration is read-only until it ends).
    type: str
    required: true
    choices: [controller, se_group, system]
  se_groups:
    description:
      - Names or uuids of the SE groups, for O(scope=se_group). Empty means every SE group.
    type: list
    elements: str
    default: []
    aliases: [se_group]
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
      - Required with a 17.x controller, with a local package file, and with O(state=verified); otherwise taken from
        the image when not given.
      - With O(state=rolled_back), the version to go back to (default the previous version).
    type: str
  state:
    description:
      - V(upgraded) upgrades the scope to the wanted version (or resumes its suspended SE group upgrade, with O(resume)).
      - V(rolled_back) returns the controller cluster, one SE group or the system to its previous version.
      - V(verified) changes nothing - it checks the end state against O(baseline) (see the description) and fails
        with the differences.
    type: str
    choices: [upgraded, rolled_back, verified]
    default: upgraded
  deployment:
    description:
      - How the controller is deployed, for the image check. V(auto) takes it from the controller (C(docker_mode)).
      - V(vm) (takes C(controller.pkg)) or V(docker) (takes C(controller_docker.tgz)) states it; it must agree with
        C(docker_mode) where the controller gives one, and it confirms the type of an image already on the controller,
        whose package type the controller does not tell.
    type: str
    choices: [auto, vm, docker]
    default: auto
  force:
    description:
      - Upgrade even when the running version is older than the image's minimum compatible version, which the
        controller otherwise refuses with a warning. Forcing makes the upgrade disruptive (as O(disruptive)).
      - On the flexible API this sets C(skip_warnings).
    type: bool
    default: false
  disruptive:
    description:
      - The vendor's fast path (C(se_group_options.disruptive)) - every SE of a group upgrades at once; every virtual
        service of the group is unavailable meanwhile. No protection.
    type: bool
    default: false
  action_on_error:
    description:
      - What the controller does when an SE of a group fails to upgrade (C(se_group_options.action_on_error)).
      - V(suspend) stops the group's upgrade (fix the cause, then run again with O(resume)), V(rollback) rolls the
        group's upgraded SEs back, V(continue) skips the failed SE and carries on.
    type: str
    choices: [suspend, rollback, continue]
    default: suspend
  resume:
    description:
      - Resume the suspended upgrade of an SE group of the scope. Without it a suspended group fails the step (after
        undoing what protection left), saying why it was suspended.
      - The vendor's REST URL for it is unconfirmed (its API reference lists C(POST /api/segroup/resume); no guide
        does) - the module probes C(/api/segroup/resume/preview/) first and, where the controller does not have it,
        refuses and names the CLI command (C(resume segroup se_group_refs <name>)). Needs 18.2.8 or later.
    type: bool
    default: false
  protect:
    description:
      - Give every virtual service that would lose service a temporary second SE while the SE groups upgrade (see the
        description). V(false) leaves them to the vendor's upgrade, which disrupts them.
    type: bool
    default: true
  protect_concurrency:
    description: How many protective scale-outs (and scale-ins) run at once.
    type: int
    default: 32
  accept_disruption:
    description:
      - Virtual services (names or uuids) the operator accepts to lose service while their SE upgrades, when they
        cannot be protected. Nothing else is left unprotected.
    type: list
    elements: str
    default: []
  allow_se_creation:
    description:
      - SE groups (names or uuids) closed to placement (none of their SEs enabled) in which protection may make the
        controller create SEs. Without it such a group refuses the step before anything changes.
    type: list
    elements: str
    default: []
  remove_created_ses:
    description:
      - Remove the SEs the controller created for protection once the virtual services are scaled back in (each is
        disabled, its enable state recorded first, then deleted with C(DELETE /api/serviceengine/{uuid})). By default
        they are kept and reported.
    type: bool
    default: false
  takeover:
    description:
      - Take the upgrade over from another run that still holds its lease (only when you know that run is gone).
        Otherwise a live run is waited for, up to O(timeout); then the module fails naming that run, having changed
        nothing (RV(ignore:changed=false)).
    type: bool
    default: false
  baseline:
    description:
      - With O(state=verified), what the system must look like (the RV(baseline) a plan returned). Empty takes the
        baseline from the system as it is now, corrected by the intent record.
    type: dict
    default: {}
  kept_service_engines:
    description: With O(state=verified), SEs created for protection and kept at the operator's choice (not differences).
    type: list
    elements: str
    default: []
  unreachable_timeout:
    description:
      - Seconds a controller that refuses connections when the step starts is waited for (it may be rebooting for an
        upgrade that a killed run started). Names that do not resolve, certificates and credentials fail at once.
    type: int
    default: 900
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
  - module: fleetops.maintenance.vs_scale
  - ref: ansible_collections.fleetops.maintenance.docsite.guide_rolling_upgrade
    description: The rolling upgrade, and which behaviour is documented by the vendor and which is assumed.
notes:
  - The order in which the controller upgrades the SEs of a group is not documented; the module reports the order the
    controller took. Which SE protection uses for each virtual service is the module's prediction (it names the target
    in the request).
  - No atomic lock exists on the controller's API; the lease is a write, a read back and a comparison, and the
    controller's own upgrade state is the second guard (a second upgrade of the same nodes is refused by the controller).
'''

EXAMPLES = r'''
- name: Upgrade the controller cluster first
  fleetops.maintenance.cluster_upgrade:
    scope: controller
    image: controller-22.1.7-9300
    deployment: vm
    timeout: 3600

- name: Then every SE group in one request, the virtual services at risk protected first
  fleetops.maintenance.cluster_upgrade:
    scope: se_group
    version: 22.1.7
    deployment: vm

- name: One group that is closed to placement, letting protection create an SE there and removing it afterwards
  fleetops.maintenance.cluster_upgrade:
    scope: se_group
    se_groups: [sg-closed]
    version: 22.1.7
    deployment: vm
    allow_se_creation: [sg-closed]
    remove_created_ses: true

- name: What would a system upgrade do? (runs the controller's pre-checks, changes nothing)
  fleetops.maintenance.cluster_upgrade:
    scope: system
    image: /srv/images/controller.pkg
    version: 22.1.7
  check_mode: true
  register: upgrade_plan

- name: Verify the end state against the plan's baseline
  fleetops.maintenance.cluster_upgrade:
    scope: system
    state: verified
    version: 22.1.7
    baseline: "{{ upgrade_plan.baseline }}"

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
controller:
  description: The controller cluster's version when the step began.
  returned: always
  type: dict
  sample: {"version": "22.1.7"}
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
      it executes). C(nodes) the controller cluster and the SE groups (size, the SEs behind, those at the target
      already, state). C(protection) per SE group the capacity count and the scale-outs planned. C(leftovers) what an
      interrupted run left to undo. C(disrupted_virtual_services) every virtual service that loses service, with the
      reason. C(image_check) the image check's verdict. C(prechecks) is the controller's dry-run answer where it has one.
    - With O(budgets), C(budgets) - C(groups), C(waves) (the SE groups to upgrade, in waves that honour the budgets) and
      C(members_at_once) (per SE group, the members of each budget group it takes out of service at once).
  returned: always
  type: dict
  sample: {"actions": ["give 2 virtual service(s) a temporary second SE (sg-nm: 2)",
                       "upgrade SE group(s) sg-nm to 22.1.7 (one request; the controller runs them in parallel)"],
           "protection": [{"se_group": "sg-nm", "virtual_services_at_risk": 2, "free_slots": 5, "new_ses_needed": 0}]}
baseline:
  description:
    - The system as the operator had it before any run of the upgrade changed it (enable state of each SE, placement
      of each virtual service), what the step verifies against; give it to a later O(state=verified).
  returned: with state upgraded or verified
  type: dict
  sample: {"service_engines": {"nm-se-01": {"enable_state": "SE_STATE_ENABLED", "se_group": "sg-nm"}},
           "virtual_services": {"nm-single-1": {"0": ["nm-se-01"]}}}
service_engines:
  description: Each SE of the scope at the end, C(result) V(upgraded), V(already_upgraded), V(failed), V(suspended),
    V(not_started) or V(not_upgraded), and the controller's list that named it last.
  returned: when the step followed an upgrade
  type: list
  elements: dict
  sample: [{"name": "nm-se-01", "se_group": "sg-nm", "result": "upgraded", "version": "22.1.7"}]
se_group_results:
  description:
    - Each SE group of the scope at its end, C(result) V(upgraded), V(suspended), V(failed), V(in_progress) or
      V(not_upgraded), with the controller's C(state) and C(reason) and how many of its C(service_engines) are
      C(upgraded). One group suspending or failing does not stop the module following the others of the request (the
      controller goes on with them); it follows each to its end, then fails naming the suspended group(s) and how to
      resume them.
  returned: with scope se_group or system, when the step followed an upgrade or found nothing to do
  type: list
  elements: dict
  sample: [{"name": "sg-aa", "result": "upgraded", "state": "UPGRADE_FSM_COMPLETED", "reason": null,
            "service_engines": 2, "upgraded": 2}]
protected_virtual_services:
  description: The virtual services given a temporary second SE (C(added) the SEs added).
  returned: when protection ran
  type: list
  elements: dict
  sample: [{"name": "nm-single-1", "vip_id": "0", "se_group": "sg-nm", "added": ["serviceengine-2"]}]
scaled_back_in:
  description: The virtual services scaled back in (also those an interrupted run left).
  returned: when anything was scaled back in
  type: list
  elements: str
  sample: [nm-single-1]
created_service_engines:
  description: SEs the controller created for protection, C(removed) with O(remove_created_ses), else C(kept).
  returned: when protection created SEs
  type: list
  elements: dict
  sample: [{"name": "Avi-se-abcde", "group": "sg-one", "removed": true}]
verification:
  description: The end-state check, C(ok) and the C(differences) (empty when it holds).
  returned: when the step verified
  type: dict
  sample: {"ok": true, "differences": []}
owner:
  description: The run this one took the upgrade over from (C(displaced)), when there was one.
  returned: when another run's lease was taken over
  type: dict
  sample: {"displaced": {"run": "awx-1-12-ab12cd34", "host": "awx-1"}}
status:
  description:
    - The controller's upgrade state at the end (before acting, in check mode), for the controller cluster, each SE group
      and each SE of the scope. C(state) is the vendor's FSM state and C(reason) its reason; SEs also have their
      C(version), C(oper_state), C(enable_state) and C(controller_list).
  returned: always, except when the module fails before reading the scope
  type: dict
  sample: {"api": "flexible", "controller": {"version": "22.1.7", "state": "UPGRADE_FSM_COMPLETED"}}
cluster:
  description: The controller cluster's state after a controller or system step (C(GET /api/cluster/status)).
  returned: with scope controller or system, after following an upgrade
  type: dict
  sample: {"state": "CLUSTER_UP_HA_ACTIVE", "nodes": [{"name": "ctl-1", "role": "CLUSTER_LEADER", "state": "CLUSTER_ACTIVE"}]}
progress:
  description:
    - Progress steps recorded while the module ran (also streamed live by the collection's action plugin). Entries
      about one SE carry C(se) and C(group), their C(phase) the controller's list that names the SE.
  returned: always
  type: list
  elements: dict
  sample: [{"task": "cluster_upgrade", "elapsed": 40.2, "phase": "se_upgrade_completed", "se": "nm-se-01",
            "group": "sg-nm", "msg": "SE nm-se-01 of SE group sg-nm: upgraded at 22.1.7"}]
'''

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.cluster_upgrade import upgrade_cluster
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.module import avi_module, run_avi_module
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import check_version
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.budgets import (
    budgets_argument_spec,
    problems as budget_problems,
)


def main():
    argument_spec = dict(
        scope=dict(type="str", required=True, choices=["controller", "se_group", "system"]),
        se_groups=dict(type="list", elements="str", default=[], aliases=["se_group"]),
        image=dict(type="str"),
        version=dict(type="str"),
        state=dict(type="str", default="upgraded", choices=["upgraded", "rolled_back", "verified"]),
        deployment=dict(type="str", default="auto", choices=["auto", "vm", "docker"]),
        force=dict(type="bool", default=False),
        disruptive=dict(type="bool", default=False),
        action_on_error=dict(type="str", default="suspend", choices=["suspend", "rollback", "continue"]),
        resume=dict(type="bool", default=False),
        protect=dict(type="bool", default=True),
        protect_concurrency=dict(type="int", default=32),
        accept_disruption=dict(type="list", elements="str", default=[]),
        allow_se_creation=dict(type="list", elements="str", default=[]),
        remove_created_ses=dict(type="bool", default=False),
        takeover=dict(type="bool", default=False),
        baseline=dict(type="dict", default={}),
        kept_service_engines=dict(type="list", elements="str", default=[]),
        unreachable_timeout=dict(type="int", default=900),
        api=dict(type="str", default="auto", choices=["auto", "flexible", "legacy"]),
        timeout=dict(type="int", default=7200),
    )
    argument_spec.update(budgets_argument_spec())
    module = avi_module(argument_spec, with_wait=True, names=("image",))
    params = module.params
    problems = budget_problems(params["budgets"], "avi")
    for option in ("se_groups", "accept_disruption", "allow_se_creation", "kept_service_engines"):
        if any(not str(v).strip() for v in params[option] or []):
            problems.append("%s must not hold empty or blank names (got %r)" % (option, params[option]))
    if params["se_groups"] and params["scope"] != "se_group":
        problems.append("se_groups is only used with scope=se_group (scope is %s)" % params["scope"])
    for option in ("protect_concurrency", "unreachable_timeout"):
        if params[option] < (1 if option == "protect_concurrency" else 0):
            problems.append("%s must be %s, got %s" % (option, "1 or more" if option == "protect_concurrency"
                                                       else "0 or more", params[option]))
    if params["version"] is not None:
        try:
            check_version(params["version"])
        except ValueError as exc:
            problems.append(str(exc))
    if params["state"] == "rolled_back" and (params["image"] or params["force"]):
        problems.append("image and force only apply to state=upgraded")
    if params["state"] == "verified" and not params["version"]:
        problems.append("state=verified needs version (what every node must run)")
    if problems:
        module.fail_json(msg="; ".join(problems))
    run_avi_module(module, upgrade_cluster, "cluster_upgrade")


if __name__ == "__main__":
    main()
