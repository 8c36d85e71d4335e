"""Command line: python -m lab serve|start|stop|ctl|env, and the commands the planes add (lab.planes;
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
                print(f"a lab already runs for {a.state_dir} (pid {old['pid']}); stop it first to start another "
                      f"(--reset does not restart a running lab): python -m lab stop --state-dir {a.state_dir}",
                      file=sys.stderr)
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


# The connection of each plane: (environment variable, playbook extra var, what it is). The playbooks read the
# extra var first, else the environment variable (playbooks/vars/*_connection.yml); on your own system you set the
# same names to your controller's values.
ENV_SETTINGS = {
    "avi": (("AVI_CONTROLLER", "avi_controller", "the controller, host:port"),
            ("AVI_USERNAME", "avi_username", "a controller user"),
            ("AVI_PASSWORD", "avi_password", "its password (secret)"),
            ("AVI_CA_PATH", "avi_ca_path", "the CA that signed the controller's certificate")),
    "triton": (("TRITON_URL", "triton_url", "CloudAPI"),
               ("TRITON_ACCOUNT", "triton_account", "the account"),
               ("TRITON_KEY_ID", "triton_key_id", "the fingerprint of the account's SSH key"),
               ("TRITON_KEY_FILE", "triton_key_file", "the private key file"),
               ("TRITON_VMAPI_URL", "triton_vmapi_url", "the operator API (VMAPI)"),
               ("TRITON_CA_PATH", "triton_ca_path", "the CA of both APIs")),
    "virtfusion": (("VIRTFUSION_HOST", "virtfusion_host", "the control server, reached over SSH"),
                   ("VIRTFUSION_SSH_PORT", "virtfusion_port", "its SSH port"),
                   ("VIRTFUSION_SSH_USER", "virtfusion_user", "the SSH user"),
                   ("VIRTFUSION_SSH_KEY_FILE", "virtfusion_key_file", "the SSH private key file"),
                   ("VIRTFUSION_KNOWN_HOSTS", "virtfusion_known_hosts", "known_hosts with the server's host key"),
                   ("VIRTFUSION_API_URL", "virtfusion_api_url", "the control server's REST API"),
                   ("VIRTFUSION_API_TOKEN", "virtfusion_api_token", "the API token (secret)"),
                   ("VIRTFUSION_CA_PATH", "virtfusion_ca_path", "the CA of the REST API")),
}


def lab_connection(info):
    """plane -> {environment variable: value}: how the playbooks reach each plane of a running lab (addresses and
    CA from lab.json, credentials from its topology)."""
    import yaml
    with open(info["topology"], encoding="utf-8") as fh:
        topo = yaml.safe_load(fh)
    values = {}
    if info.get("avi"):
        ctl = topo.get("controller") or {}
        values["avi"] = {"AVI_CONTROLLER": info["avi"]["url"].split("://", 1)[1], "AVI_USERNAME": ctl.get("username", ""),
                         "AVI_PASSWORD": ctl.get("password", ""), "AVI_CA_PATH": info["ca_path"]}
    tr = info.get("triton")
    if tr and tr.get("key_files"):
        account = sorted(tr["key_files"])[0]
        values["triton"] = {"TRITON_URL": tr["url"], "TRITON_ACCOUNT": account, "TRITON_KEY_ID": tr["accounts"][account],
                            "TRITON_KEY_FILE": tr["key_files"][account], "TRITON_VMAPI_URL": tr["operator_url"],
                            "TRITON_CA_PATH": info["ca_path"]}
    vf = info.get("virtfusion")
    if vf:
        ssh = vf["ssh"]
        values["virtfusion"] = {"VIRTFUSION_HOST": ssh["host"], "VIRTFUSION_SSH_PORT": str(ssh["port"]),
                                "VIRTFUSION_SSH_USER": ssh["user"], "VIRTFUSION_SSH_KEY_FILE": ssh["private_key"],
                                "VIRTFUSION_KNOWN_HOSTS": ssh["known_hosts"], "VIRTFUSION_API_URL": vf["url"],
                                "VIRTFUSION_API_TOKEN": (topo.get("virtfusion") or {}).get("api_token", ""),
                                "VIRTFUSION_CA_PATH": info["ca_path"]}
    return values


def cmd_env(a):
    """Print the lab's connection as `export` lines (eval them) and write the same settings as an extra-vars file
    (`-e @FILE`, mode 0600: it holds the lab's secrets)."""
    import shlex
    import yaml
    try:
        info = _read_lab_json(a.state_dir)
    except (OSError, ValueError):
        print(f"no running lab in {a.state_dir} (no lab.json): start one with "
              f"`python -m lab start --state-dir {a.state_dir}`", file=sys.stderr)
        return 1
    values = lab_connection(info)
    extra = {}
    for plane, env in values.items():
        extra.update((var, env[name]) for name, var, _what in ENV_SETTINGS[plane])
    path = a.extra_vars_file or os.path.join(a.state_dir, "extra-vars.yml")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# The connection of the lab in %s, as playbook extra vars: ansible-playbook ... -e @%s\n"
                 % (a.state_dir, path))
        yaml.safe_dump(extra, fh, default_flow_style=False, sort_keys=False)
    os.replace(path + ".tmp", path)
    if a.format == "yaml":
        with open(path, encoding="utf-8") as fh:
            sys.stdout.write(fh.read())
        return 0
    print(f"# the lab in {a.state_dir} ({', '.join(values)}): eval \"$(python -m lab env --state-dir {a.state_dir})\"")
    for plane, env in values.items():
        print(f"# {plane}")
        for name, _var, _what in ENV_SETTINGS[plane]:
            print(f"export {name}={shlex.quote(env[name])}")
    print(f"# the same as extra vars: -e @{path}")
    return 0


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
    s = sub.add_parser("env", help="print the connection of each plane of a running lab as `export` lines and "
                       "write it as an extra-vars file")
    s.add_argument("--state-dir", default=os.path.join(".lab", "demo"))
    s.add_argument("--format", choices=("sh", "yaml"), default="sh",
                   help="sh: export lines (default); yaml: the extra vars")
    s.add_argument("--extra-vars-file", default=None, help="where to write the extra vars (default: "
                   "STATE_DIR/extra-vars.yml)")
    s.set_defaults(fn=cmd_env)
    add_plane_commands(sub)
    a = p.parse_args(argv)
    return a.fn(a)
