"""playbooks/upgrade.yml (the rolling_upgrade role) against the lab (topology upgrade_small.yml).

Three SE groups of two SEs (N+M with a VS on a single SE each, active/active, legacy
active/standby) on 22.1.6, a controller cluster of three nodes; the image for 22.1.7 is there.
The default: the controllers, then the SE groups through the vendor's SE-group upgrade in one request (the
controller runs the groups in parallel, the SEs of a group one after another), every VS at risk protected by a
temporary second SE first. What clients felt is the lab's disruption report (/_lab/disruption), read here.
"""
import json
import re

import pytest
from conftest import PlaybookLab, live_progress, secrets_found

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture
def lab(tmp_path):
    """The lab of one test; it may live as long as a test takes on a loaded machine (three upgrade runs)."""
    the_lab = PlaybookLab(tmp_path / "lab", "upgrade_small.yml")
    the_lab.max_lifetime = 1800
    yield from the_lab.running()


@pytest.fixture
def upgrade(lab, playbook):
    def run(check=False, **extra):
        extra.setdefault("version", "22.1.7")
        extra.setdefault("deployment", "vm")
        extra.setdefault("wait_sleep", 0.5)
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


def disrupted(lab):
    return sorted(name for name, vs in lab.admin("GET", "disruption")["virtualservice"].items()
                  if vs["unavailable_seconds"])


def flat(output):
    return " ".join(output.split())


def test_check_mode_then_a_rolling_upgrade_that_loses_no_virtual_service_then_nothing(lab, upgrade):
    rc, out = upgrade(check=True)
    assert rc == 0, out[-3000:]
    text = flat(out)
    assert "controller cluster: 22.1.6 -> 22.1.7" in text
    assert "SE group sg-nm (2 SEs): to upgrade: nm-se-01, nm-se-02; protection: 2 scale-out(s)" in text
    assert "(check mode: nothing changed)" in text
    assert lab.admin("GET", "stats")["operations"] == []
    assert versions(lab)[0] == "22.1.6"

    run = upgrade()
    rc, out = run
    assert rc == 0, out[-4000:]
    # the AWX way: controller progress as job events while the task runs, the run record as set_stats data
    live_progress(run, "Upgrade the controller cluster to", "[cluster_upgrade] localhost | controller")
    record = run.stats["rolling_upgrade_report"]
    assert record["format"] == "fleetops.maintenance.run_record/v1" and record["result"] == "ok"
    steps = {s["target"]: s for s in record["steps"]}
    assert steps["nm-se-01"]["result"] == "upgraded" and steps["nm-se-01"]["group"] == "sg-nm"
    assert steps["nm-se-01"]["disruption"]["expected"] is False
    assert sorted(record["details"]["protected_virtual_services"]) == ["nm-single-1", "nm-single-2"]
    assert secrets_found(run, lab.credentials["password"], "sessionid=", "csrftoken=") == []
    controller, ses = versions(lab)
    assert controller == "22.1.7" and set(ses.values()) == {"22.1.7"}, ses
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    text = flat(out)
    assert "protected by a temporary second SE: nm-single-1, nm-single-2" in text
    # each SE reported as the controller upgraded it, while the task ran
    live_progress(run, "Upgrade SE group(s)", "se_upgrade_completed | SE nm-se-01 of SE group sg-nm")
    # one request: the SE groups overlapped in time, the SEs of a group one after another (lab timestamps)
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
    # placement is back to what it was: no temporary scale-out left
    world = lab.admin("GET", "world")["service_engines"]
    assert sorted(world["nm-se-01"]["vs"]) == ["nm-scaled-1", "nm-single-1"]
    assert all(se["enable_state"] == "SE_STATE_ENABLED" for se in world.values())

    run = upgrade()
    rc, out = run
    assert rc == 0, out[-3000:]
    assert all(r["changed"] == 0 for r in recaps(out).values()), recaps(out)
    results = dict((s["target"], s["result"]) for s in run.stats["rolling_upgrade_report"]["steps"]
                   if s.get("target_type") == "service_engine")
    assert results == dict((se, "already_upgraded") for se in ses), results
    assert not [op for op in lab.admin("GET", "stats")["operations"] if op["kind"] == "scaleout"
                and op["started"] > max(lasts)], "nothing left to upgrade: nothing protected"


