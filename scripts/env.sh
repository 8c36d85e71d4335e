# shellcheck shell=bash
# Sourced by the scripts: the project's venv and collections path, and no host-wide config.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export VIRTUAL_ENV="$ROOT/.venv"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export ANSIBLE_LOCAL_TEMP="$ROOT/.ansible/tmp"
export ANSIBLE_HOME="$ROOT/.ansible"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
