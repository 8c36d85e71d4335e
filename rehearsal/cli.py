"""``python -m rehearsal prepare|maintain|forecast|stop|observe|measure|compare`` (see rehearsal/__init__.py)."""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

import yaml

from rehearsal import compare as comparing
from rehearsal import fleet
from rehearsal import forecast as forecasting
from rehearsal import timeline
from rehearsal.observe import lab_info, snapshot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWIN_FORMAT = "fleetops.maintenance.twin/v1"
# maintenance -> (the collection's playbook, the provider it needs; None: the operator's `provider` variable)
MAINTENANCE = {
    "evacuate_se": ("evacuate_se", "avi"),
    "move_back_se": ("move_back_se", "avi"),
    "migrate_vs": ("migrate_vs", "avi"),
    "upgrade": ("upgrade", "avi"),
    "evacuate_host": ("evacuate_host", None),
    "move_back_host": ("move_back_host", None),
    "migrate_instance": ("migrate_instance", None),
    "maintain_fleet": ("maintain_fleet", None),
}
# the operator's variables the rehearsal never passes on: the connection to the real system, and where records go
CONNECTION_VARS = (
    "avi_controller", "avi_username", "avi_password", "avi_ca_path", "avi_tenant", "avi_port", "avi_validate_certs",
    "triton_url", "triton_account", "triton_key_id", "triton_key_file", "triton_vmapi_url", "triton_cnapi_url",
    "triton_ca_path", "virtfusion_host", "virtfusion_port", "virtfusion_user", "virtfusion_key_file",
    "virtfusion_known_hosts", "virtfusion_api_url", "virtfusion_api_token", "virtfusion_ca_path",
    "report_file", "disruption_url", "disruption_ca_path", "record_dir",
)
# environment variables that could point a playbook at the real system: never passed to the rehearsal's run
REAL_ENV_PREFIXES = ("AVI_", "TRITON_", "SDC_", "VIRTFUSION_")
DEFAULT_WINDOW = {"evacuate_host": 4, "move_back_se": 4, "move_back_host": 4, "maintain_fleet": 4}
VF_STORAGE_UNKNOWN = "virtfusion.hypervisors[*].storage"
# where the rehearsal's run keeps its intent records (never the operator's FLEETOPS_RECORD_DIR), under the work dir
INTENT_DIR = "intent"


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _dump_json(path, doc, private=False):
    text = json.dumps(doc, indent=2, sort_keys=True)
    if private:
        _write_private(path, text)
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def _scalar(text):
    value = yaml.safe_load(text)
    return text if value is None and text not in ("null", "~", "") else value


def translate(value, table):
    """The operator's variable with every real name the twin pseudonymised replaced by its pseudonym (strings,
    comma-separated lists, lists)."""
    if isinstance(value, str):
        if "," in value:
            return ",".join(table.get(part.strip(), part.strip()) for part in value.split(","))
        return table.get(value, value)
    if isinstance(value, list):
        return [translate(v, table) for v in value]
    if isinstance(value, dict):   # a budget group: its members, and its tags' keys and values (Triton)
        out = dict(value)
        if isinstance(out.get("members"), list):
            out["members"] = translate(out["members"], table)
        if isinstance(out.get("tags"), dict):
            out["tags"] = dict((table.get(str(k), k), table.get(str(v), v)) for k, v in out["tags"].items())
        return out
    return value


def _names_table(names_file):
    if not names_file:
        return {}, {}
    mapping = _load(names_file) or {}
    table = {}
    for key, entries in mapping.items():
        if key.startswith(("names/", "uuids/")):
            table.update((str(k), str(v)) for k, v in (entries or {}).items())
    return table, mapping


