"""IANA time zones for calendar functions: one source of zone data for both backends.

Where the data comes from
-------------------------
The batch backend converts with Polars (``dt.convert_time_zone``), which uses the IANA release
compiled into its ``chrono-tz`` crate. Python's ``zoneinfo`` would read a *different* database:
the system one (``/usr/share/zoneinfo``) or the ``tzdata`` package, whichever it finds first.
Measured here (polars 2.1.0): against the system tzdata 2025b, 108 of 598 zones give a different
UTC offset somewhere in 1850..2099 (Debian merges zones such as ``Africa/Accra`` into
``Africa/Abidjan``); against the ``tzdata`` 2026f package, 22 zones differ (newer rule changes).
And no release would do: ``chrono-tz`` computes transitions only up to the year 2099 and keeps
the last offset after that (``America/New_York`` is on standard time every July after 2099),
while ``zoneinfo`` applies the POSIX rule forever. Pinning ``tzdata`` cannot fix that.

So the row backend does not use ``zoneinfo`` at all: for each zone a spec names, the table of
UTC-offset transitions is read *from Polars* when the evaluator is built (:func:`zone_table`),
and the row code looks offsets up in it. Both backends literally use the same data, whatever
Polars version is installed; ``tests/test_zones.py`` compares both backends over every zone at
instants from year 1 to 9999.

How the table is read: the UTC offset Polars applies is sampled daily from 1800 to 2100 (every
IANA transition lies there, and no two of them are less than 6.9 days apart: measured on the
``tzdata`` files) and every 100 days elsewhere in years 1..9999; each change is then located to
the second (tz transitions are whole seconds) by subdividing its interval in two vectorized
passes. About 50 ms per zone, once per process (cached).

Names
-----
A zone is valid if Polars knows it *under that exact name* (Polars also accepts ``"utc"``,
``""`` and ``"+05:00"`` and renames them; featuredsl does not: a zone is an IANA name). An
unknown zone is a compile-time error with a did-you-mean hint.

Local times outside years 1..9999
---------------------------------
Timestamps span years 1..9999 UTC, so a local wall clock can fall on 0000-12-31 or
10000-01-01, which Python's ``datetime`` cannot hold. The Gregorian calendar repeats every 400
years (146097 days, exactly 20871 weeks), so the row code computes such a wall clock 400 years
closer and corrects the year: every field agrees with Polars. Only ``date(ts, zone)``, whose
result would be a date outside years 1..9999, gives null there.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from bisect import bisect_right

import polars as pl

from featuredsl.errors import did_you_mean

_EPOCH = dt.datetime(1970, 1, 1)
_SEC = dt.timedelta(seconds=1)
_CYCLE = dt.timedelta(days=146097)  # 400 Gregorian years: same calendar, same weekdays
_ZERO = dt.timedelta(0)
_MIN_S = (dt.datetime(1, 1, 1) - _EPOCH) // _SEC
_MAX_S = (dt.datetime(9999, 12, 31, 23, 59, 59) - _EPOCH) // _SEC
_DENSE = ((dt.datetime(1800, 1, 1) - _EPOCH) // _SEC, (dt.datetime(2100, 1, 1) - _EPOCH) // _SEC)
_DENSE_STEP, _SPARSE_STEP = 86400, 100 * 86400
_SPLIT = 300  # sub-intervals per refinement pass: a day in 2 passes
_OFFSET = re.compile(r"[+-][0-9]{1,2}(?::?[0-9]{2})?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
#: Zones to suggest from when a name is unknown (Polars cannot list its zones).
_COMMON = ("UTC", "America/New_York", "America/Chicago", "America/Denver",
           "America/Los_Angeles", "Europe/London", "Europe/Paris", "Europe/Berlin",
           "Asia/Tokyo", "Asia/Kolkata", "Asia/Shanghai", "Australia/Sydney")


def _polars_zone(name: str) -> str | None:
    """The name Polars gives the zone ``name`` (its canonical spelling), or None if unknown."""
    try:
        s = pl.Series([0], dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
        dtype = s.dt.convert_time_zone(name).dtype
    except Exception:  # Polars raises ComputeError (or panics) for an unknown zone
        return None
    return getattr(dtype, "time_zone", None)


@functools.lru_cache(maxsize=1024)
def check_zone(name: object) -> str | None:
    """Why ``name`` is not a usable time zone (a message with a hint), or None if it is."""
    if not isinstance(name, str):
        return "the time zone must be a string literal such as \"Europe/Paris\""
    if _NAME.fullmatch(name) and _polars_zone(name) == name:
        return None
    known = known_zone_names()
    same = [z for z in known if z.lower() == name.lower()]
    hint = f"did you mean `{same[0]}`?" if same else did_you_mean(name, known)
    if _OFFSET.fullmatch(name):
        hint = ("a fixed offset is not a zone; use `Etc/GMT-5` for UTC+05:00 (the sign is "
                "inverted in these IANA names) or a city's zone")
    return (f"unknown time zone `{name}`: " + (hint or "use an IANA name such as "
                                                  "\"America/New_York\" or \"UTC\""))


@functools.lru_cache(maxsize=1)
def known_zone_names() -> tuple[str, ...]:
    """IANA names Polars accepts, as far as Python can list candidates (for hints and tests)."""
    try:
        import zoneinfo

        candidates = set(zoneinfo.available_timezones()) | set(_COMMON)
    except Exception:  # pragma: no cover - no tz database to list names from
        candidates = set(_COMMON)
    return tuple(sorted(z for z in candidates if _NAME.fullmatch(z) and _polars_zone(z) == z))


def polars_offsets(zone: str, seconds: pl.Series) -> pl.Series:
    """The UTC offset (µs) Polars applies in ``zone`` at each instant (seconds since 1970)."""
    utc = seconds.cast(pl.Int64) * 1_000_000
    local = (utc.cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(zone)
             .dt.replace_time_zone(None).to_physical())
    return local - utc


def _changes(zone: str, points: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Consecutive (lo, hi) among sorted ``points`` between which the offset changes."""
    offs = polars_offsets(zone, points)
    changed = (offs != offs.shift(-1)).fill_null(False)
    return points.filter(changed), points.shift(-1).filter(changed)


