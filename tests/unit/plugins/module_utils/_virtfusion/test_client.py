# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VirtFusionClient: safe command quoting, vfcli-ctrl's JSON answers, SSH refusals that are not retried,
key loading errors that show no key material, REST error shapes, and the connection spec."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shlex

import paramiko
import pytest

from fake_clock import FakeClock

from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion import client as vc
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import (
    hybrid_speed_limit,
    live_cli_options,
    resolve_connection,
)

CONN = {"host": "cp.example.test", "port": 2222, "username": "root", "known_hosts_file": "/nonexistent/kh",
        "api_url": "https://cp.example.test", "api_token": "unit-test-api-token-0123456789", "timeout": 5}


def client(**kw):
    return vc.VirtFusionClient(dict(CONN, **kw), retry_interval=0.0)


def test_every_argument_is_shell_quoted(monkeypatch):
    seen = []
    c = client()
    monkeypatch.setattr(c, "_exec", lambda command, timeout: seen.append(command) or (0, '{"servers": []}', ""))
    assert c.run("servers", src="1; touch /tmp/pwned", options=["--x=$(id)", "a b"]).doc == {"servers": []}
    assert shlex.split(seen[0]) == ["vfcli-ctrl", "server:migrate-live", "servers", "--src=1; touch /tmp/pwned",
                                    "--x=$(id)", "a b", "--json"]
    assert "'--src=1; touch /tmp/pwned'" in seen[0] and "'--x=$(id)'" in seen[0]


def test_cli_answers_keep_the_vendor_messages_in_the_documented_and_the_json_forms(monkeypatch):
    c = client()
    answers = iter([(1, json.dumps({"success": False, "errors": ["Specify a destination hypervisor ID"]}), ""),
                    (2, "", "usage: vfcli-ctrl server:migrate-live {start,...}\nmore"),
                    (0, "Error: Server is not in a migratable state\n", ""),
                    (1, "{\"servers\": 3}", "")])
    monkeypatch.setattr(c, "_exec", lambda command, timeout: next(answers))
    ans = c.run("start", server=101)
    assert ans.errors == ["Specify a destination hypervisor ID"] and ans.success is False and ans.rc == 1
    ans = c.run("start", server=101)      # no JSON: the lines of stderr are the messages
    assert ans.doc is None and ans.success is None and ans.errors[0].startswith("usage: vfcli-ctrl")
    ans = c.run("start", server=101, as_json=False)    # a plain documented message, its prefix taken off
    assert ans.errors == ["Server is not in a migratable state"] and ans.success is None
    with pytest.raises(vc.VirtFusionError) as exc:     # servers --src is the one documented JSON: required
        c.servers(1)
    assert "servers --src=1" in exc.value.msg and exc.value.rc == 1


