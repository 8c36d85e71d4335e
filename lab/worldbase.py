"""What every plane's world shares (lab.avi.world, lab.triton.world, lab.virtfusion.world): the lab
clock, write-through persistence of marked changes, the HTTP faults and the request counters.

A world holds its state in memory under one re-entrant lock (``lock``) and writes what a public
call changed to its SQLite file (``lab.store``) before the call returns: ``_mark`` notes a changed
document, ``_flush`` writes every noted one in one transaction.

The lab clock counts *lab seconds*: a duration of D lab seconds takes D * ``time_scale`` real
seconds. It is saved in the ``meta`` table (``clock``: ``lab_now``, ``time_scale``) and stands
still while the lab process is down **[lab assumption]**.

HTTP faults (``POST /_lab/faults``): ``http_error`` (``status``, ``method``, ``path`` regex,
``rate``, ``count``; status 0 drops the connection), ``unavailable`` (``status`` for ``seconds``
real seconds) and ``latency`` (every matching request (``method``, ``path`` regex, ``rate``,
``count``) is answered ``min_seconds`` to ``max_seconds`` real seconds late, uniformly drawn; or
``seconds`` for both; other requests are served meanwhile). A world adds its own kinds with
``_check_fault`` and counts their firings with ``_use_fault``.

Service time (``service_report``, in ``GET /_lab/stats`` as ``service``): per API request the real
seconds from its arrival to the start of its answer, less any injected latency: the lab's own cost
of an answer. In memory only; ``POST /_lab/stats/reset`` resets it.

Request log (``request_log``, ``GET /_lab/requests``): per API request its method, path, status and the
wall-clock times (``time.time()``) it arrived and its answer ended, for the benchmarks to split a module's time
between requests, operations and waiting. The last ``REQUEST_LOG_SIZE`` requests, in memory only; reset with
the stats.
"""
import collections
import math
import random
import re
import secrets
import threading
import time

REQUEST_LOG_SIZE = 100000


