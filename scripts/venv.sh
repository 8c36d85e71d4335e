#!/usr/bin/env bash
# Create .venv on Python 3.12+ and install the pinned tool chain (idempotent: re-installs only
# when requirements-dev.txt changed). The default python3 here is 3.11, which current
# ansible-core does not support, so look for 3.12+ in pyenv first, then on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

find_python() {
  local candidate v
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.[0-9]+)?$' | sort -V); do
      candidate="$(pyenv prefix "$v" 2>/dev/null)/bin/python"
      [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
  fi
  for candidate in python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

PY=$(find_python) || { echo "error: Python 3.12 or newer is needed (pyenv install 3.12, or a python3.12 on PATH)" >&2; exit 1; }
echo "==> creating $VENV with $PY ($("$PY" --version))"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "is ignored: it is neither" || true
"$VENV/bin/python" -c "import ansible, ansible_builder, antsibull_docs, sphinx, PIL, starlette, uvicorn, cryptography, yaml, avi.sdk, python_multipart, qemu.qmp" \
  || { echo "error: the tool chain did not install" >&2; exit 1; }
echo "$want" > "$STAMP"
