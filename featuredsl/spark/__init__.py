"""featuredsl on Apache Spark (SPEC section 15, docs/spark.md): the batch backend and fit.

``transform(fitted, spark_df)`` computes the features inside Spark's Python workers with the
local Polars plan (the same values as ``fitted.transform`` on the same rows); ``fit(spec,
spark_df)`` fits the statistics and the training profile as exact partial aggregates merged on
the driver (the artifact is byte-identical to a local fit of the same rows, whatever the
partitioning). Needs the ``featuredsl[spark]`` extra (pyspark >= 4, pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featuredsl.spark.errors import translate
from featuredsl.spark.fitting import fit
from featuredsl.spark.transform import output_schema, transform

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

__all__ = ["collect", "fit", "output_schema", "session", "transform", "translate",
           "write_parquet"]


def collect(df: DataFrame) -> list[Row]:
    """``df.collect()`` with a worker's featuredsl error raised as itself (see ``translate``)."""
    with translate():
        return df.collect()


def write_parquet(df: DataFrame, path: str, mode: str = "error") -> None:
    """Write ``df`` as Parquet to ``path`` (any path the cluster reaches), errors translated."""
    with translate():
        df.write.mode(mode).parquet(path)


def session(master: str | None = None, app: str = "featuredsl") -> SparkSession:
    """A Spark session as featuredsl's CLI and tests make one: UTC session time zone (so
    timestamps never shift when collected), the workers on this Python, Arrow batches of
    64k rows."""
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    if master is not None:
        builder = builder.master(master)
    return (builder.config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())