class WorldBase:
    """Base of a plane's world. A subclass defines ``_seed(time_scale)``, ``_load(time_scale)``,
    ``_empty_stats()``, ``_check_fault(f)`` (its own fault kinds; raise for an unknown one) and
    ``_bad_request(message)`` (its API's 400 error)."""

    def __init__(self, store, topology):
        self.lock = threading.RLock()
        self.store = store
        self.topology = topology
        self.stop_event = threading.Event()
        self._changes = {}
        self._rng = random.Random()
        self.service_reset()

    def _open(self, time_scale, reset, marker_table):
        """Seed from the topology (``reset``, or ``marker_table`` is empty), else load the saved state."""
        with self.lock:
            if reset or self.store.is_empty(marker_table):
                self.store.clear()
                self._seed(time_scale)
            else:
                self._load(time_scale)
            self._flush()

    def reset(self):
        with self.lock:
            self.store.clear()
            self._changes = {}
            self._seed(self.time_scale)
            self._flush()

    # ------------------------------------------------------------------ clock
    def _start_clock(self, time_scale):
        """A new lab clock at 0 (seeding): ``time_scale`` given, else the topology's, else 1."""
        self.time_scale = float(time_scale if time_scale is not None else self.topology.get("time_scale", 1.0))
        self.lab_base = 0.0
        self.mono_base = time.monotonic()

    def _load_clock(self, clock, time_scale):
        """The saved lab clock (``meta`` ``clock``) running on from where it stood."""
        self.time_scale = float(time_scale if time_scale is not None else clock["time_scale"])
        self.lab_base = clock["lab_now"]
        self.mono_base = time.monotonic()

    def lab_now(self):
        return self.lab_base + (time.monotonic() - self.mono_base) / self.time_scale

    def _rebase(self, scale=None):
        now = self.lab_now()
        self.lab_base, self.mono_base = now, time.monotonic()
        if scale is not None:
            self.time_scale = float(scale)

    def set_time_scale(self, scale):
        scale = float(scale)
        if scale <= 0 or math.isnan(scale):  # NaN is rejected too
            raise self._bad_request("scale must be > 0")
        with self.lock:
            self._rebase(scale)
            self._save_meta()
            self._flush()

    # ------------------------------------------------------------------ persistence
    def _mark(self, table, key, doc):
        # a reference: the document is serialized when flushed, under the lock, as it is then
        self._changes[(table, key if not isinstance(key, list) else tuple(key))] = doc

    def _flush(self):
        if self._changes:
            changes = [(t, k, d) for (t, k), d in self._changes.items()]
            self._changes = {}
            self.store.write(changes)

    def _clock_doc(self):
        return {"lab_now": self.lab_now(), "time_scale": self.time_scale}

    def _save_meta(self):
        self._mark("meta", "clock", self._clock_doc())
        self._mark("meta", "config", self.cfg)
        self._mark("meta", "stats", self.stats)

    def shutdown(self):
        self.stop_event.set()
        with self.lock:
            self._save_meta()
            self._flush()

    # ------------------------------------------------------------------ HTTP faults
    def add_fault(self, f):
        with self.lock:
            kind = f.get("kind")
            if kind == "http_error":
                re.compile(f.get("path", ".*"))
                f.setdefault("path", ".*")
                f.setdefault("method", "*")
                f.setdefault("status", 503)
                f.setdefault("rate", 1.0)
            elif kind == "unavailable":
                f.setdefault("status", 503)
                f["until"] = time.time() + float(f.get("seconds", 10))
            elif kind == "latency":
                self._check_latency(f)
            else:
                self._check_fault(f)
            fid = f"fault-{secrets.token_hex(4)}"
            f["id"], f["used"] = fid, 0
            self.faults[fid] = f
            self._mark("faults", fid, f)
            self._flush()
            return fid

    def list_faults(self):
        with self.lock:
            now = time.time()
            return [f for f in self.faults.values() if f["kind"] != "unavailable" or f["until"] > now]

    def clear_faults(self):
        with self.lock:
            for fid in list(self.faults):
                self._mark("faults", fid, None)
            self.faults = {}
            self._flush()

    def _check_latency(self, f):
        re.compile(f.get("path", ".*"))
        f.setdefault("path", ".*")
        f.setdefault("method", "*")
        f.setdefault("rate", 1.0)
        try:
            low = float(f.get("min_seconds", f.get("seconds", 0.0)))
            high = float(f.get("max_seconds", f.get("seconds", low)))
        except (TypeError, ValueError):
            raise self._bad_request("latency: seconds, min_seconds and max_seconds must be numbers") from None
        if not 0 <= low <= high or math.isnan(high):
            raise self._bad_request("latency: 0 <= min_seconds <= max_seconds wanted")
        f.pop("seconds", None)
        f["min_seconds"], f["max_seconds"] = low, high

    def _use_fault(self, fid, f):
        """Count one firing of fault ``f``: once it has fired ``count`` times it is gone (no ``count``:
        it stays until cleared). The change is marked, not flushed."""
        f["used"] = f.get("used", 0) + 1
        if f.get("count") is not None and f["used"] >= int(f["count"]):
            del self.faults[fid]
            self._mark("faults", fid, None)
        else:
            self._mark("faults", fid, f)

    def _unavailable_covers(self, path):
        """Whether an ``unavailable`` fault answers this path (default: every path)."""
        return True

    def http_fault(self, method, path):
        """None, or the status to answer (0 = drop the connection)."""
        with self.lock:
            now = time.time()
            for fid, f in list(self.faults.items()):
                if f["kind"] == "unavailable":
                    if f["until"] > now:
                        if self._unavailable_covers(path):
                            return int(f["status"])
                    else:
                        del self.faults[fid]
                        self._mark("faults", fid, None)
                elif f["kind"] == "http_error":
                    if f["method"] not in ("*", method) or not re.search(f["path"], path):
                        continue
                    if self._rng.random() >= float(f["rate"]):
                        continue
                    self._use_fault(fid, f)
                    return int(f["status"])
            return None

    def http_delay(self, method, path):
        """Real seconds to hold this request before serving it (``latency`` faults), 0.0 for none."""
        with self.lock:
            for fid, f in list(self.faults.items()):
                if f["kind"] != "latency" or f["method"] not in ("*", method) or not re.search(f["path"], path):
                    continue
                if self._rng.random() >= float(f["rate"]):
                    continue
                self._use_fault(fid, f)
                return self._rng.uniform(f["min_seconds"], f["max_seconds"])
            return 0.0

    # ------------------------------------------------------------------ stats
    def service_reset(self):
        self.requests_seen = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self.service = {"requests": 0, "seconds": 0.0, "max_seconds": 0.0, "delayed_requests": 0,
                        "delayed_seconds": 0.0}

    def time_request(self, seconds, delayed=0.0):
        """Note one API request: ``seconds`` the lab took to answer it, ``delayed`` the latency injected."""
        with self.lock:
            s = self.service
            s["requests"] += 1
            s["seconds"] += seconds
            s["max_seconds"] = max(s["max_seconds"], seconds)
            if delayed:
                s["delayed_requests"] += 1
                s["delayed_seconds"] += delayed

    def log_request(self, method, path, status, arrived, ended):
        """Note one API request in the request log (wall-clock ``arrived`` and ``ended``, ``time.time()``)."""
        self.requests_seen.append((method, path, status, round(arrived, 4), round(ended, 4)))

    def request_log(self):
        with self.lock:
            rows = list(self.requests_seen)
        return {"now": time.time(), "lab_now": self.lab_now(), "time_scale": self.time_scale,
                "requests": [{"method": m, "path": p, "status": s, "arrived": a, "ended": e}
                             for m, p, s, a, e in rows]}

    def service_report(self):
        with self.lock:
            s = dict(self.service)
            s["mean_seconds"] = s["seconds"] / s["requests"] if s["requests"] else None
            return {k: round(v, 6) if isinstance(v, float) else v for k, v in s.items()}

    def count_request(self, method, status):
        with self.lock:
            r = self.stats["requests"]
            r[method] = r.get(method, 0) + 1
            s = self.stats["status"]
            s[str(status)] = s.get(str(status), 0) + 1
