# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options of the Triton provider.
    DOCUMENTATION = r'''
options:
  api:
    description:
      - V(cloudapi) uses the end user's API (CloudAPI), signed with the account's SSH key; the allocator chooses
        the target and rollback is not available.
      - V(operator) uses the operator APIs (VMAPI and CNAPI on the admin network, as C(sdc-migrate) does), which
        allow a target server, rollback, migrations of any account and the capacity check.
    type: str
    choices: [cloudapi, operator]
    default: cloudapi
  url:
    description:
      - CloudAPI URL, for example C(https://us-east-1.api.example.com).
      - If not set, O(triton_credentials.url) is used, then the environment variables E(TRITON_URL), E(SDC_URL).
    type: str
  account:
    description:
      - Account login for CloudAPI.
      - If not set, O(triton_credentials.account) is used, then E(TRITON_ACCOUNT), E(SDC_ACCOUNT).
    type: str
  key_id:
    description:
      - Fingerprint of the account's SSH key, MD5 (C(aa:bb:...)) or SHA256 (C(SHA256:...)), as node-triton takes it.
      - If not set, O(triton_credentials.key_id) is used, then E(TRITON_KEY_ID), E(SDC_KEY_ID).
      - Requests are signed with the matching private key from O(private_key_file), O(private_key) or, when neither
        is given, the ssh-agent at E(SSH_AUTH_SOCK).
    type: str
  private_key_file:
    description:
      - Path of the unencrypted RSA or ECDSA private key (PEM or OpenSSH format).
      - If not set, O(triton_credentials.private_key_file) is used, then E(TRITON_KEY_FILE).
    type: path
  private_key:
    description:
      - The private key itself (for example from a vault). Never logged or returned.
      - If not set, O(triton_credentials.private_key) is used.
    type: str
  vmapi_url:
    description:
      - VMAPI URL for O(api=operator), for example C(http://vmapi.dc1.example.com).
      - If not set, O(triton_credentials.vmapi_url) is used, then E(TRITON_VMAPI_URL).
    type: str
  cnapi_url:
    description:
      - CNAPI URL for O(api=operator); defaults to O(vmapi_url).
      - If not set, O(triton_credentials.cnapi_url) is used, then E(TRITON_CNAPI_URL).
    type: str
  validate_certs:
    description:
      - Whether to verify TLS certificates. Prefer O(ca_path) to turning this off.
      - If not set, O(triton_credentials.validate_certs) is used, then E(TRITON_VALIDATE_CERTS), then V(true).
    type: bool
  ca_path:
    description:
      - PEM file of the certificate authority that signed the API certificates (for example the lab CA).
      - If not set, O(triton_credentials.ca_path) is used, then E(TRITON_CA_PATH).
    type: path
  api_timeout:
    description:
      - Timeout in seconds of one HTTP request (and of silence on a progress stream).
      - If not set, O(triton_credentials.api_timeout) is used, then E(TRITON_API_TIMEOUT), then V(60).
    type: int
  triton_credentials:
    description:
      - All connection settings in one dictionary, typically set once with C(module_defaults) for the
        C(group/fleetops.maintenance.triton) action group. An option given to the task wins over the same key here.
    type: dict
    suboptions:
      url: {description: Same as O(url)., type: str}
      account: {description: Same as O(account)., type: str}
      key_id: {description: Same as O(key_id)., type: str}
      private_key_file: {description: Same as O(private_key_file)., type: path}
      private_key: {description: Same as O(private_key)., type: str}
      vmapi_url: {description: Same as O(vmapi_url)., type: str}
      cnapi_url: {description: Same as O(cnapi_url)., type: str}
      validate_certs: {description: Same as O(validate_certs)., type: bool}
      ca_path: {description: Same as O(ca_path)., type: path}
      api_timeout: {description: Same as O(api_timeout)., type: int}
notes:
  - CloudAPI requests are signed as node-triton signs them (HTTP Signature over C((request-target)) and C(date),
    key id C(/<account>/keys/<md5 fingerprint>)).
  - Connection errors and HTTP 5xx answers are retried with bounded exponential backoff and jitter; each attempt is
    signed anew.
'''
