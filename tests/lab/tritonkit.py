"""Helpers for the Triton lab tests: a CloudAPI client that signs like node-triton, and a VMAPI one."""
import base64
import email.utils
import hashlib
import json
import time

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

# re-exported for the tests
from labkit import ROOT, Lab, wait_for  # noqa: F401 pylint: disable=unused-import


def md5_fp(pub_line):
    d = hashlib.md5(base64.b64decode(pub_line.split()[1]), usedforsecurity=False).hexdigest()
    return ":".join(d[i:i + 2] for i in range(0, 32, 2))


class TritonLab(Lab):
    @property
    def t(self):
        return self.info["triton"]

    def tadmin(self, method, path, body=None):
        return self.admin_at(self.t["url"], method, path, body)

    def cloudapi(self, login="alice"):
        return CloudApi(self.t["url"], login, self.t["key_files"][login], self.ca)

    def vmapi(self):
        return Operator(self.t["operator_url"], self.ca)

    def report(self, name):
        return self.tadmin("GET", "instances")["instances"][name]


def wait_migration_state(fetch, states, timeout, what):
    """Poll ``fetch()`` (a GET of a migration) until its state is one of ``states`` (None: gone,
    404); the migration, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = fetch()
        if r.status_code == 404 and None in states:
            return None
        if r.status_code == 200 and r.json()["state"] in states:
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"migration of {what} did not reach {states}: {r.status_code} {r.text}")


class CloudApi:
    """Signs `(request-target) date` with rsa-sha256, keyId /<login>/keys/<md5 fp> (as node-triton)."""

    def __init__(self, url, login, key_file, ca):
        self.url, self.login, self.ca = url, login, ca
        with open(key_file, "rb") as fh:
            self.key = serialization.load_pem_private_key(fh.read(), password=None)
        with open(key_file + ".pub") as fh:
            self.fp = md5_fp(fh.read())
        self.key_id = f"/{login}/keys/{self.fp}"

    def sign_headers(self, method, path, date=None, headers="(request-target) date", algorithm="rsa-sha256",
                     key_id=None, key=None):
        date = date or email.utils.formatdate(usegmt=True)
        lines = []
        for h in headers.split():
            if h == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {path}")
            elif h == "date":
                lines.append(f"date: {date}")
        hname = algorithm.split("-")[1]
        halg = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512}.get(hname, hashes.SHA256)()
        sig = base64.b64encode((key or self.key).sign("\n".join(lines).encode(), padding.PKCS1v15(), halg)).decode()
        return {"date": date, "accept-version": "~9||~8",
                "authorization": f'Signature keyId="{key_id or self.key_id}",algorithm="{algorithm}",'
                                 f'headers="{headers}",signature="{sig}"'}

    def request(self, method, path, body=None, stream=False, **sign):
        path = path.replace("/my/", f"/{self.login}/", 1) if path.startswith("/my/") else path
        headers = self.sign_headers(method, path, **sign)
        return requests.request(method, self.url + path, json=body, headers=headers, verify=self.ca, timeout=15,
                                stream=stream)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def machine(self, name):
        r = self.get(f"/my/machines?name={name}")
        assert r.status_code == 200, r.text
        assert len(r.json()) == 1, r.text
        return r.json()[0]

    def migrate(self, mid, action):
        return self.post(f"/my/machines/{mid}/migrate", {"action": action})

    def watch(self, mid, timeout=60):
        """All events of one watch connection (until `end` or the connection closes)."""
        r = self.post(f"/my/machines/{mid}/migrate?action=watch", stream=True)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/x-json-stream")
        events = []
        try:
            for line in r.iter_lines():
                if line.strip():
                    events.append(json.loads(line))
                    if events[-1]["type"] == "end":
                        break
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
            events.append({"type": "dropped"})
        return events

    def wait_state(self, mid, states, timeout=60):
        return wait_migration_state(lambda: self.get(f"/my/migrations/{mid}"), states, timeout, mid)


class Operator:
    def __init__(self, url, ca):
        self.url, self.ca = url, ca

    def get(self, path, **params):
        return requests.get(self.url + path, params=params, verify=self.ca, timeout=15)

    def post(self, path, body=None, **params):
        return requests.post(self.url + path, params=params, json=body, verify=self.ca, timeout=15)

    def migrate(self, vm, action, **params):
        return self.post(f"/vms/{vm}", action="migrate", migration_action=action, **params)

    def wait_state(self, vm, states, timeout=60):
        return wait_migration_state(lambda: self.get(f"/migrations/{vm}", format="raw"), states, timeout, vm)
