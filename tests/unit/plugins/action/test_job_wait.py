"""The job_wait action: what it refuses, how it reads several jobs with one command, and what it says when jobs
outlive its timeout (tests/integration/test_avi_move_back.py shows it following a wave of migrations end to end;
a job that outlives the wait cannot be produced there without waiting the module's own timeout)."""
import json

import pytest
from ansible.errors import AnsibleActionFail
from ansible.plugins.shell.sh import ShellModule

from ansible_collections.fleetops.maintenance.plugins.action import job_wait
from ansible_collections.fleetops.maintenance.plugins.action.job_wait import JOB_START, PROGRESS_START, ActionModule


class FakeConnection:
    def __init__(self):
        self._shell = ShellModule()


def action(outputs=()):
    act = object.__new__(ActionModule)
    act._connection = FakeConnection()
    act._remote_expand_user = lambda path: path.replace("~", "/home/op")
    act.get_shell_option = lambda name, default=None: default
    act.commands = []
    replies = list(outputs)

    def run(cmd, sudoable=True):
        act.commands.append(cmd)
        return {"stdout": replies.pop(0) if replies else ""}
    act._low_level_execute_command = run
    return act


ARGS = {"progress_dir": "/tmp/p", "timeout": 5}


def test_a_job_without_a_job_id_is_refused_naming_its_position():
    act = action()
    with pytest.raises(AnsibleActionFail, match=r"jobs\[1\] is not the registered result of a task started with "
                                                r"async and poll 0 \(no ansible_job_id\)"):
        [act._job(entry, i, ARGS) for i, entry in enumerate([{"ansible_job_id": "j1", "item": {"name": "vs-1"}},
                                                            {"changed": False, "item": {"name": "vs-2"}}])]


def test_one_command_reads_every_job_and_prints_new_progress_once(capsys):
    act = action()
    jobs = [act._job({"ansible_job_id": "j1", "item": {"name": "vs-1"}}, 0, ARGS),
            act._job({"ansible_job_id": "j2", "item": {"name": "vs-2"}}, 1, ARGS)]
    assert jobs[0]["path"] == "/home/op/.ansible_async/j1" and jobs[1]["progress"] == "/tmp/p/1.jsonl"
    line = json.dumps({"task": "vs_migrate", "phase": "migrate", "percent": 0, "msg": "migrating VS vs-1",
                       "elapsed": 0.3})
    done = json.dumps({"changed": True, "invocation": {}})
    running = json.dumps({"started": 1, "finished": 0})
    act._low_level_execute_command = lambda cmd, sudoable=True: (act.commands.append(cmd) or {"stdout": (
        PROGRESS_START + line + "\n" + JOB_START + done + PROGRESS_START + JOB_START + running)})
    assert act._poll("localhost", jobs) == [True, False]
    assert act._poll("localhost", jobs) == [True, False]
    assert len(act.commands) == 2 and "/tmp/p/0.jsonl" in act.commands[0] and "j2" in act.commands[0]
    out = capsys.readouterr().out
    assert out.count("[vs_migrate] localhost vs-1 | migrate | 0% | migrating VS vs-1 (0.3s)") == 1


def test_jobs_past_the_timeout_fail_naming_each_and_where_its_result_stays(monkeypatch):
    act = action()
    jobs = [act._job({"ansible_job_id": "j1", "item": {"name": "vs-1"}}, 0, ARGS),
            act._job({"ansible_job_id": "j2", "item": "vs-2"}, 1, ARGS)]
    act._poll = lambda host, waiting, wait=0: [w["jid"] == "j1" for w in waiting]
    act._finish = lambda host, job, started, task_vars: {"changed": True}
    clock = iter(range(0, 1000, 3))
    monkeypatch.setattr(job_wait.time, "time", lambda: next(clock))
    monkeypatch.setattr(job_wait.time, "sleep", lambda s: None)
    with pytest.raises(AnsibleActionFail) as err:
        act._wait("localhost", jobs, 5, {})
    assert str(err.value) == ("1 job(s) still running after 5 seconds: vs-2 (jid j2). They go on in the background;"
                              " their results stay in /home/op/.ansible_async (ansible.builtin.async_status with"
                              " their jid reads them)")


def test_a_job_is_read_where_it_said_it_writes_its_result():
    """The starting task's results_file wins over ~ expanded here: the job's async wrapper expanded ~ with its own
    HOME (a different HOME than the account's made every job look unfinished for ever)."""
    act = action()
    job = act._job({"ansible_job_id": "j1", "results_file": "/runner/.ansible_async/j1", "item": "vs-1"}, 0, ARGS)
    assert job["path"] == "/runner/.ansible_async/j1" and job["async_dir"] == "/runner/.ansible_async"
    assert act._job({"ansible_job_id": "j2"}, 1, ARGS)["path"] == "/home/op/.ansible_async/j2"
