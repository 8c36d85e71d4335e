#!/usr/bin/env bash
# Build the collection tarball and install it into the project-local collections path
# (.collections), the way a user installs it from Galaxy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p build
rm -f build/fleetops-maintenance-*.tar.gz
ansible-galaxy collection build --force --output-path build . >/dev/null
ansible-galaxy collection install --force -p .collections build/fleetops-maintenance-*.tar.gz >/dev/null
echo "==> installed $(ls build/fleetops-maintenance-*.tar.gz) into .collections"
