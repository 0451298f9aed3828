"""Checking event sources and windowed aggregates (SPEC 13).

``check_sources`` turns the ``source`` declarations and the input block's ``time`` clause
into :class:`~featuredsl.ir.Source` entries and ``Program.time``; ``window_call`` types a call
such as ``mean(txns.amount, over=30d, where=txns.amount > 0)`` into an
:class:`~featuredsl.ir.Window` leaf. Every mistake is a diagnostic with a caret and a hint
(codes E301-E308, docs/diagnostics.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featuredsl import ir
from featuredsl.errors import did_you_mean
from featuredsl.functions.registry import lookup
from featuredsl.functions.windowed import WINDOW_FUNCTIONS, WINDOW_PARAMS, WindowFunction
from featuredsl.syntax import ast
from featuredsl.types import Type

if TYPE_CHECKING:
    from featuredsl.checker.checker import Checker

#: Key field kinds: values that compare exactly and hash alike in both backends.
_KEY_KINDS = frozenset({"int", "string", "bool", "date"})
_SOURCE_HINT = "a source holds fields (`name: type`), `key f[, g]` and `time t`"


def check_time_clause(c: Checker, block: ast.InputBlock) -> None:
    """The input block's ``time t``: the row's time, where every window ends."""
    for k, clause in enumerate(block.clauses):
        if clause.word != "time" or len(clause.names) != 1:
            c.error("E001", f"unexpected `{clause.word}` in the input block", clause.word_span,
                    "the input block holds fields (`name: type`) and `time <field>`")
            continue
        if k > 0 or c.program.time is not None:
            c.error("E308", "the input block has more than one `time` clause", clause.span)
            continue
        name, span = clause.names[0]
        t = c.program.inputs.get(name)
        if t is None:
            c.error("E308", f"`time {name}` names no input", span,
                    did_you_mean(name, list(c.program.inputs)) or "name a timestamp input")
        elif t.kind != "timestamp":
            c.error("E308", f"the row's time `{name}` is `{t}`, not a timestamp", span,
                    "windows end at a timestamp: declare the input `timestamp`")
        else:
            c.program.time = name
            c.used.add(name)


def check_sources(c: Checker, taken: set[str]) -> None:
    """Every ``source`` declaration into ``c.program.sources``; ``taken`` holds the names of
    inputs and declarations (one namespace)."""
    for d in c.module.sources:
        if d.name in c.program.sources or d.name in taken:
            c.error("E301", f"`{d.name}` is already declared", d.name_span,
                    "sources share one namespace with inputs, stats, lets and features")
            continue
        fields: dict[str, Type] = {}
        bad = False
        for f in d.fields:
            if f.name in fields:
                c.error("E301", f"field `{f.name}` of source `{d.name}` is declared twice",
                        f.span)
                bad = True
                continue
            t = c.resolve_type(f.type)
            if t is None:
                bad = True
                continue
            fields[f.name] = t
        clauses: dict[str, ast.Clause] = {}
        unknown = False
        for clause in d.clauses:
            if clause.word not in ("key", "time"):
                unknown = True
                c.error("E301", f"unknown clause `{clause.word}` in source `{d.name}`",
                        clause.word_span, did_you_mean(clause.word, ["key", "time"])
                        or _SOURCE_HINT)
                bad = True
            elif clause.word in clauses:
                c.error("E301", f"source `{d.name}` has two `{clause.word}` clauses",
                        clause.word_span)
                bad = True
            else:
                clauses[clause.word] = clause
            for name, span in clause.names:
                if clause.word in ("key", "time") and name not in fields and not bad:
                    c.error("E301", f"`{clause.word} {name}`: source `{d.name}` has no field "
                            f"`{name}`", span, did_you_mean(name, list(fields)))
                    bad = True
        for word in ("key", "time"):
            if word not in clauses and not unknown:  # `kee x` is reported as a misspelling
                c.error("E301", f"source `{d.name}` has no `{word}` clause", d.name_span,
                        _SOURCE_HINT)
                bad = True
        if bad:
            continue
        keys = tuple(n for n, _ in clauses["key"].names)
        time_names = clauses["time"].names
        if len(time_names) != 1:
            c.error("E301", "a source has one time field", clauses["time"].span)
            continue
        time, tspan = time_names[0]
        if fields[time] != Type("timestamp"):
            c.error("E301", f"the time of source `{d.name}` is `{fields[time]}`",
                    tspan, "an event's time is a non-null `timestamp`")
            continue
        for (k, kspan) in clauses["key"].names:
            if fields[k].kind not in _KEY_KINDS:
                c.error("E301", f"key `{k}` of source `{d.name}` is `{fields[k]}`", kspan,
                        "keys are int, string, bool or date fields")
                bad = True
        if len(set(keys)) != len(keys) or time in keys:
            c.error("E301", f"source `{d.name}` lists a field twice in its key and time",
                    clauses["key"].span)
            bad = True
        if not bad:
            c.program.sources[d.name] = ir.Source(d.name, fields, keys, time, d.doc)


def is_window_call(c: Checker, n: ast.Call) -> bool:
    """Whether a call is a window aggregate: a window function whose first argument is a
    source or a source field (``count(x)`` of an input is the fitted statistic)."""
    if n.name not in WINDOW_FUNCTIONS or not n.args:
        return False
    first = n.args[0]
    if isinstance(first, ast.FieldRef):
        return True
    if not isinstance(first, ast.Ref):
        return False
    if first.name in c.program.sources or first.name in _declared_sources(c):
        return True
    # `count(payments, over=7d)` with no such source: window keywords say what was meant, so
    # the error is "unknown source", not "count has no parameter over"
    return (any(k.name in WINDOW_PARAMS for k in n.kwargs)
            and first.name not in c.program.inputs and first.name not in c.decls)


def _declared_sources(c: Checker) -> set[str]:
    return {d.name for d in c.module.sources}


def field_ref(c: Checker, n: ast.FieldRef) -> ir.Expr | None:
    """``src.field`` outside a window aggregate's argument: inside a ``where=`` it is the
    event's field; anywhere else it is an error."""
    scope: ir.Source | None = getattr(c, "_where_source", None)
    if scope is None:
        c.error("E306", f"`{n.source}.{n.field}` is a field of an event source: it has no "
                "value on the row", n.span,
                f"aggregate it over a window, e.g. last({n.source}.{n.field})")
        return None
    if n.source != scope.name:
        c.error("E305", f"the `where=` of a window over `{scope.name}` reads `{n.source}`",
                n.source_span, f"a window's predicate sees only its own events: "
                f"`{scope.name}.<field>`")
        return None
    t = scope.fields.get(n.field)
    if t is None:
        c.error("E302", f"source `{scope.name}` has no field `{n.field}`", n.field_span,
                did_you_mean(n.field, list(scope.fields)))
        return None
    return ir.Input(t, n.field)


