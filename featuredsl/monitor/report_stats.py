"""The statistics of the monitor report (docs/monitoring.md, The report), in plain Python.

No SciPy: the report must run wherever featuredsl runs, and it needs one distribution (the
chi-square quantile of the PSI noise bound), the two-proportion z statistic, PSI with Jeffreys
smoothing and the Jensen-Shannon divergence. Everything is deterministic floating point on the
snapshot's integer counts, so the same snapshot always gives the same report.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

_EPS = 1e-15
_ITERATIONS = 500


def _lower_series(a: float, x: float) -> float:
    """The regularized lower incomplete gamma P(a, x) by its power series (x < a + 1)."""
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(_ITERATIONS):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a: float, x: float) -> float:
    """The regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction
    (x >= a + 1): accurate far into the tail, where ``1 - P`` would lose every digit."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < tiny:
            d = tiny
        c = b + an / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if a <= 0:
        raise ValueError("gamma_q needs a > 0")
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _lower_series(a, x)
    return _upper_fraction(a, x)


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for X chi-square with ``df`` degrees of freedom."""
    return gamma_q(df / 2.0, x / 2.0)


@functools.lru_cache(maxsize=1024)  # a report asks for a few (tail, df) pairs, many times
def chi2_isf(tail: float, df: int) -> float:
    """The chi-square quantile with upper-tail probability ``tail``: x with P(X > x) = tail.

    Started from the Wilson-Hilferty cube-root normal approximation, then bracketed and
    bisected on :func:`chi2_sf` (monotone, so bisection cannot fail) to about 1e-12 relative.
    """
    if df < 1:
        raise ValueError("chi2_isf needs df >= 1")
    if not 0.0 < tail < 1.0:
        raise ValueError("chi2_isf needs 0 < tail < 1")
    z = _normal_isf(tail)
    k = float(df)
    h = 2.0 / (9.0 * k)
    guess = max(k * (1.0 - h + z * math.sqrt(h)) ** 3, 1e-12)
    lo, hi = guess, guess
    while chi2_sf(lo, df) < tail:
        lo /= 2.0
    while chi2_sf(hi, df) > tail:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if chi2_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2.0


def _normal_isf(tail: float) -> float:
    """The standard normal quantile with upper tail ``tail`` (bisection on erfc; a start
    value only, so a plain method is enough)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > tail:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """The pooled two-proportion z statistic of ``x2/n2`` against ``x1/n1`` (0 when the pooled
    proportion is 0 or 1: then both samples agree exactly)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if var <= 0.0:
        return 0.0
    return (x2 / n2 - x1 / n1) / math.sqrt(var)


def psi(reference: Sequence[int], serving: Sequence[int], alpha: float = 0.5) -> float:
    """The population stability index on frozen bins, with additive (Jeffreys) smoothing:
    ``p_b = (r_b + a) / (N + B a)``, ``q_b = (s_b + a) / (M + B a)``,
    ``PSI = sum (q - p) ln(q / p)``. Equal counts give exactly 0."""
    n, m, b = sum(reference), sum(serving), len(reference)
    total = 0.0
    for r, s in zip(reference, serving, strict=True):
        p = (r + alpha) / (n + b * alpha)
        q = (s + alpha) / (m + b * alpha)
        if p != q:
            total += (q - p) * math.log(q / p)
    return total


def shares(counts: Sequence[int]) -> list[float]:
    """Each count's share of the total (all 0 when the total is 0)."""
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def jensen_shannon(reference: Sequence[int], serving: Sequence[int]) -> float:
    """The Jensen-Shannon divergence of the two distributions, in bits (0 to 1), unsmoothed
    (TFDV's drift measure for numeric features): ``(KL(p||m) + KL(q||m)) / 2``, ``m = (p+q)/2``.
    """
    p, q = shares(reference), shares(serving)
    total = 0.0
    for pi, qi in zip(p, q, strict=True):
        mi = (pi + qi) / 2.0
        if pi > 0.0:
            total += pi * math.log2(pi / mi)
        if qi > 0.0:
            total += qi * math.log2(qi / mi)
    return max(0.0, total / 2.0)
