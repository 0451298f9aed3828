"""The lookup a grouped statistic becomes once fitted: the row's group key in a constant table.

``bind`` turns a reference to ``mean(x, by=g)`` into a call of :data:`LOOKUP` with the
fitted :class:`~featuredsl.ir.GroupTable` (a constant) and the bound key expressions. It is
not a registry entry (users never write it). Both lowerings normalize a float key the way
fit does (NaN is null, ``-0.0`` is ``0.0``), and a null key gives null.

* row: one ``dict.get`` of the key (a tuple for several keys);
* Polars: ``replace_strict`` of the key into the values (streaming-native, no join); several
  keys are first coded, each by a ``replace_strict`` into its distinct values' positions, and
  the codes combined into one Int64 (mixed radix) looked up the same way.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from featuredsl import ir
from featuredsl.functions.registry import Function, Overload
from featuredsl.types import Type

_DTYPES = {"float": pl.Float64, "int": pl.Int64, "string": pl.String, "bool": pl.Boolean}
_TABLES: dict[int, tuple[ir.GroupTable, dict]] = {}


def _canon_float(x: float) -> float | None:
    """A float key as fit groups it: NaN is null, -0.0 is 0.0."""
    if x != x:
        return None
    return 0.0 if x == 0.0 else x


def _mapping(table: ir.GroupTable) -> dict:
    got = _TABLES.get(id(table))
    if got is None or got[0] is not table:
        single = all(len(k) == 1 for k in table.keys)
        got = (table, {(k[0] if single else k): v
                       for k, v in zip(table.keys, table.values, strict=True)})
        _TABLES[id(table)] = got
    return got[1]


def _key_expr(x: pl.Expr, kind: str) -> pl.Expr:
    if kind != "float":
        return x
    x = x.fill_nan(None)
    return pl.when(x == 0.0).then(pl.lit(0.0, pl.Float64)).otherwise(x)


def lookup_overload(result: Type, key_types: tuple[Type, ...]) -> Overload:
    """The lookup's overload for these key types (the table is argument 0, a constant)."""
    kinds = [t.kind for t in key_types]

    def row(g: Any, table: ir.GroupTable, *keys: str) -> str:
        m = g.ref(_mapping(table), "groups")
        parts = [f"{g.ref(_canon_float, 'fkey')}({k})" if kind == "float" else k
                 for k, kind in zip(keys, kinds, strict=True)]
        key = parts[0] if len(parts) == 1 else f"({', '.join(parts)},)"
        return f"{m}.get({key})"

    def polars(table: ir.GroupTable, *keys: pl.Expr) -> pl.Expr:
        dtype = _DTYPES[result.kind]
        values = pl.Series(list(table.values), dtype=dtype)
        cols = [_key_expr(k, kind) for k, kind in zip(keys, kinds, strict=True)]
        if len(cols) == 1:
            old = pl.Series([k[0] for k in table.keys], dtype=_DTYPES[kinds[0]])
            return cols[0].replace_strict(old, values, default=None, return_dtype=dtype)
        code: pl.Expr | None = None
        combined = [0] * len(table.keys)
        for i, (c, kind) in enumerate(zip(cols, kinds, strict=True)):
            distinct = sorted({k[i] for k in table.keys})  # type: ignore[type-var]
            pos = {v: j for j, v in enumerate(distinct)}
            radix = len(distinct)
            one = c.replace_strict(pl.Series(distinct, dtype=_DTYPES[kind]),
                                   pl.Series(range(radix), dtype=pl.Int64), default=None,
                                   return_dtype=pl.Int64)
            code = one if code is None else code * radix + one
            combined = [acc * radix + pos[k[i]] for acc, k in zip(combined, table.keys,
                                                                  strict=True)]
        assert code is not None
        return code.replace_strict(pl.Series(combined, dtype=pl.Int64), values, default=None,
                                   return_dtype=dtype)

    return Overload(f"group_lookup_{'_'.join(kinds)}", (Type("any"), *key_types), result,
                    polars, row, may_be_null=True, const=frozenset({0}))


def lookup_call(result: Type, table: ir.GroupTable, keys: tuple[ir.Expr, ...]) -> ir.Call:
    """The call a grouped statistic reference becomes (keys bound)."""
    key_types = tuple(Type(k.type.kind) for k in keys)
    ov = lookup_overload(result.with_nullable(), key_types)
    return ir.Call(result.with_nullable(), LOOKUP, ov, (ir.Const(Type("any"), table), *keys))


LOOKUP = Function("group_lookup", "A grouped statistic's fitted value for the row's group.",
                  ("table", "keys"), (), (), category="lookup",
                  null_doc="null for a null key, an unseen group or a group left out")
