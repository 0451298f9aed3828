"""Regression tests for backend mismatches found by tests/test_differential.py.

Each test is the minimized case the property test found, run through both backends
(``assert_parity``) and checked against the documented value (SPEC section 4).
"""

from __future__ import annotations

import featuredsl as fd
from tests.harness import assert_parity, frame_for, spec_of

NULLABLE = {"b1": "bool?", "i1": "int?", "f1": "float?", "s1": "string?"}


def test_bare_null_condition_in_case() -> None:
    # Polars: `when(lit(None, Null))` raised SchemaError; a null condition takes the else branch.
    spec = spec_of("case when null then b1 end", {"b1": "bool?"})
    assert assert_parity(spec, [{"b1": True}, {"b1": None}]) == [{"out": None}, {"out": None}]


def test_bare_null_operands() -> None:
    rows = [{"b1": True, "i1": 3, "s1": "ab"}, {"b1": False, "i1": None, "s1": None}]
    types = {"b1": "bool?", "i1": "int?", "s1": "string?"}
    for expr, expected in [
        ("if null then i1 else 7", [7, 7]),
        ("null and b1", [None, False]),
        ("null or b1", [True, None]),
        ("i1 + null", [None, None]),
        ("contains(s1, null)", [None, None]),
        ("concat(s1, null)", [None, None]),
        ("coalesce(null, i1)", [3, None]),
    ]:
        spec = spec_of(expr, types)
        out = [r["out"] for r in assert_parity(spec, rows)]
        assert out == expected, expr


def test_constant_feature_has_one_value_per_row() -> None:
    # A spec whose features are all constants: the batch select gave 1 row for any frame.
    spec = spec_of("true", {"i1": "int?"})
    assert assert_parity(spec, [{"i1": 1}, {"i1": None}, {"i1": 3}]) == [{"out": True}] * 3
    assert spec.transform(frame_for(spec, [])).height == 0


def test_is_null_of_a_literal_compiles_without_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = spec_of('if (5 is null) or ("a" is not null) then i1 else null', {"i1": "int?"})
        assert assert_parity(spec, [{"i1": 2}]) == [{"out": 2}]


def test_int_mod_minus_one_of_null_is_null() -> None:
    # Polars: the `b == -1` special case gave 0 for a null dividend.
    spec = spec_of("i1 % i2", {"i1": "int?", "i2": "int"})
    rows = [{"i1": None, "i2": -1}, {"i1": -(2**63), "i2": -1}, {"i1": 7, "i2": -1},
            {"i1": -7, "i2": 3}]
    assert [r["out"] for r in assert_parity(spec, rows)] == [None, 0, 0, 2]


def test_log2_log10_of_the_largest_float() -> None:
    # Row: the exact-power check computed math.pow(2.0, 1024.0) and raised OverflowError.
    for fn in ("log2", "log10"):
        spec = spec_of(f"{fn}(f1)", {"f1": "float?"})
        rows = [{"f1": 1.7976931348623157e308}, {"f1": float("inf")}, {"f1": 5e-324},
                {"f1": 1e308}]
        out = [r["out"] for r in assert_parity(spec, rows)]
        assert out[1] == float("inf")
        assert out[0] is not None and out[0] > 300
    spec = spec_of("log2(f1)", {"f1": "float?"})
    assert assert_parity(spec, [{"f1": 5e-324}]) == [{"out": -1074.0}]


def test_negating_the_int64_min_literal_is_null_not_a_compile_error() -> None:
    # The parser folded `-(-9223372036854775808)` into the literal 2**63 and rejected it (E004),
    # while `neg` documents exactly this expression as "overflows and gives null".
    spec = spec_of("-(-9223372036854775808) ?? i1", {"i1": "int?"})
    assert assert_parity(spec, [{"i1": 4}]) == [{"out": 4}]
    spec = spec_of("-9223372036854775808 + i1", {"i1": "int?"})
    assert assert_parity(spec, [{"i1": -1}, {"i1": 1}]) == [{"out": None},
                                                           {"out": -(2**63) + 1}]


