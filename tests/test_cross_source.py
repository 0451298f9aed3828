"""Cross-source property: every input type, in its good and bad forms (wrong type, null in a
non-nullable input, out of range), fed as dict rows to the row evaluator and as pandas,
pyarrow, Polars eager and lazy, Parquet, NDJSON and IPC files to ``Spec.transform``, gets the
same accept/reject decision, the same field, the same row (the row evaluator's: the first row
it rejects), the same values when accepted, and (batch sources) the same message once the
source-specific prefix (a file path) is stripped.

Below the property, one regression test per class of disagreement fixed for issue 11: a
column of the wrong dtype names the first row holding a value (one message, built by
``row_input.wrong_type``, for rows and every batch source); a date input reads a datetime only
at exactly midnight without a zone (pandas' datetime64 dates); durations read back from NDJSON
(ISO 8601 strings, as Polars writes them, and the row evaluator accepts the same strings).
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import polars as pl
import pytest

import featuredsl as fd
from featuredsl.parity import same_value

UTC = dt.UTC

GOOD = {
    "int": [1, 2], "float": [1.5, 2.5], "bool": [True, False], "string": ["a", "b"],
    "timestamp": [dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1)],
    "date": [dt.date(2020, 1, 1), dt.date(2021, 1, 1)],
    "duration": [dt.timedelta(days=1), dt.timedelta(seconds=5)], "list[int]": [[1], [2, 3]],
}
WRONG = {
    "int": ["a", "b"], "float": ["a", "b"], "bool": [1, 2], "string": [1, 2],
    "timestamp": [1.5, 2.5], "date": [1, 2], "duration": ["a", "b"], "list[int]": ["a", "b"],
}
OUT_OF_RANGE = {"int": [1, 2**63]}
#: More wrong dtypes (class: a dtype error names the first row holding a value, not only for a
#: String column), good values of other forms (midnight datetimes for a date, every duration
#: NDJSON must read back exactly), a wrong value after a good one of the same dtype.
MORE = {
    "int": {"float": [1.0, 2.5], "bool": [False, True], "late_range": [None, 2**63]},
    "float": {"bool": [True, False], "late_wrong": [None, "x"]},
    "string": {"float": [None, 1.5], "bool": [None, True]},
    "bool": {"string": [None, "true"]},
    "date": {"midnight": [dt.datetime(2020, 1, 1), dt.datetime(1969, 12, 31)],
             "time_part": [dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1, 0, 0, 0, 1)],
             "zoned": [None, dt.datetime(2020, 1, 1, tzinfo=UTC)],
             "iso_text": ["2020-01-01", "2021-01-01 00:00:00"]},
    "timestamp": {"late_wrong": [None, 2.5]},
    "duration": {"signs": [dt.timedelta(microseconds=-1), dt.timedelta(days=-3, seconds=1.5)],
                 "large": [dt.timedelta(days=999_999), dt.timedelta(microseconds=2**53 + 1)],
                 "zero": [dt.timedelta(0), None],
                 "iso_text": ["PT90S", "-P1DT2H30M0.000001S"],
                 "bad_text": ["PT90S", "P1M"]},
    "list[int]": {"elements": [["a"], ["b"]], "float_elements": [[], [2.0, 1.5]]},
}
#: Cases whose values are of different Python types on different sources (NDJSON holds the
#: text of a datetime): the same decision, field and row, the messages differ in the value.
TEXT_IN_NDJSON = {("date", "time_part"), ("date", "zoned")}

CASES = []
for _ty in GOOD:
    for _null in ("", "?"):
        CASES.append((_ty + _null, "good", GOOD[_ty]))
        CASES.append((_ty + _null, "wrong", WRONG[_ty]))
        CASES.append((_ty + _null, "late_wrong", [None, WRONG[_ty][1]]))
        CASES.append((_ty + _null, "null", [GOOD[_ty][0], None]))
        CASES.append((_ty + _null, "all_null", [None, None]))
        if _ty in OUT_OF_RANGE:
            CASES.append((_ty + _null, "range", OUT_OF_RANGE[_ty]))
        for _form, _values in MORE.get(_ty, {}).items():
            CASES.append((_ty + _null, _form, _values))

SOURCES = ["rows", "pandas", "pyarrow", "polars", "lazy", "parquet", "ndjson", "ipc"]

Outcome = tuple[str, "str | None", "int | None", str, list]


def _frame(values: object) -> pl.DataFrame:
    return pl.DataFrame({"x": values, "k": list(range(len(values)))},  # type: ignore[arg-type]
                        strict=False)


def _data(frame: pl.DataFrame, source: str, tmp_path) -> object:
    if source == "pandas":
        return frame.to_pandas()
    if source == "pyarrow":
        return frame.to_arrow()
    if source == "polars":
        return frame
    if source == "lazy":
        return frame.lazy()
    path = tmp_path / f"data.{source}"
    getattr(frame, f"write_{source}")(path)
    return path


def _outcome(spec: fd.Spec, source: str, frame: pl.DataFrame, rows: list[dict],
             tmp_path) -> Outcome:
    """(decision, field, row, message without a file path, the features when accepted)."""
    i = None
    try:
        if source == "rows":
            evaluate = spec.row_evaluator()
            out = []
            for r in rows:
                i = len(out)  # the row that raised, if one does
                out.append(evaluate(r))
            return "accept", None, None, "", out
        got = spec.transform(_data(frame, source, tmp_path)).to_dicts()
        return "accept", None, None, "", got
    except fd.InputError as exc:
        core = re.sub(r"^\S+\.(parquet|ndjson|ipc): ", "", str(exc))
        return "reject", exc.field, i if source == "rows" else exc.row, core, []


def _outcomes(spec: fd.Spec, frame: pl.DataFrame, rows: list[dict], tmp_path
              ) -> dict[str, Outcome]:
    return {s: _outcome(spec, s, frame, rows, tmp_path) for s in SOURCES}


def _assert_alike(seen: dict[str, Outcome], same_message: bool = True) -> None:
    for what, at in (("decision", 0), ("field", 1), ("row", 2)):
        got = {s: o[at] for s, o in seen.items()}
        assert len(set(got.values())) == 1, (what, seen)
    batch = {s: o[3] for s, o in seen.items() if s != "rows"}
    if same_message:
        assert len(set(batch.values())) <= 1, batch
    want = seen["rows"][4]
    for s, o in seen.items():
        assert len(o[4]) == len(want), (s, o)
        for n, (g, w) in enumerate(zip(o[4], want, strict=True)):
            for f in w:
                assert same_value(g[f], w[f]), (s, n, f, g[f], w[f])


@pytest.mark.parametrize(("ty", "form", "values"), [
    pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in CASES])
def test_every_source_decides_alike(ty, form, values, tmp_path):
    spec = fd.compile(f"input {{ x: {ty}\n k: int }}\nfeature y = x is null\nfeature j = k\n"
                      "feature v = x\n")
    frame = _frame(values)
    rows = [{"x": v, "k": i} for i, v in enumerate(values)]
    _assert_alike(_outcomes(spec, frame, rows, tmp_path),
                  same_message=(ty.rstrip("?"), form) not in TEXT_IN_NDJSON)


# ------------------------------------------------------------------ class 1: the row of a dtype


@pytest.mark.parametrize("order", ["a: int\n b: int?", "b: int?\n a: int"])
def test_a_dtype_error_is_ordered_with_the_other_errors(order, tmp_path):
    """A column of the wrong dtype is a per-row error like the others: a null in another
    input on an earlier row is reported first, on every source, as the row evaluator does."""
    spec = fd.compile(f"input {{ {order} }}\nfeature y = a\nfeature z = b\n")
    frame = pl.DataFrame({"a": [1, None, 3, 4], "b": [None, None, None, "x"]})
    rows = frame.to_dicts()
    seen = _outcomes(spec, frame, rows, tmp_path)
    _assert_alike(seen)
    assert seen["pandas"][1:4] == ("a", 1, "column `a`, row 1: null (or NaN) in a column "
                                   "declared `int` (not nullable); declare it `int?` to allow "
                                   "nulls")
    frame = pl.DataFrame({"a": [1, 2, None, 4], "b": [None, "x", None, "y"]})
    seen = _outcomes(spec, frame, frame.to_dicts(), tmp_path)
    _assert_alike(seen)
    assert seen["ipc"][1:4] == ("b", 1, "column `b`, row 1: expected int?, got str 'x' "
                                "(strings are not converted to numbers or bools)")
    assert seen["rows"][3] == ("field `b`: expected int?, got str 'x' (strings are not "
                               "converted to numbers or bools)")


def test_a_wrong_dtype_with_no_value_is_no_error(tmp_path):
    """No value of the wrong type, no error: an all-null String column for an int? input is
    all null (NDJSON and pandas see no type at all there); for an int input the null is the
    error. ``transform_lazy`` looks at no value: it still rejects the dtype."""
    frame = pl.DataFrame({"x": pl.Series([None, None], dtype=pl.String), "k": [0, 1]})
    rows = frame.to_dicts()
    ok = fd.compile("input { x: int?\n k: int }\nfeature y = x\n")
    seen = _outcomes(ok, frame, rows, tmp_path)
    _assert_alike(seen)
    assert seen["pyarrow"][4] == [{"y": None}, {"y": None}]
    strict = fd.compile("input { x: int\n k: int }\nfeature y = x\n")
    seen = _outcomes(strict, frame, rows, tmp_path)
    _assert_alike(seen)
    assert seen["parquet"][2] == 0 and "null" in seen["parquet"][3]
    with pytest.raises(fd.InputError, match="got dtype String"):
        ok.transform_lazy(frame)


def test_ndjson_names_the_first_row_the_row_evaluator_rejects(tmp_path):
    """NDJSON infers one dtype from all rows (String when a row holds a string, Float64 when
    one holds a float): the first bad JSON value is named, not the first value, after any
    earlier error of another input."""
    path = tmp_path / "mixed.ndjson"
    path.write_text('{"a": 1, "b": 1, "xs": [1]}\n{"a": 2, "b": 2, "xs": [2]}\n'
                    '{"a": 2.5, "b": "x", "xs": [3, "y"]}\n{"a": null, "b": 4, "xs": []}\n')
    rows = [{"a": 1, "b": 1, "xs": [1]}, {"a": 2, "b": 2, "xs": [2]},
            {"a": 2.5, "b": "x", "xs": [3, "y"]}]
    for decl, field, message in [
        ("a: int?", "a", "column `a`, row 2: expected int?, got float 2.5 (a float is not an "
                         "int)"),
        ("b: int?", "b", "column `b`, row 2: expected int?, got str 'x' (strings are not "
                         "converted to numbers or bools)"),
        ("xs: list[int]", "xs", "column `xs`, row 2, element `xs[1]`: expected int, got str "
                                "'y' (strings are not converted to numbers or bools)"),
    ]:
        spec = fd.compile(f"input {{ {decl} }}\nfeature y = {field}\n")
        with pytest.raises(fd.InputError) as info:
            spec.transform(path)
        assert str(info.value) == message
        assert (info.value.field, info.value.row) == (field, 2)
        with pytest.raises(fd.InputError):
            spec.row_evaluator()(rows[2])
    # another input's null on row 1 comes first, as on every other source
    path.write_text('{"a": 1, "b": 1}\n{"a": null, "b": 2}\n{"a": 3, "b": "x"}\n')
    spec = fd.compile("input { a: int\n b: int? }\nfeature y = a\nfeature z = b\n")
    with pytest.raises(fd.InputError) as info:
        spec.transform(path)
    assert (info.value.field, info.value.row) == ("a", 1)


def test_every_eager_path_names_the_row_of_a_dtype_error(tmp_path):
    """transform, the streaming file transform (CLI ``transform``), parity and fit report a
    dtype error alike: the column, the first row holding a value, the expected type."""
    from featuredsl.data.files import transform_file
    from featuredsl.parity import check_data

    path = tmp_path / "in.parquet"
    pl.DataFrame({"x": [None, None, "7", "8"], "k": [0, 1, 2, 3]}).write_parquet(path)
    spec = fd.compile("input { x: int?\n k: int }\nfeature y = x\n")
    want = (f"{path}: column `x`, row 2: expected int?, got str '7' (strings are not "
            "converted to numbers or bools)")
    for run in (lambda: spec.transform(path), lambda: spec.fit(path),
                lambda: transform_file(spec, path, tmp_path / "out.parquet"),
                lambda: check_data(spec, path)):
        with pytest.raises(fd.InputError) as info:
            run()
        assert str(info.value).endswith(want.split(": ", 1)[1])
        assert (info.value.field, info.value.row, info.value.expected) == ("x", 2, "int?")
    assert not (tmp_path / "out.parquet").exists()


# ------------------------------------------------------------------ class 2: datetimes as dates


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_pandas_dates_are_datetime64_at_midnight(unit, tmp_path):
    """pandas holds dates as datetime64 (``to_pandas()`` of a Date column, ``pd.to_datetime``):
    a naive column whose values are all exactly midnight is a date column; a value with a time
    part (down to the nanosecond) or a zone is rejected naming its row, as rows reject it."""
    spec = fd.compile("input { d: date? }\nfeature y = d\nfeature m = month(d)\n")
    days = pd.Series(pd.to_datetime(["1969-12-31", None, "2024-02-29"])).astype(
        f"datetime64[{unit}]")
    out = spec.transform(pd.DataFrame({"d": days}))
    assert out["y"].to_list() == [dt.date(1969, 12, 31), None, dt.date(2024, 2, 29)]
    assert out.schema["y"] == pl.Date
    ev = spec.row_evaluator()
    assert [ev({"d": v})["y"] for v in days] == out["y"].to_list()  # pandas Timestamps
    late = "2024-03-01 00:00:00.000000001" if unit == "ns" else "2024-03-01 00:00:00.001"
    bad = pd.Series(pd.to_datetime(["2024-01-01", None, late], format="ISO8601")).astype(
        f"datetime64[{unit}]")
    with pytest.raises(fd.InputError) as info:
        spec.transform(pd.DataFrame({"d": bad}))
    assert (info.value.field, info.value.row) == ("d", 2)
    assert str(info.value).startswith("column `d`, row 2: expected date?, got datetime ")
    assert "a datetime with a time of day is not a date" in str(info.value)
    with pytest.raises(fd.InputError, match="time of day"):
        ev({"d": bad[2]})
    zoned = pd.DataFrame({"d": pd.Series(pd.to_datetime(["2024-01-01"])).dt.tz_localize("UTC")})
    with pytest.raises(fd.InputError, match=r"row 0: expected date\?, got datetime.*time zone"):
        spec.transform(zoned)
    with pytest.raises(fd.InputError, match="time zone"):
        ev({"d": zoned["d"][0]})


def test_a_date_from_a_datetime_column_on_every_source(tmp_path):
    """The same rule for a Polars/pyarrow/Parquet/IPC Datetime column and its NDJSON text."""
    spec = fd.compile("input { d: date }\nfeature y = d\n")
    ok = pl.DataFrame({"d": [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)]})
    seen = _outcomes(spec, ok, ok.to_dicts(), tmp_path)
    _assert_alike(seen)
    assert seen["ipc"][4] == [{"y": dt.date(1, 1, 1)}, {"y": dt.date(9999, 12, 31)}]
    bad = pl.DataFrame({"d": [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2),
                              dt.datetime(2020, 1, 3, 12)]})
    seen = _outcomes(spec, bad, bad.to_dicts(), tmp_path)
    _assert_alike(seen, same_message=False)
    assert seen["polars"][1:3] == ("d", 2)
    for s, o in seen.items():
        assert "time of day is not a date" in o[3], (s, o)
    with pytest.raises(fd.InputError, match="only without a time zone"):  # no value read
        spec.transform_lazy(pl.DataFrame({"d": [dt.datetime(2020, 1, 1, tzinfo=UTC)]}))


# ------------------------------------------------------------------ class 3: durations in text


def test_durations_round_trip_through_ndjson_and_csv(tmp_path):
    """Polars writes a Duration to NDJSON as ISO 8601 text (``PT86400S``, ``-PT0.000001S``):
    a duration input reads it back to the same value, in every unit; CSV text in the same
    form too; the row evaluator accepts the same strings with the same values."""
    spec = fd.compile("input { d: duration? }\nfeature y = d\nfeature s = total_seconds(d)\n")
    values = [dt.timedelta(days=-1, microseconds=1), dt.timedelta(0), None,
              dt.timedelta(days=106_751_991, seconds=14_454, microseconds=775_807),
              dt.timedelta(microseconds=-(2**63))]
    for unit in ("ms", "us", "ns"):
        frame = pl.DataFrame({"d": pl.Series(values[:3], dtype=pl.Duration(unit))})
        path = tmp_path / f"d_{unit}.ndjson"
        frame.write_ndjson(path)
        assert spec.transform(path).equals(spec.transform(frame)), unit
    frame = pl.DataFrame({"d": pl.Series(values, dtype=pl.Duration("us"))})
    frame.write_ndjson(tmp_path / "d.ndjson")
    want = spec.transform(frame)
    assert spec.transform(tmp_path / "d.ndjson").equals(want)
    text = pl.read_ndjson(tmp_path / "d.ndjson")["d"].to_list()
    pl.DataFrame({"d": text}).write_csv(tmp_path / "d.csv")
    assert spec.transform(tmp_path / "d.csv").equals(want)
    ev = spec.row_evaluator()
    assert [ev({"d": t})["y"] for t in text] == want["y"].to_list()


def test_a_bad_duration_string_is_rejected_alike(tmp_path):
    """Years, months and weeks have no fixed length; a sign inside a part (pandas'
    ``P-1DT23H59M59S``) is not read as a whole-duration sign: rejected on every source and by
    the row evaluator, naming the row, with the same reason."""
    spec = fd.compile("input { d: duration }\nfeature y = d\n")
    for bad, why in [("P1M", "not a fixed duration"), ("P-1DT23H59M59S", "not a duration"),
                     ("PT9223372036855S", "outside the int64 microsecond range"),
                     ("P1DT", "not a duration")]:
        frame = pl.DataFrame({"d": ["PT1S", bad]})
        seen = _outcomes(spec, frame, frame.to_dicts(), tmp_path)
        _assert_alike(seen)
        for s, o in seen.items():
            assert o[1:3] == ("d", 1) and why in o[3], (s, o)
