"""The VirtFusion plane's life: a restart keeps the world (a migration in flight fails cleanly), reset
reseeds it, sshd and the QEMU guests die with the lab even when it is killed, and a machine without
QEMU gets a clear message instead of a traceback."""
import os
import signal
import subprocess
import sys

from labkit import ROOT, TOPOLOGIES, wait_for
from vfkit import VfLab


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_restart_keeps_the_world_and_reset_reseeds(tmp_path):
    lab = VfLab(tmp_path / "state", output="rich").start()
    try:
        assert lab.vfjson("start --server=101 --dst=2")["success"] is True
        host_key = open(lab.vf["ssh"]["known_hosts"]).read().split()[1:]
        lab.vfadmin("POST", "time-scale", {"scale": 2.0})         # the next migration stays in its first step
        lab.vfjson("start --server=102 --dst=2 --detach")
        lab.stop()
        lab.start()
        assert open(lab.vf["ssh"]["known_hosts"]).read().split()[1:] == host_key   # same host key
        assert lab.server(101)["hypervisorId"] == 2
        assert lab.vfcli("last-status --server=101")[1].strip() == "complete"
        assert lab.vfcli("servers --src=2")[1].strip() == "101,201"
        g = lab.guest(101)
        assert g["hypervisor"] == 2 and g["qemu"] == "running"
        m = lab.last(102)
        assert m["status"] == "failed" and "the lab restarted during step precheck" in m["errors"][0]
        assert lab.server(102)["hypervisorId"] == 1 and lab.guest(102)["qemu"] == "running"
        assert lab.vfjson("cancel --server=102")["migration"]["cancelled"] is True
        lab.vfadmin("POST", "reset")
        assert lab.server(101)["hypervisorId"] == 1 and lab.guest(101)["hypervisor"] == 1
        rc, _o, err = lab.vfcli("last-status --server=101")
        assert rc == 1 and "No live migration found" in err
        lab.stop()
        lab.start(reset=True)
        assert lab.server(101)["hypervisorId"] == 1
    finally:
        lab.stop()


def test_sshd_and_guests_die_with_a_killed_lab(tmp_path):
    lab = VfLab(tmp_path / "state", output="rich").start()
    health = lab.vfadmin("GET", "health")
    assert health["sshd"]["running"] is True and health["qemu"]["guests_running"] == 5
    pids = [health["sshd"]["pid"]] + [lab.guest(s)["pid"] for s in (101, 102, 104, 105, 201)]
    os.kill(lab.info["pid"], signal.SIGKILL)
    wait_for(lambda: all(_gone(p) for p in pids), timeout=15, what="sshd and QEMU gone with the lab")
    lab.info = None


def test_missing_qemu_is_a_clear_message(tmp_path):
    env = dict(os.environ, PATH="/nonexistent", PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "lab", "serve", "--topology", os.path.join(TOPOLOGIES, "virtfusion.yml"),
                        "--state-dir", str(tmp_path / "state"), "--max-lifetime", "30"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "qemu-system-x86_64 (runs the servers (QEMU guests)) is in the Debian package qemu-system-x86" in p.stderr
    assert "apt-get install -y" in p.stderr and "qemu-system-x86" in p.stderr and "qemu-utils" in p.stderr
    # `lab start` repeats the reason, not only "see lab.log"
    p = subprocess.run([sys.executable, "-m", "lab", "start", "--topology", os.path.join(TOPOLOGIES, "virtfusion.yml"),
                        "--state-dir", str(tmp_path / "state2"), "--max-lifetime", "30"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 1
    assert p.stderr.startswith("lab: the VirtFusion plane needs QEMU") and "lab exited with status 2" in p.stderr
