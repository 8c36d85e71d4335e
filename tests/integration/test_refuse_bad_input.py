"""Bad input is refused before anything changes, by every playbook of the evacuations and migrations, naming the
variable the operator typed: blank or missing names, non-booleans, non-numbers and numbers out of range, values
that are not among the choices, and files the run would read or write that are missing. Each case runs the
playbook through ansible-runner against a lab (one per vendor plane, shared by the module) and compares the lab's
world before and after; the case fails unless the run stopped at its input check."""
import json
import os

import pytest

from conftest import PlaybookLab, TritonPlaybookLab, VirtFusionPlaybookLab, run_playbook, secrets_found


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


def check_refusals(results, expected, ok_changes=False):
    """Each task's result against ``expected`` (task -> the message's start, "..." + a part of it, or None: the
    task is accepted, and changes something when ``ok_changes``); a refused task changed nothing."""
    assert sorted(results) == sorted(expected)
    for task, words in expected.items():
        result = results[task]
        if words is None:
            assert not result.get("failed") and (result["changed"] or not ok_changes), (task, result)
            continue
        assert result["failed"] and not result["changed"], (task, result)
        if words.startswith("..."):
            assert words[3:] in result["msg"], (task, result["msg"])
        else:
            assert result["msg"].startswith(words), (task, result["msg"])


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


# task of tests/integration/files/avi_module_refusals.yml -> how its message starts (or a part of it, after "...");
# None: the task succeeds
AVI_REFUSALS = {
    # an empty name used to match the first SE of the controller (an empty ?name= filter matches everything)
    "se_empty_name": "name must not be empty or blank",
    "se_blank_name": "name must not be empty or blank",
    "se_blank_uuid": "uuid must not be empty or blank",
    "se_unknown": "name: serviceengine 'se-9' not found; closest of 13 known: se-a, se-b, se-c, se-f1, se-f2",
    "se_bad_state": "value of state must be one of: disabled, disabled_for_placement, enabled, got: off",
    "migrate_blank_to_se": "to_se must not be empty or blank",
    "migrate_unknown_host": "to_host: host 'esx-3' not found; closest of 3 known: esx-01, esx-02",
    "migrate_unknown_vs": "name: virtualservice 'nope' not found",
    "migrate_unknown_se": "to_se: serviceengine 'se-missing' not found",
    "migrate_other_group": "to_se: serviceengine 'se-f1' is not in SE group 'sg-shared' of the virtual service",
    "migrate_full": "cannot place VS 'vs-f1' on SE 'se-f2': SE 'se-f2' is full (1 of max_vs_per_se 1)",
    "migrate_legacy": "...HA_MODE_LEGACY_ACTIVE_STANDBY: the controller does not support migration",
    "migrate_no_from_se": "virtual service 'vs-p1' (vip 0) is on several SEs (se-p1, se-p2): set from_se",
    "migrate_two_targets": "parameters are mutually exclusive: to_se|to_host|to_new_se",
    "scale_blank_to_se": "to_se must not be empty or blank",
    "scale_unknown_from_se": "from_se: serviceengine 'se-7' not found; known: se-a, se-b, se-c",
    "scale_in_last": "cannot scale virtual service 'vs-3' in from se-b: it would be left on 0 SE(s) and its group "
                     "'sg-shared' needs at least 1 (min_scaleout_per_vs)",
    "scale_in_no_from_se": "state is scaled_in but all of the following are missing: from_se",
    "scale_legacy": "...HA_MODE_LEGACY_ACTIVE_STANDBY: the controller does not scale virtual services out or in there",
    "info_blank_name": "names must not be empty or blank",
    "info_unknown_group": "se_group: serviceenginegroup 'sg-nope' not found; known: sg-bare, sg-full, sg-legacy",
    "info_unknown_se": "names: serviceengine 'nope' not found",
    "upgrade_bad_version": "version must be an Avi version such as 22.1.7, 22.1.7-9300 (with a build) or 30.2.1-2p1",
    "upgrade_image_dir": "image (a local package file): %s is not a file" % os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "files"),
    "se_no_concurrency": "concurrency must be",
    "se_negative_sleep": "wait_sleep must be",
    "info_missing_ca": "ca_path (AVI_CA_PATH): /nonexistent-fleetops-dir/ca.pem is not a file",
    "info_not_pem_ca": "ca_path (AVI_CA_PATH): %s holds no PEM certificate" % os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "files", "avi_module_refusals.yml"),
    "info_credentials_first": None,     # succeeds: avi_credentials win over the environment
}


