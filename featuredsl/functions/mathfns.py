"""Numeric functions: abs, sign, floor, ceil, round, sqrt, exp, logs, pow, clip, least, greatest.

Domain errors give null (``sqrt(-1)``, ``log(0)``), overflow to infinity stays infinity (it is
an ordinary float), and NaN never comes out. Where libm and Polars could differ, both backends
compute the same formula from the same IEEE operations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions.registry import Example, Overload, RowGen, register
from featuredsl.types import FLOAT, INT

_INF = math.inf


# ------------------------------------------------------------------------------ abs, sign


register(
    "abs", "Absolute value. `abs(-9223372036854775808)` overflows and gives null.", ("x",),
    [Overload("abs_int", (INT,), INT, lambda x: pl.when(x != _pl.INT64_MIN).then(x.abs()),
              lambda g, x: f"abs({x})", int_overflow=True, may_be_null=True),
     Overload("abs_float", (FLOAT,), FLOAT, lambda x: x.abs(), lambda g, x: f"abs({x})")],
    [Example("abs(x)", {"x": -3}, 3), Example("abs(x)", {"x": -2.5}, 2.5),
     Example("abs(x)", {"x": -(2**63)}, None)],
    category="math",
)


def _sign_polars(x: pl.Expr) -> pl.Expr:
    return (pl.when(x > 0).then(pl.lit(1, pl.Int64)).when(x < 0).then(pl.lit(-1, pl.Int64))
            .when(x.is_not_null()).then(pl.lit(0, pl.Int64)))


register(
    "sign", "-1, 0 or 1 as an int (`sign(-0.0)` is 0).", ("x",),
    [Overload(f"sign_{t.kind}", (t,), INT, _sign_polars,
              lambda g, x: f"(({x} > 0) - ({x} < 0))") for t in (INT, FLOAT)],
    [Example("sign(x)", {"x": -3.5}, -1), Example("sign(x)", {"x": 0}, 0),
     Example("sign(x)", {"x": -0.0}, 0)],
    category="math",
)


# ------------------------------------------------------------------------------ floor, ceil


def floor_row(x: float) -> float:
    """float floor keeping IEEE's signed zero (``math.floor`` returns an int, loses ``-0.0``
    and fails on inf)."""
    if x in (_INF, -_INF):
        return x
    return math.copysign(float(math.floor(x)), x)


def ceil_row(x: float) -> float:
    """float ceil keeping IEEE's signed zero: ``ceil(-0.3)`` is ``-0.0`` as in Polars."""
    if x in (_INF, -_INF):
        return x
    return math.copysign(float(math.ceil(x)), x)


register(
    "floor", "Largest integer value <= x (float stays float, int unchanged).", ("x",),
    [Overload("floor_int", (INT,), INT, lambda x: x, lambda g, x: x),
     Overload("floor_float", (FLOAT,), FLOAT, lambda x: x.floor(),
              lambda g, x: f"{g.ref(floor_row, 'floor')}({x})")],
    [Example("floor(x)", {"x": -2.5}, -3.0), Example("floor(x)", {"x": 7}, 7)],
    category="math",
)
register(
    "ceil", "Smallest integer value >= x (float stays float, int unchanged).", ("x",),
    [Overload("ceil_int", (INT,), INT, lambda x: x, lambda g, x: x),
     Overload("ceil_float", (FLOAT,), FLOAT, lambda x: x.ceil(),
              lambda g, x: f"{g.ref(ceil_row, 'ceil')}({x})")],
    [Example("ceil(x)", {"x": -2.5}, -2.0), Example("ceil(x)", {"x": 2.1}, 3.0),
     Example("ceil(x)", {"x": -7}, -7)],
    category="math",
)


# ------------------------------------------------------------------------------ round


def round_half_even(x: float, n: int) -> float:
    """featuredsl's ``round``: ``round(x * 10**n, 0) / 10**n`` in float64 (half to even on the
    scaled value); for n < 0 ``round(x / 10**-n, 0) * 10**-n``; |x| >= 2**52 is returned as is."""
    if not -4503599627370496.0 < x < 4503599627370496.0:  # 2**52: already integral (or inf)
        return x
    if n >= 0:
        m = 10.0**n
        y = x * m
        if y in (_INF, -_INF):
            return x
        return round(y, 0) / m
    m = 10.0**-n
    return round(x / m, 0) * m


