"""scripts/option_coverage.py: which entries exist for an option, and which job events exercise them."""
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "..", "scripts", "option_coverage.py")
if not os.path.exists(SCRIPT):    # the ansible-core matrix runs tests/unit on the built tarball: no scripts/ there
    pytest.skip("scripts/option_coverage.py is part of the repository, not of the built collection",
                allow_module_level=True)
SPEC = importlib.util.spec_from_file_location("option_coverage", SCRIPT)
oc = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(oc)

OPTIONS = {
    "state": {"type": "str", "choices": ["disabled", "enabled"], "default": "disabled"},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 1800},
    "creds": {"type": "dict", "options": {"tenant": {"type": "str"}}},
}


def _entries():
    entries = dict((entry, ("module", "ns.col.mod", path, value, default))
                   for entry, path, value, default in oc.option_entries("mod", OPTIONS))
    entries["role:role_state=on"] = ("role", "ns.col.role", "role_state", "on", "off")
    entries["role:role_state=off"] = ("role", "ns.col.role", "role_state", "off", "off")
    return entries


def test_entries_per_choice_boolean_value_and_suboption():
    assert sorted(_entries()) == ["mod:creds", "mod:creds.tenant", "mod:state=disabled", "mod:state=enabled",
                                  "mod:timeout", "mod:wait=false", "mod:wait=true",
                                  "role:role_state=off", "role:role_state=on"]


def _job(tmp_path, test, events, extravars=None):
    private = tmp_path / test / "runner-x"
    job = private / "artifacts" / "ident" / "job_events"
    job.mkdir(parents=True)
    (private / "env").mkdir()
    (private / "env" / "extravars").write_text(json.dumps(extravars or {}))
    for i, event in enumerate(events):
        (job / ("%d.json" % i)).write_text(json.dumps(event))


def _ok(action, args=None, failed=False, role=None):
    res = {"failed": failed}
    if args is not None:
        res["invocation"] = {"module_args": args}
    return {"event": "runner_on_ok", "event_data": {"resolved_action": action, "resolved_role": role, "res": res}}


def test_exercised_from_the_module_arguments_and_role_extra_vars(tmp_path):
    _job(tmp_path, "test_a0", [
        _ok("ns.col.mod", {"state": "enabled", "wait": True, "timeout": 1800, "creds": {"tenant": None}}),
        _ok("ns.col.mod", {"state": "disabled", "wait": False, "timeout": 60}, failed=True),  # failed: not counted
        _ok("ns.col.mod", None),  # no invocation (INJECT_INVOCATION off): not counted
        _ok("ansible.builtin.validate_argument_spec", role="ns.col.role"),
    ], extravars={"state": "on"})
    seen, results = oc.exercised(_entries(), [str(tmp_path)])
    assert results == 2
    assert sorted(seen) == ["mod:state=enabled", "mod:wait=true", "role:role_state=on"]
    assert seen["mod:state=enabled"] == {"test_a0"}


def test_a_role_variable_given_by_the_playbook_input_that_feeds_it(tmp_path, monkeypatch):
    # the upgrade playbook hands rolling_upgrade_strategy its input upgrade_strategy (strategy is a play keyword)
    assert "upgrade_strategy" in oc.playbook_names()["rolling_upgrade_strategy"]
    monkeypatch.setattr(oc, "playbook_names", lambda: {"role_state": {"switch"}})
    _job(tmp_path, "test_b0", [_ok("ansible.builtin.validate_argument_spec", role="ns.col.role")],
         extravars={"switch": "on"})
    seen, _results = oc.exercised(_entries(), [str(tmp_path)])
    assert sorted(seen) == ["role:role_state=on"]
