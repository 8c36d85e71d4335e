# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Disruption budgets and anti-affinity, shared by every module and role that moves several instances.
    DOCUMENTATION = r'''
options:
  budgets:
    description:
      - Disruption budgets and anti-affinity. Each entry is a group of instances (servers with
        O(provider=virtfusion)) with a budget; an instance may be in several groups and must honour all of them.
      - The window starts an instance only while each of its groups has fewer than O(budgets[].max_moving) members
        migrating (the next allowed one starts as one finishes); check mode returns the schedule
        (C(plan.budgets.schedule), a prediction in rounds of equal-length migrations).
      - With O(budgets[].anti_affinity) a member never goes to a compute node or hypervisor that holds another member
        of the group, as it runs now (members not being moved count too) or as placed by this run. The module
        chooses such a target itself (Triton V(operator) API, sent as C(override_server_uuid) after the allocator's
        hard filters and capacity; VirtFusion with O(target_servers) or O(exclude_servers)) or checks a given one
        (O(target_server)). An instance whose destination the vendor's allocator chooses at begin (Triton
        V(cloudapi)) cannot be kept apart and is refused.
      - A run that cannot honour a budget is refused before anything changes, naming the group and why. A shape that
        is not one (an unknown key, no or two ways of naming the members, O(budgets[].max_moving) below 1, a member
        name that matches no instance, tags with a provider that has none) is refused before anything is read,
        naming C(budgets[i]).
      - Only with O(instances) or O(from_server).
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
          - The group's members, by name or id. Exactly one of O(budgets[].members), O(budgets[].pattern),
            O(budgets[].tags).
        type: list
        elements: str
      pattern:
        description: A shell-style pattern of the members' names (C(db-*), C(web-[0-9])), case-sensitive.
        type: str
      tags:
        description:
          - "Triton only, the instance tags every member carries (C({role: db})); values compare as text,
            case-insensitive."
        type: dict
      max_moving:
        description: At most this many members migrating at once.
        type: int
        default: 1
      anti_affinity:
        description: Never two members on one destination compute node or hypervisor.
        type: bool
        default: true
'''
