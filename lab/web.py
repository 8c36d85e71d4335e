"""The HTTP pieces the planes' Starlette apps share: request helpers, the admin routes of a
``lab.worldbase.WorldBase`` world, and the outermost ASGI layer that injects HTTP faults and
counts requests.

(Named ``web``, not ``http``: a module named ``http`` would shadow the standard library's for
anything that puts ``lab/`` itself on ``sys.path``.)
"""
import asyncio
import json
import time
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse

# A chunk a streaming handler sends to have FaultsAndStats cut its connection (a drop_watch fault).
DROP = b"\x00lab-drop-connection\x00"


def is_loopback(request):
    """Whether the request comes from this machine (the /_lab/ admin routes answer only those)."""
    return (request.client.host if request.client else "") in ("127.0.0.1", "::1", "localhost")


def query(request):
    """The query parameters as a dict (the last of a repeated name; blank values kept)."""
    return dict(parse_qsl(request.url.query, keep_blank_values=True))


async def read_json(request, error):
    """The request's JSON body ({} when there is none); raises ``error`` when it is not JSON."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise error from None


async def world_admin(world, path, meth, read_body, health=None, stats=None, reset=None):
    """The admin routes every ``WorldBase`` world answers: ``health``, ``faults`` (GET, POST,
    DELETE), ``stats``, ``stats/reset``, ``requests`` (the request log), ``reset`` and ``time-scale`` (GET, POST). Returns the
    response, or None for any other route. ``await read_body(object_only)`` is the request's JSON
    (with ``object_only``, what is not an object is refused), with the plane's own errors.
    ``health``, ``stats`` and ``reset`` (async callables) answer those routes for a plane that has
    more to report or reset than its world (helper processes, guests)."""
    if path == "health":
        if health is not None:
            return JSONResponse(await health())
        return JSONResponse({"ok": True, "time_scale": world.time_scale, "lab_now": world.lab_now()})
    if path == "faults":
        if meth == "GET":
            return JSONResponse({"faults": world.list_faults()})
        if meth == "DELETE":
            world.clear_faults()
            return JSONResponse({"ok": True})
        if meth == "POST":
            fid = world.add_fault(await read_body(True))
            return JSONResponse(dict(world.faults.get(fid) or {"id": fid}))
    if path == "stats" and meth == "GET":
        report = await stats() if stats is not None else world.stats_report()
        return JSONResponse(dict(report, service=world.service_report()))
    if path == "requests" and meth == "GET":
        return JSONResponse(world.request_log())
    if path == "stats/reset" and meth == "POST":
        world.stats_reset()
        world.service_reset()
        return JSONResponse({"ok": True})
    if path == "reset" and meth == "POST":
        if reset is not None:
            await reset()
        else:
            world.reset()
        return JSONResponse({"ok": True})
    if path == "time-scale":
        if meth == "POST":
            world.set_time_scale((await read_body(False)).get("scale"))
        return JSONResponse({"time_scale": world.time_scale})
    return None


class FaultsAndStats:
    """Outermost ASGI layer of a plane's API: injected HTTP faults (incl. dropped connections and
    latency), request counting and service time, through ``world.http_fault``, ``world.http_delay``,
    ``world.count_request`` and ``world.time_request``; ``/_lab/`` passes untouched.

    It wraps the Starlette app directly so that ``send`` is uvicorn's own: to drop a connection
    it aborts the transport of uvicorn's request cycle. A streaming handler drops its own connection
    by sending the chunk ``DROP``. A plane says how a fault answers (``fault_response``) and may add
    answers of its own (``fault``).
    """

    def __init__(self, app, world):
        self.app = app
        self.world = world

    def fault(self, method, path):
        """``(status, message)`` to answer instead of the app (status 0: drop the connection), or None."""
        status = self.world.http_fault(method, path)
        return None if status is None else (status, None)

    def fault_response(self, status, message):
        """The response of an injected fault; also for status 0 when the connection cannot be dropped."""
        raise NotImplementedError

    @staticmethod
    def abort(send):
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None:
            transport.abort()
            return True
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").startswith("/_lab/"):
            return await self.app(scope, receive, send)
        method = scope.get("method", "GET")
        arrived = time.time()
        delay = self.world.http_delay(method, scope.get("path", ""))
        if delay:
            await asyncio.sleep(delay)   # late, not blocking: other requests are served meanwhile
        started = time.perf_counter()
        hit = self.fault(method, scope.get("path", ""))
        if hit is not None:
            status, message = hit
            self.world.count_request(method, status if status else "dropped")
            self.world.time_request(time.perf_counter() - started, delay)
            self.world.log_request(method, scope.get("path", ""), status if status else "dropped", arrived, time.time())
            if status == 0 and self.abort(send):
                return
            await self.fault_response(status, message)(scope, receive, send)
            return
        seen = {}
        dropped = {}

        async def wrapped_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["answered"] = time.perf_counter()
            if message["type"] == "http.response.body" and message.get("body") == DROP:
                dropped["yes"] = self.abort(send)
                if dropped["yes"]:
                    return
                message = dict(message, body=b"", more_body=False)
            if dropped.get("yes"):
                return
            await send(message)
        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            self.world.count_request(method, seen.get("status", 500))
            self.world.time_request(seen.get("answered", time.perf_counter()) - started, delay)
            self.world.log_request(method, scope.get("path", ""), seen.get("status", 500), arrived, time.time())
