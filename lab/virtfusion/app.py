"""The VirtFusion plane's HTTPS listener: the REST API, vfcli-ctrl's calls and the /_lab/ admin routes.

- ``/api/v1/...`` [vendor paths: VirtFusion API docs, 7.1.0+]: bearer token (the topology's
  ``virtfusion.api_token``). Live and hybrid migration start, hybrid destination availability, and
  minimal server and hypervisor reads.
- ``/_vfcli/...`` [lab]: what the lab's ``vfcli-ctrl`` (run in an SSH session on the control server)
  calls; bearer token from ``<state>/virtfusion/vfcli.json`` (0600). The migration state lives in
  the lab, so a dropped SSH session never stops a migration.
- ``/_lab/...`` [lab]: admin, loopback only, no auth: the routes every plane shares
  (``lab.web.world_admin``) and the plane's own.

Handlers run the service calls in worker threads (QMP must not run on the event loop's thread).
"""
import asyncio
import hmac
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lab.virtfusion.options import LIVE_OPTIONS
from lab.virtfusion.world import VfError
from lab.web import FaultsAndStats as BaseFaultsAndStats, is_loopback, read_json, world_admin

log = logging.getLogger("lab.virtfusion.app")


def err(e):
    return JSONResponse({"message": e.errors[0] if len(e.errors) == 1 else "The given data was invalid.",
                         "errors": e.errors}, status_code=e.status)


async def body_of(request):
    return await read_json(request, VfError(400, "Request body is not valid JSON"))


def _bearer_ok(request, token):
    auth = request.headers.get("authorization", "")
    return auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode())


