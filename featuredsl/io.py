"""Streaming file-to-file transform: read a data file, write its features, in bounded memory.

:func:`transform_file` is what ``featuredsl transform`` runs. It reads Parquet, CSV, Arrow IPC
or NDJSON (:mod:`featuredsl.data`) and writes any of them with Polars' sinks on the streaming
engine, so memory does not grow with the input (measured in benchmarks/README.md).

One pass, with validation. ``Spec.transform_lazy`` cannot raise for bad values while Polars
streams (a null in a non-nullable column would silently compute as null). Here the same lazy
plan feeds two sinks in one ``collect_all``: the output file, and a small side stream of the
per-row check flags of :func:`featuredsl.data.prepare` that a Python callback watches batch by
batch (rows are counted there too, for the progress display). Polars shares the common plan
between the two sinks, so the data is read and computed once. If a flag is set, the output is
discarded and an ``InputError`` names the column, the row (0-based, in the input file) and
the expected type, exactly as ``Spec.transform`` does. ``on_bad_data="null"`` skips the checks
and keeps ``transform_lazy``'s behaviour (a bad value computes as null).

The output is written to a temporary file next to ``out`` and renamed into place only on
success: a failed or interrupted run never leaves a partial file under the requested name.

Format limits, checked before anything runs:

- CSV cannot hold durations, lists or nested values: write Parquet, IPC or NDJSON instead.
- NDJSON: Polars writes +-inf as ``null``; a float feature that holds an infinity would change
  value in the file, so that is an ``InputError`` naming the feature and the row (use Parquet,
  IPC or CSV, which keep infinities).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from featuredsl import data as data_io
from featuredsl.errors import InputError

if TYPE_CHECKING:
    from featuredsl.api import Spec

#: Output formats by name, with the extensions that select them.
OUTPUT_FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv",),
    "ipc": (".arrow", ".ipc", ".feather"),
    "ndjson": (".ndjson", ".jsonl"),
}
_INF = "__fd_inf_{}"


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """The output format for ``path``: ``fmt`` if given, else by extension."""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format `{fmt}`; use one of "
                             f"{', '.join(OUTPUT_FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    for name, exts in OUTPUT_FORMATS.items():
        if suffix in exts:
            return name
    known = ", ".join(e for exts in OUTPUT_FORMATS.values() for e in exts)
    raise InputError(f"{path}: unknown output format `{suffix or '(no extension)'}`; use a "
                     f"file ending in one of {known}")


def _sink(lf: pl.LazyFrame, path: str, fmt: str) -> pl.LazyFrame:
    kw: dict[str, object] = {"lazy": True, "engine": "streaming", "maintain_order": True}
    if fmt == "parquet":
        return lf.sink_parquet(path, **kw)  # type: ignore[arg-type,return-value]
    if fmt == "csv":
        return lf.sink_csv(path, check_extension=False, **kw)  # type: ignore[arg-type,return-value]
    if fmt == "ipc":
        return lf.sink_ipc(path, **kw)  # type: ignore[arg-type,return-value]
    return lf.sink_ndjson(path, check_extension=False, **kw)  # type: ignore[arg-type,return-value]


def _check_writable(schema: pl.Schema, fmt: str) -> None:
    if fmt != "csv":
        return
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Duration | pl.List | pl.Array | pl.Struct | pl.Object):
            raise InputError(f"column `{name}` ({dtype}) cannot be written to CSV: write "
                             "Parquet, Arrow IPC or NDJSON instead", field=name)


class _Watch:
    """The side-stream callback: counts rows, remembers the first flagged row."""

    def __init__(self, flags: list[str], on_rows: Callable[[int], None] | None) -> None:
        self.flags = flags
        self.on_rows = on_rows
        self.rows = 0
        self.first: tuple[int, str] | None = None  # (row, flag column)

    def __call__(self, batch: pl.DataFrame) -> bool | None:
        if self.first is None and self.flags:
            hits = batch.select(pl.col(f).arg_true().first().alias(f) for f in self.flags).row(0)
            found = [(r, f) for r, f in zip(hits, self.flags, strict=True) if r is not None]
            if found:
                r, f = min(found)
                self.first = (self.rows + r, f)
        self.rows += batch.height
        if self.on_rows is not None:
            self.on_rows(batch.height)
        return None


def transform_file(spec: Spec, data: str | Path, out: str | Path, *,
                   keep: Iterable[str] | None = None, input_format: str | None = None,
                   output_format_: str | None = None, on_bad_data: str = "error",
                   on_rows: Callable[[int], None] | None = None) -> int:
    """Stream ``data`` (a file) through ``spec`` into ``out``; return the number of rows.

    ``keep``: input-file columns copied to the output before the features. ``on_bad_data``:
    ``"error"`` (default) raises ``InputError`` for the first bad value (column, row, expected
    type) and writes nothing; ``"null"`` computes bad values as null (``transform_lazy``).
    ``on_rows(n)`` is called as batches of ``n`` rows are processed (progress).
    """
    if on_bad_data not in ("error", "null"):
        raise InputError(f"on_bad_data must be 'error' or 'null', got {on_bad_data!r}")
    fmt = output_format(out, output_format_)
    keep_names = spec._keep_list(keep)
    plan = spec.batch_plan()
    inputs = spec.program.inputs
    src = data_io.open_source(data, inputs, input_format)
    checks = on_bad_data == "error"
    prepared = data_io.prepare(src.lf, inputs, keep_names, text=src.text, checks=checks)
    flags = [c for c in prepared.collect_schema() if c.startswith(("__fd_fail_", "__fd_null_"))]
    kept = [pl.col(f"__fd_keep_{i}").alias(k) for i, k in enumerate(keep_names)]
    combined = plan.apply(prepared, [*kept, *(pl.col(f) for f in flags)])
    names = [*keep_names, *spec.features]
    schema = combined.select(names).collect_schema()
    _check_writable(schema, fmt)
    watched = list(flags)
    side_exprs: list[pl.Expr] = [pl.col(f) for f in flags]
    if fmt == "ndjson":  # Polars writes +-inf as null in NDJSON: refuse to change a value
        for i, (name, dtype) in enumerate(schema.items()):
            if dtype == pl.Float64 and name in spec.features:
                side_exprs.append(pl.col(name).is_infinite().fill_null(False)
                                  .alias(_INF.format(i)))
                watched.append(_INF.format(i))
    if not side_exprs:  # nothing to check: a cheap column still carries the row counts
        side_exprs = [pl.col(names[0]).is_null().alias("__fd_rows")] if names \
            else [pl.lit(True).alias("__fd_rows")]
    watch = _Watch(watched, on_rows)

    out_path = Path(out)
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out_path}: the directory {parent} does not exist")
    fd_, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=parent)
    os.close(fd_)
    try:
        main = _sink(combined.select(names), tmp, fmt)
        side = combined.select(side_exprs).sink_batches(
            watch, lazy=True, engine="streaming", maintain_order=True)
        try:
            pl.collect_all([main, side], engine="streaming")
        except data_io.READ_ERRORS as exc:
            raise InputError(f"{data}: cannot process the data: "
                             f"{data_io._first_line(exc)}") from None
        if watch.first is not None:
            raise bad_row_error(src, inputs, *watch.first, schema=schema)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return watch.rows


def bad_row_error(src: data_io.Source, inputs: dict, row: int, flag: str,
                  schema: pl.Schema | None = None) -> InputError:
    """The error for a row flagged by ``data.prepare(checks=True)`` (or an infinity flag over
    the output ``schema``): the same message ``Spec.transform`` gives."""
    kind, i = flag[len("__fd_"):].rsplit("_", 1)
    if kind == "inf":
        assert schema is not None
        name = list(schema)[int(i)]
        return InputError(f"feature `{name}`, row {row}: an infinite value, which NDJSON cannot "
                          "hold (Polars would write null); write Parquet, Arrow IPC or CSV",
                          field=name, row=row)
    name, t = list(inputs.items())[int(i)]
    raw = src.lf.select(pl.col(name)).slice(row, 1).collect(engine="streaming")
    value = raw.item() if raw.height else None
    if kind == "fail":
        return data_io._conversion_error(name, row, t, value)
    outer = value is None or (isinstance(value, float) and value != value)
    return data_io._null_error(name, row, t, outer)
