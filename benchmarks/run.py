"""featuredsl vs the hand-written code, side by side, in one process: one markdown table.

    python benchmarks/run.py                   # 1M rows batch, 50k rows row, 11 repeats
    python benchmarks/run.py --quick           # smoke run, well under a minute
    python benchmarks/run.py --big             # also the batch and fit comparisons at 10M rows
    python benchmarks/run.py --windows         # then the window-aggregate section (windows.py)
    python benchmarks/run.py windows [--quick] # the window-aggregate section alone
    python benchmarks/run.py grouped           # grouped statistics' fit (grouped.py)
    python benchmarks/run.py log               # feature logging overhead, skew rows/s
    python benchmarks/run.py monitor           # the serving monitor's overhead (monitor.py)
    python benchmarks/run.py spark [--quick]   # featuredsl.spark vs native PySpark (spark.py)
    python benchmarks/run.py fit-profile       # fit vs the hand-written same work (fit_profile.py)

What it does (see benchmarks/README.md and ../shared/BENCHMARK.md):

* generates the reference data (``data_gen.py``, seeded), compiles ``reference.feat`` and fits
  its three statistics with ``spec.fit(df)`` once, before any timing (the hand-written
  baselines use their own constants from a Polars ``select``, as a user would);
* row: featuredsl's ``row_evaluator()`` vs a hand-written ``features(row)`` on the same list of
  dicts, interleaved (A, B, A, B...), each call timed alone: median and p99 µs per row, and the
  ratio (the median of the per-repeat ratios); also the plain-loop throughput, a dict literal
  and Polars on one-row frames for context;
* batch: ``spec.transform(df)`` vs a hand-written ``df.select([...])`` on the in-memory engine,
  interleaved, medians and ratio;
* fit: ``spec.fit(df)`` vs a hand-written Polars ``select`` of the same aggregates (mean, std
  with ddof=0, the top-100 vocabulary via ``value_counts``), interleaved; also featuredsl's
  statistics passes alone (internal API), so the cost of the training profile shows;
* cold start: a fresh ``python -c "import featuredsl; featuredsl.compile_file(...)"`` vs
  ``python -c "import polars"`` (and ``python -c pass``), interleaved, median wall time;
* checks: featuredsl row outputs == batch outputs on the benchmark rows (must be 0 mismatches:
  the exit status is 1 otherwise) and, for information, where the hand-written Polars and the
  hand-written Python disagree with each other, per feature.

Timings are never asserted: this machine is shared and noisy, ratios are what to read.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

import featuredsl as fd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is a directory of scripts, not a package
    sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402
import handwritten  # noqa: E402

SPEC_FILE = HERE / "reference.feat"
ROOT = HERE.parent

#: Issue targets (now) and final targets (BENCHMARK.md): featuredsl / hand-written.
ROW_TARGET, ROW_FINAL = 1.5, 1.2
BATCH_TARGET, BATCH_FINAL = 1.3, 1.15
FIT_FINAL = 1.3


# ----------------------------------------------------------------------------- the spec


def hand_fit_frame(df: pl.DataFrame) -> pl.DataFrame:
    """The hand-written fit: one Polars ``select`` of the same aggregates as reference.feat.

    ``std(ddof=0)`` is the population std the SPEC defines; the vocabulary is sorted by count,
    then by value, so it is deterministic (``value_counts(sort=True)`` leaves ties in any
    order). Sorted inside ``list.eval``: ``counts.sort_by(counts.struct.field(...))`` would
    evaluate ``value_counts`` (in hash order, which varies) once for the values and once for
    the keys, and may sort one by the other's order (see benchmarks/fit_profile.py ``_top``)."""
    e = pl.element()
    top = pl.col("category").drop_nulls().value_counts(name="n").implode().list.eval(
        e.sort_by([e.struct.field("n"), e.struct.field("category")], descending=[True, False])
        .head(100).struct.field("category"))
    return df.lazy().select(
        pl.col("amount").mean().alias("amount_mean"),
        pl.col("amount").std(ddof=0).alias("amount_std"),
        top.alias("cat_vocab"),
    ).collect(engine="in-memory")


