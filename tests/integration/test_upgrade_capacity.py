"""Protection counted against capacity before the first change (playbooks/upgrade.yml, topology upgrade_capacity.yml).

SE groups of uneven sizes (3, 1, 7), one at max_se with every SE full, one closed to placement by the operator, an SE
already on the target version. The run refuses before anything changes and says what would make protection
possible; with the operator's consent by name it upgrades, only the VSs accepted by name lose service, the SEs the
controller created for protection (one at a time per group) are reported and removed, everything else is as it was.
"""
import pytest
from conftest import PlaybookLab, run_playbook

ACCEPTED = ["f-single-1", "f-single-2", "f-single-3", "f-single-4"]


def flat(output):
    return " ".join(output.split())


def placement(lab):
    found = {}
    for se, info in lab.admin("GET", "world")["service_engines"].items():
        for vs in info["vs"]:
            found.setdefault(vs, []).append(se)
    return dict((vs, sorted(ses)) for vs, ses in found.items())


@pytest.fixture
def lab(tmp_path):
    """The lab; it may live as long as two upgrade runs take on a loaded machine."""
    the_lab = PlaybookLab(tmp_path / "lab", "upgrade_capacity.yml")
    the_lab.max_lifetime = 1800
    yield from the_lab.running()


def test_protection_is_counted_before_acting_then_done_with_consent_by_name(lab):
    base = {"version": "22.1.7", "deployment": "vm", "wait_sleep": 0.5}
    before = placement(lab)
    states = dict((n, i["enable_state"]) for n, i in lab.admin("GET", "world")["service_engines"].items())

    rc, out = run_playbook(lab, "upgrade", extra_vars=base)
    text = flat(out)
    assert rc != 0 and "so nothing was changed" in text
    assert "SE group sg-closed is closed to placement" in text and "allow_se_creation" in text
    assert ("max_se 2 reached (2 SEs, 0 of them disabled; disabled SEs count); host capacity for new SEs is unknown. "
            "Short by 4") in text
    assert "raise max_se of SE group sg-full by 2" in text and "free 4 slot(s)" in text
    assert "naming them in accept_disruption: %s" % ", ".join(ACCEPTED) in text
    assert lab.admin("GET", "stats")["operations"] == [], "refused before the first change"

    rc, out = run_playbook(lab, "upgrade", extra_vars=dict(base, accept_disruption=",".join(ACCEPTED),
                                                           allow_se_creation="sg-closed", remove_created_ses=True))
    text = flat(out)
    assert rc == 0, out[-4000:]
    assert "4 virtual service(s) will lose service: %s" % ", ".join(ACCEPTED) in text
    assert "at the target already: seven-se-07" in text and "SEs already_upgraded: seven-se-07" in text
    assert "SE created for protection: closed-se-" in text and "SE created for protection: one-se-" in text
    disruption = lab.admin("GET", "disruption")["virtualservice"]
    assert sorted(n for n, vs in disruption.items() if vs["unavailable_seconds"]) == ACCEPTED
    ops = lab.admin("GET", "stats")["operations"]
    created = [op for op in ops if op["kind"] == "se_create"]
    assert sorted(op["target"].split("-se-")[0] for op in created) == ["closed", "one"]
    # the one-SE group's two VSs shared the one SE the controller created for them
    assert len([op for op in ops if op["kind"] == "scaleout"]) == 11
    world = lab.admin("GET", "world")["service_engines"]
    assert sorted(world) == sorted(states), "the SEs created for protection are removed"
    assert dict((n, i["enable_state"]) for n, i in world.items()) == states, "sg-closed stays closed"
    assert set(i["version"] for i in world.values()) == {"22.1.7"}
    assert placement(lab) == before
