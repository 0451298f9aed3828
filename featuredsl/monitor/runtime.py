"""``fd.Monitor``: counts of sampled serving rows, inside the row evaluator (SPEC 10).

How it stays cheap and exact (docs/monitoring.md "The monitor"):

* Sampling is one C call per row: ``itertools.cycle([True] + [False] * (n - 1)).__next__``,
  one cycle per evaluator (each evaluator counts exactly one row in ``n``, its first included).
* A sampled row runs one generated, straight-line ``record`` function (:func:`_generate`):
  per field about one increment of a flat list of ints: a numeric value's bin and range slot
  is one ``bisect_right`` on a tuple of cuts, a categorical value's slot one dict lookup (None
  included: the nulls slot), an outside value goes to a dict; ``count`` and ``oov`` are
  derived (rows minus nulls, count minus top), see :class:`~.snapshot.FieldLayout`. The code
  is generated only from the checked profile layout (slot numbers; every constant bound by
  reference in the function's globals): no user text becomes code.
* Counters are per thread (``threading.local``, read only on sampled rows): one thread alone
  writes its accumulator, so under the GIL (or without it) no increment is lost. Each new
  accumulator is registered, under a lock, in the monitor, and ``snapshot`` sums them
  (accumulators of ended threads are folded into a base count and let go).
* ``snapshot(reset=True)`` starts a new *generation*: the current accumulators are read once
  (that read is both what the window reports and the baseline they are retired with), and a
  new ``threading.local`` replaces the old, so a thread that records again takes a fresh
  accumulator. An
  increment that lands in a retired accumulator after the read (a record that was running
  during the reset) is reported by the next snapshot, as the difference from that baseline;
  a retired accumulator is dropped once its thread has moved to a newer one or ended. So every
  increment is reported exactly once, by the first snapshot that can see it. What is not
  guaranteed: a snapshot taken while rows are being recorded may hold some of one row's
  counts and leave the others to the next window (a row is not atomic across fields), so
  such a window's derived counts can be off by the rows in flight (a field's ``count`` one
  more or less than its bins add up to); the sum over consecutive windows is exact.
* ``InputError``s are counted at full rate, by the field they name (``""`` for a row-level
  error), under a lock (the error path is rare and already costly).
"""

from __future__ import annotations

import bisect
import itertools
import threading
from typing import Any

from featuredsl.backends.row_backend import RowObserver
from featuredsl.errors import FeatureDSLError, InputError
from featuredsl.monitor.snapshot import OOV_TRACKED, FieldLayout, Layout, layout_of


class _Acc:
    """One thread's counters of one generation (``cells``: the flat list, then one dict of
    out-of-vocabulary values per categorical field)."""

    __slots__ = ("cells", "thread")

    def __init__(self, layout: Layout, thread: threading.Thread) -> None:
        flat, oovs = layout.empty()
        self.cells: list[Any] = [flat, *oovs]
        self.thread = thread

    def read(self) -> tuple[list[int], list[dict]]:
        """A copy of the counters (each list and dict copied in one C call)."""
        return list(self.cells[0]), [d.copy() for d in self.cells[1:]]


