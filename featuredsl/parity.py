"""Parity: run both backends over the same rows and report every disagreement (Rule #32).

The equality rule is SPEC 4.14, :func:`same_value`: the row backend's Python value must be the
same Python value the batch column holds at that row: ``None`` for null, same type (an int is
not a float, ``True`` is not ``1``), floats equal with ``-0.0 == 0.0``, a NaN on either side is
a mismatch (featuredsl never produces NaN), timestamps equal as instants and both aware (or
both naive), lists element by element. ``tests/harness.py`` uses this function.

Two sources of rows:

- :func:`check_data`: a dataset (any source ``Spec.transform`` accepts), read in batches on the
  streaming engine; both backends see the inputs *after* validation and widening (what a
  server receives as Python values), so a mismatch is a disagreement of the backends, not of
  the input layers. Bad data raises ``InputError`` as ``transform`` does.
- :func:`edge_case_rows` + :func:`check_rows`: generated rows for the declared schema (nulls,
  NaN, +-inf, -0.0, int64 and float extremes, empty and non-ASCII strings, calendar edges,
  and every constant of the spec and of its fitted statistics, plus its neighbours), with a
  fixed seed: the same spec gives the same rows. Here each backend gets the raw values
  (NaN included), so the input layers are compared too.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from featuredsl import ir
from featuredsl.backends.polars_backend import dtype_of
from featuredsl.data import inputs as data_io
from featuredsl.errors import FeatureDSLError, first_line
from featuredsl.types import Type
from featuredsl.windows.sources import prepare_sources

if TYPE_CHECKING:
    from featuredsl.api import Spec


def same_value(a: object, b: object) -> bool:
    """Parity equality (SPEC 4.14): same Python value, ``None`` for null, ``-0.0 == 0.0``."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if type(a) is not float or type(b) is not float:
            return False
        if math.isnan(a) or math.isnan(b):
            return False  # NaN must never come out of featuredsl
        return a == b
    if isinstance(a, list) or isinstance(b, list):  # a tuple is not a list value
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(same_value(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a == b and (a.tzinfo is None) == (b.tzinfo is None)
    return type(a) is type(b) and a == b


@dataclass
class Mismatch:
    """One (row, feature) where the backends disagree. ``row`` is 0-based in its source."""

    source: str  # "data" or "edge-cases"
    row: int
    feature: str
    inputs: dict
    row_value: object
    batch_value: object


@dataclass
class ParityReport:
    """Per-feature mismatch counts over ``rows`` rows, with up to ``limit`` examples each."""

    features: list[str]
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Mismatch]] = field(default_factory=dict)
    limit: int = 3

    @property
    def ok(self) -> bool:
        """Whether no feature mismatched on any row."""
        return not any(self.counts.values())

    @property
    def total(self) -> int:
        """The number of mismatching values, over all features."""
        return sum(self.counts.values())

    def add(self, m: Mismatch) -> None:
        """Count a mismatch, keeping it as an example while its feature has fewer than ``limit``."""
        self.counts[m.feature] = self.counts.get(m.feature, 0) + 1
        ex = self.examples.setdefault(m.feature, [])
        if len(ex) < self.limit:
            ex.append(m)


def _compare(spec: Spec, report: ParityReport, source: str, offset: int,
             inputs: Sequence[dict], row_out: Sequence[dict | Exception],
             batch_out: Sequence[dict]) -> None:
    for i, (r, b) in enumerate(zip(row_out, batch_out, strict=True)):
        for f in spec.features:
            rv = f"raised {type(r).__name__}: {r}" if isinstance(r, Exception) else r[f]
            if isinstance(r, Exception) or not same_value(rv, b[f]):
                report.add(Mismatch(source, offset + i, f, dict(inputs[i]), rv, b[f]))
    report.rows += len(batch_out)


def _run_rows(evaluate: Callable[[dict], dict], rows: Iterable[dict]) -> list[dict | Exception]:
    out: list[dict | Exception] = []
    for r in rows:
        try:
            out.append(evaluate(r))
        except FeatureDSLError as exc:  # one backend rejecting a row the other took
            out.append(exc)
    return out


