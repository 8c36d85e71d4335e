# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the fleetops.maintenance collection: not a public API, it may change at any time.

The resolution of connection settings that every vendor's spec (``_avi.spec``, ``_triton.spec``,
``_virtfusion.spec``) shares; each keeps its own table of keys, environment variables and defaults.

A table maps a setting to ``(type, environment variables in order, default)``; the type is an
argument spec type (``str``, ``int``, ``bool``, ``path``). A setting's value is the first one given
of: the sources in order (the task's options, then the ``<vendor>_credentials`` dict), the
environment variables in order (an empty variable counts as unset), the default. Values are
coerced to their type; a bad value raises ``ValueError`` naming the setting (and the variable it
came from).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

TRUE = ("1", "true", "yes", "on", "y", "t")
FALSE = ("0", "false", "no", "off", "n", "f")


def connection_options(keys, secret_keys=()):
    """The argument spec options of a table's settings (``no_log`` on the secret ones)."""
    options = {}
    for key, (kind, _env, _default) in keys.items():
        options[key] = {"type": kind}
    for key in secret_keys:
        options[key]["no_log"] = True
    return options


def connection_argument_spec(keys, secret_keys, credentials_option, top_level=True):
    """The connection options of a vendor (a fresh dict): the table's settings as options (with
    ``top_level``) and all of them as the suboptions of one dict (``credentials_option``), the form
    ``module_defaults`` of an action group sets once."""
    spec = connection_options(keys, secret_keys) if top_level else {}
    spec[credentials_option] = {"type": "dict", "no_log": False, "options": connection_options(keys, secret_keys)}
    return spec


def coerce(kind, value, key):
    """``value`` as the type ``kind``; ``ValueError`` naming ``key`` when it is not one."""
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
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValueError("%s must be a boolean (true/false), got %r" % (key, value))
    if kind == "path":
        return os.path.expanduser(os.path.expandvars(str(value)))
    return value


def resolve_settings(keys, sources, environ=None, empty_is_unset=False, label="%s"):
    """The effective value of every setting of the table ``keys`` (a dict).

    ``sources`` are dicts asked in order; with ``empty_is_unset`` an empty string in them (e.g. an
    unset survey field) counts as not given. ``label`` names a setting in messages (``%s`` is its key).
    """
    environ = os.environ if environ is None else environ
    unset = (None, "") if empty_is_unset else (None,)
    result = {}
    for key, (kind, env_names, default) in keys.items():
        value = None
        for source in sources:
            value = source.get(key)
            if value not in unset:
                break
        if value in unset:
            value = None
            for env_name in env_names:
                env_value = environ.get(env_name)
                if env_value not in (None, ""):
                    value = coerce(kind, env_value, "%s (from %s)" % (label % key, env_name))
                    break
        if value is None:
            value = default
        result[key] = coerce(kind, value, label % key)
    return result


def missing_setting(key, keys, credentials, context=""):
    """The ``ValueError`` for a required setting given nowhere: where it can be given."""
    return ValueError("missing required connection setting '%s'%s: give the option %s, the key %s in %s, or the "
                      "environment variable %s" % (key, context, key, key, credentials, " or ".join(keys[key][1])))
