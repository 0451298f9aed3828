"""String functions: lower, upper, length, concat, contains, starts_with, ends_with.

Strings are sequences of Unicode code points. Matching is always literal (never regex).
The editing functions (trim, substring, replace, split, pad) are in ``text.py``, the regex
functions in ``regex.py``, conversions to and from strings in ``convert.py``.
``lower``/``upper`` are full Unicode case mappings at the Unicode version of the Polars build
(newer than CPython 3.11's); the row backend applies a generated fix-up table
(``_unicode_case.py``, made by ``tools/gen_case_table.py``) for the code points whose mapping
CPython does not know yet (and for the final-sigma rule, whose letter classes also moved),
and a test compares both backends on every code point.
"""

from __future__ import annotations

import polars as pl

from featuredsl.functions import lists
from featuredsl.functions._unicode_case import polars_lower as lower_row
from featuredsl.functions._unicode_case import polars_upper as upper_row
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import BOOL, INT, STRING

S = (STRING,)
SS = (STRING, STRING)

register(
    "lower", "Full Unicode lowercase (`\"ÀΣ\"` -> `\"àς\"`).", ("s",),
    [Overload("lower_string", S, STRING, lambda s: s.str.to_lowercase(),
              lambda g, s: f"({s}.lower() if {s}.isascii() "
                           f"else {g.ref(lower_row, 'lower')}({s}))")],
    [Example("lower(s)", {"s": "ÀB"}, "àb"), Example("lower(s)", {"s": "\ua7cb"}, "\u0264")],
    category="string",
)
register(
    "upper", "Full Unicode uppercase (`\"ß\"` -> `\"SS\"`).", ("s",),
    [Overload("upper_string", S, STRING, lambda s: s.str.to_uppercase(),
              lambda g, s: f"({s}.upper() if {s}.isascii() "
                           f"else {g.ref(upper_row, 'upper')}({s}))")],
    [Example("upper(s)", {"s": "straße"}, "STRASSE"), Example("upper(s)", {"s": ""}, "")],
    category="string",
)
register(
    "length", "Number of Unicode code points (not bytes) of a string; number of elements "
    "(null elements included) of a list (`featuredsl/functions/lists.py`).", ("s",),
    [Overload("length_string", S, INT, lambda s: s.str.len_chars().cast(pl.Int64),
              lambda g, s: f"len({s})"), lists.LENGTH_LIST],
    [Example("length(s)", {"s": "héllo"}, 5), Example("length(s)", {"s": ""}, 0),
     Example("length(s)", {"s": "👍🏽"}, 2), *lists.LENGTH_EXAMPLES],
    category="string",
)
register(
    "concat", "Concatenation of two or more strings; null if any is null.", ("a", "b"),
    [Overload("concat_string", SS, STRING, lambda *xs: pl.concat_str(list(xs)),
              lambda g, *xs: "(" + " + ".join(xs) + ")", variadic=True)],
    [Example("concat(a, b)", {"a": "x", "b": "é"}, "xé"),
     Example('concat(a, "-", b)', {"a": "x", "b": None}, None, {"b": "string?"})],
    category="string",
)
register(
    "contains", "Whether `s` contains `sub` (literal text, never a regex; `\"\"` is in every "
    "string). On a list: whether an element equals `sub` (null elements never match; "
    "`featuredsl/functions/lists.py`).", ("s", "sub"),
    [Overload("contains_string", SS, BOOL,
              lambda s, sub: s.str.contains(sub, literal=True),
              lambda g, s, sub: f"{sub} in {s}"), *lists.CONTAINS_LIST],
    [Example('contains(s, ".")', {"s": "abc"}, False),
     Example('contains(s, "refund")', {"s": "a refund"}, True), *lists.CONTAINS_EXAMPLES],
    category="string",
)
register(
    "starts_with", "Whether `s` starts with `prefix` (literal).", ("s", "prefix"),
    [Overload("starts_with_string", SS, BOOL, lambda s, p: s.str.starts_with(p),
              lambda g, s, p: f"{s}.startswith({p})")],
    [Example('starts_with(s, "ab")', {"s": "abc"}, True)],
    category="string",
)
register(
    "ends_with", "Whether `s` ends with `suffix` (literal).", ("s", "suffix"),
    [Overload("ends_with_string", SS, BOOL, lambda s, p: s.str.ends_with(p),
              lambda g, s, p: f"{s}.endswith({p})")],
    [Example('ends_with(s, "bc")', {"s": "abc"}, True)],
    category="string",
)
