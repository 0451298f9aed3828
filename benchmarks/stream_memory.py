"""Peak memory of ``featuredsl transform`` (file to file, streaming) as the input grows.

    python benchmarks/stream_memory.py                    # 10M and 50M rows
    python benchmarks/stream_memory.py --rows 1000000 4000000

For each size: writes the reference data (``data_gen.py``, generated in 1M-row pieces so the
generator itself stays small) to a Parquet file, fits ``reference.feat`` on the first 100k
rows, then runs the installed ``featuredsl transform ARTIFACT --data IN -o OUT.parquet`` in a
fresh process and reads its peak resident memory (``ru_maxrss`` of the child). For contrast,
the in-memory size of the input (``DataFrame.estimated_size`` of the first million rows,
scaled) is printed next to it. Prints a markdown table. Files go to a temporary directory
(``--dir`` to choose) and are deleted at the end.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402

CHUNK = 1_000_000


def write_input(path: Path, rows: int) -> float:
    """Write ``rows`` reference rows to Parquet in 1M-row pieces; return MB per million rows
    held in memory."""
    per_m = 0.0
    frames = []
    for i, start in enumerate(range(0, rows, CHUNK)):
        df = data_gen.make_frame(min(CHUNK, rows - start), seed=data_gen.SEED + i)
        if i == 0:
            per_m = df.estimated_size("mb") * CHUNK / df.height
        part = path.with_name(f"{path.stem}.part{i:04d}.parquet")
        df.write_parquet(part, row_group_size=100_000)
        frames.append(part)
    pl.scan_parquet(frames).sink_parquet(path, row_group_size=100_000)
    for f in frames:
        f.unlink()
    return per_m


def run_transform(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS MB of the child) of one command in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:  # ru_maxrss of children is a max over all of them: run sizes ascending
        print(f"  (peak not above an earlier child's: {peak / 1024:.0f} MB is an upper bound)")
    return secs, peak / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    ap.add_argument("--dir", type=Path, help="where to write the data (default: a temp dir)")
    ap.add_argument("--spec", type=Path, default=HERE / "reference.feat")
    args = ap.parse_args()
    exe = shutil.which("featuredsl", path=str(Path(sys.executable).parent)) or "featuredsl"
    work = Path(tempfile.mkdtemp(prefix="fd-mem-", dir=args.dir))
    results = []
    try:
        artifact = work / "model.json"
        for rows in sorted(args.rows):
            src = work / f"in_{rows}.parquet"
            t = time.perf_counter()
            per_m = write_input(src, rows)
            gen = time.perf_counter() - t
            if not artifact.exists():
                subprocess.run([exe, "fit", str(args.spec), "--data", str(src), "-o",
                                str(artifact), "-q"], check=True)
            out = work / "out.parquet"
            secs, peak = run_transform([exe, "transform", str(artifact), "--data", str(src),
                                        "-o", str(out), "-q"])
            size = src.stat().st_size / 2**20
            results.append((rows, size, per_m * rows / CHUNK, secs, peak))
            print(f"{rows:,} rows: input {size:.0f} MB on disk (generated in {gen:.0f} s), "
                  f"transform {secs:.1f} s, peak RSS {peak:.0f} MB", flush=True)
            src.unlink()
            out.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| rows | input Parquet | input in memory | transform | peak RSS |")
    print("|---:|---:|---:|---:|---:|")
    for rows, size, mem, secs, peak in results:
        print(f"| {rows:,} | {size:,.0f} MB | {mem:,.0f} MB | {secs:.1f} s | {peak:,.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
