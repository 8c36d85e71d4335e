"""The lab loads a twin (a topology with a twin: section, written by twin_export): every unknown becomes a stated
assumption (the operator's or lab/twin.py's default), recorded with the credentials the lab made up in twin.json;
what the lab runs for real is scaled down keeping the durations."""
import json
import os

import pytest
import yaml

from labkit import Lab
from lab.twin import ASSUME, resolve

AVI_TWIN = {
    "twin": {"format": "fleetops.maintenance.twin/v1", "provider": "avi", "unknown": [{"field": "x", "why": "y"}]},
    "controller": {"version": "22.1.6", "build": "9191", "username": None, "password": None, "deployment": None,
                   "nodes": 3},
    "clouds": [{"name": "vc", "vtype": "CLOUD_VCENTER",
                "hosts": [{"name": "esx-1", "num_cpu_cores": 8, "mem": 1024, "max_se_on_host": None}]}],
    "se_groups": [{"name": "g", "cloud": "vc", "max_se": 2, "max_vs_per_se": 2,
                   "service_engines": [{"name": "se-1", "host": "esx-1", "enable_state": "SE_STATE_ENABLED",
                                        "version": "22.1.6"}]}],
    "virtual_services": [{"name": "vs-1", "se_group": "g", "ses": ["se-1"]}],
    "images": [{"version": "22.1.7", "build": 9300, "min_version": None, "name": "controller-22.1.7-9300",
                "package": None}],
}


def started_from(twin, lab_class, tmp_path, time_scale):
    """A lab of ``lab_class`` started from ``twin`` (a dict) as exported, and the credentials it made up."""
    path = tmp_path / "twin.yml"
    path.write_text(yaml.safe_dump(twin))
    lab = lab_class(tmp_path / "state", str(path), time_scale=time_scale)
    lab.start(reset=True)
    return lab, json.load(open(tmp_path / "state" / "twin.json"))["credentials"]


def test_unknowns_become_stated_assumptions_and_credentials_are_made_up(tmp_path):
    twin = dict(AVI_TWIN, twin=dict(AVI_TWIN["twin"], assume={"max_se_on_host": 4}))
    topo = resolve(twin, str(tmp_path))
    assert topo["clouds"][0]["hosts"][0]["max_se_on_host"] == 4                 # the operator's
    assert topo["controller"]["deployment"] == ASSUME["deployment"]              # the default
    assert "package" not in topo["images"][0] and "min_version" not in topo["images"][0]
    assert twin["clouds"][0]["hosts"][0]["max_se_on_host"] is None              # the twin itself is left as it is
    record = json.load(open(tmp_path / "twin.json"))
    assert oct(os.stat(tmp_path / "twin.json").st_mode & 0o777) == "0o600"
    made = dict((a["field"], (a["assumed"], a["source"])) for a in record["assumptions"])
    assert made["clouds[*].hosts[*].max_se_on_host"] == (4, "operator (twin.assume)")
    assert made["controller.deployment"] == ("vm", "default")
    password = record["credentials"]["avi_password"]
    assert len(password) >= 20 and topo["controller"]["password"] == password
    # a restart without reset keeps them (the world in SQLite has them); a reset makes new ones
    assert resolve(twin, str(tmp_path))["controller"]["password"] == password
    assert resolve(twin, str(tmp_path), reset=True)["controller"]["password"] != password


def test_triton_data_is_scaled_to_lab_size_with_the_sync_rate_so_sync_times_stay():
    twin = {"twin": {"format": "fleetops.maintenance.twin/v1", "provider": "triton",
                     "data_bytes": {"big": 40 * 1048576}},
            "triton": {"user_migration_allowed": None, "accounts": [{"login": "owner-001"}],
                       "servers": [{"name": "cn-1", "ram": None, "disk": 1048576, "reservation_ratio": 0.15}],
                       "instances": [{"name": "big", "server": "cn-1", "ram": 1024, "disk": 81920, "dataset": None},
                                     {"name": "small", "server": "cn-1", "ram": 1024, "disk": 100, "dataset": None}]}}
    import tempfile
    with tempfile.TemporaryDirectory() as state:
        topo = resolve(twin, state)
        model = json.load(open(os.path.join(state, "twin.json")))["model"]["triton"]
    tri = topo["triton"]
    k = model["data_scale"]
    assert k == pytest.approx(1048576 / (40 * 1048576))
    assert tri["timing"]["sync_bytes_per_second"] == int(ASSUME["triton_sync_bytes_per_second"] * k)
    big = next(i for i in tri["instances"] if i["name"] == "big")["dataset"]
    small = next(i for i in tri["instances"] if i["name"] == "small")["dataset"]
    assert big["files"] * big["file_size"] == pytest.approx(1048576, rel=0.07)
    # small: no size exported, so a share of its disk (assume.triton_data_fraction), scaled the same way
    assert small["files"] * small["file_size"] == pytest.approx(100 * 1048576 * ASSUME["triton_data_fraction"] * k,
                                                                rel=0.07)
    assert tri["servers"][0]["ram"] == ASSUME["triton_server_ram"] and tri["user_migration_allowed"] is False
    # lab seconds of a sync: lab bytes / lab rate = real bytes / real rate
    lab_seconds = big["files"] * big["file_size"] / tri["timing"]["sync_bytes_per_second"]
    assert lab_seconds == pytest.approx(40 * 1048576 / ASSUME["triton_sync_bytes_per_second"], rel=0.07)


