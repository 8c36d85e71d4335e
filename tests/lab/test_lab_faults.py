import time

import pytest
import requests

from labkit import SMALL_PASSWORD, wait_for


def _settled(rt):
    """The VS runtime once no migration is in progress, else None (for wait_for)."""
    return rt if not rt["migrate_in_progress"] else None


def test_http_error_fault_with_count(lab, api):
    lab.admin("POST", "faults", {"kind": "http_error", "path": "^/api/serviceengine$", "method": "GET",
                                 "status": 503, "rate": 1.0, "count": 2})
    assert [api.get("serviceengine").status_code for _unused in range(3)] == [503, 503, 200]
    assert api.get("virtualservice").status_code == 200
    assert lab.admin("GET", "faults")["faults"] == []


def test_http_error_rate_is_partial(lab, api):
    lab.admin("POST", "faults", {"kind": "http_error", "path": "/api/virtualservice", "status": 500,
                                 "rate": 0.5})
    codes = [api.get("virtualservice").status_code for _unused in range(60)]
    assert 5 < codes.count(500) < 55 and codes.count(200) + codes.count(500) == 60
    lab.admin("DELETE", "faults")
    assert api.get("virtualservice").status_code == 200


def test_unavailable_window_then_recovers(lab):
    lab.admin("POST", "faults", {"kind": "unavailable", "seconds": 0.6, "status": 503})
    r = requests.post(f"{lab.url}/login", json={"username": "admin", "password": SMALL_PASSWORD}, verify=lab.ca)
    assert r.status_code == 503
    assert lab.admin("GET", "health")["ok"] is True     # the admin plane is never faulted
    wait_for(lambda: requests.post(f"{lab.url}/login", json={"username": "admin", "password": SMALL_PASSWORD},
                                   verify=lab.ca).status_code == 200, timeout=5, what="window end")


def test_dropped_connections(lab):
    c = lab.client()
    lab.admin("POST", "faults", {"kind": "unavailable", "seconds": 30, "status": 0})
    with pytest.raises(requests.exceptions.ConnectionError):
        c.get("serviceengine")
    lab.admin("DELETE", "faults")
    assert c.get("serviceengine").status_code == 200


def test_fail_migrate_leaves_vs_on_its_source(lab, api):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "migrate", "target": "vs-3",
                                 "reason": "injected: target SE did not come up"})
    vs = api.by_name("virtualservice", "vs-3")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    rt = wait_for(lambda: _settled(api.vs_ses("vs-3")[1]),
                  what="migration end")
    assert [s["name"] for s in rt["service_engine"]] == ["se-b"]
    assert lab.lab_vs("vs-3")["migrate_state"] == "SE_MIGRATE_STATE_FINISHED_WITH_FAILURE"
    assert lab.lab_vs("vs-3")["last_operation"]["result"] == "failed"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    # the fault was used up: the next migration succeeds
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    rt = wait_for(lambda: _settled(api.vs_ses("vs-3")[1]),
                  what="migration end")
    assert lab.lab_vs("vs-3")["migrate_state"] == "SE_MIGRATE_STATE_FINISHED" and rt["service_engine"][0]["name"] != "se-b"


def test_fail_se_create_removes_the_se_and_fails_the_migration(lab, api):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "se_create", "target": "*"})
    vs = api.by_name("virtualservice", "vs-f1")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    rt = wait_for(lambda: _settled(api.vs_ses("vs-f1")[1]),
                  what="migration end")
    assert [s["name"] for s in rt["service_engine"]] == ["se-f1"]
    grp = api.by_name("serviceenginegroup", "sg-full")
    assert api.get("serviceengine", se_group_ref=grp["uuid"]).json()["count"] == 2
    kinds = {o["kind"]: o["result"] for o in lab.admin("GET", "stats")["operations"]}
    assert kinds == {"se_create": "failed", "migrate": "failed"}


