# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""twin_export's refusals, made before it connects anywhere (its exports are tested against the labs:
tests/integration/test_twin_rehearsal.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19 and later
except ImportError:  # 2.17 and 2.18: the stand-in of tests/unit/conftest.py
    from conftest import patch_module_args

from ansible_collections.fleetops.maintenance.plugins.modules import twin_export


def run(capsys, monkeypatch, args):
    monkeypatch.delenv("FLEETOPS_PROGRESS_FILE", raising=False)

    def nowhere(*_args, **_kwargs):
        raise AssertionError("the module connected before refusing")
    for provider in twin_export.EXPORTERS:
        monkeypatch.setitem(twin_export.EXPORTERS, provider, nowhere)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            twin_export.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, message", [
    ({"provider": "avi", "names_file": "names.yml"}, "names_file is the table of pseudonyms: it needs pseudonymise=true"),
    ({"provider": "avi", "estimate_data": True}, "estimate_data applies to provider=triton only"),
    ({"provider": "triton", "dest": "/nonexistent-dir/twin.yml"}, "dest: the directory of /nonexistent-dir/twin.yml does "
                                                                  "not exist"),
    ({"provider": "virtfusion", "pseudonymise": True, "names_file": "SAME"}, "names_file must not be dest"),
])
def test_bad_input_is_refused_before_any_read(capsys, monkeypatch, tmp_path, args, message):
    full = {"dest": str(tmp_path / "twin.yml")}
    full.update(args)
    if full.get("names_file") == "SAME":
        full["names_file"] = full["dest"]
    elif full.get("names_file"):
        full["names_file"] = str(tmp_path / full["names_file"])
    result = run(capsys, monkeypatch, full)
    assert result["failed"] and message in result["msg"], result
    assert not (tmp_path / "twin.yml").exists()


def test_a_provider_it_does_not_know_is_refused(capsys, monkeypatch, tmp_path):
    result = run(capsys, monkeypatch, {"provider": "openstack", "dest": str(tmp_path / "t.yml")})
    assert result["failed"] and "provider" in result["msg"] and "avi, triton, virtfusion" in result["msg"]
