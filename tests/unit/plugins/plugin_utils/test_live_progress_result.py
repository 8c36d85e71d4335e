"""plugin_utils.live_progress: a finished job's result is taken from the job file the last poll read; it must be what
async_status's round trip returned (the module's JSON with ``finished`` and ``ansible_job_id`` added, parsed by
this ansible-core's module result parser, internal keys removed), on every ansible-core the matrix runs."""
import inspect
import json

import pytest

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.live_progress import ASYNC_INTERNAL_KEYS, LiveProgressAction

RESULTS = [
    {"changed": True, "msg": "moved", "moves": [{"vs": "vs-1", "result": "moved"}], "warnings": ["w"],
     "invocation": {"module_args": {"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}}, "_ansible_no_log": False},
    {"failed": True, "changed": False, "msg": "boom", "exception": "Traceback (most recent call last): ..."},
    {"failed": 1, "cmd": "/usr/bin/python x.py", "msg": "module crashed", "data": "noise", "stderr": "err"},  # async_wrapper's
    {"changed": False, "results": {"not": "a list"}, "ansible_facts": {"fact": 1}},
]


def _action():
    act = object.__new__(LiveProgressAction)
    act._discovered_interpreter_key, act._discovered_interpreter = None, None
    act._used_interpreter, act._discovery_warnings = None, []
    return act


def _via_async_status(act, text):
    data = json.loads(text)
    data.update(finished=True, ansible_job_id="j1")
    res = {"rc": 0, "stdout": "\n" + json.dumps(data), "stderr": "", "stdout_lines": [], "stderr_lines": []}
    if "profile" in inspect.signature(act._parse_returned_data).parameters:
        parsed = act._parse_returned_data(res, "legacy")
    else:
        parsed = act._parse_returned_data(res)
    if isinstance(parsed, dict):
        from ansible.vars.clean import remove_internal_keys
        if "results" in parsed and not isinstance(parsed["results"], list):
            parsed["ansible_module_results"] = parsed.pop("results")
        remove_internal_keys(parsed)
        out = parsed
    else:
        parsed.remove_internal_keys()
        out = parsed.as_result_dict(for_round_trip=True)
    return dict((k, v) for k, v in out.items() if k not in ASYNC_INTERNAL_KEYS)


@pytest.mark.parametrize("result", RESULTS)
def test_the_job_file_gives_what_async_status_gave(result):
    act = _action()
    text = json.dumps(result)
    mine = dict((k, v) for k, v in act._job_result(text).items() if k not in ASYNC_INTERNAL_KEYS)
    theirs = _via_async_status(act, text)
    assert json.dumps(mine, sort_keys=True, default=str) == json.dumps(theirs, sort_keys=True, default=str)
    assert bool(mine.get("failed")) == bool(result.get("failed"))


def test_a_file_that_is_not_a_result_leaves_it_to_async_status():
    act = _action()
    assert act._job_result('{"started": 1, "fini') is None
    assert act._job_result("[1, 2]") is None
