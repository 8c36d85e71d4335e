"""Split a module call's time outside the vendor's operations by cause, for the benchmarks' tables.

Inputs, all wall-clock seconds (``time.time()``): the module call's window (its start as the play noted it,
its end), the lab's own operation intervals (``ops``: dicts with ``start``, ``end`` and ``key``, the object
the operation acts on) and the lab's request log (``GET /_lab/requests``: ``arrived``, ``ended``, ``path``).

Every instant of the window falls in exactly one of:

- ``op``: some vendor operation runs (the part the module cannot shorten);
- ``startup``: before the module's first request (Ansible's task start, the module's start and imports);
- ``requests``: in a request (arrival to the end of its answer), no operation running;
- ``waiting``: after an operation's end, before the module's next request that can have seen it (one naming
  the operation's object, or naming none: a collection read), no operation or request running;
- ``finish``: after the module's last answer (the module's own end, Ansible's result handling);
- ``rest``: any other time between requests (the module's own work, polls of an operation not yet started).
"""

import heapq
import json
import os


def _inside(t, intervals):
    return any(a <= t < b for a, b in intervals)


def split(start, end, ops, requests, names_object=None):
    """Seconds per cause (dict) of the window ``start``..``end``. ``names_object(path)``: the object
    keys a request path names (empty: it names none, so it can see every operation's end)."""
    names_object = names_object or (lambda path: ())
    reqs = sorted((r["arrived"], r["ended"], r["path"]) for r in requests
                  if r["ended"] > start and r["arrived"] < end)
    op_iv = [(o["start"], o["end"]) for o in ops if o["end"] > start and o["start"] < end]
    req_iv = [(a, b) for a, b, _p in reqs]
    first = reqs[0][0] if reqs else end
    last = max((b for _a, b, _p in reqs), default=start)
    waits = []
    for o in ops:
        if not start <= o["end"] < end:
            continue
        seen = next((a for a, _b, p in reqs
                     if a >= o["end"] and (not names_object(p) or o.get("key") in names_object(p))), end)
        waits.append((o["end"], seen))
    points = sorted({min(max(t, start), end) for iv in (op_iv, req_iv, waits) for pair in iv for t in pair}
                    | {start, end, first, last})
    out = dict.fromkeys(("op", "startup", "requests", "waiting", "finish", "rest"), 0.0)
    for a, b in zip(points, points[1:]):
        if b <= a:
            continue
        t = (a + b) / 2
        if _inside(t, op_iv):
            cause = "op"
        elif t < first:
            cause = "startup"
        elif _inside(t, req_iv):
            cause = "requests"
        elif t >= last:
            cause = "finish"
        elif _inside(t, waits):
            cause = "waiting"
        else:
            cause = "rest"
        out[cause] += b - a
    out["outside"] = (end - start) - out["op"]
    out["requests_n"] = len(reqs)
    return out


HEADER = ("%-12s %8s %8s %9s %8s %8s %7s %7s %5s"
          % ("run", "outside", "startup", "requests", "waiting", "finish", "rest", "op", "reqs"))


def row(name, s):
    return ("%-12s %8.2f %8.2f %9.2f %8.2f %8.2f %7.2f %7.2f %5d"
            % (name, s["outside"], s["startup"], s["requests"], s["waiting"], s["finish"], s["rest"], s["op"],
               s["requests_n"]))


LEGEND = ("outside = module s not covered by a lab operation = startup (task start to the first request) + requests"
          "\n  (in a request, no operation running) + waiting (an operation's end to the next request that can see"
          "\n  it) + finish (last answer to the module's end) + rest (own work between requests); op = operation time"
          "\n  inside the module call; seconds, wall clock, from the lab's request log and operation timestamps")


def pop_floor(names):
    """The name of the side-by-side floor run, given as the last argument ``floor:NAME`` (taken off ``names``),
    or None."""
    if names and names[-1].startswith("floor:"):
        return names.pop()[len("floor:"):]
    return None


def floor_text(what, floor, formula, ratios):
    """The floor paragraph of a benchmark's report: ``what`` (the call that had nothing to do) took ``floor``
    seconds, what no module design takes out; then each run's ratio with it taken out (``ratios``: (run, ratio))."""
    return ("\nAnsible's floor, measured side by side: %s took %.2f s: task start, module start, its reads, the"
            "\n  result. Ratio with the floor taken out, %s: %s"
            % (what, floor, formula, ", ".join("%s %.2f" % pair for pair in ratios)))


def read_stamps(path):
    """The lines benchmarks/stamp_python.sh wrote: [(epoch seconds, "start" or "end", script name)], in time order;
    [] when there is no such file."""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    out.append((float(parts[0].replace(",", ".")), parts[1], parts[2]))
    except OSError:
        return []
    return sorted(out)


