"""Polars building blocks shared by registry lowerings.

Each helper exists because the obvious Polars spelling disagrees with the written semantics
(SPEC section 4, ../shared/SKEW-TRAPS.md); the docstring says how.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def no_nan(e: pl.Expr) -> pl.Expr:
    """NaN -> null: no featuredsl expression ever yields NaN (SPEC 4.4).

    One when/then on ``is_not_nan`` (null stays null: its condition is null): Polars 2.1
    expands ``fill_nan(None)`` to ``when(is_not_nan | is_null)``, ~3x slower at 1M rows. ``e``
    appears twice; Polars' common-subexpression elimination computes it once."""
    return pl.when(e.is_not_nan()).then(e)


def per_row_value(value: float | None, zero: pl.Expr) -> pl.Expr:
    """A constant as a real per-row column, given a column of zeros (see :func:`per_row`)."""
    # Not `lit - zero`: Polars computes `scalar - column` as `-(column - scalar)`, which
    # turns 0.0 into -0.0. `zero + c` is exact for every c but -0.0, spelled `-zero`.
    if value is not None and value == 0.0 and math.copysign(1.0, value) < 0:
        return -zero
    return zero + pl.lit(value, pl.Float64)


def per_row(scalar: pl.Expr, anchor: pl.Expr) -> pl.Expr:
    """A scalar float operand turned into a real per-row column with the same values.

    Polars' float kernels special-case an operand that repeats one value (a literal, a
    ``.first()``, even a broadcast column): ``x / c`` becomes ``x * (1/c)`` (1 ulp off in a
    third of rows), ``x // c`` becomes ``floor(x * (1/c))``, ``x + 0.0`` keeps ``-0.0``,
    ``x.pow(3)`` becomes ``x*x*x``. Adding ``0.0`` per row (``anchor.is_null()`` is false
    wherever the result is not null anyway) defeats that at about 1 ms per million rows.
    """
    return anchor.is_null().cast(pl.Float64) + scalar


def add_int(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """int64 ``a + b``, null on overflow (Polars wraps): the sign test on the wrapped sum."""
    r = a + b
    return pl.when((a.xor(r)).and_(b.xor(r)) >= 0).then(r)


def sub_int(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """int64 ``a - b``, null on overflow."""
    r = a - b
    return pl.when((a.xor(b)).and_(a.xor(r)) >= 0).then(r)


def mul_int(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """int64 ``a * b``, null on overflow: the wrapped product divided back must give ``b``."""
    r = a * b
    exact = (a == 0) | ((r // a == b) & ~((a == -1) & (b == INT64_MIN)))
    return pl.when(exact).then(r)


def py_float_binop(np_name: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Python's float ``%`` / ``//`` via numpy's ``remainder`` / ``floor_divide``
    (bit-identical to CPython's fmod-based algorithm; Polars computes ``a - b*floor(a/b)``
    instead). Vectorized, batch by batch. numpy is imported here, not at start-up."""
    import numpy as np

    np_fn = getattr(np, np_name)

    def kernel(s: Sequence[pl.Series]) -> pl.Series:
        x = s[0].cast(pl.Float64).to_numpy()
        y = s[1].cast(pl.Float64).to_numpy()
        with np.errstate(all="ignore"):
            out = np_fn(x, y)
        return pl.Series(out, dtype=pl.Float64)

    return pl.map_batches([a, b], kernel, return_dtype=pl.Float64, is_elementwise=True)


def libm_pow(x: pl.Expr, y: pl.Expr) -> pl.Expr:
    """``x ** y`` by libm's ``pow`` on every row (Python's ``math.pow``).

    Polars' float pow kernel takes shortcuts when the exponent array has a single element,
    which happens for a one-row frame *and* for any one-row morsel of the streaming engine:
    ``y == 0.5`` becomes ``sqrt`` and an integral ``y`` in 2..9 repeated multiplication, both
    off by an ulp from ``pow`` for some x (``2067.0 ** 6.0``). So the result depended on how
    the frame was chunked. Batches of one row are padded to two, which takes the plain
    element-wise path.
    """

    def kernel(s: Sequence[pl.Series]) -> pl.Series:
        base, exp = s[0].cast(pl.Float64), s[1].cast(pl.Float64)
        n = max(len(base), len(exp))
        size = max(n, 2)
        # broadcast a literal operand, and pad a one-row batch, to a real column
        base = base.new_from_index(0, size) if len(base) == 1 else base
        exp = exp.new_from_index(0, size) if len(exp) == 1 else exp
        return base.pow(exp).slice(0, n)

    return pl.map_batches([x, y], kernel, return_dtype=pl.Float64, is_elementwise=True)


def null_if_any_null(result: pl.Expr, args: list[pl.Expr]) -> pl.Expr:
    """``result`` where no argument is null, else null (for ops Polars makes null-skipping)."""
    cond = args[0].is_null()
    for a in args[1:]:
        cond = cond | a.is_null()
    return pl.when(cond).then(None).otherwise(result)
