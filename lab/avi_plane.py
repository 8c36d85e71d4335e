"""The Avi controller plane: the World (lab.world) behind the REST app (lab.avi_app)."""
import os
import threading

from lab.avi_app import build_app
from lab.planes import Listener, Plane as BasePlane
from lab.store import Store
from lab.world import World


class Plane(BasePlane):
    name = "avi"

    def __init__(self, state_dir, topology, time_scale=None, reset=False, ports=None):
        super().__init__(state_dir, topology, time_scale, reset, ports)
        self.store = Store(os.path.join(state_dir, "lab.sqlite"))
        self.world = World(self.store, topology, time_scale=time_scale, reset=reset)
        self._sim = None

    def listeners(self):
        return [Listener("avi", build_app(self.world), self.ports.get("avi", 0))]

    def start(self, info):
        self._sim = threading.Thread(target=self.world.run_simulation, name="avi-simulation", daemon=True)
        self._sim.start()

    def info(self, ports):
        return {"url": f"https://127.0.0.1:{ports['avi']}", "port": ports["avi"]}

    def set_time_scale(self, scale):
        self.world.set_time_scale(scale)

    @property
    def time_scale(self):
        return self.world.time_scale

    def shutdown(self):
        self.world.shutdown()
        if self._sim is not None:
            self._sim.join(timeout=2)
        self.store.close()
