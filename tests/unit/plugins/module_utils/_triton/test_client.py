# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Triton client: connection settings, signing (key and ssh-agent), retries, watch re-attach."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fake_clock import FakeClock
from fake_triton import KEY, KEY_ID, KEY_PEM
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import ConnectionProblem as _ConnectionProblem
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonClient, TritonError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import AgentSigner, KeySigner, SigningError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import resolve_connection


def test_connection_precedence_and_errors():
    env = {"SDC_URL": "https://sdc", "TRITON_ACCOUNT": "alice", "SDC_ACCOUNT": "bob", "TRITON_KEY_ID": "aa:bb"}
    conn = resolve_connection({"triton_credentials": {"url": "https://creds"}}, environ=env)
    assert (conn["url"], conn["account"], conn["key_id"]) == ("https://creds", "alice", "aa:bb")
    assert resolve_connection({"url": "https://opt", "triton_credentials": {"url": "https://creds"}},
                              environ=env)["url"] == "https://opt"
    with pytest.raises(ValueError, match="'account' for api=cloudapi: give the option account.*TRITON_ACCOUNT or "
                                         "SDC_ACCOUNT"):
        resolve_connection({"url": "https://x", "key_id": "aa"}, environ={})
    with pytest.raises(ValueError, match="vmapi_url"):
        resolve_connection({"api": "operator"}, environ={})
    with pytest.raises(ValueError, match=r"validate_certs \(from TRITON_VALIDATE_CERTS\) must be a boolean"):
        resolve_connection({"api": "operator", "vmapi_url": "x"}, environ={"TRITON_VALIDATE_CERTS": "maybe"})
    assert resolve_connection({"api": "operator", "vmapi_url": "v"}, environ={})["cnapi_url"] == "v"


def test_key_signer_checks_the_fingerprint_and_hides_the_key(tmp_path):
    assert KeySigner(KEY_PEM, KEY_ID).fingerprint == KEY_ID
    assert KeySigner(KEY_PEM, "MD5:" + KEY_ID.upper()).algorithm == "rsa-sha256"
    with pytest.raises(SigningError) as exc:
        KeySigner(KEY_PEM, "00:11:22", source="private_key")
    assert "does not match key_id 00:11:22" in str(exc.value) and "PRIVATE" not in str(exc.value)
    with pytest.raises(SigningError, match="could not be loaded"):
        KeySigner("-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n", None)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                               serialization.NoEncryption())
    assert KeySigner(pem, None).algorithm == "ecdsa-sha256"


@pytest.mark.skipif(not shutil.which("ssh-agent"), reason="needs OpenSSH's ssh-agent")
def test_agent_signer_signs_with_the_agents_key(tmp_path):
    key_file = tmp_path / "id_rsa"
    key_file.write_text(KEY_PEM)
    os.chmod(key_file, 0o600)
    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(100):
            if os.path.exists(sock):
                break
            subprocess.run(["sleep", "0.02"], check=False)
        subprocess.run(["ssh-add", str(key_file)], env=dict(os.environ, SSH_AUTH_SOCK=sock), check=True,
                       capture_output=True)
        signer = AgentSigner(KEY_ID, sock_path=sock)
        sig = signer.sign(b"date: today")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        import base64
        KEY.public_key().verify(base64.b64decode(sig), b"date: today", padding.PKCS1v15(), hashes.SHA256())
        with pytest.raises(SigningError, match="holds no RSA or ECDSA key with fingerprint 00:11"):
            AgentSigner("00:11", sock_path=sock)
    finally:
        agent.terminate()
        agent.wait(5)


def _client(clock=None):
    clock = clock or FakeClock()
    conn = resolve_connection({"url": "https://cloudapi.example", "account": "alice", "key_id": KEY_ID,
                               "private_key": KEY_PEM}, environ={})
    return TritonClient(conn, clock=clock.clock, sleep=clock.sleep, rand=lambda: 0.0), clock


def test_retries_5xx_and_connection_errors_then_gives_up(monkeypatch):
    client, clock = _client()
    answers = [_ConnectionProblem("reset"), (503, {"code": "ServiceUnavailable", "message": "x"}), (200, [1])]

    def send(method, url, body=None, headers=None, stream=False):
        assert headers["Authorization"].startswith('Signature keyId="/alice/keys/')
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    monkeypatch.setattr(client, "_send", send)
    assert client.cloudapi("GET", "/machines") == [1]
    assert client.stats["retries"] == 2 and clock.slept == [1.0, 2.0]
    monkeypatch.setattr(client, "_send", lambda *a, **k: (503, {"code": "ServiceUnavailable", "message": "down"}))
    with pytest.raises(TritonError, match=r"HTTP 503 ServiceUnavailable: down \(gave up after \d+ attempts\)"):
        client.cloudapi("GET", "/machines")
    monkeypatch.setattr(client, "_send", lambda *a, **k: (412, {"code": "PreconditionFailed", "message": "no"}))
    with pytest.raises(TritonError) as exc:
        client.cloudapi("POST", "/machines/x/migrate", body={"action": "sync"})
    assert (exc.value.status, exc.value.code, exc.value.message) == (412, "PreconditionFailed", "no")


def test_watch_reattaches_until_the_end_event():
    client, _clock = _client()
    opened = []

    def open_stream():
        opened.append(1)

        def gen():
            yield {"type": "progress", "phase": "sync", "current_progress": len(opened)}
            if len(opened) < 3:
                raise _ConnectionProblem("dropped")
            yield {"type": "end", "phase": "sync", "state": "paused"}
        return gen()
    seen = []
    end = client.watch(open_stream, seen.append, timeout=60, get_state=lambda: None)
    assert end["state"] == "paused" and len(opened) == 3 and client.stats["reattaches"] == 2
    assert [e["current_progress"] for e in seen] == [1, 2, 3]
    gone = client.watch(lambda: iter(()), seen.append, timeout=60,
                        get_state=lambda: {"type": "end", "state": "successful"})
    assert gone["state"] == "successful"
