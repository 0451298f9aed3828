"""examples/monitor_demo.py, the monitoring step of the main job: a healthy day has no alarm,
the drifted day's broken amount, country and category are caught, the HTML page is written."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import featuredsl as fd

ROOT = Path(__file__).parents[1]


def test_monitor_demo_catches_the_drifts(tmp_path: Path) -> None:
    if not hasattr(fd, "profile_rows"):
        pytest.skip("fd.profile_rows (the monitor's batch twin) is not in this build yet")
    html, snap, model = tmp_path / "r.html", tmp_path / "s.json", tmp_path / "m.json"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "monitor_demo.py"),
                           "--rows", "20000", "--serving", "5000", "--html", str(html),
                           "--snapshot", str(snap), "--artifact", str(model)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    assert "healthy traffic (5,000 rows): status ok, 0 alarms" in out
    for line in ("caught inputs.amount out_of_range: True",
                 "caught inputs.country null_rate: True",
                 "caught inputs.category oov_rate: True"):
        assert line in out
    assert '"crypto"' in out  # the new category is named
    report = fd.monitor_report(fd.load(model), json.loads(snap.read_text(encoding="utf-8")))
    assert report.to_text() in out
    page = html.read_text(encoding="utf-8")
    assert page == report.to_html()
    HTMLParser().feed(page)
    assert page.count("<svg") == len(report.fields)
