"""Golden test of the generated row code, and its safety properties."""

from __future__ import annotations

import ast
import math
import os
import re
import sys
from pathlib import Path

import featuredsl as fd
from tests.harness import assert_parity, spec_of

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


def test_inline_round_is_bit_identical_to_the_helper() -> None:
    """``round(x, n)`` for a constant n is inline arithmetic (a magic-constant round to even);
    it must give the helper's bits on ties, zeros of both signs, the fast-path bounds, large
    and non-finite values (which take the helper)."""
    import math
    import random
    import struct

    from featuredsl.functions.mathfns import round_half_even

    rng = random.Random(7)
    for n in (0, 1, 2, 3, 6, 15, 16, -1):
        ev = spec_of(f"round(x, {n})", {"x": "float"}).row_evaluator()
        if 0 <= n <= 15:
            assert "_round_" in ev.source and "6755399441055744.0" in ev.source
        m = 10.0**n
        bound = 2.0**50 / m
        values = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, 5e-324,
                  -5e-324, math.inf, -math.inf, 1e300, -1e300, 2.0**52, -(2.0**52), 2.0**51,
                  bound, -bound, math.nextafter(bound, 0.0), -math.nextafter(bound, 0.0),
                  2.675, 0.35, -0.04, 12.35]
        for _ in range(4000):
            values.append((rng.randrange(-10**7, 10**7) + 0.5) / m)  # near decimal ties
            values.append(rng.uniform(-1.0, 1.0) / m)  # rounds to a signed zero or +-1
            bits = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if bits == bits:
                values.append(bits)
        for v in values:
            got, want = ev({"x": v})["out"], round_half_even(v, n)
            assert struct.pack("<d", got) == struct.pack("<d", want), (n, v, got, want)


def test_null_checks_on_one_input_share_one_block() -> None:
    """Null-propagating calls on the same nullable input are computed in one
    ``if x is None`` block, also through intermediate values (``(x - m) / s`` tests ``x``)."""
    spec = fd.compile(
        "input { x: float?, n: int, s: string? }\n"
        "feature a = log1p(x)\nfeature b = (x - 1.5) / 2.0\nfeature c = x / n\n"
        "feature d = clip(x, 0, 10)\nfeature e = s == \"u\"\nfeature f = length(s)\n"
        "feature g = round(x, 1)\n")
    ev = spec.row_evaluator()
    x = re.search(r"(v\d+) = get\('x'\)", ev.source)[1]  # type: ignore[index]
    s = re.search(r"(v\d+) = get\('s'\)", ev.source)[1]  # type: ignore[index]
    # x: one block before `float(n)`, one after (c reads it); s: one block
    assert ev.source.count(f"if {x} is None:") == 2, ev.source
    assert ev.source.count(f"if {s} is None:") == 1, ev.source
    assert len(re.findall(r"if v\d+ is None", ev.source)) == 3, ev.source
    rows = [{"x": None, "n": 2, "s": None}, {"x": 3.0, "n": 0, "s": "u"},
            {"x": float("nan"), "n": 1, "s": "é"}, {"x": -4.25, "n": 4, "s": ""},
            {"x": float("inf"), "n": -3, "s": "uu"}]
    assert ev(rows[0]) == dict.fromkeys("abcdefg")
    assert ev(rows[1]) == {"a": math.log1p(3.0), "b": 0.75, "c": None, "d": 3.0, "e": True,
                           "f": 1, "g": 3.0}
    assert ev(rows[2])["a"] is None and ev(rows[2])["f"] == 1
    assert_parity(spec, rows)


