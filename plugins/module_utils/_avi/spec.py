# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Argument specs shared by the Avi modules, and the resolution of connection settings.

Precedence of connection settings: an option given to the task wins over the same key in
``avi_credentials`` (typically set once through ``module_defaults`` for the
``group/fleetops.maintenance.avi`` action group), which wins over the ``AVI_*`` environment
variables, which win over the built-in defaults.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.connection import (
    connection_argument_spec,
    missing_setting,
    resolve_settings,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ca_file

DEFAULT_API_VERSION = "22.1.3"
DEFAULT_TENANT = "admin"
DEFAULT_API_TIMEOUT = 60

# key -> (type, environment variables, default)
_CONNECTION_KEYS = {
    "controller": ("str", ("AVI_CONTROLLER",), None),
    "port": ("int", ("AVI_PORT",), None),
    "username": ("str", ("AVI_USERNAME",), None),
    "password": ("str", ("AVI_PASSWORD",), None),
    "api_version": ("str", ("AVI_API_VERSION",), DEFAULT_API_VERSION),
    "tenant": ("str", ("AVI_TENANT",), DEFAULT_TENANT),
    "validate_certs": ("bool", ("AVI_VALIDATE_CERTS",), True),
    "ca_path": ("path", ("AVI_CA_PATH",), None),
    "api_timeout": ("int", ("AVI_API_TIMEOUT",), DEFAULT_API_TIMEOUT),
}
SECRET_KEYS = ("password",)


def avi_argument_spec():
    """The connection options every Avi module accepts (a fresh copy each call)."""
    return connection_argument_spec(_CONNECTION_KEYS, SECRET_KEYS, "avi_credentials")


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


def resolve_connection(params, environ=None, check_files=True):
    """Return the effective connection settings as a dict.

    ``params`` are the module parameters. Raises ``ValueError`` naming the missing or invalid
    setting and where it can be given; with ``check_files``, also when the CA file cannot be read
    or holds no PEM certificate (waiting would not fix it).
    """
    result = resolve_settings(_CONNECTION_KEYS, (params, params.get("avi_credentials") or {}), environ)
    for key in ("controller", "username", "password"):
        if not result.get(key):
            raise missing_setting(key, _CONNECTION_KEYS, "avi_credentials")
    if check_files and result["validate_certs"] and result["ca_path"]:
        ca_file(result["ca_path"], "ca_path (AVI_CA_PATH)")
    return result