def _connection_vars(provider, info, creds, twin_doc):
    """The extra vars that point the collection's playbooks at the rehearsal's lab."""
    if provider == "avi":
        return {"avi_controller": info["avi"]["url"].split("://", 1)[1], "avi_username": creds["avi_username"],
                "avi_password": creds["avi_password"], "avi_ca_path": info["ca_path"], "avi_tenant": "admin"}
    if provider == "triton":
        t = info["triton"]
        out = {"triton_vmapi_url": t["operator_url"], "triton_cnapi_url": t["operator_url"],
               "triton_ca_path": info["ca_path"], "triton_url": t["url"]}
        accounts = sorted(t.get("accounts") or {})
        if accounts:
            out.update(triton_account=accounts[0], triton_key_id=t["accounts"][accounts[0]],
                       triton_key_file=t["key_files"][accounts[0]])
        return out
    ssh = info["virtfusion"]["ssh"]
    return {"virtfusion_host": ssh["host"], "virtfusion_port": ssh["port"], "virtfusion_user": ssh["user"],
            "virtfusion_key_file": ssh["private_key"], "virtfusion_known_hosts": ssh["known_hosts"],
            "virtfusion_api_url": info["virtfusion"]["url"], "virtfusion_api_token": creds["virtfusion_api_token"],
            "virtfusion_ca_path": info["ca_path"]}


