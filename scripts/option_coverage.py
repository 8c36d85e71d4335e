#!/usr/bin/env python
"""Option coverage: every option, choice and state of every shipped module and every role variable with
choices, and the end-to-end tests (playbooks run against the lab) that exercised it.

What exists is read from the installed collection with ``ansible-doc`` (each module's documented options, which
sanity holds equal to its argument_spec; each role's meta/argument_specs.yml), so a new option, choice or module
appears here by itself.

What was exercised is read from the job events ansible-runner recorded for the integration tests (run with
``ANSIBLE_INJECT_INVOCATION=1``, so each task result carries the module arguments it actually ran with, after
templating, defaults and environment fallbacks; ``no_log`` values masked). Only results that did not fail count:
a refused or failed task did not show the option working. Entries:

- ``module:option=value`` for each choice of an option with choices (``state`` among them) and for ``true`` and
  ``false`` of a boolean: exercised when a task ran with that value (the default counts: it was in effect);
- ``module:option`` for any other option: exercised when a task ran with a value other than its default
  (``None`` when it has none); suboptions are ``module:option.suboption``;
- ``role:variable=value`` for each choice of a role variable with choices (booleans too): exercised when the
  role's argument validation passed in a job whose extra vars gave the variable that value, by its own name, by
  its name without the role's prefix, or by the input a collection playbook hands it (``upgrade_strategy`` for
  ``rolling_upgrade_strategy``); a variable not given counts as its default. (ansible-core records no role
  variable in the job events; the extra vars are the job's input.)

An entry the lab cannot reach is named, with the reason, in tests/coverage/option_coverage.yml (``unreachable``,
reviewed like code). The figure is (exercised + unreachable) / all. The command fails when the figure is below
the ``floor`` recorded there (100 when every gap is closed), when an exemption names no entry any more, or when
no job events were found.

Usage: option_coverage.py [--events DIR]... [--config FILE] [--json FILE]
"""
import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = "fleetops.maintenance"
TESTS = ("tests/integration", "tests/awx", "tests/lab")


