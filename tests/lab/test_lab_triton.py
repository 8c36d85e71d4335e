"""The lab's Triton plane: HTTP Signature auth, migration transitions and 412s, incremental sync over
real datasets, switch downtime and checksums with a workload running, rollback, finalize, abort,
watch and re-attach, the operator plane, faults and restart (lab/TRITON.md)."""
import email.utils
import os
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tritonkit import TritonLab, wait_for


@pytest.fixture
def tlab(tmp_path):
    yield from TritonLab(tmp_path / "state", "triton_small.yml").running()


def test_lab_json_names_the_plane_and_keys_are_private(tlab):
    t = tlab.t
    assert t["url"].startswith("https://127.0.0.1:") and t["operator_url"].startswith("https://127.0.0.1:")
    assert t["datacenter"] == "lab-1"
    assert set(t["accounts"]) == {"alice", "bob"}
    for login, path in t["key_files"].items():
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as fh:
            assert fh.read() not in open(os.path.join(tlab.state_dir, "lab.json")).read()
    c = tlab.cloudapi()
    assert c.fp == t["accounts"]["alice"]


def test_signature_auth_errors_are_the_vendors(tlab):
    c = tlab.cloudapi()
    url = tlab.t["url"] + "/alice/machines"
    r = requests.get(url, verify=tlab.ca, timeout=10)
    assert (r.status_code, r.json()) == (401, {"code": "InvalidCredentials",
                                               "message": "You must make authenticated requests to use CloudAPI"})
    assert r.headers["request-id"] and r.headers["api-version"]
    assert c.get("/my/machines").status_code == 200
    assert c.get("/alice/machines", headers="date").status_code == 200          # date only also works
    old = email.utils.formatdate(time.time() - 400, usegmt=True)
    r = c.get("/my/machines", date=old)
    assert r.status_code == 400 and r.json()["code"] == "InvalidHeader"
    assert "clock skew of" in r.json()["message"] and "greater than 300s" in r.json()["message"]
    r = c.get("/my/machines", headers="(request-target)")
    assert r.json() == {"code": "InvalidHeader", "message": "Authorization header invalid: date was not a signed header"}
    r = c.get("/my/machines", algorithm="hmac-sha256")
    assert r.json()["message"] == "Authorization header invalid: hmac-sha256 is not a supported algorithm"
    r = c.get("/my/machines", key_id="alice/keys/" + c.fp)
    assert r.status_code == 401 and r.json()["message"].startswith("Invalid KeyId alice/keys/")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kw in ({"key": other}, {"key_id": "/alice/keys/00:11"}, {"key_id": f"/mallory/keys/{c.fp}"}):
        r = c.get("/my/machines", **kw)
        assert (r.status_code, r.json()["message"]) == (401, "Invalid authorization credentials supplied"), kw
    r = c.get("/bob/machines")
    assert (r.status_code, r.json()["code"]) == (403, "NotAuthorized")
    bob_vm = tlab.cloudapi("bob").machine("bob-1")["id"]
    r = c.get(f"/my/machines/{bob_vm}")
    assert (r.status_code, r.json()) == (404, {"code": "ResourceNotFound", "message": "VM not found"})


def test_machines_have_nics_and_compute_node(tlab):
    c = tlab.cloudapi()
    m = c.machine("web-1")
    assert m["state"] == "running" and m["memory"] == 2048 and m["disk"] == 20480
    assert [n["ip"] for n in m["nics"]] == ["203.0.113.11", "10.0.0.11"] and m["primaryIp"] == "203.0.113.11"
    assert all(n["mac"] and n["network"] for n in m["nics"])
    servers = {s["uuid"]: s for s in tlab.vmapi().get("/servers").json()}
    assert servers[m["compute_node"]]["hostname"] == "cn-1"
    r = c.get("/my/machines?limit=2&offset=1")
    assert len(r.json()) == 2 and r.headers["x-query-limit"] == "2"


