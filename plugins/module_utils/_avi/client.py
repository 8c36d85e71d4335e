# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

A small Avi Vantage controller API client built on ``ansible.module_utils.urls``.

One session per module run: log in once (``POST /login``: ``csrftoken`` and ``sessionid``
cookies in a cookie jar), send ``X-CSRFToken``, ``Referer``, ``X-Avi-Version`` and
``X-Avi-Tenant`` on every call, log out at the end. Every call goes through the collection's one
retry loop (``_common.retry``) with Avi's classifier (:meth:`AviClient._classify`): bounded
exponential backoff with jitter on 5xx and, once the controller has answered, on refused or
dropped connections (reboot windows); a fresh login on 401/419; a bounded wait while writes are
refused with 403 because a controller upgrade is in progress; at once, naming the setting to fix,
on a CA file that cannot be used, a certificate that does not verify, a name that does not
resolve, rejected credentials. :meth:`AviClient._send` is the only place that talks HTTP (tests
patch it). Secrets are never put in messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import random
import time

# URLError is re-exported: tests raise it from here
from urllib.error import URLError  # noqa: F401 pylint: disable=unused-import
from urllib.parse import urlencode, urlsplit

from ansible.module_utils.urls import prepare_multipart

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import (
    RETRY_STATUSES,
    ClientError,
    ConnectionProblem,
    decode_body,
    exchange,
    http_request,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import not_found
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.retry import (
    DONE,
    FAIL,
    RELOGIN,
    RETRY,
    WAIT,
    RetryLoop,
    network_text,
)

_ConnectionProblem = ConnectionProblem  # the name the tests use
RELOGIN_STATUSES = (401, 419)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# the settings a network failure names (option, and the environment variable)
SETTINGS = {"address": "controller (AVI_CONTROLLER) and port (AVI_PORT)", "ca": "ca_path (AVI_CA_PATH)",
            "verify": "validate_certs (AVI_VALIDATE_CERTS)"}


class AviError(ClientError):
    """An API call failed. ``status`` is the HTTP status (None for connection errors)."""

    def __init__(self, msg, status=None, method=None, path=None, body=None):
        super(AviError, self).__init__(msg, status=status, method=method, path=path)
        self.body = body


class AviNotFound(AviError):
    """A named or referenced object does not exist."""


def ref_uuid(ref):
    """``https://c/api/serviceengine/serviceengine-1#se1`` -> ``serviceengine-1``."""
    if not ref:
        return None
    return ref.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def ref_name(ref):
    """The ``#name`` suffix of a ref fetched with ``include_name``, or None."""
    if not ref or "#" not in ref:
        return None
    return ref.split("#", 1)[1]


def _error_text(data):
    if isinstance(data, dict):
        for key in ("error", "detail", "msg", "message"):
            if data.get(key):
                return str(data[key])
        return json.dumps(data, sort_keys=True)[:500]
    if data is None:
        return ""
    return str(data)[:500]


class AviClient(object):
    """Session-based Avi API client. Use as a context manager to log out at the end."""

    def __init__(self, controller, username, password, port=None, api_version="22.1.3",
                 tenant="admin", validate_certs=True, ca_path=None, api_timeout=60,
                 retry_timeout=300.0, retry_interval=1.0, retry_max_interval=30.0,
                 max_attempts=20, upgrade_wait=600.0, upgrade_interval=10.0,
                 clock=time.monotonic, sleep=time.sleep, rand=random.random):
        self.base_url = self._base_url(controller, port)
        self.username = username
        self._password = password
        self.api_version = api_version
        self.tenant = tenant or "admin"
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.api_timeout = api_timeout
        self.upgrade_wait = upgrade_wait
        self._http = http_request(validate_certs, ca_path, api_timeout)
        self._logged_in = False
        self.controller_version = None
        self.stats = {"logins": 0, "requests": 0, "retries": 0, "relogins": 0,
                      "upgrade_waits": 0, "bytes_read": 0}
        self.retry = RetryLoop(self.stats, {RETRY: "retries", RELOGIN: "relogins", WAIT: "upgrade_waits"},
                               timeout=retry_timeout, interval=retry_interval, max_interval=retry_max_interval,
                               max_attempts=max_attempts, wait_timeout=upgrade_wait, wait_interval=upgrade_interval,
                               clock=clock, sleep=sleep, rand=rand)

    # -- plumbing ------------------------------------------------------------------------
    @staticmethod
    def _base_url(controller, port):
        controller = (controller or "").strip().rstrip("/")
        if "://" not in controller:
            controller = "https://" + controller
        if port:
            parts = urlsplit(controller)
            host = parts.hostname or ""
            if ":" in host:
                host = "[%s]" % host
            controller = "%s://%s:%s" % (parts.scheme, host, port)
        return controller

    def _url(self, path, params=None):
        if path.startswith("http://") or path.startswith("https://"):
            # Absolute URL (e.g. a `next` link): keep only path and query, use our base URL.
            parts = urlsplit(path)
            path = parts.path + ("?" + parts.query if parts.query else "")
        elif not path.startswith("/"):
            path = "/api/" + path
        url = self.base_url + path
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None])
            if query:
                url += ("&" if "?" in url else "?") + query
        return url

    def _cookie(self, name):
        for cookie in self._http.cookies:
            if cookie.name == name:
                return cookie.value
        return None

    def _headers(self, content_type=None):
        headers = {
            "Content-Type": content_type or "application/json",
            "Accept": "application/json",
            "Referer": self.base_url + "/",
            "X-Avi-Version": self.api_version,
            "X-Avi-Tenant": self.tenant,
        }
        token = self._cookie("csrftoken")
        if token:
            headers["X-CSRFToken"] = token
        return headers

    def _send(self, method, url, body=None, form=None):
        """Send one HTTP request. Returns (status, decoded JSON or text or None).

        ``form`` is ``(content_type, bytes)`` for a body that is not JSON (an upload).
        The only method that does network I/O; raises ``ConnectionProblem`` on network errors.
        """
        self.stats["requests"] += 1
        content_type = None
        if form is not None:
            content_type, data = form
        else:
            data = None if body is None else json.dumps(body).encode("utf-8")
        status, raw = exchange(self._http, method, url, data=data, headers=self._headers(content_type),
                               timeout=self.api_timeout)
        self.stats["bytes_read"] += len(raw or b"")
        return status, decode_body(raw, errors="strict")

    # -- the retry policy (one loop: _common.retry; Avi's rules: _classify) ---------------------
    def _classify(self, method, short_path, auth):
        """Avi's answers: 401/419 log in again, 403 "upgrade in progress" on a write is waited out,
        5xx is retried, anything else fails at once (404 as AviNotFound)."""
        def classify(answer):
            status, data = answer
            if status < 400:
                return DONE, data
            text = _error_text(data)
            if auth and status in RELOGIN_STATUSES:
                # Session expired or lost (e.g. controller restarted): log in again and retry.
                self._logged_in = False
                self._http.cookies.clear()
                return RELOGIN, AviError("%s %s: HTTP %s %s" % (method, short_path, status, text), status=status,
                                         method=method, path=short_path, body=data)
            if status == 403 and "upgrade" in text.lower() and method in WRITE_METHODS:
                # Configuration is read-only while an upgrade runs: wait it out, bounded.
                return WAIT, AviError("%s %s refused for %.0f seconds because a controller upgrade is in progress: %s"
                                      % (method, short_path, self.upgrade_wait, text), status=status, method=method,
                                      path=short_path, body=data)
            cls = AviNotFound if status == 404 else AviError
            failure = cls("%s %s: HTTP %s %s" % (method, short_path, status, text), status=status, method=method,
                          path=short_path, body=data)
            return (RETRY if status in RETRY_STATUSES else FAIL), failure
        return classify

    def _network_error(self, method, short_path):
        def error(problem):
            return AviError(network_text("%s %s" % (method, short_path), problem, self.base_url, SETTINGS),
                            method=method, path=short_path)
        return error

    def call(self, method, path, body=None, params=None, auth=True, form=None):
        """One API call under the retry policy. Returns the decoded body.

        ``form`` (``(content_type, bytes)``) replaces the JSON body, e.g. for a file upload.
        """
        method = method.upper()
        url = self._url(path, params)
        short_path = urlsplit(url).path

        def attempt():
            if auth and not self._logged_in:
                self.login()
            return self._send(method, url, body, form=form)
        return self.retry.run(attempt, self._classify(method, short_path, auth),
                              self._network_error(method, short_path))

    @contextlib.contextmanager
    def short_retries(self, seconds):
        """Context manager: calls inside give up on connection errors and 5xx after ``seconds``.

        For callers with a wait loop of their own (e.g. through a controller's reboot window),
        which want control back quickly to report progress rather than one long silent retry.
        """
        with self.retry.shorter(seconds):
            yield self

    # -- session ---------------------------------------------------------------------------
    def login(self):
        self._http.cookies.clear()
        self._logged_in = False
        try:
            data = self.call("POST", "/login", {"username": self.username, "password": self._password},
                             auth=False)
        except AviError as exc:
            if exc.status in (401, 403):
                # rejected credentials: waiting cannot fix them
                raise AviError("login to %s as %s failed: HTTP %s %s: the controller rejects these credentials; check "
                               "username (AVI_USERNAME) and password (AVI_PASSWORD)"
                               % (self.base_url, self.username, exc.status, _error_text(exc.body)),
                               status=exc.status, method="POST", path="/login")
            raise
        self.stats["logins"] += 1
        self._logged_in = True
        if isinstance(data, dict):
            version = data.get("version")
            if isinstance(version, dict):
                self.controller_version = version.get("Version")
        return data

    def logout(self):
        """End the session; best effort, one attempt, never raises."""
        if not self._logged_in:
            return
        self._logged_in = False
        try:
            self._send("POST", self._url("/logout"), {})
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.logout()
        return False

    # -- verbs -----------------------------------------------------------------------------
    def get(self, path, params=None):
        return self.call("GET", path, params=params)

    def post(self, path, body=None, params=None):
        return self.call("POST", path, body if body is not None else {}, params=params)

    def put(self, path, body, params=None):
        return self.call("PUT", path, body, params=params)

    def patch(self, path, body, params=None):
        return self.call("PATCH", path, body, params=params)

    def upload(self, path, field, filename, params=None):
        """POST a local file as multipart/form-data (field ``field``), e.g. an image to /api/image.

        The file is sent as-is (8-bit), not base64: RFC 7578 deprecates transfer encodings in
        form data and web frameworks do not decode them.
        """
        content_type, data = prepare_multipart({field: {
            "filename": filename, "mime_type": "application/octet-stream",
            "multipart_encoding": "7or8bit"}})
        return self.call("POST", path, params=params, form=(content_type, data))

    def get_all(self, path, params=None, page_size=200):
        """All results of a collection, following ``next`` links; pages of ``page_size`` (the vendor's
        largest is 200: fewer round trips when a controller holds thousands of objects)."""
        query = dict(params or {})
        query.setdefault("page_size", page_size)
        data = self.get(path, params=query)
        results = []
        seen = set()
        while True:
            if isinstance(data, list):
                return results + data
            results.extend((data or {}).get("results", []))
            nxt = (data or {}).get("next")
            if not nxt or nxt in seen:
                return results
            seen.add(nxt)
            data = self.get(nxt)

    # -- names and uuids -------------------------------------------------------------------
    def find(self, obj_type, name=None, uuid=None, params=None):
        """The object of ``obj_type`` with exactly that name and/or uuid, or None.

        An empty or blank name or uuid is refused: as a query filter it would match every object.
        """
        given = [v for v in (name, uuid) if v is not None]
        if not given or any(not str(v).strip() for v in given):
            raise AviError("a %s lookup needs a name or uuid that is not empty (got name=%r, uuid=%r)"
                           % (obj_type, name, uuid))
        query = dict(params or {})
        if uuid is not None:
            query["uuid"] = uuid
        if name is not None:
            query["name"] = name
        for item in self.get_all(obj_type, params=query):
            if (uuid is None or item.get("uuid") == uuid) and (name is None or item.get("name") == name):
                return item
        return None

    def resolve(self, obj_type, value, params=None, option=None):
        """The object of ``obj_type`` whose uuid or name is exactly ``value``; AviNotFound naming
        ``option`` and the closest names otherwise."""
        obj = None
        if value is not None and str(value).startswith(obj_type + "-"):
            obj = self.find(obj_type, uuid=value, params=params)
        if obj is None:
            obj = self.find(obj_type, name=value, params=params)
        if obj is None:
            names = [item.get("name") for item in self.get_all(obj_type, params=params)]
            raise AviNotFound(not_found(obj_type, value, names, option) + " (no %s has that name or uuid)" % obj_type,
                              status=404)
        return obj

    def ref(self, obj_type, uuid):
        return "%s/api/%s/%s" % (self.base_url, obj_type, uuid)


def client_from_params(params, **kwargs):
    """Build an :class:`AviClient` from module parameters (see ``avi_spec.resolve_connection``)."""
    from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.spec import resolve_connection
    conn = resolve_connection(params)
    return AviClient(conn["controller"], conn["username"], conn["password"], port=conn["port"],
                     api_version=conn["api_version"], tenant=conn["tenant"],
                     validate_certs=conn["validate_certs"], ca_path=conn["ca_path"],
                     api_timeout=conn["api_timeout"], **kwargs)