def ansible_doc(*args):
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".collections"))
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    out = subprocess.run([exe if os.path.exists(exe) else "ansible-doc", "--json"] + list(args), env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def option_entries(owner, options, prefix=""):
    """(entry, option path, value or None, default) for each option (recursively for suboptions)."""
    for name, spec in sorted((options or {}).items()):
        path = prefix + name
        choices = spec.get("choices")
        if isinstance(choices, dict):
            choices = list(choices)
        if spec.get("type") == "bool" and not choices:
            choices = [True, False]
        if choices:
            for choice in choices:
                yield "%s:%s=%s" % (owner, path, _text(choice)), path, choice, spec.get("default")
        else:
            yield "%s:%s" % (owner, path), path, None, spec.get("default")
        if spec.get("options"):
            yield from option_entries(owner, spec["options"], path + ".")


def _text(value):
    return json.dumps(value) if isinstance(value, bool) else str(value)


def inventory():
    """{entry: (kind, owner, option path, value, default)} for every module option and role variable choice."""
    entries = {}
    modules = sorted(ansible_doc("-t", "module", "-l", COLLECTION))
    docs = ansible_doc("-t", "module", *modules)
    for fqcn in modules:
        short = fqcn.rsplit(".", 1)[1]
        for entry, path, value, default in option_entries(short, docs[fqcn]["doc"].get("options")):
            entries[entry] = ("module", fqcn, path, value, default)
    roles = sorted(ansible_doc("-t", "role", "-l", COLLECTION))
    docs = ansible_doc("-t", "role", *roles)
    for fqcn in roles:
        short = fqcn.rsplit(".", 1)[1]
        # a variable of several entry points (a role's main and the task files other plays include) is one entry
        for _entry_point, spec in sorted(docs.get(fqcn, {}).get("entry_points", {}).items()):
            for entry, path, value, default in option_entries(short, spec.get("options")):
                if value is not None and "." not in path:  # role variables with choices (booleans included)
                    entries.setdefault(entry, ("role", fqcn, path, value, default))
    return entries


def _lookup(args, path):
    value = args
    for part in path.split("."):
        if isinstance(value, list):  # list of dicts: any element's value
            values = [v.get(part) for v in value if isinstance(v, dict) and v.get(part) is not None]
            value = values[0] if values else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _given(value):
    """Whether a value was given: not None, not empty, not a dict of suboptions none of which was given."""
    if isinstance(value, dict):
        return any(_given(v) for v in value.values())
    return value is not None and value != []


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (str(a).lower() == str(b).lower())
    return a == b or str(a) == str(b)


class Tests:
    """Maps the pytest temporary directory an event lies under (the test's name, cut at 30 characters by pytest)
    back to the test it belongs to."""

    def __init__(self):
        self.names = collections.defaultdict(set)
        for base in TESTS:
            for path in sorted(glob.glob(os.path.join(ROOT, base, "test_*.py"))):
                with open(path) as stream:
                    for name in re.findall(r"^def (test_\w+)", stream.read(), re.M):
                        self.names[name[:30]].add("%s::%s" % (os.path.relpath(path, ROOT), name))

    def name(self, event_file, events_dir):
        parts = os.path.relpath(event_file, events_dir).split(os.sep)
        # pytest-xdist gives each worker a directory of its own (gw0, gw1, ...) under the base temporary directory
        rel = parts[1] if len(parts) > 1 and re.match(r"^(popen-)?gw\d+$", parts[0]) else parts[0]
        stem = re.sub(r"\d+$", "", rel)
        for cut in (stem, stem[:30]):
            found = self.names.get(cut)
            if found and len(found) == 1:
                return next(iter(found))
        return rel


def _event_files(events_dir):
    """The job event files under events_dir (os.walk: pytest's ``*current`` links are not followed twice)."""
    for base, _dirs, files in os.walk(events_dir):
        if os.path.basename(base) == "job_events":
            for name in files:
                if name.endswith(".json"):
                    yield os.path.join(base, name)


_EXTRA_VARS = {}


def playbook_names():
    """{role variable: the names the collection's playbooks take it by} where a playbook hands a role variable an
    input of another name (``rolling_upgrade_strategy: "{{ checked.inputs.upgrade_strategy }}"``)."""
    names = collections.defaultdict(set)
    for path in sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        with open(path) as stream:
            for var, name in re.findall(r"^\s+(\w+):\s*[\"']?\{\{\s*checked\.inputs\.(\w+)", stream.read(), re.M):
                names[var].add(name)
    return names


def _extra_vars(event_file):
    """The extra vars of the job an event belongs to: ansible-runner's private data dir holds them in
    env/extravars (PRIVATE/artifacts/IDENT/job_events/EVENT.json)."""
    cache = _EXTRA_VARS
    private = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(event_file))))
    if private not in cache:
        try:
            with open(os.path.join(private, "env", "extravars")) as stream:
                cache[private] = yaml.safe_load(stream) or {}
        except (OSError, ValueError, yaml.YAMLError):
            cache[private] = {}
    return cache[private]


