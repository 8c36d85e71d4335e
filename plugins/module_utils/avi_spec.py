# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the Avi modules, and the resolution of connection settings.

Precedence of connection settings: an option given to the task wins over the same key in
``avi_credentials`` (typically set once through ``module_defaults`` for the
``group/fleetops.maintenance.avi`` action group), which wins over the ``AVI_*`` environment
variables, which win over the built-in defaults.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

DEFAULT_API_VERSION = "22.1.3"
DEFAULT_TENANT = "admin"
DEFAULT_API_TIMEOUT = 60

# key -> (type, environment variable, default)
_CONNECTION_KEYS = {
    "controller": ("str", "AVI_CONTROLLER", None),
    "port": ("int", "AVI_PORT", None),
    "username": ("str", "AVI_USERNAME", None),
    "password": ("str", "AVI_PASSWORD", None),
    "api_version": ("str", "AVI_API_VERSION", DEFAULT_API_VERSION),
    "tenant": ("str", "AVI_TENANT", DEFAULT_TENANT),
    "validate_certs": ("bool", "AVI_VALIDATE_CERTS", True),
    "ca_path": ("path", "AVI_CA_PATH", None),
    "api_timeout": ("int", "AVI_API_TIMEOUT", DEFAULT_API_TIMEOUT),
}

_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")


def _connection_options():
    options = {}
    for key, (kind, _env, _default) in _CONNECTION_KEYS.items():
        options[key] = {"type": kind}
    options["password"]["no_log"] = True
    return options


def avi_argument_spec():
    """The connection options every Avi module accepts (a fresh copy each call)."""
    spec = _connection_options()
    spec["avi_credentials"] = {
        "type": "dict",
        "options": _connection_options(),
    }
    return spec


def wait_argument_spec():
    """The wait options of modules that start long operations."""
    return {
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 1800},
        "wait_sleep": {"type": "float", "default": 2.0},
    }


def merge_specs(*specs):
    """Merge argument specs into a new dict (later specs win on duplicate keys)."""
    merged = {}
    for spec in specs:
        merged.update(copy.deepcopy(spec))
    return merged


def _coerce(kind, value, key):
    if value is None:
        return None
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError("%s must be an integer, got %r" % (key, value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("%s must be a boolean (true/false), got %r" % (key, value))
    if kind == "path":
        return os.path.expanduser(os.path.expandvars(str(value)))
    return value


def resolve_connection(params, environ=None):
    """Return the effective connection settings as a dict.

    ``params`` are the module parameters. Raises ``ValueError`` naming the missing or invalid
    setting and where it can be given.
    """
    environ = os.environ if environ is None else environ
    credentials = params.get("avi_credentials") or {}
    result = {}
    for key, (kind, env_name, default) in _CONNECTION_KEYS.items():
        value = params.get(key)
        if value is None:
            value = credentials.get(key)
        if value is None:
            env_value = environ.get(env_name)
            if env_value not in (None, ""):
                value = _coerce(kind, env_value, "%s (from %s)" % (key, env_name))
        if value is None:
            value = default
        result[key] = _coerce(kind, value, key)
    for key in ("controller", "username", "password"):
        if not result.get(key):
            raise ValueError(
                "missing required connection setting '%s': give the option %s, the key %s in "
                "avi_credentials, or the environment variable %s"
                % (key, key, key, _CONNECTION_KEYS[key][1])
            )
    return result
