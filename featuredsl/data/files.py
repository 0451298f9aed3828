"""Streaming file-to-file transform: read a data file, write its features, in bounded memory.

:func:`transform_file` is what ``featuredsl transform`` runs. It reads Parquet, CSV, Arrow IPC
or NDJSON (:mod:`featuredsl.data`) and writes any of them with Polars' sinks on the streaming
engine, so memory does not grow with the input (measured in benchmarks/README.md).

One pass, with validation. ``Spec.transform_lazy`` cannot raise for bad values while Polars
streams (a null in a non-nullable column would silently compute as null). Here the per-row
check flags of :func:`featuredsl.data.prepare` are computed in the same streaming select as
the features, and each batch Polars yields (``collect_batches`` on the streaming engine) is
checked and then appended to the output. The first flagged row stops the run: the output is
discarded and an ``InputError`` names the column, the row (0-based, in the input file) and
the expected type, exactly as ``Spec.transform`` does. ``on_bad_data="null"`` skips the checks
and keeps ``transform_lazy``'s behaviour (a bad value computes as null). Rows are counted per
batch for the progress display.

Why batches through Python rather than Polars' ``sink_*``: a second consumer of the stream
(a side sink for the flags, in one ``collect_all``) made Polars buffer between the two
consumers, and peak memory grew with the input (75% of its in-memory size at 8M rows, against
20% for a single stream). One stream with the writer in the loop keeps one consumer.
Parquet and IPC are written by pyarrow's incremental writers, CSV and NDJSON by Polars'
writers appending to one file handle.

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
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Protocol

import polars as pl

from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line

if TYPE_CHECKING:
    from featuredsl.api import Spec

#: Data formats by name, with the extensions that select them (in and out).
FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv",),
    "ipc": (".arrow", ".ipc", ".feather"),
    "ndjson": (".ndjson", ".jsonl"),
}
_INF = "__fd_inf_{}"


def format_of(path: str | Path, fmt: str | None = None, what: str = "output") -> str:
    """The data format of ``path``: ``fmt`` if given, else by extension (``InputError``)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown {what} format `{fmt}`; use one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    for name, exts in FORMATS.items():
        if suffix in exts:
            return name
    known = ", ".join(e for exts in FORMATS.values() for e in exts)
    raise InputError(f"{path}: cannot tell the {what} format from the extension "
                     f"`{suffix or '(none)'}`; use a file ending in one of {known}")


class _ArrowWriter(Protocol):
    """What ``pyarrow.parquet.ParquetWriter`` and ``pyarrow.ipc.new_file`` give."""

    def write_table(self, table: object) -> None:
        """Append one table (a row group / record batches)."""

    def close(self) -> None:
        """Write the footer and close the file."""


class _Writer:
    """Appends batches to one file of a format; the file is complete after ``close``.

    Parquet and Arrow IPC go through pyarrow's incremental writers (one row group or record
    batch per batch), CSV and NDJSON through Polars' own writers appending to one handle, so
    the values are written exactly as ``DataFrame.write_*`` writes them.
    """

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._fh: IO[bytes] | None = None
        self._writer: _ArrowWriter | None = None

    def write(self, df: pl.DataFrame) -> None:
        if self.fmt in ("parquet", "ipc"):
            table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
            if self._writer is None:
                self._writer = self._open_arrow(table.schema)
            self._writer.write_table(table)
            return
        if self._fh is None:
            self._fh = open(self.path, "wb")
            if self.fmt == "csv":
                df.write_csv(self._fh)
                return
        if self.fmt == "csv":
            df.write_csv(self._fh, include_header=False)
        else:
            df.write_ndjson(self._fh)

    def _open_arrow(self, schema: object) -> _ArrowWriter:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.path, schema, compression="zstd")
        import pyarrow.ipc as ipc

        return ipc.new_file(self.path, schema)

    def close(self, empty: pl.DataFrame) -> None:
        """Finish the file; with no batch written, write ``empty`` (the schema, no rows)."""
        if self._writer is None and self._fh is None:
            self.write(empty)
        if self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()


