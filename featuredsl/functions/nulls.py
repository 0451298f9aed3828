"""Null functions: ``is_null``, ``fill_null`` and ``nullif``.

``is_null(x)`` and ``fill_null(x, v)`` are *aliases* of the special forms ``x is null`` and
``x ?? v``: registry entries (so they are documented, typed and listed like every function)
of kind ``"special"``, which the checker lowers to the very same IR nodes as the operator
spellings (:class:`~featuredsl.ir.IsNull`, :class:`~featuredsl.ir.Coalesce`). Both backends
therefore treat ``fill_null(x, 0)`` and ``x ?? 0`` identically by construction; the overloads
below only describe the signatures (their lowerings are never called, as for aggregates).
``fill_null`` takes exactly two arguments (``coalesce`` takes any number); int and float
arguments unify to float as for ``??``.

``nullif(a, b)`` is null when ``a == b`` and ``a`` otherwise (SQL's ``NULLIF``). It is
null-aware in ``b``: ``nullif(a, null)`` is ``a`` (nothing equals null). A null ``a`` gives
null. Equality is the ``==`` operator's: ``-0.0`` equals ``0.0`` (so ``nullif(-0.0, 0.0)`` is
null), an int compared with a float is converted to float, strings compare by code point.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import NoReturn

import polars as pl

from featuredsl.functions.lists import ANY
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import (
    BOOL,
    DATE,
    DURATION,
    FLOAT,
    INT,
    NULL,
    STRING,
    TIMESTAMP,
    Type,
    unify,
)


def _checker_only(*args: object) -> NoReturn:
    raise AssertionError("is_null/fill_null are lowered by the checker to IR nodes")


def _fill_null_result(args: Sequence[Type]) -> Type:
    return unify(args[0], args[1]) or NULL


register(
    "is_null",
    "Whether `x` is null: the function spelling of `x is null` (the same IR node). Never null.",
    ("x",),
    [Overload("is_null_any", (ANY,), BOOL, _checker_only, _checker_only)],
    [Example("is_null(x)", {"x": None}, True, {"x": "int?"}),
     Example("is_null(x)", {"x": float("nan")}, True, {"x": "float?"}),
     Example("is_null(x)", {"x": ""}, False, {"x": "string?"}),
     Example("is_null(xs)", {"xs": []}, False, {"xs": "list[int]?"})],
    kind="special", category="null", null_policy="aware",
    null_doc="never null: true for a null argument",
)
register(
    "fill_null",
    "`x` if it is not null, else `v`: the function spelling of `x ?? v` (the same IR node). "
    "int and float unify to float.",
    ("x", "v"),
    [Overload("fill_null_any", (ANY, ANY), _fill_null_result, _checker_only, _checker_only)],
    [Example("fill_null(x, -1)", {"x": None}, -1, {"x": "int?"}),
     Example("fill_null(x, -1)", {"x": 7}, 7, {"x": "int?"}),
     Example("fill_null(x, 0)", {"x": float("nan")}, 0.0, {"x": "float?"}),
     Example('fill_null(x, "UNK")', {"x": ""}, "", {"x": "string?"}),
     Example("fill_null(x, y)", {"x": None, "y": None}, None, {"x": "int?", "y": "int?"})],
    kind="special", category="null", null_policy="aware",
    null_doc="null only if both arguments are null",
)

# ------------------------------------------------------------------------------ nullif


def _nullif_polars(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    # A literal on the left of a comparison is moved right (see operators._compare_polars:
    # Polars can shrink `lit != when/then` to one row).
    differ = (b != a) if a.meta.is_literal() and not b.meta.is_literal() else (a != b)
    return pl.when(b.is_null() | differ).then(a)


def _nullif_row(g, a: str, b: str) -> str:
    # `a == None` is False: a null `b` returns `a`; a null `a` returns None either way
    return f"(None if {a} == {b} else {a})"


register(
    "nullif",
    "Null when `a == b`, else `a` (SQL `NULLIF`): `nullif(amount, 0)`. `-0.0` equals `0.0`; "
    "`nullif(a, null)` is `a`.",
    ("a", "b"),
    [Overload(f"nullif_{t.kind}", (t, t), t.with_nullable(True), _nullif_polars, _nullif_row)
     for t in (INT, FLOAT, STRING, BOOL, TIMESTAMP, DATE, DURATION)],
    [Example("nullif(a, 0)", {"a": 0}, None), Example("nullif(a, 0)", {"a": 5}, 5),
     Example("nullif(a, 0.0)", {"a": -0.0}, None),
     Example("nullif(a, b)", {"a": 1.5, "b": None}, 1.5, {"b": "float?"}),
     Example("nullif(a, b)", {"a": None, "b": 2}, None, {"a": "int?"}),
     Example('nullif(a, "")', {"a": ""}, None), Example('nullif(a, "")', {"a": "x"}, "x"),
     Example("nullif(a, false)", {"a": True}, True),
     Example("nullif(a, b)", {"a": "2024-01-01T00:00:00Z", "b": "2024-01-01T01:00:00+01:00"},
             None, {"a": "timestamp", "b": "timestamp"}),
     Example("nullif(a, b)", {"a": "2024-02-29", "b": "2024-02-29"}, None,
             {"a": "date", "b": "date"}),
     Example("nullif(a, b)", {"a": _dt.timedelta(0), "b": None}, _dt.timedelta(0),
             {"b": "duration?"})],
    category="null", null_policy="aware",
    null_doc="null when `a` is null or equals `b`; a null `b` never equals `a`",
)
