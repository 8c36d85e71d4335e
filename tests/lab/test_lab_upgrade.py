"""The lab's upgrade engine: images, both upgrade API generations, the configuration lock, reboot
windows, SE upgrade order and disruption, faults, rollback, preview, the per-SE extension, avisdk
and restart (lab/AVI.md "Upgrades")."""
import os
import subprocess
import sys

import pytest
import requests
import yaml

from labkit import ROOT, TOPOLOGIES, wait_for

UP_PASSWORD = "Upgr4de-lab-Secret!"
LEGACY_PASSWORD = "L3gacy-lab-Secret!"
FSM = "UPGRADE_FSM_"


def up_lab(lab_factory, tmp_path, time_scale=0.002, topology="upgrade.yml", **timing):
    """A lab on an upgrade topology; keyword arguments override its upgrade_timing."""
    if timing:
        with open(os.path.join(TOPOLOGIES, topology), encoding="utf-8") as fh:
            topo = yaml.safe_load(fh)
        topo["upgrade_timing"].update(timing)
        topology = str(tmp_path / f"custom-{len(os.listdir(tmp_path))}.yml")
        with open(topology, "w", encoding="utf-8") as fh:
            yaml.safe_dump(topo, fh)
    return lab_factory(topology, time_scale=time_scale).start()


def image(api, name):
    return api.by_name("image", name)


def summary(lab):
    return lab.admin("GET", "upgrade")


def idle(lab):
    """The /_lab/upgrade summary once no upgrade operation runs (for wait_for)."""
    s = summary(lab)
    return s if not s["running"] else None


def upgrade(api, body, status=200):
    r = api.post("upgrade", body)
    assert r.status_code == status, r.text
    return r.json()


def ops(lab, kind):
    return [o for o in lab.admin("GET", "stats")["operations"] if o["kind"] == kind]


def se_versions(lab):
    return {se: v["version"] for g in summary(lab)["se_groups"].values() for se, v in g["service_engines"].items()}


def make_image(tmp_path, version, build, min_version=None, package="controller.pkg"):
    out = tmp_path / f"controller-{version}-{build}{'.tgz' if package.endswith('.tgz') else '.pkg'}"
    args = [sys.executable, "-m", "lab", "make-image", "--version", version, "--build", str(build), "--package",
            package, "--out", str(out)] + (["--min-version", min_version] if min_version else [])
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, timeout=30)
    return out.read_bytes()