def test_transitions_and_412s(tlab):
    c = tlab.cloudapi()
    vm = c.machine("web-2")["id"]
    missing = {"code": "MissingParameter", "message": '"action" must be specified'}
    assert c.post(f"/my/machines/{vm}/migrate", {}).json() == missing
    r = c.migrate(vm, "fly")
    assert (r.status_code, r.json()["message"]) == (409, "fly is not a valid migration action")
    r = c.migrate(vm, "sync")
    assert (r.status_code, r.json()) == (404, {"code": "ResourceNotFound", "message": "migration not found"})
    # the begin runs for 10 lab seconds: slow the clock down so the five refusals below all meet it running (at the
    # topology's 0.01 it ends within 0.1 s, sooner than five signed requests on a loaded machine), then speed it up
    tlab.tadmin("POST", "time-scale", {"scale": 0.5})
    r = c.migrate(vm, "begin")
    assert r.status_code == 201 and (r.json()["phase"], r.json()["state"], r.json()["machine"]) == (
        "begin", "running", vm)
    for action, msg in (("begin", "An active migration already exists for this instance"),
                        ("switch", "Cannot switch in migration state: running"),
                        ("abort", "Abort cannot work on a running migration"),
                        ("pause", "Pause requires a running migration sync action"),
                        ("finalize", "Finalize only works on a successful migration")):
        r = c.migrate(vm, action)
        assert (r.status_code, r.json()) == (412, {"code": "PreconditionFailed", "message": msg}), action
    tlab.tadmin("POST", "time-scale", {"scale": 0.01})
    c.wait_state(vm, ["paused"])
    r = c.migrate(vm, "switch")
    assert r.json()["message"] == 'You must perform at least one "migration sync" operation before switching'
    assert c.migrate(vm, "sync").status_code == 201
    c.wait_state(vm, ["paused"])
    assert c.migrate(vm, "switch").status_code == 201
    done = c.wait_state(vm, ["successful"])
    assert [e["phase"] for e in done["progress_history"]] == ["begin", "sync", "switch"]
    assert all(e["state"] == "successful" for e in done["progress_history"])
    for action, msg in (("begin", "A previous migration exists for this instance, use migration finalize to "
                                  "complete it."),
                        ("sync", "Cannot sync in migration state: successful"),
                        ("abort", "Abort cannot work on a successful migration")):
        assert c.migrate(vm, action).json()["message"] == msg, action
    assert [m["machine"] for m in c.get("/my/migrations").json()] == [vm]
    assert c.get("/bob/migrations").status_code == 403
    r = c.migrate(vm, "finalize")
    assert r.status_code == 200 and r.content == b""
    assert c.get(f"/my/migrations/{vm}").status_code == 404
    assert tlab.report("web-2")["migrations"][0]["result"] == "finalized"


def test_user_migrations_need_permission(tlab):
    c = tlab.cloudapi()
    db = c.machine("db-1")["id"]                       # internal_metadata.user_migration_allowed: false
    for r in (c.migrate(db, "begin"), c.get(f"/my/machines/{db}/migrate")):
        assert (r.status_code, r.json()["message"]) == (412, "User migration on this VM not allowed")
    op = tlab.vmapi()                                   # operators always may
    assert op.migrate(db, "begin").status_code == 202
    op.wait_state(db, ["paused"])


def test_incremental_sync_counts_only_changes_and_switch_keeps_data_with_a_workload(tlab):
    c = tlab.cloudapi()
    vm = c.machine("web-1")["id"]
    seeded = 16 * 65536
    c.migrate(vm, "begin")
    c.wait_state(vm, ["paused"])
    c.migrate(vm, "sync")
    c.wait_state(vm, ["paused"])
    c.migrate(vm, "sync")
    c.wait_state(vm, ["paused"])
    c.migrate(vm, "switch")
    c.wait_state(vm, ["successful"])
    mig = tlab.report("web-1")["migrations"][0]
    first, second, final = mig["syncs"]
    assert first["bytes"] >= seeded and not first["final"]       # everything, plus the workload so far
    assert second["bytes"] < first["bytes"] and second["bytes"] % 4096 == 0   # only the new workload files
    assert final["final"] and final["bytes"] < first["bytes"]
    assert mig["bytes_sent"] == first["bytes"] + second["bytes"] + final["bytes"]
    assert mig["data_intact"] is True and mig["source_checksum_at_stop"] == mig["target_checksum_after_sync"]
    assert mig["downtime_lab_seconds"] >= 3 + 5 + 3 - 0.5        # stop + switch steps + start
    assert mig["downtime_real_seconds"] > 0
    m = c.machine("web-1")
    assert m["state"] == "running" and mig["target_server"] == m["compute_node"]
    assert [n["ip"] for n in m["nics"]] == ["203.0.113.11", "10.0.0.11"]      # the NICs moved with it
    # the workload resumed on the target (it rewrites its files in turn)
    wdir = os.path.join(tlab.report("web-1")["dataset"], "workload")
    assert wdir.startswith(os.path.join(tlab.state_dir, "triton", "zones", m["compute_node"]))

    def newest():
        return max(os.stat(os.path.join(wdir, f)).st_mtime_ns for f in os.listdir(wdir))
    before = newest()
    wait_for(lambda: newest() > before, timeout=10, what="workload writes on the target")
    hidden = tlab.tadmin("GET", "world")["servers"]["cn-1"]["hidden"]
    assert "web-1" in hidden


