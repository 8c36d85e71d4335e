"""Bad input is refused before anything changes, by every playbook of the evacuations and migrations, naming the
variable the operator typed: blank or missing names, non-booleans, non-numbers and numbers out of range, values
that are not among the choices, and files the run would read or write that are missing. Each case runs the
playbook through ansible-runner against a lab (one per vendor plane, shared by the module) and compares the lab's
world before and after; the case fails unless the run stopped at its input check."""
import json
import os

import pytest

from conftest import PlaybookLab, TritonPlaybookLab, VirtFusionPlaybookLab, run_playbook


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    """The three planes, each started the first time a case needs it, stopped at the end of the module."""
    started = {}
    kinds = {"avi": (PlaybookLab, "small.yml"), "triton": (TritonPlaybookLab, "triton_small.yml"),
             "virtfusion": (VirtFusionPlaybookLab, "virtfusion_small.yml")}

    def get(kind):
        if kind not in started:
            cls, topology = kinds[kind]
            started[kind] = cls(tmp_path_factory.mktemp(kind), topology).start(reset=True)
        return started[kind]
    yield get
    for lab in started.values():
        lab.stop()


def world(kind, lab):
    """Everything the lab would let a client see change (not the lab's clock)."""
    if kind == "avi":
        state = {"world": lab.admin("GET", "world"), "operations": lab.admin("GET", "stats")["operations"]}
    elif kind == "triton":
        # (not what web-1's workload writes while it runs)
        state = {"world": lab.tadmin("GET", "world"),
                 "instances": {name: {k: v for k, v in i.items() if k not in ("files", "bytes", "workload")}
                               for name, i in lab.report().items()}}
    else:
        state = {"world": lab.vfadmin("GET", "world"), "migrations": lab.vfadmin("GET", "migrations")["migrations"],
                 "started": lab.vfadmin("GET", "stats")["migrations_started"]}
    state["world"].pop("lab_now", None)
    return state


MISSING = "/nonexistent-fleetops-dir"
VF = {"provider": "virtfusion"}
CASES = [
    # (playbook, lab, class, extra vars, the variables the error must name)
    ("evacuate_se", "avi", "missing name", {}, ["service_engine"]),
    ("evacuate_se", "avi", "blank name", {"service_engine": "   "}, ["service_engine"]),
    ("evacuate_se", "avi", "number", {"service_engine": "se-a", "concurrency": "abc", "timeout": 0},
     ["concurrency", "timeout"]),
    ("evacuate_se", "avi", "choice", {"service_engine": "se-a", "state": "off", "method": "fast"}, ["state", "method"]),
    ("evacuate_se", "avi", "file", {"service_engine": "se-a", "report_file": MISSING + "/se-a.json",
                                    "avi_ca_path": MISSING + "/ca.pem"}, ["report_file", "avi_ca_path"]),
    ("evacuate_host", "triton", "blank name", {"compute_node": " ", "target_server": " "},
     ["compute_node", "target_server"]),
    ("evacuate_host", "triton", "boolean", {"compute_node": "cn-1", "switch_serially": "flase",
                                            "finalize": "yes please"}, ["switch_serially", "finalize"]),
    ("evacuate_host", "triton", "number", {"compute_node": "cn-1", "concurrency": 4.5, "timeout": "abc"},
     ["concurrency", "timeout"]),
    ("evacuate_host", "triton", "choice", {"compute_node": "cn-1", "api": "vmapi", "on_failure": "ignore",
                                           "provider": "aws"}, ["api", "on_failure", "provider"]),
    ("evacuate_host", "triton", "file", {"compute_node": "cn-1", "report_file": MISSING + "/cn-1.json",
                                         "health_check_tasks": MISSING + "/check.yml"},
     ["report_file", "health_check_tasks"]),
    ("evacuate_host", "virtfusion", "missing name", dict(VF), ["hypervisor", "destination"]),
    ("evacuate_host", "virtfusion", "same name", dict(VF, hypervisor="hv-a", destination="hv-a"), ["destination"]),
    ("evacuate_host", "virtfusion", "boolean", dict(VF, hypervisor="hv-a", destination="hv-b", compression="flase",
                                                    post_copy="yes please"), ["compression", "post_copy"]),
    ("evacuate_host", "virtfusion", "number", dict(VF, hypervisor="hv-a", destination="hv-b", max_downtime=3,
                                                   xfer_speed="fast", auto_converge_initial="abc"),
     ["max_downtime", "xfer_speed", "auto_converge_initial"]),
    ("migrate_vs", "avi", "blank name", {"virtual_service": "  ", "to_se": " "}, ["virtual_service", "to_se"]),
    ("migrate_vs", "avi", "boolean", {"virtual_service": "vs-3", "to_new_se": "flase"}, ["to_new_se"]),
    ("migrate_vs", "avi", "number", {"virtual_service": "vs-3", "timeout": "1e3"}, ["timeout"]),
    ("migrate_vs", "avi", "exclusive", {"virtual_service": "vs-3", "to_se": "se-c", "to_new_se": True},
     ["to_se, to_host, to_new_se"]),
    ("migrate_instance", "triton", "blank name", {"instance": " web-1"}, ["instance"]),
    ("migrate_instance", "triton", "boolean", {"instance": "web-1", "resync": "yes please"}, ["resync"]),
    ("migrate_instance", "triton", "number", {"instance": "web-1", "timeout": 0}, ["timeout"]),
    ("migrate_instance", "triton", "choice", {"instance": "web-1", "state": "cancelled", "api": "both"},
     ["state", "api"]),
    ("migrate_instance", "virtfusion", "missing name", dict(VF, destination="hv-b"), ["server"]),
    ("migrate_instance", "virtfusion", "boolean", dict(VF, server="web-1", destination="hv-b", auto_converge="flase"),
     ["auto_converge"]),
    ("migrate_instance", "virtfusion", "number", dict(VF, server="web-1", destination="hv-b", abort_after=30),
     ["abort_after"]),
    ("migrate_instance", "virtfusion", "choice", dict(VF, server="web-1", destination="hv-b", state="begun",
                                                      force_may_lose_data="yes"), ["state", "force_may_lose_data"]),
    ("migrate_instance", "virtfusion", "file", dict(VF, server="web-1", destination="hv-b",
                                                    virtfusion_known_hosts=MISSING + "/known_hosts"),
     ["virtfusion_known_hosts"]),
    ("placement_report", "avi", "blank name", {"se_group": "  "}, ["se_group"]),
    ("placement_report", "avi", "file", {"avi_ca_path": MISSING + "/ca.pem"}, ["avi_ca_path"]),
    ("render_report", "avi", "missing name", {}, ["record_file"]),
    ("render_report", "avi", "file", {"record_file": MISSING + "/run.json", "html_file": MISSING + "/run.html"},
     ["record_file", "html_file"]),
]


