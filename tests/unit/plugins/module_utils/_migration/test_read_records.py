# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""read_records: an evacuation's first reads of every instance's migration record, as many at once as the window
runs, by forks the window's workers then reuse."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.provider import MigrationError
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.window import read_records


class SlowProvider(object):
    """record() takes `delay` seconds; counts the forks and the most reads at once."""

    def __init__(self, delay=0.05, fail=(), shared=None):
        self.delay = delay
        self.fail = fail
        self.shared = shared if shared is not None else {"forks": 0, "now": 0, "peak": 0, "lock": threading.Lock()}

    def fork(self):
        with self.shared["lock"]:
            self.shared["forks"] += 1
        return SlowProvider(self.delay, self.fail, self.shared)

    def record(self, inst):
        s = self.shared
        with s["lock"]:
            s["now"] += 1
            s["peak"] = max(s["peak"], s["now"])
        time.sleep(self.delay)
        with s["lock"]:
            s["now"] -= 1
        if inst["id"] in self.fail:
            raise MigrationError("%s: cannot read" % inst["id"])
        return "rec-%s" % inst["id"]


INSTANCES = [{"id": n} for n in range(8)]


def test_records_come_back_in_order_read_at_most_the_window_width_at_once():
    prov = SlowProvider()
    started = time.monotonic()
    records, forks = read_records(prov, INSTANCES, 4)
    took = time.monotonic() - started
    assert records == ["rec-%d" % n for n in range(8)]
    assert prov.shared["peak"] == 4 and prov.shared["forks"] == 4 and len(forks) == 4
    assert took < 8 * prov.delay   # not one after the other


def test_a_window_of_one_reads_one_after_the_other_without_forks():
    prov = SlowProvider(delay=0.0)
    records, forks = read_records(prov, INSTANCES, 1)
    assert records == ["rec-%d" % n for n in range(8)] and forks == [] and prov.shared["forks"] == 0
    assert prov.shared["peak"] == 1


def test_the_first_failed_read_in_order_is_raised_after_every_read_ended():
    prov = SlowProvider(fail=(5, 2))
    with pytest.raises(MigrationError, match="^2: cannot read"):
        read_records(prov, INSTANCES, 3)
    assert prov.shared["now"] == 0