def window_call(c: Checker, n: ast.Call) -> ir.Expr | None:
    """Type a window aggregate call into an :class:`ir.Window` (``seconds_since_last`` into
    ``total_seconds`` of the gap, so both backends share that function's exact lowering)."""
    fn = WINDOW_FUNCTIONS[n.name]
    if getattr(c, "_where_source", None) is not None:
        c.error("E306", f"window aggregate `{n.name}` inside a `where=`", n.span,
                "a predicate tests one event; compute the aggregate in its own feature")
        return None
    target = n.args[0]
    if len(n.args) > 1:
        c.error("E303", f"`{n.name}` takes one positional argument, the source or its field",
                n.args[1].span, f"pass the others by name: {', '.join(WINDOW_PARAMS)}")
        return None
    if isinstance(target, ast.FieldRef):
        src_name, field, span = target.source, target.field, target.source_span
    else:
        assert isinstance(target, ast.Ref)
        src_name, field, span = target.name, None, target.span
    c.used.add(src_name)
    source = c.program.sources.get(src_name)
    if source is None:
        if src_name not in _declared_sources(c):
            c.error("E302", f"unknown source `{src_name}`", span,
                    did_you_mean(src_name, list(c.program.sources)) or
                    "declare it: source NAME { fields; key f; time t }")
        return None  # declared but invalid: already reported
    ftype: Type | None = None
    if field is not None:
        assert isinstance(target, ast.FieldRef)
        ftype = source.fields.get(field)
        if ftype is None:
            c.error("E302", f"source `{src_name}` has no field `{field}`", target.field_span,
                    did_you_mean(field, list(source.fields)))
            return None
    result = fn.result(ftype)
    if result is None:
        what = "the source itself" if ftype is None else f"a `{ftype}` field"
        fits = [f for f, t in source.fields.items() if fn.result(t) is not None]
        example = (f"{n.name}({src_name}.{fits[0]})" if fits else f"{n.name}({src_name})"
                   if fn.result(None) is not None else "")
        c.error("E303", f"`{n.name}` does not take {what}", target.span,
                f"`{n.name}` takes {fn.takes}" + (f", e.g. {example}" if example else ""))
        return None
    over, where, by = _keywords(c, n, fn, source)
    if over is False or where is False or by is False:
        return None
    if c.program.time is None:
        c.error("E308", f"`{n.name}` over `{src_name}` needs the row's time", n.span,
                "add `time <field>` to the input block: every window ends at the row's time")
        return None
    window = ir.Window(result, "since_last" if fn.name == "seconds_since_last" else fn.name,
                       src_name, field, over, where, by)  # type: ignore[arg-type]
    if fn.name == "seconds_since_last":
        total = lookup("total_seconds")
        return c.call_fn(total, [window], [n], n.span)
    return window


