#!/usr/bin/env python
"""Interpreter wrapper of the scale benchmark (make bench-scale), given to Ansible as
``ansible_python_interpreter`` (its ``python`` is found on PATH; the venv's): it runs the real interpreter (``$BENCH_PYTHON``) with the same
arguments, passes its output through unchanged, then appends one JSON line to ``$BENCH_RUSAGE_FILE``:
the arguments, the wall seconds, the peak resident memory of the process (``ru_maxrss``, KiB), its CPU
seconds, and from the module's own JSON answer its ``api_stats`` (requests, bytes read), ``failed``,
``msg`` and the ``elapsed`` of its last progress line.

It measures the module process from outside: nothing in the collection knows about it. Ansible runs
AnsiballZ modules in the interpreter's own process, so the child's peak is the module's peak.
"""
import json
import os
import resource
import subprocess
import sys
import time


def main():
    real = os.environ.get("BENCH_PYTHON") or sys.executable
    started = time.monotonic()
    proc = subprocess.run([real] + sys.argv[1:], stdout=subprocess.PIPE, check=False)
    wall = time.monotonic() - started
    sys.stdout.buffer.write(proc.stdout)
    sys.stdout.flush()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {"argv": sys.argv[1:], "rc": proc.returncode, "wall_seconds": round(wall, 4),
              "max_rss_kib": usage.ru_maxrss, "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 4),
              "stdout_bytes": len(proc.stdout)}
    try:
        answer = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = None
    if isinstance(answer, dict):
        progress = answer.get("progress") if isinstance(answer.get("progress"), list) else []
        record.update(api_stats=answer.get("api_stats"), failed=bool(answer.get("failed")),
                      msg=str(answer.get("msg") or "")[:500],
                      # the module's own clock from its start of work to its last progress line (no interpreter
                      # start-up or imports): what requests and waits cost inside it
                      logic_seconds=progress[-1].get("elapsed") if progress and isinstance(progress[-1], dict) else None)
    path = os.environ.get("BENCH_RUSAGE_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
