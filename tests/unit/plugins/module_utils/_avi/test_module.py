# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Avi module does through avi_module/run_avi_module: shared option checks and connection settings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.modules import se_disable, se_info


def test_counts_and_durations_must_be_positive(fake, run_module):
    for option, value in (("concurrency", 0), ("timeout", -5), ("wait_sleep", -1)):
        result = run_module(se_disable, {"name": "se1", "method": "per_vs", option: value})
        assert result["failed"] and result["msg"].startswith(option + " must be")
    assert fake.writes == []


def test_connection_settings_from_avi_credentials(fake, run_module, monkeypatch):
    monkeypatch.setenv("AVI_CONTROLLER", "env.example")
    result = run_module(se_info, {"controller": None, "username": None, "password": None,
                                  "avi_credentials": {"controller": "ctl.example", "username": "u",
                                                      "password": "p"}})
    assert not result.get("failed"), result


def test_a_ca_file_that_cannot_be_used_fails_at_once_naming_the_setting(fake, run_module, tmp_path, monkeypatch):
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate")
    for path, why in ((str(tmp_path / "missing.pem"), "is not a file"), (str(not_pem), "holds no PEM certificate")):
        result = run_module(se_info, {"ca_path": path})
        assert result["failed"] and result["msg"].startswith("ca_path (AVI_CA_PATH): %s %s" % (path, why))
        monkeypatch.setenv("AVI_CA_PATH", path)
        result = run_module(se_info, {})
        assert result["failed"] and "ca_path (AVI_CA_PATH)" in result["msg"]
        monkeypatch.delenv("AVI_CA_PATH")
    assert fake.calls == []
