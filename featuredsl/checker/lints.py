"""Warnings about a spec that compiles but probably does not mean what it says.

The checker proper (``checker.py``) reports errors and the unused-name warnings (W001-W003),
which fall out of name resolution. The findings here need the whole checked program, so they
run once after it, over the AST (for source positions) and the IR (for what a value computes):

* W004 a feature that is null on every row (a ``null`` operand of a null-propagating operation,
  a division by a literal zero, branches that are all null);
* W005 ``/``, ``//`` or ``%`` by a literal zero (null on every row, SPEC section 4.5);
* W006 a condition that is always true or always false because of its type: ``x is null`` on a
  value that can never be null, ``x in []``;
* W007 a comparison with the ``null`` literal (``x == null`` is null on every row: nulls
  propagate; ``x is null`` was meant);
* W008 two names that differ only by case or ``_`` (``amountMean`` and ``amount_mean``);
* W009 a ``let`` or ``stat`` named like a function (``let log = ...``);
* W010 a ``??`` default (or a later ``coalesce`` argument) that is never used, because the
  value before it can never be null.

Decisions: W009 leaves features and inputs alone. A call is always written with parentheses, so
a name never hides a function; the warning is about readers. Input names come from the data and
a feature named after what it computes (``feature hour = hour(ts)``) is idiomatic, but a ``let``
or ``stat`` name is chosen freely and ``log`` next to ``log(x)`` only confuses. W004 is not
repeated for a feature that has a W005 division or a W007 comparison (one finding, one
warning).

A warning can be silenced where it is: a comment ``# featuredsl: ignore[W001]`` (several codes:
``ignore[W001, W009]``; every warning: ``# featuredsl: ignore``) on any line of the declaration
or input field the warning points into. Errors cannot be silenced.

Every lint is a linear pass; ``check`` stays fast enough for a pre-commit hook.
"""

from __future__ import annotations

import re

from featuredsl import ir
from featuredsl.checker.checker import Checker
from featuredsl.errors import Diagnostic, Span
from featuredsl.functions.registry import lookup
from featuredsl.syntax import ast

_SUPPRESS = re.compile(r"#\s*featuredsl:\s*ignore\b(?:\[([^\]]*)\])?", re.IGNORECASE)
_DIVISION = {"/": "div", "//": "floordiv", "%": "mod"}
_COMPARISON = {"==", "!=", "<", "<=", ">", ">="}
_COALESCING = {"coalesce", "fill_null"}


def lint(c: Checker) -> list[Diagnostic]:
    """All lint warnings of a checked module (in no particular order; the API sorts)."""
    out: list[Diagnostic] = []

    def warn(code: str, msg: str, span: Span, hint: str | None = None) -> None:
        out.append(Diagnostic.at(code, msg, span, hint, c.file))

    zero_div_decls = _expression_lints(c, warn)
    _always_null_features(c, warn, zero_div_decls)
    _name_lints(c, warn)
    return out


def unsuppressed(diags: list[Diagnostic], module: ast.Module) -> list[Diagnostic]:
    """The diagnostics without the warnings a ``# featuredsl: ignore[...]`` comment silences.

    A comment silences warnings in the declaration or input field it is written in (any of its
    lines): so `fmt`, which may join a declaration's lines, never changes what is silenced."""
    units = sorted([(f.span.line, f.span.end_line) for b in module.inputs for f in b.fields]
                   + [(d.span.line, d.span.end_line) for d in module.decls])
    silenced: list[tuple[int, int, set[str] | None]] = []  # line range, codes (None: all)
    for c in module.comments:
        found = list(_SUPPRESS.finditer(c.text))  # several: `fmt` may join two comments
        unit = next(((a, b) for a, b in units if a <= c.line <= b), None) if found else None
        if unit is None:
            continue
        for m in found:
            codes = None if m.group(1) is None else {
                x.strip().upper() for x in m.group(1).split(",") if x.strip()}
            silenced.append((*unit, codes))
    if not silenced:
        return diags
    return [d for d in diags if d.severity != "warning" or not any(
        a <= d.line <= b and (codes is None or d.code in codes) for a, b, codes in silenced)]


# ----------------------------------------------------------------------------- expressions


def _expression_lints(c: Checker, warn) -> set[str]:
    """W005, W006, W007, W010 over every declaration's AST. Returns the declarations with a W005 or
    W007: a finding that already says why the value is null."""
    zero_div: set[str] = set()
    for d in c.module.decls:
        stack: list[ast.Node] = [d.expr]
        while stack:
            n = stack.pop()
            stack.extend(n.children())
            if isinstance(n, ast.Binary) and n.op in _DIVISION and _is_zero(n.right):
                zero_div.add(d.name)
                warn("W005", f"division by zero: `{n.op} {_text(c, n.right.span)}` gives null "
                     "on every row", _join(n.op_span, n.right.span),
                     "a zero divisor is null by definition (no inf, no error); write `null` "
                     "if that is what you mean")
            elif isinstance(n, ast.Binary) and n.op in _COMPARISON and (
                    _is_null(n.left) or _is_null(n.right)):
                zero_div.add(d.name)
                other = n.left if _is_null(n.right) else n.right
                neg = "not " if n.op == "!=" else ""
                warn("W007", f"comparing with `null` gives null on every row: `{n.op}` "
                     "propagates nulls", n.span,
                     f"write `{_text(c, other.span)} is {neg}null`")
            elif isinstance(n, ast.IsNull):
                t = c.node_types.get(id(n.operand))
                if t is not None and t.kind == "null":
                    verdict = "false" if n.negated else "true"
                    warn("W006", f"`is {'not ' if n.negated else ''}null` of `null` is always "
                         f"{verdict}", n.span)
                elif t is not None and not t.nullable:
                    verdict = "true" if n.negated else "false"
                    what = _text(c, n.operand.span)
                    warn("W006", f"`{_clip(what)} is {'not ' if n.negated else ''}null` is "
                         f"always {verdict}: its type `{t}` is never null", n.span,
                         "declare the input nullable (`T?`) if it can be missing")
            elif isinstance(n, ast.Binary) and n.op == "??":
                _unused_default(c, warn, [n.left, n.right], None)
            elif isinstance(n, ast.Call) and n.name in _COALESCING and not n.kwargs:
                _unused_default(c, warn, list(n.args), n.name)
            elif isinstance(n, ast.In) and isinstance(n.collection, ast.ListLit) \
                    and not n.collection.items:
                verdict = "true" if n.negated else "false"
                t = c.node_types.get(id(n.operand))
                tail = "" if t is not None and not t.nullable else \
                    f" (or null, where `{_clip(_text(c, n.operand.span))}` is null)"
                warn("W006", f"`{'not ' if n.negated else ''}in []` is always {verdict}{tail}",
                     n.span)
    return zero_div


