"""`make bench-virtfusion` driver (scripts/bench-virtfusion.sh starts the lab and passes its lab.json).

Part 1, convergence: busy-1 (64 MiB) dirties its memory at a fixed rate; it is live-migrated back and forth
between hv-a and hv-b by instance_migrate (`ansible -m`, the collection as a user runs it) with a capped
link and different options. For each run: QEMU's measured downtime against max_downtime, total time,
bytes, sync passes, the CPU throttle auto-converge reached, post-copy bytes.

Part 2, evacuation: srv-1..8 (idle 32 MiB guests) leave hv-src for hv-dst through the host_evacuate role
(benchmarks/evacuate_hypervisor.yml), with a window of 4 and one at a time. Wall time of the play, the
ideal from the module's per-server times (max(longest, sum/N)), their ratio, QEMU's total downtime.
"""
import json
import os
import re
import subprocess
import sys
import time

import requests
import yaml
from time_split import ENDS_HEADER, ENDS_LEGEND, HEADER, LEGEND, ends, ends_row, floor_text, gap_report, row, split

STAMP_PYTHON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stamp_python.sh")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSY = 100
# the live requirements no read-only VirtFusion call shows (vfcli-ctrl's start runs them): accepted by name
UNREADABLE = ["storage_enabled", "destination_ssh", "cpu_compatible", "nat_interfaces"]
LINK = 10          # --xfer-speed, MiB/s
CONVERGENCE = [    # (label, module options)
    ("max_downtime 5 ms", {"max_downtime": 5}),
    ("max_downtime 50 ms", {"max_downtime": 50}),
    ("max_downtime 300 ms (default)", {}),
    ("max_downtime 1000 ms", {"max_downtime": 1000}),
    ("pre-copy only (no auto-converge)", {"auto_converge": {"enabled": False}, "abort_after": 300}),
    ("auto-converge 70% + 15%", {"auto_converge": {"initial": 70, "increment": 15}}),
    ("post-copy (no auto-converge)", {"post_copy": True, "auto_converge": {"enabled": False}}),
]


