"""Top values of a column (``vocab`` and the profile's ``top``), exact, in two cheap passes.

The definition: the values seen at least ``min_count`` times, most frequent first, ties by
value ascending, at most ``top`` of them. Counting every distinct string in a ``group_by`` on
the strings is the cost of this (a near-unique free-text column holds a string per row in the
table), so strings are counted by their 64-bit hash first:

1. a ``group_by`` on ``hash(value)`` (integer keys: several times faster than strings) keeps
   the *candidate* hashes, those counted at least ``theta = max(min_count, c_top)`` times,
   ``c_top`` being the ``top``-th largest hash count;
2. the rows of the candidate hashes are counted again by their actual value (a handful of
   rows), and the answer is the ``top`` best of these exact counts.

Only columns with many distinct values take that route: the first ``SAMPLE`` rows decide
(more than one distinct value in 8); the others are counted directly, which is cheap for them.
Either way the answer is the same (the choice only changes the cost).

A hash count is at least the count of each value with that hash (equal when no other value
collides with it), so every value outside the candidates is seen fewer than ``theta <= h``
times, ``h`` the smallest candidate count. The answer is therefore exact when no outsider can
reach it: when there are no outsiders (every hash is a candidate), when ``h - 1 < min_count``
(outsiders do not qualify), or when ``top`` values were found and the last of them is seen at
least ``h`` times (outsiders are seen less). Otherwise (hash collisions among the most frequent
values, or more than ``CANDIDATES`` candidates tied at the boundary) the strings are counted
directly, as a third pass. Ints and bools are counted
directly (their ``group_by`` is already an integer one).
"""

from __future__ import annotations

import polars as pl

from featuredsl.fit_passes import Frame, Query, Task, one

#: candidate hashes beyond which the strings are counted directly (ties at the boundary)
CANDIDATES = 4096
#: rows read to decide whether a string column has many distinct values (worth hashing)
SAMPLE = 20_000
_SEED = 0x5EED


def _hash(c: pl.Expr) -> pl.Expr:
    """The 64-bit hash values are grouped by (any hash is correct; a good one is fast)."""
    return c.hash(_SEED)


def _order(rows: list[tuple], top: int) -> list[tuple]:
    return sorted(rows, key=lambda r: (-r[1], r[0]))[:top]


def _direct(frame: Frame, column: str, top: int, min_count: int) -> pl.LazyFrame:
    c = pl.col(column)
    return (frame.lf.select(c).filter(c.is_not_null()).group_by(column)
            .agg(pl.len().cast(pl.Int64).alias("\x00n"))
            .filter(pl.col("\x00n") >= min_count)
            .sort(["\x00n", column], descending=[True, False]).head(top))


def top_values(frame: Frame, column: str, kind: str, top: int,
               min_count: int = 1) -> Task[list[tuple]]:
    """``[(value, count), ...]``: see the module docstring."""
    key = ("top", column, top, min_count)
    if top <= 0:
        return []
    c = pl.col(column)
    if kind == "string":
        sample = frame.lf.head(SAMPLE).select(c.n_unique().alias("d"), c.count().alias("n"))
        got = yield from one(Query(frame, sample, ("top-sample", column)))
        distinct, seen = got.row(0)  # type: ignore[attr-defined]
        if distinct * 8 > seen:  # many distinct values: hash them first
            found = yield from _hashed(frame, column, top, min_count)
            if found is not None:
                return found
    df = yield from one(Query(frame, _direct(frame, column, top, min_count), key))
    return [tuple(r) for r in df.iter_rows()]  # type: ignore[attr-defined]


def _hashed(frame: Frame, column: str, top: int, min_count: int) -> Task[list[tuple] | None]:
    """Steps 1 and 2 of the module docstring; None when they cannot prove the answer."""
    c = pl.col(column)
    h, n = pl.col("\x00h"), pl.col("\x00n")
    hashed = frame.lf.filter(c.is_not_null()).select(_hash(c).alias("\x00h"))
    theta = pl.max_horizontal(pl.lit(min_count, pl.Int64), n.top_k(top).min())
    cands = (hashed.group_by("\x00h").agg(pl.len().cast(pl.Int64).alias("\x00n"))
             .with_columns(pl.len().alias("\x00g"))
             .filter(n >= theta).head(CANDIDATES + 1))
    got = yield from one(Query(frame, cands, ("top-hashes", column, top, min_count)))
    if got.height == 0:  # type: ignore[attr-defined]
        return []  # no value is seen min_count times
    if got.height > CANDIDATES:  # type: ignore[attr-defined]
        return None
    groups = int(got.get_column("\x00g")[0])  # type: ignore[attr-defined]
    lowest = int(got.get_column("\x00n").min())  # type: ignore[attr-defined]
    exact = (frame.lf.filter(c.is_not_null()).select(c, _hash(c).alias("\x00h"))
             .filter(h.is_in(got.get_column("\x00h").implode()))  # type: ignore[attr-defined]
             .group_by(column).agg(pl.len().cast(pl.Int64).alias("\x00n")))
    df = yield from one(Query(frame, exact, ("top-exact", column, top, min_count)))
    rows = _order([r for r in df.iter_rows() if r[1] >= min_count], top)  # type: ignore
    outsiders = groups > got.height  # type: ignore[attr-defined]
    if not outsiders or lowest - 1 < min_count or (len(rows) == top and rows[-1][1] >= lowest):
        return rows
    return None