@contextmanager
def interrupt_guard() -> Iterator[Callable[[], None]]:
    """Make Ctrl-C during a streaming query reliably raise ``KeyboardInterrupt``.

    Polars' streaming engine can react to SIGINT by ending the query early, so that a batch
    iterator simply stops, as if the data had ended (seen with ``collect_batches``: an
    interrupted transform wrote a truncated file and reported success). Inside the guard a
    SIGINT is also recorded; the yielded ``check()`` raises ``KeyboardInterrupt`` if one came,
    to be called after the loop and before anything is committed. A SIGINT interrupts even
    where it was ignored (a background job of a script): Polars' engine stops on it anyway,
    so ignoring it would commit a truncated result. Outside the main thread (where signal
    handlers cannot be set) the guard does nothing.
    """
    seen = threading.Event()

    def check() -> None:
        if seen.is_set():
            raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread():
        yield check
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.set()
        if callable(previous):
            previous(signum, frame)  # the default handler raises KeyboardInterrupt
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_writable(schema: pl.Schema, fmt: str) -> None:
    if fmt != "csv":
        return
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Duration | pl.List | pl.Array | pl.Struct | pl.Object):
            raise InputError(f"column `{name}` ({dtype}) cannot be written to CSV: write "
                             "Parquet, Arrow IPC or NDJSON instead", field=name)


def transform_file(spec: Spec, data: str | Path, out: str | Path, *,
                   keep: Iterable[str] | None = None, input_format: str | None = None,
                   output_format_: str | None = None, on_bad_data: str = "error",
                   on_rows: Callable[[int], None] | None = None,
                   sources: Mapping[str, object] | None = None) -> int:
    """Stream ``data`` (a file) through ``spec`` into ``out``; return the number of rows.

    ``keep``: input-file columns copied to the output before the features. ``on_bad_data``:
    ``"error"`` (default) raises ``InputError`` for the first bad value (column, row, expected
    type) and leaves no output; ``"null"`` computes bad values as null (``transform_lazy``).
    ``on_rows(n)`` is called after each batch of ``n`` rows is written (progress).

    A spec with window aggregates reads its events from ``sources`` (as
    ``Spec.transform``). Every row's window needs its key's whole history, so such a
    transform is computed in memory by ``Spec.transform`` (validated whole, no
    ``on_bad_data="null"``) and then written batch by batch like the streaming one.
    """
    if on_bad_data not in ("error", "null"):
        raise InputError(f"on_bad_data must be 'error' or 'null', got {on_bad_data!r}")
    fmt = format_of(out, output_format_)
    keep_names = spec.keep_list(keep)
    out_path = _checked_output(out)
    if spec.bound().windows or sources:
        return _transform_windowed(spec, data, out_path, fmt, keep_names, input_format,
                                   on_bad_data, on_rows, sources)
    plan = spec.batch_plan()
    inputs = spec.serving_schema()
    src = data_io.open_source(data, inputs, input_format)
    checks = on_bad_data == "error"
    prepared = data_io.prepare(src.lf, inputs, keep_names, text=src.text, checks=checks)
    flags = data_io.flag_columns(prepared.collect_schema())
    kept = [pl.col(f"__fd_keep_{i}").alias(k) for i, k in enumerate(keep_names)]
    names = [*keep_names, *spec.features]
    schema = plan.apply(prepared, kept).collect_schema()
    _check_writable(schema, fmt)
    # The flags ride along in the same select as the features (one stream, one reader).
    stream = plan.apply(prepared, [*kept, *(pl.col(f) for f in flags)])
    watched = list(flags)
    if fmt == "ndjson":  # Polars writes +-inf as null in NDJSON: refuse to change a value
        infs = [pl.col(name).is_infinite().fill_null(False).alias(_INF.format(i))
                for i, (name, dtype) in enumerate(schema.items())
                if dtype == pl.Float64 and name in spec.features]
        stream = stream.with_columns(infs)
        watched += [e.meta.output_name() for e in infs]

    def batches() -> Iterator[pl.DataFrame]:
        rows = 0
        try:
            for batch in stream.collect_batches(engine="streaming", maintain_order=True):
                hit = data_io.first_flagged(batch, watched)
                if hit is not None:
                    raise bad_row_error(src, inputs, rows + hit[0], hit[1], schema=schema)
                rows += batch.height
                yield batch.select(names)
        except data_io.READ_ERRORS as exc:
            raise InputError(f"{data}: cannot process the data: {first_line(exc)}") from None

    return _write_atomic(out_path, fmt, schema, batches(), on_rows,
                         lambda rows: check_every_row_read(src, data, rows))


