"""The VirtFusion control server over real SSH: host-key checking, every vfcli-ctrl command, its
errors and its --json shapes, and the pre-checks (all failures reported at once, nothing changed)."""
import json

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from vfkit import VfLab, pages_after


@pytest.fixture(scope="module")
def vf(tmp_path_factory):
    yield from VfLab(tmp_path_factory.mktemp("vfcli") / "state", output="rich").running(reset=False)


def test_sshd_checks_host_key_and_only_takes_the_lab_key(vf, tmp_path):
    c = vf.ssh()
    _in, out, _err = c.exec_command("command -v vfcli-ctrl")
    assert out.read().decode().strip().endswith("/virtfusion/bin/vfcli-ctrl")
    c.close()
    # a known_hosts with another key for [127.0.0.1]:port: the client refuses the server
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{vf.vf['ssh']['port']} {pub}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        vf.ssh(known_hosts=str(wrong))
    # an unknown host is refused too (RejectPolicy), and no password login exists
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException):
        vf.ssh(known_hosts=str(empty))
    c = paramiko.SSHClient()
    c.load_host_keys(vf.vf["ssh"]["known_hosts"])
    with pytest.raises(paramiko.AuthenticationException):
        c.connect("127.0.0.1", port=vf.vf["ssh"]["port"], username=vf.vf["ssh"]["user"], password="x",
                  allow_agent=False, look_for_keys=False, timeout=10)
    c.close()
    info = open(f"{vf.state_dir}/lab.json").read()
    assert "PRIVATE KEY" not in info and "PRIVATE KEY" not in open(f"{vf.state_dir}/lab.log").read()


def test_servers_plain_and_json(vf):
    rc, out, _err = vf.vfcli("servers --src=1")
    assert rc == 0 and out.strip() == "101,102,103,104,105"
    doc = vf.vfjson("servers --src=2")
    assert doc == {"servers": [{"id": 201, "name": "web-2", "uuid": doc["servers"][0]["uuid"]}]}
    assert vf.vfjson("servers --src=3") == {"servers": []}
    rc, _out, err = vf.vfcli("servers --src=9")
    assert rc == 1 and "Hypervisor 9 not found" in err
    rc, _out, err = vf.vfcli("servers")
    assert rc == 2 and "--src=SOURCE_HYPERVISOR_ID is required" in err


def test_usage_and_option_ranges_change_nothing(vf):
    rc, _o, err = vf.vfcli("frobnicate --server=101")
    assert rc == 2 and "unknown server:migrate-live command 'frobnicate'" in err
    rc, _o, err = vf.vfcli("start --dst=2")
    assert rc == 2 and "--server=SERVER_ID is required" in err
    doc = vf.vfjson("start --server=101 --dst=2 --max-downtime=4 --xfer-speed=9 --abort-after=59 "
                    "--auto-converge-initial=71 --auto-converge-increment=16", expect_rc=1)
    assert doc["success"] is False
    assert doc["errors"] == ["--xfer-speed must be from 10 to 8796093022206, got 9",
                             "--max-downtime must be from 5 to 9000, got 4",
                             "--abort-after must be from 60 to 86400, got 59",
                             "--auto-converge-initial must be from 1 to 70, got 71",
                             "--auto-converge-increment must be from 1 to 15, got 16"]
    doc = vf.vfjson("start --server=101 --dst=2 --max-downtime=fast", expect_rc=1)
    assert doc["errors"] == ["--max-downtime must be a whole number from 5 to 9000, got 'fast'"]
    doc = vf.vfjson("start --server=101 --dst=2 --disable-auto-converge --auto-converge-initial=30", expect_rc=1)
    assert "--auto-converge-initial applies only while auto-converge is enabled" in doc["errors"][0]
    rc, _o, err = vf.vfcli("start --server=999 --dst=2")
    assert rc == 1 and "Server 999 not found" in err
    rc, _o, err = vf.vfcli("start --server=101 --dst=42")
    assert rc == 1 and "Hypervisor 42 not found" in err
    rc, _o, err = vf.vfcli("last-status --server=101")
    assert rc == 1 and "No live migration found for server 101" in err
    assert vf.server(101)["hypervisorId"] == 1


