# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Disruption budgets and anti-affinity (the ``budgets`` option, doc fragment ``fleetops.maintenance.budgets``).

The operator names groups of instances, servers or virtual services (a list of names, a name pattern, Triton
tags), each with a budget: at most ``max_moving`` of the group moving at once, and (``anti_affinity``) never two
members on one destination. Shared by the host evacuations (``_migration``: the window ``window.run_window`` asks
:class:`Gate` before it starts an instance, the target choice asks :meth:`Placer.avoid` which destinations already
hold, or will hold as placed in this run, another member) and the Avi SE evacuation and upgrade (``_avi.budgets``).
Nothing here is a vendor's: the groups are the operator's, where members run comes from the provider's listing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

SELECTORS = ("members", "pattern", "tags")
KEYS = ("name",) + SELECTORS + ("max_moving", "anti_affinity")


def budgets_argument_spec():
    """The ``budgets`` option (Ansible checks types and refuses unknown keys; :func:`problems` the rest)."""
    return dict(budgets=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        members=dict(type="list", elements="str"),
        pattern=dict(type="str"),
        tags=dict(type="dict"),
        max_moving=dict(type="int", default=1),
        anti_affinity=dict(type="bool", default=True),
    )))


def problems(budgets, provider_name):
    """Messages for every budget that is not well formed, each naming ``budgets[i]`` and what is accepted."""
    out, seen = [], set()
    for i, group in enumerate(budgets or []):
        where = "budgets[%d]" % i
        name = group.get("name")
        if not isinstance(name, str) or not name.strip():
            out.append("%s.name must be a non-empty group name" % where)
        elif name in seen:
            out.append("%s.name %s is used twice: group names are unique" % (where, name))
        else:
            seen.add(name)
            where = "budgets[%d] (%s)" % (i, name)
        given = [k for k in SELECTORS if group.get(k) not in (None, [], {}, "")]
        if len(given) != 1:
            out.append("%s must name its members one way: exactly one of members (a list of names), pattern (a "
                       "shell-style name pattern such as db-*) or tags (Triton: {key: value}); got %s" % (
                           where, ", ".join(given) if given else "none"))
        if group.get("members") is not None and any(not str(m).strip() for m in group["members"]):
            out.append("%s.members has an empty name" % where)
        if group.get("pattern") is not None and not str(group["pattern"]).strip():
            out.append("%s.pattern is empty" % where)
        if group.get("tags") and provider_name != "triton":
            out.append("%s.tags: provider=%s has no instance tags; use members or pattern" % (where, provider_name))
        if group.get("tags") is not None and any(not isinstance(k, str) or not k for k in group["tags"]):
            out.append("%s.tags keys must be non-empty strings" % where)
        if not isinstance(group.get("max_moving"), int) or group["max_moving"] < 1:
            out.append("%s.max_moving must be a positive number (at most that many members migrating at once), got "
                       "%s" % (where, group.get("max_moving")))
    return out


def _tag_match(want, have):
    have = have if isinstance(have, dict) else {}
    return all(k in have and str(have[k]).lower() == str(v).lower() for k, v in want.items())


class Budgets(object):
    """The operator's groups, matched against instances ({"id", "name", "tags"?})."""

    def __init__(self, budgets):
        self.groups = [dict(g) for g in budgets or []]

    def __bool__(self):
        return bool(self.groups)

    __nonzero__ = __bool__

    def groups_of(self, inst):
        """The names of the groups ``inst`` belongs to."""
        out = []
        for g in self.groups:
            if g.get("members") and (inst.get("name") in g["members"] or str(inst.get("id")) in g["members"]):
                out.append(g["name"])
            elif g.get("pattern") and fnmatch.fnmatchcase(str(inst.get("name")), g["pattern"]):
                out.append(g["name"])
            elif g.get("tags") and _tag_match(g["tags"], inst.get("tags")):
                out.append(g["name"])
        return out

    def group(self, name):
        return [g for g in self.groups if g["name"] == name][0]

    def anti_affine(self, inst):
        return [n for n in self.groups_of(inst) if self.group(n).get("anti_affinity", True)]

    def unmatched(self, everyone):
        """Groups given by members whose names match no instance the provider lists (a typo)."""
        names = set(str(i.get("name")) for i in everyone) | set(str(i.get("id")) for i in everyone)
        out = []
        for g in self.groups:
            missing = [m for m in g.get("members") or [] if m not in names]
            if missing:
                out.append("budgets group %s: member(s) %s match no instance (known: %s)" % (
                    g["name"], ", ".join(missing), ", ".join(sorted(names - set(str(i.get("id")) for i in everyone))[:20])))
        return out


class Placer(object):
    """Anti-affinity bookkeeping of one run: where every member of every group runs now (``everyone``: the
    provider's instances with their ``server``), updated as this run places members."""

    def __init__(self, budgets, everyone, moving_ids):
        self.budgets = budgets
        self.moving = set(moving_ids)
        self.where = {}   # group -> {server: [member names]}
        for inst in everyone:
            if inst.get("id") in self.moving:
                continue   # it leaves its server: counted where it is placed
            for g in budgets.anti_affine(inst):
                self.where.setdefault(g, {}).setdefault(inst.get("server"), []).append(inst.get("name"))

    def avoid(self, inst):
        """{server: why} the destinations ``inst`` must not go to (another member of one of its groups is there)."""
        out = {}
        for g in self.budgets.anti_affine(inst):
            for server, names in self.where.get(g, {}).items():
                others = [n for n in names if n != inst.get("name")]
                if others and server is not None:
                    out.setdefault(server, "group %s (anti_affinity): %s already there" % (g, ", ".join(others)))
        return out

    def place(self, inst, server):
        for g in self.budgets.anti_affine(inst):
            self.where.setdefault(g, {}).setdefault(server, []).append(inst.get("name"))


class Gate(object):
    """The window's budget check: an instance starts only while each of its groups has fewer than ``max_moving``
    members migrating. Thread-safe through the window's own lock (it calls these under it)."""

    def __init__(self, budgets, groups_by_key, names=None):
        self.names = names or {}             # window key -> instance name (for progress lines)
        self.limits = dict((g["name"], g.get("max_moving") or 1) for g in budgets.groups)
        self.groups_by_key = groups_by_key   # window key -> [group names]
        self.running = dict((g, 0) for g in self.limits)
        self.peak = dict((g, 0) for g in self.limits)

    def allows(self, key):
        return all(self.running[g] < self.limits[g] for g in self.groups_by_key.get(key, ()))

    def start(self, key):
        for g in self.groups_by_key.get(key, ()):
            self.running[g] += 1
            self.peak[g] = max(self.peak[g], self.running[g])

    def end(self, key):
        for g in self.groups_by_key.get(key, ()):
            self.running[g] -= 1


def schedule(keys, names, groups_by_key, limits, concurrency):
    """The order the window would start ``keys`` in, as rounds of equal-length migrations (a prediction: the
    window starts the next allowed one as soon as one ends, whatever their lengths). Returns [[names], ...]."""
    pending, rounds = list(keys), []
    while pending:
        running, started = dict((g, 0) for g in limits), []
        for key in list(pending):
            if len(started) >= concurrency:
                break
            groups = groups_by_key.get(key, ())
            if all(running[g] < limits[g] for g in groups):
                for g in groups:
                    running[g] += 1
                started.append(key)
                pending.remove(key)
        rounds.append([names.get(k, k) for k in started])
    return rounds
