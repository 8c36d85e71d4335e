import json
import os
import subprocess
import sys

from labkit import API_VERSION, ROOT, SMALL_PASSWORD, wait_for


def test_restart_keeps_the_world_and_resumes_operations(lab_factory, tmp_path):
    # 0.02: the 300-lab-second SE creation takes 6 s, longer than a stop and a start on a loaded machine
    lab = lab_factory(time_scale=0.02, state_dir=tmp_path / "keep").start()
    api = lab.client()
    api.set_enable_state("se-c", "SE_STATE_DISABLED_FOR_PLACEMENT")
    vs = api.by_name("virtualservice", "vs-f1")
    assert api.post(f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"}).status_code == 200  # 300 s create
    old_uuid = vs["uuid"]
    lab.stop()
    lab.start()
    api = lab.client()
    assert api.by_name("serviceengine", "se-c")["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    assert api.by_name("virtualservice", "vs-f1")["uuid"] == old_uuid
    _ses, rt = api.vs_ses("vs-f1")
    assert rt["migrate_in_progress"] is True           # still in flight after the restart

    def _settled():
        s = api.vs_ses("vs-f1")
        return s if not s[1]["migrate_in_progress"] else None
    ses, rt = wait_for(_settled, timeout=30, what="resumed migration")
    assert lab.lab_vs("vs-f1")["migrate_state"] == "SE_MIGRATE_STATE_FINISHED" and ses[0].startswith("Avi-se-")
    # --reset reseeds from the topology
    lab.stop()
    lab.start(reset=True)
    api = lab.client()
    assert api.by_name("serviceengine", "se-c")["enable_state"] == "SE_STATE_ENABLED"
    assert api.by_name("virtualservice", "vs-f1")["uuid"] != old_uuid


def test_vendor_sdk_works_unchanged(lab, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", lab.ca)
    from avi.sdk.avi_api import ApiSession
    ApiSession.clear_cached_sessions()
    port = lab.info["avi"]["port"]
    api = ApiSession(controller_ip="127.0.0.1", port=port, username="admin", password=SMALL_PASSWORD,
                     api_version=API_VERSION, verify=lab.ca)
    assert api.remote_api_version["Version"] == "22.1.6"
    ses = list(api.get_objects_iter("serviceengine", params={"page_size": 4}))
    assert len(ses) == 13
    se = api.get_object_by_name("serviceengine", "se-c")
    se["enable_state"] = "SE_STATE_DISABLED_FOR_PLACEMENT"
    r = api.put(f"serviceengine/{se['uuid']}", data=se)
    assert r.status_code == 200
    assert api.get(f"serviceengine/{se['uuid']}").json()["enable_state"] == "SE_STATE_DISABLED_FOR_PLACEMENT"
    vs = api.get_object_by_name("virtualservice", "vs-3")
    vs["enabled"] = True
    assert api.put(f"virtualservice/{vs['uuid']}", data=vs).status_code == 200
    r = api.post(f"virtualservice/{vs['uuid']}/migrate", data={"vip_id": "0", "to_new_se": True})
    assert r.status_code == 200
    inv = api.get("virtualservice-inventory", params={"name": "vs-3"}).json()["results"][0]
    assert inv["runtime"]["vip_summary"]["num_se_assigned"] == 2   # one VipSummary from 22.1.1
    # the SDK re-logs in by itself after the session expired (401)
    lab.admin("POST", "sessions/expire")
    assert api.get("serviceengine", params={"name": "se-a"}).json()["count"] == 1
    assert lab.admin("GET", "stats")["logins"] == 2
    ApiSession.clear_cached_sessions()


def test_cli_ctl_and_stop(lab):
    def ctl(*args):
        p = subprocess.run([sys.executable, "-m", "lab", "ctl", "--state-dir", lab.state_dir, *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=30, check=False)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    assert ctl("health")["ok"] is True
    assert ctl("faults", "add", json.dumps({"kind": "http_error", "path": "x", "status": 500}))["id"]
    assert len(ctl("faults")["faults"]) == 1
    ctl("faults", "clear")
    assert ctl("time-scale", "0.005")["time_scale"] == 0.005
    assert ctl("stats")["time_scale"] == 0.005
    assert "vs-1" in ctl("disruption")["virtualservice"]
    log = open(os.path.join(lab.state_dir, "lab.log")).read()
    assert SMALL_PASSWORD not in log
    pid = lab.info["pid"]
    lab.stop()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"