def test_prechecks_all_reported_at_once_and_nothing_changes(vf):
    before = vf.vfadmin("GET", "stats")["migrations_started"]
    doc = vf.vfjson("start --server=104 --dst=3", expect_rc=1)
    assert doc["success"] is False
    errs = doc["errors"]
    assert errs == [
        "Destination hypervisor 3 (hv-fra-1) does not have SSH enabled.",
        "IP address 10.0.1.14 is not usable on destination hypervisor 3 (hv-fra-1).",
        "IP address 192.168.100.2 is not usable on destination hypervisor 3 (hv-fra-1).",
        "Storage mount point /mnt/nvme (drive a) does not exist on destination hypervisor 3 (hv-fra-1).",
        "CPU vendor mismatch: source hypervisor 1 is GenuineIntel, destination hypervisor 3 is AuthenticAMD.",
        "CPU flags used by server 104 are missing on destination hypervisor 3: aes, avx2.",
        "Server 104 has NAT interfaces (nat0); servers with NAT interfaces can't be migrated.",
    ]
    rc, out, err = vf.vfcli("start --server=103 --dst=2")        # offline without --force-offline
    assert rc == 1 and "Server 103 is offline" in err and "--force-offline" in err and out == ""
    rc, _o, err = vf.vfcli("start --server=201 --dst=1")          # avx512f missing on hv 1
    assert rc == 1 and "CPU flags used by server 201 are missing on destination hypervisor 1: avx512f." in err
    stats = vf.vfadmin("GET", "stats")
    assert stats["migrations_started"] == before and stats["precheck_refusals"] >= 3
    assert vf.server(104)["hypervisorId"] == 1 and vf.server(104)["migration"] is None


def test_start_human_output_then_vendor_errors_after_completion(vf):
    pages = pages_after(vf, 101, 0) if vf.guest(101)["guest"]["state"] == "dirtying" else 0
    rc, out, err = vf.vfcli("start --server=101 --dst=2")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "Live migration of server 101 (web-1): hypervisor 1 -> 2"
    for name in ("Pre-migration checks", "Check source filters", "Prepare destination hypervisor", "Transfer data",
                 "Start server on destination", "Finalise migration"):
        assert any(ln.startswith("[complete]") and name in ln for ln in lines), (name, out)
    assert not any(ln.startswith("[failed]") for ln in lines)
    assert lines[-1].startswith("Migration complete: downtime ") and lines[-1].endswith("(QEMU)")
    assert vf.server(101)["hypervisorId"] == 2
    assert vf.guest(101)["hypervisor"] == 2 and vf.guest(101)["qemu"] == "running"
    assert pages >= 0
    # vendor: the same command after completion says the server is already on the destination ...
    rc, _o, err = vf.vfcli("start --server=101 --dst=2")
    assert rc == 1 and "Server 101 is already on the destination hypervisor 2" in err
    # ... and without --dst: "Specify a destination hypervisor ID"
    rc, _o, err = vf.vfcli("start --server=101")
    assert rc == 1 and err.strip() == "Error: Specify a destination hypervisor ID"
    rc, out, _err = vf.vfcli("last-status --server=101")
    assert rc == 0 and out.strip() == "complete"
    rc, out, _err = vf.vfcli("last-debug --server=101")
    assert rc == 0 and "QMP migrate-set-parameters" in out and "query-migrate final" in out
    rc, out, _err = vf.vfcli("servers --src=2")
    assert out.strip() == "101,201"


