"""From two snapshots of a lab (before and after a maintenance run) to the numbers an operator plans with: the order
of work, the duration at real speed, what is at risk, the SEs the controller created, capacity shortfalls, the
disruption. The same code measures a run on any lab (``label="measured"``) and forecasts from a rehearsal on a twin
(``label="forecast"``): the comparison of the two (``compare``) is like for like.

Duration at real speed: a lab second stands for a real second of a vendor operation (the lab's durations are its
model, which the operator can set); the lab ran ``time_scale`` real seconds per lab second. The forecast is the
time during which vendor operations ran, in lab seconds (the union of their intervals, so operations in parallel
count once), plus the time the collection spent outside them (the run's wall time in the rehearsal minus the
operations' real time), which does not scale.
"""
from rehearsal.timeline import real_speed_clock, schedule, union_length, window_makespan

FORECAST_LABEL = ("forecast from the lab's model of the source system (a twin exported read-only), not a measurement "
                  "of the real system")
MEASURED_LABEL = "measured on this lab"
# the lab's defaults (lab/triton/common.py TIMING_DEFAULTS, lab/virtfusion): lab seconds, settable in the topology
TRITON_TIMING_DEFAULTS = {"begin": 20, "switch": 10, "finalize": 2, "stop": 5, "start": 5}
VF_DEFAULT_TIMING = {"precheck": 1, "filters": 1, "prepare": 1, "finalize": 1, "boot": 1}
VF_STEP_TIMING = {"precheck": "precheck", "filters": "filters", "prepare": "prepare", "finalize": "finalize",
                  "start_dst": None, "boot": "boot"}


class Names:
    """Pseudonyms back to the real names (when the twin was pseudonymised and the operator gave the table)."""

    def __init__(self, mapping=None):
        self.back = {}
        for key, table in (mapping or {}).items():
            if key.startswith("names/") or key.startswith("uuids/"):
                for real, pseudo in (table or {}).items():
                    self.back[str(pseudo)] = str(real)

    def __call__(self, name):
        if name is None:
            return None
        if str(name) in self.back:
            return self.back[str(name)]
        prefix, sep, rest = str(name).partition("-se-")
        if sep and prefix in self.back:   # an SE the lab created, named after its group's (pseudonymous) prefix
            return self.back[prefix] + sep + rest
        return name

    def all(self, names):
        return [self(n) for n in names]


def _round(x, digits=1):
    return None if x is None else round(float(x), digits)


def _duration(busy_lab, ops_real, wall, scale):
    client = max(0.0, (wall or 0.0) - ops_real) if wall is not None else None
    return {"seconds": _round(busy_lab + (client or 0.0)), "vendor_operations_seconds": _round(busy_lab),
            "collection_seconds": _round(client), "run_wall_seconds": _round(wall), "time_scale": scale,
            "lab_tick_seconds": _round(0.01 / scale if scale else None, 2)}


# --------------------------------------------------------------------------------------------------- Avi
def _placement(world):
    out = {}
    for se, entry in (world.get("service_engines") or {}).items():
        for vs in entry.get("vs") or []:
            out.setdefault(vs, set()).add(se)
    return out


def _host_of(world):
    out = {}
    for host, entry in (world.get("hosts") or {}).items():
        for se in entry.get("ses") or []:
            out[se] = host
    return out


