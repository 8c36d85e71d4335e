"""The Avi controller plane: the World (lab.avi.world) behind the REST app (lab.avi.app)."""
import os

from lab.avi.app import build_app
from lab.planes import Listener, SimulatedPlane
from lab.store import Store
from lab.avi.world import World


class Plane(SimulatedPlane):
    name = "avi"

    def __init__(self, state_dir, topology, time_scale=None, reset=False, ports=None):
        super().__init__(state_dir, topology, time_scale, reset, ports)
        self.store = Store(os.path.join(state_dir, "lab.sqlite"))
        self.world = World(self.store, topology, time_scale=time_scale, reset=reset)

    def listeners(self):
        return [Listener("avi", build_app(self.world), self.ports.get("avi", 0))]

    def info(self, ports):
        return {"url": f"https://127.0.0.1:{ports['avi']}", "port": ports["avi"]}
