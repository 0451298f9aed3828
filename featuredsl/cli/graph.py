"""``featuredsl graph SPEC``: lineage, which inputs and statistics feed which features.

Formats: ``text`` (default; per feature the inputs and statistics it needs, through lets and
other features; per input the features it feeds; then what nothing uses), ``dot`` (Graphviz:
``| dot -Tsvg``), ``mermaid`` (paste into Markdown) and ``json``::

    {"version": 1,
     "nodes": {name: {"kind": "input|stat|let|feature", "type": "float?",
                      "depends_on": [direct names], "source": "mean(amount)" (stats),
                      "inline": bool (stats)}},
     "features": {name: {"inputs": [...], "stats": [...], "via": [lets and features]}},
     "unused": {"inputs": [...], "stats": [...], "lets": [...]}}

Names are in declaration order. ``--feature NAME`` (repeatable) keeps only what those features
need. SPEC is a `.feat` file or a fitted `.json` artifact; a spec with errors exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from featuredsl.cli._common import OK, UsageError

HELP = ("show the lineage of a spec: which inputs and statistics feed which features, and "
        "what is unused (text, dot, mermaid or json)")

_KINDS = ("input", "stat", "let", "feature")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the spec, ``--format`` and ``--feature`` of ``featuredsl graph`` on ``p``."""
    p.add_argument("spec", metavar="SPEC", help="a .feat spec or a .json artifact")
    p.add_argument("--format", choices=("text", "dot", "mermaid", "json"), default="text",
                   help="output format (default text)")
    p.add_argument("--feature", action="append", default=[], metavar="NAME",
                   help="only the lineage of this feature (repeatable)")
    p.epilog = ("examples:\n  featuredsl graph model.feat\n"
                "  featuredsl graph model.feat --format dot | dot -Tsvg > lineage.svg\n"
                "  featuredsl graph model.feat --format mermaid --feature amount_z")


def run(args: argparse.Namespace) -> int:
    """Print the spec's lineage in the chosen format; exit status 0. Raises ``UsageError`` for
    an unknown ``--feature``.
    """
    from featuredsl.checker.graph import lineage
    from featuredsl.cli._common import load_spec
    from featuredsl.errors import did_you_mean

    spec = load_spec(args.spec)
    graph = lineage(spec.program)
    for name in args.feature:
        if name not in graph.features:
            hint = did_you_mean(name, graph.features)
            raise UsageError(f"no feature `{name}` in {args.spec}" + (f"; {hint}" if hint else ""))
    # Unused values are reported for the whole spec only: a selection leaves out on purpose.
    unused = {k: [] if args.feature else graph.unused(k) for k in ("input", "stat", "let")}
    if args.feature:
        graph = graph.restricted(args.feature)
    render = {"text": _text, "dot": _dot, "mermaid": _mermaid, "json": _json}[args.format]
    sys.stdout.write(render(graph, unused))
    return OK


# ------------------------------------------------------------------------------ renderers


def _summary(graph, name: str) -> dict[str, list[str]]:
    up = graph.upstream(name)
    return {"inputs": graph.of_kind(up, "input"), "stats": graph.of_kind(up, "stat"),
            "via": [n for n in graph.nodes if n in up and graph.nodes[n].kind in ("let",
                                                                                  "feature")]}


