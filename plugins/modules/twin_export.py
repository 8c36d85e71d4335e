#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: twin_export
short_description: Export a read-only twin of an Avi, Triton or VirtFusion system as a lab topology
version_added: 0.3.0
description:
  - Reads an Avi controller, a Triton data center or a VirtFusion control server, only through calls the vendor
    documents, and writes what maintenance depends on as a topology of the collection's lab (a YAML file), a twin
    that a rehearsal can start, run the operator's maintenance on at a fast time scale, and forecast from. See the
    rehearsal guide (R(ansible_collections.fleetops.maintenance.docsite.guide_rehearsal,
    ansible_collections.fleetops.maintenance.docsite.guide_rehearsal)).
  - "O(provider=avi): the controller's version, build, deployment type and number of nodes; clouds and their hosts
    (CPU cores, memory, maintenance mode); SE groups with the settings placement obeys (HA mode, algorithm,
    C(max_se), C(max_vs_per_se), scale-out bounds, buffer, flavor); SEs (group, host, enable state, version);
    virtual services (group, enable state, placement: the SEs of the VIP, primary first); system images."
  - "O(provider=triton) (operator APIs): compute nodes (memory, disk, reservation ratio, reserved, status, set up,
    head node) and the capacity CNAPI computes; instances (size, owner, compute node, state, brand, the per-instance
    C(user_migration_allowed) flag, tags: disruption budgets select groups by tag); migrations in flight; with
    O(estimate_data) the size a first sync would send."
  - "O(provider=virtfusion): hypervisors (CPU vendor and flags, storage and its size, IP ranges, SSH, the hypervisor
    group and its limits C(maxServers), C(maxCpu), C(maxMemory)), servers (hypervisor, state, memory, CPU cores,
    network interfaces and IP addresses, disks). When the server answer lists no disks, the drives, their sizes and
    the hypervisors' storage come from the hybrid destination endpoint (C(GET /servers/{id}/migrate/hybrid/
    destinations/{hypervisor}), read-only, VirtFusion 7.1.0+)."
  - B(Nothing secret or private leaves the source.) No password, token or key (the module refuses to write a file
    in which it finds the connection's password, token or key), no metadata value, no certificate, no data, no
    virtual service content beyond its group, enable state and placement. O(pseudonymise) also replaces names,
    uuids and addresses.
  - B(Unknown is written as unknown.) A field the vendor does not expose (how many SEs a host can run, how much data
    an instance holds, how fast a guest writes its memory) is written as null and listed in RV(unknown) and in the
    file's C(twin.unknown) with the reason; it is never invented. A rehearsal states what it assumes instead.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.twin
  - fleetops.maintenance.virtfusion
attributes:
  check_mode:
    support: full
    details: The module only reads the source; in check mode it reads and reports, and writes no file.
  diff_mode:
    support: full
    details: The old and the new content of O(dest) when it changes.
  platform:
    platforms: all
options:
  provider:
    description: The system to read.
    type: str
    required: true
    choices: [avi, triton, virtfusion]
  dest:
    description:
      - The twin file to write (YAML, mode 0600). Written only when its content changes, so the same system gives
        RV(ignore:changed=false) the second time.
    type: path
    required: true
  pseudonymise:
    description:
      - Replace the names of every object (SEs, groups, hosts, VSs, compute nodes, instances, hypervisors, servers)
        with stable pseudonyms (C(se-001), C(cn-002)...), uuids with derived ones, and IP addresses with addresses
        that keep their place in the ranges the twin knows. Each Triton instance tag's key and value become
        pseudonyms too (C(tag-001), C(tagvalue-001)), but for the vendor's own C(smartdc_*) tags.
    type: bool
    default: false
  names_file:
    description:
      - With O(pseudonymise), where to write the table from the pseudonyms back to the real names (YAML, mode 0600),
        for the operator and the rehearsal (which translates the operator's variables with it). Never part of the
        twin.
    type: path
  estimate_data:
    description:
      - O(provider=triton) only. Ask VMAPI how many bytes the first sync of each instance's migration would send
        (C(migration_action=estimate), VmMigrateEstimate), so a rehearsal forecasts sync times from the real sizes.
      - It reads only, but it runs a zfs size estimate on each instance's compute node.
    type: bool
    default: false
notes:
  - Avi reads C(GET /api/initial-data), C(/api/cluster), C(/api/systemconfiguration) (C(docker_mode)), C(/api/cloud),
    C(/api/vimgrhostruntime), C(/api/serviceenginegroup), C(/api/serviceengine), C(/api/serviceengine-inventory),
    C(/api/virtualservice), C(/api/virtualservice-inventory) and, from 18.2.6, C(/api/image). A read-only role is
    enough. The twin holds the objects of the session's tenant.
  - Triton reads CNAPI C(GET /servers?extras=capacity), VMAPI C(GET /vms?state=active) and C(GET
    /migrations?format=raw); account logins are not read (VMAPI knows owners by uuid).
  - VirtFusion reads C(GET /compute/hypervisors) (7.1.0+), C(vfcli-ctrl server:migrate-live servers --src=ID
    --json), C(GET /servers/{id}) and C(GET /compute/hypervisors/groups/{groupId}/resources) (the limits, when the
    hypervisor answer has none). The field names of these answers are observed, not documented by the
    vendor; a missing one is written as unknown.
seealso:
  - module: fleetops.maintenance.se_info
  - module: fleetops.maintenance.instance_migrate
  - ref: ansible_collections.fleetops.maintenance.docsite.guide_rehearsal
    description: Export a twin, rehearse the maintenance on it, read the forecast.
'''

EXAMPLES = r'''
- name: Export a twin of the Avi controller
  fleetops.maintenance.twin_export:
    provider: avi
    dest: /var/tmp/twin-avi.yml
    avi_credentials:
      controller: avi.example.com
      username: readonly
      password: "{{ avi_password }}"

- name: Export a pseudonymised twin of a Triton data center, with the data sizes
  fleetops.maintenance.twin_export:
    provider: triton
    dest: /var/tmp/twin-dc1.yml
    pseudonymise: true
    names_file: /var/tmp/twin-dc1.names.yml
    estimate_data: true
    triton_credentials:
      vmapi_url: https://vmapi.dc1.example.com
      cnapi_url: https://cnapi.dc1.example.com

- name: Export a twin of a VirtFusion control server
  fleetops.maintenance.twin_export:
    provider: virtfusion
    dest: /var/tmp/twin-vf.yml
    virtfusion_credentials:
      host: cp.example.com
      known_hosts_file: ~/.ssh/known_hosts
      api_url: https://cp.example.com
      api_token: "{{ virtfusion_api_token }}"
'''

RETURN = r'''
dest:
  description: The twin file.
  returned: success
  type: str
  sample: /var/tmp/twin-avi.yml
counts:
  description: How many objects of each kind the twin holds.
  returned: success
  type: dict
  sample: {"clouds": 1, "hosts": 3, "se_groups": 3, "service_engines": 9, "virtual_services": 9, "images": 3}
unknown:
  description:
    - The fields written as null because the vendor does not expose them; C(field), C(why), and what a rehearsal
      assumes unless told otherwise (C(rehearsal_assumes)).
  returned: success
  type: list
  elements: dict
  sample: [{"field": "clouds[*].hosts[*].max_se_on_host", "why": "no vendor field caps the SEs a host can run",
            "rehearsal_assumes": "no host limit (set assume.max_se_on_host to model one)"}]
not_exported:
  description: What the twin leaves out on purpose (secrets, customer data).
  returned: success
  type: list
  elements: str
notes:
  description: What the lab will not show as the source is (settings it does not model, objects left out).
  returned: success
  type: list
  elements: str
source:
  description: The source system (vendor, version, data center...).
  returned: success
  type: dict
pseudonymised:
  description: Whether names, uuids and addresses are pseudonyms.
  returned: success
  type: bool
names_file:
  description: The table of pseudonyms, when O(names_file) was given.
  returned: when O(names_file) is given
  type: str
api_stats:
  description: Requests, retries (and logins for Avi, SSH commands for VirtFusion) of the export.
  returned: always
  type: dict
  sample: {"logins": 1, "requests": 12, "retries": 0, "relogins": 0, "upgrade_waits": 0}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.client import AviError
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.spec import _CONNECTION_KEYS as AVI_KEYS
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.spec import SECRET_KEYS as AVI_SECRETS
from ansible_collections.fleetops.maintenance.plugins.module_utils._avi.twin import avi_twin
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.connection import connection_argument_spec
from ansible_collections.fleetops.maintenance.plugins.module_utils._common.twin import (
    HAS_YAML,
    run_export,
    twin_argument_spec,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.client import TritonError
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import _CONNECTION_KEYS as TRITON_KEYS
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.spec import SECRET_KEYS as TRITON_SECRETS
from ansible_collections.fleetops.maintenance.plugins.module_utils._triton.twin import triton_twin
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.client import VirtFusionError
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import (
    _CONNECTION_KEYS as VF_KEYS,
)
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.spec import SECRET_KEYS as VF_SECRETS
from ansible_collections.fleetops.maintenance.plugins.module_utils._virtfusion.twin import virtfusion_twin

EXPORTERS = {"avi": avi_twin, "triton": triton_twin, "virtfusion": virtfusion_twin}
CONNECTIONS = {
    "avi": connection_argument_spec(AVI_KEYS, AVI_SECRETS, "avi_credentials", top_level=False),
    "triton": connection_argument_spec(TRITON_KEYS, TRITON_SECRETS, "triton_credentials", top_level=False),
    "virtfusion": connection_argument_spec(VF_KEYS, VF_SECRETS, "virtfusion_credentials", top_level=False),
}


def main():
    module = AnsibleModule(argument_spec=twin_argument_spec(CONNECTIONS), supports_check_mode=True)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    run_export(module, EXPORTERS, (AviError, TritonError, VirtFusionError))


if __name__ == "__main__":
    main()
