"""Helpers for the VirtFusion plane's tests: the lab's control server over SSH (paramiko, host key
checked against the lab's known_hosts), vfcli-ctrl, the REST API and the plane's admin routes."""
import json
import time

import paramiko
import requests

from labkit import Lab, wait_for

API_TOKEN = "vf-lab-api-token-0123456789abcdef"   # lab/topologies/virtfusion.yml
GROUP = "server:migrate-live"


class VfLab(Lab):
    """A lab started on lab/topologies/virtfusion.yml (or another topology with a virtfusion: section)."""

    def __init__(self, state_dir, topology="virtfusion.yml", time_scale=None, output=None):
        super().__init__(state_dir, topology, time_scale)
        self.output = output      # the plane's output mode ("documented", "rich"); None: the topology's

    def start(self, reset=False):
        super().start(reset=reset)
        if self.output:
            self.vfadmin("POST", "output", {"mode": self.output})
        return self

    @property
    def vf(self):
        return self.info["virtfusion"]

    @property
    def vf_url(self):
        return self.vf["url"]

    def vfadmin(self, method, path, body=None, ok=True):
        return self.admin_at(self.vf_url, method, path, body, ok=ok, timeout=60)

    def api(self, method, path, body=None, token=API_TOKEN):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.vf_url}/api/v1/{path}", json=body, headers=headers, verify=self.ca,
                                timeout=60)

    def ssh(self, known_hosts=None):
        c = paramiko.SSHClient()
        c.load_host_keys(known_hosts or self.vf["ssh"]["known_hosts"])
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
        ssh = self.vf["ssh"]
        c.connect(ssh["host"], port=ssh["port"], username=ssh["user"], key_filename=ssh["private_key"],
                  allow_agent=False, look_for_keys=False, timeout=10)
        return c

    def vfcli(self, args, client=None, timeout=120, pty=False):
        """Run `vfcli-ctrl server:migrate-live ARGS` over SSH (one kept connection unless ``client``):
        (exit status, stdout, stderr). ``pty``: on a terminal (stderr then arrives in stdout)."""
        cmd = f"vfcli-ctrl {GROUP} {args}"
        if client is None and not pty:
            if getattr(self, "_ssh", None) is None or not self._ssh.get_transport() \
                    or not self._ssh.get_transport().is_active():
                self._ssh = self.ssh()
            try:
                return run_command(self._ssh, cmd, timeout)
            except (paramiko.SSHException, EOFError, OSError):   # the kept connection was dropped: once more
                self._ssh = self.ssh()
                return run_command(self._ssh, cmd, timeout)
        return run_command(client or self.ssh(), cmd, timeout, pty=pty)

    def stop(self):
        if getattr(self, "_ssh", None) is not None:
            self._ssh.close()
            self._ssh = None
        super().stop()

    def vfjson(self, args, expect_rc=0):
        rc, out, err = self.vfcli(args + " --json")
        assert rc == expect_rc, (rc, out, err)
        return json.loads(out)

    def migration(self, mid):
        return self.vfadmin("GET", f"migrations/{mid}")

    def last(self, server):
        """The server's last migration (admin route: quicker than vfcli-ctrl last-status over SSH)."""
        return self.vfadmin("GET", f"servers/{server}/migration")

    def wait_status(self, server, statuses=("complete", "failed"), timeout=60):
        def done():
            m = self.last(server)
            return m if m["status"] in statuses and not (m["status"] == "in-progress") else None
        return wait_for(done, timeout=timeout, interval=0.3, what=f"migration of {server} to end")

    def wait_step(self, server, key, status="in-progress", timeout=30, after=None):
        """Wait until the server's last migration (other than ``after``, an id) has step ``key`` in
        ``status``; a migration that does not exist yet is waited for."""
        def there():
            r = self.vfadmin("GET", f"servers/{server}/migration", ok=False)
            if r.status_code == 404:
                return None
            m = r.json()
            if m["id"] == after:
                return None
            st = next(s for s in m["steps"] if s["key"] == key)
            return m if st["status"] == status else None
        return wait_for(there, timeout=timeout, interval=0.05, what=f"step {key} {status}")

    def other_hv(self, sid):
        """Hypervisor 1 or 2, whichever the server is not on (tests do not depend on their order)."""
        return 1 if self.server(sid)["hypervisorId"] == 2 else 2

    def server(self, sid):
        return self.api("GET", f"servers/{sid}").json()["data"]

    def guest(self, sid):
        return self.vfadmin("GET", f"servers/{sid}/guest")


def pages_after(lab, sid, than, timeout=10):
    """The guest's page counter once it is past ``than`` (the guest runs and writes)."""
    def more():
        g = lab.guest(sid).get("guest") or {}
        return g.get("pages") if g.get("pages", 0) > than else None
    return wait_for(more, timeout=timeout, interval=0.1, what=f"guest of server {sid} writing")


def timed(fn, *args, **kwargs):
    t0 = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - t0


def run_command(client, cmd, timeout, pty=False):
    """(exit status, stdout, stderr) of ``cmd`` on a channel opened without a stdin file object, as the module's
    own client does: paramiko's ChannelStdinFile, collected on its transport thread, can deadlock it
    (paramiko/paramiko#2685; plugins/module_utils/_virtfusion/client.py says how)."""
    chan = client.get_transport().open_session(timeout=timeout)
    try:
        chan.settimeout(timeout)
        if pty:
            chan.get_pty()
        chan.exec_command(cmd)
        out = chan.makefile("rb").read().decode()
        err = "" if pty else chan.makefile_stderr("rb").read().decode()
        return chan.recv_exit_status(), out, err
    finally:
        chan.close()
