"""Golden test of the generated row code, and its safety properties."""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import featuredsl as fd
from tests.harness import spec_of

ROOT = Path(__file__).parents[1]
GOLDEN = Path(__file__).parent / "golden" / "codegen" / "transactions.py.txt"


def _fitted_example() -> fd.FittedSpec:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from demo import generate
    finally:
        sys.path.pop(0)
    return fd.compile_file(ROOT / "examples" / "transactions.feat").fit(generate(2000))


def test_generated_code_is_stable() -> None:
    source = _fitted_example().row_evaluator().source
    if os.environ.get("FEATUREDSL_UPDATE_GOLDEN") == "1" or not GOLDEN.exists():
        GOLDEN.write_text(source, encoding="utf-8")
    assert source == GOLDEN.read_text(encoding="utf-8")


def test_generated_code_is_deterministic() -> None:
    assert _fitted_example().row_evaluator().source == _fitted_example().row_evaluator().source


def test_names_and_literals_never_become_code() -> None:
    """Every identifier in the generated code is generated; user text is only in literals."""
    spec = fd.compile(
        "input { `x'); import os #`: string, `__import__`: int, `v1`: int }\n"
        'feature `y"\\n= 1` = concat(`x\'); import os #`, "\\"); os.system(\\"x")\n'
        "feature `return 1` = `__import__` + `v1`\n")
    ev = spec.row_evaluator()
    out = ev({"x'); import os #": "a", "__import__": 1, "v1": 2})
    assert out == {'y"\\n= 1': 'a"); os.system("x', "return 1": 3}
    allowed = {"row", "get", "type", "int", "float", "str", "bool", "dict", "len", "abs", "None",
               "evaluate"}
    names = {n.id for n in ast.walk(ast.parse(ev.source)) if isinstance(n, ast.Name)}
    generated = {n for n in names if re.fullmatch(r"v\d+|_[A-Za-z0-9_]+_\d+", n)}
    assert names - generated <= allowed, names - generated - allowed


def test_null_checks_only_where_nullable() -> None:
    ev = spec_of("a + b", {"a": "int", "b": "int"}).row_evaluator()
    assert " is None" not in ev.source
    ev = spec_of("a + b", {"a": "int?", "b": "int"}).row_evaluator()
    assert "is None" in ev.source
