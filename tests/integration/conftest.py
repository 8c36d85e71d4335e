"""Integration tests: real ansible-playbook runs of the installed collection against the lab.

`make test` builds and installs the collection into .collections before pytest runs; these
tests use that installed copy, as a user would.
"""
import json
import os
import ssl
import subprocess
import sys
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".collections")
TOPOLOGY = os.path.join(ROOT, "lab", "topologies", "small.yml")


class Lab(object):
    def __init__(self, state_dir, topology):
        self.state_dir = str(state_dir)
        self.topology = topology
        self.info = None

    def start(self):
        subprocess.run([sys.executable, "-m", "lab", "start", "--topology", self.topology,
                        "--state-dir", self.state_dir, "--reset", "--max-lifetime", "900"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.state_dir, "lab.json")) as stream:
            self.info = json.load(stream)

    def stop(self):
        subprocess.run([sys.executable, "-m", "lab", "stop", "--state-dir", self.state_dir],
                       cwd=ROOT, check=False, stdout=subprocess.DEVNULL)

    @property
    def credentials(self):
        with open(self.topology) as stream:
            return yaml.safe_load(stream)["controller"]

    def admin(self, path, body=None, method=None):
        ctx = ssl.create_default_context(cafile=self.info["ca_path"])
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.info["avi"]["url"] + path, data=data,
                                     method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            text = resp.read()
            return json.loads(text) if text else None

    def env(self):
        """Environment for ansible-playbook: the AVI_* connection of the lab."""
        creds = self.credentials
        env = dict(os.environ)
        env.update({
            "AVI_CONTROLLER": self.info["avi"]["url"].split("://", 1)[1],
            "AVI_USERNAME": creds["username"],
            "AVI_PASSWORD": creds["password"],
            "AVI_CA_PATH": self.info["ca_path"],
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_HOME": os.path.join(ROOT, ".ansible"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        })
        return env


@pytest.fixture
def lab(tmp_path):
    the_lab = Lab(tmp_path / "lab", TOPOLOGY)
    the_lab.start()
    try:
        yield the_lab
    finally:
        the_lab.stop()


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
