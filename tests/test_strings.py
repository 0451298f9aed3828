"""String editing and conversion functions on both backends: trims, substring, replace, split,
padding, to_string of every type, to_int/to_float parsing.

Expected values are computed independently of the implementation where possible (the
White_Space list from the Unicode standard, a window computed element by element, Python's
own formatting of the parts of a duration).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import struct

import polars as pl
import pytest

import featuredsl as fd
from featuredsl.functions.convert import float_to_string, parse_float, parse_int
from featuredsl.functions.text import WHITESPACE
from tests.harness import assert_parity, spec_of

I64_MIN, I64_MAX = -(2**63), 2**63 - 1

#: White_Space=yes in Unicode's PropList.txt (unchanged since Unicode 6.3).
UNICODE_WHITE_SPACE = {*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                       0x2028, 0x2029, 0x202F, 0x205F, 0x3000}


def outs(expr: str, types: dict[str, str], rows: list[dict]) -> list[object]:
    return [o["out"] for o in assert_parity(spec_of(expr, types), rows)]


# ------------------------------------------------------------------------------- trims


def test_whitespace_set_is_unicode_white_space() -> None:
    assert {ord(c) for c in WHITESPACE} == UNICODE_WHITE_SPACE
    assert len(WHITESPACE) == 25


@pytest.mark.parametrize(("fn", "left", "right"), [("trim", True, True), ("ltrim", True, False),
                                                   ("rtrim", False, True)])
def test_trims_on_every_bmp_code_point_in_both_backends(fn: str, left: bool,
                                                        right: bool) -> None:
    # Every non-surrogate BMP code point, plus the astral edges, around a letter.
    cps = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + [0x10000, 0x1F44D,
                                                                       0x10FFFF]
    rows = [{"s": f"{chr(c)}{chr(c)}x{chr(c)}"} for c in cps]
    got = outs(f"{fn}(s)", {"s": "string"}, rows)
    for c, g in zip(cps, got, strict=True):
        ws = c in UNICODE_WHITE_SPACE
        ch = chr(c)
        want = ("" if ws and left else ch * 2) + "x" + ("" if ws and right else ch)
        assert g == want, (hex(c), g)


def test_trim_edge_strings() -> None:
    rows = [{"s": ""}, {"s": " "}, {"s": "\u200b a \ufeff"}, {"s": "\x1c\x1d\x1e\x1fa"},
            {"s": None}, {"s": "\u3000\u2028é\u2029\x85"}, {"s": "a b"}]
    assert outs("trim(s)", {"s": "string?"}, rows) == [
        "", "", "\u200b a \ufeff", "\x1c\x1d\x1e\x1fa", None, "é", "a b"]


# ------------------------------------------------------------------------------- substring


def _window(s: str, start: int, length: int) -> str | None:
    """The documented window, element by element."""
    if length < 0:
        return None
    a = start if start >= 0 else len(s) + start
    return "".join(ch for i, ch in enumerate(s) if a <= i < a + length)


def test_substring_random_windows_and_int64_extremes() -> None:
    rnd = random.Random(4)
    strings = ["", "a", "héllo", "👍🏽x", "abcdefghij", "\x00é\n"]
    edge = [0, 1, -1, 2, -2, 5, -5, 10, -10, I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1]
    rows = [{"s": s, "a": a, "n": n} for s in strings for a in edge for n in edge]
    rows += [{"s": rnd.choice(strings), "a": rnd.randint(-12, 12), "n": rnd.randint(-2, 12)}
             for _ in range(500)]
    rows += [{"s": None, "a": 1, "n": 1}, {"s": "abc", "a": None, "n": 1},
             {"s": "abc", "a": 1, "n": None}]
    got = outs("substring(s, a, n)", {"s": "string?", "a": "int?", "n": "int?"}, rows)
    for r, g in zip(rows, got, strict=True):
        want = None if None in r.values() else _window(r["s"], r["a"], r["n"])
        assert g == want, (r, g)


# ------------------------------------------------------------------------------- replace


def test_replace_literal_all_occurrences_and_empty_old() -> None:
    rows = [{"s": "a.b.c"}, {"s": ""}, {"s": "héé"}, {"s": None}]
    assert outs('replace(s, ".", "$1")', {"s": "string?"}, rows) == ["a$1b$1c", "", "héé", None]
    assert outs('replace(s, "", "-")', {"s": "string?"}, rows) == [
        "-a-.-b-.-c-", "-", "-h-é-é-", None]
    assert outs('replace(s, "é", "")', {"s": "string?"}, rows) == ["a.b.c", "", "h", None]
    rows2 = [{"s": "aaaa", "n": "b"}, {"s": "xaax", "n": None}, {"s": "aa", "n": "\\"}]
    assert outs('replace(s, "aa", n)', {"s": "string", "n": "string?"}, rows2) == [
        "bb", None, "\\"]


def test_replace_old_must_be_a_constant() -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of("replace(s, s, s)", {"s": "string"})
    assert info.value.diagnostics[0].code == "E207"


# ------------------------------------------------------------------------------- split


def test_split_keeps_empty_pieces() -> None:
    rows = [{"s": "a,,b,"}, {"s": ""}, {"s": ","}, {"s": "é"}, {"s": None}]
    assert outs('split(s, ",")', {"s": "string?"}, rows) == [
        ["a", "", "b", ""], [""], ["", ""], ["é"], None]
    assert outs('split(s, "ab")', {"s": "string"}, [{"s": "abcab"}, {"s": "aab"}]) == [
        ["", "c", ""], ["a", ""]]


def test_split_by_a_column_empty_separator_is_null() -> None:
    rows = [{"s": "a-b", "p": "-"}, {"s": "ab", "p": ""}, {"s": "ab", "p": None},
            {"s": "", "p": ""}]
    assert outs("split(s, p)", {"s": "string", "p": "string?"}, rows) == [
        ["a", "b"], None, None, None]


def test_split_by_empty_literal_is_a_compile_error() -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of('split(s, "")', {"s": "string"})
    assert info.value.diagnostics[0].code == "E208"


# ------------------------------------------------------------------------------- padding


def test_pad_counts_code_points_and_leaves_long_strings() -> None:
    rows = [{"s": ""}, {"s": "ab"}, {"s": "héllo!"}, {"s": "👍🏽"}, {"s": None}]
    assert outs('pad_left(s, 4, "·")', {"s": "string?"}, rows) == [
        "····", "··ab", "héllo!", "··👍🏽", None]
    assert outs("pad_right(s, 3)", {"s": "string?"}, rows) == [
        "   ", "ab ", "héllo!", "👍🏽 ", None]
    assert outs("pad_left(s, 0)", {"s": "string?"}, rows[:2]) == ["", "ab"]


@pytest.mark.parametrize("call", ['pad_left(s, 3, "ab")', 'pad_left(s, 3, "")',
                                  "pad_right(s, -1)", "pad_right(s, 10001)"])
def test_pad_bad_constants_are_compile_errors(call: str) -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of(call, {"s": "string"})
    assert info.value.diagnostics[0].code == "E208"


# ------------------------------------------------------------------------------- to_string


def _random_floats(n: int, seed: int) -> list[float]:
    rnd = random.Random(seed)
    out = []
    while len(out) < n:
        x = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        if not math.isnan(x):
            out.append(x)
    out += [rnd.uniform(-1e6, 1e6) for _ in range(n // 4)]
    out += [10.0**k for k in range(-330, 309)] + [-(10.0**k) for k in range(-20, 20)]
    out += [1e-5, 9.999999999999999e-06, 1e16, 9999999999999998.0, 0.1, 1 / 3, -0.0, 0.0,
            math.inf, -math.inf, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
            123456789012345680.0, 0.000123, 1.5e-7]
    return out


def test_float_format_matches_polars_on_many_random_floats() -> None:
    xs = _random_floats(100_000, 7)
    polars_text = pl.Series(xs, dtype=pl.Float64).cast(pl.String).to_list()
    bad = [(x, a, b) for x, a, b in zip(xs, polars_text, map(float_to_string, xs), strict=True)
           if a != b]
    assert not bad, bad[:10]
    for x, t in zip(xs, polars_text, strict=True):
        assert float(t) == x  # round-trips (and 17 significant digits are enough)


def test_float_to_string_on_both_backends() -> None:
    xs = _random_floats(1000, 8)
    got = outs("to_string(x)", {"x": "float?"}, [{"x": x} for x in xs] + [{"x": math.nan}])
    assert got[-1] is None
    assert got[:3] == [float_to_string(x) for x in xs[:3]]
    assert outs("to_string(x)", {"x": "float"}, [{"x": 1e-7}, {"x": 1e22}, {"x": -0.0},
                                                 {"x": math.inf}]) == [
        "1e-7", "1e+22", "-0.0", "inf"]


def test_timestamp_and_date_to_string_on_both_backends() -> None:
    rnd = random.Random(9)
    lo = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    span = int((dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC) - lo)
               / dt.timedelta(microseconds=1))
    ts = [lo + dt.timedelta(microseconds=rnd.randint(0, span)) for _ in range(500)]
    ts += [t.replace(microsecond=0) for t in ts[:100]]
    ts += [lo, dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
           dt.datetime(1970, 1, 1, tzinfo=dt.UTC)]
    got = outs("to_string(t)", {"t": "timestamp"}, [{"t": t} for t in ts])
    for t, g in zip(ts, got, strict=True):
        frac = f".{t.microsecond:06d}" if t.microsecond else ""
        assert g == (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:"
                     f"{t.second:02d}{frac}Z")
    ds = [t.date() for t in ts]
    got = outs("to_string(d)", {"d": "date?"}, [{"d": d} for d in ds] + [{"d": None}])
    assert got == [f"{d.year:04d}-{d.month:02d}-{d.day:02d}" for d in ds] + [None]


def _duration_text(us: int) -> str:
    if us == 0:
        return "0s"
    m = abs(us)
    parts = [(m // 86_400_000_000, "d"), (m // 3_600_000_000 % 24, "h"),
             (m // 60_000_000 % 60, "m"), (m // 1_000_000 % 60, "s"), (m // 1000 % 1000, "ms"),
             (m % 1000, "us")]
    return ("-" if us < 0 else "") + "".join(f"{n}{u}" for n, u in parts if n)


def test_duration_to_string_on_both_backends() -> None:
    rnd = random.Random(10)
    us = [0, 1, -1, 999, 1000, 86_400_000_000, -86_400_000_001, I64_MAX, I64_MIN + 1,
          I64_MIN] + [rnd.randint(I64_MIN, I64_MAX) for _ in range(300)] + [
        rnd.randint(-10**12, 10**12) for _ in range(300)]
    rows = [{"d": dt.timedelta(microseconds=u)} for u in us] + [{"d": None}]
    got = outs("to_string(d)", {"d": "duration?"}, rows)
    assert got == [_duration_text(u) for u in us] + [None]


def test_duration_string_is_a_duration_literal() -> None:
    spec = fd.compile("input {\n  x: int\n}\nfeature out = to_string(1d12h30m15s250ms7us)\n"
                      "feature back = to_string(-1d)\n")
    assert spec.row_evaluator()({"x": 1}) == {"out": "1d12h30m15s250ms7us", "back": "-1d"}


# ------------------------------------------------------------------------------- parsing


PARSE_CASES = [  # text, to_int, to_float
    ("1_000", None, None), (" 1.5", None, None), ("1.5 ", None, None), ("nan", None, None),
    ("NaN", None, None), ("inf", None, math.inf), ("-Infinity", None, -math.inf),
    ("+3", 3, 3.0), ("0x10", None, None), ("9223372036854775807", I64_MAX, 9.223372036854776e18),
    ("9223372036854775808", None, 9.223372036854776e18), ("-9223372036854775808", I64_MIN,
                                                          -9.223372036854776e18),
    ("-9223372036854775809", None, -9.223372036854776e18), ("\u0661", None, None),
    ("\uff11", None, None), ("", None, None), ("007", 7, 7.0), ("1e5", None, 100000.0),
    ("1.", None, 1.0), (".5", None, 0.5), ("1e400", None, math.inf), ("-0", 0, -0.0),
    ("+", None, None), (".", None, None), ("1e", None, None), ("--1", None, None),
]


@pytest.mark.parametrize(("text", "as_int", "as_float"), PARSE_CASES)
def test_parse_decisions_on_both_backends(text: str, as_int: int | None,
                                          as_float: float | None) -> None:
    assert outs("to_int(s)", {"s": "string"}, [{"s": text}]) == [as_int]
    (f,) = outs("to_float(s)", {"s": "string"}, [{"s": text}])
    assert f == as_float and (f is None or math.copysign(1, f) == math.copysign(1, as_float))


def test_parse_syntax_matches_polars_on_random_strings() -> None:
    rnd = random.Random(11)
    alpha = "0123456789+-.eEinfatyINFATYxX_ \t\u0661\uff11"
    texts = ["".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 7)))
             for _ in range(100_000)]
    texts += ["".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 40)))
              + rnd.choice(["", ".", "e-3", "e+300"]) + "".join(
                  rnd.choice("0123456789") for _ in range(rnd.randint(0, 30)))
              for _ in range(20_000)]
    s = pl.Series(texts)
    as_int = s.cast(pl.Int64, strict=False).to_list()
    as_float = s.cast(pl.Float64, strict=False).fill_nan(None).to_list()
    for t, i, f in zip(texts, as_int, as_float, strict=True):
        assert parse_int(t) == i, t
        p = parse_float(t)
        assert (None if p is None or math.isnan(p) else p) == f, t