def avi(before, after, ctx, names):
    scale = after.get("time_scale") or 1.0
    seen = set(o["id"] for o in before["stats"].get("operations") or [])
    ops = [o for o in after["stats"].get("operations") or [] if o["id"] not in seen]
    ids = set(o["id"] for o in ops)
    top = [o for o in ops if not o.get("parent") or o["parent"] not in ids]
    busy = union_length((o["started"], o["ended"]) for o in top)
    ops_real = busy * scale
    place_before, place_after = _placement(before["world"]), _placement(after["world"])
    kinds = dict((o["id"], o["kind"]) for o in ops)
    real_speed = real_speed_clock([(o["started"], o["ended"]) for o in top], scale)
    order = []
    for o in sorted(ops, key=lambda o: (o["started"], o["id"])):
        item = {"kind": o["kind"], "target": names(o["target"]), "start": _round(real_speed(o["started"])),
                "seconds": _round(o.get("lab_seconds")), "result": o.get("result")}
        if o.get("parent") in kinds:
            item["within"] = kinds[o["parent"]]
        if o.get("reason"):
            item["reason"] = o["reason"]
        if o["kind"] in ("migrate", "scaleout", "scalein"):
            b, a = place_before.get(o["target"], set()), place_after.get(o["target"], set())
            item["from"] = names.all(sorted(b - a))
            item["to"] = names.all(sorted(a - b))
        order.append(item)
    ses_before, ses_after = set(before["world"]["service_engines"]), set(after["world"]["service_engines"])
    hosts_after = _host_of(after["world"])
    created = [{"name": names(se), "group": names(after["world"]["service_engines"][se].get("group")),
                "host": names(hosts_after.get(se))} for se in sorted(ses_after - ses_before)]
    new_ses = dict((c["name"], c["group"]) for c in created)
    for item in order:
        if item["target"] in new_ses:   # the lab names a new SE at random: the group says which it is
            item["new_se_in"] = new_ses[item["target"]]
    topo = ctx.get("topology") or {}
    enabled = dict((v["name"], v.get("enabled", True) is not False) for v in topo.get("virtual_services") or [])
    # disruption
    dis_b = (before.get("disruption") or {}).get("virtualservice") or {}
    dis_a = (after.get("disruption") or {}).get("virtualservice") or {}
    by_vs = {}
    for vs, entry in dis_a.items():
        lost = (entry.get("unavailable_seconds") or 0) - ((dis_b.get(vs) or {}).get("unavailable_seconds") or 0)
        if lost > 1e-6:
            by_vs[names(vs)] = _round(lost)
    # at risk
    at_risk = {}

    def risk(vs, why):
        at_risk.setdefault(names(vs), []).append(why)
    for vs, seconds in sorted(by_vs.items()):
        at_risk.setdefault(vs, []).append("loses service for %s s" % seconds)
    for vs, ok in enabled.items():
        if ok and not place_after.get(vs) and place_before.get(vs):
            risk(vs, "left on no SE")
    for se, entry in after["world"]["service_engines"].items():
        if entry.get("enable_state") == "SE_STATE_DISABLED":
            was = (before["world"]["service_engines"].get(se) or {}).get("enable_state")
            for vs in entry.get("vs") or [] if was != "SE_STATE_DISABLED" else []:
                risk(vs, "still on %s, which the run disabled" % names(se))
        for failure in entry.get("migrate_failures") or []:
            vs = str(failure.get("vs_ref") or "").rsplit("#", maxsplit=1)[-1]
            risk(vs or "?", "could not be moved off %s: %s" % (names(se), failure.get("reason")))
    for o in ops:
        if o.get("result") not in (None, "success") and o["kind"] in ("migrate", "scaleout", "scalein"):
            risk(o["target"], "%s %s: %s" % (o["kind"], o.get("result"), o.get("reason")))
    # capacity
    groups = dict((g["name"], g) for g in topo.get("se_groups") or [])
    headroom = {}
    for group, g in sorted(groups.items()):
        ses = [se for se, e in after["world"]["service_engines"].items() if e.get("group") == group]
        free = sum(max(0, int(g.get("max_vs_per_se", 10)) - len(after["world"]["service_engines"][se].get("vs") or []))
                   for se in ses if after["world"]["service_engines"][se].get("enable_state") == "SE_STATE_ENABLED"
                   and after["world"]["service_engines"][se].get("oper") == "OPER_UP")
        headroom[names(group)] = {"service_engines": len(ses), "max_se": g.get("max_se", 10),
                                  "free_placements_on_enabled_ses": free}
    shortfalls = []
    for o in ops:
        if o.get("result") not in (None, "success") and o.get("reason"):
            text = "%s %s: %s" % (o["kind"], names(o["target"]), o["reason"])
            if text not in shortfalls:
                shortfalls.append(text)
    for group, h in headroom.items():
        if h["service_engines"] >= h["max_se"] and any(c["group"] == group for c in created):
            shortfalls.append("SE group %s is at max_se %s after the run (disabled SEs count): it can create no further "
                              "SE" % (group, h["max_se"]))
    upgrade = {}
    if after.get("upgrade") and before.get("upgrade"):
        ub, ua = before["upgrade"], after["upgrade"]
        changed = {}
        for group, g in (ua.get("se_groups") or {}).items():
            for se, s in (g.get("service_engines") or {}).items():
                old = (((ub.get("se_groups") or {}).get(group) or {}).get("service_engines") or {}).get(se) or {}
                if old.get("version") != s.get("version"):
                    changed[names(se)] = {"from": old.get("version"), "to": s.get("version"), "group": names(group)}
        upgrade = {"controller": {"from": ub["controller"].get("version"), "to": ua["controller"].get("version")},
                   "service_engines": changed}
    duration = _duration(busy, ops_real, ctx.get("wall"), scale)
    return {"order": order, "duration": duration, "created_service_engines": created,
            "at_risk": {"virtual_services": dict(sorted(at_risk.items()))},
            "capacity": {"shortfalls": shortfalls, "headroom_after": headroom},
            "disruption": {"unit": "VS-seconds", "total": _round(sum(by_vs.values())), "by_target": by_vs},
            "upgrade": upgrade}


