"""Images of the upgrade engine: the controller's image store (``/api/image``), uploads and the
images an upgrade names."""
import copy
import hashlib
import logging

from lab.avi.common import ApiError, new_uuid, ref, uuid_of
from lab.avi.upgrade.package import PACKAGE_OF, absolute, drop_none, read_package
from lab.avi.upgrade.part import UpgradePart

log = logging.getLogger("lab.avi.upgrade")


class Images(UpgradePart):
    # ------------------------------------------------------------------ images
    def add_image(self, version, build, min_version, package, ready, name=None, path=None, digest=None):
        iu = new_uuid("image")
        name = name or f"controller-{version}-{build}"
        ext = ".tgz" if package.endswith(".tgz") else ".pkg"
        path = path or f"controller://upgrade_pkgs/{name}{ext}"
        now = self.w.lab_now()
        build_info = {"version": str(version), "build_no": int(build), "min_version": str(min_version or ""),
                      "product": "controller", "tag": f"{version}-{build}",
                      "date": self.u.ts(now)[:19], "product_name": "Avi Cloud Controller (fleetops lab)"}
        pkg = {"build": build_info, "path": path, "hash": digest or hashlib.md5(name.encode()).hexdigest()}
        se_build = dict(build_info, product="se", product_name="Avi Service Engine (fleetops lab)")
        doc = {"uuid": iu, "name": name, "type": "IMAGE_TYPE_SYSTEM", "controller_info": pkg,
               "se_info": {"build": se_build, "path": path, "hash": pkg["hash"]},
               "img_state": {"state": "IMAGE_FSM_COMPLETED" if ready else "IMAGE_FSM_IN_PROGRESS",
                             "last_changed_time": self.u.stamp(now)},
               "progress": 100 if ready else 0, "tasks_completed": 1 if ready else 0, "total_tasks": 1,
               "start_time": self.u.ts(now), "end_time": self.u.ts(now) if ready else None,
               "duration": 0, "tenant_ref": ref("tenant", "admin"),
               "_lab": {"version": str(version), "build": str(build), "min_version": min_version,
                        "package": package}}
        self.u.up["images"][iu] = doc
        self.u.dirty()
        return iu

    def image_view(self, doc, base):
        d = copy.deepcopy(doc)
        d.pop("_lab", None)
        d["url"] = ref("image", doc["uuid"])
        op = self._image_op(doc["uuid"])
        if op:
            d["progress"] = self.w.operations.progress(op)
        if not self.w.views.since("21.1.3"):   # before 21.1.3 an image tells only whether it is there
            for key in ("img_state", "progress", "tasks_completed", "total_tasks", "start_time", "end_time", "duration"):
                d.pop(key, None)
            d["status"] = "SYSERR_PENDING" if op else "SYSERR_SUCCESS"   # [lab assumption] which value while uploading
        return absolute(drop_none(d), base)

    def _image_op(self, iu):
        for op in self.w.ops.values():
            if op["state"] == "running" and op["kind"] == "image_upload" and op.get("image") == iu:
                return op
        return None

    def image_upload(self, data, base):
        with self.w.lock:
            self.u.need_flexible("/api/image")
            self.u.check_locked()
            manifest = read_package(data)
            want = PACKAGE_OF[self.u.up["deployment"]]
            if manifest["package"] != want:
                raise ApiError(400, f"Image package type {manifest['package']} does not match the controller "
                               f"deployment {self.u.up['deployment']}, which takes {want}")
            version, build = str(manifest["version"]), str(manifest["build"])
            for img in self.u.up["images"].values():
                if img["_lab"]["version"] == version and img["_lab"]["build"] == build:
                    raise ApiError(409, f"Image {img['name']} ({img['uuid']}) already exists with version "
                                   f"{version} build {build}")
            iu = self.add_image(version, build, manifest.get("min_version"), manifest["package"], ready=False,
                                digest=hashlib.md5(data).hexdigest())
            self.w.operations.start_op("image_upload", [("upload", self.u.timing("image_upload"))], target=self.u.up["images"][iu]
                                       ["name"], image=iu)
            log.info("image %s uploaded (%d bytes), becomes usable in %.0f lab seconds", self.u.up["images"][iu]["name"],
                     len(data), self.u.timing("image_upload"))
            self.w._flush()
            return self.image_view(self.u.up["images"][iu], base)

    def image_list(self, q, base, url, inventory=False):
        with self.w.lock:
            self.u.need_flexible("/api/image")
            items = self.w.views.filter_items(list(self.u.up["images"].values()), q)

            def render(doc):
                v = self.image_view(doc, base)
                return {"uuid": doc["uuid"], "url": v["url"], "config": v} if inventory else v
            return self.w.views.page(items, q, url, render)

    def image_get(self, iu, base, inventory=False):
        with self.w.lock:
            self.u.need_flexible("/api/image")
            doc = self.u.up["images"].get(iu)
            if not doc:
                raise ApiError(404, "Object not found!")
            v = self.image_view(doc, base)
            return {"uuid": iu, "url": v["url"], "config": v} if inventory else v

    def image_delete(self, iu):
        with self.w.lock:
            self.u.need_flexible("/api/image")
            self.u.check_locked()
            doc = self.u.up["images"].get(iu)
            if not doc:
                raise ApiError(404, "Object not found!")
            for op in self.w.ops.values():
                if op["state"] == "running" and op.get("image") == iu and op["kind"] != "image_upload":
                    raise ApiError(400, f"Image {doc['name']} is in use by a running upgrade ({op['kind']} {op['id']})")
            del self.u.up["images"][iu]
            self.u.dirty()
            self.w._flush()

    def image_for(self, value, field="image_ref"):
        iu = uuid_of(value)
        doc = self.u.up["images"].get(iu)
        if not doc:
            for d in self.u.up["images"].values():
                if d["name"] == value:
                    return d
            raise ApiError(400, f"{field}: no image {value!r} (GET /api/image lists the uploaded images)")
        return doc
