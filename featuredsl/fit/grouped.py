"""Grouped statistics (``mean(x, by=g)``): one value per group of the training rows, exact.

Definitions (docs/statistics.md)
--------------------------------
A row's group is the tuple of its ``by`` keys; a row with a null key (NaN is null) is in no
group and is not counted anywhere, not even in ``share``'s total. Float keys count ``-0.0`` as
``0.0``. Per group, ``rows`` is its number of rows and ``n`` its number of non-null values:

``count(x, by=g)``  ``n`` (``count(by=g)``: ``rows``);  ``share(by=g)``: ``rows / total rows
                     in a group``, one correctly rounded division;
``mean``/``var``/``std``/``min``/``max``/``null_fraction``: as ungrouped (fit/fitting.py), on
                     the group's values, exact and rounded once;
``smoothing=m``     (mean): ``(S + m * overall) / (n + m)`` with ``S`` the group's exact sum
                     and ``overall`` the exact mean of every grouped value, as one exact
                     rational rounded once (in float arithmetic when an infinity is involved);
``min_count=k``     groups with fewer than ``k`` rows are left out (null);
``top=t``           only the ``t`` groups with the most rows are kept, ties by key ascending.

Kept groups are ordered by rows descending, ties by key ascending. Sums come from one
streaming ``group_by`` on (keys, sign, exponent) summing the integer mantissas as Int128 (the
decomposition of :mod:`featuredsl.fit.select`), combined here as exact integers, so the
result is a function of the multiset of rows alone (order, chunking and engine do not
matter). Memory: one entry per distinct group (and exponent) -- ``top=`` caps the table kept,
not the fit's group_by (unlike ``vocab``'s partitioned count).
"""

from __future__ import annotations

import math
from fractions import Fraction

import polars as pl

from featuredsl import ir
from featuredsl.fit.exact import Moments, _round

_HALF = 26


def key_column(e: pl.Expr, kind: str) -> pl.Expr:
    """A group key as fit and both lowerings compare it: float NaN as null, -0.0 as 0.0."""
    if kind != "float":
        return e
    e = e.cast(pl.Float64).fill_nan(None)
    return pl.when(e == 0.0).then(pl.lit(0.0, pl.Float64)).otherwise(e)


def fit_grouped(lf: pl.LazyFrame, agg: ir.Aggregate, col: str, keys: list[str]
                ) -> ir.GroupTable:
    """The table of the grouped statistic ``agg`` over ``lf`` (value column ``col``, key
    columns ``keys``)."""
    fn = agg.function.name
    aliases = [f"\x00k{i}" for i in range(len(keys))]
    lf = lf.with_columns([key_column(pl.col(k), b.type.kind).alias(a)
                          for k, b, a in zip(keys, agg.by, aliases, strict=True)])
    keys = aliases
    kcols = [pl.col(k) for k in keys]
    lf = lf.filter(pl.all_horizontal([c.is_not_null() for c in kcols]))
    x = pl.col(col)
    is_float = agg.args[0].type.kind in ("float", "int") and fn in ("mean", "var", "std")
    aggs = [pl.len().cast(pl.Int64).alias("__rows"), x.count().cast(pl.Int64).alias("__n")]
    if fn in ("min", "max"):
        v = x
        if agg.args[0].type.kind == "float":
            v = key_column(x, "float")
        aggs.append((v.min() if fn == "min" else v.max()).alias("__v"))
    base = lf.group_by(keys).agg(aggs).collect(engine="streaming")
    rows_of: dict[tuple, tuple[int, int, object]] = {}
    for r in base.iter_rows():
        k = tuple(r[: len(keys)])
        rows_of[k] = (r[len(keys)], r[len(keys) + 1], r[len(keys) + 2] if fn in ("min", "max")
                      else None)
    min_count = int(agg.option("min_count", 1))  # type: ignore[call-overload]
    kept = [k for k, v in rows_of.items() if v[0] >= min_count]
    kept.sort(key=lambda k: (-rows_of[k][0], k))
    top = agg.option("top")
    if top is not None:
        kept = kept[: int(top)]  # type: ignore[call-overload]
    moments: dict[tuple, Moments] = {}
    if is_float:
        moments = _moments(lf, col, keys, need_squares=fn != "mean")
    total_rows = sum(v[0] for v in rows_of.values())
    overall = None
    if fn == "mean" and agg.option("smoothing") is not None:
        overall = _sum_moments(moments.values())
    values: list[object] = []
    for k in kept:
        rows, n, mm = rows_of[k]
        if fn == "count":
            values.append(n)
        elif fn == "share":
            values.append(rows / total_rows)
        elif fn == "null_fraction":
            values.append((rows - n) / rows)
        elif fn in ("min", "max"):
            values.append(mm)
        elif fn == "mean" and overall is not None:
            values.append(_smoothed(moments.get(k), overall,
                                    float(agg.option("smoothing"))))  # type: ignore[arg-type]
        else:
            m = moments.get(k)
            values.append(None if m is None else getattr(m, fn)())
    return ir.GroupTable(tuple(kept), tuple(values), tuple(rows_of[k][0] for k in kept))


