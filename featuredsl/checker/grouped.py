"""Checking grouped statistics: ``mean(x, by=g)``, ``count(by=[a, b])``, ``share(by=g)``.

:func:`split_grouped` takes the grouped keywords (``by``, ``min_count``, ``smoothing``,
``top``) off an aggregate call before its ordinary arguments are matched, checks them, and
returns what :class:`~featuredsl.ir.Aggregate` records (codes E211-E214, docs/statistics.md).
A grouped statistic's value is nullable: an unseen or null group gives null.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from featuredsl import ir
from featuredsl.syntax import ast

if TYPE_CHECKING:
    from featuredsl.checker.checker import Checker

#: Analyzers that take ``by=`` (per-group median, quantiles and vocab are not offered).
GROUPED = frozenset({"mean", "std", "var", "min", "max", "count", "null_fraction", "share"})
#: Key kinds: values that compare exactly and hash alike in both backends.
KEY_KINDS = frozenset({"int", "float", "string", "bool"})
_OPTIONS = ("min_count", "smoothing", "top")


def split_grouped(c: Checker, n: ast.Call, fn_name: str
                  ) -> tuple[ast.Call, tuple[ir.Expr, ...], tuple[tuple[str, object], ...]] | None:
    """The call without its grouped keywords, the checked ``by`` keys and the options.

    ``(n, (), ())`` for an ungrouped call; ``None`` after reporting an error."""
    grouped = {"by", *_OPTIONS}
    if fn_name == "vocab":  # vocab has its own min_count and top
        grouped = {"by"}
    kws = {k.name: k for k in n.kwargs if k.name in grouped}
    if not kws:
        if fn_name == "share":
            c.error("E211", "`share` needs `by=`", n.span,
                    "share(by=g) is the fraction of the training rows in the row's group")
            return None
        return n, (), ()
    rest = tuple(k for k in n.kwargs if k.name not in grouped)
    if "by" not in kws:
        k = next(iter(kws.values()))
        c.error("E211", f"`{k.name}=` only applies to a grouped statistic", k.span,
                f"add the groups, e.g. {fn_name}(..., by=g, {k.name}=...)")
        return None
    by_kw = kws["by"]
    if fn_name not in GROUPED:
        c.error("E211", f"`{fn_name}` does not take `by=`", by_kw.span,
                "grouped statistics are " + ", ".join(sorted(GROUPED)))
        return None
    nodes = list(by_kw.value.items) if isinstance(by_kw.value, ast.ListLit) else [by_kw.value]
    if not nodes:
        c.error("E212", "`by=` needs at least one key", by_kw.value.span, "write by=g or by=[a, b]")
        return None
    keys: list[ir.Expr] = []
    ok = True
    for node in nodes:
        e = c.expr(node)
        if e is None:
            ok = False
            continue
        why = _key_problem(e)
        if why is not None:
            c.error("E212", f"`by=` key {why}", node.span,
                    "group by an input or a row-level expression of type int, float, string "
                    "or bool (e.g. `string(d)` for a date)")
            ok = False
            continue
        keys.append(e)
    options: dict[str, object] = {}
    for name in _OPTIONS:
        opt = kws.get(name)
        if opt is None:
            continue
        k = opt
        if name == "smoothing" and fn_name != "mean":
            c.error("E213", f"`smoothing=` applies to `mean` only, not `{fn_name}`", k.span,
                    "remove `smoothing=`, or use mean(..., by=..., smoothing=m)")
            ok = False
            continue
        value = _constant(k.value)
        if name == "smoothing":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
                    or value != value or value == float("inf"):
                c.error("E213", "`smoothing=` must be a non-negative constant", k.value.span,
                        "write a number such as smoothing=10 (the weight of the overall mean, "
                        "in rows)")
                ok = False
                continue
            value = float(value)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            c.error("E214", f"`{name}=` must be a positive int constant", k.value.span,
                    f"write a literal such as {name}={'10' if name == 'min_count' else '1000'}")
            ok = False
            continue
        options[name] = value
    if not ok:
        return None
    if fn_name in ("count", "share") and not n.args and not any(
            k.name == "x" for k in rest):
        # count(by=g): rows per group; its argument is the (non-null) key itself
        n = dataclasses.replace(n, args=(nodes[0],), kwargs=rest)
    else:
        n = dataclasses.replace(n, kwargs=rest)
    return n, tuple(keys), tuple(sorted(options.items()))


def _key_problem(e: ir.Expr) -> str | None:
    if e.type.kind not in KEY_KINDS:
        return f"has type {e.type}, which cannot be a group key"
    for node in ir.walk(e):
        if isinstance(node, ir.Window):
            return "reads a window aggregate"
        if isinstance(node, ir.StatRef):
            return "reads a statistic"
    if not any(isinstance(x, ir.Input | ir.LetRef) for x in ir.walk(e)):
        return "does not depend on the row"
    return None


def _constant(node: ast.Node) -> object:
    """The value of a literal option (``-1`` included), or a marker that it is not one."""
    if isinstance(node, ast.Literal) and node.kind in ("int", "float", "bool"):
        return node.value
    if isinstance(node, ast.Unary) and node.op == "neg" and isinstance(node.operand, ast.Literal) \
            and node.operand.kind in ("int", "float"):
        return -node.operand.value  # type: ignore[operator]
    return _NOT_CONSTANT


_NOT_CONSTANT = object()
