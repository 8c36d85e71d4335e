#!/usr/bin/env bash
# Debian packages the tests need that a fresh machine may lack: shellcheck (the sanity test of
# shell scripts), openssh-server (the lab's VirtFusion control server is a private sshd),
# qemu-system-x86 and qemu-utils (the lab's VirtFusion servers are QEMU guests; qemu-img makes
# their disk images), gcc/binutils (the lab builds its tiny memory-dirtying guest kernel) and chromium
# (the HTML run-record report is rendered in headless Chromium by the tests).
# Installs only what is missing; needs root (or sudo) and the package registry.
set -euo pipefail
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v ld >/dev/null 2>&1 || missing+=(binutils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