def test_failed_se_suspends_its_group_protection_is_undone_and_a_resume_converges(lab, upgrade, playbook):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "se_upgrade", "target": "nm-se-01",
                                 "count": 1})
    rc, out = upgrade(report_file=str(lab.state_dir) + "/run.json")
    assert rc != 0
    text = flat(out)
    assert "SEs suspended: nm-se-01" in text and "injected fault" in text
    assert "resume it (CLI: resume segroup se_group_refs sg-nm)" in text and "what protection did was undone" in text
    # the other SE groups of the request were followed to their end (the controller went on with them), then the
    # step failed naming the suspended group and how to resume it
    assert "The other SE group(s) went on to their end:" in text, text[-3000:]
    assert "sg-aa upgraded (2/2 SEs)" in text and "sg-legacy upgraded (2/2 SEs)" in text
    assert ("To resume SE group(s) sg-nm: fix what failed, then run again with resume=true (the upgrade playbook: "
            "-e resume=true), or on the controller") in text
    assert "CLI: resume segroup se_group_refs sg-nm" in text.split("To resume SE group(s) sg-nm", 1)[1]
    assert "SE group sg-aa: upgraded (2/2 SE(s) upgraded)" in text
    assert re.search(r"SE group sg-nm: suspended \([01]/2 SE\(s\) upgraded; UPGRADE_FSM_SUSPENDED", text), text[-3000:]
    with open(str(lab.state_dir) + "/run.json") as stream:
        record = json.load(stream)
    assert record["format"] == "fleetops.maintenance.run_record/v1" and record["result"] == "failed"
    results = {(s.get("group"), s["target"]): s["result"] for s in record["steps"]}
    assert results[("sg-nm", "nm-se-01")] == "suspended", results
    assert [results[(g, se)] for g, se in [("sg-aa", "aa-se-01"), ("sg-aa", "aa-se-02"), ("sg-legacy", "lg-se-01"),
                                           ("sg-legacy", "lg-se-02")]] == ["upgraded"] * 4, results
    assert [results[("SE groups", "SE group %s" % g)] for g in ("sg-aa", "sg-legacy", "sg-nm")] == [
        "upgraded", "upgraded", "suspended"], results
    ses = versions(lab)[1]
    assert [ses[se] for se in ("aa-se-01", "aa-se-02", "lg-se-01", "lg-se-02", "nm-se-01")] == ["22.1.7"] * 4 + ["22.1.6"]
    # an existing record rendered again, elsewhere, by the render_report playbook
    run = playbook("render_report", extra_vars={"record_file": str(lab.state_dir) + "/run.json",
                                                "html_file": str(lab.state_dir) + "/again.html"})
    assert run[0] == 0 and run.stats["render_report_file"] == str(lab.state_dir) + "/again.html", run[1][-2000:]
    with open(str(lab.state_dir) + "/again.html") as stream:
        assert 'data-target="nm-se-02"' in stream.read()
    run = playbook("render_report", extra_vars={"record_file": str(lab.state_dir) + "/lab.json"})
    assert run[0] != 0 and "not a run record: format must be" in flat(run[1])
    world = lab.admin("GET", "world")["service_engines"]
    assert world["nm-se-01"]["enable_state"] == "SE_STATE_ENABLED"
    assert sorted(world["nm-se-01"]["vs"]) == ["nm-scaled-1", "nm-single-1"], "temporary placement removed"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0

    rc, out = upgrade()
    assert rc != 0 and "run again with resume=true" in flat(out)
    rc, out = upgrade(resume=True)
    assert rc == 0, out[-3000:]
    assert set(versions(lab)[1].values()) == {"22.1.7"}
    assert "protected by a temporary second SE: nm-single-1, nm-single-2" in flat(out), "a resume protects too"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_canary_group_stops_for_approval_then_continues(lab, upgrade):
    rc, out = upgrade(canary=True)
    assert rc == 0, out[-3000:]
    assert "stopped after the canary SE group sg-aa" in flat(out)
    controller, ses = versions(lab)
    assert controller == "22.1.7"
    assert [name for name, version in sorted(ses.items()) if version == "22.1.7"] == ["aa-se-01", "aa-se-02"]
    rc, out = upgrade(canary=True, canary_group="sg-nm", canary_then="continue")
    assert rc == 0, out[-3000:]
    assert set(versions(lab)[1].values()) == {"22.1.7"}
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_vendor_system_upgrade_disrupts_single_se_vss_the_role_does_not(lab, upgrade):
    rc, out = upgrade(upgrade_strategy="system", protect=False)
    assert rc == 0, out[-3000:]
    assert disrupted(lab) == ["nm-single-1", "nm-single-2"]
    assert set(versions(lab)[1].values()) == {"22.1.7"}


def test_disruptive_fast_path_upgrades_every_se_of_a_group_at_once(lab, upgrade):
    rc, out = upgrade(disruptive=True)
    assert rc == 0, out[-3000:]
    assert set(versions(lab)[1].values()) == {"22.1.7"}
    ops = [op for op in lab.admin("GET", "stats")["operations"] if op["kind"] == "se_upgrade"]
    nm = sorted((op for op in ops if op["target"].startswith("nm-")), key=lambda op: op["started"])
    assert len(nm) == 2 and nm[1]["started"] < nm[0]["ended"], "the two SEs of sg-nm upgraded at once"
    assert {"nm-single-1", "nm-scaled-1", "aa-1"} <= set(disrupted(lab))


def test_cluster_that_does_not_reform_rolls_back_and_no_se_is_touched(lab, upgrade):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "cluster_reform", "count": 1})
    rc, out = upgrade()
    assert rc != 0
    text = flat(out)
    assert "controller cluster: failed" in text and "no Service Engine was touched" in text
    controller, ses = versions(lab)
    assert controller == "22.1.6" and set(ses.values()) == {"22.1.6"}
    assert not [op for op in lab.admin("GET", "stats")["operations"] if op["kind"] in ("se_upgrade", "scaleout")]


def test_bad_input_is_refused_naming_the_accepted_values(lab, upgrade):
    rc, out = upgrade(upgrade_strategy="per_se")
    assert rc != 0
    assert "upgrade_strategy" in flat(out) and "per_se" in flat(out) and "se_groups" in flat(out)
    # the old name (a play keyword, which ansible-core warns about) is refused with the new one, never ignored
    rc, out = upgrade(strategy="system")
    assert rc != 0 and "-e upgrade_strategy=system" in flat(out)
    rc, out = upgrade(version="")
    assert rc != 0 and "Set version" in flat(out)
    assert lab.admin("GET", "stats")["operations"] == []
