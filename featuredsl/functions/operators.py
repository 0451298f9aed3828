"""Operators as registry functions: arithmetic, comparison, ``not``, ``in``.

int arithmetic is exact int64 (a result outside int64 is null); float arithmetic is IEEE
float64, where a NaN result becomes null; ``/`` is true division; ``//`` and ``%`` follow
Python (floor, remainder with the divisor's sign); a zero divisor gives null (SPEC 4.5-4.8).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta as _td

import polars as pl

from featuredsl.functions import _pl
from featuredsl.functions import temporal_ops as _time
from featuredsl.functions.registry import Example, Overload, if_const_list, register
from featuredsl.types import BOOL, DATE, DURATION, FLOAT, INT, STRING, TIMESTAMP, Type, list_of

II, FF = (INT, INT), (FLOAT, FLOAT)


def _float_op(op: Callable[[pl.Expr, pl.Expr], pl.Expr]) -> Callable[..., pl.Expr]:
    return lambda a, b: _pl.no_nan(op(a, b))


def _arith(name: str, symbol: str, doc: str, op: Callable, int_op: Callable, py: str,
           examples: list[Example], time: Sequence[Overload] = ()) -> None:
    # `time`: the timestamp/date/duration overloads (functions/temporal_ops.py).
    register(
        name, doc, ("a", "b"),
        [
            Overload(f"{name}_int", II, INT, int_op, lambda g, a, b: f"{a} {py} {b}",
                     int_overflow=True, may_be_null=True),
            Overload(f"{name}_float", FF, FLOAT, _float_op(op), lambda g, a, b: f"{a} {py} {b}",
                     row_nan=True, may_be_null=True, per_row_scalars="zero",
                     specialize=_finite_operand(f"{name}_float_finite", nonzero=name == "mul")),
            # With a finite (for `*`: finite non-zero) constant operand the result cannot be
            # NaN (inf + c is inf), so it needs no NaN check and is never null.
            Overload(f"{name}_float_finite", FF, FLOAT, op, lambda g, a, b: f"{a} {py} {b}",
                     per_row_scalars="zero", hidden=True),
            *time,
        ],
        examples, kind="operator", symbol=symbol, category="operators",
    )


def _finite_operand(special: str, nonzero: bool) -> Callable[[Sequence[object]], str | None]:
    def choose(consts: Sequence[object]) -> str | None:
        for c in consts:
            if isinstance(c, float) and math.isfinite(c) and not (nonzero and c == 0.0):
                return special
        return None
    return choose


_arith("add", "+", "Addition. int overflow gives null; `inf + -inf` gives null. "
       "`timestamp + duration` and `date + duration` (whole days, floored) are null outside "
       "years 1..9999.", operator.add,
       _pl.add_int, "+", [Example("a + b", {"a": 2, "b": 3}, 5),
             Example("a + b", {"a": 2**63 - 1, "b": 1}, None),
             Example("a + b", {"a": float("inf"), "b": float("-inf")}, None),
             Example("a + 0.5", {"a": float("-inf")}, float("-inf")),
             Example("-0.0 + a", {"a": -0.0}, -0.0), *_time.ADD_EXAMPLES], _time.ADD)
_arith("sub", "-", "Subtraction. int overflow gives null. `timestamp - timestamp` and "
       "`date - date` give a duration.", operator.sub, _pl.sub_int, "-",
       [Example("a - b", {"a": 2, "b": 3.5}, -1.5),
        Example("a - b", {"a": -(2**63), "b": 1}, None),
        Example("a - 1.5", {"a": None}, None, {"a": "float?"}), *_time.SUB_EXAMPLES], _time.SUB)
_arith("mul", "*", "Multiplication. int overflow gives null; `0 * inf` gives null.",
       operator.mul, _pl.mul_int, "*",
       [Example("a * b", {"a": 50000, "b": 50000}, 2500000000),
        Example("a * b", {"a": 2**62, "b": 2}, None),
        Example("a * b", {"a": 0.0, "b": float("inf")}, None),
        Example("a * 2.5", {"a": float("inf")}, float("inf")),
        Example("a * 0.0", {"a": float("inf")}, None), *_time.MUL_EXAMPLES], _time.MUL)


def _div_polars(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    # one when/then for both nulls (zero divisor, NaN from inf / inf): ~1.7x faster than
    # no_nan around a when
    r = a / b
    return pl.when((b != 0) & r.is_not_nan()).then(r)


def _div_by_constant(consts: Sequence[object]) -> str | None:
    c = consts[1]
    finite = isinstance(c, float) and c != 0.0 and math.isfinite(c)
    return "div_float_by_constant" if finite else None


register(
    "div",
    "True division, always float (ints are promoted). `x / 0` is null; `inf / inf` is null.",
    ("a", "b"),
    [Overload("div_float", FF, FLOAT, _div_polars,
              lambda g, a, b: f"({a} / {b} if {b} else None)", row_nan=True, may_be_null=True,
              per_row_scalars="always", specialize=_div_by_constant),
     # x / c for a finite non-zero constant c: never null for a non-null x, no zero test.
     Overload("div_float_by_constant", FF, FLOAT, lambda a, b: a / b,
              lambda g, a, b: f"{a} / {b}", per_row_scalars="always", hidden=True)],
    [Example("a / b", {"a": 1, "b": 4}, 0.25), Example("a / b", {"a": 1.0, "b": 0.0}, None),
     Example("a / b", {"a": 1.0, "b": 3.0}, 1 / 3), Example("a / 10", {"a": 0.7}, 0.7 / 10),
     Example("a / -0.5", {"a": None}, None, {"a": "float?"})],
    kind="operator", symbol="/", category="operators",
)


def _floordiv_int(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    # i64::MIN // -1 overflows; Polars' floor division already gives null for a zero divisor.
    return pl.when((b != -1) | (a != _pl.INT64_MIN)).then(a // b)


def _floordiv_float(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return _pl.no_nan(pl.when(b != 0).then(_pl.py_float_binop("floor_divide", a, b)))


def _mod_int(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    # x % -1 is 0 (spelled out for i64::MIN), but still null when x is null.
    return (pl.when(b != -1).then(a % b)
            .when(a.is_not_null() & (b == -1)).then(pl.lit(0, pl.Int64)))


def _mod_float(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return _pl.no_nan(pl.when(b != 0).then(_pl.py_float_binop("remainder", a, b)))


def _int_by_constant(special: str) -> Callable[[Sequence[object]], str | None]:
    """``x // c`` and ``x % c`` for a constant ``c`` other than 0 and -1: no zero divisor and
    no int64 overflow (only ``min // -1`` overflows), so never null for a non-null ``x``."""
    def pick(consts: Sequence[object]) -> str | None:
        c = consts[1]
        ok = isinstance(c, int) and not isinstance(c, bool) and c not in (0, -1)
        return special if ok else None
    return pick


register(
    "floordiv",
    "Floor division (Python's `//`): rounds toward negative infinity. `x // 0` is null.",
    ("a", "b"),
    [Overload("floordiv_int", II, INT, _floordiv_int,
              lambda g, a, b: f"({a} // {b} if {b} else None)", int_overflow=True,
              may_be_null=True, specialize=_int_by_constant("floordiv_int_by_constant")),
     Overload("floordiv_int_by_constant", II, INT, lambda a, b: a // b,
              lambda g, a, b: f"{a} // {b}", hidden=True),
     Overload("floordiv_float", FF, FLOAT, _floordiv_float,
              lambda g, a, b: f"({a} // {b} if {b} else None)", row_nan=True,
              may_be_null=True, per_row_scalars="always")],
    [Example("a // b", {"a": -7, "b": 2}, -4), Example("a // b", {"a": 7, "b": 0}, None),
     Example("a // 100", {"a": -1}, -1), Example("a // -3", {"a": 2**63 - 1}, (2**63 - 1) // -3),
     Example("a // b", {"a": -7.5, "b": 2.0}, -4.0),
     Example("a // b", {"a": -(2**63), "b": -1}, None)],
    kind="operator", symbol="//", category="operators",
)
register(
    "mod",
    "Remainder with the sign of the divisor (Python's `%`). `x % 0` is null.",
    ("a", "b"),
    [Overload("mod_int", II, INT, _mod_int, lambda g, a, b: f"({a} % {b} if {b} else None)",
              may_be_null=True, specialize=_int_by_constant("mod_int_by_constant")),
     Overload("mod_int_by_constant", II, INT, lambda a, b: a % b,
              lambda g, a, b: f"{a} % {b}", hidden=True),
     Overload("mod_float", FF, FLOAT, _mod_float,
              lambda g, a, b: f"({a} % {b} if {b} else None)", row_nan=True, may_be_null=True,
              per_row_scalars="always")],
    [Example("a % b", {"a": -7, "b": 3}, 2), Example("a % b", {"a": 7, "b": -3}, -2),
     Example("a % b", {"a": 7, "b": 0}, None), Example("a % b", {"a": -7.5, "b": 2.0}, 0.5),
     Example("a % 100", {"a": -1}, 99), Example("a % -7", {"a": -(2**63)}, -(2**63) % -7)],
    kind="operator", symbol="%", category="operators",
)


def _neg_int(a: pl.Expr) -> pl.Expr:
    return pl.when(a != _pl.INT64_MIN).then(-a)


register(
    "neg", "Unary minus. `-(-9223372036854775808)` overflows and gives null.", ("a",),
    [Overload("neg_int", (INT,), INT, _neg_int, lambda g, a: f"-{a}", int_overflow=True,
              may_be_null=True),
     Overload("neg_float", (FLOAT,), FLOAT, lambda a: -a, lambda g, a: f"-{a}"),
     *_time.NEG],
    [Example("-a", {"a": 5}, -5), Example("-a", {"a": -(2**63)}, None),
     Example("-a", {"a": 0.0}, -0.0), Example("-a", {"a": float("-inf")}, float("inf")),
     *_time.NEG_EXAMPLES],
    kind="operator", symbol="-", category="operators",
)

# ------------------------------------------------------------------------------ comparisons

_ORDERED = (INT, FLOAT, STRING, BOOL, TIMESTAMP, DATE, DURATION)


_MIRRORED = {operator.eq: operator.eq, operator.ne: operator.ne, operator.lt: operator.gt,
             operator.le: operator.ge, operator.gt: operator.lt, operator.ge: operator.le}


def _compare_polars(op: Callable) -> Callable[[pl.Expr, pl.Expr], pl.Expr]:
    """``op(a, b)``, with a literal left operand moved to the right (``1 < x`` is ``x > 1``).

    Polars 2.1 gives a *one-row* result for ``lit < when(m).then(lit).otherwise(col)`` when the
    mask happens to be all true (the when/then then yields its literal): the feature column
    came out one row long, or raised ShapeError next to other features.
    """
    mirrored = _MIRRORED[op]

    def lower(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        if a.meta.is_literal() and not b.meta.is_literal():
            return mirrored(b, a)
        return op(a, b)
    return lower


def _compare(name: str, symbol: str, op: Callable, py: str) -> None:
    register(
        name,
        f"`a {symbol} b`. ints compared with floats are converted to float first; strings "
        "compare by code point.",
        ("a", "b"),
        [Overload(f"{name}_{t.kind}", (t, t), BOOL, _compare_polars(op),
                  lambda g, a, b, py=py: f"{a} {py} {b}") for t in _ORDERED],
        [Example(f"a {symbol} b", {"a": 1, "b": 2}, op(1, 2)),
         Example(f"a {symbol} b", {"a": 2.5, "b": 2}, op(2.5, 2)),
         Example(f"a {symbol} b", {"a": "b", "b": "ab"}, op("b", "ab")),
         Example(f"a {symbol} b", {"a": True, "b": False}, op(True, False)),
         Example(f"a {symbol} b", {"a": "2024-01-01T00:00:00Z", "b": "2023-12-31T23:00:00-02:00"},
                 op(0, 1), {"a": "timestamp", "b": "timestamp"}),
         Example(f"a {symbol} b", {"a": "2024-02-29", "b": "2024-02-29"}, op(0, 0),
                 {"a": "date", "b": "date"}),
         Example(f"a {symbol} b", {"a": _td(seconds=-1), "b": _td(0)}, op(-1, 0)),
         Example(f"a {symbol} b", {"a": None, "b": 1.0}, None, {"a": "float?"})],
        kind="operator", symbol=symbol, category="operators",
    )


_compare("eq", "==", operator.eq, "==")
_compare("ne", "!=", operator.ne, "!=")
_compare("lt", "<", operator.lt, "<")
_compare("le", "<=", operator.le, "<=")
_compare("gt", ">", operator.gt, ">")
_compare("ge", ">=", operator.ge, ">=")

register(
    "not", "Logical negation; `not null` is null.", ("a",),
    [Overload("not_bool", (BOOL,), BOOL, lambda a: ~a, lambda g, a: f"not {a}")],
    [Example("not a", {"a": True}, False),
     Example("not a", {"a": None}, None, {"a": "bool?"})],
    kind="operator", symbol="not", category="operators",
)


def is_in_row(g, a: str, values: tuple) -> str:
    """The row lowering of membership in a constant list: ``a in <frozenset>``, the set
    bound once per evaluator, with -0.0 and 0.0 one value (:func:`canon`). Shared by
    ``x in [..]`` and ``contains([..], x)`` (lists.py)."""
    return f"{a} in {g.ref(frozenset(canon(v) for v in values), 'set')}"


def _is_in_polars(a: pl.Expr, values: tuple) -> pl.Expr:
    return a.is_in(list(values)) if values else pl.when(a.is_not_null()).then(pl.lit(False))


def _is_in_durations(a: pl.Expr, values: tuple) -> pl.Expr:
    # constant durations are int microseconds in the IR (and in the row backend)
    return _is_in_polars(a, tuple(_td(microseconds=v) for v in values))


#: Element kinds of `in` / `contains` on lists (``lists.MEMBER_KINDS`` is this tuple).
IN_KINDS = (INT, FLOAT, STRING, BOOL, TIMESTAMP, DATE, DURATION)
#: Element kind -> Polars lowering of membership in a constant list (literal or fitted):
#: ``f(expr, values) -> pl.Expr``. Only these kinds have constant lists (timestamps and dates
#: have no literals nor vocabularies); ``in`` and ``contains`` bind a set for them.
IN_CONST = {"int": _is_in_polars, "float": _is_in_polars, "string": _is_in_polars,
             "bool": _is_in_polars, "duration": _is_in_durations}


def _is_in_overloads(t: Type) -> list[Overload]:
    """``x in xs`` for any list expression (a list input, a list-valued call), and a hidden
    overload for a constant list (literal or fitted), bound once as a frozenset in the row
    backend and an ``is_in`` against constant values in Polars. The semantics of the list form
    are those of ``contains(xs, x)`` (featuredsl/functions/lists.py): null elements never
    match, a null list gives null."""
    const_id = f"is_in_{t.kind}_const"
    dynamic = Overload(f"is_in_{t.kind}", (t, list_of(t)), BOOL,
                       lambda a, xs: xs.list.contains(a, nulls_equal=False),
                       lambda g, a, xs: f"{a} in {xs}",
                       specialize=if_const_list(1, const_id))
    if t.kind not in IN_CONST:
        return [replace(dynamic, specialize=None)]
    return [dynamic, Overload(const_id, (t, list_of(t)), BOOL, IN_CONST[t.kind], is_in_row,
                              const=frozenset({1}), hidden=True)]


def canon(v: object) -> object:
    """A constant as a lookup key: -0.0 and 0.0 are one value (``in``, ``contains``,
    ``index_of``, ``one_hot`` and ``multi_hot`` key their tables with it); others unchanged."""
    return 0.0 if isinstance(v, float) and v == 0.0 else v


register(
    "is_in",
    "`x in xs`: membership in a constant list, a fitted vocabulary, or any list-valued "
    "expression (a `list[T]` input). Null elements of the list never match.",
    ("x", "values"),
    [ov for t in IN_KINDS for ov in _is_in_overloads(t)],
    [Example('x in ["a", "b"]', {"x": "b"}, True), Example("x in [1, 2]", {"x": 3}, False),
     Example("x in xs", {"x": 2, "xs": [1, None, 2]}, True, {"xs": "list[int?]"}),
     Example("x in xs", {"x": 3, "xs": [1, None]}, False, {"xs": "list[int?]"}),
     Example("x in xs", {"x": 1, "xs": None}, None, {"xs": "list[int]?"}),
     Example("x in xs", {"x": -0.0, "xs": [0.0]}, True, {"xs": "list[float]"}),
     Example("x in xs", {"x": "é", "xs": ["e", "é"]}, True, {"xs": "list[string]"}),
     Example("x in xs", {"x": True, "xs": [False]}, False, {"xs": "list[bool]"}),
     Example("x in xs", {"x": "2024-01-01T00:00:00Z", "xs": ["2024-01-01T01:00:00+01:00"]},
             True, {"x": "timestamp", "xs": "list[timestamp]"}),
     Example("x in xs", {"x": "2024-02-29", "xs": ["2024-03-01", None]}, False,
             {"x": "date", "xs": "list[date?]"}),
     Example("x in xs", {"x": _td(hours=1), "xs": [_td(minutes=60)]}, True,
             {"xs": "list[duration]"}),
     Example("x in [1h, 2d]", {"x": _td(minutes=60)}, True),
     Example("x not in [1h, -1us]", {"x": _td(microseconds=-1)}, False),
     Example("x in [0.5, 0.0]", {"x": -0.0}, True), Example("x in [true]", {"x": False}, False),
     Example("x in [1, 2.5]", {"x": 1}, True),
     Example("x not in [1, 2]", {"x": 3}, True),
     Example("x in [1, 2]", {"x": None}, None, {"x": "int?"})],
    kind="operator", symbol="in", category="operators",
)
