"""The dependency graph of a spec's declarations: cycle detection, evaluation order, and the
lineage of features (which inputs and statistics feed which features, ``featuredsl graph``)."""

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
    """One value of a spec in the lineage graph."""

    name: str
    kind: str  # "input", "stat", "let" or "feature"
    type: str
    #: Names this value reads directly (inputs, stats, lets, features), sorted.
    depends_on: list[str] = field(default_factory=list)
    #: Display text of a statistic (``mean(amount)``), else None.
    source: str | None = None
    inline: bool = False


@dataclass
class Lineage:
    """Which inputs and statistics feed which features (``featuredsl graph``)."""

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

    def used(self) -> set[str]:
        """Every value some feature needs (features included)."""
        out = set(self.features)
        for f in self.features:
            out |= self.upstream(f)
        return out

    def unused(self, kind: str) -> list[str]:
        """The names of ``kind`` (``"input"``, ``"stat"``, ...) that no feature needs, in
        declaration order."""
        used = self.used()
        return [n for n, node in self.nodes.items() if node.kind == kind and n not in used]

    def restricted(self, features: Iterable[str]) -> Lineage:
        """The sub-graph that the given features need."""
        keep: set[str] = set()
        chosen = list(features)
        for f in chosen:
            keep |= {f} | self.upstream(f)
        nodes = {n: node for n, node in self.nodes.items() if n in keep}
        return Lineage(nodes, [f for f in self.features if f in set(chosen)])


def lineage(program: ir.Program) -> Lineage:
    """The lineage graph of a checked program: nodes in declaration order (inputs, statistics,
    then lets and features in dependency order), each with its direct dependencies."""
    features = [f.name for f in program.features]
    nodes: dict[str, Node] = {n: Node(n, "input", str(t)) for n, t in program.inputs.items()}
    for name, stat in program.stats.items():
        nodes[name] = Node(name, "stat", str(stat.expr.type), _reads(stat.expr),
                           stat.source, stat.inline)
    feature_set = set(features)
    for name in program.order:
        e = program.values[name]
        nodes[name] = Node(name, "feature" if name in feature_set else "let", str(e.type),
                           _reads(e))
    return Lineage(nodes, features)


def _reads(expr: ir.Expr) -> list[str]:
    out = {n.name for n in ir.walk(expr) if isinstance(n, ir.Input | ir.StatRef | ir.LetRef)}
    return sorted(out)
