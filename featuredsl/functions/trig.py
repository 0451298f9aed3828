"""Trigonometry: sin, cos, tan, asin, acos, atan, atan2 and pi(), for cyclic encodings
(``sin(2 * pi() * hour(ts) / 24)``) and angles.

Both backends call the same C library: Polars' float kernels and CPython's ``math`` module
both end in the platform libm (glibc here), and tests/test_trig.py pins that they agree bit
for bit on hundreds of thousands of values, edge cases included, so a Polars or libm change
fails loudly. What IEEE or libm would answer with NaN (``sin(inf)``, ``asin(2)``) is null, as
everywhere in featuredsl; Python would raise instead.
"""

from __future__ import annotations

import math

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import FLOAT


def sin_row(x: float) -> float | None:
    """math.sin; null for +-inf (IEEE gives NaN, Python raises)."""
    return None if math.isinf(x) else math.sin(x)


def cos_row(x: float) -> float | None:
    """math.cos; null for +-inf."""
    return None if math.isinf(x) else math.cos(x)


def tan_row(x: float) -> float | None:
    """math.tan; null for +-inf."""
    return None if math.isinf(x) else math.tan(x)


def asin_row(x: float) -> float | None:
    """math.asin; null outside [-1, 1]."""
    return math.asin(x) if -1.0 <= x <= 1.0 else None


def acos_row(x: float) -> float | None:
    """math.acos; null outside [-1, 1]."""
    return math.acos(x) if -1.0 <= x <= 1.0 else None


def _unary(name: str, doc: str, polars_fn, row_fn, examples: list[Example],
           may_be_null: bool = True) -> None:
    register(
        name, doc, ("x",),
        [Overload(f"{name}_float", (FLOAT,), FLOAT, lambda x: _pl.no_nan(polars_fn(x)),
                  lambda g, x: f"{g.ref(row_fn, name)}({x})", may_be_null=may_be_null)],
        examples, category="math")


_unary("sin", "Sine of an angle in radians; null for +-inf.", lambda x: x.sin(), sin_row,
       [Example("sin(x)", {"x": 0.0}, 0.0), Example("sin(x)", {"x": math.pi / 2}, 1.0),
        Example("sin(x)", {"x": math.inf}, None)])
_unary("cos", "Cosine of an angle in radians; null for +-inf.", lambda x: x.cos(), cos_row,
       [Example("cos(x)", {"x": 0.0}, 1.0), Example("cos(x)", {"x": math.pi}, -1.0),
        Example("cos(x)", {"x": -math.inf}, None)])
_unary("tan", "Tangent of an angle in radians; null for +-inf.", lambda x: x.tan(), tan_row,
       [Example("tan(x)", {"x": 0.0}, 0.0), Example("tan(x)", {"x": math.inf}, None)])
_unary("asin", "Arcsine in radians, in [-pi/2, pi/2]; null outside [-1, 1].",
       lambda x: x.arcsin(), asin_row,
       [Example("asin(x)", {"x": 1.0}, math.pi / 2), Example("asin(x)", {"x": 2.0}, None)])
_unary("acos", "Arccosine in radians, in [0, pi]; null outside [-1, 1].",
       lambda x: x.arccos(), acos_row,
       [Example("acos(x)", {"x": -1.0}, math.pi), Example("acos(x)", {"x": 1.5}, None)])
register(
    "atan", "Arctangent in radians, in [-pi/2, pi/2] (`atan(inf)` = pi/2).", ("x",),
    [Overload("atan_float", (FLOAT,), FLOAT, lambda x: x.arctan(),
              lambda g, x: f"{g.ref(math.atan, 'atan')}({x})")],
    [Example("atan(x)", {"x": 1.0}, math.pi / 4), Example("atan(x)", {"x": math.inf},
                                                          math.pi / 2)],
    category="math",
)
register(
    "atan2", "The angle of the point (x, y) from the x axis, in radians, in [-pi, pi]: "
    "`atan2(y, x)`, with the quadrant from both signs (C's atan2, signed zeros included).",
    ("y", "x"),
    [Overload("atan2_float", (FLOAT, FLOAT), FLOAT, lambda y, x: pl.arctan2(y, x),
              lambda g, y, x: f"{g.ref(math.atan2, 'atan2')}({y}, {x})",
              per_row_scalars="always")],
    [Example("atan2(y, x)", {"y": 1.0, "x": -1.0}, 3 * math.pi / 4),
     Example("atan2(y, x)", {"y": -0.0, "x": -1.0}, -math.pi)],
    category="math",
)
register(
    "pi", "The constant pi (3.141592653589793), for angles: `sin(2 * pi() * hour(ts) / 24)`.",
    (),
    [Overload("pi", (), FLOAT, lambda: pl.lit(math.pi, pl.Float64),
              lambda g: repr(math.pi))],
    [Example("pi()", {}, math.pi)],
    category="math",
)
