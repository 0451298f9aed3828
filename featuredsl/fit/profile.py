"""The training profile (SPEC section 7): what monitoring compares serving traffic against.

``profiles`` computes, for each column, plain JSON data: ``type``, ``count``, ``null_count``;
numbers (ints as floats for the moments) add ``min``, ``max``, ``mean``, ``std`` and
``quantiles`` (the 9 deciles by the 'lower' rule, not de-duplicated); strings and ints add
``top`` (up to 20 ``[value, count]`` pairs, most frequent first, ties by value); bools add
``true_count`` and ``false_count``; timestamps and dates add ``min``/``max`` as ISO strings,
durations in µs. Every entry is a task of the fit's passes (:mod:`featuredsl.fit.passes`), so
the profile of an input shares its queries with the statistics of that input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

from featuredsl.fit.exact import lower_rank
from featuredsl.fit.passes import Budget, Frame, Scalar, Task, all_of, one
from featuredsl.fit.select import (
    decode_float,
    float_moments,
    float_summary,
    int_moments,
    order_stats,
)
from featuredsl.fit.top import top_values
from featuredsl.types import Type

_DECILES = [(i, 10) for i in range(1, 10)]
#: How many top values a string or int column's profile keeps.
TOP = 20


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
    if k in ("int", "string"):
        parts["top"] = top_values(frame, col, k, TOP)
    if k == "bool":
        parts["true_count"] = scalar_task(frame, c.sum().cast(pl.Int64), ("true", col))
        parts["false_count"] = scalar_task(frame, (~c).sum().cast(pl.Int64), ("false", col))
    if k in ("timestamp", "date", "duration"):
        parts["min"] = scalar_task(frame, c.min(), ("min", col))
        parts["max"] = scalar_task(frame, c.max(), ("max", col))
    got = dict(zip(parts, (yield from all_of(parts.values())), strict=True))
    out: dict[str, object] = {"type": str(t), "count": int(got.pop("count")),
                              "null_count": int(got.pop("null_count"))}
    for part in (got.pop("_float", None), got.pop("_int", None)):
        if part is not None:
            out.update(part)
    if "top" in got:
        got["top"] = [list(p) for p in got["top"]]
    out.update((name, _plain(v)) for name, v in got.items())
    return out


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
            "quantiles": deciles or [None] * len(_DECILES)}


def _int_profile(frame: Frame, col: str, budget: Budget) -> Task[dict]:
    """min, max, mean, std and deciles of an Int64 column (moments and deciles of float(x))."""
    c = pl.col(col)
    lo, hi, mom, deciles = yield from all_of([
        scalar_task(frame, c.min(), ("min", col)), scalar_task(frame, c.max(), ("max", col)),
        int_moments(frame, col),
        order_stats(frame, col, "int", rank_fractions(_DECILES), budget)])
    return {"min": lo, "max": hi, "mean": mom.mean(), "std": mom.std(),
            "quantiles": [float(v) for v in deciles] or [None] * len(_DECILES)}


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


