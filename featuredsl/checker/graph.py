"""The dependency graph of a spec's declarations: cycle detection and evaluation order."""

from __future__ import annotations

from collections.abc import Mapping, Set


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
