"""Regular expressions: ``regex_match(s, pattern)`` and ``regex_extract(s, pattern, group=0)``.

The batch backend runs Polars (the Rust ``regex`` crate), the row backend Python's ``re``. The
two dialects differ in many corners (``$`` before a trailing newline, Unicode-aware ``\\d \\w
\\s \\b``, nested classes and set operations, inline flags, look-around, back-references,
possessive quantifiers, ``{`` as a literal, ...), so a pattern is never handed to either engine
as the user wrote it. It is parsed here, at compile time, into a small syntax tree of a SAFE
SUBSET that both engines read the same way, and written out again once per engine; anything
outside the subset is a ``SpecError`` (E208) naming the construct and the alternative.

The subset (every pattern is a constant, compiled once):

* literal characters; ``\\`` escapes of the meta characters ``\\ . ^ $ | ? * + ( ) [ ] { } -
  / & ~ #`` and of ``\\t \\n \\r``, ``\\xHH``; ``.`` (any character but ``\\n``);
* ``\\d \\w \\s`` and ``\\D \\W \\S`` as ASCII classes ``[0-9]``, ``[0-9A-Za-z_]``,
  ``[\\t\\n\\v\\f\\r ]`` (both engines are Unicode-aware for these, differently);
* classes ``[abc]``, ``[^a-z]`` with ranges and the escapes above (``[ & ~ -`` inside a class
  must be escaped: Rust reads ``[[`` ``&&`` ``~~`` ``--`` as nested classes and set operations);
* groups ``( )`` (numbered from 1 by their opening parenthesis) and ``(?: )``; ``|``;
* quantifiers ``* + ? {n} {n,} {n,m}`` (counts up to 1000; a pattern whose counts multiply
  past the Rust engine's 10 MB compiled-size limit is rejected), each optionally lazy (``*?``);
* anchors ``^`` (start of the string) and ``$`` (end of the string only: Python's ``$`` also
  matches before a final newline, so Python gets ``\\Z``).

Not supported (rejected with a hint): look-around, back-references, named groups, inline flags
and case-insensitivity (use ``lower(s)`` first), possessive quantifiers, atomic groups,
``\\b \\B \\A \\z \\Z``, Unicode classes ``\\p``, POSIX classes, ``\\u``/``\\x{}`` escapes (write
the character itself: the `.feat` string literal already has ``\\uXXXX``).

Matching is a search (unanchored, leftmost-first, like Polars ``str.contains`` and Python's
``re.search``); ``regex_extract`` returns the first match's group (0 = the whole match), null
when there is no match or the group did not take part in it.

Backtracking: Python's ``re`` backtracks, so a pattern whose matching could take exponential
(or high polynomial) time is rejected at compile time: a repeated group (``(...)*``, ``{n,m}``)
must be unambiguous (its body either alternatives without quantifiers whose first characters
differ, or a sequence that starts with a required character set no quantified character in it
can match: ``(\\.[a-z]+)*``, not ``(a+)+`` or ``(a|ab)*``), and two repeats that can match the
same character need a required character between them that the first cannot match (``[^,]*,.*``,
not ``.*a.*``). From one start position matching is then about linear, but ``re.search`` tries
every start, so strings longer than 256 code points are first run through a lazily built DFA
(``_regex_dfa.py``): it decides ``regex_match`` itself and finds where the leftmost match of
``regex_extract`` starts, where ``re.match`` then runs once. Serving time is linear in the
string length (about 0.2 µs a character on long strings; 100,000 characters built to make
``re.search`` backtrack take 0.1 s instead of minutes); the Rust engine is linear too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from featuredsl.functions import _regex_dfa
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import BOOL, INT, STRING

MAX_REPEAT = 1000
MAX_CP = 0x10FFFF

#: A character set: sorted, disjoint, inclusive code point ranges.
Ranges = tuple[tuple[int, int], ...]


class RegexError(ValueError):
    """A pattern outside the supported subset (the message says what and how to fix it)."""


def _norm(ranges: list[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _negate(r: Ranges) -> Ranges:
    out, nxt = [], 0
    for lo, hi in r:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CP:
        out.append((nxt, MAX_CP))
    return tuple(out)


def _disjoint(a: Ranges, b: Ranges) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return False
    return True


_DIGIT: Ranges = ((48, 57),)
_WORD: Ranges = _norm([(48, 57), (65, 90), (95, 95), (97, 122)])
_SPACE: Ranges = _norm([(9, 13), (32, 32)])
_CLASS_ESC = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
_CTRL_ESC = {"t": 9, "n": 10, "r": 13}
#: Characters that may be escaped with a backslash (both engines read `\c` as the literal c).
_ESCAPABLE = set("\\.^$|?*+()[]{}-/&~#")
#: Meta characters of either engine outside a class, escaped when written out.
_META = set("\\.^$|?*+()[]{}#&-~")
_CLASS_META = set("\\]^-[&~")
_UNSUPPORTED_ESC = {
    "b": "word boundaries `\\b` are not supported (Unicode-aware differently in the engines)",
    "B": "`\\B` is not supported (Unicode-aware differently in the engines)",
    "A": "`\\A` is not supported: use `^`", "z": "`\\z` is not supported: use `$`",
    "Z": "`\\Z` is not supported: use `$`",
    "p": "Unicode classes `\\p{..}` are not supported", "P": "`\\P{..}` is not supported",
    "u": "`\\u` escapes are not supported: use the character itself (`.feat` strings have "
         "`\\uXXXX`)",
    "U": "`\\U` escapes are not supported: use the character itself",
}


# ------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Chars:
    """One character from a set: a literal, a class, ``.`` or an escape class."""

    ranges: Ranges
    text: str  # written out as is (already escaped, the same for both engines)


@dataclass(frozen=True)
class Anchor:
    """``^`` or ``$``."""

    end: bool


@dataclass(frozen=True)
class Group:
    """``( )`` (``index`` >= 1) or ``(?: )`` (``index`` 0); ``body`` is an :class:`Alt`."""

    index: int
    body: Alt


@dataclass(frozen=True)
class Repeat:
    """A quantified atom."""

    atom: Chars | Group
    lo: int
    hi: int | None  # None: unbounded
    lazy: bool


@dataclass(frozen=True)
class Alt:
    """Alternatives, each a sequence of items."""

    branches: tuple[tuple[Chars | Anchor | Group | Repeat, ...], ...]


Item = Chars | Anchor | Group | Repeat


@dataclass(frozen=True)
class Compiled:
    """A validated pattern written out for each engine."""

    source: str
    python: str
    rust: str
    groups: int
    tree: Alt


# ------------------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.t = text
        self.i = 0
        self.groups = 0

    def fail(self, what: str, at: bool = True) -> RegexError:
        # The alternative, if any, ends the message as ": use ..." (the checker makes it the
        # diagnostic's hint).
        where = f" at offset {self.i}" if at else ""
        return RegexError(f"regex pattern {self.t!r}{where}: {what}")

    def rule(self, what: str) -> RegexError:
        """A pattern that parses but breaks a backtracking rule (no offset to point at)."""
        return self.fail(what, at=False)

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def alt(self) -> Alt:
        branches = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.seq())
        return Alt(tuple(branches))

    def seq(self) -> tuple[Item, ...]:
        items: list[Item] = []
        while (c := self.peek()) is not None and c not in "|)":
            atom = self.atom()
            items.append(self.quantified(atom))
        return tuple(items)

    def quantified(self, atom: Chars | Anchor | Group) -> Item:
        c = self.peek()
        if c is None or c not in "*+?{":
            return atom
        if isinstance(atom, Anchor):
            raise self.fail("a quantifier on an anchor")
        start = self.i
        if c == "{":
            lo, hi = self.counts()
        else:
            self.i += 1
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        lazy = self.peek() == "?"
        if lazy:
            self.i += 1
        if (n := self.peek()) is not None and n in "*+?{":
            what = "possessive quantifiers" if n == "+" else "quantifiers after quantifiers"
            raise self.fail(f"{what} are not supported ({self.t[start:self.i + 1]!r}): use "
                            "`(?: )` around the inner part for a repeat of a repeat")
        return Repeat(atom, lo, hi, lazy)

    def counts(self) -> tuple[int, int | None]:
        m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}", re.ASCII).match(self.t, self.i)
        if m is None:
            raise self.fail("`{` must start a count `{n}`, `{n,}` or `{n,m}`: use `\\{` for a "
                            "literal brace")
        lo = int(m.group(1))
        hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
        if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
            raise self.fail(f"counts must satisfy n <= m <= {MAX_REPEAT}")
        self.i = m.end()
        return lo, hi

    def atom(self) -> Chars | Anchor | Group:
        c = self.t[self.i]
        if c == "(":
            return self.group()
        self.i += 1
        if c == ".":
            return Chars(_negate(((10, 10),)), ".")
        if c == "^":
            return Anchor(False)
        if c == "$":
            return Anchor(True)
        if c == "[":
            return self.klass()
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?{":
            raise self.fail(f"nothing to repeat before `{c}`: use `\\{c}` for a literal one")
        if c in "]}":
            raise self.fail(f"an unescaped `{c}`: use `\\{c}` to escape a literal one")
        return _lit(ord(c))

    def group(self) -> Group:
        self.i += 1
        index = 0
        if self.t.startswith("?", self.i):
            if not self.t.startswith("?:", self.i):
                raise self.fail(_group_problem(self.t[self.i:self.i + 3]))
            self.i += 2
        else:
            self.groups += 1
            index = self.groups
        body = self.alt()
        if self.peek() != ")":
            raise self.fail("unbalanced `(`")
        self.i += 1
        return Group(index, body)

    def escape(self, in_class: bool) -> Chars:
        if self.i >= len(self.t):
            raise self.fail("a trailing backslash")
        c = self.t[self.i]
        self.i += 1
        if c in _ESCAPABLE:
            return _lit(ord(c))
        if c in _CTRL_ESC:
            return _lit(_CTRL_ESC[c])
        if c == "x":
            h = self.t[self.i:self.i + 2]
            if len(h) != 2 or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise self.fail("`\\x` takes exactly two hex digits (`\\x1f`)")
            self.i += 2
            return _lit(int(h, 16))
        if c.lower() in _CLASS_ESC:
            r = _CLASS_ESC[c.lower()]
            if c.isupper():
                if in_class:
                    raise self.fail(f"`\\{c}` inside a class is not supported: use a "
                                    "negated class `[^...]`")
                r = _negate(r)
            return Chars(r, _class_text(r))
        if c in _UNSUPPORTED_ESC:
            raise self.fail(_UNSUPPORTED_ESC[c])
        if c.isdigit():
            raise self.fail("back-references are not supported (the Rust engine has none)")
        raise self.fail(f"unknown escape `\\{c}`")

    def klass(self) -> Chars:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise self.fail("unterminated class `[`")
            if c == "]" and not first:
                self.i += 1
                break
            if c == "[" and self.t.startswith("[:", self.i):
                raise self.fail("POSIX classes `[:alpha:]` are not supported: use ranges "
                                "(`[a-zA-Z]`)")
            if c in "[&~-" or (c == "]" and first):
                raise self.fail(_class_meta(c))
            first = False
            lo = self.class_char()
            if isinstance(lo, Chars):
                ranges.extend(lo.ranges)
                continue
            if self.peek() == "-" and self.t[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                if (c := self.t[self.i]) in "[&~-":
                    raise self.fail(_class_meta(c))
                hi = self.class_char()
                if isinstance(hi, Chars):
                    raise self.fail("a class escape cannot end a range")
                if hi < lo:
                    raise self.fail("a range out of order")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        r = _norm(ranges)
        if negated:
            r = _negate(r)
        if not r:
            raise self.fail("a class that matches nothing")
        return Chars(r, _class_text(r))

    def class_char(self) -> int | Chars:
        c = self.t[self.i]
        if c == "\\":
            self.i += 1
            e = self.escape(in_class=True)
            if len(e.ranges) == 1 and e.ranges[0][0] == e.ranges[0][1]:
                return e.ranges[0][0]
            return e
        self.i += 1
        return ord(c)


def _class_meta(c: str) -> str:
    return (f"an unescaped `{c}` inside a class (Rust reads `[` `&&` `~~` `--` there as nested "
            f"classes and set operations): use `\\{c}`")


def _group_problem(head: str) -> str:
    if head.startswith(("?=", "?!", "?<=", "?<!")):
        return "look-around `(?=` `(?!` `(?<=` `(?<!` is not supported (the Rust engine has none)"
    if head.startswith(("?P", "?<")):
        return "named groups are not supported: use a plain group `( )` and its number"
    if head.startswith("?>"):
        return "atomic groups `(?>` are not supported"
    return ("inline flags `(?i)` etc. are not supported (the engines fold case differently): "
            "use lower(s) and a lowercase pattern, or a class like `[Aa]`")


def _esc_char(cp: int, meta: set[str]) -> str:
    ch = chr(cp)
    if ch in meta:
        return "\\" + ch
    if cp < 0x20 or cp == 0x7F:
        return f"\\x{cp:02x}"
    return ch


def _lit(cp: int) -> Chars:
    return Chars(((cp, cp),), _esc_char(cp, _META))


def _class_text(r: Ranges) -> str:
    """A class written out from its ranges (the same text for both engines)."""
    neg = bool(r) and r[0][0] == 0 and r[-1][1] == MAX_CP
    if neg:
        r = _negate(r)
    parts = []
    for lo, hi in r:
        a = _esc_char(lo, _CLASS_META)
        parts.append(a if lo == hi else f"{a}-{_esc_char(hi, _CLASS_META)}")
    return ("[^" if neg else "[") + "".join(parts) + "]"


# ------------------------------------------------------------------------ backtracking rules


def _chars_of(node: Alt | Item) -> Ranges:
    """Every character the node can match (for the overlap rules)."""
    if isinstance(node, Chars):
        return node.ranges
    if isinstance(node, Anchor):
        return ()
    if isinstance(node, Repeat):
        return _chars_of(node.atom)
    if isinstance(node, Group):
        return _chars_of(node.body)
    return _norm([r for b in node.branches for it in b for r in _chars_of(it)])


def _has_repeat(node: Alt | Item) -> bool:
    if isinstance(node, Repeat):
        return True
    if isinstance(node, Group):
        return _has_repeat(node.body)
    if isinstance(node, Alt):
        return any(_has_repeat(it) for b in node.branches for it in b)
    return False


def _flat(seq: Sequence[Item]) -> list[Item]:
    """A sequence with single-branch unquantified groups opened up."""
    out: list[Item] = []
    for it in seq:
        if isinstance(it, Group) and len(it.body.branches) == 1:
            out.extend(_flat(it.body.branches[0]))
        else:
            out.append(it)
    return out


def _nullable(seq: Sequence[Item]) -> bool:
    for it in seq:
        if isinstance(it, Chars):
            return False
        if isinstance(it, Repeat) and it.lo > 0 and not _nullable([it.atom]):
            return False
        if isinstance(it, Group) and not any(_nullable(b) for b in it.body.branches):
            return False
    return True


def _first(seq: Sequence[Item]) -> Chars | None:
    items = _flat(seq)
    return items[0] if items and isinstance(items[0], Chars) else None


def _evil(detail: str) -> str:
    return ("a repeated group must be unambiguous, or matching can take exponential time "
            f"(`(a+)+`, `(a|ab)*`); here {detail}: use a group whose alternatives start with "
            "different characters and hold no quantifiers (`(ab|cd)*`), or one that starts "
            "with a character its single quantified part cannot match (`(,[^,]*)*`)")


def _check_repeated_body(p: _Parser, body: Alt) -> None:
    """Rule 1: the body of a repeated group is unambiguous (no exponential backtracking)."""
    if len(body.branches) > 1:
        firsts: list[Ranges] = []
        for b in body.branches:
            f = _first(b)
            if _has_repeat(Alt((b,))) or f is None or _nullable(b) \
                    or any(isinstance(it, Anchor) for it in _flat(b)):
                raise p.rule(_evil("an alternative holds a quantifier or an anchor, is empty, "
                                   "or does not start with a character"))
            if any(not _disjoint(f.ranges, g) for g in firsts):
                raise p.rule(_evil("two alternatives can start with the same character"))
            firsts.append(f.ranges)
        return
    items = _flat(body.branches[0])
    if not items or not isinstance(items[0], Chars):
        raise p.rule(_evil("it does not start with a required character or class"))
    first = items[0].ranges
    choices = 0  # a quantified character set or a group of alternatives
    for it in items[1:]:
        if isinstance(it, Anchor):
            raise p.rule("anchors inside a repeated group are not supported")
        if isinstance(it, Chars):
            continue
        choices += 1
        if choices > 1 or (isinstance(it, Group) and _has_repeat(it)) \
                or (isinstance(it, Repeat) and not isinstance(it.atom, Chars)):
            raise p.rule(_evil("it holds more than one quantifier or group of alternatives"))
        if not _disjoint(_chars_of(it), first):
            raise p.rule(_evil("its quantified part can match its first character"))


def _check(p: _Parser, node: Alt) -> None:
    """Rule 1 in every repeated group; rule 2 in every sequence."""
    for branch in node.branches:
        _check_sequence(p, _linear(branch))
        for it in branch:
            _check_item(p, it)


def _check_item(p: _Parser, it: Item) -> None:
    if isinstance(it, Group):
        _check(p, it.body)
    elif isinstance(it, Repeat) and isinstance(it.atom, Group):
        if it.hi is None or it.hi > 1:
            _check_repeated_body(p, it.atom.body)
        _check(p, it.atom.body)


Step = tuple[str, Ranges, frozenset[int]]


def _linear(seq: Sequence[Item], base: int = 0, gates: frozenset[int] = frozenset()) \
        -> list[Step]:
    """A sequence as steps for rule 2: (kind, characters, gates). Kinds: ``must`` (a required
    character), ``opt`` (may be skipped), ``rep`` (a repeat: a choice of lengths), ``gate``
    (the required first character of an optional or repeated group: the steps inside the
    group, which list it in their ``gates``, are reached only through it). Groups are opened;
    alternatives are counted conservatively. ``base`` is the index of the first step."""
    out: list[Step] = []

    def add(kind: str, r: Ranges, g: frozenset[int] = gates) -> None:
        out.append((kind, r, g))

    def gated(branch: Sequence[Item], kind_of_first: str) \
            -> tuple[list[Item], frozenset[int]] | None:
        # an optional or repeated group of one branch that starts with a character
        first = _first(branch)
        if first is None:
            return None
        add(kind_of_first, first.ranges)
        inner = gates | {base + len(out) - 1}
        rest = _flat(branch)[1:]
        return rest, inner

    for it in seq:
        if isinstance(it, Chars):
            add("must", it.ranges)
        elif isinstance(it, Group):
            if len(it.body.branches) == 1:
                out.extend(_linear(it.body.branches[0], base + len(out), gates))
            else:
                add("rep" if _has_repeat(it) else "opt" if any(
                    _nullable(b) for b in it.body.branches) else "must", _chars_of(it))
        elif isinstance(it, Repeat):
            atom = it.atom
            if isinstance(atom, Chars):
                add("must" if it.lo == it.hi else "opt" if it.hi == 1 else "rep", atom.ranges)
            elif len(atom.body.branches) == 1 and (
                    g := gated(atom.body.branches[0], "gate" if it.lo == 0 else "must")):
                rest, inner = g
                if it.hi == 1:  # optional: its steps, each skippable
                    out.extend((("opt" if k == "must" else k), r, gs)
                               for k, r, gs in _linear(rest, base + len(out), inner))
                else:  # repeated: rule 1 made it unambiguous; any length of its characters
                    add("rep", _chars_of(atom), inner)
            else:
                add("opt" if it.hi == 1 and not _has_repeat(atom) else "rep", _chars_of(atom))
    return out


def _check_sequence(p: _Parser, steps: list[Step]) -> None:
    """Rule 2: two repeats that can match the same character are separated by a required
    character the first cannot match (else the split between them is tried every way)."""
    for i, (ki, ri, _) in enumerate(steps):
        if ki != "rep":
            continue
        for j in range(i + 1, len(steps)):
            kj, rj, gates_j = steps[j]
            if kj == "must" and _disjoint(rj, ri):
                break  # the first repeat cannot run past this character
            if kj == "rep" and not _disjoint(ri, rj) and not any(
                    g > i and _disjoint(steps[g][1], ri) for g in gates_j):
                raise p.rule("two repeats that can match the same characters with "
                             "nothing between them that the first cannot match (`.*a.*`) could "
                             "take polynomial time: use a negated class to bound the first "
                             "(`[^a]*a.*`), or drop a leading or trailing `.*` (matching is a "
                             "search)")


# ----------------------------------------------------------------------------- writing out


def _write(node: Alt | Item, end: str) -> str:
    if isinstance(node, Alt):
        return "|".join("".join(_write(it, end) for it in b) for b in node.branches)
    if isinstance(node, Chars):
        return node.text
    if isinstance(node, Anchor):
        return end if node.end else "^"
    if isinstance(node, Group):
        return ("(" if node.index else "(?:") + _write(node.body, end) + ")"
    q = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((node.lo, node.hi))
    if q is None:
        q = (f"{{{node.lo}}}" if node.lo == node.hi else
             f"{{{node.lo},}}" if node.hi is None else f"{{{node.lo},{node.hi}}}")
    return _write(node.atom, end) + q + ("?" if node.lazy else "")


_CACHE: dict[str, Compiled] = {}


def compile_pattern(pattern: str) -> Compiled:
    """Validate a pattern against the subset and write it out for both engines.

    Raises :class:`RegexError` (its message names the construct and the alternative)."""
    hit = _CACHE.get(pattern)
    if hit is not None:
        return hit
    p = _Parser(pattern)
    tree = p.alt()
    if p.i != len(pattern):
        raise p.fail("unbalanced `)`: use `\\)` for a literal one")
    _check(p, tree)
    out = Compiled(pattern, _write(tree, "\\Z"), _write(tree, "$"), p.groups, tree)
    try:  # the Rust engine has a size limit (10 MB compiled); nested counts can exceed it
        pl.Series([""], dtype=pl.String).str.contains(out.rust)
    except pl.exceptions.PolarsError as exc:
        raise p.rule("the pattern is too large for the batch engine's regex compiler ("
                     f"{str(exc).splitlines()[0]}): use smaller counts `{{n,m}}`") from None
    _CACHE[pattern] = out
    return out


def _check_pattern(consts: Sequence[object]) -> str | None:
    pattern = consts[1]
    if not isinstance(pattern, str):
        return "the regex pattern must be a string literal (it is validated when compiling)"
    try:
        c = compile_pattern(pattern)
    except RegexError as exc:
        return str(exc)
    if len(consts) > 2:
        group = consts[2]
        if not isinstance(group, int) or not 0 <= group <= c.groups:
            return (f"group {group!r} does not exist: the pattern has {c.groups} group"
                    f"{'s' if c.groups != 1 else ''} (0 is the whole match)")
    return None


def _matcher(pattern: str) -> Callable[[str], bool]:
    c = compile_pattern(pattern)
    return _regex_dfa.matcher(c.tree, c.python)


def _extractor(pattern: str, group: int) -> Callable[[str], str | None]:
    c = compile_pattern(pattern)
    return _regex_dfa.extractor(c.tree, c.python, group)


_SAMPLES = ('"[0-9]+"', '"^a"', '"(x|y)z"', '"\\\\.[a-z]+$"', '"é+"', '""', '"^$"',
            '"([a-z]+)@([a-z]+)"', '"a(b)?c"', '"\\\\d{2,3}"')

register(
    "regex_match",
    "Whether `pattern` matches somewhere in `s` (a search, like `re.search`; anchor with `^` "
    "and `$`). The pattern is a string literal in featuredsl's regex subset, the same in both "
    "backends: literals, `.`, classes `[a-z]` `[^,]`, ASCII `\\d \\w \\s`, groups `( )` "
    "`(?: )`, `|`, quantifiers `* + ? {n,m}` (and lazy `*?`), `^`, `$` (end of string only). "
    "Anything else (look-around, back-references, flags, `\\b`, nested quantifiers that could "
    "backtrack exponentially) is a compile error saying why.",
    ("s", "pattern"),
    [Overload("regex_match_string", (STRING, STRING), BOOL,
              lambda s, p: s.str.contains(compile_pattern(p).rust, literal=False),
              lambda g, s, p: f"{g.ref(_matcher(p), 'regex_match')}({s})",
              const=frozenset({1}), check_const=_check_pattern)],
    [Example('regex_match(s, "^[0-9]+$")', {"s": "0123"}, True),
     Example('regex_match(s, "^[0-9]+$")', {"s": "12\n"}, False),
     Example('regex_match(s, "\\\\d")', {"s": "\u0663"}, False),
     Example('regex_match(s, "b|c")', {"s": None}, None, {"s": "string?"})],
    category="string",
    const_samples={"pattern": _SAMPLES},
)
register(
    "regex_extract",
    "The text matched by group `group` (0, the default, is the whole match) of the first "
    "match of `pattern` in `s`; null when nothing matches or the group took no part in the "
    "match. Same pattern subset as `regex_match`; `group` is a literal no larger than the "
    "number of groups.",
    ("s", "pattern", "group"),
    [Overload("regex_extract_string", (STRING, STRING, INT), STRING,
              lambda s, p, k: s.str.extract(compile_pattern(p).rust, k),
              lambda g, s, p, k: f"{g.ref(_extractor(p, k), 'extract')}({s})",
              const=frozenset({1, 2}), check_const=_check_pattern, may_be_null=True)],
    [Example('regex_extract(s, "[0-9]+")', {"s": "ab12c345"}, "12"),
     Example('regex_extract(s, "([a-z]+)@([a-z]+)", 2)', {"s": "x bob@host y"}, "host"),
     Example('regex_extract(s, "a(b)?c", 1)', {"s": "ac"}, None),
     Example('regex_extract(s, "z*")', {"s": "abc"}, ""),
     Example('regex_extract(s, "[0-9]+")', {"s": "none"}, None)],
    defaults={"group": 0},
    category="string",
    null_doc="null if `s` is null, nothing matches, or the group took no part in the match",
    const_samples={"pattern": _SAMPLES, "group": ("0",)},
)

