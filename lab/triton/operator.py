"""The operator plane: VMAPI-like and CNAPI-like paths on the admin network (no authentication).

Paths and shapes follow sdc-vmapi (lib/endpoints/vms.js, lib/vm-migration/migrate.js) and the
sdc-cnapi docs (ServerList, ServerGet, ServerCapacity, VmList); see lab/TRITON.md.
"""
import asyncio
import functools
import uuid as uuidlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lab.triton.cloudapi import FaultsAndStats, error_response, request_params, watch_stream
from lab.triton.common import UUID_RE, ApiError
from lab.web import query

TRUE = ("true", "1", True)


def restify_errors(handler):
    """The handler, answering an ApiError it raises with the restify error body."""
    @functools.wraps(handler)
    async def wrapped(request):
        try:
            return await handler(request)
        except ApiError as e:
            return error_response(e)
    return wrapped


def build_operator(world):
    async def ping(request: Request):
        return JSONResponse({"healthy": True, "status": "OK", "pingErrors": {}})

    async def list_vms(request: Request):
        q = query(request)
        hidden = q.get("include_hidden") in TRUE
        with world.lock:
            out = []
            for vm in sorted(world.vms.values(), key=lambda v: v["alias"]):
                halves = [(vm["server_uuid"], False)]
                if hidden:
                    rec = world.record_of(vm["uuid"])
                    for su in ((rec or {}).get("source_server_uuid"), (rec or {}).get("target_server_uuid")):
                        if su and su != vm["server_uuid"] and vm in world.allocation.hidden_halves(su):
                            halves.append((su, True))
                for su, is_hidden in halves:
                    view = world.vmapi_view(vm, hidden=is_hidden, server=su)
                    if q.get("server_uuid") and view["server_uuid"] != q["server_uuid"]:
                        continue
                    if q.get("owner_uuid") and view["owner_uuid"] != q["owner_uuid"]:
                        continue
                    if q.get("state") and q["state"] != "active" and view["state"] != q["state"]:
                        continue
                    if q.get("alias") and view["alias"] != q["alias"]:
                        continue
                    out.append(view)
            return JSONResponse(out)

    def vm_or_404(u):
        vm = world.vms.get(u)
        if not vm:
            raise ApiError(404, "ResourceNotFound", "VM not found")
        return vm

    @restify_errors
    async def vm_endpoint(request: Request):
        u = request.path_params["uuid"]
        if request.method == "GET":
            with world.lock:
                return JSONResponse(world.vmapi_view(vm_or_404(u)))
        params = await request_params(request)
        with world.lock:
            vm_or_404(u)
        if params.get("action") != "migrate":
            raise ApiError(409, "ValidationFailed", "Invalid Parameters",
                           errors=[{"field": "action", "code": "Invalid", "message": "Invalid parameter"}])
        action = params.get("migration_action")
        override = params.get("override_server_uuid")
        if override and not UUID_RE.match(str(override)):
            raise ApiError(409, "ValidationFailed",
                           f"Invalid parameters: override_server_uuid ({override}) is not a valid UUID",
                           errors=[{"field": "override_server_uuid", "code": "Invalid", "message": "Invalid UUID"}])
        automatic = params.get("migration_automatic") in TRUE
        kind, payload = world.actions.migrate(u, action, owner_uuid=params.get("owner_uuid"), automatic=automatic,
                                              override=override if action == "begin" else None)
        if kind == "finalized":
            if payload:
                await asyncio.sleep(payload)
            return Response(status_code=200)
        if kind == "estimate":
            return JSONResponse(payload)
        if kind == "early_abort":
            return JSONResponse({"migration": world.migration_view(payload)})
        return JSONResponse({"job_uuid": str(uuidlib.uuid4()), "migration": payload}, status_code=202)

    async def list_migrations(request: Request):
        q = query(request)
        raw = q.get("format") == "raw"
        with world.lock:
            out = []
            for rec in sorted(world.migrations.values(), key=lambda r: r["created_timestamp"], reverse=True):
                if any(q.get(k) and rec.get(k) != q[k] for k in ("state", "source_server_uuid", "owner_uuid",
                                                                 "vm_uuid")):
                    continue
                out.append(world.migration_view(rec, raw=raw))
            return JSONResponse(out)

    @restify_errors
    async def get_migration(request: Request):
        u = request.path_params["uuid"]
        with world.lock:
            vm_or_404(u)
            rec = world.require_record(u)
            return JSONResponse(world.migration_view(rec, raw=query(request).get("format") == "raw"))

    @restify_errors
    async def watch(request: Request):
        u = request.path_params["uuid"]
        with world.lock:
            vm_or_404(u)
            world.require_record(u, watch=True)
        return StreamingResponse(watch_stream(world, u), media_type="application/x-json-stream")

    def extras(q):
        return [x.strip() for x in (q.get("extras") or "").split(",") if x.strip()]

    async def list_servers(request: Request):
        q = query(request)
        uuids = [x for x in (q.get("uuids") or "").split(",") if x]
        with world.lock:
            out = []
            usage = world.allocation.usage_by_server()
            for su, s in sorted(world.servers.items(), key=lambda kv: kv[1]["hostname"]):
                if uuids and su not in uuids:
                    continue
                if q.get("hostname") and s["hostname"] != q["hostname"]:
                    continue
                for k in ("setup", "reserved", "headnode"):
                    if k in q and str(s[k]).lower() != q[k].lower():
                        break
                else:
                    out.append(world.server_view(s, extras(q), usage))
            return JSONResponse(out)

    def server_or_404(su):
        s = world.servers.get(su)
        if not s:
            raise ApiError(404, "ResourceNotFound", f"Server {su} not found")
        return s

    @restify_errors
    async def get_server(request: Request):
        if request.method == "POST":   # ServerUpdate [vendor: sdc-cnapi docs]
            params = await request_params(request)
            world.allocation.update_server(request.path_params["uuid"], params)
            return Response(status_code=204)
        with world.lock:
            s = server_or_404(request.path_params["uuid"])
            return JSONResponse(world.server_view(s, extras(query(request)) or ["all"]))

    @restify_errors
    async def server_vms(request: Request):
        with world.lock:
            su = server_or_404(request.path_params["uuid"])["uuid"]
            return JSONResponse([world.vmapi_view(v, hidden=v["server_uuid"] != su, server=su)
                                 for v in world.vms_on_server(su)])

    @restify_errors
    async def capacity(request: Request):
        params = await request_params(request)
        wanted = params.get("servers")
        with world.lock:
            if wanted is not None and (not isinstance(wanted, list)
                                       or any(not UUID_RE.match(str(x)) for x in wanted)):
                raise ApiError(409, "InvalidParameters", "servers: invalid server UUID")
            usage = world.allocation.usage_by_server()
            return JSONResponse({"capacities": {su: world.allocation.capacity(su, usage) for su in world.servers
                                                if wanted is None or su in wanted}})

    app = Starlette(routes=[
        Route("/ping", ping, methods=["GET"]),
        Route("/vms", list_vms, methods=["GET"]),
        Route("/vms/{uuid}", vm_endpoint, methods=["GET", "POST"]),
        Route("/migrations", list_migrations, methods=["GET"]),
        Route("/migrations/{uuid}", get_migration, methods=["GET"]),
        Route("/migrations/{uuid}/watch", watch, methods=["GET"]),
        Route("/servers", list_servers, methods=["GET"]),
        Route("/servers/{uuid}", get_server, methods=["GET", "POST"]),
        Route("/servers/{uuid}/vms", server_vms, methods=["GET"]),
        Route("/capacity", capacity, methods=["POST"]),
    ])
    return FaultsAndStats(app, world)
