"""The lookup a grouped statistic becomes once fitted: the row's group key in a constant table.

``bind`` turns a reference to ``mean(x, by=g)`` into a call of :data:`LOOKUP` with the
fitted :class:`~featuredsl.ir.GroupTable` (a constant) and the bound key expressions
(built in ``bind``). It is not a registry entry (users never write it). Both lowerings
normalize a float key the way fit does (NaN is null, ``-0.0`` is ``0.0``), and a null key
gives null.

* row: one ``dict.get`` of the key (a tuple for several keys);
* Polars: ``replace_strict`` of the key into the values (streaming-native, no join); several
  keys are first coded, each by a ``replace_strict`` into its distinct values' positions, and
  the codes combined into one Int64 (mixed radix, re-coded densely before it could
  overflow) looked up the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import polars as pl

from featuredsl.functions.registry import Function, Overload
from featuredsl.types import Type

_DTYPES = {"float": pl.Float64, "int": pl.Int64, "string": pl.String, "bool": pl.Boolean}
#: a combined multi-key code stays below this; past it the prefix is re-coded densely first
_CODE_LIMIT = 1 << 62


class Table(Protocol):
    """What the lookup reads of a fitted group table (``ir.GroupTable``; the registry does
    not import the IR)."""

    @property
    def keys(self) -> Sequence[tuple[Any, ...]]:
        """One tuple per group, an element per ``by`` key."""

    @property
    def values(self) -> Sequence[Any]:
        """The fitted value of each group, in the order of ``keys``."""


def _canon_float(x: float) -> float | None:
    """A float key as fit groups it: NaN is null, -0.0 is 0.0."""
    if x != x:
        return None
    return 0.0 if x == 0.0 else x


def _mapping(table: Table) -> dict:
    """Key (a scalar for one key, else the tuple) -> value; built once per compile."""
    single = all(len(k) == 1 for k in table.keys)
    return {(k[0] if single else k): v for k, v in zip(table.keys, table.values, strict=True)}


def _key_expr(x: pl.Expr, kind: str) -> pl.Expr:
    if kind != "float":
        return x
    x = x.fill_nan(None)
    return pl.when(x == 0.0).then(pl.lit(0.0, pl.Float64)).otherwise(x)


def _densify(code: pl.Expr, combined: list[int]) -> tuple[pl.Expr, list[int], int]:
    """Re-code the prefix codes the table holds as 0..n-1 (others null: no group matches)."""
    dense = sorted(set(combined))
    pos = {v: j for j, v in enumerate(dense)}
    recoded = code.replace_strict(pl.Series(dense, dtype=pl.Int64),
                                  pl.Series(range(len(dense)), dtype=pl.Int64), default=None,
                                  return_dtype=pl.Int64)
    return recoded, [pos[v] for v in combined], len(dense)


def lookup_overload(result: Type, key_types: tuple[Type, ...]) -> Overload:
    """The lookup's overload for these key types (the table is argument 0, a constant)."""
    kinds = [t.kind for t in key_types]

    def row(g: Any, table: Table, *keys: str) -> str:
        m = g.ref(_mapping(table), "groups")
        parts = [f"{g.ref(_canon_float, 'fkey')}({k})" if kind == "float" else k
                 for k, kind in zip(keys, kinds, strict=True)]
        key = parts[0] if len(parts) == 1 else f"({', '.join(parts)},)"
        return f"{m}.get({key})"

    def polars(table: Table, *keys: pl.Expr) -> pl.Expr:
        dtype = _DTYPES[result.kind]
        values = pl.Series(list(table.values), dtype=dtype)
        cols = [_key_expr(k, kind) for k, kind in zip(keys, kinds, strict=True)]
        if len(cols) == 1:
            old = pl.Series([k[0] for k in table.keys], dtype=_DTYPES[kinds[0]])
            return cols[0].replace_strict(old, values, default=None, return_dtype=dtype)
        # Mixed radix: the prefix code times the next key's radix plus its position. When
        # the product could pass Int64, the prefix is first re-coded densely over the
        # prefixes the table holds (at most len(table) of them), so the code never wraps.
        code: pl.Expr | None = None
        combined = [0] * len(table.keys)
        bound = 1
        for i, (c, kind) in enumerate(zip(cols, kinds, strict=True)):
            distinct = sorted({k[i] for k in table.keys})
            pos = {v: j for j, v in enumerate(distinct)}
            radix = len(distinct)
            one = c.replace_strict(pl.Series(distinct, dtype=_DTYPES[kind]),
                                   pl.Series(range(radix), dtype=pl.Int64), default=None,
                                   return_dtype=pl.Int64)
            if code is not None and bound * radix >= _CODE_LIMIT:
                code, combined, bound = _densify(code, combined)
            code = one if code is None else code * radix + one
            combined = [acc * radix + pos[k[i]] for acc, k in zip(combined, table.keys,
                                                                  strict=True)]
            bound *= radix
        assert code is not None
        return code.replace_strict(pl.Series(combined, dtype=pl.Int64), values, default=None,
                                   return_dtype=dtype)

    return Overload(f"group_lookup_{'_'.join(kinds)}", (Type("any"), *key_types), result,
                    polars, row, may_be_null=True, const=frozenset({0}))


LOOKUP = Function("group_lookup", "A grouped statistic's fitted value for the row's group.",
                  ("table", "keys"), (), (), category="lookup",
                  null_doc="null for a null key, an unseen group or a group left out")
