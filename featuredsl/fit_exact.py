"""Exact, order-independent aggregation primitives for ``fit`` (see :mod:`featuredsl.fit`).

Floating-point sums depend on the order of the additions, and Polars sums in an order that
depends on chunking, threads and engine. Here every finite float64 ``x`` is taken apart into
integers, ``x = m * 2**(e - 1075)`` with a signed 53-bit mantissa ``m`` and a biased exponent
``e`` (1 for subnormals), read from its bits (``reinterpret`` to UInt64: no arithmetic on
floats at all). A streaming ``group_by`` over ``e`` sums, in Int128 (exact and associative):

- ``m`` (for the sum of ``x``),
- ``h*h``, ``h*l``, ``l*l`` where ``|m| = h * 2**26 + l`` (for the sum of ``x*x``; each
  product fits an Int64 and their sums an Int128 for any realistic row count),

and the few hundred (at most 2046) groups are combined in Python as exact integers. Means and
variances are then exact rationals, rounded once (``int / int`` is correctly rounded in
CPython); the standard deviation is the correctly rounded square root of the *exact* variance.
+-inf are counted apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import polars as pl

_U = pl.UInt64
_INF_KEY = 2047  # +inf; -inf is 2048


def float_parts(x: pl.Expr) -> list[pl.Expr]:
    """The exponent key, signed mantissa and mantissa halves of a Float64 expression (null for
    null; NaN counts as null)."""
    u = x.fill_nan(None).reinterpret(dtype=_U)
    biased = ((u // pl.lit(2**52, _U)) % pl.lit(2048, _U)).cast(pl.Int64)
    negative = (u // pl.lit(2**63, _U)) == pl.lit(1, _U)
    frac = (u % pl.lit(2**52, _U)).cast(pl.Int64)
    mant = frac + pl.when(biased > 0).then(pl.lit(2**52, pl.Int64)).otherwise(pl.lit(0, pl.Int64))
    # (null stays null: a null condition takes the otherwise branch, which is null too)
    key = pl.when(biased == _INF_KEY).then(biased + negative.cast(pl.Int64)).when(
        biased == 0).then(pl.lit(1, pl.Int64)).otherwise(biased)
    signed = pl.when(negative).then(-mant).otherwise(mant)
    hi = mant // (2**26)
    lo = mant % (2**26)
    return [key.alias("e"), signed.alias("m"), hi.alias("h"), lo.alias("l")]


def moments_query(lf: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Per-exponent exact integer sums of a Float64 column (see the module docstring)."""
    i128 = pl.Int128
    h, lo = pl.col("h"), pl.col("l")
    return (lf.select(float_parts(pl.col(column))).filter(pl.col("e").is_not_null())
            .group_by("e").agg(pl.len().cast(pl.Int64).alias("n"),
                               pl.col("m").cast(i128).sum().alias("s"),
                               (h * h).cast(i128).sum().alias("hh"),
                               (h * lo).cast(i128).sum().alias("hl"),
                               (lo * lo).cast(i128).sum().alias("ll")))


@dataclass(frozen=True, slots=True)
class Moments:
    """Exact sums of the non-null values: ``sum_x = s / 2**1074``, ``sum_x2 = q / 2**2148``."""

    n: int  # finite values
    pos_inf: int
    neg_inf: int
    s: int
    q: int

    @property
    def count(self) -> int:
        return self.n + self.pos_inf + self.neg_inf

    def mean(self) -> float | None:
        if self.pos_inf and self.neg_inf:
            return None  # inf - inf: no value
        if self.pos_inf or self.neg_inf:
            return math.inf if self.pos_inf else -math.inf
        if self.n == 0:
            return None
        return _round(Fraction(self.s, self.n << 1074))

    def exact_var(self) -> Fraction | None:
        if self.pos_inf or self.neg_inf or self.n == 0:
            return None
        # (sum x2)/n - (sum x / n)**2 == (n * q - s**2) / (n**2 * 2**2148)
        return Fraction(self.n * self.q - self.s * self.s, (self.n * self.n) << 2148)

    def var(self) -> float | None:
        v = self.exact_var()
        return None if v is None else _round(v)

    def std(self) -> float | None:
        v = self.exact_var()
        return None if v is None else sqrt_rounded(v)


