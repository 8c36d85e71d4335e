"""The Avi plane answers only in the vendor's shapes, for every API generation it emulates.

For a lab of each generation (17.2, 20.1, 22.1, 30.2), walk every route of lab.avi.routes.ROUTES (and /login, /logout) through a
scenario that brings the world through its states (placements in flight, failed operations, an SE
evacuating, an upgrade rebooting the controller, a suspended SE group, resume, rollback) and check
every 2xx answer against the alb-sdk definition of that version (lab/avi/definitions.py): no unknown
field, no type or enum mismatch, except lab/avi/allowlist.py. A route of the table the walk does not
reach fails the test, so a new route cannot escape it.
"""
import collections
import os
import time

import pytest
import requests
import yaml

from lab.avi import allowlist, routes
from lab.avi.definitions import Definitions
from lab.avi.upgrade.package import is_flexible, make_image_bytes, vkey
from labkit import TOPOLOGIES, wait_for

SESSION_ROUTES = {("login", "POST"): "LoginAnswer", ("logout", "POST"): "Empty"}
EXCUSED, RUNS = collections.Counter(), set()   # across the generations: which allowlist entries were needed
# the last test reads what every walk left in EXCUSED and RUNS: the file runs on one pytest-xdist worker
ONE_WORKER = True
SUSPEND = {"action_on_error": "SUSPEND_UPGRADE_OPS_ON_ERROR"}


