"""instance_migrate options for VirtFusion that the collection's playbooks never pass, or pass only in runs that
fail, proven end to end on the lab in one playbook run (tests/integration/files/vf_options.yml): the live options
stated, the vendor's two force commands after the failures they exist for, and target_servers. Each outcome is
asserted on the lab: where each server runs, its migrations as the vendor keeps them, the vfcli-ctrl commands run.
These close gaps the option coverage stage (scripts/option_coverage.py) found."""
import os

from conftest import run_playbook

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "vf_options.yml")


def test_virtfusion_live_options_force_commands_and_target_servers(vflab):
    vflab.vfadmin("POST", "faults", {"kind": "fail_step", "server": 102, "step": "prepare"})
    vflab.vfadmin("POST", "faults", {"kind": "lose_tracking", "server": 103, "step": "transfer"})
    run = run_playbook(vflab, PLAYBOOK)
    rc, out = run
    assert rc == 0, out[-4000:]
    r = run.stats["vf_options"]
    where = vflab.where()
    cli = vflab.vfadmin("GET", "stats")["cli_calls"]

    # web-1: the options stated went to the vendor as they are (abort after an hour, filter check, no post-copy, not
    # forced offline) and the migration completed within them
    assert r["web1"]["changed"] and r["web1"]["reached"] == "migrated", r["web1"]
    mig = vflab.last(101)
    assert mig["status"] == "complete" and mig["options"]["abortAfter"] == 3600, mig["options"]
    assert not mig["options"].get("autoPostCopy") and not mig["options"].get("forceOffline"), mig["options"]
    assert not mig["options"].get("disableFilterCheck") and mig["qemu"]["postcopyStartedMs"] is None
    filters = next(s for s in mig["steps"] if s["key"] == "filters")
    assert filters["status"] == "complete" and "checked" in filters["message"], filters
    assert where["web-1"] == "hv-b"

    # web-2: the failed migration was exited with cancel-force (the plain cancel was not used) and web-2 stayed on
    # its source; it then moved to the only hypervisor of target_servers, its filter check skipped
    assert r["web2_failed"]["failed"], r["web2_failed"]
    assert r["web2_cancelled"]["changed"] and r["web2_cancelled"]["reached"] == "cancelled", r["web2_cancelled"]
    assert cli.get("cancel-force") == 1 and not cli.get("cancel"), cli
    # planned first with capacity_check off: the room on hv-b (unknown on this lab) is reported skipped, not a block
    plan = r["web2_unchecked"]
    assert not plan["failed"] and plan["changed"], plan   # check mode: it would move web-2
    checks = dict((c["name"], c["result"]) for c in plan["plan"]["prechecks"][0]["checks"])
    assert checks["capacity"] == "skipped" and checks["server_state"] == "pass", checks
    assert r["web2_again"]["changed"], r["web2_again"]
    assert "hv-b" in str(r["web2_again"]["plan"]["placement"]), r["web2_again"]["plan"]
    mig = vflab.last(102)
    assert mig["status"] == "complete" and mig["destinationId"] == 2 and mig["options"]["disableFilterCheck"] is True
    filters = next(s for s in mig["steps"] if s["key"] == "filters")
    assert "skipped (--disable-filter-check)" in filters["message"], filters
    assert where["web-2"] == "hv-b"

    # web-3: the transfer whose tracking was lost was marked complete with data-success-force, then start completed
    # the migration; the data had arrived, so nothing was lost
    assert r["web3_lost"]["failed"] and "Lost track of the data transfer" in str(r["web3_lost"]), r["web3_lost"]
    assert r["web3_forced"]["changed"] and r["web3_forced"]["reached"] == "migrated", r["web3_forced"]
    assert cli.get("data-success-force") == 1, cli
    mig = vflab.last(103)
    assert mig["status"] == "complete" and mig["dataLost"] is False, mig
    assert where["web-3"] == "hv-b"
    assert all(vflab.guest(sid)["qemu"] == "running" for sid in (101, 102, 103))
