"""Watching production (SPEC 10): a drifted serving sample checked against the training profile.

1. fit examples/transactions.feat on generated training rows (the artifact holds the training
   profile: bins, top values, null rates of every input and feature);
2. make a day of serving traffic where three things broke upstream: a client sends amounts in
   cents (30% of requests), `country` went missing on a quarter of them, and a new category
   appeared;
3. count that traffic into a snapshot with the batch twin ``fd.profile_rows`` (what a
   ``fd.Monitor`` on the row evaluator counts, byte for byte);
4. print the report (``fd.monitor_report``) and write it as one HTML page (``--html``, default
   out/monitor_report.html) and the snapshot as JSON (``--snapshot``) for
   ``featuredsl monitor report``.

Run it with `bash scripts/demo.sh` or `python examples/monitor_demo.py [--rows N]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

import featuredsl as fd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from demo import generate  # noqa: E402  (the main demo's generator: the same training data)


def drifted(n: int, seed: int) -> pl.DataFrame:
    """Serving traffic from the training distribution, then broken in three ways."""
    df = generate(n, seed)
    rng = np.random.default_rng(seed)
    cents = pl.Series(rng.random(n) < 0.30)
    no_country = pl.Series(rng.random(n) < 0.25)
    new_category = pl.Series(rng.random(n) < 0.15)
    return df.with_columns(
        pl.when(cents).then(pl.col("amount") * 100).otherwise(pl.col("amount")).alias("amount"),
        pl.when(no_country).then(None).otherwise(pl.col("country")).alias("country"),
        pl.when(new_category).then(pl.lit("crypto")).otherwise(pl.col("category"))
        .alias("category"))


def main() -> None:
    """Fit, drift, snapshot, report (text on stdout, HTML and the snapshot to files)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="training rows")
    parser.add_argument("--serving", type=int, default=20_000, help="serving rows")
    parser.add_argument("--html", default="out/monitor_report.html")
    parser.add_argument("--snapshot", default="out/monitor_snapshot.json")
    parser.add_argument("--artifact", default="out/monitor_model.json")
    args = parser.parse_args()

    spec = fd.compile_file(HERE / "transactions.feat")
    fitted = spec.fit(generate(args.rows))
    for path in (args.html, args.snapshot, args.artifact):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    fitted.save(args.artifact)
    print(f"fitted {spec.file} on {args.rows:,} rows; artifact {args.artifact} "
          f"({fitted.artifact_hash[:12]})")

    # A healthy day first: the same distribution, other rows.
    healthy = fd.monitor_report(fitted, fd.profile_rows(fitted, generate(args.serving, 99)))
    print(f"healthy traffic ({args.serving:,} rows): status {healthy.status}, "
          f"{len(healthy.alarms)} alarms")

    snap = fd.profile_rows(fitted, drifted(args.serving, 11))
    Path(args.snapshot).write_text(json.dumps(snap, sort_keys=True, ensure_ascii=False),
                                   encoding="utf-8")
    report = fd.monitor_report(fitted, snap)
    print(f"drifted traffic ({args.serving:,} rows), snapshot {args.snapshot}:\n")
    print(report.to_text())
    Path(args.html).write_text(report.to_html(), encoding="utf-8")
    print(f"HTML report written to {args.html} (one self-contained page: open it in a browser)")
    caught = {(f.field, f.check) for f in report.alarms if f.level == "alert"}
    for want in (("inputs.amount", "out_of_range"), ("inputs.country", "null_rate"),
                 ("inputs.category", "oov_rate")):
        print(f"caught {want[0]} {want[1]}: {want in caught}")
    if healthy.alarms or not {("inputs.amount", "out_of_range"), ("inputs.country", "null_rate"),
                              ("inputs.category", "oov_rate")} <= caught:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
