# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The intent record of an upgrade (see ``_common.intent``): one StringGroup on the controller,
``fleetops-maintenance-upgrade``, holding what the collection changed around the vendor's upgrade and must
undo, written before each change:

- ``vs/<vs uuid>/<vip id>``: ``{"before": [se uuids], "group": <se group uuid>, "vs": <name>, "run": <id>}``, the
  placement of a virtual service before its protective scale-out; undoing it scales the virtual service in from
  every SE it is on now that is not in ``before``. A key that exists is never overwritten: a re-run keeps the
  placement the first run saw, not the scaled-out one it finds;
- ``segroup/<se group uuid>``: ``{"ses_before": [se uuids], "run"}``, the SEs of a group before the first
  scale-out that asks the controller for a new SE there (an SE of the group not in the list was created for it);
- ``se-created/<se uuid>``: ``{"group", "name", "run"}``, an SE the controller created for protection;
- ``se/<se uuid>``: ``{"was": <enable_state>, "run"}``, an SE whose enable state the run changes (an SE created
  for protection, disabled before it is deleted);
- ``owner``: the lease (``_common.intent``).

One claim/renew/release implementation serves every module: the record is an ``IntentRecord`` in a
``StringGroupStore``, held through ``_avi.intent.Hold`` (as ``se_disable`` and ``se_group_refresh`` do). The upgrade's
lease is judged by its process on the same host (``live_while_running``): a lease whose process is gone is stale at
once (the module was killed), one whose process runs is live even past its expiry (it cannot renew while the
controller's configuration is read-only during a controller or system upgrade). From another host, the expiry
decides. This file holds only what is the upgrade's own: the record's name, lease length and keys.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.intent import StringGroupStore
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import OWNER, IntentRecord

TARGET = "upgrade"
LEASE_SECONDS = 120.0


def upgrade_record(client, lease_seconds=LEASE_SECONDS):
    """The upgrade's record and lease on the controller (see the module docstring)."""
    return IntentRecord(StringGroupStore(client, TARGET), lease_seconds=lease_seconds, live_while_running=True)


def vs_key(vs_uuid, vip_id):
    return "vs/%s/%s" % (vs_uuid, vip_id)


def group_key(group_uuid):
    return "segroup/%s" % group_uuid


def created_key(se_uuid):
    return "se-created/%s" % se_uuid


def se_key(se_uuid):
    return "se/%s" % se_uuid


def leftovers(entries):
    """The entries of a record by kind: (scale-outs {key: value}, created SEs {uuid: value}, groups {uuid: value},
    enable states {uuid: value})."""
    vss, created, groups, states = {}, {}, {}, {}
    for key, value in entries.items():
        if key == OWNER or not isinstance(value, dict):
            continue
        kind, _sep, rest = key.partition("/")
        if kind == "vs":
            vss[key] = value
        elif kind == "se-created":
            created[rest] = value
        elif kind == "segroup":
            groups[rest] = value
        elif kind == "se":
            states[rest] = value
    return vss, created, groups, states