def test_constant_condition_with_a_literal_left_comparison_keeps_the_frame_length() -> None:
    # Polars 2.1: `when(<null or false literal>).then(lit(0) == col).otherwise(<literal>)` is
    # one row long, so the batch output had 1 row for 2 input rows. The lowering now picks the
    # branch of a constant condition itself.
    rows = [{"i1": 0}, {"i1": None}, {"i1": 5}]
    for expr, expected in [("case when null then (0 == i1) end", [None, None, None]),
                           ("if false then 0 == i1 else null", [None, None, None]),
                           ("if true then 0 == i1 else null", [True, None, False]),
                           ("if null and true then 1 else i1", [0, None, 5])]:
        spec = spec_of(expr, {"i1": "int?"})
        assert [r["out"] for r in assert_parity(spec, rows)] == expected, expr


def test_literal_left_comparison_with_an_all_true_when_then() -> None:
    # Polars 2.1: `lit == when(all-true mask).then(lit).otherwise(col)` is one row long; the
    # batch frame came out short (or ShapeError beside another feature). Comparisons now put
    # the literal on the right.
    types = {"i1": "int?", "du1": "duration?", "f1": "float?", "s1": "string?"}
    rows = [{"i1": 0, "du1": None, "f1": 2.0, "s1": "b"}, {"i1": 0, "du1": None, "f1": 3.0,
                                                           "s1": "c"}]
    for expr, expected in [
        ("0d == (if i1 == i1 then 0d else du1)", [True, True]),
        ("(1.0 < (if f1 > 0 then 5.0 else f1)) is null", [False, False]),
        ('"a" >= (if f1 > 0 then "ab" else s1)', [False, False]),
        ("not (7 != (if i1 == 0 then 7 else i1))", [True, True]),
    ]:
        spec = spec_of(expr, types)
        assert [r["out"] for r in assert_parity(spec, rows)] == expected, expr
        spec = fd.compile(f"input {{ i1: int?\n du1: duration?\n f1: float?\n s1: string? }}\n"
                          f"feature a = i1\nfeature out = {expr}\n")
        assert [r["out"] for r in assert_parity(spec, rows)] == expected, expr


def test_row_dependence_cache_survives_short_lived_nodes() -> None:
    # The batch lowering cached "depends on the row" by id(node); plan() lowers temporary LetRef
    # nodes, a freed one's id was reused, and feature `e1 = b1` was taken for a constant
    # (KeyError '$in:b1' while folding it). Many lets and constant features make reuse likely.
    lines = ["input { b1: bool?\n d1: date? }"]
    lines += [f"let l{k} = (d1 ?? d1)" for k in range(3)]
    for k in range(20):
        lines.append(f"feature c{k} = true")
        lines.append(f"feature v{k} = b1")
    spec = fd.compile("\n".join(lines) + "\n")
    rows = [{"b1": None, "d1": None}, {"b1": False, "d1": None}]
    out = assert_parity(spec, rows)
    assert [r["v19"] for r in out] == [None, False]


def test_pow_is_libm_pow_whatever_the_chunking() -> None:
    # Polars' pow kernel multiplies (x*x*x*x*x*x) when the exponent array has one element: a
    # one-row frame, or a one-row morsel in the streaming engine. 2067.0 ** 6.0 is then one ulp
    # below math.pow's 7.799070743921967e+19.
    spec = spec_of("pow(i1, f1)", {"i1": "int?", "f1": "float?"})
    expected = 7.799070743921967e19
    for n in (1, 2, 3, 7):
        rows = [{"i1": 2067, "f1": 6.0}] * n
        assert [r["out"] for r in assert_parity(spec, rows)] == [expected] * n
        for engine in ("streaming", "in-memory"):
            lazy = spec.transform_lazy(frame_for(spec, rows).lazy()).collect(engine=engine)
            assert lazy["out"].to_list() == [expected] * n


# ------------------------------------------------------------------ found by the compile fuzzer


def _codes(source: str) -> list[str]:
    try:
        fd.compile(source)
    except fd.SpecError as exc:
        return [d.code for d in exc.diagnostics if d.severity == "error"]
    return []


def test_int_literal_longer_than_python_int_limit_is_a_spec_error() -> None:
    # int() refuses more than 4300 digits: the parser leaked a lark VisitError (a traceback).
    head = "input { x: int }\n"
    assert _codes(head + "feature y = x + " + "1" * 5000 + "\n") == ["E004"]
    assert _codes(head + "feature y = x + -" + "1" * 5000 + "\n") == ["E004"]
    assert _codes(head + "feature y = x + 0009223372036854775807\n") == []


