"""String parsing on the batch side: the row backend's grammars as Polars expressions.

Each parser is pure integer arithmetic on the groups of the pattern the row backend matches
(:mod:`featuredsl.backends.row_input`), with the same checks as its Python construction, and
nothing inferred from other rows: a string parses to the same value on both sides, or to null
here where the row side raises (:mod:`featuredsl.data.inputs` reports that null as the row).
"""

from __future__ import annotations

import polars as pl

from featuredsl.backends.row_input import (
    DURATION_PATTERN,
    INT64_MAX,
    INT64_MIN,
    TIMESTAMP_PATTERN,
    TS_MAX_US,
    TS_MIN_US,
)

#: Days since the epoch of 0001-01-01 and 9999-12-31.
DATE_BOUNDS = (-719_162, 2_932_896)
#: More significant digits than this in one part of a duration: out of range on both sides
#: (and kept out of Int128 arithmetic, which would wrap).
_DURATION_DIGITS = 20


def _group(g: pl.Expr, i: int) -> pl.Expr:
    return g.struct.field(str(i))


def _civil(y: pl.Expr, mo: pl.Expr, d: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(valid, days since the epoch) of a year, month, day, checked like ``datetime.date``."""
    first = pl.date(y.clip(1, 9999), mo.clip(1, 12), 1)
    valid = ((y >= 1) & (y <= 9999) & (mo >= 1) & (mo <= 12) & (d >= 1)
             & (d <= first.dt.days_in_month()))
    return valid, first.cast(pl.Int64) + d - 1


def parse_timestamp_expr(c: pl.Expr) -> pl.Expr:
    """ISO-8601 strings (the row backend's grammar) to ``Datetime("us", "UTC")``; else null.

    Pure integer arithmetic on the regex groups: the same checks as the row backend's
    ``datetime(...)`` construction, nothing inferred from other rows.
    """
    g = c.str.extract_groups("^" + TIMESTAMP_PATTERN + "$")

    def num(i: int, default: int | None = None) -> pl.Expr:
        e = _group(g, i).cast(pl.Int64)
        return e if default is None else e.fill_null(default)

    y, mo, d = num(1), num(2), num(3)
    hh, mi, ss = num(4, 0), num(5, 0), num(6, 0)
    frac_us = _group(g, 7).str.pad_end(9, "0").cast(pl.Int64).fill_null(0) // 1000
    oh, om = num(10, 0), num(11, 0)
    sign = pl.when(_group(g, 9) == "-").then(-1).otherwise(1)
    valid, days = _civil(y, mo, d)
    us = (days * 86_400_000_000 + hh * 3_600_000_000 + mi * 60_000_000 + ss * 1_000_000
          + frac_us - sign * (oh * 3_600_000_000 + om * 60_000_000))
    valid = (valid & (hh <= 23) & (mi <= 59) & (ss <= 59) & (oh <= 23) & (om <= 59)
             & (us >= TS_MIN_US) & (us <= TS_MAX_US))
    return pl.when(valid).then(us).otherwise(None).cast(pl.Datetime("us", "UTC"))


def parse_date_expr(c: pl.Expr) -> pl.Expr:
    """Date strings (the row backend's :func:`~featuredsl.backends.row_input.parse_date`:
    ``YYYY-MM-DD``, or a timestamp string of exactly midnight without an offset) to Date;
    anything else null."""
    g = c.str.extract_groups("^" + TIMESTAMP_PATTERN + "$")
    y, mo, d = (_group(g, i).cast(pl.Int64) for i in (1, 2, 3))
    midnight = pl.all_horizontal(_group(g, i).cast(pl.Int64).fill_null(0) == 0
                                 for i in (4, 5, 6, 7))
    valid, days = _civil(y, mo, d)
    valid = valid & midnight & _group(g, 8).is_null() & _group(g, 9).is_null()
    return pl.when(valid).then(days).otherwise(None).cast(pl.Int32).cast(pl.Date)


def parse_duration_expr(c: pl.Expr) -> pl.Expr:
    """ISO-8601 duration strings (``[-]P[nD][T[nH][nM][n[.f]S]]``, the row backend's
    :func:`~featuredsl.backends.row_input.parse_duration`) to ``Duration("us")``, floored;
    anything else, or a value outside int64 microseconds, null."""
    g = c.str.extract_groups("^" + DURATION_PATTERN + "$")
    parts = [_group(g, i) for i in (2, 4, 5, 6)]  # days, hours, minutes, seconds
    present = pl.any_horizontal(p.is_not_null() for p in parts).fill_null(False)
    after_t = pl.any_horizontal(p.is_not_null() for p in parts[1:]).fill_null(False)
    short = pl.all_horizontal(
        p.str.strip_chars_start("0").str.len_chars().fill_null(0) <= _DURATION_DIGITS
        for p in parts)
    d, h, mi, sec = (p.cast(pl.Int128, strict=False).fill_null(0) for p in parts)
    frac = _group(g, 7).str.pad_end(9, "0").cast(pl.Int128).fill_null(0)
    ns = (d * 86_400 + h * 3_600 + mi * 60 + sec) * 1_000_000_000 + frac
    sign = pl.when(_group(g, 1) == "-").then(-1).otherwise(1).cast(pl.Int128)
    us = (ns * sign) // 1000  # floors, as the row side and a ns Duration column do
    valid = (present & (_group(g, 3).is_null() | after_t) & short
             & us.is_between(INT64_MIN, INT64_MAX))
    return pl.when(valid).then(us.cast(pl.Int64, strict=False)).otherwise(None) \
        .cast(pl.Duration("us"))