def check_failure(run):
    """The problems the input check reported; fails unless the run failed at it, before any other task."""
    failed = [e for e in run.events if e["event"] == "runner_on_failed"]
    assert len(failed) == 1, [e["event_data"].get("task") for e in failed]
    data = failed[0]["event_data"]
    assert data["task_action"] == "fleetops.maintenance.check_inputs", data["task"]
    done = [e["event_data"]["task_action"] for e in run.events if e["event"] == "runner_on_ok"]
    # nothing ran before it but checks (a role's argument specs, then its own check)
    assert set(done) <= {"fleetops.maintenance.check_inputs", "ansible.builtin.validate_argument_spec",
                         "ansible.builtin.include_role"}, done
    return data["res"]["problems"], data["res"]["msg"]


@pytest.mark.parametrize("playbook, kind, what, extra_vars, names", CASES,
                         ids=["%s-%s-%s" % (c[0], c[1], c[2].replace(" ", "_")) for c in CASES])
def test_bad_input_is_refused_naming_the_variable_and_nothing_changes(labs, playbook, kind, what, extra_vars, names):
    lab = labs(kind)
    before = world(kind, lab)
    run = run_playbook(lab, playbook, extra_vars=extra_vars)
    assert run[0] != 0, run[1][-3000:]
    problems, msg = check_failure(run)
    for name in names:
        assert any(problem.startswith(name) or problem.startswith("give at most one of " + name)
                   for problem in problems), (name, problems)
    assert len(problems) == len(names), problems                   # exactly what is wrong, nothing else
    assert "se_evacuate_" not in msg and "host_evacuate_" not in msg, msg
    assert world(kind, lab) == before


def test_a_role_refuses_what_its_argument_specs_cannot_say(labs, tmp_path):
    """Used directly (not through a playbook), the role names its own variables: blank names, ranges, files."""
    lab = labs("triton")
    before = world("triton", lab)
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ansible.builtin.include_role": {"name": "fleetops.maintenance.host_evacuate"},
        "vars": {"host_evacuate_server": "cn-1", "host_evacuate_concurrency": 0,
                 "host_evacuate_health_check_tasks": str(tmp_path / "missing.yml"),
                 "host_evacuate_report_file": str(tmp_path / "no" / "cn-1.json")}}]}]))
    run = run_playbook(lab, str(play))
    assert run[0] != 0
    problems, _msg = check_failure(run)
    assert [p.split(" ")[0].rstrip(":") for p in problems] == [
        "host_evacuate_concurrency", "host_evacuate_report_file", "host_evacuate_health_check_tasks"], problems
    assert world("triton", lab) == before
    assert not os.path.exists(str(tmp_path / "no"))