def build_app(plane):
    world, service, engine = plane.world, plane.service, plane.engine

    async def call(fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ----------------------------------------------------------------- REST API
    async def api(request: Request):
        if not _bearer_ok(request, world.cfg["api_token"]):
            return JSONResponse({"message": "Unauthenticated."}, status_code=401)
        world.bump("api_calls")
        parts = [p for p in request.path_params["rest"].split("/") if p]
        meth = request.method
        try:
            if parts[:1] == ["servers"] and len(parts) >= 2:
                sid = parts[1]
                if len(parts) == 2 and meth == "GET":
                    with world.lock:
                        return JSONResponse({"data": world.server_view(world.server(sid))})
                if parts[2:] == ["migrate", "live"] and meth == "POST":
                    body = await body_of(request)
                    if not isinstance(body, dict):
                        raise VfError(400, "JSON object expected")
                    dst = body.get("destinationId")
                    if isinstance(dst, bool) or not isinstance(dst, int):
                        raise VfError(422, f"destinationId is required (a hypervisor id), got {dst!r}")
                    raw = {k: body.get(rest) for k, (rest, _kind, _rng, _d) in LIVE_OPTIONS.items() if rest in body}
                    unknown = sorted(set(body) - {spec[0] for spec in LIVE_OPTIONS.values()} - {
                        "destinationId", "altIPv4", "dstUser", "allowUnsafe", "dstIso"})
                    if unknown:
                        raise VfError(422, [f"unknown field {u}" for u in unknown])
                    action, view = await call(service.live_start, sid, dst, raw, names="rest", via="api")
                    if action == "attached":   # REST has nothing to attach: say it runs
                        raise VfError(409, f"Server {view['serverId']} already has a live migration in progress "
                                           f"(id {view['id']})")
                    return JSONResponse({"data": view}, status_code=201)   # started, or a failed one retried
                if parts[2:] == ["migrate", "hybrid"] and meth == "POST":
                    body = await body_of(request)
                    view = await call(service.hybrid_start, sid, body)
                    return JSONResponse({"data": view}, status_code=201)
                if parts[2:4] == ["migrate", "hybrid"] and len(parts) == 6 and parts[4] == "destinations" \
                        and meth == "GET":
                    return JSONResponse(await call(service.hybrid_destination, sid, parts[5]))
            if parts[:3] == ["compute", "hypervisors", "groups"] and len(parts) == 5 and parts[4] == "resources" \
                    and meth == "GET":   # [vendor: path and paging; lab assumption: field names]
                return JSONResponse(_paged(request, world.group_resources(parts[3])))
            if parts[:2] == ["compute", "hypervisors"]:   # [vendor: path; 7.1.0+ for PUT]
                if len(parts) == 2 and meth == "GET":
                    return JSONResponse(_paged(request, [_hv_view(h, world.rich) for h in sorted(
                        world.hvs.values(), key=lambda h: h["id"])]))
                if len(parts) == 3 and meth == "GET":
                    with world.lock:
                        return JSONResponse({"data": _hv_view(world.hypervisor(parts[2]), world.rich, one=True)})
                if len(parts) == 3 and meth == "PUT":
                    hv = world.update_hypervisor(parts[2], await body_of(request))
                    return JSONResponse({"data": _hv_view(hv, world.rich, one=True)})
            return JSONResponse({"message": f"{meth} /api/v1/{'/'.join(parts)} is not implemented by the lab"},
                                status_code=404)
        except VfError as e:
            return err(e)

    # ----------------------------------------------------------------- vfcli-ctrl's calls
    async def vfcli(request: Request):
        if not _bearer_ok(request, plane.cli_token):
            return JSONResponse({"message": "Unauthenticated."}, status_code=401)
        parts = [p for p in request.path_params["rest"].split("/") if p]
        meth = request.method
        try:
            if parts == ["live", "start"] and meth == "POST":
                body = await body_of(request)
                world.count_cli("start")
                action, view = await call(service.live_start, body.get("server"), body.get("dst"),
                                          body.get("options") or {}, names="cli", via="cli")
                return JSONResponse({"action": action, "migration": view, "output": world.cfg["output"]})
            if parts == ["servers"] and meth == "GET":
                world.count_cli("servers")
                return JSONResponse({"servers": await call(service.servers_on, request.query_params.get("src"))})
            if len(parts) == 2 and parts[0] == "live" and meth == "GET":
                if request.query_params.get("command"):    # last-status (start's polling is not counted)
                    world.count_cli(request.query_params["command"][:40])
                return JSONResponse({"migration": await call(service.live_status, parts[1]),
                                     "output": world.cfg["output"]})
            if len(parts) == 3 and parts[0] == "live" and parts[2] == "debug" and meth == "GET":
                world.count_cli("last-debug")
                return JSONResponse(dict(await call(service.live_debug, parts[1]), output=world.cfg["output"]))
            if len(parts) == 3 and parts[0] == "live" and meth == "POST":
                action = parts[2]
                fns = {"abort": service.live_abort, "cancel": service.live_cancel,
                       "cancel-force": lambda sid: service.live_cancel(sid, force=True),
                       "data-success-force": service.data_success_force}
                if action in fns:
                    world.count_cli(action)
                    return JSONResponse({"migration": await call(fns[action], parts[1]),
                                         "output": world.cfg["output"]})
            return JSONResponse({"message": f"no vfcli endpoint {meth} /{'/'.join(parts)}"}, status_code=404)
        except VfError as e:
            return err(e)

    # ----------------------------------------------------------------- admin (lab.web.world_admin + the plane's own)
    async def admin(request: Request):
        if not is_loopback(request):
            return JSONResponse({"message": "admin plane is loopback only"}, status_code=403)
        path = request.path_params["rest"].strip("/")
        parts = path.split("/")
        meth = request.method

        async def read_body(object_only):
            body = await body_of(request)
            if object_only and not isinstance(body, dict):
                raise VfError(400, "JSON object expected")
            return body if isinstance(body, dict) or object_only else {}
        try:
            if path == "faults" and meth == "POST":
                body = await read_body(True)
                if body.get("kind") == "kill_ssh" and body.get("step") is None:   # now, not a fault to keep
                    return JSONResponse({"killed_sessions": await call(plane.kill_ssh_sessions)})
                fid = world.add_fault(body)
                return JSONResponse(dict(world.faults.get(fid) or {"id": fid}))
            answer = await world_admin(world, path, meth, read_body, health=lambda: call(plane.health),
                                       stats=lambda: call(plane.stats), reset=lambda: call(plane.reset))
            if answer is not None:
                return answer
            if path == "world" and meth == "GET":
                return JSONResponse(world.world_view())
            if path == "output" and meth in ("GET", "POST"):
                if meth == "POST":
                    world.set_output((await read_body(True)).get("mode"))
                return JSONResponse({"mode": world.cfg["output"]})
            if path == "disruption" and meth == "GET":
                return JSONResponse(plane.disruption())
            if path == "migrations" and meth == "GET":
                with world.lock:
                    ids = sorted(world.migrations, key=lambda m: int(m.split("-")[1]))
                views = []
                for m in ids:
                    view = dict(await call(service.migration, m))
                    with world.lock:   # the lab's own real-time stamps (the vendor's are whole seconds)
                        mig = world.migrations[m]
                        view["_lab"] = {"created_real": mig["created"], "finished_real": mig["finished"]}
                    views.append(view)
                return JSONResponse({"migrations": views})
            if len(parts) == 2 and parts[0] == "migrations" and meth == "GET":
                return JSONResponse(await call(service.migration, parts[1]))
            if len(parts) == 3 and parts[0] == "servers" and meth == "GET" and parts[2] == "migration":
                return JSONResponse(await call(service.last_of_server, parts[1]))
            if len(parts) == 3 and parts[0] == "servers" and meth == "GET" and parts[2] == "guest":
                return JSONResponse(await call(engine.guest_status, parts[1]))
            if len(parts) == 3 and parts[0] == "servers" and parts[2] == "dirty-rate":
                if meth == "GET":
                    return JSONResponse(await call(engine.measure_dirty_rate, parts[1]))
                if meth == "POST":
                    body = await read_body(True)
                    return JSONResponse(await call(engine.set_dirty_rate, parts[1], body.get("rate"),
                                                   body.get("working_set")))
            return JSONResponse({"message": f"no admin endpoint {meth} /_lab/{path}"}, status_code=404)
        except VfError as e:
            return err(e)
        except (TypeError, ValueError) as e:
            return JSONResponse({"message": str(e), "errors": [str(e)]}, status_code=400)

    return FaultsAndStats(Starlette(routes=[
        Route("/api/v1/{rest:path}", api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/_vfcli/{rest:path}", vfcli, methods=["GET", "POST"]),
        Route("/_lab/{rest:path}", admin, methods=["GET", "POST", "DELETE", "PUT"]),
    ]), world)


class FaultsAndStats(BaseFaultsAndStats):
    """lab.web.FaultsAndStats with VirtFusion's error body."""

    def fault_response(self, status, message):
        return JSONResponse({"message": message or f"Service unavailable (lab fault {status})"},
                            status_code=status or 503)


def _paged(request, items):
    """The REST API's paging [vendor: listHypervisors: ``results`` 1-200 (default 20), ``page``; the answer carries
    current_page, last_page, per_page, total]."""
    try:
        per = max(1, min(200, int(request.query_params.get("results", 20))))
        page = max(1, int(request.query_params.get("page", 1)))
    except ValueError:
        raise VfError(422, "results and page must be numbers") from None
    last = max(1, -(-len(items) // per))
    return {"current_page": page, "last_page": last, "per_page": per, "total": len(items),
            "data": items[(page - 1) * per:page * per]}


def _hv_view(h, rich=False, one=False):
    """A hypervisor: the settings the vendor's update endpoint names (one: with ``prohibit``, as the vendor's
    GET of one hypervisor) and, rich, the lab's SSH, CPU, storage and IP ranges [lab assumption: shapes]."""
    out = {"id": h["id"], "name": h["name"], "groupId": h.get("group", 1), "enabled": h.get("enabled", True),
           "maintenance": h.get("maintenance", False)}
    if one:
        out["prohibit"] = h.get("prohibit", False)
    if rich:
        out.update({"sshEnabled": h["ssh"]["enabled"], "sshPort": h["ssh"]["port"], "cpu": h["cpu"],
                    "storage": h["storage"], "ipRanges": h["ip_ranges"]})
    return out
