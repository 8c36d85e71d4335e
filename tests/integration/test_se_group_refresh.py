"""Redefined hardware (fleetops.maintenance.se_group_refresh through playbooks/refresh_se_group.yml) against the lab
(lab/topologies/refresh.yml): the plan in check mode, then the run (one SE at a time: disabled, evacuated by the
controller, verified, deleted; the controller creates SEs on the new definition where placement needs them, not one
per deleted SE), idempotence, the refusals (legacy active/standby, a cloud in which the controller cannot create
SEs), and a run killed anywhere that a re-run brings to the uninterrupted end state."""
import pytest

from conftest import PlaybookLab, run_playbook
from crashkit import intent_records, kill_ids, kill_then_rerun, running, start

WEB_VS = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"]
OLD = ["web-se-01", "web-se-02", "web-se-03"]


@pytest.fixture
def lab(tmp_path):
    the_lab = PlaybookLab(tmp_path / "lab", "refresh.yml")
    the_lab.max_lifetime = 1200
    the_lab.start(reset=True)
    yield the_lab
    the_lab.stop()


def group_ses(lab, group):
    return dict((n, se) for n, se in lab.admin("GET", "world")["service_engines"].items() if se["group"] == group)


def test_refresh_replaces_every_se_one_at_a_time_and_loses_nothing(lab):
    hardware = {"se_group": "sg-web", "vcpus_per_se": 2, "memory_per_se": 4096}

    # the plan: the hardware change, then every old SE, targets predicted; nothing changes
    run = run_playbook(lab, "refresh_se_group", extra_vars=hardware, check=True, diff=True)
    assert run[0] == 0, run[1][-3000:]
    result = run.stats["refresh_se_group_result"]
    plan = result["plan"]
    assert plan["predicted"] is True and "prediction" in plan["prediction"]
    assert plan["actions"][0].startswith("set SE group sg-web:")
    assert sorted(r["name"] for r in plan["replacements"]) == OLD
    assert "(predicted)" in run[1]
    assert lab.admin("GET", "stats")["operations"] == []
    assert sorted(group_ses(lab, "sg-web")) == OLD

    # the run
    run = run_playbook(lab, "refresh_se_group", extra_vars=hardware)
    assert run[0] == 0, run[1][-3000:]
    result = run.stats["refresh_se_group_result"]
    assert [r["name"] for r in result["replaced"]] == [r["name"] for r in plan["replacements"]]
    assert result["verified"]["problems"] == []
    created = result["created_service_engines"]
    assert created and all(se["resources"]["num_vcpus"] == 2 and se["resources"]["memory"] == 4096
                           for se in created), created
    ses = group_ses(lab, "sg-web")
    assert not set(OLD) & set(ses), ses                     # every old SE deleted
    assert sorted(ses) == sorted(se["name"] for se in created)
    assert result["service_engines"] == {"before": 3, "after": len(created)}
    on = sorted(vs for se in ses.values() for vs in se["vs"])
    assert sorted(set(on)) == WEB_VS and all(se["oper"] == "OPER_UP" for se in ses.values())
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    assert lab.client(password=lab.credentials["password"]).by_name(
        "serviceenginegroup", "sg-web")["vcpus_per_se"] == 2

    # idempotent: every SE is on the new hardware
    run = run_playbook(lab, "refresh_se_group", extra_vars=hardware)
    assert run[0] == 0 and run.stats["refresh_se_group_result"]["replaced"] == [], run[1][-3000:]
    assert "changed=0" in run[1]


@pytest.mark.parametrize("group, why", [("sg-legacy", "legacy active/standby|HA_MODE_LEGACY_ACTIVE_STANDBY"),
                                        ("sg-readonly", "READ_ACCESS|cannot create|create")])
def test_refresh_refuses_what_it_cannot_do_naming_why(lab, group, why):
    import re
    run = run_playbook(lab, "refresh_se_group", extra_vars={"se_group": group, "vcpus_per_se": 4})
    assert run[0] != 0
    out = " ".join(run[1].split())
    assert "not refreshing SE group '%s'" % group in out and re.search(why, out), out[-3000:]
    assert lab.admin("GET", "stats")["operations"] == []


# -- kill it anywhere (issue 11/12): the refresh is killed while an SE is evacuated (playbook and module) and while the
# controller creates a replacement SE (the playbook alone: its module goes on); the same command runs
# again; the end state must equal an uninterrupted run's, with 0 VS-seconds. Kill points are read from the lab's
# operations, never timed. One lab for the three runs, at a time scale at which an operation lasts long enough to
# be seen (se_create 1.2 s).
HARDWARE = {"se_group": "sg-web", "vcpus_per_se": 2, "memory_per_se": 4096}
KILLS = [("se_disable", True), ("se_create", False)]


def refresh_end_state(lab):
    """What a refresh leaves: the group's SEs (enable state, oper state), placement, intent records, disruption. The
    controller names the SEs it creates at random (web-se-<5 letters>): such an SE is named by what it holds."""
    ses = group_ses(lab, "sg-web")
    label = dict((n, n if n in OLD else "new SE with %s" % ",".join(sorted(se["vs"]))) for n, se in ses.items())
    placement = {}
    for name, se in ses.items():
        for vs in se["vs"]:
            placement.setdefault(vs, []).append(label[name])
    return {"service_engines": dict((label[n], (se["enable_state"], se["oper"])) for n, se in ses.items()),
            "placement": dict((vs, sorted(on)) for vs, on in placement.items()), "records": intent_records(lab),
            "vs_seconds": lab.admin("GET", "disruption")["total_vs_seconds"]}


@pytest.fixture(scope="module")
def refresh_crash_lab(tmp_path_factory):
    the_lab = PlaybookLab(tmp_path_factory.mktemp("refresh-crash"), "refresh.yml", time_scale=0.02)
    the_lab.max_lifetime = 1200
    yield from the_lab.running()


@pytest.fixture(scope="module")
def refresh_uninterrupted(refresh_crash_lab, tmp_path_factory):
    lab = refresh_crash_lab
    lab.admin("POST", "reset")
    proc, _marker, log = start(lab, tmp_path_factory.mktemp("refresh-clean"), "clean", "refresh_se_group", HARDWARE)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    after = refresh_end_state(lab)
    assert not set(OLD) & set(after["service_engines"]) and sorted(after["placement"]) == WEB_VS
    assert after["records"] == [] and after["vs_seconds"] == 0
    assert set(after["service_engines"].values()) == {("SE_STATE_ENABLED", "OPER_UP")}
    return after


@pytest.mark.parametrize("point,module", KILLS, ids=kill_ids(KILLS))
def test_refresh_killed_anywhere_a_rerun_converges_to_the_uninterrupted_end_state(
        refresh_crash_lab, refresh_uninterrupted, tmp_path, point, module):
    kill_then_rerun(refresh_crash_lab, tmp_path, "refresh_se_group", HARDWARE,
                    lambda lab: running(lab, point), module, point)
    assert refresh_end_state(refresh_crash_lab) == refresh_uninterrupted
