"""Move back and the fleet's rolling maintenance on VirtFusion (issue 18 items 2 and 5), with ansible-playbook against
the lab's VirtFusion plane (real QEMU guests), topology virtfusion_fleet: hv-1 holds a-1 and a-2, hv-2 b-1, hv-3 c-1,
hv-4 is empty, each with room for three 32 MiB servers (maxMemory 96); hv-5 holds big-1 (80 MiB), which no other
hypervisor has room for. One lab for the module: the tests run in order, each starts and ends with every server
home; every assertion on what happened reads the lab's own records (GET /_lab/world, /_lab/migrations)."""
import datetime
import functools
import os
import threading
import time

import pytest
import yaml

from conftest import ROOT, VirtFusionPlaybookLab, run_playbook
from test_fleet_move_back import spans_of
from test_playbooks import flat, recap
from test_virtfusion_playbooks import UNREADABLE

TOPOLOGY = os.path.join(ROOT, "lab", "topologies", "virtfusion_fleet.yml")
FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")
ACCEPT = ",".join(UNREADABLE)   # what the lab's REST API cannot show (tests/integration/test_virtfusion_playbooks.py)


@pytest.fixture(scope="module")
def flab(tmp_path_factory):
    the_lab = VirtFusionPlaybookLab(tmp_path_factory.mktemp("vffleet") / "lab", topology="virtfusion_fleet.yml")
    the_lab.max_lifetime = 1800
    yield from the_lab.running()


@pytest.fixture
def fplaybook(flab):
    return functools.partial(run_playbook, flab)


def seeded():
    with open(TOPOLOGY) as fh:
        topo = yaml.safe_load(fh)["virtfusion"]
    names = dict((h["id"], h["name"]) for h in topo["hypervisors"])
    return topo, dict((s["name"], names[s["hypervisor"]]) for s in topo["servers"])


def migrations(lab):
    return lab.vfadmin("GET", "migrations")["migrations"]


class Watch(object):
    """Samples the lab's world while a playbook runs: memory each hypervisor holds against its limit (a server counts
    where the vendor lists it), and which hypervisors are cordoned (prohibit) at once."""

    def __init__(self, lab, topo):
        self.lab, self.stop = lab, threading.Event()
        self.limit = dict((h["name"], h["max_memory"]) for h in topo["hypervisors"])
        self.over, self.cordoned, self.samples = [], 0, 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            world = self.lab.vfadmin("GET", "world")
            names = dict((h["id"], h["name"]) for h in world["hypervisors"])
            used = {}
            for s in world["servers"]:
                used[names[s["hypervisorId"]]] = used.get(names[s["hypervisorId"]], 0) + s["memory"]
            self.over += [(h, m) for h, m in used.items() if m > self.limit[h]]
            self.cordoned = max(self.cordoned, sum(1 for h in world["hypervisors"] if h.get("prohibit")))
            self.samples += 1
            time.sleep(0.3)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def test_move_back_after_a_hypervisor_evacuation(flab, fplaybook):
    """Evacuate hv-1 (its servers go where the vendor's numbers show room), then move back from its run record:
    check mode changes nothing, the run brings a-1 and a-2 home live (their QEMU guests kept running), a re-run
    changes nothing."""
    _topo, home = seeded()
    assert flab.where() == home
    record = str(flab.state_dir) + "/hv-1.json"
    rc, out = fplaybook("evacuate_host", extra_vars={"provider": "virtfusion", "hypervisor": "hv-1",
                                                     "exclude_destinations": "hv-5", "accept_unverified": ACCEPT,
                                                     "report_file": record})
    assert rc == 0, out[-3000:]
    away = flab.where()
    assert away["a-1"] not in ("hv-1", "hv-5") and away["a-2"] not in ("hv-1", "hv-5"), away
    started = len(migrations(flab))
    rc, out = fplaybook("move_back_host", extra_vars={"provider": "virtfusion", "record": record,
                                                      "accept_unverified": ACCEPT}, check=True)
    assert rc == 0, out[-3000:]
    assert "a-1: %s -> hv-1: would move back" % away["a-1"] in flat(out), out[-3000:]
    assert flab.where() == away and len(migrations(flab)) == started            # check mode changes nothing
    run = fplaybook("move_back_host", extra_vars={"provider": "virtfusion", "record": record,
                                                  "accept_unverified": ACCEPT})
    rc, out = run
    assert rc == 0, out[-3000:]
    assert flab.where() == home
    rec = run.stats["host_move_back_report"]["run_record"]
    assert rec["kind"] == "host_move_back" and rec["result"] == "ok"
    assert sorted(s["target"] for s in rec["steps"][1:] if s["result"] == "moved_back") == ["a-1", "a-2"], rec
    back = [m for m in migrations(flab)[started:] if m.get("status") == "complete"]
    assert sorted(m["serverId"] for m in back) == [101, 102] and all(m["destinationId"] == 1 for m in back), back
    for sid in (101, 102):
        assert flab.guest(sid)["qemu"] == "running", flab.guest(sid)   # the guest went on running, live, both ways
    rc, out = fplaybook("move_back_host", extra_vars={"provider": "virtfusion", "record": record,
                                                      "accept_unverified": ACCEPT})
    assert rc == 0 and recap(out)["changed"] == 0, out[-3000:]
    assert flab.where() == home


