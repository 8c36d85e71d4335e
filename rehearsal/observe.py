"""What the lab shows of a run: a snapshot of one lab's admin reports (``/_lab/...``) per vendor plane, taken before
and after the maintenance. Only the rehearsal reads these lab-only reports; the collection never does."""
import json
import os
import ssl
import time
import urllib.error
import urllib.request


def lab_info(state_dir):
    with open(os.path.join(state_dir, "lab.json"), encoding="utf-8") as fh:
        return json.load(fh)


def get_json(url, ca_path, timeout=60):
    ctx = ssl.create_default_context(cafile=ca_path)
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"GET {url}: HTTP {exc.code} {exc.read()[:300]!r}") from None


def admin(info, plane, path):
    return get_json(info[plane]["url"] + "/_lab/" + path, info["ca_path"])


def snapshot(state_dir, provider):
    """The lab's reports for ``provider`` (avi, triton, virtfusion), and when they were taken (real time)."""
    info = lab_info(state_dir)
    snap = {"provider": provider, "taken": time.time(), "time_scale": info.get("time_scale")}
    if provider == "avi":
        snap["stats"] = admin(info, "avi", "stats")
        snap["disruption"] = admin(info, "avi", "disruption")
        snap["world"] = admin(info, "avi", "world")
        snap["upgrade"] = admin(info, "avi", "upgrade")
        snap["time_scale"] = snap["stats"].get("time_scale", snap["time_scale"])
    elif provider == "triton":
        snap["instances"] = admin(info, "triton", "instances")
        snap["world"] = admin(info, "triton", "world")
        snap["stats"] = admin(info, "triton", "stats")
        snap["servers"] = get_json(info["triton"]["operator_url"] + "/servers?extras=capacity", info["ca_path"])
        snap["time_scale"] = snap["instances"].get("time_scale", snap["time_scale"])
    elif provider == "virtfusion":
        snap["world"] = admin(info, "virtfusion", "world")
        snap["migrations"] = admin(info, "virtfusion", "migrations")
        snap["disruption"] = admin(info, "virtfusion", "disruption")
        snap["stats"] = admin(info, "virtfusion", "stats")
        snap["time_scale"] = snap["world"].get("time_scale", snap["time_scale"])
    else:
        raise ValueError(f"unknown provider {provider!r}")
    return snap
