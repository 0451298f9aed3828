"""Row input handling (featuredsl/backends/row_input.py via Spec.row_evaluator).

What a row may hold is listed in row_input's docstring; everything else is an ``InputError``
naming the field and the expected type. No raw Python exception escapes for bad data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import types
import zoneinfo
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import featuredsl as fd

UTC = dt.UTC

SRC = """
input {
  i:  int
  n:  int?
  f:  float
  g:  float?
  s:  string
  t:  string?
  b:  bool
  ts: timestamp
  tn: timestamp?
  d:  date?
  du: duration?
  xs: list[int]?
}
feature i1 = i + 1
feature n1 = n
feature f1 = f
feature g1 = g
feature s1 = s
feature t1 = t
feature b1 = b
feature ts1 = ts
feature tn1 = tn
feature d1 = d
feature du1 = du
feature xs1 = xs
feature h = hour(ts)
"""

GOOD = {"i": 1, "n": 2, "f": 1.5, "g": 2.5, "s": "a", "t": "b", "b": True,
        "ts": dt.datetime(2024, 1, 7, 23, 59, 59), "tn": None, "d": dt.date(2024, 1, 7),
        "du": dt.timedelta(seconds=1), "xs": [1, 2]}


@pytest.fixture(scope="module")
def ev():
    return fd.compile(SRC).row_evaluator()


def with_(**kw: object) -> dict:
    return {**GOOD, **kw}


def bad(ev, row: object, field: str | None, expected: str | None = None) -> fd.InputError:
    with pytest.raises(fd.InputError) as info:
        ev(row)
    err = info.value
    assert err.field == field
    if field is not None:
        assert f"`{field}`" in str(err)
    if expected is not None:
        assert err.expected == expected and expected.rstrip("?") in str(err)
    assert err.row is None
    return err


def test_good_row(ev) -> None:
    out = ev(GOOD)
    assert out["i1"] == 2 and out["ts1"] == dt.datetime(2024, 1, 7, 23, 59, 59, tzinfo=UTC)
    assert out["h"] == 23 and out["d1"] == dt.date(2024, 1, 7) and out["xs1"] == [1, 2]


def test_missing_keys(ev) -> None:
    row = {k: v for k, v in GOOD.items() if k not in ("n", "g", "t", "tn", "d", "du", "xs")}
    out = ev(row)
    assert [out[k] for k in ("n1", "g1", "t1", "tn1", "d1", "du1", "xs1")] == [None] * 7
    for key, typ in [("i", "int"), ("f", "float"), ("s", "string"), ("b", "bool"),
                     ("ts", "timestamp")]:
        row = dict(GOOD)
        del row[key]
        err = bad(ev, row, key, typ)
        assert "missing" in str(err) and "not nullable" in str(err)
        bad(ev, with_(**{key: None}), key, typ)


def test_extra_keys_ignored(ev) -> None:
    assert ev(with_(extra=object(), other=[1])) == ev(GOOD)


@pytest.mark.parametrize("row", [None, [GOOD], "row", 3, (("i", 1),)])
def test_non_dict_row(ev, row: object) -> None:
    err = bad(ev, row, None)
    assert "dict" in str(err)


def test_mapping_row(ev) -> None:
    assert ev(types.MappingProxyType(GOOD)) == ev(GOOD)


@pytest.mark.parametrize(("field", "value", "why"), [
    ("i", True, "bool"), ("i", False, "bool"), ("i", "1", ""), ("i", 1.0, "float"),
    ("i", 2**63, "int64"), ("i", -(2**63) - 1, "int64"), ("i", np.uint64(2**64 - 1), "int64"),
    ("i", np.bool_(True), "bool"), ("i", np.array([1, 2]), ""), ("i", 1 + 0j, ""),
    ("n", [1], ""), ("n", "x", ""),
    ("f", True, "bool"), ("f", "1.5", ""), ("f", float("nan"), "null"), ("f", np.nan, "null"),
    ("f", 10**400, "too large"), ("f", np.bool_(False), "bool"),
    ("s", 1, ""), ("s", b"a", ""),
    ("b", 1, ""), ("b", "true", ""), ("b", 1.0, ""),
    ("ts", 1704671999, ""), ("ts", "2024-13-01", "not a timestamp"),
    ("ts", "2024-01-07T23:59:59z", "not a timestamp"), ("ts", dt.time(1), ""),
    ("ts", np.datetime64("NaT"), "null"), ("ts", pd.NaT, "null"),
    ("d", dt.datetime(2024, 1, 1, 0, 0, 0, 1), "time of day"),
    ("d", dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "time zone"),
    ("d", pd.Timestamp("2024-01-01 00:00:00.000000001"), "time of day"),
    ("d", np.datetime64("2024-01-01T12"), "time of day"),
    ("d", "2024-01-07T00:01", "time of day"), ("d", "2024-01-07T00:00Z", "UTC offset"),
    ("d", 5, ""),
    ("du", 5, ""), ("du", "1d", "not a duration"), ("du", "P1M", "not a fixed duration"),
    ("du", "PT", "not a duration"), ("du", "P-1D", "not a duration"),
    ("du", "PT9223372036855S", "int64"),
    ("xs", [1, None], "xs[1]"), ("xs", [1, True], "xs[1]"), ("xs", "12", ""),
    ("xs", np.array([[1]]), "one-dimensional"), ("xs", {1, 2}, ""),
])
def test_wrong_values(ev, field: str, value: object, why: str) -> None:
    err = bad(ev, with_(**{field: value}), field)  # a list element: the list's field
    assert why in str(err)
    if "[" in why:
        assert err.element == why and str(err).startswith(f"field `xs`, element `{why}`: ")


def test_lone_surrogate_helper() -> None:
    from featuredsl.backends.row_input import in_str

    for v in ("a\ud800b", "\udfff"):
        with pytest.raises(fd.InputError, match="surrogate"):
            in_str(v, "s", True)
    assert in_str("é\U0001f600", "s", False) == "é\U0001f600"


@pytest.mark.parametrize(("field", "value"), [("s", "a\ud800b"), ("t", "\udfff")])
def test_lone_surrogate_rejected(ev, field: str, value: str) -> None:
    err = bad(ev, with_(**{field: value}), field)
    assert "surrogate" in str(err)


def test_accepted_conversions(ev) -> None:
    out = ev(with_(i=np.int64(7), n=np.int8(-3), f=3, g=np.float32(0.1), s=np.str_("ü"),
                   b=np.bool_(False), xs=np.array([4, 5], dtype=np.int16)))
    assert (out["i1"], out["n1"], out["f1"], out["g1"]) == (8, -3, 3.0, 0.10000000149011612)
    assert type(out["f1"]) is float and type(out["g1"]) is float and out["b1"] is False
    assert out["s1"] == "ü" and type(out["s1"]) is str and out["xs1"] == [4, 5]
    assert ev(with_(f=np.float64(2.5), i=2**63 - 1, n=-(2**63)))["f1"] == 2.5
    assert ev(with_(f=2**63))["f1"] == 9.223372036854776e18
    assert ev(with_(xs=(1, 2)))["xs1"] == [1, 2]


def test_missing_value_markers_are_null(ev) -> None:
    # NaN is null everywhere (SPEC 4.4); so are pandas' and numpy's missing markers: a pandas
    # record (df.to_dict("records")) holds NaN for a missing string.
    for marker in (None, float("nan"), np.nan, np.float32("nan"), pd.NA, pd.NaT):
        out = ev(with_(n=marker, g=marker, t=marker, tn=marker, d=marker, du=marker, xs=marker))
        assert [out[k] for k in ("n1", "g1", "t1", "tn1", "d1", "du1", "xs1")] == [None] * 7
    assert ev(with_(tn=np.datetime64("NaT")))["tn1"] is None


def test_timestamps(ev) -> None:
    want = dt.datetime(2024, 7, 2, 3, 30, tzinfo=UTC)
    ny = zoneinfo.ZoneInfo("America/New_York")
    same = [
        dt.datetime(2024, 7, 2, 3, 30),  # naive = UTC
        dt.datetime(2024, 7, 1, 23, 30, tzinfo=ny),  # aware: converted
        dt.datetime(2024, 7, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        "2024-07-02T03:30:00Z", "2024-07-02 03:30", "2024-07-01T23:30:00-04:00",
        "2024-07-02T09:00:00.000000+05:30", "2024-07-02T03:30:00.0000009",
        pd.Timestamp("2024-07-01 23:30", tz="America/New_York"),
        pd.Timestamp("2024-07-02 03:30:00.000000999"), np.datetime64("2024-07-02T03:30", "ns"),
    ]
    for v in same:
        out = ev(with_(ts=v, tn=v))
        assert out["ts1"] == want and out["tn1"] == want and out["h"] == 3, v
    out = ev(with_(ts=dt.date(2024, 7, 2), tn="2024-07-02"))
    assert out["ts1"] == out["tn1"] == dt.datetime(2024, 7, 2, tzinfo=UTC)
    assert ev(with_(ts=dt.datetime(1, 1, 1)))["ts1"] == dt.datetime(1, 1, 1, tzinfo=UTC)
    assert ev(with_(ts=pd.Timestamp("1969-12-31 23:59:59.999999001")))["ts1"] == \
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # floored, as in batch
    bad(ev, with_(ts=np.datetime64("20000-01-01")), "ts", "timestamp")


def test_duration_and_date(ev) -> None:
    out = ev(with_(du=pd.Timedelta(-1500, "ns"), d="2024-02-29"))
    assert out["du1"] == dt.timedelta(microseconds=-2) and out["d1"] == dt.date(2024, 2, 29)
    bad(ev, with_(d="2023-02-29"), "d", "date?")


def test_a_naive_midnight_datetime_is_a_date(ev) -> None:
    # a date input reads a datetime only when nothing is dropped: naive, exactly midnight
    # (pandas holds dates as datetime64; the batch side decides a Datetime column alike)
    for v in (dt.datetime(2024, 1, 7), pd.Timestamp("2024-01-07"),
              np.datetime64("2024-01-07"), np.datetime64("2024-01-07T00:00:00.000000000")):
        out = ev(with_(d=v))["d1"]
        assert out == dt.date(2024, 1, 7) and type(out) is dt.date
    for v, why in ((dt.datetime(2024, 1, 7, 0, 0, 1), "time of day"),
                   (dt.datetime(2024, 1, 7, tzinfo=UTC), "time zone"),
                   (pd.Timestamp("2024-01-07", tz="Europe/Paris"), "time zone"),
                   (pd.Timestamp("2024-01-07 00:00:00.000000001"), "time of day")):
        err = bad(ev, with_(d=v), "d", "date?")
        assert str(err).startswith("field `d`: expected date?, got ") and why in str(err)
    bad(ev, with_(d=np.datetime64("20000-01-01")), "d", "date?")  # outside the years 1..9999


def test_iso_duration_strings(ev) -> None:
    # the form Polars writes a Duration in NDJSON, and pandas' Timedelta.isoformat()
    cases = {"PT90S": dt.timedelta(seconds=90), "-PT0.5S": dt.timedelta(seconds=-0.5),
             "P1DT2H30M": dt.timedelta(days=1, hours=2, minutes=30), "P0D": dt.timedelta(0),
             "PT86400005.25S": dt.timedelta(days=1000, seconds=5.25),
             "-PT0.0000015S": dt.timedelta(microseconds=-2),  # floored, like a ns column
             "P2DT3H0M0S": pd.Timedelta(days=2, hours=3).to_pytimedelta(),
             "PT9223372036854.775807S": dt.timedelta(microseconds=2**63 - 1)}
    for text, want in cases.items():
        assert ev(with_(du=text))["du1"] == want, text
    for text in ("P1DT", "PT1.S", "pt1s", " PT1S", "P1W", "P-1DT23H59M59S", "PT1,5S", "1d"):
        bad(ev, with_(du=text), "du", "duration?")


def test_no_raw_exception_for_any_value() -> None:
    sp = fd.compile("input {\n a: int\n b: float?\n c: string\n d: bool?\n e: timestamp\n"
                    " f: date\n g: duration\n h: list[float]\n}\nfeature x = a\nfeature y = b\n"
                    "feature z = c\nfeature w = d\nfeature v = e\nfeature u = f\n"
                    "feature r = g\nfeature q = h\n")
    ev = sp.row_evaluator()

    class Weird:
        def __index__(self) -> int:
            raise RuntimeError("no")

        def __float__(self) -> float:
            raise RuntimeError("no")

    values = [None, True, 0, -1, 2**64, 1.5, float("inf"), float("nan"), "", "x", "\ud800",
              b"x", [], [1], [None], (1.0,), {}, {"a": 1}, object(), Weird(), dt.date(2024, 1, 1),
              dt.datetime(2024, 1, 1), dt.timedelta(1), dt.time(1), np.int64(1), np.float32(1),
              np.array([1.0]), np.array(1), np.datetime64("2024"), np.timedelta64(1, "s"),
              pd.NA, pd.NaT, pd.Timestamp(0), pd.Timedelta(1), "2024-01-01", 1 + 2j]
    good = {"a": 1, "b": 1.0, "c": "x", "d": True, "e": "2024-01-01", "f": "2024-01-01",
            "g": dt.timedelta(1), "h": [1.0]}
    ev(good)
    for field, value in itertools.product(good, values):
        try:
            ev({**good, field: value})
        except fd.InputError as err:
            assert err.field is not None and err.field.startswith(field)


def test_thread_safety() -> None:
    sp = fd.compile("""
