"""The user guides run: the commands of every ``console`` block marked ``:class: lab-test`` in docs/docsite/rst are
executed literally, in order, in one shell session per guide (cwd: the repository root, as a reader of the guide
would), against a lab started the way the guide's "Against the lab" block says - with its state dir replaced by a
temporary one, and the operator's files (``/var/tmp/...``) under the test's directory. A command followed by
``# fails`` must fail, and its output must name the guide's next command (the resume command the guide gives); every
other command must succeed; the lines a block shows after a command (its output, ``...`` for lines left out) must be
in what the command prints. So a guide cannot drift from the code.

Guides whose commands are not yet marked are listed in NOT_YET with the reason; the test fails when a guide is in
neither. Every guide must start with the "Against the lab" and "Against your system" blocks, mapping each
connection setting of its vendors one to one (the names ``python -m lab env`` prints)."""
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, ansible_env

sys.path.insert(0, ROOT)
from lab.cli import ENV_SETTINGS  # noqa: E402  (the connection settings python -m lab env prints)

RST = os.path.join(ROOT, "docs", "docsite", "rst")
GUIDES = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(RST, "guide_*.rst")))
NOT_YET = {
    "guide_awx": "its commands need an AWX / Automation Platform controller (apply.yml, launching from the UI); "
                 "tests/awx checks its templates, surveys and workflow against the playbooks, and "
                 "tests/awx/test_launch_like_awx.py launches a template as the controller does (playbook, survey "
                 "answers as extra vars, the credential type's injectors rendered) against the lab",
}
VENDORS = {"guide_evacuate_se": ["avi"], "guide_rolling_upgrade": ["avi"], "guide_migrate_instance": ["triton", "virtfusion"],
           "guide_evacuate_host": ["triton", "virtfusion"], "guide_fleet_maintenance": ["triton"],
           "guide_awx": ["avi", "triton", "virtfusion"],
           "guide_rehearsal": ["avi", "triton", "virtfusion"]}
LAB_STATES = re.compile(r"(?<![\w/.])\.lab/([\w-]+)")  # the state dirs of the guides' "Against the lab" blocks
# the operator's own files in the guides' examples (run records, reports): kept under the test's dir instead
OPERATOR_FILES = re.compile(r"(?<![\w/.])/var/tmp/")


def code_blocks(name):
    """[(classes, [lines])] of the console code blocks of a guide."""
    lines = open(os.path.join(RST, name + ".rst")).read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == ".. code-block:: console":
            classes, i = [], i + 1
            while i < len(lines) and lines[i].strip().startswith(":"):
                if lines[i].strip().startswith(":class:"):
                    classes += lines[i].split(":class:", 1)[1].split()
                i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                body.append(lines[i].strip())
                i += 1
            blocks.append((classes, body))
        else:
            i += 1
    return blocks


def commands_shown(body):
    """[(command, [lines of its output the block shows])] of a block: commands are the lines starting with ``$ ``,
    continuation lines (``\\``) joined; the lines after a command up to the next one are its output as shown (a line
    ``...`` stands for lines left out)."""
    out = []
    for line in body:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out and out[-1][0].endswith("\\") and not out[-1][1]:
            out[-1] = (out[-1][0][:-1] + " " + line, [])
        elif out and line.strip() and line.strip() != "...":
            out[-1][1].append(line.strip())
    return out


def marked_shown(name):
    return [pair for classes, body in code_blocks(name) if "lab-test" in classes for pair in commands_shown(body)]


def marked_commands(name):
    return [cmd for cmd, _shown in marked_shown(name)]


@pytest.mark.parametrize("name", GUIDES)
def test_guide_starts_with_against_the_lab_and_against_your_system(name):
    text = open(os.path.join(RST, name + ".rst")).read()
    connect = text[text.index("\nConnect\n-------\n"):]
    assert text.index("\nConnect\n-------\n") <= min(m.start() for m in re.finditer(r"\n[^\n]+\n-{3,}\n", text))
    assert "**Against the lab**" in connect and "**Against your system**" in connect
    assert "python -m lab env --state-dir" in connect
    for plane in VENDORS[name]:
        for env, var, _what in ENV_SETTINGS[plane]:
            assert "``%s``\n     - ``%s``" % (env, var) in connect, (name, env, var)
    assert bool(marked_commands(name)) != (name in NOT_YET), \
        "%s: mark its runnable commands lab-test, or list it in NOT_YET with the reason" % name


def localize(cmd, state_dir):
    """``cmd`` with each lab state dir (``.lab/NAME``) and the operator's files (``/var/tmp/...``) moved under the
    test's ``state_dir``."""
    cmd = OPERATOR_FILES.sub(lambda m: os.path.join(state_dir, "var-tmp") + "/", cmd)
    return LAB_STATES.sub(lambda m: os.path.join(state_dir, m.group(1)), cmd)


def run_guide(name, state_dir):
    env = ansible_env({k: v for k, v in os.environ.items() if not k.startswith(("AVI_", "TRITON_", "VIRTFUSION_"))})
    os.makedirs(os.path.join(state_dir, "var-tmp"), exist_ok=True)
    env_file = os.path.join(state_dir, "guide-shell.env")
    ran = []
    shown = marked_shown(name)
    cmds = [cmd for cmd, _lines in shown]
    try:
        for i, (cmd, lines) in enumerate(shown):
            literal = localize(cmd, state_dir)
            script = ("[ -f %s ] && . %s\n%s\nrc=$?\nexport -p > %s\nexit $rc\n" % (env_file, env_file, literal, env_file))
            p = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                               check=False)
            out = p.stdout + p.stderr
            ran.append(cmd)
            if re.search(r"#\s*fails\b", cmd):
                assert p.returncode != 0, "%s: expected to fail: %s\n%s" % (name, cmd, out[-3000:])
                resume = cmds[i + 1].split("#")[0].strip()
                assert "  " + localize(resume, state_dir) in out, \
                    "%s: the failure does not name the guide's next command %r\n%s" % (name, resume, out[-3000:])
            else:
                assert p.returncode == 0, "%s: %s\n%s" % (name, cmd, out[-3000:])
            assert "[WARNING]" not in out, "%s: %s warns\n%s" % (name, cmd, out[-3000:])
            for line in lines:   # what the guide shows of the output is there (YAML line wrapping undone)
                assert " ".join(localize(line, state_dir).split()) in " ".join(out.split()), \
                    "%s: %s does not print %r\n%s" % (name, cmd, line, out[-3000:])
    finally:
        for lab_json in glob.glob(os.path.join(state_dir, "*", "lab.json")):
            subprocess.run([sys.executable, "-m", "lab", "stop", "--state-dir", os.path.dirname(lab_json)], cwd=ROOT,
                           capture_output=True, timeout=60, check=False)
    return ran


@pytest.mark.parametrize("name", [g for g in GUIDES if g not in NOT_YET])
def test_guide_commands_run_literally_against_the_lab(name, tmp_path):
    ran = run_guide(name, str(tmp_path / "lab"))
    assert any(c.startswith("python -m lab env") or "lab env" in c for c in ran)
    print("%s: %d commands run" % (name, len(ran)))
