# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A clock whose sleep only moves time forward, so waits and backoffs run instantly in tests.

(Not a vendor's emulation: the retry loops' and waits' time, injected.)"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class FakeClock(object):
    def __init__(self, start=100.0):
        self.now = start
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
