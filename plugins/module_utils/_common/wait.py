# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

One reusable waiting piece: a generator of sleeps bounded by a clock and a timeout.

``sleeps()`` yields the attempt number, then sleeps before the next attempt, and stops when
the time budget is spent. ``wait_until()`` polls a condition with it. The API client's retry
policy uses the same generator with exponential backoff and jitter. Clock and sleep are
injectable so tests run instantly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time


class WaitTimeout(Exception):
    """The condition did not become true within the time budget."""

    def __init__(self, msg, last=None, elapsed=None):
        super(WaitTimeout, self).__init__(msg)
        self.msg = msg
        self.last = last
        self.elapsed = elapsed


def sleeps(timeout, interval, clock=time.monotonic, sleep=time.sleep, backoff=1.0,
           max_interval=None, jitter=0.0, rand=random.random, max_attempts=None, before_sleep=None):
    """Yield 0, 1, 2, ... sleeping between yields; stop once ``timeout`` seconds have passed.

    The first attempt is immediate. Each sleep is ``interval * backoff ** n`` capped by
    ``max_interval``, reduced by up to ``jitter`` (a fraction, 0.0-1.0) at random, and never
    longer than the time left. ``max_attempts`` also bounds the number of yields.
    ``before_sleep(seconds)``, when given, is told each sleep before it starts.
    """
    start = clock()
    deadline = start + max(0.0, float(timeout))
    delay = float(interval)
    attempt = 0
    while True:
        yield attempt
        attempt += 1
        if max_attempts is not None and attempt >= max_attempts:
            return
        remaining = deadline - clock()
        if remaining <= 0:
            return
        pause = delay
        if max_interval is not None:
            pause = min(pause, float(max_interval))
        if jitter:
            pause = pause * (1.0 - float(jitter) * rand())
        pause = max(0.0, min(pause, remaining))
        if before_sleep is not None:
            before_sleep(pause)
        sleep(pause)
        delay = delay * float(backoff)


FIRST_POLL = 0.25
POLL_BACKOFF = 1.5


def poll_sleeps(timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Sleeps for polling an operation: start at FIRST_POLL seconds, grow to ``interval``.

    A short operation is seen finished within a fraction of a second, a long one is polled
    every ``interval`` seconds (the ``wait_sleep`` option).
    """
    interval = float(interval)
    return sleeps(timeout, min(FIRST_POLL, interval), clock=clock, sleep=sleep,
                  backoff=POLL_BACKOFF, max_interval=interval)


def wait_until(condition, timeout, interval, clock=time.monotonic, sleep=time.sleep,
               what="condition"):
    """Call ``condition()`` until it returns a truthy value, and return that value.

    Raises :class:`WaitTimeout` (carrying the last falsy result) when ``timeout`` passes.
    Exceptions from ``condition`` propagate: a condition that knows the wait is hopeless
    (e.g. an operation failed) raises.
    """
    start = clock()
    last = None
    for _attempt in poll_sleeps(timeout, interval, clock=clock, sleep=sleep):
        last = condition()
        if last:
            return last
    elapsed = clock() - start
    raise WaitTimeout("timed out after %.0f seconds waiting for %s" % (elapsed, what),
                      last=last, elapsed=elapsed)
