"""``featuredsl explain SPEC|ARTIFACT --row JSON``: how one row's features are computed.

For each feature (or ``--feature NAME``): the inputs it reads with their values (after input
conversion: what the evaluator computes with), the statistics it uses with their fitted values,
each ``let`` it depends on, and every intermediate step of each definition, in evaluation order
(arguments before the call), each with its value, then the feature's value.

The values come from the real row backend: the sub-expressions of the IR are added as extra
outputs of a derived program and compiled by the same code generator the serving evaluator
uses (``build_evaluator``), so the trace cannot disagree with ``featuredsl eval``. A step
inside a branch that the row does not take (``if``/``case``/``??``) is still shown with the
value it would have, marked ``(not taken)``.

``--codegen`` prints the generated row code (``evaluator.source``), ``--plan`` the optimized
Polars plan of the batch backend (``transform_lazy(...).explain()``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from featuredsl.cli import _common as c
from featuredsl.irshow import show

if TYPE_CHECKING:
    from featuredsl import ir
    from featuredsl.api import Spec

HELP = """\
Show how one row's features are computed, step by step: each input read (with its value),
each fitted statistic used, each let, and every intermediate value of each definition. Values
come from the real serving evaluator. --codegen prints the generated Python of the row
backend; --plan prints the Polars plan of the batch backend.

