# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Capacity-aware destinations of VirtFusion (instance_migrate with provider=virtfusion).
    DOCUMENTATION = r'''
options:
  target_servers:
    description:
      - O(provider=virtfusion), several destination hypervisors (ids or names). The module chooses one per server from
        the vendor's own numbers, C(GET /compute/hypervisors/groups/{id}/resources) (memory, CPU cores and server slots
        allocated against each hypervisor's limits, storage allocation) and the hybrid destination endpoint (storage
        mount points, the server's IP addresses on the destination). It never over-commits (each placement is counted
        before the next), spreads (the most memory left after placing), honours O(budgets) anti-affinity, and check
        mode returns the placement and the headroom left per hypervisor (C(plan.placement)).
      - A number the vendor does not give (a field missing, a limit of 0, not set) is unknown, never free room, the
        C(capacity) pre-check is then unknown and blocks unless named in O(accept_unverified); an accepted
        hypervisor is chosen only after every one whose room is known.
      - The field names of the resources answer are not documented by the vendor. The module reads C(memory),
        C(cpu), C(servers) as C({allocated, max}) and C(storage) as C([{storageId, allocated, max}]), the lab's
        shape; on a controller that answers otherwise the check is unknown (it fails closed).
      - Mutually exclusive with O(target_server) and O(exclude_servers). Only with O(instances) or O(from_server).
    type: list
    elements: str
  exclude_servers:
    description:
      - O(provider=virtfusion), every hypervisor but these (and the source) is a candidate destination, chosen as with
        O(target_servers).
    type: list
    elements: str
'''
