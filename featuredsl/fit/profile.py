"""The training profile (SPEC section 7): what monitoring compares serving traffic against.

``profiles`` computes, for each column, plain JSON data: ``type``, ``count``, ``null_count``;
numbers (ints as floats for the moments) add ``min``, ``max``, ``mean``, ``std`` and
``quantiles`` (the 9 deciles by the 'lower' rule, not de-duplicated); bools add ``true_count``
and ``false_count``; timestamps and dates add ``min``/``max`` as ISO strings, durations in µs.

What a serving monitor compares against (SPEC 10), in ``kind``:

* ``"numeric"`` (floats, and ints with more than :data:`INT_CATEGORIES` distinct values):
  ``edges``, the deciles with duplicates removed (at most 9; ints stay ints), and
  ``bin_counts``, the exact number of values in each of the ``len(edges) + 1`` bins with
  ``bucketize`` semantics (bin ``i`` holds the values with exactly ``i`` edges ``<=`` them:
  +-inf in the first and last bins);
* ``"categorical"`` (strings, bools, ints with at most :data:`INT_CATEGORIES` distinct
  values): ``top``, up to :data:`TOP` ``[value, count]`` pairs, most frequent first, ties by
  value, and ``other_count``, the non-null values outside ``top``;
* lists: ``length``, the profile of their lengths (an int column: numeric or categorical as
  above); temporal columns have no ``kind`` (their range is ``min``/``max``).

Every entry is a task of the fit's passes (:mod:`featuredsl.fit.passes`), so the profile of an
input shares its queries with the statistics of that input; the bin counts take one more pass
(they need the deciles), shared by every column.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from typing import cast

import polars as pl

from featuredsl.fit.exact import lower_rank
from featuredsl.fit.passes import Budget, Frame, Query, Scalar, Task, all_of, one
from featuredsl.fit.select import (
    decode_float,
    float_moments,
    float_summary,
    int_moments,
    order_stats,
)
from featuredsl.fit.top import SAMPLE, top_values
from featuredsl.types import Type

_DECILES = [(i, 10) for i in range(1, 10)]
#: How many top values a categorical column's profile keeps (SPEC 10).
TOP = 100
#: An int column with at most this many distinct training values is categorical (SPEC 10).
INT_CATEGORIES = 32


def rank_fractions(fractions: list[tuple[int, int]]) -> Callable[[int], list[int]]:
    """0-based ranks of the 'lower' quantiles: ``floor((n - 1) * i / k)``, exact."""
    return lambda n: [lower_rank(n, i, k) for i, k in fractions]


def scalar_task(frame: Frame, expr: pl.Expr, key: object) -> Task[object]:
    """One aggregate of ``frame``'s pass (``key`` shares it between the tasks asking)."""
    return (yield from one(Scalar(frame, expr, key)))


def count_task(frame: Frame, column: str) -> Task[int]:
    """The non-null count of a column."""
    v = yield from one(Scalar(frame, pl.col(column).count().cast(pl.Int64), ("count", column)))
    return int(v)



def _profile_column(frame: Frame, col: str, t: Type, budget: Budget) -> Task[dict]:
    """The profile of one column (see the module docstring)."""
    c = pl.col(col)
    k = t.kind
    parts: dict[str, Task] = {
        "count": count_task(frame, col),
        "null_count": scalar_task(frame, c.null_count().cast(pl.Int64), ("nulls", col)),
    }
    if k == "float":
        parts["_float"] = _float_profile(frame, col, budget)
    if k == "int":
        parts["_int"] = _int_profile(frame, col, budget)
    if k == "string":
        parts["top"] = top_values(frame, col, k, TOP)
    if k == "bool":
        parts["true_count"] = scalar_task(frame, c.sum().cast(pl.Int64), ("true", col))
        parts["false_count"] = scalar_task(frame, (~c).sum().cast(pl.Int64), ("false", col))
    if k in ("timestamp", "date", "duration"):
        parts["min"] = scalar_task(frame, c.min(), ("min", col))
        parts["max"] = scalar_task(frame, c.max(), ("max", col))
    if k == "list":
        parts["length"] = _profile_column(frame, length_column(col),
                                          Type("int", t.nullable), budget)
    got = dict(zip(parts, (yield from all_of(parts.values())), strict=True))
    count = int(got.pop("count"))
    out: dict[str, object] = {"type": str(t), "count": count,
                              "null_count": int(got.pop("null_count"))}
    for part in (got.pop("_float", None), got.pop("_int", None)):
        if part is not None:
            out.update(part)
    small = cast("list[tuple] | None", out.pop("_small", None))
    if "top" in got:
        got["top"] = [list(p) for p in got["top"]]
    out.update((name, _plain(v)) for name, v in got.items())
    if k == "bool":
        pairs = [[True, int(cast("int", out["true_count"]))],
                 [False, int(cast("int", out["false_count"]))]]
        out["top"] = sorted((p for p in pairs if p[1]), key=lambda p: (-p[1], p[0]))
    if small is not None and len(small) <= INT_CATEGORIES:  # every distinct value: categorical
        out["top"] = [list(p) for p in small]
    deciles = cast("list", out.pop("_edges", None) or [])
    if "top" in out:
        top = cast("list[list]", out["top"])
        out["kind"] = "categorical"
        out["other_count"] = count - sum(p[1] for p in top)
    elif k in ("int", "float"):
        # -0.0 and 0.0 are one edge (bucketize compares them equal): written as 0.0
        edges = sorted({(0.0 if v == 0 and isinstance(v, float) else v) for v in deciles
                        if v is not None})
        out["kind"] = "numeric"
        out["edges"] = edges
        out["bin_counts"] = (yield from _bin_counts(frame, col, edges))
    return out


