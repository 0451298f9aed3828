"""The checker: names, types, nullability, overload choice and the dependency graph.

It turns a parsed :class:`~featuredsl.syntax.ast.Module` into the typed IR
(:class:`~featuredsl.ir.Program`), collecting *every* diagnostic instead of stopping at the
first. An expression that fails to check becomes ``None`` and poisons only its parents, so one
mistake gives one error, not a cascade.
"""

from __future__ import annotations

import re
from typing import cast

from featuredsl import ir
from featuredsl.checker import grouped, windows
from featuredsl.checker.graph import find_cycle, topological_order
from featuredsl.errors import Diagnostic, Span, did_you_mean, source_lines
from featuredsl.functions.registry import (
    Function,
    Overload,
    all_functions,
    lookup,
    specialized,
)
from featuredsl.functions.windowed import WINDOW_FUNCTIONS
from featuredsl.syntax import ast
from featuredsl.types import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    NULL,
    SCALAR_KINDS,
    STRING,
    Type,
    accepts,
    list_of,
    unify,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_OPERATORS = {
    "+": "add", "-": "sub", "*": "mul", "/": "div", "//": "floordiv", "%": "mod",
    "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge",
}
_TYPE_HINTS = {
    "integer": "int", "int64": "int", "long": "int", "double": "float", "float64": "float",
    "str": "string", "text": "string", "boolean": "bool", "datetime": "timestamp",
    "time": "timestamp", "timedelta": "duration", "array": "list[T]",
}


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Checker:
    """Type-checks one parsed module into an :class:`ir.Program`, collecting diagnostics.

    Built from the module, its source text (to quote spans) and the file name; :meth:`run`
    checks it once. Errors never raise: they go to ``diags`` and the offending value is left
    out of the program. The window half lives in :mod:`featuredsl.checker.windows`.
    """

    def __init__(self, module: ast.Module, source: str, file: str) -> None:
        self.module = module
        self.source_lines = source_lines(source)
        self.file = file
        self.diags: list[Diagnostic] = []
        self.program = ir.Program()
        self.decls: dict[str, ast.Decl] = {}
        self.types: dict[str, Type] = {}  # checked type of every named value and stat
        self.used: set[str] = set()
        self._inline: dict[str, str] = {}  # structural key of an inline aggregate -> stat name
        #: The checked type of every AST expression node that checked, by ``id``: the lints
        #: (``lints.py``) need types at source positions.
        self.node_types: dict[int, Type] = {}

    # ----------------------------------------------------------------------------- helpers
    def error(self, code: str, msg: str, span: Span, hint: str | None = None) -> None:
        """Record a diagnostic ``code`` at ``span`` (``hint``: the suggested fix)."""
        self.diags.append(Diagnostic.at(code, msg, span, hint, self.file))

    def text(self, span: Span) -> str:
        """The source text under ``span`` (several lines joined by newlines)."""
        lines = self.source_lines[span.line - 1 : span.end_line]
        if not lines:
            return ""
        if len(lines) == 1:
            return lines[0][span.column - 1 : span.end_column - 1]
        lines[0] = lines[0][span.column - 1 :]
        lines[-1] = lines[-1][: span.end_column - 1]
        return "\n".join(lines)

    def resolve_type(self, t: ast.TypeExpr) -> Type | None:
        """The :class:`Type` a written type names, or ``None`` after an E105 for an unknown type
        or a ``list`` without an element type.
        """
        if t.name == "list":
            if t.elem is None:
                self.error("E105", "`list` needs an element type", t.span, "write `list[string]`")
                return None
            elem = self.resolve_type(t.elem)
            return None if elem is None else list_of(elem, t.nullable)
        if t.name in SCALAR_KINDS and t.elem is None:
            return Type(t.name, t.nullable)
        hint = (f"did you mean `{_TYPE_HINTS[t.name]}`?" if t.name in _TYPE_HINTS
                else did_you_mean(t.name, [*SCALAR_KINDS, "list"]))
        self.error("E105", f"unknown type `{t.name}`", t.span,
                   hint or "types are " + ", ".join(SCALAR_KINDS) + ", list[T]")
        return None

    # ----------------------------------------------------------------------------- program
    def run(self) -> ir.Program:
        """Check the whole module: inputs, declarations in dependency order (an E104 for each
        cycle), unused-value warnings, features; returns the (possibly partial) program.
        """
        self._check_inputs()
        self._collect_decls()
        deps = {name: self._refs(d.expr) for name, d in self.decls.items()}
        for d in self.module.decls:  # a name written anywhere counts as used
            self.used |= self._refs(d.expr, all_names=True)
        while (cycle := find_cycle(deps)) is not None:
            d = self.decls[cycle[0]]
            self.error("E104", "dependency cycle: " + " -> ".join(f"`{n}`" for n in cycle),
                       d.name_span, "a value cannot depend on itself; break the cycle")
            for name in cycle:  # report each cycle once; check everything else
                deps.pop(name, None)
                self.used.add(name)
        for name in topological_order(deps):
            self._check_decl(self.decls[name])
        self._warn_unused()
        self.program.features = [
            ir.Feature(d.name, self.program.values[d.name], d.doc)
            for d in self.module.decls
            if d.kind == "feature" and d.name in self.program.values
            and self.decls.get(d.name) is d
        ]
        if not any(d.kind == "feature" for d in self.module.decls) and not any(
                d.severity == "error" for d in self.diags):
            self.error("E106", "the spec declares no features", Span(1, 1, 1, 1),
                       "add one: feature name = expression")
        return self.program

    def _check_inputs(self) -> None:
        blocks = self.module.inputs
        if not blocks:
            self.error("E101", "the spec has no `input { ... }` block", Span(1, 1, 1, 1),
                       "declare the raw row: input { amount: float? }")
            return
        for extra in blocks[1:]:
            self.error("E102", "only one `input` block is allowed", extra.span,
                       f"merge it into the block at line {blocks[0].span.line}")
        seen: dict[str, ast.InputField] = {}
        for f in blocks[0].fields:
            if f.name in seen:
                self.error("E103", f"input `{f.name}` is declared twice", f.span,
                           f"first declared at line {seen[f.name].span.line}")
                continue
            seen[f.name] = f
            t = self.resolve_type(f.type)
            if t is not None:
                self.program.inputs[f.name] = t
                self.types[f.name] = t
        self._input_fields = seen
        windows.check_time_clause(self, blocks[0])

    def _collect_decls(self) -> None:
        inputs = getattr(self, "_input_fields", {})
        for d in self.module.decls:
            first = self.decls.get(d.name)
            if first is not None or d.name in inputs:
                where = first.name_span.line if first else inputs[d.name].span.line
                self.error("E103", f"`{d.name}` is already declared", d.name_span,
                           f"first declared at line {where}; names are shared by inputs, "
                           "stats, lets and features")
                continue
            self.decls[d.name] = d
        windows.check_sources(self, {*inputs, *self.decls})

    def _refs(self, node: ast.Node, all_names: bool = False) -> set[str]:
        """Names of declarations (or, with ``all_names``, any names) an expression refers to."""
        out: set[str] = set()
        stack: list[ast.Node] = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Ref):
                if all_names or n.name in self.decls:
                    out.add(n.name)
            else:
                stack.extend(n.children())
        return out

    def _check_decl(self, d: ast.Decl) -> None:
        if d.kind == "stat":
            node = d.expr
            fn = lookup(node.name) if isinstance(node, ast.Call) else None
            if not isinstance(node, ast.Call) or fn is None or fn.kind != "aggregate":
                aggs = ", ".join(f.name for f in all_functions() if f.kind == "aggregate")
                self.error("E209", f"`stat {d.name}` must be an aggregate", node.span,
                           f"aggregates are {aggs}; use `let` for a row-level value")
                return
            agg = self._aggregate(node, fn)
            if agg is not None:
                self.program.stats[d.name] = ir.Stat(d.name, agg, _ws(self.text(node.span)),
                                                     d.doc)
                self.types[d.name] = agg.type
            return
        e = self.expr(d.expr)
        if e is None:
            return
        if d.type is not None:
            declared = self.resolve_type(d.type)
            if declared is None:
                return
            e = self._conform(e, declared, d)
            if e is None:
                return
        elif e.type.kind == "null" or (e.type.kind == "list" and e.type.elem
                                        and e.type.elem.kind == "null"):
            self.error("E205", f"cannot infer the type of `{d.name}`", d.expr.span,
                       f"annotate it: {d.kind} {d.name}: int? = ..." if d.kind == "feature"
                       else "give the value a type, e.g. with a typed literal")
            return
        self.program.values[d.name] = e
        self.program.order.append(d.name)
        self.types[d.name] = e.type

    def _conform(self, e: ir.Expr, declared: Type, d: ast.Decl) -> ir.Expr | None:
        assert d.type is not None
        if e.type.kind == "null":
            return ir.Const(declared.with_nullable(True), None)
        fit = accepts(declared, e.type)
        if fit is None:
            self.error("E206", f"`{d.name}` is declared `{declared}` but its value is "
                       f"`{e.type}`", d.type.span)
            return None
        if e.type.nullable and not declared.nullable:
            self.error("E206", f"`{d.name}` is declared `{declared}` but may be null",
                       d.type.span,
                       f"declare `{declared}?`, or give a default with `?? value`")
            return None
        if fit == "promote":
            e = _promote(e)
        return e

    def _warn_unused(self) -> None:
        for name, f in getattr(self, "_input_fields", {}).items():
            if name not in self.used:
                self.error("W001", f"input `{name}` is never used", f.span,
                           "remove it, or use it in a feature")
        for name, d in self.decls.items():
            checked = name in self.program.values or name in self.program.stats
            if d.kind in ("let", "stat") and name not in self.used and checked:
                code = "W002" if d.kind == "let" else "W003"
                self.error(code, f"{d.kind} `{name}` is never used", d.name_span)

    # ----------------------------------------------------------------------------- expressions
    def expr(self, node: ast.Node) -> ir.Expr | None:
        """Check one expression node: its typed IR, or ``None`` after reporting why it does not
        check. The type of every node that checks is recorded in ``node_types``.
        """
        method = getattr(self, "_" + type(node).__name__)
        result = method(node)
        if result is not None:
            self.node_types[id(node)] = result.type
        return result

    def _Literal(self, n: ast.Literal) -> ir.Expr | None:
        if n.kind == "int":
            if not INT64_MIN <= cast(int, n.value) <= INT64_MAX:  # an int literal's value
                self.error("E004", "integer literal is out of the int64 range", n.span,
                           "write it as a float, e.g. 1e19")
                return None
            return ir.Const(INT, n.value)
        return ir.Const({"float": FLOAT, "string": STRING, "bool": BOOL, "null": NULL,
                         "duration": DURATION}[n.kind], n.value)

    def _ListLit(self, n: ast.ListLit) -> ir.Expr | None:
        items = [self.expr(i) for i in n.items]
        if any(i is None for i in items):
            return None
        elem: Type = NULL
        consts: list[ir.Const] = []
        for node, item in zip(n.items, items, strict=True):
            assert item is not None
            if not isinstance(item, ir.Const):
                self.error("E207", "list elements must be constants", node.span,
                           "lists are written with literal values, e.g. [1, 2, 3]")
                return None
            if item.value is None:
                self.error("E208", "a list cannot contain `null`", node.span)
                return None
            u = unify(elem, item.type)
            if u is None:
                self.error("E205", f"list mixes `{elem.with_nullable(False)}` and "
                           f"`{item.type}`", node.span)
                return None
            elem = u
            consts.append(item)
        # float elements may be written as ints
        values = tuple(float(cast("int | float", i.value)) if elem.kind == "float" else i.value
                       for i in consts)
        return ir.Const(list_of(elem.with_nullable(False)), values)

    def _Ref(self, n: ast.Ref) -> ir.Expr | None:
        self.used.add(n.name)
        if n.name in self.program.inputs:
            return ir.Input(self.program.inputs[n.name], n.name)
        if n.name in self.program.stats:
            return ir.StatRef(self.types[n.name], n.name)
        if n.name in self.types:
            return ir.LetRef(self.types[n.name], n.name)
        if n.name in self.decls or n.name in getattr(self, "_input_fields", {}):
            return None  # declared but failed to check: already reported
        if any(d.name == n.name for d in self.module.sources):
            self.error("E306", f"`{n.name}` is an event source: it has no value on the row",
                       n.span, f"aggregate it over a window, e.g. count({n.name}, over=7d)")
            return None
        fn = lookup(n.name)
        hint = (f"`{n.name}` is a function: call it, e.g. {n.name}(x)" if fn
                else did_you_mean(n.name, [*self.decls, *self.program.inputs]))
        self.error("E201", f"unknown name `{n.name}`", n.span, hint)
        return None

    def _Unary(self, n: ast.Unary) -> ir.Expr | None:
        arg = self.expr(n.operand)
        return None if arg is None else self.call_fn(lookup(n.op), [arg], [n.operand], n.span)

    def _Binary(self, n: ast.Binary) -> ir.Expr | None:
        left, right = self.expr(n.left), self.expr(n.right)
        if left is None or right is None:
            return None
        if n.op in ("and", "or"):
            for side, node in ((left, n.left), (right, n.right)):
                if side.type.kind not in ("bool", "null"):
                    self.error("E205", f"`{n.op}` needs bool operands, got `{side.type}`",
                               node.span, "compare it first, e.g. `x > 0`")
                    return None
            nullable = left.type.nullable or right.type.nullable
            return ir.Logic(BOOL.with_nullable(nullable), n.op, left, right)
        if n.op == "??":
            return self._coalesce([left, right], [n.left, n.right], n.span)
        return self.call_fn(lookup(_OPERATORS[n.op]), [left, right], [n.left, n.right],
                            n.op_span, symbol=n.op)

    def _In(self, n: ast.In) -> ir.Expr | None:
        arg, coll = self.expr(n.operand), self.expr(n.collection)
        if arg is None or coll is None:
            return None
        res = self.call_fn(lookup("is_in"), [arg, coll], [n.operand, n.collection], n.span,
                           symbol="in")
        if res is None or not n.negated:
            return res
        return self.call_fn(lookup("not"), [res], [n], n.span)

    def _IsNull(self, n: ast.IsNull) -> ir.Expr | None:
        arg = self.expr(n.operand)
        return None if arg is None else ir.IsNull(BOOL, arg, n.negated)

    def _cond(self, node: ast.Node) -> ir.Expr | None:
        c = self.expr(node)
        if c is not None and c.type.kind not in ("bool", "null"):
            self.error("E205", f"a condition must be bool, got `{c.type}`", node.span,
                       "compare it, e.g. `x > 0` or `x is not null`")
            return None
        return c

    def _branches(self, a: ir.Expr, b: ir.Expr,
                  span: Span) -> tuple[Type, ir.Expr, ir.Expr] | None:
        t = unify(a.type, b.type)
        if t is None:
            self.error("E205", f"branches have different types: `{a.type}` and `{b.type}`",
                       span, "both branches must have the same type (int and float mix)")
            return None
        return t, _coerce(a, t), _coerce(b, t)

    def _If(self, n: ast.If) -> ir.Expr | None:
        c, a, b = self._cond(n.cond), self.expr(n.then), self.expr(n.otherwise)
        if c is None or a is None or b is None:
            return None
        br = self._branches(a, b, n.span)
        if br is None:
            return None
        t, then, otherwise = br
        return ir.If(t, c, then, otherwise)

    def _Case(self, n: ast.Case) -> ir.Expr | None:
        checked = [(self._cond(c), self.expr(v)) for c, v in n.whens]
        otherwise = self.expr(n.otherwise) if n.otherwise is not None else ir.Const(NULL, None)
        whens = [(c, v) for c, v in checked if c is not None and v is not None]
        if otherwise is None or len(whens) != len(checked):
            return None
        t: Type | None = otherwise.type
        for _, v in whens:
            t = unify(t, v.type) if t is not None else None
        if t is None:
            kinds = ", ".join(sorted({str(v.type) for _, v in whens} | {str(otherwise.type)}))
            self.error("E205", f"`case` branches have different types: {kinds}", n.span)
            return None
        result = _coerce(otherwise, t)
        for c, v in reversed(whens):
            result = ir.If(t, c, _coerce(v, t), result)
        return result

    def _coalesce(self, args: list[ir.Expr], nodes: list[ast.Node], span: Span) -> ir.Expr | None:
        t: Type | None = args[0].type
        for a in args[1:]:
            t = unify(t, a.type) if t is not None else None
        if t is None:
            kinds = ", ".join(f"`{a.type}`" for a in args)
            self.error("E205", f"`??` / coalesce arguments have different types: {kinds}", span)
            return None
        nullable = all(a.type.nullable for a in args)
        t = t.with_nullable(nullable)
        return ir.Coalesce(t, tuple(_coerce(a, t) for a in args))

    def _FieldRef(self, n: ast.FieldRef) -> ir.Expr | None:
        return windows.field_ref(self, n)

    def _Call(self, n: ast.Call) -> ir.Expr | None:
        if windows.is_window_call(self, n):
            return windows.window_call(self, n)
        fn = lookup(n.name)
        if fn is None:
            if n.name == "coalesce":
                got = [self.expr(a) for a in n.args]
                present = [a for a in got if a is not None]
                if len(present) != len(got) or not got:
                    return None
                return self._coalesce(present, list(n.args), n.span)
            names = [f.name for f in all_functions() if f.kind != "operator"]
            self.error("E202", f"unknown function `{n.name}`", n.name_span,
                       _unknown_function_hint(n.name, [*names, "coalesce", *WINDOW_FUNCTIONS]))
            for a in n.args:
                self.expr(a)
            return None
        if fn.kind == "operator":
            self.error("E202", f"`{n.name}` is an operator: write `{fn.symbol}`", n.name_span)
            return None
        if fn.kind == "aggregate":
            return self._inline_aggregate(n, fn)
        if fn.kind == "special":
            return self._special(n, fn)
        bound = self._bind(n, fn)
        if bound is None:
            return None
        args, nodes, written = bound
        return self.call_fn(fn, args, nodes, n.span, written=written)

    def _special(self, n: ast.Call, fn: Function) -> ir.Expr | None:
        """A registry alias of a special form (featuredsl/functions/nulls.py): the same IR
        node as its operator spelling, `is_null(x)` as `x is null`, `fill_null(x, v)` as
        `x ?? v`."""
        bound = self._bind(n, fn)
        if bound is None:
            return None
        args, nodes, _ = bound
        if fn.name == "is_null":
            return ir.IsNull(BOOL, args[0], False)
        return self._coalesce(args, nodes, n.span)

    def _bind(self, n: ast.Call, fn: Function) -> tuple[list[ir.Expr], list[ast.Node],
                                                           list[str | None]] | None:
        """Match positional and keyword arguments to parameters; fill in defaults.

        Returns the arguments, the node each came from, and how the user wrote each one
        (``""`` positionally, the parameter name as a keyword, ``None`` for a default), so a
        message can show the call as written.
        """
        variadic = any(o.variadic for o in fn.overloads)
        slots: dict[str, ast.Node] = {}
        extra: list[ast.Node] = []
        for i, a in enumerate(n.args):
            if i < len(fn.params):
                slots[fn.params[i]] = a
            elif variadic:
                extra.append(a)
            else:
                self.error("E204", f"`{fn.name}` takes at most {len(fn.params)} argument"
                           f"{'s' if len(fn.params) != 1 else ''}", a.span,
                           _signatures(fn))
                return None
        for k in n.kwargs:
            if k.name not in fn.params:
                self.error("E204", f"`{fn.name}` has no parameter `{k.name}`", k.span,
                           did_you_mean(k.name, fn.params) or _signatures(fn))
                return None
            if k.name in slots:
                self.error("E204", f"argument `{k.name}` given twice", k.span)
                return None
            slots[k.name] = k.value
        args: list[ir.Expr | None] = []
        nodes: list[ast.Node] = []
        written: list[str | None] = []
        keywords = {k.name for k in n.kwargs}
        for p in fn.params:
            if p in slots:
                args.append(self.expr(slots[p]))
                nodes.append(slots[p])
                written.append(p if p in keywords else "")
            elif p in fn.defaults:
                args.append(_const_of(fn.defaults[p]))
                nodes.append(n)
                written.append(None)
            else:
                self.error("E204", f"`{fn.name}` is missing argument `{p}`", n.span,
                           _signatures(fn))
                return None
        for a in extra:
            args.append(self.expr(a))
            nodes.append(a)
            written.append("")
        present = [a for a in args if a is not None]
        if len(present) != len(args):
            return None
        return present, nodes, written

    def call_fn(self, fn: Function | None, args: list[ir.Expr], nodes: list[ast.Node],
                span: Span, symbol: str | None = None,
                written: list[str | None] | None = None) -> ir.Expr | None:
        """Resolve and type a call of ``fn`` (a function or an operator spelt ``symbol``).

        ``written`` says how each argument was written (see :meth:`_bind`); without it every
        argument was written positionally (operators).
        """
        assert fn is not None
        choice = _resolve(fn, [a.type for a in args])
        if choice is None:
            how: list[str | None] = written if written is not None else [""] * len(args)
            if symbol:
                types = ", ".join(str(a.type) for a in args)
                hint = _signatures(fn)
                kinds = [a.type.kind for a in args]
                if len(args) == 2 and "string" in kinds and {"timestamp", "date"} & set(kinds):
                    i = kinds.index("string")  # `ts > "2013-01-01"`: the text is to be parsed
                    hint = (_parse_advice(symbol, {kinds[1 - i]}, self.text(nodes[i].span),
                                          isinstance(args[i], ir.Const)) + "; " + hint)
                self.error("E203", f"no `{symbol}` for `{types}`", span, hint)
                return None
            # the arguments the user wrote, not the defaults filled in for the others
            types = ", ".join(f"{w}: {a.type}" if w else str(a.type)
                              for a, w in zip(args, how, strict=True) if w is not None)
            advice = self._no_overload_advice(fn, args, nodes, how)
            hint = _signatures(fn) if advice is None else f"{advice}; {_signatures(fn)}"
            self.error("E203", f"no overload of `{fn.name}` takes ({types})", span, hint)
            return None
        ov = choice
        final: list[ir.Expr] = []
        for i, (a, node) in enumerate(zip(args, nodes, strict=True)):
            p = ov.params[min(i, len(ov.params) - 1)]
            if accepts(p, a.type) == "promote":
                a = _promote(a, const_param=ov.is_const(i))
            if ov.is_const(i) and not isinstance(
                a, ir.Const | ir.StatRef
            ):
                self.error("E207", f"argument {i + 1} of `{symbol or fn.name}` must be a "
                           "constant", node.span, "write a literal here, or a fitted `stat`")
                return None
            if isinstance(a, ir.Const) and ov.is_const(i) \
                    and a.value is None:
                self.error("E208", f"argument {i + 1} of `{symbol or fn.name}` cannot be null",
                           node.span)
                return None
            final.append(a)
        consts = [a.value if isinstance(a, ir.Const) else None for a in final]
        if ov.check_const is not None:
            problem = ov.check_const(consts)
            if problem is not None:
                self.error("E208", *_const_problem(problem, ov, final, nodes, span))
                return None
        ov = specialized(fn, ov, consts)
        base = [a.type.base for a in final]
        result = ov.result_type(base)
        if fn.null_policy == "propagate":
            nullable = ov.may_be_null or any(a.type.nullable for a in final)
            result = result.with_nullable(nullable or result.nullable)
        return ir.Call(result, fn, ov, tuple(final))

    def _no_overload_advice(self, fn: Function, args: list[ir.Expr], nodes: list[ast.Node],
                            written: list[str | None]) -> str | None:
        """What to write instead of a call no overload takes, when it is clear.

        A string given to a calendar function (parse it with `parse_date`/`parse_timestamp`,
        or declare the input `date` or `timestamp`); a date given where only a timestamp fits;
        one row-level argument that a lossless conversion (`to_float`, `to_string`) would make
        fit exactly.
        """
        types = [a.type for a in args]
        shown = [ov for ov in fn.overloads if not ov.hidden]
        for i, (t, w) in enumerate(zip(types, written, strict=True)):
            if w is None or fn.category != "time":
                continue
            takes = {ov.params[min(i, len(ov.params) - 1)].kind for ov in shown}
            if t.kind == "string" and takes & {"timestamp", "date"}:
                return _parse_advice(fn.name, takes, self.text(nodes[i].span),
                                     isinstance(args[i], ir.Const))
            if t.kind == "date" and "timestamp" in takes and "date" not in takes:
                if fn.name == "date":
                    return "the argument is a date already: use it as it is"
                return f"`{fn.name}` takes a timestamp, not a date (a date has no time of day)"
        for i, (t, w) in enumerate(zip(types, written, strict=True)):
            if w is None or t.kind in ("null", "any") or isinstance(args[i], ir.Const):
                continue  # a literal is rewritten, not converted
            for conv in ("to_float", "to_string"):
                cfn = lookup(conv)
                cov = None if cfn is None or cfn is fn else _resolve(cfn, [t])
                if cfn is None or cov is None:
                    continue
                converted = cov.result_type([t.base]).with_nullable(t.nullable)
                if converted.kind == t.kind:
                    continue
                ov = _resolve(fn, [*types[:i], converted, *types[i + 1:]])
                if ov is None or i in ov.const or any(
                    accepts(ov.params[min(j, len(ov.params) - 1)], u) != "exact"
                    for j, u in enumerate(types) if j != i
                ):
                    continue
                arg = _ws(self.text(nodes[i].span))
                call = f"`{conv}({arg})`" if len(arg) <= 40 else f"`{conv}(...)`"
                return f"convert argument {i + 1} first: {call}"
        return None

    # ----------------------------------------------------------------------------- aggregates
    def _aggregate(self, n: ast.Call, fn: Function) -> ir.Aggregate | None:
        split = grouped.split_grouped(self, n, fn.name)
        if split is None:
            return None
        n, by, options = split
        for a in n.args:
            if (isinstance(a, ast.Call) and (inner := lookup(a.name))
                    and inner.kind == "aggregate" and not windows.is_window_call(self, a)):
                self.error("E209", f"aggregate `{a.name}` directly inside aggregate `{fn.name}`",
                           a.span, f"an aggregate needs a row-level argument, e.g. "
                           f"{fn.name}(x - {a.name}(x))")
                return None
        bound = self._bind(n, fn)
        if bound is None:
            return None
        args, nodes, written = bound
        row_level = any(isinstance(x, ir.Input | ir.LetRef | ir.Window)
                        for x in ir.walk(args[0]))
        if not row_level:
            self.error("E209", f"the argument of `{fn.name}` does not depend on the row",
                       nodes[0].span, "aggregate an input or an expression of inputs")
            return None
        call = self.call_fn(fn, args, nodes, n.span, written=written)
        if call is None:
            return None
        assert isinstance(call, ir.Call)
        t = call.type.with_nullable() if by else call.type  # an unseen group gives null
        return ir.Aggregate(t, call.function, call.overload, call.args, by, options)

    def _inline_aggregate(self, n: ast.Call, fn: Function) -> ir.Expr | None:
        agg = self._aggregate(n, fn)
        if agg is None:
            return None
        key = repr(agg.key())
        name = self._inline.get(key)
        if name is None:
            name = _ws(self.text(n.span))
            base, k = name, 2
            while name in self.program.stats or name in self.decls:
                name, k = f"{base}#{k}", k + 1
            self._inline[key] = name
            self.program.stats[name] = ir.Stat(name, agg, _ws(self.text(n.span)), inline=True)
            self.types[name] = agg.type
        self.used.add(name)
        return ir.StatRef(agg.type, name)


