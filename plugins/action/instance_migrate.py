# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the instance_migrate module and prints its progress live while it waits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.live_progress import LiveProgressAction

DEFAULT_TIMEOUT = 3600
# with from_server the number of instances is known only on the target: allow this many rounds
FROM_SERVER_ROUNDS = 100


class ActionModule(LiveProgressAction):
    def _total_timeout(self, args):
        """``timeout`` bounds one instance; several run in rounds of ``concurrency``."""
        try:
            per_instance = int(args.get("timeout") or DEFAULT_TIMEOUT)
            concurrency = max(1, int(args.get("concurrency") or 1))
        except (TypeError, ValueError):
            return DEFAULT_TIMEOUT
        if args.get("instances"):
            rounds = int(math.ceil(len(args["instances"]) / float(concurrency)))
        elif args.get("from_server"):
            rounds = FROM_SERVER_ROUNDS
        else:
            rounds = 1
        return per_instance * max(1, rounds)