# --------------------------------------------------------------------------------------------------- Triton
def instance_tags(topology, names):
    """{instance: {key: value}} of the lab's topology (a twin's: tags exported, pseudonymous ones translated back
    through the operator's table), for the budget groups selected by tag; None when the topology has no instances."""
    instances = ((topology or {}).get("triton") or {}).get("instances")
    if not isinstance(instances, list):
        return None
    return dict((names(i.get("name")), dict((names(k), names(str(v))) for k, v in (i.get("tags") or {}).items()))
                for i in instances if isinstance(i, dict))


def triton_migrations(before, after):
    """The Triton lab's migrations new since ``before`` (each with its ``instance`` name), by start (lab seconds),
    then instance."""
    seen = set()
    for entry in (before["instances"].get("instances") or {}).values():
        seen.update(m["id"] for m in entry.get("migrations") or [])
    migs = []
    for name, entry in (after["instances"].get("instances") or {}).items():
        for m in entry.get("migrations") or []:
            if m["id"] not in seen:
                migs.append(dict(m, instance=name))
    migs.sort(key=lambda m: (m["started"], m["instance"]))
    return migs


def triton(before, after, ctx, names):
    scale = after.get("time_scale") or 1.0
    model = (ctx.get("model") or {}).get("triton") or {}
    k = model.get("data_scale") or 1.0
    migs = triton_migrations(before, after)
    errors = dict((r.get("vm_uuid"), r.get("error")) for r in after["stats"].get("migrations") or [] if r.get("error"))
    uuids = dict((name, e.get("uuid")) for name, e in (after["instances"].get("instances") or {}).items())
    timing = dict(TRITON_TIMING_DEFAULTS)
    timing.update(((ctx.get("topology") or {}).get("triton") or {}).get("timing") or {})
    order, at_risk, downtime, checksums, shortfalls, durations = [], {}, {}, {}, [], []
    for m in migs:
        # the vendor's time of this migration in the lab's model: begin, the syncs before the switch, the switch
        # (stop to running on the target: the downtime), finalize; the client's time between phases is not in it
        syncs = [sy.get("lab_seconds") or 0.0 for sy in m.get("syncs") or [] if not sy.get("final")]
        seconds = float(timing["begin"]) + sum(syncs) + float(m.get("downtime_lab_seconds") or 0.0)
        if m.get("result") == "finalized":
            seconds += float(timing["finalize"])
        durations.append(seconds)
    # start offsets at real speed: each migration's vendor time counted from its start (lab seconds), the time
    # between migrations (the collection's) at the time scale
    real_speed = real_speed_clock([(m["started"], m["started"] + d) for m, d in zip(migs, durations)], scale)
    for m, seconds in zip(migs, durations):
        item = {"instance": names(m["instance"]), "from": names(m.get("source_server_hostname")),
                "to": names(m.get("target_server_hostname")), "start": _round(real_speed(m["started"])),
                "seconds": _round(seconds), "result": m.get("result"),
                "bytes_sent": int(round((m.get("bytes_sent") or 0) / k))}
        error = errors.get(uuids.get(m["instance"]))
        if m.get("result") == "failed" and error:
            item["error"] = error
        order.append(item)
        if m.get("downtime_lab_seconds") is not None:
            downtime[names(m["instance"])] = _round(m["downtime_lab_seconds"], 2)
        if m.get("data_intact") is not None:
            checksums[names(m["instance"])] = bool(m["data_intact"])
        if m.get("result") not in ("finalized", "switched"):
            at_risk.setdefault(names(m["instance"]), []).append(
                "migration %s%s" % (m.get("result"), ": %s" % error if error else ""))
            if error and "room" in error:
                shortfalls.append("%s: %s" % (names(m["instance"]), error))
        if m.get("data_intact") is False:
            at_risk.setdefault(names(m["instance"]), []).append("data differs after the switch")
    source = ctx.get("source_host")
    if source:
        for name, entry in (after["instances"].get("instances") or {}).items():
            if entry.get("server_hostname") == source:
                at_risk.setdefault(names(name), []).append("still on %s" % names(source))
    back = ctx.get("return_host")
    if back:   # a move back: every instance the evacuation moved is on the node it emptied again
        where = dict((name, e.get("server_hostname")) for name, e in (after["instances"].get("instances") or {}).items())
        for name in ctx.get("returning") or []:
            if where.get(name) != back:
                at_risk.setdefault(names(name), []).append("not back on %s (on %s)" % (names(back), names(where.get(name))))
    capacity = {}
    for server in after.get("servers") or []:
        capacity[names(server.get("hostname"))] = {"unreserved_ram": server.get("unreserved_ram"),
                                                   "unreserved_disk": server.get("unreserved_disk"),
                                                   "reserved": server.get("reserved")}
    window = int(ctx.get("window") or 1)
    busy = window_makespan(durations, window)
    if ctx.get("budgets"):
        # a budget holds starts back beyond the window (a group's next member waits for a switch): the vendor's
        # time is the union of each migration's modelled time from its real start, the schedule the run kept
        busy = max(busy, union_length((m["started"], m["started"] + d) for m, d in zip(migs, durations)))
    duration = _duration(busy, busy * scale, ctx.get("wall"), scale)
    duration["window"] = window
    # an instance moves from its migration's start to its switch (it then runs on the target; the playbook finalizes
    # every migration at the end, which is when "ended" is stamped): what the budget counts as moving
    spans = [(names(m["instance"]), m["started"], m.get("switched") or m.get("ended")) for m in migs]
    return {"order": order, "duration": duration, "created_service_engines": [],
            "schedule": schedule(spans, ctx.get("budgets"), instance_tags(ctx.get("topology"), names)),
            "at_risk": {"instances": dict(sorted(at_risk.items()))},
            "capacity": {"shortfalls": shortfalls, "headroom_after": capacity},
            "disruption": {"unit": "instance-seconds of downtime (switch)", "total": _round(sum(downtime.values()), 2),
                           "by_target": downtime, "data_intact": checksums}}