def test_rollback_reinstates_the_source_and_discards_the_target(tlab):
    c, op = tlab.cloudapi(), tlab.vmapi()
    vm = c.machine("web-2")["id"]
    source = c.machine("web-2")["compute_node"]
    r = op.migrate(vm, "begin", migration_automatic="true")
    assert r.status_code == 202 and r.json()["migration"]["automatic"] is True
    done = op.wait_state(vm, ["successful"])
    assert done["num_sync_phases"] == 2                     # automatic: begin, sync, sync, switch
    target = done["target_server_uuid"]
    assert c.machine("web-2")["compute_node"] == target
    r = c.migrate(vm, "rollback")
    assert r.status_code == 409                              # not a CloudAPI action
    assert op.migrate(vm, "rollback").status_code == 202
    op.wait_state(vm, [None])
    m = c.machine("web-2")
    assert m["compute_node"] == source and m["state"] == "running"
    assert not os.path.exists(os.path.join(tlab.state_dir, "triton", "zones", target, vm))
    assert tlab.report("web-2")["migrations"][0]["result"] == "rolled_back"
    assert op.migrate(vm, "rollback").json() == {"code": "ResourceNotFound", "message": "migration not found"}


def test_abort_removes_the_target_and_the_record(tlab):
    c = tlab.cloudapi()
    vm = c.machine("web-2")["id"]
    c.migrate(vm, "begin")
    c.wait_state(vm, ["paused"])
    rec = tlab.vmapi().get(f"/migrations/{vm}", format="raw").json()
    target_dir = os.path.join(tlab.state_dir, "triton", "zones", rec["target_server_uuid"], vm)
    assert os.path.isdir(target_dir)
    assert c.migrate(vm, "abort").status_code == 201
    events = c.watch(vm)
    assert events[-1] == {"type": "end", "phase": "abort", "state": "successful", "message": None}
    c.wait_state(vm, [None])
    assert not os.path.exists(target_dir)
    assert c.machine("web-2")["compute_node"] == rec["source_server_uuid"]


def test_watch_streams_bytes_and_reattaches(tlab):
    c = tlab.cloudapi()
    vm = c.machine("web-1")["id"]
    c.migrate(vm, "begin")
    c.wait_state(vm, ["paused"])
    tlab.tadmin("POST", "time-scale", {"scale": 1.0})        # a slower sync (about a second), to re-attach during it
    tlab.tadmin("POST", "faults", {"kind": "drop_watch", "instance": "web-1", "after_events": 2})
    c.migrate(vm, "sync")
    first = c.watch(vm)
    assert first[-1] == {"type": "dropped"} and len(first) == 3
    second = c.watch(vm)                                     # re-attach: running entry, latest progress, end
    assert second[0]["phase"] == "sync" and second[0]["state"] == "running"
    sync_events = [e for e in second if e.get("transfer_bytes_second") is not None]
    assert sync_events and all({"current_progress", "total_progress", "eta_ms"} <= set(e) for e in sync_events)
    assert second[-1] == {"type": "end", "phase": "sync", "state": "paused", "message": None}
    assert sync_events[-1]["current_progress"] == sync_events[-1]["total_progress"] > 0
    idle = c.watch(vm)                                       # nothing runs: the end event at once
    assert idle[-1]["type"] == "end" and len(idle) <= 2


def test_pause_and_failed_phases(tlab):
    c = tlab.cloudapi()
    vm = c.machine("web-2")["id"]
    tlab.tadmin("POST", "faults", {"kind": "fail_phase", "phase": "switch", "instance": "web-2"})
    c.migrate(vm, "begin")
    c.wait_state(vm, ["paused"])
    c.migrate(vm, "sync")
    c.wait_state(vm, ["paused"])
    c.migrate(vm, "switch")
    failed = c.wait_state(vm, ["failed"])
    assert failed["phase"] == "sync"                          # a failed switch can be retried
    assert failed["error"] == "failed to switch migration instance - lab fault: injected switch failure"
    m = c.machine("web-2")
    assert m["state"] == "running" and m["compute_node"] == tlab.report("web-2")["migrations"][0]["source_server"]
    assert c.migrate(vm, "switch").status_code == 201
    c.wait_state(vm, ["successful"])
    # begin failure: no room on the only candidate
    op = tlab.vmapi()
    stopped = c.machine("stopped-1")["id"]
    cn3 = next(s["uuid"] for s in op.get("/servers").json() if s["hostname"] == "cn-3")
    r = op.migrate(stopped, "begin", override_server_uuid="not-a-uuid")
    assert r.status_code == 409 and r.json()["code"] == "ValidationFailed"
    op.migrate(stopped, "begin", override_server_uuid=cn3)
    assert op.wait_state(stopped, ["paused"])["target_server_uuid"] == cn3
    cap = op.post("/capacity", {"servers": [cn3]}).json()["capacities"][cn3]
    assert cap["ram"] == int(4096 * 0.85) - 1024               # the target half is reserved
    op.migrate(stopped, "abort")
    op.wait_state(stopped, [None])
    big = c.machine("db-1")["id"]
    op.migrate(big, "begin", override_server_uuid=cn3)           # VMAPI runs no allocator filter on an override:
    failed = op.wait_state(big, ["failed"])                      # the begin fails late, reserving the instance
    assert failed["error"] == ("failed to begin migration instance - reserving instance failed - server cn-3: "
                               "3481 MiB RAM free, needs 4096")
    cn4 = next(s["uuid"] for s in op.get("/servers").json() if s["hostname"] == "cn-4")   # reserved: not a filter
    op.migrate(big, "begin", override_server_uuid=cn4)                                     # an override runs
    assert op.wait_state(big, ["paused"])["target_server_uuid"] == cn4
    op.migrate(big, "abort")
    op.wait_state(big, [None])


