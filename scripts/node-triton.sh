#!/usr/bin/env bash
# Install the vendor's Triton CLI (`triton` from npm, pinned) project-locally into .node/, for the
# lab test that drives the lab with it. Idempotent; needs node and npm on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=7.17.0
if [ -x .node/node_modules/.bin/triton ] && [ "$(cat .node/.version 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to install the triton CLI" >&2; exit 1; }
echo "==> installing triton@$VERSION (npm) into .node/"
mkdir -p .node
npm install --prefix .node --no-audit --no-fund --loglevel=error "triton@$VERSION" >/dev/null
echo "$VERSION" > .node/.version
