# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options shared by every Avi module of the collection.
    DOCUMENTATION = r'''
options:
  controller:
    description:
      - Address of the Avi controller (host name or IP address, optionally with C(https://) and a port).
      - If not set, the key O(avi_credentials.controller) is used, then the environment variable E(AVI_CONTROLLER).
      - One of these must be set.
    type: str
  port:
    description:
      - TCP port of the controller API, when not the HTTPS default.
      - If not set, O(avi_credentials.port) is used, then the environment variable E(AVI_PORT).
    type: int
  username:
    description:
      - User name to log in with.
      - If not set, O(avi_credentials.username) is used, then the environment variable E(AVI_USERNAME).
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, O(avi_credentials.password) is used, then the environment variable E(AVI_PASSWORD).
    type: str
  api_version:
    description:
      - Avi API version sent as the C(X-Avi-Version) header.
      - If not set, O(avi_credentials.api_version) is used, then the environment variable E(AVI_API_VERSION),
        then V(22.1.3).
    type: str
  tenant:
    description:
      - Tenant sent as the C(X-Avi-Tenant) header.
      - If not set, O(avi_credentials.tenant) is used, then the environment variable E(AVI_TENANT), then V(admin).
    type: str
  validate_certs:
    description:
      - Whether to verify the controller's TLS certificate.
      - If not set, O(avi_credentials.validate_certs) is used, then the environment variable
        E(AVI_VALIDATE_CERTS), then V(true).
      - Only set this to V(false) on a lab you control; prefer O(ca_path).
    type: bool
  ca_path:
    description:
      - PEM file of the certificate authority that signed the controller's certificate (for example the lab CA).
      - If not set, O(avi_credentials.ca_path) is used, then the environment variable E(AVI_CA_PATH).
    type: path
  api_timeout:
    description:
      - Timeout in seconds of one HTTP request to the controller.
      - If not set, O(avi_credentials.api_timeout) is used, then the environment variable E(AVI_API_TIMEOUT),
        then V(60).
    type: int
  avi_credentials:
    description:
      - All connection settings in one dictionary, typically set once with C(module_defaults) for the
        C(group/fleetops.maintenance.avi) action group.
      - An option given directly to the task wins over the same key here; a key here wins over the
        environment variable.
    type: dict
    suboptions:
      controller:
        description: Same as O(controller).
        type: str
      port:
        description: Same as O(port).
        type: int
      username:
        description: Same as O(username).
        type: str
      password:
        description: Same as O(password).
        type: str
      api_version:
        description: Same as O(api_version).
        type: str
      tenant:
        description: Same as O(tenant).
        type: str
      validate_certs:
        description: Same as O(validate_certs).
        type: bool
      ca_path:
        description: Same as O(ca_path).
        type: path
      api_timeout:
        description: Same as O(api_timeout).
        type: int
notes:
  - The module logs in once (C(POST /login)), sends the CSRF token, C(Referer), C(X-Avi-Version) and
    C(X-Avi-Tenant) headers on every call, and logs out at the end.
  - Connection errors and HTTP 5xx answers (for example a controller rebooting during an upgrade) are retried
    with bounded exponential backoff and jitter; an expired session (HTTP 401/419) is renewed by logging in
    again; writes refused with HTTP 403 because an upgrade is in progress are retried for up to 10 minutes.
'''

    # Return value every Avi module of the collection returns (run_avi_module adds it to the result,
    # also when the module fails). Used by `extends_documentation_fragment` in a module's RETURN.
    RETURN = r'''
api_stats:
  description: Numbers of logins, HTTP requests, retries, re-logins and upgrade waits of this run, and the bytes of
    the answers read (C(bytes_read)).
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 20, "retries": 0, "relogins": 0, "upgrade_waits": 0, "bytes_read": 48213}
'''
