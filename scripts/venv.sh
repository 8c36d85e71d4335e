#!/usr/bin/env bash
# Create .venv on Python 3.12+ and install the pinned tool chain (idempotent: re-installs only
# when requirements-dev.txt changed). The default python3 here is 3.11, which current
# ansible-core does not support, so look for 3.12+ in pyenv first, then on PATH.
#
#   bash scripts/venv.sh [VENV REQUIREMENTS [PYTHON]]
# builds another virtualenv the same way: the ansible-core matrix (scripts/core-matrix.sh) builds one per
# declared ansible-core, from tests/matrix/ansible-core-X.Y.txt on the exact Python minor X.Y that file names.
# The cache key is the requirements file and the Python minor.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
REQUIREMENTS=${2:-requirements-dev.txt}
PYTHON_MINOR=${3:-}   # empty: the lowest 3.12 or newer
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
[ -z "$PYTHON_MINOR" ] || want="$want python$PYTHON_MINOR"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

find_python() {
  local candidate v pattern='^3\.(1[2-9])(\.[0-9]+)?$' names="python3.12 python3.13 python3"
  if [ -n "$PYTHON_MINOR" ]; then
    pattern="^${PYTHON_MINOR//./\\.}(\\.[0-9]+)?\$"; names="python$PYTHON_MINOR"
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E "$pattern" | sort -V); do
      candidate="$(pyenv prefix "$v" 2>/dev/null)/bin/python"
      [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
  fi
  for candidate in $names; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; want = sys.argv[1]
sys.exit(0 if (want and "%d.%d" % sys.version_info[:2] == want) or (not want and sys.version_info >= (3, 12)) else 1)' "$PYTHON_MINOR" 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

PY=$(find_python) || { echo "error: Python ${PYTHON_MINOR:-3.12 or newer} is needed (pyenv install ${PYTHON_MINOR:-3.12}, or a python${PYTHON_MINOR:-3.12} on PATH)" >&2; exit 1; }
echo "==> creating $VENV with $PY ($("$PY" --version)) from $REQUIREMENTS"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" 2>&1 | grep -v "is ignored: it is neither" || true
if [ "$REQUIREMENTS" = requirements-dev.txt ]; then
  "$VENV/bin/python" -c "import ansible, ansible_builder, antsibull_docs, sphinx, PIL, starlette, uvicorn, cryptography, yaml, avi.sdk, python_multipart, qemu.qmp, pytest_timeout" \
    || { echo "error: the tool chain did not install" >&2; exit 1; }
else
  "$VENV/bin/python" -m pip check --disable-pip-version-check >/dev/null \
    || { "$VENV/bin/python" -m pip check; echo "error: $REQUIREMENTS did not install into $VENV" >&2; exit 1; }
fi
echo "$want" > "$STAMP"
