"""The ISO-8601 timestamp and date text grammar, parsed the same way on both backends.

One grammar (:data:`TIMESTAMP_PATTERN`) serves a ``timestamp``/``date`` *input* given as text
(``backends/row_input.py`` on rows, ``data/inputs.py`` on columns, which report a text that
does not parse as an ``InputError``) and the functions ``parse_timestamp(text)`` and
``parse_date(text)`` (``functions/construct.py``, which give null instead). It lives here, in
``functions/``, because the function lowerings may import nothing from ``backends/``; the input
readers import it from here. Accepted::

    YYYY-MM-DD                                   midnight UTC
    YYYY-MM-DD(T| )HH:MM[:SS[.f{1,9}]][offset]    offset: Z | +HH:MM | +HHMM | +HH (or -)

No offset means UTC; fractions beyond microseconds floor; the instant must fall within
0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. Dates: ``YYYY-MM-DD``, or a timestamp text
of exactly midnight without an offset. Everything else (surrounding spaces, lowercase ``t``/
``z``, ``24:00``, ``:60``, ``,`` as decimal mark, non-ASCII digits, week dates) does not parse.

The Python side matches the regex and builds a ``datetime`` (which checks the calendar); the
batch side (:mod:`featuredsl.functions._isotext_np`, a NumPy kernel on the column's bytes,
~50x faster than Polars' regex groups) walks the same grammar and does integer arithmetic on
the same fields with the same checks, nothing inferred from other rows, so a text gives the
same value (or none) on both sides. The regex version in Polars is kept
(``parse_*_regex_expr``) as a reference for tests.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from featuredsl.functions.temporal_ops import TS_MAX_US, TS_MIN_US

#: The one timestamp text grammar (the batch side anchors it ``^...$``; both Python ``re`` and
#: Rust ``regex`` read it the same way: ASCII digits only). Groups: year, month, day, hour,
#: minute, second, fraction, ``Z``, offset sign, hours, minutes.
TIMESTAMP_PATTERN = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:(Z)|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?"
)
#: Human-readable list of the accepted timestamp forms, for messages and docs.
TIMESTAMP_FORMS = ("YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.ffffff]] with T or a space, optionally "
                   "followed by Z, +HH:MM, +HHMM or +HH")
#: Days since the epoch of 0001-01-01 and 9999-12-31.
DATE_BOUNDS = (-719_162, 2_932_896)

TS_RE = re.compile(TIMESTAMP_PATTERN)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def parse_timestamp(s: str) -> int | None:
    """An ISO-8601 string of the accepted forms as µs since the epoch, or ``None``."""
    m = TS_RE.fullmatch(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, _z, sign, oh, om = m.groups()
    try:
        local = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    except ValueError:
        return None
    us = (local - _EPOCH_NAIVE) // _US
    if frac:
        us += int(frac.ljust(9, "0")) // 1000
    if sign:
        oh_i, om_i = int(oh), int(om or 0)
        if oh_i > 23 or om_i > 59:
            return None
        offset = (oh_i * 3600 + om_i * 60) * 1_000_000
        us -= offset if sign == "+" else -offset
    return us if TS_MIN_US <= us <= TS_MAX_US else None


def time_part(m: re.Match) -> str:
    """What a timestamp string's match holds that a date cannot ("" if nothing)."""
    if m[8] or m[9]:
        return "a timestamp with a UTC offset is not a date"
    if any(int(g or 0) for g in m.groups()[3:7]):
        return "a time of day is not a date"
    return ""


def parse_date(s: str) -> int | None:
    """A date string as days since the epoch, or ``None``: ``YYYY-MM-DD``, or a timestamp
    string (:data:`TIMESTAMP_PATTERN`) of exactly midnight without an offset (the text of a
    naive midnight datetime, which a date input reads as its date)."""
    m = TS_RE.fullmatch(s)
    if m is None or time_part(m):
        return None
    try:
        return (dt.date(int(m[1]), int(m[2]), int(m[3])) - _EPOCH_DATE).days
    except ValueError:
        return None


