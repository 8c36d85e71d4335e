# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_clock import FakeClock
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.wait import WaitTimeout, poll_sleeps, sleeps, wait_until


def test_sleeps_stop_at_timeout_and_never_oversleep():
    clk = FakeClock()
    attempts = list(sleeps(10, 3, clock=clk.clock, sleep=clk.sleep))
    assert attempts == [0, 1, 2, 3, 4]
    assert clk.slept == [3, 3, 3, 1]  # the last sleep is cut to the time left
    assert clk.now == 110.0


def test_sleeps_backoff_is_exponential_and_capped():
    clk = FakeClock()
    list(sleeps(1000, 1, clock=clk.clock, sleep=clk.sleep, backoff=2, max_interval=10, max_attempts=7))
    assert clk.slept == [1, 2, 4, 8, 10, 10]


def test_sleeps_jitter_only_shortens():
    clk = FakeClock()
    list(sleeps(1000, 4, clock=clk.clock, sleep=clk.sleep, jitter=0.5, rand=lambda: 1.0, max_attempts=3))
    assert clk.slept == [2.0, 2.0]


def test_wait_until_returns_the_truthy_value():
    clk = FakeClock()
    answers = iter([None, False, {"done": True}])
    assert wait_until(lambda: next(answers), 60, 5, clock=clk.clock, sleep=clk.sleep) == {"done": True}
    # polling starts fast and grows towards the interval
    assert clk.slept == [0.25, 0.375]


def test_poll_sleeps_grow_to_the_interval_and_stay_there():
    clk = FakeClock()
    list(poll_sleeps(30, 2, clock=clk.clock, sleep=clk.sleep))
    assert clk.slept[0] == 0.25
    growing = clk.slept[:-1]  # the last sleep is cut to the time left
    assert all(b >= a for a, b in zip(growing, growing[1:]))
    assert max(clk.slept) == 2
    assert sum(clk.slept) == pytest.approx(30)


def test_wait_until_times_out_with_last_value():
    clk = FakeClock()
    with pytest.raises(WaitTimeout) as err:
        wait_until(lambda: [], 12, 5, clock=clk.clock, sleep=clk.sleep, what="the SE")
    assert "the SE" in str(err.value)
    assert err.value.last == []
    assert clk.now == 112.0


def test_wait_until_propagates_condition_errors():
    def boom():
        raise RuntimeError("operation failed")

    with pytest.raises(RuntimeError):
        wait_until(boom, 60, 1, clock=lambda: 0, sleep=lambda s: None)