def test_duration_literal_out_of_int64_microseconds_is_a_spec_error() -> None:
    # `99999999999999999999d` compiled, then the batch backend raised OverflowError building a
    # Python timedelta for the literal (and 5000-digit counts leaked a VisitError).
    head = "input { du1: duration? }\n"
    assert _codes(head + "feature y = du1 > 99999999999999999999d\n") == ["E004"]
    assert _codes(head + "feature y = du1 > " + "9" * 5000 + "d\n") == ["E004"]
    spec = spec_of("du1 > 106751991d", {"du1": "duration?"})
    assert assert_parity(spec, [{"du1": None}]) == [{"out": None}]


def test_constant_if_branch_is_a_scalar_operand() -> None:
    # `if <constant> then 0 else f1` lowers to the literal 0.0 but is row-dependent in the IR:
    # pow's batch kernel got a one-element exponent next to a 2-row base and returned row 0's
    # value for every row.
    spec = spec_of("pow(f1, (if coalesce(true, true) then 0 else f1))", {"f1": "float?"})
    rows = [{"f1": None}, {"f1": 0.0}, {"f1": 3.0}]
    assert [r["out"] for r in assert_parity(spec, rows)] == [None, 1.0, 1.0]
    # and a divisor that lowers to a literal must still divide (not multiply by 1/7)
    spec = spec_of("f1 / (if true then 7 else f1)", {"f1": "float?"})
    rows = [{"f1": 0.1}, {"f1": 0.3}, {"f1": None}]
    assert [r["out"] for r in assert_parity(spec, rows)] == [0.1 / 7, 0.3 / 7, None]


def test_call_of_a_constant_if_branch_is_folded() -> None:
    # `not (case when true then null else b1 end)`: the taken branch is a constant, so the
    # `not` was a one-row Polars scalar (frame length 1). Dead branches no longer make a value
    # row-dependent, even through a let.
    types = {"b1": "bool?", "i1": "int?"}
    rows = [{"b1": True, "i1": 1}, {"b1": None, "i1": 2}, {"b1": False, "i1": None}]
    for expr, expected in [
        ("not (case when true then null else b1 end)", [None] * 3),
        ("-(if coalesce(true, b1) then 4 else i1)", [-4] * 3),
        ("(if false then i1 else 2) + i1", [3, 4, None]),
    ]:
        spec = spec_of(expr, types)
        assert [r["out"] for r in assert_parity(spec, rows)] == expected, expr
    src = ("input { b1: bool?\n i1: int? }\nlet l = b1 and true\nlet k = if true then 5 else i1\n"
           "feature out = not (if true then null else l)\nfeature out2 = k * 2\n")
    out = assert_parity(fd.compile(src), rows)
    assert [(r["out"], r["out2"]) for r in out] == [(None, 10)] * 3