# --------------------------------------------------------------------------------------------------- VirtFusion
def _iso(text):
    import datetime
    if not text:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def vf_headroom(world, names, shortfalls):
    """Room left on each hypervisor after the run, against the limits the vendor's group resources give (0: not set,
    so unknown: None); a hypervisor over a limit is a shortfall."""
    out = {}
    servers = world.get("servers") or []
    for hv in world.get("hypervisors") or []:
        on = [s for s in servers if s.get("hypervisorId") == hv["id"]]
        used = {"memory": sum(s.get("memory") or 0 for s in on), "cpu": sum(s.get("cpu") or 1 for s in on),
                "servers": len(on)}
        entry = {"servers": len(on)}
        for key, value in used.items():
            limit = hv.get("max_" + key) or 0
            entry[key + "_free"] = limit - value if limit else None
            if limit and value > limit:
                shortfalls.append("hypervisor %s holds %s %s, over its limit %s" % (names(hv["name"]), value, key, limit))
        out[names(hv["name"])] = entry
    return out


def virtfusion_migrations(before, after):
    """The VirtFusion lab's migrations new since ``before``, by creation (the lab's real-time stamp), start, then id."""
    seen = set(m["id"] for m in (before.get("migrations") or {}).get("migrations") or [])
    migs = [m for m in (after.get("migrations") or {}).get("migrations") or [] if m["id"] not in seen]
    migs.sort(key=lambda m: ((m.get("_lab") or {}).get("created_real") or 0, m.get("startedAt") or "",
                             int(str(m["id"]).rsplit("-", maxsplit=1)[-1])))
    return migs


