"""The batch twin of the serving monitor: ``profile_rows(fitted, data)`` (SPEC 10).

The same snapshot a ``Monitor(fitted, sample_every=1)`` gives for the same rows, computed
with Polars: the inputs are read and checked as ``transform`` does (a bad row is an
``InputError`` naming it; the checks' flags are aggregated in the same query, so a file is
read once, streaming), the features computed with the inputs kept beside them, then every
count of every field is one aggregate of one query (:func:`count_exprs`): counts and nulls,
bins by summing ``x >= edge`` comparisons (``bucketize`` semantics without ``cut``, whose edge
rules differ), out-of-range counts, and ``value_counts`` for the top values of categorical
fields and for the first :data:`~featuredsl.monitor.snapshot.OOV_TRACKED` distinct values
outside them in row order (what one monitor accumulator keeps; imploded into the one row of
results).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal

import polars as pl

from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line
from featuredsl.monitor.snapshot import OOV_TRACKED, FieldLayout, Layout, layout_of
from featuredsl.windows import batch as window_batch
from featuredsl.windows.sources import prepare_sources

#: The kept input columns beside the features (a feature name is an identifier: no clash).
_IN = "\x00in:"
#: The count field of ``value_counts`` (a name no column has).
_N = "\x00n"


def profile_rows(fitted: Any, data: object,
                 sources: Mapping[str, object] | None = None) -> dict[str, object]:
    """The monitor snapshot of ``data``'s rows (``sample_every`` 1): equal, byte for byte in
    its JSON, to the snapshot of a ``Monitor(fitted, sample_every=1)`` that served them.

    ``data`` is anything ``transform`` reads (DataFrame, LazyFrame, file path...);
    ``sources`` the window sources of a spec with window aggregates. Bad input raises
    ``InputError`` (the whole table is refused, as ``transform`` refuses it)."""
    layout = layout_of(fitted)
    frame, flags, recheck = _features_with_inputs(fitted, data, sources)
    exprs, readers = count_exprs(layout, frame.collect_schema())
    # the bad-row flags of the checks ride in the same query: any set, and the data is
    # checked the usual way, which raises the InputError naming the first bad row
    exprs += [pl.col(f).any().alias(f"flag{i}") for i, f in enumerate(flags)]
    try:
        row = frame.select(exprs).collect(engine="streaming").row(0)
    except data_io.READ_ERRORS as exc:
        raise InputError(f"cannot compute the monitor counts: {first_line(exc)}") from None
    if any(row[len(exprs) - len(flags):]):
        recheck()
    flat, oovs = layout.empty()
    flat[0] = int(row[0])
    for read in readers:
        read(row, flat, oovs)
    return layout.snapshot(flat, oovs, 1, {})


def _features_with_inputs(fitted: Any, data: object, sources: Mapping[str, object] | None
                          ) -> tuple[pl.LazyFrame, list[str], Callable[[], object]]:
    """The features of ``data`` beside its widened inputs (``transform``'s path), the names
    of the bad-row flag columns kept beside them, and what checks the data when one is set.

    Without window aggregates it stays lazy (a file is streamed once); the windows need every
    row's history, so a spec with them checks and collects the rows first, as ``transform``
    does."""
    fitted.feature_exprs()
    bound = fitted.bound()
    events = prepare_sources(bound, sources) if bound.windows else None
    if sources and not bound.windows:
        raise InputError(f"sources= given ({', '.join(sources)}) but the spec has no window "
                         "aggregates to read them")
    inputs = fitted.serving_schema()
    src = data_io.open_source(data, inputs)
    prepared_lf = data_io.prepare(src.lf, inputs, [], text=src.text, checks=True)
    engine: Literal["streaming", "in-memory"] = (
        "streaming" if src.path is not None or isinstance(data, pl.LazyFrame) else "in-memory")

    def collect_checked() -> pl.DataFrame:
        try:
            prepared = prepared_lf.collect(engine=engine)
        except data_io.READ_ERRORS as exc:
            where = f"{src.path}: " if src.path is not None else ""
            raise InputError(f"{where}cannot read the data: {first_line(exc)}") from None
        return data_io.check(prepared, src.lf, inputs)

    kept = [pl.col(n).alias(_IN + n) for n in bound.inputs]
    plan = fitted.batch_plan()
    if events is None:
        flags = data_io.flag_columns(prepared_lf.collect_schema().names())
        return (plan.apply(prepared_lf, kept + [pl.col(f) for f in flags]), flags,
                collect_checked)
    prepared = collect_checked()
    try:
        prepared = window_batch.compute(prepared, bound, events)
    except data_io.READ_ERRORS as exc:
        raise InputError(f"cannot compute the windows: {first_line(exc)}") from None
    return plan.apply(prepared.lazy(), kept), [], collect_checked


Reader = Any  # (row, flat, oovs) -> None


def count_exprs(layout: Layout, schema: Mapping[str, pl.DataType]
                ) -> tuple[list[pl.Expr], list[Reader]]:
    """One aggregate expression per count of ``layout`` over a frame of ``schema`` (inputs as
    ``\\x00in:<name>`` columns, features by name), and the readers that put the row of
    results into the flat counters. The first expression is the row count."""
    exprs: list[pl.Expr] = [pl.len().alias("rows")]
    readers: list[Reader] = []
    for prefix, fields in ((_IN, layout.inputs), ("", layout.features)):
        for f in fields:
            col = prefix + f.name
            _field_exprs(f, pl.col(col), schema[col], exprs, readers)
    return exprs, readers


def _field_exprs(f: FieldLayout, c: pl.Expr, dtype: pl.DataType, exprs: list[pl.Expr],
                 readers: list[Reader], nulls: bool = True) -> None:
    o = f.offset

    def scalar(e: pl.Expr, slot: int) -> None:
        i = len(exprs)
        exprs.append(e.cast(pl.Int64).alias(f"c{i}"))

        def read(row: tuple, flat: list[int], oovs: list[dict]) -> None:
            flat[slot] = int(row[i] or 0)
        readers.append(read)

    if nulls:
        scalar(c.null_count(), o)
    if f.kind == "list":
        assert f.length is not None
        # the lengths' nulls are the list's (FieldLayout.counts)
        _field_exprs(f.length, c.list.len().cast(pl.Int64), pl.Int64(), exprs, readers,
                     nulls=False)
    elif f.kind == "numeric":
        # slot j counts the values with exactly j cuts <= them (bisect_right); a null stays
        # null through `+` (sum_horizontal would count it as 0)
        index = functools.reduce(operator.add, [(c >= e).cast(pl.Int32) for e in f.cuts],
                                 pl.when(c.is_not_null()).then(pl.lit(0, pl.Int32)))
        for j in range(len(f.cuts) + 1):
            scalar((index == j).sum(), o + 1 + j)
    elif f.kind == "range":
        lo, hi = (_bound(v, f.temporal, dtype) for v in (f.lo, f.hi))
        scalar((c < lo).sum(), o + 1)
        scalar((c > hi).sum(), o + 2)
    elif f.kind == "categorical":
        # The monitor keeps exact counts of the first OOV_TRACKED distinct outside values it
        # sees (a later new value is counted in `oov` only): in row order, the same values.
        top = c.is_in(pl.lit(pl.Series(list(f.top), dtype=dtype)).implode())
        outside = c.filter(c.is_not_null() & ~top)
        first = outside.unique(maintain_order=True).head(OOV_TRACKED).implode()
        i = len(exprs)
        exprs.append(c.filter(top).value_counts(sort=False, name=_N).implode().alias(f"c{i}"))
        exprs.append(outside.filter(outside.is_in(first)).value_counts(sort=False, name=_N)
                     .implode().alias(f"c{i + 1}"))

        def read_values(row: tuple, flat: list[int], oovs: list[dict]) -> None:
            for item in row[i] or ():
                n = item.pop(_N)
                (v,) = item.values()  # the value's field is named after the column
                flat[f.slots[v]] = n
            tracked = oovs[f.oov_index]
            for item in row[i + 1] or ():
                n = item.pop(_N)
                (v,) = item.values()
                tracked[v] = n
        readers.append(read_values)


def _bound(v: object, kind: str, dtype: pl.DataType) -> pl.Expr:
    """A temporal bound as a literal of the column's dtype (aware UTC for a zoned column)."""
    if kind == "duration":
        assert isinstance(v, int)
        return pl.lit(dt.timedelta(microseconds=v), pl.Duration("us"))
    if kind == "timestamp":
        assert isinstance(v, dt.datetime)
        zone = getattr(dtype, "time_zone", None)
        return pl.lit(v, pl.Datetime("us")).dt.replace_time_zone(zone) if zone \
            else pl.lit(v, pl.Datetime("us"))
    return pl.lit(v, pl.Date)