def _checked_output(out: str | Path) -> Path:
    out_path = Path(out)
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out_path}: the directory {parent} does not exist")
    return out_path


def _write_atomic(out_path: Path, fmt: str, schema: pl.Schema,
                  batches: Iterator[pl.DataFrame], on_rows: Callable[[int], None] | None,
                  verify: Callable[[int], None]) -> int:
    """Write ``batches`` to a temporary file next to ``out_path``, ``verify`` the row count,
    then rename into place: a failed or interrupted run leaves no file under the name."""
    parent = out_path.parent if str(out_path.parent) else Path(".")
    fd_, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=parent)
    os.close(fd_)
    rows = 0
    try:
        writer = _Writer(tmp, fmt)
        with interrupt_guard() as interrupted:
            try:
                for batch in batches:
                    writer.write(batch)
                    rows += batch.height
                    if on_rows is not None:
                        on_rows(batch.height)
            finally:
                writer.close(pl.DataFrame(schema=schema))
            interrupted()  # a stream that ended because of Ctrl-C is not a complete output
        verify(rows)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return rows


def _transform_windowed(spec: Spec, data: str | Path, out_path: Path, fmt: str,
                        keep_names: list[str], input_format: str | None, on_bad_data: str,
                        on_rows: Callable[[int], None] | None,
                        sources: Mapping[str, object] | None) -> int:
    """``transform_file`` for a spec with window aggregates: ``Spec.transform`` in memory
    (each row's window needs its key's history), then written in batches."""
    if on_bad_data != "error":
        raise InputError("on_bad_data='null' is not available for a spec with window "
                         "aggregates: its rows and events are validated whole")
    if input_format is not None and Path(data).suffix.lower() not in FORMATS[input_format]:
        raise InputError(f"{data}: with window sources the data is read by its extension; "
                         f"name the file *{FORMATS[input_format][0]}")
    frame = spec.transform(data, keep_names, sources=sources)
    schema = frame.schema
    _check_writable(schema, fmt)
    if fmt == "ndjson":
        for name, dtype in schema.items():
            if dtype == pl.Float64 and name in spec.features:
                bad = frame.get_column(name).is_infinite().fill_null(False).arg_true()
                if len(bad):
                    raise _infinite_in_ndjson(name, int(bad[0]))
    src = data_io.open_source(data, spec.serving_schema(), input_format)
    return _write_atomic(out_path, fmt, schema, frame.iter_slices(_WRITE_ROWS), on_rows,
                         lambda rows: check_every_row_read(src, data, rows))


#: Rows per written batch of an in-memory (windowed) transform.
_WRITE_ROWS = 65_536


def check_every_row_read(src: data_io.Source, data: object, written: int,
                         done: str = "computed", outcome: str = "; no output written") -> None:
    """Rows written (``done``) must equal rows read: a streaming batch must never vanish
    silently (a Polars panic inside a batch used to drop it and report success). Counting is a
    metadata read for Parquet and IPC, a fast line count for CSV and NDJSON."""
    try:
        read = src.lf.select(pl.len()).collect(engine="streaming").item()
    except data_io.READ_ERRORS as exc:
        raise InputError(f"{data}: cannot count the input rows: {first_line(exc)}") from None
    if read != written:
        raise InputError(f"{data}: {read:,} rows read but {written:,} {done} (a batch was "
                         f"lost inside Polars){outcome}")


def bad_row_error(src: data_io.Source, inputs: dict, row: int, flag: str,
                  schema: pl.Schema | None = None) -> InputError:
    """The error for a row flagged by ``data.prepare(checks=True)`` (or an infinity flag over
    the output ``schema``): the same message ``Spec.transform`` gives."""
    kind, i = flag[len("__fd_"):].rsplit("_", 1)
    if kind == "inf":
        assert schema is not None
        return _infinite_in_ndjson(list(schema)[int(i)], row)
    return data_io.flag_error(src.lf, inputs, row, flag)


def _infinite_in_ndjson(name: str, row: int) -> InputError:
    return InputError(f"feature `{name}`, row {row}: an infinite value, which NDJSON cannot "
                      "hold (Polars would write null); write Parquet, Arrow IPC or CSV",
                      field=name, row=row)
