"""The online half of windowed aggregates: live per-key state, read at the row's time.

``MemoryState`` holds, per (source, key), the events in (time, log order): their times, the
aggregated fields' canonical values and the ``where=`` flags, and per aggregated stream the
exact prefix sums (valid counts, sums as Python ints, infinity counts). A read at ``(k, t)``
finds ``hi = bisect_left(times, t)`` and ``lo = bisect_left(times, t - over)``: ``count``,
``sum`` and ``mean`` are prefix differences (O(log n) per read, whatever the window holds);
``min``, ``max``, ``first``, ``last`` and ``count_distinct`` scan the window (``first`` and
``last`` stop at the first valid value). The finishing rules are those of the batch backend
(:mod:`featuredsl.windows.exact`).

Events are validated like rows (``InputError`` naming the source, the field and, for
``ingest_batch``, the row) and a bad event changes nothing. An event later than the ones
before it goes at the end (O(1)); a late one is inserted in time order and the prefixes
after it are rebuilt. Ingest and reads hold one lock: concurrent ingest never loses an
event and a read never sees half of one.
"""

from __future__ import annotations

import datetime as dt
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from featuredsl import ir
from featuredsl.backends import row_input
from featuredsl.backends.row_backend import build_evaluator, window_inputs
from featuredsl.errors import InputError
from featuredsl.types import Type
from featuredsl.windows import exact

_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
_WIDEST_OVER = 2**62


def micros(t: dt.datetime) -> int:
    """A normalized (naive UTC) timestamp as microseconds since the epoch."""
    return (t - _EPOCH) // _US


@dataclass(frozen=True)
class _Stream:
    """What one window aggregates: a field (None: the events themselves) under a predicate
    (an index into the source's predicates, or None)."""

    field: str | None
    where: int | None
    kind: str  # the field's kind ("" for the events themselves)


