"""Bounded-memory exact statistics (featuredsl/fit/select.py, fit_top.py, fit_passes.py):
order statistics by multi-pass selection equal numpy's on hostile data whatever the collect
budget; moments equal exact rational sums; top values equal a Counter even with a hash that
collides all the time; fit's queries run natively on the streaming engine; and fitting a
Parquet scan does not hold the data (peak RSS against the row count, in a subprocess)."""

from __future__ import annotations

import json
import math
import os
import re
import struct
import subprocess
import sys
import textwrap
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import featuredsl as fd
import featuredsl.fit.select as fs
import featuredsl.fit.top as ft
from featuredsl.fit import passes as fit_passes
from featuredsl.fit.passes import Budget, Frame, drive

pytestmark = pytest.mark.filterwarnings("ignore::featuredsl.fit.FitTimeWarning")

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def _bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _float_data(kind: str, size: int, seed: int) -> list[float | None]:
    rng = np.random.default_rng(seed)
    if kind == "hostile":
        pool = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1.7976931348623157e308,
                -1.7976931348623157e308, 2.2250738585072014e-308, 1.0, -1.0, None]
        vals = [pool[i] if i < len(pool) else float(v) for i, v in zip(
            rng.integers(0, 3 * len(pool), size),
            rng.standard_normal(size) * 10.0 ** rng.integers(-300, 300, size), strict=True)]
    elif kind == "ties":  # few distinct values, signed zeros among them
        vals = [[-0.0, 0.0, 1.5, -2.5, None, math.nan][i] for i in rng.integers(0, 6, size)]
    elif kind == "one_bucket":  # every value shares the top 16 key bits: refined to the end
        vals = [1.0 + int(i) * 2.0**-52 for i in rng.integers(0, 5000, size)]
    else:  # smooth
        vals = list(rng.standard_normal(size) * 1e3)
    return vals


def _int_data(kind: str, size: int, seed: int) -> list[int | None]:
    rng = np.random.default_rng(seed)
    if kind == "extremes":
        pool = [I64_MIN, I64_MAX, 0, -1, 1, 2**53, 2**53 + 1, -(2**53) - 1, None]
        return [pool[i] if i < len(pool) else int(v) for i, v in zip(
            rng.integers(0, 2 * len(pool), size),
            rng.integers(I64_MIN, I64_MAX, size, dtype=np.int64, endpoint=True), strict=True)]
    if kind == "one_bucket":
        return [10**12 + int(v) for v in rng.integers(0, 70_000, size)]
    return [int(v) if v % 7 else None for v in rng.integers(-50, 50, size)]


def _expected(vals: list, ranks: list[int], is_float: bool) -> list:
    clean = [v for v in vals if v is not None and not (is_float and math.isnan(v))]
    if is_float:
        clean = [v + 0.0 if v == 0 else v for v in clean]  # -0.0 counts as 0.0
    clean.sort()
    return [clean[r] for r in ranks]


def _run_order_stats(vals: list, dtype: pl.DataType, kind: str, ranks_of, budget: int) -> list:
    lf = pl.DataFrame({"x": pl.Series(vals, dtype=dtype, strict=False)}).lazy()
    if dtype == pl.Float64:  # as prepare delivers floats: NaN is null
        lf = lf.with_columns(pl.col("x").fill_nan(None))
    b = Budget(budget)
    return drive(fs.order_stats(Frame(lf), "x", kind, ranks_of, b), b)


