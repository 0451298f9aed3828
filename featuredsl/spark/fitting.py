"""``featuredsl.spark.fit``: statistics and the training profile of a Spark DataFrame, as exact
partial aggregates merged on the driver (:mod:`featuredsl.spark.engine`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

from featuredsl.bind import bind, windows_read
from featuredsl.errors import FeatureDSLError, InputError
from featuredsl.fit.fitting import FitResult
from featuredsl.spark import engine as eng
from featuredsl.spark.merge import TOP_SCHEMA
from featuredsl.spark.schema import check_frame
from featuredsl.spark.transform import cobucket, col

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featuredsl.api import FittedSpec, Spec


def fit(spec: Spec, df: DataFrame, sources: Mapping[str, DataFrame] | None = None,
        profile: bool = True, persist: bool = True) -> FittedSpec:
    """Fit ``spec`` on a Spark DataFrame: the fitted spec a local ``spec.fit`` of the same rows
    returns (``save`` writes byte-identical artifacts), whatever the partitioning.

    Each pass of the local fit is one Spark job (two when it counts top values, which Spark
    aggregates), every partition's rows held in its worker's memory for the job. Window
    aggregates read ``sources`` (Spark DataFrames of events), partitioned with the rows by key
    as in :func:`transform`. Bad data raise the local fit's ``InputError`` (its row counted
    within its Spark partition).
    ``persist``: keep the selected input columns in Spark's storage for the fit's jobs
    (``DataFrame.persist``, memory then disk; released at the end)."""
    from pyspark.sql import DataFrame as SparkFrame

    from featuredsl.api import FittedSpec, Spec

    if not isinstance(spec, Spec):
        raise FeatureDSLError(f"featuredsl.spark.fit takes a compiled spec, got "
                              f"{type(spec).__name__}")
    if not isinstance(df, SparkFrame):
        raise InputError(f"featuredsl.spark.fit takes a Spark DataFrame, got "
                         f"{type(df).__name__}")
    if not isinstance(profile, bool):
        raise InputError(f"profile= must be True or False, got {profile!r}")
    program = spec.program
    inputs = program.inputs
    arrow = check_frame(df, inputs, [])
    # every step's job reads the rows again: kept by Spark (memory, spilling to disk) for
    # the fit instead of reading (and shuffling) the source once per step
    rows = df.select([col(n) for n in inputs])
    if persist:
        rows = rows.persist()
    try:
        result = _fit_rows(spec, rows, arrow, sources, profile)
    finally:
        if persist:
            rows.unpersist()
    return FittedSpec(spec.source, spec.file, program, spec.diagnostics, result.stats,
                      result.profile, result.warnings)


def _fit_rows(spec: Spec, rows: DataFrame, arrow: pa.Schema,
              sources: Mapping[str, DataFrame] | None, profile: bool) -> FitResult:
    program = spec.program
    inputs = program.inputs
    arrow = pa.schema([arrow.field(n) for n in inputs])
    schema = arrow.serialize().to_pybytes()
    common = {"source": spec.source, "file": spec.file, "schema": schema, "profile": profile}
    windows = windows_read(program)
    placeholder: dict[str, object] | None = None
    if windows:
        bound = bind(program, {}, exprs=windows, features=False)
        grouped, name, ev_arrow = cobucket(program, list(bound.windows), rows, dict(sources or {}))
        placeholder = {name: ev_arrow.empty_table()}
        ev_bytes = ev_arrow.serialize().to_pybytes()

        def job(history: list[object], mode: str) -> DataFrame:
            fn = functools.partial(eng.fit_bucket, events_schema=ev_bytes, name=name,
                                   history=eng.codec.pack(history), mode=mode, **common)
            return grouped.applyInArrow(fn, _schema(mode))
    else:
        if sources:
            raise InputError(f"sources= given ({', '.join(sources)}) but the spec has no "
                             "window aggregates to read them")

        def job(history: list[object], mode: str) -> DataFrame:
            fn = functools.partial(eng.fit_partition, history=eng.codec.pack(history),
                                   mode=mode, **common)
            return rows.mapInArrow(fn, _schema(mode))

    driver = eng.DriverEngine(job)
    empty = arrow.empty_table()
    result = eng.run_fit(program, driver, empty, placeholder, profile)
    assert isinstance(result, FitResult)
    return result


def _schema(mode: str) -> str:
    return TOP_SCHEMA if mode == "tops" else "blob string"
