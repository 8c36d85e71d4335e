"""Command line: python -m lab serve|start|stop|ctl, and the commands the planes add (lab.planes;
see lab/README.md)."""
import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from lab.planes import PLANES, add_plane_commands, default_plane

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TOPOLOGY = os.path.join("lab", "topologies", "demo.yml")


def _read_lab_json(state_dir):
    with open(os.path.join(state_dir, "lab.json"), encoding="utf-8") as fh:
        return json.load(fh)


def admin_call(info, method, path, body=None, timeout=10, plane=None):
    """Call the /_lab/ admin routes of a plane (each HTTPS plane has its own, on its own port; default:
    the first plane of lab.json)."""
    plane = plane or default_plane(info)
    if not (info.get(plane) or {}).get("url"):
        raise SystemExit(f"the lab has no {plane} plane with an admin URL (planes: {', '.join(info.get('planes', []))})")
    ctx = ssl.create_default_context(cafile=info["ca_path"])
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(info[plane]["url"] + "/_lab/" + path.lstrip("/"), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _serve_args(p):
    p.add_argument("--topology", default=DEFAULT_TOPOLOGY)
    p.add_argument("--state-dir", default=os.path.join(".lab", "demo"))
    p.add_argument("--time-scale", type=float, default=None,
                   help="real seconds per lab second (default: the topology's time_scale)")
    p.add_argument("--reset", action="store_true", help="reseed the world from the topology")
    p.add_argument("--max-lifetime", type=float, default=14400.0, help="exit after this many seconds")
    p.add_argument("--port", action="append", default=[], metavar="LISTENER=PORT",
                   help="port of a plane's listener, e.g. avi=8443 or triton=9443 (default: a free port)")


def _ports(a):
    ports = {}
    for item in a.port:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise SystemExit(f"--port wants LISTENER=PORT, got {item!r}")
        ports[name] = int(value)
    return ports


def cmd_serve(a):
    from lab.server import serve
    serve(a.topology, a.state_dir, time_scale=a.time_scale, reset=a.reset, max_lifetime=a.max_lifetime,
          ports=_ports(a))
    return 0


def cmd_start(a):
    os.makedirs(a.state_dir, exist_ok=True)
    lab_json = os.path.join(a.state_dir, "lab.json")
    if os.path.exists(lab_json):
        try:
            old = _read_lab_json(a.state_dir)
            if _alive(old["pid"]):
                print(f"a lab already runs for {a.state_dir} (pid {old['pid']})", file=sys.stderr)
                return 1
        except (OSError, ValueError, KeyError):
            pass
        os.unlink(lab_json)
    cmd = [sys.executable, "-m", "lab", "serve", "--topology", a.topology, "--state-dir", a.state_dir,
           "--max-lifetime", str(a.max_lifetime)]
    for item in a.port:
        cmd += ["--port", item]
    if a.time_scale is not None:
        cmd += ["--time-scale", str(a.time_scale)]
    if a.reset:
        cmd.append("--reset")
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log_path = os.path.join(a.state_dir, "lab.log")
    with open(log_path, "ab") as log:
        log_start = log.tell()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + a.wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            for line in _why_it_stopped(log_path, log_start):   # e.g. "lab: ... needs QEMU ..."
                print(line, file=sys.stderr)
            print(f"lab exited with status {proc.returncode}; see {a.state_dir}/lab.log", file=sys.stderr)
            return 1
        try:
            info = _read_lab_json(a.state_dir)
            if info.get("pid") == proc.pid:
                status, _body = admin_call(info, "GET", "health", timeout=2)
                if status == 200:
                    print(json.dumps(info, indent=2))
                    return 0
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    print("lab did not become ready in time; stopping it", file=sys.stderr)
    proc.terminate()
    return 1


def _why_it_stopped(log_path, offset):
    """The `lab: ...` lines a plane printed before exiting (a missing tool, a bad topology)."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            fh.seek(offset)
            return [ln.rstrip() for ln in fh if ln.startswith("lab: ")]
    except OSError:
        return []


def cmd_stop(a):
    try:
        info = _read_lab_json(a.state_dir)
    except (OSError, ValueError):
        print(f"no lab.json in {a.state_dir}: nothing to stop", file=sys.stderr)
        return 0
    pid = int(info["pid"])
    if not _alive(pid):
        os.unlink(os.path.join(a.state_dir, "lab.json"))
        print(f"lab pid {pid} is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + a.timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    try:
        os.unlink(os.path.join(a.state_dir, "lab.json"))
    except OSError:
        pass
    print(f"lab pid {pid} stopped")
    return 0


def cmd_ctl(a):
    info = _read_lab_json(a.state_dir)
    w = a.what
    args = a.args

    def call(method, path, body=None):
        return admin_call(info, method, path, body, plane=a.plane)
    if w == "faults":
        if not args or args[0] == "list":
            r = call("GET", "faults")
        elif args[0] == "clear":
            r = call("DELETE", "faults")
        elif args[0] == "add":
            r = call("POST", "faults", json.loads(args[1]))
        else:
            print("usage: ctl faults [list|clear|add JSON]", file=sys.stderr)
            return 2
    elif w == "disruption":
        r = call("GET", "disruption")
    elif w == "stats":
        r = call("POST", "stats/reset") if args[:1] == ["reset"] else call("GET", "stats")
    elif w == "reset":
        r = call("POST", "reset")
    elif w == "time-scale":
        r = call("POST", "time-scale", {"scale": float(args[0])}) if args else call("GET", "time-scale")
    elif w == "health":
        r = call("GET", "health")
    elif w == "world":
        r = call("GET", "world")
    elif w == "upgrade":
        r = call("GET", "upgrade")
    elif w == "get":  # any other admin route of the plane: ctl [--plane P] get PATH
        r = call("GET", args[0])
    elif w == "post":  # ctl [--plane P] post PATH [JSON]
        r = call("POST", args[0], json.loads(args[1]) if len(args) > 1 else {})
    else:
        print(f"unknown ctl command {w}", file=sys.stderr)
        return 2
    print(json.dumps(r[1], indent=2))
    return 0 if r[0] < 400 else 1


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab", description="fleetops lab: emulators of the vendor APIs")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the lab in the foreground")
    _serve_args(s)
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("start", help="run the lab in the background; print lab.json once it answers")
    _serve_args(s)
    s.add_argument("--wait", type=float, default=60.0, help="seconds to wait for readiness")
    s.set_defaults(fn=cmd_start)
    s = sub.add_parser("stop", help="stop the lab started with `start` (the pid in lab.json)")
    s.add_argument("--state-dir", default=os.path.join(".lab", "demo"))
    s.add_argument("--timeout", type=float, default=15.0)
    s.set_defaults(fn=cmd_stop)
    s = sub.add_parser("ctl", help="admin client: faults|disruption|stats|reset|time-scale|health|world|upgrade|"
                       "get|post")
    s.add_argument("--state-dir", default=os.path.join(".lab", "demo"))
    s.add_argument("--plane", default=None, help="which plane's admin routes (%s; default: the first "
                   "plane of lab.json)" % ", ".join(name for name, _module in PLANES))
    s.add_argument("what")
    s.add_argument("args", nargs="*")
    s.set_defaults(fn=cmd_ctl)
    add_plane_commands(sub)
    a = p.parse_args(argv)
    return a.fn(a)
