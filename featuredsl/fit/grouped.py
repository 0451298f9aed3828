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
matter). Memory: one entry per distinct group (and exponent); with ``top=`` the
kept groups are found first by ``vocab``'s bounded, partitioned count (fit/top.py), so the
``group_by`` holds only them; several keys are counted the same way as one struct column
(ties by the key tuple).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import polars as pl

from featuredsl import ir
from featuredsl.fit.exact import Moments, _round, round_ratio

_HALF = 26


def key_column(e: pl.Expr, kind: str) -> pl.Expr:
    """A group key as fit and both lowerings compare it: float NaN as null, -0.0 as 0.0."""
    if kind != "float":
        return e
    e = e.cast(pl.Float64).fill_nan(None)
    return pl.when(e == 0.0).then(pl.lit(0.0, pl.Float64)).otherwise(e)


def fit_grouped(lf: pl.LazyFrame, agg: ir.Aggregate, col: str, keys: list[str],
                only: list[object] | None = None) -> ir.GroupTable:
    """The table of the grouped statistic ``agg`` over ``lf`` (value column ``col``, key
    columns ``keys``). ``only``: the kept groups' keys (values, or tuples for several keys)
    when already known (``top=``, found in bounded memory by the caller), so the aggregating
    ``group_by`` holds only them; ``share``'s total and ``smoothing``'s overall mean still
    count every grouped row."""
    fn = agg.function.name
    aliases = [f"\x00k{i}" for i in range(len(keys))]
    lf = lf.with_columns([key_column(pl.col(k), b.type.kind).alias(a)
                          for k, b, a in zip(keys, agg.by, aliases, strict=True)])
    keys = aliases
    nk = len(keys)
    lf = lf.filter(pl.all_horizontal([pl.col(k).is_not_null() for k in keys]))
    x = pl.col(col)
    needs_moments = agg.args[0].type.kind in ("float", "int") and fn in ("mean", "var", "std")
    aggs = [pl.len().cast(pl.Int64).alias("__rows"), x.count().cast(pl.Int64).alias("__n")]
    if fn in ("min", "max"):
        v = key_column(x, "float") if agg.args[0].type.kind == "float" else x
        aggs.append((v.min() if fn == "min" else v.max()).alias("__v"))
    fixed = _fixed_point(lf, col, fn != "mean") if needs_moments else None
    if fixed is not None:
        aggs += fixed.aggs(col)
    smoothing = fn == "mean" and agg.option("smoothing") is not None
    every = lf  # every grouped row, for share's total and smoothing's overall mean
    if only is not None and nk == 1:
        kept_keys = pl.Series(only, dtype=_KEY_DTYPES[agg.by[0].type.kind])
        lf = lf.filter(pl.col(keys[0]).is_in(kept_keys.implode()))
    elif only is not None:  # key tuples: a semi join on the kept ones
        kept_frame = pl.DataFrame(
            [pl.Series(k, [t[i] for t in only], dtype=_KEY_DTYPES[b.type.kind])  # type: ignore[index]
             for i, (k, b) in enumerate(zip(keys, agg.by, strict=True))])
        lf = lf.join(kept_frame.lazy(), on=keys, how="semi", nulls_equal=False)
    base = lf.group_by(keys).agg(aggs).collect(engine="streaming")
    moments: dict[tuple, Moments] = {}
    overall = None
    if needs_moments and fixed is None:  # a wide exponent range: sums per exponent
        moments = _moments(lf, col, keys, need_squares=fn != "mean")
        if smoothing:
            overall = (_sum_moments(moments.values()) if only is None else
                       _moments(every, col, [], need_squares=False).get((), _NO_MOMENTS))
    elif smoothing:
        assert fixed is not None
        sums = pl.col("__fin", "__pinf", "__ninf", "__s").sum()
        total = (base.select(sums) if only is None else
                 every.select(fixed.aggs(col)).collect(engine="streaming"))
        overall = fixed.moments(total.to_dicts()[0]) or _NO_MOMENTS
    if only is None:
        total_rows = int(base["__rows"].sum())
    else:
        total_rows = int(every.select(pl.len()).collect(engine="streaming").item())
    cols, group_keys = kept_groups(base, agg, keys)
    values = plain_values(fn, cols, total_rows)
    if values is None and fixed is not None and overall is None and fn == "mean":
        values = fixed.means(cols)
    elif values is None:
        if fixed is None:
            ms = [moments.get(k) for k in group_keys]
        else:
            names = [c for c in cols if c.startswith("__")]
            ms = [fixed.moments(dict(zip(names, r, strict=True)))
                  for r in zip(*(cols[c] for c in names), strict=True)]
        if overall is not None:
            weight = float(agg.option("smoothing"))  # type: ignore[arg-type]
            values = [_smoothed(m, overall, weight) for m in ms]
        else:
            values = [None if m is None else getattr(m, fn)() for m in ms]
    return ir.GroupTable(tuple(group_keys), tuple(values), tuple(cols["__rows"]))


def kept_groups(base: pl.DataFrame, agg: ir.Aggregate, keys: list[str]
                ) -> tuple[dict[str, list], list[tuple]]:
    """The groups a table keeps, from a frame of one row per group (key columns ``keys``,
    ``__rows``, ``__n`` and the aggregates): at least ``min_count`` rows, most rows first, ties
    by key ascending (Polars orders strings by UTF-8 bytes, which is code point order, as
    Python compares them), at most ``top``. Returns its columns as lists (not per-row dicts:
    fast) and the key tuples. The local fit and the Spark merge both build their tables here."""
    nk = len(keys)
    kept = base.filter(pl.col("__rows") >= int(agg.option("min_count", 1)))  # type: ignore[call-overload]
    kept = kept.sort(["__rows", *keys], descending=[True] + [False] * nk)
    top = agg.option("top")
    if top is not None:
        kept = kept.head(int(top))  # type: ignore[call-overload]
    cols = {c: kept[c].to_list() for c in kept.columns}
    return cols, list(zip(*(cols[a] for a in keys), strict=True))


