"""What runs inside Spark's Python workers: the compiled spec cache and the batch functions.

A worker receives the artifact as its JSON text (never pickled code) and compiles it once per
process (:func:`spec_of`, keyed by the text's SHA-256), then runs the local batch backend on
each Arrow batch. A featuredsl error inside a worker is raised as a :class:`WorkerError`
whose message carries the original error as JSON between markers, so the driver can raise the
same ``InputError`` instead of a Py4J stack trace (:func:`featuredsl.spark.errors.translate`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from featuredsl.errors import ArtifactError, FeatureDSLError, InputError

if TYPE_CHECKING:
    from featuredsl.api import FittedSpec

MARK = "<<featuredsl-error>>"
_SPECS: dict[str, FittedSpec] = {}
_LOCK = threading.Lock()
#: rows gathered from Spark's batches (10,000 rows by default) before one local transform:
#: the per-call cost of validation and planning is paid per chunk, not per Spark batch
CHUNK_ROWS = 1 << 17


class WorkerError(RuntimeError):
    """A featuredsl error raised inside a Spark worker, encoded for the driver."""


def encode_error(exc: FeatureDSLError, offset: int = 0) -> WorkerError:
    """``exc`` as a :class:`WorkerError` the driver decodes back (kind, message, fields).

    A row number counts from ``offset`` (the rows of the partition before the failing chunk)
    and is named within its Spark partition: Spark has no global row order to count in."""
    message, row = str(exc), getattr(exc, "row", None)
    if row is not None:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        where = f" of Spark partition {ctx.partitionId()}" if ctx is not None else ""
        old = f", row {row}:"
        if old in message:
            message = message.replace(old, f", row {row + offset}{where}:", 1)
        row += offset
    doc = {"kind": type(exc).__name__, "message": message,
           "field": getattr(exc, "field", None), "row": row,
           "expected": getattr(exc, "expected", None)}
    return WorkerError(MARK + json.dumps(doc, ensure_ascii=True) + MARK)


def spec_of(text: str) -> FittedSpec:
    """The fitted spec of an artifact's JSON text, loaded (and checked) once per process."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    spec = _SPECS.get(digest)
    if spec is not None:
        return spec
    with _LOCK:
        if digest not in _SPECS:
            from featuredsl.api import load

            # the artifact loader reads files: a private temporary copy, removed at once
            fd, path = tempfile.mkstemp(prefix="featuredsl-spark-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                spec = load(path)
            finally:
                os.unlink(path)
            spec.batch_plan()  # compiled once here, not per batch
            _SPECS[digest] = spec
        return _SPECS[digest]


def chunks(batches: Iterable[pa.RecordBatch], rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
    """Spark's batches gathered into tables of about ``rows`` rows (never an empty one)."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for b in batches:
        if b.num_rows == 0:
            continue
        pending.append(b)
        size += b.num_rows
        if size >= rows:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def transform_batches(batches: Iterable[pa.RecordBatch], text: str, keep: list[str],
                      out: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``'s function: the features of every batch, conformed to ``out``."""
    from featuredsl.spark.schema import conform

    offset = 0
    try:
        spec = spec_of(text)
        for table in chunks(batches):
            got = spec.transform(table, keep=keep)
            yield conform(got.to_arrow(), out)
            offset += table.num_rows
    except (InputError, ArtifactError) as exc:
        raise encode_error(exc, offset) from None


def transform_cogroup(rows: pa.Table, events: pa.Table, text: str, keep: list[str],
                      out: pa.Schema, source: str, events_schema: pa.Schema) -> pa.Table:
    """``cogroup(...).applyInArrow``'s function: one key bucket's rows and every event of
    their keys, in the events' original order (ties among simultaneous events resolve as in
    one local frame)."""
    from featuredsl.spark.schema import conform

    if rows.num_rows == 0:
        return out.empty_table()
    try:
        spec = spec_of(text)
        if events.num_rows:
            events = events.sort_by("__fd_seq").select(list(events_schema.names))
        else:
            events = events_schema.empty_table()
        got = spec.transform(rows, keep=keep, sources={source: events})
        return pa.Table.from_batches([conform(got.to_arrow(), out)])
    except (InputError, ArtifactError) as exc:
        raise encode_error(exc) from None