def test_fail_se_disable_stops_evacuation_consistently(lab, api):
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "se_disable", "target": "se-a"})
    api.set_enable_state("se-a", "SE_STATE_DISABLED")
    wait_for(lambda: api.se_runtime("se-a")["oper_status"]["state"] == "OPER_DISABLED", what="se-a disabled")
    rt = api.se_runtime("se-a")
    assert rt["migrate_state"] == "SE_MIGRATE_STATE_FINISHED_WITH_FAILURE"
    on_a = [v for v in ("vs-1", "vs-2") if "se-a" in api.vs_ses(v)[0]]
    assert len(on_a) == 1                      # one VS moved, the other stayed and still serves
    assert api.vs_ses(on_a[0])[1]["oper_status"]["state"] == "OPER_UP"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_forced_disable_is_disruptive_and_measured(lab, api):
    api.set_enable_state("se-b", "SE_STATE_DISABLED_FORCE")
    wait_for(lambda: api.se_runtime("se-b")["oper_status"]["state"] == "OPER_DISABLED", what="se-b disabled")
    d = lab.admin("GET", "disruption")
    assert d["virtualservice"]["vs-3"]["unavailable_seconds"] >= 20      # break before make: one scaleout
    assert d["virtualservice"]["vs-3"]["available"] is True
    assert d["virtualservice"]["vs-1"]["unavailable_seconds"] == 0


def test_latency_fault_delays_matching_requests_only(lab, api):
    lab.admin("POST", "stats/reset")
    fault = lab.admin("POST", "faults", {"kind": "latency", "min_seconds": 0.2, "max_seconds": 0.3,
                                         "path": "^/api/serviceengine$", "count": 2})
    assert (fault["min_seconds"], fault["max_seconds"]) == (0.2, 0.3)
    for _unused in range(2):
        started = time.monotonic()
        assert api.get("serviceengine").status_code == 200
        assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert api.get("serviceengine").status_code == 200   # used up (count 2)
    assert time.monotonic() - started < 0.2
    service = lab.admin("GET", "stats")["service"]
    assert service["delayed_requests"] == 2 and 0.4 <= service["delayed_seconds"] <= 0.6
    assert service["requests"] >= 3 and service["seconds"] < service["delayed_seconds"]   # delay is not service
    assert lab.admin("GET", "faults")["faults"] == []
    for bad in ({"min_seconds": 0.5, "max_seconds": 0.1}, {"seconds": "soon"}, {"seconds": -1}):
        assert lab.admin_at(lab.url, "POST", "faults", dict(bad, kind="latency"), ok=False).status_code == 400


def test_request_log_times_each_request_from_arrival_to_answer_end(lab, api):
    """GET /_lab/requests (what the benchmarks split a module's time with): each API request's method, path,
    status and wall-clock arrival and answer end, injected latency included; /_lab/ itself is not logged; the log
    is reset with the stats."""
    lab.admin("POST", "stats/reset")
    lab.admin("POST", "faults", {"kind": "latency", "seconds": 0.2, "path": "^/api/serviceengine$", "count": 1})
    before = time.time()
    assert api.get("serviceengine").status_code == 200
    assert api.get("virtualservice").status_code == 200
    after = time.time()
    log = lab.admin("GET", "requests")
    rows = [r for r in log["requests"] if r["path"] in ("/api/serviceengine", "/api/virtualservice")]
    assert [(r["method"], r["path"], r["status"]) for r in rows] == [
        ("GET", "/api/serviceengine", 200), ("GET", "/api/virtualservice", 200)]
    assert before - 0.01 <= rows[0]["arrived"] and rows[0]["ended"] - rows[0]["arrived"] >= 0.19
    assert rows[0]["ended"] <= rows[1]["arrived"] <= rows[1]["ended"] <= after + 0.01
    assert not any(r["path"].startswith("/_lab/") for r in log["requests"])
    assert log["time_scale"] > 0 and abs(log["now"] - time.time()) < 5
    lab.admin("POST", "stats/reset")
    assert lab.admin("GET", "requests")["requests"] == []
