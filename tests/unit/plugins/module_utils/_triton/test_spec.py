# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Triton connection settings: precedence, what is missing, files checked before anything is sent."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import resolve_connection


def test_connection_precedence_and_errors():
    env = {"SDC_URL": "https://sdc", "TRITON_ACCOUNT": "alice", "SDC_ACCOUNT": "bob", "TRITON_KEY_ID": "aa:bb"}
    conn = resolve_connection({"triton_credentials": {"url": "https://creds"}}, environ=env)
    assert (conn["url"], conn["account"], conn["key_id"]) == ("https://creds", "alice", "aa:bb")
    assert resolve_connection({"url": "https://opt", "triton_credentials": {"url": "https://creds"}},
                              environ=env)["url"] == "https://opt"
    with pytest.raises(ValueError, match="'account' for api=cloudapi: give the option account.*TRITON_ACCOUNT or "
                                         "SDC_ACCOUNT"):
        resolve_connection({"url": "https://x", "key_id": "aa"}, environ={})
    with pytest.raises(ValueError, match="vmapi_url"):
        resolve_connection({"api": "operator"}, environ={})
    with pytest.raises(ValueError, match=r"validate_certs \(from TRITON_VALIDATE_CERTS\) must be a boolean"):
        resolve_connection({"api": "operator", "vmapi_url": "x"}, environ={"TRITON_VALIDATE_CERTS": "maybe"})
    assert resolve_connection({"api": "operator", "vmapi_url": "v"}, environ={})["cnapi_url"] == "v"


def test_the_ca_file_and_the_key_file_are_checked_before_anything_is_sent(tmp_path):
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate")
    base = {"url": "https://x", "account": "alice", "key_id": "aa:bb"}
    with pytest.raises(ValueError) as exc:
        resolve_connection(dict(base, ca_path=str(not_pem)), environ={})
    assert str(exc.value).startswith("ca_path (TRITON_CA_PATH): %s holds no PEM certificate" % not_pem)
    with pytest.raises(ValueError) as exc:
        resolve_connection(base, environ={"TRITON_KEY_FILE": str(tmp_path / "id_rsa")})
    assert str(exc.value).startswith("private_key_file (TRITON_KEY_FILE): %s is not a file" % (tmp_path / "id_rsa"))
    assert resolve_connection(dict(base, ca_path=str(not_pem), validate_certs=False), environ={})["ca_path"]


def test_a_private_key_given_wins_over_the_key_file_of_the_environment():
    base = {"url": "https://x", "account": "alice", "key_id": "aa:bb"}
    env = {"TRITON_KEY_FILE": "/nonexistent/id_rsa"}
    conn = resolve_connection(dict(base, private_key="PEM"), environ=env)
    assert (conn["private_key"], conn["private_key_file"]) == ("PEM", None)
    conn = resolve_connection(dict(base, triton_credentials={"private_key": "PEM"}), environ=env)
    assert (conn["private_key"], conn["private_key_file"]) == ("PEM", None)
    # both given: refused, naming both
    with pytest.raises(ValueError, match="private_key and private_key_file are mutually exclusive"):
        resolve_connection(dict(base, private_key="PEM", private_key_file="/k"), environ={})
    with pytest.raises(ValueError, match="private_key and private_key_file are mutually exclusive"):
        resolve_connection(dict(base, private_key="PEM", triton_credentials={"private_key_file": "/k"}), environ={})
