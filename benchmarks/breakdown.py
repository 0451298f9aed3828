"""Where the time goes: featuredsl vs the hand-written code, feature by feature.

    python benchmarks/breakdown.py                 # row and batch breakdowns
    python benchmarks/breakdown.py --explain       # also print both Polars plans
    python benchmarks/breakdown.py --cprofile      # also cProfile the row evaluator

* row: the marginal cost of each feature, for featuredsl (a spec with the input block and that
  one feature, minus a spec whose only feature is ``n_items``) and for the hand-written Python
  (the same input reads and that one feature's expression); plus the input block alone;
* batch: each feature's expression alone, featuredsl's (over the already widened inputs) vs the
  hand-written one (over the raw frame), and the steps of ``spec.transform``: widening the
  inputs, the validation pass, the feature select.

Same data, statistics and spec as run.py; interleaved repeats, best of each. Diagnostic
only: the numbers are noisy on a shared machine, read the ratios and the large gaps.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

import featuredsl as fd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402
import handwritten  # noqa: E402
import run  # noqa: E402

#: The hand-written function, one feature at a time (after the same input reads).
HAND_PREAMBLE = """\
def f(row):
    amount = row.get("amount")
    n_items = row["n_items"]
    ts = row["ts"]
    country = row.get("country")
"""
HAND_ROW = {
    "log_amount": "math.log1p(amount) if amount is not None else None",
    "amount_z": "(amount - MEAN) / STD if amount is not None else None",
    "amount_bucket": "bisect.bisect_right(EDGES, amount) if amount is not None else None",
    "is_foreign": 'country is not None and country != "US"',
    "hour": "ts.hour",
    "dow": "ts.isoweekday()",
    "is_weekend": "ts.isoweekday() >= 6",
    "category_idx": 'CAT_INDEX.get(row["category"], -1)',
    "amount_per_item": "(amount / n_items if n_items else None) if amount is not None else None",
    "merchant_len": 'len(row["merchant"].lower())',
    "is_refund": '"refund" in row["description"].lower()',
    "amount_clipped": "min(max(amount, 0.0), 1000.0) if amount is not None else None",
    "big_us": '1 if amount is not None and amount > 100 and country == "US" else 0',
    "country_filled": 'country if country is not None else "UNK"',
    "amount_round": "round(amount, 1) if amount is not None else None",
    "items_sq": "n_items * n_items",
}


def _time(fn: Callable[[], object]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(impls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best (minimum) seconds of each zero-argument callable, run in turn ``repeat`` times.

    The minimum, not the median: these are small CPU-bound differences on a shared machine,
    and other processes only ever add time."""
    times: dict[str, list[float]] = {k: [] for k in impls}
    for fn in impls.values():
        fn()
    for _ in range(repeat):
        for k, fn in impls.items():
            times[k].append(_time(fn))
    return {k: min(v) for k, v in times.items()}


def _loop(fn: Callable[[dict], object], rows: Sequence[dict]) -> Callable[[], None]:
    def go() -> None:
        for r in rows:
            fn(r)
    return go


def row_breakdown(source: str, stats: dict, rows: list[dict], repeat: int) -> None:
    header, _, _ = source.partition("\nfeature ")
    lines = {ln.split()[1]: ln for ln in source.splitlines() if ln.startswith("feature ")}
    hand_globals = {"math": __import__("math"), "bisect": __import__("bisect"),
                    "MEAN": stats["amount_mean"], "STD": stats["amount_std"],
                    "EDGES": handwritten.EDGES,
                    "CAT_INDEX": {c: i for i, c in enumerate(stats["cat_vocab"])}}

    def hand_fn(name: str, expr: str) -> Callable[[dict], object]:
        ns = dict(hand_globals)
        exec(HAND_PREAMBLE + f"    return {{{name!r}: {expr}}}\n", ns)
        return ns["f"]  # type: ignore[return-value]

    def fd_fn(feature_line: str) -> Callable[[dict], object]:
        return fd.compile(header + "\n" + feature_line + "\n").row_evaluator()

    impls = {"fd:base": _loop(fd_fn("feature base = n_items"), rows),
             "hand:base": _loop(hand_fn("base", "n_items"), rows)}
    for name, line in lines.items():
        impls[f"fd:{name}"] = _loop(fd_fn(line), rows)
        impls[f"hand:{name}"] = _loop(hand_fn(name, HAND_ROW[name]), rows)
    impls["fd:all"] = _loop(fd.compile(source).row_evaluator(), rows)
    impls["hand:all"] = _loop(handwritten.python_features(
        stats["amount_mean"], stats["amount_std"], stats["cat_vocab"]), rows)
    med = {k: v / len(rows) * 1e9 for k, v in interleaved(impls, repeat).items()}
    fb, hb = med["fd:base"], med["hand:base"]
    print(f"\n## Row: marginal ns per feature ({len(rows):,} rows, {repeat} repeats)\n")
    print("| feature | featuredsl ns | hand-written ns | extra ns |")
    print("|---|---:|---:|---:|")
    print(f"| (inputs + 1-entry dict) | {fb:.0f} | {hb:.0f} | {fb - hb:+.0f} |")
    total_extra = fb - hb
    for name in lines:
        f, h = med[f"fd:{name}"] - fb, med[f"hand:{name}"] - hb
        total_extra += f - h
        print(f"| {name} | {f:.0f} | {h:.0f} | {f - h:+.0f} |")
    print(f"| **whole function** | {med['fd:all']:.0f} | {med['hand:all']:.0f} | "
          f"{med['fd:all'] - med['hand:all']:+.0f} (ratio {med['fd:all'] / med['hand:all']:.2f})"
          f" |")
    print(f"\n(sum of the per-feature extras: {total_extra:+.0f} ns; marginal costs overlap, "
          "e.g. dow and is_weekend share one day_of_week)")


