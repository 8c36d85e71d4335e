"""Live migration is QEMU's own: the numbers come from query-migrate, the guest's memory state really
moves, max-downtime is honoured, and for a guest dirtying memory faster than the link, plain pre-copy
does not converge while auto-converge and post-copy do. Hybrid copies disks in two stages.

The printed lines (pytest -s) are the measured numbers the benchmark of issue 6 starts from."""
import json

import pytest

from vfkit import VfLab, pages_after

# MiB/s into 8 MiB against the 10 MiB/s link below. The guest writes 0.5-1.2x what it is asked (its one-time
# calibration under host load) and pre-copy converges once it writes less than ~10-14 MiB/s, so 24 MiB/s
# converged now and then on a busy CI machine; 64 keeps even a half-speed guest well out of reach.
DIRTY = {"rate": 64, "working_set": 8}


@pytest.fixture(scope="module")
def vf(tmp_path_factory):
    yield from VfLab(tmp_path_factory.mktemp("vfqemu") / "state", output="rich").running(reset=False)


def report(label, m):
    q = m["qemu"]
    print(f"\n[vf-bench] {label}: status={m['status']} downtime={q['downtimeMs']}ms "
          f"max-downtime={m['options']['maxDowntime']}ms total={q['totalTimeMs']}ms "
          f"transferred={q['transferredBytes']}B syncs={q['dirtySyncCount']} max-throttle={q['maxThrottlePercent']}% "
          f"max-dirty={q['maxDirtyRateMiBs']}MiB/s postcopy-bytes={q['postcopyBytes']}")


def guest_rates(m):
    """The guest's own write rate (MiB/s) in each second of a migration's transfer."""
    return [s["guest_write_mib_s"] for s in m["qemu"]["samples"] if s.get("guest_write_mib_s") is not None]


def test_dirty_rate_is_roughly_what_was_asked(vf):
    vf.vfadmin("POST", "servers/201/dirty-rate", {"rate": 16, "working_set": 48})
    try:
        d = vf.vfadmin("GET", "servers/201/dirty-rate")
        print(f"\n[vf-bench] dirty rate asked 16 MiB/s: guest wrote {d['guest_written_mib_s']} MiB/s, QEMU "
              f"calc-dirty-rate {d['qemu_dirty_rate_mb_s']} MB/s ({d['qemu_mode']})")
        assert d["guest"]["state"] == "dirtying" and d["guest"]["target_pps"] == 16 * 256
        assert 16 * 0.3 <= d["guest_written_mib_s"] <= 16 * 2.5
        assert 16 * 0.2 <= d["qemu_dirty_rate_mb_s"] <= 16 * 3
    finally:
        vf.vfadmin("POST", "servers/201/dirty-rate", {"rate": 0})
    idle = vf.vfadmin("GET", "servers/201/dirty-rate")
    assert idle["guest"]["state"] == "idle" and idle["qemu_dirty_rate_mb_s"] <= 1 and idle["guest_written_mib_s"] == 0


def test_memory_state_moves_and_numbers_come_from_qemu(vf):
    vf.vfadmin("POST", "servers/101/dirty-rate", {"rate": 4, "working_set": 8})
    before = pages_after(vf, 101, 1000)
    doc = vf.vfjson("start --server=101 --dst=2")
    m = doc["migration"]
    report("4 MiB/s guest, defaults", m)
    q = m["qemu"]
    assert q["status"] == "completed" and 0 <= q["downtimeMs"] <= 300
    assert q["transferredBytes"] >= 8 * 1048576          # at least the written working set crossed
    assert q["totalTimeMs"] > 0 and q["setupTimeMs"] is not None
    g = vf.guest(101)
    assert g["hypervisor"] == 2 and g["qemu"] == "running"
    # the destination guest goes on counting from where the source was: its memory moved
    assert g["guest"]["pages"] > before and g["guest"]["spin"] > 0
    assert vf.server(101)["hypervisorId"] == 2


def test_max_downtime_is_honoured(vf):
    # a 3 MiB/s guest on a 10 MiB/s link: 300 ms allows ~3 MiB left for the switch-over, 5 ms ~50 KiB
    vf.vfadmin("POST", "servers/101/dirty-rate", {"rate": 3, "working_set": 8})
    here, there = vf.server(101)["hypervisorId"], vf.other_hv(101)
    wide = vf.vfjson(f"start --server=101 --dst={there} --xfer-speed=10 --max-downtime=300 --disable-auto-converge")
    tight = vf.vfjson(f"start --server=101 --dst={here} --xfer-speed=10 --max-downtime=5 --disable-auto-converge")
    report("max-downtime 300", wide["migration"])
    report("max-downtime 5", tight["migration"])
    w, t = wide["migration"]["qemu"], tight["migration"]["qemu"]
    assert w["parameters"]["downtime-limit"] == 300 and t["parameters"]["downtime-limit"] == 5
    assert w["downtimeMs"] <= 300
    assert t["downtimeBytes"] < w["downtimeBytes"]        # less left for the stop-and-copy phase
    assert t["dirtySyncCount"] >= w["dirtySyncCount"]     # by iterating longer
    vf.vfadmin("POST", "servers/101/dirty-rate", {"rate": 0})


