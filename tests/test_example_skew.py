"""examples/skew_demo.py (issue 14) runs end to end: a clean replay of a logged serving run,
join mode attributing an ETL bug to the data, and a patched server and a stale replica caught.
Expected counts are recomputed here from the data, not copied from the demo's output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).parents[1]


def test_skew_demo_runs_and_catches_what_it_injects(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "skew_demo.py"),
                           "--requests", "3000", "--out", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text = done.stdout
    part1, rest = text.split("2. join mode", 1)
    part2, part3 = rest.split("3. two deploy bugs", 1)
    logged = pl.concat([pl.read_parquet(f) for f in (out / "logs").rglob("*.parquet")])
    assert f"skew: ok - {logged.height} logged rows" in part1
    assert "every feature (22) matches on every row" in part1
    # join: the warehouse nulls the country of every 50th transaction (i % 50 == 7)
    txns = [int(t) for t in logged.get_column("ctx.txn")]
    hit = [i for i, t in enumerate(txns) if t % 50 == 7
           and logged.get_column("in.country")[i] is not None]
    assert f"inputs differ on {len(hit)} rows: country {len(hit)}" in part2
    assert f"~ country_filled: {len(hit)} mismatch ({len(hit)} data" in part2
    assert "code: same inputs)" in part2 and not re.search(r"[1-9][0-9]* code: same", part2)
    # the patched server: every logged row whose true clipped amount exceeds 250
    bad = pl.concat([pl.read_parquet(f) for f in (out / "logs_bad").rglob("*.parquet")])
    ours = bad.filter(pl.col("__artifact") == logged.get_column("__artifact")[0])
    stale = bad.height - ours.height
    over = ours.filter(pl.col("in.amount").clip(0, 1000) > 250).height
    assert over > 0 and stale > 0
    assert f"~ amount_clipped   {over} mismatch of {ours.height}" in part3
    assert f"! {stale} rows served by another artifact" in part3
    assert "(exit 1: skew)" in part3
