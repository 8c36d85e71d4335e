"""The Triton world's ``allocation`` part: compute-node capacity and the allocator (CNAPI's default DAPI pipeline,
lab/TRITON.md): usage per server, the hard filters, the scores with their random part, the allocator modes, and
server updates."""
import random

from lab.part import Part
from lab.triton.common import ALLOCATOR_MODES, ApiError, LARGE_POOL_RATIO, SCORE_WEIGHTS, SERVER_UPDATE_FIELDS


class Allocation(Part):
    """Capacity and placement (``world.allocation``): reads the world's servers, instances and migration records
    through ``self.w``, under its lock."""

    def __init__(self, world):
        super().__init__(world)
        self._alloc_draws = 0    # allocations drawn since the allocator was set (its seeded random scores)

    def hidden_halves(self, server_uuid):
        """(vm, role) of migration halves living on a server other than the VM's own."""
        out = []
        for rec in self.w.migrations.values():
            vm = self.w.vms.get(rec["vm_uuid"])
            if not vm:
                continue
            for su in (rec["source_server_uuid"], rec.get("target_server_uuid")):
                if su == server_uuid and su != vm["server_uuid"] and rec["_lab"].get("target_reserved", True):
                    out.append(vm)
        return out

    def server_usage(self, su):
        ram = disk = 0
        for vm in self.w.vms.values():
            if vm["server_uuid"] == su:
                ram += vm["ram"]
                disk += vm["disk"]
        for vm in self.hidden_halves(su):
            ram += vm["ram"]
            disk += vm["disk"]
        return ram, disk

    def usage_by_server(self):
        """{server uuid: [ram, disk]} of every server, in one pass (``server_usage`` of each: a list of
        200 servers would otherwise scan every instance 200 times)."""
        out = {su: [0, 0] for su in self.w.servers}
        for vm in self.w.vms.values():
            if vm["server_uuid"] in out:
                out[vm["server_uuid"]][0] += vm["ram"]
                out[vm["server_uuid"]][1] += vm["disk"]
        for rec in self.w.migrations.values():   # the hidden halves (_hidden_halves)
            vm = self.w.vms.get(rec["vm_uuid"])
            if not vm:
                continue
            for su in (rec["source_server_uuid"], rec.get("target_server_uuid")):
                if su in out and su != vm["server_uuid"] and rec["_lab"].get("target_reserved", True):
                    out[su][0] += vm["ram"]
                    out[su][1] += vm["disk"]
        return out

    def capacity(self, su, usage=None):
        """``usage``: ``usage_by_server()``, when asking for many servers."""
        s = self.w.servers[su]
        ram, disk = usage[su] if usage is not None else self.server_usage(su)
        return {"ram": int(s["ram"] * (1 - s["reservation_ratio"])) - ram,
                "disk": int(s["disk"] * (1 - s["reservation_ratio"])) - disk,
                "cpu": 100 * 32}

    def _why_not(self, su, vm):
        """Why the allocator's hard filters drop server ``su`` for ``vm`` (None: it passes), in the order of
        CNAPI's default pipeline: setup, running, reserved, traits, headnode, then RAM and disk."""
        s = self.w.servers[su]
        if su == vm["server_uuid"]:
            return "the instance's own server (locality: far from itself)"
        if not s["setup"]:
            return "not set up"
        if s["status"] != "running":
            return f"status {s['status']}"
        if s["reserved"]:
            return "reserved"
        if s.get("traits"):
            return "has traits " + ", ".join(sorted(s["traits"]))
        if s.get("headnode"):
            return "headnode"
        cap = self.capacity(su)
        short = []
        if cap["ram"] < vm["ram"]:
            short.append(f"{cap['ram']} MiB RAM free")
        if cap["disk"] < vm["disk"]:
            short.append(f"{cap['disk']} MiB disk free")
        return ", ".join(short) or None

    def allocate(self, vm, override=None):
        """(server uuid, None) or (None, reason), as CNAPI's allocator answers VMAPI's begin.

        With an override (operator) VMAPI skips the allocator: the server only has to exist [vendor:
        sdc-vmapi begin.js allocateServer]. Otherwise the hard filters, then (fleets of 7 servers or more) the
        large-servers filter drops the 15 % with the most unreserved RAM, then the scores: unreserved RAM
        (weight 2) and disk (1), normalised between the candidates, plus a uniform random score (0.5) [vendor:
        sdc-designation, CNAPI's default allocationDescription]. ``allocator.mode`` (``/_lab/allocator``)
        makes the lab choose otherwise: ``other_than_best`` the lowest-scored valid server, ``none`` no server.
        """
        if override:
            if override not in self.w.servers:
                return None, f"server {override} not found"
            if override == vm["server_uuid"]:
                return None, "Failed to allocate the instance to a different server"
            return override, None
        alloc = self.w.cfg.get("allocator") or {"mode": "vendor"}
        reasons, valid = [], []
        for su, s in sorted(self.w.servers.items(), key=lambda kv: kv[1]["hostname"]):
            why = self._why_not(su, vm)
            if why:
                reasons.append(f"{s['hostname']}: {why}")
            else:
                valid.append(su)
        if alloc["mode"] == "none":
            return None, "No compute resources available: the lab's allocator is set to choose none (lab fault)"
        if not valid:
            return None, (f"No compute resources available: no compute node has room for {vm['ram']} MiB RAM and "
                          f"{vm['disk']} MiB disk (" + "; ".join(reasons) + ")")
        if len(self.w.servers) >= 7 and len(valid) > 1:
            drop = int(len(valid) * LARGE_POOL_RATIO)
            if drop:
                valid = sorted(valid, key=lambda su: self.capacity(su)["ram"])[:len(valid) - drop]
        rng = self._alloc_rng()
        rng.shuffle(valid)
        scores = self._scores(valid, rng)
        ranked = sorted(valid, key=lambda su: scores[su], reverse=True)
        if alloc["mode"] == "other_than_best" and len(ranked) > 1:
            return ranked[-1], None
        return ranked[0], None

    def _alloc_rng(self):
        seed = (self.w.cfg.get("allocator") or {}).get("seed")
        if seed is None:
            return random.Random()
        self._alloc_draws += 1
        return random.Random(f"{seed}/{self._alloc_draws}")

    def _scores(self, valid, rng):
        caps = {su: self.capacity(su) for su in valid}
        out = {su: 0.0 for su in valid}
        for key, field in (("unreserved_ram", "ram"), ("unreserved_disk", "disk")):
            values = [caps[su][field] for su in valid]
            low, high = min(values), max(values)
            for su in valid:
                norm = 1.0 if high == low else (caps[su][field] - low) / float(high - low)
                out[su] += SCORE_WEIGHTS[key] * norm
        for su in valid:
            out[su] += SCORE_WEIGHTS["uniform_random"] * rng.random()
        return out

    def set_allocator(self, mode, seed=None):
        if mode not in ALLOCATOR_MODES:
            raise ApiError(400, "BadRequest", f"mode must be one of {', '.join(ALLOCATOR_MODES)}")
        with self.w.lock:
            self.w.cfg["allocator"] = {"mode": mode, "seed": seed}
            self._alloc_draws = 0
            self.w._save_meta()
            self.w._flush()
            return dict(self.w.cfg["allocator"])

    def update_server(self, su, params):
        """CNAPI ServerUpdate (``POST /servers/:uuid``): the documented fields, 204."""
        with self.w.lock:
            s = self.w.servers.get(su)
            if not s:
                raise ApiError(404, "ResourceNotFound", f"Server {su} not found")
            unknown = sorted(set(params) - set(SERVER_UPDATE_FIELDS))
            if unknown:
                raise ApiError(409, "InvalidParameters", f"Invalid parameters: {', '.join(unknown)}")
            for key in ("reserved", "reservoir"):
                if key in params:
                    if not isinstance(params[key], bool) and params[key] not in ("true", "false"):
                        raise ApiError(409, "InvalidParameters", f"{key}: must be a boolean")
                    s[key] = params[key] in (True, "true")
            if "comments" in params:
                if not isinstance(params["comments"], str):
                    raise ApiError(409, "InvalidParameters", "comments: must be a string")
                s["comments"] = params["comments"]
            if "traits" in params:
                if not isinstance(params["traits"], dict):
                    raise ApiError(409, "InvalidParameters", "traits: must be an object")
                s["traits"] = params["traits"]
            for key in ("next_reboot", "rack_identifier", "reservation_ratio", "overprovision_ratios"):
                if key in params:
                    s[key] = params[key]
            self.w._save("servers", su)
            self.w._flush()
