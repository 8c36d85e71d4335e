"""The rehearsal of a fleet maintenance (``fleetops.maintenance.maintain_fleet``) on a twin: what stands for the
operator's work on each node, and the fleet's forecast.

Safety: the operator's ``tasks_file`` (patching, reboot) and ``health_check_tasks`` act on real machines; a rehearsal
never runs them. ``stand_in`` replaces them with ``rehearsal/tasks/node_work.yml`` (a pause on the controller, nothing on
any host), runs the node play with ``node_connection: local`` and keeps the fleet's state in the rehearsal's work
directory; ``refuse_operator_tasks`` stops the rehearsal if the operator's paths would still reach the playbook.

The forecast (``compute``), from the same lab reports as the other rehearsals plus the fleet's run record: the node
order and waves as the window ran them, per node the servers evacuated (and moved back) and where they went, the
capacity verdict before each start (refusals are shortfalls naming the node), the memory each hypervisor held at
most against its limit, and the duration at real speed. Real speed: a piecewise clock over the rehearsal's wall time,
where each node's evacuation (and move back) counts the modelled vendor time of its migrations, ``concurrency`` at a
time (forecast.virtfusion's or forecast.triton's durations, as a host evacuation's forecast), the stand-in for the
operator's work counts ``rehearsal_node_work_seconds``, and the rest (the collection's own time: checks, lock, health)
counts as measured. Where several run at once, the slowest rate counts (an approximation, said in the guide).

Both providers: a VirtFusion migration is placed on the wall clock by the lab's ``created_real`` / ``finished_real``
and attributed to a node by its source and destination hypervisor ids; a Triton migration (the Triton lab times it on
its own clock, in lab seconds: ``started``, ``switched``, ``ended``) by the same records' real-time stamps
(``started_real``, ``ended_real``; the lab's clock is real time / time_scale) and its source and target hostnames,
its modelled duration the lab seconds forecast.triton counts (begin, syncs, switch, finalize).
"""
import datetime
import json
import os

from rehearsal import forecast as forecasting
from rehearsal.timeline import merged, waves, window_makespan

NODE_WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks", "node_work.yml")
# the operator's fleet variables a rehearsal replaces: their tasks, how nodes are reached, where the fleet's state is
REPLACED = ("tasks_file", "health_check_tasks", "node_connection", "state_dir")
OPERATOR_TASKS = ("tasks_file", "health_check_tasks")
WORK_SECONDS = "rehearsal_node_work_seconds"
NODE_TYPES = ("compute_node", "hypervisor")
STAMP = "%Y-%m-%dT%H:%M:%S.%f"


def _nodes(variables):
    value = variables.get("compute_nodes") or ""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _work_seconds(variables):
    value = variables.get(WORK_SECONDS)
    if value in (None, ""):
        return 0.0
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds < 0:
        raise SystemExit("%s: give the real seconds the operator's work on one node takes (a number >= 0), got %r"
                         % (WORK_SECONDS, value))
    return seconds


def hosts(variables):
    """The fleet's nodes, window, move back and the stand-in's seconds (a forecast's and a measurement's ctx)."""
    value = variables.get("move_back")
    move_back = value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1", "on")
    return {"source_host": None, "fleet_nodes": _nodes(variables), "fleet_window": int(variables.get("window") or 2),
            "move_back": move_back,
            "node_work_seconds": _work_seconds(variables) if WORK_SECONDS in variables else None}


PROVIDERS = ("triton", "virtfusion")


def check_provider(provider):
    if provider not in PROVIDERS:
        raise SystemExit("maintenance maintain_fleet: the rehearsal forecasts a fleet of Triton compute nodes or "
                         "VirtFusion hypervisors (provider: triton or virtfusion), got provider %s" % provider)


