# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The twin document every exporter fills: pseudonyms, unknown fields, the secret guard and the file write (the
exporters themselves are tested against the labs, tests/integration/test_twin_rehearsal.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.twin import (
    FORMAT,
    Pseudonyms,
    Twin,
    TwinError,
    check_no_secret,
    render,
    render_mapping,
    write_if_changed,
)


def test_pseudonyms_are_stable_numbered_and_never_derived_from_the_real_value():
    p = Pseudonyms(True)
    assert [p.name("se", n) for n in ("se-a", "se-b", "se-a")] == ["se-001", "se-002", "se-001"]
    assert p.name("vs", "se-a") == "vs-001"   # each kind its own numbering
    one = p.uuid("vm", "10334d23-13f2-59e7-bd16-a08b1e76e105")
    again = Pseudonyms(True).uuid("vm", "another real uuid")
    assert one == again != "10334d23-13f2-59e7-bd16-a08b1e76e105"   # the n-th uuid, whatever the real one
    assert p.mapping()["names/se"] == {"se-a": "se-001", "se-b": "se-002"}
    off = Pseudonyms(False)
    assert off.name("se", "se-a") == "se-a" and off.uuid("vm", "u") == "u" and off.mapping() == {}


def test_pseudonymous_addresses_keep_their_place_in_the_ranges():
    p = Pseudonyms(True)
    a, b = p.network("192.0.2.0/24"), p.network("2001:db8:1::/64")
    assert a == "10.0.0.0/24" and b.startswith("fd00:") and b.endswith("/64")
    assert p.network("198.51.100.0/25") == "10.0.1.0/25"
    assert p.address("192.0.2.17") == "10.0.0.17"        # inside a known range: the same offset in its pseudonym
    assert p.address("198.51.100.5") == "10.0.1.5"
    outside = p.address("203.0.113.9")
    assert outside.startswith("198.18.") and p.address("203.0.113.9") == outside
    assert p.mapping()["networks"] == {"192.0.2.0/24": "10.0.0.0/24", "2001:db8:1::/64": b,
                                       "198.51.100.0/25": "10.0.1.0/25"}
    yaml.safe_load(render_mapping(p.mapping()))   # plain strings only


def test_the_twin_is_a_lab_topology_with_its_unknowns_and_the_header():
    twin = Twin("avi", Pseudonyms(False))
    twin.topology = {"controller": {"version": "22.1.6", "password": None},
                     "clouds": [{"name": "c", "hosts": [{"name": "h", "max_se_on_host": None}]}],
                     "se_groups": [{"name": "g", "service_engines": [{"name": "s"}]}], "virtual_services": []}
    twin.mark_unknown("clouds[*].hosts[*].max_se_on_host", "no vendor field", "no host limit")
    twin.mark_unknown("clouds[*].hosts[*].max_se_on_host", "twice: kept once")
    twin.leave_out("credentials")
    text = render(twin)
    assert text.startswith("# A twin of an Avi controller")
    doc = yaml.safe_load(text)
    assert doc["twin"]["format"] == FORMAT and doc["twin"]["provider"] == "avi"
    assert doc["twin"]["unknown"] == [{"field": "clouds[*].hosts[*].max_se_on_host", "why": "no vendor field",
                                       "rehearsal_assumes": "no host limit"}]
    assert doc["clouds"][0]["hosts"][0]["max_se_on_host"] is None
    assert twin.counts() == {"clouds": 1, "hosts": 1, "se_groups": 1, "service_engines": 1, "virtual_services": 0,
                             "images": 0}


def test_a_twin_holding_a_secret_is_refused_without_saying_the_secret():
    text = "controller:\n  note: Sm4ll-lab-Secret! leaked\n"
    with pytest.raises(TwinError) as err:
        check_no_secret(text, [("password", "Sm4ll-lab-Secret!")])
    assert "password" in str(err.value) and "Sm4ll" not in str(err.value)
    check_no_secret(text, [("token", None), ("key", ""), ("password", "other")])


def test_the_file_is_written_only_when_it_changes_private_and_atomically(tmp_path):
    path = str(tmp_path / "twin.yml")
    assert write_if_changed(path, "a: 1\n", check_mode=True) == (True, None)
    assert not os.path.exists(path)
    assert write_if_changed(path, "a: 1\n") == (True, None)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert write_if_changed(path, "a: 1\n") == (False, "a: 1\n")
    assert write_if_changed(path, "a: 2\n") == (True, "a: 1\n")
    assert sorted(os.listdir(str(tmp_path))) == ["twin.yml"]   # no temporary file left
    with pytest.raises(TwinError) as err:
        write_if_changed(str(tmp_path / "missing" / "twin.yml"), "a: 1\n")
    assert "does not exist" in str(err.value)
