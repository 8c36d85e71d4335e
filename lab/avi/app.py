"""The Avi controller REST plane and the /_lab/ admin plane, as one Starlette application.

The handlers stay fast: they take the world lock, read or change a few documents and answer;
the background simulation thread does the slow work.
"""
import asyncio
import json
import logging
import re
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lab.avi import routes
from lab.avi.common import ApiError, json_body
from lab.web import FaultsAndStats as BaseFaultsAndStats, is_loopback, query, world_admin

log = logging.getLogger("lab.avi")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def err(status, message):
    return JSONResponse({"error": message}, status_code=status)


def base_url(request):
    return f"https://{request.headers.get('host', '127.0.0.1')}"


def build_app(world):
    # ----------------------------------------------------------------- auth plane
    async def login(request: Request):
        ctype = request.headers.get("content-type", "")
        raw = await request.body()
        body = {}
        if raw:
            if "json" in ctype or raw[:1] in (b"{", b"["):
                try:
                    body = json.loads(raw)
                except ValueError:
                    return err(400, "Request body is not valid JSON")
            else:  # avisdk posts the credentials form-encoded (requests' data=dict)
                body = dict(parse_qsl(raw.decode("utf-8", "replace")))
        if not isinstance(body, dict):
            return err(400, "JSON object expected")
        delay = float(world.cfg["timing"].get("login", 0)) * world.time_scale
        if delay > 0:
            await asyncio.sleep(delay)
        res = world.login(body.get("username"), body.get("password"))
        if res is None:
            log.info("login refused for user %r", body.get("username"))
            return err(401, "Invalid credentials")
        sid, csrf = res
        log.info("login ok for user %r", body.get("username"))
        resp = JSONResponse({
            "user": {"username": body["username"], "name": body["username"], "is_superuser": True,
                     "local": True, "full_name": "System Administrator", "default_tenant_ref":
                         base_url(request) + "/api/tenant/admin"},
            "version": world.views.version_info(), "session_cookie_name": "sessionid",
            "controller": {"api_idle_timeout": int(world.cfg["api_idle_timeout"] // 60) or 1},
            "tenants": [{"name": t, "uuid": t, "url": base_url(request) + f"/api/tenant/{t}"}
                        for t in world.cfg["tenants"]],
        })
        resp.set_cookie("csrftoken", csrf, path="/", secure=True, samesite="lax")
        resp.set_cookie("sessionid", sid, path="/", secure=True, httponly=True, samesite="lax")
        return resp

    def session_id(request):
        return request.cookies.get("sessionid") or request.cookies.get("avi-sessionid")

    def authorize(request, need_version=True):
        sess = world.check_session(session_id(request))
        if need_version and not request.headers.get("x-avi-version"):
            raise ApiError(400, "X-Avi-Version header is required")
        if request.method in WRITE_METHODS:
            token = request.headers.get("x-csrftoken")
            cookie = request.cookies.get("csrftoken")
            if not token or token != sess["csrftoken"] or (cookie is not None and cookie != token):
                raise ApiError(403, "CSRF Failed: CSRF token missing or incorrect.")
            if not request.headers.get("referer"):
                raise ApiError(403, "CSRF Failed: Referer checking failed - no Referer.")
        tenant = request.headers.get("x-avi-tenant") or "admin"
        tenant_uuid = request.headers.get("x-avi-tenant-uuid")
        if tenant_uuid and not request.headers.get("x-avi-tenant"):
            tenant = tenant_uuid.replace("tenant-", "") if tenant_uuid != "admin" else "admin"
        if tenant not in world.cfg["tenants"] and tenant != "*":  # vendor: "*" means every tenant
            raise ApiError(404, f"Tenant '{tenant}' not found")
        return sess

    async def logout(request: Request):
        try:
            authorize(request, need_version=False)
        except ApiError as e:
            return err(e.status, e.message)
        world.logout(session_id(request))
        resp = JSONResponse({})
        resp.delete_cookie("sessionid", path="/")
        resp.delete_cookie("csrftoken", path="/")
        return resp

    # ----------------------------------------------------------------- /api: the route table (lab.avi.routes)
    async def api(request: Request):
        rest = request.path_params["rest"]
        try:
            route, params = routes.match(rest)
            if route is not None and not route.auth:
                handler = route.handlers.get(request.method)
                if handler is None:
                    return err(405, f"Method {request.method} not allowed")
                return await handler(routes.Call(world, request, params, query(request), base_url(request)))
            authorize(request)
            refusal = world.upgrade.write_refusal(rest) if request.method in WRITE_METHODS and not (
                route and route.control) else None
            if refusal:
                return err(403, refusal)  # vendor: the API is read-only while an upgrade runs
            if route is None:
                return err(404, f"Resource /api/{rest} not found in the lab")
            if route.api == "flexible":
                world.upgrade.need_flexible(f"/api/{rest}")
            elif route.api == "legacy":
                world.upgrade.need_legacy(f"/api/{rest}")
            handler = route.handlers.get(request.method)
            if handler is None:
                if request.method == "POST" and rest.rstrip("/") == "serviceengine":
                    return err(405, "Service engines are created by the controller (placement); "
                               "POST /api/serviceengine is not allowed")
                return err(405, f"Method {request.method} on /api/{route.path} is not supported by the lab")
            return await handler(routes.Call(world, request, params, query(request), base_url(request)))
        except ApiError as e:
            return err(e.status, e.message)

    # ----------------------------------------------------------------- admin plane
    async def admin(request: Request):
        if not is_loopback(request):
            return err(403, "admin plane is loopback only")
        path = request.path_params["rest"].strip("/")
        meth = request.method

        async def read_body(object_only):
            body = await json_body(request)
            if object_only and not isinstance(body, dict):
                raise ApiError(400, "JSON object expected")
            return body
        try:
            answer = await world_admin(world, path, meth, read_body)
            if answer is not None:
                return answer
            if path == "disruption" and meth == "GET":
                return JSONResponse(world.disruption_report())
            if path == "sessions/expire" and meth == "POST":
                world.expire_sessions()
                return JSONResponse({"ok": True})
            if path == "world" and meth == "GET":
                return JSONResponse(world.views.lab_world())
            if path == "decisions" and meth in ("GET", "POST"):
                return JSONResponse(world.decisions(await read_body(True) if meth == "POST" else None))
            if path == "upgrade" and meth == "GET":
                return JSONResponse(world.upgrade.status.upgrade_summary())
            if path == "upgrade/preview" and meth == "POST":
                return JSONResponse(world.upgrade.requests.lab_preview(await read_body(True), base_url(request)))
            return err(404, f"no admin endpoint {meth} /_lab/{path}")
        except (ApiError, TypeError, ValueError, re.error) as e:
            return err(getattr(e, "status", 400), getattr(e, "message", str(e)))

    app = Starlette(routes=[
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/{rest:path}", api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/_lab/{rest:path}", admin, methods=["GET", "POST", "DELETE", "PUT"]),
    ])
    return FaultsAndStats(app, world)


class FaultsAndStats(BaseFaultsAndStats):
    """lab.web.FaultsAndStats with the upgrade engine's answers first (controller nodes rebooting,
    the cluster forming) and the Avi error body."""

    def fault(self, method, path):
        block = self.world.upgrade.upgrade_http_block(path)
        return block if block is not None else super().fault(method, path)

    def fault_response(self, status, message):
        if status == 0:
            raise ConnectionAbortedError("lab fault: drop connection")
        body = json.dumps({"error": message or f"Service unavailable (lab fault {status})"}).encode()
        return Response(body, status_code=status, media_type="application/json")
