"""End-to-end smoke for one ansible-core: the collection as a user installs it, driven by that core's
ansible-playbook against the lab (topology upgrade_small.yml): one upgrade step (the controller cluster, then
one SE group handed to the controller), one VS migration and one SE evacuation, each checked on the lab.

scripts/core-matrix.sh runs it once per ansible-core that meta/runtime.yml admits, with
FLEETOPS_SMOKE_VENV (the core's virtualenv, tests/matrix/ansible-core-X.Y.txt) and
FLEETOPS_SMOKE_COLLECTIONS (where that core's ansible-galaxy installed the built tarball). Without them it
uses the project's own .venv and .collections (the newest core). The lab itself runs on the project's
.venv (it is not shipped); only ansible-playbook, the modules and their Python are the core's.

The tests do not depend on each other's order: the upgrade touches the controllers and sg-aa, the
migration nm-single-1, the evacuation nm-se-01 (whichever VSs it hosts by then).
"""
import os
import re
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))
from labkit import ROOT, Lab  # noqa: E402  (the lab tests' start/stop/admin helpers)

VENV = os.environ.get("FLEETOPS_SMOKE_VENV") or os.path.join(ROOT, ".venv")
COLLECTIONS = os.environ.get("FLEETOPS_SMOKE_COLLECTIONS") or os.path.join(ROOT, ".collections")
VS_NAMES = ["aa-1", "lg-1", "nm-scaled-1", "nm-single-1", "nm-single-2"]
# ansible-playbook's warnings: the collection must load and run on this core without one (for example
# "Collection fleetops.maintenance does not support Ansible version ...", or a deprecation).
WARNING = re.compile(r"^\[(?:WARNING|DEPRECATION WARNING)\]:?.*$", re.M)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # time scale 0.002: the upgrade's lab durations (controller phase 62 lab s, 60 per SE) take a fifth of
    # the topology's own 0.01, so the smoke waits little; the modules' waits do not depend on it.
    yield from Lab(tmp_path_factory.mktemp("lab"), "upgrade_small.yml", time_scale=0.002).running()


@pytest.fixture
def playbook(lab, tmp_path):
    """Run fleetops.maintenance.<name> with this core's ansible-playbook; (returncode, output)."""
    with open(lab.topology) as stream:
        creds = yaml.safe_load(stream)["controller"]
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ANSIBLE_", "AVI_"))}
    env.update({
        "PATH": os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", ""),
        "VIRTUAL_ENV": VENV,
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "AVI_CONTROLLER": lab.url.split("://", 1)[1],
        "AVI_USERNAME": creds["username"],
        "AVI_PASSWORD": creds["password"],
        "AVI_CA_PATH": lab.ca,
    })

    def run(name, *extra_vars):
        cmd = [os.path.join(VENV, "bin", "ansible-playbook"), "fleetops.maintenance." + name, "-i", "localhost,",
               "-e", "ansible_python_interpreter=" + os.path.join(VENV, "bin", "python")]
        for extra in extra_vars:
            cmd += ["-e", extra]
        proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        assert WARNING.findall(out) == [], out[-4000:]
        return out
    return run


def world(lab):
    return lab.admin("GET", "world")["service_engines"]


def placement(lab):
    """VS name -> the SEs it is placed on (the lab's world)."""
    where = {}
    for se_name, se in world(lab).items():
        for vs in se["vs"]:
            where.setdefault(vs, []).append(se_name)
    return where


def test_core_under_test_is_the_one_running():
    """The smoke drives the core it names, not whatever ansible-playbook is first on PATH."""
    out = subprocess.run([os.path.join(VENV, "bin", "ansible-playbook"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    expected = os.environ.get("FLEETOPS_SMOKE_CORE")
    if expected:
        assert re.search(r"\[core %s\.\d+\]" % re.escape(expected), out), out
    assert "python version = %s" % os.path.realpath(os.path.join(VENV, "bin", "python")) in out or \
        os.path.join(VENV, "bin", "python") in out, out


def test_upgrade_controllers_then_one_se_group(lab, playbook):
    out = playbook("upgrade", "version=22.1.7", "deployment=vm", "upgrade_strategy=se_groups", "se_groups=sg-aa")
    assert "Upgrade to 22.1.7" in " ".join(out.split())
    summary = lab.admin("GET", "upgrade")
    assert summary["controller"]["version"] == "22.1.7"
    ses = {name: se["version"] for group in summary["se_groups"].values()
           for name, se in group["service_engines"].items()}
    assert {name: version for name, version in ses.items() if name.startswith("aa-")} == {
        "aa-se-01": "22.1.7", "aa-se-02": "22.1.7"}
    assert {version for name, version in ses.items() if not name.startswith("aa-")} == {"22.1.6"}, ses
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    assert sorted(placement(lab)) == VS_NAMES, "no virtual service lost"


def test_migrate_vs_to_a_named_se(lab, playbook):
    assert "nm-se-02" not in placement(lab)["nm-single-1"]
    out = playbook("migrate_vs", "virtual_service=nm-single-1", "to_se=nm-se-02")
    assert "nm-single-1: nm-se-01 -> nm-se-02 (moved)" in " ".join(out.split())
    assert placement(lab)["nm-single-1"] == ["nm-se-02"]
    assert lab.admin("GET", "disruption")["virtualservice"]["nm-single-1"]["unavailable_seconds"] == 0


def test_evacuate_se(lab, playbook):
    hosted = set(world(lab)["nm-se-01"]["vs"])
    assert hosted
    out = playbook("evacuate_se", "service_engine=nm-se-01")
    assert "lost: 0, unplaced: 0" in " ".join(out.split())
    se = world(lab)["nm-se-01"]
    assert se["enable_state"] == "SE_STATE_DISABLED" and se["vs"] == []
    where = placement(lab)
    assert sorted(where) == VS_NAMES, "no virtual service lost"
    assert all(where[vs] for vs in hosted), where
    assert all(lab.admin("GET", "disruption")["virtualservice"][vs]["unavailable_seconds"] == 0 for vs in hosted)
