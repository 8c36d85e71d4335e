"""Time in a rehearsal's numbers: the length of operations that overlap, N-at-a-time work, offsets at real speed
(rehearsal/forecast.py's order of work), the waves of a run and its budget groups' peaks, and a forecast's work as
run-record steps on a timeline."""
import datetime
import fnmatch


def merged(intervals):
    """The union of [start, end] intervals as sorted, disjoint [start, end] lists (None ends and reversed ones left
    out)."""
    segments = []
    for start, end in sorted((s, e) for s, e in intervals if s is not None and e is not None and e >= s):
        if segments and start <= segments[-1][1]:
            segments[-1][1] = max(segments[-1][1], end)
        else:
            segments.append([start, end])
    return segments


def union_length(intervals):
    """Total length of the union of [start, end] intervals."""
    return sum(end - start for start, end in merged(intervals))


def window_makespan(durations, window):
    """The time N-at-a-time work takes when each item starts as soon as a slot frees, in the given order."""
    window = max(1, int(window or 1))
    slots = [0.0] * min(window, max(1, len(durations)))
    for d in durations:
        i = slots.index(min(slots))
        slots[i] += d
    return max(slots) if durations else 0.0


def real_speed_clock(busy, idle_rate, busy_rate=1.0):
    """A clock's time -> seconds at real speed since the first vendor operation started: the time during which
    vendor operations ran (the union of ``busy`` intervals, in the clock's units) counts ``busy_rate`` real seconds
    per unit, the time between them (the collection's own) ``idle_rate``. On the lab's clock (lab seconds) the
    operations count 1 (a lab second stands for a real second of the vendor's) and the collection's time counts
    ``time_scale`` (it was measured at the rehearsal's speed): the same arithmetic as the duration line."""
    segments = merged(busy)
    t0 = segments[0][0] if segments else 0.0

    def at(t):
        if t is None:
            return None
        inside = sum(min(end, t) - start for start, end in segments if start < t)
        return max(0.0, inside * busy_rate + max(0.0, (t - t0) - inside) * idle_rate)
    return at


def waves(spans):
    """The waves of a run from when each migration ran: ``spans`` is [(name, start, end)] on one clock. A migration's
    wave is one more than the latest wave among those that had ended when it started (with equal-length migrations,
    the rounds a window and a budget make)."""
    done, out = [], []
    for name, start, end in sorted(spans, key=lambda x: (x[1], x[0])):
        wave = 1 + max([w for _n, e, w in done if e is not None and start is not None and e <= start] or [0])
        done.append((name, end, wave))
        while len(out) < wave:
            out.append([])
        out[wave - 1].append(name)
    return [sorted(w) for w in out]


def _tag_match(want, have):
    """The collection's rule (module_utils/_common/budgets.py): every key present, values equal ignoring case."""
    have = have if isinstance(have, dict) else {}
    return all(k in have and str(have[k]).lower() == str(v).lower() for k, v in want.items())


def _members(group, names, tags=None):
    if group.get("members") is not None:
        return [n for n in names if n in [str(m) for m in group["members"]]]
    if group.get("pattern") is not None:
        return [n for n in names if fnmatch.fnmatchcase(n, str(group["pattern"]))]
    if group.get("tags") and tags is not None:   # Triton tags: the instances' tags of the lab's topology (the twin)
        return [n for n in names if _tag_match(group["tags"], tags.get(n))]
    return None   # tags, but no instance tags known


def schedule(spans, budgets, tags=None):
    """The waves and, per budget group (the operator's ``budgets``), its members here and the most that moved at
    once. ``tags``: {instance name: its tags} (Triton), for the groups the operator selects by tag."""
    groups = []
    for group in budgets or []:
        members = _members(group, [n for n, _s, _e in spans], tags)
        peak = None
        if members is not None:
            events = sorted([(s, 1) for n, s, _e in spans if n in members and s is not None]
                            + [(e, -1) for n, _s, e in spans if n in members and e is not None])
            running = peak = 0
            for _t, step in events:
                running += step
                peak = max(peak, running)
        groups.append({"name": group.get("name"), "max_moving": group.get("max_moving"),
                       "anti_affinity": group.get("anti_affinity", True), "members": members, "peak_moving": peak})
    return {"waves": waves(spans), "budgets": groups}


AVI_TARGET_TYPES = {"migrate": "virtual_service", "scaleout": "virtual_service", "scalein": "virtual_service",
                    "se_disable": "service_engine", "se_create": "service_engine", "se_upgrade": "service_engine",
                    "se_rollback": "service_engine", "se_group_upgrade": "se_group", "se_group_rollback": "se_group",
                    "controller_upgrade": "controller_cluster", "controller_rollback": "controller_cluster",
                    "system_upgrade": "system", "rollback": "system", "image_upload": "controller_cluster"}


def record_steps(f, epoch):
    """The work of a forecast as run-record steps (``fleetops.maintenance.run_record`` ``steps``) on a timeline that
    starts at ``epoch`` (a datetime, UTC): each step spans its forecast time at real speed."""
    steps = []

    def at(offset):
        return (epoch + datetime.timedelta(seconds=float(offset or 0))).replace(tzinfo=None).isoformat()
    if f["provider"] == "avi":
        # the operations' starts are at real speed from the first one (real_speed_clock)
        seen = {}
        for item in f["order"]:
            seen[item["target"]] = seen.get(item["target"], 0) + 1
            target = item["target"] if seen[item["target"]] == 1 else "%s (%s #%d)" % (
                item["target"], item["kind"], seen[item["target"]])
            message = "%s (%s)" % (item["kind"], f["kind"])
            if item.get("from") or item.get("to"):
                message += ": %s -> %s" % (",".join(item.get("from") or []) or "-", ",".join(item.get("to") or []) or "-")
            steps.append({"target": target,
                          "target_type": AVI_TARGET_TYPES.get(item["kind"], "virtual_service"),
                          "group": item.get("within") or item["kind"], "start": at(item["start"]),
                          "end": at((item["start"] or 0) + (item["seconds"] or 0)),
                          "result": item.get("result") or "unknown", "message": message,
                          "disruption": {"expected": item["target"] in f["disruption"]["by_target"],
                                         "seconds": f["disruption"]["by_target"].get(item["target"], 0.0)}})
        return steps
    window = f["duration"].get("window") or 1
    slots = [0.0] * max(1, window)
    for item in f["order"]:
        i = slots.index(min(slots))
        start = item["start"] if item.get("start") is not None else slots[i]   # at real speed (order of work)
        slots[i] = start + (item["seconds"] or 0.0)
        target = item["instance"] if f["provider"] == "triton" else item["server"]
        downtime = f["disruption"]["by_target"].get(target)
        steps.append({"target": target, "target_type": "instance" if f["provider"] == "triton" else "server",
                      "group": "%s -> %s" % (item["from"], item["to"]), "start": at(start),
                      "end": at(slots[i]), "result": item.get("result") or item.get("status") or "unknown",
                      "message": "migration (%s), window of %d" % (f["kind"], window),
                      "disruption": {"expected": downtime is not None,
                                     "seconds": None if downtime is None else (
                                         downtime if f["provider"] == "triton" else downtime / 1000.0)}})
    return steps
