#!/usr/bin/env bash
# `make bench-virtfusion`: on the lab's VirtFusion plane (topology virtfusion_bench), live-migrate a guest that
# dirties its memory at a fixed rate with different options (QEMU's downtime against max_downtime, total
# time and bytes with and without auto-converge, with post-copy), then evacuate 8 servers with a window of
# 4 and one at a time (BENCH_PARTS=evacuation: only the evacuations). Not part of the tests.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
LAB_STATE="$ROOT/.lab/bench-virtfusion"
TOPOLOGY="$ROOT/lab/topologies/virtfusion_bench.yml"
OUT="$ROOT/.lab/bench-virtfusion-results"
mkdir -p "$OUT"
python -m lab start --topology "$TOPOLOGY" --state-dir "$LAB_STATE" --reset --max-lifetime 1800 >/dev/null
trap 'python -m lab stop --state-dir "$LAB_STATE" >/dev/null 2>&1 || true' EXIT
python "$ROOT/benchmarks/bench_virtfusion.py" "$LAB_STATE/lab.json" "$TOPOLOGY" "$OUT" "${BENCH_REPEATS:-2}"
