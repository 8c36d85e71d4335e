"""The lab's vendor planes and the interface every plane implements.

One lab process serves several vendor planes, each on its own loopback port(s): the Avi controller
REST API (always), Triton CloudAPI (when the topology has a ``triton:`` section) and the VirtFusion
control server (when it has ``virtfusion:``). ``lab.server`` builds the planes listed in
:data:`PLANES`, gives each HTTPS listener a socket, writes ``lab.json`` and runs them all in one
event loop; nothing else in the lab knows which planes exist.

A plane keeps its own world (a ``lab.worldbase.WorldBase``: state in its own SQLite file under the
state dir, its own lab clock at the shared time scale, faults) and its own admin routes under
``/_lab/`` on its own HTTPS port (``lab.web.world_admin`` plus its own).

The command line (``lab.cli``) knows the planes through this module too: the plane ``ctl`` talks to
by default, and the commands a plane adds (:data:`COMMANDS`, e.g. the Avi plane's ``make-image``).
"""
import importlib
import threading

# name -> module with a ``Plane`` class; a plane is built when the topology has a section of that
# name (the Avi plane is always built: the topology's controller/clouds/se_groups are its section).
PLANES = (
    ("avi", "lab.avi.plane"),
    ("triton", "lab.triton.plane"),
    ("virtfusion", "lab.virtfusion.plane"),
)
# plane -> module whose ``add_commands(subparsers)`` adds the plane's own ``python -m lab`` commands
# (a light module: every CLI call imports it, and `lab stop` must stay quick)
COMMANDS = (
    ("avi", "lab.avi.commands"),
)


class Listener:
    """One HTTPS listener of a plane: an ASGI app served on a loopback port with a server cert."""

    def __init__(self, name, app, port=0, cert_name=None):
        self.name = name            # key in lab.json ("avi", "triton", ...)
        self.app = app
        self.port = int(port or 0)  # 0: a free port
        self.cert_name = cert_name or name


class Plane:
    """Base class of a vendor plane.

    Lifecycle, driven by ``lab.server.serve``: ``__init__`` (load or seed the world),
    ``listeners()`` (HTTPS apps to serve), ``start(info)`` once every port is bound (start
    background threads or helper processes such as a private sshd; ``info`` is the lab.json
    dict so far), ``info(ports)`` (this plane's section of lab.json), ``set_time_scale(s)``,
    ``shutdown()`` (stop threads and helper processes, persist the world).
    """

    name = "plane"
    world = None  # the plane's world: it keeps the time scale

    def __init__(self, state_dir, topology, time_scale=None, reset=False, ports=None):
        self.state_dir = state_dir
        self.topology = topology
        self.ports = dict(ports or {})

    def listeners(self):
        return []

    def start(self, info):
        """Called once every listener listens; ``info`` has ``ca_path`` and every plane's ports."""

    def info(self, ports):
        """This plane's section of lab.json; ``ports`` maps listener names to bound ports."""
        return {}

    def set_time_scale(self, scale):
        """Apply a new time scale (real seconds per lab second)."""
        self.world.set_time_scale(scale)

    @property
    def time_scale(self):
        return self.world.time_scale

    def shutdown(self):
        """Stop background work and persist."""


class SimulatedPlane(Plane):
    """A plane whose world (a ``lab.worldbase.WorldBase``, in ``self.store``) is advanced by one
    background thread, ``world.run_simulation``, from ``start`` to ``shutdown``."""

    _sim = None

    def start(self, info):
        self._sim = threading.Thread(target=self.world.run_simulation, name=f"{self.name}-simulation", daemon=True)
        self._sim.start()

    def shutdown(self):
        self.world.shutdown()
        if self._sim is not None:
            self._sim.join(timeout=2)
        self.store.close()


def add_plane_commands(subparsers):
    """Add every plane's own ``python -m lab`` commands (:data:`COMMANDS`)."""
    for _name, module in COMMANDS:
        importlib.import_module(module).add_commands(subparsers)


def default_plane(info):
    """The plane ``python -m lab ctl`` talks to when none is named: the first of lab.json's planes."""
    return (info.get("planes") or [PLANES[0][0]])[0]


def wanted_planes(topology):
    """(name, Plane class) for every plane the topology asks for, the Avi plane first."""
    out = []
    for name, module in PLANES:
        if name != "avi" and not (topology or {}).get(name):
            continue
        out.append((name, importlib.import_module(module).Plane))
    return out