input {
  x: int
  f: float?
  s: string
  ts: timestamp
}
let y = x * 3 - 7
feature a = y * y
feature b = if f > 0.5 then f / 3 else -1
feature c = upper(s)
feature d = hour(ts)
feature e = length(s) + y
""")
    rows = [{"x": k, "f": None if k % 7 == 0 else k / 1000, "s": f"s{k}é" * (k % 5),
             "ts": dt.datetime(2024, 1, 1) + dt.timedelta(minutes=37 * k)} for k in range(2000)]
    ev = sp.row_evaluator()
    sequential = [ev(r) for r in rows]
    assert sp.row_evaluator() is ev  # built once
    start = threading.Barrier(8)

    def work(offset: int) -> list[tuple[int, dict]]:
        start.wait()
        order = list(range(offset, len(rows), 8)) * 3
        return [(k, ev(rows[k])) for k in order]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for chunk in results:
        for k, out in chunk:
            assert out == sequential[k]


def test_evaluator_built_once_across_threads() -> None:
    sp = fd.compile("input {\n x: int\n}\nfeature a = x + 1\n")
    start = threading.Barrier(8)

    def get(_: int) -> object:
        start.wait()
        return sp.row_evaluator()

    with ThreadPoolExecutor(8) as pool:
        evs = list(pool.map(get, range(8)))
    assert all(e is evs[0] for e in evs)


def test_duration_outside_int64_microseconds_is_an_input_error() -> None:
    import datetime as _dt

    spec = fd.compile("input { d: duration }\nfeature e = d\n")
    with pytest.raises(fd.InputError, match="int64 microsecond range"):
        spec.row_evaluator()({"d": _dt.timedelta.max})
    assert spec.row_evaluator()({"d": _dt.timedelta(days=1)})["e"] == _dt.timedelta(days=1)


def test_aware_utc_timestamps_become_their_naive_wall_clock_at_the_edges() -> None:
    """An aware datetime in a UTC zone (``datetime.UTC`` or ``ZoneInfo("UTC")``, what
    Polars and pandas hand out) is its naive UTC wall clock, exactly, at the range's ends."""
    import datetime as dt
    import zoneinfo

    from featuredsl.backends.row_input import in_timestamp

    for tz in (dt.UTC, zoneinfo.ZoneInfo("UTC")):
        for v in (dt.datetime(1, 1, 1, tzinfo=tz), dt.datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                               tzinfo=tz),
                  dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=tz),
                  dt.datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=tz)):
            got = in_timestamp(v, "ts", False)
            assert got == v.replace(tzinfo=None) and got is not None and got.tzinfo is None