# 1.5 * 2**52: for |y| < 2**51, ``(y + _MAGIC) - _MAGIC`` lands in [2**52, 2**53), where the
# float spacing is 1, so IEEE round-to-nearest-even rounds y to an integer exactly as
# ``round(y, 0)`` does (_MAGIC is even, so the tie parity is y's own); only the sign of a zero
# result is lost (0.0 for y in [-0.5, 0)), which ``or x * 0.0`` restores (x has y's sign).
_MAGIC = 6755399441055744.0


def _round_row(g: RowGen, x: str, n: int) -> str:
    """``round_half_even(x, n)`` inline for a constant ``n`` >= 0 (the common case): the
    helper call costs ~0.5 µs, the inline arithmetic ~50 ns. The guard ``|x| < 2**50 / 10**n``
    (below 2**51 after scaling, whatever the rounding of ``x * 10**n``) keeps the fast path
    where it is exact; everything else (large, infinite) goes to the helper. Bit-identical to
    the helper, sign of zero included (tests/test_codegen.py checks ties and zeros)."""
    helper = f"{g.ref(round_half_even, 'round')}({x}, {n})"
    if not 0 <= n <= 15:
        return helper
    m = 10.0**n
    bound = g.lit(2.0**50 / m)
    magic = g.lit(_MAGIC)
    scaled = x if n == 0 else f"{x} * {g.lit(m)}"
    fast = f"(({scaled} + {magic}) - {magic} or {x} * 0.0)"
    if n:
        fast += f" / {g.lit(m)}"
    return f"({fast} if -{bound} < {x} < {bound} else {helper})"


def _round_polars(x: pl.Expr, n: int) -> pl.Expr:
    big = ~x.abs().lt(4503599627370496.0)
    if 0 <= n <= 20:
        # Polars' own round is exactly round_half_even(x * 10**n) / 10**n for |x| < 2**52 and
        # these n (checked on 1.2M values per n; tests/test_skew_traps.py keeps checking).
        return pl.when(big).then(x).otherwise(x.round(n, mode="half_to_even"))
    if n >= 0:
        m = 10.0**n
        y = x * m
        scaled = y.round(0, mode="half_to_even") / _pl.per_row(pl.lit(m), x)
        return pl.when(big | y.is_infinite()).then(x).otherwise(scaled)
    m = 10.0**-n
    scaled = (x / _pl.per_row(pl.lit(m), x)).round(0, mode="half_to_even") * m
    return pl.when(big).then(x).otherwise(scaled)


register(
    "round",
    """Round to `n` decimal places (default 0), half to even, defined as
`round_half_even(x * 10**n) / 10**n` in float64 (for n < 0: `round_half_even(x / 10**-n) *
10**-n`). Values with |x| >= 2**52 are already integral and returned unchanged. This is the
same in both backends and matches the decimal intuition on values like `round(2.675, 2)` =
2.68 and `round(0.35, 1)` = 0.4 (the scaled products are exactly 267.5 and 3.5, which round to
even), where Python's `round(x, n)` gives 2.67 and 0.3 (it rounds the exact binary value,
slightly below the tie). ints are promoted to float.""",
    ("x", "n"),
    [Overload("round_float", (FLOAT, INT), FLOAT, _round_polars,
              _round_row,
              const=frozenset({1}))],
    [Example("round(x, 2)", {"x": 2.675}, 2.68), Example("round(x, 1)", {"x": 0.35}, 0.4),
     Example("round(x, 1)", {"x": 12.35}, 12.4), Example("round(x, 1)", {"x": -0.04}, -0.0),
     Example("round(x)", {"x": 2.5}, 2.0), Example("round(x)", {"x": 3.5}, 4.0),
     Example("round(x, -2)", {"x": 1250.0}, 1200.0)],
    defaults={"n": 0}, category="math",
)


# ------------------------------------------------------------------------------ sqrt, exp, logs


def _guarded(cond: str, call: str) -> str:
    return f"({call} if {cond} else None)"


register(
    "sqrt", "Square root; null for x < 0.", ("x",),
    [Overload("sqrt_float", (FLOAT,), FLOAT, lambda x: pl.when(x >= 0).then(x.sqrt()),
              lambda g, x: _guarded(f"{x} >= 0.0", f"{g.ref(math.sqrt, 'sqrt')}({x})"),
              may_be_null=True)],
    [Example("sqrt(x)", {"x": 16}, 4.0), Example("sqrt(x)", {"x": -1.0}, None)],
    category="math",
)


def exp_row(x: float) -> float:
    """math.exp, but overflow is +inf (as in IEEE and Polars) instead of OverflowError."""
    try:
        return math.exp(x)
    except OverflowError:
        return _INF