def stand_in(variables, maint_vars, work, time_scale, ignored):
    """Point the fleet's run at the stand-in for the operator's work; returns the assumption the forecast prints."""
    seconds = _work_seconds(variables)
    for name in REPLACED:
        if name in variables and name not in ignored:
            ignored.append(name)
    given = [os.path.basename(str(variables[k])) for k in OPERATOR_TASKS if variables.get(k)]
    maint_vars["tasks_file"] = NODE_WORK
    maint_vars["health_check_tasks"] = ""
    maint_vars["node_connection"] = "local"
    maint_vars["state_dir"] = os.path.join(work, "fleet-state")
    maint_vars[WORK_SECONDS] = seconds
    maint_vars["rehearsal_node_work_pause"] = round(seconds * float(time_scale), 3)
    return {"field": "the operator's work on each node (%s)" % (", ".join(given) or "no tasks_file given"),
            "assumed": "not run; a pause standing for %s s at real speed (%s) ran in its place" % (seconds, WORK_SECONDS),
            "source": "a rehearsal never runs the operator's tasks or health check: they would act on real machines; "
                      "the health wait is the vendor's word only"}


def accept_drive_sizes(maint_vars, unknown_field):
    """A twin without hypervisor storage: the lab's destinations list no drive sizes, so the placement's room is
    unknown on every hypervisor and the fleet's capacity check would refuse every node. The rehearsal accepts that
    unknown (accept_unverified: capacity, in the rehearsal only); memory, CPU and server slots still gate each start
    and each destination (a shortfall in them still refuses)."""
    value = maint_vars.get("accept_unverified") or ""
    accepted = [x.strip() for x in value.split(",") if x.strip()] if isinstance(value, str) else list(value)
    if "capacity" not in accepted:
        maint_vars["accept_unverified"] = ",".join(accepted + ["capacity"])
    return {"field": "the fleet's capacity check and placement: drive sizes on each destination",
            "assumed": "room enough (accept_unverified: capacity, in the rehearsal only); memory, CPU and server slots "
                       "still counted", "source": "the twin has no hypervisor storage: %s" % unknown_field}


def refuse_operator_tasks(variables, maint_vars):
    """Stop before the run if the operator's tasks file or health check would still reach the playbook."""
    text = json.dumps(maint_vars, sort_keys=True)
    for name in OPERATOR_TASKS:
        path = str(variables.get(name) or "")
        if not path:
            continue
        forms = set([path, os.path.abspath(os.path.expanduser(path)), os.path.realpath(os.path.expanduser(path))])
        if any(form in text for form in forms):
            raise SystemExit("maintenance maintain_fleet: the operator's %s (%s) would reach the rehearsal's run; "
                             "refused (a rehearsal never runs the operator's tasks)" % (name, path))
    if maint_vars.get("tasks_file") != NODE_WORK or maint_vars.get("health_check_tasks"):
        raise SystemExit("maintenance maintain_fleet: the rehearsal's run must use %s and no health check" % NODE_WORK)


