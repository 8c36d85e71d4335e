"""SE evacuation and VS migration end to end on a controller of each API generation the collection supports:
17.2 (inventories of the 17.2 docs: no host_ref, the VS list as virtualservice_refs, runtime summaries with the
VIP summaries as a list, collections without `next`), 20.1 (the same inventories, newer runtime fields), 22.1 and
30.2 (ServiceEngineInventory / VsInventory with one VipSummary object), through ansible-playbook against the lab; and the
rolling upgrade on 17.2, 20.1 and 30.2.
Both evacuation methods run, alternating over the generations."""
import pytest
import yaml

from conftest import PlaybookLab, run_playbook

# topology, evacuation method
GENERATIONS = [("avi-17.2.yml", "per_vs"), ("avi-20.1.yml", "controller"), ("avi-22.1.yml", "per_vs"),
               ("avi-30.2.yml", "controller")]


@pytest.fixture
def make_lab(tmp_path):
    """A lab on a topology, kept alive long enough for several playbook runs on a loaded machine."""
    labs = []

    def make(topology):
        the_lab = PlaybookLab(tmp_path / ("lab%d" % len(labs)), topology)
        the_lab.max_lifetime = 1200
        labs.append(the_lab)
        return the_lab.start(reset=True)
    yield make
    for the_lab in labs:
        the_lab.stop()


def world(lab):
    return lab.admin("GET", "world")


@pytest.mark.parametrize("topology,method", GENERATIONS)
def test_evacuate_and_migrate_on_each_api_generation(make_lab, topology, method):
    lab = make_lab(topology)
    with open(lab.topology) as stream:
        version = str(yaml.safe_load(stream)["controller"]["version"])
    env = lab.env

    def env_with_version():
        out = env()
        out["AVI_API_VERSION"] = version       # the operator's API version is the controller's
        return out
    lab.env = env_with_version

    run = run_playbook(lab, "evacuate_se", extra_vars={"service_engine": "nm-se-02", "method": method})
    assert run[0] == 0, run[1][-3000:]
    report = run.stats["se_evacuate_report"]
    assert report["lost"] == [] and report["unplaced"] == [] and report["left_on_se"] == []
    assert report["state"] == "SE_STATE_DISABLED"
    assert sorted(m["name"] for m in report["moves"]) == ["nm-scaled-1", "nm-single-2"]
    se = world(lab)["service_engines"]["nm-se-02"]
    assert se["vs"] == [] and se["enable_state"] == "SE_STATE_DISABLED" and se["oper"] == "OPER_DISABLED"
    assert [m["to_se"] for m in report["moves"]] == ["nm-se-01", "nm-se-01"]   # as predicted (ties by name)

    # a VS onto a new SE, the controller creating it
    run = run_playbook(lab, "migrate_vs", extra_vars={"virtual_service": "nm-single-1", "to_new_se": True})
    assert run[0] == 0, run[1][-3000:]
    result = run.stats["migrate_vs_result"]
    created = result["created_service_engine"]
    assert created and created.startswith("nm-se-") and result["placement"]["after"] == [created]
    assert world(lab)["service_engines"][created]["vs"] == ["nm-single-1"]

    # idempotent, and nothing lost on the way
    run = run_playbook(lab, "evacuate_se", extra_vars={"service_engine": "nm-se-02", "method": method})
    assert run[0] == 0 and "changed=0" in run[1], run[1][-2000:]
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    requests = lab.admin("GET", "stats")["requests"]
    assert requests.get("DELETE", 0) <= 2      # at most the intent records' clean-up: nothing else deleted


# topology, the controller's API version, what the operator asks for (a 17.x controller cannot tell an image path's
# version, so its operator names both), the version every SE ends on
UPGRADES = [("upgrade-legacy.yml", "17.2.8", {"image": "controller://upgrade_pkgs/controller.pkg", "version": "17.2.14"},
             "17.2.14"),
            ("avi-20.1.yml", "20.1.6", {"version": "20.1.9"}, "20.1.9"),
            ("avi-30.2.yml", "30.2.1", {"version": "30.2.2"}, "30.2.2")]


@pytest.mark.parametrize("topology,api_version,asked,target", UPGRADES, ids=[u[1] for u in UPGRADES])
def test_rolling_upgrade_on_each_api_generation_loses_no_virtual_service(make_lab, topology, api_version, asked,
                                                                         target):
    """The upgrade playbook's auto strategy on each generation: the system upgrade on 17.x (POST /api/cluster/upgrade
    with a controller:// package path; no SE-group upgrade there), the SE-group upgrade on 20.1 and 30.2, the VSs at
    risk protected first; every SE on the target, 0 VS-seconds, and a re-run changes nothing."""
    lab = make_lab(topology)
    env = lab.env

    def env_with_version():
        out = env()
        out["AVI_API_VERSION"] = api_version
        return out
    lab.env = env_with_version
    upgrade = dict(asked, deployment="vm", wait_sleep=0.5)
    run = run_playbook(lab, "upgrade", extra_vars=upgrade)
    assert run[0] == 0, run[1][-3000:]
    ses = world(lab)["service_engines"]
    assert set(se["version"] for se in ses.values()) == {target}, ses
    assert lab.admin("GET", "upgrade")["controller"]["version"] == target
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    run = run_playbook(lab, "upgrade", extra_vars=upgrade)
    assert run[0] == 0 and "changed=0" in run[1], run[1][-2000:]
