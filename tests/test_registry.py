"""Completeness of the function registry: every overload has both lowerings, docs and examples
that pass on both backends (the cel-go discipline: no function half-implemented)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from featuredsl import ir
from featuredsl.functions.registry import Example, Function, all_functions
from tests.harness import assert_parity, infer_type, same_value, spec_of

SCALARS = [f for f in all_functions() if f.kind != "aggregate"]
EXAMPLES = [(f, ex) for f in SCALARS for ex in f.examples]


def _spec_for(ex: Example):
    types = {n: ex.types.get(n) or infer_type(v) for n, v in ex.row.items()}
    if not types:
        types = {"unused_": "int?"}
    return spec_of(ex.expr, types)


def _overloads_used(spec) -> set[str]:
    used = set()
    for f in spec.program.features:
        for node in ir.walk(f.expr):
            if isinstance(node, ir.Call):
                used.add(node.overload.id)
    return used


@pytest.mark.parametrize(("fn", "ex"), EXAMPLES,
                         ids=[f"{f.name}:{ex.expr}:{i}" for i, (f, ex) in enumerate(EXAMPLES)])
def test_example_passes_on_both_backends(fn: Function, ex: Example) -> None:
    spec = _spec_for(ex)
    row = dict(ex.row)
    out = assert_parity(spec, [row])[0]["out"]
    assert same_value(out, ex.expected), f"{ex.expr} with {row}: got {out!r}, " \
                                         f"documented {ex.expected!r}"


def test_every_overload_is_covered_by_an_example() -> None:
    used: set[str] = set()
    for _, ex in EXAMPLES:
        used |= _overloads_used(_spec_for(ex))
    # "special" entries (is_null, fill_null) are aliases the checker lowers to IR nodes, not
    # calls: tests/test_nulls.py checks they give the same IR as `is null` and `??`.
    missing = sorted(o.id for f in SCALARS if f.kind != "special" for o in f.overloads
                     if o.id not in used)
    assert not missing, f"overloads without a passing example: {missing}"


@pytest.mark.parametrize("fn", all_functions(), ids=lambda f: f.name)
def test_entry_is_documented(fn: Function) -> None:
    assert fn.doc and len(fn.doc) > 10
    assert fn.overloads
    ids = [o.id for o in fn.overloads]
    assert len(ids) == len(set(ids))
    for o in fn.overloads:
        assert callable(o.polars) and callable(o.row)
    if fn.kind != "aggregate":
        assert fn.examples, f"{fn.name} has no examples"
    for p in fn.defaults:
        assert p in fn.params


def test_overload_ids_unique_across_registry() -> None:
    ids = [o.id for f in all_functions() for o in f.overloads]
    assert len(ids) == len(set(ids))


def test_every_function_has_a_null_case_run_through_both_backends() -> None:
    """Issue 4: every function has a case (a conformance case or a registry example) where
    an argument is null, so its null rule is checked on both backends, not assumed."""
    cases = [c for p in sorted((Path(__file__).parent / "conformance").glob("*.json"))
             for c in json.loads(p.read_text(encoding="utf-8"))]
    missing = []
    for fn in all_functions():
        if fn.kind == "aggregate" or fn.symbol is not None:
            continue  # aggregates skip nulls by definition; operators: tests/conformance
        if all(not ov.params for ov in fn.overloads):
            continue  # no argument, no null: `pi()`
        call = re.compile(rf"\b{re.escape(fn.name)}\s*\(")
        in_cases = any(call.search(c.get("expr", "")) and any(
            v is None for r in c.get("rows", []) for v in r.values()) for c in cases)
        in_examples = any(v is None for ex in fn.examples for v in ex.row.values())
        if not (in_cases or in_examples):
            missing.append(fn.name)
    assert not missing, f"no null case for: {missing}"
