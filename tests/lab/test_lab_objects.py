from labkit import wait_for


def test_paging_and_filters(api):
    r = api.get("serviceengine", page_size=5).json()
    assert r["count"] == 13 and len(r["results"]) == 5 and "page=2" in r["next"]
    last = api.get("serviceengine", page_size=5, page=3).json()
    assert len(last["results"]) == 3 and "next" not in last
    names = [o["name"] for p in (1, 2, 3) for o in api.get("serviceengine", page_size=5, page=p).json()["results"]]
    assert len(set(names)) == 13
    one = api.get("serviceengine", name="se-b").json()
    assert one["count"] == 1 and one["results"][0]["name"] == "se-b"
    assert api.get("serviceengine", name="nope").json() == {"count": 0, "results": []}
    grp = api.by_name("serviceenginegroup", "sg-shared")
    by_group = api.get("serviceengine", se_group_ref=grp["url"]).json()
    assert sorted(o["name"] for o in by_group["results"]) == ["se-a", "se-b", "se-c"]
    named = api.get("serviceengine", name="se-a", include_name="").json()["results"][0]
    assert named["se_group_ref"].endswith("#sg-shared")
    fields = api.get("serviceengine", name="se-a", fields="enable_state").json()["results"][0]
    assert set(fields) == {"uuid", "url", "enable_state"}


def test_objects_carry_vendor_fields(api):
    grp = api.by_name("serviceenginegroup", "sg-legacy")
    assert grp["ha_mode"] == "HA_MODE_LEGACY_ACTIVE_STANDBY"
    for k in ("min_scaleout_per_vs", "max_scaleout_per_vs", "max_se", "max_vs_per_se", "buffer_se", "algo",
              "vs_scalein_timeout", "vcpus_per_se", "memory_per_se", "disk_per_se"):
        assert k in grp
    se = api.by_name("serviceengine", "se-a")
    assert se["uuid"].startswith("serviceengine-") and se["enable_state"] == "SE_STATE_ENABLED"
    assert "/api/vimgrhostruntime/host-" in se["host_ref"]
    assert not {"vs_refs", "mgmt_ip_address"} & set(se)      # inventory fields: not on the config object
    host = api.get("vimgrhostruntime", name="esx-01").json()["results"][0]
    assert host["name"] == "esx-01" and host["maintenance_mode"] is False
    r = api.get("serviceengine/serviceengine-doesnotexist")
    assert r.status_code == 404 and r.json() == {"error": "Object not found!"}


def test_lab_state_is_under_lab_routes(lab, api):
    world = lab.admin("GET", "world")
    assert world["hosts"]["esx-01"]["max_se_on_host"] == 7 and world["clouds"]
    assert world["service_engines"]["se-a"]["mgmt_ip"] and world["service_engines"]["se-a"]["migrate_failures"] == []


def test_inventories_and_runtime_shapes(api):
    inv = api.get("serviceengine-inventory", name="se-a").json()["results"][0]
    assert inv["runtime"]["oper_status"]["state"] == "OPER_UP"
    assert inv["runtime"]["migrate_state"] == "SE_MIGRATE_STATE_IDLE"
    assert len(inv["config"]["vs_refs"]) == 2
    vinv = api.get("virtualservice-inventory", name="vs-l1").json()["results"][0]
    ses = vinv["runtime"]["vip_summary"]["service_engine"]   # one VipSummary from 22.1.1
    assert [(s["primary"], s["standby"]) for s in ses] == [(True, False), (False, True)]
    vs = api.by_name("virtualservice", "vs-1")
    for path in (f"virtualservice/{vs['uuid']}/runtime", f"virtualservice/{vs['uuid']}/runtime/"):
        rt = api.get(path).json()                           # VirtualServiceRuntimeSummary
        assert rt["vip_summary"][0]["vip_id"] == "0" and rt["oper_status"]["state"] == "OPER_UP"
        assert rt["migrate_in_progress"] is False and rt["progress_percent"] == 0


