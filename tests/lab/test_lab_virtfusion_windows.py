"""When abort, cancel and the force commands are allowed; faults; re-attaching after the SSH
connection drops (the migration lives in the lab, not in the session)."""
import threading

import pytest

from labkit import wait_for
from vfkit import VfLab, pages_after

# far faster than the 10 MiB/s link even for a guest at half speed (see test_lab_virtfusion_qemu's DIRTY), so the
# transfer is still running when the abort arrives
BUSY = {"rate": 64, "working_set": 8}


@pytest.fixture(scope="module")
def vf(tmp_path_factory):
    yield from VfLab(tmp_path_factory.mktemp("vfwin") / "state", output="rich").running(reset=False)


@pytest.fixture
def slow_steps(vf):
    """Slower lab steps (timing: 1 lab second each) so that a test can act between them."""
    def scale(real_seconds_per_step):
        vf.vfadmin("POST", "time-scale", {"scale": real_seconds_per_step})
    yield scale
    vf.vfadmin("POST", "time-scale", {"scale": 0.02})
    vf.vfadmin("DELETE", "faults")


def test_abort_refused_before_transfer_cancel_allowed(vf, slow_steps):
    slow_steps(3.0)
    doc = vf.vfjson("start --server=101 --dst=2 --detach")
    assert doc["status"] == "in-progress"
    vf.wait_step(101, "precheck")
    rc, _o, err = vf.vfcli("abort --server=101")
    assert rc == 1 and "can't be aborted: the data transfer has not started yet" in err
    rc, out, err = vf.vfcli("cancel --server=101")
    assert rc == 0, err
    assert out.strip() == "Migration of server 101 cancelled; it stays on hypervisor 1."
    st = vf.vfjson("last-status --server=101")
    assert st["status"] == "failed" and st["cancelled"] is True
    assert vf.server(101)["hypervisorId"] == 1 and vf.guest(101)["qemu"] == "running"
    rc, _o, err = vf.vfcli("cancel --server=101")
    assert rc == 1 and "already cancelled" in err
    rc, _o, err = vf.vfcli("abort --server=101")
    assert rc == 1 and "it is not transferring data" in err


def test_abort_during_transfer_then_cancel(vf):
    vf.vfadmin("POST", "servers/102/dirty-rate", BUSY)
    try:
        doc = vf.vfjson("start --server=102 --dst=2 --xfer-speed=10 --disable-auto-converge --detach")
        mid = doc["migration"]["id"]
        vf.wait_step(102, "transfer")
        rc, _o, err = vf.vfcli("cancel --server=102")
        assert rc == 1 and "still transferring data; abort it first" in err
        rc, out, err = vf.vfcli("abort --server=102")
        assert rc == 0, err
        assert "aborted; it is now failed" in out
        m = vf.migration(mid)
        assert m["status"] == "failed" and m["aborted"] is True and m["dataTransfer"] == "failed"
        assert "Migration aborted by request" in m["errors"][0]
        assert m["qemu"]["status"] == "cancelled"
        rc, _o, err = vf.vfcli("abort --server=102")      # no longer transferring
        assert rc == 1
        g = vf.guest(102)
        assert g["hypervisor"] == 1 and g["qemu"] == "running"       # the guest never stopped on the source
        pages_after(vf, 102, g["guest"]["pages"])
        assert vf.vfjson("cancel --server=102")["migration"]["cancelled"] is True
        assert vf.server(102)["hypervisorId"] == 1
    finally:
        vf.vfadmin("POST", "servers/102/dirty-rate", {"rate": 0})


def test_failed_after_data_transfer_cannot_be_cancelled_and_start_completes_it(vf):
    vf.vfadmin("POST", "faults", {"kind": "fail_step", "step": "finalize", "server": 101})
    rc, out, err = vf.vfcli("start --server=101 --dst=2")
    assert rc == 1
    assert "[failed]      Finalise migration: lab fault: step finalize failed" in out
    assert "Run the same command to try again" in out
    m = vf.last(101)
    assert m["status"] == "failed" and m["dataTransfer"] == "success"
    rc, _o, err = vf.vfcli("cancel --server=101")
    assert rc == 1 and "has succeeded: the migration can no longer be cancelled" in err
    rc, _o, err = vf.vfcli("start --server=101 --dst=3")
    assert rc == 1 and "has a failed migration to hypervisor 2" in err
    rc, out, err = vf.vfcli("start --server=101")                  # vendor: start --server=ID tries again
    assert rc == 0, (out, err)
    assert "Trying the migration again (attempt 2)." in out
    m = vf.last(101)
    assert m["status"] == "complete" and m["attempts"] == 2 and m["id"] == vf.last(101)["id"]
    assert vf.server(101)["hypervisorId"] == 2 and vf.guest(101)["hypervisor"] == 2


