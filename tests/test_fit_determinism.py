"""Fit determinism: the same rows give bit-identical statistics and profile whatever the
chunking, source kind, row order, thread count or engine."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import featuredsl as fd
from featuredsl.fit.passes import Frame, drive
from featuredsl.fit.select import _summary_query, float_moments

pytestmark = pytest.mark.filterwarnings("ignore::featuredsl.fit.FitTimeWarning")

SPEC = """
input {
  x: float?
  n: int?
  s: string?
}
stat x_mean = mean(x)
stat x_std = std(x)
stat centered_std = std(x - x_mean)
feature z = (x - x_mean) / x_std
feature zc = (x - mean(x)) / centered_std
feature q = bucketize(x, quantiles(x, 10))
feature nv = var(n) + median(x)
feature sv = index_of(s, vocab(s, top=50))
feature mm = (n - min(n)) / (max(n) - min(n))
"""


def _frame(size: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size) * 10.0 ** rng.integers(-8, 9, size)
    x[rng.random(size) < 0.05] = np.nan
    xs = pl.Series("x", x).scatter(np.flatnonzero(rng.random(size) < 0.05), None)
    n = pl.Series("n", rng.integers(-1000, 1000, size))
    s = pl.Series("s", rng.integers(0, 80, size).astype(str)).cast(pl.String)
    return pl.DataFrame([xs, n, s])


def _fingerprint(fitted: fd.FittedSpec) -> str:
    """Every statistic and the whole profile, floats by their exact repr (bit patterns)."""
    return json.dumps({"stats": {k: repr(v) for k, v in fitted.stats.items()},
                       "profile": fitted.profile}, sort_keys=True, default=repr)


@pytest.fixture(scope="module")
def spec() -> fd.Spec:
    return fd.compile(SPEC)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return _frame(40_000)


@pytest.fixture(scope="module")
def reference(spec: fd.Spec, frame: pl.DataFrame) -> str:
    return _fingerprint(spec.fit(frame))


def _rechunked(df: pl.DataFrame, sizes: list[int]) -> pl.DataFrame:
    parts, start = [], 0
    while start < len(df):
        step = sizes[len(parts) % len(sizes)]
        parts.append(df.slice(start, step))
        start += step
    out = pl.concat(parts, rechunk=False)
    assert out.n_chunks() > 1
    return out


def test_same_data_twice(spec: fd.Spec, frame: pl.DataFrame, reference: str) -> None:
    assert _fingerprint(spec.fit(frame)) == reference
    assert _fingerprint(spec.fit(frame.clone())) == reference


def test_rechunked(spec: fd.Spec, frame: pl.DataFrame, reference: str) -> None:
    assert _fingerprint(spec.fit(_rechunked(frame, [997, 13, 4096, 1]))) == reference
    assert _fingerprint(spec.fit(_rechunked(frame, [250]))) == reference


def test_row_order_does_not_matter(spec: fd.Spec, frame: pl.DataFrame, reference: str) -> None:
    # every statistic is a function of the multiset of values: shuffled rows and shuffled
    # chunk order give the same bits
    assert _fingerprint(spec.fit(frame.sample(fraction=1.0, shuffle=True, seed=3))) == reference
    chunks = [frame.slice(i, 3000) for i in range(0, len(frame), 3000)]
    random.Random(1).shuffle(chunks)
    assert _fingerprint(spec.fit(pl.concat(chunks, rechunk=False))) == reference


def test_sources(spec: fd.Spec, frame: pl.DataFrame, reference: str, tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    frame.write_parquet(path, row_group_size=3000)
    assert _fingerprint(spec.fit(frame.lazy())) == reference
    assert _fingerprint(spec.fit(path)) == reference
    assert _fingerprint(spec.fit(str(path))) == reference
    assert _fingerprint(spec.fit(pl.scan_parquet(path))) == reference
    assert _fingerprint(spec.fit(frame.to_arrow())) == reference
    assert _fingerprint(spec.fit(frame.to_pandas())) == reference


def test_polars_own_sums_are_order_dependent_ours_are_not() -> None:
    # the trap this guards against: Polars' float sum depends on the chunking
    rng = np.random.default_rng(7)
    x = rng.standard_normal(100_000) * 10.0 ** rng.integers(-12, 12, 100_000)
    df = pl.DataFrame({"x": x})
    pieces = _rechunked(df, [7, 1000, 33])
    exact = drive(float_moments(Frame(df.lazy()), "x"))
    summary = _summary_query(df.lazy(), pl.col("x")).collect().sort("b")
    for data in (pieces, df.reverse()):
        assert drive(float_moments(Frame(data.lazy()), "x")) == exact
        for engine in ("streaming", "in-memory"):
            got = _summary_query(data.lazy(), pl.col("x")).collect(engine=engine).sort("b")
            assert got.equals(summary)
    assert float(exact.mean()) == float(sum(map(Fraction, x)) / len(x))
    sums = {pl.DataFrame({"x": x[i::3].tolist() + x[:i:3].tolist()})["x"].sum() for i in range(3)}
    assert len(sums | {pieces["x"].sum(), df.reverse()["x"].sum()}) > 1


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, polars as pl
    sys.path.insert(0, {root!r})
    import featuredsl as fd
    from tests.test_fit_determinism import SPEC, _frame, _fingerprint
    print(json.dumps([pl.thread_pool_size(), _fingerprint(fd.compile(SPEC).fit(_frame(40_000)))]))
""")


