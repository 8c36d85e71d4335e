#!/usr/bin/env bash
# `make demo`: start the lab on the demo topology, evacuate an SE whose load forces the
# controller to create a new SE, migrate one VS by hand, print the placement, upgrade the whole
# system with the rolling_upgrade role (no VS loses service); then, on a second
# lab with a Triton data center, migrate an instance on demand and evacuate a compute node; on a third, a
# VirtFusion control server over SSH with QEMU guests, pre-check, live-migrate a server and evacuate a hypervisor.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
LAB_STATE="$ROOT/.lab/demo"
LAB_TOPOLOGY="$ROOT/lab/topologies/demo.yml"
PLAY=(ansible-playbook -i "localhost," -c local -e "ansible_python_interpreter=$(command -v python)")

banner() { echo; echo "######## $* ########"; }

banner "starting the lab (Avi controller emulator) on $LAB_TOPOLOGY"
python -m lab start --topology "$LAB_TOPOLOGY" --state-dir "$LAB_STATE" --reset --max-lifetime 1800 >/dev/null
trap 'python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true; echo "lab stopped"' EXIT
# shellcheck source=scripts/lab_env.sh
source "$ROOT/scripts/lab_env.sh"
echo "controller https://$AVI_CONTROLLER (CA $AVI_CA_PATH)"

banner "placement before"
"${PLAY[@]}" fleetops.maintenance.placement_report -e se_group=sg-nplusm

banner "evacuate nm-se-01: 6 VSs, only 4 free slots on the other SEs, so the controller creates an SE"
"${PLAY[@]}" fleetops.maintenance.evacuate_se --diff -e service_engine=nm-se-01 \
  -e "report_file=$LAB_STATE/evacuate-nm-se-01.json"

banner "migrate app-aa-01 off aa-se-01 by hand (controller's best choice of target)"
"${PLAY[@]}" fleetops.maintenance.migrate_vs -e virtual_service=app-aa-01 -e from_se=aa-se-01

banner "placement after"
"${PLAY[@]}" fleetops.maintenance.placement_report

banner "rolling upgrade to 22.1.7: controllers, then the SE groups in one request, the VSs at risk protected first"
"${PLAY[@]}" fleetops.maintenance.upgrade -e version=22.1.7 -e deployment=vm \
  -e "report_file=$LAB_STATE/upgrade-report.json"
echo "run record: $LAB_STATE/upgrade-report.json"
echo "HTML report (timeline per SE group and SE): $LAB_STATE/upgrade-report.html"

banner "after the maintenance: re-enable nm-se-01, then move its VSs back (make-before-break, from the evacuation's run record)"
"${PLAY[@]}" fleetops.maintenance.evacuate_se -e service_engine=nm-se-01 -e state=enabled
"${PLAY[@]}" fleetops.maintenance.move_back_se -e "record=$LAB_STATE/evacuate-nm-se-01.json" \
  -e "report_file=$LAB_STATE/move-back-nm-se-01.json"

banner "what clients felt (the lab's disruption accounting, evacuation + migration + upgrade + move back)"
python -m lab ctl --state-dir "$LAB_STATE" disruption | python -c '
import json, sys
d = json.load(sys.stdin)
bad = {k: v["unavailable_seconds"] for k, v in d["virtualservice"].items() if v["unavailable_seconds"]}
print("virtual services: %d, unavailable VS-seconds: %s, VSs with any outage: %s"
      % (len(d["virtualservice"]), d["total_vs_seconds"], bad or "none"))'

banner "Triton: a second lab with a Triton data center (CloudAPI + operator APIs) on lab/topologies/triton_small.yml"
TRITON_STATE="$ROOT/.lab/demo-triton"
python -m lab start --topology "$ROOT/lab/topologies/triton_small.yml" --state-dir "$TRITON_STATE" --reset \
  --max-lifetime 1800 >/dev/null
trap 'python -m lab stop --state-dir "$TRITON_STATE" >/dev/null 2>&1 || true; python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true; echo "labs stopped"' EXIT
eval "$(python - "$TRITON_STATE/lab.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
tr = t["triton"]
for k, v in {"TRITON_URL": tr["url"], "TRITON_ACCOUNT": "alice", "TRITON_KEY_ID": tr["accounts"]["alice"],
             "TRITON_KEY_FILE": tr["key_files"]["alice"], "TRITON_VMAPI_URL": tr["operator_url"],
             "TRITON_CA_PATH": t["ca_path"]}.items():
    print("export %s=%s" % (k, v))
PY
)"

banner "Triton: begin and sync web-1 now (it keeps running and writing), switch later with one more sync"
"${PLAY[@]}" fleetops.maintenance.migrate_instance -e instance=web-1 -e state=synced -e accept_unverified=capacity
"${PLAY[@]}" fleetops.maintenance.migrate_instance -e instance=web-1 -e state=switched -e resync=true

banner "Triton: evacuate compute node cn-1, two migrations at a time, then finalize (web-1, switched above, is only finalized)"
"${PLAY[@]}" fleetops.maintenance.evacuate_host -e compute_node=cn-1 -e concurrency=2 -e accept_unverified=capacity \
  -e "report_file=$TRITON_STATE/evacuate-cn-1.json"