def exercised(entries, events_dirs):
    """{entry: set of tests} for the entries the recorded job events show exercised; and how many results read.

    A module entry: from the module arguments of a task result that did not fail. A role variable: from a passed
    argument validation of the role, with the value the job's extra vars give the variable (by its own name, or
    by the name the collection's playbooks give it: without the role's prefix), its default when they give none.
    """
    tests = Tests()
    seen = collections.defaultdict(set)
    by_module = collections.defaultdict(list)
    by_role = collections.defaultdict(list)
    for entry, (kind, owner, path, value, default) in entries.items():
        (by_module if kind == "module" else by_role)[owner].append((entry, path, value, default))
    results = 0
    aliases = playbook_names()
    for events_dir in events_dirs:
        for event_file in _event_files(events_dir):
            try:
                with open(event_file) as stream:
                    event = json.load(stream)
            except (OSError, ValueError):
                continue
            if event.get("event") != "runner_on_ok":
                continue
            data = event.get("event_data") or {}
            res = data.get("res") or {}
            if res.get("failed"):
                continue
            action = data.get("resolved_action") or data.get("task_action") or ""
            if action in by_module:
                args = (res.get("invocation") or {}).get("module_args")
                if args is None:
                    continue
                results += 1
                test = tests.name(event_file, events_dir)
                for entry, path, value, default in by_module[action]:
                    got = _lookup(args, path)
                    if value is not None:
                        hit = _same(got, value) or (isinstance(got, list) and any(_same(g, value) for g in got))
                    else:
                        hit = _given(got) and not _same(got, default)
                    if hit:
                        seen[entry].add(test)
            elif action == "ansible.builtin.validate_argument_spec":
                role = data.get("resolved_role") or ""
                if role not in by_role:
                    continue
                results += 1
                test = tests.name(event_file, events_dir)
                extra = _extra_vars(event_file)
                prefix = role.rsplit(".", 1)[-1] + "_"
                for entry, path, value, default in by_role[role]:
                    short = path[len(prefix):] if path.startswith(prefix) else path
                    given = [n for n in [path, short] + sorted(aliases.get(path, ())) if n in extra]
                    got = extra[given[0]] if given else default
                    if _same(got, value):
                        seen[entry].add(test)
    return seen, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--events", action="append", help="directory searched for ansible-runner job_events "
                        "(default: build/pytest, where scripts/test.sh keeps the pytest stage's runs)")
    parser.add_argument("--config", default=os.path.join(ROOT, "tests", "coverage", "option_coverage.yml"))
    parser.add_argument("--json", help="also write the table (entry -> tests, or the reason it is unreachable)")
    parser.add_argument("--verbose", "-v", action="store_true", help="list the tests of every exercised entry")
    opts = parser.parse_args()
    events_dirs = opts.events or [os.path.join(ROOT, "build", "pytest")]
    with open(opts.config) as stream:
        config = yaml.safe_load(stream) or {}
    unreachable = config.get("unreachable") or {}
    floor = float(config.get("floor", 100))

    entries = inventory()
    seen, results = exercised(entries, events_dirs)
    problems = []
    if not results:
        problems.append("no module results with their arguments under %s: run the pytest stage first "
                        "(scripts/test.sh pytest, which sets ANSIBLE_INJECT_INVOCATION)" % ", ".join(events_dirs))
    stale = sorted(set(unreachable) - set(entries))
    for entry in stale:
        problems.append("exemption for an entry that does not exist (any more): %s" % entry)
    for entry, reason in sorted(unreachable.items()):
        if not str(reason or "").strip():
            problems.append("exemption without a reason: %s" % entry)

    table = {}
    gaps = []
    owners = collections.OrderedDict()
    for entry in sorted(entries):
        owner = entry.split(":", 1)[0]
        owners.setdefault(owner, [0, 0, 0])[2] += 1
        if seen.get(entry):
            owners[owner][0] += 1
            table[entry] = sorted(seen[entry])
            if entry in unreachable:
                print("note: %s is exempted as unreachable but was exercised by %s: drop the exemption"
                      % (entry, sorted(seen[entry])[0]))
        elif entry in unreachable:
            owners[owner][1] += 1
            table[entry] = "unreachable: %s" % unreachable[entry]
        else:
            gaps.append(entry)
            table[entry] = None

    total = len(entries)
    hit = sum(1 for e in entries if seen.get(e))
    exempted = sum(1 for e in entries if not seen.get(e) and e in unreachable)
    figure = 100.0 * (hit + exempted) / total if total else 100.0
    print("option coverage by end-to-end tests (%d module and role results read from the job events)" % results)
    for owner, (h, x, n) in owners.items():
        print("  %-28s %3d/%-3d exercised, %2d unreachable  %5.1f%%" % (owner, h, n, x, 100.0 * (h + x) / n))
    if opts.verbose:
        for entry in sorted(entries):
            if seen.get(entry):
                print("  + %s  <- %s" % (entry, ", ".join(sorted(seen[entry])[:3])))
    for entry in sorted(e for e in entries if not seen.get(e) and e in unreachable):
        print("  ~ %s  (unreachable: %s)" % (entry, " ".join(str(unreachable[entry]).split())))
    for entry in gaps:
        print("  - %s  (no end-to-end test)" % entry)
    print("option coverage: %.1f%% (%d exercised + %d unreachable of %d; %d gaps); floor %.1f%%"
          % (figure, hit, exempted, total, len(gaps), floor))
    if opts.json:
        with open(opts.json, "w") as stream:
            json.dump({"figure": figure, "floor": floor, "entries": table}, stream, indent=1, sort_keys=True)
    if figure + 1e-9 < floor:
        problems.append("option coverage %.1f%% is below the floor %.1f%% (tests/coverage/option_coverage.yml)"
                        % (figure, floor))
    for problem in problems:
        print("FAIL: " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
