#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: instance_migrate
short_description: Migrate virtual machine instances between compute nodes
version_added: 0.2.0
description:
  - Drives the migration of an instance (or of several, or of every instance on a compute node) to another compute
    node through the provider's migration API, phase by phase (C(begin), C(sync), C(switch)) or in one automatic run,
    then C(finalize), C(rollback), C(abort) or C(pause) it.
  - Idempotent against the provider's migration record. A second run asking for the state already reached reports
    RV(ignore:changed=false). A phase already running (started by an earlier run or by someone else) is re-attached to
    and waited for, never started twice. A request the provider refuses in the current state fails with the
    provider's own reason and changes nothing.
  - After C(finalize) the record is gone. The module then tells a finished migration from one never started by where
    the instance runs; give O(source_server) (the node being emptied) or O(target_server) so a re-run does not
    start a new migration. Without either, O(state=migrated) on an instance with no record starts one.
  - Progress (phase, percent, bytes sent, rate, ETA) is streamed live by the collection's action plugin; a dropped
    progress connection is re-attached.
  - Providers plug in through the collection's migration engine (C(module_utils/_migration/)). This release has
    O(provider=triton) and O(provider=virtfusion); an option of one provider given with the other is refused, naming
    both.
  - With O(provider=virtfusion) an instance is a VirtFusion server (id or name) and a compute node a hypervisor (id or
    name). A live migration runs C(vfcli-ctrl server:migrate-live start) on the control server over SSH and follows
    every step (complete, in-progress, failed) with C(last-status); a hybrid migration (O(mode=hybrid)) goes
    through the REST API. States V(migrated), V(cancelled), V(aborted). Already on the destination is
    RV(ignore:changed=false); a running migration is re-attached to (never started twice); a failed one is tried
    again with the same C(start), as the vendor documents. The downtime and bytes reported are those QEMU measured.
  - With O(provider=virtfusion) the vendor's force commands (C(data-success-force), C(cancel-force)), which may lose
    data, are sent only when O(force_may_lose_data) asks for them.
author:
  - Fleetops Maintainers (@fleetops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetops.maintenance.triton
  - fleetops.maintenance.virtfusion
  - fleetops.maintenance.budgets
  - fleetops.maintenance.virtfusion_placement
attributes:
  check_mode:
    support: full
    details: >-
      Reads the instance and its migration record and reports the phases that would run, the target compute node
      (or why none fits), and the estimated size of the first sync, without changing anything. With
      O(provider=virtfusion) it runs the vendor's pre-checks read-only (server online or O(force_offline), destination
      SSH, IP addresses, storage mount points, storage enabled, CPU vendor and flags, NAT interfaces) and reports
      every failing one at once in RV(plan) (C(problems)).
  diff_mode:
    support: full
    details: Shows the compute node and the migration phase/state of each instance before and after.
  platform:
    platforms: all
