"""Put the working tree on sys.path as ansible_collections.fleetops.maintenance.

The collection lives at the repository root; Python needs it under
ansible_collections/<namespace>/<name>/. A git-ignored folder holds that one symlink, so tests
import the code being edited, not an installed copy.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BASE = os.path.join(ROOT, ".pytest-collections")
_LINK = os.path.join(_BASE, "ansible_collections", "fleetops", "maintenance")
if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    try:
        os.symlink(ROOT, _LINK)
    except FileExistsError:
        pass
if _BASE not in sys.path:
    sys.path.insert(0, _BASE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # for `import lab`
