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
- ``owner``: the lease (``_common.intent``), here also with the ``pid`` of the module process.

The lease of a run on the same host is judged by its process: a lease whose process is gone is stale at once
(the module was killed), one whose process runs is live even past its expiry (it cannot renew while the
controller's configuration is read-only during a controller or system upgrade). From another host, the expiry
decides, as in ``_common.intent``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.intent import StringGroupStore
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.intent import OWNER, IntentRecord

TARGET = "upgrade"
LEASE_SECONDS = 120.0


def vs_key(vs_uuid, vip_id):
    return "vs/%s/%s" % (vs_uuid, vip_id)


def group_key(group_uuid):
    return "segroup/%s" % group_uuid


def created_key(se_uuid):
    return "se-created/%s" % se_uuid


def se_key(se_uuid):
    return "se/%s" % se_uuid


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError):
        return None
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


class UpgradeRecord(IntentRecord):
    """The upgrade's record and lease on the controller (see the module docstring)."""

    def __init__(self, client, run_id=None, lease_seconds=LEASE_SECONDS, **kwargs):
        super(UpgradeRecord, self).__init__(StringGroupStore(client, TARGET), run_id=run_id,
                                            lease_seconds=lease_seconds, **kwargs)
        self.held = False

    def _lease(self):
        lease = super(UpgradeRecord, self)._lease()
        lease["pid"] = os.getpid()
        return lease

    def _live(self, lease):
        if not lease or lease.get("run") == self.run_id:
            return False
        if lease.get("pid") and lease.get("host") == socket.gethostname():
            alive = _pid_alive(lease["pid"])
            if alive is not None:
                return alive
        return super(UpgradeRecord, self)._live(lease)

    def claim(self, *args, **kwargs):
        left = super(UpgradeRecord, self).claim(*args, **kwargs)
        self.held = True
        return left

    def release(self):
        if self.held:
            super(UpgradeRecord, self).release()
            self.held = False

    def renew_if_writable(self):
        """Renew the lease, unless the controller's configuration is read-only now (an upgrade in progress:
        HTTP 403; the lease is then judged by its process, see the module docstring)."""
        if not self.held:
            return
        try:
            self.renew()
        except AviError as exc:
            if exc.status != 403:
                raise

    def remember_new(self, items):
        """Record every key of ``items`` that is not recorded yet (an existing key keeps what the first run saw),
        in one write. Returns the keys written."""
        written = []

        def change(entries):
            del written[:]
            for key, value in items.items():
                if key not in entries:
                    entries[key] = value
                    written.append(key)
        if items:
            self._update(change)
        return list(written)

    def forget_all(self, keys):
        keys = list(keys)
        if keys:
            self._update(lambda entries: [entries.pop(k, None) for k in keys])

    def live_owner(self):
        """The lease of another run that holds the target now, or None."""
        lease = self.owner()
        return lease if self._live(lease) else None


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
