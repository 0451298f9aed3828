"""Exact, order-independent arithmetic for ``fit`` (see :mod:`featuredsl.fit`).

Floating-point sums depend on the order of the additions, and Polars sums in an order that
depends on chunking, threads and engine. ``fit`` never sums floats: every finite float64 is an
integer mantissa times a power of two, and :mod:`featuredsl.fit.select` sums mantissas exactly
as Int128 per group of values of one sign and exponent (one streaming ``group_by``), combined
here in Python as exact integers. Means and variances are then exact rationals, rounded once
(``int / int`` is correctly rounded in CPython); the standard deviation is the correctly
rounded square root of the *exact* variance. +-inf are counted apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import polars as pl


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
        """Every non-null value, infinities included."""
        return self.n + self.pos_inf + self.neg_inf

    def mean(self) -> float | None:
        """The mean, correctly rounded; +-inf if only one sign of infinity occurs, ``None`` with
        both (inf - inf) or with no values.
        """
        if self.pos_inf and self.neg_inf:
            return None  # inf - inf: no value
        if self.pos_inf or self.neg_inf:
            return math.inf if self.pos_inf else -math.inf
        if self.n == 0:
            return None
        return round_ratio(self.s, self.n << 1074)

    def exact_var(self) -> Fraction | None:
        """The exact population variance (divided by ``n``) of the finite values; ``None`` with an
        infinity or with no values.
        """
        if self.pos_inf or self.neg_inf or self.n == 0:
            return None
        # (sum x2)/n - (sum x / n)**2 == (n * q - s**2) / (n**2 * 2**2148)
        return Fraction(self.n * self.q - self.s * self.s, (self.n * self.n) << 2148)

    def _var_ratio(self) -> tuple[int, int] | None:
        # the exact variance as numerator / denominator, unreduced: reducing big integers
        # (gcd) costs more than the rounding itself, and neither rounding needs it
        if self.pos_inf or self.neg_inf or self.n == 0:
            return None
        return self.n * self.q - self.s * self.s, (self.n * self.n) << 2148

    def var(self) -> float | None:
        """The population variance, correctly rounded (``None`` as for :meth:`exact_var`)."""
        v = self._var_ratio()
        return None if v is None else round_ratio(*v)

    def std(self) -> float | None:
        """The population standard deviation: the correctly rounded square root of the exact
        variance (``None`` as for :meth:`exact_var`).
        """
        v = self._var_ratio()
        return None if v is None else sqrt_ratio(*v)


def _round(f: Fraction) -> float:
    """The float nearest to ``f`` (ties to even), inf when beyond the float range."""
    return round_ratio(f.numerator, f.denominator)


def round_ratio(p: int, q: int) -> float:
    """The float nearest to ``p / q`` (``q > 0``; ties to even), +-inf beyond the float range.
    CPython's ``int / int`` is correctly rounded, on reduced or unreduced operands alike."""
    try:
        return p / q
    except OverflowError:
        return math.inf if p > 0 else -math.inf


def sqrt_rounded(f: Fraction) -> float:
    """The correctly rounded square root of a non-negative rational."""
    return sqrt_ratio(f.numerator, f.denominator)


def sqrt_ratio(p: int, q: int) -> float:
    """The correctly rounded square root of ``p / q`` (``p >= 0``, ``q > 0``, unreduced
    operands allowed)."""
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
        return round_ratio(r, 1 << k)
    return round_ratio(2 * r + 1, 1 << (k + 1))


def lower_rank(n: int, i: int, k: int) -> int:
    """0-based rank of the ``i/k`` quantile, 'lower' method: ``floor((n - 1) * i / k)``."""
    return (n - 1) * i // k


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
