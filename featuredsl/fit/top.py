"""Top values of a column (``vocab`` and the profile's ``top``): exact, in bounded memory.

The definition: the values seen at least ``min_count`` times, most frequent first, ties by
value ascending, at most ``top`` of them. Counting them needs a ``group_by`` entry per distinct
value, so a near-unique id or free-text column would hold a hash-table entry per row. The
first pass therefore also estimates the number of distinct values (``approx_n_unique``, a
HyperLogLog sketch: constant memory, a few per cent off), and the work is split in ``P``
*partitions* of the values, by ``hash(value) % P``, when one ``group_by`` would hold more than
:data:`KEYS_PER_PASS` keys. Each value belongs to exactly one partition, each partition is
counted in a pass of its own, and the answers are merged. Every route gives the same answer
(the choices only change the cost): the estimate only chooses ``P``.

One partition (the whole column)
--------------------------------
Counting every distinct string in a ``group_by`` on the strings is the cost, so strings are
counted by their 64-bit hash first:

1. a ``group_by`` on ``hash(value)`` (integer keys: several times faster than strings) keeps
   the *candidate* hashes, those counted at least ``theta = max(min_count, c_top)`` times,
   ``c_top`` being the ``top``-th largest hash count;
2. the rows of the candidate hashes are counted again by their actual value (a handful of
   rows), and the answer is the ``top`` best of these exact counts.

Only columns with many distinct values take that route: the first ``SAMPLE`` rows decide
(more than one distinct value in 8); the others, and ints, are counted *directly* (a
``group_by`` on the value).

A hash count is at least the count of each value with that hash (equal when no other value
collides with it), so every value outside the candidates is seen fewer than ``theta <= h``
times, ``h`` the smallest candidate count. The answer is therefore exact when no outsider can
reach it: when there are no outsiders (every hash is a candidate), when ``h - 1 < min_count``
(outsiders do not qualify), or when ``top`` values were found and the last of them is seen at
least ``h`` times (outsiders are seen less). Otherwise (hash collisions among the most frequent
values, or more than ``CANDIDATES`` candidates tied at the boundary) the strings are counted
directly, as a third pass.

Several partitions
------------------
The answer is the ``top`` best of a *pool* of values with exact counts, and it is exact when
every value outside the pool provably ranks after the pool's ``top``-th best (most frequent
first, ties by value: a total order, so the merge needs no tie rule of its own). Partitions
are counted one a pass, in order, each in one of two ways:

- *directly*: a ``group_by`` on the values of the partition, keeping its ``top`` best in that
  order (sorted and cut inside the query: only ``top`` rows come back). A value of the
  partition outside them ranks after ``top`` pooled values, hence after the pool's
  ``top``-th best;
- *by hash* (strings the sample showed to be many-valued): steps 1 and 2 above on the
  partition (step 2 rides along with the next partition's pass). The outsiders of the
  partition are seen fewer than its ``h`` times, so the proof above holds per partition once
  the pool's answer is known; a partition whose proof fails is counted directly afterwards
  (one pass each). A partition with more than ``CANDIDATES`` candidates (ties at the boundary:
  a near-unique column) is counted directly at once, and so are the partitions after it.

The pool only grows, so a proof that holds stays true. Memory: one partition's ``group_by``
(about ``distinct / P`` keys) per query; ``P = ceil(estimate * weight * 1.25 / KEYS_PER_PASS)``
with a margin for the estimate's error and, for strings, a weight: a string key of a direct
count costs ``2 + mean length / 48`` hash keys (measured: ~125 bytes a 25-byte string, ~50
an integer key; the mean length comes from the sample). Cost: ``P`` passes (``P + 1``
by hash) instead of one or two.
"""

from __future__ import annotations

import math

import polars as pl

from featuredsl.fit.passes import Frame, Query, Scalar, Task, one

#: keys (distinct values) one partition's ``group_by`` may hold (~50 bytes each for an int or
#: hash key: ~200 MB); above it the values are counted one hash partition a pass
KEYS_PER_PASS = 1 << 22
#: candidate hashes beyond which the strings are counted directly (ties at the boundary)
CANDIDATES = 4096
#: rows read to decide whether a string column has many distinct values (worth hashing)
SAMPLE = 20_000
#: the distinct-value estimate is multiplied by this (HyperLogLog's error is a few per cent)
_MARGIN = 1.25
#: a string key weighs _STR_KEYS + mean length / _KEY_BYTES integer keys (measured)
_STR_KEYS = 2.0
_KEY_BYTES = 48
_SEED = 0x5EED
_N = "\x00n"
_H = "\x00h"


