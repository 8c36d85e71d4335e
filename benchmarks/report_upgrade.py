"""Print the upgrade benchmark (scripts/bench-upgrade.sh): per run, the wall time of the playbook,
the ideal from the lab's own durations, their ratio, and the VS-seconds of disruption.

The ideal of a run that upgrades the SE groups in parallel is the controller phase plus the longest SE
group's sum of SE upgrade times (the vendor upgrades the SEs of a group one after another) plus, when it
protects, one parallel protection round (the longest scale-out plus the longest scale-in); of a strictly
serial run (SE groups one at a time), the controller phase plus every SE's upgrade time plus one
protection round per SE group. Durations are the lab's operations (/_lab/stats), in real seconds.
"""
import json
import os
import sys


def load(out, name, what):
    with open(os.path.join(out, "%s.%s" % (name, what))) as stream:
        return stream.read() if what == "playbook-times" else json.load(stream)


def figures(out, name):
    t0, t1 = (float(x) for x in load(out, name, "playbook-times").split())
    stats = load(out, name, "stats.json")
    summary = load(out, name, "upgrade.json")
    group_of = {se: group for group, g in summary["se_groups"].items() for se in g["service_engines"]}
    ops = stats["operations"]
    controller = sum(op["real_seconds"] for op in ops if op["kind"] == "controller_upgrade")
    per_group = {}
    for op in ops:
        if op["kind"] == "se_upgrade" and op["result"] == "success":
            per_group.setdefault(group_of.get(op["target"], "?"), []).append(op["real_seconds"])
    every_se = sum(sum(v) for v in per_group.values())
    rounds = [max((op["real_seconds"] for op in ops if op["kind"] == kind and op["result"] == "success"),
                  default=0.0) for kind in ("scaleout", "scalein")]
    longest = max((sum(v) for v in per_group.values()), default=0.0)
    disruption = load(out, name, "disruption.json")
    ses = sum(len(v) for v in per_group.values())
    return {"wall": t1 - t0, "controller": controller, "protection_round": sum(rounds), "longest_group": longest, "every_se": every_se,
            "ses": ses, "groups": len(per_group), "vs_seconds": disruption["total_vs_seconds"],
            "vs_real_seconds": disruption["total_vs_real_seconds"],
            "versions": sorted({se["version"] for g in summary["se_groups"].values()
                                for se in g["service_engines"].values()})}


def main(out, names):
    labels = {"role_parallel": "rolling_upgrade default (SE groups in one request, protected)",
              "role_serial": "strictly serial (SE groups one at a time, protected)",
              "vendor_system": "controller's own system upgrade (disruptive)",
              "vendor_system_protected": "controller's system upgrade + the role's protection"}
    print()
    print("| run | SEs upgraded | wall | ideal | ratio | disruption (VS-seconds, lab) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        f = figures(out, name)
        serial = name == "role_serial"
        ideal = f["controller"] + ((f["every_se"] + f["groups"] * f["protection_round"]) if serial else
                                   (f["longest_group"] + f["protection_round"]))
        print("| %s | %d in %d groups (now %s) | %.1f s | %.1f s | %.2f | %.0f |" % (
            labels.get(name, name), f["ses"], f["groups"], "/".join(f["versions"]), f["wall"], ideal,
            f["wall"] / ideal if ideal else float("nan"), f["vs_seconds"]))
    print()
    print("ideal: the controller phase plus the longest SE group's sum of SE upgrade times plus one parallel "
          "protection round (strictly serial: every SE's upgrade time plus one round per SE group), from the lab's "
          "own operation durations in real seconds.")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
