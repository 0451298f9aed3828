"""List functions: ``get``, and the list overloads of ``length`` and ``contains``.

A list value is a Polars ``List`` column in the batch backend and a Python list (or, for a
constant, a tuple) in the row backend. Semantics, identical in both:

* A **null list** makes every list function null (nulls propagate); an **empty list** is an
  ordinary value: ``length([])`` is 0, ``get([], 0)`` is null, ``contains([], x)`` is false.
* **Null elements** (a ``list[int?]`` input) are values of the list: ``length`` counts them
  and ``get`` returns them (null). They never *match* anything: ``contains([1, null], 2)`` is
  false, and ``contains(xs, null)`` is null like any call with a null argument. The same rule
  holds for ``x in xs``.
* ``get(xs, i)`` is 0-based; a negative ``i`` counts from the end (``-1`` is the last element,
  as in Python and as ``substring``'s negative start); an index outside ``-len .. len-1``
  (int64 extremes included) gives null, never an error.
* Float elements compare by IEEE equality (``-0.0`` matches ``0.0``); there is never a NaN to
  compare (a NaN inside an input list is null, SPEC 4.4).
* Lists of ints are promoted to lists of floats element-wise where a float list is needed.

Polars: ``list.len``, ``list.get(i, null_on_oob=True)``, ``list.contains(x, nulls_equal=False)``
(all vectorized). Row: ``len``, a bounds-checked index, ``x in xs``. ``contains``/``in`` on
lists cover int, float, string and bool elements.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import polars as pl

from featuredsl.functions.operators import IN_CONST, IN_KINDS, is_in_row
from featuredsl.functions.registry import Example, Overload, if_const_list, register
from featuredsl.types import BOOL, INT, NULL, Type, list_of

#: A list of any element type (the element kind is not constrained by the parameter).
ANY = Type("any")
ANY_LIST = list_of(ANY)
#: Element kinds that ``contains`` and ``in`` accept on list values.
MEMBER_KINDS = IN_KINDS

# ------------------------------------------------------------------------------ length

LENGTH_LIST = Overload("length_list", (ANY_LIST,), INT,
                       lambda xs: xs.list.len().cast(pl.Int64), lambda g, xs: f"len({xs})")
LENGTH_EXAMPLES = (
    Example("length(xs)", {"xs": ["a", None, "b"]}, 3, {"xs": "list[string?]"}),
    Example("length(xs)", {"xs": []}, 0, {"xs": "list[int]"}),
    Example("length(xs)", {"xs": None}, None, {"xs": "list[int]?"}),
)

# ------------------------------------------------------------------------------ contains


def _contains_polars(xs: pl.Expr, x: pl.Expr) -> pl.Expr:
    # nulls_equal=False: a null element never matches; a null x or list gives null
    return xs.list.contains(x, nulls_equal=False)


def _contains_row(g, xs: str, x: str) -> str:
    # x is never None here (null propagation), so a None element cannot match it
    return f"{x} in {xs}"


def _contains_const_row(g, values: tuple, x: str) -> str:
    return is_in_row(g, x, values)


def _contains_overloads(t: Type) -> tuple[Overload, ...]:
    """The list form, and a hidden one for a constant list (a literal or a fitted `vocab`):
    a frozenset bound once (row) and an `is_in` against constants (Polars), as `x in [..]`."""
    if t.kind not in IN_CONST:  # no constant lists of this kind can be written
        return (Overload(f"contains_list_{t.kind}", (list_of(t), t), BOOL, _contains_polars,
                         _contains_row),)
    const_id = f"contains_list_{t.kind}_const"
    in_const = IN_CONST[t.kind]
    return (
        Overload(f"contains_list_{t.kind}", (list_of(t), t), BOOL, _contains_polars,
                 _contains_row, specialize=if_const_list(0, const_id)),
        Overload(const_id, (list_of(t), t), BOOL, lambda values, x: in_const(x, values),
                 _contains_const_row, const=frozenset({0}), hidden=True),
    )


CONTAINS_LIST = tuple(ov for t in MEMBER_KINDS for ov in _contains_overloads(t))
CONTAINS_EXAMPLES = (
    Example("contains(xs, 2)", {"xs": [1, None, 2]}, True, {"xs": "list[int?]"}),
    Example("contains(xs, 3)", {"xs": [1, None]}, False, {"xs": "list[int?]"}),
    Example("contains(xs, x)", {"xs": [1, 2], "x": None}, None,
            {"xs": "list[int]", "x": "int?"}),
    Example("contains(xs, -0.0)", {"xs": [0.0, 1.5]}, True, {"xs": "list[float]"}),
    Example('contains(xs, "b")', {"xs": ["a", "b"]}, True, {"xs": "list[string]"}),
    Example("contains(xs, false)", {"xs": []}, False, {"xs": "list[bool]"}),
    Example("contains([1, 2], x)", {"x": 2}, True),
    Example("contains([0.0, 2.5], x)", {"x": -0.0}, True),
    Example('contains(["a"], x)', {"x": "A"}, False),
    Example("contains([true], x)", {"x": None}, None, {"x": "bool?"}),
    Example("contains(xs, x)", {"xs": ["2024-07-01T23:30:00-04:00"], "x": "2024-07-02T03:30:00Z"},
            True, {"xs": "list[timestamp]", "x": "timestamp"}),
    Example("contains(xs, x)", {"xs": [None], "x": "1970-01-01"}, False,
            {"xs": "list[date?]", "x": "date"}),
    Example("contains(xs, 90m)", {"xs": [_dt.timedelta(hours=1, minutes=30)]}, True,
            {"xs": "list[duration]"}),
    Example("contains([1h, 2h], x)", {"x": _dt.timedelta(hours=2)}, True),
)

# ------------------------------------------------------------------------------ get


def _get_result(args: Sequence[Type]) -> Type:
    xs = args[0]
    if xs.kind != "list" or xs.elem is None:
        return NULL  # get(null, i): no element type to infer
    return xs.elem.with_nullable(True)


#: Indices are clipped to +-2**62 first: Polars 2.1 panics on an index of -2**63 (it negates
#: it), and no list is long enough for the clipping to change which indices are in range.
_INDEX_BOUND = 2**62


def _get_polars(xs: pl.Expr, i: pl.Expr) -> pl.Expr:
    return xs.list.get(i.clip(-_INDEX_BOUND, _INDEX_BOUND), null_on_oob=True)


def _get_row(g, xs: str, i: str) -> str:
    return f"({xs}[{i}] if -len({xs}) <= {i} < len({xs}) else None)"


register(
    "get",
    "The element of list `xs` at 0-based index `i`; a negative `i` counts from the end (`-1` "
    "is the last element). Null when `i` is outside the list (any int64 is a valid argument), "
    "and null when that element is null.",
    ("xs", "i"),
    [Overload("get_list", (ANY_LIST, INT), _get_result, _get_polars, _get_row,
              may_be_null=True)],
    [Example("get(xs, 0)", {"xs": [10, 20, 30]}, 10, {"xs": "list[int]"}),
     Example("get(xs, -1)", {"xs": [10, 20, 30]}, 30, {"xs": "list[int]"}),
     Example("get(xs, 3)", {"xs": [10, 20, 30]}, None, {"xs": "list[int]"}),
     Example("get(xs, -4)", {"xs": [10, 20, 30]}, None, {"xs": "list[int]"}),
     Example("get(xs, i)", {"xs": ["a"], "i": -(2**63)}, None, {"xs": "list[string]"}),
     Example("get(xs, 1)", {"xs": [1.5, None]}, None, {"xs": "list[float?]"}),
     Example("get(xs, 0)", {"xs": None}, None, {"xs": "list[int]?"}),
     Example('get(["a", "b"], i)', {"i": 1}, "b")],
    category="list",
    null_doc="null if the list or the index is null, if the index is out of range, or if the "
             "element is null",
)
