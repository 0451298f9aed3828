"""``featuredsl diff --data`` (issue 15): what comparing two versions on data costs.

    python benchmarks/diff.py               # 1M rows of the reference workload
    python benchmarks/diff.py --rows 200000
    python benchmarks/run.py diff           # the same, from the benchmark runner

Two artifacts of ``benchmarks/reference.feat``: one fitted on the reference data, the other
with one definition changed and refitted on data of another seed (statistics move, so most
features change values). Timed side by side, interleaved: ``fd.diff(old, new, data=df)`` and
the two ``transform`` calls it cannot avoid. The target is about two transforms (ratio 1.0x
means diff costs exactly the two transforms; the rest is the per-feature comparison).
Timings are never asserted (a shared machine): read the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402

import featuredsl as fd  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    text = (HERE / "reference.feat").read_text(encoding="utf-8")
    df = data_gen.make_frame(args.rows)
    other = data_gen.make_frame(args.rows, seed=data_gen.SEED + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fd.FitTimeWarning)
        old = fd.compile(text).fit(df)
        changed = text.replace("log1p(", "log(", 1)
        if changed == text:
            raise SystemExit("benchmarks/diff.py: expected a log1p( in reference.feat")
        new = fd.compile(changed).fit(other)
    two, whole = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        old.transform(df)
        new.transform(df)
        t1 = time.perf_counter()
        d = fd.diff(old, new, data=df)
        t2 = time.perf_counter()
        two.append(t1 - t0)
        whole.append(t2 - t1)
    ratio = statistics.median(w / t for w, t in zip(whole, two, strict=True))
    kinds = d.summary()
    print(f"diff --data over {args.rows:,} rows, {len(new.features)} features "
          f"({', '.join(f'{n} {k}' for k, n in kinds.items())})")
    print("| measure | featuredsl | two transforms | ratio |")
    print("|---|---|---|---|")
    print(f"| `fd.diff(old, new, data=)` | {statistics.median(whole) * 1e3:,.0f} ms | "
          f"{statistics.median(two) * 1e3:,.0f} ms | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