def _hash(c: pl.Expr) -> pl.Expr:
    """The 64-bit hash values are grouped and partitioned by (any hash is correct)."""
    return c.hash(_SEED)


def _key(v: object) -> object:
    """A counted value as the answer holds it: a struct (several group keys, see
    ``top_values``) as the tuple of its fields."""
    return tuple(v.values()) if isinstance(v, dict) else v


def _rows(df: pl.DataFrame) -> list[tuple]:
    return [(_key(v), n) for v, n in df.iter_rows()]


def _order(rows: list[tuple], top: int) -> list[tuple]:
    return sorted(rows, key=lambda r: (-r[1], r[0]))[:top]


def _direct(frame: Frame, column: str, top: int, min_count: int) -> pl.LazyFrame:
    """The direct count of the whole column (benchmarks/breakdown.py times it)."""
    return _count(frame.lf, column, top, min_count)


def _count(lf: pl.LazyFrame, column: str, top: int, min_count: int) -> pl.LazyFrame:
    """``lf``'s ``top`` best values: a ``group_by`` on the value, sorted and cut in the query."""
    c = pl.col(column)
    return (lf.select(c).filter(c.is_not_null()).group_by(column)
            .agg(pl.len().cast(pl.Int64).alias(_N))
            .filter(pl.col(_N) >= min_count)
            .sort([_N, column], descending=[True, False]).head(top))


def partitions(distinct: int, weight: float = 1.0) -> int:
    """How many hash partitions keep a ``group_by`` of ``distinct`` keys, each worth
    ``weight`` integer keys, within :data:`KEYS_PER_PASS`."""
    return max(1, math.ceil(distinct * weight * _MARGIN / max(1, KEYS_PER_PASS)))


def top_values(frame: Frame, column: str, kind: str, top: int,
               min_count: int = 1) -> Task[list[tuple]]:
    """``[(value, count), ...]``: see the module docstring.

    ``kind`` ``"struct"``: a struct column of several keys with no null field (the groups of a
    grouped statistic), counted directly or in hash partitions like any value; Polars orders
    structs field by field, so ties are by the key tuple, and values come back as tuples.
    """
    if top <= 0:
        return []
    c = pl.col(column)
    key = ("top", column, top, min_count)
    # HyperLogLog does not take structs: their 64-bit hashes estimate the same count
    distinct_of = _hash(c) if kind == "struct" else c
    reqs: list = [Scalar(frame, distinct_of.approx_n_unique().cast(pl.Int64),
                         ("top-distinct", column))]
    if kind == "string":
        sample = frame.lf.head(SAMPLE).select(
            c.n_unique().alias("d"), c.count().alias("n"),
            c.str.len_bytes().mean().fill_null(0.0).alias("b"))
        reqs.append(Query(frame, sample, ("top-sample", column)))
    got = yield reqs
    distinct = int(got[0] or 0)
    many, weight = False, 1.0
    if kind == "string":
        d, seen, mean_bytes = got[1].row(0)
        many, weight = d * 8 > seen, _STR_KEYS + mean_bytes / _KEY_BYTES
    parts = partitions(distinct, weight)
    if parts > 1:
        return (yield from _partitioned(frame, column, top, min_count, parts, many))
    if many:  # many distinct values: hash them first
        found = yield from _hashed(frame, column, top, min_count)
        if found is not None:
            return found
    df = yield from one(Query(frame, _direct(frame, column, top, min_count), key))
    return _rows(df)


def _candidates(lf: pl.LazyFrame, column: str, top: int, min_count: int) -> pl.LazyFrame:
    """Step 1: the candidate hashes of ``lf``'s values, with the number of hashes (``\\0g``)."""
    c, n = pl.col(column), pl.col(_N)
    theta = pl.max_horizontal(pl.lit(min_count, pl.Int64), n.top_k(top).min())
    return (lf.filter(c.is_not_null()).select(_hash(c).alias(_H))
            .group_by(_H).agg(pl.len().cast(pl.Int64).alias(_N))
            .with_columns(pl.len().alias("\x00g"))
            .filter(n >= theta).head(CANDIDATES + 1))


