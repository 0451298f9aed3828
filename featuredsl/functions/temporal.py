"""Calendar functions on timestamps (UTC instants, microseconds) and dates.

The row backend keeps a timestamp as an int of microseconds since 1970-01-01T00:00:00Z and a
date as an int of days since 1970-01-01, and does calendar arithmetic on integers (proleptic
Gregorian, floor division, so instants before 1970 are right). ``day_of_week`` is ISO: Monday 1
to Sunday 7. Time zones arrive with the function-library issue; today every field is UTC.
"""

from __future__ import annotations

import polars as pl

from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import DATE, INT, TIMESTAMP

US_PER_DAY = 86_400_000_000


def civil_from_days(z: int) -> tuple[int, int, int]:
    """(year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian.

    Howard Hinnant's ``civil_from_days``, exact for every int.
    """
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def year_of_day(z: int) -> int:
    return civil_from_days(z)[0]


def month_of_day(z: int) -> int:
    return civil_from_days(z)[1]


def day_of_day(z: int) -> int:
    return civil_from_days(z)[2]


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


def _ymd(fn):
    def on_ts(g, t: str) -> str:
        return f"{g.ref(fn, fn.__name__)}({t} // {US_PER_DAY})"

    def on_date(g, d: str) -> str:
        return f"{g.ref(fn, fn.__name__)}({d})"
    return on_ts, on_date


_field("year", "Calendar year (UTC).", lambda t: t.dt.year(), *_ymd(year_of_day), 2024, 1969)
_field("month", "Month 1-12 (UTC).", lambda t: t.dt.month(), *_ymd(month_of_day), 1, 12)
_field("day", "Day of the month 1-31 (UTC).", lambda t: t.dt.day(), *_ymd(day_of_day), 7, 31)
_field("hour", "Hour 0-23 (UTC).", lambda t: t.dt.hour(),
       lambda g, t: f"{t} // 3600000000 % 24", None, 23, 23)
_field("minute", "Minute 0-59 (UTC).", lambda t: t.dt.minute(),
       lambda g, t: f"{t} // 60000000 % 60", None, 59, 59)
_field("second", "Second 0-59 (UTC; fractions are dropped).", lambda t: t.dt.second(),
       lambda g, t: f"{t} // 1000000 % 60", None, 59, 59)
_field("day_of_week", "ISO day of the week: Monday 1 .. Sunday 7 (UTC).",
       lambda t: t.dt.weekday(),
       lambda g, t: f"({t} // {US_PER_DAY} + 3) % 7 + 1",
       lambda g, d: f"({d} + 3) % 7 + 1", 7, 3)
