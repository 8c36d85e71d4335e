# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec of the Triton connection, and the resolution of its settings.

Precedence: an option given to the task wins over the same key in ``triton_credentials``
(typically set once through ``module_defaults`` for the ``group/fleetops.maintenance.triton``
action group), which wins over the ``TRITON_*`` environment variables, then the ``SDC_*`` ones
(the names node-triton and the smartdc tools read), then the defaults.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

DEFAULT_API_TIMEOUT = 60
API_CHOICES = ("cloudapi", "operator")

# key -> (type, environment variables in order, default)
_CONNECTION_KEYS = {
    "url": ("str", ("TRITON_URL", "SDC_URL"), None),
    "account": ("str", ("TRITON_ACCOUNT", "SDC_ACCOUNT"), None),
    "key_id": ("str", ("TRITON_KEY_ID", "SDC_KEY_ID"), None),
    "private_key_file": ("path", ("TRITON_KEY_FILE",), None),
    "private_key": ("str", (), None),
    "vmapi_url": ("str", ("TRITON_VMAPI_URL",), None),
    "cnapi_url": ("str", ("TRITON_CNAPI_URL",), None),
    "validate_certs": ("bool", ("TRITON_VALIDATE_CERTS",), True),
    "ca_path": ("path", ("TRITON_CA_PATH",), None),
    "api_timeout": ("int", ("TRITON_API_TIMEOUT",), DEFAULT_API_TIMEOUT),
}
SECRET_KEYS = ("private_key",)

_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")


def _connection_options():
    options = {}
    for key, (kind, _env, _default) in _CONNECTION_KEYS.items():
        options[key] = {"type": kind}
    for key in SECRET_KEYS:
        options[key]["no_log"] = True
    return options


def triton_argument_spec():
    """The connection options every Triton module accepts (a fresh copy each call)."""
    spec = _connection_options()
    spec["api"] = {"type": "str", "choices": list(API_CHOICES), "default": "cloudapi"}
    spec["triton_credentials"] = {"type": "dict", "no_log": False, "options": _connection_options()}
    return copy.deepcopy(spec)


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
    """The effective connection settings. Raises ``ValueError`` naming what is missing and where
    it can be given."""
    environ = os.environ if environ is None else environ
    credentials = params.get("triton_credentials") or {}
    result = {}
    for key, (kind, env_names, default) in _CONNECTION_KEYS.items():
        value = params.get(key)
        if value in (None, ""):
            value = credentials.get(key)
        if value in (None, ""):  # an empty string (e.g. an unset survey field) counts as not given
            value = None
            for env_name in env_names:
                env_value = environ.get(env_name)
                if env_value not in (None, ""):
                    value = _coerce(kind, env_value, "%s (from %s)" % (key, env_name))
                    break
        if value is None:
            value = default
        result[key] = _coerce(kind, value, key)
    if not result.get("cnapi_url"):
        result["cnapi_url"] = result.get("vmapi_url")
    result["api"] = params.get("api") or "cloudapi"
    if result["api"] == "cloudapi":
        for key in ("url", "account", "key_id"):
            if not result.get(key):
                raise ValueError(
                    "missing required connection setting '%s' for api=cloudapi: give the option %s, the key %s "
                    "in triton_credentials, or the environment variable %s"
                    % (key, key, key, " or ".join(_CONNECTION_KEYS[key][1])))
    elif not result.get("vmapi_url"):
        raise ValueError("missing required connection setting 'vmapi_url' for api=operator: give the option "
                         "vmapi_url, the key vmapi_url in triton_credentials, or the environment variable "
                         "TRITON_VMAPI_URL")
    if result.get("private_key") and result.get("private_key_file"):
        raise ValueError("private_key and private_key_file are mutually exclusive: give one (or neither, to sign "
                         "with the ssh-agent)")
    return result
