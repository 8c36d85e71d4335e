"""The rolling upgrade end to end on each API generation's lab (avi-17.2, avi-20.1, avi-30.2): 17.x has only the
system upgrade (the SE-group options are refused naming the version), 20.1 and 30.2 the flexible SE-group upgrade."""
import pytest
from conftest import PlaybookLab, run_playbook

TARGET = {"avi-17.2.yml": "17.2.14", "avi-20.1.yml": "20.1.9", "avi-30.2.yml": "30.2.2"}


def flat(output):
    return " ".join(output.split())


@pytest.fixture(params=sorted(TARGET))
def lab(request, tmp_path):
    the_lab = PlaybookLab(tmp_path / "lab", request.param)
    the_lab.max_lifetime = 1800
    yield from the_lab.running()


def test_the_rolling_upgrade_on_each_api_generation(lab):
    topology = lab.topology.rsplit("/", 1)[-1]
    target = TARGET[topology]
    base = {"version": target, "deployment": "vm", "wait_sleep": 0.5}
    if topology == "avi-17.2.yml":
        for extra in ({"canary": True}, {"strategy": "se_groups"}):
            rc, out = run_playbook(lab, "upgrade", extra_vars=dict(base, **extra))
            assert rc != 0 and "17.2.13" in flat(out) and "18.2.6 or later" in flat(out), flat(out)[-2000:]
        assert lab.admin("GET", "stats")["operations"] == []
    rc, out = run_playbook(lab, "upgrade", extra_vars=base)
    assert rc == 0, out[-4000:]
    text = flat(out)
    assert ("(17.x API)" if topology == "avi-17.2.yml" else "(flexible API)") in text, text[-3000:]
    summary = lab.admin("GET", "upgrade")
    assert summary["controller"]["version"] == target
    assert {se["version"] for g in summary["se_groups"].values() for se in g["service_engines"].values()} == {target}
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
