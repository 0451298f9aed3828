"""Window features end to end: examples/fraud.feat over a generated card transaction log.

1. training, point in time: fit the spec on the transactions (each row sees only the events
   before it) and transform a label spine, in batch;
2. serving: replay the log through live state in time order, scoring each transaction just
   before it is ingested, as a fraud service would, and check every value equals batch, bit
   for bit;
3. a warm restart: save the state to a file, restore it, and serve one request.

Run it with `bash scripts/demo.sh` or `python examples/fraud_demo.py [--events N]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

import featuredsl as fd

HERE = Path(__file__).parent
COUNTRIES = ["US", "US", "US", "GB", "FR", "MX", None]


def generate(n: int, users: int = 2_000, seed: int = 11) -> pl.DataFrame:
    """A deterministic transaction log over 60 days: bursts, ties, nulls, non-ASCII text."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, users)  # some users far busier than others
    start = dt.datetime(2024, 3, 1)
    seconds = np.sort(rng.integers(0, 60 * 86_400, n))
    seconds[rng.random(n) < 0.02] -= 1  # a few simultaneous events and near-ties
    amount = np.round(rng.lognormal(3.0, 1.2, n), 2)
    amount[rng.random(n) < 0.03] = np.nan  # NaN is null
    return pl.DataFrame({
        "user_id": rng.choice(users, n, p=activity / activity.sum()),
        "ts": pl.Series([start + dt.timedelta(seconds=int(s)) for s in seconds],
                        dtype=pl.Datetime("us")),
        "amount": amount,
        "merchant": [f"merchant_{m}" if m % 7 else f"café_{m}" for m in rng.integers(0, 300, n)],
        "country": rng.choice(np.array(COUNTRIES, dtype=object), n).tolist(),
    }, schema_overrides={"country": pl.String})


def same(a: object, b: object) -> bool:
    """Equal values; floats by their bits (NaN never occurs: featuredsl gives null)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    spec = fd.compile_file(HERE / "fraud.feat")
    log = generate(args.events)
    print(f"fraud.feat: {len(spec.features)} features over {log.height:,} transactions of "
          f"{log['user_id'].n_unique():,} users")

    # 1. training: the rows are the transactions themselves; each sees only earlier events
    t0 = time.perf_counter()
    fitted = spec.fit(log, sources={"txns": log})
    train = fitted.transform(log, keep=["user_id", "ts"], sources={"txns": log})
    took = time.perf_counter() - t0
    print(f"\nbatch (fit + transform, point in time): {took:.2f} s; "
          f"mean_count_7d = {fitted.stats['mean_count_7d']:.3f}")
    with pl.Config(tbl_cols=8, tbl_width_chars=120):
        print(train.filter(pl.col("user_id") == 1).select(
            "ts", "txn_count_1h", "txn_count_7d", "amount_sum_24h", "amount_vs_mean",
            "merchants_7d", "secs_since_last").head(6))

    # 2. serving: replay in time order; score each transaction, then ingest it
    state = fitted.online_state()
    evaluate = fitted.row_evaluator(state=state)
    order = log.with_row_index("i").sort("ts", maintain_order=True)
    rows = order.to_dicts()
    want = train.drop("user_id", "ts").to_dicts()
    mismatches, lat = 0, []
    for r in rows:
        i = r.pop("i")
        s = time.perf_counter_ns()
        got = evaluate(r)
        lat.append(time.perf_counter_ns() - s)
        state.ingest("txns", r)
        mismatches += sum(not same(got[f], want[i][f]) for f in want[i])
    lat.sort()
    print(f"\nonline replay: {len(rows):,} transactions scored from live state, then ingested; "
          f"p50 {lat[len(lat) // 2] / 1000:.1f} µs, p99 {lat[len(lat) * 99 // 100] / 1000:.1f} "
          f"µs per row; mismatches against batch: {mismatches}")
    assert mismatches == 0, "online and batch disagree"

    # 3. a warm restart: save, restore, serve a request
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        state.save(path)
        size = path.stat().st_size
        restored = fitted.online_state(restore=path)
    request = {"user_id": 1, "ts": dt.datetime(2024, 4, 30, 12), "amount": 950.0,
               "country": "MX"}
    served = fitted.row_evaluator(state=restored)(request)
    print(f"\nstate saved ({size / 1e6:.1f} MB) and restored; a request: {request}")
    width = max(map(len, served))
    for name, value in served.items():
        print(f"  {name:<{width}} = {value}")
    assert served == evaluate(request)


if __name__ == "__main__":
    main()
