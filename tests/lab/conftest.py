"""Shared fixtures: every test starts its own lab (free port, tmp state dir, tiny time scale).

The folder has no __init__.py on purpose: a package named tests/lab would shadow the `lab` package.
"""
import pytest

from labkit import Lab


@pytest.fixture
def lab_factory(tmp_path):
    labs = []

    def make(topology="small.yml", time_scale=None, state_dir=None):
        lab = Lab(state_dir or tmp_path / f"state{len(labs)}", topology, time_scale)
        labs.append(lab)
        return lab
    yield make
    for lab in labs:
        lab.stop()


@pytest.fixture
def lab(lab_factory):
    return lab_factory().start()


@pytest.fixture
def api(lab):
    return lab.client()
