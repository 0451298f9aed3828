"""The formatter (featuredsl/syntax/format.py) over every spec text the tests hold.

For each text x that parses: format(x) parses to the same AST as x (spans aside; so the same
IR, docs included, which is checked too when x compiles), format(format(x)) == format(x), and
every comment of x is still there, in order. The texts: the golden diagnostics inputs, the
examples, every spec-like string constant in tests/*.py, the conformance expressions wrapped in
a spec, and specs from the differential generator (hypothesis), roughened with line breaks and
comments.
"""

from __future__ import annotations

import ast as pyast
import dataclasses
import functools
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import featuredsl as fd
from featuredsl.errors import Span
from featuredsl.syntax import ast
from featuredsl.syntax.format import format_source, name_text
from featuredsl.syntax.parser import parse
from tests.test_differential import spec_text

ROOT = Path(__file__).parents[1]
_SPAN_FIELDS = {"span", "name_span", "op_span", "word_span", "source_span", "field_span"}


def shape(node: object) -> object:
    """An AST node as nested tuples without source positions (floats by repr: -0.0 != 0.0)."""
    if isinstance(node, Span):
        return None
    if isinstance(node, ast.Module):
        return (tuple(shape(i) for i in node.inputs), tuple(shape(d) for d in node.decls),
                tuple(shape(s) for s in node.sources))
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *(
            shape(getattr(node, f.name)) for f in dataclasses.fields(node)
            if f.name not in _SPAN_FIELDS))
    if isinstance(node, tuple | list):
        return tuple(shape(x) for x in node)
    if isinstance(node, float):
        return ("float", repr(node))
    return node


def program_shape(spec: fd.Spec) -> object:
    """The IR with inline statistics renamed by order (their names are their source text)."""
    p = spec.program
    rename = {name: f"#inline{k}" for k, name in
              enumerate(n for n, s in p.stats.items() if s.inline)}

    def sub(key: object) -> object:
        if isinstance(key, tuple):
            return tuple(sub(x) for x in key)
        return rename.get(key, key) if isinstance(key, str) else key

    return (
        {n: str(t) for n, t in p.inputs.items()},
        sorted((rename.get(n, n), sub(s.expr.key()), s.doc, s.inline) for n, s in p.stats.items()),
        {n: sub(e.key()) for n, e in p.values.items()},
        [(f.name, f.doc) for f in p.features],
        p.order,
        {n: (s.fields, s.keys, s.time, s.doc) for n, s in p.sources.items()},
        p.time,
    )


def comments_of(text: str) -> list[str]:
    module, _ = parse(text)
    return [c.text.strip() for c in module.comments]


def assert_formats_well(text: str) -> str:
    module, diags = parse(text)
    assert not [d for d in diags if d.severity == "error"]
    out = format_source(text)
    module2, diags2 = parse(out)
    assert not [d for d in diags2 if d.severity == "error"], out
    assert shape(module2) == shape(module), f"meaning changed:\n{text}\n---\n{out}"
    assert format_source(out) == out, f"not idempotent:\n{out}"
    pos = 0
    for c in comments_of(text):  # every comment kept, in order
        found = out.find(c, pos)
        assert found >= 0, f"comment {c!r} lost:\n{text}\n---\n{out}"
        pos = found + len(c)
    try:
        spec = fd.compile(text)
    except fd.SpecError:
        return out
    assert program_shape(fd.compile(out)) == program_shape(spec)
    assert [d.code for d in fd.compile(out).diagnostics] == [d.code for d in spec.diagnostics]
    return out


def _parses(text: str) -> bool:
    try:
        _, diags = parse(text)
    except Exception:
        return False
    return not [d for d in diags if d.severity == "error"]


