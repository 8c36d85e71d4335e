"""What the upgrade engine's parts share: its constants and enums, version keys, the lab's image
package format (``python -m lab make-image``), and small helpers."""
import io
import json
import re
import tarfile
import time

from lab.avi.common import ApiError

UPGRADE_TIMING_DEFAULTS = {"prechecks": 2, "controller_install": 30, "controller_reboot": 20,
                           "cluster_form": 10, "se_upgrade": 60, "image_upload": 5, "reboot_drop_rate": 0.5}
PACKAGE_OF = {"vm": "controller.pkg", "bare_metal": "controller_docker.tgz"}
PACKAGES = tuple(PACKAGE_OF.values())
FLEXIBLE_SINCE = (18, 2, 6)
NODE_CTL, NODE_SEG, NODE_SE = "NODE_CONTROLLER_CLUSTER", "NODE_SE_GROUP", "NODE_SE_TYPE"
SUSPEND, ROLLBACK, CONTINUE = ("SUSPEND_UPGRADE_OPS_ON_ERROR", "ROLLBACK_UPGRADE_OPS_ON_ERROR",
                               "CONTINUE_UPGRADE_OPS_ON_ERROR")
ACTIONS = (ROLLBACK, SUSPEND, CONTINUE)
UPGRADE_OP_KINDS = ("system_upgrade", "controller_upgrade", "se_group_upgrade", "se_upgrade", "rollback",
                    "controller_rollback", "se_group_rollback", "se_rollback", "image_upload")
# operations that fail_operation faults may name (besides the world's own)
UPGRADE_FAULT_OPS = ("cluster_reform", "se_upgrade")
FSM = "UPGRADE_FSM_"
# controller tasks, in the order the vendor's upgrade reports them (EventMap.task enum and the 17.x
# tasks_completed list of Avi's own upgrade test suite)
CTL_TASKS = {
    "prechecks": ["COPY_AND_VERIFY_IMAGE"],
    "install": ["INSTALL_IMAGE", "PREPARE_CONTROLLER_FOR_SHUTDOWN", "STOP_CONTROLLER",
                "PREPARE_FOR_REBOOT_CONTROLLER_NODES"],
    "reboot": ["REBOOT_CONTROLLER_NODES"],
    "cluster_form": ["WAIT_FOR_ALL_CONTROLLER_NODES_ONLINE", "PRE_UPGRADE_HOOKS", "MIGRATE_CONFIG",
                     "START_PRIMARY_CONTROLLER", "START_ALL_CONTROLLERS", "POST_UPGRADE_HOOKS",
                     "SET_CONTROLLER_UPGRADE_COMPLETED"],
}
SYSTEM_TASKS = ["SE_UPGRADE_START", "COMMIT_UPGRADE"]
LOCKED_MESSAGE = ("Controller upgrade in progress: the configuration is read-only until the upgrade "
                  "ends (reads and upgrade status still work)")


def vkey(version):
    """Sortable key of a version string: '22.1.6' -> (22, 1, 6); '22.1.3(9096) ...' -> (22, 1, 3)."""
    head = str(version or "").split("(", 1)[0].split("-", 1)[0]
    return tuple(int(n) for n in re.findall(r"\d+", head)[:4]) or (0,)


def is_flexible(version):
    return vkey(version) >= FLEXIBLE_SINCE


def make_image_bytes(version, build, min_version=None, package="controller.pkg", product="controller"):
    """A lab image package: a tar.gz with manifest.json (see lab/AVI.md "Images")."""
    manifest = {"product": product, "version": str(version), "build": int(build), "package": package}
    if min_version:
        manifest["min_version"] = str(min_version)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("manifest.json", json.dumps(manifest, indent=2).encode()),
                           ("payload/README", b"fleetops lab image package: a manifest, not a real controller\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_package(data):
    """The manifest of an uploaded package, or ApiError(400) naming what is wrong."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            member = tar.getmember("manifest.json")
            manifest = json.loads(tar.extractfile(member).read())
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError, AttributeError):
        raise ApiError(400, "Invalid image package: not a controller package (a tar.gz with manifest.json, "
                       "as controller.pkg / controller_docker.tgz; python -m lab make-image writes one)")
    if not isinstance(manifest, dict):
        raise ApiError(400, "Invalid image package: manifest.json is not an object")
    if manifest.get("product", "controller") != "controller":
        raise ApiError(400, f"Invalid image package: product {manifest.get('product')!r} is not 'controller'")
    if manifest.get("package") not in PACKAGES:
        raise ApiError(400, f"Invalid image package: package must be one of {', '.join(PACKAGES)}, "
                       f"got {manifest.get('package')!r}")
    if not re.fullmatch(r"\d+(\.\d+){1,3}", str(manifest.get("version", ""))):
        raise ApiError(400, f"Invalid image package: version must look like 22.1.7, got {manifest.get('version')!r}")
    if not str(manifest.get("build", "")).isdigit():
        raise ApiError(400, f"Invalid image package: build must be a number, got {manifest.get('build')!r}")
    min_version = manifest.get("min_version")
    if min_version is not None and not re.fullmatch(r"\d+(\.\d+){1,3}", str(min_version)):
        raise ApiError(400, f"Invalid image package: min_version must look like 22.1.1, "
                       f"got {manifest['min_version']!r}")
    return manifest


def absolute(doc, base):
    """Every "/api/..." string in ``doc`` (refs, also inside lists) made absolute with ``base``."""
    if isinstance(doc, dict):
        return {k: absolute(v, base) for k, v in doc.items()}
    if isinstance(doc, list):
        return [absolute(v, base) for v in doc]
    if isinstance(doc, str) and doc.startswith("/api/"):
        return base + doc
    return doc


def drop_none(doc):
    """``doc`` without the keys whose value is None, at every depth: the controller leaves unset fields out."""
    if isinstance(doc, dict):
        return {k: drop_none(v) for k, v in doc.items() if v is not None}
    if isinstance(doc, list):
        return [drop_none(v) for v in doc]
    return doc


def flag(body, key, default=False):
    v = body.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ApiError(400, f"{key} must be a boolean (true or false), got {v!r}")
    return v