def _lab(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def hosts_of(maintenance, provider, variables):
    """The node a run empties (``source_host``: evacuate_host's compute_node or hypervisor), and for a move back the
    node it returns to and what returns there (``return_host``, ``returning``: from the evacuation's run record)."""
    if provider == "avi":
        return {"source_host": None}
    if maintenance == "maintain_fleet":
        return fleet.hosts(variables)
    if maintenance != "move_back_host":
        return {"source_host": variables.get("compute_node") if provider == "triton" else variables.get("hypervisor")}
    record = _record(variables.get("record") or "") or {}
    returning = [str(step.get("target")) for step in (record.get("steps") or [])[1:]
                 if step.get("target_type") in ("instance", "server") and (step.get("details") or {}).get("id")]
    return {"source_host": None, "return_host": (record.get("details") or {}).get("server"), "returning": returning}


def budgets_of(variables):
    """The operator's ``budgets`` (a list, or its YAML text as extra vars give it), or None."""
    value = variables.get("budgets")
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            return None
    return [g for g in value if isinstance(g, dict)] if isinstance(value, list) else None


def _provider_of(maintenance, variables):
    playbook, provider = MAINTENANCE[maintenance]
    return playbook, provider or variables.get("provider") or "triton"


def cmd_prepare(a):
    twin = _load(a.twin)
    if not isinstance(twin, dict) or (twin.get("twin") or {}).get("format") != TWIN_FORMAT:
        raise SystemExit(f"{a.twin} is not a twin written by fleetops.maintenance.twin_export ({TWIN_FORMAT})")
    variables = (_load(a.vars_file) if a.vars_file else {}) or {}
    if not isinstance(variables, dict):
        raise SystemExit(f"{a.vars_file}: the maintenance's variables must be a mapping")
    playbook, provider = _provider_of(a.maintenance, variables)
    if a.maintenance == "maintain_fleet":   # refused before the lab starts
        fleet.check_provider(provider)
        fleet.hosts(variables)
    if twin["twin"]["provider"] != provider:
        raise SystemExit(f"maintenance {a.maintenance} (provider {provider}) needs a twin of {provider}, not of "
                         f"{twin['twin']['provider']} ({a.twin})")
    if a.maintenance == "move_back_host":   # refused before the lab starts
        if twin["twin"].get("pseudonymised"):
            raise SystemExit("maintenance move_back_host: the evacuation's record names the real instances and node; "
                             "rehearse it on a twin exported without pseudonymise")
        if not _record(str(variables.get("record") or "")):
            raise SystemExit("maintenance move_back_host: the variable record must name the evacuation's run record "
                             "(a readable JSON file), got %r" % variables.get("record"))
    work = os.path.abspath(a.work_dir)
    os.makedirs(os.path.join(work, "maintenance"), exist_ok=True)
    run = dict(twin)
    run["twin"] = dict(twin["twin"])
    assume = dict(run["twin"].get("assume") or {})
    for item in a.assume or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--assume wants KEY=VALUE, got {item!r}")
        assume[key.strip()] = _scalar(value.strip())
    run["twin"]["assume"] = assume
    run["time_scale"] = a.time_scale
    if a.timing_file:
        timing = _load(a.timing_file) or {}
        for key in ("timing", "upgrade_timing"):
            if key in timing:
                run[key] = dict(run.get(key) or {}, **timing[key])
        for plane in ("triton", "virtfusion"):
            if (timing.get(plane) or {}).get("timing") and isinstance(run.get(plane), dict):
                run[plane] = dict(run[plane], timing=dict(run[plane].get("timing") or {}, **timing[plane]["timing"]))
    topo_path = os.path.join(work, "run-topology.yml")
    _write_private(topo_path, yaml.safe_dump(run, sort_keys=False))
    state = os.path.join(work, "lab")
    p = _lab("start", "--topology", topo_path, "--state-dir", state, "--reset", "--max-lifetime", str(a.max_lifetime))
    if p.returncode != 0:
        raise SystemExit(f"the lab did not start from the twin: {p.stderr.strip() or p.stdout.strip()}")
    info = lab_info(state)
    with open(os.path.join(state, "twin.json"), encoding="utf-8") as fh:
        resolved = json.load(fh)
    table, mapping = _names_table(a.names_file)
    ignored = sorted(k for k in variables if k in CONNECTION_VARS)
    maint_vars = dict((k, translate(v, table)) for k, v in variables.items() if k not in CONNECTION_VARS)
    if a.maintenance == "move_back_host":
        # the rehearsal reads a copy: the operator's record is never written
        maint_vars["record"] = os.path.join(work, "evacuation-record.json")
        shutil.copyfile(variables["record"], maint_vars["record"])
    maint_vars.update(_connection_vars(provider, info, resolved["credentials"], twin))
    if provider == "avi" and not variables.get("avi_api_version"):
        maint_vars["avi_api_version"] = str((twin.get("controller") or {}).get("version") or "22.1.3")
    maint_vars["report_file"] = os.path.join(work, "maintenance", "run.json")
    assumptions = []
    if a.maintenance == "maintain_fleet":   # the operator's tasks never run: they would act on real machines
        assumptions.append(fleet.stand_in(variables, maint_vars, work, a.time_scale, ignored))
    for made in resolved.get("assumptions") or []:
        if made not in assumptions:   # one line per field, not one per object
            assumptions.append(made)
    unknown = set(u.get("field") for u in twin["twin"].get("unknown") or [])
    if provider == "virtfusion" and VF_STORAGE_UNKNOWN in unknown:
        # the twin has no hypervisor storage, so the lab's answer lists no destination storage per drive: the storage
        # pre-check is unknown in the rehearsal whatever the real system answers; it is accepted, and said so
        accepted = [x.strip() for x in (maint_vars.get("accept_unverified") or "").split(",") if x.strip()] \
            if isinstance(maint_vars.get("accept_unverified") or "", str) else list(maint_vars["accept_unverified"])
        if "storage" not in accepted:
            maint_vars["accept_unverified"] = ",".join(accepted + ["storage"])
            assumptions.append({"field": "the storage pre-check (destination storage per drive)",
                                "assumed": "passes (accept_unverified: storage, in the rehearsal only)",
                                "source": "the twin has no hypervisor storage: %s" % VF_STORAGE_UNKNOWN})
        if a.maintenance == "maintain_fleet":
            assumptions.append(fleet.accept_drive_sizes(maint_vars, VF_STORAGE_UNKNOWN))
    _dump_json(os.path.join(work, "maintenance-vars.json"), maint_vars, private=True)
    before = snapshot(state, provider)
    _dump_json(os.path.join(work, "before.json"), before)
    hosts = hosts_of(a.maintenance, provider, maint_vars)
    hosts["budgets"] = budgets_of(variables)   # the operator's names: the forecast translates the lab's back
    if a.maintenance == "maintain_fleet":
        fleet.refuse_operator_tasks(variables, maint_vars)
    meta = {"maintenance": a.maintenance, "playbook": playbook, "provider": provider, "twin": os.path.abspath(a.twin),
            "source": twin["twin"].get("source"), "pseudonymised": twin["twin"].get("pseudonymised"),
            "time_scale": a.time_scale, "assume": assume, "assumptions": assumptions,
            "model": resolved.get("model") or {}, "unknown": resolved.get("unknown") or [],
            "ignored_vars": ignored, "hosts": hosts,
            "window": maint_vars.get("concurrency", DEFAULT_WINDOW.get(a.maintenance, 1)),
            "names": mapping, "lab_state": state, "python": a.python or sys.executable}
    _dump_json(os.path.join(work, "rehearsal.json"), meta)
    summary = dict((k, v) for k, v in meta.items() if k != "names")
    summary["lab"] = {"planes": info.get("planes"), "time_scale": info.get("time_scale")}
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def _clean_env():
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(REAL_ENV_PREFIXES))
    return env


