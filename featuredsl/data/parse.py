"""String parsing on the batch side: the row backend's grammars as Polars expressions.

Each parser is pure integer arithmetic on the groups of the pattern the row backend matches
(:mod:`featuredsl.backends.row_input`), with the same checks as its Python construction, and
nothing inferred from other rows: a string parses to the same value on both sides, or to null
here where the row side raises (:mod:`featuredsl.data.inputs` reports that null as the row).
"""

from __future__ import annotations

import polars as pl

from featuredsl.backends.row_input import (  # noqa: F401 (the timestamp parsers: re-exported)
    DATE_BOUNDS,
    DURATION_PATTERN,
    INT64_MAX,
    INT64_MIN,
    parse_date_expr,
    parse_timestamp_expr,
)

#: More significant digits than this in one part of a duration: out of range on both sides
#: (and kept out of Int128 arithmetic, which would wrap).
_DURATION_DIGITS = 20


def _group(g: pl.Expr, i: int) -> pl.Expr:
    return g.struct.field(str(i))



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