class Monitor:
    """Counts one serving row in ``sample_every`` against the artifact's training profile.

    ``fitted.row_evaluator(monitor=mon)`` generates the counting into the evaluator; ``mon``
    may serve several evaluators and threads of the same artifact. ``snapshot()`` returns
    the counts (a plain JSON-able dict, see :mod:`featuredsl.monitor.snapshot`).
    ``record_failures`` counts sampled rows whose counting raised (never expected: the row is
    served anyway, and its counts may be partial)."""

    def __init__(self, fitted: Any, sample_every: int = 64) -> None:
        if type(sample_every) is not int or sample_every < 1:
            raise FeatureDSLError(f"sample_every must be a positive int, not {sample_every!r}")
        self.sample_every = sample_every
        self._layout = layout_of(fitted)
        self.artifact: str = self._layout.artifact
        bound = fitted.bound()
        self._input_index = {n: i for i, n in enumerate(bound.inputs)}
        #: which fields may be null (by their declared types): the others skip the test
        self._nullable = {("in", n): t.nullable for n, t in bound.inputs.items()}
        self._nullable.update((("out", f.name), f.type.nullable) for f in bound.features)
        self._lock = threading.Lock()
        #: the current generation's thread-local accumulators: a reset puts a new
        #: ``threading.local`` here, so each thread's next record takes a fresh accumulator
        self._local: list[threading.local] = [threading.local()]
        self._live: list[_Acc] = []
        #: retired accumulators (earlier generations) and the counts already reported of them
        self._retired: list[tuple[_Acc, list[int], list[dict]]] = []
        self._latest: dict[threading.Thread, _Acc] = {}
        #: counts of this window no live accumulator holds (ended threads, late increments)
        self._base = self._layout.empty()
        self._errors: dict[str, int] = {}
        self._swept = 8
        self.record_failures = 0
        self._record = _generate(self, self._layout, self._input_index, self._nullable)

    # ------------------------------------------------------------------ the evaluator's hook
    def row_observer(self, spec: Any) -> RowObserver:
        """The hook ``spec.row_evaluator(monitor=self)`` generates in (refuses another
        artifact's spec)."""
        got = getattr(spec, "artifact_hash", None)
        if got != self.artifact:
            what = f"artifact {got[:12]}..." if isinstance(got, str) else "a spec not fitted"
            raise FeatureDSLError(f"this monitor watches artifact {self.artifact[:12]}...: it "
                                  f"cannot watch {what}; make a Monitor of that artifact")
        sample = itertools.cycle([True] + [False] * (self.sample_every - 1)).__next__
        return RowObserver(sample, self._record, self._input_error)

    def _input_error(self, exc: InputError) -> None:
        key = exc.field if isinstance(exc.field, str) else ""
        with self._lock:
            self._errors[key] = self._errors.get(key, 0) + 1

    def _new_acc(self) -> list[Any]:
        """A fresh accumulator for this thread in the current generation (the slow path of
        ``record``: once per thread and generation)."""
        thread = threading.current_thread()
        with self._lock:
            acc = _Acc(self._layout, thread)
            local = self._local[0]
            self._live.append(acc)
            self._latest[thread] = acc
            if len(self._live) > 2 * self._swept:  # many threads came and went: fold them
                self._fold_ended()
                self._swept = max(8, len(self._live))
        local.acc = acc.cells
        return acc.cells

    def _fold_ended(self) -> None:
        """Add the accumulators of ended threads into the base (their counts are final)."""
        keep = []
        for acc in self._live:
            if acc.thread.is_alive():
                keep.append(acc)
            else:
                _add(self._base, acc.read())
                if self._latest.get(acc.thread) is acc:
                    del self._latest[acc.thread]
        self._live = keep

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, reset: bool = False) -> dict[str, object]:
        """The counts since the monitor was made or last reset, as a snapshot dict; with
        ``reset`` also start a new window (nothing is lost or counted twice: see the module
        docstring). The same counts always give the same dict (and JSON text)."""
        with self._lock:
            self._fold_ended()
            total = self._layout.empty()
            _add(total, self._base)
            live = [(acc, acc.read()) for acc in self._live]
            for _, got in live:
                _add(total, got)
            retired = []
            for acc, flat, oovs in self._retired:
                done = self._latest.get(acc.thread) is not acc or not acc.thread.is_alive()
                now = acc.read()  # read after `done`: a done accumulator's counts are final
                delta = _minus(now, (flat, oovs))
                _add(total, delta)
                if done:
                    if not reset:
                        _add(self._base, delta)
                elif reset:
                    retired.append((acc, *now))
                else:
                    retired.append((acc, flat, oovs))
            errors = dict(self._errors)
            if reset:
                self._local[0] = threading.local()
                retired.extend((acc, *got) for acc, got in live)
                self._live = []
                self._base = self._layout.empty()
                self._errors = {}
            self._retired = retired
            return self._layout.snapshot(*total, self.sample_every, errors)


def _add(into: tuple[list[int], list[dict]], got: tuple[list[int], list[dict]]) -> None:
    flat, oovs = into
    for i, v in enumerate(got[0]):
        if v:
            flat[i] += v
    for d, more in zip(oovs, got[1], strict=True):
        for k, v in more.items():
            d[k] = d.get(k, 0) + v


def _minus(now: tuple[list[int], list[dict]], was: tuple[list[int], list[dict]]
           ) -> tuple[list[int], list[dict]]:
    return ([a - b for a, b in zip(now[0], was[0], strict=True)],
            [{k: v - old.get(k, 0) for k, v in d.items() if v != old.get(k, 0)}
             for d, old in zip(now[1], was[1], strict=True)])


# ---------------------------------------------------------------------------- codegen


