# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Argument spec of the VirtFusion connection and migration options, their resolution and validation.

The connection has two parts, both needed: SSH to the control server (``vfcli-ctrl``, where the
vendor manages live migrations) and the REST API (server and hypervisor reads, the read-only
pre-check, hybrid migrations). Precedence: a key in ``virtfusion_credentials`` (typically set once
through ``module_defaults`` for the ``group/fleetops.maintenance.virtfusion`` action group) wins over
the ``VIRTFUSION_*`` environment variables, which win over the defaults.

The migration options are validated to the vendor's ranges (the seed's option table and the REST
API's limits) before anything is sent; every bad value is reported at once, naming the option and
the accepted range.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.connection import (
    connection_argument_spec,
    resolve_settings,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ca_file, readable_file

DEFAULT_TIMEOUT = 60

# key -> (type, environment variables in order, default)
_CONNECTION_KEYS = {
    "host": ("str", ("VIRTFUSION_HOST",), None),
    "port": ("int", ("VIRTFUSION_SSH_PORT",), 22),
    "username": ("str", ("VIRTFUSION_SSH_USER",), "root"),
    "private_key_file": ("path", ("VIRTFUSION_SSH_KEY_FILE",), None),
    "private_key": ("str", (), None),
    "known_hosts_file": ("path", ("VIRTFUSION_KNOWN_HOSTS",), None),
    "api_url": ("str", ("VIRTFUSION_API_URL",), None),
    "api_token": ("str", ("VIRTFUSION_API_TOKEN",), None),
    "ca_path": ("path", ("VIRTFUSION_CA_PATH",), None),
    "validate_certs": ("bool", ("VIRTFUSION_VALIDATE_CERTS",), True),
    "timeout": ("int", ("VIRTFUSION_TIMEOUT",), DEFAULT_TIMEOUT),
}
SECRET_KEYS = ("private_key", "api_token")
REQUIRED_KEYS = ("host", "known_hosts_file", "api_url", "api_token")

# -- migration options: module option -> (vendor CLI option, REST field, range) ------------------------
MODES = ("live", "hybrid")
RANGES = {
    "xfer_speed": (10, 8796093022206, "MiB/s"),          # [vendor: REST xferSpeed]
    "max_downtime": (5, 9000, "milliseconds"),           # [vendor: seed, default 300]
    "abort_after": (60, 86400, "seconds"),               # [vendor: REST abortAfter]
    "auto_converge.initial": (1, 70, "percent"),         # [vendor: seed]
    "auto_converge.increment": (1, 15, "percent"),       # [vendor: seed]
}
HYBRID_SPEED_MAX_KBS = 625000                            # [vendor: REST speedLimit, KB/s]
LIVE_ONLY = ("force_offline", "max_downtime", "abort_after", "auto_converge", "post_copy", "filter_check")
FORCE_CHOICES = ("data_success", "cancel")
# the options of instance_migrate that only the virtfusion provider takes
MIGRATION_OPTION_NAMES = ("mode", "force_offline", "xfer_speed", "max_downtime", "abort_after", "compression",
                          "auto_converge", "post_copy", "filter_check", "force_may_lose_data")


def virtfusion_argument_spec():
    """The VirtFusion options of instance_migrate: the connection dict and the migration options."""
    spec = connection_argument_spec(_CONNECTION_KEYS, SECRET_KEYS, "virtfusion_credentials", top_level=False)
    spec.update({
        "mode": {"type": "str", "choices": list(MODES)},
        "force_offline": {"type": "bool"},
        "xfer_speed": {"type": "int"},
        "max_downtime": {"type": "int"},
        "abort_after": {"type": "int"},
        "compression": {"type": "bool"},
        "auto_converge": {"type": "dict", "options": {"enabled": {"type": "bool", "default": True},
                                                      "initial": {"type": "int"},
                                                      "increment": {"type": "int"}}},
        "post_copy": {"type": "bool"},
        "filter_check": {"type": "bool"},
        "force_may_lose_data": {"type": "str", "choices": list(FORCE_CHOICES)},
    })
    return spec


def resolve_connection(params, environ=None, check_files=True):
    """The effective connection settings. Raises ``ValueError`` naming what is missing and where it
    can be given (never a secret's value); with ``check_files``, also when the known_hosts file, the
    key file or the CA file cannot be used."""
    # only the credentials dict (no top-level options); an empty string (e.g. an unset survey field)
    # counts as not given
    result = resolve_settings(_CONNECTION_KEYS, (params.get("virtfusion_credentials") or {},), environ,
                              empty_is_unset=True, label="virtfusion_credentials.%s")
    missing = [k for k in REQUIRED_KEYS if not result.get(k)]
    if missing:
        raise ValueError(
            "missing VirtFusion connection setting%s %s: give %s in virtfusion_credentials or the environment "
            "variable%s %s (SSH to the control server needs host and known_hosts_file; the REST API needs api_url "
            "and api_token)" % ("s" if len(missing) > 1 else "", ", ".join(missing),
                                "them" if len(missing) > 1 else "it", "s" if len(missing) > 1 else "",
                                ", ".join(" or ".join(_CONNECTION_KEYS[k][1]) or "-" for k in missing)))
    if result.get("private_key") and result.get("private_key_file"):
        raise ValueError("virtfusion_credentials.private_key and private_key_file are mutually exclusive: give one "
                         "(or neither, to authenticate with the ssh-agent)")
    if not 1 <= result["port"] <= 65535:
        raise ValueError("virtfusion_credentials.port must be from 1 to 65535, got %s" % result["port"])
    if result["timeout"] < 1:
        raise ValueError("virtfusion_credentials.timeout must be a positive number of seconds, got %s"
                         % result["timeout"])
    if check_files:
        readable_file(result["known_hosts_file"], "virtfusion_credentials.known_hosts_file (VIRTFUSION_KNOWN_HOSTS)")
        if result.get("private_key_file"):
            readable_file(result["private_key_file"], "virtfusion_credentials.private_key_file (VIRTFUSION_SSH_KEY_FILE)")
        if result["validate_certs"] and result.get("ca_path"):
            ca_file(result["ca_path"], "virtfusion_credentials.ca_path (VIRTFUSION_CA_PATH)")
    return result


def _range_error(name, value):
    low, high, unit = RANGES[name]
    if value is not None and not low <= value <= high:
        return "%s must be from %d to %d (%s), got %s" % (name, low, high, unit, value)
    return None


def validate_migration_options(params):
    """Check the migration options against the vendor's ranges and against each other. Returns the
    normalized options (``mode`` filled in); raises ``ValueError`` listing every problem."""
    mode = params.get("mode") or "live"
    ac = params.get("auto_converge")
    errors = []
    for name in ("xfer_speed", "max_downtime", "abort_after"):
        errors.append(_range_error(name, params.get(name)))
    if ac:
        errors.append(_range_error("auto_converge.initial", ac.get("initial")))
        errors.append(_range_error("auto_converge.increment", ac.get("increment")))
        if ac.get("enabled") is False and (ac.get("initial") is not None or ac.get("increment") is not None):
            errors.append("auto_converge.initial and auto_converge.increment apply only while auto-converge is "
                          "enabled; drop them or set auto_converge.enabled=true")
    if mode == "hybrid":
        given = [name for name in LIVE_ONLY if params.get(name) is not None]
        if given:
            errors.append("%s appl%s only to mode=live (a hybrid migration copies the disks; it takes compression and "
                          "xfer_speed)" % (", ".join(given), "ies" if len(given) == 1 else "y"))
        speed = params.get("xfer_speed")
        if speed is not None and hybrid_speed_limit(speed) > HYBRID_SPEED_MAX_KBS:
            errors.append("xfer_speed must be at most %d MiB/s with mode=hybrid (the REST API's speedLimit is at "
                          "most %d KB/s), got %s" % (HYBRID_SPEED_MAX_KBS * 1000 // 1048576, HYBRID_SPEED_MAX_KBS,
                                                     speed))
    force, state = params.get("force_may_lose_data"), params.get("state")
    if force == "data_success" and state != "migrated":
        errors.append("force_may_lose_data=data_success applies only to state=migrated (it marks a failed migration's "
                      "data transfer complete, then completes the migration), got state=%s" % state)
    if force == "cancel" and state != "cancelled":
        errors.append("force_may_lose_data=cancel applies only to state=cancelled (cancel-force skips the cancel "
                      "checks), got state=%s" % state)
    if force and mode == "hybrid":
        errors.append("force_may_lose_data applies only to live migrations (the vfcli-ctrl force commands)")
    errors = [e for e in errors if e]
    if errors:
        raise ValueError("invalid VirtFusion migration options: %s" % "; ".join(errors))
    out = dict((name, params.get(name)) for name in MIGRATION_OPTION_NAMES)
    out["mode"] = mode
    return out


def hybrid_speed_limit(xfer_speed):
    """MiB/s (the live option's unit) -> KB/s (1000 bytes, the REST speedLimit's unit), rounded down.
    No Mbps/8 shortcut: 1 MiB/s = 1048576 bytes/s = 1048.576 KB/s."""
    return int(xfer_speed) * 1048576 // 1000


def live_cli_options(opts):
    """The ``vfcli-ctrl server:migrate-live start`` options for the validated migration options."""
    args = []
    if opts.get("force_offline"):
        args.append("--force-offline")
    for name, flag in (("xfer_speed", "--xfer-speed"), ("max_downtime", "--max-downtime"),
                       ("abort_after", "--abort-after")):
        if opts.get(name) is not None:
            args.append("%s=%d" % (flag, opts[name]))
    if opts.get("compression") is False:
        args.append("--disable-compression")
    ac = opts.get("auto_converge") or {}
    if ac.get("enabled") is False:
        args.append("--disable-auto-converge")
    else:
        if ac.get("initial") is not None:
            args.append("--auto-converge-initial=%d" % ac["initial"])
        if ac.get("increment") is not None:
            args.append("--auto-converge-increment=%d" % ac["increment"])
    if opts.get("post_copy"):
        args.append("--auto-post-copy")
    if opts.get("filter_check") is False:
        args.append("--disable-filter-check")
    return args
