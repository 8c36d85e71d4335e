#!/usr/bin/env bash
# `make bench`: evacuate an SE hosting 50 VSs (lab topology bench50), once the controller's way
# and once per VS, and print wall time, the lab's own operation time for the same moves, their
# ratio, the time per module call spent outside the operation split by cause (benchmarks/time_split.py, from
# the lab's request log and operation timestamps), and the logins made.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
LAB_STATE="$ROOT/.lab/bench"
LAB_TOPOLOGY="$ROOT/lab/topologies/bench50.yml"
OUT="$ROOT/.lab/bench-results"
mkdir -p "$OUT"
python -m lab start --topology "$LAB_TOPOLOGY" --state-dir "$LAB_STATE" --reset --max-lifetime 1800 >/dev/null
trap 'python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true' EXIT
# shellcheck source=scripts/lab_env.sh
source "$ROOT/scripts/lab_env.sh"
# every process Ansible starts on the target is stamped as it starts and ends (benchmarks/stamp_python.sh)
BENCH_PYTHON="$(command -v python)"
export BENCH_PYTHON
STAMP_PYTHON="$ROOT/benchmarks/stamp_python.sh"

run() {  # run NAME METHOD CONCURRENCY
  python -m lab ctl --state-dir "$LAB_STATE" reset >/dev/null
  python -m lab ctl --state-dir "$LAB_STATE" stats reset >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  rm -f "$OUT/$1.stamps"
  BENCH_STAMPS="$OUT/$1.stamps" ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$STAMP_PYTHON" \
    -e bench_se=bench-se-01 -e "bench_method=$2" -e "bench_concurrency=$3" -e "bench_out=$OUT/$1.json" \
    benchmarks/evacuate_se.yml >"$OUT/$1.log" 2>&1 || { cat "$OUT/$1.log"; exit 1; }
  t1=$(date +%s.%N)
  python -m lab ctl --state-dir "$LAB_STATE" stats >"$OUT/$1.stats.json"
  python -m lab ctl --state-dir "$LAB_STATE" get requests >"$OUT/$1.requests.json"
  echo "$t0 $t1" >"$OUT/$1.playbook-times"
}

floor() {  # the same call once more, side by side: the SE is disabled and empty, so nothing is left to move
  rm -f "$OUT/floor.stamps"
  BENCH_STAMPS="$OUT/floor.stamps" ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$STAMP_PYTHON" \
    -e bench_se=bench-se-01 -e bench_method=per_vs -e bench_concurrency=8 -e "bench_out=$OUT/floor.json" \
    benchmarks/evacuate_se.yml >"$OUT/floor.log" 2>&1 || { cat "$OUT/floor.log"; exit 1; }
  python -m lab ctl --state-dir "$LAB_STATE" get requests >"$OUT/floor.requests.json"
}

run controller controller 1
run per_vs_4 per_vs 4
run per_vs_8 per_vs 8
floor
python "$ROOT/benchmarks/report_evacuate.py" "$OUT" controller per_vs_4 per_vs_8 floor:floor