def _maintenance_env(work):
    env = _clean_env()
    env["FLEETOPS_RECORD_DIR"] = os.path.join(work, INTENT_DIR)
    return env


def cmd_maintain(a):
    work = os.path.abspath(a.work_dir)
    with open(os.path.join(work, "rehearsal.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    python = a.python or meta.get("python") or sys.executable
    playbook_cmd = a.ansible_playbook or os.path.join(os.path.dirname(python), "ansible-playbook")
    if not os.path.exists(playbook_cmd):
        playbook_cmd = shutil.which("ansible-playbook") or "ansible-playbook"
    cmd = [playbook_cmd, "fleetops.maintenance." + meta["playbook"], "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + python, "-e", "@" + os.path.join(work, "maintenance-vars.json")]
    log_path = os.path.join(work, "maintenance.log")
    started = time.time()
    t0 = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=_maintenance_env(work), cwd=work,
                            check=False).returncode
    wall = time.monotonic() - t0
    _dump_json(os.path.join(work, "maintenance.json"), {"rc": rc, "wall": wall, "started": started,
                                                        "command": cmd[:2]})
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        tail = fh.read().splitlines()[-a.tail:]
    print("\n".join(tail))
    print(json.dumps({"rc": rc, "wall_seconds": round(wall, 2), "log": log_path}))
    return 0


def _record(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def cmd_forecast(a):
    work = os.path.abspath(a.work_dir)
    with open(os.path.join(work, "rehearsal.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with open(os.path.join(work, "before.json"), encoding="utf-8") as fh:
        before = json.load(fh)
    run = _record(os.path.join(work, "maintenance.json")) or {}
    after = snapshot(meta["lab_state"], meta["provider"])
    _dump_json(os.path.join(work, "after.json"), after)
    topology = _load(os.path.join(work, "run-topology.yml"))
    ctx = {"maintenance": meta["maintenance"], "topology": topology, "model": meta.get("model"),
           "assume": meta.get("assume"), "assumptions": meta.get("assumptions"), "wall": run.get("wall"),
           "rc": run.get("rc"), "record": _record(os.path.join(work, "maintenance", "run.json")),
           "names": meta.get("names"), "window": meta.get("window")}
    ctx.update(meta.get("hosts") or {})
    fleet_run = meta["maintenance"] == "maintain_fleet"
    result = (fleet.compute if fleet_run else forecasting.compute)(before, after, ctx, "forecast")
    result["twin"] = {"file": meta["twin"], "source": meta.get("source"), "unknown": meta.get("unknown"),
                      "pseudonymised": meta.get("pseudonymised")}
    result["ignored_vars"] = meta.get("ignored_vars")
    result["files"] = {"work_dir": work, "maintenance_log": os.path.join(work, "maintenance.log"),
                       "maintenance_record": os.path.join(work, "maintenance", "run.json")}
    epoch = datetime.datetime.fromtimestamp(run.get("started") or time.time(), datetime.timezone.utc)
    result["record_steps"] = (fleet.record_steps if fleet_run else timeline.record_steps)(result, epoch)
    _dump_json(os.path.join(work, "forecast.json"), result)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def cmd_stop(a):
    state = os.path.join(os.path.abspath(a.work_dir), "lab")
    p = _lab("stop", "--state-dir", state)
    print((p.stdout or p.stderr).strip())
    return 0


def cmd_observe(a):
    _dump_json(a.out, snapshot(a.lab_state, a.provider))
    return 0


def measure_run(lab_state, before, after, maintenance, variables, wall=None, rc=0, record=None):
    """The numbers of a run on the lab at ``lab_state`` (the real run, in the demonstration), the same way a
    forecast counts them."""
    info = lab_info(lab_state)
    provider = before["provider"]
    variables = variables or {}
    ctx = {"maintenance": maintenance, "topology": _load(info["topology"]), "wall": wall, "rc": rc, "record": record,
           "window": variables.get("concurrency", DEFAULT_WINDOW.get(maintenance, 1))}
    ctx.update(hosts_of(maintenance, provider, variables), budgets=budgets_of(variables))
    return (fleet.compute if maintenance == "maintain_fleet" else forecasting.compute)(before, after, ctx, "measured")


def cmd_measure(a):
    with open(a.before, encoding="utf-8") as fh:
        before = json.load(fh)
    if a.after:
        with open(a.after, encoding="utf-8") as fh:
            after = json.load(fh)
    else:
        after = snapshot(a.lab_state, before["provider"])
    variables = (_load(a.vars_file) if a.vars_file else {}) or {}
    result = measure_run(a.lab_state, before, after, a.maintenance, variables, a.wall, a.rc,
                         _record(a.record) if a.record else None)
    if a.out:
        _dump_json(a.out, result)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def cmd_compare(a):
    with open(a.forecast, encoding="utf-8") as fh:
        forecast = json.load(fh)
    with open(a.measured, encoding="utf-8") as fh:
        measured = json.load(fh)
    result = comparing.compare(forecast, measured)
    print("\n".join(comparing.lines(result)))
    if a.out:
        _dump_json(a.out, result)
    return 0 if result["agree"] else 1


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m rehearsal", description="rehearse a maintenance on a twin in the lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("prepare", help="start the lab from a twin, translate the variables, keep the state before")
    s.add_argument("--twin", required=True, help="the twin file (fleetops.maintenance.twin_export)")
    s.add_argument("--work-dir", required=True)
    s.add_argument("--maintenance", required=True, choices=sorted(MAINTENANCE))
    s.add_argument("--vars-file", help="the maintenance's variables (YAML or JSON), as for the real run")
    s.add_argument("--names-file", help="the twin's table of pseudonyms (twin_export names_file)")
    s.add_argument("--time-scale", type=float, default=0.01, help="real seconds per lab second (default 0.01)")
    s.add_argument("--assume", action="append", metavar="KEY=VALUE",
                   help="an assumption for an unknown field (lab/twin.py ASSUME), e.g. max_se_on_host=4")
    s.add_argument("--timing-file", help="YAML with the lab's operation durations: timing, upgrade_timing, "
                   "triton.timing, virtfusion.timing (lab seconds)")
    s.add_argument("--max-lifetime", type=float, default=7200.0)
    s.add_argument("--python", help="the Python interpreter of the maintenance run (default: this one)")
    s.set_defaults(fn=cmd_prepare)
    s = sub.add_parser("maintain", help="run the collection's playbook against the rehearsal's lab")
    s.add_argument("--work-dir", required=True)
    s.add_argument("--ansible-playbook", help="the ansible-playbook command (default: next to the interpreter)")
    s.add_argument("--python", help="the interpreter for the modules (default: prepare's)")
    s.add_argument("--tail", type=int, default=60, help="lines of the run's output to print")
    s.set_defaults(fn=cmd_maintain)
    s = sub.add_parser("forecast", help="the forecast from the lab's state after the run")
    s.add_argument("--work-dir", required=True)
    s.set_defaults(fn=cmd_forecast)
    s = sub.add_parser("stop", help="stop the rehearsal's lab")
    s.add_argument("--work-dir", required=True)
    s.set_defaults(fn=cmd_stop)
    s = sub.add_parser("observe", help="snapshot a lab's reports (before a run to measure)")
    s.add_argument("--lab-state", required=True)
    s.add_argument("--provider", required=True, choices=sorted(forecasting.VENDORS))
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_observe)
    s = sub.add_parser("measure", help="the numbers of a run on a lab, like a forecast's")
    s.add_argument("--lab-state", required=True)
    s.add_argument("--before", required=True)
    s.add_argument("--after", help="a later snapshot (default: take one now)")
    s.add_argument("--maintenance", required=True, choices=sorted(MAINTENANCE))
    s.add_argument("--vars-file")
    s.add_argument("--wall", type=float, help="the run's wall time, real seconds")
    s.add_argument("--rc", type=int, default=0)
    s.add_argument("--record", help="the run's record (report_file)")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_measure)
    s = sub.add_parser("compare", help="a forecast against a measurement, with the tolerances")
    s.add_argument("--forecast", required=True)
    s.add_argument("--measured", required=True)
    s.add_argument("--out")
    s.set_defaults(fn=cmd_compare)
    a = p.parse_args(argv)
    return a.fn(a)
