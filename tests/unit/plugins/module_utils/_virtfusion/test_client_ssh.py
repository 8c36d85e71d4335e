# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VirtFusionClient._exec over a real SSH connection (an in-process paramiko server on 127.0.0.1): a command's
output, error text and exit status, a channel closed under the command, and no stdin file object left behind.

Why the last: paramiko's ``ChannelStdinFile`` takes its channel's lock when it is garbage-collected. Kept alive by
a reference cycle (the traceback of a failed command holds it), the cycle collector can run it on paramiko's
transport thread while that thread holds the same lock, handling the channel's close; the thread then deadlocks
and the module hangs for ever (paramiko/paramiko#2685; seen as the VirtFusion re-attach test hanging at
state=aborted and state=cancelled). A fake cannot show this: it needs paramiko's own channel."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import io
import socket
import threading
import time

import paramiko
import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion import client as vc

HOST_KEY = paramiko.RSAKey.generate(1024)
USER_KEY = paramiko.RSAKey.generate(1024)


class _Server(paramiko.ServerInterface):
    """Accepts USER_KEY, runs ``ok``, ``fail`` and ``drop`` (close the channel without an exit status)."""

    def __init__(self):
        self.commands = []

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL if key == USER_KEY else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "publickey"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        command = command.decode()
        self.commands.append(command)
        threading.Thread(target=self._run, args=(channel, command), daemon=True).start()
        return True

    @staticmethod
    def _run(channel, command):
        time.sleep(0.1)     # after the exec request's answer
        if command == "ok":
            channel.sendall(b'{"servers": []}\n')
            channel.send_exit_status(0)
        elif command == "fail":
            channel.sendall_stderr(b"Error: Server is not in a migratable state\n")
            channel.send_exit_status(1)
        channel.close()


@pytest.fixture
def ssh_server(tmp_path):
    """An SSH server on 127.0.0.1 (one connection at a time); (port, known_hosts path, server interface)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text("[127.0.0.1]:%d %s %s\n" % (port, HOST_KEY.get_name(), HOST_KEY.get_base64()))
    server = _Server()
    stop = threading.Event()
    transports = []

    def serve():
        while not stop.is_set():
            try:
                sock, _addr = listener.accept()
            except socket.timeout:
                continue
            t = paramiko.Transport(sock)
            t.add_server_key(HOST_KEY)
            t.start_server(server=server)
            transports.append(t)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, str(known), server
    stop.set()
    thread.join(5)
    for t in transports:
        t.close()
    listener.close()


def ssh_client(port, known):
    return vc.VirtFusionClient({"host": "127.0.0.1", "port": port, "username": "root", "known_hosts_file": known,
                                "private_key": _key_text(), "timeout": 10}, retry_interval=0.0)


def _key_text():
    out = io.StringIO()
    USER_KEY.write_private_key(out)
    return out.getvalue()


def stdin_files():
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, paramiko.channel.ChannelStdinFile)]


def test_a_command_returns_its_output_its_errors_and_its_exit_status(ssh_server):
    port, known, server = ssh_server
    c = ssh_client(port, known)
    try:
        assert c._exec("ok", 10) == (0, '{"servers": []}\n', "")
        assert c._exec("fail", 10) == (1, "", "Error: Server is not in a migratable state\n")
        assert server.commands == ["ok", "fail"] and c.stats["ssh_connects"] == 1     # one connection, kept
    finally:
        c.close()


def test_a_channel_closed_under_the_command_leaves_no_stdin_file_for_the_collector(ssh_server):
    port, known, _server = ssh_server
    c = ssh_client(port, known)
    try:
        before = len(stdin_files())
        problem = None
        try:
            c._exec("drop", 10)
        except ConnectionProblem as exc:
            problem = exc   # as a caller keeps it (the retry loop): its traceback holds every local of the command
        assert problem is not None and "dropped before the command ended" in str(problem)
        frames = []
        tb = problem.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        assert frames[-1] == "_exec", frames
        # none of those locals may be a stdin file, whose collection on the transport thread can deadlock the
        # connection (paramiko#2685)
        assert len(stdin_files()) == before
        assert c._exec("ok", 10)[0] == 0          # and the client connects again for the next command
        assert c.stats["ssh_connects"] == 2 and c.stats["ssh_reconnects"] == 1
    finally:
        c.close()
