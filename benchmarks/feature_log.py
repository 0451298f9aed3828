"""Feature logging and ``skew`` (issue 14): what logging costs a served row, what replay costs.

    python benchmarks/feature_log.py                 # 50k rows, 7 interleaved repeats
    python benchmarks/feature_log.py --rows 5000 --repeat 1 --skew-rows 5000   # smoke
    python benchmarks/run.py log                     # the same, from the benchmark runner

Row side: the reference workload's row evaluator plain, with ``fd.FeatureLogger`` at a 1%
Bernoulli sample, 1% ``sample_by="merchant"`` (the key hash runs on every row) and 100%, over
the same list of dicts, interleaved (plain, 1%, ..., plain, 1%, ...): median µs per row and
the ratio to plain (median of the per-repeat ratios). Each logger's writer is flushed between
timed loops (untimed), so a loop measures the request path plus whatever the writer thread
takes of the GIL meanwhile. Also the sampling hook alone, ns per call.

Skew side: ``fd.skew_report`` over a log of ``--skew-rows`` rows, rows per second, next to
``fitted.transform`` of the same rows (the replay's floor). Timings are never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import timeit
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402

import featuredsl as fd  # noqa: E402


def _loop(fn: Callable[[dict], object], rows: Sequence[dict]) -> float:
    t = time.perf_counter()
    for r in rows:
        fn(r)
    return (time.perf_counter() - t) / len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both sides and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=50_000, help="served rows per timed loop")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--skew-rows", type=int, default=500_000)
    args = ap.parse_args(argv)
    text = (HERE / "reference.feat").read_text(encoding="utf-8")
    df = data_gen.make_frame(max(args.rows, args.skew_rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fd.FitTimeWarning)
        fitted = fd.compile(text).fit(df)
    rows = data_gen.rows_for_serving(df.head(args.rows))
    tmp = Path(tempfile.mkdtemp(prefix="fd-log-bench-"))
    try:
        logs = {
            "logger 1%": fd.FeatureLogger(tmp / "b1", sample_rate=0.01, seed=1),
            "logger 1% sample_by": fd.FeatureLogger(tmp / "k1", sample_rate=0.01,
                                                    sample_by="merchant"),
            "logger 100%": fd.FeatureLogger(tmp / "b100", sample_rate=1.0,
                                            buffer_rows=max(100_000, args.rows)),
        }
        impls: dict[str, Callable[[dict], object]] = {"plain": fitted.row_evaluator()}
        impls.update({k: fitted.row_evaluator(logger=v) for k, v in logs.items()})
        for fn in impls.values():  # warm up
            for r in rows[:500]:
                fn(r)
        times: dict[str, list[float]] = {k: [] for k in impls}
        for _ in range(args.repeat):
            for name, fn in impls.items():
                times[name].append(_loop(fn, rows))
                if name in logs:
                    logs[name].flush()
        counters = {}
        for name, log in logs.items():
            log.close()
            counters[name] = log.counters()
        plain = times["plain"]
        print("| row evaluator (reference workload) | µs/row | ratio to plain | logged | dropped |")
        print("|---|---|---|---|---|")
        for name, ts in times.items():
            ratio = statistics.median(t / p for t, p in zip(ts, plain, strict=True))
            c = counters.get(name, {})
            print(f"| {name} | {statistics.median(ts) * 1e6:.2f} | {ratio:.3f}x | "
                  f"{c.get('logged', '-')} | {c.get('dropped', '-')} |")
        hook = fd.FeatureLogger(tmp / "hook", sample_rate=0.01).row_observer(fitted).sample
        n = 1_000_000
        ns = min(timeit.repeat(hook, number=n, repeat=3)) / n * 1e9
        print(f"\nsampling hook (Bernoulli 1%, one C call): {ns:.0f} ns per row")

        # ------------------------------------------------------------- skew
        skew_dir = tmp / "skew"
        skew_rows = data_gen.rows_for_serving(df.head(args.skew_rows))
        with fd.FeatureLogger(skew_dir, sample_rate=1.0, buffer_rows=len(skew_rows) + 1) as log:
            evaluate = fitted.row_evaluator(logger=log)
            for r in skew_rows:
                evaluate(r)
        frame = df.head(args.skew_rows)
        t_skew, t_tr = [], []
        for _ in range(max(1, args.repeat // 2)):
            t = time.perf_counter()
            report = fd.skew_report(fitted, skew_dir)
            t_skew.append(time.perf_counter() - t)
            t = time.perf_counter()
            fitted.transform(frame)
            t_tr.append(time.perf_counter() - t)
        assert report.status == "ok", report.to_text()
        s, tr = statistics.median(t_skew), statistics.median(t_tr)
        print(f"\n| skew replay | rows | s | rows/s | ratio to transform |\n|---|---|---|---|---|\n"
              f"| `fd.skew_report` | {report.rows} | {s:.3f} | {report.rows / s:,.0f} | "
              f"{s / tr:.2f}x |")
        print(f"| `fitted.transform` (floor) | {frame.height} | {tr:.3f} | "
              f"{frame.height / tr:,.0f} | 1.00x |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
