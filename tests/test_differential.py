"""Differential property tests: the row backend and the batch backend agree on every row.

Random well-typed `.feat` expressions are drawn from the *whole* function registry (every
non-aggregate overload, operators written with their symbols, constant parameters as literals)
plus the special forms (``if``, ``case``, ``??``, ``coalesce``, ``and``/``or``, ``is [not]
null``), typed bottom-up by :func:`expr_of`. Kinds include lists (``list[int]``, ...,
``list[duration]``): list inputs with null elements and NaN, list literals, and any registry
function taking or giving a list, picked up by its parameter and result kinds; an overload
with ``any`` parameters (``get(list[any], int)``, ``fill_null(any, any)``) is instantiated
with each kind. Many of them go into one spec (amortising compile
and transform), over a random frame full of edge values (nulls, NaN, +-inf, -0.0, subnormals,
int64 extremes, empty and non-ASCII strings, timestamps far from 1970), and
``row_evaluator()(row)`` must equal ``transform(frame)`` on every row and feature
(:func:`tests.harness.mismatches`). A mismatch is a bug, never a tolerance: the minimized case
goes to ``tests/test_differential_regressions.py`` together with the fix.

A second property: ``fd.compile`` never raises anything but ``fd.SpecError`` on garbage, token
soup or absurdly deep nesting; and a spec that compiles builds both backends.

Soak runs: ``FEATUREDSL_DIFF_EXAMPLES=20000 pytest tests/test_differential.py`` (the default is
sized for CI: about a minute on 2 cores).
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import os
import string

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import featuredsl as fd
from featuredsl import ir
from featuredsl.functions.registry import Function, Overload, all_functions
from featuredsl.types import Type, list_of
from tests.harness import frame_for, mismatches, same_value

N_EXAMPLES = int(os.environ.get("FEATUREDSL_DIFF_EXAMPLES", "500"))
N_GARBAGE = max(50, N_EXAMPLES // 2)

UTC = dt.UTC

# ------------------------------------------------------------------------------ the inputs

#: Declared inputs, by kind; nullable ones get None (and NaN, for floats) in the data.
INPUTS: dict[str, str] = {
    "i1": "int?", "i2": "int", "f1": "float?", "f2": "float", "f3": "float?",
    "s1": "string?", "s2": "string", "b1": "bool?", "b2": "bool",
    "t1": "timestamp?", "t2": "timestamp", "d1": "date?", "du1": "duration?",
    "li1": "list[int?]?", "li2": "list[int]", "lf1": "list[float?]?", "ls1": "list[string?]?",
    "ls2": "list[string]", "lb1": "list[bool?]?", "lt1": "list[timestamp?]?",
    "ld1": "list[date?]?", "ldu1": "list[duration?]?",
}
SCALAR_KINDS = ("bool", "int", "float", "string", "timestamp", "date", "duration")
#: Element kinds of the generated list values; a list kind is written `list[int]` (element
#: and list nullability aside: a value of kind `list[int]` may be null or hold nulls).
ELEM_KINDS = ("int", "float", "string", "bool", "timestamp", "date", "duration")
LIST_KINDS = tuple(f"list[{k}]" for k in ELEM_KINDS)
KINDS = SCALAR_KINDS + LIST_KINDS


def kind_of(t: str | Type) -> str:
    """The kind of a type (nullability dropped at every level): `list[int?]?` -> `list[int]`."""
    return str(t).replace("?", "")


def type_of(kind: str) -> Type:
    """The (non-null) type of a kind."""
    return list_of(Type(kind[5:-1])) if kind.startswith("list[") else Type(kind)


def declared(kind: str) -> str:
    """The nullable declaration of a kind: `int?`, `list[int?]?`."""
    return f"list[{kind[5:-1]}?]?" if kind.startswith("list[") else f"{kind}?"


COLUMNS: dict[str, list[str]] = {k: [n for n, t in INPUTS.items() if kind_of(t) == k]
                                 for k in KINDS}
NULLABLE_COLUMN = {k: next(n for n in COLUMNS[k] if INPUTS[n].endswith("?")) for k in KINDS}
#: Kinds of the generated features: those with functions of their own come up more often.
FEATURE_KINDS = ("bool", "int", "float", "string", "bool", "int", "float", "string", "timestamp",
                 "date", "duration", *LIST_KINDS[:4])
#: Kinds that have literals (timestamps and dates only come from inputs).
LITERAL_KINDS = ("bool", "int", "float", "string", "duration")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT_EDGES = [0, -1, 1, 2, -2, 3, 7, 10, 100, 255, 2**31, -(2**31), 2**53, 2**53 + 1, 2**62,
             INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 50000, 1000003]
FLOAT_EDGES = [0.0, -0.0, 1e308, -1e308, 5e-324, -5e-324, 0.1, 2.675, 0.35, 12.35, 0.5, -0.5,
               1.5, 2.5, -2.5, 1.0, -1.0, 3.0, 1e16, 1e-7, 1e-5, 9.5, 2.0**52, 2.0**63,
               -(2.0**63), 1.7976931348623157e308, 2.2250738585072014e-308, 1000.0, 0.125,
               1 / 3, 100.0]
FLOAT_DATA_EDGES = [*FLOAT_EDGES, float("inf"), float("-inf")]
STR_EDGES = ["", "É", "ß", "ΑΣ", "\u1e9e", "a\u0345Σ", "👍🏽", "refund", "a refund", "REFUND",
             "é", "e\u0301", "Σ", "ς", "straße", "İ", "ŉ", " x ", "\x1fabc\x1f", "a.b", ".",
             "7", "-12", "+3", "1e5", "1.5", "nan", "inf", "-Infinity", "9223372036854775808",
             "\ua7cb", "\u0264", "true", "US", "\x00", "\t", "ﬃ"]
#: ISO-8601 texts for parse_timestamp / parse_date (and near misses): offsets, 1..9 fraction
#: digits, a space separator, the range's ends, impossible dates, a surrounding space.
ISO_EDGES = ["2013-01-01", "2024-02-29T23:59:59.123456789+05:30", "2023-02-29", "1900-02-29",
             "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59-00:01",
             "2013-01-01 00:00:00", "2013-01-01T05:30:59.5-0800", "2013-01-01T24:00",
             "2013-01-01T05:30+01", " 2013-01-01", "2013-01-01t05:30", "２０１３-01-01"]
TS_EDGES = [dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
            dt.datetime(1900, 2, 28, 12, 0, tzinfo=UTC), dt.datetime(2000, 2, 29, tzinfo=UTC),
            dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                          tzinfo=UTC),
            dt.datetime(2024, 1, 7, 23, 59, 59, tzinfo=UTC), dt.datetime(1600, 3, 1, tzinfo=UTC)]
DATE_EDGES = [dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(1, 1, 1),
              dt.date(9999, 12, 31), dt.date(2000, 2, 29), dt.date(2024, 1, 7)]


def _iso_text(t: dt.datetime) -> str:
    """A timestamp text of the accepted grammar (the form varies with the value)."""
    form = t.microsecond % 4
    if form == 0:
        return t.date().isoformat()
    if form == 1:
        return t.isoformat(sep=" ")
    sign = "+" if t.second % 2 else "-"
    return t.isoformat() + ("Z" if form == 2 else f"{sign}{t.minute % 24:02d}:{t.hour:02d}")


@functools.cache  # one strategy object per type: hypothesis validates each
def _value(kind: str, nullable: bool, elem_nullable: bool = False) -> st.SearchStrategy:
    if kind.startswith("list["):  # short lists; null elements (and NaN) where allowed
        s = st.lists(_value(kind[5:-1], elem_nullable), max_size=4)
        return st.one_of(st.none(), s) if nullable else s
    if kind == "int":
        s = st.one_of(st.sampled_from(INT_EDGES), st.integers(-20, 20),
                      st.integers(INT64_MIN, INT64_MAX))
    elif kind == "float":
        s = st.one_of(st.sampled_from(FLOAT_DATA_EDGES), st.integers(-20, 20).map(float),
                      st.floats(allow_nan=nullable, width=64))
        if nullable:
            s = st.one_of(s, st.just(float("nan")))
    elif kind == "string":
        s = st.one_of(st.sampled_from(STR_EDGES), st.text(max_size=6), st.sampled_from(ISO_EDGES),
                      st.datetimes(min_value=dt.datetime(1, 1, 2),
                                   max_value=dt.datetime(9999, 12, 30)).map(_iso_text))
    elif kind == "bool":
        s = st.booleans()
    elif kind == "timestamp":
        s = st.one_of(st.sampled_from(TS_EDGES),
                      st.datetimes(min_value=dt.datetime(1, 1, 1),
                                   max_value=dt.datetime(9999, 12, 31),
                                   timezones=st.just(UTC)))
    elif kind == "date":
        s = st.one_of(st.sampled_from(DATE_EDGES), st.dates())
    else:  # duration: within what int64 microseconds can hold
        s = st.one_of(st.sampled_from([dt.timedelta(0), dt.timedelta(microseconds=-1),
                                       dt.timedelta(days=1), dt.timedelta(hours=-12)]),
                      st.timedeltas(min_value=dt.timedelta(days=-100_000),
                                    max_value=dt.timedelta(days=100_000)))
    return st.one_of(st.none(), s) if nullable else s


ROW = st.fixed_dictionaries({n: _value(kind_of(t), t.endswith("?"), "?]" in t)
                             for n, t in INPUTS.items()})
ROWS = st.lists(ROW, min_size=1, max_size=10)


# ------------------------------------------------------------------------------ literals


def _num(text: str, negative: bool) -> str:
    return f"(-{text})" if negative else text


def int_text(v: int) -> str:
    """An int literal (negative ones as a negated literal, so int64 min is writable)."""
    return _num(str(abs(v)), v < 0)


def float_text(v: float) -> str:
    neg = v < 0 or (v == 0 and str(v).startswith("-"))
    return _num(repr(abs(v)), neg)


def string_text(s: str, escape_all: bool = False) -> str:
    """A string literal: `"` `\\` and newlines always escaped, other characters at random."""
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t" and not escape_all:
            out.append("\\t")
        elif escape_all or not ch.isprintable():
            cp = ord(ch)
            out.append(f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


INT_LIT = st.one_of(st.sampled_from(INT_EDGES), st.integers(-1000, 1000),
                    st.integers(INT64_MIN, INT64_MAX))
FLOAT_LIT = st.one_of(st.sampled_from(FLOAT_EDGES),
                      st.floats(allow_nan=False, allow_infinity=False, width=64))
STR_LIT = st.one_of(st.sampled_from(STR_EDGES), st.text(max_size=5))
_DUR_UNITS = ("d", "h", "m", "s", "ms", "us")


@st.composite
def duration_text(draw) -> str:
    parts = draw(st.lists(st.tuples(st.integers(0, 400), st.sampled_from(_DUR_UNITS)),
                          min_size=1, max_size=3, unique_by=lambda p: p[1]))
    order = {u: i for i, u in enumerate(_DUR_UNITS)}
    text = "".join(f"{n}{u}" for n, u in sorted(parts, key=lambda p: order[p[1]]))
    return f"(-{text})" if draw(st.booleans()) else text


def literal_of(kind: str) -> st.SearchStrategy[str]:
    if kind == "int":
        return INT_LIT.map(int_text)
    if kind == "float":
        return FLOAT_LIT.map(float_text)
    if kind == "string":
        return st.builds(string_text, STR_LIT, st.booleans())
    if kind == "bool":
        return st.sampled_from(["true", "false"])
    if kind == "duration":
        return duration_text()
    raise AssertionError(kind)


def list_text(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


@st.composite
def member_list(draw, kind: str) -> str:
    """A constant list for ``in`` / ``index_of``: duplicates and mixed int/float allowed."""
    if kind == "float":
        elem = st.one_of(FLOAT_LIT.map(float_text), INT_LIT.map(int_text))
    else:
        elem = literal_of(kind)
    return list_text(draw(st.lists(elem, max_size=5)))


@st.composite
def list_literal(draw, elem: str) -> str:
    """A list-valued literal of a list kind: non-empty (an empty `[]` has no element type),
    a float list holding at least one float literal so that it is surely `list[float]`."""
    items = draw(st.lists(literal_of(elem), min_size=1, max_size=4))
    if elem == "float" and draw(st.booleans()):
        items.append(draw(INT_LIT.map(int_text)))  # ints promote inside a float list
    return list_text(items)


@st.composite
def edges_list(draw, kind: str) -> str:
    """Strictly increasing ``bucketize`` edges (after promotion to float where that applies)."""
    if kind == "int":
        vals = sorted(set(draw(st.lists(INT_LIT, max_size=6))))
        return list_text([int_text(v) for v in vals])
    # float edges: floats, or ints whose float values are distinct (written as int literals)
    raw = draw(st.lists(st.one_of(FLOAT_LIT, INT_LIT), max_size=6))
    seen: dict[float, object] = {}
    for v in raw:
        seen.setdefault(float(v), v)
    vals = [seen[k] for k in sorted(seen)]
    if vals and all(isinstance(v, int) for v in vals):
        vals[0] = float(vals[0])  # keep the list float-typed
    return list_text([int_text(v) if isinstance(v, int) else float_text(v) for v in vals])


# ------------------------------------------------------------------------------ the registry


#: A callable signature: the function, the overload, and its parameter kinds (the overload's
#: own, or one instantiation of its `any` parameters).
Sig = tuple[Function, Overload, tuple[str, ...]]


def _instantiations(ov: Overload) -> list[tuple[Type, ...]]:
    """The overload's parameter types with `any` (top level or as a list element) replaced by
    each kind the generator writes: one type variable per overload (`fill_null(any, any)` gets
    two arguments of one kind)."""
    def has_any(t: Type, top: bool) -> bool:
        return (t.kind == "any" and top) or (t.elem is not None and t.elem.kind == "any")
    if not any(has_any(p, True) for p in ov.params):
        return [ov.params]
    elem_only = not any(p.kind == "any" for p in ov.params)
    out = []
    for k in (ELEM_KINDS if elem_only else KINDS):
        t = type_of(k)
        out.append(tuple(t if p.kind == "any" else list_of(t) if has_any(p, False) else p
                         for p in ov.params))
    return out


def _writable(fn: Function, ov: Overload, i: int, p: Type) -> bool:
    if i in ov.const:
        return p.kind != "list" or (p.elem is not None and p.elem.kind in ELEM_KINDS) \
            or bool(fn.const_samples.get(fn.params[min(i, len(fn.params) - 1)]))
    return kind_of(p) in KINDS


#: Result kind -> function name -> the signatures giving that kind.
_BY_RESULT: dict[str, dict[str, list[Sig]]] = {k: {} for k in KINDS}
for _fn in all_functions():
    if _fn.kind == "aggregate":
        continue
    for _ov in _fn.overloads:
        for _params in _instantiations(_ov):
            if not all(_writable(_fn, _ov, i, p) for i, p in enumerate(_params)):
                continue  # a parameter kind the generator cannot write an expression of
            try:
                res = kind_of(_ov.result_type(list(_params)))
            except Exception:
                continue
            if res in _BY_RESULT:
                _BY_RESULT[res].setdefault(_fn.name, []).append(
                    (_fn, _ov, tuple(kind_of(p) for p in _params)))

_BINARY = {"add", "sub", "mul", "div", "floordiv", "mod", "eq", "ne", "lt", "le", "gt", "ge"}
#: Constant scalars whose values an overload checks: (values, source text, a plain value).
_CONST_VALUES = {"int": (INT_LIT, int_text, 1), "float": (FLOAT_LIT, float_text, 1.0),
                 "string": (STR_LIT, string_text, "a")}
#: Constant list parameters that need a special shape (others get `member_list`).
_CONST_LIST = {"bucketize": edges_list}


def _result_kind(o: Overload) -> str:
    try:
        return o.result_type(list(o.params)).kind
    except Exception:
        return "?"


#: Functions whose every overload gives a float: a call of one is a float whatever its args.
_ALWAYS_FLOAT = sorted(
    name for name, sigs in _BY_RESULT["float"].items()
    if all(_result_kind(o) == "float" for o in sigs[0][0].overloads))


def _literal_value(text: str, kind: str) -> object:
    """The value of a literal argument as the checker hands it to ``check_const`` (ints
    promoted where a float is expected), or ``_NOT_CONST`` for any other expression."""
    words = {"true": "True", "false": "False", "null": "None"}
    try:
        value = _fold(ast.parse(words.get(text, text), mode="eval").body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_CONST
    if isinstance(value, list):
        elem = kind[5:-1] if kind.startswith("list[") else ""
        return tuple(float(v) if elem == "float" and isinstance(v, int) else v for v in value)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


_NOT_CONST = object()


def _fold(node: ast.AST) -> object:
    """A literal, a list of them, or a literal under signs (``-(-1)``, which
    ``ast.literal_eval`` refuses but the checker folds to the constant ``1``)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _fold(node.operand)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError("a sign on a non-number")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.List):
        return [_fold(e) for e in node.elts]
    return ast.literal_eval(node)


