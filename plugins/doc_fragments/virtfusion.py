# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options of the VirtFusion provider.
    DOCUMENTATION = r'''
options:
  virtfusion_credentials:
    description:
      - The VirtFusion connection (O(provider=virtfusion)), typically set once with C(module_defaults) for the
        C(group/fleetops.maintenance.virtfusion) action group. Each key falls back to its E(VIRTFUSION_*) environment
        variable, then to its default.
      - Two ways in, both needed. SSH to the control server, where C(vfcli-ctrl server:migrate-live) manages live
        migrations (the vendor's way). The REST API, for server and hypervisor reads, the read-only pre-checks
        and hybrid migrations.
    type: dict
    suboptions:
      host:
        description:
          - The control server's address for SSH. Falls back to E(VIRTFUSION_HOST). Required.
        type: str
      port:
        description: SSH port of the control server. Falls back to E(VIRTFUSION_SSH_PORT), then V(22).
        type: int
      username:
        description: SSH user on the control server. Falls back to E(VIRTFUSION_SSH_USER), then V(root).
        type: str
      private_key_file:
        description:
          - Path of the unencrypted SSH private key (Ed25519, ECDSA or RSA; OpenSSH or PEM format). Falls back to
            E(VIRTFUSION_SSH_KEY_FILE). Without it and without O(virtfusion_credentials.private_key) the ssh-agent at
            E(SSH_AUTH_SOCK) is used.
        type: path
      private_key:
        description: The SSH private key itself (for example from a vault). Never logged or returned.
        type: str
      known_hosts_file:
        description:
          - A known_hosts file holding the control server's host key. Falls back to E(VIRTFUSION_KNOWN_HOSTS).
            Required. The host key is always verified against this file only; an unknown or changed key is
            refused (no trust on first use).
        type: path
      api_url:
        description:
          - The VirtFusion panel URL (C(/api/v1) is appended unless present), for example
            C(https://cp.example.com). Falls back to E(VIRTFUSION_API_URL). Required.
        type: str
      api_token:
        description:
          - The REST API bearer token. Falls back to E(VIRTFUSION_API_TOKEN). Required. Never logged or returned.
        type: str
      ca_path:
        description: PEM file of the CA that signed the panel's TLS certificate. Falls back to E(VIRTFUSION_CA_PATH).
        type: path
      validate_certs:
        description:
          - Whether to verify the panel's TLS certificate; prefer O(virtfusion_credentials.ca_path) to turning this
            off. Falls back to E(VIRTFUSION_VALIDATE_CERTS), then V(true).
        type: bool
      timeout:
        description:
          - Seconds one SSH command or one HTTP request may take. Falls back to E(VIRTFUSION_TIMEOUT), then V(60).
        type: int
notes:
  - With O(provider=virtfusion), commands are built from argument lists and every argument is quoted with
    C(shlex.quote); C(vfcli-ctrl) always runs with C(--json). A dropped or refused SSH connection, and a 5xx answer
    of the REST API, are retried on a new connection with bounded exponential backoff and jitter (a repeated
    C(start) re-attaches to the migration it started, as the vendor documents).
'''
