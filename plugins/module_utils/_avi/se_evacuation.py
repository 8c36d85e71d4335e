# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

An SE's evacuation by the controller, shared by ``se_disable`` and ``se_group_refresh``: set an SE's
``enable_state`` (the controller then moves its virtual services away), read the SE from the inventory, and
follow it until it is empty and ``OPER_DISABLED`` (or the controller gives up with virtual services left:
:class:`EvacuationFailed`); the lease of an SE's intent record and the words that mark a prediction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.placement import (
    MIGRATE_FAILED,
    MIGRATE_STARTED,
    OPER_UP,
    se_from_inventory,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.vs_operations import Pacer
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout

OPER_DISABLED = "OPER_DISABLED"
OPER_DISABLING = "OPER_DISABLING"
SERVING = (OPER_UP, OPER_DISABLING, OPER_DISABLED)
LEASE_SECONDS = 300.0
PREDICTION = ("a prediction: the controller chooses the targets (and the hosts of new SEs) itself; the "
              "predicted targets follow its documented rules, ties broken by name")


def read_se(client, se_uuid):
    items = client.get_all("serviceengine-inventory", params={"uuid": se_uuid, "include_name": "true"})
    for item in items:
        se = se_from_inventory(item)
        if se["uuid"] == se_uuid:
            return se
    raise ModuleFailure("serviceengine %s disappeared from the inventory" % se_uuid)


class EvacuationFailed(Exception):
    """The controller ended an SE's evacuation with VSs left on it (``left``: their uuids)."""

    def __init__(self, se, left):
        super(EvacuationFailed, self).__init__("%d virtual service(s) left" % len(left))
        self.se = se
        self.left = left


def follow_evacuation(client, se_uuid, se_name, hosted, timeout, interval, progress, on_tick=None,
                      clock=time.monotonic, sleep=time.sleep):
    """Follow a disabled SE until it is empty and ``OPER_DISABLED``; return it (as the inventory shows it).
    Raises :class:`EvacuationFailed` when the controller finished with VSs left on it, WaitTimeout past
    ``timeout``. Polling wakes when the next VS is due to have left (the shortest time one took so far), then
    backs off."""
    total = len(hosted)
    pacer = Pacer(clock, interval)
    state = {"polls": 0, "started": False, "left": None, "changed_at": clock()}
    deadline = clock() + timeout
    while True:
        se = read_se(client, se_uuid)
        state["polls"] += 1
        if se.get("migrate_state") == MIGRATE_STARTED or se.get("oper_state") == OPER_DISABLING:
            state["started"] = True
        left = set(se["vs_uuids"])
        moved = total - len(left & hosted)
        if state["left"] is not None and len(left) < state["left"]:
            now = clock()
            pacer.observe((now - state["changed_at"]) / (state["left"] - len(left)))
            state["changed_at"] = now
        if state["left"] != len(left):
            pacer.restart()
        state["left"] = len(left)
        progress.update("evacuate", "SE %s: %d/%d virtual service(s) moved, %s, %s"
                        % (se_name, moved, total, se.get("migrate_state"), se.get("oper_state")),
                        percent=100 * moved // total if total else None)
        if not left and se.get("oper_state") == OPER_DISABLED and se.get("migrate_state") != MIGRATE_STARTED:
            return se
        if left and se.get("migrate_state") == MIGRATE_FAILED and (state["started"] or state["polls"] >= 3):
            raise EvacuationFailed(se, left)
        if on_tick is not None:
            on_tick()
        now = clock()
        if now >= deadline:
            raise WaitTimeout("timed out after %.0f seconds waiting for SE %s to be evacuated and disabled"
                              % (timeout, se_name), last=se)
        sleep(min(pacer.pause([state["changed_at"]] if left else []), deadline - now))


def set_enable_state(client, se_uuid, wanted):
    config = client.get("serviceengine/%s" % se_uuid)
    config["enable_state"] = wanted
    client.put("serviceengine/%s" % se_uuid, config)