def check_data(spec: Spec, data: object, *, fmt: str | None = None, limit: int = 3,
               batch_rows: int = 20_000, on_rows: Callable[[int], None] | None = None,
               sources: Mapping[str, object] | None = None) -> ParityReport:
    """Both backends over a dataset, batch by batch (bounded memory). A spec with window
    aggregates is compared by :func:`check_windowed` over the events of ``sources``."""
    from featuredsl.data.files import interrupt_guard

    if spec.bound().windows or sources:
        return check_windowed(spec, data, sources, fmt=fmt, limit=limit, on_rows=on_rows)
    report = ParityReport(spec.features, limit=limit)
    inputs = spec.serving_schema()
    evaluate = spec.row_evaluator()
    spec.batch_plan()
    src = data_io.open_source(data, inputs, fmt)
    prepared = data_io.prepare(src.lf, inputs, [], text=src.text, checks=True)
    flags = data_io.flag_columns(prepared.collect_schema())
    with interrupt_guard() as interrupted:
        _check_batches(spec, report, src, prepared, flags, batch_rows, evaluate, on_rows)
        interrupted()  # a stream cut short by Ctrl-C must not report "no mismatch"
    return report


def _check_batches(spec: Spec, report: ParityReport, src: data_io.Source,
                   prepared: pl.LazyFrame, flags: list[str], batch_rows: int,
                   evaluate: Callable[[dict], dict],
                   on_rows: Callable[[int], None] | None) -> None:
    from featuredsl.data.files import bad_row_error

    inputs = spec.serving_schema()
    offset = 0
    try:
        batches = prepared.collect_batches(chunk_size=batch_rows, engine="streaming")
        for batch in batches:
            hit = data_io.first_flagged(batch, flags)
            if hit is not None:
                raise bad_row_error(src, inputs, offset + hit[0], hit[1])
            frame = batch.select(list(inputs) or [data_io.ROW_ANCHOR])
            rows = frame.to_dicts()
            batch_out = spec.select(frame.lazy(), []).collect().to_dicts()
            _compare(spec, report, "data", offset, rows, _run_rows(evaluate, rows), batch_out)
            offset += batch.height
            if on_rows is not None:
                on_rows(batch.height)
    except data_io.READ_ERRORS as exc:
        raise FeatureDSLError(f"cannot read the data: {first_line(exc)}") from None


def check_rows(spec: Spec, rows: Sequence[dict], *, limit: int = 3,
               report: ParityReport | None = None, source: str = "edge-cases",
               sources: Mapping[str, object] | None = None) -> ParityReport:
    """Both backends over raw rows (dicts of Python values, NaN allowed). A spec with window
    aggregates reads the events of ``sources`` (none given: every source empty), batch
    against an online replay (:func:`replay`)."""
    report = report or ParityReport(spec.features, limit=limit)
    frame = frame_of(spec, rows)
    if spec.bound().windows:
        events = window_events(spec, sources)
        batch_out = spec.transform(frame, sources=events).to_dicts()
        times = _times(frame, spec.bound().time)
        _compare(spec, report, source, 0, rows, replay(spec, rows, times, events), batch_out)
        return report
    batch_out = spec.transform(frame).to_dicts()
    _compare(spec, report, source, 0, rows, _run_rows(spec.row_evaluator(), rows), batch_out)
    return report


# ------------------------------------------------------------------------------ windows


def check_windowed(spec: Spec, data: object, sources: Mapping[str, object] | None, *,
                   fmt: str | None = None, limit: int = 3,
                   on_rows: Callable[[int], None] | None = None) -> ParityReport:
    """Parity of a spec with window aggregates: the batch backend (``transform`` with the
    events of ``sources``) against the serving path, an online state replayed in time order
    (:func:`replay`). In memory: every row's window needs its key's history."""
    report = ParityReport(spec.features, limit=limit)
    inputs = spec.serving_schema()
    events = window_events(spec, sources)
    src = data_io.open_source(data, inputs, fmt)
    prepared_lf = data_io.prepare(src.lf, inputs, [], text=src.text, checks=True)
    try:
        prepared = prepared_lf.collect(engine="streaming")
    except data_io.READ_ERRORS as exc:
        raise FeatureDSLError(f"cannot read the data: {first_line(exc)}") from None
    frame = data_io.check(prepared, src.lf, inputs).select(list(inputs))
    rows = frame.to_dicts()
    batch_out = spec.transform(frame, sources=events).to_dicts()
    row_out = replay(spec, rows, _times(frame, spec.bound().time), events)
    _compare(spec, report, "data", 0, rows, row_out, batch_out)
    if on_rows is not None:
        on_rows(len(rows))
    return report


