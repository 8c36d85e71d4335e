# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing CloudAPI requests: with a key (file or content) and through the ssh-agent, never showing the key."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fake_triton import KEY, KEY_ID, KEY_PEM
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import AgentSigner, KeySigner, SigningError


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
