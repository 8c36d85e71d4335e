#!/usr/bin/env bash
# `make bench-scale`: the known cost of the plans at scale (benchmarks/bench_scale.py): se_info, the
# check-mode plans of an SE evacuation, a rolling upgrade and a compute-node evacuation on generated lab
# topologies of 1,000 / 3,000 / 10,000 VSs and 200 / 600 / 2,000 Triton instances; wall time, requests,
# bytes read, peak memory, the lab's own cost; an SE evacuation with the lab answering 200-500 ms late.
# Tables and plots in build/bench-scale/. BENCH_SCALE_ARGS passes options, e.g. "--avi 1000 --triton 200".
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
python -c 'import matplotlib' 2>/dev/null || python -m pip install -q -r benchmarks/requirements.txt ||
  echo "bench-scale: matplotlib did not install: numbers only, no plots" >&2
# shellcheck disable=SC2086
python benchmarks/bench_scale.py ${BENCH_SCALE_ARGS:-}
