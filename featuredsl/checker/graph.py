"""The dependency graph of a spec's declarations: cycle detection, evaluation order, and the
lineage of features (which inputs, event sources and statistics feed which features,
``featuredsl graph``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

from featuredsl import ir


def find_cycle(deps: Mapping[str, Set[str]]) -> list[str] | None:
    """A dependency cycle as a path ``[a, b, ..., a]``, or ``None`` (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in deps:
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(root, sorted(deps.get(root, ())))]
        state[root] = 1
        path.append(root)
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if nxt not in deps:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(deps.get(nxt, ()))))
    return None


def topological_order(deps: Mapping[str, Set[str]]) -> list[str]:
    """Declarations with dependencies first; otherwise in declaration order (stable)."""
    order: list[str] = []
    done: set[str] = set()
    for root in deps:
        stack = [(root, iter(sorted(deps[root])))]
        if root in done:
            continue
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if nxt in deps and nxt not in done:
                    stack.append((nxt, iter(sorted(deps[nxt]))))
                    break
            else:
                stack.pop()
                if node not in done:
                    done.add(node)
                    order.append(node)
    return order


# ------------------------------------------------------------------------------ lineage


@dataclass
class Node:
    """One value of a spec in the lineage graph, or one event source (kind ``source``)."""

    name: str
    kind: str  # "input", "source", "stat", "let" or "feature"
    type: str  # "source" for a source
    #: Names this value reads directly (inputs, sources, stats, lets, features), sorted. A
    #: window aggregate reads its source and, on the row, its key inputs (``by``) and the
    #: row's time.
    depends_on: list[str] = field(default_factory=list)
    #: Display text of a statistic (``mean(amount)``), else None.
    source: str | None = None
    inline: bool = False
    #: A value's window aggregates: per source read directly, the fields they aggregate or
    #: test in ``where=`` (sorted; the key and time are read by every window).
    source_fields: dict[str, list[str]] = field(default_factory=dict)
    #: A source's fields with their types, its key fields and its time field.
    fields: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    time: str | None = None


@dataclass
class Lineage:
    """Which inputs, sources and statistics feed which features (``featuredsl graph``)."""

    nodes: dict[str, Node]
    features: list[str]

    def upstream(self, name: str) -> set[str]:
        """Every value ``name`` depends on, directly or through others (not itself)."""
        seen: set[str] = set()
        stack = list(self.nodes[name].depends_on)
        while stack:
            n = stack.pop()
            if n not in seen and n in self.nodes:
                seen.add(n)
                stack.extend(self.nodes[n].depends_on)
        return seen

    def of_kind(self, names: Iterable[str], kind: str) -> list[str]:
        """The names of one kind, in declaration order."""
        wanted = set(names)
        return [n for n, node in self.nodes.items() if node.kind == kind and n in wanted]

    def fields_used(self, name: str) -> dict[str, list[str]]:
        """The source fields ``name`` reads through its windows, directly or through other
        values: source -> fields in the source's declaration order (sources in theirs)."""
        got: dict[str, set[str]] = {}
        for n in {name} | self.upstream(name):
            for src, fs in self.nodes[n].source_fields.items():
                got.setdefault(src, set()).update(fs)
        return {src: [f for f in self.nodes[src].fields if f in got[src]]
                for src in self.of_kind(got, "source")}

    def used(self) -> set[str]:
        """Every value some feature needs (features included)."""
        out = set(self.features)
        for f in self.features:
            out |= self.upstream(f)
        return out

    def unused(self, kind: str) -> list[str]:
        """The values (or sources) of one kind that no feature needs, in declaration order."""
        used = self.used()
        return [n for n, node in self.nodes.items() if node.kind == kind and n not in used]

    def unused_fields(self) -> dict[str, list[str]]:
        """Per source some feature reads, its fields that no feature's window aggregates or
        tests and that are neither its key nor its time (the log need not carry them)."""
        used: dict[str, set[str]] = {}
        for f in self.features:
            for src, fs in self.fields_used(f).items():
                used.setdefault(src, set()).update(fs)
        out: dict[str, list[str]] = {}
        for src in self.of_kind(self.used(), "source"):
            node = self.nodes[src]
            dead = [f for f in node.fields if f not in used.get(src, set())
                    and f not in node.keys and f != node.time]
            if dead:
                out[src] = dead
        return out

    def restricted(self, features: Iterable[str]) -> Lineage:
        """The sub-graph that the given features need."""
        keep: set[str] = set()
        chosen = list(features)
        for f in chosen:
            keep |= {f} | self.upstream(f)
        nodes = {n: node for n, node in self.nodes.items() if n in keep}
        return Lineage(nodes, [f for f in self.features if f in set(chosen)])


def lineage(program: ir.Program) -> Lineage:
    """The lineage graph of a checked program: nodes in declaration order (inputs, sources,
    statistics, then lets and features in dependency order), each with its direct
    dependencies."""
    features = [f.name for f in program.features]
    nodes: dict[str, Node] = {n: Node(n, "input", str(t)) for n, t in program.inputs.items()}
    for name, src in program.sources.items():
        nodes[name] = Node(name, "source", "source", fields={f: str(t) for f, t in
                                                             src.fields.items()},
                           keys=list(src.keys), time=src.time)
    for name, stat in program.stats.items():
        reads, fields = _reads(stat.expr, program.time)
        nodes[name] = Node(name, "stat", str(stat.expr.type), reads, stat.source, stat.inline,
                           fields)
    feature_set = set(features)
    for name in program.order:
        e = program.values[name]
        reads, fields = _reads(e, program.time)
        nodes[name] = Node(name, "feature" if name in feature_set else "let", str(e.type),
                           reads, source_fields=fields)
    return Lineage(nodes, features)


def _reads(expr: ir.Expr, time: str | None) -> tuple[list[str], dict[str, list[str]]]:
    """The names an expression reads directly, and the source fields its windows read."""
    out: set[str] = set()
    fields: dict[str, set[str]] = {}
    for n in ir.walk(expr):
        if isinstance(n, ir.Input | ir.StatRef | ir.LetRef):
            out.add(n.name)
        elif isinstance(n, ir.Window):
            out.add(n.source)
            out.update(n.by)
            if time is not None:
                out.add(time)
            got = fields.setdefault(n.source, set())
            if n.field is not None:
                got.add(n.field)
            if n.where is not None:  # the predicate's inputs are the event's fields
                got.update(x.name for x in ir.walk(n.where) if isinstance(x, ir.Input))
    return sorted(out), {s: sorted(fs) for s, fs in sorted(fields.items()) if fs}
