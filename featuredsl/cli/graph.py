"""``featuredsl graph SPEC``: lineage, which inputs, sources and statistics feed which features.

Formats: ``text`` (default; per feature the inputs, event sources (with the fields its windows
read) and statistics it needs, through lets and other features; per input the features it
feeds; per source the features over it and, per field, the features reading it; then what
nothing uses), ``dot`` (Graphviz: ``| dot -Tsvg``), ``mermaid`` (paste into Markdown) and
``json``::

    {"version": 1,
     "nodes": {name: {"kind": "input|source|stat|let|feature", "type": "float?",
                      "depends_on": [direct names],
                      "source_fields": {source: [fields]} (stats, lets, features),
                      "source": "mean(amount)" (stats), "inline": bool (stats),
                      "fields": {field: type}, "key": [fields], "time": field (sources)}},
     "features": {name: {"inputs": [...], "stats": [...], "via": [lets and features],
                         "sources": [...], "source_fields": {source: [fields]}}},
     "unused": {"inputs": [...], "stats": [...], "lets": [...], "sources": [...],
                "source_fields": {source: [fields]}},
     "serving_inputs": [...], "fit_only_inputs": [...]}

``serving_inputs`` are the inputs the features read (``Spec.serving_inputs``: what the row
evaluator and ``transform`` require); ``fit_only_inputs`` those read only by statistics (a
label: ``fit`` needs them, serving does not). The text format lists both when a spec has a
fit-only input.

A window aggregate (SPEC 13) reads its source (an edge source -> value), the fields it
aggregates or tests in ``where=`` (``source_fields``; in dot and mermaid an edge from the
field's node, drawn dashed), and on the row its key inputs and the row's time (ordinary input
edges). An unused source field is one no window reads that is neither key nor time.

Names are in declaration order. ``--feature NAME`` (repeatable) keeps only what those features
need. SPEC is a `.feat` file or a fitted `.json` artifact; a spec with errors exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from featuredsl.cli._common import OK, UsageError

if TYPE_CHECKING:
    from featuredsl.checker.graph import Lineage, Node

HELP = ("show the lineage of a spec: which inputs, event sources (and their fields) and "
        "statistics feed which features, and what is unused (text, dot, mermaid or json)")

_KINDS = ("input", "stat", "let", "feature")
_UNUSED_KINDS = ("input", "source", "stat", "let")


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
    unused: dict[str, object] = {k: [] if args.feature else graph.unused(k)
                                 for k in _UNUSED_KINDS}
    unused["field"] = {} if args.feature else graph.unused_fields()
    # What serving needs (the whole spec only): the inputs the features read; the inputs
    # read only by statistics (a label) are needed by fit alone.
    serving = [] if args.feature else list(spec.serving_inputs)
    unused["serving"] = serving
    unused["fit_only"] = [] if args.feature else spec.fit_only_inputs
    if args.feature:
        graph = graph.restricted(args.feature)
    render = {"text": _text, "dot": _dot, "mermaid": _mermaid, "json": _json}[args.format]
    sys.stdout.write(render(graph, unused))
    return OK


# ------------------------------------------------------------------------------ renderers


def _summary(graph: Lineage, name: str) -> dict[str, Any]:
    up = graph.upstream(name)
    return {"inputs": graph.of_kind(up, "input"), "stats": graph.of_kind(up, "stat"),
            "via": [n for n in graph.nodes if n in up and graph.nodes[n].kind in ("let",
                                                                                  "feature")],
            "sources": graph.of_kind(up, "source"), "source_fields": graph.fields_used(name)}


def _text(graph: Lineage, unused: dict[str, Any]) -> str:
    from featuredsl.syntax.format import name_text as q  # names as written in a spec

    def names(ns: list[str]) -> str:
        return ", ".join(q(n) for n in ns)

    lines: list[str] = []
    for f in graph.features:
        node = graph.nodes[f]
        s = _summary(graph, f)
        lines.append(f"feature {q(f)}: {node.type}")
        lines.append(f"  inputs: {names(s['inputs']) or '(none)'}")
        if s["sources"]:
            used = s["source_fields"]
            lines.append("  source: " + ", ".join(
                q(src) + (f" ({names(used[src])})" if used.get(src) else "")
                for src in s["sources"]))
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
    sources = graph.of_kind(graph.nodes, "source")
    if sources:
        lines += ["", "sources used by features:"]
        for src in sources:
            node = graph.nodes[src]
            over = [f for f in graph.features if src in graph.upstream(f)]
            lines.append(f"  {q(src)} (key {names(node.keys)}, time {q(node.time or '')})  "
                         f"-> {names(over) or '(nothing)'}")
            readers = {fld: [f for f in graph.features
                             if fld in graph.fields_used(f).get(src, [])]
                       for fld in node.fields}
            readers = {fld: fs for fld, fs in readers.items() if fs}
            if readers:
                width = max(len(q(fld)) for fld in readers)
                lines += [f"    {q(fld).ljust(width)}  -> {names(fs)}"
                          for fld, fs in readers.items()]
    titles = {"input": "unused inputs", "source": "unused sources",
              "stat": "unused statistics", "let": "unused lets"}
    extra = [f"{titles[k]}: {names(unused[k])}" for k in _UNUSED_KINDS if unused[k]]
    if unused["field"]:
        extra.append("unused source fields: " + ", ".join(
            f"{q(src)}.{q(fld)}" for src, fs in unused["field"].items() for fld in fs))
    if unused["fit_only"]:
        extra.append(f"serving inputs: {names(unused['serving']) or '(none)'}")
        extra.append("fit-only inputs (read only by statistics; not needed at serving): "
                     + names(unused["fit_only"]))
    if extra:
        lines.append("")
        lines += extra
    return "\n".join(lines) + "\n"


def _json(graph: Lineage, unused: dict[str, Any]) -> str:
    nodes = {}
    for n, node in graph.nodes.items():
        entry: dict[str, object] = {"kind": node.kind, "type": node.type,
                                    "depends_on": node.depends_on}
        if node.kind == "source":
            entry.update(fields=node.fields, key=node.keys, time=node.time)
        else:
            if node.kind != "input":
                entry["source_fields"] = node.source_fields
            if node.kind == "stat":
                entry["source"] = node.source
                entry["inline"] = node.inline
        nodes[n] = entry
    doc = {"version": 1, "nodes": nodes,
           "features": {f: _summary(graph, f) for f in graph.features},
           "unused": {"inputs": unused["input"], "stats": unused["stat"],
                      "lets": unused["let"], "sources": unused["source"],
                      "source_fields": unused["field"]},
           "serving_inputs": unused["serving"], "fit_only_inputs": unused["fit_only"]}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _label(graph: Lineage, name: str) -> str:
    node = graph.nodes[name]
    if node.kind == "stat":
        return (node.source or name) if node.inline else f"{name} = {node.source}"
    if node.kind == "source":
        return name
    return f"{name}: {node.type}"


def _ids(graph: Lineage) -> dict[str, str]:
    """Node ids safe in every format (names may hold any character in backquotes)."""
    return {n: f"n{k}" for k, n in enumerate(graph.nodes)}


def _field_ids(graph: Lineage, ids: dict[str, str]) -> dict[tuple[str, str], str]:
    """Ids of the source field nodes: ``n4_f2`` for the third field of node ``n4``."""
    return {(src, fld): f"{ids[src]}_f{j}" for src in graph.of_kind(graph.nodes, "source")
            for j, fld in enumerate(graph.nodes[src].fields)}


def _field_label(node: Node, fld: str) -> str:
    role = " (key)" if fld in node.keys else " (time)" if fld == node.time else ""
    return f"{fld}: {node.fields[fld]}{role}"


def _source_title(node: Node) -> str:
    return f"source {node.name} (key {', '.join(node.keys)}, time {node.time})"


def _dead(graph: Lineage, unused: dict[str, Any]) -> tuple[set[str], set[tuple[str, str]]]:
    nodes = {n for k in _UNUSED_KINDS for n in unused[k]}
    fields = {(src, f) for src, fs in unused["field"].items() for f in fs}
    for src in unused["source"]:  # every field of an unused source is unused
        fields |= {(src, f) for f in graph.nodes[src].fields}
    return nodes, fields


def _dot(graph: Lineage, unused: dict[str, Any]) -> str:
    ids = _ids(graph)
    fids = _field_ids(graph, ids)
    dead, dead_fields = _dead(graph, unused)
    grey = ", color=gray, fontcolor=gray"
    shape = {"input": "box, style=rounded", "stat": "hexagon", "let": "ellipse",
             "feature": "box, style=bold"}
    out = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for k, src in enumerate(graph.of_kind(graph.nodes, "source")):
        node = graph.nodes[src]
        out.append(f"  subgraph cluster_source_{k} {{")
        out.append(f'    label="{_dot_escape(_source_title(node))}"; style=dashed; color=gray;')
        out.append(f'    {ids[src]} [label="{_dot_escape(src)}", shape=cylinder'
                   f'{grey if src in dead else ""}];')
        for fld in node.fields:
            out.append(f'    {fids[src, fld]} [label="{_dot_escape(_field_label(node, fld))}", '
                       f'shape=note{grey if (src, fld) in dead_fields else ""}];')
        out.append("  }")
    for kind, title in zip(_KINDS, ("inputs", "statistics", "lets", "features"), strict=True):
        members = [n for n, node in graph.nodes.items() if node.kind == kind]
        if not members:
            continue
        out.append(f"  subgraph cluster_{kind} {{")
        out.append(f'    label="{title}"; style=dashed; color=gray;')
        for n in members:
            out.append(f'    {ids[n]} [label="{_dot_escape(_label(graph, n))}", '
                       f"shape={shape[kind]}{grey if n in dead else ''}];")
        out.append("  }")
    for n, node in graph.nodes.items():
        out += [f"  {ids[d]} -> {ids[n]};" for d in node.depends_on if d in ids]
        out += [f"  {fids[src, fld]} -> {ids[n]} [style=dashed];"
                for src, fs in node.source_fields.items() if src in ids for fld in fs]
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _mermaid(graph: Lineage, unused: dict[str, Any]) -> str:
    ids = _ids(graph)
    fids = _field_ids(graph, ids)
    dead, dead_fields = _dead(graph, unused)
    open_close = {"input": ("([", "])"), "stat": ("{{", "}}"), "let": ("(", ")"),
                  "feature": ("[", "]"), "source": ("[(", ")]")}
    out = ["flowchart LR"]
    for n, node in graph.nodes.items():
        o, c = open_close[node.kind]
        if node.kind != "source":
            out.append(f'  {ids[n]}{o}"{_mermaid_escape(_label(graph, n))}"{c}')
            continue
        out.append(f'  subgraph {ids[n]}_s["{_mermaid_escape(_source_title(node))}"]')
        out.append(f'    {ids[n]}{o}"{_mermaid_escape(n)}"{c}')
        out += [f'    {fids[n, fld]}["{_mermaid_escape(_field_label(node, fld))}"]'
                for fld in node.fields]
        out.append("  end")
    for n, node in graph.nodes.items():
        out += [f"  {ids[d]} --> {ids[n]}" for d in node.depends_on if d in ids]
        out += [f"  {fids[src, fld]} -.-> {ids[n]}"
                for src, fs in node.source_fields.items() if src in ids for fld in fs]
    grey = [ids[n] for n in graph.nodes if n in dead] + [fids[k] for k in fids
                                                          if k in dead_fields]
    if grey:
        out.append("  classDef unused stroke-dasharray: 5 5,color:#888")
        out.append(f"  class {','.join(grey)} unused")
    return "\n".join(out) + "\n"


def _mermaid_escape(text: str) -> str:
    # Mermaid labels in double quotes take HTML entities; these characters break the syntax.
    for ch, ent in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(ch, ent)
    return text
