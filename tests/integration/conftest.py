"""Integration tests: real ansible-playbook runs of the installed collection against the lab.

`make test` builds and installs the collection into .collections before pytest runs; these
tests use that installed copy, as a user would.
"""
import json
import os
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))
from labkit import ROOT, Lab  # noqa: E402  (the lab tests' start/stop/admin helpers)
from vfkit import VfLab  # noqa: E402  (the VirtFusion plane's helpers: SSH, vfcli-ctrl, REST, admin)

COLLECTIONS = os.path.join(ROOT, ".collections")


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
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_HOME": os.path.join(ROOT, ".ansible"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        })
        return env


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


def run_playbook(lab, playbook, extra_vars=None, check=False, diff=False, extra_args=()):
    """Run one of the collection's playbooks; returns (returncode, stdout+stderr)."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
           "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable,
           "fleetops.maintenance." + playbook]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", json.dumps({key: value})]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd += list(extra_args)
    proc = subprocess.run(cmd, cwd=ROOT, env=lab.env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout


@pytest.fixture
def playbook(lab):
    def _run(name, **kwargs):
        return run_playbook(lab, name, **kwargs)
    return _run


class TritonPlaybookLab(Lab):
    """The lab with its Triton plane, plus the TRITON_* connection ansible-playbook reads."""

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
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_HOME": os.path.join(ROOT, ".ansible"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        })
        return env


@pytest.fixture
def tlab(tmp_path):
    the_lab = TritonPlaybookLab(tmp_path / "lab", "triton_small.yml")
    the_lab.start(reset=True)
    try:
        yield the_lab
    finally:
        the_lab.stop()


@pytest.fixture
def tplaybook(tlab):
    def _run(name, **kwargs):
        return run_playbook(tlab, name, **kwargs)
    return _run


class VirtFusionPlaybookLab(VfLab):
    """The lab with its VirtFusion plane (virtfusion_small topology), plus the VIRTFUSION_* connection
    ansible-playbook reads."""

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
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_HOME": os.path.join(ROOT, ".ansible"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        })
        return env

    def where(self):
        """Server name -> hypervisor name, from the lab's world."""
        world = self.vfadmin("GET", "world")
        names = dict((h["id"], h["name"]) for h in world["hypervisors"])
        return dict((s["name"], names[s["hypervisorId"]]) for s in world["servers"])


@pytest.fixture
def vflab(tmp_path):
    the_lab = VirtFusionPlaybookLab(tmp_path / "lab")
    the_lab.start(reset=True)
    try:
        yield the_lab
    finally:
        the_lab.stop()


@pytest.fixture
def vfplaybook(vflab):
    def _run(name, **kwargs):
        return run_playbook(vflab, name, **kwargs)
    return _run
