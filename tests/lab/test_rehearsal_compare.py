"""The rehearsal's arithmetic without a lab: the agreement of a forecast with a measurement (rehearsal/compare.py),
the operator's variables translated to the twin's pseudonyms and the forecast's names translated back."""
from rehearsal.cli import translate
from rehearsal.compare import compare, order_agreement
from rehearsal.forecast import Names, compute, record_shortfalls, union_length, window_makespan
from rehearsal.timeline import real_speed_clock, schedule, waves


def result(provider="triton", ops=30.0, total=100.0, disruption=40.0, order=("a", "b", "c"), at_risk=()):
    key = "server" if provider == "virtfusion" else "instance"
    return {"provider": provider, "order": [{key: n} for n in order],
            "duration": {"seconds": total, "vendor_operations_seconds": ops, "lab_tick_seconds": 0.2},
            "at_risk": {"instances": dict((n, ["failed"]) for n in at_risk)}, "created_service_engines": [],
            "disruption": {"unit": "instance-seconds", "total": disruption, "by_target": {"a": disruption}},
            "result": {"ok": True}}


def failed(comparison):
    return [c["name"] for c in comparison["checks"] if not c["ok"]]


def test_a_forecast_within_the_stated_tolerances_agrees():
    assert compare(result(), result(ops=33.0, total=130.0, disruption=44.0))["agree"]
    # Triton's lab clock: 20 % for the operations and the downtime; the whole duration 35 %
    assert failed(compare(result(), result(ops=40.0, total=160.0, disruption=60.0))) == [
        "vendor operations (s)", "duration at real speed (s)", "disruption (instance-seconds)"]
    # VirtFusion's operations are the lab's step timings: 10 %
    assert failed(compare(result(provider="virtfusion"), result(provider="virtfusion", ops=34.0))) == [
        "vendor operations (s)"]


