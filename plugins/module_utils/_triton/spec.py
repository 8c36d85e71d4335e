# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

Argument spec of the Triton connection, and the resolution of its settings.

Precedence: an option given to the task wins over the same key in ``triton_credentials``
(typically set once through ``module_defaults`` for the ``group/fleetops.maintenance.triton``
action group), which wins over the ``TRITON_*`` environment variables, then the ``SDC_*`` ones
(the names node-triton and the smartdc tools read), then the defaults.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.maintenance.plugins.module_utils._common.connection import (
    connection_argument_spec,
    missing_setting,
    resolve_settings,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.module import ca_file, readable_file

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


def triton_argument_spec():
    """The connection options every Triton module accepts (a fresh copy each call)."""
    spec = connection_argument_spec(_CONNECTION_KEYS, SECRET_KEYS, "triton_credentials")
    spec["api"] = {"type": "str", "choices": list(API_CHOICES), "default": "cloudapi"}
    return spec


def resolve_connection(params, environ=None, check_files=True):
    """The effective connection settings. Raises ``ValueError`` naming what is missing and where
    it can be given; with ``check_files``, also when the CA file or the key file cannot be used."""
    # an empty string (e.g. an unset survey field) counts as not given
    result = resolve_settings(_CONNECTION_KEYS, (params, params.get("triton_credentials") or {}), environ,
                              empty_is_unset=True)
    if not result.get("cnapi_url"):
        result["cnapi_url"] = result.get("vmapi_url")
    result["api"] = params.get("api") or "cloudapi"
    if result["api"] == "cloudapi":
        for key in ("url", "account", "key_id"):
            if not result.get(key):
                raise missing_setting(key, _CONNECTION_KEYS, "triton_credentials", " for api=cloudapi")
    elif not result.get("vmapi_url"):
        raise missing_setting("vmapi_url", _CONNECTION_KEYS, "triton_credentials", " for api=operator")
    if result.get("private_key") and result.get("private_key_file"):
        given = (params, params.get("triton_credentials") or {})
        if not any(level.get("private_key_file") for level in given):
            # the key given (task or triton_credentials) wins over a key file only the environment names
            # (TRITON_KEY_FILE, for example set for the CLI tools)
            result["private_key_file"] = None
        else:
            raise ValueError("private_key and private_key_file are mutually exclusive: give one (or neither, to "
                             "sign with the ssh-agent)")
    if check_files:
        if result["validate_certs"] and result.get("ca_path"):
            ca_file(result["ca_path"], "ca_path (TRITON_CA_PATH)")
        if result["api"] == "cloudapi" and result.get("private_key_file"):
            readable_file(result["private_key_file"], "private_key_file (TRITON_KEY_FILE)")
    return result