# --------------------------------------------------------------------------------- utilities


def _resolve(fn: Function, types: list[Type]) -> Overload | None:
    """The overload needing the fewest promotions; ties go to the first declared."""
    best: tuple[int, Overload] | None = None
    for ov in fn.overloads:
        if ov.hidden:
            continue
        n = len(ov.params)
        if len(types) != n and not (ov.variadic and len(types) >= n):
            continue
        cost = 0
        for i, t in enumerate(types):
            fit = accepts(ov.params[min(i, n - 1)], t)
            if fit is None:
                break
            cost += fit == "promote"
        else:
            if best is None or cost < best[0]:
                best = (cost, ov)
    return None if best is None else best[1]


def _const_problem(problem: str, ov: Overload, args: list[ir.Expr], nodes: list[ast.Node],
                   span: Span) -> tuple[str, Span, str | None]:
    """A rejected constant argument (a bad regex, time zone, bucket count) as message, place
    and hint: the caret goes under the argument at fault when it can be told (the only
    constant written, or the one the message quotes), a trailing "did you mean ..." or
    "use ..." becomes the hint."""
    hint = None
    for marker in (": did you mean ", ": use "):
        head, sep, tail = problem.partition(marker)
        if sep:
            problem, hint = head, sep[2:] + tail
            break
    written = [i for i, node in enumerate(nodes)
               if ov.is_const(i) and node.span != span]
    quoted = [i for i in written if isinstance(a := args[i], ir.Const)
              and str(a.value) in problem]
    pick = quoted if len(quoted) == 1 else written if len(written) == 1 else []
    return problem, (nodes[pick[0]].span if pick else span), hint