def test_a_guarded_statement_does_not_move_above_what_it_reads() -> None:
    """``x / float(n)`` reads a local computed after the first ``x is None`` block: it gets a
    block of its own, after that local."""
    from featuredsl.backends.row_backend import _Guarded, _merge

    lines = ["    v1 = get('x')", _Guarded(("v1",), ["v2"], ["v2 = v1 + 1.0"]),
             "    v3 = float(v9)", "    if v3 == 0:", "        v3 = 1.0",
             _Guarded(("v1",), ["v4"], ["v4 = v1 / v3"]),
             _Guarded(("v1",), ["v5"], ["v5 = v1 * 2.0"]),
             "    v6 = v3 >= 2", _Guarded(("v1",), ["v7"], ["v7 = v5 - v6"])]
    merged = _merge(lines)
    guarded = [st for st in merged if isinstance(st, _Guarded)]
    assert [g.outs for g in guarded] == [["v2"], ["v4", "v5"], ["v7"]]


def test_fresh_lists_are_not_copied_and_never_shared() -> None:
    """one_hot/multi_hot/split build a new list per row (``fresh_list``): handed out as is.
    Two outputs with the same expression share one local: the second one is copied."""
    spec = fd.compile(
        "input { c: string, tags: list[string] }\n"
        'feature a = one_hot(c, ["x", "y"], oov=1)\n'
        'feature b = multi_hot(tags, ["x", "y"])\n'
        'feature s = split(c, ",")\n'
        'feature a2 = one_hot(c, ["x", "y"], oov=1)\n'
        "feature t = tags\n")
    ev = spec.row_evaluator()
    assert ev.source.count("_out_list_") == 2, ev.source  # a2 (shares a's list) and t
    row = {"c": "y", "tags": ["y", "q"]}
    out = ev(row)
    assert out == {"a": [0, 1, 0], "b": [0, 1], "s": ["y"], "a2": [0, 1, 0], "t": ["y", "q"]}
    assert out["a"] is not out["a2"] and out["t"] is not row["tags"]
    out["a"].append(9)
    out["t"].append("z")
    assert out["a2"] == [0, 1, 0] and row["tags"] == ["y", "q"]
    assert ev(row)["a"] == [0, 1, 0]


def test_if_on_kleene_logic_is_plain_python_truth() -> None:
    """An ``if`` on ``and``/``or`` of nullable bools tests them with Python ``and``/``or``
    (null is not true): every combination of true/false/null, both backends."""
    spec = fd.compile(
        "input { a: bool?, b: bool?, c: bool? }\n"
        "feature k = if a and (b or c) then 1 else 0\n"
        "feature v = a and (b or c)\n")
    ev = spec.row_evaluator()
    assert "is False" in ev.source  # the value `v` is still three-valued
    vals = (True, False, None)
    rows = [{"a": a, "b": b, "c": c} for a in vals for b in vals for c in vals]
    for r in rows:
        bc = True if (r["b"] is True or r["c"] is True) else (
            None if (r["b"] is None or r["c"] is None) else False)
        want = False if (r["a"] is False or bc is False) else (
            None if (r["a"] is None or bc is None) else True)
        assert ev(r) == {"k": 1 if want is True else 0, "v": want}, r
    assert_parity(spec, rows)


def test_clip_with_literal_bounds() -> None:
    spec = fd.compile("input { x: float?, i: int }\nfeature a = clip(x, -0.0, 0.0)\n"
                      "feature b = clip(x, 0, 10)\nfeature c = clip(i, 10, 0)\n"
                      "feature d = clip(x, 1.5, 1.5)\n")
    rows = [{"x": v, "i": i} for v, i in ((-0.0, -5), (0.0, 5), (-3.0, 20), (12.5, 10),
                                          (float("inf"), 0), (None, 7), (1.5, 3))]
    out = assert_parity(spec, rows)
    assert [math.copysign(1.0, o["a"]) for o in out if o["a"] is not None] == [
        -1.0, 1.0, -1.0, 1.0, 1.0, 1.0]
    assert [o["c"] for o in out] == [0] * 7  # lo > hi: hi
    assert [o["b"] for o in out] == [-0.0, 0.0, 0.0, 10.0, 10.0, None, 1.5]