def test_allocator_follows_the_vendor_pipeline_and_can_be_told_otherwise(tlab):
    op = tlab.vmapi()
    servers = {s["hostname"]: s for s in op.get("/servers", extras="capacity").json()}
    web2 = next(v["uuid"] for v in op.get("/vms").json() if v["alias"] == "web-2")
    # vendor: cn-3 (small) and cn-2 pass the filters (cn-4 reserved, cn-1 the source); the scores favour cn-2
    op.migrate(web2, "begin")
    assert op.wait_state(web2, ["paused"])["target_server_uuid"] == servers["cn-2"]["uuid"]
    op.migrate(web2, "abort")
    op.wait_state(web2, [None])
    tlab.tadmin("POST", "allocator", {"mode": "other_than_best"})
    op.migrate(web2, "begin")
    assert op.wait_state(web2, ["paused"])["target_server_uuid"] == servers["cn-3"]["uuid"]
    op.migrate(web2, "abort")
    op.wait_state(web2, [None])
    tlab.tadmin("POST", "allocator", {"mode": "none"})
    op.migrate(web2, "begin")
    assert op.wait_state(web2, ["failed"])["error"].startswith(
        "failed to begin migration instance - No compute resources available")
    op.migrate(web2, "abort")
    op.wait_state(web2, [None])
    # CNAPI ServerUpdate: reserved and comments (what a cordon writes); traits keep the allocator away too
    cn2 = servers["cn-2"]["uuid"]
    assert op.post(f"/servers/{cn2}", {"reserved": True, "comments": "rack 4\nfleetops: x"}).status_code == 204
    got = op.get(f"/servers/{cn2}").json()
    assert got["reserved"] is True and got["comments"] == "rack 4\nfleetops: x"
    assert op.post(f"/servers/{cn2}", {"color": "red"}).status_code == 409
    tlab.tadmin("POST", "allocator", {"mode": "vendor"})
    op.migrate(web2, "begin")
    assert op.wait_state(web2, ["paused"])["target_server_uuid"] == servers["cn-3"]["uuid"]   # cn-2 is reserved
    op.migrate(web2, "abort")
    op.wait_state(web2, [None])


def test_operator_plane_lists_by_server_and_capacity(tlab):
    op = tlab.vmapi()
    servers = {s["hostname"]: s for s in op.get("/servers", extras="capacity").json()}
    assert servers["cn-4"]["reserved"] is True
    cn1 = servers["cn-1"]
    assert cn1["unreserved_ram"] == int(65536 * 0.85) - (2048 + 2048 + 4096)
    on_cn1 = op.get("/vms", server_uuid=cn1["uuid"]).json()
    assert sorted(v["alias"] for v in on_cn1) == ["db-1", "web-1", "web-2"]
    assert all(v["quota"] and v["nics"] for v in on_cn1)
    assert op.get(f"/servers/{cn1['uuid']}/vms").status_code == 200
    assert op.get("/vms/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12).json()["message"] == "VM not found"


def test_restart_keeps_migrations_and_datasets(tlab):
    c = tlab.cloudapi()
    vm = c.machine("web-2")["id"]
    c.migrate(vm, "begin")
    c.wait_state(vm, ["paused"])
    c.migrate(vm, "sync")
    c.wait_state(vm, ["paused"])
    tlab.stop()
    tlab.start()
    c = tlab.cloudapi()
    rec = c.get(f"/my/migrations/{vm}").json()
    assert (rec["phase"], rec["state"]) == ("sync", "paused")
    assert c.migrate(vm, "switch").status_code == 201
    c.wait_state(vm, ["successful"])
    assert tlab.report("web-2")["migrations"][0]["data_intact"] is True
