"""Grouped statistics (issue 13): what ``spec.fit`` of per-group statistics costs.

    python benchmarks/grouped.py                 # 1M rows, 100k groups
    python benchmarks/grouped.py --rows 200000 --groups 20000
    python benchmarks/run.py grouped             # the same, from the benchmark runner

A spec of three grouped statistics over one string key with ``--groups`` distinct values
(a target mean, a frequency count and a standard deviation) is fitted with ``spec.fit(df)``
and, side by side (interleaved), the same aggregates written by hand as one Polars
``group_by(...).agg(mean, len, std(ddof=0))``. The hand-written version rounds Polars' float
sums; featuredsl's are exact (integer mantissa sums) and order independent, which is what the
ratio pays for. Also the share of groups whose hand-written mean differs from featuredsl's in
the last bits, for information. Timings are never asserted (a shared machine): read the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Sequence

import numpy as np
import polars as pl

import featuredsl as fd

SPEC = """
input { g: string, y: float? }
feature te = mean(y, by=g)
feature freq = count(by=g)
feature sd = std(y, by=g)
"""


def make_frame(rows: int, groups: int, seed: int = 7) -> pl.DataFrame:
    """``rows`` rows: a Zipf-like key over ``groups`` values and a float label with nulls."""
    rng = np.random.default_rng(seed)
    keys = np.minimum(rng.zipf(1.3, rows) - 1, groups - 1)
    keys = np.where(rng.random(rows) < 0.5, rng.integers(0, groups, rows), keys)
    y = rng.lognormal(3.0, 1.0, rows) * np.where(rng.random(rows) < 0.5, 1.0, -1.0)
    y_list: list[float | None] = y.tolist()
    for i in rng.integers(0, rows, rows // 50).tolist():
        y_list[i] = None
    return pl.DataFrame({"g": [f"g{k}" for k in keys.tolist()], "y": y_list},
                        schema={"g": pl.String, "y": pl.Float64})


def hand_written(df: pl.DataFrame) -> pl.DataFrame:
    """The same aggregates as a user writes them in Polars."""
    return df.group_by("g").agg(pl.col("y").mean().alias("te"), pl.len().alias("freq"),
                                pl.col("y").std(ddof=0).alias("sd"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    df = make_frame(args.rows, args.groups)
    spec = fd.compile(SPEC)
    from run import stats_only_fit  # the statistics passes alone (no training profile)

    stats_only = stats_only_fit(spec, df)
    ours, hand, alone = [], [], []
    fitted = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fd.FitTimeWarning)
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fitted = spec.fit(df)
            t1 = time.perf_counter()
            by_hand = hand_written(df)
            t2 = time.perf_counter()
            if stats_only is not None:
                stats_only()
            t3 = time.perf_counter()
            ours.append(t1 - t0)
            hand.append(t2 - t1)
            alone.append(t3 - t2)
    assert fitted is not None
    ratio = statistics.median(a / b for a, b in zip(ours, hand, strict=True))
    table = fitted.stats["mean(y, by=g)"]
    exact = dict(zip((k[0] for k in table.keys), table.values, strict=True))
    differ = sum(1 for g, m in by_hand.select("g", "te").iter_rows()
                 if m is not None and exact.get(g) != m)
    print(f"grouped fit over {args.rows:,} rows, {len(exact):,} groups, 3 statistics")
    print("| measure | featuredsl | hand-written Polars | ratio |")
    print("|---|---|---|---|")
    print(f"| `spec.fit` of mean/count/std `by=` | {statistics.median(ours) * 1e3:,.0f} ms | "
          f"{statistics.median(hand) * 1e3:,.0f} ms | {ratio:.2f}x |")
    if stats_only is not None:
        r2 = statistics.median(a / b for a, b in zip(alone, hand, strict=True))
        print(f"| the statistics passes alone (no training profile) | "
              f"{statistics.median(alone) * 1e3:,.0f} ms | {statistics.median(hand) * 1e3:,.0f}"
              f" ms | {r2:.2f}x |")
    print(f"groups whose hand-written mean is not the exact one: {differ:,} of {len(exact):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
