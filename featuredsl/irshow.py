"""The IR printed in the language's own syntax: ``featuredsl explain``'s trace and
``featuredsl diff``'s definitions.

:func:`show` prints a checked expression (``let`` and statistic references by name, windows
as ``count(txns, over=1h, where=...)``, literals as the language writes them: durations as
``1d12h``, strings JSON-quoted) with the fewest parentheses the precedence needs.
"""

from __future__ import annotations

import json

from featuredsl import ir

_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
         "in": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}


def show(e: ir.Expr) -> str:
    """The expression in the language's own syntax (for the trace)."""
    with ir.deep_recursion():
        return _show(e)[0]


def _show(e: ir.Expr) -> tuple[str, int]:
    """(text, precedence) — 9 binds tightest, 0 is a conditional."""
    def wrap(x: ir.Expr, prec: int) -> str:
        text, p = _show(x)
        return f"({text})" if p < prec else text

    if isinstance(e, ir.Const):
        return _literal(e.value, e.type.kind), 9
    if isinstance(e, ir.Input | ir.LetRef):
        return (e.name if e.name.isidentifier() else f"`{e.name}`"), 9
    if isinstance(e, ir.StatRef):
        return e.name, 9
    if isinstance(e, ir.Cast):
        return _show(e.arg)
    if isinstance(e, ir.If):
        return (f"if {wrap(e.cond, 1)} then {wrap(e.then, 1)} else {wrap(e.otherwise, 0)}", 0)
    if isinstance(e, ir.Logic):
        p = _PREC[e.op]
        return f"{wrap(e.left, p)} {e.op} {wrap(e.right, p + 1)}", p
    if isinstance(e, ir.Coalesce):
        return " ?? ".join(wrap(a, 1) for a in e.args), 0
    if isinstance(e, ir.IsNull):
        return f"{wrap(e.arg, 5)} is {'not ' if e.negated else ''}null", 4
    if isinstance(e, ir.Call | ir.Aggregate):
        sym = e.function.symbol
        if e.function.kind == "operator" and sym is not None:
            if len(e.args) == 1:
                return (f"not {wrap(e.args[0], 3)}", 3) if sym == "not" \
                    else (f"-{wrap(e.args[0], 7)}", 7)
            p = _PREC.get(sym, 4)
            return f"{wrap(e.args[0], p)} {sym} {wrap(e.args[1], p + 1)}", p
        return f"{e.function.name}({', '.join(_show(a)[0] for a in e.args)})", 9
    if isinstance(e, ir.Window):
        what = e.source if e.field is None else f"{e.source}.{e.field}"
        opts = "" if e.over is None else f", over={duration(e.over)}"
        if e.where is not None:
            opts += f", where={_show(e.where)[0]}"
        return f"{e.function}({what}{opts})", 9
    return type(e).__name__, 9


def _literal(v: object, kind: str) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if kind == "duration" and isinstance(v, int):
        return duration(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_literal(x, kind) for x in v) + "]"
    return repr(v)


_UNITS = (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000),
          ("ms", 1_000), ("us", 1))


def duration(us: int) -> str:
    """Microseconds as a duration literal of the language: ``1d12h``, ``250ms``."""
    if us == 0:
        return "0s"
    sign, rest, parts = ("-" if us < 0 else ""), abs(us), []
    for unit, size in _UNITS:
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return sign + "".join(parts)