def hand_stats(df: pl.DataFrame) -> dict[str, object]:
    """The constants the hand-written baselines use (a user computes them with Polars)."""
    row = hand_fit_frame(df).row(0, named=True)
    return {"amount_mean": row["amount_mean"], "amount_std": row["amount_std"],
            "cat_vocab": list(row["cat_vocab"])}


def fit_spec(spec: fd.Spec, df: pl.DataFrame) -> fd.FittedSpec:
    """``spec.fit(df)``, fit-time warnings silenced (tiny smoke-test frames trigger some)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fd.FitTimeWarning)
        return spec.fit(df)


def stats_only_fit(spec: fd.Spec, df: pl.DataFrame) -> Callable[[], object] | None:
    """featuredsl's statistics passes alone, without the profile pass (internal API of
    featuredsl/fit/fitting.py, mirroring ``fit()``; None if those internals changed)."""
    try:
        from featuredsl.data import inputs as data_io
        from featuredsl.fit import fitting as fit_mod

        inputs = spec.program.inputs

        def go() -> dict[str, object]:
            src = data_io.open_source(df, inputs)
            prepared = data_io.prepare(src.lf, inputs, [], text=src.text, checks=True)
            base = prepared.select(list(inputs))
            fitted: dict[str, object] = {}
            for names in fit_mod.stat_levels(spec.program):
                fit_mod._fit_level(spec.program, base, names, fitted)
            return fitted

        go()
        return go
    except (ImportError, AttributeError, TypeError) as exc:
        print(f"# fit internals changed, statistics-only timing skipped: {exc}", file=sys.stderr)
        return None


# ----------------------------------------------------------------------------- timing


def timer_overhead_ns() -> int:
    """The median cost of one ``perf_counter_ns`` pair, subtracted from per-call timings."""
    pc = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = pc()
        samples.append(pc() - t0)
    return int(statistics.median(samples))


def time_each(fn: Callable[[dict], object], rows: Sequence[dict]) -> np.ndarray:
    """Per-call nanoseconds of ``fn(row)`` for every row (timer cost not yet subtracted)."""
    pc = time.perf_counter_ns
    out = np.empty(len(rows), dtype=np.int64)
    i = 0
    for r in rows:
        t0 = pc()
        fn(r)
        out[i] = pc() - t0
        i += 1
    return out


def time_loop(fn: Callable[[dict], object], rows: Sequence[dict]) -> float:
    """Mean seconds per row of a plain ``for row in rows: fn(row)`` loop (throughput)."""
    t0 = time.perf_counter()
    for r in rows:
        fn(r)
    return (time.perf_counter() - t0) / len(rows)


def time_once(fn: Callable[[], object]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


RowImpl = Callable[[dict], object] | tuple[Callable[[dict], object], Sequence[dict]]


def bench_rows(impls: dict[str, RowImpl], rows: Sequence[dict], repeat: int,
               overhead: int) -> dict[str, dict[str, list[float]]]:
    """Interleaved per-row timing: each repeat runs every implementation once, in turn.

    An implementation is a function over ``rows``, or ``(function, its own rows)``."""
    pairs = {k: v if isinstance(v, tuple) else (v, rows) for k, v in impls.items()}
    res: dict[str, dict[str, list[float]]] = {
        k: {"median": [], "p99": [], "loop": []} for k in impls}
    for fn, data in pairs.values():  # warm-up: caches, specializing interpreter
        time_loop(fn, data[: min(len(data), 2000)])
    for _ in range(repeat):
        for name, (fn, data) in pairs.items():
            gc.collect()
            ns = time_each(fn, data) - overhead
            res[name]["median"].append(float(np.median(ns)) / 1e3)
            res[name]["p99"].append(float(np.percentile(ns, 99)) / 1e3)
            gc.collect()
            res[name]["loop"].append(time_loop(fn, data) * 1e6)
    return res


def bench_batch(impls: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Interleaved whole-frame timing: seconds per call, one call per implementation per
    repeat, after one warm-up call each."""
    res: dict[str, list[float]] = {k: [] for k in impls}
    for fn in impls.values():
        fn()
    for _ in range(repeat):
        for name, fn in impls.items():
            res[name].append(time_once(fn))
    return res


