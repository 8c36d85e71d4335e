"""CloudAPI (the end-user API) of the Triton plane, plus the plane's /_lab/ admin routes.

Paths, fields, status codes and error bodies follow sdc-cloudapi (lib/migrations.js,
lib/machines.js, lib/auth.js) and sdc-vmapi (lib/vm-migration/migrate.js); see lab/TRITON.md.
"""
import asyncio
import json
import logging
import uuid as uuidlib
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lab.triton.auth import authenticate
from lab.triton.common import ApiError
from lab.web import DROP, FaultsAndStats as BaseFaultsAndStats, is_loopback, world_admin

log = logging.getLogger("lab.triton.cloudapi")
API_VERSION = "9.0.0"
SERVER = "cloudapi/9.20.0 (fleetops lab)"


def error_response(e, headers=None):
    body = {"code": e.code, "message": e.message}
    body.update(e.extra)
    return JSONResponse(body, status_code=e.status, headers=headers)


async def request_params(request):
    """Query parameters overlaid with the JSON or form body (restify mapParams + overrideParams)."""
    params = dict(parse_qsl(request.url.query, keep_blank_values=True))
    raw = await request.body()
    if raw:
        ctype = request.headers.get("content-type", "")
        if "json" in ctype or raw[:1] in (b"{", b"["):
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(400, "InvalidContent", "Invalid JSON: could not parse the request body")
            if isinstance(body, dict):
                params.update(body)
        else:
            params.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    return params


def watch_interval(world):
    """How often a watch looks for news: every lab second (the vendor's watcher polls every second), at most every
    real second, and not more often than 100 times a real second (the events in between are logged, not lost).
    At the benchmarks' time scale (0.01) that is the vendor's own cadence, compressed like everything else."""
    return min(1.0, max(0.01, world.time_scale))


async def watch_stream(world, vm_uuid):
    """application/x-json-stream lines as VMAPI's watchVmMigration writes them (see TRITON.md)."""
    sent = 0

    def line(obj):
        return (json.dumps(obj) + "\n").encode()

    def count(chunk):
        nonlocal sent
        sent += 1
        return chunk
    rec, live, prog, seq = world.simulation.watch_snapshot(vm_uuid)
    hist = rec["progress_history"] if rec else []
    if hist and hist[-1]["state"] == "running":
        yield count(line(world.entry_view(hist[-1])))
    next_idx = len(hist)
    if not live or rec["state"] != "running":
        if prog and rec and rec["state"] != "running":
            yield count(line(prog))
        yield line({"type": "end", "phase": rec["phase"] if rec else None,
                    "state": rec["state"] if rec else "unknown", "message": (rec or {}).get("error")})
        return
    # the latest progress event first (how a client re-attaches), then every event logged after it
    if prog:
        yield count(line(prog))
    while True:
        drop_after = world.drop_watch_after(vm_uuid)
        if drop_after is not None and sent >= drop_after and world.use_drop_watch(vm_uuid):
            log.info("watch of %s: dropping the connection (lab fault)", vm_uuid)
            yield DROP
            return
        rec, live, _prog, _seq = world.simulation.watch_snapshot(vm_uuid)
        if rec is None:
            yield line({"type": "end", "phase": None, "state": "unknown"})
            return
        hist = rec["progress_history"]
        for e in hist[next_idx:]:
            yield count(line(world.entry_view(e)))
        next_idx = max(next_idx, len(hist))
        events, seq = world.simulation.events_since(vm_uuid, seq)
        for ev in events:
            yield count(line(ev))
        if not live or rec["state"] != "running":
            yield line({"type": "end", "phase": rec["phase"], "state": rec["state"], "message": rec.get("error")})
            return
        await asyncio.sleep(watch_interval(world))


