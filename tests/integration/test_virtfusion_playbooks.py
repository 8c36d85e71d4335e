"""The VirtFusion provider, the playbooks and the host_evacuate role, run with ansible-playbook against the
lab's VirtFusion plane (virtfusion_small topology: hv-a hosts web-1, web-2 and web-3; hv-b hosts nat-1 and
the offline batch-1; hv-bad fails most pre-checks). The control server is a real sshd, the servers real QEMU
guests (idle unless a test makes one write)."""
import json
import os
import subprocess
import sys

from conftest import ROOT, live_progress, secrets_found
from test_playbooks import flat, recap

from labkit import wait_for


def ad_hoc(lab, args, check=False):
    """instance_migrate run once with `ansible -m` (its JSON result)."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable, "-m", "fleetops.maintenance.instance_migrate",
           "-a", json.dumps(dict({"provider": "virtfusion"}, **args)), "-o"]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=lab.env(), capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout
    return proc.returncode, json.loads(out.split("=>", 1)[1]) if "=>" in out else {"raw": out + proc.stderr}


def secrets(lab):
    """The API token and the lines of the SSH private key: never in a job's events or artifacts."""
    with open(lab.vf["ssh"]["private_key"]) as fh:
        return [lab.token] + [line for line in fh.read().splitlines()[1:-1] if len(line) > 20]


def test_live_migration_shows_its_steps_reports_qemu_numbers_and_is_idempotent(vflab, vfplaybook):
    run = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "web-1",
                                                     "destination": "hv-b", "max_downtime": 200})
    rc, out = run
    assert rc == 0, out[-4000:]
    # the AWX way: the steps are job events while the task runs, the result a set_stats artifact, no secret
    live_progress(run, "Migrate the server to state", "[instance_migrate] localhost | transfer |")
    assert secrets_found(run, *secrets(vflab)) == []
    task = out[out.index("TASK [Migrate the server to state migrated]"):]
    task = task[:task.index("changed: [localhost]")]                      # shown while the module waits
    for step in ("Pre-migration checks", "Check source filters", "Prepare destination hypervisor", "Transfer data",
                 "Start server on destination", "Finalise migration"):
        assert f"web-1: [complete] {step}" in task, (step, task[-3000:])
    mig = vflab.last(101)
    q = mig["qemu"]
    assert mig["status"] == "complete" and q["parameters"]["downtime-limit"] == 200
    assert (f"web-1: migrated (start); hypervisor hv-a -> hv-b; downtime {q['downtimeMs']} ms (QEMU, limit 200 ms), "
            f"{q['transferredBytes']} bytes in {q['totalTimeMs']} ms") in flat(out)
    assert vflab.where()["web-1"] == "hv-b"
    result = run.stats["migrate_instance_result"]
    assert (result["provider"], result["reached"], result["phases"]) == ("virtfusion", "migrated", ["start"])
    assert result["measured"]["downtime_ms"] == q["downtimeMs"] and result["bytes_sent"] == q["transferredBytes"]
    assert result["server_name"] == {"before": "hv-a", "after": "hv-b"}
    rc, out = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "web-1",
                                                         "destination": "hv-b"})
    assert rc == 0 and recap(out)["changed"] == 0 and "web-1: migrated (nothing to do)" in flat(out), out[-3000:]
    assert vflab.vfadmin("GET", "stats")["migrations_started"] == 1
    with open(vflab.vf["ssh"]["private_key"]) as fh:
        assert fh.read().split("\n")[1] not in out
    assert vflab.token not in out


def test_hybrid_migration_goes_through_the_rest_api(vflab, vfplaybook):
    rc, out = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "web-3",
                                                         "destination": "hv-b", "mode": "hybrid", "compression": True,
                                                         "xfer_speed": 20})
    assert rc == 0, out[-4000:]
    assert "web-3: [complete] Finalise migration" in out and "web-3: migrated (hybrid)" in flat(out)
    mig = vflab.last(103)
    assert mig["type"] == "hybrid" and mig["status"] == "complete" and mig["disks"]["verified"] is True
    assert mig["options"]["speed_limit"] == 20971 and mig["options"]["compress"] is True    # 20 MiB/s in KB/s
    stats = vflab.vfadmin("GET", "stats")
    assert "start" not in stats["cli_calls"] and vflab.where()["web-3"] == "hv-b"


