#!/usr/bin/env bash
# Interpreter wrapper of the timed benchmarks (make bench, bench-triton, bench-virtfusion), given to Ansible as
# ansible_python_interpreter: it runs the real interpreter ($BENCH_PYTHON) with the same arguments and appends
# "<epoch seconds> start|end <script name>" to $BENCH_STAMPS as each process Ansible starts on the target begins
# and ends (async_wrapper.py, AnsiballZ_<module>.py, ...). benchmarks/time_split.py splits a module call's start-up
# and finish at these instants. Bash's own clock ($EPOCHREALTIME): no process is started to read the time, and the
# wrapper adds about 2 ms per process. Nothing in the collection knows about it.
name=${1##*/}
[ -n "${BENCH_STAMPS:-}" ] && printf '%s start %s\n' "$EPOCHREALTIME" "$name" >>"$BENCH_STAMPS"
"${BENCH_PYTHON:?BENCH_PYTHON: the real interpreter}" "$@"
rc=$?
[ -n "${BENCH_STAMPS:-}" ] && printf '%s end %s %s\n' "$EPOCHREALTIME" "$name" "$rc" >>"$BENCH_STAMPS"
exit "$rc"