def test_start_json_and_detach_shapes(vf):
    here, there = vf.server(101)["hypervisorId"], vf.other_hv(101)
    doc = vf.vfjson(f"start --server=101 --dst={there} --detach")
    assert doc["success"] is True and doc["errors"] == [] and doc["detached"] is True
    assert doc["action"] == "started" and doc["status"] == "in-progress"
    m = vf.wait_status(101)
    assert m["status"] == "complete"
    assert m["type"] == "live" and m["serverId"] == 101 and m["sourceId"] == here and m["destinationId"] == there
    assert [s["status"] for s in m["steps"]] == ["complete"] * 6
    q = m["qemu"]
    assert q["status"] == "completed" and q["transferredBytes"] > 0 and q["totalTimeMs"] >= 0
    assert 0 <= q["downtimeMs"] <= 300
    assert q["capabilities"] == {"auto-converge": True, "xbzrle": True, "postcopy-ram": False}
    assert q["parameters"]["downtime-limit"] == 300 and q["parameters"]["cpu-throttle-initial"] == 20
    st = vf.vfjson("last-status --server=101")
    assert st["status"] == "complete" and st["cancelled"] is False and st["migration"]["id"] == m["id"]
    # a blocking --json start prints one document at the end
    doc = vf.vfjson(f"start --server=101 --dst={here} --xfer-speed=100 --max-downtime=50 --disable-compression "
                    "--auto-converge-initial=40 --auto-converge-increment=5 --disable-filter-check")
    assert doc["success"] is True and doc["status"] == "complete" and doc["errors"] == []
    q = doc["migration"]["qemu"]
    assert q["parameters"] == {"downtime-limit": 50, "max-bandwidth": 100 * 1048576, "cpu-throttle-initial": 40,
                               "cpu-throttle-increment": 5}
    assert q["capabilities"]["xbzrle"] is False
    filt = next(s for s in doc["migration"]["steps"] if s["key"] == "filters")
    assert filt["message"] == "skipped (--disable-filter-check)"
    assert doc["migration"]["options"]["maxDowntime"] == 50
    dbg = vf.vfjson("last-debug --server=101")
    assert dbg["serverId"] == 101 and any("migrate-set-capabilities" in ln for ln in dbg["debug"])


def test_force_offline_and_suspended_servers(vf):
    rc, out, err = vf.vfcli("start --server=103 --dst=2 --force-offline")
    assert rc == 0, (out, err)
    assert "was offline: transferred paused, now shut down on the destination" in out
    s = vf.server(103)
    assert s["hypervisorId"] == 2 and s["state"] == "offline"
    assert vf.guest(103)["qemu"] == "not running"
    # suspended: moves paused, stays paused; on a terminal the step list is redrawn in place
    rc, out, _e = vf.vfcli("start --server=105 --dst=2", pty=True)
    assert rc == 0 and "\x1b[" in out and "[complete]    Finalise migration" in out
    assert out.rstrip().splitlines()[-1].startswith("Migration complete: downtime ")
    assert vf.guest(105)["qemu"] == "paused" and vf.server(105)["state"] == "suspended"


def test_rest_api_auth_and_live_start(vf):
    assert vf.api("GET", "servers/102", token=None).status_code == 401
    assert vf.api("GET", "servers/102", token="wrong-token-wrong-token").status_code == 401
    r = vf.api("POST", "servers/102/migrate/live", {"destinationId": 2, "maxDowntime": 1, "bogus": True})
    assert r.status_code == 422 and r.json()["errors"] == ["unknown field bogus"]
    r = vf.api("POST", "servers/102/migrate/live", {"destinationId": 2, "maxDowntime": 1})
    assert r.status_code == 400 and r.json()["errors"] == ["maxDowntime must be from 5 to 9000, got 1"]
    r = vf.api("POST", "servers/102/migrate/live", {"destinationId": 2, "maxDowntime": 100})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["type"] == "live" and data["status"] == "in-progress" and data["options"]["maxDowntime"] == 100
    r = vf.api("POST", "servers/102/migrate/live", {"destinationId": 2})
    assert r.status_code == 409          # running (no second migration) or already on hypervisor 2
    m = vf.wait_status(102)
    assert m["status"] == "complete" and vf.server(102)["hypervisorId"] == 2
    assert json.dumps(vf.vfadmin("GET", "disruption")["servers"]["102"]["last"]["type"]) == '"live"'