def test_the_lab_starts_from_a_twin_as_exported(tmp_path):
    lab, credentials = started_from(AVI_TWIN, Lab, tmp_path, 0.01)
    try:
        client = lab.client(password=credentials["avi_password"])
        hosts = client.get("vimgrhostruntime").json()["results"]
        assert [h["name"] for h in hosts] == ["esx-1"]
        assert lab.admin("GET", "world")["hosts"]["esx-1"]["max_se_on_host"] == ASSUME["max_se_on_host"]
        images = [i["name"] for i in client.get("image").json()["results"]]
        assert images == ["controller-22.1.6-9191", "controller-22.1.7-9300"]
    finally:
        lab.stop()


def test_virtfusion_twin_keeps_groups_limits_and_the_rest_memory_while_guests_stay_small(tmp_path):
    """What the capacity-aware placement reads (group resources, a server's memory) is the source's; the QEMU guest
    runs at the lab's size; a limit the source did not show is 0 in the lab ("not set": the room unknown, never
    free), a group it did not show is group 1; each is a stated assumption."""
    twin = {"twin": {"format": "fleetops.maintenance.twin/v1", "provider": "virtfusion"},
            "virtfusion": {"api_token": None, "hypervisors": [
                {"id": 1, "name": "hv-1", "group": 3, "max_servers": 10, "max_cpu": 16, "max_memory": 65536,
                 "cpu": None, "storage": [{"id": 1, "mount": "/d", "enabled": True, "size": 512000}]},
                {"id": 2, "name": "hv-2", "group": None, "max_servers": None, "max_cpu": 0, "max_memory": None,
                 "cpu": None, "storage": [{"id": 2, "mount": "/d", "enabled": True, "size": None}]}],
                "servers": [{"id": 7, "name": "db", "hypervisor": 1, "state": "online", "memory": 8192, "cpu": 4,
                             "dirty_rate": None, "nics": [],
                             "disks": [{"drive": "a", "storage": 1, "size": 20480, "data": None}]},
                            {"id": 8, "name": "web", "hypervisor": 2, "state": "online", "memory": None, "cpu": None,
                             "dirty_rate": None, "nics": [], "disks": []}]}}
    vf = resolve(twin, str(tmp_path))["virtfusion"]
    hv1, hv2 = vf["hypervisors"]
    assert (hv1["group"], hv1["max_servers"], hv1["max_cpu"], hv1["max_memory"]) == (3, 10, 16, 65536)
    assert hv1["storage"][0]["size"] == 512000
    assert "group" not in hv2 and (hv2["max_servers"], hv2["max_cpu"], hv2["max_memory"]) == (0, 0, 0)
    assert "size" not in hv2["storage"][0]
    db, web = vf["servers"]
    assert (db["api_memory"], db["memory"], db["cpu"]) == (8192, ASSUME["virtfusion_guest_memory"], 4)
    assert (db["disks"][0]["api_size"], db["disks"][0]["size"]) == (20480, ASSUME["virtfusion_max_disk_size"])
    assert "api_memory" not in web and "cpu" not in web and web["memory"] == ASSUME["virtfusion_guest_memory"]
    made = dict((a["field"], a["assumed"]) for a in json.load(open(tmp_path / "twin.json"))["assumptions"])
    assert made["virtfusion.hypervisors[*].group"] == 1
    assert made["virtfusion.hypervisors[*].max_memory"] == "0 (not set)"
    assert made["virtfusion.hypervisors[*].storage[*].size"] == "0 (no limit)"
    assert made["virtfusion.servers[*].cpu"] == 1
    assert "virtfusion.hypervisors[*].max_cpu" not in made      # 0 is what the source answered ("not set")


def test_a_virtfusion_twin_lab_answers_the_source_sizes_with_small_guests(tmp_path):
    """The lab started from that twin answers the source's memory and disk sizes (GET /servers/{id}, the group
    resources) while its QEMU guest and image are lab-sized."""
    from vfkit import VfLab
    twin = {"twin": {"format": "fleetops.maintenance.twin/v1", "provider": "virtfusion"},
            "virtfusion": {"api_token": None, "hypervisors": [
                {"id": 1, "name": "hv-1", "group": 3, "max_servers": 10, "max_cpu": 16, "max_memory": 65536,
                 "cpu": None, "storage": [{"id": 1, "mount": "/home/vf-data/disk", "enabled": True, "size": 512000}]}],
                "servers": [{"id": 7, "name": "db", "hypervisor": 1, "state": "offline", "memory": 8192, "cpu": 4,
                             "dirty_rate": None, "nics": [],
                             "disks": [{"drive": "a", "storage": 1, "size": 20480, "data": None}]}]}}
    lab, credentials = started_from(twin, VfLab, tmp_path, 0.05)
    try:
        token = credentials["virtfusion_api_token"]
        server = lab.api("GET", "servers/7", token=token).json()["data"]
        assert (server["memory"], server["cpu"]) == (8192, 4)
        [item] = lab.api("GET", "compute/hypervisors/groups/3/resources", token=token).json()["data"]
        assert item["memory"] == {"allocated": 8192, "max": 65536} and item["cpu"] == {"allocated": 4, "max": 16}
        assert item["servers"] == {"allocated": 1, "max": 10}
        assert item["storage"] == [{"storageId": 1, "allocated": 20480, "max": 512000}]
        assert lab.api("GET", "compute/hypervisors?results=50", token=token).json()["data"][0]["groupId"] == 3
    finally:
        lab.stop()
