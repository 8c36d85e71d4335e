"""plugin_utils.live_progress: which progress entries become a line of the default output (tests/integration shows
the lines arriving live through ansible-runner); here, the rule "print when something changes"."""
import json
import shlex
import subprocess
import threading
import time

from ansible_collections.fleetops.maintenance.plugins.plugin_utils import live_progress as lp
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.live_progress import ProgressFilter, format_progress


def _entries(*items):
    return [{"task": "se_disable", "phase": phase, "percent": percent, "msg": msg, "elapsed": 1.0}
            for phase, percent, msg in items]


def test_one_line_per_change_not_per_percent():
    shown = list(_entries(
        ("migrate", 0, "migrating VS a"), ("migrate", 0, "migrating VS b"),
        ("migrate", 2, "migrating VS a"), ("migrate", 6, "migrating VS a"), ("migrate", 12, "migrating VS a"),
        ("migrate", 25, "migrating VS b"), ("migrate", 30, "migrating VS a"), ("migrate", 51, "migrating VS b"),
        ("migrate", 99, "migrating VS a"), ("migrate", 100, "VS a moved (1/2)"), ("migrate", 100, "VS b moved (2/2)"),
        ("configure", None, "setting SE se-1 to SE_STATE_DISABLED"),
        ("configure", None, "setting SE se-1 to SE_STATE_DISABLED"),
    ))
    f = ProgressFilter()
    lines = [(e["percent"], e["msg"]) for e in shown if f.wanted(e)]
    assert lines == [
        (0, "migrating VS a"), (0, "migrating VS b"),
        (25, "migrating VS b"),                       # 25 points on
        (30, "migrating VS a"), (51, "migrating VS b"), (99, "migrating VS a"),
        (100, "VS a moved (1/2)"), (100, "VS b moved (2/2)"),
        (None, "setting SE se-1 to SE_STATE_DISABLED"),
    ]


def test_reaching_100_is_always_shown():
    f = ProgressFilter()
    assert [f.wanted(e) for e in _entries(("sync", 90, "syncing i-1"), ("sync", 95, "syncing i-1"),
                                          ("sync", 100, "syncing i-1"))] == [True, False, True]


def test_verbose_shows_every_entry():
    f = ProgressFilter(verbose=True)
    assert all(f.wanted(e) for e in _entries(("migrate", 1, "x"), ("migrate", 2, "x"), ("migrate", 3, "x")))


def test_format_names_the_task_host_phase_percent_and_message():
    assert format_progress("localhost", _entries(("migrate", 25, "migrating VS a"))[0]) == \
        "[se_disable] localhost | migrate | 25% | migrating VS a (1.0s)"


def _run_wait(job_path, wait):
    started = time.time()
    subprocess.run(["/bin/sh", "-c", lp.wait_for_end(job_path, wait, 0.05, shlex.quote) + "true"], check=True)
    return time.time() - started


def test_the_poll_waits_while_the_job_runs_and_wakes_when_it_ends(tmp_path):
    job = tmp_path / "j123.456"
    job.write_text(json.dumps({"started": True, "finished": False, "ansible_job_id": "j123.456"}))
    # still running: the poll's whole wait is spent on the target
    assert 0.4 <= _run_wait(str(job), 0.5) < 2.0

    def finish():
        time.sleep(0.15)
        job.write_text(json.dumps({"changed": True, "msg": "done"}))
    threading.Thread(target=finish).start()
    # the module's result replaces the marker: the poll answers within a step or two, not a whole poll late
    assert _run_wait(str(job), 2.0) < 1.0
    # a job file that is gone (or a result) never holds the poll
    assert _run_wait(str(tmp_path / "missing"), 2.0) < 0.5
    assert lp.wait_for_end(str(job), 0, 0.05, str) == ""


def test_the_poll_of_several_jobs_wakes_when_any_of_them_ends(tmp_path):
    running = json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1"})
    first, second = tmp_path / "j1", tmp_path / "j2"
    first.write_text(running)
    second.write_text(running)
    assert 0.4 <= _run_wait([str(first), str(second)], 0.5) < 2.0
    second.write_text(json.dumps({"changed": False}))
    assert _run_wait([str(first), str(second)], 2.0) < 0.5


def test_a_module_running_here_has_its_lines_shown_while_it_runs_and_the_last_ones_at_its_end(tmp_path, monkeypatch):
    # connection local: the module runs the ordinary way and a thread reads its progress file here
    shown = []
    monkeypatch.setattr(lp.display, "display", shown.append)
    path = tmp_path / "progress.jsonl"
    path.write_text("")
    tail = lp.LocalTail("localhost", str(path), ProgressFilter(), poll=0.02)
    tail.start()

    def write(phase, end="\n"):
        with open(str(path), "a") as stream:
            stream.write(json.dumps({"task": "se_disable", "phase": phase, "msg": "m", "elapsed": 1}) + end)

    write("placement")
    deadline = time.time() + 5
    while not shown and time.time() < deadline:   # shown by the thread, before the module's end
        time.sleep(0.01)
    assert shown == ["[se_disable] localhost | placement | m (1s)"] and tail.is_alive()
    write("evacuate")
    write("half", end="")                          # a line still being written is not shown
    time.sleep(0.1)
    assert len(shown) == 2 and "evacuate" in shown[1]
    with open(str(path), "a") as stream:
        stream.write("\n")
    tail.finish()                                  # the module ended: what it wrote last is shown, the thread ends
    assert len(shown) == 3 and "half" in shown[2] and not tail.is_alive()
