"""Peak memory of ``featuredsl transform`` (file to file, streaming) as the input grows.

    python benchmarks/stream_memory.py                    # 10M and 50M rows
    python benchmarks/stream_memory.py --rows 1000000 4000000

For each size, the reference data (``data_gen.py``, generated in 1M-row pieces so the
generator itself stays small) is written to a Parquet file, and the installed
``featuredsl transform ARTIFACT --data IN -o OUT.parquet`` runs in a fresh process whose peak
resident memory (``ru_maxrss``) is read. Each spec is fitted once, on 100k rows. Two specs by
default: ``reference.feat`` and ``reference_streaming.feat`` (the same without ``index_of``,
whose Polars lowering used to be ``replace_strict``, run on Polars' in-memory fallback in
polars 2.1; now an element-wise ``Enum`` cast, so both stay flat).
For contrast, the in-memory size of the input (``DataFrame.estimated_size`` of the first
million rows, scaled) is printed next to it. Prints a markdown table. Files go to a temporary
directory (``--dir`` to choose) and are deleted at the end.
"""

from __future__ import annotations

import argparse
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


#: Runs a command in a fresh parent whose only child it is, so ``RUSAGE_CHILDREN`` is that
#: command's own peak (the benchmark process has other children: the fit).
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one command in a fresh process."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _PEAK, *cmd], check=True, capture_output=True,
                         text=True).stdout
    return time.perf_counter() - t, int(out.split()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    ap.add_argument("--dir", type=Path, help="where to write the data (default: a temp dir)")
    ap.add_argument("--spec", type=Path, nargs="+",
                    default=[HERE / "reference.feat", HERE / "reference_streaming.feat"])
    args = ap.parse_args(argv)
    exe = shutil.which("featuredsl", path=str(Path(sys.executable).parent)) or "featuredsl"
    work = Path(tempfile.mkdtemp(prefix="fd-mem-", dir=args.dir))
    results = []
    try:
        train = work / "train.parquet"
        data_gen.make_frame(100_000).write_parquet(train)
        models = {}
        for spec in args.spec:
            models[spec] = work / f"{spec.stem}.json"
            subprocess.run([exe, "fit", str(spec), "--data", str(train), "-o",
                            str(models[spec]), "-q"], check=True)
        for rows in sorted(args.rows):
            src = work / f"in_{rows}.parquet"
            t = time.perf_counter()
            per_m = write_input(src, rows)
            gen = time.perf_counter() - t
            size = src.stat().st_size / 2**20
            for spec, model in models.items():
                out = work / "out.parquet"
                secs, peak = run_measured([exe, "transform", str(model), "--data", str(src),
                                           "-o", str(out), "-q"])
                results.append((spec.name, rows, size, per_m * rows / CHUNK, secs, peak))
                print(f"{spec.name} {rows:,} rows: input {size:.0f} MB on disk (generated in "
                      f"{gen:.0f} s), transform {secs:.1f} s, peak RSS {peak:.0f} MB",
                      flush=True)
                out.unlink()
            src.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| spec | rows | input Parquet | input in memory | transform | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows, size, mem, secs, peak in results:
        print(f"| {name} | {rows:,} | {size:,.0f} MB | {mem:,.0f} MB | {secs:.1f} s "
              f"| {peak:,.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