def _parse_advice(name: str, takes: set[str], arg_text: str, literal: bool) -> str:
    """The advice for a string where a date or timestamp is expected (`date("2013-01-01")`,
    `ts > "2013-01-01"`): the parsing functions, written around the argument as given."""
    arg = _ws(arg_text)
    arg = arg if len(arg) <= 40 else "..."
    # `date(x)` of a string means the text's date; elsewhere the target is what fits
    if name == "date" or takes & {"timestamp", "date"} == {"date"}:
        calls = f"`parse_date({arg})`"
        target = "date"
    elif "date" in takes:
        calls = f"`parse_timestamp({arg})` or `parse_date({arg})`"
        target = "timestamp or date"
    else:
        calls = f"`parse_timestamp({arg})`"
        target = "timestamp"
    what = "there is no date or timestamp literal: " if literal else ""
    return (f"{what}to read ISO-8601 text as a {target}, write {calls} (null where the text "
            f"does not parse), or declare the input `{target.split()[0]}` (ISO-8601 text in "
            "CSV, NDJSON and dict rows is then read as one)")


def _signature(fn: Function, ov: Overload) -> str:
    """An overload's signature, its defaulted parameters named with their default
    (``date(timestamp, zone: string = "UTC") -> date``): they need not be written."""
    name = fn.symbol or fn.name
    if not fn.defaults or ov.variadic or len(ov.params) != len(fn.params):
        return ov.signature(name)
    parts = [f"{p}: {t} = {_default_text(fn.defaults[p])}" if p in fn.defaults else str(t)
             for p, t in zip(fn.params, ov.params, strict=True)]
    res = ov.result if isinstance(ov.result, Type) else "..."
    return f"{name}({', '.join(parts)}) -> {res}"