def test_reattach_abort_and_cancel_a_migration_that_cannot_converge(vflab):
    # web-1 writes 64 MiB/s into 16 MiB; at 10 MiB/s with a 5 ms downtime limit and no auto-converge its
    # memory copy never converges, so the migration runs until something ends it (deterministic).
    vflab.vfadmin("POST", "servers/101/dirty-rate", {"rate": 64, "working_set": 16})
    vflab.vfadmin("POST", "faults", {"kind": "kill_ssh", "step": "transfer"})
    hard = {"instance": "web-1", "target_server": "hv-b", "xfer_speed": 10, "max_downtime": 5,
            "auto_converge": {"enabled": False}, "timeout": 2}
    rc, res = ad_hoc(vflab, hard)
    assert rc != 0 and "web-1: still migrating after 2 seconds (timeout); the migration goes on" in res["msg"], res
    assert res["api_stats"]["ssh_reconnects"] >= 1                     # the lab cut the SSH sessions at transfer
    assert vflab.vfadmin("GET", "faults")["faults"] == []
    rc, res = ad_hoc(vflab, hard)                                       # the task again: re-attach, not restart
    assert rc != 0 and res["waited_for"] == ["transfer"] and res["phases"] == [], res
    stats = vflab.vfadmin("GET", "stats")
    assert stats["migrations_started"] == 1 and stats["cli_calls"]["start"] == 1
    rc, res = ad_hoc(vflab, {"instance": "web-1", "state": "aborted"})
    assert rc == 0 and res["phases"] == ["abort"] and res["reached"] == "aborted", res
    mig = vflab.last(101)
    assert mig["status"] == "failed" and mig["aborted"] is True and mig["qemu"]["status"] == "cancelled"
    rc, res = ad_hoc(vflab, {"instance": "web-1", "state": "cancelled"})
    assert rc == 0 and res["phases"] == ["cancel"] and res["reached"] == "cancelled", res
    assert vflab.last(101)["cancelled"] is True and vflab.where()["web-1"] == "hv-a"
    assert vflab.guest(101)["qemu"] == "running"                        # it runs on on its source
    stats = vflab.vfadmin("GET", "stats")["cli_calls"]
    assert not stats.get("cancel-force") and not stats.get("data-success-force")


def test_check_mode_lists_every_failing_precheck_and_changes_nothing(vflab, vfplaybook):
    rc, out = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "web-1",
                                                         "destination": "hv-bad"}, check=True)
    assert rc != 0
    text = flat(out)
    for problem in ("Destination hypervisor 3 (hv-bad) does not have SSH enabled.",
                    "IP address 10.0.1.11 is not usable on destination hypervisor 3 (hv-bad).",
                    "Storage mount point /home/vf-data/disk (drive a) does not exist on destination hypervisor 3",
                    "CPU vendor mismatch: source hypervisor 1 is GenuineIntel, destination hypervisor 3 is AuthenticAMD.",
                    "CPU flags used by server 101 are missing on destination hypervisor 3: aes, avx2."):
        assert problem in text, (problem, out[-3000:])
    run = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-b",
                                                  "destination": "hv-a"}, check=True)
    rc, out = run
    assert rc != 0
    text = flat(out)
    assert "pre-checks failed, nothing was moved: 2 of 2 server(s) cannot be migrated" in text, out[-3000:]
    assert "batch-1: pre-checks failed: Server 202 is offline." in text
    assert "Server 201 has NAT interfaces (nat0); servers with NAT interfaces can't be migrated." in text
    # the run record of the refused check: every server a failed step naming each of its failing checks
    record = run.stats["host_evacuate_report"]["run_record"]
    assert record["check_mode"] is True and record["result"] == "failed" and record["failures"] == 2
    steps = {s["target"]: s for s in record["steps"]}
    assert (steps["hv-b"]["target_type"], steps["hv-b"]["result"]) == ("hypervisor", "failed")
    assert [p["name"] for p in steps["hv-b"]["phases"]] == ["pre-checks"]
    assert steps["batch-1"]["message"].startswith("pre-checks failed: Server 202 is offline.")
    nat = steps["nat-1"]
    assert (nat["target_type"], nat["group"], nat["result"]) == ("server", "hv-b", "failed")
    assert "Server 201 has NAT interfaces (nat0)" in nat["message"] and nat["details"]["problems"], nat
    rc, out = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "web-2",
                                                         "destination": "hv-b"}, check=True)
    assert rc == 0 and "pre-checks: all pass" in flat(out) and "(check mode: nothing changed)" in flat(out)
    run = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-a",
                                                  "destination": "hv-b", "concurrency": 2}, check=True)
    rc, out = run
    assert rc == 0 and "web-1 (101) -> hv-b: would start" in flat(out) and "web-3 (103) -> hv-b: would start" \
        in flat(out), out[-3000:]
    record = run.stats["host_evacuate_report"]["run_record"]
    assert record["result"] == "ok" and record["disruption"]["measured"] is False
    assert [(s["target"], s["result"], s["disruption"]["expected"]) for s in record["steps"][1:]] == [
        ("web-1", "planned", True), ("web-2", "planned", True), ("web-3", "planned", True)]
    stats = vflab.vfadmin("GET", "stats")
    assert stats["migrations_started"] == 0 and "start" not in stats["cli_calls"]


