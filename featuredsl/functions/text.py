"""String editing functions: trim, ltrim, rtrim, substring, replace, split, pad_left, pad_right.

Every position and width counts Unicode code points (never bytes), in both backends. Decisions,
each the same in Polars and in the row backend:

* **Whitespace** for the trims is the Unicode ``White_Space`` property: exactly the 25 code
  points of :data:`WHITESPACE` (U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A,
  U+2028, U+2029, U+202F, U+205F, U+3000). Python's ``str.strip()`` also strips U+001C..U+001F,
  Rust's ``trim`` does not, and neither strips U+200B or U+FEFF; both backends are therefore
  given this set explicitly (``s.strip(WHITESPACE)``; Polars' default ``str.strip_chars()``
  uses Rust's ``char::is_whitespace``, which is this property: a test checks every code point).
* ``substring(s, start, length)``: 0-based; a negative ``start`` counts from the end
  (``-1`` is the last code point). The result is the code points at positions ``[start,
  start + length)`` that exist: a window partly before the start or past the end is cut, one
  wholly outside gives ``""`` (``substring("abc", -5, 3)`` is ``"a"``). A negative ``length``
  is a domain error: null. Any int64 ``start``/``length`` works (no overflow).
* ``replace(s, old, new)``: literal text, every non-overlapping occurrence left to right;
  ``old`` is a constant. An empty ``old`` inserts ``new`` before every code point and at the
  end (``replace("ab", "", "-")`` is ``"-a-b-"``, Python's rule, which Polars follows too).
* ``split(s, sep)``: a ``list[string]`` of the pieces between literal occurrences of ``sep``,
  empty pieces kept (``split("a,,b,", ",")`` is ``["a", "", "b", ""]``, ``split("", ",")`` is
  ``[""]``). An empty ``sep`` is a compile error when it is a literal and null otherwise.
* ``pad_left(s, width, fill=" ")`` / ``pad_right``: ``fill`` repeated on that side up to
  ``width`` code points; a string already that long or longer is unchanged. ``width`` is a
  constant in 0..10000 and ``fill`` exactly one code point (compile errors otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import INT, STRING, list_of

#: The Unicode White_Space property (stable since Unicode 6.3; the same in every version
#: CPython or Rust uses).
WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
MAX_PAD_WIDTH = 10_000

S = (STRING,)


def _trim(name: str, polars_method: str, py_method: str, doc: str,
          example: tuple[str, str]) -> None:
    register(
        name, doc + " Whitespace is the Unicode White_Space property (25 code points; not "
        "U+001C..U+001F, U+200B or U+FEFF).", ("s",),
        [Overload(f"{name}_string", S, STRING,
                  # Polars' default set (Rust's char::is_whitespace) *is* White_Space:
                  # equal to the explicit set on every code point
                  # (tests/test_batch_lowerings.py) and ~2x faster
                  lambda s: getattr(s.str, polars_method)(),
                  lambda g, s: f"{s}.{py_method}({g.lit(WHITESPACE)})")],
        [Example(f"{name}(s)", {"s": example[0]}, example[1]),
         Example(f"{name}(s)", {"s": "\x1fa\x1f"}, "\x1fa\x1f"),
         Example(f"{name}(s)", {"s": None}, None, {"s": "string?"})],
        category="string",
    )


_trim("trim", "strip_chars", "strip", "`s` without leading and trailing whitespace.",
      ("\u3000 a b\t\n", "a b"))
_trim("ltrim", "strip_chars_start", "lstrip", "`s` without leading whitespace.",
      (" \xa0a ", "a "))
_trim("rtrim", "strip_chars_end", "rstrip", "`s` without trailing whitespace.",
      (" a\u2029\x85", " a"))


# ------------------------------------------------------------------------------- substring


def substring(s: str, start: int, length: int) -> str | None:
    """The row side of ``substring`` (see the module doc)."""
    if length < 0:
        return None
    if start < 0:
        start += len(s)
        if start < 0:
            length += start  # the part of the window before the string is cut
            if length <= 0:
                return ""
            start = 0
    return s[start:start + length]


def _literal_int(e: pl.Expr) -> int | None:
    """The value of an int literal expression (constants reach lowerings as ``pl.lit``)."""
    if not e.meta.is_literal():
        return None
    v = pl.select(e).item()
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _constant_window(consts: Sequence[object]) -> str | None:
    a, n = consts[1], consts[2]
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (a, n))
    return "substring_string_window" if ok else None


def _substring_polars(s: pl.Expr, start: pl.Expr, length: pl.Expr) -> pl.Expr:
    a0, n0 = _literal_int(start), _literal_int(length)
    if a0 is not None and n0 is not None and a0 >= 0 and n0 >= 0:
        # constant window from a non-negative start: the definition is exactly Polars' slice
        # in code points (past the end: ""), one kernel instead of len_chars + 3 whens (1.7x)
        return s.str.slice(a0, n0)
    n = s.str.len_chars().cast(pl.Int64)
    a = pl.when(start < 0).then(n + start).otherwise(start)  # n + start: no overflow
    offset = pl.when(a < 0).then(0).otherwise(a)
    # length + a with a < 0 <= length cannot overflow either; a negative length (null
    # below) is clipped too, since Polars casts it to an unsigned length and fails
    take = pl.max_horizontal(pl.when(a < 0).then(length + a).otherwise(length), 0)
    return pl.when(length >= 0).then(s.str.slice(offset, take))


register(
    "substring",
    "The code points of `s` from 0-based `start` (negative: counted from the end) for "
    "`length` code points; the part of that window outside `s` is cut (`substring(\"abc\", "
    "-5, 3)` is `\"a\"`, a window wholly outside gives `\"\"`). A negative `length` is null.",
    ("s", "start", "length"),
    [Overload("substring_string", (STRING, INT, INT), STRING, _substring_polars,
              lambda g, s, a, n: f"{g.ref(substring, 'substring')}({s}, {a}, {n})",
              may_be_null=True, polars_nulls=False, specialize=_constant_window),
     # a constant window from a non-negative start: a plain slice, never null
     Overload("substring_string_window", (STRING, INT, INT), STRING, _substring_polars,
              lambda g, s, a, n: f"{s}[{a}:{a} + {n}]", polars_nulls=False, hidden=True)],
    [Example("substring(s, 1, 3)", {"s": "héllo"}, "éll"),
     Example("substring(s, -2, 5)", {"s": "héllo"}, "lo"),
     Example("substring(s, -7, 3)", {"s": "héllo"}, "h"),
     Example("substring(s, 9, 1)", {"s": "héllo"}, ""),
     Example("substring(s, 0, -1)", {"s": "héllo"}, None),
     Example("substring(s, 1, 9223372036854775807)", {"s": "👍🏽x"}, "🏽x")],
    category="string",
    null_doc="null if any argument is null or `length` is negative",
)


# ------------------------------------------------------------------------------- replace


def _replace_polars(s: pl.Expr, old: str, new: pl.Expr) -> pl.Expr:
    if new.meta.is_literal():
        value = pl.select(new).item()  # a constant (possibly folded to null)
        if value is None:
            return s + pl.lit(None, pl.String)  # null, as tall as `s`
        return s.str.replace_all(old, value, literal=True)
    # A column `new`: Polars' replace_all raises on a null replacement, and spelling the null
    # handling with fill_null broke under its common-subexpression elimination on one-row
    # frames. So: `new.join(s.split(old))`, which is null where `new` is; `s + new[0:0]` is
    # also null there and makes a literal `s` as tall as the column `new`.
    base = s + new.str.slice(0, 0)
    if old:
        return base.str.split(old).list.join(new)
    # empty `old`: `new` before every code point and at the end (Polars splits "" into [])
    around = pl.concat_str([new, base.str.split("").list.join(new), new])
    return pl.when(base == "").then(new).otherwise(around)


register(
    "replace",
    "`s` with every occurrence of the literal text `old` (a constant) replaced by `new`, left "
    "to right, without overlaps (never a regex, `$` in `new` is literal). An empty `old` "
    "inserts `new` before every code point and at the end (`replace(\"ab\", \"\", \"-\")` is "
    "`\"-a-b-\"`).",
    ("s", "old", "new"),
    [Overload("replace_string", (STRING, STRING, STRING), STRING,
              _replace_polars,
              lambda g, s, old, new: f"{s}.replace({g.lit(old)}, {new})",
              const=frozenset({1}))],
    [Example('replace(s, "a", "$0")', {"s": "banana"}, "b$0n$0n$0"),
     Example('replace(s, "aa", "b")', {"s": "aaa"}, "ba"),
     Example('replace(s, "", "-")', {"s": "hé"}, "-h-é-"),
     Example('replace(s, ".", n)', {"s": "a.b", "n": None}, None, {"n": "string?"})],
    category="string",
    const_samples={"old": ('"a"', '""', '"."', '"é"', '" "', '"ab"')},
)


# ------------------------------------------------------------------------------- split


def _split_polars(s: pl.Expr, sep: pl.Expr) -> pl.Expr:
    return pl.when(sep != "").then(s.str.split(sep))


def _check_split(consts: Sequence[object]) -> str | None:
    if consts[1] == "":
        return "split needs a non-empty separator"
    return None


def _split_by_literal(consts: Sequence[object]) -> str | None:
    # a non-empty constant separator (a literal, or a fitted statistic once known): the
    # result is never null and needs no per-row test
    return "split_string_literal" if isinstance(consts[1], str) and consts[1] else None


register(
    "split",
    "The pieces of `s` between occurrences of the literal text `sep`, empty pieces kept "
    "(`split(\"a,,b,\", \",\")` is `[\"a\", \"\", \"b\", \"\"]`; `split(\"\", \",\")` is "
    "`[\"\"]`). An empty `sep` is a compile error as a literal, null otherwise.",
    ("s", "sep"),
    [Overload("split_string", (STRING, STRING), list_of(STRING), _split_polars,
              lambda g, s, sep: f"({s}.split({sep}) if {sep} else None)",
              may_be_null=True, check_const=_check_split, fresh_list=True,
              specialize=_split_by_literal),
     Overload("split_string_literal", (STRING, STRING), list_of(STRING), _split_polars,
              lambda g, s, sep: f"{s}.split({sep})", check_const=_check_split,
              fresh_list=True, hidden=True)],
    [Example('split(s, ",")', {"s": "a,,b,"}, ["a", "", "b", ""]),
     Example('split(s, ",")', {"s": ""}, [""]),
     Example('split(s, "é")', {"s": "aéb"}, ["a", "b"]),
     Example("split(s, sep)", {"s": "ab", "sep": ""}, None)],
    category="string",
    null_doc="null if any argument is null or `sep` is empty (a column holding `\"\"`)",
)


# ------------------------------------------------------------------------------- padding


def _check_pad(consts: Sequence[object]) -> str | None:
    width, fill = consts[1], consts[2]
    if isinstance(width, int) and not 0 <= width <= MAX_PAD_WIDTH:
        return f"the pad width must be between 0 and {MAX_PAD_WIDTH}"
    if isinstance(fill, str) and len(fill) != 1:
        return f"the fill must be exactly one character (got {len(fill)})"
    return None


def _pad(name: str, polars_method: str, py_method: str, side: str,
         examples: Sequence[Example]) -> None:
    register(
        name,
        f"`s` padded on the {side} with `fill` (one character, default a space) to `width` "
        "code points (a constant in 0..10000); a string that long or longer is unchanged.",
        ("s", "width", "fill"),
        [Overload(f"{name}_string", (STRING, INT, STRING), STRING,
                  lambda s, w, f: getattr(s.str, polars_method)(w, f),
                  lambda g, s, w, f: f"{s}.{py_method}({g.lit(w)}, {g.lit(f)})",
                  const=frozenset({1, 2}), check_const=_check_pad)],
        examples,
        defaults={"fill": " "},
        category="string",
        const_samples={"width": ("0", "3", "5"), "fill": ('" "', '"0"', '"é"')},
    )


_pad("pad_left", "pad_start", "rjust", "left",
     [Example('pad_left(s, 5, "0")', {"s": "42"}, "00042"),
      Example("pad_left(s, 3)", {"s": "👍🏽"}, " 👍🏽"),
      Example("pad_left(s, 2)", {"s": "long"}, "long")])
_pad("pad_right", "pad_end", "ljust", "right",
     [Example('pad_right(s, 4, "é")', {"s": "ab"}, "abéé"),
      Example("pad_right(s, 0)", {"s": ""}, "")])
