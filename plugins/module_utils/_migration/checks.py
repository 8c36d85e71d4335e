# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Pre-checks that fail closed. A provider answers each named check of an instance with one of:

- ``pass``: verified, and ``how`` names the vendor call (or documented rule) that verified it;
- ``fail``: verified not to hold, ``detail`` says why (the vendor's words where it has them);
- ``unknown``: the vendor does not say (no read-only call shows it, a field is missing, an answer
  was unexpected); ``how`` says what was tried. An unknown check blocks the migration like a
  failed one, unless the operator accepts that check by name (``accept_unverified``): it is then
  reported ``accepted``;
- ``skipped``: not run because the operator turned it off (``capacity_check: false``).

A richer answer than the vendor documents may turn ``unknown`` into ``fail`` (it reports a
problem), never into ``pass`` unless the provider says which field it read and that the field is
not documented.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PASS = "pass"
FAIL = "fail"
UNKNOWN = "unknown"
ACCEPTED = "accepted"
SKIPPED = "skipped"


def check(name, result, how, detail=None):
    """One pre-check result."""
    return {"name": name, "result": result, "how": how, "detail": detail}


def settle(checks, accepted):
    """Mark the unknown checks the operator accepted; return the blocking ones (failed, or unknown and not
    accepted), in order."""
    blocking = []
    for item in checks:
        if item["result"] == UNKNOWN and item["name"] in (accepted or ()):
            item["result"] = ACCEPTED
        if item["result"] in (FAIL, UNKNOWN):
            blocking.append(item)
    return blocking


def describe(item):
    """A check as one line of a message."""
    if item["result"] == FAIL:
        return "%s failed: %s" % (item["name"], item["detail"] or item["how"])
    if item["result"] == UNKNOWN:
        return "%s unverified: %s (accept it with accept_unverified: [%s])" % (
            item["name"], item["detail"] or item["how"], item["name"])
    return "%s %s: %s" % (item["name"], item["result"], item["detail"] or item["how"])


def describe_blocking(blocking):
    return "; ".join(describe(item) for item in blocking)


def unknown_names(names, known):
    """The names of ``names`` that are no check of the provider (``known``)."""
    return [n for n in names or () if n not in known]