def test_bad_values_and_unverified_host_keys_are_refused(vflab, vfplaybook, tmp_path):
    rc, out = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "web-1",
                                                         "destination": "hv-b", "max_downtime": 3,
                                                         "auto_converge_increment": 20})
    assert rc != 0 and ("max_downtime must be from 5 to 9000 (milliseconds), got 3; auto_converge_increment must "
                        "be from 1 to 15 (percent), got 20") in flat(out), out[-3000:]
    rc, out = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-a"})
    assert rc != 0 and ("destination (id or name of the destination hypervisor, VirtFusion has no allocator) is "
                        "required with provider=virtfusion") in flat(out), out[-3000:]
    wrong = tmp_path / "wrong_known_hosts"
    with open(vflab.vf["ssh"]["known_hosts"]) as fh:
        entry = fh.read().split()
    other = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"    # another ed25519 key
    wrong.write_text(f"{entry[0]} ssh-ed25519 {other}\n")
    rc, out = vfplaybook("migrate_instance", extra_vars={"provider": "virtfusion", "server": "101",
                                                         "destination": "2", "virtfusion_known_hosts": str(wrong)})
    assert rc != 0 and "does not match the one in known_hosts_file %s: refusing to connect" % wrong in flat(out), \
        out[-3000:]
    assert vflab.vfadmin("GET", "stats")["migrations_started"] == 0
    assert vflab.where()["web-1"] == "hv-a"


def test_evacuate_a_hypervisor_with_a_sliding_window_and_a_report(vflab, vfplaybook):
    report_file = str(vflab.state_dir) + "/hv-a.json"
    run = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-a",
                                                  "destination": "hv-b", "concurrency": 2, "report_file": report_file})
    rc, out = run
    assert rc == 0, out[-4000:]
    live_progress(run, "Pre-check every server, then migrate them", "[instance_migrate] localhost | transfer |")
    assert secrets_found(run, *secrets(vflab)) == []
    text = flat(out)
    assert "hypervisor hv-a -> hv-b: 3 server(s): migrated 3" in text, out[-3000:]
    migs = {m["serverName"]: m for m in vflab.vfadmin("GET", "migrations")["migrations"]}
    record = run.stats["host_evacuate_report"]["run_record"]
    with open(report_file) as fh:
        assert json.load(fh) == record
    steps = {s["target"]: s for s in record["steps"]}
    assert (steps["hv-a"]["target_type"], steps["hv-a"]["result"]) == ("hypervisor", "evacuated")
    for name, sid in (("web-1", 101), ("web-2", 102), ("web-3", 103)):
        q = migs[name]["qemu"]
        assert migs[name]["status"] == "complete" and vflab.where()[name] == "hv-b"
        assert (f"{name} ({sid}) -> hv-b: migrated, downtime {q['downtimeMs']} ms (QEMU, limit 300 ms), "
                f"{q['transferredBytes']} bytes") in text
        # the run record: the vendor's steps as phases, the transfer (QEMU's stop-and-copy) red, QEMU's downtime
        step = steps[name]
        assert (step["target_type"], step["group"], step["result"]) == ("server", "hv-a", "migrated")
        names = [p["name"] for p in step["phases"]]
        assert names[0] == "start" and {"precheck", "prepare", "transfer", "finalize"} <= set(names), names
        assert [p["name"] for p in step["phases"] if p["disruptive"]] == ["transfer"]
        assert step["disruption"]["seconds"] == q["downtimeMs"] / 1000.0 == record["disruption"]["by_target"][name]
        assert step["details"]["max_downtime_ms"] == 300 and step["details"]["bytes"] == q["transferredBytes"]
    with open(report_file[:-5] + ".html") as fh:
        page = fh.read()
    assert all('data-target="%s"' % name in page for name in ("hv-a", "web-1", "web-2", "web-3"))
    # a window of 2: never more than two at once, and two did overlap
    spans = sorted((m["startedAt"], m["finishedAt"]) for m in migs.values())
    overlap = max(sum(1 for s, f in spans if s <= t < f) for t, _f in spans)
    assert overlap <= 2
    world = vflab.vfadmin("GET", "world")
    assert next(h for h in world["hypervisors"] if h["name"] == "hv-a")["servers"] == []
    rc, out = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-a",
                                                      "destination": "hv-b", "concurrency": 2})
    assert rc == 0 and recap(out)["changed"] == 0 and "hypervisor hv-a -> hv-b: 0 server(s)" in flat(out)
    assert vflab.vfadmin("GET", "stats")["migrations_started"] == 3


