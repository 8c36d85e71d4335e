# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What the vendor clients (``_avi.client``, ``_triton.client``, ``_virtfusion.client``) share for
HTTP: their error base class, one HTTP exchange through ``ansible.module_utils.urls``, and the
network failure it raises, sorted by what waiting can do about it (see ``_common.retry``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import socket
import ssl

from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import Request, make_context

RETRY_STATUSES = (500, 502, 503, 504)

# What a network failure is (ConnectionProblem.kind). Waiting cannot fix the first three: the
# retry loop fails at once, naming the setting to fix.
CA_FILE = "ca_file"            # the CA file is missing, unreadable or not PEM
CERTIFICATE = "certificate"    # the server's certificate does not verify against the CA
NAME = "name"                  # the host name does not resolve
REFUSED = "refused"            # nothing listens there (closed port), or no route to the host
DROPPED = "dropped"            # reset, cut, timed out: the server may be restarting
FATAL_KINDS = (CA_FILE, CERTIFICATE)


class ClientError(Exception):
    """A vendor call failed. ``msg`` is the message, ``status`` the HTTP status (None when there is
    none), ``method`` and ``path`` the request's when known."""

    def __init__(self, msg, status=None, method=None, path=None):
        super(ClientError, self).__init__(msg)
        self.msg = msg
        self.status = status
        self.method = method
        self.path = path


class ConnectionProblem(Exception):
    """A network-level failure; ``kind`` says which (CA_FILE, CERTIFICATE, NAME, REFUSED, DROPPED)."""

    def __init__(self, msg, kind=DROPPED):
        super(ConnectionProblem, self).__init__(msg)
        self.kind = kind


def http_request(validate_certs=True, ca_path=None, timeout=60):
    """The ``Request`` every client sends with: TLS verified (against ``ca_path`` when given), safe
    redirects only, no ``.netrc``. Its TLS context is made once, here, as ``Request`` would make it for every
    request (the CA file read again each time); when it cannot be made (an unreadable CA file), ``Request``
    makes it per request, so the first request fails and names the problem as before."""
    try:
        context = make_context(cafile=ca_path, validate_certs=validate_certs)
    except Exception:  # pylint: disable=broad-except
        context = None
    return Request(validate_certs=validate_certs, ca_path=ca_path, timeout=timeout, follow_redirects="safe",
                   use_netrc=False, context=context)


def network_problem(exc):
    """The :class:`ConnectionProblem` for an exception raised while connecting or talking."""
    reason = getattr(exc, "reason", None) if isinstance(exc, URLError) else exc
    reason = exc if reason is None else reason
    text = str(reason) or type(reason).__name__
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return ConnectionProblem(text, CERTIFICATE)
    if isinstance(reason, socket.gaierror):
        return ConnectionProblem(text, NAME)
    if isinstance(reason, ConnectionRefusedError) or getattr(reason, "errno", None) in (
            errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ConnectionProblem(text, REFUSED)
    if not isinstance(exc, URLError) and isinstance(reason, (FileNotFoundError, PermissionError, IsADirectoryError,
                                                             ssl.SSLError)):
        # raised by loading ca_path into the TLS context, before any connection
        return ConnectionProblem(text, CA_FILE)
    return ConnectionProblem("%s: %s" % (type(reason).__name__, text), DROPPED)


def exchange(http, method, url, data=None, headers=None, timeout=60, stream=False):
    """Send one request; ``(status, raw body bytes)``, or ``(200, the open response)`` for ``stream``.

    An HTTP error status is an answer like any other (its body read if it can be). A network
    failure raises :class:`ConnectionProblem` saying which kind it is.
    """
    try:
        response = http.open(method, url, data=data, headers=headers, timeout=timeout)
        status = response.getcode()
        if stream and status == 200:
            return status, response
        raw = response.read()
    except HTTPError as exc:
        status = exc.code
        try:
            raw = exc.read()
        except Exception:  # the body of an error may itself be cut
            raw = b""
    except (URLError, HTTPException, OSError) as exc:
        raise network_problem(exc)
    return status, raw


def decode_body(raw, errors="replace"):
    """A response body: decoded JSON, else text (bytes that are not UTF-8 under ``errors="strict"``),
    or None when empty."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8", errors)
    except (AttributeError, UnicodeDecodeError):
        text = raw
    try:
        return json.loads(text)
    except ValueError:
        return text
