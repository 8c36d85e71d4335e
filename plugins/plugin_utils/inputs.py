# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strict checks of the variables an operator gives a playbook or a role, before anything changes.

``check(rules, values)`` takes the rules of each input (``type``, ``required``, ``choices``, ``min``...,
see ``RULE_KEYS``) and the values given (a missing name: not given), and returns the checked values
(converted, defaults applied) and the problems, each naming the input as the operator typed it and
saying what is accepted. It is stricter than Ansible's own conversions, which read ``flase`` or
``yes please`` as a boolean and ``4.5`` or ``abc`` as a whole number without a word.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

TYPES = ("str", "name", "int", "bool", "path", "dict", "list", "yaml_list")
RULE_KEYS = ("type", "required", "required_when", "choices", "min", "max", "default", "description", "value", "env",
             "readable", "writable", "differs_from")
TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
INTEGER = re.compile(r"^[+-]?[0-9]+$")
NOT_GIVEN = object()


class RuleError(ValueError):
    """A rule that is not one (a mistake of the playbook or role, not of the operator)."""


def _shown(value):
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _what(name, rule):
    extra = []
    if rule.get("description"):
        extra.append(rule["description"])
    if rule.get("env"):
        extra.append("or set the environment variable %s" % rule["env"])
    return "%s%s" % (name, " (%s)" % "; ".join(extra) if extra else "")


def _span(rule):
    low, high = rule.get("min"), rule.get("max")
    if low is None and high is None:
        return ""
    return ("from %s to %s" % (low, high) if low is not None and high is not None
            else "%s or more" % low if low is not None else "%s or less" % high)


def _convert(name, kind, value, rule):
    """(converted value, problem or None)."""
    if kind in ("str", "name", "path"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None, "%s must be text, got %s" % (name, _shown(value))
        text = str(value)
        if kind == "name" and text != text.strip():
            return None, "%s must not begin or end with spaces, got %r" % (name, text)
        return text, None
    if kind == "int":
        span = _span(rule)
        wrong = "%s must be a whole number%s, got %s" % (name, " " + span if span else "", _shown(value))
        if isinstance(value, bool):
            return None, wrong
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        if isinstance(value, str) and INTEGER.match(value):
            return int(value), None
        return None, wrong
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
            return value.strip().lower() in TRUE, None
        return None, "%s must be true or false (also yes/no, on/off, 1/0), got %s" % (name, _shown(value))
    if kind == "dict":
        return (value, None) if isinstance(value, dict) else (None, "%s must be a dictionary" % name)
    if kind == "list":
        return (value, None) if isinstance(value, list) else (None, "%s must be a list" % name)
    if kind == "yaml_list":
        # a list given as structured data (-e '{"x": [...]}', a vars file) or as its YAML text (-e "x=[...]", an
        # AWX survey's text answer)
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                return None, "%s is not valid YAML: %s" % (name, " ".join(str(exc).split()))
        return (value, None) if isinstance(value, list) else (
            None, "%s must be a list (or its YAML text), got %s" % (name, _shown(value)))
    raise RuleError("%s: type must be one of %s, got %r" % (name, ", ".join(TYPES), kind))


def _path_problem(name, path, rule):
    """What is wrong with a file the run reads (``readable``) or writes (``writable``)."""
    if rule.get("readable"):
        if not os.path.exists(path):
            return "%s: %s does not exist" % (name, path)
        if not os.path.isfile(path):
            return "%s: %s is not a file" % (name, path)
        if not os.access(path, os.R_OK):
            return "%s: %s is not readable" % (name, path)
    if rule.get("writable"):
        directory = os.path.dirname(path)
        if os.path.isdir(path):
            return "%s: %s is a directory; give the path of a file in it" % (name, path)
        if not os.path.isdir(directory):
            return "%s: the directory %s does not exist" % (name, directory)
        if not os.access(directory, os.W_OK | os.X_OK):
            return "%s: the directory %s is not writable" % (name, directory)
    return None


def _one(name, rule, raw, required):
    """(checked value, problem or None) for one input."""
    kind = rule.get("type", "str")
    if kind not in TYPES:
        raise RuleError("%s: type must be one of %s, got %r" % (name, ", ".join(TYPES), kind))
    blank = isinstance(raw, str) and raw.strip() == ""
    if raw is NOT_GIVEN or raw is None or raw == "":
        if required:
            return None, "%s is required%s" % (_what(name, rule), required if isinstance(required, str) else "")
        return rule.get("default"), None
    if blank:
        advice = "give " if required else "leave it out or give "
        return None, "%s is blank: %s%s" % (name, advice, _what(name, rule))
    value, problem = _convert(name, kind, raw, rule)
    if problem:
        return None, _where_set(problem, name, rule)
    if rule.get("choices") is not None and value not in rule["choices"]:
        return None, "%s must be one of %s; got %s" % (name, ", ".join(str(c) for c in rule["choices"]), _shown(raw))
    if kind == "int":
        low, high = rule.get("min"), rule.get("max")
        if low is not None and value < low or high is not None and value > high:
            return None, "%s must be %s%s, got %s" % (
                name, _span(rule), " (%s)" % rule["description"] if rule.get("description") else "", value)
    if kind == "path":
        value = os.path.abspath(os.path.expanduser(value))
        problem = _path_problem(name, value, rule)
        if problem:
            return None, _where_set(problem, name, rule)
    return value, None


def _where_set(problem, name, rule):
    """A problem with a value that may come from the environment: say both places the operator can fix it."""
    if not rule.get("env"):
        return problem
    return "%s (set by the extra var %s or, without it, the environment variable %s)" % (problem, name, rule["env"])


def _required(name, rule, checked, wrong):
    """True, False, or the condition that makes the input required (``required_when: {other: value}``, all of
    them; a list of values: any of those), as words for the message."""
    when = rule.get("required_when")
    if not when:
        return bool(rule.get("required"))
    if not isinstance(when, dict):
        raise RuleError("%s: required_when must map other inputs to values" % name)
    for other, wanted in when.items():
        if other not in checked:
            raise RuleError("%s: required_when names %s, which is not an input" % (name, other))
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if other in wrong or checked[other] not in wanted:
            return False
    return " with " + " and ".join("%s=%s" % (other, checked[other]) for other in when)


def check(rules, values, mutually_exclusive=()):
    """(checked values, problems): ``values`` maps input names to what was given (a name missing from it was
    not given); a rule's ``value`` takes the place of a given value (an input read through a vars file)."""
    checked, problems, wrong = {}, [], set()
    # the inputs that decide whether others are required first
    order = sorted(rules, key=lambda n: bool((rules[n] or {}).get("required_when")))
    for name in order:
        rule = rules[name] or {}
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            raise RuleError("%s: unknown rule(s) %s (rules: %s)" % (name, ", ".join(unknown), ", ".join(RULE_KEYS)))
        raw = rule["value"] if "value" in rule else values.get(name, NOT_GIVEN)
        checked[name], problem = _one(name, rule, raw, _required(name, rule, checked, wrong))
        if problem:
            problems.append(problem)
            wrong.add(name)
    checked = dict((name, checked[name]) for name in rules)
    for name, rule in rules.items():
        other = (rule or {}).get("differs_from")
        if other and checked.get(name) is not None and str(checked.get(name)) == str(checked.get(other)):
            problems.append("%s must differ from %s (both %s)" % (name, other, _shown(checked[name])))
    for names in mutually_exclusive or ():
        given = [n for n in names if checked.get(n) not in (None, "", False)]
        if len(given) > 1:
            problems.append("give at most one of %s (got %s)" % (", ".join(names), " and ".join(given)))
    return checked, problems