# ---------------------------------------------------------------------------------------- topologies
def test_upgrade_topologies_have_the_promised_shape():
    def load(name):
        with open(os.path.join(TOPOLOGIES, name), encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    up = load("upgrade.yml")
    assert up["controller"]["nodes"] == 3 and up["controller"]["deployment"] == "vm"
    assert {g["ha_mode"] for g in up["se_groups"]} == {"HA_MODE_SHARED", "HA_MODE_SHARED_PAIR",
                                                       "HA_MODE_LEGACY_ACTIVE_STANDBY"}
    assert all(2 <= len(g["service_engines"]) <= 4 for g in up["se_groups"])
    nm = [v for v in up["virtual_services"] if v["se_group"] == "sg-nm"]
    assert {len(v["ses"]) for v in nm} == {1, 2}
    assert {i["package"] for i in up["images"]} == {"controller.pkg", "controller_docker.tgz"}
    legacy = load("upgrade-legacy.yml")
    assert legacy["controller"]["version"].startswith("17.2.")
    bench = load("bench_upgrade.yml")
    assert len(bench["se_groups"]) == 8 and all(len(g["service_engines"]) == 4 for g in bench["se_groups"])
    for g in bench["se_groups"]:
        vss = [v for v in bench["virtual_services"] if v["se_group"] == g["name"]]
        assert {len(v["ses"]) for v in vss} == {1, 2} and g["ha_mode"] == "HA_MODE_SHARED"
        for se in g["service_engines"]:  # room for one more placement on every SE
            assert sum(se["name"] in v["ses"] for v in vss) < g["max_vs_per_se"]
    gen = subprocess.run([sys.executable, os.path.join(TOPOLOGIES, "bench_upgrade.py")], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=30).stdout
    with open(os.path.join(TOPOLOGIES, "bench_upgrade.yml"), encoding="utf-8") as fh:
        assert gen == fh.read(), "bench_upgrade.yml is not what bench_upgrade.py writes: regenerate it"


# ---------------------------------------------------------------------------------------- images
def test_images_upload_duplicate_wrong_type_garbage_delete(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path, time_scale=0.01)
    api = lab.client(password=UP_PASSWORD)
    pkg = make_image(tmp_path, "22.1.9", 9500, "22.1.1")
    r = api.upload("image", pkg, "controller.pkg")
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["name"] == "controller-22.1.9-9500" and img["type"] == "IMAGE_TYPE_SYSTEM"
    assert img["uuid"].startswith("image-")
    assert {i["name"]: i["package"] for i in summary(lab)["images"]}["controller-22.1.9-9500"] == "controller.pkg"
    assert img["img_state"]["state"] == "IMAGE_FSM_IN_PROGRESS"
    assert img["controller_info"]["path"] == "controller://upgrade_pkgs/controller-22.1.9-9500.pkg"
    assert img["controller_info"]["build"]["version"] == "22.1.9" and img["se_info"]["build"]["build_no"] == 9500

    def uploaded():
        i = image(api, "controller-22.1.9-9500")
        return i if i["img_state"]["state"] == "IMAGE_FSM_COMPLETED" else None
    done = wait_for(uploaded, timeout=10, what="image upload")
    assert done["progress"] == 100
    # the same version and build again: refused, naming the image that exists
    r = api.upload("image", pkg)
    assert r.status_code == 409 and "controller-22.1.9-9500" in r.json()["error"]
    # a bare-metal package on a VM controller: refused, naming both
    r = api.upload("image", make_image(tmp_path, "22.1.10", 9600, package="controller_docker.tgz"),
                   "controller_docker.tgz")
    assert r.status_code == 400
    assert "controller_docker.tgz" in r.json()["error"] and "controller.pkg" in r.json()["error"]
    assert api.upload("image", b"not a package at all").status_code == 400
    r = api.upload("image", pkg, field="package")
    assert r.status_code == 400 and "'file'" in r.json()["error"]
    inv = api.get("image-inventory").json()
    assert inv["count"] == 5 and all(e["config"]["uuid"] == e["uuid"] for e in inv["results"])
    names = [i["name"] for i in api.get("image").json()["results"]]
    assert "controller-22.1.6-9191" in names     # the running version's image
    assert api.delete(f"image/{done['uuid']}").status_code == 204
    assert api.get(f"image/{done['uuid']}").status_code == 404


# ---------------------------------------------------------------------------------------- refusals, force
def test_version_refusals_and_force_makes_it_disruptive(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path)
    api = lab.client(password=UP_PASSWORD)
    assert api.upload("image", make_image(tmp_path, "22.1.5", 9000)).status_code == 201
    wait_for(lambda: image(api, "controller-22.1.5-9000")["img_state"]["state"] == "IMAGE_FSM_COMPLETED",
             what="upload")
    r = api.post("upgrade", {"image_ref": image(api, "controller-22.1.5-9000")["url"], "system": True})
    assert r.status_code == 400 and "older" in r.json()["error"] and "rollback" in r.json()["error"]
    r = api.post("upgrade", {"image_ref": image(api, "controller-22.1.6-9191")["uuid"]})
    assert r.status_code == 400 and "already at version" in r.json()["error"]
    r = api.post("upgrade", {"image_uuid": image(api, "controller-22.1.8-9400")["uuid"], "system": True})
    assert r.status_code == 400 and "controller_docker.tgz" in r.json()["error"]
    r = api.post("upgrade", {"image_ref": image(api, "controller-22.1.7-9300")["url"], "se_group_refs": ["sg-nm"]})
    assert r.status_code == 400 and "controller's running version" in r.json()["error"]
    for bad in ({"system": True}, {"image_ref": "image-nope"},
                {"image_ref": image(api, "controller-22.1.7-9300")["url"], "system": "yes"},
                {"image_ref": image(api, "controller-22.1.7-9300")["url"],
                 "se_group_options": {"action_on_error": "PANIC"}}):
        r = api.post("upgrade", bad)
        assert r.status_code == 400, bad
    assert "ROLLBACK_UPGRADE_OPS_ON_ERROR" in r.json()["error"]
    far = image(api, "controller-30.1.1-9600")["url"]
    r = api.post("upgrade", {"image_ref": far, "system": True})
    assert r.status_code == 400 and "too far" in r.json()["error"] and "skip_warnings" in r.json()["error"]
    assert summary(lab)["running"] == [] and summary(lab)["controller"]["version"] == "22.1.6"
    out = upgrade(api, {"image_ref": far, "system": True, "skip_warnings": True})
    assert out["disruptive"] is True and out["warnings"]
    s = wait_for(lambda: idle(lab), timeout=30, what="forced upgrade")
    assert s["controller"]["version"] == "30.1.1" and set(se_versions(lab).values()) == {"30.1.1"}
    # disruptive: every SE of a group upgrades at once
    starts = {}
    for o in ops(lab, "se_upgrade"):
        starts.setdefault(o["target"][:2], set()).add(o["started"])
    assert all(len(s) == 1 for s in starts.values()), starts
    dis = lab.admin("GET", "disruption")["virtualservice"]
    assert dis["aa-1"]["unavailable_seconds"] > 0 and dis["lg-1"]["unavailable_seconds"] > 0


# ---------------------------------------------------------------------------------------- system upgrade
def test_system_upgrade_lock_reboot_window_order_and_disruption(lab_factory, tmp_path):
    # time scale 1 while the lock is checked (the controller phase then takes a minute), 0.01 afterwards
    lab = up_lab(lab_factory, tmp_path, time_scale=1.0, controller_reboot=100, cluster_form=50)
    api = lab.client(password=UP_PASSWORD)
    idle_client = lab.client(password=UP_PASSWORD)    # logged in before; silent until the upgrade ended
    before = sorted((v["name"], v["vip"][0]["ip_address"]["addr"]) for v in api.get("virtualservice").json()[
        "results"])
    out = upgrade(api, {"image_ref": image(api, "controller-22.1.7-9300")["url"], "system": True})
    assert out["node_type"] == "NODE_CONTROLLER_CLUSTER" and out["to_version"] == "22.1.7"
    # configuration is read-only, reads and status work
    se = api.by_name("serviceengine", "nm-se-04")
    se["enable_state"] = "SE_STATE_DISABLED_FOR_PLACEMENT"
    r = api.put(f"serviceengine/{se['uuid']}", se)
    assert r.status_code == 403 and "upgrade in progress" in r.json()["error"].lower()
    assert api.post(f"virtualservice/{api.by_name('virtualservice', 'nm-single-1')['uuid']}/migrate",
                    {"vip_id": "0"}).status_code == 403
    assert api.get("virtualservice").status_code == 200
    assert api.get("cluster/status").json()["cluster_state"]["state"] == "CLUSTER_UP_HA_ACTIVE"
    assert api.post("upgrade", {"image_ref": image(api, "controller-22.1.7-9300")["url"]}).status_code == 409
    assert summary(lab)["controller"]["api"] == "up"
    lab.admin("POST", "time-scale", {"scale": 0.01})
    # the reboot window: 503 or dropped connections on /api and /login, then the cluster forms (503)
    wait_for(lambda: summary(lab)["controller"]["api"] == "rebooting", timeout=30, interval=0.01,
             what="the reboot window")
    seen = set()

    def probe():
        try:
            r = requests.post(f"{lab.url}/login", json={"username": "admin", "password": UP_PASSWORD},
                              verify=lab.ca, timeout=5)
        except requests.exceptions.ConnectionError:
            seen.add("dropped")
            return None
        if r.status_code == 503:
            seen.add("not ready" if "not ready" in r.json()["error"] else "503")
        return r if r.status_code == 200 else None
    r = wait_for(probe, timeout=30, interval=0.01, what="the controller back after its reboot")
    assert seen & {"dropped", "503"} and "not ready" in seen, seen
    assert r.json()["version"]["Version"] == "22.1.7"
    assert idle_client.get("serviceengine").status_code == 401          # the reboot ended every session
    api = lab.client(password=UP_PASSWORD)
    assert api.put(f"serviceengine/{se['uuid']}", se).status_code == 403  # locked until the very end
    s = wait_for(lambda: idle(lab), timeout=60, what="system upgrade end")
    assert s["controller"] == dict(s["controller"], version="22.1.7", previous_version="22.1.6",
                                   state=FSM + "COMPLETED", config_locked=False, api="up")
    assert set(se_versions(lab).values()) == {"22.1.7"}
    assert api.get("serviceengine/" + se["uuid"] + "/runtime").json()["version"] == "22.1.7"
    assert api.put(f"serviceengine/{se['uuid']}", se).status_code == 200
    # SEs one at a time in name order within a group, groups in parallel, right after the controllers
    ctl = ops(lab, "controller_upgrade")[0]
    assert ctl["result"] == "success" and ctl["lab_seconds"] == pytest.approx(2 + 30 + 100 + 50)
    per_group = {}
    for o in ops(lab, "se_upgrade"):
        per_group.setdefault(o["target"][:2], []).append(o)
    assert {g: [o["target"] for o in v] for g, v in per_group.items()} == {
        "nm": ["nm-se-01", "nm-se-02", "nm-se-03", "nm-se-04"], "aa": ["aa-se-01", "aa-se-02", "aa-se-03"],
        "lg": ["lg-se-01", "lg-se-02"]}
    for v in per_group.values():
        assert v[0]["started"] == pytest.approx(ctl["ended"])
        assert all(a["ended"] <= b["started"] + 1e-6 for a, b in zip(v, v[1:]))
        assert all(o["lab_seconds"] == pytest.approx(60) and o["result"] == "success" for o in v)
    top = ops(lab, "system_upgrade")[0]
    assert top["lab_seconds"] == pytest.approx(182 + 4 * 60)
    # only N+M VSs on a single SE lost service, each for its SE's window; A/S switched over
    dis = lab.admin("GET", "disruption")["virtualservice"]
    assert {n for n, d in dis.items() if d["unavailable_seconds"] > 0} == {"nm-single-1", "nm-single-2"}
    assert dis["nm-single-1"]["unavailable_seconds"] == pytest.approx(60)
    assert s["se_groups"]["sg-nm"]["disrupted_vs"] == ["nm-single-1", "nm-single-2"]
    assert s["se_groups"]["sg-legacy"]["disrupted_vs"] == [] and s["se_groups"]["sg-aa"]["disrupted_vs"] == []
    notes = api.get("upgradestatusinfo", name="sg-legacy").json()["results"][0]["seg_status"]["notes"]
    assert "lg-1 switched over to lg-se-02 before lg-se-01 upgraded" in notes   # and back when lg-se-02 did
    assert "lg-1 switched over to lg-se-01 before lg-se-02 upgraded" in notes
    # the vendor's views agree, and the configuration was preserved
    assert api.get("version/controller").json()[0]["version"].startswith("22.1.7(9300)")
    assert requests.get(f"{lab.url}/api/initial-data", verify=lab.ca).json()["version"]["Version"] == "22.1.7"
    info = api.get("upgradestatusinfo", node_type="NODE_SE_GROUP", name="sg-nm").json()["results"][0]
    assert info["version"] == "22.1.7" and info["previous_version"] == "22.1.6"
    assert info["state"]["state"] == FSM + "COMPLETED" and info["seg_status"]["num_vs_disrupted"] == 2
    assert len(info["seg_status"]["se_upgrade_completed"]) == 4 and info["enable_rollback"] is True
    ctl_info = api.get(f"upgradestatusinfo/{info['uuid']}").json()
    assert ctl_info["uuid"] == info["uuid"]
    ctl_info = api.get("upgradestatusinfo", node_type="NODE_CONTROLLER_CLUSTER").json()["results"][0]
    assert ctl_info["upgrade_ops"] == "UPGRADE" and ctl_info["system"] is True and ctl_info["progress"] == 100
    assert ctl_info["tasks_completed"] == ctl_info["total_tasks"] == 15
    assert [e["task_name"] for e in ctl_info["upgrade_events"]][-1] == "COMMIT_UPGRADE"
    assert len(ctl_info["upgrade_events"][0]["sub_events"]) == 3      # one per controller node
    assert sorted((v["name"], v["vip"][0]["ip_address"]["addr"]) for v in api.get("virtualservice").json()[
        "results"]) == before


# ---------------------------------------------------------------------------------------- scopes
def test_controller_only_then_se_group_upgrades(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path, time_scale=1.0)      # 0.002 once the checks in flight are done
    api = lab.client(password=UP_PASSWORD)
    nxt = image(api, "controller-22.1.7-9300")["url"]
    nm01 = api.by_name("serviceengine", "nm-se-01")
    upgrade(api, {"image_ref": nxt})
    assert api.put(f"serviceengine/{nm01['uuid']}", nm01).status_code == 403   # locked in the controller phase
    lab.admin("POST", "time-scale", {"scale": 0.002})
    s = wait_for(lambda: idle(lab), timeout=30, what="controller upgrade")
    api = lab.client(password=UP_PASSWORD)             # the reboot ended the session
    assert s["controller"]["version"] == "22.1.7" and set(se_versions(lab).values()) == {"22.1.6"}
    assert s["controller"]["state"] == FSM + "COMPLETED" and not ops(lab, "se_group_upgrade")
    # one SE group: configuration stays writable, but not virtual services (NSX ALB 30.2 docs: no VS or VIP
    # change while an SE group upgrades)
    lab.admin("POST", "time-scale", {"scale": 1.0})
    upgrade(api, {"image_ref": nxt, "se_group_refs": [api.by_name("serviceenginegroup", "sg-aa")["url"]]})
    nm01 = api.by_name("serviceengine", "nm-se-01")
    assert api.put(f"serviceengine/{nm01['uuid']}", nm01).status_code == 200
    vs = api.by_name("virtualservice", "nm-single-1")
    assert api.put(f"virtualservice/{vs['uuid']}", vs).status_code == 403
    r = api.delete(f"image/{image(api, 'controller-22.1.7-9300')['uuid']}")
    assert r.status_code == 400 and "in use" in r.json()["error"]
    assert api.post("upgrade", {"image_ref": nxt, "se_group_refs": ["sg-aa"]}).status_code == 409
    lab.admin("POST", "time-scale", {"scale": 0.002})
    s = wait_for(lambda: idle(lab), timeout=30, what="SE group upgrade")
    v = se_versions(lab)
    assert {k for k, x in v.items() if x == "22.1.7"} == {"aa-se-01", "aa-se-02", "aa-se-03"}
    assert s["se_groups"]["sg-aa"]["version"] == "22.1.7" and s["se_groups"]["sg-nm"]["version"] == "22.1.6"
    # then the other group: its single-SE N+M VS loses service while its SE upgrades (nothing protected it)
    upgrade(api, {"image_ref": nxt, "se_group_refs": [api.by_name("serviceenginegroup", "sg-nm")["url"]]})
    wait_for(lambda: idle(lab), timeout=30, what="SE group upgrade")
    assert {x for k, x in se_versions(lab).items() if k.startswith(("nm-se-", "aa-se-"))} == {"22.1.7"}
    assert api.se_runtime("nm-se-01")["oper_status"]["state"] == "OPER_UP"
    info = api.get(f"upgradestatusinfo/{nm01['uuid']}").json()
    assert info["node_type"] == "NODE_SE_TYPE" and info["version"] == "22.1.7"
    assert info["state"]["state"] == FSM + "COMPLETED" and info["previous_version"] == "22.1.6"
    assert lab.admin("GET", "disruption")["virtualservice"]["nm-single-1"]["unavailable_seconds"] > 0
    info = api.get("upgradestatusinfo", name="sg-nm").json()["results"][0]
    assert (info["version"], info["previous_version"], info["enable_rollback"]) == ("22.1.7", "22.1.6", True)
    # no per-SE upgrade: no Avi release has POST /api/serviceengine/{uuid}/upgrade
    assert api.post(f"serviceengine/{nm01['uuid']}/upgrade", {}).status_code == 404


# ---------------------------------------------------------------------------------------- faults
def test_cluster_reform_fault_aborts_and_rolls_back(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path, time_scale=0.004)
    api = lab.client(password=UP_PASSWORD)
    lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "cluster_reform", "count": 1,
                                 "reason": "injected: node 10.10.9.12 did not rejoin"})
    upgrade(api, {"image_ref": image(api, "controller-22.1.7-9300")["url"], "system": True})
    states = set()

    def ended():
        s = summary(lab)
        states.add(s["controller"]["state"])
        return s if not s["running"] else None
    s = wait_for(ended, timeout=30, interval=0.005, what="aborted upgrade")
    assert s["controller"]["state"] == FSM + "ABORTED" and "did not re-form" in s["controller"]["reason"]
    assert FSM + "ABORT_IN_PROGRESS" in states
    assert s["controller"]["version"] == "22.1.6" and s["controller"]["config_locked"] is False
    assert set(se_versions(lab).values()) == {"22.1.6"}
    ctl = ops(lab, "controller_upgrade")[0]
    assert ctl["result"] == "failed" and ctl["lab_seconds"] == pytest.approx(2 + 30 + 20 + 10 + 20 + 10)
    assert ops(lab, "system_upgrade")[0]["result"] == "failed" and not ops(lab, "se_upgrade")
    api = lab.client(password=UP_PASSWORD)
    assert api.get("virtualservice").json()["count"] == 9
    se = api.by_name("serviceengine", "nm-se-04")
    assert api.put(f"serviceengine/{se['uuid']}", se).status_code == 200
    info = api.get("upgradestatusinfo", node_type="NODE_CONTROLLER_CLUSTER").json()["results"][0]
    assert info["state"]["state"] == FSM + "ABORTED" and info["version"] == "22.1.6"
    assert info["history"][0]["state"]["state"] == FSM + "ABORTED"