def _default_text(value: object) -> str:
    """A default value as it would be written in a spec."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _signatures(fn: Function) -> str:
    shown = [o for o in fn.overloads if not o.hidden]
    sigs = "; ".join(_signature(fn, o) for o in shown[:6])
    more = f" (+{len(shown) - 6} more)" if len(shown) > 6 else ""
    return f"`{fn.symbol or fn.name}` accepts: {sigs}{more}"


def _promote(e: ir.Expr, const_param: bool = False) -> ir.Expr:
    """int -> float (lists element-wise). Constants fold."""
    if e.type.kind == "list":
        if isinstance(e, ir.Const):
            return ir.Const(list_of(FLOAT, e.type.nullable),
                            tuple(float(v) for v in cast("tuple[int, ...]", e.value)))
        if isinstance(e, ir.StatRef) and const_param:  # its lowering takes the values
            return e
        # a list-valued expression (input, let, call): promoted element-wise at run time
        assert e.type.elem is not None
        return ir.Cast(list_of(FLOAT.with_nullable(e.type.elem.nullable), e.type.nullable), e)
    t = FLOAT.with_nullable(e.type.nullable)
    if isinstance(e, ir.Const):
        return ir.Const(t, None if e.value is None else float(cast(int, e.value)))  # an int
    return ir.Cast(t, e)


def _coerce(e: ir.Expr, t: Type) -> ir.Expr:
    """Bring a branch to the unified type ``t`` (promotion, or a typed null)."""
    if e.type.kind == "null":
        return ir.Const(t.with_nullable(True), None)
    if e.type.kind == "int" and t.kind == "float":
        return _promote(e)
    if (e.type.kind == "list" and t.kind == "list" and e.type.elem is not None
            and t.elem is not None and e.type.elem.kind == "int" and t.elem.kind == "float"):
        return _promote(e)  # list[int] branch of a list[float] value
    return e


def _const_of(value: object) -> ir.Const:
    if isinstance(value, bool):
        return ir.Const(BOOL, value)
    if isinstance(value, int):
        return ir.Const(INT, value)
    if isinstance(value, float):
        return ir.Const(FLOAT, value)
    if isinstance(value, str):
        return ir.Const(STRING, value)
    return ir.Const(NULL, None)


def check(module: ast.Module, source: str, file: str = "<spec>") -> tuple[ir.Program,
                                                                           list[Diagnostic]]:
    """Check a parsed module. Returns the program and all diagnostics (errors and warnings)."""
    from featuredsl.checker.lints import lint, unsuppressed  # lints build on this module

    checker = Checker(module, source, file)
    program = checker.run()
    return program, unsuppressed(checker.diags + lint(checker), module)


def _unknown_function_hint(name: str, names: list[str]) -> str:
    """The closest function names (up to three: by spelling, then by a shared word, so
    `make_time` finds `make_timestamp`) and where every function is listed."""
    import difflib

    pool = sorted(set(names))
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    words = {w for w in name.lower().split("_") if len(w) >= 3}
    close += [f for f in pool if f not in close and words & set(f.split("_"))][:3 - len(close)]
    where = "every function is listed in docs/reference.md"
    if not close:
        return f"no function is named like that; {where}"
    listed = ", ".join(f"`{c}`" for c in close[:-1])
    shown = f"{listed} or `{close[-1]}`" if listed else f"`{close[-1]}`"
    return f"did you mean {shown}? {where}"
