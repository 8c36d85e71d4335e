"""Primitives the Avi plane's modules share: the world and its parts (lab.avi.world), the upgrade
engine (lab.avi.upgrade) and the REST app and routes (lab.avi.app, lab.avi.routes)."""
import uuid as uuidlib

from lab.web import read_json

HA_SHARED, HA_PAIR, HA_LEGACY = "HA_MODE_SHARED", "HA_MODE_SHARED_PAIR", "HA_MODE_LEGACY_ACTIVE_STANDBY"
# SE oper states in which the SE's data plane runs (it serves the VSs placed on it).
SERVING_OPER = ("OPER_UP", "OPER_DISABLING", "OPER_DISABLED", "OPER_ERROR_DISABLED")


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request):
    """The request's JSON body ({} when there is none); 400 when it is not JSON."""
    return await read_json(request, ApiError(400, "Request body is not valid JSON"))


def new_uuid(typ):
    return f"{typ}-{uuidlib.uuid4()}"


def ref(typ, uuid):
    return f"/api/{typ}/{uuid}"


def uuid_of(value):
    """uuid from a ref (`https://h/api/t/<uuid>#name`, `/api/t/<uuid>`) or a bare uuid."""
    if not value:
        return None
    value = str(value).split("#", 1)[0].rstrip("/")
    return value.rsplit("/", 1)[-1]
