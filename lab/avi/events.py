"""The event log of the Avi world: what the controller reports happened (an SE being created, a migration
that failed, an SE evacuation that finished), in the vendor's EventLog shape, and the logs API that reads
it (``GET /api/analytics/logs?type=2``).

Vendor **[vendor]**: the path and its query options (``type`` 2 = event logs, ``filter=OP(field,value)``
repeatable, ``duration`` seconds back from now, ``page_size``, ``page``, ``orderby``, default
``-report_timestamp``: avinetworks.com/docs/17.2 and 20.1 api-guide/logs.html); ``filter=eq(event_id,[A,B])``
and ``filter=co(all,<uuid>)`` as the vendor's sample uses them (alb-sdk get_config_logs.py); EventLog fields,
event ids and details (alb-sdk swagger/Alert.json); ``report_timestamp`` in epoch seconds (the vendor's alert
script samples). **[lab assumption]**: which events the lab emits for which change (listed in lab/AVI.md),
their descriptions, and that an event is readable as soon as it is emitted.

Each event is one row ``event-<n>`` of the world's ``meta`` table; the newest :data:`KEEP` are kept.
"""
import re
import time

from lab.avi.common import ApiError
from lab.part import Part

KEEP = 5000
FILTER = re.compile(r"^(eq|ne|co|gt|lt|ge|le)\(([^,]+),(.*)\)$", re.S)
OBJ_TYPES = {"virtualservice": "VIRTUALSERVICE", "serviceengine": "SERVICEENGINE",
             "serviceenginegroup": "SERVICEENGINEGROUP"}


class Events(Part):
    def load(self, meta):
        self.w.events = sorted((doc for key, doc in meta.items() if key.startswith("event-")),
                               key=lambda e: e["_seq"])

    def seed(self):
        self.w.events = []

    def emit(self, event_id, typ, obj, module, description, details=None, reason_code=None):
        """Record one event about ``obj`` (a ``typ`` document of the world, or None)."""
        seq = (self.w.events[-1]["_seq"] + 1) if self.w.events else 1
        event = {"_seq": seq, "event_id": event_id, "module": module, "internal": "EVENT_EXTERNAL",
                 "context": "EVENT_CONTEXT_SYSTEM", "report_timestamp": int(time.time()),
                 "event_description": description, "tenant": "admin", "tenant_name": "admin"}
        if obj is not None:
            event.update(obj_type=OBJ_TYPES[typ], obj_uuid=obj["uuid"], obj_name=obj["name"])
        if details:
            event["event_details"] = details
        if reason_code is not None:
            event["reason_code"] = reason_code
        self.w.events.append(event)
        self.w._mark("meta", f"event-{seq:08d}", event)
        while len(self.w.events) > KEEP:
            old = self.w.events.pop(0)
            self.w._mark("meta", f"event-{old['_seq']:08d}", None)
        return event

    # ------------------------------------------------------------------ GET /api/analytics/logs
    @staticmethod
    def _match(event, op, field, value):
        if field == "all":
            text = repr({k: v for k, v in event.items() if not k.startswith("_")})
            return value in text if op == "co" else False
        have = event.get(field)
        values = [v.strip() for v in value[1:-1].split(",")] if value.startswith("[") and value.endswith("]") \
            else [value]
        if op == "eq":
            return str(have) in values
        if op == "ne":
            return str(have) not in values
        if op == "co":
            return have is not None and any(v in str(have) for v in values)
        try:
            have, limit = float(have), float(values[0])
        except (TypeError, ValueError):
            return False
        return {"gt": have > limit, "lt": have < limit, "ge": have >= limit, "le": have <= limit}[op]

    def logs(self, params, url):
        """The answer of ``GET /api/analytics/logs``; ``params`` is the query as a list of (name, value)."""
        q = {}
        filters = []
        for name, value in params:
            if name == "filter":
                m = FILTER.match(value)
                if not m:
                    raise ApiError(400, f"Invalid filter {value}: expected OPERATOR(field,value)")
                filters.append(m.groups())
            else:
                q[name] = value
        if q.get("type", "2") != "2":
            raise ApiError(400, "The lab keeps event logs only (type=2)")
        try:
            page = max(1, int(q.get("page", 1)))
            size = max(1, int(q.get("page_size", 10)))
            duration = float(q.get("duration", 0))
        except ValueError:
            raise ApiError(400, "page, page_size and duration must be numbers") from None
        with self.w.lock:
            events = list(self.w.events)
        if duration > 0:
            events = [e for e in events if e["report_timestamp"] >= time.time() - duration]
        for op, field, value in filters:
            events = [e for e in events if self._match(e, op, field, value)]
        order = q.get("orderby", "-report_timestamp")
        events.sort(key=lambda e: (e.get(order.lstrip("-")) or 0, e["_seq"]), reverse=order.startswith("-"))
        chunk = events[(page - 1) * size: page * size]
        out = {"count": len(events), "results": [{k: v for k, v in e.items() if not k.startswith("_")} for e in chunk]}
        if page * size < len(events):
            out["next"] = re.sub(r"([?&])page=\d+&?", r"\1", url).rstrip("&?")
            out["next"] += ("&" if "?" in out["next"] else "?") + f"page={page + 1}"
        return out
