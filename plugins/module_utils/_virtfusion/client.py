# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

A VirtFusion client: ``vfcli-ctrl`` on the control server over SSH (paramiko), and the REST API.

SSH: the control server's host key is verified against the ``known_hosts_file`` the user gives
(``RejectPolicy``: an unknown or changed key is refused, never trusted on first use; the system's
and the user's own known_hosts are not read). Authentication with a key file, a key given as text,
or the ssh-agent. Commands are built from argument lists, each argument quoted with
``shlex.quote``. What a command printed comes back as text (:class:`CliAnswer`), with its JSON
decoded when it printed JSON: the vendor documents the output only in part (the status words, the
console steps, ``servers --json``; the community script reads ``success`` and ``errors`` from
``start --json``), so the provider reads what is documented and takes any richer JSON as a bonus.

:meth:`VirtFusionClient._exec` runs an SSH command to its end, :meth:`VirtFusionClient._open` starts
one whose output is read as it comes (an attached ``start``: the console steps), and
:meth:`VirtFusionClient._send` is the only method that sends an HTTP request (tests patch them).
:meth:`VirtFusionClient.ssh` and :meth:`VirtFusionClient.rest` go through the collection's one
retry loop (``_common.retry``), one loop each: a dropped connection (and a 5xx answer) is retried
with a new connection, bounded exponential backoff and jitter; a refused one too once the server
has answered in this run, else only for a few seconds. What waiting cannot fix fails at once,
naming the setting: an unknown or changed host key, SSH authentication refused, a REST token
refused (401/403), a host name that does not resolve, a CA file that cannot be used, a certificate
that does not verify. A command is retried as a whole; the commands the provider sends are safe to
repeat (``start`` re-attaches to the migration it started, per the vendor) or are checked against
the migration's state afterwards (``cancel``, ``abort``).

Key material and the API token never appear in messages, results or logs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import random
import select
import shlex
import socket
import time

from urllib.parse import urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import (
    DROPPED,
    RETRY_STATUSES,
    ClientError,
    ConnectionProblem,
    decode_body,
    exchange,
    http_request,
    network_problem,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.retry import (
    DONE,
    FAIL,
    RETRY,
    RetryLoop,
    network_text,
)

# paramiko, imported on first use by has_paramiko(): importing it costs about 0.15 s, which a Triton run of
# instance_migrate (the same module, the same module_utils shipped) never needs to pay
paramiko = None


def has_paramiko():
    """Whether paramiko can be imported (imported here, once); the provider reports it missing with pip's advice."""
    global paramiko
    if paramiko is None:
        try:
            import paramiko as imported
        except ImportError:
            return False
        paramiko = imported
    return True


GROUP = "server:migrate-live"
# the settings a failure names (key of virtfusion_credentials, and the environment variable)
SSH_SETTINGS = {"address": "virtfusion_credentials.host (VIRTFUSION_HOST) and port (VIRTFUSION_SSH_PORT)"}
REST_SETTINGS = {"address": "virtfusion_credentials.api_url (VIRTFUSION_API_URL)",
                 "ca": "virtfusion_credentials.ca_path (VIRTFUSION_CA_PATH)",
                 "verify": "virtfusion_credentials.validate_certs (VIRTFUSION_VALIDATE_CERTS)"}
KNOWN_HOSTS = "virtfusion_credentials.known_hosts_file (VIRTFUSION_KNOWN_HOSTS)"
SSH_KEYS = ("check virtfusion_credentials.username (VIRTFUSION_SSH_USER) and the key: private_key_file "
            "(VIRTFUSION_SSH_KEY_FILE), private_key, or the ssh-agent")


class VirtFusionError(ClientError):
    """A command or request failed. ``errors`` is the vendor's list of messages (``vfcli-ctrl --json``
    ``errors``, or the REST ``errors``/``message``), ``status`` the HTTP status, ``rc`` the exit status."""

    def __init__(self, msg, errors=None, status=None, rc=None, fix=None):
        super(VirtFusionError, self).__init__(msg, status=status)
        self.errors = list(errors or [])
        self.rc = rc
        self.fix = fix   # the setting to fix, when waiting cannot help

    @property
    def reason(self):
        text = "; ".join(self.errors) if self.errors else self.msg
        return "%s: %s" % (text, self.fix) if self.fix and self.errors else text


class CliAnswer(object):
    """What a ``vfcli-ctrl`` command printed: ``rc`` (its exit status, which the vendor does not document),
    ``out`` and ``err`` (text), ``doc`` (the decoded JSON when ``out`` was JSON, else None)."""

    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out or ""
        self.err = err or ""
        try:
            doc = json.loads(self.out) if self.out.strip() else None
        except ValueError:
            doc = None
        self.doc = doc if isinstance(doc, dict) else None

    @property
    def text(self):
        return (self.out + "\n" + self.err).strip()

    @property
    def success(self):
        """``success`` of a JSON answer (True/False), or None when the answer does not say."""
        value = (self.doc or {}).get("success")
        return value if isinstance(value, bool) else None

    @property
    def errors(self):
        """The vendor's messages: ``errors`` of a JSON answer, else the non-empty lines of stderr (then stdout),
        without an ``Error:`` prefix."""
        if self.doc is not None and isinstance(self.doc.get("errors"), list):
            return [str(e) for e in self.doc["errors"]]
        lines = [line.strip() for line in (self.err.strip() or self.out.strip()).splitlines() if line.strip()]
        return [line[6:].strip() if line.lower().startswith("error:") else line for line in lines]


def load_private_key(text, source="virtfusion_credentials.private_key"):
    """A paramiko key from its text (OpenSSH or PEM; Ed25519, ECDSA or RSA, unencrypted)."""
    has_paramiko()
    errors = (paramiko.SSHException, ValueError, TypeError, IndexError)
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except errors:
            continue
    raise VirtFusionError("%s could not be loaded: an unencrypted Ed25519, ECDSA or RSA private key in OpenSSH or "
                          "PEM format is needed" % source)


class VirtFusionClient(object):
    """One client per module run (or per worker thread of a sliding window): one SSH connection,
    opened at the first command and re-opened when it drops."""

    RETRY_INTERVAL = 1.0  # seconds before the first retry (then doubling, with jitter, up to retry_max_interval)

    def __init__(self, conn, retry_timeout=120.0, retry_interval=None, retry_max_interval=15.0, max_attempts=6,
                 clock=time.monotonic, sleep=time.sleep, rand=random.random):
        has_paramiko()   # the SSH calls and their error handling below use the module-level paramiko
        self.conn = conn
        self.timeout = conn.get("timeout") or 60
        self._ssh = None
        self._pkey = None
        self._lost = False   # the last connection dropped, or the last attempt to connect failed
        base = (conn.get("api_url") or "").strip().rstrip("/")
        if base and "://" not in base:
            base = "https://" + base
        self.api_base = base if base.endswith("/api/v1") else base + "/api/v1"
        self._http = http_request(conn.get("validate_certs", True), conn.get("ca_path"), self.timeout)
        # ssh_reconnects: connections opened again after one dropped (a retried command, a re-attached console) or an
        # attempt failed; ssh_retries: SSH commands sent again by the retry loop
        self.stats = {"ssh_commands": 0, "ssh_connects": 0, "ssh_reconnects": 0, "ssh_retries": 0, "requests": 0,
                      "retries": 0}
        budget = dict(timeout=retry_timeout, interval=self.RETRY_INTERVAL if retry_interval is None else retry_interval,
                      max_interval=retry_max_interval, max_attempts=max_attempts, clock=clock, sleep=sleep, rand=rand)
        # one loop per server: the control server over SSH, the REST API
        self.ssh_retry = RetryLoop(self.stats, {RETRY: "ssh_retries"}, **budget)
        self.rest_retry = RetryLoop(self.stats, {RETRY: "retries"}, **budget)

    def on_wait(self, callback):
        """Show the waits of both retry loops through ``callback(text)`` (the module's progress)."""
        self.ssh_retry.on_wait = self.rest_retry.on_wait = callback

    def fork(self):
        """A client for another worker thread (its own SSH connection): the same settings, and what this one
        knows of which servers have answered."""
        other = VirtFusionClient(self.conn)
        other.ssh_retry, other.rest_retry = self.ssh_retry.fork(other.stats), self.rest_retry.fork(other.stats)
        return other

    @property
    def where(self):
        return "%s@%s:%s" % (self.conn.get("username"), self.conn.get("host"), self.conn.get("port"))

    # -- SSH -----------------------------------------------------------------------------------
    def _connect(self):
        """Open the SSH connection, verifying the host key against known_hosts_file only."""
        if not has_paramiko():
            raise VirtFusionError("the Python library paramiko is needed to reach the VirtFusion control server")
        known = self.conn["known_hosts_file"]
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(known)
        except (IOError, OSError) as exc:
            raise VirtFusionError("known_hosts_file %s cannot be read: %s" % (known, exc.strerror or exc))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        kwargs = {"port": self.conn.get("port") or 22, "username": self.conn.get("username") or "root",
                  "timeout": self.timeout, "banner_timeout": self.timeout, "auth_timeout": self.timeout,
                  "look_for_keys": False, "allow_agent": False}
        if self.conn.get("private_key"):
            if self._pkey is None:
                self._pkey = load_private_key(self.conn["private_key"])
            kwargs["pkey"] = self._pkey
        elif self.conn.get("private_key_file"):
            kwargs["key_filename"] = self.conn["private_key_file"]
        else:
            kwargs["allow_agent"] = True
        self.stats["ssh_connects"] += 1
        if self._lost:
            self.stats["ssh_reconnects"] += 1
        self._lost = True   # until the connection is up
        try:
            client.connect(self.conn["host"], **kwargs)
        except paramiko.BadHostKeyException:
            client.close()
            raise VirtFusionError("the SSH host key of %s:%s does not match the one in known_hosts_file %s: refusing to "
                                  "connect (the control server's key changed, or this is not the control server); "
                                  "check %s" % (self.conn["host"], kwargs["port"], known, KNOWN_HOSTS))
        except paramiko.AuthenticationException:
            client.close()
            raise VirtFusionError("SSH authentication as %s failed with %s: %s" % (
                self.where, "private_key_file %s" % self.conn["private_key_file"] if self.conn.get("private_key_file")
                else "private_key" if self.conn.get("private_key") else "the ssh-agent's keys", SSH_KEYS))
        except paramiko.SSHException as exc:
            client.close()
            text = str(exc)
            if "not found in known_hosts" in text:
                raise VirtFusionError("the SSH host key of %s:%s is not in known_hosts_file %s: refusing to connect "
                                      "(host keys are verified; add the control server's key after checking its "
                                      "fingerprint, or set %s)" % (self.conn["host"], kwargs["port"], known, KNOWN_HOSTS))
            raise ConnectionProblem("SSH connection to %s failed: %s" % (self.where, text), DROPPED)
        except (socket.error, EOFError) as exc:
            client.close()
            # paramiko's NoValidConnectionsError holds one error per address it tried
            problem = network_problem((list((getattr(exc, "errors", None) or {}).values()) or [exc])[0])
            raise ConnectionProblem("cannot connect to %s: %s" % (self.where, exc), problem.kind)
        self._lost = False
        return client

    def _exec(self, command, timeout):
        """Run one command on the control server; (exit status, stdout, stderr). The only method that does
        SSH I/O. Raises ConnectionProblem when the connection fails or drops before the exit status arrives.

        The channel is opened as ``SSHClient.exec_command`` opens it, but without a stdin file object: the
        commands read no input, and paramiko's ``ChannelStdinFile`` takes the channel's lock when it is
        garbage-collected. Kept alive by a reference cycle (a traceback of a failed command holds it), it can be
        collected on paramiko's transport thread while that thread holds the same lock (handling the channel's
        close): the transport thread deadlocks, the next command times out opening its channel, and closing the
        connection then waits for that lock for ever (paramiko/paramiko#2685, open in paramiko 5.1)."""
        if self._ssh is None:
            self._ssh = self._connect()
        chan = None
        try:
            chan = self._ssh.get_transport().open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
            stdout = chan.makefile("rb").read()
            stderr = chan.makefile_stderr("rb").read()
            rc = chan.recv_exit_status()
        except (paramiko.SSHException, socket.error, socket.timeout, EOFError, AttributeError) as exc:
            self._drop()
            raise ConnectionProblem("the SSH connection to %s dropped (%s: %s)" % (self.where, type(exc).__name__, exc))
        finally:
            if chan is not None:
                try:
                    chan.close()
                except Exception:   # the connection is already gone: nothing left to close
                    pass
        if rc == -1:  # paramiko's "no exit status": the channel closed under the command
            self._drop()
            raise ConnectionProblem("the SSH connection to %s dropped before the command ended" % self.where)
        return rc, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")

    def ready(self):
        """Open the SSH connection now if it is not open (a window's worker, before it waits for its slot: the
        handshake is then not on the way of its start). Best effort: a failure is left to the next command,
        whose retry loop meets and reports it."""
        if self._ssh is not None:
            return
        try:
            self._ssh = self._connect()
        except Exception:  # pylint: disable=broad-except
            self._ssh = None

    def _open(self, command):
        """Start one command on the control server and return its channel (the only method that starts a
        command whose output is read as it comes). Raises ConnectionProblem when the connection fails."""
        if self._ssh is None:
            self._ssh = self._connect()
        try:
            chan = self._ssh.get_transport().open_session(timeout=self.timeout)
            chan.exec_command(command)
        except (paramiko.SSHException, socket.error, socket.timeout, EOFError, AttributeError) as exc:
            self._drop()
            raise ConnectionProblem("the SSH connection to %s dropped (%s: %s)" % (self.where, type(exc).__name__, exc))
        return chan

    def _drop(self):
        """The connection failed under a command: close it; the next command connects again (a reconnect)."""
        self.close()
        self._lost = True

    def close(self):
        if self._ssh is not None:
            try:
                self._ssh.close()
            except Exception:
                pass
            self._ssh = None

    def ssh(self, argv):
        """Run a command given as an argument list (each argument shell-quoted) under the retry policy."""
        command = " ".join(shlex.quote(str(a)) for a in argv)

        def attempt():
            self.stats["ssh_commands"] += 1
            return self._exec(command, self.timeout)

        def network_error(problem):
            return VirtFusionError(network_text("SSH to the control server", problem, self.where, SSH_SETTINGS))
        return self.ssh_retry.run(attempt, lambda answer: (DONE, answer), network_error)

    @staticmethod
    def argv(command, server=None, dst=None, src=None, options=(), as_json=True):
        """``vfcli-ctrl server:migrate-live COMMAND [--server=..] [--dst=..] [--src=..] [options] [--json]``."""
        argv = ["vfcli-ctrl", GROUP, command]
        if server is not None:
            argv.append("--server=%s" % server)
        if dst is not None:
            argv.append("--dst=%s" % dst)
        if src is not None:
            argv.append("--src=%s" % src)
        argv.extend(options)
        if as_json:
            argv.append("--json")
        return argv

    def run(self, command, server=None, dst=None, src=None, options=(), as_json=True):
        """Run ``vfcli-ctrl server:migrate-live COMMAND ...`` to its end; its :class:`CliAnswer`."""
        rc, out, err = self.ssh(self.argv(command, server, dst, src, options, as_json))
        return CliAnswer(rc, out, err)

    def servers(self, src):
        """``servers --src=HV --json`` [vendor: the one documented JSON output]: the list of {id, name, uuid}.
        Raises VirtFusionError with the vendor's words when the answer is not that list."""
        ans = self.run("servers", src=src)
        if ans.doc is not None and isinstance(ans.doc.get("servers"), list):
            return ans.doc["servers"]
        raise VirtFusionError("vfcli-ctrl %s servers --src=%s: %s" % (GROUP, src, "; ".join(ans.errors) or "no answer"),
                              errors=ans.errors or ["no answer"], rc=ans.rc)

    def follow(self, argv, on_line, timeout, clock=time.monotonic):
        """Run a command and hand each line of its output to ``on_line(line)`` as it comes (an attached ``start``
        shows the migration's steps in the console). Returns its :class:`CliAnswer`, or None when ``timeout``
        seconds passed first (the channel is closed; the vendor's migration goes on: "if you lose connection
        ... you can re-attach"). Raises ConnectionProblem when the connection drops."""
        command = " ".join(shlex.quote(str(a)) for a in argv)

        def network_error(problem):
            return VirtFusionError(network_text("SSH to the control server", problem, self.where, SSH_SETTINGS))
        chan = self.ssh_retry.run(lambda: self._open(command), lambda answer: (DONE, answer), network_error)
        self.stats["ssh_commands"] += 1
        deadline = clock() + timeout
        out, err, pending = [], [], b""
        try:
            while True:
                left = deadline - clock()
                if left <= 0:
                    chan.close()
                    return None
                select.select([chan], [], [], min(left, 1.0))
                got = False
                while chan.recv_ready():
                    data = chan.recv(65536)
                    if not data:
                        break
                    got = True
                    out.append(data)
                    pending += data
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        on_line(line.decode("utf-8", "replace").rstrip("\r"))
                while chan.recv_stderr_ready():
                    got = True
                    err.append(chan.recv_stderr(65536))
                if not got and chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if not got and chan.closed:
                    break
            if pending:
                on_line(pending.decode("utf-8", "replace"))
            rc = chan.recv_exit_status()
        except (paramiko.SSHException, socket.error, socket.timeout, EOFError) as exc:
            self._drop()
            raise ConnectionProblem("the SSH connection to %s dropped (%s: %s)" % (self.where, type(exc).__name__, exc))
        finally:
            try:
                chan.close()
            except Exception:
                pass
        if rc == -1:
            self._drop()
            raise ConnectionProblem("the SSH connection to %s dropped before the command ended" % self.where)
        return CliAnswer(rc, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"))

    # -- REST ----------------------------------------------------------------------------------
    def _send(self, method, url, body=None):
        """Send one request; (status, decoded JSON or text or None). The only method that does HTTP I/O."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", "Content-Type": "application/json",
                   "Authorization": "Bearer %s" % self.conn["api_token"], "User-Agent": "fleetops.maintenance"}
        status, raw = exchange(self._http, method, url, data=data, headers=headers, timeout=self.timeout)
        return status, decode_body(raw)

    def rest(self, method, path, body=None):
        """One REST call under the retry policy; the decoded body. Errors raise VirtFusionError with the
        API's ``errors`` (or ``message``) and the status."""
        url = self.api_base + path

        def attempt():
            self.stats["requests"] += 1
            return self._send(method, url, body)

        def classify(answer):
            status, data = answer
            if status < 400:
                return DONE, data
            if isinstance(data, dict):
                errors = [str(e) for e in data.get("errors") or []] or [str(data.get("message") or status)]
            else:
                errors = [("HTTP %s %s" % (status, data or "")).strip()[:300]]
            text = "%s %s: HTTP %s: %s" % (method, path, status, "; ".join(errors))
            fix = None
            if status in (401, 403):
                fix = "the REST API refuses the token; check virtfusion_credentials.api_token (VIRTFUSION_API_TOKEN)"
                text += ": " + fix
            failure = VirtFusionError(text, errors=errors, status=status, fix=fix)
            return (RETRY if status in RETRY_STATUSES else FAIL), failure

        def network_error(problem):
            return VirtFusionError(network_text("%s %s" % (method, path), problem, urlsplit(url).netloc,
                                                REST_SETTINGS))
        return self.rest_retry.run(attempt, classify, network_error)