def test_se_upgrade_faults_suspend_rollback_continue_and_resume(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path)
    api = lab.client(password=UP_PASSWORD)
    nxt = image(api, "controller-22.1.7-9300")["url"]
    upgrade(api, {"image_ref": nxt})
    wait_for(lambda: idle(lab), timeout=30, what="controller upgrade")
    api = lab.client(password=UP_PASSWORD)             # the reboot ended the session
    for target in ("nm-se-02", "aa-se-02", "lg-se-01"):
        lab.admin("POST", "faults", {"kind": "fail_operation", "operation": "se_upgrade", "target": target})
    for group, action in (("sg-nm", "SUSPEND_UPGRADE_OPS_ON_ERROR"), ("sg-aa", "ROLLBACK_UPGRADE_OPS_ON_ERROR"),
                          ("sg-legacy", "CONTINUE_UPGRADE_OPS_ON_ERROR")):
        upgrade(api, {"image_ref": nxt, "se_group_refs": [group], "se_group_options": {"action_on_error": action}})
    s = wait_for(lambda: idle(lab), timeout=30, what="SE group upgrades")
    v = se_versions(lab)
    groups = s["se_groups"]
    # SUSPEND: the group stops at the failed SE, which came back on the old version and serves
    assert groups["sg-nm"]["state"] == FSM + "SUSPENDED"
    assert (v["nm-se-01"], v["nm-se-02"], v["nm-se-03"], v["nm-se-04"]) == ("22.1.7", "22.1.6", "22.1.6", "22.1.6")
    assert groups["sg-nm"]["service_engines"]["nm-se-02"]["oper"] == "OPER_UP"
    seg = api.get("upgradestatusinfo", name="sg-nm").json()["results"][0]["seg_status"]
    assert [x.rsplit("/", 1)[-1] for x in seg["se_upgrade_suspended"]] == [api.by_name("serviceengine",
                                                                                       "nm-se-02")["uuid"]]
    assert len(seg["se_upgrade_not_started"]) == 2 and seg["state"] == "SEGROUP_UPGRADE_SUSPENDED"
    # ROLLBACK: the already upgraded SE is rolled back (another window), the group ends aborted
    assert groups["sg-aa"]["state"] == FSM + "ABORTED" and "rolled back 1" in groups["sg-aa"]["reason"]
    assert (v["aa-se-01"], v["aa-se-02"], v["aa-se-03"]) == ("22.1.6", "22.1.6", "22.1.6")
    assert [o["target"] for o in ops(lab, "se_rollback")] == ["aa-se-01"]
    # CONTINUE: the failed SE is skipped, the others upgrade, the group ends in error
    assert groups["sg-legacy"]["state"] == FSM + "ERROR"
    assert (v["lg-se-01"], v["lg-se-02"]) == ("22.1.6", "22.1.7")
    seg = api.get("upgradestatusinfo", name="sg-legacy").json()["results"][0]["seg_status"]
    assert len(seg["se_upgrade_failed"]) == 1 and seg["state"] == "SEGROUP_UPGRADE_ERROR"
    assert lab.admin("GET", "disruption")["virtualservice"]["lg-1"]["unavailable_seconds"] == 0
    # resume the suspended group: it retries the failed SE, then the rest
    r = api.post("segroup/resume", {"se_group_refs": ["sg-nm"]})
    assert r.status_code == 200 and r.json()["upgrade_ops"] == "SEGROUP_RESUME"
    assert api.post("segroup/resume", {"se_group_refs": ["sg-legacy"]}).status_code == 400
    s = wait_for(lambda: idle(lab), timeout=30, what="resumed group")
    assert s["se_groups"]["sg-nm"]["state"] == FSM + "COMPLETED" and s["se_groups"]["sg-nm"]["version"] == "22.1.7"


