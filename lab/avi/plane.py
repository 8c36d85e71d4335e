"""The Avi controller plane: the World (lab.avi.world) behind the REST app (lab.avi.app)."""
import json
import os
import sys

from lab.avi.app import build_app
from lab.planes import Listener, SimulatedPlane
from lab.store import Store
from lab.avi.upgrade.package import PACKAGES, make_image_bytes
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

    @classmethod
    def add_commands(cls, subparsers):
        s = subparsers.add_parser("make-image", help="write a lab controller image package (upload it with "
                                  "POST /api/image)")
        s.add_argument("--version", required=True, help="e.g. 22.1.7")
        s.add_argument("--build", required=True, type=int, help="build number, e.g. 9300")
        s.add_argument("--min-version", default=None, help="the oldest running version that may upgrade to it")
        s.add_argument("--package", default="controller.pkg", help="controller.pkg (VM) or controller_docker.tgz "
                       "(bare metal)")
        s.add_argument("--out", required=True, help="file to write")
        s.set_defaults(fn=make_image)


def make_image(a):
    """``python -m lab make-image``: an image package for ``POST /api/image`` (lab/AVI.md "Images")."""
    if a.package not in PACKAGES:
        print(f"--package must be one of {', '.join(PACKAGES)}", file=sys.stderr)
        return 2
    data = make_image_bytes(a.version, a.build, a.min_version, a.package)
    with open(a.out, "wb") as fh:
        fh.write(data)
    print(json.dumps({"out": os.path.abspath(a.out), "name": f"controller-{a.version}-{a.build}",
                      "package": a.package, "bytes": len(data)}))
    return 0
