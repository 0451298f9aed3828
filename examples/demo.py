"""The main job, end to end: features from examples/transactions.feat on generated data.

1. compile the spec (all diagnostics at once if it were wrong);
2. fit its statistics (mean, std, vocabulary, deciles) on 200k generated training rows and
   save the artifact, one JSON file;
3. batch: transform the training data with the Polars backend;
4. serving: load the artifact as a server would and evaluate single requests with the row
   evaluator (dict in, dict out);
5. parity: check that both backends give identical values on every row.

Run it with `bash scripts/demo.sh` (sets up .venv) or `python examples/demo.py [--rows N]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import polars as pl

import featuredsl as fd

HERE = Path(__file__).parent
COUNTRIES = ["US", "GB", "FR", "DE", "CA", "MX", "BR", "JP", "IN", "ES"]
CATEGORIES = ["grocery", "pharmacy", "travel", "airline", "hotel", "electronics", "fashion",
              "restaurants", "fuel", "gaming"]
WORDS = ["payment", "order", "REFUND", "card", "online", "store", "café", "Zürich", "refund",
         "monthly", "subscription", "ticket"]


def generate(n: int, seed: int = 7) -> pl.DataFrame:
    """Deterministic synthetic transactions, with nulls, NaN and non-ASCII text."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5, 1.0, n)
    amount[rng.random(n) < 0.05] = np.nan  # missing amounts arrive as NaN: NaN is null
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    ts = [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 366 * 86400, n)]
    country = rng.choice(COUNTRIES, n, p=[0.4] + [0.6 / 9] * 9).astype(object)
    country[rng.random(n) < 0.03] = None
    words = rng.choice(WORDS, (n, 3))
    # descriptions of 1-3 words, 5% with an order reference (a separate generator keeps the
    # other columns, and so the fitted statistics, as they were)
    text_rng = np.random.default_rng(seed + 1)
    n_words = text_rng.integers(1, 4, n)
    order_ref = text_rng.random(n) < 0.05
    order_no = text_rng.integers(100, 100_000, n)
    return pl.DataFrame({
        "user_id": rng.integers(1, 100_000, n),
        "amount": amount,
        "n_items": rng.integers(0, 21, n).astype(np.int32),  # narrow ints are widened
        "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
        "country": pl.Series(country.tolist(), dtype=pl.String),
        "merchant": [f"merchant_{i}" for i in rng.zipf(1.3, n) % 5000],
        "category": rng.choice(CATEGORIES, n),
        "description": [" ".join(w[:k]) + (f" order #{no}" if ref else "")
                        for w, k, ref, no in zip(words, n_words, order_ref, order_no,
                                                 strict=True)],
    })


def main() -> None:
    """Run the demo end to end: compile the spec, generate ``--rows`` rows, fit, save the
    artifact to ``--out``, transform in batch, load it back and serve rows, check parity.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", default="out/transactions.featpack.json",
                        help="where to write the fitted artifact")
    args = parser.parse_args()

    spec = fd.compile_file(HERE / "transactions.feat")
    print(f"compiled {spec.file}: {len(spec.features)} features from {len(spec.inputs)} inputs,"
          f" {len(spec.statistics)} statistics to fit")

    df = generate(args.rows)
    t0 = time.perf_counter()
    fitted = spec.fit(df)
    t1 = time.perf_counter()
    print(f"\nfit on {len(df):,} rows in {(t1 - t0) * 1e3:.0f} ms:")
    for name, value in fitted.stats.items():
        shown = value if not isinstance(value, tuple) or len(value) <= 4 else (
            f"({', '.join(map(repr, value[:4]))}, ... {len(value)} values)")
        print(f"  {name:18} = {shown}")
    for warning in fitted.fit_warnings:
        print(f"  warning: {warning}")
    artifact = Path(args.out)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    fitted.save(artifact)
    print(f"saved {artifact} ({artifact.stat().st_size:,} bytes)")

    t0 = time.perf_counter()
    out = fitted.transform(df, keep=["user_id"])
    t1 = time.perf_counter()
    print(f"\nbatch: {len(out):,} rows in {(t1 - t0) * 1e3:.0f} ms (Polars backend)")
    with pl.Config(tbl_cols=8, tbl_rows=5, fmt_str_lengths=12):
        print(out.head(5))

    server = fd.load(artifact)  # what a serving process does: no pickle, no refit
    evaluate = server.row_evaluator()
    request = {"user_id": 42, "amount": 250.0, "n_items": 0, "ts": "2024-07-06T22:15:00Z",
               "country": "US", "merchant": "merchant_7", "category": "travel",
               "description": "Refund for ticket"}
    print("\nserving one request:")
    for name, value in evaluate(request).items():
        print(f"  {name:16} = {value!r}")

    rows = df.to_dicts()
    n = min(len(rows), 50_000)
    t0 = time.perf_counter()
    served = [evaluate(r) for r in rows[:n]]
    per_row = (time.perf_counter() - t0) / n * 1e6
    print(f"\nrow evaluator: {per_row:.2f} µs per row over {n:,} rows")

    batch_rows = out.head(n).drop("user_id").to_dicts()
    mismatches = sum(1 for a, b in zip(served, batch_rows, strict=True) for f in server.features
                     if a[f] != b[f] and not (a[f] is None and b[f] is None))
    print(f"parity: {n:,} rows x {len(server.features)} features, {mismatches} mismatches "
          "(batch on the fitted spec vs serving from the loaded artifact)")
    if mismatches:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
