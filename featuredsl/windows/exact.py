"""The rules both window backends share: canonical values and the exact float sum.

SPEC 13: null values are skipped, NaN is null, ``-0.0`` counts as ``0.0``; a float ``sum`` is
the correctly rounded exact sum of the window's values (as ``math.fsum``), whatever their
order or partition; ``mean`` is that sum divided by the count; an int ``sum`` outside int64
is null. Infinities are values: a window holding ``+inf`` (and no ``-inf``) sums to
``+inf``, one holding both sums to null (``inf - inf`` is NaN, and NaN is null); an exact
sum whose correctly rounded value is beyond the float range is ``+-inf``.

The online state keeps every float as an exact integer multiple of ``2**-1074`` (the
smallest subnormal), so a window's sum is a difference of two Python ints and rounding it is
one correctly rounded integer division (``int / int`` in Python rounds correctly). The batch
backend computes the same exact sums with Int128 prefix sums (or, when the values' range is
too wide for 126 bits, these same Python ints), so both give the same float, bit for bit.
"""

from __future__ import annotations

import math

#: Floats as integers: ``x == scaled(x) / SCALE`` exactly for every finite float.
SCALE_BITS = 1074
SCALE = 1 << SCALE_BITS
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def canonical_float(x: float | None) -> float | None:
    """NaN as null, ``-0.0`` as ``0.0`` (SPEC 13); every other value as it is."""
    if x is None or x != x:
        return None
    return 0.0 if x == 0.0 else x


def scaled(x: float) -> int:
    """A finite float as the exact integer ``x * 2**1074``."""
    p, q = x.as_integer_ratio()  # q is a power of two <= 2**1074
    return p * (SCALE // q)


def float_of_scaled(total: int, scale: int = SCALE) -> float:
    """The correctly rounded float of ``total / scale`` (``+-inf`` beyond the float range)."""
    try:
        return total / scale
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def float_sum(total: int, pos_inf: int, neg_inf: int) -> float | None:
    """The window's float sum from its exact finite part and its infinity counts."""
    if pos_inf and neg_inf:
        return None
    if pos_inf:
        return math.inf
    if neg_inf:
        return -math.inf
    return float_of_scaled(total)


def int_sum(total: int) -> int | None:
    """An int window's sum: the exact sum, null outside int64."""
    return total if INT64_MIN <= total <= INT64_MAX else None


def mean(total_float: float | None, count: int) -> float | None:
    """The window's mean: its (rounded) sum divided by the count of its values, one IEEE
    division, as the batch backend's ``sum / count`` column division."""
    if count == 0 or total_float is None:
        return None
    return total_float / float(count)