def virtfusion(before, after, ctx, names):
    scale = after.get("time_scale") or 1.0
    timing = dict(VF_DEFAULT_TIMING)
    timing.update(((ctx.get("topology") or {}).get("virtfusion") or {}).get("timing") or {})
    real_memory = ((ctx.get("model") or {}).get("virtfusion") or {}).get("real_memory_mib") or {}
    bandwidth = (ctx.get("assume") or {}).get("virtfusion_bandwidth_mib_s")
    migs = virtfusion_migrations(before, after)
    hv_names = dict((h["id"], h["name"]) for h in after["world"].get("hypervisors") or [])
    order, durations, at_risk, downtime = [], [], {}, {}
    starts = []
    for m in migs:
        overhead = sum(float(timing.get(VF_STEP_TIMING.get(st["key"]) or "", 0) or 0) for st in m.get("steps") or []
                       if st.get("status") == "complete")
        qemu = m.get("qemu") or {}
        if bandwidth and real_memory.get(m.get("serverName")):
            transfer = float(real_memory[m["serverName"]]) / float(bandwidth)
            transfer_basis = "modelled: %s MiB at %s MiB/s" % (real_memory[m["serverName"]], bandwidth)
        else:
            transfer = (qemu.get("totalTimeMs") or 0) / 1000.0
            transfer_basis = "QEMU on the lab's loopback"
        seconds = overhead + transfer
        durations.append(seconds)
        start, end = _iso(m.get("startedAt")), _iso(m.get("finishedAt"))
        if start is not None:
            starts.append((start, end or start))
        item = {"server": names(m.get("serverName")), "from": names(hv_names.get(m.get("sourceId"))),
                "to": names(hv_names.get(m.get("destinationId"))), "type": m.get("type"), "status": m.get("status"),
                "seconds": _round(seconds, 2), "transfer_seconds": _round(transfer, 3), "transfer_basis": transfer_basis,
                "qemu_downtime_ms": qemu.get("downtimeMs"), "transferred_bytes": qemu.get("transferredBytes")}
        if m.get("errors"):
            item["errors"] = m["errors"]
        order.append(item)
        if m.get("status") != "complete" or m.get("cancelled"):
            at_risk.setdefault(names(m.get("serverName")), []).append(
                "migration %s%s" % ("cancelled" if m.get("cancelled") else m.get("status"),
                                    ": %s" % "; ".join(m["errors"]) if m.get("errors") else ""))
        elif qemu.get("downtimeMs") is not None:
            downtime[names(m.get("serverName"))] = qemu["downtimeMs"]
    source = ctx.get("source_host")
    if source:
        src_ids = [h["id"] for h in after["world"].get("hypervisors") or [] if h["name"] == source or
                   str(h["id"]) == str(source)]
        for server in after["world"].get("servers") or []:
            if server.get("hypervisorId") in src_ids:
                at_risk.setdefault(names(server["name"]), []).append("still on %s" % names(source))
    back = ctx.get("return_host")
    if back:   # a move back: every server the evacuation moved is on the hypervisor it emptied again
        where = dict((s["name"], hv_names.get(s.get("hypervisorId"))) for s in after["world"].get("servers") or [])
        for name in ctx.get("returning") or []:
            if where.get(name) != back and str(back) not in [str(h["id"]) for h in after["world"].get("hypervisors") or []
                                                             if h["name"] == where.get(name)]:
                at_risk.setdefault(names(name), []).append("not back on %s (on %s)" % (names(back), names(where.get(name))))
    window = int(ctx.get("window") or 1)
    makespan = window_makespan(durations, window)
    observed = (max(e for _s, e in starts) - min(s for s, _e in starts)) if starts else 0.0
    # start offsets at real speed: the lab's own real-time stamps of each migration; the time migrations ran counts
    # as the modelled vendor time (the window's makespan over the time they were observed running), the time between
    # them (the collection's) as measured
    lab_times = [((m.get("_lab") or {}).get("created_real"), (m.get("_lab") or {}).get("finished_real")) for m in migs]
    ran = union_length(lab_times)
    real_speed = real_speed_clock(lab_times, 1.0, makespan / ran if ran > 0 else 1.0)
    for item, (start, _end) in zip(order, lab_times):
        item["start"] = _round(real_speed(start), 2)
    duration = _duration(makespan, observed, ctx.get("wall"), scale)
    duration["window"] = window
    refusals = ((after.get("stats") or {}).get("precheck_refusals") or 0) - \
        ((before.get("stats") or {}).get("precheck_refusals") or 0)
    shortfalls = ["%d start(s) refused by the pre-checks" % refusals] if refusals > 0 else []
    headroom = vf_headroom(after["world"], names, shortfalls)
    spans = [(names(m.get("serverName")), start, end) for m, (start, end) in zip(migs, lab_times)]
    return {"order": order, "duration": duration, "created_service_engines": [],
            "schedule": schedule(spans, ctx.get("budgets")),
            "at_risk": {"servers": dict(sorted(at_risk.items()))},
            "capacity": {"shortfalls": shortfalls, "headroom_after": headroom},
            "disruption": {"unit": "ms of downtime per server (QEMU, on the lab's loopback)",
                           "total": sum(downtime.values()), "by_target": downtime}}


