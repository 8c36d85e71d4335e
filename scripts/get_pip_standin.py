"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test sanity bootstraps pip in each fresh virtual environment by running
``get-pip-<version>.py`` from its cache (~/.ansible/test/cache/get_pip_<version>.py), which it
otherwise downloads from the internet. This machine only reaches the package registries, so
``scripts/test.sh`` copies this file into that cache. It does what get-pip does: bootstrap pip
(here from the standard library's bundled wheel, via ensurepip) and install the requested
packages (e.g. ``pip==25.2``) from the package index.
"""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main(argv):
    saved = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    # ensurepip points PIP_CONFIG_FILE at os.devnull; the real install must see the machine's
    # pip configuration (index, certificates).
    os.environ.clear()
    os.environ.update(saved)
    args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main(sys.argv[1:])