def test_dirtying_guest_needs_auto_converge_or_post_copy(vf):
    vf.vfadmin("POST", "time-scale", {"scale": 0.07})       # --abort-after=60 lab seconds = 4.2 s
    vf.vfadmin("POST", "servers/102/dirty-rate", DIRTY)
    try:
        rc, out, _err = vf.vfcli("start --server=102 --dst=2 --xfer-speed=10 --disable-auto-converge --abort-after=60 "
                                 "--json")
        plain = json.loads(out)
        m = plain["migration"]
        assert rc == 1, (f"plain pre-copy ended {m['status']} (rc {rc}): the guest wrote {guest_rates(m)} MiB/s "
                         f"per second against the 10 MiB/s link, {m['qemu'].get('dirtySyncCount')} sync passes in "
                         f"{m['qemu'].get('totalTimeMs')} ms")
        report("plain pre-copy (aborted)", {**m, "qemu": {**m["qemu"], "downtimeMs": None}})
        assert m["aborted"] is True and "aborted after 60 seconds (--abort-after)" in plain["errors"][0]
        assert m["qemu"]["status"] == "cancelled" and m["qemu"]["maxThrottlePercent"] == 0
        assert vf.guest(102)["hypervisor"] == 1 and vf.guest(102)["qemu"] == "running"
        vf.vfjson("cancel --server=102")

        auto = vf.vfjson("start --server=102 --dst=2 --xfer-speed=10 --auto-converge-initial=70 "
                         "--auto-converge-increment=15 --abort-after=300")
        report("auto-converge 70/15", auto["migration"])
        q = auto["migration"]["qemu"]
        assert auto["success"] is True and q["maxThrottlePercent"] >= 70 and q["downtimeMs"] <= 300
        print(f"[vf-bench] guest write MiB/s per second of the auto-converge run: {guest_rates(auto['migration'])}")

        post = vf.vfjson("start --server=102 --dst=1 --xfer-speed=10 --disable-auto-converge --auto-post-copy "
                         "--abort-after=300")
        report("post-copy", post["migration"])
        q = post["migration"]["qemu"]
        assert post["success"] is True and q["capabilities"]["postcopy-ram"] is True
        assert q["postcopyStartedMs"] is not None and q["postcopyBytes"] > 0
        g = vf.guest(102)
        assert g["hypervisor"] == 1 and g["qemu"] == "running" and g["guest"]["state"] == "dirtying"
    finally:
        vf.vfadmin("POST", "servers/102/dirty-rate", {"rate": 0})
        vf.vfadmin("POST", "time-scale", {"scale": 0.02})


def test_hybrid_two_stage_copy_online_and_offline(vf):
    assert vf.server(102)["hypervisorId"] == 1, "server 102 is not on hypervisor 1: an earlier test left it moved"
    r = vf.api("GET", "servers/102/migrate/hybrid/destinations/2")
    assert r.status_code == 200
    body = r.json()["data"]["startBodies"][0]
    assert body == {"destinationId": 2, "disks": [{"drive": "a", "storageId": 3}, {"drive": "b", "storageId": 4}],
                    "compress": False, "speedLimit": 0}
    bad = vf.api("POST", "servers/102/migrate/hybrid",
                 {"destinationId": 2, "disks": [{"drive": "a"}], "speedLimit": 700000})
    assert bad.status_code == 422
    assert bad.json()["errors"] == ["disks[0] must be {drive: string, storageId: integer}, got {'drive': 'a'}",
                                    "speedLimit must be 0 (unlimited) to 625000 (KB/s), got 700000"]
    r = vf.api("POST", "servers/102/migrate/hybrid", {**body, "speedLimit": 8000})   # ~1.5 s for stage 1
    assert r.status_code == 201, r.text
    m = vf.wait_status(102)
    d = m["disks"]
    print(f"\n[vf-bench] hybrid online: stage1={d['stage1Bytes']}B stage2={d['stage2Bytes']}B "
          f"guest-writes-during-stage1={d['guestWritesDuringStage1']}B downtime(suspend->boot)={m['downtimeMs']}ms")
    assert m["status"] == "complete" and m["type"] == "hybrid"
    assert [s["status"] for s in m["steps"]] == ["complete"] * 7
    assert d["guestWritesDuringStage1"] > 0 and 0 < d["stage2Bytes"] < d["stage1Bytes"] and d["verified"] is True
    assert m["downtimeMs"] > 0
    s = vf.server(102)
    assert s["hypervisorId"] == 2 and [x["storageId"] for x in s["disks"]] == [3, 4]
    g = vf.guest(102)
    assert g["hypervisor"] == 2 and g["qemu"] == "running" and g["guest"]["state"] == "idle"   # booted afresh
    # offline: one (compressed) copy, nothing booted
    r = vf.api("POST", "servers/103/migrate/hybrid",
               {"destinationId": 2, "disks": [{"drive": "a", "storageId": 3}], "compress": True})
    assert r.status_code == 201, r.text
    m = vf.wait_status(103)
    assert m["status"] == "complete" and m["disks"]["stage2Bytes"] == 0
    assert 0 < m["disks"]["stage1Bytes"] < 1048576      # 2 MiB of one repeated byte, zlib-compressed
    assert vf.server(103)["hypervisorId"] == 2 and vf.guest(103)["qemu"] == "not running"
    # a hybrid migration is not a live one: vfcli-ctrl does not see it
    rc, _o, err = vf.vfcli("last-status --server=103")
    assert rc == 1 and "No live migration found for server 103" in err
    r = vf.api("POST", "servers/104/migrate/hybrid", {"destinationId": 2, "disks": [{"drive": "a", "storageId": 4}]})
    assert r.status_code == 422 and "NAT interfaces" in r.json()["errors"][-1]