def _moments(lf: pl.LazyFrame, col: str, keys: list[str], need_squares: bool
             ) -> dict[tuple, Moments]:
    """Exact sums per group: a group_by on (keys, sign, exponent) of the mantissas."""
    x = pl.col(col).cast(pl.Float64)
    u = x.reinterpret(dtype=pl.UInt64)
    e = ((u // pl.lit(1 << 52, pl.UInt64)) % pl.lit(1 << 11, pl.UInt64)).cast(pl.Int64)
    hidden = pl.lit(1 << 52, pl.UInt64)
    m = (u % hidden) + pl.when(e > 0).then(hidden).otherwise(
        pl.lit(0, pl.UInt64))
    m = m.cast(pl.Int128)
    hi, lo = m // (1 << _HALF), m % (1 << _HALF)
    aggs = [pl.len().cast(pl.Int64).alias("__c"), m.sum().alias("__s")]
    if need_squares:
        aggs += [(hi * hi).sum().alias("__hh"), (hi * lo).sum().alias("__hl"),
                 (lo * lo).sum().alias("__ll")]
    got = (lf.filter(x.is_not_null())
           .with_columns((u // pl.lit(1 << 63, pl.UInt64)).cast(pl.Int8).alias("__sign"),
                         e.alias("__e"))
           .group_by([*keys, "__sign", "__e"]).agg(aggs).collect(engine="streaming"))
    acc: dict[tuple, list[int]] = {}
    nk = len(keys)
    for r in got.iter_rows():
        k = tuple(r[:nk])
        sign, exp, c, s = r[nk], r[nk + 1], r[nk + 2], int(r[nk + 3])
        a = acc.setdefault(k, [0, 0, 0, 0, 0])  # n, pos_inf, neg_inf, s, q
        if exp == 0x7FF:  # an infinity (NaN is null by now)
            a[1 if sign == 0 else 2] += c
            continue
        shift = max(exp, 1) - 1  # x = m * 2**(shift - 1074)
        a[0] += c
        a[3] += (-s if sign else s) << shift
        if need_squares:
            hh, hl, ll = int(r[nk + 4]), int(r[nk + 5]), int(r[nk + 6])
            sq = (hh << (2 * _HALF)) + (hl << (_HALF + 1)) + ll  # sum of m*m
            a[4] += sq << (2 * shift)
    return {k: Moments(*v) for k, v in acc.items()}


def _sum_moments(ms: object) -> Moments:
    n = p = q_ = s = q = 0
    for m in ms:  # type: ignore[attr-defined]
        n, p, q_, s, q = n + m.n, p + m.pos_inf, q_ + m.neg_inf, s + m.s, q + m.q
    return Moments(n, p, q_, s, q)


def _smoothed(m: Moments | None, overall: Moments, weight: float) -> float | None:
    """``(S + weight * overall) / (n + weight)``, exact and rounded once."""
    o = overall.mean()
    if o is None:
        return None if m is None else m.mean()
    if m is None or m.count == 0:
        return o if weight > 0 else None
    if m.pos_inf or m.neg_inf or overall.pos_inf or overall.neg_inf:
        g = m.mean()
        if g is None:
            return None
        return (m.count * g + weight * o) / (m.count + weight)
    w = Fraction(weight)
    exact_overall = Fraction(overall.s, overall.n << 1074)
    value = (Fraction(m.s, 1 << 1074) + w * exact_overall) / (m.n + w)
    return _round(value) if not math.isnan(float(weight)) else None
