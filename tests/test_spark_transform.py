"""featuredsl.spark.transform on a local[2] session: the same values as the local batch
backend (parity equality, SPEC 4.14), the declared schema, errors as featuredsl errors."""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pandas")

import featuredsl as fd
import featuredsl.spark as fds
from featuredsl.parity import same_value

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
import data_gen  # noqa: E402

UTC = dt.UTC
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

EDGES = """
input {
  rid: int
  i:   int?
  x:   float?
  s:   string?
  b:   bool?
  t:   timestamp?
  d:   date?
  du:  duration?
  xs:  list[float?]?
}
stat x_mean = mean(i)
stat s_vocab = vocab(s, top=5)
feature i_out   = i
feature i_wrap  = i + 1
feature x_out   = x
feature x_sq    = x * x
feature x_z     = x - x_mean
feature x_log   = log(x)
feature x_rnd   = round(x, 2)
feature s_out   = s
feature s_up    = upper(s)
feature s_len   = length(s)
feature s_idx   = index_of(s, s_vocab) ?? -1
feature b_not   = not b
feature t_out   = t
feature t_ny    = hour(t, "America/New_York")
feature t_plus  = t + du
feature d_out   = d
feature du_out  = du
feature xs_out  = xs
feature xs_len  = length(xs)
feature has_x   = x is not null
"""


def edge_frame() -> pl.DataFrame:
    """Every edge value once per column (cycled): nulls, NaN, +-inf, -0.0, int64 extremes,
    empty and non-ASCII strings, timestamps at DST changes, the epoch and the range ends."""
    ints = [None, 0, 1, -1, I64_MIN, I64_MAX, 42]
    floats = [None, math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-308, 5e-324,
              1.7976931348623157e308, -2.5, 3.0, 0.1]
    strings = [None, "", "é", "日本語", "a\u0301", "ß", "x" * 200, "US", "US", "🙂"]
    bools = [None, True, False]
    utc = lambda *a: dt.datetime(*a, tzinfo=UTC)  # noqa: E731
    times = [None, utc(1, 1, 1), utc(9999, 12, 31, 23, 59, 59, 999999), utc(1970, 1, 1),
             utc(2024, 3, 10, 6, 59, 59, 999999), utc(2024, 3, 10, 7, 0),  # New York's DST
             utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 6, 30), utc(1969, 12, 31, 23, 59, 59)]
    dates = [None, dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1),
             dt.date(2024, 2, 29)]
    durs = [None, dt.timedelta(0), dt.timedelta(microseconds=-1), dt.timedelta(days=1, hours=3),
            dt.timedelta(days=-400)]
    lists = [None, [], [None], [1.0, -0.0, math.inf], [math.nan, 2.5]]
    n = 40
    cyc = lambda vs: [vs[k % len(vs)] for k in range(n)]  # noqa: E731
    return pl.DataFrame({
        "rid": list(range(n)), "i": cyc(ints), "x": cyc(floats), "s": cyc(strings),
        "b": cyc(bools), "t": cyc(times), "d": cyc(dates), "du": cyc(durs), "xs": cyc(lists),
    }, schema={"rid": pl.Int64, "i": pl.Int64, "x": pl.Float64, "s": pl.String,
               "b": pl.Boolean, "t": pl.Datetime("us", "UTC"), "d": pl.Date,
               "du": pl.Duration("us"), "xs": pl.List(pl.Float64)})


@pytest.fixture(scope="module")
def spark():
    return fds.session("local[2]")


def spark_frame(spark, df: pl.DataFrame, parts: int | None = None, skew: bool = False):
    from pyspark.sql import functions as F

    sdf = spark.createDataFrame(df.to_arrow())
    if skew:  # every row in one partition, the others empty
        return sdf.repartition(7, F.lit(0))
    return sdf if parts is None else sdf.repartition(parts)


def collected(out) -> pl.DataFrame:
    with fds.translate():
        got = pl.from_arrow(out.toArrow())
    assert isinstance(got, pl.DataFrame)
    return got


