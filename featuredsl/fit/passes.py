"""Passes of ``fit``: tasks ask for aggregates; the passes over the data serve them together.

A *task* is a generator. It yields a list of requests (:class:`Scalar`, :class:`Query`), is
sent back their results in the same order, and may yield again (an order statistic needs a
histogram before it knows which slice of the data to look at); its return value is its
answer. :func:`all_of` runs tasks side by side, so one pass serves the requests of all of them,
and :func:`drive` executes the passes: every request of a pass goes into one
``pl.collect_all`` on the streaming engine, the scalar aggregates over one :class:`Frame`
share one ``select``, and requests with the same key run once (the summary of a column asked
for by ``mean(x)``, ``std(x)`` and ``quantiles(x, 4)`` alike is one query).

Every request is a lazy aggregation (a reduction, a ``group_by`` with a bounded number of
groups, a filter of a bounded slice, a top-k), so a pass runs in bounded memory on the
streaming engine whatever the number of rows (see :mod:`featuredsl.fit.select`).
"""

from __future__ import annotations

from collections.abc import Generator, Hashable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line

T = TypeVar("T")


@dataclass(eq=False)
class Frame:
    """A (materialized or scanned) LazyFrame that requests aggregate; identity scopes keys."""

    lf: pl.LazyFrame


@dataclass(frozen=True, eq=False)
class Scalar:
    """One scalar aggregate expression over ``frame`` (shares a ``select`` with the others)."""

    frame: Frame
    expr: pl.Expr
    key: Hashable


@dataclass(frozen=True, eq=False)
class Query:
    """A whole query (built from ``frame.lf``); ``key`` identifies it within ``frame``."""

    frame: Frame
    lf: pl.LazyFrame
    key: Hashable


Request = Scalar | Query
#: plans of a pass run together (each running plan holds its own scan's buffers)
CONCURRENT = 4
#: A task yields its requests and is sent their results, in order: a DataFrame for a
#: :class:`Query`, the scalar value (int, float, None, ...) for a :class:`Scalar`.
Task = Generator[Sequence[Request], list[Any], T]


@dataclass
class Budget:
    """How many values the order-statistic tasks may still collect in the current pass (reset
    before every pass): the bound on the memory a pass holds, whatever the row count."""

    per_pass: int
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.per_pass

    def take(self, n: int) -> bool:
        """Reserve ``n`` values of the budget; ``False`` (and nothing taken) if fewer are left."""
        if n > self.left:
            return False
        self.left -= n
        return True

    def reset(self) -> None:
        """Restore the full per-pass budget (before every pass)."""
        self.left = self.per_pass


def all_of(tasks: Iterable[Task]) -> Task[list]:
    """Run ``tasks`` side by side (each pass serves all of them); their answers, in order."""
    values: list[object] = []
    pending: dict[int, tuple[Task, Sequence[Request]]] = {}
    for i, t in enumerate(tasks):
        values.append(None)
        try:
            pending[i] = (t, next(t))
        except StopIteration as stop:
            values[i] = stop.value
    while pending:
        results = yield [r for _, reqs in pending.values() for r in reqs]
        pos = 0
        still: dict[int, tuple[Task, Sequence[Request]]] = {}
        for i, (t, reqs) in pending.items():
            part, pos = results[pos:pos + len(reqs)], pos + len(reqs)
            try:
                still[i] = (t, t.send(part))
            except StopIteration as stop:
                values[i] = stop.value
        pending = still
    return values


def one(request: Request) -> Task[Any]:
    """A task answering a single request."""
    (value,) = yield [request]
    return value


#: Another engine for the passes, when set (featuredsl.spark's pass driver): an object whose
#: ``execute(requests)`` returns the results :func:`_execute` would, and whose
#: ``grouped(lf, agg, col, keys, only)`` returns what ``fit.grouped.fit_grouped`` would.
#: ``None`` (the default): the local streaming engine.
ENGINE: ContextVar[Any] = ContextVar("featuredsl_fit_engine", default=None)


def drive(task: Task[T], budget: Budget | None = None) -> T:
    """Execute ``task``'s passes until it returns; its answer."""
    try:
        requests = next(task)
    except StopIteration as stop:
        return stop.value
    engine = ENGINE.get()
    while True:
        results = _execute(requests) if engine is None else engine.execute(requests)
        if budget is not None:
            budget.reset()
        try:
            requests = task.send(results)
        except StopIteration as stop:
            return stop.value


#: How many passes have run in this process, for tests and benchmarks (diagnostic only).
PASSES = 0


def _execute(requests: Sequence[Request]) -> list[object]:
    """Run one pass: one ``collect_all`` for every request, duplicates once."""
    frames: dict[int, tuple[Frame, dict[Hashable, tuple[str, pl.Expr]]]] = {}
    queries: dict[tuple[int, Hashable], tuple[int, pl.LazyFrame]] = {}
    for r in requests:
        fid = id(r.frame)
        if isinstance(r, Scalar):
            slots = frames.setdefault(fid, (r.frame, {}))[1]
            if r.key not in slots:
                slots[r.key] = (f"__fd_s{len(slots)}", r.expr)
        elif (fid, r.key) not in queries:
            queries[(fid, r.key)] = (len(queries), r.lf)
    heads = {fid: i + len(queries) for i, fid in enumerate(frames)}
    plans = [lf for _, lf in queries.values()]
    plans += [f.lf.select([e.alias(a) for a, e in slots.values()]) for f, slots in frames.values()]
    try:
        # a few plans at a time: each running plan holds its own scan's buffers
        collected = [df for i in range(0, len(plans), CONCURRENT)
                     for df in pl.collect_all(plans[i:i + CONCURRENT], engine="streaming")]
    except data_io.READ_ERRORS as exc:
        raise InputError(f"cannot read the data: {first_line(exc)}") from None
    global PASSES
    PASSES += 1
    out: list[object] = []
    for r in requests:
        fid = id(r.frame)
        if isinstance(r, Scalar):
            alias = frames[fid][1][r.key][0]
            out.append(collected[heads[fid]].get_column(alias)[0])
        else:
            out.append(collected[queries[(fid, r.key)][0]])
    return out
