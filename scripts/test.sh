#!/usr/bin/env bash
# `make test`: every test, each stage timed; a summary line at the end; non-zero if any failed.
set -uo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT" || exit 1

# Each stage leaves "rc seconds name" in $RESULTS (one line per stage), so stages can run in two lanes.
RESULTS="$ROOT/build/test-results"
rm -rf "$RESULTS"; mkdir -p "$RESULTS"
stage() {  # stage NAME COMMAND...
  local name=$1; shift
  echo; echo "==================== $name ===================="
  local t0=$SECONDS
  "$@"; local rc=$?
  echo "$rc $((SECONDS - t0)) $name" >>"$RESULTS/$BASHPID"
  return 0
}

# The pytest stage keeps its runs under build/pytest (ansible-runner's job events of every playbook a test ran) and
# has each task result carry the module arguments it ran with (INJECT_INVOCATION, ansible-core 2.21): the option
# coverage stage reads them there afterwards, without running a playbook of its own.
EVENTS="$ROOT/build/pytest"
# The lab and playbook tests run on PYTEST_WORKERS pytest-xdist workers (2: they are CPU-bound, mostly Ansible's own
# processes, and 3 beside the other lane took longer; README); a file's tests sharing a module-scoped fixture stay on
# one (tests/conftest.py).
# A test that hangs fails after PYTEST_TIMEOUT seconds, with every thread's stack (pytest-timeout; the slowest test,
# the VirtFusion fleet, takes about 3 minutes on 2 cores), and the run goes on.
pytest_all() {
  ANSIBLE_INJECT_INVOCATION=1 python -m pytest -q -p no:cacheprovider --basetemp "$EVENTS" \
    -n "${PYTEST_WORKERS:-2}" --timeout "${PYTEST_TIMEOUT:-600}" --durations=15 tests/lab tests/integration tests/awx
}

option_coverage() {
  # every option, choice and state of every module and every role variable with choices, against the options the
  # pytest stage's playbook runs used (scripts/option_coverage.py; exemptions and floor: tests/coverage/)
  python scripts/option_coverage.py --events "$EVENTS" --json "$ROOT/build/option-coverage.json"
}

# ansible-test needs a real copy at ansible_collections/<ns>/<name>/ (made once per run, for sanity and units)
TREE="$ROOT/build/sanity/ansible_collections/fleetops/maintenance"
TREE_MADE=""
collection_tree() {
  [ -n "$TREE_MADE" ] && return 0
  rm -rf "$TREE"; mkdir -p "$TREE"
  # the files git would test: tracked plus untracked-but-not-ignored
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] || continue
    mkdir -p "$TREE/$(dirname "$f")"; cp -p "$f" "$TREE/$f"
  done
  # ansible-test finds its targets through git: make the copy a repository of those files
  (cd "$TREE" && git init -q && git add -A)
  TREE_MADE=1
}

pyver() { python -c 'import sys;print("%d.%d"%sys.version_info[:2])'; }

sanity() {
  local pipver cache
  # an offline stand-in for the get-pip script ansible-test would download: the pip version it bootstraps
  # (`pip='25.2'` in its python_requirements.py)
  pipver=$(grep -oE "pip='[0-9.]+'" "$(python -c 'import ansible_test,os;print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -1 | cut -d"'" -f2)
  cache="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
  mkdir -p "$(dirname "$cache")"
  cp scripts/get_pip_standin.py "$cache"
  collection_tree
  (cd "$TREE" && ansible-test sanity --local --python "$(pyver)" --color no)
}

units() {
  # tests/unit through ansible-test (pytest -n auto, the collection imported from the ansible_collections tree)
  collection_tree
  (cd "$TREE" && ansible-test units --local --python "$(pyver)" --color no)
}

lint() {
  ansible-lint --profile production --nocolor
}

changelog_lint() {
  antsibull-changelog lint
}

docs() {
  bash scripts/docs.sh
}

galaxy_import() {
  # Galaxy's own importer on the built tarball; any warning or error it reports fails (scripts/galaxy-import.sh)
  bash scripts/galaxy-import.sh
}

core_matrix() {
  # units, sanity and an end-to-end smoke under every older ansible-core requires_ansible admits, the smoke
  # also under the newest (scripts/core-matrix.sh)
  bash scripts/core-matrix.sh
}

molecule_all() {
  local rc=0 s
  for s in extensions/molecule/*/; do
    s=$(basename "$s")
    echo "--- molecule scenario $s"
    molecule test -s "$s" || rc=1
  done
  return $rc
}

# `bash scripts/test.sh sanity lint` runs only the named stages (a developer's shortcut; make test runs all)
wanted() { [ ${#ONLY[@]} -eq 0 ] || [[ " ${ONLY[*]} " == *" $1 "* ]]; }
ONLY=("$@")
for s in "${ONLY[@]}"; do
  case $s in pytest|coverage|sanity|units|lint|changelog|docs|galaxy|molecule|matrix) ;; *) echo "unknown stage '$s': use pytest, coverage, sanity, units, lint, changelog, docs, galaxy, molecule or matrix" >&2; exit 2;; esac
done
# Two lanes: the pytest stage (its workers leave part of the cores idle while the labs' operations run) beside the
# other stages, so 2 cores stay busy; TEST_LANES=1 runs everything one after the other. The second lane's
# output goes to build/test-results/lane2.log and is printed when both lanes are done.
lane1() {
  wanted pytest && stage "lab, integration and AWX tests (pytest)" pytest_all
  wanted coverage && stage "option coverage (end-to-end, from the job events)" option_coverage
  return 0
}
lane2() {
  wanted sanity && stage "ansible-test sanity" sanity
  wanted units && stage "ansible-test units" units
  wanted lint && stage "ansible-lint (production profile)" lint
  wanted changelog && stage "antsibull-changelog lint" changelog_lint
  wanted docs && stage "docs (antsibull-docs, Sphinx -W)" docs
  wanted galaxy && stage "galaxy-importer (the built tarball)" galaxy_import
  wanted molecule && stage "molecule (every role)" molecule_all
  wanted matrix && stage "ansible-core matrix (units, sanity, smoke)" core_matrix
  return 0
}
T0=$SECONDS
if [ "${TEST_LANES:-2}" = 1 ]; then
  lane1; lane2
else
  echo "running the pytest stage here and the other stages beside it (their output: $RESULTS/lane2.log, shown at the end)"
  lane2 >"$RESULTS/lane2.log" 2>&1 &
  lane2_pid=$!
  lane1
  wait "$lane2_pid"
  echo; echo "==================== output of the other stages (ran beside pytest) ===================="
  cat "$RESULTS/lane2.log"
fi

echo; echo "==================== summary ===================="
passed=0; failed=0
while read -r rc secs name; do
  if [ "$rc" = 0 ]; then r=PASS; passed=$((passed+1)); else r=FAIL; failed=$((failed+1)); fi
  printf '%-45s %s  %4ss\n' "$name" "$r" "$secs"
done < <(cat "$RESULTS"/[0-9]* 2>/dev/null)
expected=0
for s in pytest coverage sanity units lint changelog docs galaxy molecule matrix; do wanted "$s" && expected=$((expected+1)); done
echo "stages: $passed passed, $failed failed (of $expected); wall time $((SECONDS - T0)) s"
[ "$failed" = 0 ] && [ "$passed" = "$expected" ]
