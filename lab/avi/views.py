"""Views of the Avi world: objects, collections (filters, paging, include_name), inventories and
runtime summaries, in the vendor's shapes; lab-only state (``_lab``) never leaves the world."""
import functools
import operator
import re

from lab.avi.common import HA_LEGACY, SERVING_OPER, ApiError, ref, uuid_of
from lab.avi.upgrade.package import vkey
from lab.part import Part

_vkey = functools.lru_cache(maxsize=64)(vkey)   # since() runs per item rendered: parse each version once


class Views(Part):
    def version_info(self):
        """The version block of /login and /api/initial-data (world.cfg: an upgrade changes it)."""
        cfg = self.w.cfg
        return {"Version": cfg["version"], "build": int(cfg["build"]) if str(cfg["build"]).isdigit() else
                cfg["build"], "Tag": f"{cfg['version']}-{cfg['build']}", "min_version": 15.2,
                "ProductName": "Avi Cloud Controller (fleetops lab)"}

    # ------------------------------------------------------------------ REST views
    def _render(self, doc, base, include_name):
        def conv(v, key=""):
            if isinstance(v, dict):   # numbers and booleans are taken as they are (most fields: no call)
                return {k: conv(x, k) if isinstance(x, (dict, list, str)) else x for k, x in v.items() if k != "_lab"}
            if isinstance(v, list):
                return [conv(x, key) for x in v]
            if isinstance(v, str) and v.startswith("/api/") and (key.endswith(("_ref", "_refs"))
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
        d = dict(o)   # _render copies every dict and list and leaves _lab out
        d["url"] = ref(typ, o["uuid"])
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
        items = sorted(items, key=operator.itemgetter("name"))
        chunk = items[(page - 1) * size: page * size]
        results = [render(o) for o in chunk]
        if q.get("fields"):
            keep = set(q["fields"].split(",")) | {"uuid", "url"}
            results = [{k: v for k, v in r.items() if k in keep} for r in results]
        out = {"count": len(items), "results": results}
        if page * size < len(items) and self.since("18.2"):
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

    # ------------------------------------------------------------------ the lab's own view (/_lab/world)
    def lab_world(self):
        """Placement, versions and the lab's state that no vendor object carries (clouds that may create SEs,
        host capacity, SE evacuation failures, each VS's last operation)."""
        w = self.w
        with w.lock:
            ses = {}
            hosted = self._hosted()
            for se in w.objs["serviceengine"].values():
                ses[se["name"]] = {"group": w.group_of(se)["name"], "enable_state": se["enable_state"],
                                   "oper": se["_lab"]["oper"], "migrate_state": se["_lab"]["migrate_state"],
                                   "version": se["_lab"]["version"], "mgmt_ip": se["_lab"]["mgmt_ip"]["addr"],
                                   "migrate_failures": se["_lab"].get("failures", []),
                                   "vs": sorted(v["name"] for v in hosted.get(se["uuid"], []))}
            hosts = {h["name"]: {"max_se_on_host": h["_lab"]["max_se"],
                                 "ses": sorted(s["name"] for s in w.objs["serviceengine"].values()
                                               if uuid_of(s.get("host_ref")) == h["uuid"])}
                     for h in w.objs["vimgrhostruntime"].values()}
            clouds = {c["name"]: {"can_create_se": c["_lab"]["can_create_se"]} for c in w.objs["cloud"].values()}
            vss = {v["name"]: {"migrate_state": v["_lab"].get("migrate_state"), "last_operation": v["_lab"].get("last_op")}
                   for v in w.objs["virtualservice"].values()}
            return {"service_engines": dict(sorted(ses.items())), "hosts": dict(sorted(hosts.items())),
                    "clouds": clouds, "virtual_services": dict(sorted(vss.items())), "lab_now": w.lab_now(),
                    "decisions": w.cfg["decisions"]["mode"]}

    # ------------------------------------------------------------------ API generations
    def since(self, version):
        """Whether the running controller version is ``version`` or later (its answers follow it)."""
        return _vkey(self.w.cfg["version"]) >= _vkey(version)

    # ------------------------------------------------------------------ inventories and runtime
    def _se_runtime(self, se):
        """ServiceEngineRuntimeSummary (GET .../runtime and the inventory's runtime)."""
        oper = se["_lab"]["oper"]
        return {"oper_status": {"state": oper}, "migrate_state": se["_lab"]["migrate_state"],
                "version": se["_lab"]["version"],
                "power_state": "SE_POWER_OFF" if oper in ("OPER_CREATING", "OPER_FAILED") else "SE_POWER_ON",
                "se_connected": oper in SERVING_OPER, "at_curr_ver": se["_lab"]["version"] == self.w.cfg["version"]}

    def _hosted(self):
        """SE uuid -> the VSs placed on it, in the order ``world.vss_on`` gives them: one pass over the VSs
        for a whole page instead of one per SE."""
        out = {}
        for v in self.w.objs["virtualservice"].values():
            placed = v["_lab"]["placement"]
            for su in (p["se"] for p in placed) if len(placed) < 2 else dict.fromkeys(p["se"] for p in placed):
                if su in out:
                    out[su].append(v)
                else:
                    out[su] = [v]
        return out

    def _se_config(self, se, base, inc, hosted=None):
        """The inventory's config: ServiceEngineConfig (22.1 and later), else the ServiceEngineInventoryConfig
        of the inventory docs (which calls the VS list virtualservice_refs)."""
        on = hosted.get(se["uuid"], []) if hosted is not None else self.w.vss_on(se["uuid"])
        vs_refs = [ref("virtualservice", v["uuid"]) for v in on]
        doc = {k: se[k] for k in ("uuid", "name", "tenant_ref", "cloud_ref", "se_group_ref", "enable_state")}
        doc.update(url=ref("serviceengine", se["uuid"]), mgmt_ip_address=se["_lab"]["mgmt_ip"])
        if self.since("22.1.1"):
            if se.get("host_ref"):
                doc["host_ref"] = se["host_ref"]
            doc["vs_refs"] = vs_refs
        else:
            doc["virtualservice_refs"] = vs_refs
        return self._render(doc, base, inc)

    def se_inventory(self, q, base, url, one=None):
        with self.w.lock:
            items = [self.w.objs["serviceengine"].get(one)] if one else self.filter_items(
                list(self.w.objs["serviceengine"].values()), q)
            if one and items[0] is None:
                raise ApiError(404, "Object not found!")
            inc = "include_name" in q
            hosted = self._hosted()

            def render(se):
                out = {"config": self._se_config(se, base, inc, hosted), "runtime": self._se_runtime(se)}
                if self.since("22.1.1"):   # the item's own uuid and url came with the 22.1 definition
                    out.update(uuid=se["uuid"], url=base + ref("serviceengine", se["uuid"]))
                return out
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
        """VipSeAssigned per placement (the fields of the running version)."""
        out = []
        for p in vs["_lab"]["placement"]:
            se = self.w.objs["serviceengine"].get(p["se"], {"name": "?", "_lab": {"oper": "OPER_DOWN"}})
            serving = p["state"] in ("active", "scaling_in") and self.w.se_serving(p["se"])
            entry = {"ref": base + ref("serviceengine", p["se"]) + (("#" + se["name"]) if inc else ""),
                     "name": se["name"], "primary": p["primary"], "standby": p["standby"],
                     "oper_status": {"state": "OPER_UP" if serving else (
                         "OPER_CREATING" if p["state"] == "scaling_out" else "OPER_DOWN")},
                     "scalein_in_progress": p["state"] == "scaling_in", "connected": serving}
            if self.since("20.1.3") and se["_lab"].get("mgmt_ip"):
                entry["mgmt_ip"] = se["_lab"]["mgmt_ip"]
            if self.since("21.1.3"):
                entry.update(scaleout_in_progress=p["state"] == "scaling_out", active_on_se=serving)
            out.append(entry)
        return out

    def _vs_runtime(self, vs, base, inc):
        """(VirtualServiceRuntimeSummary without vip_summary, the VIP's VipRuntimeSummary)."""
        ses = self._vs_ses(vs, base, inc)
        serving = sum(1 for s in ses if s["oper_status"]["state"] == "OPER_UP")
        g = self.w.group_of(vs)
        state = "OPER_DISABLED" if not vs["enabled"] else ("OPER_UP" if serving else "OPER_DOWN")
        want = 2 if g["ha_mode"] == HA_LEGACY else g["min_scaleout_per_vs"]
        op = self.w.operations.active_op(vs["uuid"])
        phase = None
        if op:
            phase = "wait_se" if op.get("wait_se") else op["phases"][min(op["phase"], len(op["phases"]) - 1)][0]
        summary = {"oper_status": {"state": state}, "percent_ses_up": int(serving * 100 / len(ses)) if ses else 0,
                   "num_se_assigned": len(ses), "num_se_requested": max(want, len(ses)), "service_engine": ses,
                   "migrate_in_progress": bool(op and op["kind"] == "migrate"),
                   "scaleout_in_progress": bool(op and phase in ("scaleout", "wait_se")),
                   "scalein_in_progress": bool(op and phase == "scalein"),
                   "progress_percent": self.w.operations.progress(op) if op else 0}
        vip = dict(summary, vip_id=vs["vip"][0]["vip_id"] if vs["vip"] else "0")
        return summary, vip

    def _vs_runtime_summary(self, vs, base, inc):
        """VirtualServiceRuntimeSummary (GET .../runtime; the inventory's runtime before 22.1): the VIP's
        summary also at the top (the collection's modules read vip 0 there)."""
        summary, vip = self._vs_runtime(vs, base, inc)
        return dict(summary, vip_summary=[vip])

    def _vs_config(self, vs, base, inc):
        """The inventory's config: VsInventoryConfig (22.1 and later), else the
        VirtualServiceInventoryConfig of the inventory docs (the VIP as ip_address)."""
        keys = ("uuid", "name", "enabled", "services", "tenant_ref", "cloud_ref", "se_group_ref")
        doc = {k: vs[k] for k in keys}
        doc["url"] = ref("virtualservice", vs["uuid"])
        if self.since("22.1.1"):
            doc["vip"] = vs["vip"]   # _render copies it
        elif vs["vip"]:
            doc["ip_address"] = dict(vs["vip"][0]["ip_address"])
        return self._render(doc, base, inc)

    def vs_inventory(self, q, base, url, one=None):
        with self.w.lock:
            items = [self.w.objs["virtualservice"].get(one)] if one else self.filter_items(
                list(self.w.objs["virtualservice"].values()), q)
            if one and items[0] is None:
                raise ApiError(404, "Object not found!")
            inc = "include_name" in q

            def render(vs):
                out = {"uuid": vs["uuid"], "config": self._vs_config(vs, base, inc)}
                if not self.since("22.1.1"):
                    out["runtime"] = self._vs_runtime_summary(vs, base, inc)
                    return out
                summary, vip = self._vs_runtime(vs, base, inc)
                vip = {k: vip[k] for k in ("vip_id", "oper_status", "percent_ses_up", "num_se_assigned",
                                           "num_se_requested", "service_engine")}
                if vs["vip"]:
                    vip["ip_address"] = vs["vip"][0]["ip_address"]
                # VsRuntimeSummary: vip_summary is one VipSummary from 22.1.1
                vip_summary = vip
                out.update(url=base + ref("virtualservice", vs["uuid"]),
                           runtime={"oper_status": summary["oper_status"], "percent_ses_up": summary["percent_ses_up"],
                                    "vip_summary": vip_summary})
                return out
            if one:
                return render(items[0])
            return self.page(items, q, url, render)

    def vs_runtime(self, u, base):
        with self.w.lock:
            vs = self.w.objs["virtualservice"].get(u)
            if not vs:
                raise ApiError(404, "Object not found!")
            return self._vs_runtime_summary(vs, base, False)
