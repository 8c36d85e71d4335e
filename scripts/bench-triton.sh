#!/usr/bin/env bash
# `make bench-triton`: evacuate a Triton compute node hosting 24 instances (lab topology
# triton_bench24) with a sliding window of 6, one at a time, and in batches of 6; print wall time,
# the ideal from the lab's own per-migration times, the ratio, total downtime, and check that every
# instance's data arrived byte for byte; split the time outside the migrations by cause
# (benchmarks/time_split.py, from the lab's request log and migration timestamps).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
LAB_STATE="$ROOT/.lab/bench-triton"
OUT="$ROOT/.lab/bench-triton-results"
mkdir -p "$OUT"
python -m lab start --topology "$ROOT/lab/topologies/triton_bench24.yml" --state-dir "$LAB_STATE" --reset \
  --max-lifetime 1800 >/dev/null
trap 'python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true' EXIT
lab_json="$LAB_STATE/lab.json"
TRITON_VMAPI_URL="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["triton"]["operator_url"])' "$lab_json")"
TRITON_CA_PATH="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_path"])' "$lab_json")"
export TRITON_VMAPI_URL TRITON_CA_PATH
# every process Ansible starts on the target is stamped as it starts and ends (benchmarks/stamp_python.sh)
BENCH_PYTHON="$(command -v python)"
export BENCH_PYTHON
STAMP_PYTHON="$ROOT/benchmarks/stamp_python.sh"
INSTANCES="$(python -c 'import yaml,json,sys; print(json.dumps([i["name"] for i in yaml.safe_load(open(sys.argv[1]))["triton"]["instances"]]))' lab/topologies/triton_bench24.yml)"

run() {  # run NAME MODE CONCURRENCY
  python -m lab ctl --state-dir "$LAB_STATE" --plane triton reset >/dev/null
  python -m lab ctl --state-dir "$LAB_STATE" --plane triton stats reset >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  rm -f "$OUT/$1.stamps"
  BENCH_STAMPS="$OUT/$1.stamps" ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$STAMP_PYTHON" \
    -e bench_server=cn-src -e "bench_mode=$2" -e "bench_concurrency=$3" -e "{\"bench_instances\": $INSTANCES}" \
    -e "bench_out=$OUT/$1.json" benchmarks/evacuate_host.yml >"$OUT/$1.log" 2>&1 || { cat "$OUT/$1.log"; exit 1; }
  t1=$(date +%s.%N)
  python -m lab ctl --state-dir "$LAB_STATE" --plane triton get instances >"$OUT/$1.lab.json"
  python -m lab ctl --state-dir "$LAB_STATE" --plane triton get requests >"$OUT/$1.requests.json"
  echo "$t0 $t1" >"$OUT/$1.playbook-times"
}

floor() {  # side by side: one call for an instance already moved, so there is nothing to do
  rm -f "$OUT/floor.stamps"
  BENCH_STAMPS="$OUT/floor.stamps" ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$STAMP_PYTHON" \
    -e bench_server=cn-src -e bench_mode=batches -e bench_concurrency=1 -e '{"bench_instances": ["vm-01"]}' \
    -e "bench_out=$OUT/floor.json" benchmarks/evacuate_host.yml >"$OUT/floor.log" 2>&1 || { cat "$OUT/floor.log"; exit 1; }
  python -m lab ctl --state-dir "$LAB_STATE" --plane triton get requests >"$OUT/floor.requests.json"
}

run window_6 window 6
run serial_1 window 1
run batches_6 batches 6
floor
python "$ROOT/benchmarks/report_triton.py" "$OUT" window_6:6 serial_1:1 batches_6:6 floor:floor
