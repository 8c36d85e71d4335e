# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the cluster_upgrade module and prints its progress live while it waits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.live_progress import LiveProgressAction


class ActionModule(LiveProgressAction):
    DEFAULT_TIMEOUT = 7200  # the module's default timeout

    def _quick(self, args):
        # state=verified only reads: no wait to show
        return args.get("state") == "verified"
