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
    return ("\nAnsible's floor, measured side by side: %s took %.2f s: task start, async wrapper, module start, its"
            "\n  reads, the result. Ratio with the floor taken out, %s: %s"
            % (what, floor, formula, ", ".join("%s %.2f" % pair for pair in ratios)))