def test_the_same_work_in_another_order_or_other_instances_at_risk_disagrees():
    assert order_agreement(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert order_agreement(["a", "b", "c"], ["c", "b", "a"]) == 0.0
    assert failed(compare(result(), result(order=("c", "b", "a")))) == ["order"]
    # a window of 2: the first two may start together, the third comes after the first
    assert order_agreement(["a", "b", "c"], ["b", "a", "c"], window=2) == 1.0
    assert order_agreement(["a", "b", "c"], ["c", "a", "b"], window=2) == 0.0
    assert failed(compare(result(), result(at_risk=("b",)))) == ["at risk"]


def test_names_go_to_the_twin_and_come_back():
    table = {"web-se-1": "se-003", "sg-web": "seg-001"}
    assert translate("web-se-1", table) == "se-003"
    assert translate("web-se-1, other", table) == "se-003,other"
    assert translate(["sg-web", 3], table) == ["seg-001", 3]
    # budget groups: members, and the keys and values of a Triton tag selector (the twin's tags are pseudonymised)
    table = {"db-1": "instance-001", "role": "tag-001", "db": "tagvalue-001"}
    assert translate([{"name": "db", "members": ["db-1", "x"], "max_moving": 1},
                      {"name": "db", "tags": {"role": "db", "smartdc_role": "nat"}, "pattern": None}], table) == [
        {"name": "db", "members": ["instance-001", "x"], "max_moving": 1},
        {"name": "db", "tags": {"tag-001": "tagvalue-001", "smartdc_role": "nat"}, "pattern": None}]
    names = Names({"names/se": {"web-se-1": "se-003"}, "names/se_prefix": {"web": "sep-001"}})
    assert names("se-003") == "web-se-1" and names("unknown") == "unknown" and names(None) is None
    assert names("sep-001-se-xaend") == "web-se-xaend"   # a new SE, named after its group's pseudonymous prefix


def test_parallel_operations_count_once_and_a_window_fills_as_slots_free():
    assert union_length([(0, 10), (5, 15), (20, 25)]) == 20
    assert window_makespan([10, 10, 10], 3) == 10 and window_makespan([10, 10, 10], 1) == 30
    assert window_makespan([10, 5, 5], 2) == 10


def test_starts_at_real_speed_count_the_collections_time_as_measured():
    # lab seconds: operations 0-10 and 20-30; the 10 lab seconds between them are 0.1 s of the collection's time at
    # time scale 0.01 (not 10 s)
    at = real_speed_clock([(0, 10), (20, 30)], 0.01)
    assert at(0) == 0 and at(10) == 10 and round(at(20), 3) == 10.1 and round(at(25), 3) == 15.1
    # real-time stamps (VirtFusion): the time migrations ran counts at the modelled rate, the gaps as measured
    at = real_speed_clock([(100.0, 101.0), (103.0, 104.0)], 1.0, 4.0)
    assert at(100.0) == 0 and at(103.0) == 6.0
    # a start far off is outside the tolerance
    fast, slow = result(), result()
    fast["order"] = [{"instance": "a", "start": 0.0}, {"instance": "b", "start": 30.0}]
    slow["order"] = [{"instance": "a", "start": 0.0}, {"instance": "b", "start": 3000.0}]
    assert failed(compare(fast, slow)) == ["start offsets at real speed (s)"]


def test_waves_and_budget_peaks_from_when_migrations_ran():
    spans = [("web-1", 0, 4), ("web-3", 0.5, 4.5), ("web-2", 4.2, 8.2)]
    assert waves(spans) == [["web-1", "web-3"], ["web-2"]]
    plan = schedule(spans, [{"name": "pair", "members": ["web-1", "web-2"], "max_moving": 1},
                            {"name": "all", "pattern": "web-*", "max_moving": 3}])
    assert [(g["name"], g["members"], g["peak_moving"]) for g in plan["budgets"]] == [
        ("pair", ["web-1", "web-2"], 1), ("all", ["web-1", "web-3", "web-2"], 2)]


def test_capacity_refusals_of_the_run_record_are_shortfalls():
    # the module refuses before the vendor sees a start: the lab's counters show nothing, the run record does
    record = {"steps": [
        {"target": "hv-x", "target_type": "hypervisor", "result": "failed",
         "message": "pre-checks failed, nothing was moved: 2 of 2 server(s) cannot be migrated (capacity ...)"},
        {"target": "s-1", "target_type": "server", "result": "failed",
         "message": "pre-checks failed: capacity failed: hv-y: 16 MiB free, needs 32"},
        {"target": "s-2", "target_type": "server", "result": "failed", "message": "pre-checks failed: storage failed"},
        {"target": "i-1", "target_type": "instance", "result": "failed",
         "message": "cannot move: capacity unverified: CloudAPI shows no compute node"},
        {"target": "s-3", "target_type": "server", "result": "moved", "message": "capacity pass"}]}
    names = Names({"names/server": {"web-1": "s-1"}})
    assert record_shortfalls(record, names) == [
        "web-1: pre-checks failed: capacity failed: hv-y: 16 MiB free, needs 32",
        "i-1: cannot move: capacity unverified: CloudAPI shows no compute node"]
    assert record_shortfalls({}) == []


def test_budget_groups_by_tag_list_their_members_from_the_twin_with_real_names():
    """A Triton rehearsal with a group selected by tag: the lab's snapshot has no tags, the twin (the lab's topology)
    has them, pseudonymised; the forecast lists the group's members and its peak under the real names. An instance
    counts as moving until its switch (not the finalize at the end of the run)."""
    def moved(name, start, switched):   # the playbook finalizes every migration at the end: "ended" is 30 for all
        return {"migrations": [{"id": "m-" + name, "started": start, "switched": switched, "ended": 30,
                                "result": "finalized",
                                "source_server_hostname": "cn-001", "target_server_hostname": "cn-002", "syncs": []}],
                "server_hostname": "cn-002", "uuid": name}
    before = {"provider": "triton", "instances": {"instances": {}}}
    after = {"provider": "triton", "time_scale": 0.01, "stats": {"migrations": []}, "servers": [],
             "instances": {"instances": {"instance-001": moved("instance-001", 0, 10),
                                         "instance-002": moved("instance-002", 0, 10),
                                         "instance-003": moved("instance-003", 10, 20)}}}
    twin = {"triton": {"instances": [
        {"name": "instance-001", "tags": {"tag-001": "tagvalue-001", "smartdc_role": "x"}},   # db-1: role=db
        {"name": "instance-002", "tags": {"tag-001": "tagvalue-002"}},                        # web-1: role=web
        {"name": "instance-003", "tags": {"tag-001": "tagvalue-001"}}]}}                      # db-2: role=db
    names = {"names/instance": {"db-1": "instance-001", "web-1": "instance-002", "db-2": "instance-003"},
             "names/cn": {"cn-a": "cn-001", "cn-b": "cn-002"},
             "names/tag": {"role": "tag-001"}, "names/tagvalue": {"db": "tagvalue-001", "web": "tagvalue-002"}}
    budgets = [{"name": "dbs", "tags": {"role": "DB"}, "max_moving": 1},
               {"name": "vendor", "tags": {"smartdc_role": "x"}, "max_moving": 1},
               {"name": "none", "tags": {"role": "cache"}, "max_moving": 1}]
    forecast = compute(before, after, {"topology": twin, "names": names, "budgets": budgets, "window": 2, "rc": 0})
    assert [(g["name"], g["members"], g["peak_moving"]) for g in forecast["schedule"]["budgets"]] == [
        ("dbs", ["db-1", "db-2"], 1), ("vendor", ["db-1"], 1), ("none", [], 0)]
    assert any(line.startswith("schedule (forecast): waves db-1, web-1 | db-2; group dbs: at most 1 moving, peak 1")
               for line in forecast["lines"]), forecast["lines"]
    # no tags known (a twin exported before tags were): the group is listed, its members unknown
    untagged = compute(before, after, {"names": names, "budgets": budgets[:1], "window": 2, "rc": 0})
    assert untagged["schedule"]["budgets"][0]["members"] is None
