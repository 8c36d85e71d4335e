"""Every ``/api`` route of the Avi plane, in one table: its path, methods, handler, the vendor
definition each answer follows (lab/avi/definitions.py) and the API generation that has it.

``lab.avi.app`` dispatches ``/api/...`` only through :data:`ROUTES`, so a route exists exactly when it
is in this table; ``tests/lab/test_lab_vendor_shapes.py`` walks the table and checks every answer
against its definition for a lab of each API generation (a route it has no request for fails it).

An answer is a definition name, ``"Name[]"`` (a JSON list of them), ``"A|B"`` (either) or None (no
body). ``api``: ``"flexible"`` (18.2.6 and later), ``"legacy"`` (before 18.2.6) or None (every version);
on the other generation the route answers 404, as the controller does.
"""
import re
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response

from lab.avi.common import ApiError, json_body
from lab.avi.objects import CREATABLE, DELETABLE, TYPES


class ApiRoute:
    def __init__(self, path, handlers, answers, api=None, control=False, auth=True):
        self.path = path                  # e.g. "serviceengine-inventory/{uuid}"
        self.handlers = handlers          # method -> async handler(call) -> response
        self.answers = answers            # method -> definition (see the module docstring)
        self.api = api
        self.control = control            # starts/stops upgrades: answers the config lock with its own 409
        self.auth = auth                  # False: readable without a session
        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?$")

    def __repr__(self):
        return f"/api/{self.path} {sorted(self.handlers)}"


class Call:
    """One request as the handlers see it: the world, the request, path parameters, query, base URL."""

    def __init__(self, world, request, params, q, base):
        self.world, self.request, self.params, self.q, self.base = world, request, params, q, base
        self.url = str(request.url)

    @property
    def uuid(self):
        return self.params.get("uuid")

    @property
    def tenant(self):
        """The tenant the request names (``X-Avi-Tenant``; default admin), checked by the app."""
        return self.request.headers.get("x-avi-tenant") or "admin"

    def include_name(self):
        return "include_name" in self.q and self.q.get("include_name") not in ("false", "False", "0")

    async def body(self):
        return await json_body(self.request)


def ok(doc, status=200):
    return JSONResponse(doc, status_code=status)