def test_host_key_refusals_and_bad_auth_are_not_retried(monkeypatch, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    attempts = []

    def refuse(self, hostname, **kwargs):
        attempts.append(kwargs)
        assert isinstance(self._policy, paramiko.RejectPolicy)      # never trust on first use
        assert kwargs["look_for_keys"] is False and kwargs["allow_agent"] is False
        raise paramiko.SSHException("Server '[cp.example.test]:2222' not found in known_hosts")
    monkeypatch.setattr(paramiko.SSHClient, "connect", refuse)
    c = client(known_hosts_file=str(kh), private_key_file="/keys/id_ed25519")
    with pytest.raises(vc.VirtFusionError) as exc:
        c.ssh(["true"])
    assert "the SSH host key of cp.example.test:2222 is not in known_hosts_file %s: refusing to connect" % kh \
        in exc.value.msg and len(attempts) == 1
    assert attempts[0]["key_filename"] == "/keys/id_ed25519"

    def bad_auth(self, hostname, **kwargs):
        raise paramiko.AuthenticationException("Authentication failed.")
    monkeypatch.setattr(paramiko.SSHClient, "connect", bad_auth)
    with pytest.raises(vc.VirtFusionError) as exc:
        client(known_hosts_file=str(kh)).ssh(["true"])
    assert exc.value.msg.startswith("SSH authentication as root@cp.example.test:2222 failed with the ssh-agent's keys: "
                                    "check virtfusion_credentials.username (VIRTFUSION_SSH_USER)")


def test_refused_connections_fail_fast_until_the_server_answered_then_are_waited_out(monkeypatch, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    calls = []
    clk = FakeClock(start=0.0)

    def refused(self, hostname, **kwargs):
        calls.append(clk.now)
        raise ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(paramiko.SSHClient, "connect", refused)
    c = vc.VirtFusionClient(dict(CONN, known_hosts_file=str(kh)), clock=clk.clock, sleep=clk.sleep, rand=lambda: 0.0)
    with pytest.raises(vc.VirtFusionError) as exc:
        c.ssh(["true"])
    # never answered in this run: a closed port is a setting to fix, retried a few seconds only
    assert "root@cp.example.test:2222 refused the connection" in exc.value.msg
    assert "check virtfusion_credentials.host (VIRTFUSION_HOST) and port (VIRTFUSION_SSH_PORT)" in exc.value.msg
    assert calls[-1] <= 5.0 and len(calls) < 6
    # once it has answered (a control server restarting), refusals are waited out with the full budget
    del calls[:]
    reconnects, retries = c.stats["ssh_reconnects"], c.stats["ssh_retries"]
    c.ssh_retry.contacted = True
    shown = []
    c.on_wait(shown.append)
    with pytest.raises(vc.VirtFusionError) as exc:
        c.ssh(["true"])
    assert "gave up after 6 attempts" in exc.value.msg
    # 5 retries of the command; 6 attempts to connect again after the earlier failures (each one a reconnect)
    assert len(calls) == 6 and c.stats["ssh_retries"] - retries == 5 and c.stats["ssh_reconnects"] - reconnects == 6
    assert len(shown) == 5 and "refused the connection" in shown[0] and "retrying in 1 s (attempt 2)" in shown[0]


def test_names_that_do_not_resolve_fail_at_once(monkeypatch, tmp_path):
    import socket
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    calls = []

    def unknown(self, hostname, **kwargs):
        calls.append(1)
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(paramiko.SSHClient, "connect", unknown)
    with pytest.raises(vc.VirtFusionError) as exc:
        client(known_hosts_file=str(kh)).ssh(["true"])
    assert "does not resolve" in exc.value.msg and "virtfusion_credentials.host (VIRTFUSION_HOST)" in exc.value.msg
    assert len(calls) == 1


def test_a_missing_known_hosts_file_is_an_error_not_a_trust_on_first_use():
    with pytest.raises(vc.VirtFusionError) as exc:
        client().ssh(["true"])
    assert exc.value.msg.startswith("known_hosts_file /nonexistent/kh cannot be read")


def test_an_unusable_private_key_is_reported_without_its_content():
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(vc.VirtFusionError) as exc:
        vc.load_private_key(text)
    assert "could not be loaded" in exc.value.msg and "c2VjcmV0" not in exc.value.msg


def test_rest_errors_keep_the_api_messages_and_retry_only_5xx(monkeypatch):
    c = client()
    answers = iter([(503, "busy"), (422, {"message": "The given data was invalid.", "errors": ["a", "b"]}),
                    (401, {"message": "Unauthenticated."})])
    monkeypatch.setattr(c, "_send", lambda method, url, body=None: next(answers))
    with pytest.raises(vc.VirtFusionError) as exc:
        c.rest("GET", "/servers/1")
    assert exc.value.errors == ["a", "b"] and exc.value.status == 422 and c.stats["retries"] == 1
    assert c.api_base == "https://cp.example.test/api/v1"
    with pytest.raises(vc.VirtFusionError) as exc:   # a refused token: at once, naming the setting
        c.rest("GET", "/servers/1")
    assert exc.value.status == 401 and "virtfusion_credentials.api_token (VIRTFUSION_API_TOKEN)" in exc.value.msg
    assert exc.value.reason == ("Unauthenticated.: the REST API refuses the token; check virtfusion_credentials.api_token "
                                "(VIRTFUSION_API_TOKEN)")
    assert c.stats["retries"] == 1


def test_connection_spec_names_missing_settings_and_reads_the_environment():
    with pytest.raises(ValueError) as exc:
        resolve_connection({"virtfusion_credentials": {"host": "cp"}}, environ={})
    assert str(exc.value).startswith("missing VirtFusion connection settings known_hosts_file, api_url, api_token")
    conn = resolve_connection({"virtfusion_credentials": {"host": "cp", "port": None}}, environ={
        "VIRTFUSION_KNOWN_HOSTS": "/kh", "VIRTFUSION_API_URL": "https://cp", "VIRTFUSION_API_TOKEN": "t" * 20,
        "VIRTFUSION_SSH_PORT": "2200"}, check_files=False)
    assert conn["port"] == 2200 and conn["username"] == "root" and conn["known_hosts_file"] == "/kh"
    with pytest.raises(ValueError) as exc:
        resolve_connection({"virtfusion_credentials": dict(CONN, private_key="x", private_key_file="/k")}, environ={})
    assert "private_key and private_key_file are mutually exclusive" in str(exc.value)


def test_files_the_run_reads_are_checked_before_anything_is_sent(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate")
    cases = [({"known_hosts_file": str(tmp_path / "missing")},
              "virtfusion_credentials.known_hosts_file (VIRTFUSION_KNOWN_HOSTS): %s is not a file" % (tmp_path / "missing")),
             ({"known_hosts_file": str(known), "private_key_file": str(tmp_path)},
              "virtfusion_credentials.private_key_file (VIRTFUSION_SSH_KEY_FILE): %s is not a file" % tmp_path),
             ({"known_hosts_file": str(known), "ca_path": str(not_pem)},
              "virtfusion_credentials.ca_path (VIRTFUSION_CA_PATH): %s holds no PEM certificate" % not_pem)]
    for given, message in cases:
        with pytest.raises(ValueError) as exc:
            resolve_connection({"virtfusion_credentials": dict(CONN, **given)}, environ={})
        assert str(exc.value).startswith(message)
    # with validate_certs=false the CA file is not read, so not checked
    assert resolve_connection({"virtfusion_credentials": dict(CONN, known_hosts_file=str(known), ca_path=str(not_pem),
                                                              validate_certs=False)}, environ={})


def test_option_translation_uses_the_vendors_units():
    assert live_cli_options({"compression": False, "auto_converge": {"enabled": False}, "force_offline": True,
                             "abort_after": 600}) == ["--force-offline", "--abort-after=600", "--disable-compression",
                                                      "--disable-auto-converge"]
    assert live_cli_options({}) == []
    assert hybrid_speed_limit(10) == 10485 and hybrid_speed_limit(596) == 624951     # MiB/s -> KB/s
