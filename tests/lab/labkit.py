"""Helpers for the lab tests: start/stop a lab, a minimal Avi client, polling."""
import json
import os
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPOLOGIES = os.path.join(ROOT, "lab", "topologies")
SMALL_PASSWORD = "Sm4ll-lab-Secret!"
API_VERSION = "22.1.6"


class Lab:
    # the lab exits on its own after this many seconds (a safety net against leaked labs); a test running many
    # playbooks against one lab on a loaded machine may need more
    max_lifetime = 300

    def __init__(self, state_dir, topology="small.yml", time_scale=None):
        self.state_dir = str(state_dir)
        self.topology = os.path.join(TOPOLOGIES, topology)
        self.time_scale = time_scale
        self.info = None

    def cli(self, *args, check=True):
        p = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=60, check=False)
        if check and p.returncode != 0:
            raise AssertionError(f"lab {args[0]} failed: {p.stdout}\n{p.stderr}")
        return p

    def start(self, reset=False):
        args = ["start", "--topology", self.topology, "--state-dir", self.state_dir, "--max-lifetime", str(self.max_lifetime)]
        if self.time_scale is not None:
            args += ["--time-scale", str(self.time_scale)]
        if reset:
            args.append("--reset")
        p = self.cli(*args)
        self.info = json.loads(p.stdout)
        return self

    def stop(self):
        if self.info:
            self.cli("stop", "--state-dir", self.state_dir)
            self.info = None

    def running(self, reset=True):
        """Start the lab for the body of a fixture and stop it afterwards, whatever happens:
        ``yield from SomeLab(...).running()``."""
        self.start(reset=reset)
        try:
            yield self
        finally:
            self.stop()

    @property
    def url(self):
        return self.info["avi"]["url"]

    @property
    def ca(self):
        return self.info["ca_path"]

    def admin_at(self, base_url, method, path, body=None, ok=True, timeout=10):
        """A /_lab/ admin request to the plane at ``base_url``: its JSON (asserting success), or with
        ``ok=False`` the response as it is."""
        r = requests.request(method, f"{base_url}/_lab/{path}", json=body, verify=self.ca, timeout=timeout)
        if not ok:
            return r
        assert r.status_code < 400, r.text
        return r.json()

    def admin(self, method, path, body=None):
        return self.admin_at(self.url, method, path, body)

    def lab_vs(self, name):
        """What the lab knows of a VS beyond the vendor objects (/_lab/world): migrate_state, last_operation."""
        return self.admin("GET", "world")["virtual_services"][name]

    def client(self, login=True, password=SMALL_PASSWORD, api_version=API_VERSION):
        c = Client(self, api_version)
        if login:
            r = c.login(password=password)
            assert r.status_code == 200, r.text
        return c


class _Session(requests.Session):
    """requests lets REQUESTS_CA_BUNDLE override Session.verify; pin the lab CA on every call."""

    def __init__(self, ca):
        super().__init__()
        self._ca = ca

    def request(self, *args, **kwargs):
        kwargs.setdefault("verify", self._ca)
        kwargs.setdefault("timeout", 10)
        return super().request(*args, **kwargs)


class Client:
    """A minimal Avi client as the collection's would be: session cookie, CSRF, Referer, version."""

    def __init__(self, lab, api_version=API_VERSION):
        self.lab = lab
        self.api_version = api_version
        self.s = _Session(lab.ca)

    def login(self, username="admin", password=SMALL_PASSWORD):
        return self.s.post(f"{self.lab.url}/login", json={"username": username, "password": password},
                           timeout=10)

    def headers(self, write=False):
        h = {"X-Avi-Version": self.api_version, "X-Avi-Tenant": "admin"}
        if write:
            h.update({"X-CSRFToken": self.s.cookies.get("csrftoken", ""), "Referer": self.lab.url})
        return h

    def get(self, path, **params):
        return self.s.get(f"{self.lab.url}/api/{path}", params=params, headers=self.headers(), timeout=10)

    def put(self, path, body):
        return self.s.put(f"{self.lab.url}/api/{path}", json=body, headers=self.headers(True), timeout=10)

    def post(self, path, body):
        return self.s.post(f"{self.lab.url}/api/{path}", json=body, headers=self.headers(True), timeout=10)

    def delete(self, path):
        return self.s.delete(f"{self.lab.url}/api/{path}", headers=self.headers(True), timeout=10)

    def upload(self, path, data, filename="controller.pkg", field="file"):
        """multipart/form-data POST, the way packages are uploaded to /api/image."""
        return self.s.post(f"{self.lab.url}/api/{path}", files={field: (filename, data, "application/octet-stream")},
                           headers=self.headers(True), timeout=10)

    def by_name(self, typ, name):
        r = self.get(typ, name=name)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 1, r.text
        return r.json()["results"][0]

    def set_enable_state(self, se_name, state):
        se = self.by_name("serviceengine", se_name)
        se["enable_state"] = state
        r = self.put(f"serviceengine/{se['uuid']}", se)
        assert r.status_code == 200, r.text
        return r.json()

    def vs_ses(self, vs_name):
        """Names of the SEs a VS is placed on, from the runtime (primary first)."""
        vs = self.by_name("virtualservice", vs_name)
        rt = self.get(f"virtualservice/{vs['uuid']}/runtime").json()   # VirtualServiceRuntimeSummary
        return [s["name"] for s in sorted(rt["service_engine"], key=lambda s: not s["primary"])], rt

    def se_runtime(self, se_name):
        se = self.by_name("serviceengine", se_name)
        return self.get(f"serviceengine/{se['uuid']}/runtime").json()


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
