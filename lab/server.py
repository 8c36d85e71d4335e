"""`python -m lab serve`: one process, every vendor plane the topology asks for, each on its own
loopback HTTPS port (see lab.planes), served by uvicorn in one event loop."""
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time

import uvicorn
import yaml

from lab.planes import wanted_planes
from lab.tls import ensure_certs

log = logging.getLogger("lab")


def load_topology(path):
    """The topology file; with libyaml's parser when PyYAML has it (a generated topology of 10,000 virtual
    services takes seconds to parse in pure Python)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def setup_logging(state_dir):
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fh = logging.FileHandler(os.path.join(state_dir, "lab.log"))
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(fh)
    # avoid double lines in lab.log when `start` redirects stderr there
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _PlaneServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to serve() (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def _bind(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK 40 ms stalls
    sock.bind(("127.0.0.1", int(port or 0)))
    sock.listen(512)
    return sock


def serve(topology, state_dir, time_scale=None, reset=False, max_lifetime=14400.0, ports=None):
    """Run the lab until SIGTERM/SIGINT or ``max_lifetime`` seconds. ``ports``: listener name ->
    port (0 or missing: a free port)."""
    os.makedirs(state_dir, exist_ok=True)
    state_dir = os.path.abspath(state_dir)
    setup_logging(state_dir)
    topo = load_topology(topology)
    if isinstance(topo.get("twin"), dict):   # a twin (twin_export): unknowns become stated assumptions (lab/twin.py)
        from lab.twin import resolve
        topo = resolve(topo, state_dir, reset=reset)
    ports = dict(ports or {})
    planes = [cls(state_dir, topo, time_scale=time_scale, reset=reset, ports=ports)
              for _name, cls in wanted_planes(topo)]

    servers, bound = [], {}
    ca_path = None
    for plane in planes:
        for listener in plane.listeners():
            ca_path, cert, key = ensure_certs(state_dir, listener.cert_name)
            sock = _bind(listener.port)
            bound[listener.name] = sock.getsockname()[1]
            config = uvicorn.Config(listener.app, ssl_certfile=cert, ssl_keyfile=key, log_level="warning",
                                    access_log=False, lifespan="off", timeout_graceful_shutdown=0.2,
                                    log_config=None)
            servers.append((_PlaneServer(config), sock))
    info = {"pid": os.getpid(), "ca_path": ca_path, "time_scale": planes[0].time_scale,
            "state_dir": state_dir, "topology": os.path.abspath(topology), "started": time.time(),
            "max_lifetime": max_lifetime, "planes": [p.name for p in planes]}
    for plane in planes:
        info[plane.name] = plane.info(bound)
    lab_json = os.path.join(state_dir, "lab.json")
    stop = threading.Event()

    def request_exit(*_args):
        stop.set()
        for server, _sock in servers:
            server.should_exit = True

    async def main():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, request_exit)
        tasks = [asyncio.ensure_future(server.serve(sockets=[sock])) for server, sock in servers]
        while not all(server.started for server, _sock in servers):
            if any(t.done() for t in tasks):  # one failed to start: stop the others, report it
                request_exit()
                break
            await asyncio.sleep(0.01)
        else:
            for plane in planes:
                plane.start(info)
            tmp = lab_json + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(info, fh, indent=2)
            os.replace(tmp, lab_json)
            log.info("lab ready: %s (time scale %s, max lifetime %ss)",
                     ", ".join(f"{p.name} {json.dumps(info[p.name])}" for p in planes), info["time_scale"],
                     max_lifetime)
        await asyncio.gather(*tasks, return_exceptions=True)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception():
                raise t.exception()

    def reaper():
        if not stop.wait(max_lifetime):
            log.warning("max lifetime %ss reached: stopping", max_lifetime)
            request_exit()

    threading.Thread(target=reaper, daemon=True).start()
    try:
        asyncio.run(main())
    finally:
        stop.set()
        for plane in reversed(planes):
            try:
                plane.shutdown()
            except Exception:  # every plane gets its turn to stop
                log.exception("shutdown of plane %s failed", plane.name)
        try:
            with open(lab_json, encoding="utf-8") as fh:
                if json.load(fh).get("pid") == os.getpid():
                    os.unlink(lab_json)
        except (OSError, ValueError):
            pass
        log.info("lab stopped")
