"""Batch input handling (featuredsl/data.py, Spec.transform/transform_lazy).

Every source and every widened dtype must give exactly the features the row evaluator gives
for the equivalent Python values (SPEC 4.10, 4.13, 4.14); bad data is an ``InputError``
naming column, row and expected type, never a raw exception.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pytest

import featuredsl as fd
from featuredsl.backends.row_input import parse_timestamp
from featuredsl.data.inputs import parse_timestamp_expr
from tests.harness import assert_parity, same_value

UTC = dt.UTC
NY = zoneinfo.ZoneInfo("America/New_York")

# One spec over every scalar kind; features echo and transform each input.
SRC = """
input {
  i:  int
  f:  float?
  s:  string?
  b:  bool
  ts: timestamp
}
feature i2 = i * i
feature f2 = f
feature sl = length(s) - 20
feature nb = not b
feature h  = hour(ts)
feature dw = day_of_week(ts)
feature t  = ts
"""

ROWS = [
    {"i": 50000, "f": 1.5, "s": "héllo", "b": True,
     "ts": dt.datetime(2024, 1, 7, 23, 59, 59, tzinfo=UTC)},
    {"i": -3, "f": None, "s": None, "b": False,
     "ts": dt.datetime(2024, 7, 2, 3, 30, tzinfo=UTC)},
    {"i": 0, "f": -0.0, "s": "", "b": True,
     "ts": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
]


@pytest.fixture(scope="module")
def spec() -> fd.Spec:
    return fd.compile(SRC)


@pytest.fixture(scope="module")
def expected(spec: fd.Spec) -> list[dict]:
    ev = spec.row_evaluator()
    return [ev(r) for r in ROWS]


def base_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "i": [r["i"] for r in ROWS],
        "f": [r["f"] for r in ROWS],
        "s": [r["s"] for r in ROWS],
        "b": [r["b"] for r in ROWS],
        "ts": pl.Series([r["ts"] for r in ROWS], dtype=pl.Datetime("us", "UTC")),
    })


def assert_rows(out: pl.DataFrame, expected: list[dict], features: list[str]) -> None:
    got = out.select(features).to_dicts()
    assert len(got) == len(expected)
    for n, (g, e) in enumerate(zip(got, expected, strict=True)):
        for f in features:
            assert same_value(g[f], e[f]), f"row {n} feature {f}: batch {g[f]!r} row {e[f]!r}"


def one(expr: str, types: dict[str, str]) -> fd.Spec:
    fields = "\n".join(f"  {n}: {t}" for n, t in types.items())
    return fd.compile(f"input {{\n{fields}\n}}\nfeature out = {expr}\n")


def batch_vs_row(spec: fd.Spec, data: object, rows: list[dict]) -> list[object]:
    """Assert batch on ``data`` equals the row evaluator on ``rows``; return the outputs."""
    ev = spec.row_evaluator()
    want = [ev(r) for r in rows]
    assert_rows(spec.transform(data), want, spec.features)
    return [w["out"] for w in want] if "out" in spec.features else want


def raises_input(fn, *args, **kwargs) -> fd.InputError:
    with pytest.raises(fd.InputError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------ sources


def test_polars_dataframe_and_lazyframe(spec: fd.Spec, expected: list[dict]) -> None:
    assert_rows(spec.transform(base_frame()), expected, spec.features)
    assert_rows(spec.transform(base_frame().lazy()), expected, spec.features)


def test_pyarrow_table(spec: fd.Spec, expected: list[dict]) -> None:
    table = base_frame().to_arrow()
    assert_rows(spec.transform(table), expected, spec.features)
    assert_rows(spec.transform(table.to_batches()[0]), expected, spec.features)


def test_pyarrow_string_kinds() -> None:
    sp = one("length(s) - 20", {"s": "string?"})
    values = ["abc", None, "日本語", ""]
    rows = [{"s": v} for v in values]
    for arr in (pa.array(values, pa.large_string()), pa.array(values, pa.string()),
                pa.array(values, pa.string()).dictionary_encode(),
                pa.array(values, pa.large_string()).dictionary_encode()):
        assert batch_vs_row(sp, pa.table({"s": arr}), rows) == [-17, None, -17, -20]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "+05:30", "America/New_York", "Asia/Tokyo"])
def test_pyarrow_timestamps(unit: str, tz: str | None) -> None:
    sp = fd.compile("input {\n ts: timestamp?\n}\nfeature h = hour(ts)\nfeature t = ts\n"
                    "feature dw = day_of_week(ts)\n")
    epoch_s = [1719876600, 0, -1, None, 1704671999]  # 2024-07-01 23:30 UTC, ...
    scale = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[unit]
    arr = pa.array([None if v is None else v * scale for v in epoch_s], pa.timestamp(unit, tz))
    rows = [{"ts": None if v is None else dt.datetime.fromtimestamp(v, UTC)} for v in epoch_s]
    out = batch_vs_row(sp, pa.table({"ts": arr}), rows)
    assert [o["h"] for o in out] == [23, 0, 23, None, 23]


def test_pyarrow_sub_microsecond_floors() -> None:
    sp = one("ts", {"ts": "timestamp"})
    arr = pa.array([-1, -999, -1000, -1001, 1999], pa.timestamp("ns"))
    out = sp.transform(pa.table({"ts": arr}))["out"].dt.epoch("us").to_list()
    assert out == [-1, -1, -1, -2, 1]  # floor, like pandas Timestamps on the row side
    ev = sp.row_evaluator()
    for ns, us in zip([-1, -1001, 1999], [-1, -2, 1], strict=True):
        stamp = pd.Timestamp(ns, unit="ns")
        assert ev({"ts": stamp})["out"] == dt.datetime(1970, 1, 1, tzinfo=UTC) + \
            dt.timedelta(microseconds=us)


def test_pandas_dataframe(spec: fd.Spec, expected: list[dict]) -> None:
    pdf = pd.DataFrame({
        "i": [r["i"] for r in ROWS],
        "f": [1.5, np.nan, -0.0],  # NaN -> null
        "s": pd.Series(["héllo", None, ""], dtype=object),
        "b": [True, False, True],
        "ts": pd.to_datetime([r["ts"].replace(tzinfo=None) for r in ROWS]),  # naive = UTC
    })
    assert str(pdf["ts"].dtype).startswith("datetime64")
    assert_rows(spec.transform(pdf), expected, spec.features)
    for tz in ("America/New_York", "UTC", dt.timezone(dt.timedelta(hours=5, minutes=30))):
        aware = pdf.assign(ts=pdf["ts"].dt.tz_localize("UTC").dt.tz_convert(tz))
        assert_rows(spec.transform(aware), expected, spec.features)


def test_pandas_missing_values() -> None:
    sp = fd.compile("input {\n n: int?\n s: string?\n f: float?\n ts: timestamp?\n}\n"
                    "feature a = n\nfeature b = s\nfeature c = f\nfeature d = ts\n")
    pdf = pd.DataFrame({
        "n": pd.array([1, None, 3], dtype="Int64"),
        "s": pd.Series(["x", None, np.nan], dtype=object),
        "f": [np.nan, 2.5, None],
        "ts": pd.to_datetime(["2024-01-01T10:00:00.000001", None, "NaT"]),
    })
    out = sp.transform(pdf)
    assert out.to_dicts() == [
        {"a": 1, "b": "x", "c": None, "d": dt.datetime(2024, 1, 1, 10, 0, 0, 1, tzinfo=UTC)},
        {"a": None, "b": None, "c": 2.5, "d": None},
        {"a": 3, "b": None, "c": None, "d": None},
    ]
    # the same pandas rows, as records, give the same features on the row side
    ev = sp.row_evaluator()
    assert [ev(r) for r in pdf.to_dict("records")] == out.to_dicts()


def test_pandas_bad_frame_is_input_error() -> None:
    sp = one("s", {"s": "string"})
    err = raises_input(sp.transform, pd.DataFrame({"s": pd.Series(["a", 1], dtype=object)}))
    assert "pandas" in str(err)


def _write(df: pl.DataFrame, path) -> None:
    ext = path.suffix
    if ext == ".parquet":
        df.write_parquet(path)
    elif ext == ".csv":
        df.write_csv(path)
    elif ext in (".arrow", ".ipc"):
        df.write_ipc(path)
    elif ext == ".feather":
        feather.write_feather(df.to_arrow(), str(path))
    else:
        df.write_ndjson(path)


@pytest.mark.parametrize("ext", [".parquet", ".csv", ".arrow", ".ipc", ".feather", ".ndjson",
                                 ".jsonl"])
def test_paths(tmp_path, ext: str, spec: fd.Spec, expected: list[dict]) -> None:
    path = tmp_path / f"data{ext}"
    _write(base_frame(), path)
    assert_rows(spec.transform(path), expected, spec.features)
    assert_rows(spec.transform(str(path)), expected, spec.features)
    assert_rows(spec.transform_lazy(path).collect(), expected, spec.features)


def test_csv_timestamp_strings_all_forms(tmp_path) -> None:
    forms = ["2024-01-07T23:59:59Z", "2024-01-07 23:59:59", "2024-01-07T23:59:59.123456+05:30",
             "2024-01-07", "2024-01-07T23:59", "2024-01-07T18:29:59-0530", "2024-01-07T23:59+01",
             "2024-01-07T23:59:59.5", "2024-01-07T23:59:59.123456789Z", ""]
    path = tmp_path / "ts.csv"
    path.write_text("ts\n" + "\n".join(forms) + "\n")
    sp = fd.compile("input {\n ts: timestamp?\n}\nfeature t = ts\nfeature h = hour(ts)\n")
    ev = sp.row_evaluator()
    want = [ev({"ts": v or None}) for v in forms]
    assert_rows(sp.transform(path), want, sp.features)
    assert want[0]["t"] == dt.datetime(2024, 1, 7, 23, 59, 59, tzinfo=UTC)
    assert want[2]["t"] == dt.datetime(2024, 1, 7, 18, 29, 59, 123456, tzinfo=UTC)
    assert want[3]["t"] == dt.datetime(2024, 1, 7, tzinfo=UTC)
    assert want[8]["t"] == dt.datetime(2024, 1, 7, 23, 59, 59, 123456, tzinfo=UTC)


def test_csv_columns_are_parsed_per_row(tmp_path) -> None:
    # 150 empty rows first: Polars' own inference would call these columns String.
    lines = ["n,f,b,d,label"] + [",,,,x"] * 150 + ["7,1.5,TRUE,2024-02-29,y", "-2,1e3,false,,z"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    sp = fd.compile("input {\n n: int?\n f: float?\n b: bool?\n d: date?\n}\n"
                    "feature a = n\nfeature c = f\nfeature e = b\nfeature g = d\n")
    out = sp.transform(path, keep=["label"])
    assert out.columns == ["label", "a", "c", "e", "g"]
    assert out.tail(2).to_dicts() == [
        {"label": "y", "a": 7, "c": 1.5, "e": True, "g": dt.date(2024, 2, 29)},
        {"label": "z", "a": -2, "c": 1000.0, "e": False, "g": None},
    ]
    assert out.head(150)["a"].null_count() == 150
    kept = sp.transform(path, keep=["n", "d"]).tail(1)
    assert kept.schema["n"] == pl.Int64 and kept.row(0)[:2] == (-2, None)


def test_csv_string_inputs_stay_text(tmp_path) -> None:
    path = tmp_path / "zip.csv"
    path.write_text('zip,n\n02134,1\n"",2\n,3\n')
    sp = one("zip", {"zip": "string?"})
    assert sp.transform(path)["out"].to_list() == ["02134", "", None]
    assert sp.transform(path, keep=["n"]).schema["n"] == pl.Int64


@pytest.mark.parametrize(("text", "column", "row"), [
    ("n\n1\nabc\n", "n", 1), ("n\n1\n1.5\n", "n", 1), ("n\n9223372036854775808\n", "n", 0),
    ("f\n1\nx1\n", "f", 1), ("b\ntrue\nyes\n", "b", 1),
    ("ts\n2024-01-01\n2024-01-01T00:00:00\n2024-13-01\n", "ts", 2),
])
def test_csv_bad_values(tmp_path, text: str, column: str, row: int) -> None:
    types = {"n": "int", "f": "float", "b": "bool", "ts": "timestamp"}
    path = tmp_path / "bad.csv"
    path.write_text(text)
    err = raises_input(one(column, {column: types[column]}).transform, path)
    assert (err.field, err.row, err.expected) == (column, row, types[column])
    assert f"column `{column}`" in str(err) and f"row {row}" in str(err)


def test_unknown_extension_and_missing_file(tmp_path, spec: fd.Spec) -> None:
    (tmp_path / "data.xlsx").write_text("x")
    err = raises_input(spec.transform, tmp_path / "data.xlsx")
    assert "unknown data format `.xlsx`" in str(err) and ".parquet" in str(err)
    err = raises_input(spec.transform, tmp_path / "nope.parquet")
    assert "no such file" in str(err) and "nope.parquet" in str(err)
    err = raises_input(spec.transform_lazy, tmp_path / "nope.csv")
    assert "no such file" in str(err)
    err = raises_input(spec.transform, tmp_path)
    assert "unknown data format" in str(err)
    (tmp_path / "dir.parquet").mkdir()
    assert "directory" in str(raises_input(spec.transform, tmp_path / "dir.parquet"))


def test_unreadable_sources(tmp_path, spec: fd.Spec) -> None:
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"not a parquet file at all")
    assert "corrupt.parquet" in str(raises_input(spec.transform, path))
    path = tmp_path / "corrupt.ndjson"
    path.write_text('{"i": 1\n')
    raises_input(spec.transform, path)
    assert "cannot read data of type list" in str(raises_input(spec.transform, [ROWS[0]]))
    raises_input(spec.transform, pa.array([1, 2]))


# ------------------------------------------------------------------------------ timestamp strings

ACCEPTED = [
    "2024-01-07T23:59:59Z", "2024-01-07 23:59:59", "2024-01-07T23:59:59.123456+05:30",
    "2024-01-07", "2024-01-07T23:59", "2024-01-07 00:00:00.1", "2024-01-07T23:59:59.999999999Z",
    "2024-01-07T23:59:59-0800", "2024-01-07T23:59:59+05", "2024-01-07T23:59:59-23:59",
    "2024-02-29T12:00:00Z", "2000-02-29", "1969-12-31T23:59:59.999999Z", "0001-01-01",
    "0001-01-01T05:00:00+05:00", "9999-12-31T23:59:59.999999", "9999-12-31T20:00-03:00",
]
REJECTED = [
    "", " ", "2024-01-07 ", " 2024-01-07", "2024-01-07\n", "2024-1-7", "20240107", "2024-W01-1",
    "2024-01-07T23", "2024-01-07t23:59:59", "2024-01-07T23:59:59z", "2024-01-07X23:59:59",
    "2024-01-07T24:00:00", "2024-01-07T23:60:00", "2024-01-07T23:59:60", "2023-02-29",
    "2024-04-31", "2024-13-01", "2024-00-10", "2024-01-00", "0000-01-01",
    "2024-01-07T23:59:59,5", "2024-01-07T23:59:59.", "2024-01-07T23:59:59.1234567890",
    "2024-01-07T23:59:59+24:00", "2024-01-07T23:59:59+05:60", "2024-01-07T23:59:59+5",
    "2024-01-07Z", "2024-01-07+05:00", "2024-01-07T23:59:59+05:30:00", "٢٠٢٤-01-07",
    "2024-01-07T23:59:59 +05:00", "0001-01-01T00:00+01:00", "9999-12-31T23:59-00:01",
    "10000-01-01", "2024-01-07T23:59:59UTC", "nonsense",
]


def _batch_parse(values: list[str]) -> list[int | None]:
    s = pl.Series("s", values, dtype=pl.String)
    out = pl.DataFrame([s]).select(parse_timestamp_expr(pl.col("s")).dt.epoch("us"))
    return out.to_series().to_list()


def test_timestamp_string_grammar_is_shared() -> None:
    assert all(v is not None for v in map(parse_timestamp, ACCEPTED)), ACCEPTED
    assert all(v is None for v in map(parse_timestamp, REJECTED)), [
        r for r in REJECTED if parse_timestamp(r) is not None]
    values = ACCEPTED + REJECTED
    assert _batch_parse(values) == [parse_timestamp(v) for v in values]


def test_accepted_forms_mean_what_fromisoformat_means() -> None:
    # Every accepted form is one Python also reads, with the same instant (naive = UTC;
    # CPython 3.11 also drops digits beyond µs, which for a positive fraction is a floor).
    for v in ACCEPTED:
        ref = dt.datetime.fromisoformat(v)
        if ref.tzinfo is None:
            ref = ref.replace(tzinfo=UTC)
        us = (ref - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
        assert parse_timestamp(v) == us, v


def test_timestamp_strings_fuzz_batch_equals_row() -> None:
    rng = np.random.default_rng(7)

    def two(hi: int) -> str:
        return f"{rng.integers(0, hi):02d}"

    parts: list[str] = []
    for _ in range(3000):
        y = rng.choice(["2024", "1970", "0001", "9999", "1900", "2023", "0000"])
        s = f"{y}-{two(14)}-{two(33)}"
        if rng.random() < 0.8:
            s += rng.choice(["T", " ", "t"]) + f"{two(26)}:{two(62)}"
            if rng.random() < 0.7:
                s += f":{two(62)}"
                if rng.random() < 0.5:
                    s += "." + "".join(map(str, rng.integers(0, 10, rng.integers(0, 11))))
            r = rng.random()
            if r < 0.3:
                s += "Z"
            elif r < 0.7:
                s += f"{rng.choice(['+', '-'])}{two(26)}{rng.choice([':', ''])}{two(62)}"
        parts.append(s)
    want = [parse_timestamp(s) for s in parts]
    assert _batch_parse(parts) == want
    assert sum(w is not None for w in want) > 300  # the fuzz exercises both outcomes


def test_timestamp_strings_in_a_dataframe_parse_per_row() -> None:
    sp = one("hour(ts)", {"ts": "timestamp"})
    values = ["2024-07-01T23:30:00-04:00", "2024-07-02 03:30:00", "2024-07-02",
              "2024-07-02T03:30:00.000001Z"]
    rows = [{"ts": v} for v in values]
    assert batch_vs_row(sp, pl.DataFrame({"ts": values}), rows) == [3, 3, 0, 3]


def test_date_strings() -> None:
    sp = one("d", {"d": "date?"})
    # (the text of a naive midnight datetime, as Polars writes one to NDJSON/CSV, is a date)
    values = ["2024-02-29", None, "1970-01-01", "0001-01-01", "9999-12-31",
              "2024-02-29 00:00:00", "2024-02-29T00:00:00.000000"]
    out = batch_vs_row(sp, pl.DataFrame({"d": values}), [{"d": v} for v in values])
    assert out[0] == out[5] == out[6] == dt.date(2024, 2, 29)
    for bad in ["2023-02-29", "20240229", "2024-02-29T00:00:01", "2024-02-29T00:00Z",
                "2024-02-29 00:00+01:00", "2024-2-9"]:
        err = raises_input(sp.transform, pl.DataFrame({"d": ["2024-01-01", bad]}))
        assert (err.field, err.row) == ("d", 1)
        with pytest.raises(fd.InputError):
            sp.row_evaluator()({"d": bad})


# ------------------------------------------------------------------------------ widening


@pytest.mark.parametrize("dtype", [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16,
                                   pl.UInt32, pl.UInt64, pl.Int128, pl.UInt128])
def test_int_widening(dtype: pl.DataType) -> None:
    info_max = {pl.Int8: 127, pl.Int16: 32767, pl.UInt8: 255, pl.UInt16: 65535}
    big = info_max.get(dtype, 50000)  # type: ignore[call-overload]
    values = [big, 0, 7, None]
    sp = fd.compile("input {\n x: int?\n}\nfeature sq = x * x\nfeature m = x - 300\n"
                    "feature f = x / 2\n")
    rows = [{"x": v} for v in values]
    batch_vs_row(sp, pl.DataFrame({"x": pl.Series(values, dtype=dtype)}), rows)
    if big == 50000:
        assert sp.transform(pl.DataFrame({"x": pl.Series([50000], dtype=dtype)}))["sq"][0] \
            == 2_500_000_000


def test_int32_square_does_not_wrap() -> None:
    sp = one("x * x", {"x": "int"})
    assert batch_vs_row(sp, pl.DataFrame({"x": pl.Series([50000, -46341], dtype=pl.Int32)}),
                        [{"x": 50000}, {"x": -46341}]) == [2_500_000_000, 2_147_488_281]


def test_uint64_above_int64_is_error() -> None:
    sp = one("x", {"x": "int?"})
    data = pl.DataFrame({"x": pl.Series([1, None, 2**63, 2**64 - 1], dtype=pl.UInt64)})
    err = raises_input(sp.transform, data)
    assert (err.field, err.row, err.expected) == ("x", 2, "int?")
    assert "9223372036854775808" in str(err) and "int64" in str(err)
    ok = pl.DataFrame({"x": pl.Series([2**63 - 1], dtype=pl.UInt64)})
    assert sp.transform(ok)["out"].to_list() == [2**63 - 1]
    with pytest.raises(fd.InputError):
        sp.row_evaluator()({"x": 2**63})


def test_uint_to_float_and_int_to_float() -> None:
    sp = one("x / 1", {"x": "float"})
    for dtype, values in [(pl.UInt64, [2**64 - 1, 2**53 + 1, 0]), (pl.Int64, [2**53 + 1, -7]),
                          (pl.Int8, [-128, 127]), (pl.UInt32, [2**32 - 1])]:
        out = batch_vs_row(sp, pl.DataFrame({"x": pl.Series(values, dtype=dtype)}),
                           [{"x": v} for v in values])
        assert out == [float(v) for v in values]


def test_float32_widens_exactly() -> None:
    sp = one("x", {"x": "float?"})
    values32 = np.array([0.1, -0.0, 1e-45, 3.4028235e38, np.inf, -np.inf, np.nan, 1 / 3],
                        dtype=np.float32)
    data = pl.DataFrame({"x": pl.Series(values32, dtype=pl.Float32)})
    rows = [{"x": v} for v in values32]  # numpy float32 scalars on the row side
    out = batch_vs_row(sp, data, rows)
    assert out[0] == 0.10000000149011612 and math.copysign(1, out[1]) == -1
    assert out[6] is None  # NaN is null
    assert out[:6] == [float(v) for v in values32[:6]]


def test_categorical_and_enum_to_string() -> None:
    sp = one("length(s) - 20", {"s": "string?"})
    values = ["ab", None, "ünïcode", "ab"]
    rows = [{"s": v} for v in values]
    assert batch_vs_row(sp, pl.DataFrame({"s": pl.Series(values, dtype=pl.Categorical)}),
                        rows) == [-18, None, -13, -18]
    enum = pl.Enum(["ab", "ünïcode"])
    batch_vs_row(sp, pl.DataFrame({"s": pl.Series(values, dtype=enum)}), rows)


def test_null_dtype_columns() -> None:
    # pl.DataFrame([row]) with a None gives a Null column: widen it to the declared type.
    sp = fd.compile("""
