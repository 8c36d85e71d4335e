"""Disruption budgets, anti-affinity and capacity-aware VirtFusion destinations (issue 18 items 3 and 4), through
instance_migrate (ansible -m) and the host_evacuate role (ansible-playbook) against the lab's VirtFusion plane,
topology virtfusion_budgets: hv-src holds db-1, db-2, web-1, web-2; hv-c already holds db-0; hv-d has room for one
32 MiB server; hv-e sets no limits (its room is unknown). One lab for the whole story: refusals first (nothing
moves), then check mode, then the evacuation; every assertion on what happened reads the lab's own records."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, VirtFusionPlaybookLab, run_playbook
from test_virtfusion_playbooks import UNREADABLE, ad_hoc

DB = [{"name": "db", "pattern": "db-*", "max_moving": 1}]
LIMITS = {"hv-src": 256, "hv-b": 96, "hv-c": 128, "hv-d": 40}


@pytest.fixture
def blab(tmp_path):
    yield from VirtFusionPlaybookLab(tmp_path / "lab", topology="virtfusion_budgets.yml").running()


def started(lab):
    return lab.vfadmin("GET", "stats")["migrations_started"]


def memory_per_hypervisor(lab):
    world = lab.vfadmin("GET", "world")
    names = dict((h["id"], h["name"]) for h in world["hypervisors"])
    used = {}
    for s in world["servers"]:
        used[names[s["hypervisorId"]]] = used.get(names[s["hypervisorId"]], 0) + s["memory"]
    return used


def test_budgets_and_capacity_refuse_plan_and_evacuate(blab):
    # a bad shape is refused before anything is read or changed, naming the option (the others: tests/unit)
    rc, out = ad_hoc(blab, {"from_server": "hv-src", "target_servers": ["hv-b", "hv-c", "hv-d"],
                            "budgets": [{"name": "db", "pattern": "db-*", "members": ["db-1"]}]})
    assert rc != 0 and "budgets[0] (db) must name its members one way" in out["msg"], out
    # budgets that cannot be honoured: refused before acting, naming the group and why
    rc, out = ad_hoc(blab, {"from_server": "hv-src", "target_server": "hv-c", "budgets": DB})
    assert rc != 0 and "pre-checks failed, nothing was moved" in out["msg"], out
    assert "db-1: anti_affinity failed: db-1 -> hv-c: group db (anti_affinity): db-0 already there" in out["msg"], out
    # db-1 takes hv-b (known room); db-2 may not join it, and hv-e's room is unknown (no limits set): unknown is
    # never free room, it blocks unless accepted by name
    rc, out = ad_hoc(blab, {"from_server": "hv-src", "target_servers": ["hv-b", "hv-e"], "budgets": DB})
    assert rc != 0 and "pre-checks failed, nothing was moved: 1 of 4" in out["msg"], out
    assert "db-2: capacity unverified: db-2: room unknown on hv-e (no memory limit (not set or not shown)" \
           in out["msg"], out
    assert "no room on: hv-b: group db (anti_affinity): db-1 already there" in out["msg"], out
    assert "accept_unverified: [capacity]" in out["msg"], out
    assert started(blab) == 0

    # check mode: the placement, the headroom left per hypervisor and the schedule; nothing moves
    args = {"from_server": "hv-src", "exclude_servers": ["hv-e"], "budgets": DB, "concurrency": 3}
    rc, out = ad_hoc(blab, args, check=True)
    assert rc == 0, out
    placed = dict((p["server"], p["target"]) for p in out["plan"]["placement"]["placement"])
    # db-1 to the most room; db-2 kept off hv-c (db-0) and hv-b (db-1 now); the web servers spread
    assert placed == {"db-1": "hv-b", "db-2": "hv-d", "web-1": "hv-c", "web-2": "hv-b"}, placed
    headroom = out["plan"]["placement"]["headroom"]
    assert {h: r["memory_free"] for h, r in headroom.items()} == {"hv-b": 32, "hv-c": 64, "hv-d": 8}, headroom
    assert all(r["memory_free"] >= 0 and r["cpu_free"] >= 0 and r["servers_free"] >= 0 for r in headroom.values())
    assert out["plan"]["budgets"]["schedule"] == [["db-1", "web-1", "web-2"], ["db-2"]], out["plan"]["budgets"]
    lines = [e["msg"] for e in out["progress"]]
    assert any("headroom left per hypervisor after placing: hv-b: 32 MiB memory" in m for m in lines), lines
    assert any(m.startswith("schedule (window 3") and "db-1, web-1, web-2 | db-2" in m for m in lines), lines
    assert started(blab) == 0 and blab.where()["db-1"] == "hv-src"

    # the run, through the host_evacuate role (the evacuate_host playbook, as AWX runs it): what check mode showed,
    # every budget kept, no hypervisor over its limits, read from the lab's own records
    rc, text = run_playbook(blab, "evacuate_host", extra_vars={
        "provider": "virtfusion", "hypervisor": "hv-src", "exclude_destinations": "hv-e", "concurrency": 3,
        "budgets": "[{name: db, pattern: 'db-*', max_moving: 1}]", "accept_unverified": ",".join(UNREADABLE)})
    assert rc == 0, text[-4000:]
    assert "group db: 1 of at most 1 moving" in text, text[-4000:]
    where = blab.where()
    assert {k: where[k] for k in placed} == placed, where
    used = memory_per_hypervisor(blab)
    assert all(used.get(h, 0) <= top for h, top in LIMITS.items()), used
    db_hosts = [where[n] for n in ("db-0", "db-1", "db-2")]
    assert len(set(db_hosts)) == 3, db_hosts                              # never two db members on one hypervisor
    migs = [m for m in blab.vfadmin("GET", "migrations")["migrations"] if m.get("status") == "complete"]
    spans = dict((m["serverId"], (m["_lab"]["created_real"], m["_lab"]["finished_real"])) for m in migs)
    assert set(spans) == {101, 102, 103, 104}, spans
    (a0, a1), (b0, b1) = spans[101], spans[102]
    assert a1 <= b0 or b1 <= a0, spans                                    # at most 1 db member moving at once
    events = sorted([(t0, 1) for t0, _t in spans.values()] + [(t1, -1) for _t, t1 in spans.values()])
    running, peak = 0, 0
    for _t, step in events:
        running += step
        peak = max(peak, running)
    assert 1 < peak <= 3, spans                                           # the window ran them side by side


def test_triton_anti_affinity_chooses_and_pins_the_target_in_check_mode(tlab):
    """Triton (operator API, lab topology triton_small): web-1 and web-2 of cn-1 form a group; the allocator knows
    nothing of it, so the module chooses a compute node per member (after the allocator's hard filters and capacity)
    and would send it as the target. cn-3 has room for one 2 GiB instance, cn-4 is reserved."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable, "-m", "fleetops.maintenance.instance_migrate",
           "-a", json.dumps({"provider": "triton", "api": "operator", "from_server": "cn-1", "concurrency": 2,
                             "budgets": [{"name": "web", "members": ["web-1", "web-2"]}]}), "-o", "--check"]
    proc = subprocess.run(cmd, cwd=ROOT, env=tlab.env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout.split("=>", 1)[1])
    entries = dict((e["name"], e) for e in out["plan"]["prechecks"])
    assert entries["web-1"]["target_name"] != entries["web-2"]["target_name"], entries
    for name in ("web-1", "web-2"):
        assert entries[name]["pin"] and not entries[name]["predicted"], entries[name]
        assert [c["result"] for c in entries[name]["checks"] if c["name"] == "anti_affinity"] == ["pass"]
    assert entries["db-1"]["predicted"] and "pin" not in entries["db-1"]      # not in a group: the allocator's
    # the schedule follows the start order, largest first by the vendor's estimates: window 2, one web at a time
    order = out["plan"]["order"]
    sizes = [o["estimated_bytes"] for o in order]
    assert sorted(o["name"] for o in order) == ["db-1", "web-1", "web-2"] and all(sizes), order
    assert sizes == sorted(sizes, reverse=True), order
    names = [o["name"] for o in order]
    first_web, other_web = [n for n in names if n.startswith("web")]
    assert out["plan"]["budgets"]["schedule"] == [sorted([first_web, "db-1"], key=names.index), [other_web]], \
        out["plan"]["budgets"]
    assert [m["instance"]["name"] for m in out["migrations"]] == ["db-1", "web-1", "web-2"]   # reported as listed
    plans = dict((m["instance"]["name"], m["target_server_name"]) for m in out["migrations"])
    assert plans["web-1"] == entries["web-1"]["target_name"] and plans["web-2"] == entries["web-2"]["target_name"]
    assert tlab.tadmin("GET", "stats")["migrations"] == []                  # check mode: nothing began