class Walk:
    """A client of one lab that checks every answer it gets against the vendor definitions."""

    def __init__(self, lab, topology):
        with open(topology, encoding="utf-8") as fh:
            self.ctl = yaml.safe_load(fh)["controller"]
        self.version = str(self.ctl["version"])
        self.lab = lab
        self.defs = Definitions(self.version)
        self.flexible = is_flexible(self.version)
        self.walked = set()
        self.other = set()
        self.responses = 0
        self.problems = []
        self.excused = collections.Counter()
        self.api = lab.client(password=self.ctl["password"], api_version=self.version)
        self.check("login", "POST", self.api.login(password=self.ctl["password"]))

    # ------------------------------------------------------------------ checking answers
    def check(self, path, method, r):
        if (path, method) in SESSION_ROUTES:
            route, answer = None, SESSION_ROUTES[(path, method)]
        else:
            route, _params = routes.match(path)
            assert route is not None, f"/api/{path} is not in lab.avi.routes.ROUTES"
            answer = route.answers[method]
        if r.status_code >= 300:
            body = r.json()
            assert set(body) == {"error"} and isinstance(body["error"], str), r.text   # the vendor's error body
            if r.status_code == 404 and route is not None and route.api and (route.api == "flexible") != self.flexible:
                self.walked.add((route.path, method))   # not in this generation: 404, as on the controller
                self.other.add((route.path, method))
            return r
        key = (route.path, method) if route is not None else (path, method)
        self.walked.add(key)
        if answer is None:
            assert not r.content, r.text
            return r
        self.responses += 1
        doc = r.json()
        found = [self._problems(doc, name, f"{method} /{path}") for name in answer.split("|")]
        best = min(found, key=lambda ps: sum(1 for p in ps if allowlist.excuse(p, self.defs.branch) is None))
        for p in best:
            entry = allowlist.excuse(p, self.defs.branch)
            if entry is None:
                self.problems.append(p)
            else:
                self.excused[repr(entry)] += 1
        if route is not None:
            for entry in allowlist.PENDING_SHIPPED_READS:
                if entry.route == route.path:
                    self.excused[repr(entry)] += 1
        return r

    def _problems(self, doc, answer, where):
        if answer.endswith("[]"):
            assert isinstance(doc, list), f"{where}: expected a list of {answer[:-2]}"
            return [p for i, item in enumerate(doc) for p in self.defs.check(item, answer[:-2], f"{where}[{i}]")]
        return self.defs.check(doc, answer, where)

    # ------------------------------------------------------------------ requests
    def request(self, method, path, body=None, files=None, params=None, retry=False):
        """One request (with ``retry``: through a rebooting controller, logging in again as needed)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                kwargs = {"headers": self.api.headers(write=method != "GET"), "params": params}
                if files is not None:
                    kwargs["files"] = files
                elif body is not None:
                    kwargs["json"] = body
                r = self.api.s.request(method, f"{self.lab.url}/api/{path}", **kwargs)
                if retry and r.status_code == 401:
                    self.check("login", "POST", self.api.login(password=self.ctl["password"]))
                    continue
                if not (retry and r.status_code == 503):
                    return self.check(path.split("?")[0], method, r)
            except requests.ConnectionError:
                if not retry:
                    raise
            assert time.monotonic() < deadline, f"{method} /api/{path} did not answer"
            time.sleep(0.05)

    def get(self, path, **params):
        return self.request("GET", path, params=params or None, retry=True).json()

    def ok(self, method, path, body=None, status=200, **kwargs):
        r = self.request(method, path, body, **kwargs)
        assert r.status_code == status, f"{method} /api/{path}: {r.status_code} {r.text}"
        return r

    def by_name(self, typ, name):
        return self.get(typ, name=name)["results"][0]

    def admin(self, method, path, body=None):
        return self.lab.admin(method, path, body)

    def idle(self, timeout=60):
        wait_for(lambda: not self.admin("GET", "upgrade")["running"] and not [
            o for o in self.admin("GET", "stats")["operations"] if o["result"] == "running"],
            timeout=timeout, interval=0.05, what="the lab's operations to end")

    # ------------------------------------------------------------------ the walk
    def reads(self):
        """Every GET route, for every object (collections paged and with names)."""
        r = requests.get(f"{self.lab.url}/api/initial-data", verify=self.lab.ca, timeout=10)
        self.check("initial-data", "GET", r)
        self.get("tenant")
        for typ in routes.OBJECT_DEFINITIONS:
            self.get(typ, include_name="true")
            page = self.get(typ, page_size=2)
            if page.get("next"):
                self.get(typ, page_size=2, page=2)
            for obj in self.get(typ)["results"]:
                self.get(f"{typ}/{obj['uuid']}")
        for inv, typ in (("serviceengine-inventory", "serviceengine"), ("virtualservice-inventory", "virtualservice")):
            self.get(inv, include_name="true")
            self.get(inv, page_size=2)
            for obj in self.get(typ)["results"]:
                self.get(f"{inv}/{obj['uuid']}")
                self.get(f"{typ}/{obj['uuid']}/runtime")
        self.get("analytics/logs", type="2", page_size="100")
        self.get("analytics/logs", type="2", page_size="2", filter="eq(event_id,[VS_MIGRATE_FAILED,CREATE_SE_FAIL])")
        self.get("cluster")
        self.get("cluster/status")
        self.get("version/controller")
        self.get("systemconfiguration")                           # docker_mode: the image type the deployment takes
        for path in ("image", "image-inventory", "upgradestatusinfo"):
            listed = self.request("GET", path, retry=True)
            for item in listed.json().get("results", []) if listed.status_code == 200 else [{"uuid": "x"}]:
                self.request("GET", f"{path}/{item['uuid']}", retry=True)
        for path in ("cluster/upgrade/status", "cluster/upgrade/history"):
            self.request("GET", path, retry=True)

    def writes(self):
        """PUT/PATCH of every object type (POST and DELETE of those a client creates) and the VS actions,
        with answers read while they run."""
        kv = [{"key": "se/one", "value": '{"was": "SE_STATE_ENABLED"}'}]
        made = self.ok("POST", "stringgroup", {"name": "shapes", "type": "SG_TYPE_KEYVAL", "kv": kv},
                       status=201).json()
        for typ in routes.OBJECT_DEFINITIONS:
            obj = self.get(typ)["results"][0]
            self.ok("PUT", f"{typ}/{obj['uuid']}", obj)
            self.ok("PATCH", f"{typ}/{obj['uuid']}", {"replace": {"name": obj["name"]}})
        self.get(f"stringgroup/{made['uuid']}")
        self.ok("DELETE", f"stringgroup/{made['uuid']}", status=204)
        vs = self.by_name("virtualservice", "nm-single-2")
        self.ok("POST", f"virtualservice/{vs['uuid']}/scaleout", {"vip_id": "0"})
        self.get(f"virtualservice/{vs['uuid']}/runtime")
        self.get(f"virtualservice-inventory/{vs['uuid']}")
        self.idle()
        self.ok("POST", f"virtualservice/{vs['uuid']}/scalein", {"vip_id": "0"})
        self.get(f"virtualservice/{vs['uuid']}/runtime")
        self.idle()
        self.admin("POST", "faults", {"kind": "fail_operation", "operation": "migrate", "target": "nm-single-2"})
        self.ok("POST", f"virtualservice/{vs['uuid']}/migrate", {"vip_id": "0"})
        self.idle()
        self.get(f"virtualservice/{vs['uuid']}/runtime")       # after a failed operation
        se = self.by_name("serviceengine", "nm-se-03")
        self.ok("PUT", f"serviceengine/{se['uuid']}", dict(se, enable_state="SE_STATE_DISABLED"))
        self.get(f"serviceengine/{se['uuid']}/runtime")
        self.get(f"serviceengine-inventory/{se['uuid']}")
        self.idle()
        self.reads()
        se = self.get(f"serviceengine/{se['uuid']}")
        self.ok("PUT", f"serviceengine/{se['uuid']}", dict(se, enable_state="SE_STATE_ENABLED"))

    def flexible_upgrade(self, image):
        """Images, previews, a system upgrade with an SE group suspended, resume (preview, then for real), rollback."""
        data = make_image_bytes("99.1.1", 1, self.version)
        up = self.ok("POST", "image", files={"file": ("controller.pkg", data, "application/octet-stream")},
                     status=201).json()
        self.get(f"image/{up['uuid']}")
        self.idle()
        self.ok("DELETE", f"image/{up['uuid']}", status=204)
        body = {"image_ref": image["url"], "system": True, "se_group_options": SUSPEND}
        self.ok("POST", "upgrade/preview", body)
        self.ok("POST", "upgrade", dict(body, prechecks_only=True))
        self.ok("POST", "rollback/preview", {"system": True})
        self.admin("POST", "faults", {"kind": "fail_operation", "operation": "se_upgrade", "target": "nm-se-02"})
        # a slower clock while the SEs upgrade: at the topologies' 0.005 an SE's upgrade lasts 0.1 s, shorter than a
        # validated read of upgradestatusinfo on a loaded machine, and the walk must see one in progress
        scale = self.admin("GET", "time-scale")
        self.admin("POST", "time-scale", {"scale": 0.1})
        self.ok("POST", "upgrade", body)
        self.get("upgradestatusinfo")                             # the controller phase
        wait_for(lambda: any(s["state"]["state"] == "UPGRADE_FSM_IN_PROGRESS" and s["node_type"] == "NODE_SE_TYPE"
                             for s in self.get("upgradestatusinfo")["results"]), timeout=120, what="an SE upgrading")
        self.reads()                                              # while SEs upgrade
        self.admin("POST", "time-scale", {"scale": scale.get("time_scale", scale.get("scale", 0.005))})
        self.idle()
        group = self.by_name("serviceenginegroup", "sg-nm")
        resume = {"se_group_refs": [group["url"]], "se_group_options": {"action_on_error": "CONTINUE_UPGRADE_OPS_ON_ERROR"}}
        self.ok("POST", "segroup/resume/preview", resume)
        self.ok("POST", "segroup/resume", resume)
        self.idle()
        aa = self.by_name("serviceenginegroup", "sg-aa")
        self.ok("POST", "rollback", {"se_group_refs": [aa["url"]]})
        self.idle()

    def legacy_upgrade(self, image_path):
        self.ok("POST", "cluster/upgrade", {"image_path": image_path})
        wait_for(lambda: self.get("cluster/upgrade/status").get("se_state"), timeout=60, what="SEs upgrading")
        self.reads()
        self.idle()
        self.ok("POST", "cluster/rollback", {}, retry=True)
        self.get("cluster/upgrade/status")
        self.idle()

    def delete_an_se(self):
        """DELETE of an SE: refused while it hosts a VS (the error body checked), done once it is empty."""
        world = self.admin("GET", "world")["service_engines"]
        busy = next(n for n, se in world.items() if se["vs"])
        empty = next(n for n, se in world.items() if not se["vs"])
        r = self.request("DELETE", f"serviceengine/{self.by_name('serviceengine', busy)['uuid']}")
        assert r.status_code == 400, r.text
        self.ok("DELETE", f"serviceengine/{self.by_name('serviceengine', empty)['uuid']}", status=204)

    def other_generation(self):
        """Each route of the other API generation answers 404 (with the vendor's error body)."""
        for route in routes.ROUTES:
            if route.api and (route.api == "flexible") != self.flexible:
                for method in route.handlers:
                    r = self.request(method, route.path.replace("{uuid}", "x"), {} if method != "GET" else None)
                    assert r.status_code == 404, f"{method} /api/{route.path}: {r.status_code}"

    def logout(self):
        r = self.api.s.post(f"{self.lab.url}/logout", headers=self.api.headers(write=True))
        self.check("logout", "POST", r)


# the topologies of each API generation
GENERATIONS = ["avi-17.2.yml", "avi-20.1.yml", "avi-22.1.yml", "avi-30.2.yml"]


@pytest.mark.parametrize("topology", GENERATIONS)
def test_every_route_answers_in_the_vendor_shape(lab_factory, topology):
    path = os.path.join(TOPOLOGIES, topology)
    lab = lab_factory(path).start()
    w = Walk(lab, path)
    w.reads()
    w.writes()
    image = next(i for i in w.admin("GET", "upgrade")["images"] if vkey(i["version"]) > vkey(w.version))
    if w.flexible:
        w.flexible_upgrade(w.get(f"image/{image['uuid']}"))
    else:
        w.legacy_upgrade("controller://upgrade_pkgs/controller.pkg")
    w.reads()
    w.delete_an_se()
    w.other_generation()
    w.logout()
    every = {(r.path, m) for r in routes.ROUTES for m in r.handlers} | set(SESSION_ROUTES)
    assert sorted(every - w.walked) == [], "routes the walk did not reach"
    distinct = collections.Counter((p.definition, p.field, p.kind) for p in w.problems)
    first = {}
    for p in w.problems:
        first.setdefault((p.definition, p.field, p.kind), p)
    assert not distinct, "\n".join(f"{d}.{f} {k} x{n}: {first[(d, f, k)]}" for (d, f, k), n in sorted(distinct.items()))
    EXCUSED.update(w.excused)
    RUNS.add(topology)
    print(f"[vendor-shapes] {topology} API {w.version} "
          f"({w.defs.branch}): {len(every)} routes walked ({len(every) - len(w.other)} answered, {len(w.other)} "
          f"404 as the other generation), {w.responses} responses validated, {w.defs.fields_checked} fields "
          f"checked, allowlisted {dict(w.excused)}")


def test_every_allowlist_entry_is_needed():   # reads what the walks above left in RUNS and EXCUSED (ONE_WORKER)
    """An entry of lab/avi/allowlist.py no answer of any generation needed is stale: drop it."""
    if len(RUNS) < len(GENERATIONS):
        pytest.skip("needs every generation's walk (run the whole file)")
    stale = [e for e in allowlist.ALLOWLIST + allowlist.PENDING_SHIPPED_READS if repr(e) not in EXCUSED]
    assert stale == []
