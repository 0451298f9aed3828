"""regex_match / regex_extract: the subset, its rejections, engine agreement and backtracking.

The engine-agreement property draws random patterns from the subset's grammar and random
strings over a small alphabet full of the characters where the dialects differ (newlines,
non-ASCII digits and letters, Unicode spaces), and requires Python's ``re`` (row backend) and
Polars (batch backend) to give the same search result and the same text for every group.
"""

from __future__ import annotations

import os
import re
import time

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import featuredsl as fd
from featuredsl.functions import _regex_dfa
from featuredsl.functions.regex import Compiled, RegexError, compile_pattern
from tests.harness import assert_parity, spec_of

N = int(os.environ.get("FEATUREDSL_REGEX_EXAMPLES", "100"))
ALPHABET = "ab1.-\n é٣_\u00a0\u2028xA,Z\t"


def outs(expr: str, rows: list[dict]) -> list[object]:
    return [o["out"] for o in assert_parity(spec_of(expr, {"s": "string?"}), rows)]


# ------------------------------------------------------------------------ documented cases


def test_dollar_is_end_of_string_only() -> None:
    # Python's `$` also matches before a final newline; featuredsl's does not, in both.
    assert outs('regex_match(s, "^[0-9]+$")', [{"s": "12"}, {"s": "12\n"}, {"s": None}]) \
        == [True, False, None]
    assert outs('regex_extract(s, "[a-z]+$")', [{"s": "ab\n"}, {"s": "x ab"}]) == [None, "ab"]


def test_class_escapes_are_ascii() -> None:
    rows = [{"s": "\u0663"}, {"s": "é"}, {"s": "\u00a0"}, {"s": "7"}, {"s": "_"}]
    assert outs('regex_match(s, "\\\\d")', rows) == [False, False, False, True, False]
    assert outs('regex_match(s, "\\\\w")', rows) == [False, False, False, True, True]
    assert outs('regex_match(s, "\\\\s")', rows) == [False, False, False, False, False]
    assert outs('regex_match(s, "^\\\\W$")', rows) == [True, True, True, False, False]


def test_search_is_unanchored_leftmost_first() -> None:
    rows = [{"s": "xxabcabd"}, {"s": ""}]
    assert outs('regex_extract(s, "ab(c|d)")', rows) == ["abc", None]
    assert outs('regex_extract(s, "a|ab")', [{"s": "zab"}]) == ["a"]  # first alternative wins
    assert outs('regex_extract(s, "[a-z]+?c")', [{"s": "xxabcabd"}]) == ["xxabc"]
    assert outs('regex_match(s, "")', rows) == [True, True]


def test_extract_groups_and_non_participation() -> None:
    rows = [{"s": "ac"}, {"s": "abc"}, {"s": "zz"}]
    assert outs('regex_extract(s, "a(b)?c", 1)', rows) == [None, "b", None]
    assert outs('regex_extract(s, "a(b)?c", 0)', rows) == ["ac", "abc", None]
    assert outs('regex_extract(s, "(?:a)(b*)", group=1)', rows) == ["", "b", None]


def test_dot_does_not_match_newline_and_counts_code_points() -> None:
    rows = [{"s": "a\nb"}, {"s": "a👍b"}, {"s": "aéb"}]
    assert outs('regex_match(s, "a.b")', rows) == [False, True, True]
    assert outs('regex_extract(s, "a[^x]b")', rows) == ["a\nb", "a👍b", "aéb"]