def test_fleet_window_2_capacity_move_back_and_resume(flab, fplaybook):
    topo, home = seeded()
    assert flab.where() == home
    state_dir = str(flab.state_dir) + "/fleet"
    report_file = str(flab.state_dir) + "/fleet.json"
    fleet = {"provider": "virtfusion", "maintenance": "patch-1", "compute_nodes": "hv-1,hv-2,hv-3", "window": 2,
             "move_back": True, "tasks_file": os.path.join(FILES, "vf_fleet_node_tasks.yml"),
             "vf_fleet_helper": os.path.join(FILES, "vf_hypervisor_maintenance.py"), "accept_unverified": ACCEPT,
             "state_dir": state_dir, "report_file": report_file, "node_connection": "local", "health_timeout": 120}
    before = len(migrations(flab))
    t0 = time.monotonic()
    with Watch(flab, topo) as watch:
        run = fplaybook("maintain_fleet", extra_vars=fleet, timeout=1200)
    print("fleet run: %.1f s" % (time.monotonic() - t0))
    rc, out = run
    assert rc == 0, out[-5000:]
    assert watch.samples > 5 and watch.over == [], watch.over        # no hypervisor ever held more than its limit
    assert 1 <= watch.cordoned <= 2, watch.cordoned                   # never more than the window cordoned
    assert flab.where() == home                                       # every server back on its hypervisor
    done = [m for m in migrations(flab)[before:] if m.get("status") == "complete"]
    assert sorted(set(m["serverId"] for m in done)) == [101, 102, 201, 301], done   # big-1 never moved
    for sid in (101, 102, 201, 301):
        assert flab.guest(sid)["qemu"] == "running", flab.guest(sid)
    world = flab.vfadmin("GET", "world")["hypervisors"]
    assert not any(h.get("prohibit") or h.get("maintenance") for h in world), world   # uncordoned, healthy
    with open(os.path.join(state_dir, "patch-1", "maintenance.log")) as fh:
        assert sorted(line.split()[0] for line in fh) == ["hv-1", "hv-2", "hv-3"]
    stats = run.stats["fleet_maintenance_report"]
    record = stats["run_record"]
    assert record["kind"] == "fleet_maintenance" and record["result"] == "ok"
    nodes = dict((s["target"], s) for s in record["steps"][1:])
    assert sorted(nodes) == ["hv-1", "hv-2", "hv-3"] and all(s["result"] == "maintained" for s in nodes.values())
    assert all(s["target_type"] == "hypervisor" for s in nodes.values())
    # each started when the vendor's numbers showed room for what drained (the placement it predicted is recorded)
    assert all(s["details"]["room"]["verdict"] == "pass" for s in nodes.values()), nodes
    assert "a-1 -> " in nodes["hv-1"]["details"]["room"]["detail"], nodes["hv-1"]["details"]["room"]
    for step in nodes.values():
        names = [p["name"] for p in step["phases"]]
        assert names[-5:] == ["evacuate", "maintenance", "health", "uncordon", "move back"], names
        health = [p for p in step["phases"] if p["name"] == "health"][0]
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
        waited = (datetime.datetime.strptime(health["end"], fmt)
                  - datetime.datetime.strptime(health["start"], fmt)).total_seconds()
        assert waited >= 2, (step["target"], waited)      # it waited for the hypervisor to leave maintenance mode
    spans = spans_of(record)
    at_once = max(sum(1 for s, e in spans.values() if s <= t < e) for t, _e in spans.values())
    assert at_once == 2, spans          # the window was used, and never exceeded
    assert max(s for s, _e in spans.values()) >= min(e for _s, e in spans.values()), spans   # the third waited
    numbers = stats["numbers"]
    assert (numbers["nodes"], numbers["window"], numbers["peak_draining"]) == (3, 2, 2), numbers
    assert numbers["wall_seconds"] >= numbers["ideal_seconds"] > 0, numbers
    print("virtfusion fleet: %d nodes, window %d: wall %.1f s, ideal %.1f s (busy %.1f s)" % (
        numbers["nodes"], numbers["window"], numbers["wall_seconds"], numbers["ideal_seconds"], numbers["busy_seconds"]))
    # resume: a re-run of the same maintenance skips every node it finished and changes nothing
    rc, out = fplaybook("maintain_fleet", extra_vars=fleet, timeout=600)
    assert rc == 0 and recap(out)["changed"] == 0, out[-3000:]
    assert "0 maintained, 3 done before" in flat(out), out[-3000:]
    assert flab.where() == home


