"""``--engine spark`` of ``featuredsl fit`` and ``featuredsl transform`` (docs/spark.md): the
data, the sources and the output are Parquet paths the Spark cluster reads and writes."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from featuredsl.cli import _common as c
from featuredsl.errors import FeatureDSLError, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featuredsl.api import FittedSpec, Spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--master``."""
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local (default): Polars in this process; spark: Apache Spark "
                        "(the featuredsl[spark] extra), --data and the output as Parquet "
                        "paths the cluster reaches")
    g.add_argument("--master", default=None, metavar="URL",
                   help="with --engine spark: the Spark master (local[4], spark://host:7077, "
                        "yarn; default: spark-submit's or local[*])")


def check(args: argparse.Namespace, unsupported: dict[str, bool]) -> bool:
    """Whether the Spark engine is asked for; ``UsageError`` for options it does not take."""
    if args.engine != "spark":
        if args.master is not None:
            raise c.UsageError("--master goes with --engine spark")
        return False
    for option, given in unsupported.items():
        if given:
            raise c.UsageError(f"{option} is not available with --engine spark")
    return True


def session(master: str | None) -> SparkSession:
    """The session (UTC, featuredsl's settings), or one line saying why there is none."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise c.UsageError("--engine spark needs pyspark: pip install 'featuredsl[spark]'") \
            from None
    import featuredsl.spark as fds

    try:
        spark = fds.session(master)
    except Exception as exc:  # the JVM failing to start, a bad master URL...
        raise c.UsageError(f"cannot start Spark: {first_line(exc)}") from None
    # the command's errors are one line each: not the JVM's log of a failed task's trace
    spark.sparkContext.setLogLevel("OFF")
    return spark


def read(spark: SparkSession, path: str, what: str) -> DataFrame:
    """A Parquet path (file or directory, any URL the cluster reads) as a DataFrame."""
    try:
        return spark.read.parquet(path)
    except Exception as exc:  # AnalysisException: no such path, not Parquet
        raise c.UsageError(f"{what} {path}: cannot read it as Parquet with Spark: "
                           f"{first_line(exc)}") from None


def sources(spark: SparkSession, items: list[str]) -> dict[str, DataFrame] | None:
    """``--source NAME=PATH`` as Spark DataFrames (the spec checks the names)."""
    out: dict[str, DataFrame] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise c.UsageError(f"--source {item}: expected NAME=PATH")
        if name in out:
            raise c.UsageError(f"--source {name} is given twice")
        out[name] = read(spark, path, f"--source {name}=")
    return out or None


def _spark_errors(exc: Exception) -> FeatureDSLError:
    return FeatureDSLError(f"Spark failed: {first_line(exc)}")


def fit(args: argparse.Namespace, spec: Spec) -> FittedSpec:
    """``featuredsl.spark.fit`` of ``--data`` (and ``--source``)."""
    import featuredsl.spark as fds

    spark = session(args.master)
    data = read(spark, args.data, "--data")
    try:
        return fds.fit(spec, data, sources=sources(spark, args.source))
    except (FeatureDSLError, c.UsageError):
        raise
    except Exception as exc:  # a Spark failure that is not a featuredsl error
        raise _spark_errors(exc) from None


def transform(args: argparse.Namespace, spec: Spec, keep: list[str]) -> None:
    """``featuredsl.spark.transform`` of ``--data`` written as Parquet to ``--output``."""
    import featuredsl.spark as fds

    spark = session(args.master)
    data = read(spark, args.data, "--data")
    try:
        out = fds.transform(spec, data, keep=keep, sources=sources(spark, args.source))
        fds.write_parquet(out, args.output, mode="overwrite" if args.overwrite else "error")
    except (FeatureDSLError, c.UsageError):
        raise
    except Exception as exc:
        raise _spark_errors(exc) from None
    if not args.quiet:
        sys.stderr.write(f"featuredsl transform: {len(keep)} kept column"
                         f"{'s' if len(keep) != 1 else ''} + {len(spec.features)} features "
                         f"-> {args.output} (Spark)\n")
