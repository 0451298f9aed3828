"""The batch backend: lower the IR to Polars expressions.

Each feature becomes one Polars expression over the (widened) input columns. Equal
subexpressions are lowered once and shared. A lowering may use an argument more than once
(``pl.when(b != 0).then(a / b)``), so deeply nested IR would make an exponentially large
expression *tree* (Polars walks shared sub-expressions as trees): once an expression is more
than :data:`MAX_INLINE_LEVEL` operations deep, its arguments are materialized as temporary
columns in an earlier ``with_columns`` stage. Shallow features, the common case, stay single
fused expressions as a hand-written ``select`` would be.

Lists are Polars ``List`` columns; a constant list is a scalar list literal (broadcast to the
frame height like any literal), and ``list[int]`` promotes to ``list[float]`` by a cast.

Null propagation follows the registry's policy: most Polars kernels propagate nulls already;
overloads marked ``polars_nulls=False`` get an explicit null check on their nullable arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import polars as pl

from featuredsl import ir
from featuredsl.functions import _pl
from featuredsl.types import BOOL, Type


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
        us = cast(int, value)  # a duration constant holds µs
        return pl.lit(timedelta(microseconds=us), dtype=pl.Duration("us"))
    if t.kind == "list" and value is not None:
        # a scalar list literal: broadcast to any frame height (a one-row Series literal
        # would not be, so a constant list feature made a ShapeError)
        return pl.lit(_list_value(value, t), dtype=dtype_of(t))
    return pl.lit(value, dtype=dtype_of(t))


def _list_value(value: object, t: Type) -> object:
    """A constant list (tuples, durations in µs) as the Python value Polars reads it as."""
    if value is None:
        return None
    if t.kind == "list":
        assert t.elem is not None
        return [_list_value(v, t.elem) for v in cast(tuple, value)]  # a list constant
    if t.kind == "duration":
        return timedelta(microseconds=cast(int, value))  # µs
    return value


def _concrete(t: Type) -> bool:
    """Whether ``t`` names one Polars dtype (no ``any`` or ``null`` in it, lists included:
    ``x in (if c then null else null)`` needs a typed null list, not a Null column)."""
    if t.kind == "list":
        return t.elem is not None and _concrete(t.elem)
    return t.kind not in ("any", "null")


#: Operations a single expression may nest before its arguments become temporary columns.
MAX_INLINE_LEVEL = 4


@dataclass(frozen=True, slots=True)
class _Lowered:
    expr: pl.Expr
    level: int  # operations deep since the last column (0 for a column or a literal)
    stage: int  # how many with_columns stages must run before it can be evaluated


@dataclass(slots=True)
class BatchPlan:
    """``with_columns`` stages of temporary columns, then one expression per feature."""

    stages: list[list[pl.Expr]]
    features: list[pl.Expr]
    temporaries: list[str]
    anchor: str | None = None  # an input column: referencing it costs nothing

    def apply(self, lf: pl.LazyFrame, kept: list[pl.Expr]) -> pl.LazyFrame:
        """The features of ``lf`` (an input frame prepared by :mod:`featuredsl.data.inputs`): runs
        the temporary-column stages, then selects the ``kept`` columns and the features; the
        result has exactly as many rows as ``lf``.
        """
        for stage in self.stages:
            lf = lf.with_columns(stage)
        # Polars may simplify a row-dependent expression to a scalar (``when(true).then(0)``);
        # a select of scalars alone would return one row. A column of the frame keeps every
        # select as tall as the frame; it is dropped again. Without inputs, the frame's first
        # column (``prepare`` always gives one); a plain column keeps the plan streaming.
        anchor = (pl.col(self.anchor) if self.anchor is not None
                  else pl.first()).alias("__fd_anchor")
        return lf.select([*kept, *self.features, anchor]).drop("__fd_anchor")


def _is_column(e: ir.Expr) -> bool:
    """An input column, or one cast to float: never a scalar to Polars."""
    return isinstance(e, ir.Input | ir.Window) or (
        isinstance(e, ir.Cast) and isinstance(e.arg, ir.Input | ir.Window))


class PolarsLowering:
    """Lowers the expressions of one bound program (statistics are constants by now, and
    every expression that is not a ``Const`` reads an input: see :mod:`featuredsl.bind`)."""

    def __init__(self, program: ir.BoundProgram) -> None:
        self.program = program
        self._memo: dict[tuple, _Lowered] = {}
        self._stages: list[list[pl.Expr]] = []
        self._temps: list[str] = []

    def plan(self) -> BatchPlan:
        """Lower every feature, cast to its declared dtype; the result is ready to apply to a
        prepared LazyFrame."""
        self._lower_values()
        out = []
        for f in self.program.features:
            e = self.lower(f.expr).expr
            if f.type.kind != "null":
                e = e.cast(dtype_of(f.type))
            # A constant feature is a literal; BatchPlan.apply's anchor column keeps the
            # select as tall as the frame, so it needs no repeating here.
            out.append(e.alias(f.name))
        return BatchPlan(self._stages, out, self._temps, self._anchor())

    def lower_exprs(self) -> BatchPlan:
        """Lower the program's extra expressions (``fit`` lowers the arguments of statistics):
        the ``with_columns`` stages they need, then one unaliased expression each (a constant
        is a literal, which ``with_columns`` broadcasts)."""
        self._lower_values()
        out = [self.lower(e).expr for e in self.program.exprs]
        return BatchPlan(self._stages, out, self._temps, self._anchor())

    def _lower_values(self) -> None:
        # Named values first, in dependency order: a chain of lets then never recurses
        # through more than one let's expression at a time.
        for name in self.program.order:
            self.lower(ir.LetRef(self.program.values[name].type, name))

    def _anchor(self) -> str | None:
        return next(iter(self.program.inputs), None)

    # ------------------------------------------------------------------ lowering
    def expr(self, e: ir.Expr) -> pl.Expr:
        """The Polars expression computing ``e`` (see :meth:`lower`)."""
        return self.lower(e).expr

    def lower(self, e: ir.Expr) -> _Lowered:
        """``e`` lowered once per structural key (equal subexpressions share one lowering), with
        its nesting level and stage.
        """
        key = e.key()
        hit = self._memo.get(key)
        if hit is None:
            hit = self._lower(e)
            self._memo[key] = hit
        return hit

    def _zero(self) -> pl.Expr:
        """A float column of zeros that Polars cannot see as a scalar (built from an input)."""
        c = pl.col(next(iter(self.program.inputs)))
        return (c.is_null() & c.is_not_null()).cast(pl.Float64)

    def _materialize(self, low: _Lowered) -> _Lowered:
        if low.level == 0:
            return low
        name = f"__fd_t{len(self._temps)}"
        self._temps.append(name)
        while len(self._stages) <= low.stage:
            self._stages.append([])
        self._stages[low.stage].append(low.expr.alias(name))
        return _Lowered(pl.col(name), 0, low.stage + 1)

    def _operands(self, children: list[ir.Expr], want: list[Type | None]) -> list[_Lowered]:
        lows = [self._typed(c, w) for c, w in zip(children, want, strict=True)]
        if lows and 1 + max(lo.level for lo in lows) > MAX_INLINE_LEVEL:
            lows = [self._materialize(lo) for lo in lows]
            for c, lo in zip(children, lows, strict=True):
                self._memo[c.key()] = lo  # later uses read the column too
        return lows

    def _typed(self, e: ir.Expr, want: Type | None) -> _Lowered:
        """Lower ``e`` where a value of kind ``want`` is expected: a bare ``null`` literal (type
        ``null``) becomes a typed null, since Polars rejects a Null-dtype column as a ``when``
        condition and some kernels reject it as an argument."""
        if want is not None and e.type.kind == "null" and _concrete(want):
            return _Lowered(pl.lit(None, dtype=dtype_of(want.base)), 0, 0)
        return self.lower(e)

    @staticmethod
    def _join(expr: pl.Expr, parts: list[_Lowered]) -> _Lowered:
        return _Lowered(expr, 1 + max((p.level for p in parts), default=0),
                        max((p.stage for p in parts), default=0))

    def _lower(self, e: ir.Expr) -> _Lowered:
        # Row-independent expressions were folded into constants by bind (with the row
        # backend's code, the reference semantics): Polars' scalar kernels never see them.
        if isinstance(e, ir.Const):
            return _Lowered(literal(e.value, e.type), 0, 0)
        if isinstance(e, ir.Input):
            return _Lowered(pl.col(e.name), 0, 0)
        if isinstance(e, ir.Window):  # computed by featuredsl.windows.batch before the plan
            return _Lowered(pl.col(e.column), 0, 0)
        if isinstance(e, ir.LetRef):
            return self.lower(self.program.values[e.name])
        if isinstance(e, ir.Call):
            return self._call(e)
        if isinstance(e, ir.Cast):
            # int -> float, also element-wise for lists (List(Int64) -> List(Float64))
            (a,) = self._operands([e.arg], [None])
            return self._join(a.expr.cast(dtype_of(e.type)), [a])
        if isinstance(e, ir.If):
            parts = self._operands([e.cond, e.then, e.otherwise], [BOOL, e.type, e.type])
            c, t, o = (p.expr for p in parts)
            return self._join(pl.when(c).then(t).otherwise(o), parts)
        if isinstance(e, ir.Logic):
            parts = self._operands([e.left, e.right], [BOOL, BOOL])
            left, right = (p.expr for p in parts)
            return self._join(left & right if e.op == "and" else left | right, parts)
        if isinstance(e, ir.Coalesce):
            parts = self._operands(list(e.args), [e.type] * len(e.args))
            return self._join(pl.coalesce([p.expr for p in parts]), parts)
        if isinstance(e, ir.IsNull):
            (a,) = self._operands([e.arg], [None])
            return self._join(a.expr.is_not_null() if e.negated else a.expr.is_null(), [a])
        raise TypeError(f"cannot lower {type(e).__name__} to Polars")  # pragma: no cover

    def _call(self, e: ir.Call) -> _Lowered:
        ov = e.overload  # specialized by bind
        n = len(ov.params)
        dynamic = [i for i in range(len(e.args)) if not ov.is_const(i)]
        lows = self._operands([e.args[i] for i in dynamic],
                              [ov.params[min(i, n - 1)] for i in dynamic])
        args: list[object] = [None] * len(e.args)
        for i, a in enumerate(e.args):
            if ov.is_const(i):
                assert isinstance(a, ir.Const)
                args[i] = a.value
        nullable: list[pl.Expr] = []
        for i, low in zip(dynamic, lows, strict=True):
            a = e.args[i]
            args[i] = low.expr
            if a.type.nullable:
                nullable.append(low.expr)
            if not ov.per_row_scalars or a.type.kind != "float":
                continue
            if isinstance(a, ir.Const):
                if ov.per_row_scalars == "always" or a.value == 0.0:
                    value = cast("float | None", a.value)  # a float constant (kind checked)
                    args[i] = _pl.per_row_value(value, self._zero())
            elif ov.per_row_scalars == "always" and i > 0 and not _is_column(a):
                # A divisor or exponent Polars might still see as a scalar: make it a real
                # column. `y - zero` is exactly `y` for a column; were `y` a scalar, Polars
                # computes `-(zero - y)`, still `y` except 0.0 -> -0.0 (a zero divisor is null
                # either way, and x ** -0.0 == x ** 0.0).
                args[i] = low.expr - self._zero()
        out = ov.polars(*args)
        if nullable and not ov.polars_nulls and e.function.null_policy == "propagate":
            out = _pl.null_if_any_null(out, nullable)
        return self._join(out, lows)
