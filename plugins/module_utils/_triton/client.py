# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Triton client built on ``ansible.module_utils.urls``: CloudAPI (HTTP Signature), and the
operator APIs (VMAPI, CNAPI: no authentication, reached on the admin network).

Signing (as node-triton and smartdc-auth do it): ``Authorization: Signature
keyId="/<account>/keys/<md5 fingerprint>",algorithm="rsa-sha256",headers="(request-target) date",
signature="..."`` over ``(request-target): <method> <path>`` and ``date: <RFC 1123 date>``, with the
user's SSH private key (a file, its content, or the ssh-agent at ``SSH_AUTH_SOCK``). Private key
material never leaves the signer: it is not logged, returned or put in any message.

:meth:`TritonClient.call` is the only retry policy (bounded exponential backoff with jitter on
connection errors and 5xx, each attempt signed anew); :meth:`TritonClient._send` is the only place
that talks HTTP (tests patch it). :meth:`TritonClient.watch` reads the
``application/x-json-stream`` progress of a migration and re-attaches when the connection drops.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
import random
import socket
import struct
import time

from email.utils import formatdate
from http.client import HTTPException
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._common import http as http_retry

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - ansible-core itself depends on cryptography
    HAS_CRYPTOGRAPHY = False

ACCEPT_VERSION = "~9||~8"
_ConnectionProblem = http_retry.ConnectionProblem  # the name the tests use


class TritonError(http_retry.ClientError):
    """An API call failed. ``status`` is the HTTP status (None for connection errors), ``code`` the
    restify error code (``PreconditionFailed``...), ``message`` the vendor's message."""

    def __init__(self, msg, status=None, code=None, message=None, method=None, path=None):
        super(TritonError, self).__init__(msg, status=status, method=method, path=path)
        self.code = code
        self.message = message


class TritonNotFound(TritonError):
    """HTTP 404 (no such instance, or no migration)."""


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


def _error_fields(data):
    if isinstance(data, dict):
        return data.get("code"), str(data.get("message") or data.get("error") or json.dumps(data)[:300])
    return None, ("" if data is None else str(data)[:300])


