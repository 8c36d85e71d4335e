"""The execution environment: `ansible-builder create` writes a build context with the collection
and the pinned tool chain, and ansible-builder's introspection of the installed collection finds
its Python and system requirements (no container engine here, so no image is built)."""
import ast
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EE_FILE = os.path.join(ROOT, "extensions", "ee", "execution-environment.yml")


def galaxy():
    with open(os.path.join(ROOT, "galaxy.yml")) as stream:
        return yaml.safe_load(stream)


def dev_pins():
    pins = {}
    with open(os.path.join(ROOT, "requirements-dev.txt")) as stream:
        for line in stream:
            match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
            if match:
                pins[match.group(1).lower()] = match.group(2)
    return pins


def requirement_names(path):
    names = set()
    with open(path) as stream:
        for line in stream:
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def run(*cmd, cwd=ROOT):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, " ".join(cmd) + "\n" + proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The build context `ansible-builder create` writes (from a freshly built collection tarball)."""
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", "build", ".")
    ctx = tmp_path_factory.mktemp("ee") / "context"
    run(os.path.join(BIN, "ansible-builder"), "create", "-f", EE_FILE, "-c", str(ctx), "--output-filename",
        "Containerfile")
    return ctx


def test_containerfile_installs_the_pinned_tool_chain_on_python_312(context):
    containerfile = (context / "Containerfile").read_text()
    pins = dev_pins()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M).group(1).split()
    assert sorted(refs) == sorted(["ansible-core==" + pins["ansible-core"], "ansible-runner==" + pins["ansible-runner"]])
    assert re.search(r'^ARG EE_BASE_IMAGE="quay.io/centos/centos:stream10"', containerfile, re.M)
    assert re.search(r'^ARG PYCMD="/usr/bin/python3"', containerfile, re.M)
    # the collection is installed from the tarball copied into the context, and introspected
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile
    assert "install-from-bindep" in containerfile


def test_context_holds_the_collection_with_what_the_ee_needs(context):
    meta = galaxy()
    tarball = "%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"])
    with open(context / "_build" / "requirements.yml") as stream:
        reqs = yaml.safe_load(stream)
    assert reqs == {"collections": [{"name": "/build/collections/" + tarball, "type": "file"}]}
    path = context / "_build" / "collections" / tarball
    assert path.is_file(), "the EE definition's tarball name must follow galaxy.yml's version"
    with tarfile.open(path) as archive:
        names = set(archive.getnames())
    for needed in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt", "meta/runtime.yml",
                   "plugins/modules/se_disable.py", "plugins/module_utils/_triton/client.py",
                   "plugins/action/se_disable.py", "roles/rolling_upgrade/tasks/main.yml", "playbooks/upgrade.yml",
                   "playbooks/vars/avi_connection.yml"):
        assert needed in names, needed + " is not in the collection tarball (galaxy.yml build_ignore?)"
    assert not [n for n in names if n.startswith(("lab/", "tests/", "extensions/", ".venv/"))]


def test_introspection_finds_the_collections_python_and_system_requirements(context, tmp_path):
    tarball = next((context / "_build" / "collections").glob("*.tar.gz"))
    # what the image's galaxy stage does, then what its builder stage does
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(tmp_path / "c"),
        str(tarball))
    run(sys.executable, "-m", "ansible_builder", "introspect", "--sanitize", "--write-pip", str(tmp_path / "pip.txt"),
        "--write-bindep", str(tmp_path / "bindep.txt"), str(tmp_path / "c"))
    pip = (tmp_path / "pip.txt").read_text()
    bindep = (tmp_path / "bindep.txt").read_text()
    # ansible-builder leaves out what ansible-core itself requires (PyYAML, Jinja2, ...): the EE has it anyway
    for name in requirement_names(os.path.join(ROOT, "requirements.txt")) - {"pyyaml", "jinja2", "packaging"}:
        assert re.search(r"^%s\b.*# from collection fleetops.maintenance$" % re.escape(name), pip, re.M | re.I), pip
    assert re.search(r"^ca-certificates .*# from collection fleetops.maintenance$", bindep, re.M), bindep


# import name -> distribution name, for the libraries the plugins may use
DISTRIBUTIONS = {"yaml": "pyyaml", "jmespath": "jmespath", "paramiko": "paramiko", "cryptography": "cryptography",
                 "requests": "requests", "netaddr": "netaddr"}


def third_party_imports():
    found = {}
    for base, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(base, name)
            with open(path) as stream:
                tree = ast.parse(stream.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("ansible", "ansible_collections", "__future__"):
                        continue
                    found.setdefault(top, set()).add(os.path.relpath(path, ROOT))
    return found


def test_every_library_the_plugins_import_is_a_requirement_of_the_collection():
    wanted = requirement_names(os.path.join(ROOT, "requirements.txt"))
    imports = third_party_imports()
    assert "cryptography" in imports, "the Triton client signs with cryptography"
    missing = {top: sorted(paths) for top, paths in imports.items() if DISTRIBUTIONS.get(top, top) not in wanted}
    assert not missing, "imported by the plugins but not in requirements.txt: %s" % missing