def window_events(spec: Spec, sources: Mapping[str, object] | None
                  ) -> dict[str, pl.DataFrame]:
    """The events of each source the spec's windows read, validated and widened (``None``:
    every source empty)."""
    bound = spec.bound()
    if sources is None:
        sources = {name: pl.DataFrame(schema={f: dtype_of(t) for f, t in s.fields.items()})
                   for name, s in bound.sources.items()
                   if any(w.source == name for w in bound.windows)}
    return prepare_sources(bound, sources)


def _times(frame: pl.DataFrame, time: str | None) -> list[int | None]:
    """The rows' times in µs since the epoch (the replay order)."""
    assert time is not None  # a spec with windows has a row time
    return frame.get_column(time).dt.epoch("us").to_list()


def replay(spec: Spec, rows: Sequence[dict], times: Sequence[int | None],
           events: Mapping[str, pl.DataFrame]) -> list[dict | Exception]:
    """The serving path over ``rows``: a fresh in-process online state, and the rows in time
    order (ties in row order), each evaluated after ingesting exactly the events of every
    source with a time before it (in (time, log) order), as a live server that received
    events and requests in time order would answer. Returns the outputs in row order."""
    state = spec.online_state()
    evaluate = spec.row_evaluator(state=state)
    logs = []
    for name, frame in events.items():
        tf = spec.bound().sources[name].time
        ordered = frame.with_row_index("__fd_log").sort(tf, "__fd_log").drop("__fd_log")
        logs.append((name, ordered.get_column(tf).dt.epoch("us").to_list(),
                     ordered.to_dicts(), [0]))
    order = sorted(range(len(rows)), key=lambda i: (times[i] is None, times[i] or 0, i))
    out: list[dict | Exception] = [{}] * len(rows)
    for i in order:
        t = times[i]
        for name, ev_times, ev_rows, at in logs:
            while at[0] < len(ev_rows) and (t is None or ev_times[at[0]] < t):
                state.ingest(name, ev_rows[at[0]])
                at[0] += 1
        out[i] = _run_rows(evaluate, [rows[i]])[0]
    return out


def frame_of(spec: Spec, rows: Sequence[dict]) -> pl.DataFrame:
    """A frame holding ``rows`` in the declared dtypes (naive datetimes are UTC)."""
    cols = []
    for name, t in spec.program.inputs.items():
        values = [r.get(name) for r in rows]
        dtype = dtype_of(t.base)
        if t.kind == "timestamp":
            s = pl.Series(name, values, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
        else:
            s = pl.Series(name, values, dtype=dtype, strict=False)
        cols.append(s)
    return pl.DataFrame(cols, schema={c.name: c.dtype for c in cols}, height=len(rows))


# ------------------------------------------------------------------------------ edge cases

_INTS = [0, 1, -1, 2, 3, 7, 10, 100, -100, 2**31 - 1, -(2**31), 2**53 + 1,
         2**63 - 1, -(2**63), -(2**63) + 1]
_FLOATS = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, 2.5, 2.675, 0.35, 1e-300, 5e-324, -5e-324,
           1e308, -1e308, 1.7976931348623157e308, math.inf, -math.inf, 9007199254740993.0]
_STRINGS = ["", " ", "a", "A", "US", "us", "Straße", "STRASSE", "ΣΟΦΙΑΣ", "ὈΔΥΣΣΕΎΣ",
            "İstanbul", "ǅ", "ﬁ", "日本", "🛒👍🏽", "\t\n", " padded ", "a\x00b", "e\u0301",
            "\u00e9", "1", "-0", "nan", "inf", "2024-01-01", "x" * 200]