def _test_string_specs() -> list[str]:
    """Every string constant in tests/*.py that looks like a spec and parses."""
    found: set[str] = set()
    for path in sorted((ROOT / "tests").glob("*.py")):
        tree = pyast.parse(path.read_text(encoding="utf-8"))
        for node in pyast.walk(tree):
            if isinstance(node, pyast.Constant) and isinstance(node.value, str):
                s = node.value
                if re.search(r"^\s*input\s*\{", s, re.M) and "feature" in s and _parses(s):
                    found.add(s)
    return sorted(found)


def _conformance_specs() -> list[str]:
    out = []
    for path in sorted((ROOT / "tests" / "conformance").glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            fields = "\n".join(f"  {name_text(n)}: {t}" for n, t in case["types"].items())
            text = f"input {{\n{fields}\n}}\nfeature out = {case['expr']}\n"
            if _parses(text):
                out.append(text)
    return out


FILES = sorted([*(ROOT / "tests" / "golden" / "diagnostics").glob("*.feat"),
                *(ROOT / "examples").glob("*.feat")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if not _parses(text):
        with pytest.raises(fd.SpecError):
            format_source(text)
        return
    assert_formats_well(text)


def test_spec_strings_in_the_tests() -> None:
    texts = _test_string_specs()
    assert len(texts) >= 20
    for text in texts:
        assert_formats_well(text)


def test_conformance_expressions() -> None:
    texts = _conformance_specs()
    assert len(texts) >= 50
    for text in texts:
        assert_formats_well(text)


# ------------------------------------------------------------------------------ hypothesis

_BREAK_POINTS = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`\n]*`|[(,]')


@st.composite
def roughened_spec(draw) -> str:
    """A generated spec with line breaks, comments and blank lines added after some `(` and
    `,` and between declarations (the generator writes one parenthesised line each)."""
    text, _ = draw(spec_text(max_depth=3))
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith(("feature", "let")) and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(["", "# note", "## doc line", "##"])))
        pos, pieces = 0, []
        for m in _BREAK_POINTS.finditer(line):
            if m.group(0) in "(," and draw(st.integers(0, 5)) == 0:
                pieces.append(line[pos:m.end()])
                pieces.append(draw(st.sampled_from(["\n    ", "  # why\n  ", "\n  # own\n  "])))
                pos = m.end()
        pieces.append(line[pos:])
        out.append("".join(pieces))
    return "\n".join(out)


# No shrinking: on this project's shared CI machines it can take minutes; the failing example
# is printed as found.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
#: Examples per property (each costs ~0.2 s: specs of up to 12 features, compiled 4 times).
N_EXAMPLES = int(os.environ.get("FEATUREDSL_FMT_EXAMPLES", "60"))


@settings(max_examples=N_EXAMPLES, deadline=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=roughened_spec())
def test_generated_specs(text: str) -> None:
    assert_formats_well(text)


@settings(max_examples=max(20, N_EXAMPLES // 2), deadline=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=spec_text(max_depth=4))
def test_generated_specs_as_written(spec: tuple[str, list[str]]) -> None:
    """Deeper, every subexpression in parentheses: the IR comparison does the work here."""
    text, _ = spec
    assert_formats_well(text)


# ------------------------------------------------------------------------------ the style


def fmt(text: str) -> str:
    return format_source(text)


def test_canonical_style() -> None:
    src = (
        "# header\n\ninput { amount : float? , `order id`: int,n:int }\n"
        "stat m=mean( amount )\nstat long_name = std(amount)\n"
        "let l = ((amount + 1) * 2) - (n - (1 - n))\n"
        "feature a : float? = if (amount > 1) then (amount) else -(1.5)  # trailing\n"
        "feature b = not (amount > m) and (n in [1,2 , 3]) or `order id` is null\n"
        "feature c = (if n > 1 then 1 else 2) + round(l, n=1)\n"
    )
    assert fmt(src) == (
        "# header\n\n"
        "input {\n"
        "  amount:     float?\n"
        "  `order id`: int\n"
        "  n:          int\n"
        "}\n"
        "stat m         = mean(amount)\n"
        "stat long_name = std(amount)\n"
        "let l = (amount + 1) * 2 - (n - (1 - n))\n"
        "feature a: float? = if amount > 1 then amount else -1.5  # trailing\n"
        "feature b         = not amount > m and n in [1, 2, 3] or `order id` is null\n"
        "feature c         = (if n > 1 then 1 else 2) + round(l, n=1)\n"
    )


def test_case_layout_and_comments_inside() -> None:
    src = (
        "input { x: int? }\n"
        "## the doc\n"
        "feature t = case when x > 1 then \"a\"   # big\n"
        "  # small next\n"
        "  when x > 0 then \"b\" else \"c\" end\n"
        "feature u = coalesce(x,  # first\n"
        "   # own line\n"
        "   0)  # last\n"
    )
    assert fmt(src) == (
        "input {\n"
        "  x: int?\n"
        "}\n"
        "## the doc\n"
        "feature t = case\n"
        "    when x > 1 then \"a\"  # big\n"
        "    # small next\n"
        "    when x > 0 then \"b\"\n"
        "    else \"c\"\n"
        "  end\n"
        "feature u = coalesce(x, 0)  # first # own line # last\n"
    )
    assert fd.compile(fmt(src)).program.features[0].doc == "the doc"


def test_blank_lines_are_kept_once_and_runs_align_separately() -> None:
    src = ("input {\n  a: int\n\n\n  # group two\n  bb: int\n}\n\n\n"
           "feature x = a\nfeature yyy = bb\n\nfeature z = 1\n\n")
    assert fmt(src) == ("input {\n  a:  int\n\n  # group two\n  bb: int\n}\n\n"
                        "feature x   = a\nfeature yyy = bb\n\nfeature z = 1\n")


def test_literals_keep_their_spelling() -> None:
    src = ("input { x: float }\n"
           "feature a = x + 1_000 + 1e-3 + -0.0 + - 2 + -(3)\n"
           "feature b = \"tab\\there \\u00e9 # not a comment\"\n"
           "feature c = 1d12h\n"
           "feature d = -(-9223372036854775808)\n")
    out = fmt(src)
    assert "x + 1_000 + 1e-3 + -0.0 + -2 + -3" in out
    assert 'b = "tab\\there \\u00e9 # not a comment"' in out
    assert "d = --9223372036854775808" in out
    assert_formats_well(src)


def test_minimal_parentheses() -> None:
    cases = {
        "(a - b) - c": "a - b - c",
        "a - (b - c)": "a - (b - c)",
        "(a ?? b) ?? c": "a ?? b ?? c",
        "a ?? (b ?? c)": "a ?? (b ?? c)",
        "(a < b) == true": "(a < b) == true",
        "-(a * b)": "-(a * b)",
        "(-a) * b": "-a * b",
        "not (not p)": "not not p",
        "(not p) == q": "(not p) == q",
        "(a + b) is null": "a + b is null",
        "(p and q) or r": "p and q or r",
        "p and (q or r)": "p and (q or r)",
        "(if p then a else b) ?? c": "(if p then a else b) ?? c",
        "if p then a else (b ?? c)": "if p then a else b ?? c",
        "f((a), [(b)])": "f(a, [b])",
    }
    head = "input {\n  a: int?\n  b: int?\n  c: int?\n  p: bool?\n  q: bool?\n  r: bool?\n}\n"
    for src, want in cases.items():
        src_expr = src.replace("f(", "greatest(")
        out = fmt(f"{head}feature o = {src_expr}\n")
        assert out.endswith(f"feature o = {want.replace('f(', 'greatest(')}\n"), (src, out)


def test_syntax_errors_are_refused() -> None:
    with pytest.raises(fd.SpecError) as info:
        fmt("input { a: int }\nfeature x = a +\n")
    assert info.value.errors[0].code == "E001"


def test_empty_and_comment_only() -> None:
    assert fmt("") == ""
    assert fmt("\n\n# only\n\n") == "# only\n"
    assert fmt("input {}\nfeature x = 1") == "input {}\nfeature x = 1\n"


@functools.cache
def _formatted_files() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in FILES]
    from tests.test_windows_oracle import SPEC as ORACLE

    texts += [WINDOWED, COMMENTED, ORACLE]  # window specs (SPEC 13): sources, `time`, kwargs
    return [format_source(t) for t in texts if _parses(t)]


_SPACES = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`\n]*`|#[^\n]*'
                     r'| (?!(?:input|stat|let|feature|source)\b)')


@st.composite
def rewrapped(draw) -> str:
    """A formatted spec with some of its spaces turned into line breaks, comments or blank
    lines (never before a declaration keyword, which would start a new declaration)."""
    text = draw(st.sampled_from(_formatted_files()))
    pieces, pos = [], 0
    for m in _SPACES.finditer(text):
        if m.group(0) == " " and draw(st.integers(0, 3)) == 0:
            pieces.append(text[pos:m.start()])
            pieces.append(draw(st.sampled_from(["\n", "  # c\n", "\n# s\n", "\n\n", "\n  "])))
            pos = m.end()
    pieces.append(text[pos:])
    return "".join(pieces)


@settings(max_examples=N_EXAMPLES, deadline=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=rewrapped())
def test_rewrapped_specs(text: str) -> None:
    if _parses(text):  # a break can still land where the grammar forbids it (`- 5` -> `-\n5`)
        assert_formats_well(text)


def test_odd_layouts() -> None:
    texts = [
        "input { a: int } # c\nfeature x = a\n",
        "input {\n  a: int, b: int  # both\n}\nfeature x = a + b\n",
        "input {  # opener\n  a: int\n  # before close\n}  # closer\nfeature x = a\n",
        "input { a: int\n}\nfeature x\n  # between\n  = a  # after\n",
        "input { a: int }\nfeature x = case\n  when a > 1\n  # mid\n  then 1 end  # tail\n",
        "input {\n}\nfeature x = 1\n",
        "input { # c\n}\nfeature x = 1\n",
    ]
    for text in texts:
        assert_formats_well(text)


def test_the_style_example_in_the_docs_is_formatted() -> None:
    doc = (ROOT / "docs" / "formatting.md").read_text(encoding="utf-8")
    example = doc.split("## The style\n\n```\n", 1)[1].split("```", 1)[0]
    assert fmt(example) == example


def test_spaced_duration_is_written_together() -> None:
    src = "input {\n  t: timestamp\n}\nfeature a = t + 7d  12h\t30m\n"
    assert "t + 7d12h30m" in assert_formats_well(src)


@pytest.mark.parametrize("expr, printed", [
    ("-(  # why\n  5)", "-5"),                        # the parser folds `-(5)` into one literal
    ("- # why\n 5", "-5"),
    ("-( # one\n 5.5 # two\n )", "-5.5"),
    ("[1, -( # in a list\n 2)]", "[1, -2]"),
    ("coalesce(x // null, -( # own\n 1d12h))", "coalesce(x // null, -1d12h)"),
])
def test_comment_inside_a_negated_literal_is_not_printed_in_it(expr: str, printed: str) -> None:
    """Regression: the text of a folded negative literal spans its parentheses and any comment
    between them; the comment was copied into the number (`-#own5`), giving a spec that does
    not parse. The comment belongs at the end of the line, like any other inside an
    expression."""
    src = f"input {{ x: int? }}\nfeature a = {expr}\n"
    out = assert_formats_well(src)
    code = out.splitlines()[-1].split("#", 1)[0].rstrip()
    assert code.endswith(f"= {printed}"), out


# ------------------------------------------------------------------------------ windows (SPEC 13)

WINDOWED = """\
input {
  user_id: int
  ts:      timestamp
  amount:  float?
  payer:   int
  time ts
}

## The transaction log.
source txns {
  user_id:  int
  ts:       timestamp
  amount:   float?
  merchant: string
  key user_id
  time ts
}

feature txn_count_7d    = count(txns, over=7d)
feature amount_sum_1h   = sum(txns.amount, over=1h)
feature amount_mean_30d = mean(txns.amount, over=30d) ?? 0.0
feature big_txns_1d     = count(txns, over=1d, where=txns.amount > 1000)
feature merchants_30d   = count_distinct(txns.merchant, over=30d)
feature last_amount     = last(txns.amount)
feature secs_since_last = seconds_since_last(txns)
feature amount_vs_mean  = amount / mean(txns.amount, over=30d)
feature paid_for        = count(txns, over=7d12h, by=payer, where=not txns.amount is null)
"""

#: Comments in every place a source block (and the input block's `time`) can hold one.
COMMENTED = """\
# header
input {  # opener
  user_id: int
  ts2: int
  ts: timestamp  # the row's time
  # own line before the clause
  time ts   # eol on the clause
}
## The log,
## in two lines.
source txns {   # opener
  # own line before a field
  user_id:  int   # key field
  ts: timestamp

  # the clauses

  key user_id,  # eol inside the key list
     # own line inside the key list
     ts2
  ts2: int
  time ts  # time
  # before close
}  # closer
# between
feature c = count( txns , over = 7d ,  # eol in a call
   where = txns . user_id > 0 )  # last
"""

COMMENTED_FORMATTED = """\
# header
input {  # opener
  user_id: int
  ts2:     int
  ts:      timestamp  # the row's time
  # own line before the clause
  time ts  # eol on the clause
}
## The log,
## in two lines.
source txns {  # opener
  # own line before a field
  user_id: int  # key field
  ts:      timestamp

  # the clauses

  key user_id, ts2  # eol inside the key list # own line inside the key list
  ts2:     int
  time ts  # time
  # before close
}  # closer
# between
feature c = count(txns, over=7d, where=txns.user_id > 0)  # eol in a call # last
"""


def test_window_spec_is_canonical_already() -> None:
    """SPEC 13's example, as the SPEC writes it, is the canonical form."""
    assert fmt(WINDOWED) == WINDOWED
    assert_formats_well(WINDOWED)


def test_window_spec_round_trip_from_a_rough_layout() -> None:
    rough = (WINDOWED.replace("  key user_id\n  time ts\n", "  key   user_id time\n ts\n")
             .replace("count(txns, over=7d)", "count ( txns,over= 7d , )")
             .replace("txns.amount > 1000", "txns . `amount` > 1000")
             .replace("source txns {", "source `txns`{"))
    out = assert_formats_well(rough)
    assert out == WINDOWED
    assert program_shape(fd.compile(out)) == program_shape(fd.compile(WINDOWED))


def test_the_oracle_spec_formats_well() -> None:
    from tests.test_windows_oracle import SPEC

    out = assert_formats_well(SPEC)
    assert fmt(out) == out
    assert "feature last_n_w   = last(ev.n, over=10us, where=ev.n is not null and ev.n > 0)" \
        in out


def test_comments_everywhere_in_a_source_block() -> None:
    out = assert_formats_well(COMMENTED)
    assert out == COMMENTED_FORMATTED
    assert fmt(out) == out
    spec = fd.compile(out)
    assert spec.program.sources["txns"].doc == "The log,\nin two lines."
    assert spec.program.sources["txns"].keys == ("user_id", "ts2")
    assert spec.program.time == "ts"


def test_source_blocks_odd_layouts() -> None:
    texts = [
        "input { k: int time t t: timestamp }\nsource s {}\nfeature x = 1\n",
        "input { k: int, t: timestamp, time t }\nsource s { k: int t: timestamp key k time t }"
        "\nfeature x = count(s)\n",
        "input { k: int\n t: timestamp\n time t }\nsource s { # c\n}\nfeature x = 1\n",
        "input { k: int\n t: timestamp\n time t }\nsource s {\n  k: int t: timestamp\n"
        "  key k time t }  # closer\nfeature x = count(s, by=[k])\n",
        # a clause word that is a keyword, or `source` (which would start a declaration)
        "input { a: int `source` b }\nfeature x = a\n",
        "input { a: int\n`if` b }\nfeature x = a\n",
        "input { `key`: int\n `time`: timestamp\n time `time` }\n"
        "source `source` { `key`: int `time`: timestamp key `key` time `time` }\n"
        "feature `count` = count(`source`.`key`, over=1d)\n",
    ]
    for text in texts:
        out = assert_formats_well(text)
        assert fmt(out) == out
    assert fmt(texts[4]) == "input {\n  a: int\n  `source` b\n}\nfeature x = a\n"
    assert "source source {\n  key:  int\n  time: timestamp\n  key key\n  time time\n}\n" \
        "feature count = count(source.key, over=1d)\n" in fmt(texts[6])


def test_source_block_between_declarations_stays_in_place() -> None:
    text = ("input { k: int\n t: timestamp\n time t }\nfeature a = 1\nfeature bb = 2\n"
            "source s { k: int\n t: timestamp\n key k\n time t }\nfeature ccc = count(s)\n")
    assert fmt(text) == (
        "input {\n  k: int\n  t: timestamp\n  time t\n}\nfeature a  = 1\nfeature bb = 2\n"
        "source s {\n  k: int\n  t: timestamp\n  key k\n  time t\n}\n"
        "feature ccc = count(s)\n")


_WINDOW_HEAD = """\
input {
  k: int
  k2: string
  t: timestamp
  x: float?
  time t
}
source ev {
  k: int
  s: string
  t: timestamp
  x: float?
  n: int?
  key k
  time t
}
"""
_GAPS = [" ", "", "  ", "\n  ", "  # c\n  ", "\n  # own\n  "]


@st.composite
def window_spec(draw) -> str:
    """A spec of generated window calls: any function over `ev` or a field, any subset of
    over=/where=/by= in any order, with spaces, line breaks and comments inside the call."""
    from featuredsl.functions.windowed import WINDOW_FUNCTIONS

    lines = [_WINDOW_HEAD]
    for i in range(draw(st.integers(1, 6))):
        fn = draw(st.sampled_from(sorted(WINDOW_FUNCTIONS)))
        target = draw(st.sampled_from(["ev", "ev.x", "ev.n", "ev.s", "`ev`.`x`", "ev . n"]))
        kwargs = []
        if draw(st.booleans()):
            kwargs.append("over=" + draw(st.sampled_from(["7d", "1h", "10us", "1d 12h", "90m"])))
        if draw(st.booleans()):
            kwargs.append("where=" + draw(st.sampled_from(
                ["ev.x > 0", "(ev.n is not null)", "ev.s in [\"a\", \"b\"] or not (ev.x < 1.5)",
                 "if ev.x > 1 then true else false", "ev.n ?? 0 > -(3)"])))
        if draw(st.booleans()):
            kwargs.append("by=" + draw(st.sampled_from(["k", "[k]", "[ k , ]"])))
        kwargs = draw(st.permutations(kwargs))
        gap = lambda: draw(st.sampled_from(_GAPS))  # noqa: E731
        args = [target, *(kw.replace("=", f"{gap()}={gap()}", 1) for kw in kwargs)]
        call = f"{fn}({gap()}" + f"{gap()},{gap()}".join(args) + f"{gap()})"
        wrap = draw(st.sampled_from(["{}", "{} ?? 0", "x + {}", "({})", "-{}"]))
        lines.append(f"feature f{i} = {wrap.format(call)}\n")
    return "".join(lines)


@settings(max_examples=N_EXAMPLES, deadline=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=window_spec())
def test_generated_window_calls(text: str) -> None:
    """Valid or not (a `sum` of a string, `seconds_since_last` of a field), every generated
    window spec parses; its formatting keeps the AST (and the IR when it compiles)."""
    assert _parses(text), text
    assert_formats_well(text)