options:
  provider:
    description:
      - The virtualization platform. V(triton) connects with the Triton options, V(virtfusion) with
        O(virtfusion_credentials).
    type: str
    choices: [triton, virtfusion]
    default: triton
  instance:
    description:
      - Name or UUID of the instance to migrate (O(provider=virtfusion), a server id or name).
      - Exactly one of O(instance), O(instances) and O(from_server) is required.
    type: str
  instances:
    description:
      - Names or UUIDs of several instances, migrated O(concurrency) at a time.
    type: list
    elements: str
  from_server:
    description:
      - Migrate every instance on this compute node (name or UUID; a UUID with O(api=cloudapi)), O(concurrency) at a
        time; it also acts as O(source_server).
    type: str
  state:
    description:
      - V(begun) provisions the hidden target (C(begin)).
      - V(synced) also copies the data while the instance runs (C(sync)); with O(resync) one more incremental sync.
      - V(switched) also stops the instance, syncs the last changes, moves its NICs and starts it on the target
        (C(switch)).
      - V(migrated) does what is still missing in one go (C(automatic) when nothing has started).
      - V(finalized) removes the hidden source after a verified switch; the switch must have succeeded.
      - V(rolled_back) reinstates the source after a switch and discards the target (needs O(api=operator)).
      - V(aborted) discards a migration that has not switched (the target is removed, the source never stopped).
      - V(paused) pauses a running sync.
      - O(provider=virtfusion) takes V(migrated), V(cancelled) and V(aborted) only, with the vendor's meanings.
        V(migrated), the server runs on O(target_server) (C(start); a failed migration is tried again).
        V(cancelled), its last live migration is exited with C(cancel) and it stays on its source, possible up to a
        successful data transfer (while data transfers, C(abort) runs first).
        V(aborted), the data transfer that is running is stopped with C(abort); the migration is then failed
        (run V(migrated) to try again, or V(cancelled) to exit it).
    type: str
    choices: [begun, synced, switched, migrated, finalized, rolled_back, aborted, paused, cancelled]
    default: migrated
  target_server:
    description:
      - Compute node to migrate to (name or UUID), instead of the provider's allocator. Needs O(api=operator).
      - Also used, when there is no migration record, to tell that the instance already moved.
      - O(provider=virtfusion), the destination hypervisor (id or name), required with O(state=migrated) (VirtFusion
        has no allocator).
    type: str
  source_server:
    description:
      - Compute node the instance is being moved off (name or UUID). When there is no migration record and the
        instance is no longer there, the migration counts as done (the idempotence rule after C(finalize)).
    type: str
  resync:
    description:
      - Run one more incremental sync before O(state=synced) or a planned switch, even if a sync was done (for
        example at the start of a downtime window). Each run with O(resync=true) syncs again.
    type: bool
    default: false
  concurrency:
    description:
      - With O(instances) or O(from_server), how many migrations run at once. A sliding window, not batches, a new
        migration starts as soon as one finishes.
    type: int
    default: 1
  order:
    description:
      - With O(instances) or O(from_server) and O(concurrency) above 1, the order the migrations start in.
      - V(largest_first) starts the instances with the most data first, by the vendor's size estimate (Triton, the
        migration estimate, the bytes a first sync would send; VirtFusion live migration, the server's memory), so the
        window ends with its shortest migrations and they fill its slots evenly (the longest-first rule). Instances
        whose size is not known (VirtFusion hybrid migration, an estimate refused) follow, as listed. Migrations an
        earlier run left in flight go on first, before any new one. The sizes are a prediction of each migration's
        length; a wrong one costs time, never correctness.
      - V(listed) starts them as listed in O(instances), or by name with O(from_server).
      - With O(concurrency=1) the total time does not depend on the order and the instances go as listed.
      - Triton reads one estimate per instance, as many at once as the window runs (each a zfs size estimate on the
        instance's compute node, it changes nothing).
    type: str
    choices: [largest_first, listed]
    default: largest_first
  on_failure:
    description:
      - With several instances, V(stop) starts no new migration after one fails (running ones finish); V(continue)
        goes on with the others.
    type: str
    choices: [stop, continue]
    default: stop
  failed_action:
    description:
      - What to do with a migration that failed before its switch. V(abort) discards it (the source keeps
        running and a re-run starts afresh); V(leave) leaves it for inspection (a re-run retries the failed phase).
    type: str
    choices: [abort, leave]
    default: leave
  capacity_check:
    description:
      - Before any migration begins, check that the compute nodes can take every instance to be moved and fail
        naming what is short, with nothing moved. Needs the capacity view of O(api=operator); skipped otherwise.
      - O(provider=virtfusion), the room of the destinations the module chooses among (O(target_servers) or the
        group's hypervisors; memory, cores, server slots and storage from the vendor's group resources). V(false)
        reports that check C(skipped) and chooses by the same score without it (the vendor's own start still refuses
        a destination without room); the other pre-checks of every server always run, and when one fails nothing is
        moved.
    type: bool
    default: true
  timeout:
    description:
      - How many seconds to wait at most for each phase of an instance to finish. When it passes the module fails;
        the phase goes on, and running the task again re-attaches to it.
    type: int
    default: 3600
  mode:
    description:
      - O(provider=virtfusion). V(live) (the default) is QEMU's live migration through C(vfcli-ctrl). V(hybrid)
        copies the disks in two stages (online, then suspended) and boots the server on the destination, through
        the REST API (C(POST /servers/{id}/migrate/hybrid)); it takes O(compression) and O(xfer_speed) only.
    type: str
    choices: [live, hybrid]
  force_offline:
    description:
      - O(provider=virtfusion), live. Migrate an offline server by starting it paused for the transfer; it is shut
        down on the destination after (C(--force-offline)). Without it an offline server fails the pre-checks.
    type: bool
  xfer_speed:
    description:
      - O(provider=virtfusion). Cap of the transfer rate in MiB/s (mebibytes per second, the vendor's unit),
        10 to 8796093022206 (C(--xfer-speed)). Default, unlimited.
      - With O(mode=hybrid) it is converted to the REST API's C(speedLimit) in KB/s (1 MiB/s = 1048.576 KB/s,
        rounded down; at most 596 MiB/s).
    type: int
  max_downtime:
    description:
      - O(provider=virtfusion), live. Longest pause allowed for the final switch-over, in milliseconds, 5 to 9000
        (C(--max-downtime); the vendor's default is 300).
    type: int
  abort_after:
    description:
      - O(provider=virtfusion), live. Abort the migration by itself after this many seconds, 60 to 86400
        (C(--abort-after)).
    type: int
  compression:
    description:
      - O(provider=virtfusion). Live, compression is on unless V(false) (C(--disable-compression)). Hybrid, the
        REST API's C(compress) (off unless V(true)).
    type: bool
  auto_converge:
    description:
      - O(provider=virtfusion), live. Auto-converge throttles the guest's vCPUs so that a busy guest's memory
        copy converges. On by default.
    type: dict
    suboptions:
      enabled:
        description: V(false) disables it (C(--disable-auto-converge)).
        type: bool
        default: true
      initial:
        description: Initial CPU throttle in percent, 1 to 70 (C(--auto-converge-initial)).
        type: int
      increment:
        description: Throttle step in percent when the initial one is not enough, 1 to 15 (C(--auto-converge-increment)).
        type: int
  post_copy:
    description:
      - O(provider=virtfusion), live. Switch to post-copy after the first pre-copy pass (C(--auto-post-copy)).
    type: bool
  filter_check:
    description:
      - O(provider=virtfusion), live. V(false) skips the check of the source's firewall filters
        (C(--disable-filter-check)).
    type: bool
  force_may_lose_data:
    description:
      - O(provider=virtfusion), live. Allows one of the vendor's force commands, which skip safety checks and may
        lose data. Never used unless set here.
      - V(data_success), with O(state=migrated), marks the data transfer of a failed migration complete
        (C(data-success-force)) before C(start) completes it. Only for a migration whose data tracking was lost
        while you are sure the data arrived.
      - V(cancel), with O(state=cancelled), uses C(cancel-force) instead of C(cancel) (it skips the checks that the
        source server is online and the migration no longer runs).
    type: str
    choices: [data_success, cancel]
  accept_unverified:
    description:
      - Pre-checks fail closed. Each answers V(pass) (verified, C(how) names the vendor call or documented rule),
        V(fail) or V(unknown) (the vendor does not say; no read-only call shows it, a field is missing, an answer
        was unexpected). An unknown check blocks a start like a failed one unless its name is listed here; it is
        then reported V(accepted). Check mode shows every check, its result and how it was verified.
      - Triton, V(migrations_allowed) (user migrations, the CloudAPI estimate route; refused naming the flag when
        disabled), V(capacity) (the allocator's hard filters and unreserved RAM and disk, CNAPI; unknown with
        O(api=cloudapi), which shows no compute node), V(target_server) (with O(target_server); VMAPI runs no
        allocator filter with an override, so the module checks them itself).
      - O(provider=virtfusion), V(server_state), V(storage), V(ip_addresses) (the hybrid destinations endpoint,
        7.1.0+), and V(storage_enabled), V(destination_ssh), V(cpu_compatible), V(nat_interfaces), which no
        read-only vendor call shows (the vendor's C(start) runs them among its own pre-tests), so these four
        are always unknown.
    type: list
    elements: str
    default: []
  cordon:
    description:
      - With O(from_server), keep new instances off the compute node while it is emptied. Triton with
        O(api=operator), CNAPI C(reserved); VirtFusion 7.1.0 or later, the hypervisor's C(prohibit) flag, which
        needs a shared O(record_dir). The value it replaced is recorded first and restored at the end, also by a
        re-run after an interruption.
    type: bool
    default: false
  keep_cordon:
    description:
      - With O(from_server) and O(cordon), leave the compute node cordoned when its evacuation succeeds (the value
        the cordon replaced stays in the intent record), for maintenance that follows the evacuation (a reboot, the
        fleet playbook). A later run on the same O(from_server) without O(keep_cordon) restores the recorded value.
      - A failed evacuation restores the cordon as without it.
    type: bool
    default: false
    version_added: 0.3.0
  record_dir:
    description:
      - Where the intent records and leases live when the vendor has no place for them (VirtFusion; Triton with
        O(api=cloudapi)). Shared storage, so that a re-run from another machine finds them. Default
        E(FLEETOPS_RECORD_DIR), else C(~/.ansible/fleetops/intent).
      - With O(from_server) a run holds the compute node's lease (one owner per node; Triton with O(api=operator)
        in the node's CNAPI C(comments)); a re-run adopts the migrations in flight instead of starting second ones.
    type: path
  takeover:
    description:
      - Take over a compute node whose lease another run holds before the lease expires. Only when that run is gone.
    type: bool
    default: false
seealso:
  - ref: ansible_collections.fleetops.maintenance.docsite.guide_evacuate_host
    description: >-
      The user guide to emptying a Triton compute node or a VirtFusion hypervisor with the
      P(fleetops.maintenance.host_evacuate#role) role, which runs this module (a sliding window of migrations).
  - ref: ansible_collections.fleetops.maintenance.docsite.guide_migrate_instance
    description: The user guide to this module, for Triton and VirtFusion.
notes:
  - The migration of one instance can take hours (the first sync copies its whole dataset). Downtime happens only
    in the switch phase.
'''

EXAMPLES = r'''
- name: Migrate web-1 in one go (the allocator picks the target)
  fleetops.maintenance.instance_migrate:
    url: https://cloudapi.dc1.example.com
    account: ops
    key_id: "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
    private_key_file: ~/.ssh/triton_id_rsa
    instance: web-1
    state: migrated
    source_server: 44454c4c-3800-1034-804a-b2c04f354d32

- name: VirtFusion - live-migrate server 1902 to hypervisor 7, capped at 100 MiB/s
  fleetops.maintenance.instance_migrate:
    provider: virtfusion
    virtfusion_credentials:
      host: cp.example.com
      known_hosts_file: /etc/fleetops/virtfusion_known_hosts
      private_key_file: ~/.ssh/virtfusion_ed25519
      api_url: https://cp.example.com
      api_token: "{{ vault_virtfusion_api_token }}"
    instance: "1902"
    target_server: "7"
    xfer_speed: 100
    max_downtime: 500
    auto_converge:
      initial: 30
      increment: 10

- name: VirtFusion - is hypervisor hv-ams-2 a valid destination for every server of hv-ams-1?
  fleetops.maintenance.instance_migrate:
    provider: virtfusion
    from_server: hv-ams-1
    target_server: hv-ams-2
  check_mode: true

- name: VirtFusion - exit a failed migration (the server stays on its source)
  fleetops.maintenance.instance_migrate:
    provider: virtfusion
    instance: web-1
    state: cancelled

- name: Begin and sync now, switch later in the maintenance window
  fleetops.maintenance.instance_migrate:
    instance: db-1
    state: synced

- name: In the window - one more incremental sync, then switch
  fleetops.maintenance.instance_migrate:
    instance: db-1
    state: switched
    resync: true

- name: Keep it, remove the hidden source
  fleetops.maintenance.instance_migrate:
    instance: db-1
    state: finalized

- name: Operator - move everything off cn-7, four at a time, to the allocator's choice
  fleetops.maintenance.instance_migrate:
    api: operator
    vmapi_url: http://vmapi.dc1.example.com
    from_server: cn-7
    concurrency: 4
    state: migrated
    failed_action: abort

- name: What would happen?
  fleetops.maintenance.instance_migrate:
    api: operator
    instance: web-1
    target_server: cn-3
  check_mode: true
  register: plan
'''

RETURN = r'''
instance:
  description: The instance (single-instance runs).
  returned: with O(instance)
  type: dict
  sample: {"id": "0c0a4b1e-0d3e-4b5e-9c44-2b1f6c7a9e01", "name": "web-1"}
reached:
  description:
    - Where the instance stands at the end, V(begun), V(synced), V(switched), V(finalized) (no record, and it left its
      source), V(no_migration), V(not_migrating), V(failed) or V(running) (check mode).
    - O(provider=virtfusion), V(migrated) (on O(target_server)), V(cancelled), V(aborted), V(failed), V(running),
      V(not_migrating) (not on O(target_server), no migration running) or V(no_migration).
  returned: with O(instance)
  type: str
  sample: switched
phases:
  description:
    - The actions this run started, in order (planned ones in check mode).
    - O(provider=virtfusion), V(start) (C(vfcli-ctrl ... start), also a retry), V(hybrid) (the REST start),
      V(cancel), V(abort), V(cancel_force), V(data_success_force).
  returned: with O(instance)
  type: list
  elements: str
  sample: ["begin", "sync", "switch"]
waited_for:
  description: Phases that were already running and were re-attached to and waited for.
  returned: with O(instance)
  type: list
  elements: str
  sample: []
server:
  description: Compute node UUID of the instance before and after.
  returned: with O(instance)
  type: dict
  sample: {"before": "44454c4c-3800-1034-804a-b2c04f354d32", "after": "564d4374-d703-b97b-ca9f-7375f05f337c"}
server_name:
  description: Compute node host names before and after (V(null) when not visible, O(api=cloudapi)).
  returned: with O(instance)
  type: dict
  sample: {"before": "cn-1", "after": "cn-2"}
target_server:
  description: UUID of the target compute node (predicted in check mode; V(null) when the provider does not show it).
  returned: with O(instance)
  type: str
  sample: 564d4374-d703-b97b-ca9f-7375f05f337c
target_server_name:
  description: Host name of the target compute node, when visible.
  returned: with O(instance)
  type: str
  sample: cn-2
migration:
  description: The migration record after the run (V(null) once finalized, aborted or rolled back).
  returned: with O(instance)
  type: dict
  sample: {"phase": "switch", "state": "successful", "automatic": false, "syncs": 2, "error": null,
           "source_server": null, "target_server": null}
migration_before:
  description: The migration record before the run.
  returned: with O(instance)
  type: dict
  sample: null
plan:
  description:
    - Check mode. C(phases) that would run, C(target_server) / C(target_server_name) and C(target_reason) (the
      predicted target and why, or why none fits), C(estimated_bytes) (size of the first sync), C(notes).
    - O(provider=virtfusion), also C(problems), every failing pre-check (empty when all pass).
    - Several instances, any mode, C(capacity), the capacity pre-check, one entry per instance to move with its
      predicted target or why none fits.
    - With O(budgets), C(budgets), the groups (C(name), C(max_moving), C(anti_affinity), C(members_here)), the
      C(schedule) (rounds of equal-length migrations, a prediction) and, after a run, C(peak_moving) (per group, the
      most members that migrated at once).
    - With O(order=largest_first), C(order), the instances to move in the order they start, each with its
      C(name) and C(estimated_bytes) (V(null) where not known; a prediction).
    - With O(target_servers) or O(exclude_servers), C(placement), C(placement) (each server and the hypervisor chosen)
      and C(headroom) (per hypervisor, C(memory_free) MiB, C(cpu_free), C(servers_free), C(storage_free) MiB per
      storage id, left after placing; V(null) where the vendor does not say).
  returned: in check mode, or with several instances
  type: dict
  sample: {"phases": ["automatic"], "target_server": "564d4374-d703-b97b-ca9f-7375f05f337c", "target_server_name": "cn-2",
           "target_reason": "cn-2: the most unreserved RAM that fits (40000 MiB left after placing)",
           "estimated_bytes": 1048576, "notes": []}
prechecks:
  description:
    - The pre-checks run before a start, each C(name), C(result) (V(pass), V(fail), V(unknown), V(accepted),
      V(skipped)), C(how) (the vendor call or rule that answered) and C(detail).
  returned: with O(instance), when a start was considered
  type: list
  elements: dict
  sample: [{"name": "capacity", "result": "pass", "how": "CNAPI GET /servers?extras=capacity", "detail": "cn-2: fits"}]
debug_tail:
  description: O(provider=virtfusion), the last lines of C(last-debug) of a failed live migration, secrets masked.
  returned: when a live migration failed
  type: list
  elements: str
  sample: ["QMP migrate: failed"]
verified:
  description:
    - With O(from_server), the end check of the evacuation, C(instances) (how many were to move) and C(problems)
      (empty when the source is empty and every instance is once elsewhere, in the state it had).
  returned: with O(from_server), not in check mode
  type: dict
  sample: {"instances": 3, "problems": []}
cordon:
  description:
    - With O(cordon), the value the cordon replaced (C(was)) and whether it was set, adopted, kept (O(keep_cordon)) or
      restored (C(restored)).
  returned: with O(cordon)
  type: dict
  sample: {"was": false, "set": true}
estimated_bytes:
  description: Size in bytes of the first sync as estimated by the provider (check mode, when a begin is planned).
  returned: with O(instance)
  type: int
  sample: 1048576
syncs:
  description: Bytes sent by each sync this run followed (as reported by the progress stream).
  returned: with O(instance)
  type: list
  elements: int
  sample: [1048576, 36864]
bytes_sent:
  description: Sum of RV(syncs).
  returned: with O(instance)
  type: int
  sample: 1085440
downtime_seconds:
  description:
    - Seconds from the "stopping the instance" progress event of the switch (or, when the stream did not show it,
      from the switch request) to the end of the switch, as this run observed them, an upper bound within the
      progress stream's granularity; V(null) when no switch was followed.
  returned: with O(instance)
  type: float
  sample: 12.4
measured:
  description:
    - O(provider=virtfusion), live, when this run followed a migration to its end. What QEMU measured
      (C(source=qemu)), C(downtime_ms), C(max_downtime_ms) (the limit that applied), C(total_time_ms),
      C(setup_time_ms), C(transferred_bytes), C(precopy_bytes), C(postcopy_bytes), C(downtime_bytes),
      C(dirty_sync_count), C(max_throttle_percent), C(max_dirty_rate_mib_s), C(postcopy_started_ms),
      C(qemu_status), C(capabilities), plus C(disk_copied_bytes), C(attempts) and C(data_lost). RV(downtime_seconds)
      and RV(bytes_sent) are then QEMU's numbers.
  returned: with O(provider=virtfusion) after a live migration this run followed
  type: dict
  sample: {"source": "qemu", "downtime_ms": 4, "max_downtime_ms": 300, "total_time_ms": 1150,
           "transferred_bytes": 34196684, "dirty_sync_count": 3, "max_throttle_percent": 0}
migrations:
  description: One result per instance (the keys above plus C(result) V(ok), V(failed) or V(skipped), C(seconds),
    C(cleanup) for failed ones), in the order given or, with O(from_server), by name.
  returned: with O(instances) or O(from_server)
  type: list
  elements: dict
  sample: []
summary:
  description: Counts of the instances V(ok), V(failed), V(skipped) (not started after a failure) and changed.
  returned: with O(instances) or O(from_server)
  type: dict
  sample: {"ok": 24, "failed": 0, "skipped": 0, "changed": 24}
progress:
  description:
    - Progress steps recorded while the module ran (also streamed live by the action plugin).
    - Of the updates about one instance or VS that only advance its current step (a rising percentage, a sync's
      bytes), the latest replaces the earlier ones here, keeping the step's place and its C(elapsed) (when it
      began), with C(updated) the latest's C(elapsed); repeats are left out. Live, every one is shown.
  returned: always
  type: list
  elements: dict
  sample: [{"task": "instance_migrate", "elapsed": 3.1, "phase": "sync", "msg": "web-1: 1.0 MiB of 1.0 MiB at 40.0 MiB/s, ETA 0s",
            "percent": 100, "instance": "web-1", "bytes": 1048576}]
api_stats:
  description:
    - Numbers of HTTP requests, retries and watch re-attaches of this run, and the bytes of the answers read
      (C(bytes_read)).
    - O(provider=virtfusion), C(ssh_commands), C(ssh_connects), C(ssh_reconnects) (connections opened again
      after one dropped or failed, a re-attached console included), C(ssh_retries) (commands the retry loop sent
      again), C(requests), C(retries); summed over the workers of a sliding window.
  returned: always
  type: dict
  sample: {"requests": 14, "retries": 0, "reattaches": 0, "bytes_read": 23140}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.module import argument_spec, run_module
from ansible_collections.fleetops.maintenance.plugins.module_utils._migration.registry import (
    DEFAULT_PROVIDER,
    PROVIDERS,
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(PROVIDERS, DEFAULT_PROVIDER), supports_check_mode=True,
                           required_one_of=[("instance", "instances", "from_server")],
                           mutually_exclusive=[("instance", "instances", "from_server")])
    run_module(module, PROVIDERS)


if __name__ == "__main__":
    main()
