"""Feature logging and `skew` (SPEC 11, Rule #32): log what serving computed, replay it in batch.

    python examples/skew_demo.py [--requests N] [--out DIR]

1. Fit examples/transactions.feat, save the artifact, and serve ``--requests`` requests through
   a row evaluator with a ``fd.FeatureLogger`` (20% sample, a transaction id as caller context).
   Close the log and replay it: ``fd.skew_report`` recomputes every logged row with the batch
   backend and finds no difference.
2. Join mode: the warehouse copy of the same transactions, where an ETL bug dropped the country
   of some rows, compared with the log key by key: each mismatch is attributed to the data.
3. Two deploy bugs the replay catches: a server whose serving code was patched (it clips
   amounts at 250 instead of 1000 before the features are logged and returned) while it still
   names the old artifact, and a stale replica still serving a previous artifact.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import polars as pl

import featuredsl as fd
from featuredsl.backends.row_backend import RowObserver

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import demo  # noqa: E402  (the transactions generator)


def serve(fitted: fd.FittedSpec, requests: list[dict], log: fd.FeatureLogger,
          logger: object | None = None) -> None:
    """What a server does per request: evaluate inside the request's log context."""
    evaluate = fitted.row_evaluator(logger=logger or log)  # type: ignore[arg-type]
    for r in requests:
        with log.context(request_id=f"req-{r['txn']}", txn=r["txn"]):
            evaluate(r)


class PatchedServer:
    """A serving bug: code between the evaluator and the response clips ``amount_clipped`` at
    250 (a "quick fix" deployed without changing the spec), so what is logged and returned is
    not what the artifact computes."""

    def __init__(self, log: fd.FeatureLogger) -> None:
        self.log = log

    def row_observer(self, spec: fd.Spec) -> RowObserver:
        """The logger's hooks, fed the patched features."""
        inner = self.log.row_observer(spec)

        def record(inputs: tuple, out: dict) -> None:
            clipped = out["amount_clipped"]
            patched = dict(out, amount_clipped=None if clipped is None else min(clipped, 250.0))
            inner.record(inputs, patched)

        return RowObserver(inner.sample, record)


def main() -> None:
    """Run the three parts and print the reports."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--out", default="out/skew_demo")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    train = demo.generate(20_000)
    fitted = fd.compile_file(HERE / "transactions.feat").fit(train)
    fitted.save(out / "model.json")
    traffic = demo.generate(args.requests, seed=11).with_row_index("txn")
    requests = traffic.to_dicts()

    print(f"1. serving {len(requests):,} requests with a feature log (20% sample)")
    log = fd.FeatureLogger(out / "logs", sample_rate=0.2, context=["txn"], seed=1)
    serve(fitted, requests, log)
    log.close()
    c = log.counters()
    print(f"   logged {c['logged']:,} rows in {c['files_written']} files, dropped "
          f"{c['dropped']}; under {out / 'logs'}:")
    for f in sorted((out / "logs").rglob("*.parquet"))[:2]:
        print(f"     {f.relative_to(out / 'logs')}")
    report = fd.skew_report(fitted, out / "logs")
    print()
    print(report.to_text(), end="")

    print("\n2. join mode: the warehouse copy of the traffic, an ETL bug nulls 2% of countries")
    broken = pl.Series([i % 50 == 7 for i in range(traffic.height)])
    warehouse = traffic.with_columns(
        pl.when(broken).then(None).otherwise(pl.col("country")).alias("country"))
    warehouse.write_parquet(out / "warehouse.parquet")
    joined = fd.skew_report(fitted, out / "logs", against=out / "warehouse.parquet", key="txn")
    assert joined.join is not None
    print(joined.to_text().split("join on", 1)[1].join(["join on", ""]), end="")

    print("\n3. two deploy bugs in one log directory")
    log = fd.FeatureLogger(out / "logs_bad", sample_rate=0.2, context=["txn"], seed=2)
    serve(fitted, requests[: len(requests) // 2], log, PatchedServer(log))
    stale = fd.compile_file(HERE / "transactions.feat").fit(demo.generate(20_000, seed=99))
    serve(stale, requests[len(requests) // 2:][:1000], log)  # a replica not yet redeployed
    log.close()
    bad = fd.skew_report(fitted, out / "logs_bad")
    print(bad.to_text(), end="")
    print(f"\n   or from the shell: featuredsl skew {out / 'model.json'} --log "
          f"{out / 'logs_bad'}  (exit 1: {bad.status})")


if __name__ == "__main__":
    main()
