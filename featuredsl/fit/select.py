"""Exact moments and order statistics of a column in a few bounded-memory streaming passes.

Keys
----
Every non-null value is mapped to an order-preserving ``UInt64`` *key* (``key(a) < key(b)``
exactly when ``a < b``), computed from its bits with no float arithmetic:

- float64: ``u = bits(x)``; ``~u`` for a negative ``x``, ``u | 2**63`` otherwise. ``-0.0``
  (``u == 2**63``) takes the second branch and gets the key of ``0.0``: order statistics count
  ``-0.0`` as ``0.0``. NaN is null (``fill_nan(None)`` first).
- int64: ``bits(x) ^ 2**63``.

The summary query (floats)
--------------------------
One streaming ``group_by`` on the top 16 bits of the key (sign, 11 exponent bits and the top 4
mantissa bits: at most 65,536 groups) computes per group the count, the smallest and largest
key, and two exact Int128 sums of ``r``, the low 48 bits of the value's bits: ``sum(r)`` and
``sum(r*r)``. Within a group the rest of the mantissa is the constant ``c`` (hidden bit and top
4 bits), so ``m = c + r`` and the sums of ``m`` and ``m*m`` per group follow exactly; shifted by
the group's exponent they give the exact sums of ``x`` and ``x*x`` (see
:class:`featuredsl.fit.exact.Moments`). ``r*r < 2**96``, so ``sum(r*r)`` cannot overflow an
Int128 below ``2**31`` values in one group; a group that large is summed again with ``r`` split
in 24-bit halves (one more pass, only then). The same groups are the first level of the
histogram for order statistics: one query serves ``mean``, ``std``, ``var``, ``median``,
``quantiles`` and the profile of a column.

Ints are summed directly (no float decomposition), once their count, min and max are known:
``sum(x)`` and ``sum(x*x)`` in Int64 when ``n * max|x|**2 < 2**63`` proves they cannot
overflow (the usual case: two cheap reductions), else ``x*x`` in Int128, else ``|x|`` split in
26-bit halves. That holds for ``|x| <= 2**53``, where ``float(x) == x``; when there are larger
values they go through the float summary of ``float(x)`` instead. The moments are of
``float(x)``, as the profile defines them.

Selection (order statistics)
----------------------------
An order statistic is the value of a 0-based rank in ascending order of the non-null values.
Given a histogram of disjoint key ranges ``[lo, hi]`` with counts, in ascending order, the
cumulative counts tell which range holds each rank and at which offset. A range with
``lo == hi`` answers its ranks at once. Otherwise, in the next pass, a range is either
*collected* (its keys filtered from the data and counted by a ``group_by``, then sorted with
cumulative counts in numpy) if it fits the pass's :class:`~featuredsl.fit.passes.Budget`, or
*refined*: a ``group_by`` of the keys in the range on ``(key - lo) >> shift`` with
``shift = max(0, bit_length(hi - lo) - 12)`` (at most
4,096 groups, each with its count and smallest and largest key). A range of at most 4,096 keys
is always refined: that counts it key by key, exactly, in one pass. Each refinement leaves
ranges at least 12 bits narrower, so a rank is found in at most 5 passes for floats (the
summary is the first) and 7 for ints (the first is the column's min and max); usually 2 or 3,
because a range small enough is collected. All the ranks a task needs (every ``quantiles``
edge, both middles of a median, the 9 deciles) are resolved together, in at most two queries of
the column a pass, and identical requests from different statistics run once. Memory is
bounded by the groups (4,096 per range and pass) and the budget, not by the row count.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from featuredsl.fit.exact import Moments
from featuredsl.fit.passes import Budget, Frame, Query, Scalar, Task, all_of

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

_U = pl.UInt64
_I128 = pl.Int128
_SIGN = 1 << 63
_MASK64 = (1 << 64) - 1
_R_BITS = 48
_FAN_BITS = 12
#: keys one pass may count exactly (a group_by entry each, ~50 bytes) before ranges are refined
COLLECT_BUDGET = 1 << 19
#: groups of the summary with at least this many values get their sum(r*r) split (Int128 room)
SPLIT_AT = 1 << 31
#: ints with |x| above this go through the float decomposition (float(x) != x is possible)
_EXACT_INT = 1 << 53


def _lit(v: int) -> pl.Expr:
    return pl.lit(v, _U)


def float_key(x: pl.Expr) -> pl.Expr:
    """The order-preserving UInt64 key of a Float64 expression (null for null and NaN)."""
    u = x.fill_nan(None).reinterpret(dtype=_U)
    return pl.when(u > _lit(_SIGN)).then(~u).otherwise(u | _lit(_SIGN))


def int_key(x: pl.Expr) -> pl.Expr:
    """The order-preserving UInt64 key of an Int64 expression."""
    return x.reinterpret(dtype=_U).xor(_lit(_SIGN))


def decode_float(key: int) -> float:
    """The float64 value of a :func:`float_key` key."""
    u = key ^ _SIGN if key >= _SIGN else ~key & _MASK64
    return struct.unpack("<d", struct.pack("<Q", u))[0]


def decode_int(key: int) -> int:
    """The int64 value of an :func:`int_key` key."""
    return key - _SIGN


# ---------------------------------------------------------------------------- summaries


class Summary:
    """The summary groups of a float column, ascending: ``(bucket, n, lo, hi, sum_r, sum_rr)``.

    Built from the result frame of the summary query (columns ``b, n, lo, hi, s, q``).
    """

    def __init__(self, df: pl.DataFrame) -> None:
        cols = [df.get_column(c).to_list() for c in ("b", "n", "lo", "hi", "s", "q")]
        self.rows: list[tuple[int, int, int, int, int, int]] = sorted(zip(*cols, strict=True))

    @property
    def count(self) -> int:
        """The number of non-null, non-NaN values summarized."""
        return sum(r[1] for r in self.rows)

    def ranges(self) -> list[tuple[int, int, int]]:
        """The summary as a key histogram: ``(lowest key, highest key, count)`` per group,
        ascending."""
        return [(lo, hi, n) for _, n, lo, hi, _, _ in self.rows]


def _summary_query(lf: pl.LazyFrame, x: pl.Expr) -> pl.LazyFrame:
    u = x.fill_nan(None).reinterpret(dtype=_U)
    k, r = pl.col("k"), pl.col("r").cast(_I128)
    return (lf.select(float_key(x).alias("k"), (u & _lit((1 << _R_BITS) - 1)).cast(pl.Int64)
                      .alias("r"))
            .filter(k.is_not_null())
            .group_by((k // _lit(1 << _R_BITS)).alias("b"))
            .agg(pl.len().cast(pl.Int64).alias("n"), k.min().alias("lo"), k.max().alias("hi"),
                 r.sum().alias("s"), (r * r).sum().alias("q")))


def float_summary(frame: Frame, name: str, x: pl.Expr | None = None) -> Task[Summary]:
    """The summary of a Float64 column (or of ``x``, named ``name``) of ``frame``."""
    x = pl.col(name) if x is None else x
    (df,) = yield [Query(frame, _summary_query(frame.lf, x), ("summary", name))]
    return Summary(df)


def _split_rr(frame: Frame, name: str, x: pl.Expr, lo: int, hi: int) -> Task[int]:
    """``sum(r*r)`` of one summary group with ``r`` split in 24-bit halves (no overflow)."""
    k = pl.col("k")
    r = pl.col("r")
    a, b = (r // (1 << 24)).cast(_I128), (r % (1 << 24)).cast(_I128)
    u = x.fill_nan(None).reinterpret(dtype=_U)
    q = (frame.lf.select(float_key(x).alias("k"), (u & _lit((1 << _R_BITS) - 1))
                         .cast(pl.Int64).alias("r"))
         .filter(k.is_between(_lit(lo), _lit(hi)))
         .select((a * a).sum().alias("aa"), (a * b).sum().alias("ab"), (b * b).sum().alias("bb")))
    (df,) = yield [Query(frame, q, ("split", name, lo, hi))]
    aa, ab, bb = (int(v or 0) for v in df.row(0))
    return (aa << 48) + (ab << 25) + bb


def float_moments(frame: Frame, name: str, x: pl.Expr | None = None) -> Task[Moments]:
    """Exact moments of a Float64 column (from its summary; see the module docstring)."""
    x = pl.col(name) if x is None else x
    summary = yield from float_summary(frame, name, x)
    big = [(lo, hi) for _, n, lo, hi, _, _ in summary.rows if n >= SPLIT_AT]
    split = yield from all_of(_split_rr(frame, name, x, lo, hi) for lo, hi in big)
    fixed = dict(zip(big, split, strict=True))
    n = pos = neg = s = q = 0
    for b, cnt, lo, hi, sr, qr in summary.rows:
        qr = fixed.get((lo, hi), qr)
        ub = b - 0x8000 if b >= 0x8000 else 0xFFFF - b  # the top 16 bits of the value's bits
        negative, e, top = ub >> 15, (ub >> 4) & 0x7FF, ub & 0xF
        if e == 0x7FF:  # infinities (NaN is null)
            if negative:
                neg += cnt
            else:
                pos += cnt
            continue
        c = ((1 << 52) if e else 0) + (top << _R_BITS)
        sm = cnt * c + sr  # sum of m = c + r
        qm = cnt * c * c + 2 * c * sr + qr  # sum of m*m
        shift = max(e, 1) - 1  # x = m * 2**(max(e, 1) - 1075); sums scaled by 2**1074
        s += (-sm if negative else sm) << shift
        q += qm << (2 * shift)
        n += cnt
    return Moments(n, pos, neg, s, q)


def int_moments(frame: Frame, name: str) -> Task[Moments]:
    """Exact moments of ``float(x)`` for an Int64 column (see the module docstring)."""
    x = pl.col(name)
    n, lo, hi = yield [Scalar(frame, x.count().cast(pl.Int64), ("count", name)),
                       Scalar(frame, x.min(), ("min", name)), Scalar(frame, x.max(), ("max", name))]
    if not n:
        return Moments(0, 0, 0, 0, 0)
    top = max(-lo, hi)
    if top <= _EXACT_INT:
        # every value is its own float; sums in Int64 when they provably cannot overflow
        s = x.sum() if n * top < _SIGN else x.cast(_I128).sum()
        if n * top * top < _SIGN:
            q = [(x * x).sum()]
        elif top < 1 << 31:
            q = [(x * x).cast(_I128).sum()]
        else:
            q = _split_squares(x)
        got = yield [Scalar(frame, e, ("int_moments", name, i)) for i, e in enumerate([s, *q])]
        sums = [int(v or 0) for v in got]
        qq = sums[1] if len(sums) == 2 else (sums[1] << 52) + (sums[2] << 27) + sums[3]
        return Moments(n, 0, 0, sums[0] << 1074, qq << 2148)
    # some |x| > 2**53: the others summed as ints, those through float(x)'s summary
    inside = x.is_between(-_EXACT_INT, _EXACT_INT)
    small = pl.when(inside).then(x)
    exprs = [small.count().cast(pl.Int64), small.cast(_I128).sum(), *_split_squares(small)]
    got = yield [Scalar(frame, e, ("int_moments_split", name, i)) for i, e in enumerate(exprs)]
    m, s_, hh, hl, ll = (int(v or 0) for v in got)
    big = yield from float_moments(frame, f"{name}\x00big",
                                   pl.when(~inside).then(x).cast(pl.Float64))
    return Moments(m + big.n, 0, 0, (s_ << 1074) + big.s,
                   (((hh << 52) + (hl << 27) + ll) << 2148) + big.q)


def _split_squares(x: pl.Expr) -> list[pl.Expr]:
    """Int128 sums of ``h*h``, ``h*l``, ``l*l`` with ``|x| = h * 2**26 + l`` (``|x| <= 2**53``;
    so ``x*x = (hh << 52) + (hl << 27) + ll``)."""
    a = x.abs()
    h, lo = a // (1 << 26), a % (1 << 26)
    return [(h * h).cast(_I128).sum(), (h * lo).cast(_I128).sum(), (lo * lo).cast(_I128).sum()]


# ---------------------------------------------------------------------------- selection


Ranks = Callable[[int], list[int]]


def order_stats(frame: Frame, name: str, kind: str, ranks: Ranks, budget: Budget,
                known: tuple[int, int | None, int | None] | None = None
                ) -> Task[list[int | float | None]]:
    """The values at ``ranks(n)`` (0-based, ascending) of the non-null values of a Float64
    (``kind == "float"``) or Int64 column; ``[]`` when ``n == 0``. ``known``: an int
    column's (count, min, max) when the caller has them (saves their pass)."""
    if kind == "float":
        summary = yield from float_summary(frame, name)
        ranges, n = summary.ranges(), summary.count
        key, decode = float_key(pl.col(name)), decode_float
    else:
        x = pl.col(name)
        got: list[Any] = list(known) if known is not None else (yield [
            Scalar(frame, x.count().cast(pl.Int64), ("count", name)),
            Scalar(frame, x.min(), ("min", name)), Scalar(frame, x.max(), ("max", name))])
        n = int(got[0])
        key, decode = int_key(x), decode_int
        ranges = [] if n == 0 else [(int(got[1]) + _SIGN, int(got[2]) + _SIGN, n)]
    if n == 0:
        return []
    wanted = ranks(n)
    found = yield from select(frame, name, key, ranges, sorted(set(wanted)), budget)
    return [decode(found[r]) for r in wanted]


