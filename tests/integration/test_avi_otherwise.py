"""No circular proofs: SE evacuation (both methods) and VS migration (every target kind) through ansible-playbook
against a lab whose controller decides otherwise than the collection predicts (lab/topologies/otherwise.yml:
another valid target than the documented rules with ties broken by name, SE creations that fail with
CREATE_SE_FAIL / CREATE_SE_TIMEOUT and are retried on another host, every operation slower than timed). The runs
must complete with no virtual service lost or left unplaced, and the plan must call its targets predictions."""
import pytest

from conftest import PlaybookLab, run_playbook


@pytest.fixture
def lab(tmp_path):
    """The 'otherwise' lab, kept alive long enough for several playbook runs on a loaded machine."""
    the_lab = PlaybookLab(tmp_path / "lab", "otherwise.yml")
    the_lab.max_lifetime = 1200
    the_lab.start(reset=True)
    yield the_lab
    the_lab.stop()


def placement(lab):
    """VS name -> sorted SE names, from the lab's world."""
    out = {}
    for name, se in lab.admin("GET", "world")["service_engines"].items():
        for vs in se["vs"]:
            out.setdefault(vs, []).append(name)
    return dict((vs, sorted(ses)) for vs, ses in out.items())


ALL_VS = ["ds-1", "ds-2", "ds-3", "pk-1", "pk-2", "pk-3", "pk-4", "pk-5"]


def test_evacuation_by_both_methods_completes_when_the_controller_decides_otherwise(lab):
    assert lab.admin("GET", "world")["decisions"] == "otherwise"

    # the plan calls its targets predictions (check mode, nothing changes)
    run = run_playbook(lab, "evacuate_se", extra_vars={"service_engine": "pk-se-02"}, check=True, diff=True)
    assert run[0] == 0, run[1][-3000:]
    out = " ".join(run[1].split())
    assert "pk-4: pk-se-02 -> pk-se-03 (predicted)" in out, out[-3000:]
    assert "(check mode: nothing changed)" in out
    assert lab.admin("GET", "stats")["operations"] == []

    # SE evacuation, the controller's method: it puts pk-4 elsewhere than predicted; nothing is lost
    run = run_playbook(lab, "evacuate_se", extra_vars={"service_engine": "pk-se-02", "method": "controller"})
    assert run[0] == 0, run[1][-3000:]
    report = run.stats["se_evacuate_report"]
    assert report["lost"] == [] and report["unplaced"] == [] and report["left_on_se"] == []
    assert report["state"] == "SE_STATE_DISABLED"
    [move] = report["moves"]
    assert move["name"] == "pk-4" and move["to_se"] not in (None, "pk-se-02", "pk-se-03"), move   # not as predicted

    # SE evacuation, one VS at a time: the controller again chooses its own target
    run = run_playbook(lab, "evacuate_se",
                       extra_vars={"service_engine": "pk-se-03", "method": "per_vs", "concurrency": 2})
    assert run[0] == 0, run[1][-3000:]
    report = run.stats["se_evacuate_report"]
    assert report["lost"] == [] and report["unplaced"] == [] and report["left_on_se"] == []
    assert [m["name"] for m in report["moves"]] == ["pk-5"] and report["moves"][0]["result"] == "moved"

    where = placement(lab)
    assert sorted(where) == ALL_VS and all(len(ses) == 1 for ses in where.values()), where
    world = lab.admin("GET", "world")["service_engines"]
    assert world["pk-se-02"]["vs"] == [] and world["pk-se-03"]["vs"] == []
    assert all(world[ses[0]]["oper"] == "OPER_UP" for ses in where.values()), where
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_migration_to_every_target_kind_completes_when_the_controller_decides_otherwise(lab):
    # VS migration: the controller's choice (DISTRIBUTED predicts a new SE; the controller takes an existing one)
    run = run_playbook(lab, "migrate_vs", extra_vars={"virtual_service": "ds-1"})
    assert run[0] == 0, run[1][-3000:]
    result = run.stats["migrate_vs_result"]
    assert result["plan"]["predicted"] is True and result["target"]["predicted"] is False
    assert result["placement"]["after"] and "ds-se-01" not in result["placement"]["after"]
    assert result["target"]["prediction_met"] is False, result["target"]

    # a named SE
    run = run_playbook(lab, "migrate_vs", extra_vars={"virtual_service": "ds-2", "to_se": "ds-se-02"})
    assert run[0] == 0, run[1][-3000:]
    assert run.stats["migrate_vs_result"]["placement"]["after"] == ["ds-se-02"]

    # a host: the controller creates an SE there; its first creations fail and it retries (CREATE_SE_FAIL,
    # CREATE_SE_TIMEOUT events), which the module reports and rides out
    run = run_playbook(lab, "migrate_vs", extra_vars={"virtual_service": "ds-3", "to_host": "esx-03"})
    assert run[0] == 0, run[1][-3000:]
    result = run.stats["migrate_vs_result"]
    created = result["created_service_engine"]
    assert created and result["placement"]["after"] == [created]
    assert created in lab.admin("GET", "world")["hosts"]["esx-03"]["ses"]
    events = " ".join(result.get("events") or [])
    assert "CREATE_SE_FAIL" in events or "CREATE_SE_TIMEOUT" in events, result.get("events")

    # a new SE (the group's last: max_se 4)
    run = run_playbook(lab, "migrate_vs", extra_vars={"virtual_service": "ds-2", "to_new_se": True})
    assert run[0] == 0, run[1][-3000:]
    result = run.stats["migrate_vs_result"]
    assert result["created_service_engine"] and result["placement"]["after"] == [result["created_service_engine"]]

    # no VS lost, duplicated or left unplaced, none ever down
    where = placement(lab)
    assert sorted(where) == ALL_VS and all(len(ses) == 1 for ses in where.values()), where
    world = lab.admin("GET", "world")["service_engines"]
    assert all(world[ses[0]]["oper"] == "OPER_UP" for ses in where.values()), where
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