examples:
  featuredsl explain model.json --row '{"amount": 12.5, ...}' --feature amount_z
  featuredsl explain spec.feat --codegen
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the spec, the row and the options of ``featuredsl explain`` on ``p``."""
    p.add_argument("spec", metavar="SPEC|ARTIFACT",
                   help="a .feat spec (without statistics) or a fitted .json artifact")
    p.add_argument("--row", metavar="JSON", help="the row, a JSON object (see `featuredsl eval`)")
    p.add_argument("--feature", action="append", default=[], metavar="NAME",
                   help="explain only this feature (repeatable; default: all)")
    c.add_sources(p)
    p.add_argument("--codegen", action="store_true", help="print the generated row code")
    p.add_argument("--plan", action="store_true", help="print the Polars (batch) plan")


def run(args: argparse.Namespace) -> int:
    """Print the trace of each chosen feature for ``--row`` (and/or the generated code or the
    batch plan); exit status 0. Raises ``UsageError`` for an unknown feature or nothing to show.
    """
    spec = c.load_spec(args.spec)
    c.require_fitted(spec, args.spec)
    names = [n.strip() for arg in args.feature for n in arg.split(",") if n.strip()]
    for n in names:
        if n not in spec.features:
            raise c.UsageError(f"unknown feature `{n}`; the spec's features are "
                               f"{', '.join(spec.features)}")
    if args.row is None and not (args.codegen or args.plan):
        raise c.UsageError("give --row JSON (and/or --codegen, --plan)")
    windowed = bool(spec.bound().windows)
    # a window spec's trace reads the --source events; --codegen and --plan alone need none
    sources = c.sources_of(args, spec, args.spec) if args.row is not None or args.source \
        else None
    w = sys.stdout.write
    if args.row is not None:
        row = c.parse_row(args.row, spec, "--row")
        w(_trace(spec, row, names or spec.features, sources))
    if args.codegen:
        w("\n# generated row code (evaluator.source)\n" if args.row is not None else "")
        state = spec.online_state() if windowed else None
        w(spec.row_evaluator(state=state).source)  # type: ignore[attr-defined]
    if args.plan:
        from featuredsl import parity

        rows = [c.parse_row(args.row, spec, "--row")] if args.row is not None else []
        events = parity.window_events(spec, sources) if windowed else None
        plan = spec.transform_lazy(parity.frame_of(spec, rows), sources=events).explain()
        w(("\n# Polars plan (transform_lazy(...).explain())\n" if args.row or args.codegen
           else "") + plan + "\n")
    return c.OK


# ------------------------------------------------------------------------------ trace


def _trace(spec: Spec, row: dict, targets: list[str], sources: dict[str, str] | None) -> str:
    from featuredsl import ir
    from featuredsl.backends.row_backend import build_evaluator
    from featuredsl.bind import bind
    from featuredsl.types import Type

    program = spec.program
    stats = spec.fitted_statistics()
    blocks: list[tuple[str, ir.Expr, list[ir.Expr]]] = []  # (name, definition, steps)
    extra: dict[str, ir.Expr] = {}
    keys: dict[tuple, str] = {}

    def out_name(e: ir.Expr) -> str:
        k = e.key()
        if k not in keys:
            keys[k] = f"__fd_x{len(keys)}"
            extra[keys[k]] = e
        return keys[k]

    counts: dict[tuple, ir.Window] = {}  # each window step -> the count of its events
    for name in program.order:
        steps = [e for e in _steps(program.values[name])]
        for e in steps:
            out_name(e)
            if isinstance(e, ir.Window):
                counts[e.key()] = ir.Window(Type("int"), "count", e.source, None, e.over,
                                            e.where, e.by)
                out_name(counts[e.key()])
        blocks.append((name, program.values[name], steps))
    for name, t in program.inputs.items():
        out_name(ir.Input(t, name))
    derived = ir.Program(
        inputs=program.inputs, stats=program.stats,
        values={**program.values, **extra},
        features=[ir.Feature(n, program.values[n]) for n in program.order]
        + [ir.Feature(n, e) for n, e in extra.items()],
        order=[*program.order, *extra], sources=program.sources, time=program.time)
    with ir.deep_recursion():
        bound = bind(derived, stats)
        if bound.windows:
            # the same state class serving uses, over the derived program's windows
            from featuredsl.windows.online import MemoryState

            state = MemoryState(bound, lateness=c.far_lateness())
            for src, path in (sources or {}).items():
                state.ingest_batch(src, path)
            values = build_evaluator(bound, state.reader())(row)
        else:
            values = build_evaluator(bound)(row)

    def val(e: ir.Expr) -> str:
        if isinstance(e, ir.LetRef):
            v = values[e.name]
        elif isinstance(e, ir.StatRef):
            v = stats[e.name]
        else:
            v = values[keys[e.key()]]
        return c.dumps(c.to_json_value(v))

    needed = _needed(program, targets)
    types = {n: str(e.type) for n, e in program.values.items()}
    feature_names = set(spec.features)
    lines: list[str] = []
    for name, definition, steps in blocks:
        if name not in needed:
            continue
        kind = "feature" if name in feature_names else "let"
        lines.append(f"{kind} {name}: {types[name]} = {show(definition)}")
        used_inputs, used_stats = _leaves(definition)
        for n in used_inputs:
            t = program.inputs[n]
            lines.append(f"  input {n}: {t} = {val(ir.Input(t, n))}"
                         f"    (given: {c.dumps(c.to_json_value(row.get(n)))})")
        for n in used_stats:
            s = program.stats[n]
            label = "" if s.inline else f"    ({s.source})"
            value = stats[n]
            shown = (f"<a table of {len(value.keys):,} groups>"
                     if isinstance(value, ir.GroupTable) else c.dumps(c.to_json_value(value)))
            lines.append(f"  stat  {n} = {shown}{label}")
        for n in _lets_used(definition):  # a let, or another feature used as a value
            label = "feature" if n in feature_names else "let  "
            lines.append(f"  {label} {n} = {val(ir.LetRef(program.values[n].type, n))}")
        untaken = _untaken(definition, values, keys)
        for e in steps:
            mark = "    (not taken)" if e.key() in untaken else ""
            if isinstance(e, ir.Window):
                lines.append(f"  window {show(e)}: {_bounds(e, program, values, keys)}, "
                             f"{val(counts[e.key()])} events = {val(e)}{mark}")
                continue
            lines.append(f"  step  {show(e)} = {val(e)}{mark}")
        lines.append(f"  => {name} = {c.dumps(c.to_json_value(values[name]))}")
        lines.append("")
    return "\n".join(lines)


def _steps(e: ir.Expr) -> list[ir.Expr]:
    """Intermediate computations of a definition, arguments first, each once (not the root,
    not leaves, not implicit int->float casts)."""
    from featuredsl import ir

    out: list[ir.Expr] = []
    seen: set[tuple] = set()

    def visit(node: ir.Expr, root: bool) -> None:
        for ch in node.children():
            visit(ch, False)
        if (root and not isinstance(node, ir.Window)) \
                or isinstance(node, ir.Const | ir.Input | ir.LetRef | ir.StatRef | ir.Cast):
            return  # a window is shown even as the whole definition: its bounds and count
        k = node.key()
        if k not in seen:
            seen.add(k)
            out.append(node)

    with ir.deep_recursion():
        visit(e, True)
    return out


def _leaves(e: ir.Expr) -> tuple[list[str], list[str]]:
    from featuredsl import ir

    inputs: dict[str, None] = {}
    stats: dict[str, None] = {}
    for node in ir.walk(e):
        if isinstance(node, ir.Input):
            inputs[node.name] = None
        elif isinstance(node, ir.StatRef):
            stats[node.name] = None
    return list(inputs), list(stats)


def _lets_used(e: ir.Expr) -> list[str]:
    from featuredsl import ir

    return list(dict.fromkeys(n.name for n in ir.walk(e) if isinstance(n, ir.LetRef)))


def _needed(program: ir.Program, targets: list[str]) -> set[str]:
    from featuredsl import ir

    roots = [ir.LetRef(program.values[n].type, n) for n in targets]
    return set(ir.referenced_values(program.values, program.order, roots))


def _untaken(e: ir.Expr, values: dict, keys: dict[tuple, str]) -> set[tuple]:
    """Keys of the sub-expressions in branches this row does not take."""
    from featuredsl import ir

    out: set[tuple] = set()

    def value_of(x: ir.Expr) -> object:
        if isinstance(x, ir.Const):
            return x.value
        if isinstance(x, ir.LetRef):
            return values.get(x.name)
        k = keys.get(x.key())
        return values.get(k) if k is not None else None

    def skip(x: ir.Expr) -> None:
        for node in ir.walk(x):
            out.add(node.key())

    for node in ir.walk(e):
        if node.key() in out:
            continue
        if isinstance(node, ir.If):
            skip(node.otherwise if value_of(node.cond) is True else node.then)
        elif isinstance(node, ir.Coalesce):
            for i, a in enumerate(node.args):
                if a.type.kind == "null" or value_of(a) is not None:
                    for later in node.args[i + 1:]:
                        skip(later)
                    break
    return out


def _bounds(w: ir.Window, program: ir.Program, values: dict, keys: dict[tuple, str]) -> str:
    """``key user_id = 7, events in [start, end)`` of one window at this row."""
    import datetime as dt

    from featuredsl import ir

    def given(name: str) -> object:
        return values[keys[ir.Input(program.inputs[name], name).key()]]

    src = program.sources[w.source]
    key = ", ".join(f"{k} = {c.dumps(c.to_json_value(given(b)))}"
                    for k, b in zip(src.keys, w.by, strict=True))
    assert program.time is not None
    t = given(program.time)
    if not isinstance(t, dt.datetime):
        return f"key {key}, no row time"
    end = c.to_json_value(t)
    if w.over is None:
        return f"key {key}, every event before {end}"
    try:
        start = c.to_json_value(t - dt.timedelta(microseconds=w.over))
    except OverflowError:
        start = "the earliest time"
    return f"key {key}, events in [{start}, {end})"
