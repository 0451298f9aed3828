"""Lookups against constant lists: bucketize and index_of.

The list is a literal or a fitted statistic (``quantiles``, ``vocab``), known when the backends
are built: the row backend binds a tuple or a dict once, the Polars backend a when/then chain or
a mapping. ``index_of`` also takes any list value (a ``list[T]`` input), with the rules of
``contains`` (lists.py): null elements never match, a null list gives null. Membership is
``x in xs`` / ``contains(xs, x)`` (operators.py, lists.py), a frozenset bound once for a
constant list.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from datetime import timedelta as _td

import polars as pl

from featuredsl.functions.operators import _canon
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import BOOL, DATE, DURATION, FLOAT, INT, STRING, TIMESTAMP, Type, list_of

#: Up to this many edges, bucketize is a when/then chain (fastest); above, a sorted search.
_CHAIN_MAX = 16


def _check_edges(consts: Sequence[object]) -> str | None:
    edges = consts[1]
    if not isinstance(edges, tuple):
        return None
    if any(b <= a for a, b in itertools.pairwise(edges)):  # type: ignore[operator]
        return "bucketize edges must be strictly increasing"
    return None


def _bucketize_polars(x: pl.Expr, edges: tuple) -> pl.Expr:
    if not edges:
        return pl.when(x.is_not_null()).then(pl.lit(0, pl.Int64))
    if len(edges) <= _CHAIN_MAX:
        chain = pl.when(x < edges[0]).then(pl.lit(0, pl.Int64))
        for i, e in enumerate(edges[1:], start=1):
            chain = chain.when(x < e).then(pl.lit(i, pl.Int64))
        return chain.when(x.is_not_null()).then(pl.lit(len(edges), pl.Int64))
    series = pl.Series(list(edges))
    # search_sorted maps null to 0: keep nulls null.
    return pl.when(x.is_not_null()).then(
        pl.lit(series).search_sorted(x, side="right").cast(pl.Int64))


def _bucketize_row(g, x: str, edges: tuple) -> str:
    return f"{g.ref(bisect.bisect_right, 'bisect_right')}({g.ref(edges, 'edges')}, {x})"


register(
    "bucketize",
    "The number of `edges` that are <= x: bucket 0 below the first edge, an edge belongs to the "
    "bucket above it. `edges` is a constant, strictly increasing list (or a fitted "
    "`quantiles`).",
    ("x", "edges"),
    [Overload(f"bucketize_{t.kind}", (t, list_of(t)), INT, _bucketize_polars, _bucketize_row,
              const=frozenset({1}), check_const=_check_edges) for t in (INT, FLOAT)],
    [Example("bucketize(x, [10, 50, 100])", {"x": 10}, 1),
     Example("bucketize(x, [10, 50, 100])", {"x": 9.99}, 0),
     Example("bucketize(x, [10, 50, 100])", {"x": 1e9}, 3),
     Example("bucketize(x, [10, 50, 100])", {"x": None}, None, {"x": "float?"})],
    category="lookup",
)


def _index_of_polars(x: pl.Expr, values: tuple) -> pl.Expr:
    # one vectorized replace_strict against the value -> position table (no join, no UDF)
    mapping = _index_map(values)
    if not mapping:
        return pl.lit(None, pl.Int64)
    keys = pl.Series(list(mapping.keys()))
    idx = pl.Series(list(mapping.values()), dtype=pl.Int64)
    return x.replace_strict(keys, idx, default=None, return_dtype=pl.Int64)


def _index_map(values: tuple) -> dict[object, int]:
    """Value -> position of its first occurrence (-0.0 and 0.0 are one value). The row
    backend binds this dict once per evaluator; a lookup is one ``dict.get``."""
    mapping: dict[object, int] = {}
    for i, v in enumerate(values):
        mapping.setdefault(_canon(v), i)
    return mapping


def _index_in_polars(x: pl.Expr, xs: pl.Expr) -> pl.Expr:
    """Position of the first element of each row's list equal to ``x`` (vectorized: ``x`` is
    prepended to its row's list, so that ``list.eval`` can compare every element with the
    first; ``list.eval`` cannot read another column). Null elements never match."""
    hits = pl.concat_list([x, xs]).list.eval(
        pl.element().slice(1).eq(pl.element().first()).fill_null(False))
    return pl.when(hits.list.any()).then(hits.list.arg_max().cast(pl.Int64))


def _index_in(xs: list | tuple, x: object) -> int | None:
    """Row form of ``index_of`` on a list value (``x`` is not None: nulls propagate)."""
    for i, v in enumerate(xs):
        if v == x and v is not None:
            return i
    return None


#: Element kinds of index_of; those in _CONST_KINDS bind a dict for a constant list.
_KINDS = (STRING, INT, FLOAT, BOOL, TIMESTAMP, DATE, DURATION)
_CONST_KINDS = ("string", "int", "float", "bool")


def _index_of_overloads(t: Type) -> list[Overload]:
    """Against any list expression, and (hidden, chosen by ``specialize`` for a literal or a
    fitted list) against a constant list: one ``dict.get`` per row, one ``replace_strict``
    per batch."""
    const_id = f"index_of_{t.kind}_const"
    dynamic = Overload(
        f"index_of_{t.kind}", (t, list_of(t)), INT, _index_in_polars,
        lambda g, x, xs: f"{g.ref(_index_in, 'index_in')}({xs}, {x})", may_be_null=True,
        specialize=(lambda consts, special=const_id: special
                    if isinstance(consts[1], tuple | list) else None)
        if t.kind in _CONST_KINDS else None)
    if t.kind not in _CONST_KINDS:
        return [dynamic]
    return [dynamic, Overload(
        const_id, (t, list_of(t)), INT, _index_of_polars,
        lambda g, x, values: f"{g.ref(_index_map(values), 'index')}.get({x})",
        const=frozenset({1}), may_be_null=True, hidden=True)]


register(
    "index_of",
    "The 0-based position of x in a list (its first occurrence), or null if absent: "
    "`index_of(c, vocab) ?? -1`. The list is a literal, a fitted vocabulary (a table bound "
    "once) or any list value such as a `list[T]` input; its null elements never match.",
    ("x", "values"),
    [ov for t in _KINDS for ov in _index_of_overloads(t)],
    [Example('index_of(c, ["a", "b", "c"])', {"c": "c"}, 2),
     Example('index_of(c, ["a", "b"])', {"c": "z"}, None),
     Example('index_of(c, ["a", "b"]) ?? -1', {"c": "z"}, -1),
     Example("index_of(c, [5, 7, 5])", {"c": 5}, 0),
     Example("index_of(c, [0.5, 0.0])", {"c": -0.0}, 1),
     Example("index_of(c, [true, false])", {"c": False}, 1),
     Example("index_of(c, xs)", {"c": "b", "xs": [None, "b", "b"]}, 1,
             {"xs": "list[string?]"}),
     Example("index_of(c, xs)", {"c": 3, "xs": [1, None]}, None, {"xs": "list[int?]"}),
     Example("index_of(c, xs)", {"c": 1, "xs": None}, None, {"xs": "list[int]?"}),
     Example("index_of(c, xs)", {"c": 0.0, "xs": [1.5, -0.0]}, 1, {"xs": "list[float]"}),
     Example("index_of(c, xs)", {"c": True, "xs": [False, True]}, 1, {"xs": "list[bool]"}),
     Example("index_of(c, xs)", {"c": "2024-01-01T00:00:00Z", "xs": ["2024-01-01T00:00:00Z"]},
             0, {"c": "timestamp", "xs": "list[timestamp]"}),
     Example("index_of(c, xs)", {"c": "2024-01-01", "xs": []}, None,
             {"c": "date", "xs": "list[date]"}),
     Example("index_of(c, [1h, 60m])", {"c": _td(hours=1)}, 0)],
    category="lookup",
    null_doc="null if x or the list is null, or if x is not in the list",
)
