"""playbooks/upgrade.yml (the rolling_upgrade role) against the lab (topology upgrade_small.yml).

Three SE groups of two SEs (N+M with a VS on a single SE each, active/active, legacy
active/standby) on 22.1.6, a controller cluster of three nodes; the image for 22.1.7 is there.
"""
import json
import re

import pytest
from conftest import live_progress, secrets_found

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture
def lab(make_lab):
    return make_lab("upgrade_small.yml")


@pytest.fixture
def upgrade(lab, playbook):
    def run(check=False, **extra):
        extra.setdefault("version", "22.1.7")
        extra.setdefault("disruption_url", lab.url + "/_lab/disruption")
        return playbook("upgrade", extra_vars=extra, check=check)
    return run


def recaps(output):
    return {host: {"changed": int(changed), "failed": int(failed)}
            for host, _ok, changed, _unreachable, failed in RECAP.findall(output)}


def versions(lab):
    summary = lab.admin("GET", "upgrade")
    ses = {name: se["version"] for group in summary["se_groups"].values()
           for name, se in group["service_engines"].items()}
    return summary["controller"]["version"], ses


def flat(output):
    return " ".join(output.split())


def test_check_mode_then_a_rolling_upgrade_that_loses_no_virtual_service_then_nothing(lab, upgrade):
    rc, out = upgrade(check=True)
    assert rc == 0, out[-3000:]
    text = flat(out)
    assert "controller cluster: 22.1.6 -> 22.1.7" in text
    assert "SE group sg-nm: nm-se-01 -> nm-se-02" in text
    assert "2 virtual service(s) would lose service" in text and "nm-single-1, nm-single-2" in text
    assert "(check mode: nothing changed)" in text
    assert lab.admin("GET", "stats")["operations"] == []
    assert versions(lab)[0] == "22.1.6"

    run = upgrade()
    rc, out = run
    assert rc == 0, out[-4000:]
    # the AWX way: controller progress as job events while the task runs, the run record as set_stats data
    live_progress(run, "Upgrade the controllers", "[cluster_upgrade] localhost | controller")
    record = run.stats["rolling_upgrade_report"]
    assert record["format"] == "fleetops.maintenance.run_record/v1" and record["result"] == "ok"
    steps = {s["target"]: s for s in record["steps"]}
    assert [p["name"] for p in steps["nm-se-01"]["phases"]] == [
        "placement off", "scale out", "upgrade", "health check", "placement on", "scale in"]
    assert steps["nm-se-01"]["disruption"]["expected"] is False and steps["nm-se-01"]["group"] == "sg-nm"
    assert secrets_found(run, lab.credentials["password"], "sessionid=", "csrftoken=") == []
    controller, ses = versions(lab)
    assert controller == "22.1.7" and set(ses.values()) == {"22.1.7"}, ses
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    text = flat(out)
    # the VSs on a single SE were protected by a temporary second SE, the report says so
    assert "nm-se-01: upgraded" in text and "protected: nm-single-1" in text
    assert "measured disruption: none" in text
    # progress of the controller upgrade shows while it runs (before the task's result)
    task = out[out.index("TASK [fleetops.maintenance.rolling_upgrade : Upgrade the controllers]"):]
    assert "[cluster_upgrade] localhost | controller" in task[:task.index("changed: [localhost]")]
    # SE groups ran in parallel, the SEs of a group one after another (lab timestamps)
    ops = [op for op in lab.admin("GET", "stats")["operations"] if op["kind"] == "se_upgrade"]
    by_group = {}
    for op in ops:
        by_group.setdefault(op["target"][:2], []).append(op)
    assert sorted(by_group) == ["aa", "lg", "nm"]
    for group_ops in by_group.values():
        group_ops.sort(key=lambda op: op["started"])
        assert all(a["ended"] <= b["started"] for a, b in zip(group_ops, group_ops[1:])), group_ops
    firsts = [min(op["started"] for op in group_ops) for group_ops in by_group.values()]
    lasts = [max(op["ended"] for op in group_ops) for group_ops in by_group.values()]
    assert max(firsts) < min(lasts), "the SE groups did not overlap in time"
    # placement is back to what it was: no temporary SE left
    world = lab.admin("GET", "world")["service_engines"]
    assert sorted(world["nm-se-01"]["vs"]) == ["nm-scaled-1", "nm-single-1"]
    assert all(se["enable_state"] == "SE_STATE_ENABLED" for se in world.values())

    rc, out = upgrade()
    assert rc == 0, out[-3000:]
    assert all(r["changed"] == 0 for r in recaps(out).values()), recaps(out)
    assert "rolling-upgrade-sg" not in out, "nothing left to upgrade: no SE group phase"


