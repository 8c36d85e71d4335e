#!/usr/bin/env bash
# The ansible-core matrix: every ansible-core minor that meta/runtime.yml's requires_ansible admits is tested.
#
#   bash scripts/core-matrix.sh            (needs `make collection`: the built tarball and .venv)
#
# The newest core is the project's own tool chain (.venv, requirements-dev.txt): the full suite runs on it
# (scripts/test.sh); here it gets the end-to-end smoke. Every older minor has tests/matrix/ansible-core-X.Y.txt
# (its pins and, in a `# python: X.Y` line, the Python it runs on) and gets, in its own virtualenv built by
# scripts/venv.sh (cached in build/venvs, keyed on that file and the Python):
#   - units:  ansible-test units on the built tarball's content plus tests/unit;
#   - sanity: ansible-test sanity on the built tarball's content: what users install (the lab, the tests and
#             the tooling are not shipped; the newest core's sanity stage checks them);
#   - smoke:  tests/smoke (one upgrade step, one VS migration, one SE evacuation through that core's
#             ansible-playbook against the lab), on the tarball as that core's ansible-galaxy installs it.
# The jobs run MATRIX_JOBS at a time (default: the number of CPUs). Logs: build/matrix/<core>/<job>.log.
set -uo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT" || exit 1
MATRIX="$ROOT/build/matrix"
JOBS=${MATRIX_JOBS:-$(nproc)}