def assert_same(got: pl.DataFrame, want: pl.DataFrame, key: str = "rid") -> None:
    """Row by row, feature by feature, parity equality (the local frame is the reference)."""
    assert got.columns == want.columns
    got, want = got.sort(key), want.sort(key)
    assert got.height == want.height
    for c in want.columns:
        for k, (a, b) in enumerate(zip(got[c].to_list(), want[c].to_list(), strict=True)):
            assert same_value(a, b) or (isinstance(a, float) and isinstance(b, float)
                                        and math.isnan(a) and math.isnan(b)), \
                f"{c} row {k}: spark {a!r} local {b!r}"


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_edges_equal_local_in_any_partitioning(spark, parts: int) -> None:
    df = edge_frame()
    fitted = fd.compile(EDGES).fit(df)
    out = fds.transform(fitted, spark_frame(spark, df, parts), keep=["rid"])
    assert_same(collected(out), fitted.transform(df, keep=["rid"]))


def test_skewed_partitions_and_empty_input(spark) -> None:
    df = edge_frame()
    fitted = fd.compile(EDGES).fit(df)
    assert_same(collected(fds.transform(fitted, spark_frame(spark, df, skew=True), keep="rid")),
                fitted.transform(df, keep=["rid"]))
    empty = fds.transform(fitted, spark_frame(spark, df.head(0), 2), keep=["rid"])
    got = collected(empty)
    assert got.height == 0 and got.columns == ["rid", *fitted.features]


def test_declared_schema(spark) -> None:
    from pyspark.sql import types as st

    df = edge_frame()
    fitted = fd.compile(EDGES).fit(df)
    out = fds.transform(fitted, spark_frame(spark, df), keep=["rid", "s"])
    types = {f.name: f.dataType for f in out.schema.fields}
    assert types["rid"] == st.LongType() and types["s"] == st.StringType()
    assert types["i_out"] == st.LongType() and types["x_out"] == st.DoubleType()
    assert types["b_not"] == st.BooleanType() and types["t_out"] == st.TimestampType()
    assert types["d_out"] == st.DateType()
    assert isinstance(types["du_out"], st.DayTimeIntervalType)
    assert types["xs_out"] == st.ArrayType(st.DoubleType(), True)
    assert out.columns == ["rid", "s", *fitted.features]


def test_reference_spec_equals_local(spark) -> None:
    df = data_gen.make_frame(3000)
    fitted = fd.compile_file(ROOT / "benchmarks" / "reference.feat").fit(df)
    df = df.with_row_index("rid").with_columns(pl.col("rid").cast(pl.Int64))
    out = fds.transform(fitted, spark_frame(spark, df, 3), keep=["rid"])
    assert_same(collected(out), fitted.transform(df, keep=["rid"]))


def test_swapped_same_typed_columns_come_out_right(spark) -> None:
    """Spark reads returned batches by position: columns are selected by name first."""
    spec = fd.compile("input {\n  a: int\n  b: int\n}\nfeature fb = b\nfeature fa = a\n")
    df = pl.DataFrame({"b": [1, 2], "a": [10, 20]})
    out = fds.transform(spec, spark_frame(spark, df), keep=["b", "a"])
    got = collected(out)
    assert got.to_dict(as_series=False) == {"b": [1, 2], "a": [10, 20], "fb": [1, 2],
                                            "fa": [10, 20]}


def test_session_time_zone_does_not_shift(spark) -> None:
    spec = fd.compile("input {\n  t: timestamp\n}\nfeature h = hour(t)\nfeature t2 = t\n")
    when = dt.datetime(2024, 3, 10, 6, 30, tzinfo=UTC)
    df = pl.DataFrame({"t": [when]}, schema={"t": pl.Datetime("us", "UTC")})
    sdf = spark_frame(spark, df)
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        got = collected(fds.transform(spec, sdf))
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert got["h"].to_list() == [6]
    assert got["t2"].dt.convert_time_zone("UTC").to_list() == [when]


