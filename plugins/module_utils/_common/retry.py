# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The one retry loop of the vendor clients, in the shape of amazon.aws's ``CloudRetry``: one loop
(attempt, send, classify, back off, give up, count) and, per vendor, a small classifier that says
what an answer means: done, :data:`RETRY` (back off and try again within the retry budget),
:data:`RELOGIN` (the session is gone: log in again, bounded), :data:`WAIT` (the server says "not
now", e.g. read-only during an upgrade: wait within its own budget) or :data:`FAIL` (give up now).

Network failures are classified here, the same for every vendor (see ``_common.http``): a CA file
that cannot be used or a certificate that does not verify fail at once; so does a host name that
does not resolve, until the server has answered once in this run; a refused connection before the
first answer is retried for a few seconds only (:data:`FIRST_CONTACT_SECONDS`), then fails naming the
address setting. Once the server has answered (a controller rebooting during an upgrade), refused and
dropped connections are waited out like 5xx answers, and each wait is reported through ``on_wait``
(the module's live progress).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import random
import time

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.http import (
    CA_FILE,
    CERTIFICATE,
    FATAL_KINDS,
    NAME,
    REFUSED,
    ConnectionProblem,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import sleeps

DONE = "done"
RETRY = "retry"
RELOGIN = "relogin"
WAIT = "wait"
FAIL = "fail"
FIRST_CONTACT_SECONDS = 5.0


def gave_up(failure, attempts):
    """``failure`` (a ``ClientError``), its message saying how many attempts were spent, to raise."""
    failure.msg = "%s (gave up after %d attempts)" % (failure.msg, attempts)
    failure.args = (failure.msg,)
    return failure


def network_text(what, problem, where, settings):
    """The message of a network failure: what happened and, when the user can fix it, which setting.

    ``settings`` names the settings as the user gives them: ``address`` (where the server is),
    ``ca`` (the CA file) and optionally ``verify`` (turning verification off).
    """
    kind = problem.kind
    if kind == CA_FILE:
        return "%s: the CA file cannot be used (%s): set %s to a readable PEM file of the CA that signed the " \
               "certificate of %s" % (what, problem, settings["ca"], where)
    if kind == CERTIFICATE:
        return "%s: TLS certificate of %s could not be verified (%s); set %s to the CA that signed it%s" % (
            what, where, problem, settings["ca"],
            ", or %s=false for a lab" % settings["verify"] if settings.get("verify") else "")
    if kind == NAME:
        return "%s: the host name of %s does not resolve (%s): check %s" % (what, where, problem, settings["address"])
    if kind == REFUSED:
        return "%s: %s refused the connection (%s): nothing answers at that address and port; check %s" % (
            what, where, problem, settings["address"])
    return "%s: connection failed: %s" % (what, problem)


class RetryLoop(object):
    """One per connection of a client (its budgets, its counters and whether its server answered yet).

    ``stats`` is the client's counter dict and ``counters`` maps RETRY, RELOGIN and WAIT to the names
    it counts them under. ``timeout``/``interval``/``max_interval``/``max_attempts`` bound the RETRY
    budget (exponential backoff with jitter), ``wait_timeout``/``wait_interval`` the WAIT budget.
    """

    def __init__(self, stats, counters, timeout=300.0, interval=1.0, max_interval=30.0, max_attempts=20,
                 wait_timeout=600.0, wait_interval=10.0, max_relogins=3, first_contact=FIRST_CONTACT_SECONDS,
                 clock=time.monotonic, sleep=time.sleep, rand=random.random):
        self.stats = stats
        self.counters = counters
        self.timeout = timeout
        self.interval = interval
        self.max_interval = max_interval
        self.max_attempts = max_attempts
        self.wait_timeout = wait_timeout
        self.wait_interval = wait_interval
        self.max_relogins = max_relogins
        self.first_contact = first_contact
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.contacted = False   # the server answered once in this run
        self.on_wait = None      # callable(text): a wait worth showing (the module's progress)
        self._override = None

    def fork(self, stats):
        """The same loop for another connection of the same server (a worker thread), counting into ``stats``;
        it knows whether the server has answered."""
        other = RetryLoop(stats, self.counters, self.timeout, self.interval, self.max_interval, self.max_attempts,
                          self.wait_timeout, self.wait_interval, self.max_relogins, self.first_contact, self.clock,
                          self.sleep, self.rand)
        other.contacted = self.contacted
        return other

    @contextlib.contextmanager
    def shorter(self, seconds):
        """Calls inside give up on RETRY after ``seconds``: for callers with a wait loop of their own
        (a controller's reboot window) that want control back to report progress."""
        saved = self._override
        self._override = float(seconds)
        try:
            yield self
        finally:
            self._override = saved

    def _budget(self, timeout, shown):
        budget = sleeps(timeout, self.interval, clock=self.clock, sleep=self.sleep, backoff=2.0,
                        max_interval=self.max_interval, jitter=0.5, rand=self.rand, max_attempts=self.max_attempts,
                        before_sleep=shown)
        next(budget)  # the first attempt is immediate (already taken)
        return budget

    def _count(self, verdict):
        name = self.counters.get(verdict)
        if name:
            self.stats[name] = self.stats.get(name, 0) + 1

    def _network(self, problem):
        """What waiting can do about a network failure."""
        if problem.kind in FATAL_KINDS or (problem.kind == NAME and not self.contacted):
            return FAIL
        return RETRY

    def run(self, attempt, classify, network_error):
        """Call ``attempt()`` until ``classify`` says DONE; return the value it gives.

        ``attempt()`` sends once and returns the answer, or raises ``ConnectionProblem``.
        ``classify(answer)`` returns ``(DONE, value)`` or ``(verdict, error to raise when giving up)``.
        ``network_error(problem)`` returns the error for a network failure (see :func:`network_text`).
        Any other exception of ``attempt`` propagates at once.
        """
        transient = waits = None
        attempts = relogins = 0
        waiting = {}   # what the next sleep waits out (shown through on_wait)

        def show(seconds):
            if self.on_wait is not None and waiting.get("text"):
                self.on_wait("%s; retrying in %.0f s (attempt %d)" % (waiting["text"], seconds, attempts + 1))
        while True:
            attempts += 1
            try:
                answer = attempt()
            except ConnectionProblem as problem:
                verdict, error = self._network(problem), network_error(problem)
                first = problem.kind == REFUSED and not self.contacted
            else:
                self.contacted = True
                verdict, error = classify(answer)
                first = False
                if verdict == DONE:
                    return error
            if verdict == FAIL:
                raise error
            if verdict == RELOGIN:
                if relogins >= self.max_relogins:
                    raise error
                relogins += 1
                self._count(RELOGIN)
                continue
            waiting["text"] = error.msg if self.contacted else None
            if verdict == WAIT:
                if waits is None:
                    waits = sleeps(self.wait_timeout, self.wait_interval, clock=self.clock, sleep=self.sleep,
                                   backoff=1.5, max_interval=60.0, before_sleep=show)
                    next(waits)
                if next(waits, None) is None:
                    raise error
                self._count(WAIT)
                continue
            if transient is None:
                timeout = self.timeout if self._override is None else self._override
                transient = self._budget(min(timeout, self.first_contact) if first else timeout, show)
            if next(transient, None) is None:
                raise gave_up(error, attempts)
            self._count(RETRY)
