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

The validation (``_SourceState.prepare``, :func:`prepare_all`), the read plan
(:func:`read_plan`) and the finishing of a group of windows from a :class:`KeyLog`
(:func:`read_group`, the eviction refusal included) are shared with the Redis state
(:mod:`featuredsl.windows.redis_state`), which builds a ``KeyLog`` from the events it
fetches: both states compute every value with the same code.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from featuredsl import ir
from featuredsl.backends import row_input
from featuredsl.backends.row_backend import build_evaluator, window_inputs
from featuredsl.errors import InputError
from featuredsl.types import Type
from featuredsl.windows import exact, persist
from featuredsl.windows.sources import prepare_events

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

    __slots__ = ("columns", "evicted", "prefix", "times")

    def __init__(self, fields: Iterable[object], streams: Iterable[_Stream]) -> None:
        self.times: list[int] = []
        #: the time of the latest event evicted from this log (None: nothing evicted)
        self.evicted: int | None = None
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

    def extend(self, times: list[int], rows: Sequence[Mapping[object, object]]) -> None:
        """Append events already in (time, log order), none earlier than the last one held
        (the Redis state's fetched window): ``insert`` at the end, without the searches."""
        start = len(self.times)
        self.times.extend(times)
        for name, col in self.columns.items():
            col.extend([r[name] for r in rows])
        for stream, sums in self.prefix.items():
            for i in range(start, len(self.times)):
                self._extend(stream, sums, i)

    def trim(self, cut: int) -> None:
        """Evict the events older than ``cut``. The prefix sums keep their absolute values
        (the first kept entry becomes the base), so every window that starts at or after
        ``cut`` reads exactly as before."""
        m = bisect_left(self.times, cut)
        if not m:
            return
        latest = self.times[m - 1]
        self.evicted = latest if self.evicted is None else max(self.evicted, latest)
        del self.times[:m]
        for col in self.columns.values():
            del col[:m]
        for sums in self.prefix.values():
            for p in sums:
                del p[:m]

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

    # The read path: each aggregate reads the column slice of its window directly (no
    # per-event ``_valid`` call), and a stream without ``where=`` skips the flag column.
    def _window(self, s: _Stream, lo: int, hi: int) -> list:
        """The valid values of the window, in order (``where=`` passed, not null)."""
        vals = self.columns[s.field][lo:hi]
        if s.where is None:
            return [v for v in vals if v is not None]
        flags = self.columns[("where", s.where)][lo:hi]
        return [v for v, ok in zip(vals, flags, strict=True) if ok and v is not None]

    def count(self, s: _Stream, lo: int, hi: int, t: int) -> int:
        """Events (or valid values) in the window."""
        if s.field is None and s.where is None:  # every event counts
            return hi - lo
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
        """The rounded exact sum over the count (one lookup of the stream's prefixes)."""
        count, total, pinf, ninf = self.prefix[s]
        n = count[hi] - count[lo]
        if n == 0:
            return None
        d = total[hi] - total[lo]
        if s.kind == "int":
            return exact.mean(float(d), n)
        return exact.mean(exact.float_sum(d, pinf[hi] - pinf[lo], ninf[hi] - ninf[lo]), n)

    def sum_mean(self, s: _Stream, lo: int, hi: int, t: int) -> tuple[object, object]:
        """``(sum, mean)`` of one stream and window, for a read that wants both: one lookup
        of the prefixes and one rounding of the exact total (the same values as ``sum`` and
        ``mean``)."""
        count, total, pinf, ninf = self.prefix[s]
        n = count[hi] - count[lo]
        d = total[hi] - total[lo]
        if s.kind == "int":
            return exact.int_sum(d), exact.mean(float(d), n) if n else None
        pi, ni = pinf[hi] - pinf[lo], ninf[hi] - ninf[lo]
        got = exact.float_sum(d, pi, ni) if pi or ni else exact.float_of_scaled(d)
        return got, exact.mean(got, n) if n else None

    def min(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The smallest valid value."""
        vals = self._window(s, lo, hi)
        return min(vals) if vals else None

    def max(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The largest valid value."""
        vals = self._window(s, lo, hi)
        return max(vals) if vals else None

    def first(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The earliest valid value."""
        col = self.columns[s.field]
        flags = None if s.where is None else self.columns[("where", s.where)]
        for i in range(lo, hi):
            v = col[i]
            if v is not None and (flags is None or flags[i]):
                return v
        return None

    def last(self, s: _Stream, lo: int, hi: int, t: int) -> object:
        """The latest valid value."""
        col = self.columns[s.field]
        flags = None if s.where is None else self.columns[("where", s.where)]
        for i in range(hi - 1, lo - 1, -1):
            v = col[i]
            if v is not None and (flags is None or flags[i]):
                return v
        return None

    def count_distinct(self, s: _Stream, lo: int, hi: int, t: int) -> int:
        """How many distinct valid values."""
        return len(set(self._window(s, lo, hi)))

    def since_last(self, s: _Stream, lo: int, hi: int, t: int) -> int | None:
        """Microseconds from the latest event in the window to ``t``."""
        if s.where is None:  # the window's last event (the read calls with lo < hi)
            return t - self.times[hi - 1] if hi > lo else None
        flags = self.columns[("where", s.where)]
        for i in range(hi - 1, lo - 1, -1):
            if flags[i]:
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
            # the predicates see the event as given (they convert the fields they read
            # themselves, exactly as the row evaluator does)
            read = {x.name for e in self.wheres for x in ir.walk(e) if isinstance(x, ir.Input)}
            program = ir.BoundProgram(
                {f: t for f, t in source.fields.items() if f in read}, {}, [],
                [ir.BoundFeature(f"w{i}", e, e.type) for i, e in enumerate(self.wheres)], [])
            self.predicates = build_evaluator(program)
        self.fields = sorted({w.field for w in windows if w.field is not None})
        self.streams = sorted({self.stream(w) for w in windows},
                              key=lambda s: (s.field or "", -1 if s.where is None else s.where))
        self.logs: dict[tuple, KeyLog] = {}
        self.events = 0  # ingested, null keys included
        #: the latest event time seen (µs): eviction keeps what windows read from here back
        self.watermark: int | None = None
        # A lifetime window (no `over=`) reads every event: such a source evicts nothing.
        overs = [w.over for w in windows]
        self.keep: int | None = None if not overs or None in overs else max(overs)  # type: ignore[type-var]
        self.lateness = 0

    def column_names(self) -> list[object]:
        """What each key's log stores per event: the aggregated fields, then the flags of
        the ``where=`` predicates (``("where", i)``)."""
        return [*self.fields, *(("where", i) for i in range(len(self.wheres)))]

    def column_type(self, name: object) -> Type:
        """The type of a stored column (a ``where=`` flag is a bool)."""
        return Type("bool") if isinstance(name, tuple) else self.source.fields[name]  # type: ignore[index]

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
            flags = self.predicates(event)  # type: ignore[arg-type]  # reads a Mapping only
            for i in range(len(self.wheres)):
                values[("where", i)] = flags[f"w{i}"] is True
        return key, micros(got[self.source.time]), values  # type: ignore[arg-type]

    def add(self, key: tuple, t: int, values: dict[object, object]) -> None:
        log = self.logs.get(key)
        if log is None:
            log = self.logs[key] = KeyLog(self.column_names(), self.streams)
        log.insert(t, values)
        if self.watermark is None or t > self.watermark:
            self.watermark = t
        cut = self.cut()
        if cut is not None and log.times[0] < cut:
            log.trim(cut)

    def cut(self) -> int | None:
        """Events older than this are read by no window of a row at or after ``watermark -
        lateness``: they may be evicted. None when nothing may be (a lifetime window)."""
        if self.keep is None or self.watermark is None:
            return None
        return self.watermark - self.keep - self.lateness

    def evict(self) -> None:
        """Evict from every key's log (ingest evicts only from the key it adds to)."""
        cut = self.cut()
        if cut is None:
            return
        for log in self.logs.values():
            if log.times and log.times[0] < cut:
                log.trim(cut)


def source_states(program: ir.BoundProgram, lateness: dt.timedelta
                  ) -> dict[str, _SourceState]:
    """Every declared source's validation, predicates and eviction horizon, with the windows
    that read it."""
    by_source: dict[str, list[ir.Window]] = {}
    for w in program.windows:
        by_source.setdefault(w.source, []).append(w)
    sources = {name: _SourceState(src, by_source.get(name, []))
               for name, src in program.sources.items()}
    for src in sources.values():
        src.lateness = lateness // _US
    return sources


def find_source(sources: Mapping[str, _SourceState], name: str) -> _SourceState:
    """The state of source ``name``; ``InputError`` listing the declared ones if unknown."""
    got = sources.get(name)
    if got is None:
        known = ", ".join(f"`{s}`" for s in sources) or "none"
        raise InputError(f"unknown source `{name}` (the spec declares {known})")
    return got


def prepare_all(src: _SourceState, events: Iterable[Mapping] | object
                ) -> list[tuple[tuple, int, dict[object, object]] | None]:
    """Every event of a batch (dicts, or a frame or file) validated before any is stored:
    a bad one raises ``InputError`` naming its row."""
    prepared = []
    for i, event in enumerate(_event_rows(src.source, events)):
        try:
            prepared.append(src.prepare(event))
        except InputError as exc:
            raise InputError(f"{exc} (event {i})", field=exc.field, row=i,
                             expected=exc.expected) from None
    return prepared


@dataclass(frozen=True)
class ReadGroup:
    """The windows that read one source with the same key inputs: one key lookup (one
    fetch on Redis), one ``hi`` bisect, and one ``lo`` bisect per distinct ``over``.

    ``positions`` are the reader arguments that form the key (``single``: the one of a
    one-field key, for a cheaper lookup); ``calls`` are ``(output, second output or -1,
    index into overs, KeyLog method, stream)`` (see :func:`_pair_sums`)."""

    source: str
    positions: tuple[int, ...]
    single: int | None
    overs: tuple[int | None, ...]
    calls: tuple[tuple[int, int, int, Callable, _Stream], ...]

    @property
    def longest(self) -> int | None:
        """The longest window of the group in µs (``None``: a lifetime window is in it)."""
        return None if None in self.overs else max(self.overs)  # type: ignore[type-var]


def read_plan(program: ir.BoundProgram, sources: Mapping[str, _SourceState]
              ) -> tuple[list[ReadGroup], tuple]:
    """How to read every window of the program: its groups, and the value of each window
    when its key has no event in it (in ``program.windows`` order)."""
    names = window_inputs(program)
    groups: dict[tuple[str, tuple[int, ...]], tuple[list, list]] = {}
    empties = []
    for i, w in enumerate(program.windows):
        src = sources[w.source]
        positions = tuple(names.index(b) for b in w.by)
        over = None if w.over is None else min(w.over, _WIDEST_OVER)
        overs, items = groups.setdefault((w.source, positions), ([], []))
        if over not in overs:
            overs.append(over)
        stream = next(x for x in src.streams if x == src.stream(w))  # the logs' own key
        items.append((i, overs.index(over), w.function, stream))
        empties.append(_empty(_EMPTY.get(w.function, 0 if w.function == "sum" else None),
                              w.type))
    plan = [ReadGroup(source, positions, positions[0] if len(positions) == 1 else None,
                      tuple(overs), _pair_sums(items))
            for (source, positions), (overs, items) in groups.items()]
    return plan, tuple(empties)


def read_group(log: KeyLog, g: ReadGroup, t: int, time: dt.datetime, out: list) -> None:
    """Write the values of group ``g``'s windows at row time ``t`` (µs; ``time`` as given,
    for messages) from one key's log into ``out`` (which holds the empty values). A window
    that would hold an evicted event raises ``InputError``."""
    evicted = log.evicted
    times = log.times
    los = []
    for over in g.overs:
        if over is None:
            los.append(0)
            continue
        if evicted is not None and t - over <= evicted:
            raise _evicted(time, over, evicted)
        los.append(bisect_left(times, t - over))
    hi = bisect_left(times, t)
    for i, j, slot, method, stream in g.calls:
        lo = los[slot]
        if lo < hi:
            if j < 0:
                out[i] = method(log, stream, lo, hi, t)
            else:  # a sum and a mean of the same window
                out[i], out[j] = method(log, stream, lo, hi, t)


class MemoryState:
    """Live window state in this process (``fitted.online_state()``), for the windows of
    the bound ``program``, one event log per source and key."""

    def __init__(self, program: ir.BoundProgram,
                 lateness: dt.timedelta = dt.timedelta(hours=1)) -> None:
        if lateness < dt.timedelta(0):
            raise InputError(f"online_state(lateness=...) must not be negative, got {lateness}")
        self.program = program
        self._lock = threading.RLock()
        self._sources = source_states(program, lateness)
        self.events = 0

    def evict(self) -> None:
        """Evict, from every key, the events no allowed read can see (ingest already evicts
        from the key it adds to; this sweeps keys that have gone quiet)."""
        with self._lock:
            for src in self._sources.values():
                src.evict()

    def _source(self, name: str) -> _SourceState:
        return find_source(self._sources, name)

    def ingest(self, source: str, event: object) -> None:
        """Add one event of ``source`` (validated first: a bad one raises ``InputError`` and
        changes nothing). An event whose key is null is in no window."""
        src = self._source(source)
        prepared = src.prepare(event)
        with self._lock:
            self.events += 1
            src.events += 1
            if prepared is not None:
                src.add(*prepared)

    def ingest_batch(self, source: str, events: Iterable[Mapping] | object) -> int:
        """Add many events in order: dicts, or a frame or file as ``transform`` reads them
        (history to warm the state). All are validated before any is added (a bad one raises
        ``InputError`` naming its row, and nothing is added). Returns how many were read."""
        src = self._source(source)
        prepared = prepare_all(src, events)
        with self._lock:
            for p in prepared:
                self.events += 1
                src.events += 1
                if p is not None:
                    src.add(*p)
        return len(prepared)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state to a file (JSON data, integrity-checked; see
        :mod:`featuredsl.windows.persist`), to restart warm with
        ``fitted.online_state(restore=path)``."""
        persist.save(self, path)

    def reader(self) -> Callable[..., tuple]:
        """The function the row evaluator calls: ``(row time, *key inputs) -> one value per
        window`` (see ``row_backend.window_inputs``), by the shared :func:`read_plan`."""
        groups, empty = read_plan(self.program, self._sources)
        plan = [(self._sources[g.source].logs, g) for g in groups]
        lock = self._lock

        def read(time: dt.datetime | None, *keys: object) -> tuple:
            if time is None:
                return empty
            t = (time - _EPOCH) // _US  # micros(time), inline
            out = list(empty)
            with lock:
                for logs, g in plan:
                    single = g.single
                    log = logs.get((keys[single],) if single is not None else
                                   tuple([keys[p] for p in g.positions]))
                    if log is not None:
                        read_group(log, g, t, time, out)
            return tuple(out)

        return read


def _pair_sums(items: list[tuple[int, int, str, _Stream]]
               ) -> tuple[tuple[int, int, int, Callable, _Stream], ...]:
    """The reader's calls for one key group: ``(output, second output or -1, lo slot,
    KeyLog method, stream)``; a ``sum`` and a ``mean`` of the same stream and window
    become one ``sum_mean`` call."""
    out = []
    done: set[int] = set()
    for n, (i, slot, function, stream) in enumerate(items):
        if n in done:
            continue
        if function in ("sum", "mean"):
            other = "mean" if function == "sum" else "sum"
            mate = next((m for m, (_, s2, f2, st2) in enumerate(items)
                         if m not in done and m != n and f2 == other and s2 == slot
                         and st2 == stream), None)
            if mate is not None:
                done.add(mate)
                i_sum, i_mean = (i, items[mate][0]) if function == "sum" else (items[mate][0], i)
                out.append((i_sum, i_mean, slot, KeyLog.sum_mean, stream))
                continue
        out.append((i, -1, slot, getattr(KeyLog, function), stream))
    return tuple(out)


def _event_rows(source: ir.Source, events: object) -> Iterable[object]:
    """Dict events as given; any frame or file, read and validated like ``sources=``."""
    if isinstance(events, list | tuple) or hasattr(events, "__next__"):
        return events  # type: ignore[return-value]
    return prepare_events(source, events).iter_rows(named=True)


def _evicted(time: dt.datetime, over: int, evicted: int) -> InputError:
    """A read whose window would hold an evicted event: refused, never answered wrongly."""
    start = _EPOCH + (evicted * _US)
    return InputError(
        f"row time {time.isoformat()}: its {dt.timedelta(microseconds=over)} window reaches "
        f"back to events the live state has evicted (this key's events up to "
        f"{start.isoformat()}); allow older reads with online_state(lateness=...)",
        field=None)


def _empty(value: object, t: Type) -> object:
    if value == 0 and t.kind == "float":
        return 0.0
    return value