@pytest.mark.parametrize("budget", [fs.COLLECT_BUDGET, 0, 37])
@pytest.mark.parametrize("data", ["hostile", "ties", "one_bucket", "smooth"])
def test_float_order_stats_equal_a_sort(data: str, budget: int) -> None:
    vals = _float_data(data, 3000, seed=len(data))
    n = sum(1 for v in vals if v is not None and not math.isnan(v))
    ranks = sorted({0, n - 1, (n - 1) // 2, n // 2, *range(0, n, 97)})
    got = _run_order_stats(vals, pl.Float64, "float", lambda m: ranks, budget)
    want = _expected(vals, ranks, True)
    assert [_bits(v) for v in got] == [_bits(v) for v in want]
    # and numpy's 'lower' quantiles
    clean = np.array(_expected(vals, list(range(n)), True))
    deciles = _run_order_stats(vals, pl.Float64, "float",
                               lambda m: [(m - 1) * i // 10 for i in range(1, 10)], budget)
    np_q = np.quantile(clean, [i / 10 for i in range(1, 10)], method="lower")
    assert [_bits(v) for v in deciles] == [_bits(float(v)) for v in np_q]


@pytest.mark.parametrize("budget", [fs.COLLECT_BUDGET, 0, 37])
@pytest.mark.parametrize("data", ["extremes", "one_bucket", "small"])
def test_int_order_stats_equal_a_sort(data: str, budget: int) -> None:
    vals = _int_data(data, 2500, seed=len(data))
    n = sum(1 for v in vals if v is not None)
    ranks = sorted({0, n - 1, *range(0, n, 61)})
    got = _run_order_stats(vals, pl.Int64, "int", lambda m: ranks, budget)
    assert got == _expected(vals, ranks, False)


def test_no_values_and_one_value() -> None:
    assert _run_order_stats([None, math.nan], pl.Float64, "float", lambda m: [0], 10) == []
    assert _run_order_stats([None], pl.Int64, "int", lambda m: [0], 10) == []
    got = _run_order_stats([None, -0.0], pl.Float64, "float", lambda m: [0, 0], 0)
    assert [repr(v) for v in got] == ["0.0", "0.0"]


def test_selection_takes_few_passes() -> None:
    rng = np.random.default_rng(3)
    df = pl.DataFrame({"x": rng.standard_normal(200_000), "n": rng.integers(I64_MIN, I64_MAX,
                                                                              200_000)})
    deciles = [(i, 10) for i in range(1, 10)]

    def passes(kind: str, budget: int) -> int:
        before = fit_passes.PASSES
        b = Budget(budget)
        drive(fs.order_stats(Frame(df.lazy()), "x" if kind == "float" else "n", kind,
                             lambda m: [(m - 1) * i // k for i, k in deciles], b), b)
        return fit_passes.PASSES - before

    assert passes("float", fs.COLLECT_BUDGET) == 2  # summary, then the deciles' ranges
    assert passes("float", 0) <= 5  # never collecting: 16 key bits, then 12 a pass
    assert passes("int", fs.COLLECT_BUDGET) <= 3  # min/max, then a range or two
    assert passes("int", 0) <= 7


def _exact_moments(vals: list[float]) -> tuple:
    xs = [Fraction(v) for v in vals]
    n = len(xs)
    s = sum(xs)
    var = sum(x * x for x in xs) / n - (s / n) ** 2
    return float(s / n), float(var)


@pytest.mark.parametrize("split_at", [fs.SPLIT_AT, 60])
def test_float_moments_are_exact(monkeypatch: pytest.MonkeyPatch, split_at: int) -> None:
    monkeypatch.setattr(fs, "SPLIT_AT", split_at)  # 60: large groups' sum(r*r) split in halves
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4000) * 10.0 ** (rng.integers(-150, 150, 4000) * (split_at > 60))
    x[:50] = 5e-324
    x[50:60] = -0.0
    m = drive(fs.float_moments(Frame(pl.DataFrame({"x": x}).lazy()), "x"))
    mean, var = _exact_moments(list(x))
    assert (m.mean(), m.var()) == (mean, var)


@pytest.mark.parametrize("vals", [
    [3, -4, 5, None, 0],  # Int64 sums
    [2**40, -(2**40), 7] * 40,  # x*x in Int128
    [2**52, -(2**53), 2**31 + 5] * 10,  # |x| split in halves
    [I64_MIN, I64_MAX, 2**53 + 1, -(2**53) - 1, 12, -7],  # float(x) != x: via the summary
])
def test_int_moments_are_the_moments_of_float_x(vals: list) -> None:
    frame = Frame(pl.DataFrame({"n": pl.Series(vals, dtype=pl.Int64)}).lazy())
    m = drive(fs.int_moments(frame, "n"))
    mean, var = _exact_moments([float(v) for v in vals if v is not None])
    assert (m.mean(), m.var()) == (mean, var)


def _counter_top(vals: list, top: int, min_count: int) -> list[tuple]:
    counts = Counter(v for v in vals if v is not None)
    ok = [(v, c) for v, c in counts.items() if c >= min_count]
    return sorted(ok, key=lambda p: (-p[1], p[0]))[:top]


@pytest.mark.parametrize("weak_hash", [False, True])
@pytest.mark.parametrize("candidates", [4096, 3, 0])
def test_top_values_are_exact_even_with_colliding_hashes(
        monkeypatch: pytest.MonkeyPatch, weak_hash: bool, candidates: int) -> None:
    monkeypatch.setattr(ft, "SAMPLE", 50)  # take the hashed route
    monkeypatch.setattr(ft, "CANDIDATES", candidates)
    if weak_hash:  # the length of the string: collisions everywhere
        monkeypatch.setattr(ft, "_hash", lambda c: c.str.len_bytes().cast(pl.UInt64))
    rng = np.random.default_rng(9)
    words = ["a", "b", "cc", "dd", "é", "", "zz", "y", "xyz", "ab"]
    vals = [None if i == 0 else words[i % len(words)] + ("" if i < 40 else str(i))
            for i in rng.integers(0, 60, 3000)]
    frame = Frame(pl.DataFrame({"s": pl.Series(vals, dtype=pl.String)}).lazy())
    for top, min_count in [(5, 1), (20, 1), (3, 60), (1000, 2), (4, 10**6)]:
        got = drive(ft.top_values(frame, "s", "string", top, min_count))
        assert got == _counter_top(vals, top, min_count), (top, min_count)


@pytest.mark.parametrize("top_keys", [ft.KEYS_PER_PASS, 500])  # 500: top values partitioned
def test_fit_queries_run_natively_on_the_streaming_engine(monkeypatch: pytest.MonkeyPatch,
                                                          top_keys: int) -> None:
    """No in-memory fallback and no sort over the data in any query fit runs."""
    monkeypatch.setattr(ft, "KEYS_PER_PASS", top_keys)
    plans: list[pl.LazyFrame] = []
    real = pl.collect_all

    def spy(lfs, **kw):  # type: ignore[no-untyped-def]
        plans.extend(lfs)
        return real(lfs, **kw)

    monkeypatch.setattr(fit_passes.pl, "collect_all", spy)
    spec = fd.compile("input { x: float?\n  n: int?\n  s: string? }\n"
                      "feature q = bucketize(x, quantiles(x, 4)) + median(x)\n"
                      "feature z = (x - mean(x)) / std(x)\n"
                      "feature i = index_of(s, vocab(s, top=5)) ?? -1\n")
    rng = np.random.default_rng(1)
    df = pl.DataFrame({"x": rng.standard_normal(5000), "n": rng.integers(0, 9, 5000),
                       "s": [f"w{i}" for i in rng.integers(0, 4000, 5000)]})
    spec.fit(df)
    assert len(plans) >= 15
    for lf in plans:
        graph = lf.show_graph(engine="streaming", plan_stage="physical", raw_output=True,
                              show=False)
        nodes = {m.split("\\n")[0] for m in re.findall(r'label="([^"]*)"', graph or "")}
        assert not nodes & {"in-memory-map", "fallback"}, nodes
        # a sort only ever orders an aggregated result (after a group-by), never the rows
        if "sort" in nodes:
            assert "group-by" in nodes, nodes


_CHILD = textwrap.dedent("""
    import json, sys, warnings
    import polars as pl
    sys.path.insert(0, {root!r})
    import featuredsl as fd
    from featuredsl.fit import passes as fit_passes
    import featuredsl.fit.fitting as fit_mod
    import featuredsl.fit.select as fit_select
    # one scan at a time (Polars' read-ahead counted once) and a small collect budget: the
    # constants that bound the memory are reached at a few thousand rows, not millions
    fit_passes.CONCURRENT = 1
    fit_mod.COLLECT_BUDGET = fit_select.COLLECT_BUDGET = 1 << 14
    warnings.simplefilter("ignore")
    spec = fd.compile({spec!r})
    fitted = spec.fit(pl.scan_parquet(sys.argv[1]))
    # VmHWM, the peak of this process's own memory map: ru_maxrss would start at the resident
    # size of the parent (pytest, holding the data it wrote), shared until the child execs
    peak = next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith("VmHWM:"))
    print(json.dumps([fitted.profile["rows"], peak,
                      fitted.stats]))
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_fitting_a_parquet_scan_does_not_hold_the_data(tmp_path: Path) -> None:
    """Peak RSS of a fit (3 float columns, their quantiles and the profile's deciles, a median,
    in a fresh process) against the row count: holding the values, as the sort did, grows by
    at least 3 x 8 bytes a row (the previous implementation grew by ~4 times that); here the
    peak stays flat. The memory constants are made small enough to be reached at these sizes
    (one query at a time, a 16k-key collect budget, Polars' read-ahead of one row group);
    benchmarks/README.md measures the defaults up to 12M rows."""
    k = 3
    spec = ("input {\n" + "\n".join(f"  x{i}: float?" for i in range(k)) + "\n}\n"
            + "\n".join(f"feature q{i} = bucketize(x{i}, quantiles(x{i}, 10))"
                        for i in range(k)) + "\nfeature m = x0 - median(x0)\n")
    root = str(Path(__file__).resolve().parent.parent)
    sizes = [1_000_000, 3_000_000]
    peaks = []
    rng = np.random.default_rng(1)
    for size in sizes:
        path = tmp_path / f"d{size}.parquet"
        pl.DataFrame({f"x{i}": rng.standard_normal(size) * 10.0 ** i for i in range(k)}
                     ).write_parquet(path, row_group_size=50_000)
        env = dict(os.environ, POLARS_MAX_THREADS="2", POLARS_ROW_GROUP_PREFETCH_SIZE="1")
        proc = subprocess.run([sys.executable, "-c", _CHILD.format(root=root, spec=spec),
                               str(path)], env=env, capture_output=True, text=True, check=True,
                              cwd=root)
        rows, peak_kb, stats = json.loads(proc.stdout.strip().splitlines()[-1])
        assert rows == size and len(stats) == k + 1
        peaks.append(peak_kb * 1024)
    held = k * 8 * (sizes[1] - sizes[0])  # what holding the values would add
    print(f"peak RSS {peaks[0] / 2**20:.0f} MB at {sizes[0]:,} rows, "
          f"{peaks[1] / 2**20:.0f} MB at {sizes[1]:,}; holding the values: +{held / 2**20:.0f} MB")
    assert peaks[1] - peaks[0] < 0.35 * held, (peaks, held)


def test_inputs_named_like_internal_columns() -> None:
    """fit's temporary columns cannot clash with an input's name (found in review: an input
    `__fd_a0` was overwritten by a statistic's argument column)."""
    spec = fd.compile("input { __fd_a0: float\n  __fd_n: string\n  y: float }\n"
                      "feature f = __fd_a0 + mean(y * 2)\n"
                      "feature g = index_of(__fd_n, vocab(__fd_n))\n")
    fitted = spec.fit(pl.DataFrame({"__fd_a0": [1.0, 2.0], "__fd_n": ["a", "b"],
                                    "y": [10.0, 20.0]}))
    assert fitted.stats == {"mean(y * 2)": 30.0, "vocab(__fd_n)": ("a", "b")}
    assert fitted.profile["inputs"]["__fd_a0"]["max"] == 2.0
    assert fitted.profile["inputs"]["__fd_n"]["top"] == [["a", 1], ["b", 1]]
