"""The bind pass (featuredsl/bind.py): the one step from a fitted program to what the backends
run. Its invariants (no statistic references, every non-constant node reads an input,
overloads specialized once, needed values computed once) are what both backends rely on, so
they are tested directly, and on every spec the differential generator can write."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

import featuredsl as fd
from featuredsl import ir
from featuredsl.bind import bind
from tests.harness import mismatches

pytestmark = pytest.mark.filterwarnings("ignore::featuredsl.fit.FitTimeWarning")


def _reads_input(e: ir.Expr, values: dict[str, ir.Expr]) -> bool:
    for n in ir.walk(e):
        if isinstance(n, ir.Input):
            return True
        if isinstance(n, ir.LetRef) and _reads_input(values[n.name], values):
            return True
    return False


def assert_bound(bound: ir.BoundProgram) -> None:
    """The invariants the backends rely on."""
    roots = [*bound.values.values(), *(f.expr for f in bound.features), *bound.exprs]
    for root in roots:
        for node in ir.walk(root):
            assert not isinstance(node, ir.StatRef | ir.Aggregate), node
            if not isinstance(node, ir.Const):
                assert _reads_input(node, bound.values), f"row-independent {node.key()}"
            if isinstance(node, ir.LetRef):
                assert node.name in bound.values
            if isinstance(node, ir.Call):
                for i, a in enumerate(node.args):
                    if node.overload.is_const(i):
                        assert isinstance(a, ir.Const)
                if node.function.null_policy == "propagate":
                    assert not any(isinstance(a, ir.Const) and a.value is None
                                   for i, a in enumerate(node.args)
                                   if not node.overload.is_const(i)), node.key()
    # dependency order: every let is bound before a value that reads it
    seen: set[str] = set()
    for name in bound.order:
        for node in ir.walk(bound.values[name]):
            if isinstance(node, ir.LetRef):
                assert node.name in seen, (name, node.name)
        seen.add(name)


def test_statistics_become_constants_and_overloads_are_specialized_once() -> None:
    spec = fd.compile("input { x: float?\n c: string }\nstat s = std(x)\n"
                      "stat v = vocab(c, top=3)\n"
                      "feature z = x / s\nfeature i = index_of(c, v) ?? -1\n")
    fitted = spec.fit(pl.DataFrame({"x": [1.0, 3.0, None], "c": ["a", "b", "a"]}))
    bound = fitted.bound()
    assert_bound(bound)
    calls = {n.function.name: n for f in bound.features for n in ir.walk(f.expr)
             if isinstance(n, ir.Call)} | {
        n.function.name: n for v in bound.values.values() for n in ir.walk(v)
        if isinstance(n, ir.Call)}
    # a non-zero constant divisor takes the never-null division; a constant vocabulary the
    # table lookup: the same overload the checker would pick for literals
    assert calls["div"].overload.hidden
    assert calls["index_of"].overload.hidden
    consts = [n.value for n in ir.walk(calls["index_of"]) if isinstance(n, ir.Const)]
    assert ("a", "b") in consts


def test_row_independent_subtrees_fold_once_and_lets_inline() -> None:
    spec = fd.compile("input { x: int? }\nlet k = 2 * 3\nlet dead = if true then 1 else x\n"
                      "feature a = x + k\nfeature b = dead\nfeature c = coalesce(null, 5, x)\n"
                      "feature d = x + abs(-4)\n")
    bound = spec.bound()
    assert_bound(bound)
    assert bound.order == ["a", "d"]  # k, dead, b and c are constants: inlined
    by_name = {f.name: f.expr for f in bound.features}
    assert isinstance(by_name["b"], ir.Const) and by_name["b"].value == 1
    assert isinstance(by_name["c"], ir.Const) and by_name["c"].value == 5
    assert spec.row_evaluator()({"x": 1}) == {"a": 7, "b": 1, "c": 5, "d": 5}


def test_null_argument_through_a_computation_is_null_on_every_row() -> None:
    # Regression: `split(s1, null)` is null on every row; `get` of it used to reach Polars as
    # a one-row null literal next to a column (ShapeError), and a dead call in the row code.
    spec = fd.compile("input { i1: int?\n s1: string? }\n"
                      "feature e0: string? = get(split(s1, null), i1)\n"
                      "feature e1 = length(lower(if false then s1 else null)) ?? -1\n")
    rows = [{"i1": None, "s1": None}, {"i1": 0, "s1": "a b"}]
    assert not mismatches(spec, rows)
    assert spec.transform(pl.DataFrame(rows, schema={"i1": pl.Int64, "s1": pl.String})
                          ).to_dicts() == [{"e0": None, "e1": -1}] * 2


def test_bind_of_an_unfitted_statistic_names_it() -> None:
    spec = fd.compile("input { x: float }\nfeature z = x - mean(x)\n")
    with pytest.raises(fd.NotFittedError, match="mean"):
        bind(spec.program, {})


def test_fit_binds_each_level_with_the_statistics_before_it() -> None:
    spec = fd.compile("input { x: float }\nstat m = mean(x)\nstat s = std(x - m)\n"
                      "stat q = quantiles(x - m, 4)\nfeature z = bucketize(x - m, q)\n")
    fitted = spec.fit(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 10.0]}))
    assert fitted.stats["m"] == 4.0
    assert fitted.stats["s"] == pytest.approx(3.16227766, rel=1e-9)
    assert fitted.stats["q"] == (-2.0, -1.0, 0.0)
    assert_bound(fitted.bound())


# Every spec the differential generator writes binds to IR that keeps the invariants.
from tests.test_differential import spec_text  # noqa: E402


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec_text())
def test_generated_specs_bind_to_valid_ir(spec_and_exprs: tuple) -> None:
    source, _ = spec_and_exprs
    assert_bound(fd.compile(source).bound())
