#!/usr/bin/env bash
# Galaxy's own importer (galaxy-importer, from PyPI) on the built tarball, configured by
# tests/galaxy/galaxy-importer.cfg: it checks the metadata, every role's README, the changelog, loads every
# plugin's documentation with ansible-doc and lints with ansible-lint. Fails when the import fails or the
# importer reports any warning or error. Needs `make collection` (build/fleetops-maintenance-*.tar.gz).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
VENV="$ROOT/build/venvs/galaxy-importer"
REQUIREMENTS=tests/galaxy/requirements.txt
bash scripts/venv.sh "$VENV" "$REQUIREMENTS" "$(sed -n 's/^# python: //p' "$REQUIREMENTS")"

shopt -s nullglob
tarballs=(build/fleetops-maintenance-*.tar.gz)
[ ${#tarballs[@]} = 1 ] || { echo "error: expected one built tarball in build/ (make collection), found ${#tarballs[@]}" >&2; exit 1; }
tarball="$ROOT/${tarballs[0]}"
WORK="$ROOT/build/galaxy-import"
rm -rf "$WORK"; mkdir -p "$WORK/tmp"
log="$WORK/importer.log"

# As on Galaxy: none of the project's Ansible settings, only the importer's venv (its ansible-doc, ansible-lint)
rc=0
(
  cd "$WORK"
  env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_HOME -u ANSIBLE_LOCAL_TEMP -u PYTHONPATH \
    PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" VIRTUAL_ENV="$VENV" HOME="$HOME" \
    GALAXY_IMPORTER_CONFIG="$ROOT/tests/galaxy/galaxy-importer.cfg" \
    GALAXY_IMPORTER_TMP_ROOT_DIR="$WORK/tmp" GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP="$WORK/tmp/ansible" \
    "$VENV/bin/python" -m galaxy_importer.main "$tarball"
) >"$log" 2>&1 || rc=$?
# The importer's log: INFO lines plain, the rest "LEVEL: message" (its CustomFormatter); lint findings are
# warnings. The last lines show how it ended; every warning or error is shown in full.
tail -n 4 "$log"
problems=$(grep -E '^(WARNING|ERROR|CRITICAL|Traceback)' "$log" || true)
if [ -n "$problems" ]; then
  echo "galaxy-importer reported $(printf '%s\n' "$problems" | wc -l) warning(s)/error(s) (full log: $log):"
  printf '%s\n' "$problems"
  exit 1
fi
if [ "$rc" != 0 ] || ! grep -qx "Importer processing completed successfully" "$log"; then
  echo "galaxy-importer failed (exit $rc; full log: $log)"
  exit 1
fi
echo "==> galaxy-importer: $(grep -c '^Loading ' "$log") contents loaded, no warning, no error ($(basename "$tarball"))"
