"""Calendar functions on timestamps (UTC instants, microseconds) and dates.

The row backend keeps a timestamp as a naive ``datetime`` holding the UTC wall clock and a date
as a ``date`` (see ``backends/row_input.py``), so each field is an attribute read; Python's
datetime is proleptic Gregorian like Polars', so instants before 1970 agree. ``day_of_week``
is ISO: Monday 1 to Sunday 7. Time zones arrive with the function-library issue; today every
field is UTC.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import DATE, INT, TIMESTAMP

_TS_EX = {"ts": "2024-01-07T23:59:59Z"}  # a Sunday
_OLD_EX = {"ts": "1969-12-31T23:59:59.999999Z"}  # a Wednesday, before the epoch


def _field(name: str, doc: str, polars_fn, row_ts, row_date, ex: object, old: object) -> None:
    overloads = [Overload(f"{name}_timestamp", (TIMESTAMP,), INT,
                          lambda t: polars_fn(t).cast(pl.Int64), row_ts,
                          reads_fields_only=True)]
    if row_date is not None:
        overloads.append(Overload(f"{name}_date", (DATE,), INT,
                                  lambda t: polars_fn(t).cast(pl.Int64), row_date))
    examples = [Example(f"{name}(ts)", _TS_EX, ex, {"ts": "timestamp"}),
                Example(f"{name}(ts)", _OLD_EX, old, {"ts": "timestamp"})]
    if row_date is not None:
        examples += [Example(f"{name}(d)", {"d": "2024-01-07"}, ex, {"d": "date"}),
                     Example(f"{name}(d)", {"d": "1969-12-31"}, old, {"d": "date"})]
    register(
        name, doc, ("ts",), overloads, examples,
        category="time",
    )


def _attr(name: str, call: str = ""):
    return lambda g, t: f"{t}.{name}{call}"


_field("year", "Calendar year (UTC).", lambda t: t.dt.year(), _attr("year"), _attr("year"),
       2024, 1969)
_field("month", "Month 1-12 (UTC).", lambda t: t.dt.month(), _attr("month"), _attr("month"),
       1, 12)
_field("day", "Day of the month 1-31 (UTC).", lambda t: t.dt.day(), _attr("day"),
       _attr("day"), 7, 31)


def _us_field(period_us: int, modulo: int) -> Callable[[pl.Expr], pl.Expr]:
    # On the physical microseconds: Polars' int64 `//` and `%` floor like Python, so instants
    # before 1970 are right, and this is ~4x faster than `dt.hour()` (benchmarks/README.md).
    return lambda t: t.to_physical() // period_us % modulo


_field("hour", "Hour 0-23 (UTC).", _us_field(3_600_000_000, 24), _attr("hour"), None, 23, 23)
_field("minute", "Minute 0-59 (UTC).", _us_field(60_000_000, 60), _attr("minute"), None, 59, 59)
_field("second", "Second 0-59 (UTC; fractions are dropped).", _us_field(1_000_000, 60),
       _attr("second"), None, 59, 59)
register(
    "day_of_week", "ISO day of the week: Monday 1 .. Sunday 7 (UTC).", ("ts",),
    [Overload("day_of_week_timestamp", (TIMESTAMP,), INT,
              lambda t: (t.to_physical() // 86_400_000_000 + 3) % 7 + 1,
              _attr("isoweekday", "()"), reads_fields_only=True),
     Overload("day_of_week_date", (DATE,), INT,
              lambda d: (d.to_physical().cast(pl.Int64) + 3) % 7 + 1, _attr("isoweekday", "()"))],
    [Example("day_of_week(ts)", _TS_EX, 7, {"ts": "timestamp"}),
     Example("day_of_week(ts)", _OLD_EX, 3, {"ts": "timestamp"}),
     Example("day_of_week(d)", {"d": "2024-01-07"}, 7, {"d": "date"}),
     Example("day_of_week(d)", {"d": "1969-12-31"}, 3, {"d": "date"})],
    category="time",
)