class Bench:
    def __init__(self, lab_json, topology, out):
        with open(lab_json) as fh:
            self.info = json.load(fh)
        with open(topology) as fh:
            self.token = yaml.safe_load(fh)["virtfusion"]["api_token"]
        self.out = out
        self.vf = self.info["virtfusion"]
        self.ca = self.info["ca_path"]

    def admin(self, method, path, body=None):
        r = requests.request(method, f"{self.vf['url']}/_lab/{path}", json=body, verify=self.ca, timeout=120)
        r.raise_for_status()
        return r.json()

    def env(self):
        ssh = self.vf["ssh"]
        env = dict(os.environ)
        env.update({"VIRTFUSION_HOST": ssh["host"], "VIRTFUSION_SSH_PORT": str(ssh["port"]),
                    "VIRTFUSION_SSH_USER": ssh["user"], "VIRTFUSION_SSH_KEY_FILE": ssh["private_key"],
                    "VIRTFUSION_KNOWN_HOSTS": ssh["known_hosts"], "VIRTFUSION_API_URL": self.vf["url"],
                    "VIRTFUSION_API_TOKEN": self.token, "VIRTFUSION_CA_PATH": self.ca, "ANSIBLE_NOCOLOR": "1"})
        return env

    def module(self, args):
        cmd = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-e",
               "ansible_python_interpreter=" + sys.executable, "-m", "fleetops.maintenance.instance_migrate",
               "-a", json.dumps(dict({"provider": "virtfusion", "accept_unverified": UNREADABLE}, **args)), "-o"]
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=900, check=False)
        wall = time.monotonic() - t0
        try:
            return json.loads(p.stdout.split("=>", 1)[1]), wall
        except (IndexError, ValueError):
            raise SystemExit("instance_migrate gave no result:\n" + p.stdout[-3000:] + p.stderr[-3000:])

    def where(self, sid):
        world = self.admin("GET", "world")
        return next(s["hypervisorId"] for s in world["servers"] if s["id"] == sid)

    def calibrate(self, target=24, working_set=8, tries=4):
        """Reboot busy-1 alone until its guest writes near the asked rate: the guest calibrates its write loop
        once at boot, and a boot among many (the lab's start) calibrates it on a busy CPU."""
        rate = None
        for _i in range(tries):
            self.admin("POST", f"servers/{BUSY}/dirty-rate", {"rate": target, "working_set": working_set})
            time.sleep(1)
            rate = self.admin("GET", f"servers/{BUSY}/dirty-rate")
            if 0.5 * target <= rate["guest_written_mib_s"] <= 1.5 * target:
                break
        return rate

    def convergence(self, repeats):
        rate = self.calibrate()
        rows = []
        for rep in range(repeats):
            for label, opts in CONVERGENCE:
                dst = 2 if self.where(BUSY) == 1 else 1
                res, wall = self.module(dict({"instance": str(BUSY), "target_server": str(dst), "xfer_speed": LINK,
                                              "timeout": 600}, **opts))
                mig = self.admin("GET", f"servers/{BUSY}/migration")
                q = mig["qemu"]
                if res.get("measured") and mig["status"] == "complete":
                    assert res["measured"]["downtime_ms"] == q["downtimeMs"], (res["measured"], q)
                samples = q["samples"] or []
                written = [x["guest_write_mib_s"] for x in samples if x.get("guest_write_mib_s") is not None]
                result = mig["status"] + (" (aborted)" if mig["aborted"] else "")
                rows.append({"run": label, "repeat": rep + 1, "result": result,
                             "max_downtime_ms": q["parameters"]["downtime-limit"], "downtime_ms": q["downtimeMs"],
                             "total_ms": q["totalTimeMs"] or max([x["t_ms"] for x in samples] or [0]),
                             # an aborted run has no final numbers: the last one-second sample's
                             "bytes": q["transferredBytes"] or max([x["transferred"] or 0 for x in samples] or [0]),
                             "postcopy_bytes": q["postcopyBytes"],
                             "passes": q["dirtySyncCount"] or max([x["dirty_sync_count"] or 0 for x in samples] or [0]),
                             "throttle": q["maxThrottlePercent"],
                             "guest_mib_s": round(sum(written) / len(written), 1) if written else None,
                             "module_wall": wall})
                if mig["status"] != "complete":   # exit the failed migration; busy-1 stays where it is
                    self.module({"instance": str(BUSY), "state": "cancelled"})
        with open(os.path.join(self.out, "convergence.json"), "w") as fh:
            json.dump({"rate": rate, "rows": rows}, fh, indent=1)
        return rate, rows

    def play(self, concurrency, out):
        """Run benchmarks/evacuate_hypervisor.yml (hv-src into hv-dst, a window of ``concurrency``); its saved JSON."""
        # every process Ansible starts on the target is stamped as it starts and ends (benchmarks/stamp_python.sh)
        stamps = out[:-len(".json")] + ".stamps"
        if os.path.exists(stamps):
            os.remove(stamps)
        cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
               "ansible_python_interpreter=" + STAMP_PYTHON, "-e", "bench_server=hv-src",
               "-e", "bench_destination=hv-dst", "-e", f"bench_concurrency={concurrency}", "-e", f"bench_out={out}",
               os.path.join(ROOT, "benchmarks", "evacuate_hypervisor.yml")]
        p = subprocess.run(cmd, cwd=ROOT, env=dict(self.env(), VIRTFUSION_TIMEOUT="120", BENCH_PYTHON=sys.executable,
                                                   BENCH_STAMPS=stamps),
                           capture_output=True, text=True, timeout=1800, check=False)
        if p.returncode != 0:
            raise SystemExit(p.stdout[-4000:])
        with open(out) as fh:
            return json.load(fh)

    def floor(self):
        """The same play once more, side by side, right after an evacuation: hv-src is empty, nothing is left to
        move. Its wall is what no module design takes out: Ansible's tasks, the role's reads and checks, the
        module's start and its reads, the result's way back."""
        run = self.play(4, os.path.join(self.out, "evacuate_floor.json"))
        moved = [s for s in run["report"]["servers"] if s.get("result") == "migrated"]
        if moved:
            raise SystemExit("the floor run migrated %d server(s)" % len(moved))
        with open(os.path.join(self.out, "evacuate_floor.requests.json"), "w") as fh:
            json.dump({"requests": self.admin("GET", "requests")["requests"]}, fh)
        return run["end"] - run["start"], ends(self.out, "evacuate_floor", run)

    def evacuation(self, concurrency):
        self.admin("POST", "reset")
        self.admin("POST", f"servers/{BUSY}/dirty-rate", {"rate": 0})   # no busy guest during this part
        self.admin("POST", "time-scale", {"scale": 0.2})               # step overheads: 25 lab s = 5 s each
        self.admin("POST", "stats/reset")                              # and the request log
        run = self.play(concurrency, os.path.join(self.out, f"evacuate_{concurrency}.json"))
        servers = run["report"]["servers"]
        secs = [s["seconds"] for s in servers]
        ideal = max(*secs, sum(secs) / concurrency)
        wall = run["end"] - run["start"]
        migs = [m for m in self.admin("GET", "migrations")["migrations"]
                if m["_lab"]["finished_real"] and m["_lab"]["created_real"] >= run["start"]]
        ops = [{"start": m["_lab"]["created_real"], "end": m["_lab"]["finished_real"], "key": str(m.get("serverId"))}
               for m in migs]
        with open(os.path.join(self.out, f"evacuate_{concurrency}.requests.json"), "w") as fh:
            json.dump({"requests": self.admin("GET", "requests")["requests"], "migrations": migs}, fh)
        split_s = split(run["start"], run["end"], ops, self.admin("GET", "requests")["requests"],
                        lambda path: re.findall(r"/servers/(\d+)", path))
        parts = ends(self.out, f"evacuate_{concurrency}", run)
        lab_secs = [o["end"] - o["start"] for o in sorted(ops, key=lambda o: o["start"])]
        lab_ideal = max(lab_secs + [sum(lab_secs) / concurrency]) if lab_secs else float("nan")
        name = "window_%d" % concurrency if concurrency > 1 else "serial_1"
        return {"n": concurrency, "name": name, "split": split_s, "parts": parts, "ops_sum": sum(lab_secs),
                "lab_ideal": lab_ideal, "lab_secs": lab_secs, "wall": wall, "ideal": ideal,
                "moved": sum(1 for s in servers if s["result"] == "migrated"), "ratio": wall / ideal, "sum": sum(secs),
                "downtime_ms": sum(s["downtime_ms"] or 0 for s in servers), "bytes": sum(s["bytes"] for s in servers)}