VENDORS = {"avi": avi, "triton": triton, "virtfusion": virtfusion}


def record_shortfalls(record, names=None):
    """The capacity refusals of a host evacuation: each instance or server step of its run record that failed on
    the capacity pre-check (the module refuses before the vendor sees a start, so the lab's counters never show
    them)."""
    names = names or Names()
    out = []
    for step in record.get("steps") or []:
        message = str(step.get("message") or "")
        if step.get("result") == "failed" and "capacity " in message and step.get("target_type") in ("instance", "server"):
            out.append("%s: %s" % (names(step.get("target")), message))
    return out


def compute(before, after, ctx, label="forecast"):
    """The numbers of a run between two snapshots. ``ctx``: ``topology`` (the lab's topology: group settings),
    ``model`` and ``assume`` (twin.json), ``wall`` (the run's wall time, real seconds), ``rc``, ``record`` (the
    maintenance's run record), ``names`` (the pseudonym table), ``source_host`` (the node being emptied),
    ``return_host`` and ``returning`` (a move back: the node and what returns there), ``window`` (migrations at once)."""
    names = Names(ctx.get("names"))
    out = VENDORS[before["provider"]](before, after, ctx, names)
    out["label"] = FORECAST_LABEL if label == "forecast" else MEASURED_LABEL
    out["kind"] = label
    out["provider"] = before["provider"]
    out["maintenance"] = ctx.get("maintenance")
    out["result"] = {"rc": ctx.get("rc"), "ok": ctx.get("rc") == 0}
    record = ctx.get("record") or {}
    if record:
        first = (record.get("steps") or [{}])[0]
        out["result"].update(record_result=record.get("result"), failures=record.get("failures"),
                             message=first.get("message"))
        for text in record_shortfalls(record, names):
            if text not in out["capacity"]["shortfalls"]:
                out["capacity"]["shortfalls"].append(text)
    out["assumptions"] = ctx.get("assumptions") or []
    out["lines"] = lines(out)
    return out


