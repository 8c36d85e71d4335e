"""Kill the host evacuation anywhere (issue 12), on Triton and on VirtFusion: the evacuate_host playbook (cordon
on, one instance at a time) is killed while a migration syncs, at a switch and between two instances - the
playbook alone (its module goes on) and the playbook with its module - then the same command runs
again. The re-run adopts the migration in flight instead of starting a second one; the end state must equal an
uninterrupted run's: the source empty, every instance present once and running where the uninterrupted run put
it, one migration each, none left in flight, the source's cordon as the operator had it, the intent records as an
uninterrupted run leaves them.

Kill points are read from the lab's state (its migrations), never timed (tests/integration/crashkit.py); the
suite takes two per provider, FLEETOPS_CRASH_ALL=1 all three. Triton:
a fresh lab per run (the plane has no reset); VirtFusion: one lab, reset before every run.
"""
import pathlib
import shutil

import pytest

from conftest import TritonPlaybookLab, VirtFusionPlaybookLab
from crashkit import Run, chosen, kill_ids
from test_virtfusion_playbooks import VF
from tritonkit import Operator

# -- Triton -----------------------------------------------------------------------------------------------------
TRITON_VARS = {"compute_node": "cn-1", "concurrency": 1, "cordon": True}


def triton_migrations(lab):
    return lab.tadmin("GET", "world")["migrations"]      # instance -> [phase, state]


def triton_between(lab):
    """One instance moved (its switch done), the next not begun."""
    migs = list(triton_migrations(lab).values())
    return len(migs) == 1 and migs[0] == ["switch", "successful"]


HOLD = 1.0      # real seconds


def hold_each_first_action(lab):
    """Answer each instance's first action request (``POST .../machines/UUID``: its migration's begin) HOLD s late,
    with the lab's latency fault. The module starts the next instance within milliseconds of the last one's switch,
    too soon for a kill point read from the lab to be seen reliably on a loaded machine; held, "between" lasts a
    second. The held begin is sent: killed then, the run's begin still reaches the lab, as a real request already
    on the wire does, and the re-run adopts that migration."""
    for info in lab.report().values():
        lab.tadmin("POST", "faults", {"kind": "latency", "method": "POST", "path": "/machines/%s$" % info["uuid"],
                                      "seconds": HOLD, "count": 1})


TRITON_POINTS = {
    "sync": lambda lab: ["sync", "running"] in triton_migrations(lab).values(),
    "switch": lambda lab: ["switch", "running"] in triton_migrations(lab).values(),
    "between": triton_between,
}


def triton_end(lab):
    world = lab.tadmin("GET", "world")
    servers = dict((s["hostname"], s) for s in Operator(lab.t["operator_url"], lab.ca).get("/servers").json())
    instances = {}
    for name, info in lab.report().items():
        migs = info["migrations"]
        instances[name] = {"on": info["server_hostname"], "state": info["state"], "migrations": len(migs),
                           "result": migs[-1]["result"] if migs else None,
                           "data_intact": migs[-1]["data_intact"] if migs else None}
    return {"servers": dict((n, (s["instances"], s["hidden"])) for n, s in world["servers"].items()),
            "in_flight": [n for n, (_phase, state) in world["migrations"].items() if state == "running"],
            "cordon": dict((n, (s.get("reserved"), s.get("comments") or "")) for n, s in servers.items()),
            "instances": instances}


@pytest.fixture(scope="module")
def triton_uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("triton-clean")
    for lab in TritonPlaybookLab(base / "lab", "triton_crash.yml").running():
        run = Run(lab, base, "clean", "evacuate_host", TRITON_VARS)
        assert run.wait() == 0, run.output()
        return triton_end(lab)


def test_triton_an_uninterrupted_evacuation_moves_each_instance_once(triton_uninterrupted):
    end = triton_uninterrupted
    assert end["servers"]["cn-1"] == ([], []) and end["in_flight"] == []
    # cordoned while emptied, its reserved flag restored at the end, the intent record gone from its comments
    assert end["cordon"] == {"cn-1": (False, ""), "cn-2": (False, "")}, end["cordon"]
    assert dict((n, (i["on"], i["state"], i["migrations"], i["result"], i["data_intact"]))
                for n, i in end["instances"].items() if n != "app-1") == {
        "web-1": ("cn-2", "running", 1, "finalized", True), "web-2": ("cn-2", "running", 1, "finalized", True)}


TRITON_KILLS = chosen([("sync", True), ("switch", False), ("between", True)], [("sync", True), ("switch", False)])


