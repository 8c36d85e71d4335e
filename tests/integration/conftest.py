"""Integration tests: real playbook runs of the installed collection against the lab, through
ansible-runner (the engine AWX / Automation Platform runs jobs with), so every test also checks the
AWX way of running; the job events and artifacts are there for the tests that look at them.

`make test` builds and installs the collection into .collections before pytest runs; these
tests use that installed copy, as a user would.
"""
import functools
import json
import os
import shlex
import sys
import tempfile
import time

import ansible_runner
import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))
from labkit import ROOT, Lab  # noqa: E402  (the lab tests' start/stop/admin helpers)
from vfkit import VfLab  # noqa: E402  (the VirtFusion plane's helpers: SSH, vfcli-ctrl, REST, admin)

COLLECTIONS = os.path.join(ROOT, ".collections")


def ansible_env(env):
    """``env`` plus what every ansible-playbook run of the tests needs: the project's collections path and
    configuration, no colour, and this virtualenv's executables first on PATH."""
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_HOME": os.path.join(ROOT, ".ansible"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    })
    return env


# Secrets the labs' env() gives (what `ansible -m` and Molecule read) and the extra var a job gets each one as
# instead, as the AWX credential types inject them (extensions/awx/config/credential_types.yml).
SECRET_EXTRA_VARS = {"AVI_PASSWORD": "avi_password", "VIRTFUSION_API_TOKEN": "virtfusion_api_token"}


class PlaybookLab(Lab):
    """The lab, plus what ansible-playbook needs to reach it."""

    @property
    def credentials(self):
        with open(self.topology) as stream:
            return yaml.safe_load(stream)["controller"]

    def env(self):
        """Environment for ansible-playbook: the AVI_* connection of the lab."""
        creds = self.credentials
        env = dict(os.environ)
        env.update({
            "AVI_CONTROLLER": self.url.split("://", 1)[1],
            "AVI_USERNAME": creds["username"],
            "AVI_PASSWORD": creds["password"],
            "AVI_CA_PATH": self.ca,
        })
        return ansible_env(env)


@pytest.fixture
def make_lab(tmp_path):
    """Start a lab on a topology of lab/topologies (stopped after the test)."""
    labs = []

    def make(topology):
        the_lab = PlaybookLab(tmp_path / ("lab%d" % len(labs)), topology)
        labs.append(the_lab)
        return the_lab.start(reset=True)
    yield make
    for the_lab in labs:
        the_lab.stop()


@pytest.fixture
def lab(make_lab):
    return make_lab("small.yml")


class PlaybookRun(tuple):
    """(returncode, text output), as ansible-playbook gave them, plus what ansible-runner recorded:
    ``events`` (job events, each with ``_arrived``: when the event handler saw it, monotonic seconds),
    ``artifact_dir``, ``private_data_dir`` and ``stats`` (the set_stats data of the run)."""

    def __new__(cls, rc, text, **extra):
        run = super().__new__(cls, (rc, text))
        run.__dict__.update(extra)
        return run

    def task_events(self, task_name):
        """The events of the first task whose name starts with task_name, by counter order."""
        start = next(e for e in self.events if e["event"] == "playbook_on_task_start"
                     and e["event_data"].get("task", "").startswith(task_name))
        uuid = start["event_data"]["task_uuid"]
        return start, [e for e in self.events if e["event_data"].get("task_uuid") == uuid]


def run_playbook(lab, playbook, extra_vars=None, check=False, diff=False, extra_args=(), timeout=600, extra_env=None):
    """Run one of the collection's playbooks (or a playbook file, by its absolute path) through ansible-runner, the
    engine AWX uses (job events,
    artifacts, extra vars from a file, the environment kept out of the artifacts as AWX does), with the lab's
    environment and ``extra_env``; returns (returncode, text output) with the events and artifacts attached
    (PlaybookRun)."""
    private = tempfile.mkdtemp(prefix="runner-", dir=str(lab.state_dir))
    os.makedirs(os.path.join(private, "project"))
    cmdline = ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable]
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    cmdline += list(extra_args)
    # As AWX does: extra vars (survey answers, and the secrets a credential injects as extra vars:
    # avi_password, virtfusion_api_token) go to the job in a file of the private data dir, never on the
    # command line or in the environment that ansible-runner records in its artifacts.
    env = lab.env()
    env.update(extra_env or {})
    extra = dict(extra_vars or {})
    for env_name, var in SECRET_EXTRA_VARS.items():
        if env.get(env_name):
            extra.setdefault(var, env.pop(env_name))
    os.makedirs(os.path.join(private, "env"))
    with open(os.path.join(private, "env", "extravars"), "w") as stream:
        json.dump(extra, stream)
    os.chmod(os.path.join(private, "env", "extravars"), 0o600)
    events = []

    def on_event(event):
        event["_arrived"] = time.monotonic()
        events.append(event)
        return True

    result = ansible_runner.run(
        private_data_dir=private, playbook=playbook if os.path.isabs(playbook) else "fleetops.maintenance." + playbook,
        cmdline=" ".join(shlex.quote(arg) for arg in cmdline), envvars=env, event_handler=on_event,
        quiet=True, timeout=timeout, suppress_env_files=True)
    with open(os.path.join(result.config.artifact_dir, "stdout"), errors="replace") as stream:
        text = stream.read()
    stats = {}
    for event in events:
        if event["event"] == "playbook_on_stats":
            stats = event["event_data"].get("artifact_data") or {}
    rc = result.rc if result.status != "timeout" else 124
    return PlaybookRun(rc, text, events=events, artifact_dir=result.config.artifact_dir, private_data_dir=private,
                       stats=stats, status=result.status)


