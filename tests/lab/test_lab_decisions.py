"""The controller's own decisions in the lab: the event log, service engines deleted, and the mode in which the
controller decides otherwise than the collection predicts (another valid target, SE creations that fail and are
retried on another host, slower operations), set by the topology or /_lab/decisions."""
from labkit import wait_for


def idle(lab):
    wait_for(lambda: not [o for o in lab.admin("GET", "stats")["operations"] if o["result"] == "running"],
             timeout=30, interval=0.02, what="the lab's operations to end")


def events(api, *ids, about=None):
    params = {"type": "2", "page_size": "100"}
    if ids:
        params["filter"] = "eq(event_id,[%s])" % ",".join(ids)
    r = api.get("analytics/logs", **params)
    assert r.status_code == 200, r.text
    found = r.json()["results"]
    return [e for e in found if about is None or about in repr(e)]


def test_host_capacity_and_decisions_are_lab_state_set_through_the_admin_plane(lab_factory):
    lab = lab_factory().start()
    api = lab.client()
    host = api.by_name("vimgrhostruntime", "esx-01")
    assert "max_se_on_host" not in host                    # no vendor object says how many SEs a host runs
    assert lab.admin("GET", "decisions")["host_capacity"]["esx-01"] == 7
    got = lab.admin("POST", "decisions", {"mode": "otherwise", "host_capacity": {"esx-01": 2}, "slow": 3})
    assert got["mode"] == "otherwise" and got["host_capacity"]["esx-01"] == 2 and got["slow"] == 3.0
    assert lab.admin("GET", "world")["hosts"]["esx-01"]["max_se_on_host"] == 2
    for bad in ({"mode": "random"}, {"se_create_failures": ["SE_CREATION_FAILED"]}, {"jitter": 1.5},
                {"host_capacity": {"nope": 1}}):
        r = lab.admin_at(lab.url, "POST", "decisions", bad, ok=False)
        assert r.status_code == 400, (bad, r.text)
    # clouds say whether the controller may create SEs the vendor's way
    clouds = {c["name"]: c for c in api.get("cloud").json()["results"]}
    assert clouds["vc-cloud"]["vcenter_configuration"]["privilege"] == "WRITE_ACCESS"
    assert "vcenter_configuration" not in clouds["bare-cloud"] and clouds["bare-cloud"]["vtype"] == "CLOUD_NONE"


def test_the_event_log_reports_operations_and_filters_as_the_vendor_documents(lab_factory):
    lab = lab_factory().start()
    api = lab.client()
    vs = api.by_name("virtualservice", "vs-3")
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "migrate", "target": "vs-3",
                                 "reason": "rpc to the SE timed out"})
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    idle(lab)
    failed = events(api, "VS_MIGRATE_FAILED", "VS_SCALEOUT_FAILED", about=vs["uuid"])
    assert [e["event_id"] for e in failed] == ["VS_MIGRATE_FAILED"]
    assert failed[0]["obj_uuid"] == vs["uuid"] and failed[0]["obj_type"] == "VIRTUALSERVICE"
    assert failed[0]["event_details"]["vs_migrate_details"]["error_message"] == "rpc to the SE timed out"
    assert isinstance(failed[0]["report_timestamp"], int)
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    idle(lab)
    ids = [e["event_id"] for e in events(api, about=vs["uuid"])]
    assert ids[:2] == ["VS_MIGRATE_COMPLETE", "VS_MIGRATE_STARTED"]    # newest first (-report_timestamp)
    r = api.get("analytics/logs", type="2", filter="eq(event_id,VS_MIGRATE_FAILED)", duration="3600")
    assert r.json()["count"] == 1
    assert api.get("analytics/logs", type="1").status_code == 400       # the lab keeps event logs only
    assert api.get("analytics/logs", type="2", filter="bogus").status_code == 400


def test_a_service_engine_is_deleted_only_when_empty(lab_factory):
    lab = lab_factory().start()
    api = lab.client()
    busy, empty = api.by_name("serviceengine", "se-a"), api.by_name("serviceengine", "se-c")
    r = api.delete(f"serviceengine/{busy['uuid']}")
    assert r.status_code == 400 and "vs-1" in r.json()["error"]
    assert api.delete(f"serviceengine/{empty['uuid']}").status_code == 204
    assert api.get(f"serviceengine/{empty['uuid']}").status_code == 404
    assert [e["event_id"] for e in events(api, "DELETED_SE")] == ["DELETED_SE"]


def test_otherwise_the_controller_picks_another_valid_target_and_retries_a_failed_se_creation(lab_factory):
    lab = lab_factory("otherwise.yml").start()
    api = lab.client(password="Otherwise-lab-Secret!")
    # PACKED predicts the fullest eligible SE for pk-4: pk-se-03 (pk-se-01 is full); the controller takes another
    # valid target (here a new SE, the group being below max_se)
    vs = api.by_name("virtualservice", "pk-4")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    idle(lab)
    world = lab.admin("GET", "world")
    on = [n for n, se in world["service_engines"].items() if "pk-4" in se["vs"]]
    assert on and on != ["pk-se-03"] and world["decisions"] == "otherwise"
    # a new SE: the first creation fails (CREATE_SE_FAIL), the controller retries on another host and succeeds
    vs = api.by_name("virtualservice", "ds-3")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "to_new_se": True}).status_code == 200
    wait_for(lambda: events(api, "CREATE_SE_FAIL"), timeout=30, what="the SE creation to fail")
    _ses, rt = api.vs_ses("ds-3")
    assert rt["migrate_in_progress"] and rt["oper_status"]["state"] == "OPER_UP"   # still serving from ds-se-02
    idle(lab)
    spawns = events(api, "CREATING_SE", "CREATE_SE_FAIL", "CREATE_SE_TIMEOUT", "CREATED_SE")[::-1]
    assert [e["event_id"] for e in spawns][:2] == ["CREATING_SE", "CREATE_SE_FAIL"]
    assert spawns[-1]["event_id"] == "CREATED_SE"
    hosts = [e["event_details"]["spawn_se_details"]["host_name"] for e in spawns]
    assert hosts[0] != hosts[-1]                          # retried on another host
    ses, _rt = api.vs_ses("ds-3")
    assert ses and ses[0].startswith("ds-se-") and ses[0] not in ("ds-se-01", "ds-se-02")
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    # slower than timed: the migration took at least twice its 15 lab seconds (minus the jitter)
    first = [o for o in lab.admin("GET", "stats")["operations"] if o["kind"] == "migrate"][0]
    assert first["lab_seconds"] >= 15
