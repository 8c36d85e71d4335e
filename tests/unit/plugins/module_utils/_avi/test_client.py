# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_clock import FakeClock
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi import client as avi_client
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import (
    AviClient,
    AviError,
    AviNotFound,
    _ConnectionProblem,
    ref_name,
    ref_uuid,
)

SECRET = "pa55-very-secret"


class Script(object):
    """Replaces AviClient._send: answers from a list of (status, body) or exceptions per call."""

    def __init__(self, answers, login=(200, {"version": {"Version": "22.1.3"}})):
        self.answers = list(answers)
        self.login = login
        self.calls = []

    def __call__(self, client, method, url, body=None):
        client.stats["requests"] += 1
        self.calls.append((method, url, body))
        if url.endswith("/login"):
            answer = self.login
        else:
            answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def make(monkeypatch):
    def factory(answers, login=(200, {"version": {"Version": "22.1.3"}}), **kwargs):
        script = Script(answers, login)
        monkeypatch.setattr(AviClient, "_send", lambda self, m, u, b=None, form=None: script(self, m, u, b))
        clk = FakeClock(start=0.0)
        kwargs.setdefault("retry_timeout", 60)
        client = AviClient("ctl.example", "admin", SECRET, clock=clk.clock, sleep=clk.sleep,
                           rand=lambda: 0.0, **kwargs)
        return client, script, clk
    return factory


def test_refs():
    assert ref_uuid("https://c/api/serviceengine/serviceengine-1#se1") == "serviceengine-1"
    assert ref_name("https://c/api/serviceengine/serviceengine-1#se1") == "se1"
    assert ref_name("https://c/api/serviceengine/serviceengine-1") is None


def test_base_url_and_port():
    assert AviClient._base_url("ctl.example", None) == "https://ctl.example"
    assert AviClient._base_url("https://127.0.0.1:8443/", None) == "https://127.0.0.1:8443"
    assert AviClient._base_url("ctl.example", 9443) == "https://ctl.example:9443"


def test_logs_in_once_and_counts(make):
    client, script, dummy = make([(200, {"a": 1}), (200, {"b": 2})])
    assert client.get("cloud") == {"a": 1}
    assert client.get("cloud") == {"b": 2}
    assert client.stats["logins"] == 1
    assert client.stats["requests"] == 3
    assert script.calls[0][1] == "https://ctl.example/login"
    assert client.controller_version == "22.1.3"


def test_retries_5xx_with_bounded_exponential_backoff(make):
    client, script, clk = make([(503, {"error": "not ready"})] * 3 + [(200, {"ok": True})])
    assert client.get("serviceengine") == {"ok": True}
    assert client.stats["retries"] == 3
    assert clk.slept == [1.0, 2.0, 4.0]


def test_retries_dropped_connections(make):
    client, script, clk = make([_ConnectionProblem("reset"), (200, {"ok": 1})])
    assert client.get("serviceengine") == {"ok": 1}
    assert client.stats["retries"] == 1


def test_gives_up_when_the_budget_is_spent(make):
    client, script, clk = make([(503, {"error": "rebooting"})] * 100, retry_timeout=20)
    with pytest.raises(AviError) as err:
        client.get("serviceengine")
    assert err.value.status == 503
    assert "gave up" in err.value.msg
    assert clk.now <= 20.0
    assert max(clk.slept) <= 30.0


def test_short_retries_gives_up_sooner_inside_and_restores_the_budget_after(make):
    client, script, clk = make([(503, {"error": "rebooting"})] * 100 + [(200, {"ok": 1})], retry_timeout=60)
    with client.short_retries(5) as short:
        assert short is client
        with pytest.raises(AviError) as err:
            client.get("serviceengine")
    assert "gave up" in err.value.msg
    assert clk.now <= 5.0
    script.answers[:] = [(503, {"error": "rebooting"})] * 5 + [(200, {"ok": 1})]
    assert client.get("serviceengine") == {"ok": 1}, "outside, the full retry budget applies again"
    with pytest.raises(RuntimeError):
        with client.short_retries(5):
            raise RuntimeError("the caller's own error")
    script.answers[:] = [(503, {"error": "rebooting"})] * 5 + [(200, {"ok": 1})]
    assert client.get("serviceengine") == {"ok": 1}, "restored after an exception too"


def test_does_not_retry_client_errors(make):
    client, script, clk = make([(400, {"error": "VS is already placed on the target SE"})])
    with pytest.raises(AviError) as err:
        client.post("virtualservice/vs-1/migrate", {"vip_id": "0"})
    assert err.value.status == 400
    assert "already placed" in err.value.msg
    assert clk.slept == []


def test_404_is_not_found(make):
    client, script, clk = make([(404, {"error": "Object not found!"})])
    with pytest.raises(AviNotFound):
        client.get("serviceengine/serviceengine-x")


def test_relogin_on_401_and_419(make):
    client, script, clk = make([(401, {"error": "expired"}), (419, {}), (200, {"ok": 1})])
    assert client.get("cloud") == {"ok": 1}
    assert client.stats["logins"] == 3
    assert client.stats["relogins"] == 2


