"""The Spark pass driver: the local fit's task code, its passes run as Spark jobs.

The driver runs ``featuredsl.fit.fit`` itself, over an empty frame of the data's schema, with
:class:`DriverEngine` as the pass engine (``fit.passes.ENGINE``). Each *step* (a pass, or a
grouped statistic) becomes one Spark job: every partition runs the same fit on its rows with a
:class:`WorkerEngine` that answers the steps before with the merged results the driver sends
(a *replay*: the task code takes the same branches, so it reaches the same requests), computes
the current step's partial results (fit/ requests rewritten by :mod:`featuredsl.spark.merge`)
and stops. The driver merges the partials exactly and sends them back to its tasks. So the same
code decides every statistic on both engines, and the artifact is byte-identical to a local
fit: every merged result equals the local one, whatever the partitioning.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, cast

import pyarrow as pa

from featuredsl import ir
from featuredsl.errors import ArtifactError, FeatureDSLError, InputError
from featuredsl.fit.passes import ENGINE, Request
from featuredsl.spark import codec, merge
from featuredsl.spark.errors import translate
from featuredsl.spark.worker import encode_error

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import DataFrame

_PROGRAMS: dict[str, ir.Program] = {}
_LOCK = threading.Lock()

#: one step's Spark job: (history, mode) -> the Spark DataFrame of the workers' output, mode
#: ``"partials"`` (one ``blob`` row of packed partials per partition), ``"probe"`` (replay
#: only: no rows) or ``"tops"`` (the top-value counts, ``merge.TOP_SCHEMA``)
Job = Callable[[list[object], str], "DataFrame"]


class _Stop(Exception):
    """A worker reached the step it was asked for (``blob``: its packed partials, or the
    top-value counts' table)."""

    def __init__(self, blob: str | pa.Table | None) -> None:
        super().__init__("step reached")
        self.blob = blob


class DriverEngine:
    """The pass engine of the driver: each step is a Spark job whose partials it merges.

    A job that reaches a grouped statistic also computes the grouped statistics right after
    it over the same frame (one level's, which no other step separates): they are *prefetched*
    and served without another job."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.history: list[object] = []
        self.jobs = 0
        self._prefetched: dict[int, list[list[object]]] = {}
        self._prefetch_lf: object = None

    def _collect(self, mode: str) -> list[str]:
        self.jobs += 1
        with translate():
            return [r["blob"] for r in self.job(self.history, mode).collect()]

    def _run(self) -> list[list[object]]:
        steps = [codec.unpack(b) for b in self._collect("partials")]
        step = len(self.history)
        self._prefetched = {step + j: [cast(list, s[j]) for s in steps]
                            for j in range(1, min((len(s) for s in steps), default=1))}
        return [cast(list, s[0]) for s in steps]

    def execute(self, requests: list[Request]) -> list[object]:
        """One pass: its partials from every partition (and the driver's empty frame, which
        gives every merge its schema), merged."""
        merge.check(requests)
        self._prefetched = {}
        parts = [merge.partials(requests)]
        if any(p is not None for p in parts[0]):
            parts += self._run()
        tops: dict[int, pl.DataFrame] = {}
        if merge.has_tops(requests):
            self.jobs += 1
            with translate():
                tops = merge.top_results(requests, self.job(self.history, "tops"))
        results = merge.merge(requests, parts, tops)
        self.history.append(results)
        if any(merge.kind(r.key) == "flag" and v for r, v in zip(requests, results,
                                                                   strict=True)):
            # a bad value: the partitions replay the flag check, which raises on the one
            # holding it (as the local fit raises after its first pass)
            self._collect("probe")
            raise InputError("a bad value in the data (flagged by a Spark partition, which did "
                             "not report it)")
        return results

    def grouped(self, lf: pl.LazyFrame, agg: ir.Aggregate, col: str, keys: list[str],
                only: list[object] | None) -> ir.GroupTable:
        """A grouped statistic: per-group partials from every partition, merged."""
        step = len(self.history)
        got = self._prefetched.pop(step, None) if lf is self._prefetch_lf else None
        if got is None:
            got = self._run()
            self._prefetch_lf = lf
        table = merge.grouped_merge(agg, [merge.grouped_partial(lf, agg, col, keys, only), *got])
        self.history.append(table)
        return table


class WorkerEngine:
    """The pass engine of a worker: replays ``history``, then computes the next step's
    partials and stops (``probe``: stops without computing). After a grouped statistic it
    goes on with the grouped statistics of the same frame (see :class:`DriverEngine`): their
    tables cannot change what the others compute (a level's statistics are independent), so a
    placeholder table stands in for each until the first other step."""

    def __init__(self, history: list[object], mode: str) -> None:
        self.history = history
        self.mode = mode
        self.probe = mode == "probe"
        self.step = 0
        self.pending: list[object] = []
        self._lf: object = None

    def _replayed(self) -> object | None:
        i = self.step
        self.step += 1
        if i < len(self.history):
            return self.history[i]
        if self.probe:
            raise _Stop(None)
        return None

    def execute(self, requests: list[Request]) -> list[object]:
        """The merged results of a replayed pass, or this partition's partials (then stop)."""
        got = self._replayed()
        if got is not None:
            return list(got)  # type: ignore[call-overload]
        if self.pending:
            raise _Stop(codec.pack(self.pending))
        if self.mode == "tops":
            raise _Stop(merge.top_rows(requests))
        raise _Stop(codec.pack([merge.partials(requests)]))

    def grouped(self, lf: pl.LazyFrame, agg: ir.Aggregate, col: str, keys: list[str],
                only: list[object] | None) -> ir.GroupTable:
        """The merged table of a replayed grouped statistic, or this partition's part."""
        got = self._replayed()
        if got is not None:
            assert isinstance(got, ir.GroupTable)
            return got
        if self.pending and lf is not self._lf:
            raise _Stop(codec.pack(self.pending))
        self.pending.append(merge.grouped_partial(lf, agg, col, keys, only))
        self._lf = lf
        return ir.GroupTable((), (), ())

    def finished(self) -> str | None:
        """What the worker returns when the fit ends during prefetching."""
        return codec.pack(self.pending) if self.pending else None


def program_of(source: str, file: str) -> ir.Program:
    """The checked program of a spec's text, compiled once per worker process."""
    digest = hashlib.sha256(f"{file}\x00{source}".encode()).hexdigest()
    if digest not in _PROGRAMS:
        with _LOCK:
            if digest not in _PROGRAMS:
                from featuredsl.api import compile as compile_spec

                _PROGRAMS[digest] = compile_spec(source, file).program
    return _PROGRAMS[digest]


def run_fit(program: ir.Program, engine: object, data: object,
            sources: dict[str, object] | None, profile: bool) -> object:
    """``featuredsl.fit.fit`` with ``engine`` running its passes."""
    from featuredsl.fit import fit

    token = ENGINE.set(engine)
    try:
        return fit(program, data, sources, profile)
    finally:
        ENGINE.reset(token)


def _replay(program: ir.Program, table: pa.Table, sources: dict[str, object] | None,
            history_text: str, mode: str, profile: bool) -> str | pa.Table | None:
    engine = WorkerEngine(codec.unpack(history_text), mode)
    try:
        with warnings.catch_warnings():  # the driver warns, once, with the merged values
            warnings.simplefilter("ignore")
            run_fit(program, engine, table, sources, profile)
    except _Stop as stop:
        return stop.blob
    except (InputError, ArtifactError) as exc:
        raise encode_error(exc) from None
    except FeatureDSLError as exc:
        raise encode_error(InputError(str(exc))) from None
    return engine.finished()


def _output(got: str | pa.Table | None, mode: str) -> pa.Table:
    if mode == "tops":
        assert got is None or isinstance(got, pa.Table)
        return got if got is not None else merge.top_rows([])
    assert got is None or isinstance(got, str)
    return pa.table({"blob": pa.array([] if got is None else [got], pa.string())})


def fit_partition(batches: Iterable[pa.RecordBatch], source: str, file: str,
                  schema: bytes, history: str, mode: str, profile: bool
                  ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``'s function of a fit step: the partition's partials, one row (or its
    top-value counts)."""
    got = [b for b in batches]
    table = pa.Table.from_batches(got) if got else \
        pa.ipc.read_schema(pa.py_buffer(schema)).empty_table()
    out = _output(_replay(program_of(source, file), table, None, history, mode, profile), mode)
    yield from out.to_batches()


def fit_bucket(rows: pa.Table, events: pa.Table, source: str, file: str, schema: bytes,
               events_schema: bytes, name: str, history: str, mode: str, profile: bool
               ) -> pa.Table:
    """``cogroup(...).applyInArrow``'s function of a fit step with windows: one key bucket's
    rows and events (every event of their keys), its partials as one row (or its top-value
    counts)."""
    ev_schema = pa.ipc.read_schema(pa.py_buffer(events_schema))
    if rows.num_rows == 0:
        return _output(None, mode)
    rows = rows.select([c for c in rows.column_names if c != "__fd_bucket"])
    events = (events.sort_by("__fd_seq").select(list(ev_schema.names)) if events.num_rows
              else ev_schema.empty_table())
    return _output(_replay(program_of(source, file), rows, {name: events}, history, mode,
                           profile), mode)
