"""featuredsl.spark.fit: the artifact is byte-identical to the local fit of the same rows,
whatever the partitioning (1, 2, 7 partitions, all rows in one of 7, empty partitions)."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pandas")

import featuredsl as fd
import featuredsl.spark as fds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
import data_gen  # noqa: E402
from fraud_demo import generate  # noqa: E402
from test_spark_transform import EDGES, edge_frame, spark_frame  # noqa: E402

STATS = """
input {
  g:  string?
  h:  int?
  k:  float?
  x:  float?
  n:  int?
  s:  string?
  b:  bool?
  xs: list[float?]?
}
stat x_std  = std(x)
stat x_var  = var(x)
stat x_med  = median(x)
stat x_q    = quantiles(x, 7)
stat n_q    = quantiles(n, 4)
stat n_mean = mean(n)
stat n_std  = std(n)
stat x_min  = min(x)
stat n_max  = max(n)
stat s_min  = min(s)
stat s_voc  = vocab(s, top=3, min_count=2)
stat n_voc  = vocab(n, top=4)
stat x_cnt  = count(x)
stat x_nf   = null_fraction(x)
stat lvl2   = std(x - x_med)
feature f_x     = (x - x_med) / x_std
feature f_lvl   = x / lvl2
feature f_q     = bucketize(x, x_q)
feature f_nq    = bucketize(n, n_q)
feature f_n     = (n - n_mean) / n_std
feature f_s     = index_of(s, s_voc) ?? -1
feature f_v     = index_of(n, n_voc) ?? -1
feature f_misc  = x_var + x_min + x_cnt + x_nf
feature f_maxs  = n_max
feature f_smin  = s_min
feature g_mean  = mean(x, by=g)
feature g_sm    = mean(x, by=g, smoothing=2.5)
feature g_std   = std(n, by=g, min_count=2)
feature g_var   = var(x, by=[g, h])
feature g_min   = min(x, by=k)
feature g_max   = max(s, by=g)
feature g_cnt   = count(x, by=g)
feature g_rows  = count(by=h)
feature g_share = share(by=b)
feature g_nf    = null_fraction(x, by=g)
feature g_top   = mean(n, by=g, top=3)
feature g_topk  = count(by=k, top=2, min_count=2)
feature f_b     = b
feature f_xs    = xs
"""


def stats_frame(n: int = 400) -> pl.DataFrame:
    """Skewed groups, edge values (NaN, +-inf, -0.0, int64 extremes, wide exponents, empty
    and non-ASCII strings) and nulls everywhere."""
    floats = [None, math.nan, -0.0, 0.0, 1.5, -2.25, 1e300, -1e-300, 5e-324, 3.0, 3.0, 0.1,
              7.0, 2.0**60]
    ints = [None, 0, 5, -7, 2**62, -(2**62), 3, 3, 3, 11, 2**63 - 1, -(2**63)]
    strings = [None, "", "é", "日本", "b", "b", "a", "a", "a", "🙂", "US"]
    groups = ["a", "a", "a", "b", "b", "é", None, "", "c", "a"]
    keys = [None, -0.0, 0.0, 1.0, math.nan, 2.5, 1.0]
    cyc = lambda vs, m=1: [vs[(i * m) % len(vs)] for i in range(n)]  # noqa: E731
    return pl.DataFrame({
        "g": cyc(groups, 3), "h": cyc([None, 1, 2, 2, 3], 7), "k": cyc(keys, 5),
        "x": cyc(floats), "n": cyc(ints, 5), "s": cyc(strings, 2),
        "b": cyc([True, None, False, True], 1),
        "xs": cyc([None, [], [1.0, None], [math.inf]], 3),
    }, schema={"g": pl.String, "h": pl.Int64, "k": pl.Float64, "x": pl.Float64,
               "n": pl.Int64, "s": pl.String, "b": pl.Boolean, "xs": pl.List(pl.Float64)})


def artifact(fitted: fd.FittedSpec, tmp: Path) -> bytes:
    path = tmp / "a.json"
    fitted.save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def spark():
    return fds.session("local[2]")


def _layouts(spark, df: pl.DataFrame):
    yield "1", spark_frame(spark, df, 1)
    yield "2", spark_frame(spark, df, 2)
    yield "7", spark_frame(spark, df, 7)
    yield "skew", spark_frame(spark, df, skew=True)


def test_stats_and_profile_byte_identical(spark, tmp_path: Path) -> None:
    df = stats_frame()
    spec = fd.compile(STATS)
    with warnings.catch_warnings(record=True) as local:
        warnings.simplefilter("always", fd.FitTimeWarning)
        want = artifact(spec.fit(df), tmp_path)
    for name, sdf in _layouts(spark, df):
        with warnings.catch_warnings(record=True) as remote:
            warnings.simplefilter("always", fd.FitTimeWarning)
            got = artifact(fds.fit(spec, sdf), tmp_path)
        assert got == want, f"partitioning {name}"
        assert [str(w.message) for w in remote if w.category is fd.FitTimeWarning] == \
            [str(w.message) for w in local if w.category is fd.FitTimeWarning]


def test_edges_and_reference_byte_identical(spark, tmp_path: Path) -> None:
    df = edge_frame()
    spec = fd.compile(EDGES)
    want = artifact(spec.fit(df), tmp_path)
    assert artifact(fds.fit(spec, spark_frame(spark, df, 7)), tmp_path) == want
    ref = data_gen.make_frame(5000)
    spec = fd.compile_file(ROOT / "benchmarks" / "reference.feat")
    want = artifact(spec.fit(ref), tmp_path)
    assert artifact(fds.fit(spec, spark_frame(spark, ref, 3)), tmp_path) == want
    # without the profile too; an empty data set fits as the local fit of no rows does
    assert artifact(fds.fit(spec, spark_frame(spark, ref, 2), profile=False), tmp_path) == \
        artifact(spec.fit(ref, profile=False), tmp_path)
    with pytest.warns(fd.FitTimeWarning):
        empty_local = artifact(spec.fit(ref.head(0)), tmp_path)
    with pytest.warns(fd.FitTimeWarning):
        assert artifact(fds.fit(spec, spark_frame(spark, ref.head(0), 2)), tmp_path) == \
            empty_local


def test_windows_fit_byte_identical(spark, tmp_path: Path) -> None:
    log = generate(2000, users=100)
    spec = fd.compile_file(ROOT / "examples" / "fraud.feat")
    want = artifact(spec.fit(log, sources={"txns": log}), tmp_path)
    rows = spark_frame(spark, log, 3)
    events = spark_frame(spark, log, 2)
    assert artifact(fds.fit(spec, rows, sources={"txns": events}), tmp_path) == want


def test_bad_values_and_schema(spark) -> None:
    spec = fd.compile("input {\n  x: float\n}\nstat m = mean(x)\nfeature y = x - m\n")
    df = pl.DataFrame({"x": [1.0, 2.0, None, 4.0]})
    with pytest.raises(fd.InputError) as local:
        spec.fit(df)
    with pytest.raises(fd.InputError) as remote:
        fds.fit(spec, spark_frame(spark, df).coalesce(1))
    assert str(remote.value) == str(local.value).replace(", row 2:",
                                                         ", row 2 of Spark partition 0:")
    with pytest.raises(fd.InputError, match="column `x` is missing"):
        fds.fit(spec, spark_frame(spark, pl.DataFrame({"z": [1.0]})))
    with pytest.raises(fd.InputError, match="Spark DataFrame"):
        fds.fit(spec, df)  # type: ignore[arg-type]


def test_a_request_without_a_merge_rule_is_refused() -> None:
    """Never approximated: an aggregate kind the merge does not know is an error naming it."""
    from featuredsl.fit.passes import Frame, Query, Scalar
    from featuredsl.spark import merge

    frame = Frame(pl.DataFrame({"x": [1.0]}).lazy())
    with pytest.raises(fd.FeatureDSLError, match="`sketch` of the local fit has no exact merge"):
        merge.check([Scalar(frame, pl.col("x").sum(), "rows"),
                     Scalar(frame, pl.col("x").approx_n_unique(), ("sketch", "x"))])
    with pytest.raises(fd.FeatureDSLError, match="`top-hashes`"):
        merge.check([Query(frame, frame.lf, ("top-hashes", "x", 3, 1))])


def test_codec_round_trips_exactly() -> None:
    import datetime as dt

    from featuredsl import ir
    from featuredsl.spark import codec

    values = [None, True, 0, -(2**200), 2**63, -0.0, math.inf, -math.inf, 5e-324, 0.1, "",
              "日本\x00", dt.datetime(1, 1, 1, tzinfo=dt.UTC),
              dt.datetime(2024, 3, 10, 2, 30), dt.date(9999, 12, 31),
              dt.timedelta(microseconds=-1), (1, "a", None), [2.5, [None]],
              pl.DataFrame({"s": pl.Series([2**100, None], dtype=pl.Int128),
                            "\x00k0": ["é", None]}),
              ir.GroupTable((("a", 1.0),), (math.inf,), (3,))]
    got = codec.unpack(codec.pack(values))
    for a, b in zip(values, got, strict=True):
        if isinstance(a, pl.DataFrame):
            assert isinstance(b, pl.DataFrame) and a.equals(b) and a.schema == b.schema
        else:
            assert type(a) is type(b) and repr(a) == repr(b)


def test_levels_of_grouped_statistics(spark, tmp_path: Path) -> None:
    """A first level of grouped statistics alone (prefetched in one job with placeholders),
    then statistics over them: the placeholders never reach the result."""
    spec = fd.compile("""
input {
  g: string?
  h: int?
  x: float?
  n: int?
}
stat gm = mean(x, by=g)
stat gc = count(by=h)
stat s2 = std(n, by=g, min_count=2)
stat m2 = mean(x - (gm ?? 0.0))
stat lvl2g = mean(x - m2, by=h)
feature a = x - m2
feature b = lvl2g
feature c = gc + 0
feature d = s2
""")
    df = stats_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = artifact(spec.fit(df), tmp_path)
        assert artifact(fds.fit(spec, spark_frame(spark, df, 3)), tmp_path) == want