def build_cloudapi(world):
    async def ping(request: Request):
        return JSONResponse({"ping": "pong", "cloudapi": {"versions": ["9.20.0"]}})

    def resolve_account(caller, login):
        if login in ("my", caller["login"]):
            return caller
        if world.account(login) is None:
            raise ApiError(404, "ResourceNotFound", f"{login} does not exist")
        raise ApiError(403, "NotAuthorized", f"You do not have permission to access {login}")

    def load_machine(account, mid):
        vm = world.vms.get(mid)
        if not vm or vm["owner_uuid"] != account["uuid"]:
            raise ApiError(404, "ResourceNotFound", "VM not found")
        return vm

    async def api(request: Request):
        rid = str(uuidlib.uuid4())
        hdrs = {"Request-Id": rid, "Api-Version": API_VERSION, "Server": SERVER}
        try:
            raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
            if request.url.query:
                raw_path = raw_path.split("?", 1)[0] + "?" + request.url.query
            caller = authenticate(world, request.method, raw_path, request.headers)
            parts = [unquote(p) for p in request.url.path.strip("/").split("/")]
            account = resolve_account(caller, parts[0])
            meth = request.method
            rest = parts[1:]
            with world.lock:
                if not rest:
                    return JSONResponse({"id": account["uuid"], "login": account["login"],
                                         "email": account["email"], "companyName": "fleetops lab",
                                         "created": "2020-01-01T00:00:00.000Z",
                                         "updated": "2020-01-01T00:00:00.000Z"}, headers=hdrs)
                if rest == ["images"] and meth == "GET":
                    images = sorted({v["image_uuid"]: v["brand"] for v in world.vms.values()}.items())
                    return JSONResponse([{"id": u, "name": f"lab-{brand}", "version": "1.0.0", "os": "smartos",
                                          "type": "zone-dataset", "state": "active", "public": True}
                                         for u, brand in images], headers=hdrs)
                if rest == ["packages"] and meth == "GET":
                    return JSONResponse([], headers=hdrs)
                if rest == ["machines"] and meth in ("GET", "HEAD"):
                    return list_machines(request, account, hdrs)
                if rest[0] == "machines" and len(rest) >= 2:
                    vm = load_machine(account, rest[1])
                    if len(rest) == 2 and meth == "GET":
                        return JSONResponse(world.machine_view(vm), headers=hdrs)
                    if len(rest) == 3 and rest[2] == "migrate":
                        if meth == "GET":
                            _kind, est = world.actions.migrate(vm["uuid"], "estimate", owner_uuid=account["uuid"])
                            return JSONResponse(est, headers=hdrs)
                        if meth == "POST":
                            pass  # below, outside the lock (the body is read asynchronously)
                        else:
                            raise ApiError(405, "MethodNotAllowed", f"{meth} is not allowed")
                    else:
                        raise ApiError(404, "ResourceNotFound", f"{request.url.path} does not exist")
                elif rest == ["migrations"] and meth == "GET":
                    out = [world.migration_view(r, cloudapi=True) for r in world.migrations.values()
                           if world.vms.get(r["vm_uuid"], {}).get("owner_uuid") == account["uuid"]]
                    return JSONResponse(out, headers=hdrs)
                elif rest[0] == "migrations" and len(rest) == 2 and meth == "GET":
                    vm = world.vms.get(rest[1])
                    if not vm or vm["owner_uuid"] != account["uuid"]:
                        raise ApiError(404, "ResourceNotFound", "VM not found")
                    rec = world.require_record(vm["uuid"])
                    return JSONResponse(world.migration_view(rec, cloudapi=True), headers=hdrs)
                else:
                    raise ApiError(404, "ResourceNotFound", f"{request.url.path} does not exist")
            return await migrate(request, account, vm, hdrs, rid)
        except ApiError as e:
            return error_response(e, hdrs)

    def list_machines(request, account, hdrs):
        q = dict(parse_qsl(request.url.query))
        try:
            limit = int(q.get("limit", 1000))
            offset = int(q.get("offset", 0))
        except ValueError:
            raise ApiError(409, "InvalidArgument", "limit and offset must be numbers")
        vms = [v for v in sorted(world.vms.values(), key=lambda v: v["created"] + v["uuid"])
               if v["owner_uuid"] == account["uuid"]]
        for key, field in (("name", "alias"), ("state", "state"), ("brand", "brand")):
            if q.get(key):
                vms = [v for v in vms if v[field] == q[key]]
        page = vms[offset:offset + limit]
        h = dict(hdrs)
        h.update({"x-resource-count": str(len(page)), "x-query-limit": str(limit)})
        if request.method == "HEAD":
            return Response(status_code=200, headers=h)
        return JSONResponse([world.machine_view(v) for v in page], headers=h)

    async def migrate(request, account, vm, hdrs, rid):
        params = await request_params(request)
        action = params.get("action")
        if not action:
            raise ApiError(409, "MissingParameter", '"action" must be specified')
        if action == "watch":
            with world.lock:
                world.require_record(vm["uuid"], watch=True)
            return StreamingResponse(watch_stream(world, vm["uuid"]), media_type="application/x-json-stream",
                                     headers=hdrs)
        if action not in ("begin", "sync", "switch", "automatic", "abort", "pause", "finalize"):
            raise ApiError(409, "InvalidArgument", f"{action} is not a valid migration action")
        automatic = action == "automatic"
        kind, payload = world.actions.migrate(vm["uuid"], "begin" if automatic else action, owner_uuid=account["uuid"],
                                              automatic=automatic)
        if kind == "finalized":
            if payload:
                await asyncio.sleep(payload)
            return Response(status_code=200, headers=hdrs)
        if kind == "early_abort":
            raise ApiError(500, "InternalError", f'Unable to execute "{action}" migration action (req_id: {rid})')
        payload["machine"] = payload.pop("vm_uuid")
        return JSONResponse(payload, status_code=201, headers=hdrs)

    app = Starlette(routes=[
        Route("/--ping", ping, methods=["GET"]),
        Route("/_lab/{rest:path}", admin_endpoint(world), methods=["GET", "POST", "DELETE", "PUT"]),
        Route("/{rest:path}", api, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
    ])
    return FaultsAndStats(app, world)


def admin_endpoint(world):
    async def admin(request: Request):
        if not is_loopback(request):
            return JSONResponse({"code": "NotAuthorized", "message": "admin plane is loopback only"}, 403)
        path = request.path_params["rest"].strip("/")
        meth = request.method
        try:
            body = {}
            if meth in ("POST", "PUT"):
                raw = await request.body()
                body = json.loads(raw) if raw else {}
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "JSON object expected")

            async def read_body(_object_only):  # read and checked above
                return body
            answer = await world_admin(world, path, meth, read_body)
            if answer is not None:
                return answer
            if path == "world" and meth == "GET":
                return JSONResponse(world.world_summary())
            if path == "instances" and meth == "GET":
                return JSONResponse(world.instances_report())
            if path == "migrations" and meth == "GET":
                return JSONResponse(world.instances_report(migrations_only=True))
            if path == "allocator" and meth in ("GET", "POST"):
                if meth == "POST":
                    return JSONResponse(world.allocation.set_allocator(body.get("mode", "vendor"), body.get("seed")))
                return JSONResponse(dict(world.cfg.get("allocator") or {"mode": "vendor", "seed": None}))
            if path == "settings" and meth in ("GET", "POST"):
                if meth == "POST" and "user_migration_allowed" in body:
                    world.set_user_migration_allowed(body["user_migration_allowed"])
                return JSONResponse({"user_migration_allowed": world.cfg["user_migration_allowed"]})
            if path == "workload" and meth == "POST":
                world.set_workload(body.get("instance"), body.get("bytes_per_second", 0))
                return JSONResponse({"ok": True})
            return JSONResponse({"code": "ResourceNotFound", "message": f"no admin endpoint {meth} /_lab/{path}"},
                                404)
        except ApiError as e:
            return error_response(e)
        except (TypeError, ValueError, KeyError) as e:
            return JSONResponse({"code": "BadRequest", "message": str(e)}, 400)
    return admin


class FaultsAndStats(BaseFaultsAndStats):
    """lab.web.FaultsAndStats with restify's error body (a ``code`` and a ``message``)."""

    def fault_response(self, status, message):
        code = {503: "ServiceUnavailable", 500: "InternalError", 502: "BadGateway",
                504: "GatewayTimeout"}.get(status, "InternalError")
        body = json.dumps({"code": code, "message": f"lab fault: HTTP {status}"}).encode()
        return Response(body, status_code=status or 503, media_type="application/json")
