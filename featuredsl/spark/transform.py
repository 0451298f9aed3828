"""``featuredsl.spark.transform``: the batch backend inside Spark's Python workers.

The rows go through ``mapInArrow``: each worker runs the local ``FittedSpec.transform`` on its
Arrow batches (the same compiled Polars plan, so the same values), and the result is rebuilt
by name and cast to the declared schema before Spark reads it by position. With window
aggregates, rows and events are hashed by key into buckets and each bucket's rows and events
meet in one ``cogroup``: a key's whole history is evaluated in one place (docs/spark.md).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

from featuredsl import ir
from featuredsl.errors import FeatureDSLError, InputError, NotFittedError
from featuredsl.spark import worker
from featuredsl.spark.schema import arrow_type, check_frame, spark_type
from featuredsl.types import Type

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.pandas.group_ops import PandasCogroupedOps
    from pyspark.sql.types import StructType

    from featuredsl.api import Spec

_BUCKET = "__fd_bucket"
_SEQ = "__fd_seq"


def artifact_text(fitted: Spec) -> str:
    """The artifact of a fitted spec (or of a spec without statistics) as JSON text: what
    travels to the workers."""
    from featuredsl.api import FittedSpec, Spec

    if not isinstance(fitted, Spec):
        raise FeatureDSLError("featuredsl.spark takes a fitted spec (featuredsl.load(...) or "
                              f"spec.fit(...)), got {type(fitted).__name__}")
    if not fitted.is_fitted:
        raise NotFittedError(fitted.statistics)
    if not isinstance(fitted, FittedSpec):
        fitted = FittedSpec(fitted.source, fitted.file, fitted.program, fitted.diagnostics,
                            fitted.fitted_statistics())
    fd, path = tempfile.mkstemp(prefix="featuredsl-spark-", suffix=".json")
    os.close(fd)
    try:
        fitted.save(path)
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def col(name: str) -> Column:
    """A top-level column by its exact name (dots and backticks are not paths)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def output_schema(fitted: Spec, df: DataFrame, keep: list[str]) -> StructType:
    """The Spark schema of the result: kept columns as they are, then every feature."""
    from pyspark.sql.types import StructField, StructType

    fields = [df.schema[k] for k in keep]
    fields += [StructField(f.name, spark_type(f.expr.type), nullable=True)
               for f in fitted.program.features]
    return StructType(fields)


def _arrow_out(fitted: Spec, df: DataFrame, keep: list[str]) -> pa.Schema:
    from featuredsl.spark.schema import arrow_schema_of

    kept = arrow_schema_of(df.select([col(k) for k in keep]).schema) if keep else pa.schema([])
    return pa.schema([*kept, *(pa.field(f.name, arrow_type(f.expr.type))
                               for f in fitted.program.features)])


def transform(fitted: Spec, df: DataFrame, keep: Iterable[str] | str | None = None,
              sources: Mapping[str, DataFrame] | None = None) -> DataFrame:
    """The features of a Spark DataFrame, as a Spark DataFrame (lazy, like any Spark plan).

    Kept columns then features, with the types of docs/spark.md; the values are those of
    ``fitted.transform`` on the same rows. The schema is checked now (``InputError`` naming the
    column and the expected type); a bad value is found when the plan runs, inside a worker:
    run actions inside :func:`featuredsl.spark.errors.translate` (``featuredsl.spark.collect``
    and ``write_parquet`` do) to get the same ``InputError`` back. With window aggregates,
    ``sources`` maps each source to a Spark DataFrame of its events, and the rows come back
    grouped by key bucket (order is not kept: keep an id column to join on)."""
    from pyspark.sql import DataFrame as SparkFrame

    text = artifact_text(fitted)
    if not isinstance(df, SparkFrame):
        raise InputError(f"featuredsl.spark.transform takes a Spark DataFrame, got "
                         f"{type(df).__name__} (use fitted.transform for local data)")
    keep_list = fitted.keep_list(keep)
    bound = fitted.bound()
    inputs = fitted.serving_schema()
    check_frame(df, inputs, keep_list)
    out_arrow = _arrow_out(fitted, df, keep_list)
    out_schema = output_schema(fitted, df, keep_list)
    needed = list(dict.fromkeys([*keep_list, *inputs]))
    rows = df.select([col(n) for n in needed])
    if not bound.windows:
        if sources:
            raise InputError(f"sources= given ({', '.join(sources)}) but the spec has no "
                             "window aggregates to read them")
        fn = functools.partial(worker.transform_batches, text=text, keep=keep_list,
                               out=out_arrow)
        return rows.mapInArrow(fn, out_schema)
    return _windowed(fitted, bound, rows, dict(sources or {}), text, keep_list, out_arrow,
                     out_schema)


