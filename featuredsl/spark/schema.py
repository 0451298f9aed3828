"""Types across the Spark boundary: featuredsl types as Spark and Arrow types, the Spark
input schema checked on the driver by the local backend's own acceptance rules.

Spark hands a Python worker Arrow batches and reads the batches it gets back **by position**,
ignoring their column names, so every output batch is rebuilt here by name, in the declared
order, and cast to the declared Arrow types (:func:`conform`). A Spark ``TimestampType``
arrives labelled with the session time zone; the instants are UTC microseconds whatever the
label, and :mod:`featuredsl.data` converts any zone to UTC, so values never shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line
from featuredsl.types import Type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType


def arrow_type(t: Type) -> pa.DataType:
    """The Arrow type a featuredsl value crosses the boundary as (what Polars writes)."""
    if t.kind == "list":
        assert t.elem is not None
        return pa.list_(arrow_type(t.elem))
    return {
        "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
        "timestamp": pa.timestamp("us", "UTC"), "date": pa.date32(),
        "duration": pa.duration("us"), "null": pa.null(),
    }[t.kind]


def spark_type(t: Type) -> DataType:
    """The Spark SQL type of a featuredsl type (the table in docs/spark.md)."""
    from pyspark.sql import types as st

    if t.kind == "list":
        assert t.elem is not None
        return st.ArrayType(spark_type(t.elem), containsNull=True)
    return {
        "int": st.LongType(), "float": st.DoubleType(), "bool": st.BooleanType(),
        "string": st.StringType(), "timestamp": st.TimestampType(), "date": st.DateType(),
        "duration": st.DayTimeIntervalType(st.DayTimeIntervalType.DAY,
                                           st.DayTimeIntervalType.SECOND),
        "null": st.NullType(),
    }[t.kind]


def arrow_schema_of(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark hands a worker for ``schema`` (zones as UTC: same instants)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        return to_arrow_schema(schema, timezone="UTC")
    except Exception as exc:  # pyspark raises its own error types for unsupported types
        raise InputError(f"a column's Spark type has no Arrow form: {first_line(exc)}") \
            from None


def check_frame(df: DataFrame, inputs: Mapping[str, Type], keep: Sequence[str],
                what: str = "") -> pa.Schema:
    """Check a Spark DataFrame's schema against ``inputs`` (and ``keep=``) with the local
    backend's rules, before any job runs; its Arrow schema.

    A missing column or a type that cannot hold the input raises the ``InputError`` the local
    ``transform`` raises for the same column and type (``what`` prefixes it: a source)."""
    arrow = arrow_schema_of(df.schema)
    names = list(arrow.names)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{what}the Spark DataFrame has two columns named `{dupes[0]}`",
                         field=dupes[0])
    empty = pl.from_arrow(arrow.empty_table())
    assert isinstance(empty, pl.DataFrame)
    try:
        data_io.prepare(empty.lazy(), dict(inputs), list(keep))
    except InputError as exc:
        raise InputError(f"{what}{exc}", field=exc.field, expected=exc.expected) from None
    return arrow


def conform(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """``table``'s columns by *name*, in ``schema``'s order, cast to its types: what Spark
    reads by position. A missing column or an impossible cast is a bug, raised as such."""
    cols = []
    for field in schema:
        col = table.column(field.name)
        if col.type != field.type:
            col = col.cast(field.type)
        cols.append(col.combine_chunks() if col.num_chunks != 1 else col.chunk(0))
    return pa.RecordBatch.from_arrays(cols, schema=schema)