# ---------------------------------------------------------------------------------------- rollback, preview
def test_rollback_api(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path)
    api = lab.client(password=UP_PASSWORD)
    r = api.post("rollback", {})
    assert r.status_code == 400 and "enable_rollback" in r.json()["error"]
    upgrade(api, {"image_ref": image(api, "controller-22.1.7-9300")["url"], "system": True})
    wait_for(lambda: idle(lab), timeout=30, what="system upgrade")
    api = lab.client(password=UP_PASSWORD)             # the reboot ended the session
    r = api.post("rollback", {})
    assert r.status_code == 400 and "newer than 22.1.6" in r.json()["error"]
    plan = api.post("rollback/preview", {"system": True}).json()
    assert (plan["from_version"], plan["to_version"]) == ("22.1.7", "22.1.6") and len(plan["se_groups"]) == 3
    r = api.post("rollback", {"se_group_refs": ["sg-aa"]})
    assert r.status_code == 200 and r.json()["upgrade_ops"] == "ROLLBACK"
    wait_for(lambda: idle(lab), timeout=30, what="group rollback")
    assert {k: x for k, x in se_versions(lab).items() if k.startswith("aa")} == dict.fromkeys(
        ("aa-se-01", "aa-se-02", "aa-se-03"), "22.1.6")
    assert api.post("rollback", {"se_group_refs": ["sg-aa"]}).status_code == 400
    r = api.post("rollback", {"system": True})
    assert r.status_code == 200 and r.json()["to_version"] == "22.1.6"
    s = wait_for(lambda: idle(lab), timeout=30, what="system rollback")
    api = lab.client(password=UP_PASSWORD)
    assert s["controller"]["version"] == "22.1.6" and set(se_versions(lab).values()) == {"22.1.6"}
    assert [o["result"] for o in ops(lab, "rollback")] == ["success", "success"]
    info = api.get("upgradestatusinfo", node_type="NODE_CONTROLLER_CLUSTER").json()["results"][0]
    assert info["upgrade_ops"] == "ROLLBACK" and info["enable_rollback"] is False
    assert api.post("rollback", {"system": True}).status_code == 400


