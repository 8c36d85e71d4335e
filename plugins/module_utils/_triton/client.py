# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

A Triton client built on ``ansible.module_utils.urls``: CloudAPI (HTTP Signature, see
``_triton.signing``), and the operator APIs (VMAPI, CNAPI: no authentication, reached on the admin
network).

Every call goes through the collection's one retry loop (``_common.retry``) with Triton's rules
(:meth:`TritonClient._classify`): 5xx (and, once the server has answered, refused or dropped
connections) retried with bounded exponential backoff and jitter, each attempt signed anew; a
rejected signature (401) fails at once naming the key settings. :meth:`TritonClient._send` is the
only place that talks HTTP (tests patch it). :meth:`TritonClient.watch` reads the
``application/x-json-stream`` progress of a migration and re-attaches when the connection drops.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import time

from email.utils import formatdate
from http.client import HTTPException
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import (
    RETRY_STATUSES,
    ClientError,
    ConnectionProblem,
    decode_body,
    exchange,
    http_request,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.retry import (
    DONE,
    FAIL,
    RETRY,
    RetryLoop,
    network_text,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.signing import make_signer

ACCEPT_VERSION = "~9||~8"
_ConnectionProblem = ConnectionProblem  # the name the tests use
# the settings a failure names (option, and the environment variable)
SETTINGS = {
    "cloudapi": {"address": "url (TRITON_URL)", "ca": "ca_path (TRITON_CA_PATH)",
                 "verify": "validate_certs (TRITON_VALIDATE_CERTS)"},
    "vmapi": {"address": "vmapi_url (TRITON_VMAPI_URL)", "ca": "ca_path (TRITON_CA_PATH)",
              "verify": "validate_certs (TRITON_VALIDATE_CERTS)"},
    "cnapi": {"address": "cnapi_url (TRITON_CNAPI_URL), or vmapi_url (TRITON_VMAPI_URL)", "ca": "ca_path (TRITON_CA_PATH)",
              "verify": "validate_certs (TRITON_VALIDATE_CERTS)"},
}
CREDENTIALS = ("check account (TRITON_ACCOUNT), key_id (TRITON_KEY_ID) and the key that signs: private_key_file "
               "(TRITON_KEY_FILE), private_key, or the ssh-agent")


class TritonError(ClientError):
    """An API call failed. ``status`` is the HTTP status (None for connection errors), ``code`` the
    restify error code (``PreconditionFailed``...), ``message`` the vendor's message."""

    def __init__(self, msg, status=None, code=None, message=None, method=None, path=None):
        super(TritonError, self).__init__(msg, status=status, method=method, path=path)
        self.code = code
        self.message = message


class TritonNotFound(TritonError):
    """HTTP 404 (no such instance, or no migration)."""


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
        self._clock = clock
        self._sleep = sleep
        self._signer = signer
        self.api_timeout = conn.get("api_timeout") or 60
        self._http = http_request(conn.get("validate_certs", True), conn.get("ca_path"), self.api_timeout)
        self.stats = {"requests": 0, "retries": 0, "reattaches": 0, "bytes_read": 0}
        # one loop per API (each its own server): CloudAPI, VMAPI, CNAPI
        self.retries = dict((api, RetryLoop(self.stats, {RETRY: "retries"}, timeout=retry_timeout,
                                            interval=retry_interval, max_interval=retry_max_interval,
                                            max_attempts=max_attempts, clock=clock, sleep=sleep, rand=rand))
                            for api in SETTINGS)

    def on_wait(self, callback):
        """Show the waits of every API's retry loop through ``callback(text)`` (the module's progress)."""
        for loop in self.retries.values():
            loop.on_wait = callback

    def fork(self):
        """A client for another worker thread: the same settings and signer, and what this one knows of which
        servers have answered."""
        other = TritonClient(self.conn, signer=self._signer, clock=self._clock, sleep=self._sleep)
        other.retries = dict((api, loop.fork(other.stats)) for api, loop in self.retries.items())
        return other

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
        status 200 (status, iterator of decoded JSON lines that raises ConnectionProblem when the
        connection drops). The only method that does network I/O."""
        self.stats["requests"] += 1
        data = None if body is None else json.dumps(body).encode("utf-8")
        hdrs = {"Accept": "application/json", "Content-Type": "application/json",
                "Accept-Version": ACCEPT_VERSION, "User-Agent": "fleetops.maintenance"}
        hdrs.update(headers or {})
        status, raw = exchange(self._http, method, url, data=data, headers=hdrs, timeout=self.api_timeout,
                               stream=stream)
        if stream and status == 200:
            return status, self._lines(raw)
        self.stats["bytes_read"] += len(raw or b"")
        return status, decode_body(raw)

    def _lines(self, response):
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                self.stats["bytes_read"] += len(line)
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line.decode("utf-8", "replace"))
                    except ValueError:
                        raise ConnectionProblem("invalid JSON in the watch stream")
        except (HTTPException, OSError) as exc:
            raise ConnectionProblem("%s: %s" % (type(exc).__name__, exc))
        finally:
            try:
                response.close()
            except Exception:
                pass

    @staticmethod
    def _classify(method, path, api):
        """Triton's answers: 5xx retried, 401 (a rejected signature) fails naming the key settings, anything
        else fails at once (404 as TritonNotFound)."""
        def classify(answer):
            status, data = answer
            if status < 400:
                return DONE, data
            code, message = _error_fields(data)
            text = "%s %s: HTTP %s %s%s" % (method, path, status, code + ": " if code else "", message)
            if status == 401 and api == "cloudapi":
                text += ": CloudAPI rejects the request's signature; " + CREDENTIALS
            cls = TritonNotFound if status == 404 else TritonError
            failure = cls(text, status=status, code=code, message=message, method=method, path=path)
            return (RETRY if status in RETRY_STATUSES else FAIL), failure
        return classify

    def call(self, method, base, path, body=None, params=None, sign=False, stream=False, api="cloudapi"):
        """One API call under the retry policy. Returns the decoded body (or a line iterator)."""
        method = method.upper()
        if not base:
            raise TritonError("no URL configured for %s %s" % (method, path))
        query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None])
        full_path = path + ("?" + query if query else "")
        url = self._base(base) + full_path

        def attempt():
            headers = self._auth_headers(method, full_path) if sign else {}
            return self._send(method, url, body, headers=headers, stream=stream)

        def network_error(problem):
            return TritonError(network_text("%s %s" % (method, path), problem, urlsplit(url).netloc, SETTINGS[api]),
                               method=method, path=path)
        return self.retries[api].run(attempt, self._classify(method, path, api), network_error)

    # -- the APIs --------------------------------------------------------------------------------
    def cloudapi(self, method, path, body=None, params=None, stream=False):
        return self.call(method, self.conn.get("url"), "/%s%s" % (quote(self.account or "my"), path), body=body,
                         params=params, sign=True, stream=stream, api="cloudapi")

    def vmapi(self, method, path, body=None, params=None, stream=False):
        return self.call(method, self.conn.get("vmapi_url"), path, body=body, params=params, stream=stream, api="vmapi")

    def cnapi(self, method, path, body=None, params=None):
        return self.call(method, self.conn.get("cnapi_url") or self.conn.get("vmapi_url"), path, body=body,
                         params=params, api="cnapi")

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
            except ConnectionProblem:
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
