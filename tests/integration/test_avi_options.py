"""Options of the Avi modules the collection's playbooks never pass, proven end to end on the lab in one playbook
run (tests/integration/files/avi_options.yml): each task's outcome is asserted separately, on the module's result
and on the lab's own view (the vendor API read by the test's client, the lab's disruption report). These close gaps
the option coverage stage (scripts/option_coverage.py) found."""
import os

import pytest
from conftest import PlaybookLab, run_playbook

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")
PLAYBOOK = os.path.join(FILES, "avi_options.yml")
PLAYBOOK_MORE = os.path.join(FILES, "avi_options_more.yml")


class _LongerLab(PlaybookLab):
    """The small lab, stopping by itself after 15 minutes instead of 5: each test batches many options into one
    playbook run, which can outlast 5 minutes on a loaded 2-core machine."""

    def cli(self, *args, check=True):
        args = list(args)
        if args[:1] == ["start"] and "--max-lifetime" in args:
            args[args.index("--max-lifetime") + 1] = "900"
        return super().cli(*args, check=check)


@pytest.fixture
def lab(tmp_path):
    yield from _LongerLab(tmp_path / "lab", "small.yml").running()


def _vs(info, name):
    return next(vs for vs in info["virtual_services"] if vs["name"] == name)


def _ses(info, vs_name):
    """SE names of a VS's first VIP, from an se_info result."""
    return sorted(se["name"] for se in _vs(info, vs_name)["placement"][0]["service_engines"])


def _se(info, name):
    return next(se for se in info["service_engines"] if se["name"] == name)


