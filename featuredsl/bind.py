"""The bind pass: the one step that turns a checked program and its fitted statistics into
what the backends run.

``bind(program, stats)`` returns a :class:`~featuredsl.ir.BoundProgram` in which

* every statistic reference is a constant (:class:`~featuredsl.ir.Const` of the fitted value);
* every call names the overload to lower, specialized once for its constant arguments
  (``x / 2`` takes the never-null division; ``index_of(x, vocab)`` the table lookup) through
  :func:`~featuredsl.functions.registry.specialized`;
* every row-independent subtree is folded once into a constant, computed by the row
  backend's code (the reference semantics), so neither backend ever sees an expression that
  does not read an input: an ``if`` with a constant condition is the branch it takes, a
  ``??`` drops its null constants and stops at its first non-null one, and a null-propagating
  call with a constant ``null`` argument is ``null``;
* the named values (lets and features) the outputs need are computed once, in dependency
  order; a value that folded to a constant is inlined where it is used.

The backends take only bound IR and know nothing of fitting: after binding, a node that is
not a ``Const`` reads an input (the invariant both lowerings rely on). Fit binds the
arguments of each level of statistics with the statistics fitted so far (``exprs=``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from featuredsl import ir
from featuredsl.backends.row_backend import evaluate_constant
from featuredsl.errors import NotFittedError
from featuredsl.functions.grouped import LOOKUP, lookup_overload
from featuredsl.functions.registry import specialized
from featuredsl.types import BOOL, Type

# The bound IR lives in ir.py, so that backends depend on the IR alone.
BoundFeature = ir.BoundFeature
BoundProgram = ir.BoundProgram


def bind(program: ir.Program, stats: Mapping[str, object], *, exprs: Sequence[ir.Expr] = (),
         features: bool = True) -> ir.BoundProgram:
    """Bind ``program``'s outputs (unless ``features=False``) and ``exprs`` with ``stats``.

    Raises ``NotFittedError`` if an expression reads a statistic missing from ``stats``.
    """
    with ir.deep_recursion():
        b = _Binder(program, stats)
        # An output reads its named value (a let may be the same value); a constant one is
        # the constant itself.
        outs = [ir.BoundFeature(f.name, b.expr(ir.LetRef(f.expr.type, f.name)),
                                f.expr.type) for f in program.features] if features else []
        extra = [b.expr(e) for e in exprs]
        roots: Iterable[ir.Expr] = [*(f.expr for f in outs), *extra]
        order = ir.referenced_values(b.bound, program.order, roots)
        values = {n: b.bound[n] for n in order}
        windows: dict[tuple, ir.Window] = {}
        for root in [*values.values(), *roots]:
            for node in ir.walk(root):
                if isinstance(node, ir.Window):
                    windows.setdefault(node.key(), node)
        read = inputs_read(program, [*(ir.LetRef(f.expr.type, f.name) for f in program.features
                                       if features)], exprs)
        return ir.BoundProgram(read, values, order, outs, extra,
                               list(windows.values()), dict(program.sources), program.time)


def inputs_read(program: ir.Program, roots: Iterable[ir.Expr], exprs: Sequence[ir.Expr] = ()
                ) -> dict[str, Type]:
    """The inputs ``roots`` and ``exprs`` (checked, unbound expressions) read, directly or
    through named values, in declaration order: the row's time and the key inputs of their
    windows included, statistics' arguments not (a statistic is a constant by then).

    Decided on the checked program, not on the bound one, so that the inputs serving needs
    (``Spec.serving_inputs``) are a property of the spec text and never change with a refit
    (``if mean(x) > 0 then a else b`` needs both ``a`` and ``b``, whatever ``mean(x)`` is)."""
    roots = [*roots, *exprs]
    # a grouped statistic reads its keys on the row (through lets, and other grouped ones)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for name in ir.referenced_values(program.values, program.order, stack):
            stack.append(program.values[name])
        found = [n.name for r in stack for n in ir.walk(r)
                 if isinstance(n, ir.StatRef) and n.name not in seen
                 and n.name in program.stats and program.stats[n.name].expr.by]
        stack = []
        for name in found:
            if name not in seen:
                seen.add(name)
                stack.extend(program.stats[name].expr.by)
                roots.extend(program.stats[name].expr.by)
    names = ir.referenced_values(program.values, program.order, roots)
    used: set[str] = set()
    for root in [*(program.values[n] for n in names), *roots]:
        for node in ir.walk(root):
            if isinstance(node, ir.Input):
                used.add(node.name)
            elif isinstance(node, ir.Window):
                used.update(node.by)
                if program.time is not None:
                    used.add(program.time)
    return {n: t for n, t in program.inputs.items() if n in used}


def windows_read(program: ir.Program, statistics: bool = True) -> list[ir.Window]:
    """Every window aggregate of the checked ``program``: in its named values, and with
    ``statistics`` in the arguments of its statistics (what fitting computes; serving reads
    only the former). Decided on the spec text, so it needs no fitted values."""
    roots = [*program.values.values(),
             *(a for s in program.stats.values() for a in s.expr.args if statistics)]
    return [n for e in roots for n in ir.walk(e) if isinstance(n, ir.Window)]


def _frozen(value: object) -> object:
    """A folded value in the constant convention: lists as tuples (constants are never
    mutated, and tuples can be bound and compared by value)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


