"""The front end: literals, comments, doc comments, names, nesting limits."""

from __future__ import annotations

import datetime as dt

import pytest

import featuredsl as fd
from featuredsl.syntax import ast
from featuredsl.syntax.parser import MAX_DEPTH, parse
from tests.harness import spec_of


def literal_of(text: str) -> ast.Node:
    module, diags = parse(f"feature x = {text}\n")
    assert not diags, diags
    return module.decls[0].expr


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("42", "int", 42), ("1_000_000", "int", 1_000_000), ("-9223372036854775808", "int", -2**63),
    ("3.14", "float", 3.14), ("1e-3", "float", 1e-3), ("2.5E+3", "float", 2500.0),
    ("1_0.5", "float", 10.5), ('"a\\"b\\\\c\\n\\t"', "string", 'a"b\\c\n\t'),
    ('"\\u00e9\\U0001F600"', "string", "é😀"), ('""', "string", ""),
    ("true", "bool", True), ("false", "bool", False), ("null", "null", None),
    ("7d", "duration", 7 * 86_400_000_000), ("12h", "duration", 12 * 3_600_000_000),
    ("30m", "duration", 30 * 60_000_000), ("15s", "duration", 15_000_000),
    ("1d12h", "duration", 36 * 3_600_000_000), ("250ms", "duration", 250_000),
    ("-90s", "duration", -90_000_000),
    ("7d 12h 30m 15s", "duration", ((7 * 24 + 12) * 60 + 30) * 60_000_000 + 15_000_000),
    ("1h\t30m", "duration", 90 * 60_000_000),
])
def test_literals(text: str, kind: str, value: object) -> None:
    node = literal_of(text)
    assert isinstance(node, ast.Literal)
    assert (node.kind, node.value) == (kind, value)


def test_duration_literal_values_in_both_backends() -> None:
    spec = spec_of("if b then 1d12h else 15s", {"b": "bool"})
    ev = spec.row_evaluator()
    assert ev({"b": True})["out"] == dt.timedelta(days=1, hours=12)
    assert spec.transform({"b": [False]} and __import__("polars").DataFrame({"b": [False]}))[
        "out"].to_list() == [dt.timedelta(seconds=15)]


def test_comments_and_doc_comments() -> None:
    src = """# file comment
input {
  a: int   # trailing comment with "quotes" and `ticks`
}
## The answer.
## Second line.
feature x = a + 1  # not a doc
# plain comment: not a doc
feature y = "# not a comment"
"""
    module, diags = parse(src)
    assert not diags
    assert module.decls[0].doc == "The answer.\nSecond line."
    assert module.decls[1].doc is None
    assert [c.text for c in module.comments] == [
        "# file comment", '# trailing comment with "quotes" and `ticks`', "## The answer.",
        "## Second line.", "# not a doc", "# plain comment: not a doc"]
    spec = fd.compile(src)
    assert spec.row_evaluator()({"a": 1})["y"] == "# not a comment"


def test_backquoted_names_for_any_column() -> None:
    spec = fd.compile("input { `order id`: int, `λ-x`: float }\n"
                      "feature `total amount` = `order id` + `λ-x`\n")
    assert spec.inputs == {"order id": "int", "λ-x": "float"}
    assert spec.features == ["total amount"]
    assert spec.row_evaluator()({"order id": 1, "λ-x": 0.5}) == {"total amount": 1.5}


def test_declarations_in_any_order_and_features_referencing_features() -> None:
    spec = fd.compile("""
feature c = b * 2
let a = x + 1
feature b = a * 10
input { x: int }
""")
    assert spec.features == ["c", "b"]
    assert spec.row_evaluator()({"x": 1}) == {"c": 40, "b": 20}


def test_keyword_arguments_and_defaults() -> None:
    spec = spec_of("round(x, n=1) + round(x)", {"x": "float"})
    assert spec.row_evaluator()({"x": 1.26}) == {"out": 1.3 + 1.0}


def test_trailing_commas() -> None:
    spec = spec_of("concat(a, b,) in [\"xy\", \"z\",]", {"a": "string", "b": "string"})
    assert spec.row_evaluator()({"a": "x", "b": "y"})["out"] is True


def test_deep_nesting_is_a_spec_error_not_a_recursion_error() -> None:
    deep = "-" * 5000 + "x"
    with pytest.raises(fd.SpecError) as info:
        spec_of(deep, {"x": "int"})
    assert [d.code for d in info.value.diagnostics] == ["E210"]
    long_sum = " + ".join(["x"] * (MAX_DEPTH + 50))
    with pytest.raises(fd.SpecError):
        spec_of(long_sum, {"x": "int"})
    fn_nest = "abs(" * 3000 + "x" + ")" * 3000
    with pytest.raises(fd.SpecError):
        spec_of(fn_nest, {"x": "int"})


def test_parentheses_do_not_count_as_depth_and_wide_expressions_work() -> None:
    spec = spec_of("(" * 500 + "x" + ")" * 500, {"x": "int"})
    assert spec.row_evaluator()({"x": 3})["out"] == 3
    wide = " + ".join(f"least(x, {i})" for i in range(150))
    spec = spec_of(wide, {"x": "int"})
    row = spec.row_evaluator()({"x": 1000})["out"]
    assert row == sum(range(150))
    assert spec.transform(__import__("polars").DataFrame({"x": [1000]}))["out"][0] == row


@pytest.mark.parametrize("garbage", [
    "", "\x00\x01", "feature", "input {", "}}}", "feature x = (", "let = 3", "💥", "feature x =",
    "input { a: }", "input { a: list[ }", "feature x = f(a=)", "stat", "feature x: = 1",
])
def test_garbage_gives_spec_error(garbage: str) -> None:
    with pytest.raises(fd.SpecError):
        fd.compile(garbage)


def test_compile_file_errors_are_featuredsl_errors(tmp_path) -> None:
    with pytest.raises(fd.FeatureDSLError, match="no such file"):
        fd.compile_file(tmp_path / "missing.feat")
    bad = tmp_path / "bad.feat"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(fd.FeatureDSLError, match="cannot read"):
        fd.compile_file(bad)
    good = tmp_path / "good.feat"
    good.write_text("input { a: int }\nfeature b = a + 1\n")
    assert fd.compile_file(good).file == str(good)
