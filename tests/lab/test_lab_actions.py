import threading
import time

from labkit import wait_for


def _done(api, vs):
    ses, rt = api.vs_ses(vs)
    return (ses, rt) if not (rt["migrate_in_progress"] or rt["scaleout_in_progress"]
                             or rt["scalein_in_progress"]) else None


def test_migrate_is_make_before_break_with_zero_disruption(lab_factory):
    lab = lab_factory(time_scale=0.01).start()   # scaleout 0.2 s, scalein 0.1 s real
    api = lab.client()
    vs = api.by_name("virtualservice", "vs-3")
    se_c = api.by_name("serviceengine", "se-c")
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "to_se_ref": se_c["url"]})
    assert r.status_code == 200, r.text
    seen, progress = [], []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rt = api.get(f"virtualservice/{vs['uuid']}/runtime").json()
        up = [s["name"] for s in rt["service_engine"] if s["oper_status"]["state"] == "OPER_UP"]
        assert up, f"VS had no serving SE: {rt}"
        seen.append((tuple(sorted(s["name"] for s in rt["service_engine"])), rt["scaleout_in_progress"],
                     rt["scalein_in_progress"]))
        progress.append(rt["progress_percent"])
        if not rt["migrate_in_progress"]:
            break
        assert lab.lab_vs("vs-3")["migrate_state"] in ("SE_MIGRATE_STATE_STARTED", "SE_MIGRATE_STATE_FINISHED")
        time.sleep(0.01)
    assert seen[-1][0] == ("se-c",)
    assert (("se-b", "se-c"), True, False) in seen     # scale out first (target joining)...
    assert (("se-b", "se-c"), False, True) in seen     # ...then scale in from the source
    assert max(progress) > 0
    assert lab.lab_vs("vs-3")["migrate_state"] == "SE_MIGRATE_STATE_FINISHED"
    assert lab.admin("GET", "disruption")["virtualservice"]["vs-3"]["unavailable_seconds"] == 0
    op = [o for o in lab.admin("GET", "stats")["operations"] if o["kind"] == "migrate"][0]
    assert op["result"] == "success" and 29 <= op["lab_seconds"] < 60   # 20 scaleout + 10 scalein


def test_migrate_refused_on_legacy_active_standby(api):
    vs = api.by_name("virtualservice", "vs-l1")
    se_l3 = api.by_name("serviceengine", "se-l3")
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "from_se_ref": se_l3["url"]})
    assert r.status_code == 400
    assert r.json()["error"] == "Migrate is not supported for SE group in legacy active standby HA mode"


def test_migrate_validation(api):
    vs = api.by_name("virtualservice", "vs-1")
    se_a = api.by_name("serviceengine", "se-a")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {}).status_code == 400          # vip_id required
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "to_se_ref": se_a["url"]})
    assert r.status_code == 400 and r.json()["error"] == "VS is already placed on the target SE"
    r = api.post("virtualservice/virtualservice-nope/migrate", {"vip_id": "0"})
    assert r.status_code == 404


def test_second_operation_on_the_same_vs_is_409(lab_factory):
    lab = lab_factory(time_scale=0.02).start()
    api = lab.client()
    vs = api.by_name("virtualservice", "vs-3")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"})
    assert r.status_code == 409 and r.json()["error"] == "VS operation in progress"


def test_new_se_is_created_when_nothing_fits_then_max_se_refuses(lab, api):
    # sg-full: max_vs_per_se 1, both SEs full, max_se 3 -> one new SE may be created
    vs = api.by_name("virtualservice", "vs-f1")
    grp = api.by_name("serviceenginegroup", "sg-full")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200
    ses = api.get("serviceengine-inventory", se_group_ref=grp["uuid"]).json()["results"]
    new = [s for s in ses if s["config"]["name"] not in ("se-f1", "se-f2")]
    assert len(new) == 1 and new[0]["runtime"]["oper_status"]["state"] == "OPER_CREATING"
    assert api.vs_ses("vs-f1")[1]["scaleout_in_progress"] is True
    ses, rt = wait_for(lambda: _done(api, "vs-f1"), what="migration to the new SE")
    assert ses == [new[0]["config"]["name"]] and rt["oper_status"]["state"] == "OPER_UP"
    assert api.se_runtime(ses[0])["oper_status"]["state"] == "OPER_UP"
    op = [o for o in lab.admin("GET", "stats")["operations"] if o["kind"] == "se_create"][0]
    assert op["lab_seconds"] >= 300
    # the group now holds max_se=3 SEs; with the emptied se-f1 out of placement nothing fits, and
    # disabled SEs still count toward max_se
    api.set_enable_state("se-f1", "SE_STATE_DISABLED_FOR_PLACEMENT")
    vs2 = api.by_name("virtualservice", "vs-f2")
    r = api.post(f"virtualservice/{vs2['uuid']}/migrate", {"vip_id": "0"})
    assert r.status_code == 400 and "max_se=3" in r.json()["error"]
    assert lab.admin("GET", "disruption")["total_vs_seconds"] == 0


def test_no_se_creation_on_a_cloud_that_cannot_create(api):
    vs = api.by_name("virtualservice", "vs-n1")
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("No SE available for placement") and "cannot create" in r.json()["error"]
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "to_new_se": True})
    assert r.status_code == 400
    assert api.vs_ses("vs-n1")[0] == ["se-n1"]


def test_to_host_ref_creates_the_se_on_that_host(api):
    vs = api.by_name("virtualservice", "vs-3")
    host = api.get("vimgrhostruntime", name="esx-02").json()["results"][0]
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0", "to_host_ref": host["url"]}
                    ).status_code == 200
    ses, _rt = wait_for(lambda: _done(api, "vs-3"), what="migration")
    se = api.by_name("serviceengine", ses[0])
    assert se["host_ref"] == host["url"] and se["name"].startswith("Avi-se-")


def test_scaleout_and_scalein_on_active_active(api):
    vs = api.by_name("virtualservice", "vs-p1")
    assert api.post(f"virtualservice/{vs['uuid']}/scaleout", {"vip_id": "0"}).status_code == 200
    ses, _rt = wait_for(lambda: _done(api, "vs-p1"), what="scaleout")
    assert sorted(ses) == ["se-p1", "se-p2", "se-p3"]
    se_p1 = api.by_name("serviceengine", "se-p1")
    assert api.post(f"virtualservice/{vs['uuid']}/scalein", {"vip_id": "0", "from_se_ref": se_p1["url"]}
                    ).status_code == 200
    ses, rt = wait_for(lambda: _done(api, "vs-p1"), what="scalein")
    assert sorted(ses) == ["se-p2", "se-p3"]
    assert sum(1 for s in rt["service_engine"] if s["primary"]) == 1
    # active/active keeps at least 2 SEs
    r = api.post(f"virtualservice/{vs['uuid']}/scalein", {"vip_id": "0"})
    assert r.status_code == 400


def test_concurrent_requests_are_safe(lab, api):
    errors = []

    def reader():
        c = lab.client()
        for _unused in range(15):
            for path in ("virtualservice-inventory", "serviceengine-inventory"):
                r = c.get(path, page_size=50)
                if r.status_code != 200:
                    errors.append(r.text)
    threads = [threading.Thread(target=reader) for _unused in range(4)]
    for t in threads:
        t.start()
    api.set_enable_state("se-a", "SE_STATE_DISABLED")
    for t in threads:
        t.join()
    wait_for(lambda: api.se_runtime("se-a")["oper_status"]["state"] == "OPER_DISABLED", what="se-a disabled")
    assert not errors
    assert lab.admin("GET", "stats")["requests"]["GET"] >= 120
