"""Conversions: to_int, to_float, to_string.

One accepted syntax for parsing, the same in both backends (it is Polars' own, which is strict
ASCII): no surrounding whitespace, no `_`, no non-ASCII digits, no hex.

* int: ``[+-]?[0-9]+`` within int64 (``"007"`` is 7, ``"1.0"`` and ``"1e5"`` are null).
* float: ``[+-]?`` then digits with an optional ``.`` (``"1."``, ``".5"``), an optional exponent,
  or ``inf``/``infinity`` in any case. ``"nan"`` parses to NaN, which is null.

Anything else is null. ``to_string`` of a float uses the shortest digits that round-trip, with
exponent notation for exponents >= 16 (``1e+16``) or < -5 (``1e-7``, no zero padding) and plain
digits in between (``0.00001``); bools are ``"true"``/``"false"``.
"""

from __future__ import annotations

import re

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import BOOL, FLOAT, INT, STRING

_INT_RE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                       r"|[+-]?(?:inf|infinity)", re.ASCII | re.IGNORECASE)
_TWO63 = 9223372036854775808.0


def parse_int(s: str) -> int | None:
    """featuredsl's int syntax (see the module doc); null when it does not parse or fit."""
    if _INT_RE.fullmatch(s) is None:
        return None
    v = int(s)
    return v if -9223372036854775808 <= v <= 9223372036854775807 else None


def parse_float(s: str) -> float | None:
    """featuredsl's float syntax (see the module doc); null when it does not parse."""
    return float(s) if _FLOAT_RE.fullmatch(s) is not None else None


def float_to_int(x: float) -> int | None:
    """Truncate toward zero; null if out of the int64 range or infinite."""
    return int(x) if -_TWO63 <= x < _TWO63 else None


def float_to_string(x: float) -> str:
    """The documented float format (the one Polars' cast to string produces)."""
    r = repr(x)
    i = r.find("e")
    if i < 0:
        return r  # 'inf', '-inf', '1.0', '-0.0', '0.0001'
    mant, exp = r[:i], int(r[i + 1 :])
    if exp == -5:  # repr switches to an exponent at 1e-5; the format only below it
        neg = mant.startswith("-")
        return ("-" if neg else "") + "0.0000" + mant.lstrip("-").replace(".", "")
    if exp < 0:
        return f"{mant}e-{-exp}"
    return f"{mant}e+{exp}"


def _float_to_int_polars(x: pl.Expr) -> pl.Expr:
    return pl.when((x >= -_TWO63) & (x < _TWO63)).then(x.cast(pl.Int64, strict=False))


register(
    "to_int",
    "Convert to int. From float: truncates toward zero; out of the int64 range or infinite "
    "is null. From string: parses `[+-]?[0-9]+` (strict ASCII, no spaces), else null. From "
    "bool: 1 or 0.",
    ("x",),
    [Overload("to_int_int", (INT,), INT, lambda x: x, lambda g, x: x),
     Overload("to_int_float", (FLOAT,), INT, _float_to_int_polars,
              lambda g, x: f"{g.ref(float_to_int, 'to_int')}({x})", may_be_null=True),
     Overload("to_int_string", (STRING,), INT, lambda x: x.cast(pl.Int64, strict=False),
              lambda g, x: f"{g.ref(parse_int, 'parse_int')}({x})", may_be_null=True),
     Overload("to_int_bool", (BOOL,), INT, lambda x: x.cast(pl.Int64), lambda g, x: f"int({x})")],
    [Example("to_int(x)", {"x": -2.9}, -2), Example("to_int(x)", {"x": 1e19}, None),
     Example("to_int(x)", {"x": " 12"}, None), Example("to_int(x)", {"x": "+12"}, 12),
     Example("to_int(x)", {"x": True}, 1), Example("to_int(x)", {"x": 7}, 7),
     Example("to_int(x)", {"x": "9223372036854775808"}, None)],
    category="convert",
)
register(
    "to_float",
    "Convert to float. From string: parses decimal or exponent notation and `inf` (strict "
    "ASCII, no spaces or `_`); `nan` and anything else is null. ints convert exactly or to the "
    "nearest float. From bool: 1.0 or 0.0.",
    ("x",),
    [Overload("to_float_float", (FLOAT,), FLOAT, lambda x: x, lambda g, x: x),
     Overload("to_float_string", (STRING,), FLOAT,
              lambda x: _pl.no_nan(x.cast(pl.Float64, strict=False)),
              lambda g, x: f"{g.ref(parse_float, 'parse_float')}({x})", may_be_null=True,
              row_nan=True),
     Overload("to_float_bool", (BOOL,), FLOAT, lambda x: x.cast(pl.Float64),
              lambda g, x: f"float({x})")],
    [Example("to_float(x)", {"x": "1.5e3"}, 1500.0), Example("to_float(x)", {"x": "nan"}, None),
     Example("to_float(x)", {"x": "1_000"}, None), Example("to_float(x)", {"x": 3}, 3.0),
     Example("to_float(x)", {"x": "-Infinity"}, float("-inf")),
     Example("to_float(x)", {"x": True}, 1.0), Example("to_float(x)", {"x": ".5"}, 0.5)],
    category="convert",
)
register(
    "to_string",
    "Convert to string. floats: shortest round-trip digits, exponent for >= 1e16 (`1e+16`) or "
    "< 1e-5 (`1e-7`); bools: `true`/`false`; ints: decimal.",
    ("x",),
    [Overload("to_string_string", (STRING,), STRING, lambda x: x, lambda g, x: x),
     Overload("to_string_int", (INT,), STRING, lambda x: x.cast(pl.String),
              lambda g, x: f"str({x})"),
     Overload("to_string_float", (FLOAT,), STRING, lambda x: x.cast(pl.String),
              lambda g, x: f"{g.ref(float_to_string, 'float_str')}({x})"),
     Overload("to_string_bool", (BOOL,), STRING,
              lambda x: pl.when(x).then(pl.lit("true")).otherwise(pl.lit("false")),
              lambda g, x: f"('true' if {x} else 'false')", polars_nulls=False)],
    [Example("to_string(x)", {"x": 1e-7}, "1e-7"), Example("to_string(x)", {"x": 1e-5},
                                                           "0.00001"),
     Example("to_string(x)", {"x": 1e16}, "1e+16"), Example("to_string(x)", {"x": 2.5}, "2.5"),
     Example("to_string(x)", {"x": False}, "false"), Example("to_string(x)", {"x": -7}, "-7"),
     Example("to_string(x)", {"x": "é"}, "é"), Example("to_string(x)", {"x": -0.0}, "-0.0")],
    category="convert",
)