def _constants_pass(ov: Overload, params: tuple[str, ...], args: list[str]) -> bool:
    """Whether the literal arguments pass the overload's compile-time check (`split(s, "")`
    does not: the separator must not be empty)."""
    if ov.check_const is None:
        return True
    consts = [_literal_value(a, params[min(i, len(params) - 1)]) for i, a in enumerate(args)]
    return ov.check_const([None if c is _NOT_CONST else c for c in consts]) is None


@st.composite
def call_of(draw, sig: Sig, depth: int, lets: dict[str, list[str]],
            exact: bool = False, drawn: list[str] | None = None) -> str:
    """A call of one signature (see :func:`_call_text`) whose constants pass the overload's
    compile-time checks; after a few tries, a column or let of the result kind instead."""
    _, ov, params = sig
    for _ in range(5):
        text = draw(_call_text(sig, depth, lets, exact, drawn))
        if text is not None:
            return text
    if drawn is not None:
        drawn.clear()  # no call was written
    return draw(leaf_of(kind_of(ov.result_type([type_of(p) for p in params])), lets, True))


@st.composite
def _call_text(draw, sig: Sig, depth: int, lets: dict[str, list[str]],
               exact: bool = False, drawn: list[str] | None = None) -> str | None:
    """A call of one overload, written as the user would (operators with their symbols).

    The first float parameter gets an expression that is surely float (not an int that
    promotes), so that a float overload is really the one the checker picks; with ``exact``
    the first parameter of any kind is surely of that kind (not a bare ``null``), so the
    checker picks exactly ``ov``."""
    fn, ov, params = sig
    sub = depth - 1
    # a bare `null` (or an int standing for a float) would pick another overload than this
    # one if it is not the function's first: then every argument is surely of its kind
    first_visible = next(o for o in fn.overloads if not o.hidden)
    all_strict = ov is not first_visible and not ov.hidden
    # the result type of a generic overload (`get(list[any], int)`, `fill_null(any, any)`)
    # follows its arguments: a bare `null` would leave it untyped
    all_strict = all_strict or any(p.kind == "any" or (p.elem is not None and p.elem.kind ==
                                                         "any") for p in ov.params)
    first_float = next((i for i, p in enumerate(params) if i not in ov.const
                        and (exact or p in ("float", "list[float]"))), None)

    def arg(i: int) -> str:
        p = params[min(i, len(params) - 1)]
        if ov.is_const(i):
            samples = fn.const_samples.get(fn.params[i]) if i < len(fn.params) else None
            if samples:
                return draw(st.sampled_from(samples))
            if p.startswith("list["):
                return draw(_CONST_LIST.get(fn.name, member_list)(p[5:-1]))
            if fn.name == "round":
                return int_text(draw(st.integers(-3, 6)))
            if p in _CONST_VALUES and ov.check_const is not None:
                # a constant the overload checks (`cross(a, b, n)`: n > 0; a non-empty `split`
                # separator): one it accepts, else a plain one
                values, text, fallback = _CONST_VALUES[p]
                for v in [*(draw(values) for _ in range(5)), fallback]:
                    consts: list[object] = [None] * len(params)
                    consts[min(i, len(params) - 1)] = v
                    if ov.check_const(consts) is None:
                        break
                return text(v)
            return draw(literal_of(p))
        # make_timestamp's `s` (a float parameter after the first) must surely be a float to
        # reach its float overload; only there: forcing sure floats everywhere made the
        # every-overload draw 2.5x slower (strict float subtrees), for no overload gained
        sure_float = exact and p == "float" and fn.name == "make_timestamp"
        return draw(expr_of(p, sub, lets, strict=all_strict or i == first_float or sure_float))

    if fn.kind == "operator":
        if fn.name in _BINARY:
            if first_float is not None and draw(st.booleans()):  # the sure one on the right
                a = draw(expr_of(params[0], sub, lets, strict=all_strict))
                b = draw(expr_of(params[1], sub, lets, strict=True))
            else:
                a, b = arg(0), arg(1)
            if drawn is not None:
                drawn[:] = [a, b]
            return f"({a} {fn.symbol} {b})"
        if fn.name == "neg":
            # with `exact`, a column: `-5` is a literal and `-(-(-1d))` folds to a constant,
            # neither is a call of neg
            a = draw(st.sampled_from(COLUMNS[params[0]])) if exact else arg(0)
            return f"(-{a})"
        if fn.name == "not":
            return f"(not {arg(0)})"
        if fn.name == "is_in":
            neg = draw(st.booleans())
            a, b = arg(0), arg(1)
            if drawn is not None:
                drawn[:] = [a, b]
            return f"({a} {'not in' if neg else 'in'} {b})"
        raise AssertionError(f"operator {fn.name} has no spelling here")
    n = len(params)
    if ov.variadic and len(params) - 1 not in ov.const:  # a constant tail does not repeat
        n += draw(st.integers(0, 2))
    if fn.name == "round" and draw(st.booleans()):
        n = 1  # the default n=0
    args = [arg(i) for i in range(n)]
    if drawn is not None:
        drawn[:] = args
    if not _constants_pass(ov, params, args):
        return None
    if not ov.variadic and 1 < n <= len(fn.params) and draw(st.booleans()):
        k = draw(st.integers(1, n - 1))  # pass the last parameters by keyword
        args = args[:k] + [f"{fn.params[i]}={args[i]}" for i in range(k, n)]
    return f"{fn.name}({', '.join(args)})"


