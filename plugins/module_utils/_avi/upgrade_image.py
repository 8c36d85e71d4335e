# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The image of an upgrade: finding it on the controller (by name, uuid, path or version), uploading a local
package once, and checking that its package type fits how the controller is deployed.

The vendor ships the controller as ``controller.pkg`` for a controller deployed as a virtual machine and as
``controller_docker.tgz`` for one deployed as a container (bare metal) (Avi "Upgrading Avi Vantage Software",
17.x; NSX ALB 20.1.4 and 30.2 image service docs); patches are ``*_patch.pkg``. The running controller tells its
deployment in ``GET /api/systemconfiguration`` ``docker_mode`` (a documented field of every supported release;
that ``true`` means a container deployment is inferred, no vendor text defines it: research Q4). An image
already on the controller does not say which package it came from, so its type is unknown: the check then
needs the operator's word (``deployment``), as it does when ``docker_mode`` is missing. Unknown is never a pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.upgrade_status import image_summary, same_version
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ModuleFailure, readable_file

VM, DOCKER, PATCH = "vm", "docker", "patch"
PACKAGE = {VM: "controller.pkg", DOCKER: "controller_docker.tgz"}
DEPLOYMENT_TEXT = {VM: "a virtual machine deployment, which takes controller.pkg",
                   DOCKER: "a container (docker) deployment, which takes controller_docker.tgz"}


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_kind(filename):
    """What a package file is by its name: ``vm`` (``controller.pkg``, ``*.pkg``), ``docker``
    (``controller_docker.tgz``, ``*.tgz``), ``patch`` (``*_patch.pkg``) or None (unknown)."""
    base = os.path.basename(str(filename or "")).lower()
    if base.endswith("patch.pkg"):
        return PATCH
    if base.endswith(".tgz") or "docker" in base:
        return DOCKER
    if base.endswith(".pkg"):
        return VM
    return None


def read_docker_mode(client):
    """``docker_mode`` of ``GET /api/systemconfiguration`` (True, False), or None when the controller does not
    answer it (missing field or object)."""
    try:
        data = client.get("systemconfiguration")
    except AviError as exc:
        if exc.status in (403, 404):
            return None
        raise
    value = (data or {}).get("docker_mode") if isinstance(data, dict) else None
    return value if isinstance(value, bool) else None


def check_image_type(docker_mode, stated, image_kind, image_label):
    """Refuse (ModuleFailure) an image whose package type does not fit the controller's deployment, naming both.

    ``docker_mode`` from the controller (None: unknown), ``stated`` the operator's ``deployment`` (``auto``,
    ``vm``, ``docker``), ``image_kind`` from :func:`package_kind` (None: unknown). Returns a line for the plan."""
    reported = None if docker_mode is None else (DOCKER if docker_mode else VM)
    if stated != "auto" and reported and stated != reported:
        raise ModuleFailure("deployment: given as %s, but the controller reports docker_mode %s (%s); the image "
                            "must fit what the controller is" % (stated, str(docker_mode).lower(),
                                                                 DEPLOYMENT_TEXT[reported]))
    deployment = reported or (stated if stated != "auto" else None)
    if deployment is None:
        raise ModuleFailure("cannot tell how the controller is deployed: GET /api/systemconfiguration gives no "
                            "docker_mode; state it with deployment=vm (controller.pkg) or deployment=docker "
                            "(controller_docker.tgz) to check image %s against it" % image_label)
    if image_kind == PATCH:
        return "image %s is a patch (fits any deployment)" % image_label
    if image_kind is None:
        if stated == "auto":
            raise ModuleFailure("image %s: its package type is unknown (an image already on the controller does not "
                                "tell which package it came from), so it cannot be checked against the controller "
                                "(%s); confirm with deployment=%s that it is a %s" % (
                                    image_label, DEPLOYMENT_TEXT[deployment], deployment, PACKAGE[deployment]))
        return "image %s: package type unknown; the operator states the deployment: %s" % (
            image_label, DEPLOYMENT_TEXT[deployment])
    if image_kind != deployment:
        raise ModuleFailure("image %s is a %s package (%s), but the controller is %s%s: upload the %s package" % (
            image_label, PACKAGE[image_kind], DEPLOYMENT_TEXT[image_kind].split(",")[0],
            DEPLOYMENT_TEXT[deployment], " (docker_mode %s)" % str(docker_mode).lower()
            if docker_mode is not None else " (as stated)", PACKAGE[deployment]))
    return "image %s is a %s package: fits the controller (%s)" % (
        image_label, PACKAGE[image_kind], DEPLOYMENT_TEXT[deployment])


