# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    from ansible.module_utils.testing import patch_module_args  # noqa: E402  (ansible-core 2.19 and later)
except ImportError:  # ansible-core 2.17 and 2.18 (requires_ansible admits them): their AnsibleModule reads _ANSIBLE_ARGS
    from ansible.module_utils import basic  # noqa: E402
    from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviClient  # noqa: E402
from fake_avi import FakeController  # noqa: E402


def _quiet_env(monkeypatch, prefixes=()):
    """No live progress file, and none of the environment variables starting with ``prefixes``."""
    monkeypatch.delenv("FLEETOPS_PROGRESS_FILE", raising=False)
    for name in list(os.environ):
        if prefixes and name.startswith(prefixes):
            monkeypatch.delenv(name)


def _run_main(capsys, main, full, check_mode=False, diff=False):
    """Run a module's ``main()`` with the module args ``full``; its result dict."""
    if check_mode:
        full["_ansible_check_mode"] = True
    if diff:
        full["_ansible_diff"] = True
    with patch_module_args(full):
        with pytest.raises(SystemExit):
            main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def fake(monkeypatch):
    """A FakeController answering every request of AviClient (patched at its single HTTP method)."""
    controller = FakeController()
    monkeypatch.setattr(AviClient, "_send", lambda self, method, url, body=None, form=None:
                        controller.send(self, method, url, body))
    _quiet_env(monkeypatch)
    return controller


@pytest.fixture
def run_module(capsys):
    """Run a module's main() with args; return (failed, result dict)."""

    def runner(module, args, check_mode=False, diff=False):
        full = dict(controller="ctl.example", username="admin", password="s3cret-pw", wait_sleep=0)
        if module.__name__.endswith("se_info"):   # se_info only reads: it has no wait_sleep
            full.pop("wait_sleep")
        full.update(args)
        return _run_main(capsys, module.main, full, check_mode, diff)

    return runner


@pytest.fixture
def triton(monkeypatch, tmp_path):
    """A FakeTriton answering every request of TritonClient (patched at its single HTTP method)."""
    from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonClient
    from fake_triton import FakeTriton
    world = FakeTriton()
    monkeypatch.setattr(TritonClient, "_send", lambda self, method, url, body=None, headers=None, stream=False:
                        world.send(self, method, url, body, headers, stream))
    monkeypatch.setattr(TritonClient, "REATTACH_INTERVAL", 0.0)
    _quiet_env(monkeypatch, ("TRITON_", "SDC_"))
    monkeypatch.setenv("FLEETOPS_RECORD_DIR", str(tmp_path / "records"))
    return world


@pytest.fixture
def run_triton(capsys):
    """Run instance_migrate's main() against the FakeTriton; return the result dict."""
    from ansible_collections.fleetops.maintenance.plugins.modules import instance_migrate
    from fake_triton import CLOUDAPI, KEY_ID, KEY_PEM, VMAPI

    def runner(args, check_mode=False, diff=False):
        # CloudAPI shows no capacity: the tests accept that unknown pre-check unless they say otherwise
        full = dict(url=CLOUDAPI, account="alice", key_id=KEY_ID, private_key=KEY_PEM, vmapi_url=VMAPI,
                    accept_unverified=["capacity"])
        full.update(args)
        return _run_main(capsys, instance_migrate.main, full, check_mode, diff)
    return runner


@pytest.fixture
def vf(monkeypatch, tmp_path):
    """A FakeVirtFusion answering every SSH command and HTTP request of VirtFusionClient (patched at its
    single SSH method and its single HTTP method). The known_hosts file exists (it is checked readable before
    anything is sent); the fake never reads it."""
    import fake_virtfusion
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    monkeypatch.setitem(fake_virtfusion.VF_CREDENTIALS, "known_hosts_file", str(known_hosts))
    from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import VirtFusionClient
    from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.provider import VirtFusionProvider
    from fake_virtfusion import FakeVirtFusion
    world = FakeVirtFusion()

    def fake_exec(client, command, timeout):
        return world.exec_(client, command, timeout)

    def fake_send(client, method, url, body=None):
        return world.send(client, method, url, body)

    def fake_follow(client, argv, on_line, timeout, clock=None):
        return world.follow(client, argv, on_line, timeout)
    monkeypatch.setattr(VirtFusionClient, "_exec", fake_exec)
    monkeypatch.setattr(VirtFusionClient, "follow", fake_follow)
    monkeypatch.setenv("FLEETOPS_RECORD_DIR", str(tmp_path / "records"))
    monkeypatch.setattr(VirtFusionClient, "_send", fake_send)
    monkeypatch.setattr(VirtFusionClient, "RETRY_INTERVAL", 0.0)
    monkeypatch.setattr(VirtFusionProvider, "POLL_SECONDS", 0.0)
    _quiet_env(monkeypatch, ("VIRTFUSION_",))
    return world


@pytest.fixture
def run_vf(capsys):
    """Run instance_migrate's main() with provider=virtfusion against the FakeVirtFusion; the result dict."""
    from ansible_collections.fleetops.maintenance.plugins.modules import instance_migrate
    from fake_virtfusion import VF_CREDENTIALS

    def runner(args, check_mode=False, diff=False):
        full = dict(provider="virtfusion", virtfusion_credentials=dict(VF_CREDENTIALS))
        full.update(args)
        return _run_main(capsys, instance_migrate.main, full, check_mode, diff)
    return runner
