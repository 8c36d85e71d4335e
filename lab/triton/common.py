"""What the Triton world and its parts share: the vendor's constants and timings, its error type, and small helpers
(ids, timestamps, dataset checksums)."""
import base64
import datetime
import hashlib
import logging
import os
import re
import uuid as uuidlib

from lab.store import doc_tables

log = logging.getLogger("lab.triton")

TABLES = doc_tables("servers", "vms", "migrations", "faults", "meta")
TIMING_DEFAULTS = {"sync_bytes_per_second": 4 * 1024 * 1024, "begin": 20, "switch": 10, "finalize": 2,
                   "abort": 10, "rollback": 15, "pause": 1, "stop": 5, "start": 5}
ACTIONS = ("begin", "sync", "switch", "pause", "abort", "rollback", "finalize", "estimate")
# vendor: the DAPI pipeline (sdc-designation, CNAPI's default allocationDescription) with its random parts;
# other_than_best: a valid server other than the best-scored one (or the only valid one); none: no server
ALLOCATOR_MODES = ("vendor", "other_than_best", "none")
LARGE_POOL_RATIO = 0.15     # hard-filter-large-servers [vendor: sdc-designation]
SCORE_WEIGHTS = {"unreserved_ram": 2.0, "unreserved_disk": 1.0, "uniform_random": 0.5}   # [vendor: CNAPI defaults]
SERVER_UPDATE_FIELDS = ("reserved", "reservoir", "comments", "traits", "next_reboot", "rack_identifier",
                        "reservation_ratio", "overprovision_ratios", "etag_retries")
PHASE_MESSAGES = {"begin": "reserving instance", "abort": "aborting migration", "pause": "pausing migration",
                  "rollback": "reverting migration", "sync": "syncing data", "switch": "switching instances"}
# switch steps: (message, percent, share of timing.switch or a named duration)
SWITCH_STEPS = (("stopping the instance", 3, "stop"), ("syncing data", 5, "sync"),
                ("filesytem sync finished, switching instances", 50, 0.2),
                ("reserving the IP addresses for the instance", 55, 0.2),
                ("setting up the target filesystem", 65, 0.2), ("hiding the original instance", 75, 0.1),
                ("promoting the migrated instance", 85, 0.2), ("removing sync snapshots", 90, 0.1),
                ("starting the migrated instance", 95, "start"))
ROLLBACK_STEPS = (("stopping the instance", 10, "stop"), ("hiding the target instance", 40, 0.3),
                  ("promoting the original instance", 60, 0.4), ("removing the migrated instance", 80, 0.3),
                  ("starting the original instance", 95, "start"))
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NS = uuidlib.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


class ApiError(Exception):
    """A restify-style error: HTTP status, restCode and message."""

    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def precondition(msg):
    return ApiError(412, "PreconditionFailed", msg)


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (int(ts * 1000) % 1000)


def stable_uuid(*parts):
    return str(uuidlib.uuid5(NS, "/".join(str(p) for p in parts)))


def md5_fingerprint(openssh_pub):
    blob = base64.b64decode(openssh_pub.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()  # the vendor's key id format
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def tree_manifest(root):
    """{relpath: [size, mtime_ns]} of every file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            out[os.path.relpath(full, root)] = [st.st_size, st.st_mtime_ns]
    return out


def tree_checksum(root):
    """SHA-256 over every relative path and file content under root (None if root is missing)."""
    if not os.path.isdir(root):
        return None
    h = hashlib.sha256()
    for rel in sorted(tree_manifest(root)):
        h.update(rel.encode() + b"\0")
        with open(os.path.join(root, rel), "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()
