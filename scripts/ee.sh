#!/usr/bin/env bash
# `make ee`: write the execution environment's build context (extensions/ee) into build/ee, from
# the collection tarball `make collection` built. No container engine is needed for this step;
# building the image is `ansible-builder build` (or podman/docker build of build/ee) elsewhere.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
rm -rf build/ee
ansible-builder create -f extensions/ee/execution-environment.yml -c build/ee --output-filename Containerfile >/dev/null
echo "==> build context in build/ee (Containerfile, _build/): build it with"
echo "    podman build -f build/ee/Containerfile -t fleetops-maintenance-ee:0.1.0 build/ee"
