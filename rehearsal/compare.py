"""A forecast (from a rehearsal on a twin) against what a real run measured, with the tolerances the agreement is
judged by. Both come from ``forecast.compute`` (the same lab reports, the same arithmetic)."""

# Tolerances [stated in docs/docsite/rst/guide_rehearsal.rst]
ORDER_MIN_AGREEMENT = 0.8        # share of pairs of work items in the same order (1.0: the same order)
DURATION_REL = 0.35              # whole duration: the collection's own time varies with the machine's load
OPERATIONS_REL = 0.10            # vendor operations: the lab's model, up to its tick
# Triton: the lab times a migration's syncs and switch by its clock (real time / time_scale), so the delays of a loaded
# machine come back multiplied by 1 / time_scale (at 0.05, 0.2 s of delay is 4 lab seconds)
OPERATIONS_REL_BY_PROVIDER = {"triton": 0.20}
DISRUPTION_REL_BY_PROVIDER = {"triton": 0.20}   # the same clock times a Triton switch's downtime
DISRUPTION_REL = 0.10
VF_DOWNTIME_MS_PER_SERVER = 50.0


def _key(provider, item):
    if provider == "avi":
        if item.get("new_se_in"):
            return (item["kind"], "a new SE in %s" % item["new_se_in"])
        return (item["kind"], item["target"])
    if provider == "triton":
        return ("migrate", item["instance"])
    return ("migrate", item["server"])


def _starts(provider, order):
    """Work item -> its start offset at real speed (the first, when one repeats)."""
    out = {}
    for item in order:
        if item.get("start") is not None:
            out.setdefault(_key(provider, item), float(item["start"]))
    return out


def _nth(keys):
    """Each key with its occurrence (1, 2, ...): order_agreement's items are then unique."""
    seen = {}
    out = []
    for k in keys:
        seen[k] = seen.get(k, 0) + 1
        out.append(tuple(k) + (seen[k],))
    return out


def order_agreement(a, b, window=1):
    """Share of the pairs of items common to both sequences that come in the same order (1.0 when fewer than two).
    With a window of N migrations at once, items fewer than N apart in ``a`` may start together: their pairs are not
    ordered."""
    pos_b = dict((k, i) for i, k in enumerate(b))
    common = [k for k in a if k in pos_b]
    pairs = same = 0
    for i in range(len(common)):
        for j in range(i + max(1, int(window or 1)), len(common)):
            pairs += 1
            same += pos_b[common[i]] < pos_b[common[j]]
    return 1.0 if pairs == 0 else same / float(pairs)


def _close(forecast, measured, rel, absolute):
    if forecast is None or measured is None:
        return forecast == measured
    return abs(forecast - measured) <= max(rel * abs(measured), absolute)