def test_waits_while_upgrade_refuses_writes(make):
    refused = (403, {"error": "Configuration is read-only: upgrade in progress"})
    client, script, clk = make([refused, refused, (200, {})], upgrade_interval=10)
    client.put("serviceengine/se-1", {"enable_state": "SE_STATE_DISABLED"})
    assert client.stats["upgrade_waits"] == 2
    assert sum(clk.slept) >= 20


def test_upgrade_wait_is_bounded(make):
    refused = (403, {"error": "upgrade in progress"})
    client, script, clk = make([refused] * 1000, upgrade_wait=100, upgrade_interval=10)
    with pytest.raises(AviError) as err:
        client.put("serviceengine/se-1", {})
    assert "upgrade" in err.value.msg
    assert clk.now <= 100


def test_other_403_fails_at_once(make):
    client, script, clk = make([(403, {"error": "CSRF Failed: token missing"})])
    with pytest.raises(AviError) as err:
        client.put("serviceengine/se-1", {})
    assert "CSRF" in err.value.msg
    assert client.stats["upgrade_waits"] == 0


def test_bad_credentials_fail_without_the_password(make):
    client, script, clk = make([], login=(401, {"error": "Invalid credentials"}))
    with pytest.raises(AviError) as err:
        client.get("cloud")
    assert "Invalid credentials" in err.value.msg
    assert SECRET not in err.value.msg
    assert SECRET not in repr(err.value.args)
    assert client.stats["logins"] == 0


def test_paging_follows_next(make):
    pages = [
        (200, {"count": 3, "results": [{"n": 1}], "next": "https://other.host/api/cloud?page=2&page_size=1"}),
        (200, {"count": 3, "results": [{"n": 2}], "next": "https://other.host/api/cloud?page=3&page_size=1"}),
        (200, {"count": 3, "results": [{"n": 3}]}),
    ]
    client, script, clk = make(pages)
    assert [r["n"] for r in client.get_all("cloud")] == [1, 2, 3]
    # the next links are followed on our own controller address
    assert script.calls[2][1] == "https://ctl.example/api/cloud?page=2&page_size=1"


def test_resolve_by_name_and_unknown_name(make):
    ses = [{"uuid": "serviceengine-%d" % i, "name": name} for i, name in enumerate(
        ("se-01", "se-02", "db-se-1", "web-se-7", "web-se-8", "web-se-9", "edge"))]
    client, script, clk = make([(200, {"count": 1, "results": [{"uuid": "serviceengine-1", "name": "se1"}]}),
                                (200, {"count": 0, "results": []}), (200, {"count": 7, "results": ses})])
    assert client.resolve("serviceengine", "se1")["uuid"] == "serviceengine-1"
    with pytest.raises(AviNotFound) as err:
        client.resolve("serviceengine", "web-se-0", option="name")
    # a name that matches nothing: refused naming the option, with the closest names of that kind
    assert err.value.msg.startswith("name: serviceengine 'web-se-0' not found; closest of 7 known: web-se-7, web-se-8")
    assert "edge" not in err.value.msg


@pytest.mark.parametrize("name,uuid", [("", None), ("   ", None), (None, ""), (None, None)])
def test_an_empty_name_or_uuid_is_refused_not_sent_as_a_filter(make, name, uuid):
    # an empty ?name= filter would match every object: the first SE of the controller would be "found"
    client, script, clk = make([(200, {"count": 1, "results": [{"uuid": "serviceengine-1", "name": "se1"}]})])
    with pytest.raises(AviError) as err:
        client.find("serviceengine", name=name, uuid=uuid)
    assert "needs a name or uuid that is not empty" in err.value.msg
    assert [c for c in script.calls if "serviceengine" in c[1]] == []


def test_headers_carry_csrf_referer_version_tenant(monkeypatch):
    client = AviClient("ctl.example", "admin", SECRET, api_version="22.1.4", tenant="ops")
    seen = {}

    class Response(object):
        def getcode(self):
            return 200

        def read(self):
            return b'{"ok": true}'

    def fake_open(method, url, data=None, headers=None, **kwargs):
        seen.update(headers)
        seen["data"] = data
        return Response()

    monkeypatch.setattr(client._http, "open", fake_open)
    from http.cookiejar import Cookie
    client._http.cookies.set_cookie(Cookie(0, "csrftoken", "tok123", None, False, "ctl.example", False, False, "/",
                                           True, True, None, False, None, None, {}))
    assert client._send("POST", client._url("serviceengine/x"), {"a": 1}) == (200, {"ok": True})
    assert seen["X-CSRFToken"] == "tok123"
    assert seen["Referer"].startswith("https://ctl.example")
    assert seen["X-Avi-Version"] == "22.1.4"
    assert seen["X-Avi-Tenant"] == "ops"
    assert seen["data"] == b'{"a": 1}'


def test_send_turns_network_errors_into_connection_problems(monkeypatch):
    client = AviClient("ctl.example", "admin", SECRET)

    def refused(*args, **kwargs):
        raise avi_client.URLError(ConnectionRefusedError(111, "refused"))

    monkeypatch.setattr(client._http, "open", refused)
    with pytest.raises(_ConnectionProblem):
        client._send("GET", client._url("cloud"))


def test_logout_at_context_exit(make):
    client, script, clk = make([(200, {}), (200, {})])
    with client:
        client.get("cloud")
    assert script.calls[-1][1] == "https://ctl.example/logout"