def main(lab_json, topology, out, repeats="2"):
    b = Bench(lab_json, topology, out)
    if os.environ.get("BENCH_PARTS", "all") == "evacuation":
        return evacuation_report(b)
    rate, rows = b.convergence(int(repeats))
    print(f"Part 1 - busy-1: 64 MiB guest asked to write {rate['target_mib_s']} MiB/s into 8 MiB (it wrote "
          f"{rate['guest_written_mib_s']} MiB/s, QEMU calc-dirty-rate {rate['qemu_dirty_rate_mb_s']} MB/s), link capped "
          f"at {LINK} MiB/s (--xfer-speed); numbers are QEMU's (query-migrate)")
    print(f"{'run':<34} {'#':>1} {'result':<18} {'limit ms':>8} {'downtime ms':>11} {'total s':>7} {'MB sent':>8} "
          f"{'post-copy MB':>12} {'passes':>6} {'throttle %':>10} {'guest MiB/s':>11}")
    print("(guest MiB/s: what the guest itself wrote per second while it was migrated, mean of the one-second samples; "
          "'-' when the run took under two seconds)")
    for r in rows:
        print(f"{r['run']:<34} {r['repeat']:>1} {r['result']:<18} {r['max_downtime_ms']:>8} "
              f"{'-' if r['downtime_ms'] is None else r['downtime_ms']:>11} "
              f"{(r['total_ms'] or 0) / 1000:>7.2f} {(r['bytes'] or 0) / 1e6:>8.1f} "
              f"{(r['postcopy_bytes'] or 0) / 1e6:>12.1f} {r['passes'] or '-':>6} {r['throttle'] or 0:>10} "
              f"{'-' if r['guest_mib_s'] is None else r['guest_mib_s']:>11}")
    print()
    return evacuation_report(b)