def test_avi_module_options_on_the_lab(lab):
    run = run_playbook(lab, PLAYBOOK)
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["avi_options"]
    client = lab.client()

    # se_info with the top-level connection options (module_defaults), CA verified; filters by name and by SE group
    assert [se["name"] for se in r["info_se_a"]["service_engines"]] == ["se-a"]
    assert sorted(vs["name"] for vs in r["info_se_a"]["virtual_services"]) == ["vs-1", "vs-2"]
    assert sorted(se["name"] for se in r["info_sg_full"]["service_engines"]) == ["se-f1", "se-f2"]
    assert {vs["name"] for vs in r["info_sg_full"]["virtual_services"]} == {"vs-f1", "vs-f2"}

    # check mode plans (changed) and changes nothing: vs-3 still only on se-b afterwards
    assert r["check_migrate"]["changed"] and r["check_scale"]["changed"]
    assert r["check_migrate"]["placement"]["before"] == ["se-b"]
    assert _ses(r["info_after_check"], "vs-3") == ["se-b"]

    # vs_migrate by uuid, no target: the controller chose an SE of the group other than se-a
    choice = r["migrate_choice"]
    assert choice["changed"] and choice["placement"]["before"] == ["se-a"]
    assert len(choice["placement"]["after"]) == 1 and choice["placement"]["after"] != ["se-a"]
    assert client.vs_ses("vs-1")[0] == choice["placement"]["after"]

    # vs_migrate to_host: a new SE created on esx-02 now carries vs-2
    host = r["migrate_host"]
    assert host["target"]["created"] is True, host
    new_se = host["target"]["name"]
    assert client.vs_ses("vs-2")[0] == [new_se]
    assert _se(r["info_end"], new_se)["host"] == "esx-02"
    assert _se(r["info_end"], new_se)["se_group"] == "sg-shared"

    # vs_migrate to_new_se: vs-f1 on a new SE of sg-full
    new = r["migrate_new_se"]
    assert new["target"]["created"] is True, new
    assert client.vs_ses("vs-f1")[0] == [new["target"]["name"]]
    assert _se(r["info_end"], new["target"]["name"])["se_group"] == "sg-full"

    # vs_scale out to se-c, then in from se-b: vs-3 ends on se-c alone
    assert sorted(r["scale_out_se"]["placement"]["after"]) == ["se-b", "se-c"]
    assert r["scale_in"]["placement"]["after"] == ["se-c"]
    assert client.vs_ses("vs-3")[0] == ["se-c"]

    # vs_scale out to three placements, then to four with the new SE on host esx-01
    count = r["scale_out_count"]
    assert len(count["placement"]["before"]) == 2 and len(count["placement"]["after"]) == 3, count
    created = r["scale_out_host"]["created_service_engines"]
    assert len(created) == 1, r["scale_out_host"]
    assert _se(r["info_end"], created[0])["host"] == "esx-01"
    assert sorted(client.vs_ses("vs-p1")[0]) == sorted(r["scale_out_host"]["placement"]["after"])
    assert len(r["scale_out_host"]["placement"]["after"]) == 4

    # se_disable by uuid to disabled_for_placement without waiting: no new placements, its VS stays; then enabled
    assert _se(r["info_se_c"], "se-c")["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    on_se_c = _se(r["info_se_c"], "se-c")["virtual_services"]
    assert "vs-3" in [vs if isinstance(vs, str) else vs["name"] for vs in on_se_c]
    assert _se(r["info_end"], "se-c")["enable_state"] == "SE_STATE_ENABLED"
    assert client.by_name("serviceengine", "se-c")["enable_state"] == "SE_STATE_ENABLED"

    # se_group_refresh in check mode: the plan sets the new hardware on the group and replaces its SEs one at a time;
    # nothing changes on the controller
    refresh = r["check_refresh"]
    assert refresh["changed"], refresh
    actions = " ".join(refresh["plan"]["actions"])
    assert "disk_per_se" in actions and "40" in actions and "instance_flavor" in actions and "se-large" in actions, actions
    group = client.by_name("serviceenginegroup", "sg-shared")
    assert group.get("disk_per_se") != 40 and group.get("instance_flavor") != "se-large", group

    # nothing lost, no service interrupted by any of it
    assert all(vs["placement"] and vs["placement"][0]["service_engines"] for vs in r["info_end"]["virtual_services"])
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_more_avi_module_options_on_the_lab(lab):
    run = run_playbook(lab, PLAYBOOK_MORE, extra_vars={
        "se_evacuate_service_engine": "se-a", "se_evacuate_state": "disabled_for_placement",
        "se_evacuate_verify": False})
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["avi_options_more"]
    report = run.stats["se_evacuate_report"]
    client = lab.client()

    # the role set se-a to disabled_for_placement: no new placements, its virtual services stay; not verified
    assert client.by_name("serviceengine", "se-a")["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert report["state"] == "SE_STATE_DISABLED_FOR_PLACEMENT", report
    assert client.vs_ses("vs-1")[0] == ["se-a"] and client.vs_ses("vs-2")[0] == ["se-a"]
    _start, verify = run.task_events("Fail with what failed")     # the role's end check, off with verify=false
    assert [e["event"] for e in verify if e["event"] in ("runner_on_ok", "runner_on_failed", "runner_on_skipped")] == [
        "runner_on_skipped"]

    # se_disable per_vs, two at once: se-b disabled and empty, vs-3 now on se-c (se-a takes no new placements)
    assert r["se_b_disabled"]["changed"]
    assert client.by_name("serviceengine", "se-b")["enable_state"] == "SE_STATE_DISABLED"
    assert client.vs_ses("vs-3")[0] == ["se-c"]
    assert _se(r["info_end"], "se-b")["virtual_services"] == []

    # vs_migrate without waiting returned before the move finished; the move then completed
    assert r["migrate_no_wait"]["changed"]
    assert sorted(client.vs_ses("vs-p1")[0]) == ["se-p2", "se-p3"]

    # vs_scale by uuid with avi_credentials to a new SE, then in from se-f2 without waiting
    created = r["scale_new_se"]["created_service_engines"]
    assert len(created) == 1 and _se(r["info_end"], created[0])["se_group"] == "sg-full"
    assert r["scale_in_no_wait"]["changed"]
    assert client.vs_ses("vs-f2")[0] == created

    assert all(vs["placement"] and vs["placement"][0]["service_engines"] for vs in r["info_end"]["virtual_services"])
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