@st.composite
def leaf_of(draw, kind: str, lets: dict[str, list[str]], strict: bool = False) -> str:
    """An input column, a let or earlier feature, a literal, or ``null`` (not when strict)."""
    names = list(COLUMNS[kind]) + list(lets.get(kind, []))
    if kind == "float" and not strict:  # int promotes to float
        names += COLUMNS["int"][:1]
    if kind == "list[float]" and not strict:
        names += COLUMNS["list[int]"][:1]
    choices = ["col", "col", "col"]
    if kind in LITERAL_KINDS or (kind in LIST_KINDS and not strict
                                 and kind[5:-1] in LITERAL_KINDS):
        # a list literal is a constant (it would specialize `x in [..]` to the constant form)
        choices += ["lit", "lit"]
    if not strict:
        choices.append("null")
    what = draw(st.sampled_from(choices))
    if what == "col":
        return draw(st.sampled_from(names))
    if what == "lit":
        if kind in LIST_KINDS:
            return draw(list_literal(kind[5:-1]))
        if kind == "float" and not strict and draw(st.integers(0, 3)) == 0:
            return draw(literal_of("int"))
        return draw(literal_of(kind))
    return "null"


@st.composite
def expr_of(draw, kind: str, depth: int, lets: dict[str, list[str]] | None = None,
            strict: bool = False) -> str:
    """Source text of a featuredsl expression of ``kind`` (its value may be null), at most
    ``depth`` levels deep, every subexpression parenthesised.

    An int expression may stand for a float (promotion), and a bare ``null`` for anything,
    unless ``strict``: then the expression's type is exactly ``kind``.
    """
    lets = lets or {}
    if depth <= 0:
        return draw(leaf_of(kind, lets, strict))
    forms = ["leaf", "call", "call", "call", "call", "if", "case", "coalesce"]
    if kind == "bool":
        forms += ["logic", "isnull"]
    form = draw(st.sampled_from(forms))
    sub = depth - 1
    if form == "leaf":
        return draw(leaf_of(kind, lets, strict))
    if form == "call":
        if strict and kind == "float":
            name = draw(st.sampled_from(_ALWAYS_FLOAT))
            return draw(call_of(draw(st.sampled_from(_BY_RESULT["float"][name])), depth, lets))
        # every function equally likely, then one of its overloads of the right result kind;
        # int-valued calls stand in for a float a quarter of the time (promotion)
        result = "int" if kind == "float" and draw(st.integers(0, 3)) == 0 else kind
        by_name = _BY_RESULT[result]
        if not by_name:
            return draw(leaf_of(kind, lets, strict))
        name = draw(st.sampled_from(sorted(by_name)))
        return draw(call_of(draw(st.sampled_from(by_name[name])), depth, lets))
    # the branches of if/case/coalesce unify to a float if the last one is a sure float
    if form == "if":
        c, a, b = (draw(expr_of("bool", sub, lets)), draw(expr_of(kind, sub, lets)),
                   draw(expr_of(kind, sub, lets, strict)))
        return f"(if {c} then {a} else {b})"
    if form == "case":
        whens = draw(st.lists(st.tuples(expr_of("bool", sub, lets), expr_of(kind, sub, lets)),
                              min_size=1, max_size=3))
        body = " ".join(f"when {c} then {v}" for c, v in whens)
        if strict or draw(st.booleans()):
            body += f" else {draw(expr_of(kind, sub, lets, strict))}"
        return f"(case {body} end)"
    if form == "coalesce":
        args = draw(st.lists(expr_of(kind, sub, lets), min_size=1, max_size=2))
        args.append(draw(expr_of(kind, sub, lets, strict)))
        if len(args) == 2 and draw(st.booleans()):
            return f"({args[0]} ?? {args[1]})"
        return f"coalesce({', '.join(args)})"
    if form == "logic":
        a, b = draw(expr_of("bool", sub, lets)), draw(expr_of("bool", sub, lets))
        return f"({a} {draw(st.sampled_from(['and', 'or']))} {b})"
    # isnull: of any kind
    other = draw(st.sampled_from(KINDS))
    neg = draw(st.booleans())
    return f"({draw(expr_of(other, sub, lets))} is {'not ' if neg else ''}null)"