def _exact(frame: Frame, column: str, cands: pl.DataFrame) -> pl.LazyFrame:
    """Step 2: the exact counts of the values whose hash is a candidate."""
    c = pl.col(column)
    return (frame.lf.filter(c.is_not_null()).select(c, _hash(c).alias(_H))
            .filter(pl.col(_H).is_in(cands.get_column(_H).implode()))
            .group_by(column).agg(pl.len().cast(pl.Int64).alias(_N)))


def _proof(cands: pl.DataFrame) -> tuple[bool, int]:
    """(whether the candidates leave outsiders, the smallest candidate count ``h``)."""
    groups = int(cands.get_column("\x00g")[0])
    lowest = cands.get_column(_N).min()
    assert isinstance(lowest, int)  # an Int64 column with rows (Polars types min() loosely)
    return groups > cands.height, lowest


def _proven(outsiders: bool, lowest: int, rows: list[tuple], top: int, min_count: int) -> bool:
    return (not outsiders or lowest - 1 < min_count
            or (len(rows) == top and rows[-1][1] >= lowest))


def _hashed(frame: Frame, column: str, top: int, min_count: int) -> Task[list[tuple] | None]:
    """Steps 1 and 2 of the module docstring; None when they cannot prove the answer."""
    cands = yield from one(Query(frame, _candidates(frame.lf, column, top, min_count),
                                 ("top-hashes", column, top, min_count)))
    assert isinstance(cands, pl.DataFrame)
    if cands.height == 0:
        return []  # no value is seen min_count times
    if cands.height > CANDIDATES:
        return None
    outsiders, lowest = _proof(cands)
    df = yield from one(Query(frame, _exact(frame, column, cands),
                              ("top-exact", column, top, min_count)))
    rows = _order([r for r in df.iter_rows() if r[1] >= min_count], top)
    return rows if _proven(outsiders, lowest, rows, top, min_count) else None


def _partitioned(frame: Frame, column: str, top: int, min_count: int, parts: int,
                 by_hash: bool) -> Task[list[tuple]]:
    """The several-partition route of the module docstring."""
    c = pl.col(column)
    base = ("top-part", column, top, min_count, parts)

    def part(p: int) -> pl.LazyFrame:
        return frame.lf.filter(c.is_not_null() & ((_hash(c) % parts) == p))

    def direct(p: int) -> Query:
        return Query(frame, _count(part(p), column, top, min_count), (*base, p, "direct"))

    pool: dict[object, int] = {}
    proofs: list[tuple[int, bool, int]] = []  # (partition, outsiders, h) of hashed ones
    todo = [(p, by_hash) for p in range(parts)]
    pending: tuple[int, pl.DataFrame] | None = None  # candidates awaiting their exact counts
    while todo or pending is not None:
        reqs: list = []
        heavy = todo.pop(0) if todo else None
        if heavy is not None:
            p, hashed = heavy
            reqs.append(Query(frame, _candidates(part(p), column, top, min_count),
                              (*base, p, "hashes")) if hashed else direct(p))
        if pending is not None:
            reqs.append(Query(frame, _exact(frame, column, pending[1]),
                              (*base, pending[0], "exact")))
        got = yield reqs
        if pending is not None:
            pool.update((v, n) for v, n in got[-1].iter_rows() if n >= min_count)
            pending = None
        if heavy is None:
            continue
        df = got[0]
        assert isinstance(df, pl.DataFrame)
        if not heavy[1]:
            pool.update(_rows(df))
        elif df.height > CANDIDATES:  # ties at the boundary: count this one and the rest
            todo = [(heavy[0], False)] + [(q, False) for q, _ in todo]
        elif df.height:
            pending = (heavy[0], df)
            proofs.append((heavy[0], *_proof(df)))
    rows = _order(list(pool.items()), top)
    for p, outsiders, lowest in proofs:
        if not _proven(outsiders, lowest, rows, top, min_count):
            df = yield from one(direct(p))
            pool.update(_rows(df))
            rows = _order(list(pool.items()), top)
    return rows