banner "Triton: after the maintenance, move back what the evacuation moved (from its run record), two at a time"
"${PLAY[@]}" fleetops.maintenance.move_back_host -e "record=$TRITON_STATE/evacuate-cn-1.json" -e concurrency=2 \
  -e "report_file=$TRITON_STATE/move-back-cn-1.json"
echo "run records: $TRITON_STATE/evacuate-cn-1.json, $TRITON_STATE/move-back-cn-1.json (HTML beside them)"

banner "Triton: what the lab measured (downtime at switch, bytes per sync, data intact)"
python -m lab ctl --state-dir "$TRITON_STATE" --plane triton get migrations | python -c '
import json, sys
for name, migs in sorted(json.load(sys.stdin)["instances"].items()):
    for m in migs:
        print("%-6s %s -> %s: %s, downtime %.1f lab s, syncs %s bytes, data intact: %s" % (
            name, m["source_server_hostname"], m["target_server_hostname"], m["result"], m["downtime_lab_seconds"] or 0,
            [s["bytes"] for s in m["syncs"]], m["data_intact"]))'

banner "VirtFusion: a third lab, a control server over real SSH whose servers are QEMU guests (lab/topologies/virtfusion_small.yml)"
VF_STATE="$ROOT/.lab/demo-virtfusion"
VF_TOPOLOGY="$ROOT/lab/topologies/virtfusion_small.yml"
python -m lab start --topology "$VF_TOPOLOGY" --state-dir "$VF_STATE" --reset --max-lifetime 1800 >/dev/null
trap 'python -m lab stop --state-dir "$VF_STATE" >/dev/null 2>&1 || true; python -m lab stop --state-dir "$TRITON_STATE" >/dev/null 2>&1 || true; python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true; echo "labs stopped"' EXIT
# the connection as the playbooks read it: the SSH side from VIRTFUSION_* variables, the API token as an
# extra var from a file (as an AWX credential injects it; it never enters the environment)
eval "$(python - "$VF_STATE/lab.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
vf = t["virtfusion"]
ssh = vf["ssh"]
for k, v in {"VIRTFUSION_HOST": ssh["host"], "VIRTFUSION_SSH_PORT": ssh["port"], "VIRTFUSION_SSH_USER": ssh["user"],
             "VIRTFUSION_SSH_KEY_FILE": ssh["private_key"], "VIRTFUSION_KNOWN_HOSTS": ssh["known_hosts"],
             "VIRTFUSION_API_URL": vf["url"], "VIRTFUSION_CA_PATH": t["ca_path"]}.items():
    print("export %s=%s" % (k, v))
PY
)"
VF_SECRETS="$VF_STATE/demo-secrets.yml"
(umask 077 && python -c 'import sys, yaml; print(yaml.safe_dump({"virtfusion_api_token": yaml.safe_load(open(sys.argv[1]))["virtfusion"]["api_token"]}))' \
  "$VF_TOPOLOGY" > "$VF_SECRETS")
VF=(-e provider=virtfusion -e "@$VF_SECRETS")
echo "control server ssh://$VIRTFUSION_SSH_USER@$VIRTFUSION_HOST:$VIRTFUSION_SSH_PORT (host key pinned in $VIRTFUSION_KNOWN_HOSTS)"

banner "VirtFusion: check mode runs every pre-check of web-1 against hv-bad (another CPU vendor, other IPs, no SSH) and changes nothing"
"${PLAY[@]}" fleetops.maintenance.migrate_instance --check "${VF[@]}" -e server=web-1 -e destination=hv-bad \
  || echo "==> refused as expected: every failing pre-check listed at once, nothing migrated"

banner "VirtFusion: live-migrate web-1 to hv-b (QEMU migration, every vendor step shown live; QEMU's own downtime and bytes)"
"${PLAY[@]}" fleetops.maintenance.migrate_instance "${VF[@]}" -e server=web-1 -e destination=hv-b -e max_downtime=300 \
  -e accept_unverified=storage_enabled,destination_ssh,cpu_compatible,nat_interfaces

banner "VirtFusion: evacuate hypervisor hv-a (web-2, web-3) into hv-b, two at a time, with a run record"
"${PLAY[@]}" fleetops.maintenance.evacuate_host "${VF[@]}" -e hypervisor=hv-a -e destination=hv-b -e concurrency=2 \
  -e accept_unverified=storage_enabled,destination_ssh,cpu_compatible,nat_interfaces \
  -e "report_file=$VF_STATE/evacuate-hv-a.json"
echo "run record: $VF_STATE/evacuate-hv-a.json"
echo "HTML report (timeline per server): $VF_STATE/evacuate-hv-a.html"

banner "VirtFusion: after the maintenance, move web-2 and web-3 back to hv-a (from the evacuation's run record)"
"${PLAY[@]}" fleetops.maintenance.move_back_host "${VF[@]}" -e "record=$VF_STATE/evacuate-hv-a.json" -e concurrency=2 \
  -e accept_unverified=storage_enabled,destination_ssh,cpu_compatible,nat_interfaces \
  -e "report_file=$VF_STATE/move-back-hv-a.json"
