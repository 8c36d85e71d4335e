import requests

from labkit import API_VERSION, SMALL_PASSWORD


def test_login_sets_session_and_csrf_cookies(lab):
    s = requests.Session()
    r = s.post(f"{lab.url}/login", json={"username": "admin", "password": SMALL_PASSWORD}, verify=lab.ca)
    assert r.status_code == 200
    body = r.json()
    assert body["version"]["Version"] == "22.1.6"
    assert body["session_cookie_name"] == "sessionid"
    assert r.cookies.get("csrftoken") and r.cookies.get("sessionid")


def test_bad_credentials_are_401_and_counted(lab):
    r = requests.post(f"{lab.url}/login", json={"username": "admin", "password": "wrong"}, verify=lab.ca)
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid credentials"}
    stats = lab.admin("GET", "stats")
    assert stats["logins"] == 0 and stats["failed_logins"] == 1


def test_form_encoded_login_like_avisdk(lab):
    r = requests.post(f"{lab.url}/login", data={"username": "admin", "password": SMALL_PASSWORD}, verify=lab.ca)
    assert r.status_code == 200


def test_tls_verifies_with_the_lab_ca_only(lab):
    try:
        requests.get(f"{lab.url}/_lab/health", verify=True, timeout=5)
    except requests.exceptions.SSLError:
        pass
    else:
        raise AssertionError("the lab certificate must not verify against the system store")
    assert requests.get(f"{lab.url.replace('127.0.0.1', 'localhost')}/_lab/health", verify=lab.ca).ok


def test_api_requires_session_version_and_csrf(lab):
    anon = requests.get(f"{lab.url}/api/serviceengine", headers={"X-Avi-Version": API_VERSION}, verify=lab.ca)
    assert anon.status_code == 401
    c = lab.client()
    assert c.s.get(f"{lab.url}/api/serviceengine").status_code == 400
    assert "X-Avi-Version" in c.s.get(f"{lab.url}/api/serviceengine").json()["error"]
    se = c.by_name("serviceengine", "se-a")
    url = f"{lab.url}/api/serviceengine/{se['uuid']}"
    # write without X-CSRFToken
    r = c.s.put(url, json=se, headers={"X-Avi-Version": API_VERSION, "Referer": lab.url})
    assert r.status_code == 403 and r.json()["error"].startswith("CSRF Failed")
    # wrong token
    r = c.s.put(url, json=se, headers={"X-Avi-Version": API_VERSION, "Referer": lab.url, "X-CSRFToken": "x"})
    assert r.status_code == 403
    # no Referer
    r = c.s.put(url, json=se, headers={"X-Avi-Version": API_VERSION,
                                       "X-CSRFToken": c.s.cookies["csrftoken"]})
    assert r.status_code == 403 and "Referer" in r.json()["error"]
    assert c.put(f"serviceengine/{se['uuid']}", se).status_code == 200


def test_unknown_and_expired_sessions_are_401(lab):
    c = lab.client()
    assert c.get("serviceengine").status_code == 200
    bogus = requests.get(f"{lab.url}/api/serviceengine", cookies={"sessionid": "nope"},
                         headers={"X-Avi-Version": API_VERSION}, verify=lab.ca)
    assert bogus.status_code == 401
    lab.admin("POST", "sessions/expire")
    assert c.get("serviceengine").status_code == 401
    # a new login works again
    assert c.login().status_code == 200
    assert c.get("serviceengine").status_code == 200


def test_logout_ends_the_session_and_needs_csrf(lab):
    c = lab.client()
    assert c.s.post(f"{lab.url}/logout").status_code == 403
    assert c.s.post(f"{lab.url}/logout", headers=c.headers(write=True)).status_code == 200
    assert c.get("serviceengine").status_code == 401


def test_unknown_tenant_is_404(lab):
    c = lab.client()
    r = c.s.get(f"{lab.url}/api/serviceengine", headers={"X-Avi-Version": API_VERSION, "X-Avi-Tenant": "ghost"})
    assert r.status_code == 404
