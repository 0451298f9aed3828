"""Conversions: to_int, to_float, to_string.

One accepted syntax for parsing, the same in both backends (it is Polars' own, which is strict
ASCII; a fuzz test over 200,000 strings checks the row side's regexes against it): no
surrounding whitespace (``" 1.5"`` is null: trim first), no ``_`` (``"1_000"``), no non-ASCII
digits (``"١"``, ``"１"``), no hex (``"0x10"``), no empty string.

* int: ``[+-]?[0-9]+`` within int64 (``"+3"`` is 3, ``"007"`` is 7, ``"1.0"``, ``"1e5"`` and
  ``"9223372036854775808"`` are null).
* float: ``[+-]?`` then digits with an optional ``.`` (``"1."``, ``".5"``), an optional exponent
  (``"1E+05"``), or ``inf``/``infinity`` in any case; correctly rounded, overflow to +-inf
  (``"1e400"``). ``"nan"`` parses to NaN, which is null (SPEC 4.4).

Anything else is null. ``to_string`` formats, one per type:

* float: the shortest digits that round-trip, with exponent notation for exponents >= 16
  (``1e+16``, ``1.2345678901234568e+17``) or < -5 (``1e-7``, ``5e-324``: no zero padding), plain
  digits in between (``0.00001``, ``1000000000000000.0``); ``-0.0``, ``inf``, ``-inf``. (Polars'
  cast; Python's ``repr`` differs only in the exponent's padding and the ``e-05`` range.)
* bool: ``"true"``/``"false"``; int: decimal.
* timestamp: ISO 8601 in UTC, ``YYYY-MM-DDTHH:MM:SSZ``, with ``.ffffff`` (always six digits)
  before the ``Z`` only when the microseconds are not zero (``"0999-03-04T00:00:00.000001Z"``).
* date: ``YYYY-MM-DD``.
* duration: featuredsl's own duration literal: a ``-`` for negative ones, then the non-zero
  parts among ``d h m s ms us`` (days of 24 hours) with no spaces (``"1d12h250ms"``,
  ``"-1us"``); zero is ``"0s"``.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import BOOL, DATE, DURATION, FLOAT, INT, STRING, TIMESTAMP

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


#: Duration parts, largest first: (suffix, microseconds).
_DURATION_UNITS = (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000),
                   ("s", 1_000_000), ("ms", 1_000), ("us", 1))


def duration_to_string(us: int) -> str:
    """A duration (int microseconds) as featuredsl's duration literal (see the module doc)."""
    if us == 0:
        return "0s"
    rest = -us if us < 0 else us
    out = ["-"] if us < 0 else []
    for suffix, size in _DURATION_UNITS:
        n, rest = divmod(rest, size)
        if n:
            out.append(f"{n}{suffix}")
    return "".join(out)


def _duration_to_string_polars(x: pl.Expr) -> pl.Expr:
    d = x.to_physical()
    # |d| as UInt64, also for int64's minimum (whose negation overflows int64)
    # (non-strict casts: when/then computes both branches on every row)
    mag = pl.when(d < 0).then((-(d + 1)).cast(pl.UInt64, strict=False) + 1).otherwise(
        d.cast(pl.UInt64, strict=False))
    parts = [pl.when(d < 0).then(pl.lit("-"))]
    for i, (suffix, size) in enumerate(_DURATION_UNITS):
        n = mag // size if i == 0 else mag % _DURATION_UNITS[i - 1][1] // size
        parts.append(pl.when(n != 0).then(n.cast(pl.String) + suffix))
    text = pl.concat_str(parts, ignore_nulls=True)
    return pl.when(d == 0).then(pl.lit("0s")).when(d.is_not_null()).then(text)


def _timestamp_to_string_polars(t: pl.Expr) -> pl.Expr:
    whole = t.to_physical() % 1_000_000 == 0  # floors like Python: pre-1970 instants too
    return (pl.when(whole).then(t.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
            .otherwise(t.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")))


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
    null_doc="null if `x` is null, a string does not parse, or the value is outside int64",
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
    null_doc="null if `x` is null or a string does not parse (`\"nan\"` included)",
)
register(
    "to_string",
    "Convert to string, one format per type. floats: shortest round-trip digits, exponent for "
    ">= 1e16 (`1e+16`) or < 1e-5 (`1e-7`, not `1e-07`), `inf`, `-0.0`; bools: `true`/`false`; "
    "ints: decimal; timestamps: ISO 8601 UTC `2024-01-07T23:59:59Z`, with `.ffffff` (six "
    "digits) only when there are microseconds; dates: `2024-01-07`; durations: the duration "
    "literal (`1d12h250ms`, `-1us`, `0s`).",
    ("x",),
    [Overload("to_string_string", (STRING,), STRING, lambda x: x, lambda g, x: x),
     Overload("to_string_int", (INT,), STRING, lambda x: x.cast(pl.String),
              lambda g, x: f"str({x})"),
     Overload("to_string_float", (FLOAT,), STRING, lambda x: x.cast(pl.String),
              lambda g, x: f"{g.ref(float_to_string, 'float_str')}({x})"),
     Overload("to_string_bool", (BOOL,), STRING,
              lambda x: pl.when(x).then(pl.lit("true")).otherwise(pl.lit("false")),
              lambda g, x: f"('true' if {x} else 'false')", polars_nulls=False),
     Overload("to_string_timestamp", (TIMESTAMP,), STRING, _timestamp_to_string_polars,
              lambda g, x: f"({x}.isoformat() + 'Z')", polars_nulls=False),
     Overload("to_string_date", (DATE,), STRING, lambda x: x.cast(pl.String),
              lambda g, x: f"{x}.isoformat()"),
     Overload("to_string_duration", (DURATION,), STRING, _duration_to_string_polars,
              lambda g, x: f"{g.ref(duration_to_string, 'duration_str')}({x})",
              polars_nulls=False)],
    [Example("to_string(x)", {"x": 1e-7}, "1e-7"), Example("to_string(x)", {"x": 1e-5},
                                                           "0.00001"),
     Example("to_string(x)", {"x": 1e16}, "1e+16"), Example("to_string(x)", {"x": 2.5}, "2.5"),
     Example("to_string(x)", {"x": False}, "false"), Example("to_string(x)", {"x": -7}, "-7"),
     Example("to_string(x)", {"x": "é"}, "é"), Example("to_string(x)", {"x": -0.0}, "-0.0"),
     Example("to_string(t)", {"t": "0999-03-04T00:00:00.000001Z"},
             "0999-03-04T00:00:00.000001Z", {"t": "timestamp"}),
     Example("to_string(t)", {"t": "1969-12-31T23:59:59Z"}, "1969-12-31T23:59:59Z",
             {"t": "timestamp"}),
     Example("to_string(d)", {"d": "0001-01-01"}, "0001-01-01", {"d": "date"}),
     Example("to_string(1d12h250ms)", {}, "1d12h250ms"),
     Example("to_string(x)", {"x": dt.timedelta(microseconds=-1)}, "-1us"),
     Example("to_string(x)", {"x": dt.timedelta(0)}, "0s")],
    category="convert",
)
