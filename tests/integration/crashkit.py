"""Killing a playbook run anywhere (issue 12), shared by the crash tests: start a playbook as a user runs it
(ansible-playbook, in a process group of its own), find the processes of that run (they carry its marker in their
environment: the async wrapper and the module it started), and SIGKILL the playbook alone or with its module."""
import json
import os
import signal
import subprocess
import sys
import uuid

from labkit import wait_for

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def start(lab, tmp_path, name, playbook, extra_vars):
    """ansible-playbook fleetops.maintenance.<playbook> in its own process group; (process, marker, log path)."""
    marker = uuid.uuid4().hex
    env = lab.env()
    env["FLEETOPS_CRASH_TEST_RUN"] = marker
    log = tmp_path / ("%s.log" % name)
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
           "-e", json.dumps(extra_vars), "fleetops.maintenance.%s" % playbook]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(tmp_path))
    return proc, marker, log


def marked(marker):
    """The pids of the processes of one run (they carry its marker in their environment)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as stream:
                if ("FLEETOPS_CRASH_TEST_RUN=%s" % marker).encode() in stream.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def kill(proc, marker, module):
    """SIGKILL the playbook's process group, and with ``module`` every process of the run (the async module)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if module:
        for pid in marked(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not marked(marker), timeout=10, what="the run's processes to end")


def running(lab, kind):
    """Whether the lab has an operation of ``kind`` running now (a kill point read from the lab's state)."""
    return any(o["kind"] == kind and o["result"] == "running" for o in lab.admin("GET", "stats")["operations"])


def intent_records(lab):
    """The names of the intent records (StringGroups fleetops-maintenance-*) on the lab's controller."""
    return [g["name"] for g in lab.client(password=lab.credentials["password"]).get("stringgroup").json()["results"]
            if g["name"].startswith("fleetops-maintenance-")]


def kill_ids(kills):
    """Test ids of (kill point, with module) pairs."""
    return ["%s-%s" % (point, "playbook_and_module" if module else "playbook") for point, module in kills]


def kill_then_rerun(lab, tmp_path, playbook, extra_vars, at, module, point="?"):
    """Reset the lab, start the playbook, SIGKILL it (``module``: with its module) once ``at(lab)`` holds, run the
    same command again to its end (it must succeed) and wait for a surviving module of the killed run to end."""
    lab.admin("POST", "reset")
    proc, marker, log = start(lab, tmp_path, "killed", playbook, extra_vars)
    try:
        wait_for(lambda: proc.poll() is not None or at(lab), timeout=240, interval=0.01, what="kill point %s" % point)
    finally:
        assert proc.poll() is None, "the run ended before the kill point %s:\n%s" % (point, log.read_text()[-3000:])
        kill(proc, marker, module)
    again, _marker, log = start(lab, tmp_path, "again", playbook, extra_vars)
    assert again.wait(timeout=600) == 0, log.read_text()[-4000:]
    wait_for(lambda: not marked(marker), timeout=120, what="the killed run's module to end")   # a survivor
