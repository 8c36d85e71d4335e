# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Plan and run from one decision: a module compares what is with what is wanted once and gets a
list of :class:`Step`; check mode returns their texts (the plan), a run executes the same steps
in order. Nothing decides a second time, so check mode cannot promise what a run will not do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class Step(object):
    """One thing a run does: ``text`` as the plan shows it, ``run()`` doing it."""

    def __init__(self, text, run):
        self.text = text
        self.run = run

    def __repr__(self):
        return "Step(%r)" % self.text


def texts(steps):
    """The plan: what each step will do, in order."""
    return [step.text for step in steps]


def execute(steps, progress=None, phase="step"):
    """Run the steps in order (each shown in ``progress`` first when given)."""
    for step in steps:
        if progress is not None:
            progress.update(phase, step.text)
        step.run()
