# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VirtFusion client: ``vfcli-ctrl`` on the control server over SSH (paramiko), and the REST API.

SSH: the control server's host key is verified against the ``known_hosts_file`` the user gives
(``RejectPolicy``: an unknown or changed key is refused, never trusted on first use; the system's
and the user's own known_hosts are not read). Authentication with a key file, a key given as text,
or the ssh-agent. Commands are built from argument lists, each argument quoted with
``shlex.quote``, and always run with ``--json`` (the vendor's machine-readable output).

:meth:`VirtFusionClient._exec` is the only method that runs an SSH command and
:meth:`VirtFusionClient._send` the only one that sends an HTTP request (tests patch them).
:meth:`VirtFusionClient.ssh` and :meth:`VirtFusionClient.rest` are the retry policy: a dropped or
refused connection (and a 5xx answer) is retried with a new connection, bounded exponential backoff
and jitter. A command is retried as a whole; the commands the provider sends are safe to repeat
(``start`` re-attaches to the migration it started, per the vendor) or are checked against the
migration's state afterwards (``cancel``, ``abort``).

Key material and the API token never appear in messages, results or logs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import random
import shlex
import socket
import time

from urllib.parse import urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._common import http as http_retry

try:
    import paramiko
    HAS_PARAMIKO = True
except ImportError:  # reported by the provider with missing_required_lib's advice
    paramiko = None
    HAS_PARAMIKO = False

GROUP = "server:migrate-live"


class VirtFusionError(http_retry.ClientError):
    """A command or request failed. ``errors`` is the vendor's list of messages (``vfcli-ctrl --json``
    ``errors``, or the REST ``errors``/``message``), ``status`` the HTTP status, ``rc`` the exit status."""

    def __init__(self, msg, errors=None, status=None, rc=None):
        super(VirtFusionError, self).__init__(msg, status=status)
        self.errors = list(errors or [])
        self.rc = rc

    @property
    def reason(self):
        return "; ".join(self.errors) if self.errors else self.msg


class _Dropped(Exception):
    """The SSH connection was refused, dropped or timed out (worth a new connection)."""


def load_private_key(text, source="virtfusion_credentials.private_key"):
    """A paramiko key from its text (OpenSSH or PEM; Ed25519, ECDSA or RSA, unencrypted)."""
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
        self.conn = conn
        self.timeout = conn.get("timeout") or 60
        self.retry_timeout = retry_timeout
        self.retry_interval = self.RETRY_INTERVAL if retry_interval is None else retry_interval
        self.retry_max_interval = retry_max_interval
        self.max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._ssh = None
        self._pkey = None
        base = (conn.get("api_url") or "").strip().rstrip("/")
        if base and "://" not in base:
            base = "https://" + base
        self.api_base = base if base.endswith("/api/v1") else base + "/api/v1"
        self._http = http_retry.http_request(conn.get("validate_certs", True), conn.get("ca_path"), self.timeout)
        self.stats = {"ssh_commands": 0, "ssh_connects": 0, "ssh_reconnects": 0, "requests": 0, "retries": 0}

    @property
    def where(self):
        return "%s@%s:%s" % (self.conn.get("username"), self.conn.get("host"), self.conn.get("port"))

    # -- SSH -----------------------------------------------------------------------------------
    def _connect(self):
        """Open the SSH connection, verifying the host key against known_hosts_file only."""
        if not HAS_PARAMIKO:
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
        try:
            client.connect(self.conn["host"], **kwargs)
        except paramiko.BadHostKeyException:
            client.close()
            raise VirtFusionError("the SSH host key of %s:%s does not match the one in known_hosts_file %s: refusing to "
                                  "connect (the control server's key changed, or this is not the control server)"
                                  % (self.conn["host"], kwargs["port"], known))
        except paramiko.AuthenticationException:
            client.close()
            raise VirtFusionError("SSH authentication as %s failed with %s" % (
                self.where, "private_key_file %s" % self.conn["private_key_file"] if self.conn.get("private_key_file")
                else "private_key" if self.conn.get("private_key") else "the ssh-agent's keys"))
        except paramiko.SSHException as exc:
            client.close()
            text = str(exc)
            if "not found in known_hosts" in text:
                raise VirtFusionError("the SSH host key of %s:%s is not in known_hosts_file %s: refusing to connect "
                                      "(host keys are verified; add the control server's key after checking its "
                                      "fingerprint)" % (self.conn["host"], kwargs["port"], known))
            raise _Dropped("SSH connection to %s failed: %s" % (self.where, text))
        except (socket.error, EOFError) as exc:
            client.close()
            raise _Dropped("cannot connect to %s: %s" % (self.where, exc))
        return client

    def _exec(self, command, timeout):
        """Run one command on the control server; (exit status, stdout, stderr). The only method that does
        SSH I/O. Raises _Dropped when the connection fails or drops before the exit status arrives."""
        if self._ssh is None:
            self._ssh = self._connect()
        try:
            _in, out, err = self._ssh.exec_command(command, timeout=timeout)
            stdout = out.read()
            stderr = err.read()
            rc = out.channel.recv_exit_status()
        except (paramiko.SSHException, socket.error, socket.timeout, EOFError) as exc:
            self.close()
            raise _Dropped("the SSH connection to %s dropped (%s: %s)" % (self.where, type(exc).__name__, exc))
        if rc == -1:  # paramiko's "no exit status": the channel closed under the command
            self.close()
            raise _Dropped("the SSH connection to %s dropped before the command ended" % self.where)
        return rc, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")

    def close(self):
        if self._ssh is not None:
            try:
                self._ssh.close()
            except Exception:
                pass
            self._ssh = None

    def _budget(self):
        return http_retry.retry_budget(self.retry_timeout, self.retry_interval, self.retry_max_interval,
                                       self.max_attempts, self._clock, self._sleep, self._rand)

    def ssh(self, argv):
        """Run a command given as an argument list (each argument shell-quoted) under the retry policy."""
        command = " ".join(shlex.quote(str(a)) for a in argv)
        budget = self._budget()
        attempts = 0
        while True:
            attempts += 1
            self.stats["ssh_commands"] += 1
            try:
                return self._exec(command, self.timeout)
            except _Dropped as exc:
                if next(budget, None) is None:
                    raise http_retry.gave_up(VirtFusionError(str(exc)), attempts)
                self.stats["ssh_reconnects"] += 1

    def vfcli(self, command, server=None, dst=None, src=None, options=(), detach=False):
        """``vfcli-ctrl server:migrate-live COMMAND ... --json``; the decoded JSON document. An answer with
        ``success: false`` raises VirtFusionError carrying the vendor's ``errors``."""
        argv = ["vfcli-ctrl", GROUP, command]
        if server is not None:
            argv.append("--server=%s" % server)
        if dst is not None:
            argv.append("--dst=%s" % dst)
        if src is not None:
            argv.append("--src=%s" % src)
        argv.extend(options)
        if detach:
            argv.append("--detach")
        argv.append("--json")
        rc, out, err = self.ssh(argv)
        what = "vfcli-ctrl %s %s" % (GROUP, command)
        try:
            doc = json.loads(out) if out.strip() else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            first = (err.strip() or out.strip() or "no output").splitlines()[0][:300]
            raise VirtFusionError("%s answered no JSON (exit status %s): %s" % (what, rc, first), errors=[first],
                                  rc=rc)
        if doc.get("success") is False or rc != 0:
            errors = [str(e) for e in doc.get("errors") or []] or ["exit status %s" % rc]
            raise VirtFusionError("%s: %s" % (what, "; ".join(errors)), errors=errors, rc=rc)
        return doc

    # -- REST ----------------------------------------------------------------------------------
    def _send(self, method, url, body=None):
        """Send one request; (status, decoded JSON or text or None). The only method that does HTTP I/O."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", "Content-Type": "application/json",
                   "Authorization": "Bearer %s" % self.conn["api_token"], "User-Agent": "fleetops.maintenance"}

        def tls_error(reason):
            return VirtFusionError(http_retry.tls_error_text(urlsplit(url).netloc, reason,
                                                             ca_option="virtfusion_credentials.ca_path"))
        status, raw = http_retry.exchange(self._http, method, url, data=data, headers=headers, timeout=self.timeout,
                                          tls_error=tls_error)
        return status, http_retry.decode_body(raw)

    def rest(self, method, path, body=None):
        """One REST call under the retry policy; the decoded body. Errors raise VirtFusionError with the
        API's ``errors`` (or ``message``) and the status."""
        url = self.api_base + path
        budget = self._budget()
        attempts = 0
        while True:
            attempts += 1
            self.stats["requests"] += 1
            try:
                status, data = self._send(method, url, body)
            except http_retry.ConnectionProblem as exc:
                failure = VirtFusionError("%s %s: connection failed: %s" % (method, path, exc))
            else:
                if status < 400:
                    return data
                if isinstance(data, dict):
                    errors = [str(e) for e in data.get("errors") or []] or [str(data.get("message") or status)]
                else:
                    errors = [("HTTP %s %s" % (status, data or "")).strip()[:300]]
                failure = VirtFusionError("%s %s: HTTP %s: %s" % (method, path, status, "; ".join(errors)),
                                          errors=errors, status=status)
                if status not in http_retry.RETRY_STATUSES:
                    raise failure
            if next(budget, None) is None:
                raise http_retry.gave_up(failure, attempts)
            self.stats["retries"] += 1