class TritonClient(object):
    """One client per module run (or per worker thread)."""

    REATTACH_INTERVAL = 1.0  # seconds between two attempts to re-attach a dropped progress stream

    def __init__(self, conn, retry_timeout=300.0, retry_interval=1.0, retry_max_interval=30.0, max_attempts=20,
                 clock=time.monotonic, sleep=time.sleep, rand=random.random, signer=None):
        self.conn = conn
        self.api = conn.get("api", "cloudapi")
        self.account = conn.get("account")
        self.retry_timeout = retry_timeout
        self.retry_interval = retry_interval
        self.retry_max_interval = retry_max_interval
        self.max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._signer = signer
        self.api_timeout = conn.get("api_timeout") or 60
        self._http = http_retry.http_request(conn.get("validate_certs", True), conn.get("ca_path"), self.api_timeout)
        self.stats = {"requests": 0, "retries": 0, "reattaches": 0}

    @property
    def signer(self):
        if self._signer is None:
            self._signer = make_signer(self.conn)
        return self._signer

    # -- plumbing ------------------------------------------------------------------------------
    @staticmethod
    def _base(url):
        url = (url or "").strip().rstrip("/")
        if url and "://" not in url:
            url = "https://" + url
        return url

    def _auth_headers(self, method, path):
        signer = self.signer
        date = formatdate(usegmt=True)
        signing = "(request-target): %s %s\ndate: %s" % (method.lower(), path, date)
        signature = signer.sign(signing.encode("utf-8"))
        return {"Date": date, "Authorization": 'Signature keyId="/%s/keys/%s",algorithm="%s",headers="(request-target) '
                'date",signature="%s"' % (self.account, signer.fingerprint, signer.algorithm, signature)}

    def _send(self, method, url, body=None, headers=None, stream=False):
        """Send one request. Returns (status, decoded JSON / text / None), or for ``stream`` and
        status 200 (status, iterator of decoded JSON lines that raises http_retry.ConnectionProblem when the
        connection drops). The only method that does network I/O."""
        self.stats["requests"] += 1
        data = None if body is None else json.dumps(body).encode("utf-8")
        hdrs = {"Accept": "application/json", "Content-Type": "application/json",
                "Accept-Version": ACCEPT_VERSION, "User-Agent": "fleetops.maintenance"}
        hdrs.update(headers or {})

        def tls_error(reason):
            return TritonError(http_retry.tls_error_text(urlsplit(url).netloc, reason), method=method,
                               path=urlsplit(url).path)
        status, raw = http_retry.exchange(self._http, method, url, data=data, headers=hdrs, timeout=self.api_timeout,
                                          tls_error=tls_error, stream=stream)
        if stream and status == 200:
            return status, self._lines(raw)
        return status, http_retry.decode_body(raw)

    @staticmethod
    def _lines(response):
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line.decode("utf-8", "replace"))
                    except ValueError:
                        raise http_retry.ConnectionProblem("invalid JSON in the watch stream")
        except (HTTPException, OSError) as exc:
            raise http_retry.ConnectionProblem("%s: %s" % (type(exc).__name__, exc))
        finally:
            try:
                response.close()
            except Exception:
                pass

    def _transient_budget(self):
        return http_retry.retry_budget(self.retry_timeout, self.retry_interval, self.retry_max_interval,
                                       self.max_attempts, self._clock, self._sleep, self._rand)

    def call(self, method, base, path, body=None, params=None, sign=False, stream=False):
        """One API call under the retry policy. Returns the decoded body (or a line iterator)."""
        method = method.upper()
        if not base:
            raise TritonError("no URL configured for %s %s" % (method, path))
        query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None])
        full_path = path + ("?" + query if query else "")
        url = self._base(base) + full_path
        transient = self._transient_budget()
        attempts = 0
        while True:
            attempts += 1
            headers = self._auth_headers(method, full_path) if sign else {}
            try:
                status, data = self._send(method, url, body, headers=headers, stream=stream)
            except http_retry.ConnectionProblem as exc:
                failure = TritonError("%s %s: connection failed: %s" % (method, path, exc), method=method, path=path)
            else:
                if status < 400:
                    return data
                code, message = _error_fields(data)
                text = "%s %s: HTTP %s %s%s" % (method, path, status, code + ": " if code else "", message)
                if status in http_retry.RETRY_STATUSES:
                    failure = TritonError(text, status=status, code=code, message=message, method=method, path=path)
                else:
                    cls = TritonNotFound if status == 404 else TritonError
                    raise cls(text, status=status, code=code, message=message, method=method, path=path)
            if next(transient, None) is None:
                raise http_retry.gave_up(failure, attempts)
            self.stats["retries"] += 1

    # -- the APIs --------------------------------------------------------------------------------
    def cloudapi(self, method, path, body=None, params=None, stream=False):
        return self.call(method, self.conn.get("url"), "/%s%s" % (quote(self.account or "my"), path), body=body,
                         params=params, sign=True, stream=stream)

    def vmapi(self, method, path, body=None, params=None, stream=False):
        return self.call(method, self.conn.get("vmapi_url"), path, body=body, params=params, stream=stream)

    def cnapi(self, method, path, body=None, params=None):
        return self.call(method, self.conn.get("cnapi_url") or self.conn.get("vmapi_url"), path, body=body,
                         params=params)

    def watch(self, open_stream, on_event, timeout, get_state=None, reattach_interval=None):
        """Follow a migration's progress until its ``end`` event; return that event.

        ``open_stream()`` opens a new watch (an iterator of events). When the stream ends or breaks
        without an ``end`` event, the watch is re-attached (the server sends the running entry and
        the latest progress first) until ``timeout`` seconds have passed; ``get_state()``, if
        given, is asked between attempts and may return an end event itself (e.g. the record is gone).
        """
        deadline = self._clock() + timeout
        if reattach_interval is None:
            reattach_interval = self.REATTACH_INTERVAL
        first = True
        while True:
            if not first:
                self.stats["reattaches"] += 1
                if get_state is not None:
                    end = get_state()
                    if end is not None:
                        return end
                if self._clock() >= deadline:
                    raise TritonError("timed out after %.0f seconds following the migration progress" % timeout)
                self._sleep(min(reattach_interval, max(0.0, deadline - self._clock())))
            first = False
            try:
                for event in open_stream():
                    if not isinstance(event, dict):
                        continue
                    if event.get("type") == "end":
                        return event
                    on_event(event)
                    if self._clock() >= deadline:
                        raise TritonError("timed out after %.0f seconds following the migration progress" % timeout)
            except http_retry.ConnectionProblem:
                continue
            except TritonError as exc:
                if exc.status is not None and exc.status < 500 and exc.status != 404:
                    raise
                if exc.status == 404 and get_state is None:
                    raise


def client_from_params(params, **kwargs):
    """Build a :class:`TritonClient` from module parameters (see ``triton_spec.resolve_connection``)."""
    from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import resolve_connection
    return TritonClient(resolve_connection(params), **kwargs)