class _Binder:
    def __init__(self, program: ir.Program, stats: Mapping[str, object]) -> None:
        self.program = program
        self.stats = stats
        #: bound named values (a ``Const`` when the value is row-independent)
        self.bound: dict[str, ir.Expr] = {}

    def value(self, name: str) -> ir.Expr:
        got = self.bound.get(name)
        if got is None:
            # A chain of lets recurses one let at a time: bind dependencies in order first.
            for dep in ir.referenced_values(self.program.values, self.program.order,
                                            [self.program.values[name]]):
                if dep not in self.bound:
                    self.bound[dep] = self.expr(self.program.values[dep])
            got = self.bound[name] = self.expr(self.program.values[name])
        return got

    def expr(self, e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Const | ir.Input):
            return e
        if isinstance(e, ir.Window):  # a leaf of the row; its predicate is bound on its own
            if e.where is None:
                return e
            where: ir.Expr | None = self.expr(e.where)
            if isinstance(where, ir.Const) and where.value is True:
                where = None  # every event passes
            return ir.Window(e.type, e.function, e.source, e.field, e.over, where, e.by)
        if isinstance(e, ir.LetRef):
            v = self.value(e.name)
            return ir.Const(e.type, v.value) if isinstance(v, ir.Const) else e
        if isinstance(e, ir.StatRef):
            if e.name not in self.stats:
                raise NotFittedError([e.name])
            value = self.stats[e.name]
            stat = self.program.stats.get(e.name)
            if stat is not None and stat.expr.by:  # the row's group in the fitted table
                assert isinstance(value, ir.GroupTable)
                return self._call(_lookup_call(e.type, value, stat.expr.by))
            return ir.Const(e.type, value)
        if isinstance(e, ir.Call):
            return self._call(e)
        if isinstance(e, ir.Cast):
            a = self.expr(e.arg)
            return self._fold(ir.Cast(e.type, a)) if isinstance(a, ir.Const) else (
                e if a is e.arg else ir.Cast(e.type, a))
        if isinstance(e, ir.If):
            c = self.expr(e.cond)
            if isinstance(c, ir.Const):  # else when the condition is false or null
                taken = self.expr(e.then if c.value is True else e.otherwise)
                return ir.Const(e.type, taken.value) if isinstance(taken, ir.Const) else taken
            return ir.If(e.type, c, self.expr(e.then), self.expr(e.otherwise))
        if isinstance(e, ir.Logic):
            left, right = self.expr(e.left), self.expr(e.right)
            if isinstance(left, ir.Const) and isinstance(right, ir.Const):
                return self._fold(ir.Logic(e.type, e.op, left, right))
            return ir.Logic(e.type, e.op, left, right)
        if isinstance(e, ir.Coalesce):
            return self._coalesce(e)
        if isinstance(e, ir.IsNull):
            a = self.expr(e.arg)
            if isinstance(a, ir.Const):
                return ir.Const(BOOL, (a.value is None) != e.negated)
            return ir.IsNull(e.type, a, e.negated)
        raise TypeError(f"cannot bind {type(e).__name__}")  # pragma: no cover

    def _call(self, e: ir.Call) -> ir.Expr:
        args = tuple(self.expr(a) for a in e.args)
        ov = e.overload
        if e.function.null_policy == "propagate" and any(
                isinstance(a, ir.Const) and a.value is None and not ov.is_const(i)
                for i, a in enumerate(args)):
            return ir.Const(e.type, None)  # null on every row, whatever the other arguments
        ov = specialized(e.function, ov, [a.value if isinstance(a, ir.Const) else None
                                          for a in args])
        call = ir.Call(e.type, e.function, ov, args)
        return self._fold(call) if all(isinstance(a, ir.Const) for a in args) else call

    def _coalesce(self, e: ir.Coalesce) -> ir.Expr:
        kept: list[ir.Expr] = []
        for a in e.args:
            b = self.expr(a)
            if isinstance(b, ir.Const):
                if b.value is None:
                    continue  # a null constant never gives the value
                kept.append(b)
                break  # nothing after a non-null constant is ever read
            kept.append(b)
        if not kept:
            return ir.Const(e.type, None)
        if isinstance(kept[0], ir.Const):
            return ir.Const(e.type, kept[0].value)
        if len(kept) == 1:
            return kept[0]
        return ir.Coalesce(e.type, tuple(kept))

    @staticmethod
    def _fold(e: ir.Expr) -> ir.Const:
        """A row-independent expression (every leaf a constant) as a constant, computed by
        the row backend's code: the reference semantics, shared by both backends."""
        return ir.Const(e.type, _frozen(evaluate_constant(e)))


def _lookup_call(result: Type, table: ir.GroupTable, keys: tuple[ir.Expr, ...]) -> ir.Call:
    """The call a grouped statistic's reference becomes: the table (a constant) and its keys."""
    key_types = tuple(Type(k.type.kind) for k in keys)
    ov = lookup_overload(result.with_nullable(), key_types)
    return ir.Call(result.with_nullable(), LOOKUP, ov, (ir.Const(Type("any"), table), *keys))
