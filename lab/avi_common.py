"""Primitives the Avi world (lab.world) and its upgrade engine (lab.avi_upgrade) share."""
import uuid as uuidlib

HA_SHARED, HA_PAIR, HA_LEGACY = "HA_MODE_SHARED", "HA_MODE_SHARED_PAIR", "HA_MODE_LEGACY_ACTIVE_STANDBY"
# SE oper states in which the SE's data plane runs (it serves the VSs placed on it).
SERVING_OPER = ("OPER_UP", "OPER_DISABLING", "OPER_DISABLED", "OPER_ERROR_DISABLED")


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


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
