"""The vendor's CLI (`triton` from npm, installed into .node/ by scripts/node-triton.sh) drives the
lab's CloudAPI unchanged: HTTP Signature auth with the account's key, migration begin, sync,
switch, get, list and finalize with its own watcher."""
import json
import os
import shutil
import subprocess

import pytest

from tritonkit import ROOT, TritonLab

TRITON = os.path.join(ROOT, ".node", "node_modules", ".bin", "triton")


@pytest.fixture
def cli(tmp_path):
    if not os.path.exists(TRITON):
        pytest.fail("the triton CLI is not installed: run scripts/node-triton.sh (make test does)")
    lab = TritonLab(tmp_path / "state", "triton_small.yml")
    lab.start(reset=True)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = lab.t["key_files"]["alice"]
    shutil.copy(key, home / ".ssh" / "id_rsa")
    shutil.copy(key + ".pub", home / ".ssh" / "id_rsa.pub")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRITON_", "SDC_", "SSH_AUTH"))}
    env.update(HOME=str(home), TRITON_URL=lab.t["url"], TRITON_ACCOUNT="alice",
               TRITON_KEY_ID=lab.t["accounts"]["alice"], NODE_EXTRA_CA_CERTS=lab.ca)

    def run(*args, check=True):
        p = subprocess.run([TRITON, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
        if check:
            assert p.returncode == 0, f"triton {' '.join(args)}: {p.stdout}\n{p.stderr}"
        return p
    run.lab = lab
    yield run
    lab.stop()


def test_triton_cli_migrates_an_instance_on_demand(cli):
    out = cli("instance", "migration", "begin", "web-2", "-w").stdout
    assert "Done - begin finished" in out
    listed = cli("instance", "migration", "list").stdout.split("\n")
    assert listed[0].split() == ["SHORTID", "PHASE", "STATE", "AGE"] and listed[1].split()[1:3] == ["begin", "paused"]
    out = cli("instance", "migration", "sync", "web-2", "-w").stdout
    assert "running: 100%" in out and "B/s" in out and "Done - sync finished" in out
    out = cli("instance", "migration", "switch", "web-2", "-w").stdout
    assert "Done - switch finished" in out
    got = json.loads(cli("instance", "migration", "get", "web-2", "-j").stdout)
    assert (got["phase"], got["state"]) == ("switch", "successful")
    assert [p["phase"] for p in got["progress_history"]] == ["begin", "sync", "switch"]
    inst = json.loads(cli("instance", "get", "web-2").stdout)
    report = cli.lab.report("web-2")
    assert inst["compute_node"] == report["server"] == report["migrations"][0]["target_server"]
    assert "the migration is finalized" in cli("instance", "migration", "finalize", "web-2").stdout
    assert cli.lab.report("web-2")["migrations"][0]["result"] == "finalized"


def test_triton_cli_reports_the_vendor_refusal(cli):
    p = cli("instance", "migration", "switch", "web-2", check=False)
    assert p.returncode != 0 and "migration not found" in p.stderr
    p = cli("instance", "migration", "begin", "db-1", check=False)
    assert p.returncode != 0 and "User migration on this VM not allowed" in p.stderr