FILE_HAND = "hand-written Polars scan_parquet -> select -> sink_parquet"
FILE_LAZY = "featuredsl transform_lazy(scan_parquet) -> sink_parquet"
FILE_CLI = "featuredsl transform ARTIFACT --data IN -o OUT (the CLI, in process: validated)"


def bench_files(df: pl.DataFrame, fitted: fd.FittedSpec, hand_exprs: list[pl.Expr],
                repeat: int) -> dict[str, list[float]]:
    """Parquet file to Parquet file, streaming: hand-written Polars, featuredsl's lazy frame
    and the ``featuredsl transform`` command (run in this process, so start-up is not timed)."""
    from featuredsl.cli.main import main as cli_main

    work = Path(tempfile.mkdtemp(prefix="fd-bench-"))
    try:
        src, out, model = work / "in.parquet", work / "out.parquet", work / "model.json"
        df.write_parquet(src)
        fitted.save(model)
        cli_args = ["transform", str(model), "--data", str(src), "-o", str(out), "-q"]
        impls: dict[str, Callable[[], object]] = {
            FILE_HAND: lambda: pl.scan_parquet(src).select(hand_exprs).sink_parquet(out),
            FILE_LAZY: lambda: fitted.transform_lazy(pl.scan_parquet(src)).sink_parquet(out),
            FILE_CLI: lambda: cli_main(cli_args),
        }
        return bench_batch(impls, repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


FIT_HAND = "hand-written Polars select of mean, std(ddof=0), top-100 value_counts"
FIT_FD = "featuredsl spec.fit(df) (exact statistics + training profile)"
FIT_STATS = "featuredsl fit, statistics passes only (no profile; internal API)"

COLD = {
    "python -c pass (the interpreter alone)": "pass",
    "python -c 'import polars'": "import polars",
    "python -c 'import featuredsl; featuredsl.compile_file(reference.feat)'":
        "import featuredsl; featuredsl.compile_file('benchmarks/reference.feat')",
}
COLD_BASE = "python -c 'import polars'"
COLD_FD = "python -c 'import featuredsl; featuredsl.compile_file(reference.feat)'"


def bench_cold(runs: int) -> dict[str, list[float]]:
    """Wall seconds of each command in a fresh interpreter, interleaved, ``runs`` times."""
    res: dict[str, list[float]] = {k: [] for k in COLD}
    for code in COLD.values():  # warm the OS file cache (and the .pyc files), untimed
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    for _ in range(runs):
        for name, code in COLD.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            res[name].append(time.perf_counter() - t0)
    return res


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median over repeats of a[i] / b[i] (drift on a shared machine cancels in pairs)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- checks

_PY_TYPE = {"int": int, "float": float, "bool": bool, "string": str}


def _align(x: pl.Series, y: pl.Series) -> tuple[pl.Series, pl.Series]:
    if x.dtype == y.dtype:
        return x, y
    if x.dtype.is_numeric() and y.dtype.is_numeric():
        t = pl.Float64 if (x.dtype.is_float() or y.dtype.is_float()) else pl.Int64
        return x.cast(t), y.cast(t)
    return x.cast(pl.String), y.cast(pl.String)


def count_diffs(a: pl.DataFrame, b: pl.DataFrame, nan_is_diff: bool) -> dict[str, int]:
    """Rows where the two frames differ, per column: null == null, -0.0 == 0.0; NaN counts as
    a difference when ``nan_is_diff`` (featuredsl never yields NaN)."""
    out = {}
    for name in a.columns:
        x, y = _align(a.get_column(name), b.get_column(name))
        diff = ~x.eq_missing(y)
        if x.dtype.is_float():
            if nan_is_diff:
                diff = diff | x.is_nan().fill_null(False) | y.is_nan().fill_null(False)
            else:
                diff = diff & ~(x.is_nan().fill_null(False) & y.is_nan().fill_null(False))
        out[name] = int(diff.sum())
    return out


def outputs_frame(outs: list[dict], names: list[str],
                  types: dict[str, str] | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Row outputs as columns; with ``types``, also the count of values of the wrong Python
    type per feature (an int where a float is declared is a parity failure too)."""
    cols = {n: [o[n] for o in outs] for n in names}
    bad: dict[str, int] = {}
    series = []
    for n, vals in cols.items():
        if types is not None:
            base = types[n].rstrip("?")
            want = _PY_TYPE[base]
            nullable = types[n].endswith("?")
            bad[n] = sum(1 for v in vals if not (type(v) is want or (v is None and nullable)))
            dtype = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean,
                     "string": pl.String}[base]
            series.append(pl.Series(n, vals, dtype=dtype, strict=False))
        else:
            series.append(pl.Series(n, vals, strict=False))
    return pl.DataFrame(series), bad


def run_checks(df: pl.DataFrame, fd_batch: pl.DataFrame, hand_batch: pl.DataFrame,
               evaluator: Callable[[dict], dict], features: Callable[[dict], dict],
               spec: fd.Spec, n: int, chunk: int = 50_000) -> dict[str, object]:
    """featuredsl row vs batch (parity) and hand-written Python vs Polars (disagreement) on the
    first ``n`` rows, chunk by chunk so memory stays small."""
    names = spec.features
    types = spec.output_types
    parity = dict.fromkeys(names, 0)
    wrong_type = dict.fromkeys(names, 0)
    disagree = dict.fromkeys(names, 0)
    examples: dict[str, object] = {}
    for off in range(0, n, chunk):
        size = min(chunk, n - off)
        rows = data_gen.rows_for_serving(df.slice(off, size))
        fd_rows, bad = outputs_frame([evaluator(r) for r in rows], names, types)
        for k, v in count_diffs(fd_rows, fd_batch.slice(off, size), nan_is_diff=True).items():
            parity[k] += v
        for k, v in bad.items():
            wrong_type[k] += v
        hand_rows, _ = outputs_frame([features(r) for r in rows], names)
        hand_pl = hand_batch.slice(off, size)
        for k, v in count_diffs(hand_rows, hand_pl, nan_is_diff=False).items():
            disagree[k] += v
            if v and k not in examples:
                x, y = _align(hand_rows.get_column(k), hand_pl.get_column(k))
                i = int((~x.eq_missing(y)).arg_max())  # type: ignore[arg-type]
                examples[k] = {"row": off + i, "python": hand_rows.get_column(k)[i],
                               "polars": hand_pl.get_column(k)[i]}
    return {"rows": n, "parity": parity, "wrong_type": wrong_type, "disagree": disagree,
            "examples": examples}


# ----------------------------------------------------------------------------- reporting


def machine_info() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "polars": pl.__version__, "numpy": np.__version__, "featuredsl": fd.__version__,
        "commit": commit, "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "polars_threads": pl.thread_pool_size(), "cpu": cpu, "os": platform.platform(),
    }


def _us(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f} µs"
    return f"{x:.2f} µs" if x < 10 else f"{x:.1f} µs"


def _ms(x: float) -> str:
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def _verdict(ratio: float, target: float, final: float) -> str:
    if ratio <= final:
        return f"meets the final target {final}x"
    if ratio <= target:
        return f"meets the issue target {target}x (final {final}x)"
    return f"**misses** the issue target {target}x (final {final}x)"


def render(r: dict) -> str:
    cfg, out = r["config"], []
    m = r["machine"]
    out.append(f"featuredsl {m['featuredsl']} ({m['commit'] or 'no git'}) · CPython {m['python']}"
               f" · polars {m['polars']} · numpy {m['numpy']} · {m['usable_cores']} cores "
               f"({m['cpu']}), polars threads {m['polars_threads']} · {m['os']}")
    out.append(f"rows: batch {cfg['rows']:,}, row {cfg['row_rows']:,}; repeats {cfg['repeat']} "
               "(interleaved); medians over repeats; ratio = median of per-repeat ratios; row "
               f"calls timed one by one, minus the timer's own {r['timer_overhead_ns']} ns\n")
    out.append("| path | what | median | p99 (row) · min..max (batch) | loop mean | ratio |")
    out.append("|---|---|---:|---:|---:|---:|")
    row = r["row"]
    base = row["hand-written Python"]
    for name, v in row.items():
        ratio = paired_ratio(v["median"], base["median"])
        out.append(f"| row | {name} | {_us(statistics.median(v['median']))} | "
                   f"{_us(statistics.median(v['p99']))} | {_us(statistics.median(v['loop']))} | "
                   f"{ratio:.2f} |")
    for name, v in r.get("one_row_polars", {}).items():
        ratio = statistics.median(v["median"]) / statistics.median(base["median"])
        out.append(f"| row | {name} | {_us(statistics.median(v['median']))} | "
                   f"{_us(statistics.median(v['p99']))} | | {ratio:,.0f} |")
    for size, batch in r["batch"].items():
        bbase = batch["hand-written Polars select"]
        for name, v in batch.items():
            med = statistics.median(v)
            rate = int(size) / med / 1e6
            ratio = paired_ratio(v, bbase)
            spread = f"{_ms(min(v))}..{_ms(max(v))}"
            out.append(f"| batch {int(size):,} | {name} | {_ms(med)} ({rate:.1f}M rows/s) | "
                       f"{spread} | | {ratio:.2f} |")
    for size, files in r.get("files", {}).items():
        for name, v in files.items():
            med, ratio = statistics.median(v), paired_ratio(v, files[FILE_HAND])
            out.append(f"| Parquet to Parquet {int(size):,} | {name} | {_ms(med)} | "
                       f"{_ms(min(v))}..{_ms(max(v))} | | {ratio:.2f} |")
    for size, fit in r.get("fit", {}).items():
        fbase = fit[FIT_HAND]
        for name, v in fit.items():
            med = statistics.median(v)
            out.append(f"| fit {int(size):,} | {name} | {_ms(med)} | {_ms(min(v))}..{_ms(max(v))}"
                       f" | | {paired_ratio(v, fbase):.2f} |")
    cold = r.get("cold") or {}
    for name, v in cold.items():
        out.append(f"| cold start | {name} | {_ms(statistics.median(v))} | "
                   f"{_ms(min(v))}..{_ms(max(v))} | | "
                   f"{statistics.median(v) / statistics.median(cold[COLD_BASE]):.2f} |")
    out.append("")
    rr = paired_ratio(row["featuredsl row_evaluator()"]["median"], base["median"])
    out.append(f"- row: featuredsl / hand-written Python = **{rr:.2f}x** median per row: "
               f"{_verdict(rr, ROW_TARGET, ROW_FINAL)}")
    for size, batch in r["batch"].items():
        br = paired_ratio(batch["featuredsl spec.transform(df)"],
                          batch["hand-written Polars select"])
        out.append(f"- batch {int(size):,}: featuredsl transform / hand-written Polars = "
                   f"**{br:.2f}x**: {_verdict(br, BATCH_TARGET, BATCH_FINAL)}")
    for size, fit in r.get("fit", {}).items():
        fr = paired_ratio(fit[FIT_FD], fit[FIT_HAND])
        line = (f"- fit {int(size):,}: featuredsl spec.fit / hand-written Polars select = "
                f"**{fr:.2f}x** (target {FIT_FINAL}x: "
                f"{'met' if fr <= FIT_FINAL else '**missed**'})")
        if FIT_STATS in fit:
            sr = paired_ratio(fit[FIT_STATS], fit[FIT_HAND])
            share = 1 - statistics.median(fit[FIT_STATS]) / statistics.median(fit[FIT_FD])
            line += (f"; the statistics passes alone are {sr:.2f}x, so the training profile is "
                     f"~{share:.0%} of fit's time")
        out.append(line)
    st = r.get("stats", {})
    if "featuredsl" in st:
        f, h = st["featuredsl"], st["hand-written"]
        out.append(f"- fitted values: featuredsl (exact) mean {f['mean(amount)']!r}, std "
                   f"{f['std(amount)']!r}; hand-written Polars mean {h['amount_mean']!r}, std "
                   f"{h['amount_std']!r}; same vocabulary: "
                   f"{list(f['vocab(category, top=100)']) == h['cat_vocab']}")
    if cold:
        out.append(f"- cold start: import featuredsl + compile the spec "
                   f"{_ms(statistics.median(cold[COLD_FD]))} vs import polars "
                   f"{_ms(statistics.median(cold[COLD_BASE]))} (fresh processes, median)")
    c = r["checks"]
    par = sum(c["parity"].values()) + sum(c["wrong_type"].values())
    out.append(f"- featuredsl row vs batch parity on {c['rows']:,} benchmark rows: "
               f"**{par} mismatches**" + ("" if par == 0 else " (FAIL)"))
    out.append(f"- build: compile {r['build']['compile_ms']:.1f} ms, fit (first call) "
               f"{r['build']['fit_ms']:,.0f} ms, row evaluator "
               f"{r['build']['evaluator_ms']:.1f} ms, feature exprs "
               f"{r['build']['exprs_ms']:.1f} ms; peak RSS {r['peak_rss_mib']:,.0f} MiB\n")
    out.append(f"Per feature, on {c['rows']:,} rows: hand-written Python vs hand-written Polars "
               "(null == null, -0.0 == 0.0), and featuredsl row vs batch.\n")
    out.append("| feature | hand Python vs hand Polars: rows differing | example (Python / "
               "Polars) | featuredsl row vs batch |")
    out.append("|---|---:|---|---:|")
    for name, n in c["disagree"].items():
        ex = c["examples"].get(name)
        exs = f"{ex['python']!r} / {ex['polars']!r}" if ex else ""
        fdn = c["parity"][name] + c["wrong_type"][name]
        out.append(f"| {name} | {n:,} | {exs} | {fdn} |")
    return "\n".join(out)


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["windows"]:  # the window section alone, with its own options
        import windows

        return windows.main(argv[1:])
    if argv[:1] == ["diff"]:  # `diff --data` against two transforms
        import diff

        return diff.main(argv[1:])
    if argv[:1] == ["grouped"]:  # grouped statistics' fit against a hand-written group_by
        import grouped

        return grouped.main(argv[1:])
    if argv[:1] == ["log"]:  # feature logging's row overhead and skew's replay rate
        import feature_log

        return feature_log.main(argv[1:])
    if argv[:1] == ["monitor"]:  # the serving monitor's overhead on the row evaluator
        import monitor

        return monitor.main(argv[1:])
    if argv[:1] == ["spark"]:  # featuredsl.spark against native PySpark (benchmarks/spark.py)
        import spark

        return spark.main(argv[1:])
    if argv[:1] == ["fit-profile"]:  # spec.fit vs a hand-written program of the same results
        import fit_profile

        return fit_profile.main(argv[1:])
    if argv[:1] == ["serve"]:  # `featuredsl serve` under load, next to a FastAPI app
        import serve

        return serve.main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, help="batch rows (default 1,000,000; quick 100,000)")
    ap.add_argument("--row-rows", type=int, help="rows for the row benchmark "
                    "(default 50,000; quick 10,000)")
    ap.add_argument("--repeat", type=int, help="interleaved repeats (default 11; quick 3)")
    ap.add_argument("--polars-rows", type=int, help="rows for Polars on one-row frames "
                    "(default 300; quick 50; 0 skips)")
    ap.add_argument("--check-rows", type=int, help="rows for the parity and disagreement "
                    "checks (default: every batch row up to 1,000,000)")
    ap.add_argument("--big", action="store_true", help="also the batch and fit comparisons at "
                    "10M rows")
    ap.add_argument("--fit-repeat", type=int, help="interleaved repeats of the fit comparison "
                    "(default: min(repeat, 5))")
    ap.add_argument("--cold-runs", type=int, help="fresh processes per cold-start command "
                    "(default 5; quick 3; 0 skips)")
    ap.add_argument("--quick", action="store_true", help="smoke-test sizes (< 60 s)")
    ap.add_argument("--seed", type=int, default=data_gen.SEED)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--memory", type=int, nargs="*", metavar="ROWS",
                    help="also peak RSS of `featuredsl transform` file to file in fresh "
                    "processes (benchmarks/stream_memory.py; default sizes 10M and 50M rows)")
    ap.add_argument("--library", action="store_true", help="also the per-function table of "
                    "benchmarks/library.py (the function library vs hand-written code)")
    ap.add_argument("--windows", action="store_true", help="also the window-aggregate section "
                    "(benchmarks/windows.py; `run.py windows --help` for its own options)")
    args = ap.parse_args(argv)
    q = args.quick
    rows = args.rows or (100_000 if q else 1_000_000)
    row_rows = min(args.row_rows or (10_000 if q else 50_000), rows)
    repeat = args.repeat or (3 if q else 11)
    polars_rows = min(args.polars_rows if args.polars_rows is not None else (50 if q else 300),
                      row_rows)
    check_rows = min(args.check_rows or min(rows, 1_000_000), rows)
    fit_repeat = args.fit_repeat or min(repeat, 5)
    cold_runs = args.cold_runs if args.cold_runs is not None else (3 if q else 5)

    t0 = time.perf_counter()
    df = data_gen.make_frame(rows, args.seed)
    t = time.perf_counter()
    spec = fd.compile_file(SPEC_FILE)
    t_compile = time.perf_counter() - t
    t = time.perf_counter()
    fitted = fit_spec(spec, df)  # once, outside every timed loop
    t_fit_once = time.perf_counter() - t
    stats = hand_stats(df)
    t = time.perf_counter()
    evaluator = fitted.row_evaluator()
    t_eval = time.perf_counter() - t
    t = time.perf_counter()
    fitted.feature_exprs()
    t_exprs = time.perf_counter() - t
    args_stats = (stats["amount_mean"], stats["amount_std"], stats["cat_vocab"])
    features = handwritten.python_features(*args_stats)  # type: ignore[arg-type]
    hand_exprs = handwritten.polars_exprs(*args_stats)  # type: ignore[arg-type]
    print(f"# data: {rows:,} rows generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    # ---------------------------------------------------------------- batch
    def batch_impls(frame: pl.DataFrame) -> dict[str, Callable[[], object]]:
        return {
            "hand-written Polars select": lambda: frame.lazy().select(hand_exprs).collect(
                engine="in-memory"),
            "featuredsl spec.transform(df)": lambda: fitted.transform(frame),
            "featuredsl transform_lazy(df).collect() (one plan, no validation pass)":
                lambda: fitted.transform_lazy(frame).collect(engine="in-memory"),
        }

    def fit_impls(frame: pl.DataFrame) -> dict[str, Callable[[], object]]:
        impls: dict[str, Callable[[], object]] = {
            FIT_HAND: lambda: hand_fit_frame(frame),
            FIT_FD: lambda: fit_spec(spec, frame),
        }
        stats_fn = stats_only_fit(spec, frame)
        if stats_fn is not None:
            impls[FIT_STATS] = stats_fn
        return impls

    batch = {str(rows): bench_batch(batch_impls(df), repeat)}
    print(f"# batch {rows:,} done", file=sys.stderr)
    files = {str(rows): bench_files(df, fitted, hand_exprs, max(3, repeat // 2))}
    print(f"# Parquet to Parquet {rows:,} done", file=sys.stderr)
    fit = {str(rows): bench_batch(fit_impls(df), fit_repeat)}
    print(f"# fit {rows:,} done", file=sys.stderr)
    if args.big and rows < 10_000_000:
        big = data_gen.make_frame(10_000_000, args.seed)
        batch["10000000"] = bench_batch(batch_impls(big), max(3, repeat // 2))
        print("# batch 10M done", file=sys.stderr)
        fit["10000000"] = bench_batch(fit_impls(big), 3)
        print("# fit 10M done", file=sys.stderr)
        del big
        gc.collect()

    # ---------------------------------------------------------------- row
    serving = data_gen.rows_for_serving(df.head(row_rows))
    overhead = timer_overhead_ns()
    naive = [dict(r, ts=r["ts"].replace(tzinfo=None)) for r in serving]
    row = bench_rows({"hand-written Python": features,
                      "featuredsl row_evaluator()": evaluator,
                      "featuredsl row_evaluator(), `ts` a naive UTC datetime": (evaluator, naive),
                      "16-entry dict literal alone": handwritten.dict_literal},
                     serving, repeat, overhead)
    del naive
    print(f"# row {row_rows:,} done", file=sys.stderr)
    one_row: dict[str, dict[str, list[float]]] = {}
    if polars_rows:
        schema = data_gen.schema()
        sample = serving[:polars_rows]

        def eager(r: dict) -> object:
            return pl.DataFrame([r], schema=schema).select(hand_exprs)

        def best(r: dict) -> object:
            return pl.from_dicts([r], schema=schema).lazy().select(hand_exprs).collect(
                engine="in-memory", optimizations=pl.QueryOptFlags.none())

        res = bench_rows({"Polars 1-row frame: `pl.DataFrame([row], schema).select(exprs)`":
                          eager,
                          "Polars 1-row frame: `from_dicts` + in-memory, no optimizations":
                          best}, sample, min(repeat, 3), overhead)
        one_row = res

    # ---------------------------------------------------------------- checks
    fd_batch = fitted.transform(df.head(check_rows))
    hand_batch = df.head(check_rows).lazy().select(hand_exprs).collect(engine="in-memory")
    checks = run_checks(df, fd_batch, hand_batch, evaluator, features, fitted, check_rows)
    print("# checks done", file=sys.stderr)

    # ---------------------------------------------------------------- cold start
    cold = bench_cold(cold_runs) if cold_runs else {}

    result = {
        "config": {"rows": rows, "row_rows": row_rows, "repeat": repeat,
                   "polars_rows": polars_rows, "check_rows": check_rows, "seed": args.seed,
                   "quick": q},
        "machine": machine_info(),
        "stats": {"featuredsl": fitted.stats, "hand-written": stats},
        "build": {"compile_ms": t_compile * 1e3, "fit_ms": t_fit_once * 1e3,
                  "evaluator_ms": t_eval * 1e3, "exprs_ms": t_exprs * 1e3},
        "timer_overhead_ns": overhead,
        "row": row, "one_row_polars": one_row, "batch": batch, "fit": fit, "cold": cold,
        "files": files,
        "checks": checks,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": time.perf_counter() - t0,
    }
    print(render(result))
    if args.library:
        import library

        lib_rows = min(rows, 1_000_000)
        lib = library.measure(library.frame(lib_rows, args.seed), min(row_rows, 20_000),
                              min(repeat, 7))
        result["library"] = lib
        print("\n" + library.render(lib, lib_rows, min(row_rows, 20_000)))
    if args.memory is not None:
        import stream_memory

        sizes = [str(n) for n in (args.memory or [10_000_000, 50_000_000])]
        print("\nPeak memory of file-to-file `featuredsl transform` (fresh processes):\n")
        stream_memory.main(["--rows", *sizes])
    windows_failed = 0
    if args.windows:
        import windows

        print("\nWindow aggregates (benchmarks/windows.py):\n", flush=True)
        windows_failed = windows.main(["--quick"] if q else [])
    print(f"\n(total {result['seconds']:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=_json_default))
    failed = sum(checks["parity"].values()) + sum(checks["wrong_type"].values())  # type: ignore
    return 1 if failed or windows_failed else 0


def _json_default(o: object) -> object:
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