def _text(graph, unused: dict[str, list[str]]) -> str:
    from featuredsl.syntax.format import name_text as q  # names as written in a spec

    def names(ns: list[str]) -> str:
        return ", ".join(q(n) for n in ns)

    lines: list[str] = []
    for f in graph.features:
        node = graph.nodes[f]
        s = _summary(graph, f)
        lines.append(f"feature {q(f)}: {node.type}")
        lines.append(f"  inputs: {names(s['inputs']) or '(none)'}")
        if s["stats"]:
            stats = [n if graph.nodes[n].inline else f"{q(n)} = {graph.nodes[n].source}"
                     for n in s["stats"]]
            lines.append(f"  stats:  {', '.join(stats)}")
        if s["via"]:
            lines.append(f"  via:    {names(s['via'])}")
    feeds: dict[str, list[str]] = {n: [] for n in graph.of_kind(graph.nodes, "input")}
    for f in graph.features:
        for i in _summary(graph, f)["inputs"]:
            feeds[i].append(f)
    if feeds:
        lines += ["", "inputs used by features:"]
        width = max(len(q(n)) for n in feeds)
        lines += [f"  {q(n).ljust(width)}  -> {names(fs) or '(nothing)'}"
                  for n, fs in feeds.items()]
    titles = {"input": "unused inputs", "stat": "unused statistics", "let": "unused lets"}
    extra = [f"{titles[k]}: {names(v)}" for k, v in unused.items() if v]
    if extra:
        lines.append("")
        lines += extra
    return "\n".join(lines) + "\n"


def _json(graph, unused: dict[str, list[str]]) -> str:
    nodes = {}
    for n, node in graph.nodes.items():
        entry: dict[str, object] = {"kind": node.kind, "type": node.type,
                                    "depends_on": node.depends_on}
        if node.kind == "stat":
            entry["source"] = node.source
            entry["inline"] = node.inline
        nodes[n] = entry
    doc = {"version": 1, "nodes": nodes,
           "features": {f: _summary(graph, f) for f in graph.features},
           "unused": {"inputs": unused["input"], "stats": unused["stat"],
                      "lets": unused["let"]}}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _label(graph, name: str) -> str:
    node = graph.nodes[name]
    if node.kind == "stat":
        return node.source if node.inline else f"{name} = {node.source}"
    return f"{name}: {node.type}"


def _ids(graph) -> dict[str, str]:
    """Node ids safe in every format (names may hold any character in backquotes)."""
    return {n: f"n{k}" for k, n in enumerate(graph.nodes)}


def _dot(graph, unused: dict[str, list[str]]) -> str:
    ids = _ids(graph)
    dead = {n for v in unused.values() for n in v}
    shape = {"input": "box, style=rounded", "stat": "hexagon", "let": "ellipse",
             "feature": "box, style=bold"}
    out = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for kind, title in zip(_KINDS, ("inputs", "statistics", "lets", "features"), strict=True):
        members = [n for n, node in graph.nodes.items() if node.kind == kind]
        if not members:
            continue
        out.append(f"  subgraph cluster_{kind} {{")
        out.append(f'    label="{title}"; style=dashed; color=gray;')
        for n in members:
            grey = ", color=gray, fontcolor=gray" if n in dead else ""
            out.append(f'    {ids[n]} [label="{_dot_escape(_label(graph, n))}", '
                       f"shape={shape[kind]}{grey}];")
        out.append("  }")
    for n, node in graph.nodes.items():
        out += [f"  {ids[d]} -> {ids[n]};" for d in node.depends_on if d in ids]
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _mermaid(graph, unused: dict[str, list[str]]) -> str:
    ids = _ids(graph)
    dead = {n for v in unused.values() for n in v}
    open_close = {"input": ("([", "])"), "stat": ("{{", "}}"), "let": ("(", ")"),
                  "feature": ("[", "]")}
    out = ["flowchart LR"]
    for n, node in graph.nodes.items():
        o, c = open_close[node.kind]
        out.append(f'  {ids[n]}{o}"{_mermaid_escape(_label(graph, n))}"{c}')
    for n, node in graph.nodes.items():
        out += [f"  {ids[d]} --> {ids[n]}" for d in node.depends_on if d in ids]
    if dead:
        out.append("  classDef unused stroke-dasharray: 5 5,color:#888")
        out.append(f"  class {','.join(ids[n] for n in graph.nodes if n in dead)} unused")
    return "\n".join(out) + "\n"


def _mermaid_escape(text: str) -> str:
    # Mermaid labels in double quotes take HTML entities; these characters break the syntax.
    for ch, ent in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(ch, ent)
    return text
