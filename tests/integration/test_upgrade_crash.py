"""Kill the rolling upgrade anywhere (issue 12): the upgrade playbook is killed while the controllers reboot, while
protection scales virtual services out, while an SE upgrades and while they are scaled back in - the playbook alone
(its module goes on) and the playbook with its module - then the same command runs again; the end
state must equal an uninterrupted run's, with 0 VS-seconds of disruption.

The kill points are read from the lab's state (its operations and reboot window), never timed; the playbook runs as
a user runs it (ansible-playbook), in a process group of its own; "its module" is every process that carries this
run's marker in its environment (the module, and the worker that waits for it).
"""
import pytest

from crashkit import intent_records, kill_ids, kill_then_rerun, running, start

PLAYBOOK_VARS = {"version": "22.1.7", "deployment": "vm", "remove_created_ses": True, "wait_sleep": 0.5}


KILL_POINTS = {
    "reboot": lambda lab: lab.admin("GET", "upgrade")["controller"]["api"] == "rebooting",
    "protection": lambda lab: running(lab, "scaleout"),
    "se_upgrade": lambda lab: running(lab, "se_upgrade"),
    "scale_in": lambda lab: running(lab, "scalein"),
}


def end_state(lab):
    """What an upgrade leaves: versions, SEs (group, enable state), placement, intent records, disruption."""
    summary = lab.admin("GET", "upgrade")
    world = lab.admin("GET", "world")["service_engines"]
    placement = {}
    for se, info in world.items():
        for vs in info["vs"]:
            placement.setdefault(vs, []).append(se)
    records = intent_records(lab)
    return {"controller": summary["controller"]["version"], "running": summary["running"],
            "service_engines": dict((n, (i["group"], i["enable_state"], i["version"], i["oper"]))
                                    for n, i in world.items()),
            "placement": dict((vs, sorted(ses)) for vs, ses in placement.items()), "records": records,
            "vs_seconds": lab.admin("GET", "disruption")["total_vs_seconds"]}


@pytest.fixture(scope="module")
def crash_lab(tmp_path_factory):
    from conftest import PlaybookLab
    lab = PlaybookLab(tmp_path_factory.mktemp("crash"), "upgrade_crash.yml")
    lab.max_lifetime = 3600   # every run of the module on one lab, on a loaded machine
    yield from lab.running()   # started with --reset, stopped whatever happens


@pytest.fixture(scope="module")
def uninterrupted(crash_lab, tmp_path_factory):
    """The end state of a run nobody killed (and what the world was before it)."""
    crash_lab.admin("POST", "reset")
    before = end_state(crash_lab)
    proc, _marker, log = start(crash_lab, tmp_path_factory.mktemp("clean"), "clean", "upgrade", PLAYBOOK_VARS)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    return before, end_state(crash_lab)


def test_an_uninterrupted_run_leaves_the_system_as_it_was_but_upgraded(uninterrupted):
    before, after = uninterrupted
    assert before["controller"] == "22.1.6" and after["controller"] == "22.1.7"
    assert set(v[2] for v in after["service_engines"].values()) == {"22.1.7"}
    assert after["placement"] == before["placement"] and after["records"] == [] and after["vs_seconds"] == 0
    assert dict((n, s[:2]) for n, s in after["service_engines"].items()) == dict(
        (n, s[:2]) for n, s in before["service_engines"].items())


# every kill point once, the two ways of killing alternating over them (both ways at every point doubles the time)
KILLS = [("reboot", True), ("protection", False), ("se_upgrade", True), ("scale_in", False)]


@pytest.mark.parametrize("point,module", KILLS, ids=kill_ids(KILLS))
def test_killed_anywhere_a_rerun_converges_to_the_uninterrupted_end_state(
        crash_lab, uninterrupted, tmp_path, point, module):
    kill_then_rerun(crash_lab, tmp_path, "upgrade", PLAYBOOK_VARS, KILL_POINTS[point], module, point)
    assert end_state(crash_lab) == uninterrupted[1]
