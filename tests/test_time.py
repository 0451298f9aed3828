"""Time functions and arithmetic: both backends, checked against independent Python oracles.

The oracles are plain ``datetime`` computations written here (not the row backend's code):
calendar fields of an aware UTC datetime, ``astimezone`` for fixed instants whose local time
is known, and exact integer arithmetic on microseconds for durations.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

import featuredsl as fd
from tests.harness import assert_parity, spec_of

UTC = dt.UTC
US = dt.timedelta(microseconds=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
TS_MIN = dt.datetime(1, 1, 1, tzinfo=UTC)
TS_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
I64 = 2**63


def instants(n: int, seed: int = 1) -> list[dt.datetime]:
    rnd = random.Random(seed)
    lo, hi = (TS_MIN - EPOCH) // US, (TS_MAX - EPOCH) // US
    fixed = [TS_MIN, TS_MAX, EPOCH - US, EPOCH, dt.datetime(2000, 2, 29, 12, tzinfo=UTC),
             dt.datetime(1900, 2, 28, 23, 59, 59, tzinfo=UTC),
             dt.datetime(2024, 12, 30, tzinfo=UTC), dt.datetime(2027, 1, 3, tzinfo=UTC),
             dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)]
    return fixed + [EPOCH + rnd.randint(lo, hi) * US for _ in range(n)]


FIELDS = {
    "year": lambda t: t.year, "month": lambda t: t.month, "day": lambda t: t.day,
    "hour": lambda t: t.hour, "minute": lambda t: t.minute, "second": lambda t: t.second,
    "day_of_week": lambda t: t.isoweekday(), "day_of_year": lambda t: t.timetuple().tm_yday,
    "week_of_year": lambda t: t.isocalendar().week, "date": lambda t: t.date(),
    "epoch_seconds": lambda t: (t - EPOCH) // dt.timedelta(seconds=1),
}
DATE_FIELDS = ["year", "month", "day", "day_of_week", "day_of_year", "week_of_year"]


def test_utc_fields_match_python_calendar() -> None:
    ts = instants(400)
    spec = spec_of("0", {"t": "timestamp"}, [f"feature {f} = {f}(t)" for f in FIELDS])
    outs = assert_parity(spec, [{"t": t} for t in ts])
    for t, o in zip(ts, outs, strict=True):
        for f, oracle in FIELDS.items():
            assert o[f] == oracle(t), (f, t)


def test_explicit_utc_zone_is_the_default() -> None:
    ts = instants(50, seed=2)
    spec = spec_of("0", {"t": "timestamp"},
                   [f'feature {f} = {f}(t) == {f}(t, "UTC") and {f}(t) == {f}(t, "Etc/UTC")'
                    for f in FIELDS])
    for o in assert_parity(spec, [{"t": t} for t in ts]):
        assert all(o[f] for f in FIELDS)


def test_date_fields_match_python_calendar() -> None:
    rnd = random.Random(3)
    ds = [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), dt.date(1969, 12, 29),
          dt.date(2021, 1, 3)] + [dt.date.fromordinal(rnd.randint(1, 3652059))
                                  for _ in range(300)]
    spec = spec_of("0", {"d": "date"}, [f"feature {f} = {f}(d)" for f in DATE_FIELDS])
    outs = assert_parity(spec, [{"d": d} for d in ds])
    for d, o in zip(ds, outs, strict=True):
        for f in DATE_FIELDS:
            assert o[f] == FIELDS[f](d), (f, d)


@pytest.mark.parametrize(("zone", "utc", "local"), [
    # New York, spring forward: 01:59:59.999999 EST, then 03:00 EDT
    ("America/New_York", "2024-03-10T06:59:59.999999", "2024-03-10T01:59:59.999999"),
    ("America/New_York", "2024-03-10T07:00:00", "2024-03-10T03:00:00"),
    # fall back: 01:59:59 EDT, then 01:00 EST again
    ("America/New_York", "2024-11-03T05:59:59", "2024-11-03T01:59:59"),
    ("America/New_York", "2024-11-03T06:00:00", "2024-11-03T01:00:00"),
    # New York before 1883: local mean time, -4:56:02
    ("America/New_York", "1800-06-01T12:00:00", "1800-06-01T07:03:58"),
    # Lord Howe: half-hour DST
    ("Australia/Lord_Howe", "2024-04-06T14:59:59", "2024-04-07T01:59:59"),
    ("Australia/Lord_Howe", "2024-04-06T15:00:00", "2024-04-07T01:30:00"),
    # Samoa skipped 2011-12-30 entirely
    ("Pacific/Apia", "2011-12-30T09:59:59", "2011-12-29T23:59:59"),
    ("Pacific/Apia", "2011-12-30T10:00:00", "2011-12-31T00:00:00"),
    # Paris before 1970, in the war
    ("Europe/Paris", "1942-07-01T12:00:00", "1942-07-01T14:00:00"),
    ("Asia/Kathmandu", "1900-01-01T00:00:00", "1900-01-01T05:41:16"),
    # the ends of the range: year 0 and year 10000 on the wall clock
    ("Pacific/Kiritimati", "9999-12-31T23:59:59.999999", "+10000-01-01T13:59:59.999999"),
    ("America/New_York", "0001-01-01T00:00:00", "0000-12-31T19:03:58"),
])
def test_wall_clock_in_zone(zone: str, utc: str, local: str) -> None:
    """Known local times (from the tz database's own tables) at transitions and edges."""
    year_s, rest = local.lstrip("+").split("-", 1)
    year = int(year_s)
    mm, dd_hms = rest.split("-", 1)
    dd, hms = dd_hms.split("T")
    h, mi, s = hms.split(":")
    sec = int(float(s))
    t = dt.datetime.fromisoformat(utc).replace(tzinfo=UTC)
    fns = ["year", "month", "day", "hour", "minute", "second", "date"]
    spec = spec_of("0", {"t": "timestamp"}, [f'feature {f} = {f}(t, "{zone}")' for f in fns])
    o = assert_parity(spec, [{"t": t}])[0]
    assert (o["year"], o["month"], o["day"], o["hour"], o["minute"], o["second"]) == \
        (year, int(mm), int(dd), int(h), int(mi), sec)
    expected_date = dt.date(year, int(mm), int(dd)) if 1 <= year <= 9999 else None
    assert o["date"] == expected_date


def test_zoned_fields_far_from_1970_and_at_the_range_ends() -> None:
    """Every field in a DST zone, a +14 zone and an LMT-seconds zone, at random instants."""
    ts = instants(200, seed=4)
    feats = [f'feature {f}_{i} = {f}(t, "{z}")' for f in FIELDS
             for i, z in enumerate(["America/New_York", "Pacific/Kiritimati",
                                    "Africa/Monrovia", "Etc/GMT+12"])]
    assert_parity(spec_of("0", {"t": "timestamp"}, feats), [{"t": t} for t in ts])


def test_aware_input_datetimes_work_with_zoned_functions() -> None:
    """An aware UTC datetime passes through for UTC field reads; zoned reads need it naive."""
    t = dt.datetime(2024, 7, 1, 12, tzinfo=UTC)
    spec = spec_of('hour(t, "Europe/Paris")', {"t": "timestamp"},
                   ["feature h = hour(t)", 'feature w = week_of_year(t, "Asia/Tokyo")'])
    for value in (t, t.astimezone(dt.timezone(dt.timedelta(hours=-7))), t.replace(tzinfo=None)):
        assert assert_parity(spec, [{"t": value}])[0] == {"out": 14, "h": 12, "w": 27}


# ------------------------------------------------------------------------------ arithmetic


def _durations(n: int, seed: int) -> list[dt.timedelta]:
    rnd = random.Random(seed)
    fixed = [0, 1, -1, 86_400_000_000, -86_400_000_000 + 1, I64 - 1, -I64, 3_600_000_000]
    out = fixed + [rnd.randint(-(10**17), 10**17) for _ in range(n // 2)] + \
        [rnd.randint(-I64, I64 - 1) for _ in range(n // 2)]
    return [dt.timedelta(microseconds=u) for u in out]


def _ts_or_none(t: dt.datetime, d: dt.timedelta, sign: int) -> dt.datetime | None:
    us = (t - EPOCH) // US + sign * (d // US)
    if not (TS_MIN - EPOCH) // US <= us <= (TS_MAX - EPOCH) // US:
        return None
    return EPOCH + us * US


def test_timestamp_plus_minus_duration_null_outside_years_1_to_9999() -> None:
    ts, ds = instants(120, seed=5), _durations(120, seed=6)
    rows = [{"t": t, "d": d} for t, d in zip(ts, ds + ds, strict=False)]
    rows += [{"t": TS_MAX, "d": US}, {"t": TS_MIN, "d": -US}, {"t": TS_MIN, "d": US * -I64}]
    spec = spec_of("t + d", {"t": "timestamp", "d": "duration"},
                   ["feature m = t - d", "feature r = d + t", "feature back = (t + d) - t"])
    for r, o in zip(rows, assert_parity(spec, rows), strict=True):
        plus = _ts_or_none(r["t"], r["d"], 1)
        assert o["out"] == plus and o["r"] == plus
        assert o["m"] == _ts_or_none(r["t"], r["d"], -1)
        assert o["back"] == (None if plus is None else r["d"])


def test_timestamp_minus_timestamp_is_exact_across_the_whole_range() -> None:
    a, b = instants(150, seed=7), instants(150, seed=8)
    rows = [{"a": x, "b": y} for x, y in zip(a, b, strict=True)] + [{"a": TS_MIN, "b": TS_MAX}]
    spec = spec_of("a - b", {"a": "timestamp", "b": "timestamp"},
                   ["feature s = total_seconds(a - b)", "feature n = -(a - b) == b - a"])
    for r, o in zip(rows, assert_parity(spec, rows), strict=True):
        us = (r["a"] - r["b"]) // US
        assert o["out"] == dt.timedelta(microseconds=us)
        assert o["s"] == float(us) / 1e6
        assert o["n"] is True


def test_date_arithmetic_floors_to_whole_days() -> None:
    rnd = random.Random(9)
    dates = [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 28)] + \
        [dt.date.fromordinal(rnd.randint(1, 3652059)) for _ in range(150)]
    ds = _durations(len(dates), seed=10)[: len(dates)]
    rows = [{"a": a, "d": d, "b": dates[-1 - i]} for i, (a, d) in enumerate(zip(dates, ds,
                                                                               strict=True))]
    spec = spec_of("a + d", {"a": "date", "b": "date", "d": "duration"},
                   ["feature m = a - d", "feature diff = a - b", "feature r = d + a"])

    def days(a: dt.date, us: int) -> dt.date | None:
        n = a.toordinal() + us // 86_400_000_000  # floor: the date of midnight + us
        return dt.date.fromordinal(n) if 1 <= n <= dt.date.max.toordinal() else None

    for r, o in zip(rows, assert_parity(spec, rows), strict=True):
        us = r["d"] // US
        assert o["out"] == days(r["a"], us) == o["r"]
        assert o["m"] == days(r["a"], -us)
        assert o["diff"] == dt.timedelta(days=(r["a"] - r["b"]).days)


def test_duration_arithmetic_overflow_is_null() -> None:
    ds = _durations(80, seed=11)
    rows = [{"a": a, "b": b, "k": k} for a, b, k in
            zip(ds, reversed(ds), [0, 1, -1, 2, -2, 3, 10**6, -(10**12)] * 20, strict=False)]
    spec = spec_of("a + b", {"a": "duration", "b": "duration", "k": "int"},
                   ["feature s = a - b", "feature n = -a", "feature m = a * k",
                    "feature m2 = k * b", "feature lt = a < b", "feature d = total_days(a)"])

    def dur(us: int) -> dt.timedelta | None:
        return dt.timedelta(microseconds=us) if -I64 <= us < I64 else None

    for r, o in zip(rows, assert_parity(spec, rows), strict=True):
        a, b, k = r["a"] // US, r["b"] // US, r["k"]
        assert (o["out"], o["s"], o["n"]) == (dur(a + b), dur(a - b), dur(-a))
        assert (o["m"], o["m2"]) == (dur(a * k), dur(k * b))
        assert o["lt"] == (a < b)
        assert o["d"] == float(a) / 86_400_000_000.0


def test_duration_literals() -> None:
    spec = spec_of("total_seconds(7d12h30m15s)", {"x": "int?"},
                   ["feature ms = 1500ms + 250us", "feature neg = -1d"])
    o = assert_parity(spec, [{"x": None}])[0]
    assert o == {"out": 649815.0, "ms": dt.timedelta(microseconds=1_500_250),
                 "neg": dt.timedelta(days=-1)}


def test_type_errors_for_meaningless_time_arithmetic() -> None:
    for expr in ("t + t", "d + t", "t - d", "d * 2", "du * 1.5", "du / du", "-t",
                 "t + 1", "hour(d)", 'epoch_seconds(d)'):
        with pytest.raises(fd.SpecError) as info:
            spec_of(expr, {"t": "timestamp", "d": "date", "du": "duration"})
        assert {x.code for x in info.value.diagnostics} & {"E203", "E205"}, expr


def test_batch_lazy_and_streaming_agree_with_eager() -> None:
    ts = instants(300, seed=12)
    spec = spec_of('hour(t, "America/New_York") * 100 + day_of_week(t, "Asia/Tokyo")',
                   {"t": "timestamp"}, ['feature d = date(t, "Pacific/Kiritimati")',
                                        "feature p = t + 36h"])
    df = pl.DataFrame({"t": pl.Series(ts, dtype=pl.Datetime("us", "UTC"))})
    eager = spec.transform(df)
    lazy = spec.transform_lazy(df.lazy()).collect(engine="streaming")
    assert eager.equals(lazy)
    ev = spec.row_evaluator()
    assert [ev({"t": t}) for t in ts] == eager.to_dicts()


def test_let_of_an_aware_timestamp_input_is_normalized() -> None:
    t = dt.datetime(2024, 7, 1, 12, tzinfo=UTC)
    spec = spec_of("x == t2", {"t": "timestamp", "t2": "timestamp"},
                   ["let x = t", 'feature h = hour(x, "Europe/Paris")', "feature g = hour(t)",
                    "feature d = x - t2"])
    assert assert_parity(spec, [{"t": t, "t2": t}])[0] == \
        {"out": True, "h": 14, "g": 12, "d": dt.timedelta(0)}
