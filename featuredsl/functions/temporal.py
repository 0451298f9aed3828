"""Calendar functions on timestamps (UTC instants, microseconds) and dates; duration totals.

Representation (``backends/row_input.py``): the row backend holds a timestamp as a naive
``datetime`` with the UTC wall clock, a date as a ``date`` and a duration as an int of
microseconds; the batch backend as ``Datetime("us", "UTC")``, ``Date`` and ``Duration("us")``.
Python's datetime is proleptic Gregorian like Polars', so instants before 1970 agree.

Decisions
---------
* Every timestamp calendar function takes an optional IANA zone, a string *literal* checked at
  compile time (``hour(ts, "America/New_York")``; unknown: error E208 with a did-you-mean
  hint). Without one the field is read in UTC. The zone data is Polars' own in both backends
  (:mod:`featuredsl.functions.zones` says why and how); the local wall clock is the UTC instant
  plus the offset in force at that instant, so DST gaps and overlaps never arise.
* On a date, a zone is validated and has no effect: a date is a calendar day, not an instant,
  already local to whatever zone produced it (``day_of_week(date(ts, z), z)`` is the local
  weekday; shifting "midnight UTC" into ``z`` would give the day before in the Americas).
* ``day_of_week`` is ISO: Monday 1 .. Sunday 7. ``week_of_year`` is the ISO week 1..53 (the
  first days of January may be in week 52 or 53 of the year before). ``day_of_year`` 1..366.
* ``second`` drops fractions. ``epoch_seconds(ts)`` is an int: whole seconds since
  1970-01-01T00:00:00Z, floored (-0.5 s gives -1), so it is exact and sortable. With a zone, it
  counts the local wall clock's seconds since 1970-01-01T00:00 local (the instant plus the UTC
  offset), so ``epoch_seconds(ts, z) % 86400`` is the local second of the day.
* A wall clock can fall on 0000-12-31 or 10000-01-01 (the first/last hours of the timestamp
  range, in a zone): the fields are still computed (year 0 or 10000); ``date(ts, zone)`` is
  null there because neither backend can hold such a date on the row side.
* ``total_seconds(d)`` and ``total_days(d)`` are floats: the microsecond count converted to
  float, then divided (``float(us) / 1e6``), in both backends (no reciprocal multiply).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions.registry import Example, Overload, RowGen, register
from featuredsl.functions.temporal_ops import DATE_MAX_DAYS, DATE_MIN_DAYS
from featuredsl.functions.zones import check_zone, zone_table
from featuredsl.types import DATE, DURATION, FLOAT, INT, STRING, TIMESTAMP

_TS = {"ts": "timestamp"}
_TS_EX: dict[str, object] = {"ts": "2024-01-07T23:59:59Z"}  # a Sunday
_OLD_EX: dict[str, object] = {"ts": "1969-12-31T23:59:59.999999Z"}  # a Wednesday, before the epoch
# 03:00 EDT: the first instant after the NY gap
_DST_EX: dict[str, object] = {"ts": "2024-03-10T07:00:00Z"}
_EPOCH = dt.datetime(1970, 1, 1)
_SEC = dt.timedelta(seconds=1)
#: Zones the differential test and the docs write: DST in both hemispheres, half- and
#: quarter-hour offsets, +14, a day skipped (Apia 2011), LMT offsets in seconds (Monrovia).
ZONE_SAMPLES = ('"UTC"', '"America/New_York"', '"Europe/Paris"', '"Australia/Lord_Howe"',
                '"Asia/Kathmandu"', '"Pacific/Kiritimati"', '"Pacific/Apia"',
                '"America/St_Johns"', '"Africa/Monrovia"', '"Etc/GMT+12"')
_ZONE_DOC = (" With a zone (an IANA name, a string literal) the field is read on that zone's "
             "wall clock; without one, in UTC. On a date the zone has no effect (a date is "
             "already a calendar day).")


def _check_zone(consts: Sequence[object]) -> str | None:
    return check_zone(consts[1])


def _utc_if_default(special: str) -> Callable[[Sequence[object]], str | None]:
    return lambda consts: special if consts[1] == "UTC" else None


def _local(t: pl.Expr, zone: str) -> pl.Expr:
    """The zone's wall clock as a zoned Datetime (Polars reads fields on the wall clock)."""
    return t.dt.convert_time_zone(zone)


def _local_us(t: pl.Expr, zone: str) -> pl.Expr:
    """The zone's wall clock as int µs since 1970-01-01T00:00 (local)."""
    return _local(t, zone).dt.replace_time_zone(None).to_physical()


def _us_field(period_us: int, modulo: int) -> Callable[[pl.Expr], pl.Expr]:
    # On the physical microseconds: Polars' int64 `//` and `%` floor like Python, so instants
    # before 1970 are right, and this is ~4x faster than `dt.hour()` (benchmarks/README.md).
    return lambda us: us // period_us % modulo


