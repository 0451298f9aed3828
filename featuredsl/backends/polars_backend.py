"""The batch backend: lower the IR to Polars expressions.

Each feature becomes one Polars expression; ``let`` values are inlined and shared by Polars'
common-subexpression elimination, so they are computed once. Null propagation follows the
registry's policy: most Polars kernels propagate nulls already; overloads marked
``polars_nulls=False`` get an explicit null check on their nullable arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import polars as pl

from featuredsl import ir
from featuredsl.backends.row_backend import evaluate_constant
from featuredsl.functions import _pl
from featuredsl.types import Type


def dtype_of(t: Type) -> pl.DataType:
    """The Polars dtype that holds values of a featuredsl type."""
    k = t.kind
    if k == "list":
        assert t.elem is not None
        return pl.List(dtype_of(t.elem))
    return {
        "int": pl.Int64(), "float": pl.Float64(), "string": pl.String(), "bool": pl.Boolean(),
        "timestamp": pl.Datetime("us", "UTC"), "date": pl.Date(), "duration": pl.Duration("us"),
        "null": pl.Null(),
    }[k]


def literal(value: object, t: Type) -> pl.Expr:
    """A typed Polars literal."""
    if t.kind == "duration" and value is not None:
        return pl.lit(timedelta(microseconds=value), dtype=pl.Duration("us"))  # type: ignore
    if t.kind == "list" and value is not None:
        return pl.lit(pl.Series([list(value)], dtype=dtype_of(t)))  # type: ignore[arg-type]
    return pl.lit(value, dtype=dtype_of(t))


class PolarsLowering:
    """Lowers the expressions of one program, with fitted statistics as constants."""

    def __init__(self, program: ir.Program, stats: Mapping[str, object]) -> None:
        self.program = program
        self.stats = stats
        self._values: dict[str, pl.Expr] = {}
        self._row_dependent: dict[int, bool] = {}

    def depends_on_row(self, e: ir.Expr) -> bool:
        """Whether ``e`` reads an input (directly or through a let)."""
        hit = self._row_dependent.get(id(e))
        if hit is None:
            if isinstance(e, ir.Input):
                hit = True
            elif isinstance(e, ir.LetRef):
                hit = self.depends_on_row(self.program.values[e.name])
            else:
                hit = any(self.depends_on_row(c) for c in e.children())
            self._row_dependent[id(e)] = hit
        return hit

    def feature_exprs(self) -> list[pl.Expr]:
        return [self.expr(f.expr).alias(f.name) for f in self.program.features]

    def const_value(self, e: ir.Expr) -> object:
        if isinstance(e, ir.Const):
            return e.value
        assert isinstance(e, ir.StatRef)
        return self.stats[e.name]

    def expr(self, e: ir.Expr) -> pl.Expr:
        if not isinstance(e, ir.Const | ir.StatRef) and not self.depends_on_row(e):
            # A row-independent expression is folded by the row backend's code (the reference
            # semantics) into one literal: Polars' scalar kernels never see it.
            return literal(evaluate_constant(self.program, self.stats, e), e.type)
        if isinstance(e, ir.Const):
            return literal(e.value, e.type)
        if isinstance(e, ir.Input):
            return pl.col(e.name)
        if isinstance(e, ir.LetRef):
            if e.name not in self._values:
                self._values[e.name] = self.expr(self.program.values[e.name])
            return self._values[e.name]
        if isinstance(e, ir.StatRef):
            return literal(self.stats[e.name], e.type)
        if isinstance(e, ir.Call):
            return self._call(e)
        if isinstance(e, ir.Cast):
            return self.expr(e.arg).cast(pl.Float64)
        if isinstance(e, ir.If):
            return (pl.when(self.expr(e.cond)).then(self.expr(e.then))
                    .otherwise(self.expr(e.otherwise)))
        if isinstance(e, ir.Logic):
            left, right = self.expr(e.left), self.expr(e.right)
            return left & right if e.op == "and" else left | right
        if isinstance(e, ir.Coalesce):
            return pl.coalesce([self.expr(a) for a in e.args])
        if isinstance(e, ir.IsNull):
            inner = self.expr(e.arg)
            return inner.is_not_null() if e.negated else inner.is_null()
        raise TypeError(f"cannot lower {type(e).__name__} to Polars")  # pragma: no cover

    def _call(self, e: ir.Call) -> pl.Expr:
        ov = e.overload
        args: list[object] = []
        nullable: list[pl.Expr] = []
        anchor: pl.Expr | None = None
        scalars: list[int] = []
        for i, a in enumerate(e.args):
            if min(i, len(ov.params) - 1) in ov.const:
                args.append(self.const_value(a))
                continue
            lowered = self.expr(a)
            args.append(lowered)
            if a.type.nullable:
                nullable.append(lowered)
            if ov.per_row_scalars:
                if self.depends_on_row(a):
                    anchor = lowered if anchor is None else anchor
                elif a.type.kind == "float":
                    scalars.append(i)
        if anchor is not None:
            for i in scalars:
                args[i] = _pl.per_row(args[i], anchor)  # type: ignore[arg-type]
        out = ov.polars(*args)
        if nullable and not ov.polars_nulls and e.function.null_policy == "propagate":
            out = _pl.null_if_any_null(out, nullable)
        return out
