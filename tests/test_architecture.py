"""The package's stages and what each may import (docs/architecture.md draws them).

A unit is a top-level module or a folder. Imports inside a folder are the folder's own
business; between units, only the edges listed in ALLOWED, and no cycle, counting every
runtime import (lazy ones inside functions too; ``if TYPE_CHECKING:`` imports are only for type
checkers and do not count).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "featuredsl"

#: unit -> the units it may import. The order of the stages: syntax, checker, ir, functions,
#: backends, bind, data, fit, artifact, api, then the tools built on the API.
ALLOWED: dict[str, set[str]] = {
    "types": set(),
    "errors": {"types"},
    "ir": {"types"},
    "syntax/": {"errors", "types", "ir"},
    "functions/": {"errors", "types", "ir"},
    "checker/": {"syntax/", "ir", "functions/", "errors", "types"},
    "backends/": {"ir", "functions/", "errors", "types"},
    # the row backend's code is the reference semantics: bind folds constants with it
    "bind": {"ir", "functions/", "backends/", "errors", "types"},
    "data/": {"backends/", "errors", "types"},
    # windows: the batch half (on the Polars backend), the online state (on the row backend)
    "windows/": {"ir", "backends/", "data/", "functions/", "errors", "types"},
    "fit/": {"ir", "bind", "backends/", "data/", "windows/", "functions/", "errors", "types"},
    "artifact": {"syntax/", "checker/", "ir", "fit/", "errors", "types", "__version__"},
    "api": {"syntax/", "checker/", "ir", "bind", "backends/", "data/", "windows/", "fit/",
            "artifact", "matrix", "errors", "types"},
    # model-ready output: the matrix layout of a bound program, both backends' conversion
    "matrix": {"ir", "errors", "types"},
    # the JSON row encoding (eval's): values by their declared types
    # (the row backend's converters check the values: the evaluator's own messages)
    "jsonrow": {"backends/", "errors", "types"},
    # the HTTP server over an artifact (featuredsl serve), on the public API
    "serving/": {"api", "jsonrow", "errors", "types", "__version__", "monitor/"},
    # the serving monitor (snapshots, its batch twin, the report), on the public API; it hooks
    # into the row backend's RowObserver and reads data as transform does
    "monitor/": {"api", "backends/", "data/", "windows/", "fit/", "ir", "errors", "types",
                 "__version__"},
    # the scikit-learn transformer, on the public API
    "sklearn": {"api", "matrix", "errors"},
    # Spark (docs/spark.md): the batch backend in Spark's workers on the public API; the fit's
    # passes (fit/) driven by Spark jobs; the local acceptance rules (data/) for the schema;
    # bind for the windows a fit reads (as fit/ finds them)
    "spark/": {"api", "fit/", "bind", "data/", "ir", "errors", "types"},
    "irshow": {"ir", "types"},
    "diff_report": set(),
    "diff_data": {"api", "parity", "errors", "data/"},
    "diff": {"api", "parity", "irshow", "diff_report", "diff_data", "ir", "errors", "types"},
    # feature logging (on the row backend's observer hook) and skew (the batch backend
    # through the API, the parity equality); sample_by hashes keys with the language's hash
    "featurelog/": {"api", "parity", "backends/", "data/", "functions/", "errors", "types",
                    "__version__"},
    "parity": {"api", "data/", "backends/", "windows/", "ir", "errors", "types"},
}
#: Free to import anything below them (nothing imports them).
TOP = {"cli/", "__init__", "__main__"}


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1] + "/" if (PACKAGE / parts[1]).is_dir() else parts[1]


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the files (with line) importing it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        src = _unit(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module.split(".")[0] == "featuredsl":
                targets = ([f"featuredsl.{a.name}" for a in node.names]
                           if node.module == "featuredsl" else [node.module])
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "featuredsl"]
            for t in targets:
                dst = _unit(t)
                if dst != src:
                    graph[src][dst].append(f"{rel}.py:{node.lineno}")
    return graph


def test_every_unit_is_classified() -> None:
    units = {_unit(".".join(p for p in path.relative_to(PACKAGE.parent).with_suffix("").parts
                            if p != "__init__")) for path in PACKAGE.rglob("*.py")}
    unknown = units - set(ALLOWED) - TOP - {"__version__"}
    assert not unknown, f"add these to ALLOWED (and docs/architecture.md): {sorted(unknown)}"


def test_imports_follow_the_stages() -> None:
    bad = []
    for src, targets in import_graph().items():
        if src in TOP:
            continue
        for dst, where in targets.items():
            if dst not in ALLOWED.get(src, set()):
                bad.append(f"{src} -> {dst} ({', '.join(where)})")
    assert not bad, "imports against the stages:\n" + "\n".join(bad)


def test_no_import_cycle_between_units() -> None:
    graph = {s: set(t) for s, t in import_graph().items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*path[path.index(v):], v]
            if v not in state and (cycle := visit(v)) is not None:
                return cycle
        path.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (cycle := visit(u)) is not None:
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_backends_know_nothing_of_fitting() -> None:
    """The backends take bound IR: no statistic references, no fitted values, no bind."""
    for path in (PACKAGE / "backends").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "StatRef" not in text, path
        assert "stats[" not in text, path