def _locate(ranges: list[tuple[int, int, int]], ranks: list[tuple[int, int]],
            found: dict[int, int]) -> list[tuple[int, int, int, list[tuple[int, int]]]]:
    """Which range holds each rank (ascending); ranges of one key answer at once."""
    out: list[tuple[int, int, int, list[tuple[int, int]]]] = []
    start, i = 0, 0
    for lo, hi, n in ranges:
        want: list[tuple[int, int]] = []
        while i < len(ranks) and ranks[i][1] < start + n:
            rank, pos = ranks[i]
            if lo == hi:
                found[rank] = lo
            else:
                want.append((rank, pos - start))
            i += 1
        if want:
            out.append((lo, hi, n, want))
        start += n
    assert i == len(ranks), "a rank beyond the count"
    return out


def _inside(k: pl.Expr, ranges: list[tuple[int, int]]) -> pl.Expr:
    return pl.any_horizontal([k.is_between(_lit(lo), _lit(hi)) for lo, hi in ranges])


def select(frame: Frame, name: str, key: pl.Expr, ranges: list[tuple[int, int, int]],
           ranks: list[int], budget: Budget) -> Task[dict[int, int]]:
    """Keys at ``ranks`` given a histogram ``ranges`` of the keys (see the module docstring).

    Each pass asks at most two queries of the column, whatever the number of ranges: one
    collects the keys of every range to collect, one refines every other range (a group_by on
    the range and the next 12 bits within it): few concurrent scans, little buffered data."""
    found: dict[int, int] = {}
    pending = _locate(ranges, [(r, r) for r in ranks], found)
    k = pl.col("k")
    keyed = frame.lf.select(key.alias("k"))
    while pending:
        collect, refine = [], []
        for lo, hi, n, want in pending:
            # a range of at most 2**12 keys is counted key by key (exact in this pass); a wider
            # one is collected if it fits the budget, else refined
            if hi - lo >= 1 << _FAN_BITS and budget.take(n):
                collect.append((lo, hi, want))
            else:
                refine.append((lo, hi, want, max(0, (hi - lo).bit_length() - _FAN_BITS)))
        requests: list[Query] = []
        if collect:  # counted by key: a group_by frees the filtered morsels as it goes
            spans = [(lo, hi) for lo, hi, _ in collect]
            counts = keyed.filter(_inside(k, spans)).group_by("k").agg(
                pl.len().cast(pl.Int64).alias("n"))
            requests.append(Query(frame, counts, ("keys", name, tuple(spans))))
        if refine:
            spans = [(lo, hi) for lo, hi, _, _ in refine]
            lo0, shift0 = refine[0][0], refine[0][3]
            which, sub = pl.lit(0, pl.Int64), (k - _lit(lo0)) // _lit(1 << shift0)
            if len(refine) > 1:  # which range, and the bucket within it
                first = k.is_between(_lit(lo0), _lit(refine[0][1]))
                which_c: Then | ChainedThen = pl.when(first).then(which)
                sub_c: Then | ChainedThen = pl.when(first).then(sub)
                for i, (lo, hi, _, shift) in enumerate(refine[1:], 1):
                    which_c = which_c.when(k.is_between(_lit(lo), _lit(hi))).then(
                        pl.lit(i, pl.Int64))
                    sub_c = sub_c.when(k.is_between(_lit(lo), _lit(hi))).then(
                        (k - _lit(lo)) // _lit(1 << shift))
                which, sub = which_c, sub_c
            hist = keyed.filter(_inside(k, spans)).group_by(which.alias("i"), sub.alias("b")).agg(
                pl.len().cast(pl.Int64).alias("n"), k.min().alias("lo"), k.max().alias("hi"))
            requests.append(Query(frame, hist, ("refine", name, tuple(spans))))
        results = iter((yield requests))
        after = []
        if collect:
            df = next(results)
            keys = df.get_column("k").to_numpy()
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            cum = np.cumsum(df.get_column("n").to_numpy()[order])
            for lo, _, want in collect:
                start = int(np.searchsorted(keys, np.uint64(lo), side="left"))
                before = int(cum[start - 1]) if start else 0
                for rank, offset in want:  # the first key whose cumulative count passes it
                    found[rank] = int(keys[np.searchsorted(cum, before + offset, side="right")])
        if refine:
            df = next(results)
            cols = [df.get_column(c).to_list() for c in ("i", "b", "lo", "hi", "n")]
            rows = sorted(zip(*cols, strict=True))
            for i, (_, _, want, _) in enumerate(refine):
                after += _locate([r[2:] for r in rows if r[0] == i], want, found)
        pending = after
    return found