input {
  f: float?
  s: string?
  ts: timestamp?
  xs: list[int]?
  n: int
}
feature a = log1p(f)
feature b = lower(s)
feature c = hour(ts)
feature d = xs
feature e = n + 1
""")
    row = {"f": None, "s": None, "ts": None, "xs": None, "n": 1}
    frame = pl.DataFrame([row])
    assert frame.schema["f"] == pl.Null and frame.schema["s"] == pl.Null
    out = sp.transform(frame)
    assert out.to_dicts() == [sp.row_evaluator()(row)]
    assert out.schema == {"a": pl.Float64, "b": pl.String, "c": pl.Int64,
                          "d": pl.List(pl.Int64), "e": pl.Int64}
    err = raises_input(fd.compile("input {\n n: int\n}\nfeature e = n\n").transform,
                       pl.DataFrame([{"n": None}]))
    assert (err.field, err.row) == ("n", 0)


@pytest.mark.parametrize("unit", ["ns", "ms", "us"])
def test_datetime_widening(unit: str) -> None:
    sp = fd.compile("input {\n ts: timestamp\n}\nfeature h = hour(ts)\nfeature t = ts\n"
                    "feature dw = day_of_week(ts)\n")
    naive = [dt.datetime(2024, 7, 1, 23, 30), dt.datetime(2024, 1, 7, 0, 0, 0, 1000),
             dt.datetime(1960, 3, 1, 12)]
    # naive = UTC, on both sides
    batch_vs_row(sp, pl.DataFrame({"ts": pl.Series(naive, dtype=pl.Datetime(unit))}),
                 [{"ts": v} for v in naive])
    # aware in New York: the instant converted to UTC (hour 3 and Tuesday, not 23 / Monday)
    aware = [v.replace(tzinfo=NY) for v in naive]
    series = pl.Series(naive, dtype=pl.Datetime(unit)).dt.replace_time_zone("America/New_York")
    out = batch_vs_row(sp, pl.DataFrame({"ts": series}), [{"ts": v} for v in aware])
    assert (out[0]["h"], out[0]["dw"]) == (3, 2)


def test_date_column_for_timestamp_is_midnight_utc() -> None:
    sp = fd.compile("input {\n ts: timestamp\n}\nfeature t = ts\nfeature h = hour(ts)\n")
    days = [dt.date(2024, 1, 7), dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1969, 12, 31)]
    out = batch_vs_row(sp, pl.DataFrame({"ts": days}), [{"ts": d} for d in days])
    assert out[0]["t"] == dt.datetime(2024, 1, 7, tzinfo=UTC)
    # and the row side also accepts the same day as a date string
    assert sp.row_evaluator()({"ts": "2024-01-07"}) == out[0]


def test_duration_widening() -> None:
    sp = one("d", {"d": "duration?"})
    us = [86_400_000_005, None, -3]
    for unit in ("us", "ms", "ns"):
        s = pl.Series("d", us, dtype=pl.Duration("us")).cast(pl.Duration(unit))
        rows = [{"d": None if v is None else pd.Timedelta(v, unit=unit)}
                for v in s.cast(pl.Int64).to_list()]
        batch_vs_row(sp, pl.DataFrame(s), rows)
    # nanoseconds floor to µs (Polars' own cast truncates), like pandas/numpy on the row side
    ns = [-1, -999, -1000, -1001, 1999]
    data = pl.DataFrame({"d": pl.Series(ns, dtype=pl.Duration("ns"))})
    out = batch_vs_row(sp, data, [{"d": pd.Timedelta(v, unit="ns")} for v in ns])
    assert out == [dt.timedelta(microseconds=u) for u in (-1, -1, -1, -2, 1)]
    assert sp.row_evaluator()({"d": np.timedelta64(-1001, "ns")})["out"] == \
        dt.timedelta(microseconds=-2)


def test_list_widening() -> None:
    sp = fd.compile("input {\n xs: list[int]\n ys: list[float?]?\n ss: list[string]\n}\n"
                    "feature a = xs\nfeature b = ys\nfeature c = ss\n")
    rows = [{"xs": [1, 50000], "ys": [0.5, None], "ss": ["a"]},
            {"xs": [], "ys": None, "ss": ["b", "c"]}]
    data = pl.DataFrame({
        "xs": pl.Series([[1, 50000], []], dtype=pl.List(pl.Int32)),
        "ys": pl.Series([[0.5, float("nan")], None], dtype=pl.List(pl.Float32)),
        "ss": pl.Series([["a"], ["b", "c"]], dtype=pl.List(pl.Categorical)),
    })
    out = sp.transform(data)
    assert out.to_dicts() == [sp.row_evaluator()(r) for r in rows]
    assert out.schema == {"a": pl.List(pl.Int64), "b": pl.List(pl.Float64),
                          "c": pl.List(pl.String)}
    arr = data.with_columns(pl.Series("xs", [[1, 50000], [2, 3]], dtype=pl.Array(pl.Int32, 2)))
    assert sp.transform(arr)["a"].to_list() == [[1, 50000], [2, 3]]
    ts = one("xs", {"xs": "list[timestamp]"})
    frame = pl.DataFrame({"xs": [["2024-01-07T10:00:00+01:00", "2024-01-07"]]})
    assert ts.transform(frame).to_dicts() == [ts.row_evaluator()(frame.row(0, named=True))]


def test_list_element_errors() -> None:
    sp = one("xs", {"xs": "list[int]"})
    err = raises_input(sp.transform, pl.DataFrame({"xs": [[1, 2], [3, None]]}))
    assert (err.field, err.row) == ("xs", 1) and "element" in str(err)
    err = raises_input(sp.transform, pl.DataFrame({"xs": [[1], None]}))
    assert (err.field, err.row) == ("xs", 1)
    big = pl.DataFrame({"xs": pl.Series([[1], [2, 2**64 - 1]], dtype=pl.List(pl.UInt64))})
    err = raises_input(sp.transform, big)
    assert (err.field, err.row) == ("xs", 1) and "cannot convert" in str(err)
    with pytest.raises(fd.InputError, match=r"xs\[1\]"):
        sp.row_evaluator()({"xs": [3, None]})
    ok = one("xs", {"xs": "list[int?]"})
    assert ok.transform(pl.DataFrame({"xs": [[3, None]]}))["out"].to_list() == [[3, None]]


def test_harness_parity_over_widened_frame() -> None:
    sp = fd.compile("input {\n x: int\n s: string\n ts: timestamp\n}\n"
                    "feature a = x * 3 - 1\nfeature b = upper(s)\nfeature c = hour(ts)\n")
    assert_parity(sp, [{"x": 5, "s": "ß", "ts": "2024-07-01T23:30:00-04:00"},
                       {"x": -2**40, "s": "", "ts": "1999-12-31 23:59:59.999999"}])


# ------------------------------------------------------------------------------ validation


def test_missing_column(spec: fd.Spec) -> None:
    err = raises_input(spec.transform, base_frame().drop("b", "ts"))
    assert (err.field, err.expected) == ("b", "bool")
    assert "column `b` is missing" in str(err) and "ts" in str(err)
    raises_input(spec.transform_lazy, base_frame().drop("i"))


@pytest.mark.parametrize(("decl", "series", "hint"), [
    ("int", pl.Series(["1"]), "String"),
    ("int", pl.Series([1.0]), "Float64"),
    ("bool", pl.Series([1]), "Int64"),
    ("float", pl.Series([True]), "Boolean"),
    ("string", pl.Series([1]), "Int64"),
    ("timestamp", pl.Series([1]), "Int64"),
    ("date", pl.Series([dt.datetime(2024, 1, 1, tzinfo=UTC)]), "Datetime"),
    ("list[int]", pl.Series([1]), "Int64"),
    ("int", pl.Series([[1]]), "List"),
])
def test_wrong_dtype(decl: str, series: pl.Series, hint: str) -> None:
    # transform names the first row holding a value (every value of the column is of the
    # wrong type); transform_lazy looks at no value: it names the dtype
    decl += "?"  # (a null first: the value after it is the first of the wrong type)
    sp = one("x", {"x": decl})
    data = pl.DataFrame({"x": pl.concat([pl.Series([None], dtype=series.dtype), series])})
    err = raises_input(sp.transform, data)
    assert (err.field, err.expected, err.row) == ("x", decl, 1)
    assert str(err).startswith(f"column `x`, row 1: expected {decl}, got ")
    err = raises_input(sp.transform_lazy, data)
    assert (err.field, err.expected, err.row) == ("x", decl, None)
    assert "column `x`" in str(err) and hint in str(err) and decl in str(err)


def test_null_in_non_nullable() -> None:
    sp = fd.compile("input {\n f: float\n s: string\n}\nfeature a = f\nfeature b = s\n")
    err = raises_input(sp.transform, pl.DataFrame({"f": [1.0, 2.0, None], "s": ["a"] * 3}))
    assert (err.field, err.row, err.expected) == ("f", 2, "float")
    assert "`float?`" in str(err) and "row 2" in str(err)
    err = raises_input(sp.transform, pl.DataFrame({"f": [1.0, float("nan")], "s": ["a", "b"]}))
    assert (err.field, err.row) == ("f", 1) and "NaN" in str(err)
    err = raises_input(sp.transform, pd.DataFrame({"f": [1.0, 2.0], "s": ["a", None]}))
    assert (err.field, err.row) == ("s", 1)
    # the first bad row wins, across columns
    err = raises_input(sp.transform, pl.DataFrame({"f": [1.0, 2.0, None], "s": ["a", None, "c"]}))
    assert (err.field, err.row) == ("s", 1)
    # transform_lazy cannot raise while collecting: the bad row computes as null
    lazy = sp.transform_lazy(pl.DataFrame({"f": [1.0, None], "s": ["a", "b"]}))
    assert lazy.collect()["a"].to_list() == [1.0, None]


def test_keep_columns(spec: fd.Spec, expected: list[dict]) -> None:
    data = base_frame().with_columns(label=pl.Series([1, 0, 1], dtype=pl.Int8),
                                     user=pl.Series(["u1", "u2", "u3"], dtype=pl.Categorical))
    out = spec.transform(data, keep=["user", "label", "i"])
    assert out.columns == ["user", "label", "i", *spec.features]
    assert out.schema["label"] == pl.Int8 and out.schema["user"] == pl.Categorical
    assert out.schema["i"] == pl.Int64
    assert_rows(out, expected, spec.features)
    assert spec.transform(data, keep="label").columns == ["label", *spec.features]
    err = raises_input(spec.transform, data, keep=["nope"])
    assert err.field == "nope" and "keep" in str(err)
    err = raises_input(spec.transform, data, keep=["h"])
    assert err.field == "h" and "feature" in str(err)
    raises_input(spec.transform_lazy, data.with_columns(h=pl.lit(1)), keep=["h"])
    assert "twice" in str(raises_input(spec.transform, data, keep=["label", "label"]))
    raises_input(spec.transform, data, keep=[1])


def test_no_raw_exceptions_for_odd_data(spec: fd.Spec) -> None:
    odd = [
        pl.DataFrame({"i": [1], "f": [1.0], "s": [b"bytes"], "b": [True], "ts": [None]}),
        pl.DataFrame({"i": [1], "f": [1.0], "s": ["a"], "b": [True], "ts": [{"a": 1}]}),
        pl.DataFrame({"i": pl.Series([1], dtype=pl.Decimal(10, 0)), "f": [1.0], "s": ["a"],
                      "b": [True], "ts": [None]}),
        pl.DataFrame({"i": [1], "f": [1.0], "s": ["a"], "b": [True], "ts": [dt.time(1)]}),
        pl.DataFrame(),
        {"i": [1]},
        None,
    ]
    for data in odd:
        raises_input(spec.transform, data)


# ------------------------------------------------------------------------------ output, laziness


def test_output_order_and_dtypes() -> None:
    sp = fd.compile("""