# ------------------------------------------------------------------------------ Polars


def _group(g: pl.Expr, i: int) -> pl.Expr:
    return g.struct.field(str(i))


def civil(y: pl.Expr, mo: pl.Expr, d: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(valid, days since the epoch) of a year, month, day, checked like ``datetime.date``
    (any int64 arguments: they are clipped before Polars builds a date from them)."""
    first = pl.date(y.clip(1, 9999), mo.clip(1, 12), 1)
    valid = ((y >= 1) & (y <= 9999) & (mo >= 1) & (mo <= 12) & (d >= 1)
             & (d <= first.dt.days_in_month()))
    return valid, first.cast(pl.Int64) + d.clip(1, 31) - 1


def parse_timestamp_expr(c: pl.Expr) -> pl.Expr:
    """ISO-8601 strings (:data:`TIMESTAMP_PATTERN`) to ``Datetime("us", "UTC")``; else null.

    Parsed column-wise by :mod:`featuredsl.functions._isotext_np` (the regex's groups in
    Polars cost ~100x a transform); :func:`parse_timestamp_regex_expr` is the same grammar
    written with the regex, kept as the reference the tests compare with."""
    from featuredsl.functions import _isotext_np

    return c.map_batches(_isotext_np.timestamps, return_dtype=pl.Datetime("us", "UTC"),
                         is_elementwise=True)


def parse_timestamp_regex_expr(c: pl.Expr) -> pl.Expr:
    """:func:`parse_timestamp_expr` with Polars' regex groups (slow; a test reference)."""
    g = c.str.extract_groups("^" + TIMESTAMP_PATTERN + "$")

    def num(i: int, default: int | None = None) -> pl.Expr:
        e = _group(g, i).cast(pl.Int64)
        return e if default is None else e.fill_null(default)

    y, mo, d = num(1), num(2), num(3)
    hh, mi, ss = num(4, 0), num(5, 0), num(6, 0)
    frac_us = _group(g, 7).str.pad_end(9, "0").cast(pl.Int64).fill_null(0) // 1000
    oh, om = num(10, 0), num(11, 0)
    sign = pl.when(_group(g, 9) == "-").then(-1).otherwise(1)
    valid, days = civil(y, mo, d)
    us = (days * 86_400_000_000 + hh * 3_600_000_000 + mi * 60_000_000 + ss * 1_000_000
          + frac_us - sign * (oh * 3_600_000_000 + om * 60_000_000))
    valid = (valid & (hh <= 23) & (mi <= 59) & (ss <= 59) & (oh <= 23) & (om <= 59)
             & (us >= TS_MIN_US) & (us <= TS_MAX_US))
    return pl.when(valid).then(us).otherwise(None).cast(pl.Datetime("us", "UTC"))


def parse_date_expr(c: pl.Expr) -> pl.Expr:
    """Date strings (:func:`parse_date`: ``YYYY-MM-DD``, or a timestamp string of exactly
    midnight without an offset) to Date; anything else null (column-wise, as
    :func:`parse_timestamp_expr`)."""
    from featuredsl.functions import _isotext_np

    return c.map_batches(_isotext_np.dates, return_dtype=pl.Date, is_elementwise=True)


def parse_date_regex_expr(c: pl.Expr) -> pl.Expr:
    """:func:`parse_date_expr` with Polars' regex groups (slow; a test reference)."""
    g = c.str.extract_groups("^" + TIMESTAMP_PATTERN + "$")
    y, mo, d = (_group(g, i).cast(pl.Int64) for i in (1, 2, 3))
    midnight = pl.all_horizontal(_group(g, i).cast(pl.Int64).fill_null(0) == 0
                                 for i in (4, 5, 6, 7))
    valid, days = civil(y, mo, d)
    valid = valid & midnight & _group(g, 8).is_null() & _group(g, 9).is_null()
    return pl.when(valid).then(days).otherwise(None).cast(pl.Int32).cast(pl.Date)