def _unused_default(c: Checker, warn, args: list[ast.Node], fn: str | None) -> None:
    """W010: arguments after one that can never be null are never used (``fn`` is None for
    ``??``, else the function's name)."""
    for k, a in enumerate(args[:-1]):
        t = c.node_types.get(id(a))
        if t is not None and t.kind != "null" and not t.nullable:
            rest = args[k + 1:]
            x = _clip(_text(c, a.span))
            if fn is None:
                msg = f"the default after `??` is never used: `{x}` is `{t}`, never null"
            else:
                many = len(rest) > 1
                msg = (f"the argument{'s' if many else ''} of `{fn}` after `{x}` "
                       f"{'are' if many else 'is'} never used: `{x}` is `{t}`, never null")
            warn("W010", msg, _join(rest[0].span, rest[-1].span),
                 "remove it, or declare the input nullable (`T?`) if it can be missing")
            return


def _always_null_features(c: Checker, warn, zero_div_decls: set[str]) -> None:
    """W004: features whose value is null on every row."""
    memo: dict[str, bool] = {}

    def always_null(e: ir.Expr) -> bool:
        # Post-order without recursion: expressions may be 200 levels deep.
        result: dict[int, bool] = {}
        stack: list[tuple[ir.Expr, bool]] = [(e, False)]
        while stack:
            node, done = stack.pop()
            if not done:
                stack.append((node, True))
                stack.extend((ch, False) for ch in node.children())
                continue
            result[id(node)] = _node_always_null(node, [result[id(ch)]
                                                        for ch in node.children()], named)
        return result[id(e)]

    def named(name: str) -> bool:
        if name not in memo:
            memo[name] = False  # cycles were reported as errors; be safe
            value = c.program.values.get(name)
            memo[name] = value is not None and always_null(value)
        return memo[name]

    for f in c.program.features:
        d = c.decls.get(f.name)
        if d is None or f.name in zero_div_decls or not always_null(f.expr):
            continue
        warn("W004", f"feature `{f.name}` is null on every row", d.name_span,
             "a `null` operand makes a result null (nulls propagate), and so does a branch "
             "that is always null; give a default with `?? value`, or remove the feature")


def _node_always_null(node: ir.Expr, kids: list[bool], named) -> bool:
    if isinstance(node, ir.Const):
        return node.value is None
    if isinstance(node, ir.LetRef):
        return named(node.name)
    if isinstance(node, ir.Cast):
        return kids[0]
    if isinstance(node, ir.If):
        return kids[1] and kids[2]
    if isinstance(node, ir.Coalesce | ir.Logic):
        return all(kids)
    if isinstance(node, ir.Call):
        if node.function.null_policy == "propagate" and any(kids):
            return True
        if node.function.name in _DIVISION.values() and len(node.args) == 2:
            d = node.args[1]
            return isinstance(d, ir.Const) and d.value is not None and d.value == 0
    return False


# ----------------------------------------------------------------------------- names


def _name_lints(c: Checker, warn) -> None:
    """W008 confusable names and W009 lets/stats named like a function."""
    named: list[tuple[str, Span, str]] = [
        (name, f.span, "input") for name, f in getattr(c, "_input_fields", {}).items()]
    named += [(d.name, d.name_span, d.kind) for d in c.module.decls if c.decls.get(d.name) is d]
    named.sort(key=lambda t: (t[1].line, t[1].column))
    first: dict[str, tuple[str, Span]] = {}
    for name, span, kind in named:
        key = name.casefold().replace("_", "")
        if key in first and first[key][0] != name:
            other, where = first[key]
            warn("W008", f"`{name}` differs from `{other}` only by case or `_`", span,
                 f"`{other}` is declared at line {where.line}; rename one so they cannot be "
                 "mixed up")
        first.setdefault(key, (name, span))
        fn = lookup(name)
        if kind in ("let", "stat") and (name == "coalesce" or (
                fn is not None and fn.kind != "operator")):
            warn("W009", f"{kind} `{name}` has the name of the function `{name}`", span,
                 f"`{name}(...)` still calls the function, but a reader may confuse the two; "
                 f"rename it, e.g. `{name}_value`")


# ----------------------------------------------------------------------------- helpers


def _is_zero(n: ast.Node) -> bool:
    return isinstance(n, ast.Literal) and n.kind in ("int", "float") and n.value == 0


def _is_null(n: ast.Node) -> bool:
    return isinstance(n, ast.Literal) and n.kind == "null"


def _join(a: Span, b: Span) -> Span:
    return Span(a.line, a.column, b.end_line, b.end_column)


def _text(c: Checker, span: Span) -> str:
    return " ".join(c.text(span).split())


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