# ------------------------------------------------------------------------------------------------------ forecast
def _epoch(stamp):
    if not stamp:
        return None
    try:
        when = datetime.datetime.strptime(stamp, STAMP)
    except ValueError:
        when = datetime.datetime.fromisoformat(stamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _vf_moves(before, after, _ctx):
    """VirtFusion: each migration (who, from, to, status, completed, wall-clock span, memory), the memory each
    hypervisor held before the run and its limit (the vendor's max_memory, by hypervisor name)."""
    hv_names = dict((h["id"], h["name"]) for h in after["world"].get("hypervisors") or [])
    memory = dict((s["id"], s.get("memory") or 0) for s in before["world"].get("servers") or [])
    moves = []
    for m in forecasting.virtfusion_migrations(before, after):   # ordered as forecast.virtfusion orders them
        lab = m.get("_lab") or {}
        moves.append({"who": m.get("serverName"), "from": hv_names.get(m.get("sourceId")),
                      "to": hv_names.get(m.get("destinationId")), "status": m.get("status"),
                      "completed": m.get("status") == "complete" and not m.get("cancelled"),
                      "start": lab.get("created_real"), "end": lab.get("finished_real"),
                      "memory": memory.get(m.get("serverId"), 0),
                      "downtime": (m.get("qemu") or {}).get("downtimeMs") if m.get("status") == "complete"
                      and not m.get("cancelled") else None})
    held = dict((h["name"], 0) for h in after["world"].get("hypervisors") or [])
    for srv in before["world"].get("servers") or []:
        node = hv_names.get(srv.get("hypervisorId"), srv.get("hypervisorId"))
        held[node] = held.get(node, 0) + (srv.get("memory") or 0)
    limits = dict((h["name"], h.get("max_memory") or None) for h in after["world"].get("hypervisors") or [])
    return moves, held, limits


def _triton_moves(before, after, ctx):
    """Triton: each migration as forecast.triton orders them (by its start in lab seconds, then the instance), placed
    on the wall clock by the lab's real-time stamps and attributed by its source and target hostnames; an instance's
    RAM from the lab's topology (the twin's sizes); each node's limit its reservable RAM before the run (CNAPI's
    unreserved_ram plus the RAM of the instances on it then)."""
    migs = forecasting.triton_migrations(before, after)
    ram = dict((i.get("name"), i.get("ram") or 0)
               for i in ((ctx.get("topology") or {}).get("triton") or {}).get("instances") or [] if isinstance(i, dict))
    moves = [{"who": m["instance"], "from": m.get("source_server_hostname"), "to": m.get("target_server_hostname"),
              "status": m.get("result"), "completed": m.get("result") == "finalized", "start": m.get("started_real"),
              "end": m.get("ended_real") or m.get("failed_real") or m.get("switched_real"),
              "memory": ram.get(m["instance"], 0), "downtime": m.get("downtime_lab_seconds")} for m in migs]
    held = {}
    for name, entry in (before["instances"].get("instances") or {}).items():
        node = entry.get("server_hostname")
        held[node] = held.get(node, 0) + ram.get(name, 0)
    limits = {}
    for server in before.get("servers") or []:
        node = server.get("hostname")
        held.setdefault(node, 0)
        limits[node] = None if server.get("unreserved_ram") is None else server["unreserved_ram"] + held[node]
    return moves, held, limits


MOVES = {"virtfusion": _vf_moves, "triton": _triton_moves}
# what a migration moves, and what a node is, per provider (run-record target types)
WHO = {"virtfusion": "server", "triton": "instance"}
NODE_TYPE = {"virtfusion": "hypervisor", "triton": "compute_node"}


def clock(intervals):
    """Piecewise clock: ``intervals`` [(start, end, rate)] on the wall clock; the time inside one counts ``rate`` real
    seconds per second (the highest where they overlap), outside them 1 (before the first too: a node's checks before
    its first migration count as measured). Returns t -> seconds since the first interval's start."""
    points = sorted(set([p for s, e, _r in intervals for p in (s, e) if s is not None and e is not None]))
    segments = []
    for a, b in zip(points, points[1:]):
        mid = (a + b) / 2.0
        rates = [r for s, e, r in intervals if s is not None and e is not None and s <= mid < e]
        segments.append((a, b, max(rates) if rates else 1.0))

    origin = points[0] if points else 0.0

    def at(t):
        if t <= origin or not segments:
            return t - origin
        total = 0.0
        for a, b, rate in segments:
            if t <= a:
                break
            total += (min(b, t) - a) * rate
        if segments and t > segments[-1][1]:
            total += t - segments[-1][1]
        return total
    return at


def _node_steps(record):
    return [s for s in (record.get("steps") or [])[1:] if s.get("target_type") in NODE_TYPES]


def _phases(step):
    out = {}
    for p in step.get("phases") or []:
        out[p.get("name")] = (_epoch(p.get("start")), _epoch(p.get("end")))
    return out


def _replay_memory(moves, held, limits, names, node_word="hypervisor"):
    """The most memory each node held during the run (an instance or server counts on its destination from the
    migration's start, and leaves its source when the migration completes), against its limit."""
    held = dict(held)
    peak = dict(held)
    events = []
    for m in moves:
        events.append((m["start"] or 0, 1, m))
        events.append((m["end"] or m["start"] or 0, 2, m))
    for _t, kind, m in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 1:
            held[m["to"]] = held.get(m["to"], 0) + m["memory"]
            peak[m["to"]] = max(peak.get(m["to"], 0), held[m["to"]])
        elif m["completed"]:
            held[m["from"]] = held.get(m["from"], 0) - m["memory"]
        else:
            held[m["to"]] = held.get(m["to"], 0) - m["memory"]
    out, exceeded = {}, []
    for node in sorted(set(limits) | set(held), key=str):
        if node is None:
            continue
        limit = limits.get(node) or None
        out[names(node)] = {"peak_memory": peak.get(node, 0), "max_memory": limit}
        if limit and peak.get(node, 0) > limit:
            exceeded.append("%s %s held %s MiB at most, over its limit %s" % (node_word, names(node), peak[node], limit))
    return out, exceeded


def _attribute(moves, steps):
    """Each migration's part of the fleet: ("evacuate", node) when it left the node during the node's evacuation,
    ("move back", node) when it came to the node during its move back, else ("other", index)."""
    out = []
    for i, m in enumerate(moves):
        key, s = ("other", i), m["start"]
        for step in steps:
            node, ph = step.get("target"), _phases(step)
            evac, back = ph.get("evacuate", (None, None)), ph.get("move back", (None, None))
            if evac[0] is not None and s is not None and evac[0] <= s <= (evac[1] or s) and m["from"] == node:
                key = ("evacuate", node)
            elif back[0] is not None and s is not None and back[0] <= s <= (back[1] or s) and m["to"] == node:
                key = ("move back", node)
        out.append(key)
    return out


def compute(before, after, ctx, label="forecast"):
    """forecast.compute for a fleet run, with its ``fleet`` part, its duration and start offsets at real speed."""
    names = forecasting.Names(ctx.get("names"))
    out = forecasting.compute(before, after, ctx, label)
    record = ctx.get("record") or {}
    provider = before["provider"]
    moves, held, limits = MOVES[provider](before, after, ctx)
    steps = _node_steps(record)
    mig_spans = [(m["start"], m["end"]) for m in moves]
    group_of = _attribute(moves, steps)
    # the piecewise clock: each node's evacuation (and move back) at the modelled vendor time of its migrations,
    # concurrency at a time (forecast.virtfusion's or forecast.triton's durations), the stand-in at the operator's
    # seconds
    groups = {}
    for i, key in enumerate(group_of):
        groups.setdefault(key, []).append(i)
    intervals, group_spans = [], []
    for members in groups.values():
        s = min([mig_spans[i][0] for i in members if mig_spans[i][0] is not None] or [None])
        e = max([mig_spans[i][1] for i in members if mig_spans[i][1] is not None] or [None])
        busy = window_makespan([float(out["order"][i].get("seconds") or 0.0) for i in members], ctx.get("window") or 1)
        if s is not None and e is not None and e > s:
            intervals.append((s, e, busy / (e - s)))
            group_spans.append((s, e))
    work = ctx.get("node_work_seconds") if label == "forecast" else None   # a real run's work counts as measured
    work_spans = []
    for step in steps:
        s, e = _phases(step).get("maintenance", (None, None))
        if s is not None and e is not None and e > s:
            work_spans.append((s, e))
            if work is not None:
                intervals.append((s, e, float(work) / (e - s)))
    starts = []
    for step in steps:
        ph = _phases(step)
        busy = [v for k, v in ph.items() if k != "wait for a slot" and v[0] is not None]
        if busy:
            starts.append(min(v[0] for v in busy))
    t0 = min(starts + [s for s, _e in mig_spans if s is not None] or [0.0])
    at = clock(intervals)

    def real(t):
        return None if t is None else round(at(t) - at(t0), 2)
    for (s, _e), item in zip(mig_spans, out["order"]):
        item["start"] = real(s)
    per_node, spans, shortfalls = [], [], []
    for step in steps:
        node = step.get("target")
        ph = _phases(step)
        busy = [v for k, v in ph.items() if k != "wait for a slot" and v[0] is not None]
        start = min(v[0] for v in busy) if busy else None
        end = max((v[1] for v in busy if v[1] is not None), default=None)
        evacuated, moved_back = [], []
        for m, key in zip(moves, group_of):
            entry = {WHO[provider]: names(m["who"]), "from": names(m["from"]), "to": names(m["to"]),
                     "status": m["status"]}
            if key == ("evacuate", node):
                evacuated.append(entry)
            elif key == ("move back", node):
                moved_back.append(entry)
        room = (step.get("details") or {}).get("room") or {}
        result = step.get("result") or "unfinished"
        if result in ("failed", "not_started"):
            text = str(step.get("message") or result)
            shortfalls.append(text if text.startswith(str(node)) else "%s: %s" % (names(node), text))
        per_node.append({"node": names(node), "start": real(start), "end": real(end),
                         "seconds": None if start is None or end is None else round(at(end) - at(start), 2),
                         "result": result, "capacity": {"verdict": room.get("verdict"), "detail": room.get("detail")},
                         "evacuated": evacuated, "moved_back": moved_back,
                         "phases": [p.get("name") for p in step.get("phases") or []]})
        if start is not None:
            spans.append((names(node), real(start), real(end)))
    per_node.sort(key=lambda n: (n["start"] is None, n["start"] or 0, n["node"]))   # as the window started them
    started = [n["node"] for n in per_node if n["start"] is not None]
    # disruption: every switch counts (forecast.compute keeps one per instance or server; a fleet moves one twice
    # when it comes home, or when the node it went to is maintained later)
    downtime = {}
    for m in moves:
        if m["downtime"] is not None:
            downtime[names(m["who"])] = downtime.get(names(m["who"]), 0) + m["downtime"]
    if downtime:
        digits = 2 if provider == "triton" else 0
        out["disruption"]["by_target"] = dict((k, round(v, digits) if digits else v) for k, v in downtime.items())
        out["disruption"]["total"] = round(sum(downtime.values()), digits) if digits else sum(downtime.values())
    peaks, exceeded = _replay_memory(moves, held, limits, names, NODE_TYPE[provider].replace("_", " "))
    for text in shortfalls + exceeded:
        if text not in out["capacity"]["shortfalls"]:
            out["capacity"]["shortfalls"].append(text)
    # duration at real speed: from the first node's start to the last's end
    last = max([e for _s, e in mig_spans if e is not None] + [v[1] for st in steps for v in _phases(st).values()
                                                              if v[1] is not None] or [t0])
    vendor = _clocked_union(group_spans, at)
    stood_in = _clocked_union(work_spans, at)
    total = round(at(last) - at(t0), 1)
    duration = dict(out["duration"])
    duration.update(seconds=total, vendor_operations_seconds=round(vendor, 1),
                    collection_seconds=round(max(0.0, total - vendor - stood_in), 1),
                    node_work_seconds=round(stood_in, 1), run_wall_seconds=round(last - t0, 1) if ctx.get("wall") is None
                    else duration.get("run_wall_seconds"))
    out["duration"] = duration
    out["fleet"] = {"nodes": [names(n) for n in ctx.get("fleet_nodes") or []], "window": ctx.get("fleet_window"),
                    "move_back": ctx.get("move_back"), "order": started,
                    "waves": waves(spans), "per_node": per_node,
                    "memory": peaks, "capacity_exceeded": exceeded,
                    "node_work": {"seconds": work, "stood_in": label == "forecast"},
                    "record_result": record.get("result")}
    out["lines"] = forecasting.lines(out) + lines(out)
    return out


def _clocked_union(spans, at):
    """Real-speed seconds of the union of wall-clock spans."""
    return sum(at(e) - at(s) for s, e in merged(spans))


def who(entry):
    """What a per-node entry moved: a VirtFusion server or a Triton instance."""
    return entry.get("server", entry.get("instance"))


def lines(f):
    tag = "forecast" if f["kind"] == "forecast" else "measured"
    fl = f["fleet"]
    out = ["fleet (%s): %d node(s), window %s, move back %s; started in the order %s; waves %s" % (
        tag, len(fl["nodes"]), fl["window"], "yes" if fl["move_back"] else "no", ", ".join(fl["order"]) or "none",
        " | ".join(", ".join(w) for w in fl["waves"]) or "none")]
    for n in fl["per_node"]:
        moves = ", ".join("%s -> %s" % (who(e), e["to"]) for e in n["evacuated"]) or "nothing"
        back = "; moved back: %s" % (", ".join("%s <- %s" % (who(e), e["from"]) for e in n["moved_back"]) or "nothing") \
            if fl["move_back"] else ""
        out.append("  %s: %s, starts at +%s s, %s s; capacity before its start: %s (%s); evacuated: %s%s" % (
            n["node"], n["result"], n["start"], n["seconds"], n["capacity"]["verdict"], n["capacity"]["detail"],
            moves, back))
    out.append("memory held at most per %s (%s, MiB of the limit): %s%s" % (
        NODE_TYPE.get(f.get("provider"), "node").replace("_", " "), tag,
        ", ".join("%s %s/%s" % (h, v["peak_memory"], v["max_memory"]) for h, v in sorted(fl["memory"].items())),
        "; EXCEEDED: " + "; ".join(fl["capacity_exceeded"]) if fl["capacity_exceeded"] else "; never exceeded"))
    if fl["node_work"]["stood_in"]:
        out.append("the operator's work on each node was NOT run: %s s at real speed stood for it per node "
                   "(rehearsal_node_work_seconds)" % (fl["node_work"]["seconds"] or 0))
    return out


def record_steps(f, epoch):
    """The fleet's forecast as run-record steps: one per node (its span) and one per migration, at real speed."""
    def at(offset):
        return (epoch + datetime.timedelta(seconds=float(offset or 0))).replace(tzinfo=None).isoformat()
    steps = []
    provider = f["provider"]
    key = WHO[provider]   # Triton: downtime in (lab) seconds; VirtFusion: QEMU's, in ms
    wave_of = dict((n, i + 1) for i, w in enumerate(f["fleet"]["waves"]) for n in w)
    for n in f["fleet"]["per_node"]:
        moves = ", ".join("%s -> %s" % (who(e), e["to"]) for e in n["evacuated"]) or "nothing to move"
        steps.append({"target": n["node"], "target_type": NODE_TYPE[provider], "group": "wave %s" % wave_of.get(n["node"], "-"),
                      "start": at(n["start"]), "end": at(n["end"] if n["end"] is not None else n["start"]),
                      "result": n["result"], "message": "capacity %s; evacuated: %s%s" % (
                          n["capacity"]["verdict"], moves, "; moved back: %d" % len(n["moved_back"])
                          if f["fleet"]["move_back"] else ""),
                      "disruption": {"expected": False, "seconds": 0.0}})
        for kind, entries in (("evacuation of", n["evacuated"]), ("move back to", n["moved_back"])):
            for e in entries:
                item = next((i for i in f["order"] if i[key] == e[key] and i["from"] == e["from"]
                             and i["to"] == e["to"]), {})
                downtime = f["disruption"]["by_target"].get(e[key])
                steps.append({"target": "%s (%s %s)" % (e[key], kind, n["node"]), "target_type": key,
                              "group": "%s %s" % (kind, n["node"]), "start": at(item.get("start")),
                              "end": at((item.get("start") or 0) + (item.get("seconds") or 0)),
                              "result": e["status"] or "unknown", "message": "%s -> %s" % (e["from"], e["to"]),
                              "disruption": {"expected": downtime is not None, "seconds": None if downtime is None
                                             else downtime if provider == "triton" else downtime / 1000.0}})
    return steps