@functools.cache
def zone_table(zone: str) -> ZoneTable:
    """The transitions of ``zone`` over years 1..9999, read from Polars (cached per process)."""
    grid = pl.concat([
        pl.int_range(_MIN_S, _DENSE[0], _SPARSE_STEP, eager=True),
        pl.int_range(_DENSE[0], _DENSE[1], _DENSE_STEP, eager=True),
        pl.int_range(_DENSE[1], _MAX_S, _SPARSE_STEP, eager=True),
        pl.Series([_MAX_S])]).cast(pl.Int64)
    lo, hi = _changes(zone, grid)
    starts: list[int] = []
    while len(lo):  # each (lo, hi] holds >= 1 change; subdivide until each is 1 s wide
        done = hi - lo == 1
        starts.extend(hi.filter(done).to_list())
        lo, hi = lo.filter(~done), hi.filter(~done)
        if not len(lo):
            break
        step = (hi - lo + _SPLIT - 1) // _SPLIT
        inner = pl.select(pl.int_ranges(lo, hi, step)).to_series().explode()
        lo, hi = _changes(zone, pl.concat([inner, hi]).unique().sort())
    starts.sort()
    offsets = polars_offsets(zone, pl.Series([_MIN_S, *starts], dtype=pl.Int64)).to_list()
    return ZoneTable(zone, starts, offsets)


class ZoneTable:
    """UTC offsets of one zone: ``offsets_us[i]`` applies from ``starts[i - 1]`` (UTC seconds).

    Built by :func:`zone_table` from the zone name, the transition instants and the offsets
    in µs (one more offset than instants: the first applies before every transition).

    The row lowerings bind the methods below (``g.ref(table.local)``); they take the row
    backend's timestamp, a naive ``datetime`` holding UTC.
    """

    def __init__(self, zone: str, starts: list[int], offsets_us: list[int]) -> None:
        self.zone = zone
        self.starts_s = starts
        self.offsets_us = offsets_us
        # Compare naive datetimes directly: no conversion of the row value to a number.
        self._starts = [_EPOCH + dt.timedelta(seconds=s) for s in starts]
        self._offsets = [dt.timedelta(microseconds=o) for o in offsets_us]

    def offset(self, t: dt.datetime) -> dt.timedelta:
        """The UTC offset in force at the UTC instant ``t``."""
        return self._offsets[bisect_right(self._starts, t)]

    def local(self, t: dt.datetime) -> dt.datetime:
        """The wall clock at ``t``; 400 years nearer when it is outside years 1..9999 (the
        fields other than the year are the same)."""
        off = self._offsets[bisect_right(self._starts, t)]
        try:
            return t + off
        except OverflowError:
            return (t - _CYCLE if off > _ZERO else t + _CYCLE) + off

    def year(self, t: dt.datetime) -> int:
        """The local year, which may be 0 or 10000."""
        off = self._offsets[bisect_right(self._starts, t)]
        try:
            return (t + off).year
        except OverflowError:
            if off > _ZERO:
                return (t - _CYCLE + off).year + 400
            return (t + _CYCLE + off).year - 400

    def date(self, t: dt.datetime) -> dt.date | None:
        """The local date, or None outside years 1..9999."""
        try:
            return (t + self._offsets[bisect_right(self._starts, t)]).date()
        except OverflowError:
            return None

    def epoch_seconds(self, t: dt.datetime) -> int:
        """Seconds of the local wall clock since 1970-01-01T00:00 (floored)."""
        return (t - _EPOCH + self._offsets[bisect_right(self._starts, t)]) // _SEC
