#!/usr/bin/env bash
# `make bench-upgrade`: upgrade a lab system of 8 SE groups x 4 SEs (topology bench_upgrade) to
# 22.1.7 three ways - the rolling_upgrade default (the SE groups in one request of the vendor's SE-group
# upgrade, VSs at risk protected first), the same strictly serial (SE groups one at a time), and the
# controller's own system upgrade (disruptive) - and print the wall time, the ideal from the lab's own
# durations, their ratio, and the VS-seconds of disruption of each (the lab's disruption report).
# BENCH_TIME_SCALE (default 0.1 real seconds per lab second) sets how long the lab's steps take.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
LAB_STATE="$ROOT/.lab/bench-upgrade"
LAB_TOPOLOGY="$ROOT/lab/topologies/bench_upgrade.yml"
OUT="$ROOT/.lab/bench-upgrade-results"
SCALE="${BENCH_TIME_SCALE:-0.1}"
mkdir -p "$OUT"
python -m lab start --topology "$LAB_TOPOLOGY" --state-dir "$LAB_STATE" --reset --time-scale "$SCALE" \
  --max-lifetime 3600 >/dev/null
trap 'python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true' EXIT
# shellcheck source=scripts/lab_env.sh
source "$ROOT/scripts/lab_env.sh"

run() {  # run NAME EXTRA-VARS...
  local name=$1; shift
  python -m lab ctl --state-dir "$LAB_STATE" reset >/dev/null
  python -m lab ctl --state-dir "$LAB_STATE" stats reset >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$(command -v python)" \
    fleetops.maintenance.upgrade -e version=22.1.7 -e deployment=vm -e wait_sleep=0.5 -e "report_file=$OUT/$name.report.json" "$@" \
    >"$OUT/$name.log" 2>&1 || { tail -50 "$OUT/$name.log"; exit 1; }
  t1=$(date +%s.%N)
  python -m lab ctl --state-dir "$LAB_STATE" stats >"$OUT/$name.stats.json"
  python -m lab ctl --state-dir "$LAB_STATE" disruption >"$OUT/$name.disruption.json"
  python -m lab ctl --state-dir "$LAB_STATE" upgrade >"$OUT/$name.upgrade.json"
  echo "$t0 $t1" >"$OUT/$name.playbook-times"
  echo "  $name: $(python -c 'import sys; a,b=map(float,open(sys.argv[1]).read().split()); print("%.1f s" % (b-a))' \
    "$OUT/$name.playbook-times")"
}

echo "upgrading 8 SE groups x 4 SEs at time scale $SCALE (each run resets the lab)"
run role_parallel
run role_serial -e parallel_groups=false
run vendor_system -e upgrade_strategy=system -e protect=false
python "$ROOT/benchmarks/report_upgrade.py" "$OUT" role_parallel role_serial vendor_system