input {
  x: int
  s: string
  ts: timestamp
  d: date
  xs: list[int]
}
feature z_int = x + 1
feature a_float = x / 2
feature m_str = lower(s)
feature b_bool = x > 1
feature t_ts = ts
feature d_date = d
feature y_list = xs
""")
    data = pl.DataFrame({"d": [dt.date(2024, 1, 1)], "ts": [dt.datetime(2024, 1, 1)],
                         "s": ["A"], "x": pl.Series([3], dtype=pl.Int16), "k": [1.5],
                         "xs": pl.Series([[1]], dtype=pl.List(pl.UInt8))})
    out = sp.transform(data, keep=["k", "x"])
    assert out.columns == ["k", "x", "z_int", "a_float", "m_str", "b_bool", "t_ts", "d_date",
                           "y_list"]
    assert out.dtypes == [pl.Float64, pl.Int16, pl.Int64, pl.Float64, pl.String, pl.Boolean,
                          pl.Datetime("us", "UTC"), pl.Date, pl.List(pl.Int64)]
    lazy = sp.transform_lazy(data, keep=["k", "x"])
    assert lazy.collect_schema() == out.schema
    assert lazy.collect().equals(out)


def test_transform_lazy_does_not_collect(spec: fd.Spec) -> None:
    calls = []

    def boom(s: pl.Series) -> pl.Series:
        calls.append(1)
        raise RuntimeError("collected!")

    lf = base_frame().lazy().with_columns(pl.col("i").map_batches(boom, return_dtype=pl.Int64))
    out = spec.transform_lazy(lf, keep=["s"])
    assert isinstance(out, pl.LazyFrame) and calls == []
    assert out.collect_schema().names() == ["s", *spec.features]
    assert calls == []
    with pytest.raises(Exception, match="collected"):
        out.collect()


def test_transform_lazy_of_a_file_reads_nothing(tmp_path, spec: fd.Spec) -> None:
    path = tmp_path / "d.parquet"
    base_frame().write_parquet(path)
    lazy = spec.transform_lazy(path)
    path.unlink()  # the plan holds the path only: collecting now fails
    assert isinstance(lazy, pl.LazyFrame)
    with pytest.raises(Exception):  # noqa: B017 - whatever Polars raises for a vanished file
        lazy.collect()


def test_streaming_parquet(tmp_path, spec: fd.Spec) -> None:
    n = 20_000
    frame = pl.DataFrame({
        "i": pl.Series(np.arange(n) - n // 2, dtype=pl.Int32),
        "f": np.linspace(-5, 5, n),
        "s": pl.Series([f"s{k % 97}" for k in range(n)], dtype=pl.Categorical),
        "b": np.arange(n) % 3 == 0,
        "ts": pl.datetime_range(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1)
                                + dt.timedelta(minutes=n - 1), "1m", eager=True,
                                time_unit="ns"),
    })
    path = tmp_path / "big.parquet"
    frame.write_parquet(path, row_group_size=3000)
    out = spec.transform(path, keep=["i"])
    streamed = spec.transform_lazy(path, keep=["i"]).collect(engine="streaming")
    assert out.equals(streamed) and out.height == n
    in_memory = spec.transform(frame, keep=["i"])
    assert out.equals(in_memory)
    ev = spec.row_evaluator()
    sample = frame.gather([0, 1, 4321, n - 1]).to_dicts()
    want = [ev(r) for r in sample]
    assert_rows(out.gather([0, 1, 4321, n - 1]), want, spec.features)


def test_empty_frame(spec: fd.Spec) -> None:
    out = spec.transform(base_frame().head(0), keep=["s"])
    assert out.height == 0 and out.columns == ["s", *spec.features]


def test_json_ndjson_types(tmp_path) -> None:
    sp = fd.compile("input {\n x: float\n ts: timestamp?\n xs: list[int]?\n}\n"
                    "feature a = x\nfeature b = ts\nfeature c = xs\n")
    rows = [{"x": 1, "ts": "2024-01-07T23:59:59Z", "xs": [1, 2]},
            {"x": 2.5, "ts": None, "xs": None}]
    path = tmp_path / "d.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert_rows(sp.transform(path), [sp.row_evaluator()(r) for r in rows], sp.features)


def test_lower_level_helpers() -> None:
    from featuredsl.data import inputs as data_io

    sp = fd.compile("input {\n x: int\n ts: timestamp?\n}\nfeature a = x\nfeature b = ts\n")
    raw = pl.DataFrame({"x": pl.Series([1, 2**64 - 1], dtype=pl.UInt64),
                        "ts": ["2024-01-01", None]})
    prepared = data_io.prepare(data_io.to_lazy(raw), sp.program.inputs, []).collect()
    with pytest.raises(fd.InputError) as info:
        data_io.validate(raw, prepared, sp.program.inputs)
    assert (info.value.field, info.value.row) == ("x", 1)
    data_io.validate(raw.head(1), prepared.head(1), sp.program.inputs)
    assert data_io.to_lazy(raw).collect().equals(raw)


def test_csv_nan_text_is_null_not_a_conversion_error(tmp_path) -> None:
    path = tmp_path / "nan.csv"
    pl.DataFrame({"x": [1.0, float("nan"), None, 2.5]}).write_csv(path)
    spec = fd.compile("input { x: float? }\nfeature y = x * 2\n")
    assert spec.transform(path)["y"].to_list() == [2.0, None, None, 5.0]
    assert spec.row_evaluator()({"x": float("nan")})["y"] is None


def test_csv_nan_text_in_a_non_nullable_column_same_error_on_every_path(tmp_path) -> None:
    """The text "NaN" is null: on a non-nullable scalar the streaming paths (file transform,
    parity) name it as the eager transform does, not as a null list element."""
    from featuredsl.data.files import transform_file
    from featuredsl.parity import check_data

    path = tmp_path / "nan.csv"
    path.write_text("x\n1.5\nNaN\n")
    spec = fd.compile("input { x: float }\nfeature y = x + 1.0\n")
    want = ("column `x`, row 1: null (or NaN) in a column declared `float` (not nullable); "
            "declare it `float?` to allow nulls")
    for run in (lambda: spec.transform(path),
                lambda: transform_file(spec, path, tmp_path / "out.parquet"),
                lambda: check_data(spec, path)):
        with pytest.raises(fd.InputError) as info:
            run()
        assert str(info.value) == want
        assert (info.value.field, info.value.row) == ("x", 1)


@pytest.mark.parametrize("order", ["a: int\n b: int", "b: int\n a: int"])
def test_several_bad_values_same_error_on_every_path(tmp_path, order: str) -> None:
    """The first bad row wins, then the input's position in the spec: the file transform and
    parity report the error the eager transform reports."""
    from featuredsl.data.files import transform_file
    from featuredsl.parity import check_data

    spec = fd.compile(f"input {{ {order} }}\nfeature y = a + b\n")
    first_a = order.startswith("a")
    path = tmp_path / "bad.csv"
    for text, want in [("a,b\n1,2\n1,\nx,3\n", ("b", 1)),  # b's row comes first
                       ("a,b\n1,2\nx,\n", ("a", 1) if first_a else ("b", 1))]:
        path.write_text(text)
        with pytest.raises(fd.InputError) as eager:
            spec.transform(path)
        assert (eager.value.field, eager.value.row) == want
        for run in (lambda: transform_file(spec, path, tmp_path / "out.parquet"),
                    lambda: check_data(spec, path)):
            with pytest.raises(fd.InputError) as info:
                run()
            assert str(info.value) == str(eager.value)


def test_ndjson_string_in_a_float_column_names_the_lowest_bad_row(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_text('{"x": 1.5}\n{"x": 2.5}\n{"x": "a"}\n{"x": "b"}\n')
    spec = fd.compile("input { x: float }\nfeature y = x\n")
    with pytest.raises(fd.InputError, match=r"column `x`, row 2: expected float, got str 'a'") \
            as info:
        spec.transform(path)
    assert (info.value.field, info.value.row) == ("x", 2)


def test_pandas_int_column_with_a_missing_value_is_an_int_column():
    spec = fd.compile("input { x: int?\n k: int }\nfeature y = x\n")
    df = pd.DataFrame({"x": [1, None], "k": [1, 2]})  # pandas: float64 with NaN
    assert spec.transform(df)["y"].to_list() == [1, None]
    with pytest.raises(fd.InputError, match=r"row 0: expected int.*a float is not an int"):
        spec.transform(pd.DataFrame({"x": [1.5, None], "k": [1, 2]}))  # a real float stays one
    with pytest.raises(fd.InputError, match=r"row 0: expected int.*a float is not an int"):
        spec.transform(pd.DataFrame({"x": [1.0, 2.0], "k": [1, 2]}))  # no null: floats