def test_is_null_of_a_constant_let_compiles_without_warning() -> None:
    # `e0 is null` where e0 is a feature holding a literal: the row code said `0.0 is None`
    # (a SyntaxWarning when the evaluator is compiled); same for casts and null checks.
    import warnings

    src = ("input { i1: int? }\nfeature e0: float? = 0\nlet s = \"a\"\nlet k = 3\n"
           "feature e3 = (e0 is null) or (s is not null)\nfeature e4 = k + i1\n"
           "feature e5 = pow(k, e0)\nfeature e6 = i1 is null\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = assert_parity(fd.compile(src), [{"i1": None}, {"i1": 2}])
    assert [(r["e3"], r["e4"], r["e5"], r["e6"]) for r in out] == [(True, None, 1.0, True),
                                                                   (True, 5, 1.0, False)]


def test_call_with_a_null_literal_argument_on_an_empty_frame() -> None:
    # Polars: `lit(None, String).str.contains(col)` is one row long on an empty frame. A
    # null-propagating call with a literal null argument is now folded to null.
    for expr in ["contains(null, s1)", "contains(lower(s1), null)", "starts_with(null, s1)",
                 "length(null) + i1"]:
        spec = spec_of(expr, {"s1": "string?", "i1": "int?"})
        assert assert_parity(spec, []) == []
        rows = [{"s1": "a", "i1": 1}, {"s1": None, "i1": None}]
        assert [r["out"] for r in assert_parity(spec, rows)] == [None, None], expr


def test_division_by_a_row_expression_polars_reduces_to_a_scalar() -> None:
    # Found by a soak run: Polars reduces `coalesce(50000, f1)` to the literal 50000 and then
    # multiplies by its reciprocal: 1e308 / 50000 came out 2.0000000000000003e+303.
    spec = spec_of("f3 / coalesce(50000, f1)", {"f3": "float?", "f1": "float?"})
    out = assert_parity(spec, [{"f3": 1e308, "f1": None}, {"f3": 0.7, "f1": None}] * 3)
    assert out[0]["out"] == 1e308 / 50000 and out[1]["out"] == 0.7 / 50000


def test_signed_zeros_through_polars_scalar_shortcuts() -> None:
    # `coalesce(0.0, b)` is folded as the constant it is (Polars would reduce it to a literal
    # and short-cut `a + 0.0` / `a * 0.0`); constants made per-row keep -0.0; `scalar - column`
    # is avoided (Polars computes it as -(column - scalar), turning 0.0 into -0.0).
    parts = ["a + coalesce(0.0, b)", "a * coalesce(0.0, b)", "-0.0 + a", "a - 0.0",
             "a / coalesce(7, b)", "a * 0.0", "0.0 - a", "a + coalesce(b, 0.0)"]
    expr = "concat(" + ', "|", '.join(f"to_string({p})" for p in parts) + ")"
    spec = spec_of(expr, {"a": "float", "b": "float?"})
    rows = [{"a": -0.0, "b": None}, {"a": 0.0, "b": -0.0}, {"a": -5.0, "b": 2.5},
            {"a": float("inf"), "b": None}]
    out = assert_parity(spec, rows * 2)
    assert out[0]["out"] == "0.0|-0.0|-0.0|-0.0|-0.0|-0.0|0.0|0.0"


def test_replace_of_a_literal_with_a_column_replacement() -> None:
    # Polars' replace_all does not broadcast a literal input to a column replacement's height
    # ("replacement value length does not match"); the lowering makes the input a column.
    spec = spec_of('replace("xa", "a", s1)', {"s1": "string?"})
    rows = [{"s1": "b"}, {"s1": None}, {"s1": "é"}]
    assert [o["out"] for o in assert_parity(spec, rows)] == ["xb", None, "xé"]


def test_replace_used_twice_under_common_subexpression_elimination() -> None:
    # A when/then spelling of replace's null handling raised "value cannot be 'null' in
    # 'replace' expression" once Polars' CSE shared the call between nullif's two uses.
    types = {"s": "string", "t": "string?"}
    rows = [{"s": "a.,", "t": None}, {"s": "b", "t": "b"}, {"s": ".", "t": "y"}]
    spec = spec_of('split(nullif(replace(s, ".", "x"), t), rtrim(null))', types)
    assert [o["out"] for o in assert_parity(spec, rows)] == [None, None, None]
    spec = spec_of('split(nullif(replace(s, ".", "x"), t), ",")', types)
    assert [o["out"] for o in assert_parity(spec, rows)] == [["ax", ""], None, ["x"]]


def test_replace_with_a_column_replacement_in_a_one_row_frame() -> None:
    # fill_null on the replacement column, shared by Polars' CSE between two replace calls,
    # reached replace_all as null on a one-row frame ("value cannot be 'null'"); the column
    # case is now spelled new.join(s.split(old)).
    spec = fd.compile('input {\n  s1: string?\n  b1: bool?\n}\n'
                      'feature e0 = trim(if b1 then s1 else replace(concat(s1, s1), "a", s1))\n'
                      'feature e4 = contains(s1, if b1 then replace(s1, "a", s1) else s1)\n')
    assert assert_parity(spec, [{"s1": None, "b1": None}]) == [{"e0": None, "e4": None}]
    assert assert_parity(spec, [{"s1": "ab", "b1": False}]) == [{"e0": "abbabb", "e4": True}]