def length_column(col: str) -> str:
    """The name of the helper column holding a list column's lengths (see ``with_lengths``)."""
    return f"\x00len:{col}"


def with_lengths(lf: pl.LazyFrame, columns: Iterable[tuple[str, Type]]) -> pl.LazyFrame:
    """``lf`` with each list column's lengths beside it (profiled as an int column)."""
    lens = [pl.col(c).list.len().cast(pl.Int64).alias(length_column(c))
            for c, t in columns if t.kind == "list"]
    return lf.with_columns(lens) if lens else lf


def _bin_counts(frame: Frame, col: str, edges: list) -> Task[list[int]]:
    """Exact counts of the ``len(edges) + 1`` bins, ``bucketize`` semantics (one Scalar each,
    all columns' bins in one pass)."""
    c = pl.col(col)
    bounds = [None, *edges, None]
    reqs = []
    for lo, hi in itertools.pairwise(bounds):
        inside = c.is_not_null()
        if lo is not None:
            inside = inside & (c >= lo)
        if hi is not None:
            inside = inside & (c < hi)
        reqs.append(Scalar(frame, inside.sum().cast(pl.Int64), ("bin", col, lo, hi)))
    got = yield reqs
    return [int(v) for v in got]


def _float_profile(frame: Frame, col: str, budget: Budget) -> Task[dict]:
    """min, max, mean, std and deciles of a Float64 column: one summary query, then the
    selection passes of the deciles."""
    mom, deciles, summary = yield from all_of([
        float_moments(frame, col),
        order_stats(frame, col, "float", rank_fractions(_DECILES), budget),
        float_summary(frame, col)])
    ranges = summary.ranges()
    lo = decode_float(ranges[0][0]) if ranges else None
    hi = decode_float(ranges[-1][1]) if ranges else None
    return {"min": lo, "max": hi, "mean": mom.mean(), "std": mom.std(),
            "quantiles": deciles or [None] * len(_DECILES), "_edges": deciles or []}


def _int_profile(frame: Frame, col: str, budget: Budget) -> Task[dict]:
    """min, max, mean, std and deciles of an Int64 column (moments and deciles of float(x)),
    and ``_small``: every distinct value with its count when there are at most
    :data:`INT_CATEGORIES` of them (a categorical int), else None.

    A categorical int (hours, counts, codes: the usual int feature) reads its deciles from
    those counts, exactly what the selection passes would find, so it costs no selection
    ``group_by``; any other int costs no counting ``group_by`` (see :func:`_categories`)."""
    c = pl.col(col)
    n, lo, hi, mom, small = yield from all_of([
        count_task(frame, col),
        scalar_task(frame, c.min(), ("min", col)), scalar_task(frame, c.max(), ("max", col)),
        int_moments(frame, col), _categories(frame, col)])
    if small is not None:
        deciles = ranked(sorted(small), rank_fractions(_DECILES))
    else:  # an int column's order statistics are ints
        deciles = cast("list[int]", (yield from order_stats(
            frame, col, "int", rank_fractions(_DECILES), budget, known=(n, lo, hi))))
    return {"min": lo, "max": hi, "mean": mom.mean(), "std": mom.std(),
            "quantiles": [float(v) for v in deciles] or [None] * len(_DECILES),
            "_edges": list(deciles or []),  # the bins of an int column are ints
            "_small": small}


def _categories(frame: Frame, col: str) -> Task[list[tuple] | None]:
    """Every distinct value of an int column with its count, most frequent first (ties by
    value), when it has at most :data:`INT_CATEGORIES`; else None.

    The first :data:`~featuredsl.fit.top.SAMPLE` rows are looked at first: when they alone
    hold more distinct values, so does the column (whichever rows a scan hands out first),
    and the values need not be counted (an id column would hold a ``group_by`` entry per
    row); otherwise they are, with :func:`top_values`."""
    c = pl.col(col)
    sample = frame.lf.head(SAMPLE).select(c.drop_nulls().n_unique().cast(pl.Int64).alias("d"))
    seen = yield from one(Query(frame, sample, ("int-sample", col)))
    if int(seen.item()) > INT_CATEGORIES:
        return None
    small = yield from top_values(frame, col, "int", INT_CATEGORIES + 1)
    return small if len(small) <= INT_CATEGORIES else None


def ranked(counts: list[tuple[int, int]], ranks: Callable[[int], list[int]]) -> list[int]:
    """The values at ``ranks(n)`` (0-based, ascending) of the values given as ascending
    ``(value, count)`` pairs of every distinct value, as :func:`order_stats` selects them;
    ``[]`` when there are none."""
    n = sum(k for _, k in counts)
    if not n:
        return []
    values = [v for v, _ in counts]
    ends = list(itertools.accumulate(k for _, k in counts))  # rank ends[i] - 1 is values[i]
    return [values[bisect.bisect_right(ends, r)] for r in ranks(n)]


def _plain(v: object) -> object:
    """A JSON-able value: temporal values as ISO strings, durations in µs."""
    import datetime as dt

    if isinstance(v, dt.timedelta):
        return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def profiles(frame: Frame, columns: Iterable[tuple[str, str, Type]],
              budget: Budget) -> Task[dict[str, dict]]:
    """Profiles by name of ``(name, column, type)``."""
    cols = list(columns)
    got = yield from all_of(_profile_column(frame, c, t, budget) for _, c, t in cols)
    return {n: g for (n, _, _), g in zip(cols, got, strict=True)}