def evacuation_report(b):
    evac = [b.evacuation(4), b.evacuation(1)]
    floor, floor_parts = b.floor()
    print("Part 2 - evacuate hv-src (8 idle 32 MiB guests) into hv-dst with host_evacuate; each migration has 25 lab "
          "seconds of step overheads at time scale 0.2 (5 s)")
    print(f"{'run':<18} {'moved':>5} {'play wall':>9} {'ideal':>7} {'ratio':>5} {'sum of migrations':>17} "
          f"{'QEMU downtime total':>19} {'MB sent':>8}")
    for e in evac:
        name = "window of 4" if e["n"] == 4 else "one at a time"
        print(f"{name:<18} {e['moved']:>5} {e['wall']:>8.1f}s {e['ideal']:>6.1f}s {e['ratio']:>5.2f} "
              f"{e['sum']:>16.1f}s {e['downtime_ms']:>16} ms {e['bytes'] / 1e6:>8.1f}")
    print("ideal: the module's per-server times scheduled on N slots, max(longest, sum/N); ratio = play wall / ideal")
    print("\nTime of the play outside the lab's migrations (created to finished, the lab's real-time stamps), by cause "
          "(seconds)\n" + HEADER)
    for e in evac:
        print(row(e["name"], e["split"]))
    print(LEGEND + "\n  (vfcli-ctrl's calls over SSH count as requests from their HTTP call to the lab on; the play "
          "holds the role's reads and checks: every task's start-up is 'rest' after the first request)")
    print("lab's sum of migrations: " + ", ".join("%s %.1f s" % (e["name"], e["ops_sum"]) for e in evac))
    print("lab ideal (the lab's own migration times on N slots, max(longest, sum/N)) and play wall / lab ideal: "
          + ", ".join("%s %.1f s, %.2f" % (e["name"], e["lab_ideal"], e["wall"] / e["lab_ideal"]) for e in evac))
    print(floor_text("the same play with nothing left to move (hv-src empty; the role's tasks too)", floor,
                     "(play wall - floor) / lab ideal",
                     [(e["name"], (e["wall"] - floor) / e["lab_ideal"]) for e in evac]))
    print("\nStart-up and finish of the instance_migrate call in each play, by part (seconds)\n" + ENDS_HEADER)
    for name, parts in [(e["name"], e["parts"]) for e in evac] + [("floor", floor_parts)]:
        print(ends_row(name, parts))
    print(ENDS_LEGEND + "\n  (here the play's start: controller holds the role's tasks before the module's, seen its"
          " tasks after it)")
    print(gap_report("Where each play's wall goes, against the lab ideal", [
        {"name": e["name"], "wall": e["wall"], "ideal": e["lab_ideal"], "split": e["split"], "slots": e["n"],
         "durations": e["lab_secs"] if e["n"] > 1 else None} for e in evac]))
    if any(e["moved"] != 8 for e in evac):
        print("NOT EVERY SERVER MOVED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