def resolve_image(client, params, flexible):
    """The image to upgrade to: a summary dict, ``{"upload": path, ...}`` for a local file not yet on the
    controller, ``{"path": ...}`` for a 17.x image path, ``{"missing": True, ...}`` for a version with no image,
    or None (neither image nor version given). Each carries ``kind`` (package type, None when unknown)."""
    value = params["image"]
    if not flexible:
        if value and not str(value).startswith("controller://"):
            raise ModuleFailure("image '%s': a 17.x controller takes the image as a controller:// path, e.g. "
                                "controller://upgrade_pkgs/controller.pkg (copy the package to "
                                "/var/lib/avi/upgrade_pkgs/ on the leader first)" % value)
        if not params["version"]:
            raise ModuleFailure("version is required with a 17.x controller: its API cannot tell the "
                                "version of an image path")
        path = value or "controller://upgrade_pkgs/controller.pkg"
        return {"path": path, "name": path.rsplit("/", 1)[-1], "version": params["version"], "kind": package_kind(path)}
    images = [image_summary(i) for i in client.get_all("image")]
    path = os.path.expanduser(value) if value else None
    if path and (os.path.isfile(path) or os.path.sep in path and not value.startswith("controller://")
                 and os.path.exists(path)):
        try:
            readable_file(path, "image (a local package file)")
        except ValueError as exc:
            raise ModuleFailure(str(exc))
        digest = md5_of(path)
        for image in images:
            if image["hash"] == digest:
                image["kind"] = package_kind(path)
                return image
        return {"upload": path, "hash": digest, "version": params["version"], "name": os.path.basename(path),
                "kind": package_kind(path)}
    if value:
        for image in images:
            if value in (image["uuid"], image["name"], image["path"]):
                image["kind"] = None
                return image
        raise ModuleFailure("image: '%s' is no local file and no image of the controller (by uuid, name or "
                            "path); images: %s" % (value, ", ".join(sorted(
                                "%s (%s)" % (i["name"], i["version"]) for i in images)) or "none"))
    if not params["version"]:
        return None
    found = [i for i in images if same_version(i["version"], params["version"])]
    if not found:
        return {"missing": True, "version": params["version"],
                "known": sorted("%s (%s)" % (i["name"], i["version"]) for i in images)}
    if len(found) > 1:
        raise ModuleFailure("several images have version %s (%s): set image to choose one"
                            % (params["version"], ", ".join(sorted(i["name"] for i in found))))
    found[0]["kind"] = None
    return found[0]


def upload_image(client, image, progress, wait):
    """Upload a local package (``image["upload"]``) and wait until the controller has it; its summary.
    ``wait(condition, what)`` is the module's wait."""
    progress.update("image", "uploading %s" % image["name"])
    answer = client.upload("image", "file", image["upload"])
    uploaded = answer.get("uuid") if isinstance(answer, dict) else None

    def ready():
        for item in client.get_all("image"):
            found = image_summary(item)
            if found["uuid"] == uploaded or found["hash"] == image["hash"]:
                if found["state"] in ("IMAGE_FSM_FAILED",):
                    raise ModuleFailure("image upload failed: %s" % (item.get("img_state") or {}).get("reason"))
                progress.update("image", "image %s: %s" % (found["name"], found["state"]),
                                percent=found.get("progress"))
                if found["state"] in (None, "IMAGE_FSM_COMPLETED"):
                    found["kind"] = image.get("kind")
                    return found
        return None
    return wait(ready, "the uploaded image to be ready")