@st.composite
def spec_text(draw, max_depth: int = 4) -> tuple[str, list[str]]:
    """A whole spec: the inputs, a few lets, and several features of random kinds (later
    values may refer to earlier lets and features by name)."""
    lets: dict[str, list[str]] = {}
    lines = ["input {", *(f"  {n}: {t}" for n, t in INPUTS.items()), "}"]
    for k in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(KINDS))
        body = draw(expr_of(kind, draw(st.integers(1, 2)), lets))
        # `?? column` gives the let a known type even if `body` is a bare `null`
        lines.append(f"let l{k} = ({body} ?? {NULLABLE_COLUMN[kind]})")
        lets.setdefault(kind, []).append(f"l{k}")
    exprs = []
    for k in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(FEATURE_KINDS))
        e = draw(expr_of(kind, draw(st.integers(1, max_depth)), lets))
        exprs.append(e)
        lines.append(f"feature e{k}: {declared(kind)} = {e}")
        lets.setdefault(kind, []).append(f"e{k}")  # later features may use earlier ones
    return "\n".join(lines) + "\n", exprs


def _compile(src: str) -> fd.Spec:
    try:
        return fd.compile(src)
    except fd.SpecError as exc:  # a generator bug, or a checker bug: show which
        raise AssertionError(f"generated spec does not compile:\n{src}\n{exc}") from None


