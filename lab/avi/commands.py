"""The Avi plane's own ``python -m lab`` commands (lab.planes.COMMANDS): ``make-image``."""
import json
import os
import sys


def add_commands(subparsers):
    s = subparsers.add_parser("make-image", help="write a lab controller image package (upload it with "
                              "POST /api/image)")
    s.add_argument("--version", required=True, help="e.g. 22.1.7")
    s.add_argument("--build", required=True, type=int, help="build number, e.g. 9300")
    s.add_argument("--min-version", default=None, help="the oldest running version that may upgrade to it")
    s.add_argument("--package", default="controller.pkg", help="controller.pkg (VM) or controller_docker.tgz "
                   "(bare metal)")
    s.add_argument("--out", required=True, help="file to write")
    s.set_defaults(fn=make_image)


def make_image(a):
    """``python -m lab make-image``: an image package for ``POST /api/image`` (lab/AVI.md "Images")."""
    from lab.avi.upgrade.package import PACKAGES, make_image_bytes
    if a.package not in PACKAGES:
        print(f"--package must be one of {', '.join(PACKAGES)}", file=sys.stderr)
        return 2
    data = make_image_bytes(a.version, a.build, a.min_version, a.package)
    with open(a.out, "wb") as fh:
        fh.write(data)
    print(json.dumps({"out": os.path.abspath(a.out), "name": f"controller-{a.version}-{a.build}",
                      "package": a.package, "bytes": len(data)}))
    return 0