class _Code:
    """The source and globals of one generated ``record`` function."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.globals: dict[str, object] = {}
        self._n = 0

    def ref(self, obj: object) -> str:
        """Bind ``obj`` in the globals under a generated name."""
        name = f"_k{len(self.globals)}"
        self.globals[name] = obj
        return name

    def tmp(self) -> str:
        """A fresh local name."""
        self._n += 1
        return f"x{self._n}"


def _generate(mon: Monitor, layout: Layout, input_index: dict[str, int],
              nullable: dict[tuple[str, str], bool]) -> Any:
    """The ``record(inputs, features)`` function of ``mon``: straight-line counting of every
    field of ``layout`` (see the module docstring). A field whose type is not nullable has no
    ``is None`` test (the checker guarantees a value; were one None, the ``except`` below
    would count a record failure, never fail the request)."""
    code = _Code()
    g = code.globals
    g.update(_local=mon._local, _new=mon._new_acc, _br=bisect.bisect_right,
             _mon=mon)
    w = code.lines.append
    w("def record(i, o):")
    w("    try:")
    w("        try:")
    w("            a = _local[0].acc")
    w("        except AttributeError:")
    w("            a = _new()")
    w("        n = a[0]")
    w("        n[0] += 1")
    # One unpacking each (C-level) instead of an index or a dict lookup per field: the
    # inputs tuple is in the evaluator's input order, the feature dict was built in
    # declaration order (the layout's, checked by the tests against the batch twin).
    ins = {n: code.tmp() for n in input_index}
    if ins:
        w(f"        {', '.join(ins.values())}, = i")
    outs = {f.name: code.tmp() for f in layout.features}
    if outs:
        w(f"        {', '.join(outs.values())}, = o.values()")
    for f in layout.inputs:
        _field(code, f, ins[f.name], "        ", "input", nullable.get(("in", f.name), True))
    for f in layout.features:
        _field(code, f, outs[f.name], "        ", "output",
               nullable.get(("out", f.name), True))
    w("    except Exception:")  # counting must never fail a request
    w("        _mon.record_failures += 1")
    source = "\n".join(code.lines) + "\n"
    exec(compile(source, "<featuredsl monitor>", "exec"), g)  # generated, see docstring
    record = g["record"]
    record.source = source  # type: ignore[attr-defined]
    return record


def _field(code: _Code, f: FieldLayout, x: str, ind: str, temporal_as: str,
           nullable: bool = True) -> None:
    """Count the value in local ``x`` (see :class:`FieldLayout` for the slots)."""
    w = code.lines.append
    o = f.offset
    if f.kind == "categorical":  # None is a key of the slot table: its nulls slot
        s = code.tmp()
        w(f"{ind}{s} = {code.ref({None: o, **f.slots})}.get({x})")
        w(f"{ind}if {s} is None:")
        w(f"{ind}    d = a[{1 + f.oov_index}]")
        w(f"{ind}    if {x} in d:")
        w(f"{ind}        d[{x}] += 1")
        w(f"{ind}    elif len(d) < {OOV_TRACKED}:")
        w(f"{ind}        d[{x}] = 1")
        w(f"{ind}else:")
        w(f"{ind}    n[{s}] += 1")
        return
    if nullable:
        w(f"{ind}if {x} is None:")
        w(f"{ind}    n[{o}] += 1")
        if f.kind == "plain":
            return
        w(f"{ind}else:")
        ind += "    "
    if f.kind == "list":
        assert f.length is not None
        y = code.tmp()
        w(f"{ind}{y} = len({x})")
        _field(code, f.length, y, ind, temporal_as, nullable=False)
    elif f.kind == "numeric":
        w(f"{ind}n[{o + 1} + _br({code.ref(f.cuts)}, {x})] += 1")
    elif f.kind == "range":
        lo, hi = _temporal_bounds(f, temporal_as)
        w(f"{ind}if {x} < {code.ref(lo)}:")
        w(f"{ind}    n[{o + 1}] += 1")
        w(f"{ind}elif {x} > {code.ref(hi)}:")
        w(f"{ind}    n[{o + 2}] += 1")
    elif not nullable:  # a plain field of non-null values: nothing to count
        w(f"{ind}pass")


def _temporal_bounds(f: FieldLayout, temporal_as: str) -> tuple[object, object]:
    """A temporal field's bounds as the evaluator hands its values to ``record``: inputs as
    checked (naive UTC datetimes, dates, durations in µs), features as returned (aware UTC
    datetimes, dates, timedeltas)."""
    import datetime as dt

    if temporal_as == "input" or f.temporal == "date":
        return f.lo, f.hi
    if f.temporal == "timestamp":
        return f.lo.replace(tzinfo=dt.UTC), f.hi.replace(tzinfo=dt.UTC)
    return dt.timedelta(microseconds=f.lo), dt.timedelta(microseconds=f.hi)