def plain_values(fn: str, cols: dict[str, list], total_rows: int) -> list[object] | None:
    """The table values of the statistics read from counts (``count``, ``share``,
    ``null_fraction``) or extremes (``min``, ``max``); None for the moment statistics."""
    rows_col, n_col = cols["__rows"], cols["__n"]
    if fn == "count":
        return list(n_col)
    if fn == "share":
        return [rows / total_rows for rows in rows_col]
    if fn == "null_fraction":
        return [(rows - n) / rows for rows, n in zip(rows_col, n_col, strict=True)]
    if fn in ("min", "max"):
        return list(cols["__v"])
    return None


# The fixed-point path. Every finite float64 is an integer multiple of the unit in the last
# place of the smallest-exponent value present, 2**unit; when the values' exponents span a
# narrow range (the usual label: delays, prices, 0/1), each value is an integer number of
# units that fits in Int128 with room for the sum of every row (and, split in two halves, of
# the squares), so one group_by on the keys alone sums them exactly. Otherwise the general
# path sums per (key, sign, exponent) and combines in Python (:func:`_moments`).
_NO_MOMENTS = Moments(0, 0, 0, 0, 0)
_KEY_DTYPES = {"float": pl.Float64, "int": pl.Int64, "string": pl.String, "bool": pl.Boolean}
_INT128_BITS = 126  # every sum kept strictly inside the signed range


@dataclass(frozen=True, slots=True)
class _FixedPoint:
    """Values as Int128 integers of ``2**unit``; squares through ``v = hi * 2**half + lo``."""

    unit: int
    half: int
    squares: bool

    def aggs(self, col: str) -> list[pl.Expr]:
        """Per group: finite count, +-inf counts, the sum (and the three square sums)."""
        x = pl.col(col).cast(pl.Float64)
        scale = -self.unit
        step = max(-1000, min(1000, scale))  # 2.0**scale may not be a float: two exact steps
        v = (x * pl.lit(2.0**step) * pl.lit(2.0 ** (scale - step))).filter(x.is_finite())
        v = v.cast(pl.Int128)
        out = [x.is_finite().sum().cast(pl.Int64).alias("__fin"),
               (x == math.inf).sum().cast(pl.Int64).alias("__pinf"),
               (x == -math.inf).sum().cast(pl.Int64).alias("__ninf"),
               v.sum().alias("__s")]
        if self.squares:  # v**2 = hi**2 * 4**half + 2 * hi * lo * 2**half + lo**2
            hi, lo = v // (1 << self.half), v % (1 << self.half)
            out += [(hi * hi).sum().alias("__hh"), (hi * lo).sum().alias("__hl"),
                    (lo * lo).sum().alias("__ll")]
        return out

    def means(self, cols: dict[str, list]) -> list[object]:
        """Each group's mean straight from its sums (the common case: no Moments objects):
        ``s * 2**unit / n`` as one correctly rounded integer division."""
        out: list[object] = []
        up, down = max(self.unit, 0), max(-self.unit, 0)
        for fin, pinf, ninf, s in zip(cols["__fin"], cols["__pinf"], cols["__ninf"],
                                      cols["__s"], strict=True):
            if pinf or ninf:
                out.append(None if pinf and ninf else math.inf if pinf else -math.inf)
            elif fin == 0:
                out.append(None)
            else:
                out.append(round_ratio(int(s) << up, fin << down))
        return out

    def moments(self, r: dict) -> Moments | None:
        """A group's exact :class:`Moments` from its sums (``None`` without a value)."""
        shift = self.unit + 1074  # Moments counts sums in 2**-1074 (squares in 2**-2148)
        q = 0
        if self.squares:
            h = self.half
            q = ((int(r["__hh"]) << (2 * h)) + (int(r["__hl"]) << (h + 1))
                 + int(r["__ll"])) << (2 * shift)
        m = Moments(int(r["__fin"]), int(r["__pinf"]), int(r["__ninf"]),
                    int(r["__s"] or 0) << shift, q)
        return m if m.count else None


def _fixed_point(lf: pl.LazyFrame, col: str, squares: bool) -> _FixedPoint | None:
    """The fixed-point plan for ``col``, or ``None`` when its exponents span too wide a range
    for every sum to stay inside Int128 (one streaming pass for the range)."""
    x = pl.col(col).cast(pl.Float64)
    u = x.reinterpret(dtype=pl.UInt64)
    e = ((u // pl.lit(1 << 52, pl.UInt64)) % pl.lit(1 << 11, pl.UInt64)).cast(pl.Int64)
    nonzero = x.is_finite() & (x != 0.0)
    lo, hi, n = lf.select(e.filter(nonzero).min(), e.filter(nonzero).max().alias("hi"),
                          x.is_finite().sum().alias("n")).collect(engine="streaming").row(0)
    lo = max(1, lo if lo is not None else 1)  # subnormals share the smallest normal unit
    hi = max(lo, hi if hi is not None else 1)
    bits = 53 + (hi - lo)  # |value / 2**unit| < 2**bits
    # sum: < n * 2**bits; squares (half = ceil(bits / 2)): each part < 2**(bits + 1) per row
    if bits + 1 + int(n).bit_length() > _INT128_BITS:
        return None
    return _FixedPoint(unit=lo - 1075, half=(bits + 1) // 2, squares=squares)


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
