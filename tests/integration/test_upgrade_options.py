"""Upgrade options no other test passes, end to end on a controller deployed as containers and too far from its
image (tests/integration/files/upgrade_far_docker.yml: 22.1.4, the 22.1.7 image needs at least 22.1.5):

- the upgrade playbook's plans in check mode: the SE-group upgrade one group at a time with force, the container
  deployment stated and action_on_error continue; the system upgrade from a local image file, its type checked
  against the deployment the controller reports (deployment auto), with action_on_error rollback (what the
  controller does with each action_on_error is shown by the module's own runs below);
- cluster_upgrade refused while a run on another machine holds the upgrade (tests/integration/files/upgrade_held.yml);
- cluster_upgrade itself (tests/integration/files/upgrade_options.yml): every top-level connection option, the
  version-distance refusal and force, a controller upgrade started without waiting and then taken over, SE groups
  with action_on_error continue and rollback, state=verified against a baseline (kept_service_engines), without
  certificate verification, and state=rolled_back.

Each outcome is asserted on the lab: versions, the controller's operations, what clients felt. These close gaps the
option coverage stage (scripts/option_coverage.py) found."""
import os
import subprocess
import sys

import pytest
from conftest import ROOT, PlaybookLab, run_playbook
from test_avi_takeover import assert_refused_while_held, plant_lease
from test_upgrade import flat

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")


@pytest.fixture
def lab(tmp_path):
    the_lab = PlaybookLab(tmp_path / "lab", os.path.join(FILES, "upgrade_far_docker.yml"))
    the_lab.max_lifetime = 1200
    yield from the_lab.running()


def versions(lab):
    summary = lab.admin("GET", "upgrade")
    return summary["controller"]["version"], dict(
        (name, se["version"]) for group in summary["se_groups"].values() for name, se in group["service_engines"].items())


