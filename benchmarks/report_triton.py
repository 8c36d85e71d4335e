"""Print the Triton evacuation benchmark table from the files scripts/bench-triton.sh wrote, and
fail when an instance's data did not arrive byte for byte."""
import json
import os
import re
import sys

from time_split import (ENDS_HEADER, ENDS_LEGEND, HEADER, LEGEND, ends, ends_row, floor_text, gap_report, pop_floor,
                        row, split)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def floor_run(out, name):
    """The side-by-side call that had nothing to do (Ansible's task start, the module's start, its
    reads, the result's way back): what no module design can take out. Its saved JSON."""
    with open(os.path.join(out, name + ".json")) as stream:
        run = json.load(stream)
    moved = [m["instance"]["name"] for m in run["migrations"] if m.get("changed")]
    if moved:
        raise SystemExit("the floor call migrated something: %s" % ", ".join(moved))
    return run


def calls(r):
    """Module calls a run made: one for a window, one per batch of N for batches."""
    return -(-r["moved"] // r["n"]) if r["run"].startswith("batches") else 1


def main(out, runs):
    floor_name = pop_floor(runs)
    floor_doc = floor_run(out, floor_name) if floor_name else None
    floor = floor_doc["end"] - floor_doc["start"] if floor_doc else None
    rows, problems, splits, parts = [], [], [], []
    for spec in runs:
        name, n = spec.split(":")
        n = int(n)
        with open(os.path.join(out, name + ".json")) as stream:
            run = json.load(stream)
        with open(os.path.join(out, name + ".lab.json")) as stream:
            lab = json.load(stream)
        scale = lab["time_scale"]
        migs, ops = [], []
        for inst, info in sorted(lab["instances"].items()):
            ops += [{"start": m["started_real"], "end": m["switched_real"], "key": info["uuid"]}
                    for m in info["migrations"] if m.get("started_real") and m.get("switched_real")]
            done = [m for m in info["migrations"] if m["result"] == "switched"]
            if len(done) != 1 or not done[0]["data_intact"] or info["server_hostname"] == "cn-src":
                problems.append(f"{name}: {inst}: migration {done[:1]} server {info['server_hostname']}")
                continue
            migs.append(done[0])
        durations = [(m["switched"] - m["started"]) * scale for m in sorted(migs, key=lambda m: m["started_real"])]
        ideal = max(*durations, sum(durations) / n) if durations else 0.0
        wall = run["end"] - run["start"]
        with open(os.path.join(out, name + ".requests.json")) as stream:
            requests = json.load(stream)["requests"]
        splits.append((name, split(run["start"], run["end"], ops, requests, UUID.findall)))
        parts.append((name, ends(out, name, run)))
        downtime = sum(m["downtime_lab_seconds"] for m in migs)
        rows.append({"run": name, "n": n, "moved": len(migs), "wall": wall, "ideal": ideal,
                     "ratio": wall / ideal if ideal else float("nan"), "sum_migration": sum(durations),
                     "durations": durations, "split": splits[-1][1],
                     "downtime_lab": downtime, "downtime_real": downtime * scale,
                     "bytes": sum(m["bytes_sent"] for m in migs),
                     "intact": sum(1 for m in migs if m["data_intact"])})
    print(f"{'run':<11} {'moved':>5} {'module wall':>11} {'ideal':>7} {'ratio':>6} {'sum of migrations':>17} "
          f"{'downtime (lab s / real s)':>26} {'bytes sent':>11} {'data intact':>11}")
    for r in rows:
        print(f"{r['run']:<11} {r['moved']:>5} {r['wall']:>10.1f}s {r['ideal']:>6.1f}s {r['ratio']:>6.2f} "
              f"{r['sum_migration']:>16.1f}s {r['downtime_lab']:>15.1f} / {r['downtime_real']:>6.2f}s "
              f"{r['bytes']:>11} {r['intact']:>8}/{r['moved']}")
    print("ideal: the lab's own per-migration times (begin request to switch end) scheduled on N slots, "
          "max(longest, sum/N); ratio = module wall / ideal")
    if floor is not None:
        print(floor_text("an instance_migrate call with nothing to do (vm-01, already moved)", floor,
                         "(module wall - floor) / ideal",
                         [(r["run"], (r["wall"] - floor * calls(r)) / r["ideal"]) for r in rows if r["ideal"]]))
        print("  (a batches run is one module call per batch: one floor taken out per batch)")
    print("\nTime outside the lab's migrations (begin request to switch end), by cause (seconds)\n" + HEADER)
    for name, sp in splits:
        print(row(name, sp))
    print(LEGEND)
    if floor_doc:
        parts.append(("floor", ends(out, floor_name, floor_doc)))
    print("\nStart-up and finish of each run, by part (seconds; batches: its first call's start-up, its last call's"
          " finish)\n" + ENDS_HEADER)
    for name, p in parts:
        print(ends_row(name, p))
    print(ENDS_LEGEND)
    print(gap_report("Where each run's wall goes", [
        {"name": r["run"], "wall": r["wall"], "ideal": r["ideal"], "split": r["split"], "slots": r["n"],
         "durations": r["durations"] if r["n"] > 1 and not r["run"].startswith("batches") else None}
        for r in rows if r["ideal"]]))
    if problems:
        print("DATA CHECK FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("data check: every instance switched once, off cn-src, target files equal to the source's at its stop "
          "(SHA-256 of every file)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