async def upload(request):
    """The package bytes of POST /api/image: multipart/form-data field ``file`` (what the vendor's
    Java SDK and scripts send, e.g. ``curl -F file=@controller.pkg``)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(400, "POST /api/image takes multipart/form-data with the package in the field 'file' "
                       f"(got Content-Type {ctype or 'none'})")
    form = await request.form()
    try:
        part = form.get("file")
        if part is None or not hasattr(part, "read"):
            raise ApiError(400, "Multipart field 'file' (the controller.pkg / controller_docker.tgz package) is "
                           "required")
        return await part.read()
    finally:
        await form.close()


# ----------------------------------------------------------------------------- handlers
async def initial_data(c):  # vendor: readable without a session
    return ok({"version": c.world.views.version_info(), "user_initial_setup": False, "banner": "fleetops lab"})


async def tenants(c):
    ts = c.world.cfg["tenants"]
    return ok({"count": len(ts), "results": [{"uuid": t, "name": t, "url": c.base + f"/api/tenant/{t}"} for t in ts]})


def object_routes(typ, definition):
    async def collection(c):
        return ok(c.world.views.list(typ, c.q, c.base, c.url))

    async def one(c):
        return ok(c.world.views.get(typ, c.uuid, c.base, c.include_name()))

    async def write(c):
        return ok(c.world.objects.update(typ, c.uuid, await c.body(), c.base, patch=c.request.method == "PATCH"))

    async def create(c):
        return ok(c.world.objects.create(typ, await c.body(), c.base, c.tenant), 201)

    async def delete(c):
        c.world.objects.delete(typ, c.uuid)
        return Response(status_code=204)
    many, one_ = {"GET": collection}, {"GET": one, "PUT": write, "PATCH": write}
    many_answers = {"GET": definition + "ApiResponse"}
    one_answers = {"GET": definition, "PUT": definition, "PATCH": definition}
    if typ in CREATABLE:
        many["POST"], many_answers["POST"] = create, definition
    if typ in DELETABLE:
        one_["DELETE"], one_answers["DELETE"] = delete, None
    return [ApiRoute(typ, many, many_answers), ApiRoute(typ + "/{uuid}", one_, one_answers)]


def vs_action(action):
    async def handler(c):
        getattr(c.world.operations, action)(c.uuid, await c.body())
        return ok({})
    return ApiRoute("virtualservice/{uuid}/" + action, {"POST": handler}, {"POST": "Empty"})


async def se_inventory(c):
    return ok(c.world.views.se_inventory(c.q, c.base, c.url, one=c.uuid))


async def vs_inventory(c):
    return ok(c.world.views.vs_inventory(c.q, c.base, c.url, one=c.uuid))


async def vs_runtime(c):
    return ok(c.world.views.vs_runtime(c.uuid, c.base))


async def se_runtime(c):
    return ok(c.world.views.se_runtime(c.uuid))


async def event_logs(c):
    return ok(c.world.eventlog.logs(parse_qsl(c.request.url.query, keep_blank_values=True), c.url))


async def images(c):
    return ok(c.world.upgrade.images.image_list(c.q, c.base, c.url))


async def image_upload(c):
    return ok(c.world.upgrade.images.image_upload(await upload(c.request), c.base), 201)


async def image(c):
    return ok(c.world.upgrade.images.image_get(c.uuid, c.base))


async def image_delete(c):
    c.world.upgrade.images.image_delete(c.uuid)
    return Response(status_code=204)


async def image_inventory(c):
    imgs = c.world.upgrade.images
    return ok(imgs.image_get(c.uuid, c.base, inventory=True) if c.uuid else
              imgs.image_list(c.q, c.base, c.url, inventory=True))


def request_route(path, method_name, answer, api="flexible", legacy=False):
    async def handler(c):
        fn = getattr(c.world.upgrade.requests, method_name)
        return ok(fn(await c.body(), c.base, legacy=True) if legacy else fn(await c.body(), c.base))
    return ApiRoute(path, {"POST": handler}, {"POST": answer}, api=api, control=True)


async def status_list(c):
    return ok(c.world.upgrade.status.status_list(c.q, c.base, c.url))


async def status_one(c):
    return ok(c.world.upgrade.status.status_get(c.uuid, c.base))


async def legacy_status(c):
    return ok(c.world.upgrade.requests.legacy_status(c.base))


async def legacy_history(c):
    return ok(c.world.upgrade.requests.legacy_history(c.base))


async def cluster_status(c):
    return ok(c.world.upgrade.status.cluster_status())


async def cluster(c):
    return ok(c.world.upgrade.status.cluster_view(c.base))


async def versions(c):
    return ok(c.world.upgrade.status.controller_versions())


def resume_route(path, preview):
    async def handler(c):
        return ok(c.world.upgrade.requests.resume_groups(await c.body(), c.base, preview=preview))
    return ApiRoute(path, {"POST": handler}, {"POST": "UpgradePreview" if preview else ANSWER}, api="flexible",
                    control=True)


async def system_configuration(c):
    return ok(c.world.upgrade.status.system_configuration(c.base))


OBJECT_DEFINITIONS = {"cloud": "Cloud", "vimgrhostruntime": "VIMgrHostRuntime", "serviceenginegroup": "ServiceEngineGroup",
                      "serviceengine": "ServiceEngine", "virtualservice": "VirtualService",
                      "stringgroup": "StringGroup"}
ANSWER = "UpgradeOpsAnswer|UpgradePreview"    # a prechecks_only request answers with the preview

ROUTES = [
    ApiRoute("initial-data", {"GET": initial_data}, {"GET": "InitialData"}, auth=False),
    ApiRoute("tenant", {"GET": tenants}, {"GET": "TenantApiResponse"}),
    *[r for typ in TYPES for r in object_routes(typ, OBJECT_DEFINITIONS[typ])],
    ApiRoute("serviceengine-inventory", {"GET": se_inventory}, {"GET": "ServiceEngineInventoryApiResponse"}),
    ApiRoute("serviceengine-inventory/{uuid}", {"GET": se_inventory}, {"GET": "ServiceEngineInventory"}),
    ApiRoute("virtualservice-inventory", {"GET": vs_inventory}, {"GET": "VsInventoryApiResponse"}),
    ApiRoute("virtualservice-inventory/{uuid}", {"GET": vs_inventory}, {"GET": "VsInventory"}),
    ApiRoute("virtualservice/{uuid}/runtime", {"GET": vs_runtime}, {"GET": "VirtualServiceRuntimeSummary"}),
    ApiRoute("serviceengine/{uuid}/runtime", {"GET": se_runtime}, {"GET": "ServiceEngineRuntimeSummary"}),
    *[vs_action(a) for a in ("migrate", "scaleout", "scalein")],
    ApiRoute("analytics/logs", {"GET": event_logs}, {"GET": "EventLogApiResponse"}),
    ApiRoute("image", {"GET": images, "POST": image_upload}, {"GET": "ImageApiResponse", "POST": "Image"}, api="flexible"),
    ApiRoute("image/{uuid}", {"GET": image, "DELETE": image_delete}, {"GET": "Image", "DELETE": None},
             api="flexible"),
    ApiRoute("image-inventory", {"GET": image_inventory}, {"GET": "ImageInventoryApiResponse"}, api="flexible"),
    ApiRoute("image-inventory/{uuid}", {"GET": image_inventory}, {"GET": "ImageInventory"}, api="flexible"),
    request_route("upgrade/preview", "upgrade_preview", "UpgradePreview"),
    request_route("upgrade", "start_upgrade", ANSWER),
    request_route("rollback/preview", "rollback_preview", "UpgradePreview"),
    request_route("rollback", "start_rollback", ANSWER),
    # the Broadcom API reference's "Se Group Resume Params APIs" (no alb-sdk file has the URL: lab/AVI.md)
    resume_route("segroup/resume/preview", preview=True),
    resume_route("segroup/resume", preview=False),
    ApiRoute("upgradestatusinfo", {"GET": status_list}, {"GET": "UpgradeStatusInfoApiResponse"}, api="flexible"),
    ApiRoute("upgradestatusinfo/{uuid}", {"GET": status_one}, {"GET": "UpgradeStatusInfo"}, api="flexible"),
    ApiRoute("cluster/upgrade/status", {"GET": legacy_status}, {"GET": "SystemUpgradeState"}, api="legacy"),
    ApiRoute("cluster/upgrade/history", {"GET": legacy_history}, {"GET": "UpgradeHistory"}, api="legacy"),
    request_route("cluster/upgrade", "legacy_upgrade", "UpgradeOpsAnswer", api="legacy"),
    request_route("cluster/rollback", "start_rollback", "UpgradeOpsAnswer", api="legacy", legacy=True),
    ApiRoute("cluster/status", {"GET": cluster_status}, {"GET": "ClusterStatus"}),
    ApiRoute("cluster", {"GET": cluster}, {"GET": "Cluster"}),
    ApiRoute("version/controller", {"GET": versions}, {"GET": "ControllerVersion[]"}),
    ApiRoute("systemconfiguration", {"GET": system_configuration}, {"GET": "SystemConfiguration"}),
]


def match(rest):
    """(route, path parameters) for ``/api/<rest>``, or (None, None)."""
    for route in ROUTES:
        m = route.regex.match(rest)
        if m:
            return route, m.groupdict()
    return None, None