@pytest.mark.parametrize(("pattern", "fragment"), [
    ("(?=a)", "look-around"), ("(?<!a)b", "look-around"), ("(a)\\\\1", "back-references"),
    ("(?i)abc", "inline flags"), ("(?P<x>a)", "named groups"), ("(?<x>a)", "named groups"),
    ("(?>a)", "atomic"), ("a*+", "possessive"), ("a**", "quantifiers after quantifiers"),
    ("\\\\bword", "word boundaries"), ("\\\\Aa", "use `^`"), ("a\\\\Z", "use `$`"),
    ("a\\\\z", "use `$`"), ("\\\\p{L}", "Unicode classes"), ("[[:alpha:]]", "POSIX"),
    ("[a-z&&b]", "unescaped `&`"), ("[a--b]", "unescaped `-`"), ("[[a]]", "unescaped `[`"),
    ("a{", "count"), ("a{,3}", "count"), ("x{2000}", "1000"), ("x{3,1}", "n <= m"),
    ("*a", "nothing to repeat"), ("a)", "unbalanced"), ("(a", "unbalanced"),
    ("\\\\u00e9", "escapes are not supported"), ("\\\\q", "unknown escape"),
    ("[b-a]", "out of order"),
    ("(a+)+$", "exponential"), ("(a|a)*b", "the same character"),
    ("(a|ab)*c", "the same character"), ("(.*a){3}", "exponential"),
    ("(x(y|yxy))*z", "exponential"), ("(ab*b*)*", "more than one quantifier"),
    (".*a.*b", "polynomial"), ("\\\\d+\\\\d+x", "polynomial"), ("a]", "unescaped `]`"),
    ("(,[^,]{1000}){20}", "too large"), ("^*", "anchor"), ("[^\\\\D]", "inside a class"),
    ("a+b?a+c", "polynomial"),
])
def test_unsupported_patterns_are_compile_errors(pattern: str, fragment: str) -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of(f'regex_match(s, "{pattern}")', {"s": "string"})
    (d,) = info.value.diagnostics
    assert d.code == "E208"
    assert d.message.startswith("regex pattern")
    text = f"{d.message} {d.hint}"
    assert fragment in text, text


def test_pattern_must_be_a_literal_and_group_must_exist() -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of("regex_match(s, p)", {"s": "string", "p": "string"})
    assert info.value.diagnostics[0].code == "E207"
    for call in ('regex_extract(s, "a(b)", 2)', 'regex_extract(s, "ab", -1)',
                 'regex_extract(s, "a", 1)'):
        with pytest.raises(fd.SpecError) as info:
            spec_of(call, {"s": "string"})
        assert "does not exist" in info.value.diagnostics[0].message


@pytest.mark.parametrize("pattern", ["^[0-9]+$", "[^@ ]+@[a-z]+(\\.[a-z]+)*", "(,[^,]*)*x",
                                     "[a-z]+x", "(ab|cd)+e", "[^a]*a.*b", "^\\d+(\\.\\d*)?$"])