shopt -s nullglob
tarballs=(build/fleetops-maintenance-*.tar.gz)
[ ${#tarballs[@]} = 1 ] || { echo "error: expected one built tarball in build/ (make collection), found ${#tarballs[@]}" >&2; exit 1; }
TARBALL="$ROOT/${tarballs[0]}"

newest=$(python -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')
older=()
for f in tests/matrix/ansible-core-*.txt; do
  m=${f#tests/matrix/ansible-core-}; older+=("${m%.txt}")
done
mapfile -t older < <(printf '%s\n' "${older[@]}" | sort -V)

# Declared versions are tested versions: the minors requires_ansible admits, up to the tool chain's, must be
# exactly the matrix's (a lowered requires_ansible without a venv for it fails here, and so does a stale file).
admitted=$(python - "$newest" <<'PY'
import sys
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
spec = SpecifierSet(yaml.safe_load(open("meta/runtime.yml"))["requires_ansible"])
major, newest = (int(x) for x in sys.argv[1].split("."))
# a minor is admitted when any of its releases is (its .0, or a late patch release)
print(" ".join("%d.%d" % (major, m) for m in range(9, newest + 1)
               if any(Version("%d.%d.%d" % (major, m, p)) in spec for p in range(0, 100))))
PY
)
tested="${older[*]} $newest"; tested=${tested# }
echo "requires_ansible admits: $admitted; tested: $tested (newest, $newest: the project's .venv)"
if [ "$admitted" != "$tested" ]; then
  echo "error: meta/runtime.yml's requires_ansible admits ansible-core $admitted, the matrix tests $tested:" \
       "add tests/matrix/ansible-core-X.Y.txt for each admitted minor (or narrow requires_ansible)" >&2
  exit 1
fi

venv_of() { if [ "$1" = "$newest" ]; then echo "$ROOT/.venv"; else echo "$ROOT/build/venvs/ansible-core-$1"; fi; }
python_of() { sed -n 's/^# python: //p' "$ROOT/tests/matrix/ansible-core-$1.txt"; }

# --- preparation, one core after the other (quick once cached) ---------------------------------------------
# A copy of the collection at ansible_collections/fleetops/maintenance that ansible-test takes: a git repository
# of its files (ansible-test finds its targets through git; build/ is ignored by the project's own).
tree() {  # tree CORE KIND: the installed collection (+ tests/unit for units)
  local t="$MATRIX/$1/$2/ansible_collections/fleetops/maintenance"
  rm -rf "${MATRIX:?}/$1/$2"; mkdir -p "$t"
  cp -a "$MATRIX/$1/collections/ansible_collections/fleetops/maintenance/." "$t/"
  if [ "$2" = units ]; then mkdir -p "$t/tests"; cp -a tests/unit "$t/tests/"; fi
  (cd "$t" && git init -q && git add -A) || return 1
}

# ansible-test without the project's Ansible settings, with this core first on PATH
core_env() {  # core_env CORE COMMAND...
  local v; v=$(venv_of "$1"); shift
  env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_HOME -u ANSIBLE_LOCAL_TEMP -u PYTHONPATH \
    PATH="$v/bin:$PATH" VIRTUAL_ENV="$v" "$@"
}

prepare() {  # prepare CORE
  local core=$1 v py pipver
  v=$(venv_of "$core")
  [ "$core" = "$newest" ] || py=$(python_of "$core")
  mkdir -p "$MATRIX/$core"
  rm -rf "$MATRIX/$core/collections"
  # the tarball as this core's ansible-galaxy installs it (the smoke's collection, the trees' content)
  core_env "$core" "$v/bin/ansible-galaxy" collection install --force -p "$MATRIX/$core/collections" "$TARBALL" \
    >"$MATRIX/$core/install.log" 2>&1 || { cat "$MATRIX/$core/install.log"; return 1; }
  [ "$core" = "$newest" ] && return 0
  tree "$core" sanity && tree "$core" units || return 1
  # the offline stand-in for the get-pip script ansible-test would download (scripts/get_pip_standin.py):
  # each core bootstraps its own pip version (23.1.2 for 2.17, 24.2 for 2.18 and 2.19, 25.2 for 2.20 and 2.21)
  pipver=$(grep -oE "pip='[0-9.]+'" "$v"/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | cut -d"'" -f2)
  mkdir -p "$HOME/.ansible/test/cache"
  cp scripts/get_pip_standin.py "$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
  # the sanity tests' own virtualenvs (~/.ansible/test/venv, keyed on their requirements), made here one core
  # at a time so that two cores running in parallel never create the same one at once
  (cd "$MATRIX/$core/sanity/ansible_collections/fleetops/maintenance" &&
   core_env "$core" ansible-test sanity --prime-venvs --local --python "$py" --color no) \
    >"$MATRIX/$core/prime.log" 2>&1 || { tail -20 "$MATRIX/$core/prime.log"; return 1; }
}

# --- the jobs -----------------------------------------------------------------------------------------------
job_sanity() {
  (cd "$MATRIX/$1/sanity/ansible_collections/fleetops/maintenance" &&
   core_env "$1" ansible-test sanity --local --python "$(python_of "$1")" --color no)
}
job_units() {
  (cd "$MATRIX/$1/units/ansible_collections/fleetops/maintenance" &&
   core_env "$1" ansible-test units --local --python "$(python_of "$1")" --color no)
}
job_smoke() {
  FLEETOPS_SMOKE_CORE="$1" FLEETOPS_SMOKE_VENV="$(venv_of "$1")" FLEETOPS_SMOKE_COLLECTIONS="$MATRIX/$1/collections" \
    python -m pytest -q -p no:cacheprovider tests/smoke
}

t0=$SECONDS
declare -A RC=() TIME=()
unprepared=0
# the virtualenvs, all at once (mostly downloads; each is rebuilt only when its requirements file changed)
for core in "${older[@]}"; do
  mkdir -p "$MATRIX/$core"
  bash scripts/venv.sh "$(venv_of "$core")" "tests/matrix/ansible-core-$core.txt" "$(python_of "$core")" \
    >"$MATRIX/$core/venv.log" 2>&1 &
done
wait
for core in $tested; do
  echo "==> preparing ansible-core $core"
  if { [ "$core" = "$newest" ] || bash scripts/venv.sh "$(venv_of "$core")" "tests/matrix/ansible-core-$core.txt" \
         "$(python_of "$core")"; } && prepare "$core"; then :; else
    echo "error: could not prepare ansible-core $core" >&2
    RC["$core prepare"]=1; unprepared=$((unprepared + 1))
  fi
done
echo "==> prepared in $((SECONDS - t0))s; running the jobs, $JOBS at a time"

# longest first: sanity, then smoke, then units
queue=()
for kind in sanity smoke units; do
  for core in $tested; do
    [ "$core" = "$newest" ] && [ "$kind" != smoke ] && continue
    [ -n "${RC["$core prepare"]:-}" ] && continue
    queue+=("$core $kind")
  done
done

run_job() {  # run_job CORE KIND (in its own subshell): log, exit code and seconds in build/matrix/CORE/KIND.{log,rc,time}
  local start=$SECONDS rc cpu
  "job_$2" "$1" >"$MATRIX/$1/$2.log" 2>&1; rc=$?
  # CPU seconds of the job's processes (user + system of this subshell's children; the lab's server, a
  # daemon, is not counted): on a shared machine the wall time says more about the others than about the job
  times >"$MATRIX/$1/$2.times"   # (not in a pipe: a subshell would report its own, empty, children)
  cpu=$(tail -1 "$MATRIX/$1/$2.times" | sed -E 's/([0-9]+)m([0-9.]+)s/\1 \2/g' | awk '{printf "%d", $1 * 60 + $2 + $3 * 60 + $4}')
  echo "$rc" >"$MATRIX/$1/$2.rc"; echo $((SECONDS - start)) >"$MATRIX/$1/$2.time"; echo "$cpu" >"$MATRIX/$1/$2.cpu"
  printf '    %-6s %-7s %s  %4ss (CPU %ss)\n' "$1" "$2" "$([ "$rc" = 0 ] && echo PASS || echo FAIL)" $((SECONDS - start)) "$cpu"
}
running=0
for job in "${queue[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  # shellcheck disable=SC2086
  run_job $job &
  running=$((running + 1))
done
wait

failed=0 cpu_total=0
for job in "${queue[@]}"; do
  read -r core kind <<<"$job"
  cpu_total=$((cpu_total + $(cat "$MATRIX/$core/$kind.cpu" 2>/dev/null || echo 0)))
  RC["$job"]=$(cat "$MATRIX/$core/$kind.rc" 2>/dev/null || echo 1)
  TIME["$job"]=$(cat "$MATRIX/$core/$kind.time" 2>/dev/null || echo "?")
  if [ "${RC["$job"]}" != 0 ]; then
    failed=$((failed + 1))
    echo; echo "---- ansible-core $core $kind FAILED (last lines of $MATRIX/$core/$kind.log):"
    grep -vE "is ignored: it is neither a file" "$MATRIX/$core/$kind.log" | tail -40
  fi
done

echo; printf '%-14s %-8s %-14s %-14s %-14s\n' "ansible-core" "python" "units" "sanity" "smoke"
for core in $tested; do
  row=()
  for kind in units sanity smoke; do
    if [ -n "${RC["$core prepare"]:-}" ]; then row+=("not prepared")
    elif [ "$core" = "$newest" ] && [ "$kind" != smoke ]; then row+=("(test.sh)")
    elif [ "${RC["$core $kind"]}" = 0 ]; then row+=("PASS ${TIME["$core $kind"]}s")
    else row+=("FAIL ${TIME["$core $kind"]}s"); fi
  done
  if [ "$core" = "$newest" ]; then py=$("$ROOT/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  else py=$(python_of "$core"); fi
  printf '%-14s %-8s %-14s %-14s %-14s\n' "$core" "$py" "${row[@]}"
done
echo "matrix: ${#queue[@]} jobs, $failed failed, $unprepared core(s) not prepared, $((SECONDS - t0))s" \
  "(the jobs' CPU: ${cpu_total}s on $(nproc) CPUs, load average now $(cut -d' ' -f1 /proc/loadavg))"
[ "$failed" = 0 ] && [ "$unprepared" = 0 ]