register(
    "exp", "e**x; overflows to +inf.", ("x",),
    [Overload("exp_float", (FLOAT,), FLOAT, lambda x: x.exp(),
              lambda g, x: f"{g.ref(exp_row, 'exp')}({x})")],
    [Example("exp(x)", {"x": 0}, 1.0), Example("exp(x)", {"x": 1000.0}, _INF)],
    category="math",
)


def _log_fn(name: str, doc: str, polars_fn, py_fn, lower: float, examples) -> None:
    register(
        name, doc, ("x",),
        [Overload(f"{name}_float", (FLOAT,), FLOAT,
                  lambda x: pl.when(x > lower).then(polars_fn(x)),
                  lambda g, x: _guarded(f"{x} > {lower!r}", f"{g.ref(py_fn, name)}({x})"),
                  may_be_null=True)],
        examples, category="math",
    )


_log_fn("log", "Natural logarithm; null for x <= 0.", lambda x: x.log(), math.log, 0.0,
        [Example("log(x)", {"x": 1.0}, 0.0), Example("log(x)", {"x": 0.0}, None)])
_log_fn("log1p", "log(1 + x), accurate near 0; null for x <= -1.", lambda x: x.log1p(),
        math.log1p, -1.0,
        [Example("log1p(x)", {"x": 0.0}, 0.0), Example("log1p(x)", {"x": -1.0}, None)])
def _exact_log_row(base: float, ln_base: float):
    def log_base(x: float) -> float:
        r = math.log(x) / ln_base
        k = round(r, 0)
        try:
            exact = math.pow(base, k) == x
        except OverflowError:  # base**k is inf (as in Polars), so not a finite x
            exact = False
        return k if exact else r
    return log_base


_LN2, _LN10 = math.log(2.0), math.log(10.0)
log2_row = _exact_log_row(2.0, _LN2)
log10_row = _exact_log_row(10.0, _LN10)


def _exact_log_polars(base: float):
    def lower(x: pl.Expr) -> pl.Expr:
        r = x.log(base)
        k = r.round(0, mode="half_to_even")
        return pl.when(_pl.per_row(pl.lit(base), x).pow(k) == x).then(k).otherwise(r)
    return lower


_LOG_BASE_DOC = """Base-{b} logarithm; null for x <= 0. Computed as ln(x)/ln({b}), except that an
exact power of {b} gives its exact exponent (log{b}(1000) is 3.0, not 2.9999999999999996)."""
_log_fn("log2", _LOG_BASE_DOC.format(b=2), _exact_log_polars(2.0), log2_row, 0.0,
        [Example("log2(x)", {"x": 8.0}, 3.0), Example("log2(x)", {"x": -1.0}, None),
         Example("log2(x)", {"x": 0.125}, -3.0)])
_log_fn("log10", _LOG_BASE_DOC.format(b=10), _exact_log_polars(10.0), log10_row, 0.0,
        [Example("log10(x)", {"x": 1000.0}, 3.0), Example("log10(x)", {"x": 0}, None),
         Example("log10(x)", {"x": 1e-5}, -5.0)])


def pow_row(x: float, y: float) -> float | None:
    """IEEE pow with featuredsl's domain rules: 0 to a negative power and a negative base to a
    non-integer power are null; overflow is +-inf."""
    if x == 0.0 and y < 0.0:
        return None
    if x < 0.0 and y != y // 1.0 and y not in (_INF, -_INF):
        return None
    try:
        return math.pow(x, y)
    except OverflowError:
        return _INF if x > 0.0 or y % 2.0 != 1.0 else -_INF


def _pow_polars(x: pl.Expr, y: pl.Expr) -> pl.Expr:
    bad = ((x == 0.0) & (y < 0.0)) | ((x < 0.0) & (y.floor() != y) & y.is_finite())
    return _pl.no_nan(pl.when(~bad).then(_pl.libm_pow(x, y)))


def _pow_total(consts: Sequence[object]) -> str | None:
    """``pow`` cannot be null (for non-null arguments) with a constant exponent that is a
    whole number >= 0 (any base to it is defined: IEEE gives no NaN, no 0 ** negative), or a
    constant base > 0 (no negative base, no zero base)."""
    x, y = consts
    whole = isinstance(y, float) and math.isfinite(y) and y >= 0.0 and y == math.floor(y)
    positive_base = isinstance(x, float) and x > 0.0
    return "pow_float_total" if whole or positive_base else None