def test_accepted_patterns_run_in_bounded_time_on_adversarial_input(pattern: str) -> None:
    """The row backend runs `re.search` itself on strings up to `_regex_dfa.SHORT` (256)
    characters: accepted patterns are at worst quadratic there (every start is tried; the
    nested `(,[^,]*)*x` is the slowest, a few ms), never exponential."""
    compiled = re.compile(compile_pattern(pattern).python)
    n = _regex_dfa.SHORT
    for s in ("a" * n, ",a" * (n // 2), ",," * (n // 2), "ab" * (n // 2), "a@b." * (n // 4),
              "cd" * (n // 2)):
        t = time.perf_counter()
        compiled.search(s)
        assert time.perf_counter() - t < 0.1, (pattern, s[:10])


@pytest.mark.parametrize("pattern", ["[a-z]+x", "(,[^,]*)*x", "[^@ ]+@[a-z]+(\\.[a-z]+)*!",
                                     "^[0-9]+$", "(ab|cd)+e", "[a-z]+1", "a[^b]*b"])
def test_row_backend_is_linear_on_long_adversarial_strings(pattern: str) -> None:
    """Past 256 characters the row backend's automaton reads each character once: 100,000
    characters that make `re.search` backtrack quadratically (minutes) take well under a
    second, with the same answers as Polars."""
    src = pattern.replace("\\", "\\\\")
    spec = spec_of(f'concat(to_string(regex_match(s, "{src}")), "|", '
                   f'regex_extract(s, "{src}") ?? "-")', {"s": "string"})
    evaluate = spec.row_evaluator()
    strings = ["a" * 100_000, ",," * 50_000, "a@b." * 25_000, "1" * 100_000 + "a",
               "ab" * 50_000, "a" * 100_000 + " b1"]
    for s in strings:
        t = time.perf_counter()
        evaluate({"s": s})
        assert time.perf_counter() - t < 1.0, (pattern, s[:8])
    assert_parity(spec, [{"s": s} for s in strings])


def test_classic_evil_patterns_are_rejected_before_they_can_run() -> None:
    # Each of these takes exponential (or cubic) time in Python's re on a short string.
    for evil in ["(a+)+$", "(a*)*b", "(a|aa)+$", "(a|a?)+$", "(.*a){12}", "(\\w+\\s?)+$",
                 "^(([a-z])+.)+[A-Z]([a-z])+$", "a.*b.*c"]:
        with pytest.raises(RegexError):
            compile_pattern(evil)


def test_written_patterns_differ_only_in_the_end_anchor() -> None:
    c = compile_pattern("^\\d+(\\.\\d*)?$")
    assert c.rust == "^[0-9]+(\\.[0-9]*)?$"
    assert c.python == "^[0-9]+(\\.[0-9]*)?\\Z"
    assert c.groups == 1


# ------------------------------------------------------------------------ engine agreement

_LIT = st.sampled_from(["a", "b", "1", "é", "٣", " ", "\\.", "\\-", "\\n", "x", "\\\\", "\\x41",
                        "\\t", "_", ","])
_CLASS = st.sampled_from(["[a-c]", "[^b]", "[^\\n]", "[\\d_]", "[é-ê]", "[\\s,]", "[^a-z]",
                          "\\d", "\\w", "\\s", "\\D", "\\W", "\\S", ".", "[\\-a]", "[.]"])
_QUANT = st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "+?", "??",
                          "{1,2}?"])


def _pattern(depth: int) -> st.SearchStrategy[str]:
    atom = st.one_of(_LIT, _CLASS)
    if depth > 0:
        inner = _pattern(depth - 1)
        atom = st.one_of(atom, atom, st.builds(lambda b, nc: ("(?:" if nc else "(") + b + ")",
                                               inner, st.booleans()))
    piece = st.builds(lambda a, q: a + q, atom, _QUANT)
    seq = st.lists(piece, min_size=0, max_size=4).map("".join)
    anchored = st.builds(lambda a, s, z: a + s + z, st.sampled_from(["", "", "^"]), seq,
                         st.sampled_from(["", "", "$"]))
    return st.lists(anchored, min_size=1, max_size=3).map("|".join)


_STRINGS = st.lists(st.text(alphabet=ALPHABET, max_size=8), min_size=1, max_size=12)
_PROPERTY = settings(max_examples=N, deadline=None,
                     suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def _accepted(pattern: str) -> Compiled:
    """The compiled pattern; a generated pattern outside the subset is skipped."""
    try:
        return compile_pattern(pattern)
    except RegexError:
        assume(False)
        raise


@_PROPERTY
@given(pattern=_pattern(2), strings=_STRINGS)
def test_python_and_polars_agree_on_every_accepted_pattern(pattern: str,
                                                           strings: list[str]) -> None:
    c = _accepted(pattern)
    py = re.compile(c.python)
    col = pl.Series("s", [*strings, "", "\n"])
    got = pl.DataFrame(col).select(
        pl.col("s").str.contains(c.rust).alias("m"),
        *(pl.col("s").str.extract(c.rust, k).alias(f"g{k}") for k in range(c.groups + 1)))
    for i, s in enumerate(col.to_list()):
        m = py.search(s)
        assert got["m"][i] == (m is not None), (pattern, c.python, c.rust, s)
        for k in range(c.groups + 1):
            want = None if m is None else m.group(k)
            assert got[f"g{k}"][i] == want, (pattern, c.python, c.rust, s, k)


def test_featuredsl_backends_agree_on_a_spread_of_patterns() -> None:
    strings = ["", "\n", "abc", "ab\n", "a1b2", "é٣", "x.y", " a b ", "A,B,,C", "aaaa", None]
    rows = [{"s": s} for s in strings]
    for p in ["^[a-z]+$", "[0-9]", "(b|c)+", "\\\\.", "^$", "[^,]*,", "a{2}", "(a)(b)?"]:
        outs(f'regex_match(s, "{p}")', rows)
        outs(f'regex_extract(s, "{p}")', rows)


@_PROPERTY
@given(pattern=_pattern(2), strings=_STRINGS)
def test_automaton_path_agrees_with_re_search(pattern: str, strings: list[str]) -> None:
    """The DFA path (forced here for every length) gives re.search's answers: whether there
    is a match, and (through the leftmost start it finds) the text of every group."""
    c = _accepted(pattern)
    py = re.compile(c.python)
    saved = _regex_dfa.SHORT
    _regex_dfa.SHORT = 0
    try:
        match = _regex_dfa.matcher(c.tree, c.python)
        extract = [_regex_dfa.extractor(c.tree, c.python, k) for k in range(c.groups + 1)]
        for s in [*strings, "\n", "a" * 40]:
            m = py.search(s)
            assert match(s) == (m is not None), (pattern, s)
            for k, ex in enumerate(extract):
                assert ex(s) == (None if m is None else m.group(k)), (pattern, s, k)
    finally:
        _regex_dfa.SHORT = saved