def ends_split(start, end, requests, stamps):
    """The module call's start-up (its window's start to its first request) and finish (its last answer to the
    window's end) split at the instants benchmarks/stamp_python.sh noted, seconds; None without stamps:

    - ``controller``: the window's start to the async wrapper's start on the target (Ansible's task start, the
      module's AnsiballZ payload and the async wrapper's built and copied), or to the module's start where it
      runs without the async wrapper (``connection: local``: the module runs the ordinary way);
    - ``wrapper``: the async wrapper's start to the module's (its interpreter, imports, forks); 0 without it;
    - ``module``: the module's interpreter start to its first request (AnsiballZ, imports, arguments, the module's
      own work before it asks anything);
    - ``exit``: the module's last answer to its process's end (its own end, the result, the interpreter's exit);
    - ``seen``: the module's end to the window's end (the result's way back to the play and its next task; with
      the async wrapper, its result file and the live-progress poll seeing it first).

    Several module calls in one window (batches): the first call's start-up and the last call's finish."""
    reqs = sorted((r["arrived"], r["ended"]) for r in requests if r["ended"] > start and r["arrived"] < end)
    inside = [s for s in stamps if start <= s[0] <= end]
    wrapper = next((t for t, what, name in inside if what == "start" and name == "async_wrapper.py"), None)
    module = next((t for t, what, name in inside if what == "start" and name.startswith("AnsiballZ_")
                   and t >= (wrapper or start)), None)
    module_end = max((t for t, what, name in inside if what == "end" and name.startswith("AnsiballZ_")), default=None)
    if not reqs or module is None or module_end is None:
        return None
    first, last = reqs[0][0], max(b for _a, b in reqs)
    wrapper = module if wrapper is None else wrapper
    return {"controller": wrapper - start, "wrapper": module - wrapper, "module": first - module,
            "exit": module_end - last, "seen": end - module_end}


def ends(out, name, run):
    """The start-up and finish of the run saved as ``out/name.json`` (``run``: its JSON, with ``start`` and ``end``),
    split at its interpreter stamps (``name.stamps``) and request log (``name.requests.json``); None without them."""
    try:
        with open(os.path.join(out, name + ".requests.json"), encoding="utf-8") as stream:
            requests = json.load(stream)["requests"]
    except OSError:
        return None
    return ends_split(run["start"], run["end"], requests, read_stamps(os.path.join(out, name + ".stamps")))


ENDS_HEADER = ("%-12s %10s %8s %7s %7s %7s" % ("run", "controller", "wrapper", "module", "exit", "seen"))


def ends_row(name, parts):
    if parts is None:
        return "%-12s (no interpreter stamps)" % name
    return ("%-12s %10.2f %8.2f %7.2f %7.2f %7.2f"
            % (name, parts["controller"], parts["wrapper"], parts["module"], parts["exit"], parts["seen"]))


ENDS_LEGEND = ("start-up = controller (task start to the module's start: Ansible builds and copies the module; with"
               "\n  the async wrapper, to its start) + wrapper (the async wrapper's interpreter, imports and forks, to"
               "\n  the module's start; 0: the module runs the ordinary way, connection local) + module (its"
               "\n  interpreter, AnsiballZ, imports, its work before the first request); finish = exit (last answer to"
               "\n  the module process's end) + seen (the result's way back, the next task's start; with the async"
               "\n  wrapper, its result file and the live-progress poll first); from benchmarks/stamp_python.sh")


def makespan(durations, slots):
    """Seconds ``durations`` take started in their order on ``slots`` (each the moment a slot frees, no gap)."""
    free = [0.0] * max(1, slots)
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


TARGET = 1.3   # issue 16: each evacuation within 1.3x of its ideal

GAP_HEADER = ("%-12s %7s %7s %8s %8s %6s %12s"
              % ("run", "wall", "ideal", "packing", "outside", "ratio", "over %.1fx" % TARGET))


def gap_row(name, wall, ideal, s):
    """wall = ideal + packing + outside, seconds: ``s`` is the run's split (``op`` + ``outside`` = wall)."""
    packing = s["op"] - ideal
    packing = packing if abs(packing) >= 0.005 else 0.0   # not "-0.00"
    return ("%-12s %7.2f %7.2f %8.2f %8.2f %6.2f %12.2f"
            % (name, wall, ideal, packing, s["outside"], wall / ideal, wall - TARGET * ideal))


GAP_LEGEND = ("wall = ideal + packing + outside: packing = the migrations' span beyond the ideal (their lengths and"
              "\n  start order on N slots; for batches also each batch's wait for its slowest), outside = the split"
              "\n  above; over %.1fx = wall - %.1f x ideal (negative: within it): the seconds the run would have to"
              "\n  lose to be within %.1fx of its ideal" % (TARGET, TARGET, TARGET))


def gap_report(title, runs):
    """The "where each run's wall goes" section: ``title``, a ``gap_row`` per run, the legend, then the simulated
    packing of each run with ``durations`` (dicts: name, wall, ideal, split, slots, durations or None)."""
    lines = ["\n%s (seconds)\n%s" % (title, GAP_HEADER)]
    lines += [gap_row(r["name"], r["wall"], r["ideal"], r["split"]) for r in runs]
    lines.append(GAP_LEGEND)
    lines += [packing_text(r["name"], r["durations"], r["slots"], r["ideal"]) for r in runs if r["durations"]]
    return "\n".join(lines)


def packing_text(name, durations, slots, ideal):
    """A window's packing, simulated: its ``durations`` (in the order they started) on ``slots`` again, in that order
    and largest first, against ``ideal``."""
    return ("  %s's packing: its %d migrations on %d slots in the order they started take %.2f s; largest first %.2f s"
            " (the ideal %.2f s); simulated from this run's durations, one starting the moment one ends"
            % (name, len(durations), slots, makespan(durations, slots),
               makespan(sorted(durations, reverse=True), slots), ideal))