def compare(forecast, measured):
    """``{"agree": bool, "checks": [{name, forecast, measured, tolerance, ok}]}``."""
    provider = forecast["provider"]
    checks = []

    def check(name, f, m, ok, tolerance):
        checks.append({"name": name, "forecast": f, "measured": m, "tolerance": tolerance, "ok": bool(ok)})

    fo = [_key(provider, i) for i in forecast["order"]]
    mo = [_key(provider, i) for i in measured["order"]]
    check("work items", sorted(map(list, set(fo))), sorted(map(list, set(mo))), sorted(set(fo)) == sorted(set(mo)),
          "the same set")
    window = forecast["duration"].get("window") or 1
    # a fleet with move back moves each instance or server twice: its n-th move is its own work item in the order
    agreement = order_agreement(_nth(fo), _nth(mo), window)
    check("order", [list(k) for k in fo], [list(k) for k in mo], agreement >= ORDER_MIN_AGREEMENT,
          ">= %d%% of pairs in the same order (got %d%%)%s"
          % (ORDER_MIN_AGREEMENT * 100, agreement * 100, ", window %d" % window if window > 1 else ""))
    tick = max(forecast["duration"].get("lab_tick_seconds") or 0, measured["duration"].get("lab_tick_seconds") or 0)
    per_item = 2 * tick * max(1, len(fo))
    fd, md = forecast["duration"], measured["duration"]
    ops_rel = OPERATIONS_REL_BY_PROVIDER.get(provider, OPERATIONS_REL)
    check("vendor operations (s)", fd["vendor_operations_seconds"], md["vendor_operations_seconds"],
          _close(fd["vendor_operations_seconds"], md["vendor_operations_seconds"], ops_rel, per_item),
          "within %d%% or 2 lab ticks per item (%.1f s)" % (ops_rel * 100, per_item))
    check("duration at real speed (s)", fd["seconds"], md["seconds"],
          _close(fd["seconds"], md["seconds"], DURATION_REL, per_item),
          "within %d%% or %.1f s" % (DURATION_REL * 100, per_item))
    # each piece of work's start at real speed, matched by work item; the worst one is shown. The collection's own
    # time before a start varies with the machine's load like the whole run's: within 35 % of the start, or of the
    # collection's measured time in the whole run, or 2 lab ticks per item
    fstarts, mstarts = _starts(provider, forecast["order"]), _starts(provider, measured["order"])
    start_abs = max(per_item, DURATION_REL * (md.get("collection_seconds") or 0.0))
    worst = None
    for key in fstarts:
        if key in mstarts:
            miss = abs(fstarts[key] - mstarts[key]) - max(DURATION_REL * abs(mstarts[key]), start_abs)
            if worst is None or miss > worst[0]:
                worst = (miss, key)
    check("start offsets at real speed (s)", None if worst is None else [list(worst[1]), fstarts[worst[1]]],
          None if worst is None else [list(worst[1]), mstarts[worst[1]]], worst is None or worst[0] <= 0,
          "each within %d%% or %.1f s (the furthest shown)" % (DURATION_REL * 100, start_abs))
    if provider != "avi":   # where each instance or server went
        fto = sorted([_key(provider, i)[1], i.get("to")] for i in forecast["order"])
        mto = sorted([_key(provider, i)[1], i.get("to")] for i in measured["order"])
        check("destinations", fto, mto, fto == mto, "the same destination for each")
    fs, ms = forecast.get("schedule") or {}, measured.get("schedule") or {}
    if fs.get("budgets") or ms.get("budgets"):   # a budgeted run: the waves and each group's peak are the plan's
        check("waves", fs.get("waves"), ms.get("waves"), fs.get("waves") == ms.get("waves"), "the same waves")
        fpeak = dict((g["name"], g["peak_moving"]) for g in fs.get("budgets") or [])
        mpeak = dict((g["name"], g["peak_moving"]) for g in ms.get("budgets") or [])
        within = all(g["peak_moving"] is None or g["peak_moving"] <= (g["max_moving"] or 0)
                     for g in (fs.get("budgets") or []) + (ms.get("budgets") or []))
        check("budget groups' peak moving", fpeak, mpeak, fpeak == mpeak and within,
              "the same, never over the group's max_moving")
    fr, mr = sorted(next(iter(forecast["at_risk"].values()))), sorted(next(iter(measured["at_risk"].values())))
    check("at risk", fr, mr, fr == mr, "the same set")
    fc = sorted(c["group"] for c in forecast["created_service_engines"])
    mc = sorted(c["group"] for c in measured["created_service_engines"])
    check("SEs created (group)", fc, mc, fc == mc, "the same number per SE group")
    fdis, mdis = forecast["disruption"]["total"], measured["disruption"]["total"]
    # VirtFusion: QEMU's own downtime on the lab's loopback, which varies by tens of ms a server from run to run
    dis_abs = 2 * tick if provider != "virtfusion" else VF_DOWNTIME_MS_PER_SERVER * max(1, len(fo))
    dis_rel = DISRUPTION_REL_BY_PROVIDER.get(provider, DISRUPTION_REL)
    check("disruption (%s)" % forecast["disruption"]["unit"], fdis, mdis, _close(fdis, mdis, dis_rel, dis_abs),
          "within %d%% or %s" % (dis_rel * 100, dis_abs))
    check("disrupted targets", sorted(forecast["disruption"]["by_target"]), sorted(measured["disruption"]["by_target"]),
          sorted(forecast["disruption"]["by_target"]) == sorted(measured["disruption"]["by_target"])
          or provider == "virtfusion", "the same set (VirtFusion: every migrated server has some downtime)")
    check("result", forecast["result"]["ok"], measured["result"]["ok"],
          forecast["result"]["ok"] == measured["result"]["ok"], "the same")
    if forecast.get("fleet") or measured.get("fleet"):
        fleet_checks(forecast.get("fleet") or {}, measured.get("fleet") or {}, check)
    return {"agree": all(c["ok"] for c in checks), "checks": checks}


def _fleet_moves(fleet, key):
    """Per node, [what moved (a VirtFusion server, a Triton instance), where to]."""
    return dict((n["node"], sorted([e.get("server", e.get("instance")), e["to"]] for e in n.get(key) or []))
                for n in fleet.get("per_node") or [])


def fleet_checks(fleet_f, fleet_m, check):
    """A fleet maintenance: the nodes started in the same order, every server went to the same destination in each
    node's evacuation (and move back), the same capacity verdict before each start, capacity never exceeded."""
    check("fleet node order", fleet_f.get("order"), fleet_m.get("order"), fleet_f.get("order") == fleet_m.get("order"),
          "the same order")
    for key, name in (("evacuated", "fleet evacuation destinations"), ("moved_back", "fleet move back destinations")):
        ff, fm = _fleet_moves(fleet_f, key), _fleet_moves(fleet_m, key)
        check(name, ff, fm, ff == fm, "per node, the same destination for each instance or server")
    fv = dict((n["node"], n["capacity"]["verdict"]) for n in fleet_f.get("per_node") or [])
    mv = dict((n["node"], n["capacity"]["verdict"]) for n in fleet_m.get("per_node") or [])
    check("fleet capacity verdicts", fv, mv, fv == mv, "the same verdict before each node's start")
    fe, me = fleet_f.get("capacity_exceeded"), fleet_m.get("capacity_exceeded")
    check("fleet capacity never exceeded", fe, me, fe == [] and me == [], "no node over its memory limit in either")


def lines(comparison):
    out = ["forecast vs measured: %s" % ("AGREE" if comparison["agree"] else "DISAGREE")]
    for c in comparison["checks"]:
        f, m = c["forecast"], c["measured"]
        if isinstance(f, list) and len(str(f)) > 80:
            f, m = "%d items" % len(f), "%d items" % len(m)
        out.append("  %-4s %-30s forecast %s, measured %s (%s)"
                   % ("ok" if c["ok"] else "FAIL", c["name"], f, m, c["tolerance"]))
    return out