def test_missing_column_and_wrong_type_before_any_job(spark) -> None:
    fitted = fd.compile(EDGES).fit(edge_frame())
    sdf = spark_frame(spark, edge_frame().drop("s"))
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))
    with pytest.raises(fd.InputError, match=r"column `s` is missing.*`s: string\?`") as e:
        fds.transform(fitted, sdf)
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup(None)) == jobs  # no job
    assert e.value.field == "s" and e.value.expected == "string?"
    bad = spark_frame(spark, edge_frame().with_columns(pl.col("i").cast(pl.String)))
    with pytest.raises(fd.InputError, match=r"column `i`: expected int\?, got dtype String") as e:
        fds.transform(fitted, bad)
    assert e.value.field == "i"


def test_bad_value_in_a_worker_is_the_same_input_error(spark) -> None:
    spec = fd.compile("input {\n  x: float\n}\nfeature y = x + 1\n")
    df = pl.DataFrame({"x": [1.0, None, 3.0]})
    with pytest.raises(fd.InputError) as local:
        spec.transform(df)
    out = fds.transform(spec, spark_frame(spark, df).coalesce(1))
    with pytest.raises(fd.InputError) as remote:
        fds.collect(out)
    # the same message, the row named within its Spark partition (no global row order)
    assert str(remote.value) == str(local.value).replace(", row 1:",
                                                         ", row 1 of Spark partition 0:")
    assert remote.value.row == local.value.row == 1
    assert remote.value.field == "x" and remote.value.expected == local.value.expected


def test_not_fitted_and_bad_arguments(spark) -> None:
    spec = fd.compile(EDGES)
    with pytest.raises(fd.NotFittedError):
        fds.transform(spec, spark_frame(spark, edge_frame()))
    with pytest.raises(fd.InputError, match="sources="):
        fds.transform(fd.compile("input {\n  a: int\n}\nfeature f = a\n"),
                      spark_frame(spark, pl.DataFrame({"a": [1]})), sources={"x": None})


def test_input_types_widen_as_locally(spark) -> None:
    """Narrower Spark types (IntegerType, FloatType, TimestampNTZType) are read as the local
    backend reads the same Arrow types."""
    import pyarrow as pa

    spec = fd.compile("input {\n  rid: int\n  i: int?\n  x: float?\n  t: timestamp?\n}\n"
                      "feature fi = i * 2\nfeature fx = x / 3\nfeature ft = hour(t)\n"
                      "feature t2 = t\n")
    table = pa.table({
        "rid": pa.array([0, 1, 2], pa.int64()),
        "i": pa.array([2**31 - 1, None, -(2**31)], pa.int32()),
        "x": pa.array([1.5, float("nan"), None], pa.float32()),
        "t": pa.array([dt.datetime(2024, 3, 10, 6, 59), None, dt.datetime(1, 1, 1)],
                      pa.timestamp("us")),
    })
    from pyspark.sql import functions as F
    from pyspark.sql import types as st

    sdf = spark.createDataFrame(table).withColumn("t", F.col("t").cast("timestamp_ntz"))

    assert isinstance(sdf.schema["i"].dataType, st.IntegerType)
    assert isinstance(sdf.schema["t"].dataType, st.TimestampNTZType)
    assert_same(collected(fds.transform(spec, sdf, keep=["rid"])),
                spec.transform(table, keep=["rid"]))


def test_differential_specs_sample(spark) -> None:
    """A sample of the differential generator's random specs (tests/test_differential.py)
    over its random rows, under 1, 3 and 7 partitions: Spark equals the local backend."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_differential import ROWS, spec_text

    from tests.harness import frame_for

    @settings(max_examples=6, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(spec=spec_text(max_depth=3), rows=ROWS, parts=st.sampled_from([1, 3, 7]))
    def check(spec: tuple[str, list[str]], rows: list[dict], parts: int) -> None:
        compiled = fd.compile(spec[0])
        frame = frame_for(compiled, rows).with_row_index("__rid").with_columns(
            pl.col("__rid").cast(pl.Int64))
        out = fds.transform(compiled, spark_frame(spark, frame, parts), keep=["__rid"])
        assert_same(collected(out), compiled.transform(frame, keep=["__rid"]), key="__rid")

    check()
