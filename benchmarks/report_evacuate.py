"""Print the evacuation benchmark table from the files scripts/bench.sh wrote."""
import json
import os
import re
import sys

from time_split import ENDS_HEADER, ENDS_LEGEND, HEADER, LEGEND, ends, ends_row, floor_text, pop_floor, row, split

UUID = re.compile(r"virtualservice-[0-9a-f-]+")


def span(ops):
    """Real seconds from the first operation start to the last end (union of their time)."""
    if not ops:
        return 0.0
    intervals = sorted((op["started_real"], op["ended_real"]) for op in ops)
    total, (cur_start, cur_end) = 0.0, intervals[0]
    for start, end in intervals[1:]:
        if start > cur_end:
            total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    return total + (cur_end - cur_start)


def floor_run(out, name):
    """The side-by-side call that had nothing to do (Ansible's task start, the module's start,
    its login and reads, the result's way back): what no module design can take out. Its saved JSON."""
    with open(os.path.join(out, name + ".json")) as stream:
        run = json.load(stream)
    if run["result"].get("changed"):
        raise SystemExit("the floor call changed something: %s" % run["result"].get("msg"))
    return run


def main(out, names):
    floor_name = pop_floor(names)
    floor_doc = floor_run(out, floor_name) if floor_name else None
    floor = floor_doc["end"] - floor_doc["start"] if floor_doc else None
    rows, splits, parts = [], [], []
    for name in names:
        with open(os.path.join(out, name + ".json")) as stream:
            run = json.load(stream)
        with open(os.path.join(out, name + ".stats.json")) as stream:
            stats = json.load(stream)
        with open(os.path.join(out, name + ".playbook-times")) as stream:
            pb_start, pb_end = (float(x) for x in stream.read().split())
        scale = stats["time_scale"]
        ops = [op for op in stats["operations"] if op.get("ended") is not None]
        for op in ops:
            op["started_real"] = op["started"] * scale
            op["ended_real"] = op["ended"] * scale
        top = [op for op in ops if not op.get("parent")]
        with open(os.path.join(out, name + ".requests.json")) as stream:
            requests = json.load(stream)["requests"]
        splits.append((name, split(run["start"], run["end"],
                                   [{"start": op["started_epoch"], "end": op["ended_epoch"], "key": op.get("vs")}
                                    for op in stats["operations"] if op.get("ended_epoch") and not op.get("parent")],
                                   requests, UUID.findall)))
        parts.append((name, ends(out, name, run)))
        migrations = [op for op in ops if op["kind"] == "migrate"]
        op_real = span(top)
        module_wall = run["end"] - run["start"]
        result = run["result"]
        rows.append({
            "run": name,
            "moved": len([m for m in result.get("moves", []) if m.get("result") == "moved"]),
            "playbook_wall": pb_end - pb_start,
            "module_wall": module_wall,
            "lab_op_real": op_real,
            "lab_op_lab_seconds": sum(op["lab_seconds"] for op in top),
            "migrate_lab_seconds": sum(op["lab_seconds"] for op in migrations),
            "ratio": module_wall / op_real if op_real else float("nan"),
            "outside": module_wall - op_real,
            "logins_lab": stats["logins"],
            "logins_module": result.get("api_stats", {}).get("logins"),
            "requests": result.get("api_stats", {}).get("requests"),
            "scale": scale,
        })
    print("\nEvacuate bench-se-01 (50 VSs), lab time scale %s (1 lab second = %s real seconds)\n"
          % (rows[0]["scale"], rows[0]["scale"]))
    header = ("run", "moved", "playbook s", "module s", "lab op s", "ratio", "outside op s",
              "logins", "API requests")
    print("%-12s %6s %11s %9s %9s %6s %13s %7s %13s" % header)
    for r in rows:
        print("%-12s %6d %11.2f %9.2f %9.2f %6.2f %13.2f %7s %13s" % (
            r["run"], r["moved"], r["playbook_wall"], r["module_wall"], r["lab_op_real"], r["ratio"],
            r["outside"], r["logins_lab"], r["requests"]))
    print("\nlab op s: real time the lab's own operations took (controller: the SE disable; per_vs: the"
          "\n  union of the migrations), i.e. %s x their lab durations; ratio = module s / lab op s;"
          "\n  outside op s = module call time not covered by a lab operation (login, reads, polling)."
          % rows[0]["scale"])
    if floor is not None:
        print(floor_text("the same se_disable call with nothing left to do (the SE disabled and empty)", floor,
                         "(module s - floor) / lab op s",
                         [(r["run"], (r["module_wall"] - floor) / r["lab_op_real"]) for r in rows if r["lab_op_real"]]))
    print("\nTime outside the lab's operations, by cause (seconds)\n" + HEADER)
    for name, s in splits:
        print(row(name, s))
    print(LEGEND)
    if floor_doc:
        parts.append(("floor", ends(out, floor_name, floor_doc)))
    print("\nStart-up and finish of each module call, by part (seconds)\n" + ENDS_HEADER)
    for name, p in parts:
        print(ends_row(name, p))
    print(ENDS_LEGEND)
    for r in rows:
        print("  %s: lab operation time %.0f lab s (migrations %.0f lab s)"
              % (r["run"], r["lab_op_lab_seconds"], r["migrate_lab_seconds"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
