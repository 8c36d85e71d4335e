"""Kill the SE evacuation anywhere (issue 12): the evacuate_se playbook is killed after the SE's placement is
turned off, while virtual services move, while a created SE starts and while the SE is being disabled - the
playbook alone (its module goes on) and the playbook with its module - then the same command
runs again. The end state must equal an uninterrupted run's: the SE disabled and empty, every VS present once,
no VS moved twice, the intent record holding the SE's state from before the first run (what a later
``state=enabled`` restores), 0 VS-seconds of disruption.

Kill points are read from the lab's state (its operations and the SE's enable state), never timed
(tests/integration/crashkit.py). One lab (evacuate_crash topology), reset before every run.
"""
import json

import pytest

from crashkit import Run, chosen, kill_ids

ENABLED, FOR_PLACEMENT = "SE_STATE_ENABLED", "SE_STATE_DISABLED_FOR_PLACEMENT"


def start(lab, tmp_path, name, method):
    return Run(lab, tmp_path, name, "evacuate_se", {"service_engine": "se-1", "method": method})


def operations(lab):
    return lab.admin("GET", "stats")["operations"]


def running(lab, kind):
    return any(o["kind"] == kind and o["result"] == "running" for o in operations(lab))


KILL_POINTS = {
    "placement_off": lambda lab: lab.admin("GET", "world")["service_engines"]["se-1"]["enable_state"] == FOR_PLACEMENT,
    "moving": lambda lab: running(lab, "migrate"),
    "se_create": lambda lab: running(lab, "se_create"),
    "disabling": lambda lab: running(lab, "se_disable"),
}


def end_state(lab):
    """What an evacuation leaves: SEs (group, enable and oper state), placement, the intent records (without the
    run ids and leases, which differ by run), how often each VS moved, operations left running, disruption."""
    world = lab.admin("GET", "world")["service_engines"]
    # an SE the run created has a name of the controller's choosing (the topology has one VS that needs one)
    alias = dict((n, "created-%d" % i) for i, n in enumerate(sorted(set(world) - {"se-1", "se-2"}), 1))
    world = dict((alias.get(n, n), i) for n, i in world.items())
    placement = {}
    for se, info in world.items():
        for vs in info["vs"]:
            placement.setdefault(vs, []).append(se)
    api = lab.client(password=lab.credentials["password"])
    uuids = dict((se["uuid"], alias.get(se["name"], se["name"])) for se in api.get("serviceengine").json()["results"])
    records = {}
    for group in api.get("stringgroup").json()["results"]:
        if group["name"].startswith("fleetops-maintenance-"):
            for kv in group.get("kv") or []:
                value = json.loads(kv["value"])
                value.pop("run", None)    # which run wrote it
                records["%s %s" % (group["name"].split("-serviceengine-")[0], uuids.get(
                    kv["key"].split("/", 1)[-1], kv["key"]))] = value
    moves = {}
    for op in operations(lab):
        if op["kind"] == "migrate" and op["result"] not in ("failed", "cancelled"):
            moves[op["target"]] = moves.get(op["target"], 0) + 1
    return {"service_engines": dict((n, (i["group"], i["enable_state"], i["oper"])) for n, i in world.items()),
            "placement": dict((vs, sorted(ses)) for vs, ses in placement.items()), "records": records,
            "moves": moves, "running": [o["kind"] for o in operations(lab) if o["result"] == "running"],
            "vs_seconds": lab.admin("GET", "disruption")["total_vs_seconds"]}


@pytest.fixture(scope="module")
def crash_lab(tmp_path_factory):
    from conftest import PlaybookLab
    lab = PlaybookLab(tmp_path_factory.mktemp("se-crash"), "evacuate_crash.yml")
    lab.max_lifetime = 1800   # every run of the module on one lab, on a loaded machine
    yield from lab.running()   # started with --reset, stopped whatever happens


@pytest.fixture(scope="module")
def uninterrupted(crash_lab, tmp_path_factory):
    """Per method, the end state of a run nobody killed."""
    ends = {}

    def end(method):
        if method not in ends:
            crash_lab.admin("POST", "reset")
            run = start(crash_lab, tmp_path_factory.mktemp("clean"), "clean", method)
            assert run.wait() == 0, run.output(3000)
            ends[method] = end_state(crash_lab)
        return ends[method]
    return end


def test_an_uninterrupted_evacuation_empties_the_se_and_records_its_state(uninterrupted):
    after = uninterrupted("per_vs")
    ses = after["service_engines"]
    assert ses["se-1"][1:] == ("SE_STATE_DISABLED", "OPER_DISABLED"), ses
    assert sorted(after["placement"]) == ["vs-1", "vs-2", "vs-3"] and all(
        len(ses_of) == 1 and ses_of != ["se-1"] for ses_of in after["placement"].values()), after["placement"]
    assert len(ses) == 3, "one SE created for the VS that fits nowhere: %s" % ses
    assert after["moves"] == {"vs-1": 1, "vs-2": 1} and after["vs_seconds"] == 0 and after["running"] == []
    assert after["records"] == {"fleetops-maintenance-se-evacuate se-1": {"was": ENABLED}}, after["records"]


# the kill points and the two ways of killing alternate over them (every combination would double the time); the
# suite takes the first two (one uninterrupted run), FLEETOPS_CRASH_ALL=1 all of them
EVERY = [("placement_off", True, "per_vs"), ("moving", False, "per_vs"), ("se_create", True, "per_vs"),
         ("moving", True, "controller")]
KILLS = chosen(EVERY, EVERY[:2])


@pytest.mark.parametrize("point,module,method", KILLS,
                         ids=["%s-%s" % (i, m) for i, (_p, _k, m) in zip(kill_ids([k[:2] for k in KILLS]), KILLS)])
def test_killed_anywhere_a_rerun_converges_to_the_uninterrupted_end_state(
        crash_lab, uninterrupted, tmp_path, point, module, method):
    wanted = uninterrupted(method)
    lab = crash_lab
    lab.admin("POST", "reset")
    killed = start(lab, tmp_path, "killed", method)
    killed.kill_at(point, lambda: KILL_POINTS[point](lab), module)
    again = start(lab, tmp_path, "again", method)
    assert again.wait() == 0, again.output()
    assert end_state(lab) == wanted     # when the re-run reports success, not later
    killed.survivors_end()