# ------------------------------------------------------------------------------ properties


@settings(max_examples=N_EXAMPLES, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(spec=spec_text(), rows=ROWS)
def test_row_backend_equals_batch_backend(spec: tuple[str, list[str]], rows: list[dict]) -> None:
    src, _ = spec
    note(f"spec:\n{src}")
    compiled = _compile(src)
    bad = mismatches(compiled, rows) or streaming_mismatches(compiled, rows)
    assert not bad, "backends disagree:\n" + "\n".join(bad[:10]) + f"\n\nspec:\n{src}"


def streaming_mismatches(spec: fd.Spec, rows: list[dict]) -> list[str]:
    """Like ``mismatches``, for ``transform_lazy`` collected by the streaming engine (which
    cuts the frame into morsels, down to one row: kernels with scalar shortcuts notice)."""
    ev = spec.row_evaluator()
    lazy = spec.transform_lazy(frame_for(spec, rows).lazy()).collect(engine="streaming")
    out = []
    for i, (r, b) in enumerate(zip(rows, lazy.to_dicts(), strict=True)):
        want = ev(r)
        out += [f"row {i} {r!r}: feature `{f}` row={want[f]!r} streaming batch={b[f]!r}"
                for f in spec.features if not same_value(want[f], b[f])]
    return out


@settings(max_examples=max(30, N_EXAMPLES // 5), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=spec_text(max_depth=2), row=ROW, n=st.integers(2, 5))
def test_repeated_rows_and_single_row_frames(spec: tuple[str, list[str]], row: dict,
                                             n: int) -> None:
    """One row alone, the same row repeated, and no rows: Polars' scalar fast paths differ by
    frame shape, the results must not (nor the number of rows)."""
    src, _ = spec
    note(f"spec:\n{src}")
    compiled = _compile(src)
    for rows in ([row], [row] * n, []):
        bad = mismatches(compiled, rows)
        assert not bad, "backends disagree:\n" + "\n".join(bad[:10]) + f"\n\nspec:\n{src}"


#: Every overload of the registry that the generator can write, with the instantiations of
#: its `any` parameters (one is drawn per run: all of them would make each spec too big).
ALL_OVERLOADS: dict[str, list[Sig]] = {}
for _by_name in _BY_RESULT.values():
    for _sigs in _by_name.values():
        for _sig in _sigs:
            ALL_OVERLOADS.setdefault(_sig[1].id, []).append(_sig)
ALL_OVERLOADS = {k: sorted(v, key=lambda sig: sig[2]) for k, v in sorted(ALL_OVERLOADS.items())}


def _reaches(fn: Function, ov: Overload, params: tuple[str, ...], args: list[str]) -> bool:
    """Whether a call with these argument texts compiles to ``ov`` after specialization on
    its literal arguments (the checker picks the visible overload of these parameter types,
    then ``specialize`` may swap it for another)."""
    consts = [_literal_value(a, params[min(i, len(params) - 1)]) for i, a in enumerate(args)]
    values = [None if c is _NOT_CONST else c for c in consts]
    visible = next((o for o in fn.overloads if not o.hidden and o.params == ov.params), ov)
    special = visible.specialize(values) if visible.specialize is not None else None
    return special == ov.id if ov.hidden else special is None


#: The registry's overloads are drawn in this many specs (every ``CHUNKS``-th overload in
#: each): one spec holding all of them overran Hypothesis's buffer, which then silently threw
#: most draws away (about 70 tries and 90 s for one example).
CHUNKS = 8


@st.composite
def every_overload_spec(draw, chunk: int = 0, chunks: int = 1) -> tuple[str, dict[str, str]]:
    """One feature per overload of the registry (its arguments random), so that the runs of
    every chunk together exercise all of them (chunk ``chunk`` of ``chunks``: every
    ``chunks``-th overload); returns the source and feature name -> overload id.

    An overload reached only through specialization on constant arguments (`x / 7.0`, `x in
    [1, 2]`, a default zone), or one that such constants turn into another, is drawn until the
    checker really picks it (a few tries; it is then left unasserted). Special forms spelled
    as calls (`fill_null`) are no calls in the IR and are not asserted either."""
    lines = ["input {", *(f"  {n}: {t}" for n, t in INPUTS.items()), "}"]
    wanted = {}
    for k, sigs in enumerate(list(ALL_OVERLOADS.values())[chunk::chunks]):
        sig = draw(st.sampled_from(sigs))
        fn, ov, params = sig
        kind = kind_of(ov.result_type([type_of(p) for p in params]))
        if ov.hidden and not ov.const and fn.symbol is not None:
            # reached by specialization on a constant operand (`x / 7.0`): a column and a
            # finite non-zero literal
            assert len(ov.params) == 2, ov.id
            if ov.params[0].kind == "int":  # `x // 7`: an int literal other than 0 and -1
                x = draw(st.sampled_from(COLUMNS["int"]))
                lit = draw(st.integers(-(2**63) + 1, 2**63 - 1).filter(lambda c: c not in (0, -1))
                           | st.sampled_from([1, 2, -2, 100, 2**63 - 1, -(2**63) + 1]))
                e = f"({x} {fn.symbol} {lit})" if lit >= 0 else f"({x} {fn.symbol} ({lit}))"
            else:
                x = draw(st.sampled_from(COLUMNS["float"]))
                e = f"({x} {fn.symbol} {float_text(draw(FLOAT_LIT.filter(bool)))})"
            hit = True
        elif ov.hidden or ov.specialize is not None:
            for _ in range(40):  # constants often specialize: draw until one does not
                drawn: list[str] = []
                e = draw(call_of(sig, draw(st.integers(1, 2)), {}, exact=True, drawn=drawn))
                if hit := bool(drawn) and _reaches(fn, ov, params, drawn):
                    break
        else:
            e = draw(call_of(sig, draw(st.integers(1, 2)), {}, exact=True))
            hit = fn.kind != "special"
        lines.append(f"feature o{k}: {declared(kind)} = {e}")
        if hit:
            wanted[f"o{k}"] = ov.id
    return "\n".join(lines) + "\n", wanted


@pytest.mark.parametrize("chunk", range(CHUNKS))
@settings(max_examples=max(10, N_EXAMPLES // 25), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data(), rows=ROWS)
def test_every_overload_row_equals_batch(chunk: int, data: st.DataObject,
                                         rows: list[dict]) -> None:
    src, wanted = data.draw(every_overload_spec(chunk, CHUNKS), label="spec")
    note(f"spec:\n{src}")
    compiled = _compile(src)
    used = set()
    for f in compiled.program.features:
        used |= {n.overload.id for n in ir.walk(f.expr) if isinstance(n, ir.Call)}
    missing = sorted(set(wanted.values()) - used)
    assert not missing, f"overloads not exercised: {missing}"
    bad = mismatches(compiled, rows)
    assert not bad, "backends disagree:\n" + "\n".join(bad[:10]) + f"\n\nspec:\n{src}"


# ------------------------------------------------------------------------------ compile robustness

_TOKENS = [
    "input", "stat", "let", "feature", "if", "then", "else", "case", "when", "end", "and", "or",
    "not", "in", "is", "null", "true", "false", "{", "}", "(", ")", "[", "]", ",", ":", "=",
    "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%", "??", "?", "#", "##",
    "\n", " ", "x", "i1", "f1", "s1", "`a b`", "int", "float?", "list[int]", "string",
    "timestamp", "0", "1_000", "1.5", "1e309", "1e-400", "9223372036854775808", "7d12h",
    "99999999999999999999999d", '"a"', '"\\u00e9"', '"\\ud800"', '"\\q"', '"unterminated',
    "abs", "round", "bucketize", "index_of", "mean", "quantiles", "vocab", "coalesce", "lower",
    "concat", "least", "hash", "n=2", "top=3", "`", "'", "&", "|", "!", "\t", "\r", "é", "\x00",
    "1" * 5000, "1." + "0" * 5000, "\\",
]
_HEADER = "input {\n  x: int\n  i1: int?\n  f1: float?\n  s1: string?\n}\n"


def _soup(tokens: list[str]) -> str:
    return " ".join(tokens)


_NESTING = st.sampled_from([
    ("(", ")"), ("-", ""), ("not ", ""), ("abs(", ")"), ("[", "]"), ("(1 + ", ")"),
    ("if true then ", " else 0"), ("coalesce(", ", 1)"), ("case when true then ", " end"),
    ("x ?? ", ""), ("(i1 * ", ")"),
])


@st.composite
def deep_text(draw) -> str:
    opened, closed = draw(_NESTING)
    n = draw(st.sampled_from([150, 199, 200, 201, 202, 1000, 3000]))
    core = draw(st.sampled_from(["x", "1", "f1", '"s"', "null"]))
    expr = opened * n + core + closed * n
    return _HEADER + f"feature y = {expr}\n"


GARBAGE = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=string.printable, max_size=200),
    st.lists(st.sampled_from(_TOKENS), max_size=40).map(_soup),
    st.lists(st.sampled_from(_TOKENS), max_size=30).map(lambda t: _HEADER + "feature y = "
                                                         + _soup(t) + "\n"),
    st.lists(st.sampled_from(_TOKENS), max_size=30).map(lambda t: _HEADER + _soup(t)),
    deep_text(),
)


@settings(max_examples=N_GARBAGE, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=GARBAGE)
def test_compile_raises_only_spec_error(text: str) -> None:
    note(repr(text[:2000]))
    try:
        spec = fd.compile(text)
    except fd.SpecError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.line >= 1 and d.column >= 1 and d.message
        str(exc)  # rendering the report must not fail either
        return
    # It compiled: both backends must build (statistics aside) without a traceback.
    if spec.is_fitted:
        spec.row_evaluator()
        spec.feature_exprs()


_DEEP = [("-(", ")", "x"), ("abs(", ")", "x"), ("(1 + ", ")", "x"), ("(i1 * ", ")", "x"),
         ("if b1 then ", " else i1", "x"), ("case when b1 then ", " end", "x"),
         ("coalesce(", ", i1)", "x"), ("(i1 ?? ", ")", "x"), ("not (", ")", "b1"),
         ("(b1 and ", ")", "b1"), ("least(i1, ", ")", "x"), ("(f1 / ", ")", "f1"),
         ("lower(", ")", "s1"), ("concat(s1, ", ")", "s1")]


@pytest.mark.parametrize(("opened", "closed", "core"), _DEEP, ids=[d[0] for d in _DEEP])
def test_deep_nesting_runs_on_both_backends_or_is_e210(opened: str, closed: str,
                                                        core: str) -> None:
    """Nesting just under the limit compiles and both backends agree (no RecursionError);
    over it is one E210 diagnostic, not a crash."""
    head = "input {\n  x: int\n  i1: int?\n  f1: float?\n  s1: string?\n  b1: bool?\n}\n"
    rows = [{"x": 3, "i1": None, "f1": 0.5, "s1": "Aß", "b1": True},
            {"x": -2, "i1": 7, "f1": None, "s1": None, "b1": None}]
    n = 190
    spec = _compile(head + f"feature y = {opened * n}{core}{closed * n}\n")
    bad = mismatches(spec, rows)
    assert not bad, "\n".join(bad)
    with pytest.raises(fd.SpecError) as info:
        fd.compile(head + f"feature y = {opened * 5000}{core}{closed * 5000}\n")
    assert [d.code for d in info.value.diagnostics if d.severity == "error"] == ["E210"]
