# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

What every module of the collection does with its input before it changes anything: a clean
failure carrying the partial result (:class:`ModuleFailure`), numbers in range, names and uuids
that are not empty, lookups that say which names come closest, files that can be read. Every
refusal names the option and what is accepted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os
import ssl


class ModuleFailure(Exception):
    """Fail the module with ``msg`` and the partial ``result`` gathered so far."""

    def __init__(self, msg, **result):
        super(ModuleFailure, self).__init__(msg)
        self.msg = msg
        self.result = result

    @classmethod
    def before_any_change(cls, msg, result):
        """A failure before the run's first change: ``result`` (its plan so far) goes with it, ``changed`` false."""
        refused = dict(result)
        refused["changed"] = False
        return cls(msg, **refused)


# Options that must be positive numbers (or at least 0), whichever module has them.
POSITIVE_OPTIONS = ("timeout", "concurrency", "api_timeout")
NON_NEGATIVE_OPTIONS = ("wait_sleep",)


def check_positive(module):
    """Fail, naming the option, when a count or duration is out of range."""
    for name in POSITIVE_OPTIONS:
        value = module.params.get(name)
        if value is not None and value <= 0:
            module.fail_json(msg="%s must be a positive number, got %s" % (name, value))
    for name in NON_NEGATIVE_OPTIONS:
        value = module.params.get(name)
        if value is not None and value < 0:
            module.fail_json(msg="%s must be 0 or more, got %s" % (name, value))


def blank_names(params, options):
    """The messages for each of ``options`` (names of str or list options) given empty or blank: an
    empty name would match nothing, or, in a lookup that filters by it, everything."""
    problems = []
    for option in options:
        value = params.get(option)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if not values and isinstance(value, list):
            problems.append("%s must list at least one name or uuid" % option)
        elif any(not str(v).strip() for v in values):
            problems.append("%s must not be empty or blank: give a name or uuid (got %r)" % (option, value))
    return problems


def check_names(module, options):
    """Fail the module, naming the options, when any of them is given empty or blank."""
    problems = blank_names(module.params, options)
    if problems:
        module.fail_json(msg="; ".join(problems))


def closest(value, candidates, count=5):
    """The few candidates closest to ``value`` (by spelling), for a message; the first ones otherwise."""
    names = sorted(set(str(c) for c in candidates if c not in (None, "")))
    scored = sorted((-difflib.SequenceMatcher(None, str(value), name).ratio(), name) for name in names)
    near = [name for score, name in scored if -score >= 0.6][:count]
    return near or names[:count]


def not_found(kind, value, candidates, option=None, count=5):
    """The message of a name that matches nothing: the option, the value, and the closest names."""
    names = sorted(set(str(c) for c in candidates if c not in (None, "")))
    near = closest(value, names, count)
    return "%s%s '%s' not found; %s: %s" % (
        "%s: " % option if option else "", kind, value,
        "closest of %d known" % len(names) if len(names) > len(near) else "known", ", ".join(near) or "none")


def readable_file(path, setting):
    """``ValueError`` naming ``setting`` unless ``path`` is a file this process can read."""
    if not os.path.isfile(path):
        raise ValueError("%s: %s is not a file%s" % (setting, path, "" if os.path.exists(path) else " (it does not exist)"))
    try:
        with open(path, "rb") as stream:
            stream.read(1)
    except (IOError, OSError) as exc:
        raise ValueError("%s: %s cannot be read: %s" % (setting, path, exc.strerror or exc))


def ca_file(path, setting):
    """``ValueError`` naming ``setting`` unless ``path`` is a readable PEM file of CA certificates, as
    the TLS context will load it."""
    readable_file(path, setting)
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError("%s: %s holds no PEM certificate (%s): give the CA certificate(s) that signed the server's "
                         "certificate, in PEM" % (setting, path, getattr(exc, "reason", None) or exc))
