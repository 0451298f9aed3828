"""Where the time goes: featuredsl vs the hand-written code, feature by feature.

    python benchmarks/breakdown.py                 # row and batch breakdowns
    python benchmarks/breakdown.py --explain       # also print both Polars plans
    python benchmarks/breakdown.py --cprofile      # also cProfile the row evaluator
    python benchmarks/breakdown.py --fit --skip-row --skip-batch   # where spec.fit's time goes
    python benchmarks/breakdown.py --fit-memory 1000000 4000000 10000000   # fit's peak RSS

* row: the marginal cost of each feature, for featuredsl (a spec with the input block and that
  one feature, minus a spec whose only feature is ``n_items``) and for the hand-written Python
  (the same input reads and that one feature's expression); plus the input block alone;
* batch: each feature's expression alone, featuredsl's (over the already widened inputs) vs the
  hand-written one (over the raw frame), and the steps of ``spec.transform``: widening the
  inputs, the validation pass, the feature select;
* fit (``--fit``): ``spec.fit``'s parts (internal API of fit.py, fit_select.py, fit_top.py):
  the statistics passes, the summary query, the features' materialization, the profiles of
  inputs and features, deciles by selection vs by a sort, top-20 hashed vs counted directly,
  next to the hand-written Polars ``select`` of the same aggregates;
* fit memory (``--fit-memory 1000000 10000000``): peak RSS of fitting Parquet files of those
  sizes in a fresh process (order statistics of 6 float columns), against the row count.

Same data, statistics and spec as run.py; interleaved repeats, best of each. Diagnostic
only: the numbers are noisy on a shared machine, read the ratios and the large gaps.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
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


def with_stats(spec: fd.Spec, stats: dict[str, object]) -> fd.Spec:
    """``spec`` with its statistics taken from ``stats`` (a one-feature spec reuses the whole
    spec's fitted values: inline statistics are named by their source text)."""
    if not spec.statistics:
        return spec
    return fd.FittedSpec(spec.source, spec.file, spec.program, spec.diagnostics,
                         {k: stats[k] for k in spec.statistics})


def row_breakdown(source: str, stats: dict, rows: list[dict], repeat: int,
                  fitted: dict[str, object]) -> None:
    """``stats``: the hand-written constants; ``fitted``: the spec's fitted statistics."""
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
        return with_stats(fd.compile(header + "\n" + feature_line + "\n"),
                          fitted).row_evaluator()

    impls = {"fd:base": _loop(fd_fn("feature base = n_items"), rows),
             "hand:base": _loop(hand_fn("base", "n_items"), rows)}
    for name, line in lines.items():
        impls[f"fd:{name}"] = _loop(fd_fn(line), rows)
        impls[f"hand:{name}"] = _loop(hand_fn(name, HAND_ROW[name]), rows)
    impls["fd:all"] = _loop(with_stats(fd.compile(source), fitted).row_evaluator(), rows)
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


def fit_breakdown(df: pl.DataFrame, spec: fd.Spec, repeat: int) -> None:
    """``spec.fit``'s passes taken apart (mirrors fit/fitting.py's ``fit``; internal API)."""
    from featuredsl.data import inputs as data_io
    from featuredsl.fit import fitting as fm
    from featuredsl.fit import profile as fit_profile
    from featuredsl.fit import top as fit_top
    from featuredsl.fit.passes import Budget, Frame, all_of, drive
    from featuredsl.fit.select import COLLECT_BUDGET, float_summary, order_stats

    program, inputs = spec.program, spec.program.inputs
    src = data_io.open_source(df, inputs)
    prepared = data_io.prepare(src.lf, inputs, [], text=src.text, checks=True).collect().lazy()

    def stats_only() -> dict[str, object]:
        fitted: dict[str, object] = {}
        for names in fm.stat_levels(program):
            fm._fit_level(program, prepared, names, fitted)
        return fitted

    fitted = fd.FittedSpec(spec.source, spec.file, program, spec.diagnostics, stats_only())
    features_lf = fitted.batch_plan().apply(prepared, [])
    features = features_lf.collect().lazy()
    in_cols = [(n, n, t) for n, t in inputs.items()]
    feat_cols = [(f.name, f.name, f.expr.type) for f in program.features]

    def profile(lf: pl.LazyFrame, cols: list) -> Callable[[], object]:
        def go() -> object:
            budget = Budget(COLLECT_BUDGET)
            return drive(fit_profile.profiles(Frame(lf), cols, budget), budget)
        return go

    amount = prepared.select(pl.col("amount"))
    deciles = [(i, 10) for i in range(1, 10)]

    def deciles_select() -> object:
        budget = Budget(COLLECT_BUDGET)
        return drive(order_stats(Frame(amount), "amount", "float",
                                 lambda n: [(n - 1) * i // k for i, k in deciles], budget), budget)

    def deciles_sort() -> object:
        values = pl.col("amount").drop_nulls().sort()
        n = pl.col("amount").count()
        idx = pl.concat_list([(n - 1) * i // k for i, k in deciles]).explode()
        return amount.select(values.gather(idx).implode()).collect(engine="streaming")

    def top(col: str, kind: str, sample: int | None = None) -> Callable[[], object]:
        def go() -> object:
            old = fit_top.SAMPLE
            fit_top.SAMPLE = sample if sample is not None else old
            try:
                return drive(fit_top.top_values(Frame(prepared), col, kind, fit_profile.TOP))
            finally:
                fit_top.SAMPLE = old
        return go

    def direct_top(col: str) -> Callable[[], object]:
        return lambda: fit_top._direct(Frame(prepared), col, fit_profile.TOP, 1).collect(
            engine="streaming")

    impls: dict[str, Callable[[], object]] = {
        "hand-written Polars select of the aggregates": lambda: run.hand_fit_frame(df),
        "spec.fit(df)": lambda: run.fit_spec(spec, df),
        "statistics passes only": stats_only,
        "  summary of amount (moments + histogram, one group_by)":
            lambda: drive(all_of([float_summary(Frame(amount), "amount")])),
        "  Polars mean + std of amount":
            lambda: amount.select(pl.col("amount").mean().alias("m"),
                                  pl.col("amount").std(ddof=0).alias("s")).collect(),
        "features materialized (= transform)": lambda: features_lf.collect(),
        "profile of the 8 inputs (all passes)": profile(prepared, in_cols),
        "profile of the 16 features (all passes)": profile(features, feat_cols),
        "  deciles of amount by selection (2 passes)": deciles_select,
        "  deciles of amount by a sort (the previous way)": deciles_sort,
        "  top-20 of description, hashed (757k distinct at 1M)": top("description", "string"),
        "  top-20 of description, counted directly": direct_top("description"),
        "  top-20 of user_id": top("user_id", "int"),
        "  top-20 of category (sampled: counted directly)": top("category", "string"),
    }
    med = {k: v * 1e3 for k, v in interleaved(impls, repeat).items()}
    print(f"\n## Fit: spec.fit taken apart ({df.height:,} rows, best of {repeat})\n")
    print("| query | ms |\n|---|---:|")
    for k, v in med.items():
        print(f"| {k} | {v:,.1f} |")


_MEMORY_CHILD = """
import json, resource, sys, time, warnings
import polars as pl
import featuredsl as fd
warnings.simplefilter("ignore")
t0 = time.perf_counter()
fitted = fd.compile(sys.argv[2]).fit(pl.scan_parquet(sys.argv[1]))
print(json.dumps([fitted.profile["rows"], time.perf_counter() - t0,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]))
"""


def fit_memory(sizes: Sequence[int], columns: int = 6) -> None:
    """Peak RSS of ``spec.fit(pl.scan_parquet(path))`` in a fresh process, for Parquet files of
    ``sizes`` rows: ``columns`` float columns, each with quantiles, a median and the profile's
    deciles. Holding the values (as a sort does) costs ``8 * columns`` bytes a row."""
    import os
    import subprocess
    import tempfile

    import numpy as np

    spec = ("input {\n" + "\n".join(f"  x{i}: float?" for i in range(columns)) + "\n}\n"
            + "\n".join(f"feature q{i} = bucketize(x{i}, quantiles(x{i}, 10)) + median(x{i})"
                        for i in range(columns)))
    print(f"\n## Fit memory: a Parquet scan, {columns} float columns with order statistics\n")
    print("| rows | file MB | fit s | peak RSS MB | the values held would be MB |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"d{size}.parquet"
            rng = np.random.default_rng(1)
            import pyarrow.parquet as pq

            writer = None
            for start in range(0, size, 1_000_000):
                k = min(1_000_000, size - start)
                table = pl.DataFrame({f"x{i}": rng.standard_normal(k) * 10.0 ** i
                                      for i in range(columns)}).to_arrow()
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table, row_group_size=100_000)
            assert writer is not None
            writer.close()
            env = dict(os.environ, PYTHONPATH=str(HERE.parent))
            out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path), spec],
                                 env=env, capture_output=True, text=True, check=True)
            rows, secs, peak = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {rows:,} | {path.stat().st_size / 2**20:,.0f} | {secs:.1f} | "
                  f"{peak / 2**20:,.0f} | {8 * columns * rows / 2**20:,.0f} |")
            path.unlink()


def _transform_steps(lf: pl.LazyFrame, inputs: dict) -> dict[str, Callable[[], object]]:
    """The steps of ``spec.transform`` (internal API: skipped with a note if it changed)."""
    try:
        from featuredsl.data import inputs as data_io

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
    ap.add_argument("--fit", action="store_true", help="also break spec.fit down")
    ap.add_argument("--fit-memory", type=int, nargs="*", metavar="ROWS",
                    help="peak RSS of fitting Parquet files of these sizes (then exit)")
    ap.add_argument("--skip-row", action="store_true")
    args = ap.parse_args(argv)
    if args.fit_memory:
        fit_memory(args.fit_memory)
        return 0

    df = data_gen.make_frame(args.rows)
    stats = run.hand_stats(df)
    source = run.SPEC_FILE.read_text(encoding="utf-8")
    spec = run.fit_spec(fd.compile(source), df)
    hand = handwritten.polars_exprs(stats["amount_mean"], stats["amount_std"],  # type: ignore
                                    stats["cat_vocab"])  # type: ignore[arg-type]
    m = run.machine_info()
    print(f"CPython {m['python']}, polars {m['polars']}, {m['usable_cores']} cores, "
          f"featuredsl {m['featuredsl']} ({m['commit']})")
    rows = data_gen.rows_for_serving(df.head(args.row_rows))
    if not args.skip_row:
        row_breakdown(source, stats, rows, args.repeat, spec.stats)
    if not args.skip_batch:
        batch_breakdown(df, spec, hand, args.repeat)
    if args.fit:
        fit_breakdown(df, fd.compile(source), max(1, min(args.repeat, 3)))
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
