"""fleet_room: can the rest of a Triton fleet absorb the nodes draining, from CNAPI's numbers (a twin_export read)."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.fleetops.maintenance.plugins.filter.fleet_room import fleet_room


def twin(free, instances, **server_extra):
    servers = [dict({"name": n, "reserved": False, "setup": True, "status": "running", "headnode": False},
                    **server_extra.get(n, {})) for n in sorted(free)]
    capacity = dict((n, {"unreserved_ram": r, "unreserved_disk": 100000}) for n, r in free.items() if r is not None)
    return {"twin": {"source_capacity": capacity},
            "triton": {"servers": servers, "instances": [{"name": i, "server": s, "ram": r, "disk": 10}
                                                         for i, s, r in instances]}}


FLEET = twin({"cn-1": 7782, "cn-2": 7782, "cn-3": 7782, "cn-4": 7782},
             [("a-1", "cn-1", 3072), ("a-2", "cn-1", 3072), ("b-1", "cn-2", 3072), ("b-2", "cn-2", 3072),
              ("c-1", "cn-3", 3072), ("c-2", "cn-3", 3072)])


def test_two_draining_fit_largest_first_on_the_most_free():
    room = fleet_room(FLEET, ["cn-1", "cn-2"])
    assert room["verdict"] == "pass" and room["need_ram"] == 12288
    assert sorted(room["placement"].values()) == ["cn-3", "cn-3", "cn-4", "cn-4"]
    assert room["headroom"] == {"cn-3": 1638, "cn-4": 1638}


def test_three_draining_do_not_fit_and_the_detail_names_what_is_short():
    room = fleet_room(FLEET, ["cn-1", "cn-2", "cn-3"])
    assert room["verdict"] == "fail"
    assert "cannot absorb" in room["detail"] and "(3072 MiB RAM, on" in room["detail"]


def test_reserved_and_unset_nodes_are_no_room_and_missing_numbers_are_unknown():
    reserved = twin({"cn-1": 7782, "cn-2": 7782}, [("a-1", "cn-1", 3072)], **{"cn-2": {"reserved": True}})
    assert fleet_room(reserved, ["cn-1"])["verdict"] == "fail"
    unknown = twin({"cn-1": 7782, "cn-2": None}, [("a-1", "cn-1", 3072)])
    room = fleet_room(unknown, ["cn-1"])
    assert room["verdict"] == "unknown" and room["unknown_nodes"] == ["cn-2"]
    assert "unknown, not room" in room["detail"]


def test_refuses_what_is_not_a_triton_twin_or_an_unknown_node():
    with pytest.raises(AnsibleFilterError, match="twin of a Triton data center"):
        fleet_room({"avi": {}}, ["cn-1"])
    with pytest.raises(AnsibleFilterError, match="no compute node named cn-9"):
        fleet_room(FLEET, ["cn-9"])


def test_an_instance_in_flight_already_holds_its_room():
    moving = dict(FLEET, twin={"source_capacity": FLEET["twin"]["source_capacity"],
                               "in_flight": [{"instance": "a-1", "phase": "sync", "state": "running"}]})
    assert fleet_room(moving, ["cn-1"])["need_ram"] == 3072
