"""Kill a playbook anywhere (issue 12): what the crash tests share.

A run is ansible-playbook started as a user starts it, in a process group of its own, with a marker in its
environment (``FLEETOPS_CRASH_TEST_RUN``) that every process it starts inherits: the module goes on after
ansible-playbook is killed (ansible-core 2.21 runs each worker in a session of its own, and the worker waits for its
module; an async job's wrapper would too), and "its module" is every process that carries the marker.
Kill points are read from the lab's own state (``kill_at``), never timed. The suite takes a few of each test's
kill points (``chosen``); FLEETOPS_CRASH_ALL=1 takes them all.
"""
import json
import os
import signal
import subprocess
import sys
import uuid

from labkit import wait_for

MARKER = "FLEETOPS_CRASH_TEST_RUN"
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


class Run:
    """One ansible-playbook run of a collection playbook against a lab, in its own process group."""

    def __init__(self, lab, workdir, name, playbook, extra_vars):
        self.marker = uuid.uuid4().hex
        env = lab.env()
        env[MARKER] = self.marker
        self.log = workdir / ("%s.log" % name)
        cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
               "-e", json.dumps(extra_vars), "fleetops.maintenance." + playbook]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=str(workdir))

    def output(self, tail=4000):
        return self.log.read_text()[-tail:]

    def wait(self, timeout=600):
        """The run's return code; its output is in the assertion message of a caller that checks it."""
        return self.proc.wait(timeout=timeout)

    def processes(self):
        return marked(self.marker)

    def kill(self, module):
        """SIGKILL the playbook's process group, and with ``module`` every process of the run (its module)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        if module:
            kill_marked(self.marker, "the run's processes to end")

    def kill_at(self, point, reached, module, timeout=240):
        """Wait (polling the lab, never sleeping a guess) until ``reached()``, then kill; fails if the run ended
        before the point."""
        try:
            wait_for(lambda: self.proc.poll() is not None or reached(), timeout=timeout, interval=0.01,
                     what="kill point %s" % point)
        finally:
            assert self.proc.poll() is None, "the run ended before the kill point %s:\n%s" % (point, self.output(3000))
            self.kill(module)

    def survivors_end(self, timeout=120):
        """Wait for the module of a killed run (killed without its module) to end."""
        wait_for(lambda: not marked(self.marker), timeout=timeout, what="the killed run's module to end")


def marked(marker):
    """The pids of the processes of one run (they carry its marker in their environment)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as stream:
                if ("%s=%s" % (MARKER, marker)).encode() in stream.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


ALL = "FLEETOPS_CRASH_ALL"


def chosen(every, default):
    """The kill points a run of the suite takes: ``default`` (a few, both ways of killing, inside the suite's time
    budget), or ``every`` one with FLEETOPS_CRASH_ALL=1 (for a change to the intent handling)."""
    return list(every) if os.environ.get(ALL) == "1" else list(default)


def kill_ids(kills):
    """Test ids for (point, module) pairs."""
    return ["%s-%s" % (p, "playbook_and_module" if m else "playbook") for p, m in kills]


def start(lab, tmp_path, name, playbook, extra_vars):
    """Start one run; (process, marker, log path) for the tests that follow the process themselves."""
    run = Run(lab, tmp_path, name, playbook, extra_vars)
    return run.proc, run.marker, run.log


def running(lab, kind):
    """Whether the lab has an operation of ``kind`` running now (a kill point read from the lab's state)."""
    return any(o["kind"] == kind and o["result"] == "running" for o in lab.admin("GET", "stats")["operations"])


def intent_records(lab):
    """The names of the intent records (StringGroups fleetops-maintenance-*) on the lab's controller."""
    return [g["name"] for g in lab.client(password=lab.credentials["password"]).get("stringgroup").json()["results"]
            if g["name"].startswith("fleetops-maintenance-")]


def kill_then_rerun(lab, tmp_path, playbook, extra_vars, at, module, point="?"):
    """Reset the lab, start the playbook, SIGKILL it (``module``: with its module) once ``at(lab)`` holds, run the
    same command again to its end (it must succeed) and wait for a surviving module of the killed run to end."""
    lab.admin("POST", "reset")
    killed = Run(lab, tmp_path, "killed", playbook, extra_vars)
    killed.kill_at(point, lambda: at(lab), module)
    again = Run(lab, tmp_path, "again", playbook, extra_vars)
    assert again.wait() == 0, again.output()
    killed.survivors_end()


# -- ansible-playbook's workers ----------------------------------------------------------------------------------
# ansible-core (2.21 here) starts each worker (one task of one host) in a session of its own (os.setsid in
# WorkerProcess), so killing the playbook's process group leaves the workers that were running a task: each finishes
# its task (a module it waits for, a retry loop), then blocks for good writing its result to the dead playbook (the
# result pipe's other end stays open in its sibling workers). Such a worker can no longer act; a worker still in a
# retry loop can. ``settle`` waits for the second kind to end and then ends the first kind (they are this run's).
IDLE = ("anon_pipe_write", "futex_do_wait", "pipe_write")


def _proc(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as stream:
            return stream.read()
    except OSError:
        return None


def hung_worker(pid):
    """Whether ``pid`` is a worker of a dead ansible-playbook blocked on its result (no child, waiting to write)."""
    cmd, wchan = _proc(pid, "cmdline"), _proc(pid, "wchan")
    if cmd is None or wchan is None or b"ansible-playbook" not in cmd:
        return False
    children = _proc(pid, "task/%d/children" % pid)
    return wchan.decode() in IDLE and not (children or b"").strip()


def settle(run, timeout=120, samples=3):
    """Wait until every process of a killed run either ended or is a hung worker ``samples`` looks in a row (the
    module, a worker still in its task or retry loop must end), then SIGKILL the hung workers."""
    import time
    streak, deadline = 0, time.monotonic() + timeout
    while streak < samples:
        assert time.monotonic() < deadline, "a process of the killed run still acts: %s" % [
            (p, (_proc(p, "cmdline") or b"")[:200], _proc(p, "wchan")) for p in marked(run.marker) if not hung_worker(p)]
        streak = streak + 1 if all(hung_worker(p) for p in marked(run.marker)) else 0
        time.sleep(0.5)
    kill_marked(run.marker, "the killed run's hung workers to end")


def kill_marked(marker, what):
    """SIGKILL every process carrying ``marker``, again until none is left: a process may start another while the
    ones listed are killed, and one listed only once could escape (within 10 s, or the test fails naming ``what``)."""
    def none_left():
        pids = marked(marker)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return not pids
    wait_for(none_left, timeout=10, interval=0.05, what=what)