def live_progress(run, task_name, marker):
    """The events carrying progress lines (containing marker) that arrived while the task ran, i.e.
    between its start event and its result event (by counter and by arrival at the event handler)."""
    start, task = run.task_events(task_name)
    result = next(e for e in task if e["event"] in ("runner_on_ok", "runner_on_failed"))
    progress = [e for e in run.events if marker in (e.get("stdout") or "")
                and start["counter"] < e["counter"] < result["counter"]]
    assert progress, "no progress event during %r" % task_name
    assert all(e["_arrived"] <= result["_arrived"] and e["created"] <= result["created"] for e in progress)
    return progress, result


def secrets_found(run, *secrets):
    """Where any of the secrets appears: in an event, or in a file of the run's artifacts."""
    found = []
    for event in run.events:
        text = json.dumps(event)
        found += ["event %s (%s)" % (event["counter"], event["event"]) for s in secrets if s and s in text]
    for base, _dirs, files in os.walk(run.artifact_dir):
        for name in files:
            with open(os.path.join(base, name), errors="replace") as stream:
                text = stream.read()
            found += [os.path.relpath(os.path.join(base, name), run.artifact_dir) for s in secrets if s and s in text]
    return found


@pytest.fixture
def playbook(lab):
    return functools.partial(run_playbook, lab)


class TritonPlaybookLab(Lab):
    """The lab with its Triton plane, plus the TRITON_* connection ansible-playbook reads."""
    MAX_LIFETIME = 900      # a test of several playbook runs outlives 300 s on a loaded machine

    @property
    def t(self):
        return self.info["triton"]

    def tadmin(self, method, path, body=None):
        import requests
        r = requests.request(method, f"{self.t['url']}/_lab/{path}", json=body, verify=self.ca, timeout=10)
        assert r.status_code < 400, r.text
        return r.json()

    def report(self):
        return self.tadmin("GET", "instances")["instances"]

    def env(self):
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("TRITON_", "SDC_", "AVI_")):
                del env[name]
        env.update({
            "TRITON_URL": self.t["url"], "TRITON_ACCOUNT": "alice", "TRITON_KEY_ID": self.t["accounts"]["alice"],
            "TRITON_KEY_FILE": self.t["key_files"]["alice"], "TRITON_VMAPI_URL": self.t["operator_url"],
            "TRITON_CA_PATH": self.ca,
        })
        return ansible_env(env)


@pytest.fixture
def tlab(tmp_path):
    yield from TritonPlaybookLab(tmp_path / "lab", "triton_small.yml").running()


@pytest.fixture
def tplaybook(tlab):
    return functools.partial(run_playbook, tlab)


class VirtFusionPlaybookLab(VfLab):
    """The lab with its VirtFusion plane (virtfusion_small topology), plus the VIRTFUSION_* connection
    ansible-playbook reads (run_playbook hands the API token to the job as the extra var virtfusion_api_token)."""
    MAX_LIFETIME = 900      # a test of several playbook runs outlives 300 s on a loaded machine

    def __init__(self, state_dir, topology="virtfusion_small.yml", time_scale=None):
        super().__init__(state_dir, topology, time_scale)

    @property
    def token(self):
        with open(self.topology) as stream:
            return yaml.safe_load(stream)["virtfusion"]["api_token"]

    def env(self):
        ssh = self.vf["ssh"]
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("TRITON_", "SDC_", "AVI_", "VIRTFUSION_")):
                del env[name]
        env.update({
            "VIRTFUSION_HOST": ssh["host"], "VIRTFUSION_SSH_PORT": str(ssh["port"]),
            "VIRTFUSION_SSH_USER": ssh["user"], "VIRTFUSION_SSH_KEY_FILE": ssh["private_key"],
            "VIRTFUSION_KNOWN_HOSTS": ssh["known_hosts"], "VIRTFUSION_API_URL": self.vf_url,
            "VIRTFUSION_API_TOKEN": self.token, "VIRTFUSION_CA_PATH": self.ca,
        })
        return ansible_env(env)

    def where(self):
        """Server name -> hypervisor name, from the lab's world."""
        world = self.vfadmin("GET", "world")
        names = dict((h["id"], h["name"]) for h in world["hypervisors"])
        return dict((s["name"], names[s["hypervisorId"]]) for s in world["servers"])


@pytest.fixture
def vflab(tmp_path):
    yield from VirtFusionPlaybookLab(tmp_path / "lab").running()


@pytest.fixture
def vfplaybook(vflab):
    return functools.partial(run_playbook, vflab)
