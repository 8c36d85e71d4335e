"""`make bench-scale`: the known cost of the collection's plans at scale (issue 16 items 2 and 3).

On lab topologies generated on the fly (lab/topologies/scale.py) of 1,000, 3,000 and 10,000 virtual
services (10 / 30 / 100 SE groups of 10 SEs) and of 200, 600 and 2,000 Triton instances (on 20 / 60 /
200 compute nodes), it runs one module call per playbook (benchmarks/scale_plan.yml):

- ``se_info``: every SE and the placement of every VS;
- ``se_disable``: the check-mode plan of an SE evacuation (``se_disable --check``);
- ``upgrade``: the check-mode plan of a rolling upgrade (``cluster_upgrade`` scope system);
- ``host_evacuate``: the check-mode plan of a compute-node evacuation (``instance_migrate
  from_server`` in check mode, Triton operator API).

For each it prints the playbook's wall time end to end, the module's own wall and CPU time, API
requests and bytes read (the module's ``api_stats``), the module's peak memory (measured from outside
by the interpreter wrapper benchmarks/rusage_python.py), and the lab's own cost: its time to start and
seed each topology, its memory, and per request the time from arrival to answer (``/_lab/stats``
``service``) and its CPU time. Growth is the exponent between the smallest and the largest size (1.0
is linear). Plots of each number against size go next to the tables (PNG) in build/bench-scale/.

Then, under load (item 3): one SE evacuation (and its plan) on the smallest Avi topology, once as is
and once with the lab answering every API request 200-500 ms late (a ``latency`` fault): the module's
time grows by the latency of its sequential requests, not more.

A benchmark prints numbers; it asserts nothing and make test does not run it.

    python benchmarks/bench_scale.py [--avi 1000,3000,10000] [--triton 200,600,2000] [--no-latency]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lab.cli import admin_call  # noqa: E402  (the lab lives in the repository, not in the collection)

PYTHON = sys.executable
WRAPPER = os.path.join(ROOT, "benchmarks", "rusage_python.py")
PLAY = os.path.join(ROOT, "benchmarks", "scale_plan.yml")
GENERATOR = os.path.join(ROOT, "lab", "topologies", "scale.py")
CLK = os.sysconf("SC_CLK_TCK")
AVI_OPS = ("se_info", "se_disable", "upgrade")
TRITON_OPS = ("host_evacuate",)
MODULES = {"baseline": "ping", "se_info": "se_info", "se_disable": "se_disable", "upgrade": "cluster_upgrade",
           "host_evacuate": "instance_migrate"}
LABELS = {"baseline": "playbook of one ping", "se_info": "se_info (everything)",
          "se_disable": "SE evacuation plan", "upgrade": "rolling upgrade plan",
          "host_evacuate": "compute-node evacuation plan"}


def load():
    with open("/proc/loadavg", encoding="utf-8") as fh:
        return " ".join(fh.read().split()[:3])


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_mem(pid):
    out = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out.get("VmRSS"), out.get("VmHWM")


class Lab:
    """One lab process on a generated topology."""

    def __init__(self, out, plane, size):
        self.plane = plane
        self.state = os.path.join(out, "state", f"{plane}-{size}")
        self.topology = os.path.join(out, "topologies", f"{plane}-{size}.yml")
        os.makedirs(os.path.dirname(self.topology), exist_ok=True)
        arg = ["avi", "--vs", str(size)] if plane == "avi" else ["triton", "--instances", str(size)]
        with open(self.topology, "w", encoding="utf-8") as fh:
            subprocess.run([PYTHON, GENERATOR] + arg, stdout=fh, check=True)

    def start(self):
        started = time.monotonic()
        subprocess.run([PYTHON, "-m", "lab", "start", "--topology", self.topology, "--state-dir", self.state,
                        "--reset", "--max-lifetime", "3600", "--wait", "600"], check=True, stdout=subprocess.DEVNULL,
                       cwd=ROOT)
        self.start_seconds = time.monotonic() - started
        with open(os.path.join(self.state, "lab.json"), encoding="utf-8") as fh:
            self.info = json.load(fh)
        self.pid = self.info["pid"]
        self.rss_after_seed = proc_mem(self.pid)[0]
        return self

    def stop(self):
        subprocess.run([PYTHON, "-m", "lab", "stop", "--state-dir", self.state], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)

    def admin(self, method, path, body=None):
        status, answer = admin_call(self.info, method, path, body, timeout=120, plane=self.plane)
        if status >= 400:
            raise SystemExit(f"lab admin {method} {path}: HTTP {status} {answer}")
        return answer

    def env(self):
        if self.plane == "avi":
            if not hasattr(self, "_ctl"):
                import yaml
                with open(self.topology, encoding="utf-8") as fh:
                    self._ctl = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["controller"]
            return {"AVI_CONTROLLER": self.info["avi"]["url"].split("://", 1)[1], "AVI_CA_PATH": self.info["ca_path"],
                    "AVI_USERNAME": self._ctl["username"], "AVI_PASSWORD": self._ctl["password"]}
        return {"TRITON_VMAPI_URL": self.info["triton"]["operator_url"], "TRITON_CA_PATH": self.info["ca_path"]}


def run_play(out, op, env, extra=None):
    """One playbook run: (wall seconds end to end, the wrapper's record of the module process)."""
    rusage = os.path.join(out, "rusage.jsonl")
    if os.path.exists(rusage):
        os.unlink(rusage)
    args = ["ansible-playbook", "-i", "localhost,", PLAY, "-e", f"bench_op={op}", "-e", f"bench_python={WRAPPER}"]
    for key, value in (extra or {}).items():
        args += ["-e", f"{key}={value}"]
    env = dict(os.environ, BENCH_PYTHON=PYTHON, BENCH_RUSAGE_FILE=rusage, **env)
    started = time.monotonic()
    proc = subprocess.run(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - started
    log = os.path.join(out, "logs", f"{op}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "wb") as fh:
        fh.write(proc.stdout)
    records = []
    if os.path.exists(rusage):
        with open(rusage, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    # the module's own process (not the async wrapper that starts it, nor async_status that reads its result)
    module = [r for r in records if r["argv"] and r["argv"][0].endswith("AnsiballZ_%s.py" % MODULES[op])]
    if proc.returncode != 0 or not module or module[-1].get("failed"):
        sys.stdout.write(proc.stdout.decode("utf-8", "replace")[-3000:])
        raise SystemExit(f"{op}: the playbook failed (rc {proc.returncode}); log in {log}")
    return wall, module[-1]


def measure(out, lab, op, extra):
    lab.admin("POST", "stats/reset")
    cpu0 = proc_cpu(lab.pid)
    wall, mod = run_play(out, op, lab.env(), extra)
    lab_cpu = proc_cpu(lab.pid) - cpu0
    stats = lab.admin("GET", "stats")
    api = mod.get("api_stats") or {}
    return {"op": op, "wall": wall, "module_wall": mod["wall_seconds"], "module_cpu": mod["cpu_seconds"],
            "logic": mod.get("logic_seconds"),
            "max_rss_mib": mod["max_rss_kib"] / 1024.0, "requests": api.get("requests"),
            "bytes_read": api.get("bytes_read"), "lab_requests": sum(stats["requests"].values()),
            "lab_service": stats["service"]["seconds"], "lab_mean_ms": 1000 * (stats["service"]["mean_seconds"] or 0),
            "lab_max_ms": 1000 * stats["service"]["max_seconds"], "lab_cpu": lab_cpu}


def bench_plane(out, plane, sizes, ops, extra, rows, labs):
    for size in sizes:
        lab = Lab(out, plane, size).start()
        try:
            for op in ops:
                row = measure(out, lab, op, extra(size))
                row.update(plane=plane, size=size)
                rows.append(row)
                print("  %-6s %6d %-14s wall %6.2f s, module %5.2f s, %4d requests, %6.2f MB, %5.0f MiB; lab %5.2f s"
                      % (plane, size, op, row["wall"], row["module_wall"], row["requests"], row["bytes_read"] / 1e6,
                         row["max_rss_mib"], row["lab_service"]), flush=True)
            rss, hwm = proc_mem(lab.pid)
            labs.append({"plane": plane, "size": size, "start": lab.start_seconds, "rss_mib": lab.rss_after_seed / 1024.0,
                         "peak_mib": hwm / 1024.0})
        finally:
            lab.stop()


def growth(rows, key):
    if len(rows) < 2 or not rows[0][key] or not rows[-1][key]:
        return None
    return math.log(rows[-1][key] / rows[0][key]) / math.log(rows[-1]["size"] / rows[0]["size"])


def tables(rows, labs, baseline):
    lines = []
    lines.append("Fixed cost: a playbook of one ping takes %.2f s end to end (its module %.2f s, %.0f MiB)."
                 % (baseline["wall"], baseline["module_wall"], baseline["max_rss_mib"]))
    lines.append("")
    head = ("| plane | size | operation | wall (s) | module (s) | module CPU (s) | requests | MB read | peak MiB "
            "| lab answer (s) | lab ms/request | lab CPU (s) |")
    lines += [head, "|" + "---|" * 12]
    for r in rows:
        lines.append("| %s | %d | %s | %.2f | %.2f | %.2f | %d | %.2f | %.0f | %.2f | %.1f | %.2f |" % (
            r["plane"], r["size"], LABELS[r["op"]], r["wall"], r["module_wall"], r["module_cpu"], r["requests"],
            r["bytes_read"] / 1e6, r["max_rss_mib"], r["lab_service"], r["lab_mean_ms"], r["lab_cpu"]))
    lines.append("")
    lines.append("Growth (exponent of size from the smallest to the largest; 1.0 is linear):")
    lines.append("")
    lines += ["| operation | wall | module | requests | bytes | peak memory | lab answer |", "|" + "---|" * 7]
    for op in AVI_OPS + TRITON_OPS:
        sel = [r for r in rows if r["op"] == op]
        if len(sel) < 2:
            continue
        g = [growth(sel, k) for k in ("wall", "module_wall", "requests", "bytes_read", "max_rss_mib", "lab_service")]
        lines.append("| %s | %s |" % (LABELS[op], " | ".join("%.2f" % x if x is not None else "-" for x in g)))
    lines.append("")
    lines += ["| lab | size | start and seed (s) | RSS after seed (MiB) | peak RSS (MiB) |", "|" + "---|" * 5]
    for lab in labs:
        lines.append("| %s | %d | %.1f | %.0f | %.0f |"
                     % (lab["plane"], lab["size"], lab["start"], lab["rss_mib"], lab["peak_mib"]))
    return lines


def plots(out, rows, labs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no plots: matplotlib is not installed: pip install -r benchmarks/requirements.txt)")
        return []
    written = []
    metrics = (("wall", "wall end to end (s)"), ("module_wall", "module wall (s)"), ("requests", "API requests"),
               ("bytes_read", "bytes read (MB)"), ("max_rss_mib", "module peak memory (MiB)"),
               ("lab_service", "lab answering (s)"))
    for plane, unit, ops in (("avi", "virtual services", AVI_OPS), ("triton", "instances", TRITON_OPS)):
        sel = [r for r in rows if r["plane"] == plane]
        if not sel:
            continue
        fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
        for ax, (key, title) in zip(axes.flat, metrics):
            for op in ops:
                pts = [r for r in sel if r["op"] == op]
                xs = [r["size"] for r in pts]
                ys = [r[key] / (1e6 if key == "bytes_read" else 1) for r in pts]
                line, = ax.plot(xs, ys, marker="o", label=LABELS[op])
                if len(xs) > 1 and ys[0]:   # linear growth from the smallest size, for comparison
                    ax.plot(xs, [ys[0] * x / xs[0] for x in xs], linestyle=":", color=line.get_color(), alpha=0.6)
            ax.set_title(title)
            ax.set_xlabel(unit)
            ax.grid(True, alpha=0.3)
        axes.flat[0].legend(fontsize=8)
        fig.suptitle(f"make bench-scale: {plane} plans against size (dotted: linear from the smallest size)")
        fig.tight_layout()
        path = os.path.join(out, f"{plane}.png")
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def latency(out, size, low, high, wait_sleep, repeat):
    """Item 3: the same SE evacuation (and its plan) with and without the lab answering late, alternately
    ``repeat`` times: the mean of the paired differences against the delays the lab injected."""
    lab = Lab(out, "avi", size).start()
    results = []
    try:
        for label, check in (("plan (check mode)", "true"), ("evacuation", "false")):
            pairs = []
            for _i in range(repeat):
                runs = {}
                for mode in ("as is", "late"):
                    lab.admin("POST", "reset")
                    lab.admin("DELETE", "faults")
                    if mode == "late":
                        lab.admin("POST", "faults", {"kind": "latency", "min_seconds": low, "max_seconds": high})
                    row = measure(out, lab, "se_disable", {"bench_se": "g0001-se-01", "bench_check": check,
                                                           "bench_wait_sleep": wait_sleep})
                    stats = lab.admin("GET", "stats")
                    row["operation_seconds"] = stats.get("operation_real_seconds", 0.0)
                    row["delayed"] = stats["service"]["delayed_seconds"]
                    row["delayed_requests"] = stats["service"]["delayed_requests"]
                    runs[mode] = row
                lab.admin("DELETE", "faults")
                pairs.append((runs["as is"], runs["late"]))

            def mean(values):
                values = [v for v in values if v is not None]
                return sum(values) / len(values) if values else float("nan")
            results.append({
                "what": label, "pairs": pairs,
                "requests": (mean(b["requests"] for b, _l in pairs), mean(lt["requests"] for _b, lt in pairs)),
                "delayed_requests": mean(lt["delayed_requests"] for _b, lt in pairs),
                "operation": (mean(b["operation_seconds"] for b, _l in pairs),
                              mean(lt["operation_seconds"] for _b, lt in pairs)),
                "logic": (mean(b["logic"] for b, _l in pairs), mean(lt["logic"] for _b, lt in pairs)),
                "module": (mean(b["module_wall"] for b, _l in pairs), mean(lt["module_wall"] for _b, lt in pairs)),
                "expected_added": mean(lt["delayed"] for _b, lt in pairs),
                "measured_added": mean(lt["logic"] - b["logic"] for b, lt in pairs
                                       if lt["logic"] is not None and b["logic"] is not None),
                "measured_added_wall": mean(lt["module_wall"] - b["module_wall"] for b, lt in pairs)})
    finally:
        lab.stop()
    lines = ["Under load: SE g0001-se-01 of the %d-VS topology, the lab answering every API request %.0f-%.0f ms late "
             "(a latency fault), %d runs each way alternately (means). The module sends its requests one after "
             "another (method controller): all are sequential. Its time is its own clock to its last progress line "
             "(no interpreter start-up); polls sleep at most %s s (wait_sleep)."
             % (size, low * 1000, high * 1000, repeat, wait_sleep), "",
             "| run | requests (as is / late) | sequential | lab operation (s) | module (s) as is / late "
             "| added expected (s) | added measured (s) | measured / expected | module process (s) as is / late |",
             "|" + "---|" * 9]
    for r in results:
        expected = r["expected_added"]
        lines.append("| %s | %.0f / %.0f | %.0f | %.2f / %.2f | %.2f / %.2f | %.2f (%.0f x %.0f ms) | %.2f | %.2f "
                     "| %.2f / %.2f |" % (
                         r["what"], r["requests"][0], r["requests"][1], r["delayed_requests"], r["operation"][0],
                         r["operation"][1], r["logic"][0], r["logic"][1], expected, r["delayed_requests"],
                         1000 * expected / max(1, r["delayed_requests"]), r["measured_added"],
                         r["measured_added"] / expected if expected else float("nan"), r["module"][0], r["module"][1]))
    return lines, results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--avi", default="1000,3000,10000", help="VS counts (comma separated; empty: none)")
    p.add_argument("--triton", default="200,600,2000", help="instance counts (comma separated; empty: none)")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "bench-scale"))
    p.add_argument("--no-latency", action="store_true", help="skip the run under latency (item 3)")
    p.add_argument("--latency-only", action="store_true", help="only the run under latency, on the smallest --avi size")
    p.add_argument("--latency", default="0.2,0.5", help="the fault's min,max seconds")
    p.add_argument("--wait-sleep", default="0.5", help="se_disable wait_sleep in the latency runs")
    p.add_argument("--repeat", type=int, default=3, help="runs each way under latency (alternately)")
    a = p.parse_args(argv)
    a.out = os.path.abspath(a.out)   # the module runs elsewhere: its record file needs a full path
    os.makedirs(a.out, exist_ok=True)
    avi_sizes = [int(x) for x in a.avi.split(",") if x.strip()]
    triton_sizes = [int(x) for x in a.triton.split(",") if x.strip()]
    print(f"bench-scale: load average {load()} at the start (2 cores; numbers are wall times on this machine)")
    rows, labs = [], []
    if a.latency_only:
        low, high = (float(x) for x in a.latency.split(","))
        lines, results = latency(a.out, avi_sizes[0], low, high, a.wait_sleep, a.repeat)
        lines += ["", f"load average {load()} at the end"]
        print("\n" + "\n".join(lines))
        with open(os.path.join(a.out, "latency.md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        with open(os.path.join(a.out, "latency.json"), "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        return 0
    lab = Lab(a.out, "avi", 10).start()   # the fixed cost of a one-task playbook, against a tiny lab
    try:
        baseline = measure(a.out, lab, "baseline", {})
    finally:
        lab.stop()
    print("  baseline: playbook of one ping %.2f s (module %.2f s)" % (baseline["wall"], baseline["module_wall"]))
    bench_plane(a.out, "avi", avi_sizes, AVI_OPS, lambda n: {"bench_se": "g0001-se-01", "bench_version": "22.1.7"},
                rows, labs)
    bench_plane(a.out, "triton", triton_sizes, TRITON_OPS, lambda n: {"bench_server": "cn-0001"}, rows, labs)
    lines = tables(rows, labs, baseline)
    written = plots(a.out, rows, labs)
    results = []
    if not a.no_latency and avi_sizes:
        low, high = (float(x) for x in a.latency.split(","))
        more, results = latency(a.out, avi_sizes[0], low, high, a.wait_sleep, a.repeat)
        lines += [""] + more
    lines += ["", f"load average {load()} at the end"]
    if written:
        lines.append("plots: " + ", ".join(os.path.relpath(w, ROOT) for w in written))
    text = "\n".join(lines)
    print()
    print(text)
    with open(os.path.join(a.out, "results.md"), "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    with open(os.path.join(a.out, "results.json"), "w", encoding="utf-8") as fh:
        json.dump({"baseline": baseline, "rows": rows, "labs": labs, "latency": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