class KeyLog:
    """One key's events of one source, in (time, log order), with exact prefix sums.

    ``fields`` names the stored columns (source fields and ``("where", i)`` flags);
    ``streams`` are the prefix sums kept up to date as events arrive.
    """

    __slots__ = ("columns", "prefix", "times")

    def __init__(self, fields: Iterable[object], streams: Iterable[_Stream]) -> None:
        self.times: list[int] = []
        self.columns: dict[object, list] = {f: [] for f in fields}
        self.prefix: dict[_Stream, tuple[list[int], list[int], list[int], list[int]]] = {
            s: ([0], [0], [0], [0]) for s in streams}

    def insert(self, t: int, values: Mapping[object, object]) -> None:
        """Add one event (its canonical field values and predicate flags)."""
        pos = bisect_right(self.times, t)  # after the simultaneous events logged earlier
        at_end = pos == len(self.times)
        self.times.insert(pos, t)
        for name, col in self.columns.items():
            col.insert(pos, values[name])
        for stream, sums in self.prefix.items():
            if at_end:
                self._extend(stream, sums, pos)
            else:  # a late event: the prefixes after it change
                for p in sums:
                    del p[pos + 1:]
                for i in range(pos, len(self.times)):
                    self._extend(stream, sums, i)

    def _valid(self, stream: _Stream, i: int) -> tuple[bool, object]:
        if stream.where is not None and not self.columns[("where", stream.where)][i]:
            return False, None
        if stream.field is None:
            return True, None
        v = self.columns[stream.field][i]
        return v is not None, v

    def _extend(self, stream: _Stream, sums: tuple[list[int], ...], i: int) -> None:
        count, total, pinf, ninf = sums
        ok, v = self._valid(stream, i)
        count.append(count[-1] + ok)
        add, pi, ni = 0, 0, 0
        if ok and stream.kind == "int":
            add = v  # type: ignore[assignment]
        elif ok and stream.kind == "float":
            if v == float("inf"):
                pi = 1
            elif v == float("-inf"):
                ni = 1
            else:
                add = exact.scaled(v)  # type: ignore[arg-type]
        total.append(total[-1] + add)
        pinf.append(pinf[-1] + pi)
        ninf.append(ninf[-1] + ni)

    # ------------------------------------------------------------------ aggregates
    def _values(self, stream: _Stream, lo: int, hi: int) -> list:
        return [v for i in range(lo, hi) for ok, v in (self._valid(stream, i),) if ok]

    def count(self, s: _Stream, lo: int, hi: int, t: int) -> int:
        """Events (or valid values) in the window."""
        c = self.prefix[s][0]
        return c[hi] - c[lo]

    def sum(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The exact sum (see :mod:`featuredsl.windows.exact`)."""
        _, total, pinf, ninf = self.prefix[s]
        d = total[hi] - total[lo]
        if s.kind == "int":
            return exact.int_sum(d)
        return exact.float_sum(d, pinf[hi] - pinf[lo], ninf[hi] - ninf[lo])

    def mean(self, s: _Stream, lo: int, hi: int, t: int) -> float | None:
        """The rounded exact sum over the count."""
        n = self.count(s, lo, hi, t)
        if n == 0:
            return None
        if s.kind == "int":
            _, total, _, _ = self.prefix[s]
            return exact.mean(float(total[hi] - total[lo]), n)
        return exact.mean(self.sum(s, lo, hi, t), n)  # type: ignore[arg-type]

    def min(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The smallest valid value."""
        vals = self._values(s, lo, hi)
        return min(vals) if vals else None

    def max(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The largest valid value."""
        vals = self._values(s, lo, hi)
        return max(vals) if vals else None

    def first(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The earliest valid value."""
        for i in range(lo, hi):
            ok, v = self._valid(s, i)
            if ok:
                return v
        return None

    def last(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The latest valid value."""
        for i in range(hi - 1, lo - 1, -1):
            ok, v = self._valid(s, i)
            if ok:
                return v
        return None

    def count_distinct(self, s: _Stream, lo: int, hi: int, t: int) -> int:
        """How many distinct valid values."""
        return len(set(self._values(s, lo, hi)))

    def since_last(self, s: _Stream, lo: int, hi: int, t: int) -> int | None:
        """Microseconds from the latest event in the window to ``t``."""
        for i in range(hi - 1, lo - 1, -1):
            if self._valid(s, i)[0]:
                return t - self.times[i]
        return None


_EMPTY = {"count": 0, "count_distinct": 0}


class _SourceState:
    """The validation, predicates and per-key logs of one source."""

    def __init__(self, source: ir.Source, windows: list[ir.Window]) -> None:
        self.source = source
        self.converters = [(name, row_input.converter(t), t.nullable)
                           for name, t in source.fields.items()]
        self.wheres: list[ir.Expr] = []
        for w in windows:
            if w.where is not None and all(x.key() != w.where.key() for x in self.wheres):
                self.wheres.append(w.where)
        self.predicates: Callable[[dict], dict] | None = None
        if self.wheres:
            program = ir.BoundProgram(
                dict(source.fields), {}, [],
                [ir.BoundFeature(f"w{i}", e, e.type) for i, e in enumerate(self.wheres)], [])
            self.predicates = build_evaluator(program)
        self.fields = sorted({w.field for w in windows if w.field is not None})
        self.streams = sorted({self.stream(w) for w in windows},
                              key=lambda s: (s.field or "", -1 if s.where is None else s.where))
        self.logs: dict[tuple, KeyLog] = {}

    def stream(self, w: ir.Window) -> _Stream:
        where = None if w.where is None else next(
            i for i, x in enumerate(self.wheres) if x.key() == w.where.key())
        kind = "" if w.field is None else self.source.fields[w.field].kind
        return _Stream(w.field, where, kind)

    def prepare(self, event: object) -> tuple[tuple, int, dict[object, object]] | None:
        """A validated event as (key, time in µs, stored values); None for a null key.
        Raises ``InputError`` naming the source and the field."""
        if not isinstance(event, Mapping):
            raise InputError(f"source `{self.source.name}`: an event must be a dict of field "
                             f"values, got {type(event).__name__}")
        got: dict[str, object] = {}
        for name, conv, nullable in self.converters:
            try:
                got[name] = conv(event.get(name), name, nullable)
            except InputError as exc:
                raise InputError(f"source `{self.source.name}`: {exc}", field=exc.field,
                                 expected=exc.expected) from None
        key = tuple(got[k] for k in self.source.keys)
        if any(k is None for k in key):
            return None
        values: dict[object, object] = {}
        for f in self.fields:
            v = got[f]
            values[f] = exact.canonical_float(v) if isinstance(v, float) else v
        if self.predicates is not None:
            flags = self.predicates(got)
            for i in range(len(self.wheres)):
                values[("where", i)] = flags[f"w{i}"] is True
        return key, micros(got[self.source.time]), values  # type: ignore[arg-type]

    def add(self, key: tuple, t: int, values: dict[object, object]) -> None:
        log = self.logs.get(key)
        if log is None:
            names: list[object] = [*self.fields, *(("where", i) for i in range(len(self.wheres)))]
            log = self.logs[key] = KeyLog(names, self.streams)
        log.insert(t, values)


class MemoryState:
    """Live window state in this process (``fitted.online_state()``), for the windows of
    the bound ``program``, one event log per source and key."""

    def __init__(self, program: ir.BoundProgram) -> None:
        self.program = program
        self._lock = threading.RLock()
        by_source: dict[str, list[ir.Window]] = {}
        for w in program.windows:
            by_source.setdefault(w.source, []).append(w)
        self._sources = {name: _SourceState(src, by_source.get(name, []))
                         for name, src in program.sources.items()}
        self.events = 0

    def _source(self, name: str) -> _SourceState:
        got = self._sources.get(name)
        if got is None:
            known = ", ".join(f"`{s}`" for s in self._sources) or "none"
            raise InputError(f"unknown source `{name}` (the spec declares {known})")
        return got

    def ingest(self, source: str, event: object) -> None:
        """Add one event of ``source`` (validated first: a bad one raises ``InputError`` and
        changes nothing). An event whose key is null is in no window."""
        src = self._source(source)
        prepared = src.prepare(event)
        with self._lock:
            self.events += 1
            if prepared is not None:
                src.add(*prepared)

    def ingest_batch(self, source: str, events: Iterable[Mapping]) -> int:
        """Add many events in order; all are validated before any is added (a bad one raises
        ``InputError`` naming its row, and nothing is added). Returns how many were added."""
        src = self._source(source)
        prepared = []
        for i, event in enumerate(events):
            try:
                prepared.append(src.prepare(event))
            except InputError as exc:
                raise InputError(f"{exc} (event {i})", field=exc.field, row=i,
                                 expected=exc.expected) from None
        with self._lock:
            for p in prepared:
                self.events += 1
                if p is not None:
                    src.add(*p)
        return len(prepared)

    def reader(self) -> Callable[..., tuple]:
        """The function the row evaluator calls: ``(row time, *key inputs) -> one value per
        window`` (see ``row_backend.window_inputs``)."""
        names = window_inputs(self.program)
        plan = []
        for w in self.program.windows:
            src = self._sources[w.source]
            positions = tuple(names.index(b) for b in w.by)
            method = getattr(KeyLog, w.function)
            over = None if w.over is None else min(w.over, _WIDEST_OVER)
            plan.append((src.logs, positions, src.stream(w), over, method,
                         _EMPTY.get(w.function, 0 if w.function == "sum" else None),
                         w.type))
        lock = self._lock

        def read(time: dt.datetime | None, *keys: object) -> tuple:
            out = []
            with lock:
                t = None if time is None else micros(time)
                for logs, positions, stream, over, method, empty, typ in plan:
                    key = tuple(keys[p] for p in positions)
                    log = logs.get(key) if t is not None else None
                    if log is None:
                        out.append(_empty(empty, typ))
                        continue
                    assert t is not None  # a log is looked up only for a time
                    hi = bisect_left(log.times, t)
                    lo = 0 if over is None else bisect_left(log.times, t - over)
                    if lo >= hi:
                        out.append(_empty(empty, typ))
                    else:
                        out.append(method(log, stream, lo, hi, t))
            return tuple(out)

        return read


def _empty(value: object, t: Type) -> object:
    if value == 0 and t.kind == "float":
        return 0.0
    return value