def test_preview_and_prechecks_change_nothing(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path)
    api = lab.client(password=UP_PASSWORD)
    before = summary(lab)
    nxt = image(api, "controller-22.1.7-9300")["url"]
    plan = api.post("upgrade/preview/", {"image_ref": nxt, "system": True}).json()
    assert (plan["from_version"], plan["to_version"]) == ("22.1.6", "22.1.7")
    assert plan["errors"] == [] and plan["warnings"] == []
    assert plan["controller"]["will_upgrade"] is True and len(plan["controller"]["nodes"]) == 3
    groups = {g["se_group_name"]: g for g in plan["se_groups"]}
    assert groups["sg-nm"]["state"] == "SE_UPGRADE_PREVIEW"
    assert not [k for g in plan["se_groups"] for k in g if k.startswith("lab_")]
    # the lab's own plan (SE order, the VSs it would disrupt and why): /_lab/upgrade/preview
    mine = {g["se_group_name"]: g for g in lab.admin("POST", "upgrade/preview", {"image_ref": nxt, "system": True})[
        "se_groups"]}
    assert mine["sg-nm"]["lab_order"] == ["nm-se-01", "nm-se-02", "nm-se-03", "nm-se-04"]
    assert summary(lab)["se_groups"]["sg-nm"]["order"] == mine["sg-nm"]["lab_order"]
    assert [(d["name"], d["se"]) for d in mine["sg-nm"]["lab_disrupted_vs"]] == [("nm-single-1", "nm-se-01"),
                                                                                 ("nm-single-2", "nm-se-02")]
    assert "N+M" in mine["sg-nm"]["lab_disrupted_vs"][0]["reason"] and groups["sg-nm"]["num_vs_disrupted"] == 2
    assert groups["sg-aa"]["num_vs_disrupted"] == 0 and groups["sg-legacy"]["num_vs_disrupted"] == 0
    assert len(groups["sg-nm"]["se_with_no_vs"]) == 1 and len(groups["sg-nm"]["se_with_vs_not_scaledout"]) == 2
    plan = api.post("upgrade/preview", {"image_ref": nxt, "system": True,
                                        "se_group_options": {"disruptive": True}}).json()
    assert sum(g["num_vs_disrupted"] for g in plan["se_groups"]) == 9
    far = api.post("upgrade/preview", {"image_ref": image(api, "controller-30.1.1-9600")["url"]}).json()
    assert far["warnings"] and "too far" in far["warnings"][0]
    out = upgrade(api, {"image_ref": nxt, "system": True, "prechecks_only": True})
    assert out["status"] == "Prechecks completed" and out["se_groups"] and not out["errors"]
    assert out["upgrade_readiness"]["state"]["state"] == "UPGRADE_PRE_CHECK_SUCCESS"
    after = summary(lab)
    for key in ("controller", "se_groups"):
        assert after[key] == before[key]
    assert lab.admin("GET", "stats")["operations"] == []
    assert api.get("upgradestatusinfo").json()["count"] == 1 + 3 + 9


