"""Views of the Avi world: objects, collections (filters, paging, include_name), inventories and
runtime summaries, in the vendor's shapes; lab-only state (``_lab``) never leaves the world."""
import copy
import re

from lab.avi.common import HA_LEGACY, SERVING_OPER, ApiError, ref, uuid_of
from lab.avi.objects import MIG_IDLE
from lab.avi.part import Part


class Views(Part):
    def version_info(self):
        """The version block of /login and /api/initial-data (world.cfg: an upgrade changes it)."""
        cfg = self.w.cfg
        return {"Version": cfg["version"], "build": int(cfg["build"]) if str(cfg["build"]).isdigit() else
                cfg["build"], "Tag": f"{cfg['version']}-{cfg['build']}", "min_version": "15.2",
                "ProductName": "Avi Cloud Controller (fleetops lab)"}

    # ------------------------------------------------------------------ REST views
    def _render(self, doc, base, include_name):
        def conv(v, key=""):
            if isinstance(v, dict):
                return {k: conv(x, k) for k, x in v.items() if k != "_lab"}
            if isinstance(v, list):
                return [conv(x, key) for x in v]
            if isinstance(v, str) and v.startswith("/api/") and (key.endswith("_ref") or key.endswith("_refs")
                                                                 or key in ("url", "ref")):
                out = base + v
                if include_name:
                    parts = v.split("/")
                    obj = self.w.objs.get(parts[2], {}).get(parts[3]) if len(parts) > 3 else None
                    if obj:
                        out += "#" + obj["name"]
                    elif parts[2] == "tenant":
                        out += "#" + parts[3]
                return out
            return v
        return conv(doc)

    def view(self, typ, o, base, include_name):
        d = copy.deepcopy(o)
        d.pop("_lab", None)
        d["url"] = ref(typ, o["uuid"])
        if typ == "serviceengine":
            d["vs_refs"] = [ref("virtualservice", v["uuid"]) for v in self.w.vss_on(o["uuid"])]
        if typ == "cloud":
            d["lab_can_create_se"] = o["_lab"]["can_create_se"]
        return self._render(d, base, include_name)

    @staticmethod
    def filter_items(items, q):
        for key in ("name", "uuid"):
            if q.get(key) is not None:
                items = [o for o in items if o[key] == q[key] or (key == "uuid" and o[key] == uuid_of(q[key]))]
        for key in ("se_group_ref", "cloud_ref", "host_ref"):
            if q.get(key):
                want = uuid_of(q[key])
                items = [o for o in items if uuid_of(o.get(key)) == want]
        if q.get("name.contains"):
            items = [o for o in items if q["name.contains"] in o["name"]]
        return items

    def page(self, items, q, url, render):
        try:
            page = max(1, int(q.get("page", 1)))
            size = max(1, int(q.get("page_size", 25)))
        except ValueError:
            raise ApiError(400, "page and page_size must be integers")
        items = sorted(items, key=lambda o: o["name"])
        chunk = items[(page - 1) * size: page * size]
        results = [render(o) for o in chunk]
        if q.get("fields"):
            keep = set(q["fields"].split(",")) | {"uuid", "url"}
            results = [{k: v for k, v in r.items() if k in keep} for r in results]
        out = {"count": len(items), "results": results}
        if page * size < len(items):
            out["next"] = re.sub(r"([?&])page=\d+&?", r"\1", url).rstrip("&?")
            out["next"] += ("&" if "?" in out["next"] else "?") + f"page={page + 1}"
        return out

    def list(self, typ, q, base, url):
        with self.w.lock:
            items = self.filter_items(list(self.w.objs[typ].values()), q)
            inc = "include_name" in q and q.get("include_name") not in ("false", "False", "0")
            return self.page(items, q, url, lambda o: self.view(typ, o, base, inc))

    def get(self, typ, u, base, include_name=False):
        with self.w.lock:
            o = self.w.objs[typ].get(u)
            if not o:
                raise ApiError(404, "Object not found!")
            return self.view(typ, o, base, include_name)

    # inventories & runtime ------------------------------------------------
    def _se_runtime(self, se):
        return {"oper_status": {"state": se["_lab"]["oper"]}, "migrate_state": se["_lab"]["migrate_state"],
                "version": se["_lab"]["version"], "power_state": "SE_POWER_ON" if se["_lab"]["oper"] not in (
                    "OPER_CREATING", "OPER_FAILED") else "SE_POWER_OFF",
                "se_connected": se["_lab"]["oper"] in SERVING_OPER, "at_curr_ver":
                    se["_lab"]["version"] == self.w.cfg["version"], "enable_state": se["enable_state"],
                "lab_migrate_failures": se["_lab"].get("failures", [])}

    def se_inventory(self, q, base, url, one=None):
        with self.w.lock:
            items = [self.w.objs["serviceengine"][one]] if one else self.filter_items(
                list(self.w.objs["serviceengine"].values()), q)
            if one and items[0] is None:
                raise ApiError(404, "Object not found!")
            inc = "include_name" in q

            def render(se):
                rt = self._se_runtime(se)
                rt.pop("enable_state")
                rt.pop("lab_migrate_failures")
                return {"uuid": se["uuid"], "url": base + ref("serviceengine", se["uuid"]),
                        "config": self.view("serviceengine", se, base, inc), "runtime": rt}
            if one:
                return render(items[0])
            return self.page(items, q, url, render)

    def se_runtime(self, u):
        with self.w.lock:
            se = self.w.objs["serviceengine"].get(u)
            if not se:
                raise ApiError(404, "Object not found!")
            return self._se_runtime(se)

    def _vs_ses(self, vs, base, inc):
        out = []
        for p in vs["_lab"]["placement"]:
            se = self.w.objs["serviceengine"].get(p["se"], {"name": "?", "_lab": {"oper": "OPER_DOWN"}})
            serving = p["state"] in ("active", "scaling_in") and self.w.se_serving(p["se"])
            r = base + ref("serviceengine", p["se"]) + (("#" + se["name"]) if inc else "")
            out.append({"ref": r, "uuid": p["se"], "name": se["name"], "primary": p["primary"],
                        "standby": p["standby"],
                        "oper_status": {"state": "OPER_UP" if serving else (
                            "OPER_CREATING" if p["state"] == "scaling_out" else "OPER_DOWN")},
                        "scaleout_in_progress": p["state"] == "scaling_out",
                        "scalein_in_progress": p["state"] == "scaling_in",
                        "connected": serving, "active_on_se": serving,
                        "mgmt_ip": se.get("mgmt_ip_address")})
        return out

    def _vs_runtime(self, vs, base, inc):
        ses = self._vs_ses(vs, base, inc)
        serving = sum(1 for s in ses if s["oper_status"]["state"] == "OPER_UP")
        g = self.w.group_of(vs)
        if not vs["enabled"]:
            state = "OPER_DISABLED"
        else:
            state = "OPER_UP" if serving else "OPER_DOWN"
        pct = int(serving * 100 / len(ses)) if ses else 0
        want = 2 if g["ha_mode"] == HA_LEGACY else g["min_scaleout_per_vs"]
        op = self.w.operations.active_op(vs["uuid"])
        phase = None
        if op:
            phase = "wait_se" if op.get("wait_se") else op["phases"][min(op["phase"], len(op["phases"]) - 1)][0]
        flags = {
            "migrate_in_progress": bool(op and op["kind"] == "migrate"),
            "scaleout_in_progress": bool(op and phase in ("scaleout", "wait_se")),
            "scalein_in_progress": bool(op and phase == "scalein"),
            "progress_percent": self.w.operations.progress(op) if op else 0,
            "migrate_state": vs["_lab"].get("migrate_state", MIG_IDLE),
            "lab_last_operation": vs["_lab"].get("last_op"),
        }
        summary = {"vip_id": vs["vip"][0]["vip_id"] if vs["vip"] else "0", "oper_status": {"state": state},
                   "percent_ses_up": pct, "num_se_assigned": len(ses), "num_se_requested": max(want, len(ses)),
                   "service_engine": ses, "ip_address": vs["vip"][0]["ip_address"] if vs["vip"] else None}
        return state, pct, summary, flags

    def vs_inventory(self, q, base, url, one=None):
        with self.w.lock:
            items = [self.w.objs["virtualservice"].get(one)] if one else self.filter_items(
                list(self.w.objs["virtualservice"].values()), q)
            if one and items[0] is None:
                raise ApiError(404, "Object not found!")
            inc = "include_name" in q

            def render(vs):
                state, pct, summary, _flags = self._vs_runtime(vs, base, inc)
                return {"uuid": vs["uuid"], "url": base + ref("virtualservice", vs["uuid"]),
                        "config": self.view("virtualservice", vs, base, inc),
                        "runtime": {"oper_status": {"state": state}, "percent_ses_up": pct,
                                    "vip_summary": [summary]}}
            if one:
                return render(items[0])
            return self.page(items, q, url, render)

    def vs_runtime(self, u, base):
        with self.w.lock:
            vs = self.w.objs["virtualservice"].get(u)
            if not vs:
                raise ApiError(404, "Object not found!")
            _state, _pct, summary, flags = self._vs_runtime(vs, base, False)
            summary.update(flags)
            return [summary]
