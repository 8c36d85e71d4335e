"""The Triton plane: the TritonWorld (lab.triton.world) behind CloudAPI (lab.triton.cloudapi) and
the operator plane (lab.triton.operator), each on its own loopback HTTPS port."""
import os

from lab.planes import Listener, SimulatedPlane
from lab.store import Store
from lab.triton.cloudapi import build_cloudapi
from lab.triton.common import TABLES
from lab.triton.operator import build_operator
from lab.triton.world import TritonWorld


class Plane(SimulatedPlane):
    name = "triton"

    def __init__(self, state_dir, topology, time_scale=None, reset=False, ports=None):
        super().__init__(state_dir, topology, time_scale, reset, ports)
        self.store = Store(os.path.join(state_dir, "triton.sqlite"), tables=TABLES)
        self.world = TritonWorld(self.store, topology, state_dir, time_scale=time_scale, reset=reset)

    def listeners(self):
        return [Listener("triton", build_cloudapi(self.world), self.ports.get("triton", 0)),
                Listener("triton_operator", build_operator(self.world), self.ports.get("triton_operator", 0))]

    def info(self, ports):
        cfg = self.world.cfg
        return {"url": f"https://127.0.0.1:{ports['triton']}", "port": ports["triton"],
                "operator_url": f"https://127.0.0.1:{ports['triton_operator']}",
                "operator_port": ports["triton_operator"], "datacenter": cfg["datacenter"],
                "accounts": {login: a["keys"][0]["fingerprint"] for login, a in cfg["accounts"].items()},
                "key_files": {login: a["key_file"] for login, a in cfg["accounts"].items() if a.get("key_file")}}
