"""examples/flights_demo.py (issue 13's departure-delay model) runs end to end: out-of-fold
target encodings in a scikit-learn pipeline, and single requests equal to batch bit for bit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_flights_demo_runs_and_serving_matches_batch() -> None:
    pytest.importorskip("sklearn")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "flights_demo.py"),
                           "--flights", "30000", "--requests", "300"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "300 of 300 vectors equal the batch matrix rows bit for bit" in done.stdout
    assert "predictions from single requests equal batch: True" in done.stdout
    assert "dep_delay" not in done.stdout.split("serving needs only")[1].split("\n")[0]
    aucs = dict(re.findall(r"\| (out-of-fold|in-fold \(leaky\)) \| ([0-9.]+) \|", done.stdout))
    assert set(aucs) == {"out-of-fold", "in-fold (leaky)"}
    # the leak: the in-fold encoding looks better on the rows it was fitted on
    assert float(aucs["in-fold (leaky)"]) > float(aucs["out-of-fold"])