def test_failed_se_is_put_back_the_rest_waits_and_a_rerun_converges(lab, upgrade, playbook):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "se_upgrade", "target": "nm-se-01",
                                 "count": 1})
    rc, out = upgrade(report_file=str(lab.state_dir) + "/run.json")
    assert rc != 0
    text = flat(out)
    assert "nm-se-01: failed" in text and "injected fault" in text
    assert "nm-se-02: skipped (not started: 1 failure(s)" in text
    assert "was put back as it was" in text
    with open(str(lab.state_dir) + "/run.json") as stream:
        record = json.load(stream)
    assert record["format"] == "fleetops.maintenance.run_record/v1" and record["result"] == "failed"
    results = {(s["group"], s["target"]): s["result"] for s in record["steps"]}
    assert results[("sg-nm", "nm-se-01")] == "failed" and results[("sg-nm", "nm-se-02")] == "skipped"
    with open(str(lab.state_dir) + "/run.html") as stream:
        assert "nm-se-01 (failed)" in stream.read()
    # an existing record rendered again, elsewhere, by the render_report playbook
    run = playbook("render_report", extra_vars={"record_file": str(lab.state_dir) + "/run.json",
                                                "html_file": str(lab.state_dir) + "/again.html"})
    assert run[0] == 0 and run.stats["render_report_file"] == str(lab.state_dir) + "/again.html", run[1][-2000:]
    with open(str(lab.state_dir) + "/again.html") as stream:
        assert 'data-target="nm-se-02"' in stream.read()
    run = playbook("render_report", extra_vars={"record_file": str(lab.state_dir) + "/lab.json"})
    assert run[0] != 0 and "not a run record: format must be" in flat(run[1])
    _controller, ses = versions(lab)
    assert ses["nm-se-01"] == "22.1.6" and ses["nm-se-02"] == "22.1.6"
    world = lab.admin("GET", "world")["service_engines"]
    assert world["nm-se-01"]["enable_state"] == "SE_STATE_ENABLED"
    assert sorted(world["nm-se-01"]["vs"]) == ["nm-scaled-1", "nm-single-1"], "temporary placement removed"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0

    rc, out = upgrade()
    assert rc == 0, out[-3000:]
    assert set(versions(lab)[1].values()) == {"22.1.7"}
    assert "aa-se-01: upgraded" not in flat(out), "what was upgraded is skipped"


def test_canary_stops_for_approval_then_continues(lab, upgrade):
    rc, out = upgrade(canary="service_engine")
    assert rc == 0, out[-3000:]
    assert "Stopped for approval" in flat(out)
    _controller, ses = versions(lab)
    assert [name for name, version in sorted(ses.items()) if version == "22.1.7"] == ["aa-se-01"]
    assert versions(lab)[0] == "22.1.7"
    rc, out = upgrade(canary="service_engine", canary_then="continue")
    assert rc == 0, out[-3000:]
    assert set(versions(lab)[1].values()) == {"22.1.7"}


def test_vendor_system_upgrade_disrupts_single_se_vss_the_role_does_not(lab, upgrade):
    rc, out = upgrade(strategy="system", protect=False)
    assert rc == 0, out[-3000:]
    disruption = lab.admin("GET", "disruption")["virtualservice"]
    assert sorted(name for name, vs in disruption.items() if vs["unavailable_seconds"]) == [
        "nm-single-1", "nm-single-2"]
    assert "nm-single-1 60.0" in flat(out)


def test_disruptive_fast_path_upgrades_every_se_of_a_group_at_once(lab, upgrade):
    rc, out = upgrade(disruptive=True)
    assert rc == 0, out[-3000:]
    assert set(versions(lab)[1].values()) == {"22.1.7"}
    ops = [op for op in lab.admin("GET", "stats")["operations"] if op["kind"] == "se_upgrade"]
    nm = sorted((op for op in ops if op["target"].startswith("nm-")), key=lambda op: op["started"])
    assert len(nm) == 2 and nm[1]["started"] < nm[0]["ended"], "the two SEs of sg-nm upgraded at once"
    disrupted = {name for name, vs in lab.admin("GET", "disruption")["virtualservice"].items()
                 if vs["unavailable_seconds"]}
    assert {"nm-single-1", "nm-scaled-1", "aa-1"} <= disrupted, disrupted


def test_cluster_that_does_not_reform_rolls_back_and_no_se_is_touched(lab, upgrade):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "cluster_reform", "count": 1})
    rc, out = upgrade()
    assert rc != 0
    text = flat(out)
    assert "(controllers): failed" in text and "UPGRADE_FSM_ABORTED" in text
    controller, ses = versions(lab)
    assert controller == "22.1.6" and set(ses.values()) == {"22.1.6"}
    assert not [op for op in lab.admin("GET", "stats")["operations"] if op["kind"] == "se_upgrade"]


def test_bad_input_is_refused_naming_the_accepted_values(lab, upgrade):
    rc, out = upgrade(strategy="fastest")
    assert rc != 0
    assert "strategy per_se, per_group or system (got fastest)" in flat(out)
    rc, out = upgrade(version="")
    assert rc != 0 and "Set version" in flat(out)
    assert lab.admin("GET", "stats")["operations"] == []
