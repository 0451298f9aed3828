"""Aggregates (analyzers): statistics fitted once on training data (SPEC section 5).

They are registry entries like every function, so the checker types them the same way; their
lowering is a Polars aggregation used by ``fit``. They never run per row: the row backend only
ever sees their frozen values. Fitting itself is built by the fit issue; until a spec is
fitted, ``transform`` and ``row_evaluator`` raise ``NotFittedError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import BOOL, FLOAT, INT, STRING, Type, list_of


def _no_row(g, *args: str) -> str:
    raise AssertionError("aggregates are fitted, never evaluated per row")


def _agg(name: str, doc: str, overloads: list[tuple[Type, Type]], polars_fn,
         params: Sequence[str] = ("x",), defaults: dict | None = None,
         const: frozenset[int] = frozenset()) -> None:
    register(
        name, doc, params,
        [Overload(f"{name}_{p.kind}", (p, *([INT] * (len(params) - 1))), r, polars_fn, _no_row,
                  const=const) for p, r in overloads],
        [], kind="aggregate", category="aggregate", defaults=defaults or {},
        null_policy="aware", null_doc="nulls in the data are skipped",
    )


_NUM = [(FLOAT, FLOAT.with_nullable())]
_agg("mean", "Mean of the non-null values (null if there are none).", _NUM, lambda x: x.mean())
_agg("std", "Population standard deviation (ddof=0) of the non-null values.", _NUM,
     lambda x: x.std(ddof=0))
_agg("var", "Population variance (ddof=0) of the non-null values.", _NUM,
     lambda x: x.var(ddof=0))
_agg("median", "Median of the non-null values.", _NUM, lambda x: x.median())
_agg("min", "Smallest non-null value.",
     [(INT, INT.with_nullable()), (FLOAT, FLOAT.with_nullable()),
      (STRING, STRING.with_nullable())], lambda x: x.min())
_agg("max", "Largest non-null value.",
     [(INT, INT.with_nullable()), (FLOAT, FLOAT.with_nullable()),
      (STRING, STRING.with_nullable())], lambda x: x.max())
_agg("count", "Number of non-null values.",
     [(Type("any"), INT)], lambda x: x.count().cast(pl.Int64))
_agg("share", "Grouped only, `share(by=g)`: the fraction of the training rows (with a non-null "
     "key) that are in the row's group; a frequency encoding.",
     [(Type("any"), FLOAT)], lambda x: x.count().cast(pl.Float64))
_agg("null_fraction", "Share of rows where the value is null (0 for no rows).",
     [(Type("any"), FLOAT)], lambda x: x.is_null().mean())
_agg("quantiles", "k-1 quantile edges of the non-null values (duplicates removed).",
     [(FLOAT, list_of(FLOAT))], lambda x, k: x, params=("x", "k"), defaults={"k": 10},
     const=frozenset({1}))
register(
    "vocab",
    "The most frequent values, most frequent first, ties by value ascending; at most `top`, "
    "each seen at least `min_count` times.",
    ("x", "top", "min_count"),
    [Overload(f"vocab_{t.kind}", (t, INT, INT), list_of(t), lambda x, top, mc: x, _no_row,
              const=frozenset({1, 2})) for t in (STRING, INT, BOOL)],
    [Example("index_of(c, vocab(c))", {}, None)][:0],
    kind="aggregate", category="aggregate", defaults={"top": 1000, "min_count": 1},
    null_policy="aware", null_doc="nulls in the data are skipped",
)