def test_a_failure_stops_new_starts_and_cancels_only_the_failed_one(vflab, vfplaybook):
    vflab.vfadmin("POST", "time-scale", {"scale": 1.0})       # web-2 fails at ~2 s, web-1 ends after ~4 s
    vflab.vfadmin("POST", "faults", {"kind": "refuse_destination", "hypervisor": 2, "server": 102})
    report_file = str(vflab.state_dir) + "/failed.json"
    run = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-a",
                                                  "destination": "hv-b", "concurrency": 2, "report_file": report_file})
    rc, out = run
    assert rc != 0
    # the failed run's record is published and written: web-2 failed where it failed and was cancelled
    record = run.stats["host_evacuate_report"]["run_record"]
    with open(report_file) as fh:
        assert json.load(fh) == record
    steps = {s["target"]: s for s in record["steps"]}
    assert record["result"] == "failed" and record["failures"] == 1
    assert (steps["web-1"]["result"], steps["web-2"]["result"], steps["web-3"]["result"]) == (
        "migrated", "failed", "skipped")
    assert [p["name"] for p in steps["web-2"]["phases"]][-2:] == ["prepare", "cancel"]
    assert "prepare failed: Connection to destination hypervisor 2 (hv-b) on SSH port 22 refused" in \
        steps["web-2"]["message"]
    assert steps["web-3"]["phases"] == [] and steps["web-2"]["disruption"]["seconds"] is None
    assert list(record["disruption"]["by_target"]) == ["web-1"]
    text = flat(out)
    assert "hypervisor hv-a -> hv-b: 3 server(s): migrated 1, failed 1, skipped 1" in text, out[-4000:]
    assert ("web-2 (102) -> hv-b: failed, cancelled - web-2: prepare failed: Connection to destination hypervisor 2 "
            "(hv-b) on SSH port 22 refused") in text
    assert "web-3 (103) -> hv-b: skipped" in text and "1 of 3 migration(s) failed" in text
    where = vflab.where()
    assert (where["web-1"], where["web-2"], where["web-3"]) == ("hv-b", "hv-a", "hv-a")
    last2 = vflab.last(102)
    assert last2["cancelled"] is True and last2["steps"][2]["status"] == "failed"
    stats = vflab.vfadmin("GET", "stats")
    assert stats["cli_calls"].get("cancel") == 1 and stats["migrations_started"] == 2
    assert not stats["cli_calls"].get("cancel-force") and not stats["cli_calls"].get("data-success-force")
    vflab.vfadmin("POST", "time-scale", {"scale": 0.05})
    rc, out = vfplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-a",
                                                      "destination": "hv-b", "concurrency": 2})
    assert rc == 0 and "hypervisor hv-a -> hv-b: 2 server(s): migrated 2" in flat(out), out[-3000:]
    wait_for(lambda: all(v == "hv-b" for k, v in vflab.where().items() if k.startswith("web")), timeout=5,
             what="every web server on hv-b")
