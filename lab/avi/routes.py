"""REST routes of the upgrade engine (lab.avi.upgrade), dispatched from lab.avi.app's /api handler.

``dispatch`` answers the upgrade, image, cluster and version paths and returns None for every
other path, which lab.avi.app then serves as before.
"""
import re

from starlette.responses import JSONResponse, Response

from lab.avi.common import ApiError, json_body

# paths that start, preview or stop upgrade operations: they answer the configuration lock with
# their own 409 instead of the 403 every other write gets while an upgrade runs
CONTROL_PATHS = re.compile(r"^(upgrade|rollback|resumesegroup)(/preview)?/?$|^cluster/(upgrade|rollback)/?$"
                           r"|^serviceengine/[^/]+/upgrade/?$")

ROUTES = [
    (re.compile(r"^image/?$"), "images"),
    (re.compile(r"^image/([^/]+)/?$"), "image"),
    (re.compile(r"^image-inventory/?$"), "image_inv"),
    (re.compile(r"^image-inventory/([^/]+)/?$"), "image_inv_one"),
    (re.compile(r"^upgrade/preview/?$"), "upgrade_preview"),
    (re.compile(r"^upgrade/?$"), "upgrade"),
    (re.compile(r"^rollback/preview/?$"), "rollback_preview"),
    (re.compile(r"^rollback/?$"), "rollback"),
    (re.compile(r"^resumesegroup/?$"), "resume"),
    (re.compile(r"^upgradestatusinfo/?$"), "status_list"),
    (re.compile(r"^upgradestatusinfo/([^/]+)/?$"), "status_one"),
    (re.compile(r"^cluster/upgrade/status/?$"), "legacy_status"),
    (re.compile(r"^cluster/upgrade/history/?$"), "legacy_history"),
    (re.compile(r"^cluster/upgrade/?$"), "legacy_upgrade"),
    (re.compile(r"^cluster/rollback/?$"), "legacy_rollback"),
    (re.compile(r"^cluster/status/?$"), "cluster_status"),
    (re.compile(r"^cluster/?$"), "cluster"),
    (re.compile(r"^version/controller/?$"), "versions"),
    (re.compile(r"^serviceengine/([^/]+)/upgrade/?$"), "se_upgrade"),
]
METHODS = {"images": ("GET", "POST"), "image": ("GET", "DELETE"), "image_inv": ("GET",), "image_inv_one": ("GET",),
           "upgrade_preview": ("POST",), "upgrade": ("POST",), "rollback_preview": ("POST",), "rollback": ("POST",),
           "resume": ("POST",), "status_list": ("GET",), "status_one": ("GET",), "legacy_status": ("GET",),
           "legacy_history": ("GET",), "legacy_upgrade": ("POST",), "legacy_rollback": ("POST",),
           "cluster_status": ("GET",), "cluster": ("GET",), "versions": ("GET",), "se_upgrade": ("POST",)}


def is_control_path(rest):
    return bool(CONTROL_PATHS.match(rest))


async def _upload(request):
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
            raise ApiError(400, "Multipart field 'file' (the controller.pkg / controller_docker.tgz package) is required")
        return await part.read()
    finally:
        await form.close()


async def dispatch(world, request, rest, q, base):
    """Answer an upgrade-engine path, or return None when ``rest`` is not one."""
    kind = m = None
    for rx, k in ROUTES:
        m = rx.match(rest)
        if m:
            kind = k
            break
    if kind is None:
        return None
    meth = request.method
    if meth not in METHODS[kind]:
        return JSONResponse({"error": f"Method {meth} not allowed"}, status_code=405)
    url = str(request.url)
    if kind == "images":
        if meth == "GET":
            return JSONResponse(world.upgrade.images.image_list(q, base, url))
        return JSONResponse(world.upgrade.images.image_upload(await _upload(request), base), status_code=201)
    if kind == "image":
        if meth == "DELETE":
            world.upgrade.images.image_delete(m.group(1))
            return Response(status_code=204)
        return JSONResponse(world.upgrade.images.image_get(m.group(1), base))
    if kind == "image_inv":
        return JSONResponse(world.upgrade.images.image_list(q, base, url, inventory=True))
    if kind == "image_inv_one":
        return JSONResponse(world.upgrade.images.image_get(m.group(1), base, inventory=True))
    if kind == "upgrade_preview":
        return JSONResponse(world.upgrade.requests.upgrade_preview(await json_body(request), base))
    if kind == "upgrade":
        return JSONResponse(world.upgrade.requests.start_upgrade(await json_body(request), base))
    if kind == "rollback_preview":
        return JSONResponse(world.upgrade.requests.rollback_preview(await json_body(request), base))
    if kind == "rollback":
        return JSONResponse(world.upgrade.requests.start_rollback(await json_body(request), base))
    if kind == "resume":
        return JSONResponse(world.upgrade.requests.resume_groups(await json_body(request), base))
    if kind == "status_list":
        return JSONResponse(world.upgrade.status.status_list(q, base, url))
    if kind == "status_one":
        return JSONResponse(world.upgrade.status.status_get(m.group(1), base))
    if kind == "legacy_status":
        return JSONResponse(world.upgrade.requests.legacy_status(base))
    if kind == "legacy_history":
        return JSONResponse(world.upgrade.requests.legacy_history(base))
    if kind == "legacy_upgrade":
        return JSONResponse(world.upgrade.requests.legacy_upgrade(await json_body(request), base))
    if kind == "legacy_rollback":
        return JSONResponse(world.upgrade.requests.start_rollback(await json_body(request), base, legacy=True))
    if kind == "cluster_status":
        return JSONResponse(world.upgrade.status.cluster_status())
    if kind == "cluster":
        return JSONResponse(world.upgrade.status.cluster_view(base))
    if kind == "versions":
        return JSONResponse(world.upgrade.status.controller_versions())
    return JSONResponse(world.upgrade.requests.upgrade_se(m.group(1), await json_body(request), base))
