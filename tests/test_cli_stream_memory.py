"""``featuredsl transform`` streams: its memory does not follow the size of the input.

At CI scale: the same spec over 1M and 6M rows (~85 MB and ~520 MB in memory).
Each run is the installed command in a fresh process whose peak RSS is read by a parent that
has no other child. An eager ``transform`` holds the input and the output, so its peak grows
by more than the data it adds. The streaming transform's peak levels off once Polars'
streaming buffers are full (measured, 2 threads: 236, 274, 343, 382, 382 MB at 0.5, 1, 2, 4,
8M rows), so from 1M to 6M rows it must grow by less than 35% of what the data adds
(measured: ~25%) and stay below the in-memory size of the 6M rows. benchmarks/README.md has
the 10M and 50M rows numbers. A bad row near the end of the big file is found with its
exact row number and leaves no output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

EXE = Path(sys.executable).parent / "featuredsl"

SPEC = """\
input {
  id: int
  x: float?
  k: int
  s: string
}
let low = lower(s)
feature a = x / k
feature b = length(low)
feature c = contains(low, "refund? 3")
feature d = upper(s)
feature e = if x > 100 then k * 2 else -k
"""

_PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
         "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _write(path: Path, n: int, null_at: int | None = None) -> float:
    """``n`` rows, ~90 bytes a row in memory; returns the frame's in-memory MB."""
    df = pl.LazyFrame().select(pl.int_range(n, dtype=pl.Int64).alias("id")).with_columns(
        x=pl.when(pl.col("id") % 11 == 0).then(None).otherwise(pl.col("id") * 0.37 - 1000),
        k=(pl.col("id") * 7919) % 1000,
        s=pl.format("Row {} of the Stream-Memory test: ÉCOLE Straße {} refund? {}",
                    pl.col("id"), pl.col("id") * 31 % 977, pl.col("id") % 13),
    ).collect()
    if null_at is not None:
        df = df.with_columns(pl.when(pl.col("id") == null_at).then(None).otherwise(pl.col("k"))
                             .alias("k"))
    df.write_parquet(path, row_group_size=50_000)
    return df.estimated_size("mb")


def _peak(*args: str) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", _PEAK, str(EXE), *args], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[-2]), int(out[-1]) / 1024


def test_transform_memory_does_not_follow_the_input(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text(SPEC)
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    mem_small = _write(small, 1_000_000)
    mem_big = _write(big, 6_000_000)
    out = tmp_path / "out.parquet"
    rc, peak_small = _peak("transform", str(spec), "--data", str(small), "-o", str(out), "-q")
    assert rc == 0
    rc, peak_big = _peak("transform", str(spec), "--data", str(big), "-o", str(out), "-q")
    assert rc == 0
    assert pl.scan_parquet(out).select(pl.len()).collect().item() == 6_000_000
    growth = (peak_big - peak_small) / (mem_big - mem_small)
    assert growth < 0.35 and peak_big < mem_big, (peak_small, peak_big, mem_small, mem_big)


def test_bad_row_deep_in_a_big_file(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text(SPEC)
    data = tmp_path / "d.parquet"
    _write(data, 1_000_000, null_at=987_654)
    out = tmp_path / "out.ipc"
    r = subprocess.run([str(EXE), "transform", str(spec), "--data", str(data), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "column `k`, row 987654: null" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet", "s.feat"]


def test_ctrl_c_never_commits_a_truncated_output(tmp_path: Path) -> None:
    """Polars' engine ends a streaming query quietly on SIGINT (even where the signal is
    ignored, as in a script's background job): the batches just stop. The transform must
    exit 130 and leave no output, not write a truncated file and report success."""
    import os
    import signal
    import time

    spec = tmp_path / "s.feat"
    spec.write_text(SPEC)
    data = tmp_path / "d.parquet"
    _write(data, 3_000_000)
    for ignore in (False, True):
        out = tmp_path / "out.parquet"
        proc = subprocess.Popen(
            [str(EXE), "transform", str(spec), "--data", str(data), "-o", str(out)],
            stderr=subprocess.PIPE, text=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore
            else None)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:  # wait for the first batch
            tmp = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            if tmp and os.path.getsize(tmp[0]) > 0:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
        assert proc.returncode == 130, (ignore, proc.returncode, err)
        assert "interrupted" in err and "Traceback" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet", "s.feat"]