def _windowed(fitted: Spec, bound: ir.BoundProgram, rows: DataFrame,
              sources: dict[str, DataFrame], text: str, keep: list[str], out_arrow: pa.Schema,
              out_schema: StructType) -> DataFrame:
    grouped, name, ev_arrow = cobucket(fitted.program, list(bound.windows), rows, sources)
    fn = functools.partial(worker.transform_cogroup, text=text, keep=keep, out=out_arrow,
                           source=name, events_schema=ev_arrow)
    return grouped.applyInArrow(fn, out_schema)


def cobucket(program: ir.Program, windows: list[ir.Window], rows: DataFrame,
             sources: Mapping[str, DataFrame]) -> tuple[PandasCogroupedOps, str, pa.Schema]:
    """Rows and events hashed by key into the same buckets, grouped for one ``cogroup``: each
    key's rows meet every event of that key (docs/spark.md, Windows). The events keep their
    order in a sequence column (ties among simultaneous events resolve as in one frame).
    Returns the cogrouped frames, the source's name and the events' Arrow schema."""
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import functions as F

    groups = sorted({(w.source, w.by) for w in windows})
    if len(groups) != 1:
        raise FeatureDSLError(
            "featuredsl.spark: window aggregates over more than one source or key "
            f"({', '.join(f'{s} by {tuple(b)}' for s, b in groups)}) cannot share one "
            "partitioning by key yet; compute them with the local backend (docs/spark.md)")
    name, by = groups[0]
    source = program.sources[name]
    unknown = [s for s in sources if s not in program.sources]
    if unknown:
        raise InputError(f"sources= names `{unknown[0]}`, which the spec does not declare")
    if name not in sources:
        raise InputError(f"the spec's window features read source `{name}`: pass its events, "
                         f"sources={{{name!r}: events}}")
    events = sources[name]
    if not isinstance(events, SparkFrame):
        raise InputError(f"source `{name}`: featuredsl.spark takes a Spark DataFrame of "
                         f"events, got {type(events).__name__}")
    check_frame(events, source.fields, [], what=f"source `{name}`: ")
    ev_arrow = pa.schema([pa.field(f, arrow_type(t)) for f, t in source.fields.items()])
    n = max(rows.rdd.getNumPartitions(), events.rdd.getNumPartitions(), 1)
    types = program.inputs

    def bucket(cols: list[tuple[str, Type]]) -> Column:
        keyed = []
        for c, t in cols:  # both sides hash the declared type: an int32 key meets an int64
            k = col(c).cast(spark_type(t))
            if t.kind == "float":  # -0.0 is 0.0 as a key
                k = F.when(k == 0.0, F.lit(0.0)).otherwise(k)
            keyed.append(k)
        return F.pmod(F.hash(*keyed), F.lit(n))

    r = rows.withColumn(_BUCKET, bucket([(b, types[b]) for b in by]))
    e = (events.select([col(f) for f in source.fields])
         .withColumn(_SEQ, F.monotonically_increasing_id())
         .withColumn(_BUCKET, bucket([(k, source.fields[k]) for k in source.keys])))
    return r.groupBy(_BUCKET).cogroup(e.groupBy(_BUCKET)), name, ev_arrow