def batch_breakdown(df: pl.DataFrame, spec: fd.Spec, hand: list[pl.Expr], repeat: int) -> None:
    fdx = spec.feature_exprs()
    inputs = spec.program.inputs
    lf = df.lazy()
    impls: dict[str, Callable[[], object]] = {}
    steps = _transform_steps(lf, inputs)
    plf = (steps.pop("__prepared__")() if steps else lf)  # type: ignore[operator]
    for h, f, name in zip(hand, fdx, spec.features, strict=True):
        impls[f"hand:{name}"] = lambda h=h: lf.select(h).collect(engine="in-memory")
        impls[f"fd:{name}"] = lambda f=f: plf.select(f).collect(engine="in-memory")
    impls.update(steps)
    impls.update({
        "step:feature select on widened inputs":
            lambda: plf.select(fdx).collect(engine="in-memory"),
        "all:featuredsl spec.transform(df)": lambda: spec.transform(df),
        "all:featuredsl transform_lazy(df).collect()":
            lambda: spec.transform_lazy(df).collect(engine="in-memory"),
        "all:hand-written select": lambda: lf.select(hand).collect(engine="in-memory"),
    })
    med = {k: v * 1e3 for k, v in interleaved(impls, repeat).items()}
    print(f"\n## Batch: ms per feature alone ({df.height:,} rows, best of {repeat})\n")
    print("| feature | featuredsl ms | hand-written ms | ratio |")
    print("|---|---:|---:|---:|")
    for name in spec.features:
        f, h = med[f"fd:{name}"], med[f"hand:{name}"]
        print(f"| {name} | {f:.2f} | {h:.2f} | {f / h:.2f} |")
    print("\n| step | ms |\n|---|---:|")
    for k, v in med.items():
        if k.startswith(("step:", "all:")):
            print(f"| {k.split(':', 1)[1]} | {v:.1f} |")


def _transform_steps(lf: pl.LazyFrame, inputs: dict) -> dict[str, Callable[[], object]]:
    """The steps of ``spec.transform`` (internal API: skipped with a note if it changed)."""
    try:
        from featuredsl import data as data_io

        checked = data_io.prepare(lf, inputs, [], checks=True).collect(engine="in-memory")
        data_io.check(checked, lf, inputs)
        return {
            "__prepared__": lambda: data_io.prepare(lf, inputs, []).collect(
                engine="in-memory").lazy(),
            "step:widen + flag bad values (prepare(checks=True) + collect)":
                lambda: data_io.prepare(lf, inputs, [], checks=True).collect(engine="in-memory"),
            "step:check the flags": lambda: data_io.check(checked, lf, inputs),
        }
    except (ImportError, AttributeError, TypeError) as exc:
        print(f"(transform internals changed, step timings skipped: {exc})")
        return {}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="batch rows")
    ap.add_argument("--row-rows", type=int, default=20_000, help="row-benchmark rows")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--explain", action="store_true", help="print both optimized plans")
    ap.add_argument("--cprofile", action="store_true", help="cProfile the row evaluator")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-row", action="store_true")
    args = ap.parse_args(argv)

    df = data_gen.make_frame(args.rows)
    stats = run.fitted_values(df)
    source = run.spec_source(stats)
    spec = fd.compile(source)
    hand = handwritten.polars_exprs(stats["amount_mean"], stats["amount_std"],  # type: ignore
                                    stats["cat_vocab"])  # type: ignore[arg-type]
    m = run.machine_info()
    print(f"CPython {m['python']}, polars {m['polars']}, {m['usable_cores']} cores, "
          f"featuredsl {m['featuredsl']} ({m['commit']})")
    rows = data_gen.rows_for_serving(df.head(args.row_rows))
    if not args.skip_row:
        row_breakdown(source, stats, rows, args.repeat)
    if not args.skip_batch:
        batch_breakdown(df, spec, hand, args.repeat)
    if args.cprofile:
        ev = spec.row_evaluator()
        prof = cProfile.Profile()
        prof.enable()
        for r in rows:
            ev(r)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
        print("\n## cProfile of the row evaluator\n\n```\n" + buf.getvalue().strip() + "\n```")
    if args.explain:
        print("\n## featuredsl plan (spec.transform_lazy(df).explain())\n\n```")
        print(spec.transform_lazy(df).explain())
        print("```\n\n## hand-written plan\n\n```")
        print(df.lazy().select(hand).explain())
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