@pytest.mark.parametrize("point,module", TRITON_KILLS, ids=kill_ids(TRITON_KILLS))
def test_triton_killed_anywhere_a_rerun_adopts_and_converges(triton_uninterrupted, tmp_path, point, module):
    for lab in TritonPlaybookLab(tmp_path / "lab", "triton_crash.yml").running():
        if point == "between":
            hold_each_first_action(lab)
        killed = Run(lab, tmp_path, "killed", "evacuate_host", TRITON_VARS)
        killed.kill_at(point, lambda: TRITON_POINTS[point](lab), module)
        again = Run(lab, tmp_path, "again", "evacuate_host", TRITON_VARS)
        assert again.wait() == 0, again.output()
        assert triton_end(lab) == triton_uninterrupted
        killed.survivors_end()


# -- VirtFusion -------------------------------------------------------------------------------------------------
def records_dir(lab):
    return pathlib.Path(lab.state_dir) / "records"


def vf_reset(lab):
    """The lab's world as its topology has it, and no intent record left (they live outside the lab)."""
    lab.vfadmin("POST", "reset")
    shutil.rmtree(records_dir(lab), ignore_errors=True)


def vf_vars(lab):
    return dict(VF, hypervisor="hv-a", destination="hv-b", concurrency=1, cordon=True,
                record_dir=str(records_dir(lab)))


def vf_migrations(lab):
    return lab.vfadmin("GET", "migrations")["migrations"]


def vf_step(lab, keys):
    return any(st["key"] in keys and st["status"] == "in-progress" for m in vf_migrations(lab) for st in m["steps"])


def vf_between(lab):
    migs = vf_migrations(lab)
    return len(migs) == 1 and migs[0]["status"] == "complete"


VF_POINTS = {
    "sync": lambda lab: vf_step(lab, ("transfer",)),
    "switch": lambda lab: vf_step(lab, ("start_dst", "finalize")),
    "between": vf_between,
}


def vf_end(lab):
    world = lab.vfadmin("GET", "world")
    hvs = dict((h["id"], h["name"]) for h in world["hypervisors"])
    migs = vf_migrations(lab)
    records = sorted(p.name for p in records_dir(lab).glob("*"))
    return {"servers": dict((s["name"], (hvs[s["hypervisorId"]], s.get("state"))) for s in world["servers"]),
            "migrations": dict((n, sum(1 for m in migs if m["serverName"] == n)) for n in ("web-1", "web-2", "web-3")),
            "results": sorted((m["serverName"], m["status"]) for m in migs),
            "cordon": dict((h["name"], h["prohibit"]) for h in world["hypervisors"]),
            "records": records}


@pytest.fixture(scope="module")
def vf_lab(tmp_path_factory):
    lab = VirtFusionPlaybookLab(tmp_path_factory.mktemp("vf-crash"))
    lab.max_lifetime = 1800   # every run of the module on one lab, on a loaded machine
    yield from lab.running()


@pytest.fixture(scope="module")
def vf_uninterrupted(vf_lab, tmp_path_factory):
    vf_reset(vf_lab)
    run = Run(vf_lab, tmp_path_factory.mktemp("vf-clean"), "clean", "evacuate_host", vf_vars(vf_lab))
    assert run.wait() == 0, run.output()
    return vf_end(vf_lab)


def test_virtfusion_an_uninterrupted_evacuation_moves_each_server_once(vf_uninterrupted):
    end = vf_uninterrupted
    assert [n for n, (hv, _state) in end["servers"].items() if hv == "hv-a"] == [], end["servers"]
    assert end["migrations"] == {"web-1": 1, "web-2": 1, "web-3": 1}, end
    assert all(status == "complete" for _n, status in end["results"]), end["results"]


VF_KILLS = chosen([("sync", False), ("switch", True), ("between", False)], [("switch", True), ("between", False)])


@pytest.mark.parametrize("point,module", VF_KILLS, ids=kill_ids(VF_KILLS))
def test_virtfusion_killed_anywhere_a_rerun_adopts_and_converges(vf_lab, vf_uninterrupted, tmp_path, point, module):
    lab = vf_lab
    vf_reset(lab)
    killed = Run(lab, tmp_path, "killed", "evacuate_host", vf_vars(lab))
    killed.kill_at(point, lambda: VF_POINTS[point](lab), module)
    again = Run(lab, tmp_path, "again", "evacuate_host", vf_vars(lab))
    assert again.wait() == 0, again.output()
    assert vf_end(lab) == vf_uninterrupted
    killed.survivors_end()