# ---------------------------------------------------------------------------------------- 17.x API
def test_legacy_17x_api(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path, time_scale=0.004, topology="upgrade-legacy.yml")
    api = lab.client(password=LEGACY_PASSWORD)
    for path in ("upgradestatusinfo", "image"):
        r = api.get(path)
        assert r.status_code == 404 and "/api/cluster/upgrade" in r.json()["error"]
    assert api.post("upgrade", {}).status_code == 404
    st = api.get("cluster/upgrade/status").json()
    assert st["in_progress"] is False and st["controller_state"] == {"in_progress": False}
    r = api.post("cluster/upgrade", {"image_path": "controller://upgrade_pkgs/controller-18.2.5.pkg"})
    assert r.status_code == 400 and "force" in r.json()["error"]
    r = api.post("cluster/upgrade", {"image_path": "controller://upgrade_pkgs/controller_docker.tgz"})
    assert r.status_code == 400 and "controller_docker.tgz" in r.json()["error"]
    r = api.post("cluster/upgrade", {"image_path": "controller://upgrade_pkgs/nope.pkg"})
    assert r.status_code == 400 and "controller://upgrade_pkgs/controller.pkg" in r.json()["error"]
    r = api.post("cluster/upgrade", {"image_path": "controller://upgrade_pkgs/controller.pkg", "force": False,
                                     "disruptive": True})
    assert r.status_code == 200, r.text
    seen = set()

    def ended():
        try:
            r = api.get("cluster/upgrade/status")
        except requests.exceptions.ConnectionError:
            return None
        if r.status_code == 401:
            api.login(password=LEGACY_PASSWORD)
        if r.status_code != 200:
            return None
        seen.add(r.json()["controller_state"].get("state"))
        return r.json() if not r.json()["in_progress"] else None
    st = wait_for(ended, timeout=30, interval=0.005, what="17.x upgrade")
    assert st["controller_state"]["state"] == "UPGRADE_COMPLETED" and st["controller_state"]["in_progress"] is False
    assert (st["from_version"], st["to_version"], st["rollback"]) == ("17.2.8", "17.2.14", False)
    tasks = [t["task"] for t in st["controller_state"]["tasks_completed"]]
    assert "WAIT_FOR_ALL_CONTROLLER_NODES_ONLINE" in tasks and tasks[-1] == "COMMIT_UPGRADE"
    assert st["se_state"]["state"] == "SE_UPGRADE_COMPLETE" and len(st["se_state"]["se_upgrade_completed"]) == 5
    assert {g["state"] for g in st["se_state"]["se_group_status"]} == {"SEGROUP_UPGRADE_COMPLETE"}
    assert seen & {"UPGRADE_IN_PROGRESS", "UPGRADE_STARTED"} and "UPGRADE_CONTROLLER_COMPLETED" in seen
    assert set(se_versions(lab).values()) == {"17.2.14"}
    starts = {o["started"] for o in ops(lab, "se_upgrade") if o["target"].startswith("nm")}
    assert len(starts) == 1                        # disruptive: the group's SEs all at once
    assert api.get("cluster/upgrade/history").json()["upgrade_events"][0]["ops"] == "UPGRADE"
    assert api.post("cluster/rollback", {}).status_code == 200
    st = wait_for(ended, timeout=30, interval=0.005, what="17.x rollback")
    assert st["rollback"] is True and st["controller_state"]["state"] == "UPGRADE_COMPLETED"
    assert summary(lab)["controller"]["version"] == "17.2.8" and set(se_versions(lab).values()) == {"17.2.8"}
    # force (here past a version too far) makes the upgrade disruptive
    r = api.post("cluster/upgrade", {"image_path": "controller://upgrade_pkgs/controller-18.2.5.pkg", "force": True})
    assert r.status_code == 200 and r.json()["disruptive"] is True


