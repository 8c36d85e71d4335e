"""Put the working tree on sys.path as ansible_collections.fleetops.maintenance.

The collection lives at the repository root; Python needs it under
ansible_collections/<namespace>/<name>/. A git-ignored folder holds that one symlink, so tests
import the code being edited, not an installed copy.
"""
import functools
import os
import re
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


# pytest-xdist: ``make test`` runs the lab and integration tests on several workers. The tests of a file that defines
# a module-scoped fixture (one lab, one uninterrupted baseline run, shared by its tests) go to one worker together, so
# the fixture is built once; every other test goes alone to whichever worker is free. (xdist's own ``loadgroup`` marks
# do not reach its scheduler with pytest 9, whose test ids no longer come from ``Item._nodeid``.)
# (a file whose tests share module state some other way says so with ``ONE_WORKER = True``)
_SHARED_FIXTURE = re.compile(r"@pytest\.fixture\(\s*scope\s*=\s*[\"'](?:module|package|session)[\"']|^ONE_WORKER = True",
                             re.M)


@functools.lru_cache(maxsize=None)
def shares_a_fixture(path):
    """Whether the test file at ``path`` (relative to the repository) defines a fixture wider than one test."""
    try:
        with open(os.path.join(ROOT, path)) as stream:
            return bool(_SHARED_FIXTURE.search(stream.read()))
    except OSError:
        return False


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

    class ByFile(LoadScopeScheduling):
        """A file's tests together where they share a fixture, every other test on its own."""

        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return path if shares_a_fixture(path) else nodeid

    return ByFile(config, log)