def _weekday_us(us: pl.Expr) -> pl.Expr:
    return (us // 86_400_000_000 + 3) % 7 + 1  # 1970-01-01 was a Thursday (4)


def _weekday_dt(t: pl.Expr) -> pl.Expr:
    # Polars' ISO weekday of a UTC Datetime or a Date: ~2-3x faster than the two floor
    # operations of _weekday_us on the physical value (the reverse of hour/minute/second),
    # and equal to it on every day of years 1..9999 and on 2M random instants (checked).
    return t.dt.weekday()


def _ordinal_day(x: dt.date) -> int:
    """Day of the year 1..366 of a date or datetime."""
    return x.toordinal() - dt.date(x.year, 1, 1).toordinal() + 1


def _iso_week(x: dt.date) -> int:
    return x.isocalendar()[1]


class _Field:
    """How one calendar field is computed on each representation.

    ``polars_us``: from int µs of a wall clock (fast, used in UTC and local); ``polars_dt``
    from a (zoned) Datetime or a Date otherwise; ``polars_utc``, if given, replaces both for a
    UTC timestamp (where a Polars field is faster than the arithmetic); ``polars_local``, if
    given, is read off the zoned Datetime for a zone (Polars' field is ~1.8x faster there than
    ``replace_time_zone(None)`` and arithmetic; equal on 3M instants in 9 zones). ``row``:
    Python code from a datetime/date atom; ``row_year``: the year needs the zone table's own method
    (year 0 / 10000).
    """

    def __init__(self, name: str, doc: str, *, dates: bool, row: Callable[[RowGen, str], str],
                 polars_us: Callable[[pl.Expr], pl.Expr] | None = None,
                 polars_dt: Callable[[pl.Expr], pl.Expr] | None = None,
                 polars_date: Callable[[pl.Expr], pl.Expr] | None = None,
                 polars_utc: Callable[[pl.Expr], pl.Expr] | None = None,
                 polars_local: Callable[[pl.Expr], pl.Expr] | None = None) -> None:
        self.name, self.doc, self.dates, self.row = name, doc, dates, row
        self.polars_us, self.polars_dt, self.polars_utc = polars_us, polars_dt, polars_utc
        self.polars_local = polars_local
        self.polars_date = polars_date or polars_dt

    def utc(self, t: pl.Expr) -> pl.Expr:
        if self.polars_utc is not None:
            return self.polars_utc(t).cast(pl.Int64)
        if self.polars_us is not None:
            return self.polars_us(t.to_physical())
        assert self.polars_dt is not None
        return self.polars_dt(t).cast(pl.Int64)

    def zoned(self, t: pl.Expr, zone: str) -> pl.Expr:
        if self.polars_local is not None:
            return self.polars_local(_local(t, zone)).cast(pl.Int64)
        if self.polars_us is not None:
            return self.polars_us(_local_us(t, zone))
        assert self.polars_dt is not None
        return self.polars_dt(_local(t, zone)).cast(pl.Int64)

    def row_zoned(self, g: RowGen, t: str, zone: str) -> str:
        table = zone_table(zone)
        if self.name == "year":
            return f"{g.ref(table.year, 'year_in')}({t})"
        return self.row(g, f"{g.ref(table.local, 'local_in')}({t})")


def _attr(name: str, call: str = "") -> Callable[[RowGen, str], str]:
    return lambda g, t: f"{t}.{name}{call}"


def _helper(fn: Callable[[dt.date], int], hint: str) -> Callable[[RowGen, str], str]:
    return lambda g, t: f"{g.ref(fn, hint)}({t})"


def _register_field(f: _Field, examples: list[Example]) -> None:
    overloads = [
        Overload(f"{f.name}_timestamp", (TIMESTAMP, STRING), INT, f.zoned,
                 lambda g, t, z, f=f: f.row_zoned(g, t, z), const=frozenset({1}),
                 check_const=_check_zone,
                 specialize=_utc_if_default(f"{f.name}_timestamp_utc")),
        # No zone (or "UTC"): fields of the UTC wall clock, read straight off the value.
        Overload(f"{f.name}_timestamp_utc", (TIMESTAMP, STRING), INT,
                 lambda t, z, f=f: f.utc(t), lambda g, t, z, f=f: f.row(g, t),
                 const=frozenset({1}), hidden=True, reads_fields_only=True),
    ]
    if f.dates:
        polars_date = f.polars_date
        assert polars_date is not None
        overloads.append(Overload(
            f"{f.name}_date", (DATE, STRING), INT,
            lambda d, z, p=polars_date: p(d).cast(pl.Int64), lambda g, d, z, f=f: f.row(g, d),
            const=frozenset({1}), check_const=_check_zone))
    register(f.name, f.doc + _ZONE_DOC, ("ts", "zone"), overloads, examples,
             defaults={"zone": "UTC"}, const_samples={"zone": ZONE_SAMPLES}, category="time")


def _examples(name: str, ex: object, old: object, ny_dst: object, dates: bool,
              extra: Sequence[Example] = ()) -> list[Example]:
    out = [Example(f"{name}(ts)", _TS_EX, ex, _TS),
           Example(f"{name}(ts)", _OLD_EX, old, _TS),
           Example(f'{name}(ts, "America/New_York")', _DST_EX, ny_dst, _TS),
           Example(f'{name}(ts, "UTC")', {"ts": None}, None, {"ts": "timestamp?"}), *extra]
    if dates:
        out += [Example(f"{name}(d)", {"d": "2024-01-07"}, ex, {"d": "date"}),
                Example(f'{name}(d, "Pacific/Kiritimati")', {"d": "2024-01-07"}, ex,
                        {"d": "date"}),
                Example(f"{name}(d)", {"d": "1969-12-31"}, old, {"d": "date"})]
    return out


_FIELDS = [
    (_Field("year", "Calendar year.", dates=True, row=_attr("year"),
            polars_dt=lambda t: t.dt.year()), (2024, 1969, 2024)),
    (_Field("month", "Month 1-12.", dates=True, row=_attr("month"),
            polars_dt=lambda t: t.dt.month()), (1, 12, 3)),
    (_Field("day", "Day of the month 1-31.", dates=True, row=_attr("day"),
            polars_dt=lambda t: t.dt.day()), (7, 31, 10)),
    (_Field("hour", "Hour 0-23.", dates=False, row=_attr("hour"),
            polars_us=_us_field(3_600_000_000, 24),
            polars_local=lambda t: t.dt.hour()), (23, 23, 3)),
    (_Field("minute", "Minute 0-59.", dates=False, row=_attr("minute"),
            polars_us=_us_field(60_000_000, 60),
            polars_local=lambda t: t.dt.minute()), (59, 59, 0)),
    (_Field("second", "Second 0-59 (fractions are dropped).", dates=False, row=_attr("second"),
            polars_us=_us_field(1_000_000, 60),
            polars_local=lambda t: t.dt.second()), (59, 59, 0)),
    (_Field("day_of_week", "ISO day of the week: Monday 1 .. Sunday 7.", dates=True,
            row=_attr("isoweekday", "()"), polars_us=_weekday_us, polars_utc=_weekday_dt,
            polars_local=_weekday_dt, polars_date=_weekday_dt),
     (7, 3, 7)),
    (_Field("day_of_year", "Day of the year 1-366.", dates=True,
            row=_helper(_ordinal_day, "ordinal_day"), polars_dt=lambda t: t.dt.ordinal_day()),
     (7, 365, 70)),
    (_Field("week_of_year", "ISO 8601 week number 1-53 (weeks start on Monday; week 1 holds "
            "the year's first Thursday, so early January may be week 52 or 53).", dates=True,
            row=_helper(_iso_week, "iso_week"), polars_dt=lambda t: t.dt.week()), (1, 1, 10)),
]
for _f, (_ex, _old, _ny) in _FIELDS:
    _extra = []
    if _f.name == "year":  # the wall clock is in year 10000 / year 0 at the range's ends
        _extra = [Example('year(ts, "Pacific/Kiritimati")', {"ts": "9999-12-31T23:00:00Z"},
                          10000, _TS),
                  Example('year(ts, "America/New_York")', {"ts": "0001-01-01T00:00:00Z"}, 0,
                          _TS)]
    _register_field(_f, _examples(_f.name, _ex, _old, _ny, _f.dates, _extra))


# ------------------------------------------------------------------------------ date(ts)


def _date_zoned_polars(t: pl.Expr, zone: str) -> pl.Expr:
    d = _local(t, zone).dt.date()
    days = d.to_physical()
    return pl.when(days.is_between(DATE_MIN_DAYS, DATE_MAX_DAYS)).then(d)


register(
    "date",
    "The calendar date of a timestamp." + _ZONE_DOC + " Null if the local date would be "
    "outside years 1..9999 (only possible in the first or last hours of the range).",
    ("ts", "zone"),
    [Overload("date_timestamp", (TIMESTAMP, STRING), DATE, _date_zoned_polars,
              lambda g, t, z: f"{g.ref(zone_table(z).date, 'date_in')}({t})",
              const=frozenset({1}), check_const=_check_zone, may_be_null=True,
              specialize=_utc_if_default("date_timestamp_utc")),
     Overload("date_timestamp_utc", (TIMESTAMP, STRING), DATE, lambda t, z: t.dt.date(),
              lambda g, t, z: f"{t}.date()", const=frozenset({1}), hidden=True,
              reads_fields_only=True)],
    [Example("date(ts)", _TS_EX, dt.date(2024, 1, 7), _TS),
     Example("date(ts)", _OLD_EX, dt.date(1969, 12, 31), _TS),
     Example('date(ts, "Asia/Tokyo")', _TS_EX, dt.date(2024, 1, 8), _TS),
     Example('date(ts, "America/New_York")', {"ts": "0001-01-01T03:00:00Z"}, None, _TS),
     Example('date(ts, "Pacific/Kiritimati")', {"ts": "9999-12-31T09:59:59Z"},
             dt.date(9999, 12, 31), _TS),
     Example("date(ts)", {"ts": None}, None, {"ts": "timestamp?"})],
    defaults={"zone": "UTC"}, const_samples={"zone": ZONE_SAMPLES}, category="time",
)

# ------------------------------------------------------------------------- epoch_seconds


register(
    "epoch_seconds",
    "Whole seconds since 1970-01-01T00:00:00Z, floored (an int; -0.5 s gives -1). With a "
    "zone: seconds of the zone's wall clock since 1970-01-01T00:00 local, i.e. the instant "
    "plus the UTC offset in force (so `epoch_seconds(ts, z) % 86400` is the local second of "
    "the day).",
    ("ts", "zone"),
    [Overload("epoch_seconds_timestamp", (TIMESTAMP, STRING), INT,
              lambda t, z: _local_us(t, z) // 1_000_000,
              lambda g, t, z: f"{g.ref(zone_table(z).epoch_seconds, 'epoch_in')}({t})",
              const=frozenset({1}), check_const=_check_zone,
              specialize=_utc_if_default("epoch_seconds_timestamp_utc")),
     Overload("epoch_seconds_timestamp_utc", (TIMESTAMP, STRING), INT,
              lambda t, z: t.to_physical() // 1_000_000,
              lambda g, t, z: f"({t} - {g.ref(_EPOCH, 'epoch')}) // {g.ref(_SEC, 'second')}",
              const=frozenset({1}), hidden=True)],
    [Example("epoch_seconds(ts)", {"ts": "2024-01-07T23:59:59Z"}, 1704671999, _TS),
     Example("epoch_seconds(ts)", _OLD_EX, -1, _TS),
     Example("epoch_seconds(ts)", {"ts": "0001-01-01T00:00:00Z"}, -62135596800, _TS),
     Example('epoch_seconds(ts, "Asia/Kathmandu")', {"ts": "1970-01-01T00:00:00Z"}, 19800,
             _TS),
     Example('epoch_seconds(ts, "UTC")', {"ts": None}, None, {"ts": "timestamp?"})],
    defaults={"zone": "UTC"}, const_samples={"zone": ZONE_SAMPLES}, category="time",
)

# ---------------------------------------------------------------------- duration totals


def _total(name: str, unit_us: int, unit: str, examples: list[Example]) -> None:
    divisor = float(unit_us)

    def polars(d: pl.Expr) -> pl.Expr:
        us = d.to_physical().cast(pl.Float64)
        # A per-row divisor: Polars would multiply by the reciprocal of a scalar (1 ulp off).
        return us / _pl.per_row(pl.lit(divisor, pl.Float64), us)

    register(
        name,
        f"The duration in {unit}, as a float: the microsecond count converted to float, "
        f"divided by {unit_us} (IEEE, the same in both backends).",
        ("d",),
        [Overload(f"{name}_duration", (DURATION,), FLOAT, polars,
                  lambda g, d: f"{d} / {divisor!r}")],
        examples, category="time",
    )


_td = dt.timedelta
_total("total_seconds", 1_000_000, "seconds",
       [Example("total_seconds(d)", {"d": _td(days=1, microseconds=1)}, 86400.000001),
        Example("total_seconds(d)", {"d": _td(microseconds=-1)}, -1e-06),
        Example("total_seconds(d)", {"d": _td(microseconds=2**63 - 1)}, (2**63 - 1) / 1e6),
        Example("total_seconds(d)", {"d": None}, None, {"d": "duration?"}),
        Example("total_seconds(7d12h)", {}, 648000.0)])
_total("total_days", 86_400_000_000, "days",
       [Example("total_days(d)", {"d": _td(hours=36)}, 1.5),
        Example("total_days(d)", {"d": _td(hours=-1)}, -1 / 24),
        Example("total_days(d)", {"d": _td(microseconds=-(2**63))},
                float(-(2**63)) / 86_400_000_000.0),
        Example("total_days(d)", {"d": None}, None, {"d": "duration?"})])