def test_upgrade_options_on_a_container_controller_too_far_from_its_image(lab, tmp_path):
    # the plan of the SE-group upgrade, forced, one group at a time: every VS of the forced groups loses service
    # (forcing makes the upgrade disruptive), the image confirmed by the deployment stated; nothing changes
    run = run_playbook(lab, "upgrade", check=True, extra_vars={
        "version": "22.1.7", "deployment": "docker", "force": True, "upgrade_strategy": "se_groups",
        "action_on_error": "continue", "parallel_groups": False, "takeover": True, "wait_sleep": 0.5})
    rc, out = run
    assert rc == 0, out[-4000:]
    text = flat(out)
    assert "the controllers, then the SE groups one at a time (check mode: nothing changes)" in text, text[-3000:]
    assert "4 virtual service(s) will lose service: aa-1, nm-scaled-1, nm-single-1, nm-single-2" in text
    assert "the operator states the deployment: a container (docker) deployment, which takes controller_docker.tgz" in text
    _start, events = run.task_events("Plan the upgrade (check mode)")
    plan = next(e for e in events if e["event"] == "runner_on_ok")["event_data"]["res"]["plan"]
    assert all(node["all_at_once"] for node in plan["nodes"]), plan["nodes"]      # forced: disruptive
    assert run.stats["rolling_upgrade_report"]["details"]["parallel_groups"] is False
    assert "Upgrade to 22.1.7: ok (check mode: nothing changed)" in text

    # the plan of the system upgrade from a local image (not forced: 22.1.8 accepts 22.1.4), its package type
    # checked against the controller's own deployment, single-SE VSs protected (the
    # image is not uploaded in check mode, so the controller's dry run, which would echo action_on_error, does not run)
    pkg = str(tmp_path / "controller_docker.tgz")
    subprocess.run([sys.executable, "-m", "lab", "make-image", "--version", "22.1.8", "--build", "9400",
                    "--min-version", "22.1.1", "--package", "controller_docker.tgz", "--out", pkg],
                   cwd=ROOT, check=True, capture_output=True, timeout=60)
    run = run_playbook(lab, "upgrade", check=True, extra_vars={
        "image": pkg, "version": "22.1.8", "upgrade_strategy": "system", "action_on_error": "rollback",
        "wait_sleep": 0.5})
    rc, out = run
    assert rc == 0, out[-4000:]
    text = flat(out)
    assert "system upgrade (check mode: nothing changes)" in text, text[-3000:]
    assert ("image controller_docker.tgz is a controller_docker.tgz package: fits the controller (a container "
            "(docker) deployment, which takes controller_docker.tgz)") in text
    assert "0 virtual service(s) will lose service" in text and "protection: 2 scale-out(s)" in text
    assert lab.admin("GET", "stats")["operations"] == []
    images = [i["name"] for i in lab.admin("GET", "upgrade")["images"]]
    assert images == ["controller-22.1.4-9100", "controller-22.1.7-9300"], "nothing uploaded"

    # a run on another machine holds the upgrade (its lease planted, an hour to go): without takeover the module
    # waits out its timeout, then refuses, naming that run; nothing changes
    api = lab.client(password=lab.credentials["password"])
    plant_lease(api, "upgrade")
    run = run_playbook(lab, os.path.join(FILES, "upgrade_held.yml"))
    assert run[0] == 0, run[1][-3000:]
    held = run.stats["upgrade_held"]
    assert_refused_while_held(held)
    assert "fleetops-maintenance-upgrade (StringGroup on " in held["msg"], held["msg"]
    assert lab.admin("GET", "stats")["operations"] == [] and versions(lab)[0] == "22.1.4"
    record = api.by_name("stringgroup", "fleetops-maintenance-upgrade")
    assert api.delete("stringgroup/" + record["uuid"]).status_code in (200, 204)   # the planted run is gone

    # the module itself
    run = run_playbook(lab, os.path.join(FILES, "upgrade_options.yml"))
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["upgrade_options"]
    ops = [(op["kind"], op["target"]) for op in lab.admin("GET", "stats")["operations"]]

    # refused without force, naming the distance; nothing started by it
    assert r["refused"]["failed"] and "too far from 22.1.7" in r["refused"]["msg"], r["refused"]
    assert "skip_warnings" in r["refused"]["msg"]
    # an SE group before the controller: refused, naming the order (the module's own check, not the controller's)
    assert r["se_group_first"]["failed"] and r["se_group_first"]["msg"].startswith(
        "the controller runs 22.1.4: upgrade it to 22.1.7 first (scope=controller)"), r["se_group_first"]
    # started with force without waiting (no end check), then taken over: one controller upgrade, verified
    assert r["started"]["changed"] and "verification" not in r["started"], r["started"]
    assert r["controller"]["verification"]["ok"] is True, r["controller"]
    assert [op for op in ops if op[0] == "controller_upgrade"] == [("controller_upgrade", "cluster-0-1")], ops
    # the SE groups forced: disruptive (every SE of a group at once), the controller told what to do on error
    for key, group, action in (("sg_nm", "sg-nm", "CONTINUE"), ("sg_aa", "sg-aa", "ROLLBACK")):
        plan = r[key]["plan"]
        assert plan["prechecks"]["se_group_options"] == {"action_on_error": action + "_UPGRADE_OPS_ON_ERROR",
                                                         "disruptive": True}, plan["prechecks"]
        assert r[key]["se_group_results"][0]["result"] == "upgraded", r[key]["se_group_results"]
    disruption = lab.admin("GET", "disruption")["virtualservice"]
    assert sorted(name for name, vs in disruption.items() if vs["unavailable_seconds"]) == [
        "aa-1", "nm-scaled-1", "nm-single-1", "nm-single-2"]

    # verified against the baseline: the SE created since is a difference, unless kept
    new_se = r["scaled_out"]["created_service_engines"][0]
    assert r["differs"]["failed"] and r["differs"]["verification"]["differences"] == [
        "SE %s (SE group sg-nm) was not there before the upgrade" % new_se], r["differs"]
    assert r["kept"]["verification"] == {"ok": True, "differences": [], "kept_service_engines": [new_se]}

    # sg-aa rolled back to 22.1.4 by the vendor's rollback; the rest stays on 22.1.7
    assert r["rolled_back"]["changed"] and r["rolled_back"]["versions"]["after"] == {
        "service_engine aa-se-01": "22.1.4", "service_engine aa-se-02": "22.1.4"}, r["rolled_back"]
    assert ("se_group_rollback", "sg-aa") in ops
    controller, ses = versions(lab)
    assert controller == "22.1.7" and ses == {"aa-se-01": "22.1.4", "aa-se-02": "22.1.4", "nm-se-01": "22.1.7",
                                              "nm-se-02": "22.1.7", new_se: "22.1.7"}, ses


def test_the_17x_upgrade_api_named_on_a_17x_controller(make_lab):
    """cluster_upgrade with api=legacy (tests/integration/files/upgrade_legacy_api.yml) on a 17.2 controller: the
    system upgrade through POST /api/cluster/upgrade, the single-SE VS protected first; then nothing to do."""
    lab = make_lab("upgrade-legacy.yml")
    run = run_playbook(lab, os.path.join(FILES, "upgrade_legacy_api.yml"))
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["upgrade_legacy_api"]
    assert r["upgraded"]["changed"] and r["upgraded"]["api"] == "17.x", r["upgraded"]
    assert r["upgraded"]["verification"]["ok"] is True
    assert not r["again"]["changed"], r["again"]
    controller, ses = versions(lab)
    assert controller == "17.2.14" and set(ses.values()) == {"17.2.14"}, ses
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    assert [op["kind"] for op in lab.admin("GET", "stats")["operations"]].count("system_upgrade") == 1