_TIMESTAMPS = [dt.datetime(1970, 1, 1), dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
               dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
               dt.datetime(2024, 2, 29, 12), dt.datetime(2024, 3, 31, 1, 0),
               dt.datetime(2024, 10, 27, 0, 59, 59), dt.datetime(2038, 1, 19, 3, 14, 8),
               dt.datetime(2000, 1, 1), dt.datetime(2024, 12, 31, 23, 59, 59),
               dt.datetime(1900, 3, 1, 0, 0, 0, 1)]
_DATES = [dt.date(1970, 1, 1), dt.date(1969, 12, 31), dt.date(1, 1, 1), dt.date(9999, 12, 31),
          dt.date(2024, 2, 29), dt.date(2000, 3, 1)]
_DURATIONS = [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1),
              dt.timedelta(days=1), dt.timedelta(days=-1), dt.timedelta(seconds=59.5),
              dt.timedelta(days=10**8), dt.timedelta(days=-(10**8))]


def _spec_constants(spec: Spec) -> list[object]:
    """Every constant of the spec and of its fitted statistics (list elements included)."""
    out: list[object] = []
    exprs = [*spec.program.values.values(), *(s.expr for s in spec.program.stats.values())]
    for e in exprs:
        for node in ir.walk(e):
            if isinstance(node, ir.Const):
                out.append(node.value)
    if spec.is_fitted:
        out.extend(spec.fitted_statistics().values())
    flat: list[object] = []
    stack = list(out)
    while stack:
        v = stack.pop()
        if isinstance(v, list | tuple):
            stack.extend(v)
        elif v is not None:
            flat.append(v)
    return flat


def _pool(t: Type, consts: list[object]) -> Sequence[object]:
    k = t.kind
    if k == "int":
        near = [c + d for c in consts if type(c) is int for d in (-1, 0, 1)]
        near += [int(c) for c in consts if type(c) is float and math.isfinite(c)
                 and abs(c) < 2**62]
        return [v for v in dict.fromkeys(_INTS + near) if -(2**63) <= v < 2**63]
    if k == "float":
        nums = [float(c) for c in consts
                if (type(c) is int or type(c) is float) and abs(c) < 2**1000]
        close = [x for c in nums for x in (math.nextafter(c, -math.inf), c,
                                           math.nextafter(c, math.inf))]
        return list(dict.fromkeys(_FLOATS + close))
    if k == "string":
        strs = [c for c in consts if type(c) is str]
        variants = [v for s in strs for v in (s, s.upper(), s.title(), f" {s} ", s + "x")]
        return list(dict.fromkeys(_STRINGS + variants))
    if k == "bool":
        return [True, False]
    if k == "timestamp":
        return _TIMESTAMPS
    if k == "date":
        return _DATES
    if k == "duration":
        return _DURATIONS
    return []


def edge_case_rows(spec: Spec, n: int = 1000, seed: int = 0) -> list[dict]:
    """Deterministic generated rows for the spec's declared inputs (see the module doc).

    The first rows walk every column through its whole pool of values (so each value appears
    at least once), the rest draw at random; nullable columns get nulls (and NaN for floats)
    in about 15% of rows.
    """
    rng = random.Random(seed)
    consts = _spec_constants(spec)
    pools: dict[str, Sequence[object]] = {}
    for name, t in spec.program.inputs.items():
        base = t.elem if t.kind == "list" and t.elem is not None else t
        pools[name] = _pool(base, consts) or [None]
    walk = max((len(p) for p in pools.values()), default=0)
    rows: list[dict] = []
    for i in range(max(n, walk)):
        row: dict[str, object] = {}
        for name, t in spec.program.inputs.items():
            row[name] = _draw(rng, t, pools[name], i if i < walk else None)
        rows.append(row)
    return rows


def _scalar(rng: random.Random, t: Type, pool: Sequence[object], i: int | None) -> object:
    if t.nullable and rng.random() < 0.15:
        return math.nan if t.kind == "float" and rng.random() < 0.5 else None
    return pool[i % len(pool)] if i is not None else rng.choice(pool)


def _draw(rng: random.Random, t: Type, pool: Sequence[object], i: int | None) -> object:
    if t.kind == "list" and t.elem is not None:
        if t.nullable and rng.random() < 0.15:
            return None
        size = rng.choice([0, 1, 2, 3, 5])
        return [_scalar(rng, t.elem, pool, None) for _ in range(size)]
    return _scalar(rng, t, pool, i)
