"""The log row layout, shared by the writer and the ``skew`` reader (docs/feature-log.md).

A log file holds, in this order: the metadata columns (``__request_id``, ``__ts``,
``__artifact``, ``__featuredsl_version``, ``__sample_rate``), one ``in.<input>`` column per
input the evaluator reads (the validated, typed values it saw), one ``out.<feature>`` column per
feature (the served values), then ``ctx.<name>`` per declared context field (strings). Inputs
and features have the batch backend's dtypes for their declared types, so a log file is a
table ``transform`` reads and its output is comparable column by column.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from featuredsl.backends.polars_backend import dtype_of

if TYPE_CHECKING:
    from featuredsl.api import Spec
    from featuredsl.types import Type

REQUEST_ID, TS, ARTIFACT, VERSION, SAMPLE_RATE = (
    "__request_id", "__ts", "__artifact", "__featuredsl_version", "__sample_rate")
META: dict[str, pl.DataType] = {
    REQUEST_ID: pl.String(), TS: pl.Datetime("us", "UTC"), ARTIFACT: pl.String(),
    VERSION: pl.String(), SAMPLE_RATE: pl.Float64()}
IN, OUT, CTX = "in.", "out.", "ctx."


def artifact_id(spec: Spec) -> str:
    """What a log row names its evaluator by: ``FittedSpec.artifact_hash`` (the artifact's
    ``integrity.sha256``); a spec never fitted (it has no statistics) has no artifact, so it is
    named ``spec-`` + the SHA-256 of its source text."""
    digest = getattr(spec, "artifact_hash", None)
    if isinstance(digest, str):
        return digest
    return "spec-" + hashlib.sha256(spec.source.encode()).hexdigest()


def input_types(spec: Spec) -> dict[str, Type]:
    """The inputs the row evaluator reads and hands to its observers, in that order."""
    return dict(spec.bound().inputs)


def schema(spec: Spec, context: tuple[str, ...] = ()) -> dict[str, pl.DataType]:
    """The column -> dtype of a log file of ``spec`` with these context fields."""
    out = dict(META)
    out.update({IN + n: dtype_of(t) for n, t in input_types(spec).items()})
    out.update({OUT + f.name: dtype_of(f.type) for f in spec.bound().features})
    out.update({CTX + c: pl.String() for c in context})
    return out


def arrow_type(t: Type, staging: bool = False) -> pa.DataType:
    """The Arrow type of a column of ``t`` (what :func:`dtype_of` reads back as), or with
    ``staging`` the type the row evaluator's observer values are read into before the cast:
    the hook hands timestamps as naive UTC datetimes (read as UTC) and durations as ints of
    µs (row_backend's ``RowObserver``)."""
    if t.kind == "list":
        assert t.elem is not None
        return pa.list_(arrow_type(t.elem, staging))
    if staging and t.kind == "duration":
        return pa.int64()
    return _ARROW[t.kind]


_ARROW: dict[str, pa.DataType] = {
    "int": pa.int64(), "float": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
    "duration": pa.duration("us"), "null": pa.null()}
