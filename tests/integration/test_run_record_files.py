"""Run records on disk, end to end: a run killed mid-way leaves a readable record that says it did not finish, and a
re-run writes its own record next to it (the configured name links the latest), so the killed run's stays readable."""
import json
import os
import signal
import subprocess
import sys

from conftest import ROOT, run_playbook
from labkit import wait_for

from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import validate


def read(path):
    try:
        with open(path) as stream:
            return json.load(stream)
    except (IOError, ValueError):
        return None


def change_begun(path):
    """The kill point: the record shows the change of the Service Engine under way (the phase is open)."""
    record = read(path)
    return record and any(p["name"] == "change" and p.get("open") for p in record["steps"][0]["phases"])


def test_a_killed_run_leaves_a_record_that_says_unfinished_and_a_rerun_does_not_overwrite_it(lab, tmp_path):
    report = str(tmp_path / "se-a.json")
    extra = {"service_engine": "se-a", "method": "per_vs", "report_file": report}
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable, "-e", json.dumps(extra),
           "fleetops.maintenance.evacuate_se"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=lab.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: change_begun(report), timeout=120, interval=0.05, what="the change to begin")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the killed run's record: complete JSON, a run record, that says it did not finish and where it was
    killed_file = os.path.realpath(report)
    partial = validate(read(report))
    assert partial["result"] == "unfinished" and partial["ended"] is None, partial
    assert partial["steps"][0]["target"] == "se-a" and partial["steps"][0]["result"] == "unfinished"
    assert [(p["name"], p.get("open")) for p in partial["steps"][0]["phases"]] == [("change", True)]
    with open(report[:-5] + ".html") as stream:
        assert '<span class="badge other" id="result">unfinished</span>' in stream.read()
    with open(killed_file) as stream:
        killed_text = stream.read()

    run = run_playbook(lab, "evacuate_se", extra_vars=extra)
    assert run[0] == 0, run[1][-3000:]
    # the re-run has its own record, linked as the latest; the killed run's is as it was
    latest = os.path.realpath(report)
    assert latest != killed_file and os.path.dirname(latest) == str(tmp_path)
    with open(killed_file) as stream:
        assert stream.read() == killed_text
    record = validate(read(report))
    assert record == run.stats["se_evacuate_report"]["run_record"] and record["result"] == "ok"
    assert record["files"]["json"] == latest and record["files"]["latest_json"] == report
    assert os.path.realpath(report[:-5] + ".html") == latest[:-5] + ".html"
    assert sorted(os.path.basename(p) for p in (killed_file, latest)) == sorted(
        n for n in os.listdir(str(tmp_path)) if n.endswith(".json") and n != "se-a.json")
    # the evacuation itself converged: se-a is disabled and empty, nothing lost
    report_data = run.stats["se_evacuate_report"]
    assert report_data["state"] == "SE_STATE_DISABLED" and report_data["lost"] == [] and report_data["left_on_se"] == []
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
