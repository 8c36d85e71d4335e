# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Signing CloudAPI requests as node-triton and smartdc-auth do: ``Authorization: Signature
keyId="/<account>/keys/<md5 fingerprint>",algorithm="rsa-sha256",headers="(request-target) date",
signature="..."`` over ``(request-target): <method> <path>`` and ``date: <RFC 1123 date>``, with the
user's SSH private key (a file, its content, or the ssh-agent at ``SSH_AUTH_SOCK``). Private key
material never leaves the signer: it is not logged, returned or put in any message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import socket
import struct

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - ansible-core itself depends on cryptography
    HAS_CRYPTOGRAPHY = False


# -- keys and fingerprints -------------------------------------------------------------------
def _ssh_string(data, offset):
    (length,) = struct.unpack(">I", data[offset:offset + 4])
    return data[offset + 4:offset + 4 + length], offset + 4 + length


def md5_fingerprint(blob):
    digest = hashlib.md5(blob).hexdigest()  # the key id format of CloudAPI, not a security measure
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def sha256_fingerprint(blob):
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def normalize_key_id(key_id):
    """'MD5:aa:bb..' / 'aa:bb..' -> 'aa:bb..'; 'SHA256:...' kept; None kept."""
    if not key_id:
        return None
    key_id = str(key_id).strip()
    if key_id.upper().startswith("MD5:"):
        key_id = key_id[4:]
    if key_id.upper().startswith("SHA256:"):
        return "SHA256:" + key_id[7:].rstrip("=")
    return key_id.lower()


def key_matches(key_id, blob):
    key_id = normalize_key_id(key_id)
    return key_id is None or key_id in (md5_fingerprint(blob), sha256_fingerprint(blob))


class SigningError(Exception):
    """No usable key (message never contains key material)."""


class KeySigner(object):
    """Signs with a private key loaded from a file or from its content."""

    def __init__(self, key_data, key_id=None, source="the private key"):
        if not HAS_CRYPTOGRAPHY:
            raise SigningError("the Python library cryptography is needed to sign CloudAPI requests")
        if isinstance(key_data, str):
            key_data = key_data.encode()
        try:
            if b"OPENSSH PRIVATE KEY" in key_data:
                self._key = serialization.load_ssh_private_key(key_data, password=None)
            else:
                self._key = serialization.load_pem_private_key(key_data, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningError("%s could not be loaded (%s); an unencrypted RSA or ECDSA key in PEM or OpenSSH "
                               "format is needed" % (source, type(exc).__name__))
        if isinstance(self._key, rsa.RSAPrivateKey):
            self.algorithm = "rsa-sha256"
        elif isinstance(self._key, ec.EllipticCurvePrivateKey):
            self.algorithm = {256: "ecdsa-sha256", 384: "ecdsa-sha384", 521: "ecdsa-sha512"}[self._key.curve.key_size]
        else:
            raise SigningError("%s is not an RSA or ECDSA key (CloudAPI accepts rsa and ecdsa signatures)" % source)
        blob = self._key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH).split()[1]
        blob = base64.b64decode(blob)
        if not key_matches(key_id, blob):
            raise SigningError("%s does not match key_id %s (its fingerprint is %s)"
                               % (source, key_id, md5_fingerprint(blob)))
        self.fingerprint = md5_fingerprint(blob)

    def sign(self, data):
        hname = self.algorithm.split("-")[1]
        halg = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[hname]()
        if self.algorithm.startswith("rsa"):
            sig = self._key.sign(data, padding.PKCS1v15(), halg)
        else:
            sig = self._key.sign(data, ec.ECDSA(halg))
        return base64.b64encode(sig).decode()


