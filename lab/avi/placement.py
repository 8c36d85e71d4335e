"""The placement engine of the Avi world: where the controller puts a virtual service (an existing
SE of the group, or a new SE on a host with room) and creating SEs.

Two ways of deciding (``decisions.mode``, lab.avi.world): ``predicted`` follows the rules of lab/AVI.md
with ties broken by name, as the collection's planner predicts; ``otherwise`` makes another valid choice
(any eligible SE, or a new SE where one may be created; any host with room), so that tests show the
collection stays right when the controller does not do what it predicted."""
import logging
import string

from lab.avi.common import ApiError, new_uuid, ref, uuid_of
from lab.avi.objects import MIG_IDLE, SE_ENABLED
from lab.part import Part

log = logging.getLogger("lab.avi.placement")


class Placement(Part):
    # ------------------------------------------------------------------ placement engine
    def _host_room(self, hu):
        h = self.w.objs["vimgrhostruntime"].get(hu)
        if not h or h.get("maintenance_mode") or h.get("powerstate") != "VIMGR_HOST_POWERED_ON":
            return 0
        used = sum(1 for s in self.w.objs["serviceengine"].values() if uuid_of(s.get("host_ref")) == hu)
        return h["_lab"]["max_se"] - used

    def pick_host(self, cu, _unused, avoid=()):
        """The host of the cloud with the most room (ties: by name); otherwise any host with room. ``avoid``:
        hosts to pass over while another has room (a failed creation's)."""
        hosts = sorted(self.w.objs["vimgrhostruntime"].values(), key=lambda x: x["name"])
        rooms = [(h, self._host_room(h["uuid"])) for h in hosts if uuid_of(h["cloud_ref"]) == cu]
        rooms = [(h, r) for h, r in rooms if r > 0]
        if not rooms:
            return None
        preferred = [(h, r) for h, r in rooms if h["uuid"] not in avoid] or rooms
        if self.w.otherwise():
            return self.w.decision_rng().choice(preferred)[0]["uuid"]
        return max(preferred, key=lambda hr: hr[1])[0]["uuid"] if preferred else None

    def _can_create_se(self, g, host_uuid=None):
        """(True, host_uuid) or (False, reason)."""
        cloud = self.w.objs["cloud"].get(uuid_of(g["cloud_ref"]))
        if not cloud or not cloud["_lab"]["can_create_se"]:
            return False, f"cloud {cloud['name'] if cloud else '?'} cannot create service engines"
        n = len(self.w.ses_of_group(g["uuid"]))
        if n >= g["max_se"]:
            return False, f"SE group {g['name']} has reached max_se={g['max_se']} ({n} SEs, disabled SEs count)"
        cap = int(self.w.cfg["timing"].get("se_create_parallel", 0) or 0)
        creating = sum(1 for s in self.w.ses_of_group(g["uuid"]) if s["_lab"]["oper"] == "OPER_CREATING")
        if cap and creating >= cap:   # [vendor: SYSERR_RM_MAX_PARALLEL_SE_CREATE exists; lab assumption: the cap]
            return False, (f"SYSERR_RM_MAX_PARALLEL_SE_CREATE: SE group {g['name']} is already creating {creating} "
                           "SE(s)")
        if host_uuid:
            h = self.w.objs["vimgrhostruntime"].get(host_uuid)
            if not h or uuid_of(h["cloud_ref"]) != cloud["uuid"]:
                return False, "host not found in the SE group's cloud"
            if self._host_room(host_uuid) <= 0:
                return False, f"host {h['name']} has no capacity for another SE"
            return True, host_uuid
        hu = self.pick_host(cloud["uuid"], {})
        if not hu:
            return False, f"no host in cloud {cloud['name']} has capacity for another SE"
        return True, hu

    def _se_ineligible_reason(self, se, vs, g):
        if se["se_group_ref"] != vs["se_group_ref"]:
            return "in another SE group"
        if se["enable_state"] != SE_ENABLED:
            return f"{se['enable_state']}"
        if se["_lab"]["oper"] not in ("OPER_UP", "OPER_CREATING"):
            return f"{se['_lab']['oper']}"
        if any(p["se"] == se["uuid"] for p in vs["_lab"]["placement"]):
            return "already hosting the VS"
        load = self.w.load_of(se["uuid"])
        if load >= g["max_vs_per_se"]:
            return f"full ({load} VSs, max_vs_per_se={g['max_vs_per_se']})"
        return None

    def _choose_target(self, vs, g, exclude=()):
        """Return ("se", uuid) or ("new", host_uuid) or raise ApiError(400, No SE available...)."""
        eligible, reasons = [], []
        for se in sorted(self.w.ses_of_group(g["uuid"]), key=lambda s: s["name"]):
            if se["uuid"] in exclude:
                continue
            why = self._se_ineligible_reason(se, vs, g)
            if why:
                reasons.append(f"{se['name']}: {why}")
            else:
                eligible.append(se)
        can, host = self._can_create_se(g)
        predicted = self._predicted(g, eligible, can, host, {s["uuid"]: self.w.load_of(s["uuid"]) for s in eligible})
        if self.w.otherwise():
            # another valid target than the documented rules predict, when there is one: another eligible SE, or
            # a new SE where the group may grow (or an existing SE rather than a new one)
            choices = [("se", s["uuid"]) for s in eligible] + ([("new", host)] if can else [])
            others = [c for c in choices if predicted is None or c[0] != predicted[0]
                      or (c[0] == "se" and c[1] != predicted[1])]
            if others:
                return self.w.decision_rng().choice(others)
        if predicted is not None:
            return predicted
        raise ApiError(400, "No SE available for placement: " + "; ".join(reasons + [host]))

    @staticmethod
    def _predicted(g, eligible, can, host, load):
        """The documented rules, ties broken by name: PACKED fills the eligible SE with the most VSs, else a new SE;
        DISTRIBUTED a new SE while the group may grow, else the eligible SE with the fewest. None: no place."""
        if g["algo"] == "PLACEMENT_ALGO_DISTRIBUTED" and can:
            return "new", host
        if eligible:
            up = [s for s in eligible if s["_lab"]["oper"] == "OPER_UP"] or eligible
            if g["algo"] == "PLACEMENT_ALGO_DISTRIBUTED":
                return "se", min(up, key=lambda s: (load[s["uuid"]], s["name"]))["uuid"]
            return "se", min(up, key=lambda s: (-load[s["uuid"]], s["name"]))["uuid"]
        if can:
            return "new", host
        return None

    def create_se(self, g, host_uuid, parent=None, forced_host=False):
        su = new_uuid("serviceengine")
        suffix = "".join(self.w._rng.choice(string.ascii_lowercase) for _unused in range(5))
        n = len(self.w.objs["serviceengine"])
        se = {"uuid": su, "name": f"{g.get('se_name_prefix') or 'Avi'}-se-{suffix}",
              "cloud_ref": g["cloud_ref"], "se_group_ref": ref("serviceenginegroup", g["uuid"]),
              "host_ref": ref("vimgrhostruntime", host_uuid), "enable_state": SE_ENABLED,
              "resources": {"num_vcpus": g["vcpus_per_se"], "memory": g["memory_per_se"],
                            "disk": g["disk_per_se"]},
              "controller_created": True, "tenant_ref": ref("tenant", "admin"),
              "_lab": {"oper": "OPER_CREATING", "migrate_state": MIG_IDLE, "version": self.w.cfg["version"],
                       "failures": [], "mgmt_ip": {"addr": f"10.11.{n // 250}.{n % 250 + 2}", "type": "V4"}}}
        if g.get("instance_flavor"):
            se["flavor"] = g["instance_flavor"]
        self.w.objs["serviceengine"][su] = se
        self.w.save_obj("serviceengine", su)
        self.w.operations.start_op("se_create", se=su, target=se["name"], parent=parent,
                                   phases=[("create", self.w.duration("se_create"))], forced_host=forced_host,
                                   failed_hosts=[])
        self.spawn_event("CREATING_SE", se, g, host_uuid, f"Creating Service Engine {se['name']}")
        log.info("creating SE %s on host %s for group %s", se["name"],
                 self.w.objs["vimgrhostruntime"][host_uuid]["name"], g["name"])
        return su

    def spawn_event(self, event_id, se, g, host_uuid, description, reason=None):
        host = self.w.objs["vimgrhostruntime"].get(host_uuid) or {}
        cloud = self.w.objs["cloud"].get(uuid_of(g["cloud_ref"])) or {}
        details = {"se_uuid": se["uuid"], "se_name": se["name"], "se_grp_uuid": g["uuid"], "se_grp_name": g["name"],
                   "host_uuid": host.get("uuid", ""), "host_name": host.get("name", ""),
                   "cloud_uuid": cloud.get("uuid", ""), "cloud_name": cloud.get("name", ""),
                   "vcpus": int(g["vcpus_per_se"]), "memory": int(g["memory_per_se"])}
        if reason:
            details["reason"] = reason
        self.w.eventlog.emit(event_id, "serviceenginegroup", g, "RESMGR", description, {"spawn_se_details": details})

    def target_from_params(self, vs, g, params, exclude=()):
        to_se = params.get("to_se_ref")
        if to_se:
            se = self.w.objs["serviceengine"].get(uuid_of(to_se))
            if not se:
                raise ApiError(404, "Object not found!")
            if self.w.vs_entry(vs, se["uuid"]):
                raise ApiError(400, "VS is already placed on the target SE")
            why = self._se_ineligible_reason(se, vs, g)
            if why:
                raise ApiError(400, f"No SE available for placement: target SE {se['name']} is {why}")
            return "se", se["uuid"]
        if params.get("to_host_ref") or params.get("to_new_se"):
            hu = uuid_of(params.get("to_host_ref")) if params.get("to_host_ref") else None
            can, host = self._can_create_se(g, hu)
            if not can:
                raise ApiError(400, f"No SE available for placement: {host}")
            return ("new_on_host" if hu else "new"), host
        return self._choose_target(vs, g, exclude)