def test_thread_count_does_not_matter(reference: str) -> None:
    root = str(Path(__file__).resolve().parent.parent)
    out = []
    for threads in ("1", "3"):
        env = dict(os.environ, POLARS_MAX_THREADS=threads)
        proc = subprocess.run([sys.executable, "-c", _CHILD.format(root=root)], env=env,
                              capture_output=True, text=True, check=True, cwd=root)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert out[0][0] == 1
    assert out[0][1] == reference and out[1][1] == reference


def test_streaming_fit_from_a_parquet_scan(tmp_path: Path) -> None:
    """A larger-than-memory style run at CI size: 1.5M rows fitted from ``scan_parquet`` on the
    streaming engine; the same bits as the in-memory frame fitted in another chunking."""
    spec = fd.compile("input { x: float?\n  n: int? }\n"
                      "feature z = (x - mean(x)) / std(x)\nfeature v = var(n)\n"
                      "feature q = bucketize(x, quantiles(x, 4))\n")
    size = 1_500_000
    rng = np.random.default_rng(11)
    df = pl.DataFrame({"x": rng.standard_normal(size) * 1e3,
                       "n": rng.integers(-10**9, 10**9, size)})
    path = tmp_path / "big.parquet"
    df.write_parquet(path, row_group_size=100_000)
    start = time.perf_counter()
    fitted = spec.fit(pl.scan_parquet(path))
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"fit took {elapsed:.1f}s"
    assert fitted.profile["rows"] == size
    again = spec.fit(_rechunked(df, [65_536, 100_003]))
    assert _fingerprint(again) == _fingerprint(fitted)


def test_artifacts_are_byte_identical_across_sources(spec: fd.Spec, frame: pl.DataFrame,
                                                     tmp_path: Path) -> None:
    """The issue's contract: the same rows give a byte-identical artifact whatever the source."""
    parquet = tmp_path / "train.parquet"
    frame.write_parquet(parquet, row_group_size=5000)
    sources = {
        "frame": frame, "rechunked": _rechunked(frame, [1001, 7]), "lazy": frame.lazy(),
        "parquet": parquet, "pandas": frame.to_pandas(),
    }
    blobs = {}
    for name, data in sources.items():
        out = tmp_path / f"{name}.featpack.json"
        spec.fit(data).save(out)
        blobs[name] = out.read_bytes()
    assert len(set(blobs.values())) == 1, [n for n, b in blobs.items() if b != blobs["frame"]]
    loaded = fd.load(tmp_path / "parquet.featpack.json")
    assert loaded.stats == spec.fit(frame).stats