def test_fleet_plan_in_check_mode_and_refusal(flab, fplaybook):
    """Check mode shows the plan, node by node with its capacity verdict, and changes nothing: hv-4 (empty) passes,
    hv-5's big-1 (80 MiB) fits on no other hypervisor (64 MiB free at most), so hv-5 is refused. The run then refuses
    hv-5 before anything moves or is cordoned."""
    _topo, home = seeded()
    before = len(migrations(flab))
    fleet = {"provider": "virtfusion", "maintenance": "patch-2", "compute_nodes": "hv-4,hv-5", "window": 1,
             "node_connection": "local", "accept_unverified": ACCEPT, "state_dir": str(flab.state_dir) + "/fleet"}
    run = fplaybook("maintain_fleet", extra_vars=fleet, check=True)
    rc, out = run
    assert rc != 0, out[-3000:]
    plan = run.stats["fleet_maintenance_report"]["run_record"]
    assert plan["check_mode"] is True
    steps = dict((s["target"], s) for s in plan["steps"][1:])
    assert sorted(steps) == ["hv-4", "hv-5"], steps
    assert steps["hv-4"]["details"]["room"]["verdict"] == "pass", steps["hv-4"]
    assert steps["hv-4"]["details"]["room"]["detail"] == "no server on hv-4", steps["hv-4"]
    assert steps["hv-5"]["result"] == "failed", steps["hv-5"]
    refusal = "hv-5 not started, nothing moved: 1 server(s), 80 MiB memory, on hv-5: the rest of the fleet cannot " \
              "absorb them"
    assert refusal in flat(out) and "big-1: no destination hypervisor can take it" in flat(out), out[-3000:]
    assert flab.where() == home and len(migrations(flab)) == before
    assert not any(h.get("prohibit") for h in flab.vfadmin("GET", "world")["hypervisors"])
    rc, out = fplaybook("maintain_fleet", extra_vars=dict(fleet, compute_nodes="hv-5", maintenance="patch-3"))
    assert rc != 0, out[-3000:]
    assert refusal in flat(out) and "big-1: no destination hypervisor can take it" in flat(out), out[-3000:]
    assert flab.where() == home and len(migrations(flab)) == before
    assert not any(h.get("prohibit") for h in flab.vfadmin("GET", "world")["hypervisors"])   # never cordoned
