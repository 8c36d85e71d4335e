# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test connection that runs commands on this machine, as ``local`` does, under another name: the collection's
action plugins treat it as any connection to another machine (the module runs as an async job and is followed with
shell commands on the target). Each command it runs is appended to the file named by ``FLEETOPS_TEST_COMMAND_LOG``."""

from __future__ import annotations

import os

from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
    name: elsewhere
    short_description: run on this machine as if it were another (tests only)
    description:
        - Runs every command on the controller, like ansible.builtin.local, under another transport name.
    author: fleetops.maintenance contributors
    options:
        become_success_timeout:
            type: int
            default: 10
            description: Seconds to wait for become to succeed.
        become_strip_preamble:
            type: bool
            default: true
            description: Strip the become output before the command's.
    extends_documentation_fragment:
        - connection_pipelining
"""


class Connection(LocalConnection):
    transport = "elsewhere"

    def exec_command(self, cmd, in_data=None, sudoable=True):
        log = os.environ.get("FLEETOPS_TEST_COMMAND_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as stream:
                stream.write(cmd.replace("\n", " ") + "\n")
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
