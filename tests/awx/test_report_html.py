"""The HTML run-record report, rendered by headless Chromium (Debian's `chromium`): after load the
page holds one row per step and one bar per phase where the record says, and the screenshot shows
the bars - one band of colour per row, the disruptive phase in red, groups side by side in time
and the steps of a group one after another."""
import datetime
import re
import shutil
import subprocess

import pytest
from PIL import Image

from ansible_collections.fleetops.maintenance.plugins.filter.run_record_html import run_record_html
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record import FORMAT
from ansible_collections.fleetops.maintenance.plugins.plugin_utils.run_record_html import DISRUPTIVE, PALETTE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
T0 = datetime.datetime(2026, 3, 1, 2, 0, 0)


def at(seconds):
    return (T0 + datetime.timedelta(seconds=seconds)).isoformat()


def se_step(name, group, start, disruptive=False, result="upgraded"):
    names = ["placement off", "upgrade", "health check", "placement on"]
    lengths = [20, 120, 10, 15]
    phases, t = [], start
    for phase, length in zip(names, lengths):
        phases.append({"name": phase, "start": at(t), "end": at(t + length),
                       "disruptive": disruptive and phase == "upgrade"})
        t += length
    return {"target": name, "target_type": "service_engine", "group": group, "start": at(start), "end": at(t),
            "result": result, "phases": phases, "message": "",
            "disruption": {"expected": disruptive, "virtual_services": ["vs-1"] if disruptive else [], "seconds": None}}


def upgrade_record():
    steps = [{"target": "controller cluster", "target_type": "controller_cluster", "group": "controllers",
              "start": at(0), "end": at(300), "result": "upgraded", "message": "",
              "phases": [{"name": "upgrade", "start": at(0), "end": at(300), "disruptive": False}],
              "disruption": {"expected": False, "virtual_services": [], "seconds": None}}]
    for index, group in enumerate(["sg-a", "sg-b", "sg-c"]):
        offset = 300 + 5 * index
        steps.append(se_step(group + "-se-1", group, offset, disruptive=group == "sg-c"))
        steps.append(se_step(group + "-se-2", group, offset + 170))
    steps.append({"target": "sg-c-se-3", "target_type": "service_engine", "group": "sg-c", "start": None,
                  "end": None, "result": "skipped", "phases": [], "message": "not started: 1 failure(s)",
                  "disruption": {"expected": False, "virtual_services": [], "seconds": None}})
    return {"format": FORMAT, "kind": "rolling_upgrade", "title": "Upgrade to 22.1.7 (strategy per_se)",
            "started": at(0), "ended": at(650), "duration_seconds": 650, "check_mode": False, "result": "ok",
            "failures": 0, "details": {"version": "22.1.7"}, "steps": steps,
            "disruption": {"measured": True, "unit": "VS-seconds", "total": 12.5, "by_target": {"vs-1": 12.5}}}


def chromium(tmp_path, *args):
    assert CHROMIUM, "Debian's chromium is needed (scripts/system-packages.sh installs it)"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=%s" % (tmp_path / "profile")]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "upgrade.html"
    path.write_text(run_record_html(upgrade_record()))
    dom = chromium(tmp, "--dump-dom", path.as_uri())
    chromium(tmp, "--window-size=1200,700", "--screenshot=%s" % (tmp / "shot.png"), path.as_uri())
    return dom, Image.open(tmp / "shot.png").convert("RGB")


def attrs(tag):
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def test_dom_after_load_has_a_row_per_step_and_a_bar_per_phase(page):
    dom, _image = page
    rows = [attrs(t) for t in re.findall(r'<g class="row"[^>]*>', dom)]
    assert [(r["data-group"], r["data-target"]) for r in rows] == [
        ("controllers", "controller cluster"), ("sg-a", "sg-a-se-1"), ("sg-a", "sg-a-se-2"),
        ("sg-b", "sg-b-se-1"), ("sg-b", "sg-b-se-2"), ("sg-c", "sg-c-se-1"), ("sg-c", "sg-c-se-2"),
        ("sg-c", "sg-c-se-3")]
    bars = [attrs(t) for t in re.findall(r'<rect class="bar[^>]*>', dom)]
    assert len(bars) == 1 + 6 * 4
    assert [(b["data-target"], b["data-phase"]) for b in bars if "disruptive" in b["class"]] == [
        ("sg-c-se-1", "upgrade")]
    assert len(re.findall(r'<path class="disruption" data-target="sg-c-se-1"', dom)) == 1
    assert "not started: 1 failure(s)" in dom and 'id="result">ok<' in dom

    def extent(target):
        mine = [b for b in bars if b["data-target"] == target]
        return min(float(b["x"]) for b in mine), max(float(b["x"]) + float(b["width"]) for b in mine)
    # serial within a group: the second SE starts after the first ends; parallel across groups: they overlap
    for group in ("sg-a", "sg-b", "sg-c"):
        assert extent(group + "-se-1")[1] <= extent(group + "-se-2")[0]
    firsts = [extent(g + "-se-1") for g in ("sg-a", "sg-b", "sg-c")]
    starts, ends = [first[0] for first in firsts], [first[1] for first in firsts]
    assert max(starts) < min(ends)
    assert extent("controller cluster")[1] <= min(starts)


def colour(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def bands(image, rgb):
    """Runs of consecutive screen lines (y) that hold at least 20 pixels of this colour."""
    width, height = image.size
    pixels = image.load()
    lines = [y for y in range(height) if sum(1 for x in range(0, width) if pixels[x, y] == rgb) >= 20]
    runs = []
    for y in lines:
        if runs and y == runs[-1][1] + 1:
            runs[-1][1] = y
        else:
            runs.append([y, y])
    return runs


def test_screenshot_shows_the_bars_row_by_row(page):
    _dom, image = page
    # phase colours in order of first appearance: upgrade (controllers), placement off, health check, placement on
    upgrade, placement_off = colour(PALETTE[0]), colour(PALETTE[1])
    # legend swatch + 6 SE rows for "placement off" ...
    assert len(bands(image, placement_off)) >= 6
    # ... "upgrade": controllers + 5 SE rows (the sixth SE's upgrade is the disruptive red one)
    upgrade_rows = [b for b in bands(image, upgrade) if b[1] - b[0] >= 8]   # bars are 14 px high, legend 10
    assert len(upgrade_rows) == 6, upgrade_rows
    red_rows = [b for b in bands(image, colour(DISRUPTIVE)) if b[1] - b[0] >= 8]
    assert len(red_rows) == 1, red_rows
    # the red bar is on the row of sg-c-se-1: below sg-b's rows, above sg-c-se-2's
    assert upgrade_rows[4][1] < red_rows[0][0] < upgrade_rows[5][0]