def _keywords(c: Checker, n: ast.Call, fn: WindowFunction, source: ir.Source
              ) -> tuple[int | bool | None, ir.Expr | bool | None, tuple[str, ...] | bool]:
    """``over=``, ``where=`` and ``by=`` checked; ``False`` for one that failed (reported)."""
    given = {}
    for k in n.kwargs:
        if k.name not in WINDOW_PARAMS:
            c.error("E303", f"`{fn.name}` over a source has no parameter `{k.name}`", k.span,
                    did_you_mean(k.name, list(WINDOW_PARAMS)) or
                    f"window aggregates take {', '.join(WINDOW_PARAMS)}")
            return False, False, False
        if k.name in given:
            c.error("E204", f"argument `{k.name}` given twice", k.span)
            return False, False, False
        given[k.name] = k.value
    over: int | bool | None = None
    if "over" in given:
        v = given["over"]
        if not (isinstance(v, ast.Literal) and v.kind == "duration" and v.value > 0):  # type: ignore[operator]
            c.error("E304", "`over=` must be a positive constant duration", v.span,
                    "write a duration literal such as over=7d (months and years have no "
                    "fixed length: write 30d or 365d); leave it out for every earlier event")
            over = False
        else:
            over = v.value  # type: ignore[assignment]
    where: ir.Expr | bool | None = None
    if "where" in given:
        where = _where(c, given["where"], source)
        if where is None:
            where = False
    by = _by(c, n, given.get("by"), source)
    return over, where, by


def _where(c: Checker, node: ast.Node, source: ir.Source) -> ir.Expr | None:
    stack = [node]
    while stack:  # names of the row are not in a predicate's scope
        x = stack.pop()
        if isinstance(x, ast.Ref) and x.name not in source.fields:
            c.error("E305", f"the `where=` of a window over `{source.name}` reads `{x.name}`",
                    x.span, f"a window's predicate sees only its own events: write "
                    f"`{source.name}.<field>`")
            return None
        if isinstance(x, ast.Ref):
            c.error("E305", f"`{x.name}` in a `where=` is ambiguous", x.span,
                    f"write the event's field as `{source.name}.{x.name}`")
            return None
        if isinstance(x, ast.Call) and lookup(x.name) is not None and \
                lookup(x.name).kind == "aggregate" and not is_window_call(c, x):  # type: ignore[union-attr]
            c.error("E305", f"fitted statistic `{x.name}` in a `where=`", x.span,
                    "a window's predicate sees only its own events")
            return None
        stack.extend(x.children())
    c._where_source = source  # type: ignore[attr-defined]
    try:
        e = c.expr(node)
    finally:
        c._where_source = None  # type: ignore[attr-defined]
    if e is None:
        return None
    if e.type.kind not in ("bool", "null"):
        c.error("E205", f"`where=` must be a bool, not `{e.type}`", node.span,
                "write a condition on the event, e.g. txns.amount > 0")
        return None
    return e


def _by(c: Checker, n: ast.Call, node: ast.Node | None, source: ir.Source
        ) -> tuple[str, ...] | bool:
    if node is None:
        names = list(source.keys)
        spans = [n.span] * len(names)
    else:
        items = node.items if isinstance(node, ast.ListLit) else (node,)
        if not all(isinstance(i, ast.Ref) for i in items):
            c.error("E307", "`by=` names the inputs to match the source's key", node.span,
                    f"write by=<input> (by=[a, b] for a key of {len(source.keys)} fields)")
            return False
        names = [i.name for i in items]  # type: ignore[union-attr]
        spans = [i.span for i in items]
        if len(names) != len(source.keys):
            c.error("E307", f"`by=` lists {len(names)} input{'s' if len(names) != 1 else ''} "
                    f"but the key of `{source.name}` has {len(source.keys)} field"
                    f"{'s' if len(source.keys) != 1 else ''}", node.span,
                    f"the key is {', '.join(source.keys)}")
            return False
    for key, name, span in zip(source.keys, names, spans, strict=True):
        t = c.program.inputs.get(name)
        if t is None:
            if node is None:
                c.error("E307", f"the input has no field `{key}` to match the key of "
                        f"`{source.name}`", n.span,
                        f"add `{key}` to the input block, or name the input with by=")
            else:
                c.error("E307", f"`by=` names `{name}`, which is not an input", span,
                        did_you_mean(name, list(c.program.inputs))
                        or f"by= names the input that holds the key `{key}` of "
                        f"`{source.name}`")
            return False
        if t.kind != source.fields[key].kind:
            c.error("E307", f"key `{key}` of `{source.name}` is `{source.fields[key].base}` "
                    f"but input `{name}` is `{t.base}`", span,
                    "a key matches values of the same type: declare them alike")
            return False
        c.used.add(name)
    return tuple(names)