def test_the_avi_modules_refuse_bad_input_naming_the_option_and_nothing_changes(labs):
    """Used directly, each Avi module refuses what it cannot do before it changes anything, saying why: blank or
    unknown names (the closest listed), bad choices and versions, a package path that is no file, counts and
    durations that are not positive, CA files that cannot be used, targets the SE group rules out; and the password
    appears in no event or artifact of the run."""
    lab = labs("avi")
    before = world("avi", lab)
    run = run_playbook(lab, os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "avi_module_refusals.yml"))
    assert run[0] == 0, run[1][-3000:]
    check_refusals(run.stats["avi_refusals"], AVI_REFUSALS)
    assert world("avi", lab) == before
    assert secrets_found(run, lab.credentials["password"]) == []


# task of tests/integration/files/instance_migrate_refusals.yml -> how its message starts (or a part, after "..."); None:
# the task succeeds (in check mode)
INSTANCE_MIGRATE_REFUSALS = {
    "triton": {
        "t_concurrency": "concurrency must be a positive number, got 0",
        "t_order": "value of order must be one of: largest_first, listed, got: smallest_first",
        "t_state": "value of state must be one of: begun, synced, switched, migrated, finalized, rolled_back",
        "t_hostname": "compute node cn-1: with api=cloudapi give compute nodes by UUID",
        "t_no_vmapi": "missing required connection setting 'vmapi_url' for api=operator",
        "t_unknown": "instance 'nope' not found; known: db-1, stopped-1, web-1, web-2",
        "t_planned": None,
    },
    "virtfusion": {
        "v_ranges": "invalid VirtFusion migration options: xfer_speed must be from 10 to 8796093022206 (MiB/s), got 5; "
                    "max_downtime must be from 5 to 9000 (milliseconds), got 3; abort_after must be from 60 to 86400 "
                    "(seconds), got 10; auto_converge.initial must be from 1 to 70 (percent), got 80; "
                    "auto_converge.increment must be from 1 to 15 (percent), got 20",
        "v_converge_off": "...auto_converge.increment apply only while auto-converge is enabled",
        "v_live_only": "...max_downtime, post_copy apply only to mode=live",
        "v_hybrid_speed": "...xfer_speed must be at most 596 MiB/s with mode=hybrid",
        "v_force_cancel": "...force_may_lose_data=cancel applies only to state=cancelled",
        "v_mode": "value of mode must be one of: live, hybrid, got: warp",
        "v_state": "web-1: state switched is not supported by provider virtfusion (its states: migrated, cancelled, "
                   "aborted)",
        "v_no_target": "target_server (the destination hypervisor, id or name) is required with provider=virtfusion",
        "v_unknown_target": "hypervisor 'hv-nowhere' not found; known: hv-a, hv-b, hv-bad",
        "v_resync": "resync is an option of provider=triton, not of provider=virtfusion",
        "v_to_triton": "max_downtime, mode are an option of provider=virtfusion, not of provider=triton: drop them or "
                       "set provider=virtfusion",
        # Triton connection options given with provider=virtfusion used to be ignored silently
        "v_triton_connection": "api, resync, url are an option of provider=triton, not of provider=virtfusion: drop "
                               "them or set provider=triton",
        # the connection dicts are not counted: module_defaults of both action groups give them to every task
        "v_triton_dict": None,
        "v_blank_instance": "instance must not be empty or blank",
        "v_blank_in_list": "instances must not be empty or blank",
        "v_empty_list": "instances must list at least one name or uuid",
        "v_blank_target": "target_server must not be empty or blank",
        "v_blank_source": "source_server must not be empty or blank",
        "v_half_connection": "missing VirtFusion connection settings known_hosts_file, api_url, api_token",
        "v_wrong_token": "...Unauthenticated.: the REST API refuses the token",
    },
}


@pytest.mark.parametrize("kind", ["triton", "virtfusion"])
def test_instance_migrate_refuses_bad_input_naming_the_option_and_nothing_changes(labs, kind):
    """Used directly, instance_migrate refuses bad values, options of the other provider, blank and unknown names and
    missing connection settings before it changes anything, naming the option; no secret (a private key given as
    content, the API token, a wrong token) appears in any event or artifact of the run."""
    lab = labs(kind)
    before = world(kind, lab)
    run = run_playbook(lab, os.path.join(os.path.dirname(os.path.abspath(__file__)), "files",
                                         "instance_migrate_refusals.yml"), extra_args=("--tags", kind))
    assert run[0] == 0, run[1][-3000:]
    check_refusals(run.stats["refusals"], INSTANCE_MIGRATE_REFUSALS[kind], ok_changes=True)
    assert world(kind, lab) == before
    if kind == "triton":
        with open(lab.t["key_files"]["alice"]) as stream:
            secrets = [line for line in stream.read().splitlines() if "PRIVATE KEY" not in line][:2]
    else:
        with open(lab.vf["ssh"]["private_key"]) as stream:
            secrets = [lab.token, "wrong-token-123456"] + [
                line for line in stream.read().splitlines() if "PRIVATE KEY" not in line][:2]
    assert secrets and secrets_found(run, *secrets) == []
