"""Calendar functions on timestamps (UTC instants, microseconds) and dates.

The row backend keeps a timestamp as a naive ``datetime`` holding the UTC wall clock and a date
as a ``date`` (see ``backends/row_input.py``), so each field is an attribute read; Python's
datetime is proleptic Gregorian like Polars', so instants before 1970 agree. ``day_of_week``
is ISO: Monday 1 to Sunday 7. Time zones arrive with the function-library issue; today every
field is UTC.
"""

from __future__ import annotations

import polars as pl

from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import DATE, INT, TIMESTAMP

_TS_EX = {"ts": "2024-01-07T23:59:59Z"}  # a Sunday
_OLD_EX = {"ts": "1969-12-31T23:59:59.999999Z"}  # a Wednesday, before the epoch


def _field(name: str, doc: str, polars_fn, row_ts, row_date, ex: object, old: object) -> None:
    overloads = [Overload(f"{name}_timestamp", (TIMESTAMP,), INT,
                          lambda t: polars_fn(t).cast(pl.Int64), row_ts)]
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
_field("hour", "Hour 0-23 (UTC).", lambda t: t.dt.hour(), _attr("hour"), None, 23, 23)
_field("minute", "Minute 0-59 (UTC).", lambda t: t.dt.minute(), _attr("minute"), None, 59, 59)
_field("second", "Second 0-59 (UTC; fractions are dropped).", lambda t: t.dt.second(),
       _attr("second"), None, 59, 59)
_field("day_of_week", "ISO day of the week: Monday 1 .. Sunday 7 (UTC).",
       lambda t: t.dt.weekday(), _attr("isoweekday", "()"), _attr("isoweekday", "()"), 7, 3)
