# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # The Avi and Triton connections of a module that takes them as one dict each (twin_export; the VirtFusion dict
    # is the fleetops.maintenance.virtfusion fragment).
    DOCUMENTATION = r'''
options:
  avi_credentials:
    description:
      - The Avi connection (O(provider=avi)), typically set once with C(module_defaults) for the
        C(group/fleetops.maintenance.avi) action group. Each key falls back to its E(AVI_*) environment variable,
        then to its default, as for M(fleetops.maintenance.se_info).
    type: dict
    suboptions:
      controller:
        description: Address of the controller (host name or IP address, optionally with C(https://) and a port).
          Falls back to E(AVI_CONTROLLER). Required.
        type: str
      port:
        description: TCP port of the controller API, when not the HTTPS default. Falls back to E(AVI_PORT).
        type: int
      username:
        description: User name to log in with. Falls back to E(AVI_USERNAME). Required. A read-only role is enough.
        type: str
      password:
        description: Password of O(avi_credentials.username). Falls back to E(AVI_PASSWORD). Never logged, returned
          or exported.
        type: str
      api_version:
        description: The C(X-Avi-Version) header. Falls back to E(AVI_API_VERSION), then V(22.1.3).
        type: str
      tenant:
        description: The C(X-Avi-Tenant) header; the twin holds the objects of this tenant. Falls back to
          E(AVI_TENANT), then V(admin).
        type: str
      validate_certs:
        description: Whether to verify the controller's TLS certificate. Falls back to E(AVI_VALIDATE_CERTS), then
          V(true).
        type: bool
      ca_path:
        description: PEM file of the CA that signed the controller's certificate. Falls back to E(AVI_CA_PATH).
        type: path
      api_timeout:
        description: Timeout in seconds of one HTTP request. Falls back to E(AVI_API_TIMEOUT), then V(60).
        type: int
  triton_credentials:
    description:
      - The Triton connection (O(provider=triton)), the operator APIs VMAPI and CNAPI, which alone show compute
        nodes with their capacity and every owner's instances. Typically set once with C(module_defaults) for the
        C(group/fleetops.maintenance.triton) action group. Each key falls back to its E(TRITON_*) environment
        variable.
    type: dict
    suboptions:
      vmapi_url:
        description: VMAPI of the data center (reached on its admin network). Falls back to E(TRITON_VMAPI_URL).
          Required.
        type: str
      cnapi_url:
        description: CNAPI of the data center. Falls back to E(TRITON_CNAPI_URL), then O(triton_credentials.vmapi_url).
        type: str
      url:
        description: CloudAPI (not used by the export). Falls back to E(TRITON_URL).
        type: str
      account:
        description: CloudAPI account (not used by the export). Falls back to E(TRITON_ACCOUNT).
        type: str
      key_id:
        description: CloudAPI key fingerprint (not used by the export). Falls back to E(TRITON_KEY_ID).
        type: str
      private_key_file:
        description: CloudAPI signing key file (not used by the export). Falls back to E(TRITON_KEY_FILE).
        type: path
      private_key:
        description: CloudAPI signing key itself (not used by the export). Never logged, returned or exported.
        type: str
      validate_certs:
        description: Whether to verify TLS certificates. Falls back to E(TRITON_VALIDATE_CERTS), then V(true).
        type: bool
      ca_path:
        description: PEM file of the CA that signed the APIs' certificates. Falls back to E(TRITON_CA_PATH).
        type: path
      api_timeout:
        description: Timeout in seconds of one HTTP request. Falls back to E(TRITON_API_TIMEOUT), then V(60).
        type: int
'''
