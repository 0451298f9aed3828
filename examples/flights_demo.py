"""A departure-delay model end to end: examples/flights.feat on generated nycflights13-shaped data.

1. training: out-of-fold target encodings (each training row's grouped statistics come from
   the other folds, so no row sees its own label) through ``featuredsl.sklearn``'s
   ``FeatureTransformer`` in a scikit-learn ``Pipeline`` with a gradient-boosted classifier of
   "delayed more than 15 minutes";
2. the leak it avoids: the same pipeline with in-fold encodings scores better on its own
   training rows and worse on the held-out months;
3. serving: the fitted spec's row evaluator in the vector layout feeds the model one request at
   a time (no label, no DataFrame) and gives, bit for bit, the batch matrix's rows and the
   batch predictions.

Run it with `bash scripts/demo.sh` or `python examples/flights_demo.py [--flights N]`. The data
are generated (seeded), not downloaded: 16 carriers, 3 New York origins, 100 destinations,
delays driven by carrier, flight number, route, hour and season plus noise, 2.5% cancelled
(null delay).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

import featuredsl as fd

HERE = Path(__file__).parent
CARRIERS = ["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9",
            "YV", "HA", "OO"]
ORIGINS = ["EWR", "JFK", "LGA"]


def generate(n: int, seed: int = 13) -> pl.DataFrame:
    """``n`` flights over 2013 with a delay that depends on carrier, route, hour and season."""
    rng = np.random.default_rng(seed)
    dests = [f"D{i:02d}" for i in range(100)]
    carrier_effect = rng.normal(0.0, 6.0, len(CARRIERS))
    dest_effect = rng.normal(0.0, 5.0, len(dests))
    dest_weight = rng.permutation(1.0 / np.arange(1, len(dests) + 1))  # a few busy airports
    carrier = rng.integers(0, len(CARRIERS), n)
    flight = rng.integers(1, 1500, n)  # a flight number: ~24,000 small groups with carrier
    flight_effect = rng.normal(0.0, 9.0, (len(CARRIERS), 1500))
    origin = rng.integers(0, len(ORIGINS), n)
    dest = rng.choice(len(dests), n, p=dest_weight / dest_weight.sum())
    day_of_year = rng.integers(0, 365, n)
    dates = np.datetime64("2013-01-01") + day_of_year.astype("timedelta64[D]")
    months = dates.astype("datetime64[M]").astype(int) % 12 + 1
    days = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    hour = rng.choice(np.arange(5, 24), n, p=np.r_[np.full(14, 1.2), np.full(5, 0.6)] / 19.8)
    minute = rng.integers(0, 12, n) * 5
    season = 6.0 * np.cos(2 * np.pi * (months - 7) / 12)  # summer storms
    mean_delay = (carrier_effect[carrier] + dest_effect[dest] + 0.9 * (hour - 5) + season
                  + flight_effect[carrier, flight])
    delay = np.round(mean_delay + rng.gamma(1.3, 14.0, n) - 18.0)
    delay_list: list[float | None] = delay.tolist()
    for i in np.flatnonzero(rng.random(n) < 0.025).tolist():
        delay_list[i] = None
    distance = np.round(rng.uniform(80, 2600, len(dests)))[dest]
    return pl.DataFrame({
        "year": np.full(n, 2013), "month": months, "day": days,
        "sched_dep_time": hour * 100 + minute,
        "carrier": [CARRIERS[i] for i in carrier.tolist()], "flight": flight,
        "origin": [ORIGINS[i] for i in origin.tolist()],
        "dest": [dests[i] for i in dest.tolist()],
        "distance": distance, "dep_delay": delay_list,
    }, schema={"year": pl.Int64, "month": pl.Int64, "day": pl.Int64,
               "sched_dep_time": pl.Int64, "carrier": pl.String, "flight": pl.Int64,
               "origin": pl.String,
               "dest": pl.String, "distance": pl.Float64, "dep_delay": pl.Float64})


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged), so the demo needs nothing beyond the pipeline."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    pos = y.sum()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos)))


def main(argv: list[str] | None = None) -> int:
    """Run the three steps and print what they show."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline

    from featuredsl.sklearn import FeatureTransformer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flights", type=int, default=120_000)
    ap.add_argument("--requests", type=int, default=2_000)
    args = ap.parse_args(argv)
    spec_text = (HERE / "flights.feat").read_text(encoding="utf-8")
    flights = generate(args.flights).filter(pl.col("dep_delay").is_not_null())
    train = flights.filter(pl.col("month") <= 10)
    test = flights.filter(pl.col("month") > 10)
    y_train = (train["dep_delay"] > 15).to_numpy()
    y_test = (test["dep_delay"] > 15).to_numpy()
    print(f"{flights.height:,} flights: {train.height:,} to train (Jan-Oct), "
          f"{test.height:,} held out (Nov-Dec); {y_train.mean():.1%} delayed > 15 min")

    # 1-2. the pipeline, with out-of-fold encodings and with in-fold (leaky) ones
    scores = {}
    models = {}
    for label, folds in (("out-of-fold", 5), ("in-fold (leaky)", None)):
        model = make_pipeline(FeatureTransformer(spec_text, folds=folds, seed=0),
                              HistGradientBoostingClassifier(max_iter=60, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fd.FitTimeWarning)
            model.fit(train, y_train)
        in_sample = auc(y_train, model.predict_proba(train)[:, 1])
        held_out = auc(y_test, model.predict_proba(test)[:, 1])
        scores[label] = (in_sample, held_out)
        models[label] = model
    print("\n| target encodings | AUC on the training rows | AUC on the held-out months |")
    print("|---|---:|---:|")
    for label, (a, b) in scores.items():
        print(f"| {label} | {a:.4f} | {b:.4f} |")

    # 3. serving one request at a time from the fitted spec, checked against batch
    model = models["out-of-fold"]
    transformer, classifier = model[0], model[-1]
    fitted: fd.FittedSpec = transformer.spec_
    names = fitted.feature_names_out()
    print(f"\n{len(names)} model columns: {', '.join(names)}")
    print(f"serving needs only {sorted(fitted.serving_inputs)} (not the label)")
    requests = test.head(args.requests).drop("dep_delay")
    batch = fitted.to_matrix(requests)
    vector = fitted.row_evaluator(layout="vector")
    rows = requests.to_dicts()
    t0 = time.perf_counter()
    vectors = [vector(r) for r in rows]
    per_row = (time.perf_counter() - t0) / len(rows) * 1e6
    same = sum(1 for v, b in zip(vectors, batch, strict=True)
               if all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in zip(v, b,
                                                                                 strict=True)))
    one_by_one = np.array([classifier.predict_proba(v.reshape(1, -1))[0, 1]
                           for v in vectors[:200]])
    at_once = classifier.predict_proba(batch[:200])[:, 1]
    print(f"row evaluator (vector layout): {per_row:.1f} µs a request; "
          f"{same:,} of {len(rows):,} vectors equal the batch matrix rows bit for bit; "
          f"predictions from single requests equal batch: {bool((one_by_one == at_once).all())}")
    example = rows[0]
    print(f"\nrequest {example}\n -> {dict(zip(names, vectors[0].tolist(), strict=True))}")
    return 0 if same == len(rows) and (one_by_one == at_once).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