register(
    "pow",
    "x raised to the power y (float). Null for 0 to a negative power and for a negative base "
    "to a non-integer power; overflow gives +-inf. Never null (for non-null arguments) when "
    "the exponent is a literal whole number >= 0 (`pow(x, 2)`) or the base a literal > 0.",
    ("x", "y"),
    [Overload("pow_float", (FLOAT, FLOAT), FLOAT, _pow_polars,
              lambda g, x, y: f"{g.ref(pow_row, 'pow')}({x}, {y})", may_be_null=True,
              row_nan=True, per_row_scalars="always", specialize=_pow_total),
     # the same computation; only the result type differs (see _pow_total)
     Overload("pow_float_total", (FLOAT, FLOAT), FLOAT, _pow_polars,
              lambda g, x, y: f"{g.ref(pow_row, 'pow')}({x}, {y})", row_nan=True,
              per_row_scalars="always", hidden=True)],
    [Example("pow(x, y)", {"x": 2, "y": 10}, 1024.0), Example("pow(x, y)", {"x": 0, "y": -1}, None),
     Example("pow(x, 2)", {"x": -3.0}, 9.0), Example("pow(2, y)", {"y": -1.0}, 0.5),
     Example("pow(x, y)", {"x": -8.0, "y": 1 / 3}, None),
     Example("pow(x, y)", {"x": -2.0, "y": 3.0}, -8.0)],
    category="math",
)


# ------------------------------------------------------------------ clip, least, greatest


def _number(atom: str) -> float | None:
    try:
        return float(atom)
    except ValueError:  # a local or a bound name
        return None


def _clip_row(g: RowGen, x: str, lo: str, hi: str) -> str:
    nlo, nhi = _number(lo), _number(hi)
    if nlo is not None and nhi is not None and nlo <= nhi:
        # literal bounds in order: the same comparisons, each made once
        return f"({lo} if {x} < {lo} else {hi} if {x} > {hi} else {x})"
    return f"({hi} if ({lo} if {x} < {lo} else {x}) > {hi} else ({lo} if {x} < {lo} else {x}))"


def _clip_polars(x: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    low = pl.when(x < lo).then(lo).otherwise(x)
    return pl.when(low > hi).then(hi).otherwise(low)


register(
    "clip",
    "`min(max(x, lo), hi)`: x limited to [lo, hi] (if lo > hi the result is hi).",
    ("x", "lo", "hi"),
    [Overload(f"clip_{t.kind}", (t, t, t), t, _clip_polars, _clip_row,
              polars_nulls=False) for t in (INT, FLOAT)],
    [Example("clip(x, 0, 10)", {"x": 12}, 10), Example("clip(x, 0, 10)", {"x": -1.5}, 0.0),
     Example("clip(x, 0, 10)", {"x": None}, None, {"x": "float?"})],
    category="math",
)


def _fold_polars(cmp_first_wins):
    def lower(*xs: pl.Expr) -> pl.Expr:
        acc = xs[0]
        for x in xs[1:]:
            acc = pl.when(cmp_first_wins(x, acc)).then(x).otherwise(acc)
        return acc
    return lower


def least_row(*xs):
    """The smallest argument; on ties the first (same order of comparisons as Polars)."""
    acc = xs[0]
    for x in xs[1:]:
        if x < acc:
            acc = x
    return acc


def greatest_row(*xs):
    """The largest argument; on ties the first."""
    acc = xs[0]
    for x in xs[1:]:
        if x > acc:
            acc = x
    return acc


def _fold_row(helper: Callable[..., object], name: str, op: str) -> Callable[..., str]:
    def row(g: RowGen, *xs: str) -> str:
        if len(xs) == 2:  # the usual form, inline: ~15 ns instead of a ~200 ns helper call
            a, b = xs
            return f"({b} if {b} {op} {a} else {a})"  # on a tie the first, as the helper
        return f"{g.ref(helper, name)}({', '.join(xs)})"
    return row


for _name, _cmp, _row in (("least", lambda x, acc: x < acc, _fold_row(least_row, "least", "<")),
                          ("greatest", lambda x, acc: x > acc,
                           _fold_row(greatest_row, "greatest", ">"))):
    register(
        _name,
        f"The {'smallest' if _name == 'least' else 'largest'} of its arguments; null if any "
        "argument is null (unlike SQL).",
        ("x",),
        [Overload(f"{_name}_{t.kind}", (t,), t, _fold_polars(_cmp),
                  _row,
                  variadic=True, polars_nulls=False) for t in (INT, FLOAT)],
        [Example(f"{_name}(a, b, c)", {"a": 3, "b": 1, "c": 2}, 1 if _name == "least" else 3),
         Example(f"{_name}(a, b)", {"a": 3, "b": 1.5}, 1.5 if _name == "least" else 3.0),
         Example(f"{_name}(a, b)", {"a": 1, "b": None}, None, {"b": "int?"})],
        category="math",
    )