class AgentSigner(object):
    """Signs through the ssh-agent (RSA with rsa-sha2-256, ECDSA) found at ``SSH_AUTH_SOCK``."""

    REQUEST_IDENTITIES, IDENTITIES_ANSWER, SIGN_REQUEST, SIGN_RESPONSE = 11, 12, 13, 14
    RSA_SHA2_256 = 2

    def __init__(self, key_id, sock_path=None, timeout=10):
        self.sock_path = sock_path or os.environ.get("SSH_AUTH_SOCK")
        self.timeout = timeout
        if not self.sock_path:
            raise SigningError("no private key given and no ssh-agent (SSH_AUTH_SOCK is not set): set "
                               "private_key_file, private_key, or run an ssh-agent holding the key %s" % key_id)
        candidates = []
        for blob, _comment in self._identities():
            kind, _rest = _ssh_string(blob, 0)
            if kind in (b"ssh-rsa", b"ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp384", b"ecdsa-sha2-nistp521") \
                    and key_matches(key_id, blob):
                candidates.append((blob, kind))
        if not candidates:
            raise SigningError("the ssh-agent at SSH_AUTH_SOCK holds no RSA or ECDSA key with fingerprint %s"
                               % key_id)
        self._blob, kind = candidates[0]
        self.fingerprint = md5_fingerprint(self._blob)
        self.algorithm = {b"ssh-rsa": "rsa-sha256", b"ecdsa-sha2-nistp256": "ecdsa-sha256",
                          b"ecdsa-sha2-nistp384": "ecdsa-sha384", b"ecdsa-sha2-nistp521": "ecdsa-sha512"}[kind]

    def _request(self, payload):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.sock_path)
            sock.sendall(struct.pack(">I", len(payload)) + payload)
            head = self._recv(sock, 4)
            (length,) = struct.unpack(">I", head)
            return self._recv(sock, length)
        except (OSError, struct.error) as exc:
            raise SigningError("the ssh-agent at SSH_AUTH_SOCK did not answer (%s)" % type(exc).__name__)
        finally:
            sock.close()

    @staticmethod
    def _recv(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise OSError("agent closed the connection")
            data += chunk
        return data

    def _identities(self):
        answer = self._request(struct.pack(">B", self.REQUEST_IDENTITIES))
        if not answer or answer[0] != self.IDENTITIES_ANSWER:
            raise SigningError("the ssh-agent refused to list its keys")
        (count,) = struct.unpack(">I", answer[1:5])
        offset, out = 5, []
        for _i in range(count):
            blob, offset = _ssh_string(answer, offset)
            comment, offset = _ssh_string(answer, offset)
            out.append((blob, comment))
        return out

    def sign(self, data):
        flags = self.RSA_SHA2_256 if self.algorithm.startswith("rsa") else 0
        payload = (struct.pack(">B", self.SIGN_REQUEST) + struct.pack(">I", len(self._blob)) + self._blob
                   + struct.pack(">I", len(data)) + data + struct.pack(">I", flags))
        answer = self._request(payload)
        if not answer or answer[0] != self.SIGN_RESPONSE:
            raise SigningError("the ssh-agent refused to sign with key %s" % self.fingerprint)
        sig = _ssh_string(answer, 1)[0]
        offset = _ssh_string(sig, 0)[1]
        raw = _ssh_string(sig, offset)[0]
        if self.algorithm.startswith("ecdsa"):
            r_bytes, offset = _ssh_string(raw, 0)
            s_bytes = _ssh_string(raw, offset)[0]
            raw = encode_dss_signature(int.from_bytes(r_bytes, "big"), int.from_bytes(s_bytes, "big"))
        return base64.b64encode(raw).decode()


def make_signer(conn):
    """The signer for a resolved connection (see triton_spec.resolve_connection)."""
    if conn.get("private_key"):
        return KeySigner(conn["private_key"], conn.get("key_id"), source="private_key")
    if conn.get("private_key_file"):
        path = conn["private_key_file"]
        try:
            with open(path, "rb") as stream:
                data = stream.read()
        except (IOError, OSError) as exc:
            raise SigningError("private_key_file %s cannot be read: %s" % (path, exc.strerror or exc))
        return KeySigner(data, conn.get("key_id"), source="private_key_file %s" % path)
    return AgentSigner(conn.get("key_id"))
