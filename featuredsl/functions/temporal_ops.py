"""Arithmetic on timestamps, dates and durations: overloads of ``+ - * unary-``.

``operators.py`` registers the operators and appends these overloads and examples (the order
matters: a bare ``null`` operand resolves to the first overload that fits, so the duration
ones come first and ``null + d`` is a duration).

Decisions (the same in both backends; durations are int64 microseconds):

* ``timestamp - timestamp`` -> duration (exact: the range of timestamps fits int64 µs).
* ``timestamp +/- duration`` and ``duration + timestamp`` -> timestamp; null if the result is
  outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z (what Python's datetime holds).
* ``date - date`` -> duration of whole days.
* ``date +/- duration`` and ``duration + date`` -> date: the calendar date reached from
  midnight (UTC) of the date, i.e. whole days *floored* (``d + 36h`` is the next day,
  ``d - 1h`` the day before); null outside years 1..9999.
* ``duration +/- duration``, ``-duration``, ``duration * int``, ``int * duration`` -> duration,
  null on int64 overflow. Comparisons of durations (and of dates, timestamps) are in
  ``operators.py``. No duration / duration or float scaling: use ``total_seconds``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions.registry import Example, Overload
from featuredsl.types import DATE, DURATION, INT, TIMESTAMP

DAY_US = 86_400_000_000
_US = dt.timedelta(microseconds=1)
DATE_MIN_DAYS = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
DATE_MAX_DAYS = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days
_EPOCH = dt.datetime(1970, 1, 1)
#: The representable range of timestamps in µs since the epoch: years 1..9999 UTC, what
#: Python's ``datetime`` holds. Arithmetic gives null outside it; the input readers
#: (``backends/row_input.py``, ``data/inputs.py``) reject values outside it. Defined here, in
#: ``functions/``, so the function lowerings need nothing from ``backends/``.
TS_MIN_US = (dt.datetime(1, 1, 1) - _EPOCH) // _US
TS_MAX_US = (dt.datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH) // _US
_TS = pl.Datetime("us", "UTC")
_DUR = pl.Duration("us")


def ts_add(t: dt.datetime, us: int) -> dt.datetime | None:
    """Row side of ``timestamp + duration``: None outside years 1..9999."""
    try:
        return t + dt.timedelta(microseconds=us)
    except OverflowError:
        return None


def ts_sub(t: dt.datetime, us: int) -> dt.datetime | None:
    """Row side of ``timestamp - duration`` (``-us`` may leave int64: Python ints do not)."""
    try:
        return t - dt.timedelta(microseconds=us)
    except OverflowError:
        return None


def date_add(d: dt.date, us: int) -> dt.date | None:
    """Row side of ``date + duration``: whole days, floored; None outside years 1..9999."""
    try:
        return d + dt.timedelta(days=us // DAY_US)
    except OverflowError:
        return None


def date_sub(d: dt.date, us: int) -> dt.date | None:
    """Row side of ``date - duration``: the date of midnight minus the duration."""
    try:
        return d + dt.timedelta(days=(-us) // DAY_US)
    except OverflowError:
        return None


def _us(e: pl.Expr) -> pl.Expr:
    return e.to_physical().cast(pl.Int64)


def _ts_in_range(us: pl.Expr) -> pl.Expr:
    return pl.when(us.is_between(TS_MIN_US, TS_MAX_US)).then(us).cast(_TS)


def _ts_shift(t: pl.Expr, du: pl.Expr, sign: int) -> pl.Expr:
    """``t + du`` (``sign`` 1) or ``t - du`` (-1), null outside years 1..9999. No separate
    int64 overflow test: ``t`` is within +-2.6e17 µs, so a sum that wraps lands beyond
    +-8.9e18, never back in the range (one when/then instead of two, ~2x faster)."""
    r = _us(t) + _us(du) if sign > 0 else _us(t) - _us(du)
    return _ts_in_range(r)


def _date_in_range(days: pl.Expr) -> pl.Expr:
    ok = days.is_between(DATE_MIN_DAYS, DATE_MAX_DAYS)
    return pl.when(ok).then(days).cast(pl.Int32).cast(pl.Date)


def _date_plus(d: pl.Expr, du: pl.Expr) -> pl.Expr:
    return _date_in_range(_us(d) + _us(du) // DAY_US)


def _date_minus(d: pl.Expr, du: pl.Expr) -> pl.Expr:
    # floor(-us / DAY) without negating us (int64 MIN): -(us // DAY) - (us % DAY != 0)
    u = _us(du)
    return _date_in_range(_us(d) - u // DAY_US - (u % DAY_US != 0).cast(pl.Int64))


def _neg_duration(a: pl.Expr) -> pl.Expr:
    u = _us(a)
    return pl.when(u != _pl.INT64_MIN).then(-u).cast(_DUR)


def _helper(fn):
    return lambda g, a, b: f"{g.ref(fn, fn.__name__)}({a}, {b})"


def _flipped(fn):
    return lambda g, a, b: f"{g.ref(fn, fn.__name__)}({b}, {a})"


D, T, DT, N = DURATION, TIMESTAMP, DATE, INT

ADD = [
    Overload("add_duration", (D, D), D, lambda a, b: _pl.add_int(_us(a), _us(b)).cast(_DUR),
             lambda g, a, b: f"{a} + {b}", int_overflow=True, may_be_null=True),
    Overload("add_timestamp_duration", (T, D), T,
             lambda a, b: _ts_shift(a, b, 1), _helper(ts_add),
             may_be_null=True),
    Overload("add_duration_timestamp", (D, T), T,
             lambda a, b: _ts_shift(b, a, 1), _flipped(ts_add),
             may_be_null=True),
    Overload("add_date_duration", (DT, D), DT, _date_plus, _helper(date_add), may_be_null=True),
    Overload("add_duration_date", (D, DT), DT, lambda a, b: _date_plus(b, a),
             _flipped(date_add), may_be_null=True),
]
SUB = [
    Overload("sub_duration", (D, D), D, lambda a, b: _pl.sub_int(_us(a), _us(b)).cast(_DUR),
             lambda g, a, b: f"{a} - {b}", int_overflow=True, may_be_null=True),
    Overload("sub_timestamp", (T, T), D, lambda a, b: (_us(a) - _us(b)).cast(_DUR),
             lambda g, a, b: f"({a} - {b}) // {g.ref(_US, 'us')}"),
    Overload("sub_timestamp_duration", (T, D), T,
             lambda a, b: _ts_shift(a, b, -1), _helper(ts_sub),
             may_be_null=True),
    Overload("sub_date", (DT, DT), D, lambda a, b: ((_us(a) - _us(b)) * DAY_US).cast(_DUR),
             lambda g, a, b: f"({a} - {b}).days * {DAY_US}"),
    Overload("sub_date_duration", (DT, D), DT, _date_minus, _helper(date_sub),
             may_be_null=True),
]
MUL = [
    Overload("mul_duration_int", (D, N), D, lambda a, b: _pl.mul_int(_us(a), b).cast(_DUR),
             lambda g, a, b: f"{a} * {b}", int_overflow=True, may_be_null=True),
    Overload("mul_int_duration", (N, D), D, lambda a, b: _pl.mul_int(a, _us(b)).cast(_DUR),
             lambda g, a, b: f"{a} * {b}", int_overflow=True, may_be_null=True),
]
NEG = [Overload("neg_duration", (D,), D, _neg_duration, lambda g, a: f"-{a}",
                int_overflow=True, may_be_null=True)]

_td = dt.timedelta
_MAX_DU = _td(microseconds=2**63 - 1)
_T2 = {"a": "timestamp", "b": "timestamp"}
_TD = {"a": "timestamp", "b": "duration"}
_DD = {"a": "date", "b": "duration"}
_UTC = dt.UTC

ADD_EXAMPLES = [
    Example("a + b", {"a": _td(days=1), "b": _td(hours=-1)}, _td(hours=23)),
    Example("a + b", {"a": _MAX_DU, "b": _td(microseconds=1)}, None),
    Example("a + b", {"a": "2024-03-10T06:30:00Z", "b": _td(hours=1)},
            dt.datetime(2024, 3, 10, 7, 30, tzinfo=_UTC), _TD),
    Example("a + b", {"a": "9999-12-31T23:59:59Z", "b": _td(seconds=1)}, None, _TD),
    Example("a + b", {"a": "1969-12-31T23:59:59.5Z", "b": _MAX_DU}, None, _TD),
    Example("b + a", {"a": "1600-02-28T00:00:00Z", "b": _td(days=1)},
            dt.datetime(1600, 2, 29, tzinfo=_UTC), _TD),
    Example("a + b", {"a": "2024-02-28", "b": _td(hours=36)}, dt.date(2024, 2, 29), _DD),
    Example("a + b", {"a": "2023-12-31", "b": _td(hours=-1)}, dt.date(2023, 12, 30), _DD),
    Example("a + b", {"a": "9999-12-31", "b": _td(days=1)}, None, _DD),
    Example("b + a", {"a": "1900-02-28", "b": _td(days=1)}, dt.date(1900, 3, 1), _DD),
    Example("a + 7d12h", {"a": None}, None, {"a": "timestamp?"}),
]
SUB_EXAMPLES = [
    Example("a - b", {"a": _td(0), "b": _td(microseconds=-(2**63))}, None,
            {"a": "duration", "b": "duration"}),
    Example("a - b", {"a": "2024-01-01T00:00:00Z", "b": "2023-12-31T23:00:00-02:00"},
            _td(hours=-1), _T2),
    Example("a - b", {"a": "0001-01-01T00:00:00Z", "b": "9999-12-31T23:59:59.999999Z"},
            _td(microseconds=TS_MIN_US - TS_MAX_US), _T2),
    Example("a - b", {"a": "1970-01-01T00:00:00Z", "b": _td(microseconds=1)},
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC), _TD),
    Example("a - b", {"a": "0001-01-01T00:00:00Z", "b": _td(microseconds=1)}, None, _TD),
    Example("a - b", {"a": "2024-03-01T00:00:00Z", "b": _td(microseconds=-(2**63))}, None, _TD),
    Example("a - b", {"a": "2024-03-01", "b": "2024-02-01"}, _td(days=29),
            {"a": "date", "b": "date"}),
    Example("a - b", {"a": "2024-03-01", "b": _td(hours=1)}, dt.date(2024, 2, 29), _DD),
    Example("a - b", {"a": "2024-03-01", "b": _td(hours=-25)}, dt.date(2024, 3, 2), _DD),
    Example("a - b", {"a": "2024-03-01", "b": _td(microseconds=-(2**63))}, None, _DD),
]
MUL_EXAMPLES = [
    Example("a * 3", {"a": _td(hours=-2)}, _td(hours=-6)),
    Example("2 * a", {"a": _td(days=1)}, _td(days=2)),
    Example("a * b", {"a": _MAX_DU, "b": 2}, None),
]
NEG_EXAMPLES = [
    Example("-a", {"a": _td(seconds=90)}, _td(seconds=-90)),
    Example("-a", {"a": _td(microseconds=-(2**63))}, None),
]