# ---------------------------------------------------------------------------------------- avisdk, restart
def test_vendor_sdk_drives_an_upgrade_through_the_reboot(lab_factory, tmp_path, monkeypatch):
    lab = up_lab(lab_factory, tmp_path, time_scale=0.01, controller_reboot=60, cluster_form=30)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", lab.ca)
    from avi.sdk.avi_api import ApiSession
    ApiSession.clear_cached_sessions()
    api = ApiSession(controller_ip="127.0.0.1", port=lab.info["avi"]["port"], username="admin",
                     password=UP_PASSWORD, api_version="22.1.6", verify=lab.ca)
    img = api.get_object_by_name("image", "controller-22.1.7-9300")
    r = api.post("upgrade", data={"image_ref": img["url"], "system": True,
                                  "se_group_options": {"action_on_error": "SUSPEND_UPGRADE_OPS_ON_ERROR"}})
    assert r.status_code == 200, r.text
    problems = []

    def done():
        try:
            r = api.get("upgradestatusinfo", params={"node_type": "NODE_CONTROLLER_CLUSTER"})
        except Exception as exc:  # the SDK gives up on dropped connections / a 503 login; try again
            problems.append(type(exc).__name__)
            return None
        if r.status_code != 200:
            problems.append(r.status_code)
            return None
        entry = r.json()["results"][0]
        return entry if entry["state"]["state"] == FSM + "COMPLETED" else None
    entry = wait_for(done, timeout=60, interval=0.02, what="upgrade through avisdk")
    assert entry["version"] == "22.1.7" and entry["previous_version"] == "22.1.6"
    assert problems, "the SDK never met the reboot window"
    assert lab.admin("GET", "stats")["logins"] >= 2   # the SDK logged in again after the reboot
    ApiSession.clear_cached_sessions()


def test_restart_mid_upgrade_resumes(lab_factory, tmp_path):
    lab = up_lab(lab_factory, tmp_path, time_scale=0.02)
    api = lab.client(password=UP_PASSWORD)
    upgrade(api, {"image_ref": image(api, "controller-22.1.7-9300")["url"], "system": True})
    wait_for(lambda: summary(lab)["se_groups"]["sg-nm"]["service_engines"]["nm-se-02"]["state"]
             == FSM + "IN_PROGRESS", timeout=30, interval=0.01, what="nm-se-02 upgrading")
    lab.stop()
    lab.start()
    s = summary(lab)
    assert s["running"] and s["controller"]["config_locked"] is True
    assert any(x["oper"] == "OPER_UPGRADING" for x in s["se_groups"]["sg-nm"]["service_engines"].values())
    s = wait_for(lambda: idle(lab), timeout=30, what="resumed upgrade")
    assert s["controller"]["state"] == FSM + "COMPLETED" and set(se_versions(lab).values()) == {"22.1.7"}
    nm = [o for o in ops(lab, "se_upgrade") if o["target"].startswith("nm")]
    assert [o["lab_seconds"] for o in nm] == pytest.approx([60] * 4)
