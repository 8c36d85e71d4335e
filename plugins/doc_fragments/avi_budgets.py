# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Disruption budgets for Avi virtual services (se_disable, cluster_upgrade): the same option as the host
    # evacuations' (doc fragment fleetops.maintenance.budgets), described for an SE evacuation and an upgrade.
    DOCUMENTATION = r'''
options:
  budgets:
    description:
      - Disruption budgets and anti-affinity, the same shape as the host evacuations'
        (M(fleetops.maintenance.instance_migrate)). Each entry is a group of virtual services with a budget; a virtual
        service may be in several groups and must honour all of them.
      - SE evacuation (M(fleetops.maintenance.se_disable), O(fleetops.maintenance.se_disable#module:state=disabled),
        O(fleetops.maintenance.se_disable#module:method=per_vs)) - the window starts a virtual service only while each
        of its groups has fewer than O(budgets[].max_moving) members moving (the next allowed one starts as one
        finishes); check mode returns the schedule (C(plan.budgets.schedule), waves of equal-length migrations, a
        prediction) and each move's C(wave). With O(budgets[].anti_affinity) a member never goes to an SE that hosts
        another member of the group, as placed now (members that are not moved count too) or as placed by this run. The
        module chooses that SE itself and names it in the migration (C(to_se_ref)); a new SE when the controller may
        create one and no existing SE fits. After the moves it checks the placement; a member found next to another
        member fails the task, naming it (it keeps serving where it is). Refused before anything changes - a member with
        no SE free of other members, members on the SE with O(fleetops.maintenance.se_disable#module:method=controller)
        (the controller alone chooses the targets and the pace).
      - Upgrade (M(fleetops.maintenance.cluster_upgrade)) - an SE group upgrades its SEs one at a time [vendor], so it
        takes out of service at once the members one of its SEs hosts (every member with
        O(fleetops.maintenance.cluster_upgrade#module:disruptive) or
        O(fleetops.maintenance.cluster_upgrade#module:force)). Check mode returns the SE groups in waves that keep each
        budget group within O(budgets[].max_moving) (C(plan.budgets.waves); a group that alone exceeds it is a wave of
        its own). A run whose SE groups exceed a budget together is refused before anything changes, naming the group
        and the waves to run instead (the rolling_upgrade role runs them). O(budgets[].anti_affinity) has no use there.
      - A member name that matches no virtual service is refused before anything changes. A shape that is not one (an
        unknown key, no or two ways of naming the members, tags, O(budgets[].max_moving) below 1) is refused before
        anything is read, naming C(budgets[i]).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The group's name (unique), used in schedules and refusals.
        type: str
        required: true
      members:
        description:
          - The group's virtual services, by name or uuid. Exactly one of O(budgets[].members) and O(budgets[].pattern).
        type: list
        elements: str
      pattern:
        description: A shell-style pattern of the members' names (C(db-*), C(web-[0-9])), case-sensitive.
        type: str
      tags:
        description: Not for Avi (Triton instance tags); refused.
        type: dict
      max_moving:
        description: At most this many members moving (or out of service, during an upgrade) at once.
        type: int
        default: 1
      anti_affinity:
        description: Never two members on one SE (an SE evacuation).
        type: bool
        default: true
'''
