"""Run records on disk, end to end: a run killed mid-way leaves a readable record that says it did not finish, and a
re-run writes its own record next to it (the configured name links the latest), so the killed run's stays readable."""
import json
import os
import signal
import subprocess
import sys

from conftest import ROOT, ansible_env, run_playbook
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


PARALLEL_PLAY = """
- name: Start one record, as the upgrade's first play would
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Start the run record
      fleetops.maintenance.run_record:
        state: started
        file: "{{ report_file }}"
        kind: rolling_upgrade
        title: Upgrade to 22.1.7
        step: {target: controller cluster, target_type: controller_cluster, group: controllers}
      register: upgrade_record

- name: The SE groups in parallel, each adding its Service Engines
  hosts: se_groups
  gather_facts: false
  strategy: free
  tasks:
    - name: Add the Service Engines of this group, each with two phases
      ansible.builtin.include_tasks: se.yml
      loop: [1, 2, 3]
      loop_control:
        loop_var: se

- name: Finish it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Finish the run record
      fleetops.maintenance.run_record:
        path: "{{ upgrade_record.path }}"
        state: finished
        disruption: {measured: true, unit: VS-seconds, total: 0, by_target: {}}
      register: upgrade_record
"""

SE_TASKS = """
- name: Placement off
  fleetops.maintenance.run_record:
    path: "{{ hostvars.localhost.upgrade_record.path }}"
    step: {target: "{{ inventory_hostname }}-se-{{ se }}", target_type: service_engine, group: "{{ inventory_hostname }}"}
    phase: {name: placement off}
- name: Placement is off
  fleetops.maintenance.run_record:
    path: "{{ hostvars.localhost.upgrade_record.path }}"
    step: {target: "{{ inventory_hostname }}-se-{{ se }}"}
    phase: {name: placement off, state: finished}
- name: Upgrade
  fleetops.maintenance.run_record:
    path: "{{ hostvars.localhost.upgrade_record.path }}"
    step: {target: "{{ inventory_hostname }}-se-{{ se }}"}
    phase: {name: upgrade}
- name: Done, the phase of this step opened last ends (other hosts have theirs open meanwhile)
  fleetops.maintenance.run_record:
    path: "{{ hostvars.localhost.upgrade_record.path }}"
    step: {target: "{{ inventory_hostname }}-se-{{ se }}", result: upgraded}
    phase: {state: finished}
"""


def test_the_hosts_of_a_parallel_play_add_to_one_record(tmp_path):
    """The rolling upgrade's pattern (one host per SE group, strategy free): every host's steps and phases land in
    the one record, none lost to another host's write."""
    (tmp_path / "play.yml").write_text(PARALLEL_PLAY)
    (tmp_path / "se.yml").write_text(SE_TASKS)
    groups = ["sg-%d" % n for n in range(1, 5)]
    (tmp_path / "hosts.yml").write_text(json.dumps({"se_groups": {"hosts": {g: {} for g in groups}}}))
    report = str(tmp_path / "upgrade.json")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
           "-i", "localhost,", "-c", "local", "-f", "4", "-e", "ansible_python_interpreter=" + sys.executable,
           "-e", "report_file=" + report, str(tmp_path / "play.yml")]
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(dict(os.environ)), capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    record = validate(read(report))
    assert record["result"] == "ok" and record["kind"] == "rolling_upgrade"
    ses = {s["target"]: s for s in record["steps"][1:]}
    assert sorted(ses) == sorted("%s-se-%d" % (g, n) for g in groups for n in (1, 2, 3))
    for name, step in ses.items():
        assert (step["group"], step["result"]) == (name.rsplit("-se-", 1)[0], "upgraded"), step
        off, upgrade = step["phases"]
        assert (off["name"], upgrade["name"]) == ("placement off", "upgrade"), step
        assert off["start"] <= off["end"] <= upgrade["start"] <= upgrade["end"], step
        assert not any(p.get("open") for p in step["phases"])
    assert record["steps"][0]["result"] == "ok" and record["disruption"]["unit"] == "VS-seconds"