def _fmt_seconds(s):
    if s is None:
        return "?"
    if s >= 90:
        return "%s s (%dm%02ds)" % (s, int(s // 60), int(round(s % 60)))
    return "%s s" % s


def lines(f):
    """The forecast (or measurement) for people: every number labelled."""
    tag = "forecast" if f["kind"] == "forecast" else "measured"
    out = ["%s: %s" % (tag.upper(), f["label"]),
           "maintenance %s: %s" % (f.get("maintenance"), "succeeded" if f["result"]["ok"] else
                                   "FAILED (rc %s)%s" % (f["result"]["rc"], ": %s" % f["result"]["message"]
                                                         if f["result"].get("message") else ""))]
    for a in f.get("assumptions") or []:
        out.append("  assumed: %s = %s (%s)" % (a.get("field"), a.get("assumed"), a.get("source")))
    d = f["duration"]
    out.append("duration at real speed (%s): %s = vendor operations %s (lab model) + the collection's own time %s "
               "(measured in the run at time scale %s)"
               % (tag, _fmt_seconds(d["seconds"]), _fmt_seconds(d["vendor_operations_seconds"]),
                  _fmt_seconds(d["collection_seconds"]), d["time_scale"]))
    out.append("order of work (%s; start offsets at real speed from the first operation, as the duration):" % tag)
    for i, item in enumerate(f["order"], 1):
        if f["provider"] == "avi":
            move = ""
            if item.get("from") or item.get("to"):
                move = ": %s -> %s" % (",".join(item.get("from") or []) or "-", ",".join(item.get("to") or []) or "-")
            out.append("  %d. %s%s %s%s at +%s s, %s s, %s%s" % (
                i, "  " if item.get("within") else "", item["kind"], item["target"], move, item["start"],
                item["seconds"], item["result"], " (%s)" % item["reason"] if item.get("reason") else ""))
        elif f["provider"] == "triton":
            out.append("  %d. %s: %s -> %s at +%s s, %s s, %s, %d bytes" % (
                i, item["instance"], item["from"], item["to"], item["start"], item["seconds"], item["result"],
                item["bytes_sent"]))
        else:
            out.append("  %d. %s: %s -> %s at +%s s, %s s (transfer %s s, %s), %s" % (
                i, item["server"], item["from"], item["to"], item.get("start"), item["seconds"], item["transfer_seconds"],
                item["transfer_basis"], item["status"]))
    sched = f.get("schedule")
    if sched and (sched["budgets"] or len(sched["waves"]) > 1):
        groups = "".join("; group %s: at most %s moving, peak %s%s" % (
            g["name"], g["max_moving"], g["peak_moving"], ", members " + ", ".join(g["members"]) if g["members"] else "")
            for g in sched["budgets"])
        out.append("schedule (%s): waves %s%s" % (tag, " | ".join(", ".join(w) for w in sched["waves"]), groups))
    risk = next(iter(f["at_risk"].values()))
    out.append("at risk (%s): %s" % (tag, "none" if not risk else "; ".join(
        "%s (%s)" % (k, ", ".join(v)) for k, v in risk.items())))
    if f["provider"] == "avi":
        created = f["created_service_engines"]
        out.append("SEs the controller would create (%s): %s" % (tag, "none" if not created else ", ".join(
            "%s in %s on %s" % (c["name"], c["group"], c["host"]) for c in created)))
    cap = f["capacity"]
    out.append("capacity shortfalls (%s): %s" % (tag, "none" if not cap["shortfalls"] else "; ".join(cap["shortfalls"])))
    room = [(h, r["memory_free"]) for h, r in sorted(cap["headroom_after"].items()) if r.get("memory_free") is not None]
    if f["provider"] == "virtfusion" and room:
        out.append("memory left per hypervisor (%s): %s" % (tag, ", ".join("%s %s MiB" % hr for hr in room)))
    dis = f["disruption"]
    out.append("disruption (%s): %s %s%s" % (tag, dis["total"], dis["unit"], "" if not dis["by_target"] else ": " + ", ".join(
        "%s %s" % (k, v) for k, v in sorted(dis["by_target"].items()))))
    if dis.get("data_intact"):
        bad = [k for k, v in dis["data_intact"].items() if not v]
        out.append("data checksums (%s): %d of %d intact%s" % (tag, len(dis["data_intact"]) - len(bad),
                                                               len(dis["data_intact"]),
                                                               "" if not bad else " (differ: %s)" % ", ".join(bad)))
    return out
