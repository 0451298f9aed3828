"""Linear-time regex evaluation for the row backend (a lazily built DFA).

Python's ``re`` backtracks: ``re.search`` retries every start position, so even the patterns
``regex.py`` accepts can take time quadratic in the string length (``[a-z]+x`` on 20,000
letters: 0.6 s). The row backend therefore runs ``re`` directly only on strings of at most
:data:`SHORT` code points; on longer ones it first runs an automaton built here, which reads
each character once:

* ``regex_match``: a forward DFA of the unanchored pattern says whether a match exists.
* ``regex_extract``: a DFA of the *reversed* pattern, run from the end of the string to its
  start, finds the leftmost position where a match starts (or that there is none); then
  ``re.match`` at exactly that position gives the same match and groups ``re.search`` would
  (every earlier start fails), in one pass from one start.

Both DFAs are Thompson NFAs from the validated syntax tree, determinized lazily (subset
construction on the characters actually seen, cached per state, bounded: past
:data:`MAX_STATES` states new ones are computed on the fly and not kept). Thread-safe: the
cache only ever grows, under a lock. A boolean "is there a match" and "where does the leftmost
match start" do not depend on greedy/lazy choices, so any correct automaton agrees with ``re``
and with the Rust engine there; the property tests compare them on random patterns.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # pragma: no cover
    from featuredsl.functions.regex import Alt, Item

#: Strings up to this many code points go straight to ``re`` (worst case there: a few ms).
SHORT = 256
#: Cached DFA states per automaton; the NFA may hold at most MAX_NFA states (else ``re`` only).
MAX_STATES = 1024
MAX_NFA = 50_000

_CHAR, _SPLIT, _BOL, _EOL, _MATCH = range(5)


class _NFA:
    """Thompson NFA: ``kind[i]``, ``data[i]`` (ranges for a char state), ``out[i]`` (next
    states). Built back to front from a continuation."""

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.data: list[tuple[list[int], list[int]] | None] = []
        self.out: list[list[int]] = []

    def add(self, kind: int, out: list[int], data=None) -> int:
        if len(self.kind) >= MAX_NFA:
            raise OverflowError
        self.kind.append(kind)
        self.out.append(out)
        self.data.append(data)
        return len(self.kind) - 1

    def build(self, node: Alt | Item, nxt: int, reverse: bool) -> int:
        from featuredsl.functions.regex import Alt, Anchor, Chars, Group, Repeat

        if isinstance(node, Chars):
            los = [lo for lo, _ in node.ranges]
            his = [hi for _, hi in node.ranges]
            return self.add(_CHAR, [nxt], (los, his))
        if isinstance(node, Anchor):  # reversed, the start of the string is the far end
            return self.add(_EOL if node.end != reverse else _BOL, [nxt])
        if isinstance(node, Group):
            return self.build(node.body, nxt, reverse)
        if isinstance(node, Alt):
            entries = []
            for branch in node.branches:
                n = nxt
                for it in (branch if reverse else reversed(branch)):
                    n = self.build(it, n, reverse)
                entries.append(n)
            return entries[0] if len(entries) == 1 else self.add(_SPLIT, entries)
        assert isinstance(node, Repeat)
        n = nxt
        if node.hi is None:
            loop = self.add(_SPLIT, [])
            self.out[loop] = [self.build(node.atom, loop, reverse), nxt]
            n = loop
        else:
            for _ in range(node.hi - node.lo):
                n = self.add(_SPLIT, [self.build(node.atom, n, reverse), nxt])
        for _ in range(node.lo):
            n = self.build(node.atom, n, reverse)
        return n


class _State:
    __slots__ = ("accept", "cached", "chars", "end_accept", "trans")

    def __init__(self, chars: frozenset[int], accept: bool, end_accept: bool) -> None:
        self.chars = chars  # the char states of the NFA this DFA state is in
        self.accept = accept  # a match ends here (not at the end of the string)
        self.end_accept = end_accept  # a match ends here if this is the end of the string
        self.trans: dict[str, _State] = {}  # only to cached states: memory stays bounded
        self.cached = False


class _DFA:
    """The unanchored search automaton of an NFA (a restart at every position)."""

    def __init__(self, nfa: _NFA, start: int) -> None:
        self.nfa = nfa
        self.start = start
        self.lock = threading.Lock()
        self.states: dict[tuple[frozenset[int], bool, bool], _State] = {}
        self.restart = self._closure([start], bol=False)
        self.first = self._state(self._closure([start], bol=True), at_start=True)

    def _closure(self, seeds: list[int], bol: bool, eol: bool = False) -> frozenset[int]:
        kind, out = self.nfa.kind, self.nfa.out
        seen: set[int] = set()
        stack = list(seeds)
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            k = kind[i]
            if k == _SPLIT or (k == _BOL and bol) or (k == _EOL and eol):
                stack.extend(out[i])
        return frozenset(seen)

    def _state(self, reach: frozenset[int], at_start: bool) -> _State:
        kind = self.nfa.kind
        chars = frozenset(i for i in reach if kind[i] == _CHAR)
        accept = any(kind[i] == _MATCH for i in reach)
        # `$` (or, reversed, `^`) only holds at the end: whether a match ends there
        end = accept or any(kind[i] == _MATCH for i in self._closure(list(reach), at_start,
                                                                      True))
        key = (chars, accept, end)  # what a state does next depends on its char states only
        hit = self.states.get(key)
        if hit is not None:
            return hit
        st = _State(chars, accept, end)
        with self.lock:
            if len(self.states) < MAX_STATES:
                st = self.states.setdefault(key, st)
                st.cached = True
        return st

    def step(self, st: _State, ch: str) -> _State:
        nxt = st.trans.get(ch)
        if nxt is not None:
            return nxt
        cp = ord(ch)
        data, out = self.nfa.data, self.nfa.out
        seeds = list(self.restart)
        for i in st.chars:
            los, his = cast("tuple[list[int], list[int]]", data[i])  # a char state's ranges
            j = bisect.bisect_right(los, cp) - 1
            if j >= 0 and cp <= his[j]:
                seeds.extend(out[i])
        nxt = self._state(self._closure(seeds, bol=False), at_start=False)
        if nxt.cached and len(st.trans) < 128:
            st.trans[ch] = nxt  # a dict store is atomic; a race only recomputes
        return nxt


def _automaton(tree: Alt, reverse: bool) -> _DFA | None:
    nfa = _NFA()
    try:
        match = nfa.add(_MATCH, [])
        start = nfa.build(tree, match, reverse)
    except OverflowError:
        return None
    return _DFA(nfa, start)


def matcher(tree: Alt, python: str) -> Callable[[str], bool]:
    """``regex_match`` for the row backend: ``re`` on short strings, the DFA on long ones."""
    search = re.compile(python).search
    dfa = _automaton(tree, reverse=False)
    if dfa is None:
        return lambda s: search(s) is not None

    def match(s: str) -> bool:
        if len(s) <= SHORT:
            return search(s) is not None
        st = dfa.first
        if st.accept:
            return True
        step = dfa.step
        for ch in s:  # the cached transition inline: a call per character costs 3x
            nxt = st.trans.get(ch)
            st = nxt if nxt is not None else step(st, ch)
            if st.accept:
                return True
        return st.end_accept

    return match


def extractor(tree: Alt, python: str, group: int) -> Callable[[str], str | None]:
    """``regex_extract`` for the row backend: ``re`` on short strings; on long ones the
    reversed DFA finds where the leftmost match starts and ``re.match`` runs there only."""
    compiled = re.compile(python)
    search, match_at = compiled.search, compiled.match
    rdfa = _automaton(tree, reverse=True)

    def extract(s: str) -> str | None:
        if len(s) <= SHORT or rdfa is None or not s:
            m = search(s)
            return None if m is None else m.group(group)
        # Reading s backwards from its end: after reading s[p], the state accepts when a match
        # starts at p (a match may end anywhere to the right: the search restarts each step).
        n = len(s)
        st = rdfa.first
        start = n if st.accept else None
        step = rdfa.step
        p = n
        for ch in reversed(s):
            p -= 1
            nxt = st.trans.get(ch)
            st = nxt if nxt is not None else step(st, ch)
            if st.accept:
                start = p
        if st.end_accept and not st.accept:  # a match that needs `^` starts at 0
            start = 0
        if start is None:
            return None
        m = match_at(s, start)
        if m is None:  # pragma: no cover - the automaton and re disagree: trust re
            m = search(s)
        return None if m is None else m.group(group)

    return extract
