"""The shipped topologies seed a world with the promised shape (no server needed)."""
import os

import pytest

from lab.server import load_topology
from lab.store import Store
from lab.avi.world import World
from labkit import TOPOLOGIES


def _world(tmp_path, name):
    return World(Store(str(tmp_path / "w.sqlite")), load_topology(os.path.join(TOPOLOGIES, name)))


def _placement(w):
    return {se["name"]: sorted(v["name"] for v in w.vss_on(se["uuid"])) for se in w.objs["serviceengine"].values()}


def test_demo_shape(tmp_path):
    w = _world(tmp_path, "demo.yml")
    groups = {g["name"]: g for g in w.objs["serviceenginegroup"].values()}
    assert len(groups) >= 3 and len(w.objs["serviceengine"]) == 10 and len(w.objs["virtualservice"]) == 40
    assert {g["ha_mode"] for g in groups.values()} == {"HA_MODE_SHARED", "HA_MODE_SHARED_PAIR",
                                                       "HA_MODE_LEGACY_ACTIVE_STANDBY"}
    assert all(c["_lab"]["can_create_se"] for c in w.objs["cloud"].values())
    assert w.cfg["password"] not in ("admin", "") and w.cfg["timing"]["se_create"] == 300
    # evacuating nm-se-01 cannot fit on the existing SEs: the group must grow
    g = groups["sg-nplusm"]
    load = _placement(w)
    free = sum(g["max_vs_per_se"] - len(load[s["name"]]) for s in w.ses_of_group(g["uuid"])
               if s["name"] != "nm-se-01")
    assert free < len(load["nm-se-01"]) and len(w.ses_of_group(g["uuid"])) < g["max_se"]
    assert 30 <= w.time_scale * 2000 <= 90   # ~2000 lab seconds of demo work in about a minute


@pytest.mark.parametrize("name", ["bench50.yml", "small.yml"])
def test_other_topologies_seed(tmp_path, name):
    w = _world(tmp_path, name)
    load = _placement(w)
    if name == "bench50.yml":
        assert len(load["bench-se-01"]) == 50
        g = next(iter(w.objs["serviceenginegroup"].values()))
        room = sum(g["max_vs_per_se"] - len(v) for k, v in load.items() if k != "bench-se-01")
        assert room >= 50
    else:
        assert w.time_scale <= 0.01


def test_disruption_is_zero_at_seed_and_restart_reloads(tmp_path):
    w = _world(tmp_path, "small.yml")
    assert w.disruption_report()["total_vs_seconds"] == 0
    names = sorted(s["name"] for s in w.objs["serviceengine"].values())
    w.shutdown()
    w2 = World(Store(str(tmp_path / "w.sqlite")), {})
    assert sorted(s["name"] for s in w2.objs["serviceengine"].values()) == names


def test_generated_scale_topologies_seed(tmp_path):
    """lab/topologies/scale.py (make bench-scale): the promised shape at a small size."""
    from lab.topologies.scale import avi
    w = World(Store(str(tmp_path / "s.sqlite")), avi(vs=250))
    assert len(w.objs["serviceenginegroup"]) == 3 and len(w.objs["serviceengine"]) == 30
    assert len(w.objs["virtualservice"]) == 250
    load = _placement(w)
    assert max(len(v) for v in load.values()) <= 20 and len(load["g0001-se-01"]) == 15
    assert w.disruption_report()["total_vs_seconds"] == 0
