"""examples/fraud_demo.py, the window part of the main job, runs and finds batch == online."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_fraud_demo_runs_and_online_matches_batch() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "fraud_demo.py"),
                           "--events", "4000"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "mismatches against batch: 0" in done.stdout
    assert "state saved" in done.stdout and "count_7d_vs_usual" in done.stdout
