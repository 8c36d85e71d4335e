"""`python -m lab serve`: one process, the Avi plane on a loopback HTTPS port."""
import json
import logging
import os
import socket
import threading
import time

import uvicorn
import yaml

from lab.avi_app import build_app
from lab.store import Store
from lab.tls import ensure_certs
from lab.world import World

log = logging.getLogger("lab")


def load_topology(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def setup_logging(state_dir):
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fh = logging.FileHandler(os.path.join(state_dir, "lab.log"))
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(fh)
    # avoid double lines in lab.log when `start` redirects stderr there
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve(topology, state_dir, time_scale=None, reset=False, max_lifetime=14400.0, avi_port=0):
    os.makedirs(state_dir, exist_ok=True)
    state_dir = os.path.abspath(state_dir)
    setup_logging(state_dir)
    topo = load_topology(topology)
    ca_path, cert, key = ensure_certs(state_dir, "avi")
    store = Store(os.path.join(state_dir, "lab.sqlite"))
    world = World(store, topo, time_scale=time_scale, reset=reset)
    sim = threading.Thread(target=world.run_simulation, name="lab-simulation", daemon=True)
    sim.start()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK 40 ms stalls
    sock.bind(("127.0.0.1", int(avi_port or 0)))
    sock.listen(512)
    port = sock.getsockname()[1]
    app = build_app(world)
    config = uvicorn.Config(app, ssl_certfile=cert, ssl_keyfile=key, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=0.2, log_config=None)
    server = uvicorn.Server(config)
    info = {"pid": os.getpid(), "avi": {"url": f"https://127.0.0.1:{port}", "port": port},
            "ca_path": ca_path, "time_scale": world.time_scale, "state_dir": state_dir,
            "topology": os.path.abspath(topology), "started": time.time(),
            "max_lifetime": max_lifetime}
    lab_json = os.path.join(state_dir, "lab.json")

    def announce():
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            tmp = lab_json + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(info, fh, indent=2)
            os.replace(tmp, lab_json)
            log.info("lab ready: avi %s (time scale %s, max lifetime %ss)", info["avi"]["url"],
                     world.time_scale, max_lifetime)

    def reaper():
        if not world.stop_event.wait(max_lifetime):
            log.warning("max lifetime %ss reached: stopping", max_lifetime)
            server.should_exit = True

    threading.Thread(target=announce, daemon=True).start()
    threading.Thread(target=reaper, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        world.shutdown()
        store.close()
        try:
            with open(lab_json, encoding="utf-8") as fh:
                if json.load(fh).get("pid") == os.getpid():
                    os.unlink(lab_json)
        except (OSError, ValueError):
            pass
        log.info("lab stopped")