def test_lost_tracking_then_data_success_force_completes_without_loss(vf):
    vf.vfadmin("POST", "faults", {"kind": "lose_tracking", "server": 101})
    there = vf.other_hv(101)
    rc, out, _err = vf.vfcli(f"start --server=101 --dst={there}")
    assert rc == 1 and "Lost track of the data transfer" in out
    m = vf.last(101)
    assert m["dataTransfer"] == "unknown" and m["status"] == "failed"
    rc, out, err = vf.vfcli("data-success-force --server=101")
    assert rc == 0 and "marked as complete. Run start to complete the migration." in out, err
    rc, _o, err = vf.vfcli("data-success-force --server=101")
    assert rc == 1 and "already marked complete" in err
    doc = vf.vfjson("start --server=101")
    assert doc["success"] is True and doc["migration"]["dataLost"] is False
    assert vf.server(101)["hypervisorId"] == there and vf.guest(101)["qemu"] == "running"


def test_data_success_force_after_an_abort_loses_the_memory_state(vf):
    vf.vfadmin("POST", "servers/102/dirty-rate", BUSY)
    try:
        vf.vfjson("start --server=102 --dst=2 --xfer-speed=10 --disable-auto-converge --detach")
        vf.wait_step(102, "transfer")
        assert vf.vfcli("abort --server=102")[0] == 0
        assert vf.last(102)["aborted"] is True
        assert vf.vfjson("data-success-force --server=102")["migration"]["dataTransfer"] == "success"
        doc = vf.vfjson("start --server=102")
        assert doc["success"] is True and doc["migration"]["dataLost"] is True
        rc, out, _err = vf.vfcli("last-debug --server=102")
        assert "its memory state is lost" in out
        assert vf.server(102)["hypervisorId"] == 2
    finally:
        vf.vfadmin("POST", "servers/102/dirty-rate", {"rate": 0})


def test_refusing_destination_and_cancel_force(vf):
    f = vf.vfadmin("POST", "faults", {"kind": "refuse_destination", "hypervisor": 2, "times": 0})
    try:
        doc = vf.vfjson("start --server=105 --dst=2", expect_rc=1)
        assert doc["success"] is False
        assert doc["errors"] == ["Connection to destination hypervisor 2 (hv-ams-2) on SSH port 22 refused"]
        assert [s["status"] for s in doc["migration"]["steps"]][:3] == ["complete", "complete", "failed"]
        doc = vf.vfjson("start --server=105", expect_rc=1)          # still refused: fails again, attempt 2
        assert doc["migration"]["attempts"] == 2
        rc, out, err = vf.vfcli("cancel-force --server=105")
        assert rc == 0 and "cancelled (forced, checks skipped)" in out, err
        assert vf.last(105)["cancelled"] is True and vf.server(105)["state"] == "suspended"
        assert vf.guest(105)["qemu"] == "paused"
    finally:
        vf.vfadmin("DELETE", "faults")
    assert f["kind"] == "refuse_destination" and vf.vfadmin("GET", "faults")["faults"] == []


def test_dropped_ssh_connection_does_not_stop_the_migration_and_start_reattaches(vf, slow_steps):
    slow_steps(2.0)
    box = {}
    client = vf.ssh()
    r = vf.vfadmin("GET", "servers/105/migration", ok=False)
    before = r.json()["id"] if r.status_code == 200 else None

    def run():
        try:
            box["result"] = vf.vfcli("start --server=105 --dst=2", client=client)
        except Exception as e:  # the connection dies under the command
            box["error"] = e
    t = threading.Thread(target=run)
    t.start()
    vf.wait_step(105, "prepare", after=before)
    killed = vf.vfadmin("POST", "faults", {"kind": "kill_ssh"})["killed_sessions"]
    assert killed >= 1
    t.join(30)
    assert not t.is_alive()
    assert "error" in box or box["result"][0] != 0      # the attached command lost its connection
    client.close()
    assert vf.last(105)["status"] == "in-progress"      # ... the migration did not
    rc, out, err = vf.vfcli("start --server=105 --dst=2", client=vf.ssh())
    assert rc == 0, (out, err)
    assert "Re-attaching to the running migration." in out and "Migration complete" in out
    assert vf.server(105)["hypervisorId"] == 2
    stats = vf.vfadmin("GET", "stats")
    assert stats["cli_calls"]["start"] >= 2 and stats["migrations_complete"] >= 1


def test_kill_ssh_at_a_step_fault(vf, slow_steps):
    slow_steps(0.3)
    vf.vfadmin("POST", "faults", {"kind": "kill_ssh", "step": "finalize", "server": 105})
    there = vf.other_hv(105)
    client = vf.ssh()
    try:
        rc, _out, _err = vf.vfcli(f"start --server=105 --dst={there}", client=client)
    except Exception:   # paramiko may raise instead of returning when the channel dies
        rc = -1
    assert rc != 0
    m = vf.wait_status(105)
    assert m["status"] == "complete"
    wait_for(lambda: vf.server(105)["hypervisorId"] == there, timeout=5, what="server moved")