def test_disabled_for_placement_keeps_vs_and_blocks_new_placements(lab, api):
    api.set_enable_state("se-c", "SE_STATE_DISABLED_FOR_PLACEMENT")
    rt = api.se_runtime("se-c")
    assert api.by_name("serviceengine", "se-c")["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert rt["oper_status"]["state"] == "OPER_UP"
    vs = api.by_name("virtualservice", "vs-3")
    se_c = api.by_name("serviceengine", "se-c")
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "to_se_ref": se_c["url"]})
    assert r.status_code == 400 and "No SE available for placement" in r.json()["error"]
    # with se-c out and se-a full, the engine must create a new SE for vs-3
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200

    def _moved_off_se_b():
        s = api.vs_ses("vs-3")
        return s if s[0] not in ("se-b",) and not s[1]["migrate_in_progress"] else None
    ses = wait_for(_moved_off_se_b, what="vs-3 moved")
    assert ses[0][0].startswith("Avi-se-")
    api.set_enable_state("se-c", "SE_STATE_ENABLED")
    assert api.by_name("serviceengine", "se-c")["enable_state"] == "SE_STATE_ENABLED"


def test_disable_evacuates_every_vs_without_disruption(lab, api):
    api.set_enable_state("se-a", "SE_STATE_DISABLED")
    rt = api.se_runtime("se-a")
    assert rt["oper_status"]["state"] == "OPER_DISABLING" and rt["migrate_state"] == "SE_MIGRATE_STATE_STARTED"
    wait_for(lambda: api.se_runtime("se-a")["oper_status"]["state"] == "OPER_DISABLED", what="se-a disabled")
    rt = api.se_runtime("se-a")
    assert rt["migrate_state"] == "SE_MIGRATE_STATE_FINISHED"
    assert api.get("serviceengine-inventory", name="se-a").json()["results"][0]["config"]["vs_refs"] == []
    for vs in ("vs-1", "vs-2"):
        ses, _rt = api.vs_ses(vs)
        assert ses and "se-a" not in ses
    d = lab.admin("GET", "disruption")
    assert d["total_vs_seconds"] == 0
    kinds = [o["kind"] for o in lab.admin("GET", "stats")["operations"]]
    assert kinds.count("migrate") == 2 and "se_disable" in kinds


def test_disable_with_a_vs_that_cannot_move_finishes_with_failure(lab, api):
    # sg-bare: CLOUD_NONE cannot create SEs, se-n2 is full (max_vs_per_se 1)
    api.set_enable_state("se-n1", "SE_STATE_DISABLED")
    wait_for(lambda: api.se_runtime("se-n1")["oper_status"]["state"] == "OPER_DISABLED", what="se-n1 disabled")
    rt = api.se_runtime("se-n1")
    assert rt["migrate_state"] == "SE_MIGRATE_STATE_FINISHED_WITH_FAILURE"
    assert "cannot create" in lab.admin("GET", "world")["service_engines"]["se-n1"]["migrate_failures"][0]["reason"]
    ses, vrt = api.vs_ses("vs-n1")
    assert ses == ["se-n1"] and vrt["oper_status"]["state"] == "OPER_UP"
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0
    # re-enable brings it back
    api.set_enable_state("se-n1", "SE_STATE_ENABLED")
    rt = api.se_runtime("se-n1")
    assert rt["oper_status"]["state"] == "OPER_UP" and rt["migrate_state"] == "SE_MIGRATE_STATE_IDLE"


def test_disable_in_legacy_pair_switches_over_and_places_a_new_standby(lab, api):
    api.set_enable_state("se-l1", "SE_STATE_DISABLED")
    wait_for(lambda: api.se_runtime("se-l1")["oper_status"]["state"] == "OPER_DISABLED", what="se-l1 disabled")
    ses, rt = api.vs_ses("vs-l1")
    assert ses == ["se-l2", "se-l3"]
    flags = {s["name"]: (s["primary"], s["standby"]) for s in rt["service_engine"]}
    assert flags == {"se-l2": (True, False), "se-l3": (False, True)}
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_put_validates_enable_state(api):
    se = api.by_name("serviceengine", "se-a")
    se["enable_state"] = "SE_STATE_SLEEPY"
    r = api.put(f"serviceengine/{se['uuid']}", se)
    assert r.status_code == 400
    assert api.by_name("serviceengine", "se-a")["enable_state"] == "SE_STATE_ENABLED"
