# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the vendor clients (``avi_client``, ``triton_client``, ``virtfusion_client``) share: their
error base class, one HTTP exchange through ``ansible.module_utils.urls``, and the pieces of a
bounded-backoff retry loop.

The retry *policy* stays with each client: its ``call`` (or ``ssh``/``rest``) is the only retry loop
for that vendor's calls, deciding which answers are retried, re-logged-in or waited out. The pieces
here are the budget such a loop spends (bounded exponential backoff with jitter, see ``wait.sleeps``)
and the message a loop gives up with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl

from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import Request

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import sleeps

RETRY_STATUSES = (500, 502, 503, 504)


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
    """Network-level failure (refused, reset, dropped, timed out): worth another attempt."""


def http_request(validate_certs=True, ca_path=None, timeout=60):
    """The ``Request`` every client sends with: TLS verified (against ``ca_path`` when given), safe
    redirects only, no ``.netrc``."""
    return Request(validate_certs=validate_certs, ca_path=ca_path, timeout=timeout, follow_redirects="safe",
                   use_netrc=False)


def tls_error_text(where, reason, ca_option="ca_path", hint=""):
    """The message of a TLS certificate that could not be verified."""
    return "TLS certificate of %s could not be verified (%s); set %s to the CA that signed it%s" % (
        where, reason, ca_option, hint)


def exchange(http, method, url, data=None, headers=None, timeout=60, tls_error=None, stream=False):
    """Send one request; ``(status, raw body bytes)``, or ``(200, the open response)`` for ``stream``.

    An HTTP error status is an answer like any other (its body read if it can be). A certificate
    that cannot be verified raises ``tls_error(reason)`` (an exception the caller builds: not worth
    retrying); any other network failure raises ``ConnectionProblem``.
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
    except URLError as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
            raise tls_error(reason)
        raise ConnectionProblem(str(reason))
    except (HTTPException, OSError) as exc:
        raise ConnectionProblem("%s: %s" % (type(exc).__name__, exc))
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


def retry_budget(timeout, interval, max_interval, max_attempts, clock, sleep, rand):
    """The waits of a retry loop: iterate it once per retry; it sleeps the next backoff (doubling
    from ``interval`` up to ``max_interval``, with jitter) and ends when ``timeout`` seconds or
    ``max_attempts`` attempts are spent. The first attempt is immediate (already taken)."""
    budget = sleeps(timeout, interval, clock=clock, sleep=sleep, backoff=2.0, max_interval=max_interval,
                    jitter=0.5, rand=rand, max_attempts=max_attempts)
    next(budget)
    return budget


def gave_up(failure, attempts):
    """``failure`` (a ``ClientError``), its message saying how many attempts were spent, to raise."""
    failure.msg = "%s (gave up after %d attempts)" % (failure.msg, attempts)
    failure.args = (failure.msg,)
    return failure
