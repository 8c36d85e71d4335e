#!/usr/bin/env bash
# `make demo`: start the lab on the demo topology, evacuate an SE whose load forces the
# controller to create a new SE, migrate one VS by hand, print the placement, stop the lab.
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
"${PLAY[@]}" fleetops.maintenance.evacuate_se --diff -e service_engine=nm-se-01

banner "migrate app-aa-01 off aa-se-01 by hand (controller's best choice of target)"
"${PLAY[@]}" fleetops.maintenance.migrate_vs -e virtual_service=app-aa-01 -e from_se=aa-se-01

banner "placement after"
"${PLAY[@]}" fleetops.maintenance.placement_report

banner "what clients felt (the lab's disruption accounting)"
python -m lab ctl --state-dir "$LAB_STATE" disruption | python -c '
import json, sys
d = json.load(sys.stdin)
bad = {k: v["unavailable_seconds"] for k, v in d["virtualservice"].items() if v["unavailable_seconds"]}
print("virtual services: %d, unavailable VS-seconds: %s, VSs with any outage: %s"
      % (len(d["virtualservice"]), d["total_vs_seconds"], bad or "none"))'