def moments_of(df: pl.DataFrame) -> Moments:
    """Combine the per-exponent sums of :func:`moments_query` exactly."""
    n = pos = neg = s = q = 0
    for e, cnt, sm, hh, hl, ll in df.select("e", "n", "s", "hh", "hl", "ll").iter_rows():
        if e == _INF_KEY:
            pos += cnt
        elif e == _INF_KEY + 1:
            neg += cnt
        else:
            n += cnt
            s += sm << (e - 1)
            q += ((hh << 52) + (hl << 27) + ll) << (2 * (e - 1))
    return Moments(n, pos, neg, s, q)


def _round(f: Fraction) -> float:
    """The float nearest to ``f`` (ties to even), inf when beyond the float range."""
    try:
        return f.numerator / f.denominator
    except OverflowError:
        return math.inf if f > 0 else -math.inf


def sqrt_rounded(f: Fraction) -> float:
    """The correctly rounded square root of a non-negative rational."""
    p, q = f.numerator, f.denominator
    if p == 0:
        return 0.0
    # sqrt(p/q) = sqrt(p * 4**k / q) / 2**k; pick k so the integer root has >= 64 bits.
    k = max(0, (2 * 66 - (p.bit_length() - q.bit_length())) // 2 + 1)
    num = p << (2 * k)
    r = math.isqrt(num // q)
    exact = r * r * q == num
    # r <= root < r + 1; an odd numerator 2r+1 stands for any inexact value in (r, r+1): with
    # more than 54 significant bits it is never a rounding tie, so it rounds like the root.
    if exact:
        return _round(Fraction(r, 1 << k))
    return _round(Fraction(2 * r + 1, 1 << (k + 1)))


def lower_rank(n: int, i: int, k: int) -> int:
    """0-based rank of the ``i/k`` quantile, 'lower' method: ``floor((n - 1) * i / k)``."""
    return (n - 1) * i // k


def order_stats(x: pl.Expr, fractions: list[tuple[int, int]], prefix: str) -> pl.Expr:
    """Exact order statistics of the non-null values of ``x``: for each ``(i, k)`` the value of
    0-based rank ``floor((n - 1) * i / k)`` in ascending order (null when there are none), as
    one list-valued expression.
    Callers pass floats through :func:`normalize_zero` (``-0.0`` counts as ``0.0``)."""
    # One sort for all the ranks (a `get` per rank would sort once each); the appended null
    # answers every rank when there are no values.
    values = x.drop_nulls().sort().extend_constant(None, 1)
    n = x.count().cast(pl.Int64)
    ranks = pl.concat_list([((n - 1) * i // k).clip(lower_bound=0) for i, k in fractions])
    return values.gather(ranks.explode()).implode().alias(prefix)


def normalize_zero(x: pl.Expr) -> pl.Expr:
    """-0.0 as 0.0 and NaN as null (for order statistics of floats). (Not ``x + 0.0``: Polars
    simplifies that to ``x``.)"""
    x = x.fill_nan(None)
    return pl.when(x == 0.0).then(pl.lit(0.0, pl.Float64)).otherwise(x)


def median_of(lo: float | None, hi: float | None) -> float | None:
    """The mean of the two middle values, exactly rounded once (no overflow of ``lo + hi``)."""
    if lo is None or hi is None:
        return None
    if lo == hi:
        return lo + 0.0
    if math.isinf(lo) or math.isinf(hi):
        return (lo + hi) / 2 if not (math.isinf(lo) and math.isinf(hi)) else None
    return _round((Fraction(lo) + Fraction(hi)) / 2)
