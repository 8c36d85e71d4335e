"""plugin_utils.inputs: the strict checks behind fleetops.maintenance.check_inputs (the playbooks and roles use them
end to end, tests/integration/test_refuse_bad_input.py); here, every rule and its message."""
import os

import pytest

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.inputs import RuleError, check

RULES = {
    "service_engine": {"type": "name", "required": True, "description": "name or uuid of the SE"},
    "state": {"choices": ["disabled", "enabled"], "default": "disabled"},
    "concurrency": {"type": "int", "min": 1, "default": 4},
    "verify": {"type": "bool", "default": True},
}


@pytest.mark.parametrize("given, problem", [
    ({}, "service_engine (name or uuid of the SE) is required"),
    ({"service_engine": ""}, "service_engine (name or uuid of the SE) is required"),
    ({"service_engine": "   "}, "service_engine is blank: give service_engine (name or uuid of the SE)"),
    ({"service_engine": " se-1"}, "service_engine must not begin or end with spaces, got ' se-1'"),
    ({"service_engine": True}, "service_engine must be text, got true"),
    ({"state": "off"}, "state must be one of disabled, enabled; got 'off'"),
    ({"concurrency": "abc"}, "concurrency must be a whole number 1 or more, got 'abc'"),
    ({"concurrency": "4.5"}, "concurrency must be a whole number 1 or more, got '4.5'"),
    ({"concurrency": 4.5}, "concurrency must be a whole number 1 or more, got 4.5"),
    ({"concurrency": True}, "concurrency must be a whole number 1 or more, got true"),
    ({"concurrency": 0}, "concurrency must be 1 or more, got 0"),
    ({"verify": "flase"}, "verify must be true or false (also yes/no, on/off, 1/0), got 'flase'"),
    ({"verify": "yes please"}, "verify must be true or false (also yes/no, on/off, 1/0), got 'yes please'"),
    ({"verify": 2}, "verify must be true or false (also yes/no, on/off, 1/0), got 2"),
])
def test_each_problem_names_the_input_and_what_it_accepts(given, problem):
    values = dict({"service_engine": "se-1"}, **given) if "service_engine" not in given and given else given
    _checked, problems = check(RULES, values)
    assert problems == [problem]


def test_values_are_converted_and_defaults_applied():
    checked, problems = check(RULES, {"service_engine": "se-1", "concurrency": "8", "verify": "Off"})
    assert problems == [] and checked == {"service_engine": "se-1", "state": "disabled", "concurrency": 8,
                                          "verify": False}
    for word, value in (("yes", True), ("on", True), ("1", True), ("TRUE", True), ("no", False), ("0", False)):
        assert check({"b": {"type": "bool"}}, {"b": word})[0]["b"] is value
    assert check({"n": {"type": "int"}}, {"n": ""}) == ({"n": None}, [])          # an unanswered survey question


def test_files_read_and_written_are_checked_first(tmp_path):
    readable = tmp_path / "check.yml"
    readable.write_text("---\n")
    rules = {"tasks": {"type": "path", "readable": True}, "report": {"type": "path", "writable": True}}
    assert check(rules, {"tasks": str(readable), "report": str(tmp_path / "r.json")})[1] == []
    _checked, problems = check(rules, {"tasks": str(tmp_path / "nope.yml"), "report": str(tmp_path / "no" / "r.json")})
    assert problems == ["tasks: %s does not exist" % (tmp_path / "nope.yml"),
                        "report: the directory %s does not exist" % (tmp_path / "no")]
    assert check(rules, {"tasks": str(tmp_path)})[1] == ["tasks: %s is not a file" % tmp_path]
    assert check(rules, {"report": str(tmp_path)})[1] == [
        "report: %s is a directory; give the path of a file in it" % tmp_path]
    if os.geteuid() != 0:                    # root reads and writes anything
        readable.chmod(0)
        assert check(rules, {"tasks": str(readable)})[1] == ["tasks: %s is not readable" % readable]


def test_conditions_between_inputs():
    rules = {"provider": {"choices": ["triton", "virtfusion"], "default": "triton"},
             "hypervisor": {"type": "name", "required_when": {"provider": "virtfusion"}},
             "destination": {"type": "name", "required_when": {"provider": "virtfusion"}, "differs_from": "hypervisor"},
             "to_se": {"type": "name"}, "to_new_se": {"type": "bool", "default": False}}
    assert check(rules, {})[1] == []
    assert check(rules, {"provider": "virtfusion"})[1] == ["hypervisor is required with provider=virtfusion",
                                                           "destination is required with provider=virtfusion"]
    assert check(rules, {"provider": "virtfusion", "hypervisor": "hv-a", "destination": "hv-a"})[1] == [
        "destination must differ from hypervisor (both 'hv-a')"]
    assert check(rules, {"provider": "vf"})[1] == ["provider must be one of triton, virtfusion; got 'vf'"]
    assert check(rules, {"to_se": "se-1", "to_new_se": "true"}, [["to_se", "to_new_se"]])[1] == [
        "give at most one of to_se, to_new_se (got to_se and to_new_se)"]
    assert check(rules, {"to_se": "se-1", "to_new_se": "false"}, [["to_se", "to_new_se"]])[1] == []


def test_a_rule_that_is_not_one_is_the_playbook_s_mistake():
    with pytest.raises(RuleError, match="x: unknown rule"):
        check({"x": {"typo": 1}}, {})
    with pytest.raises(RuleError, match="x: type must be one of"):
        check({"x": {"type": "float"}}, {"x": 1})
    with pytest.raises(RuleError, match="names y, which is not an input"):
        check({"x": {"required_when": {"y": 1}}}, {})


def test_a_wrong_value_that_may_come_from_the_environment_names_both_places():
    rules = {"avi_ca_path": {"type": "path", "readable": True, "env": "AVI_CA_PATH"},
             "avi_controller": {"required": True, "env": "AVI_CONTROLLER", "description": "the controller"}}
    _checked, problems = check(rules, {"avi_ca_path": "/nonexistent/ca.pem"})
    assert problems == [
        "avi_ca_path: /nonexistent/ca.pem does not exist (set by the extra var avi_ca_path or, without it, the "
        "environment variable AVI_CA_PATH)",
        "avi_controller (the controller; or set the environment variable AVI_CONTROLLER) is required"]


def test_a_yaml_list_is_a_list_or_its_yaml_text():
    rules = {"budgets": {"type": "yaml_list", "default": []}}
    budget = [{"name": "db", "pattern": "db-*", "max_moving": 1}]
    assert check(rules, {}) == ({"budgets": []}, [])                            # not given, or an empty survey answer
    assert check(rules, {"budgets": ""}) == ({"budgets": []}, [])
    assert check(rules, {"budgets": budget}) == ({"budgets": budget}, [])        # -e '{"budgets": [...]}', a vars file
    assert check(rules, {"budgets": "[{name: db, pattern: 'db-*', max_moving: 1}]"}) == ({"budgets": budget}, [])
    assert check(rules, {"budgets": "- {name: db, pattern: 'db-*', max_moving: 1}\n"}) == ({"budgets": budget}, [])
    _checked, problems = check(rules, {"budgets": "[{name:"})                   # -e budgets=[{name: db, ...} cut at a space
    assert len(problems) == 1 and problems[0].startswith("budgets is not valid YAML: "), problems
    assert check(rules, {"budgets": "db"})[1] == ["budgets must be a list (or its YAML text), got 'db'"]
    assert check(rules, {"budgets": {"name": "db"}})[1][0].startswith("budgets must be a list (or its YAML text)")
