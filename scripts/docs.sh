#!/usr/bin/env bash
# `make docs`: the collection's documentation - module, plugin and role docs plus the user guides of
# docs/docsite (extra-docs.yml) - rendered by antsibull-docs into a Sphinx site in build/docs/build/html.
# Any warning fails: antsibull-docs lints the docs and stops on errors, Sphinx runs with -W.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"
DEST="$ROOT/build/docs"
rm -rf "$DEST"
mkdir -p "$DEST"
# the installed copy (make collection) is what antsibull-docs documents, as users get it
antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck \
  "$ROOT/.collections/ansible_collections/fleetops/maintenance"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$DEST" \
  fleetops.maintenance >/dev/null
# No network here (nor in CI): Sphinx must not fetch the Ansible docs' intersphinx inventories. The
# labels antsibull-docs' pages link to on docs.ansible.com are given by a small local inventory.
python - "$DEST/ansible_devel.inv" <<'PY'
import sys, zlib
labels = {  # label: (page, title) on https://docs.ansible.com/ansible/devel/
    "action_plugins": ("plugins/action.html", "Action plugins"),
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
    "playbooks_reuse_roles": ("playbook_guide/playbooks_reuse_roles.html", "Roles"),
    "collections_installing": ("collections_guide/collections_installing.html", "Installing collections"),
}
body = "".join("%s std:label -1 %s#%s %s\n" % (k, page, k.replace("_", "-"), title)
               for k, (page, title) in labels.items())
with open(sys.argv[1], "wb") as out:
    out.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              b"# The remainder of this file is compressed using zlib.\n" + zlib.compress(body.encode()))
PY
cat >> "$DEST/conf.py" <<'PY'

# offline build (scripts/docs.sh): the Ansible labels from a local inventory, nothing fetched
intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/ansible/devel/', '../ansible_devel.inv')}
PY
antsibull-docs collection --use-current --squash-hierarchy --fail-on-error --dest-dir "$DEST/rst" \
  fleetops.maintenance 2>&1 | { grep -v "^$" || true; }
sphinx-build -q -b html -c "$DEST" -W --keep-going "$DEST/rst" "$DEST/build/html"
echo "==> documentation in build/docs/build/html/index.html"
