"""Window aggregates on Spark: rows and events bucketed by key meet in one cogroup, and the
values equal the local batch backend's (examples/fraud.feat over a generated log)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pandas")

import featuredsl as fd
import featuredsl.spark as fds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
from fraud_demo import generate  # noqa: E402
from test_spark_transform import assert_same, collected  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    return fds.session("local[2]")


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return generate(3000, users=150).with_row_index("rid").with_columns(
        pl.col("rid").cast(pl.Int64))


@pytest.mark.parametrize("parts", [1, 3])
def test_windows_equal_local_batch(spark, log: pl.DataFrame, parts: int) -> None:
    fitted = fd.compile_file(ROOT / "examples" / "fraud.feat").fit(log, sources={"txns": log})
    rows = log.head(2000)  # rows and events differ: a spine over part of the log
    events = spark.createDataFrame(log.drop("rid").to_arrow()).repartition(parts)
    out = fds.transform(fitted, spark.createDataFrame(rows.to_arrow()).repartition(parts),
                        keep=["rid"], sources={"txns": events})
    assert_same(collected(out), fitted.transform(rows, keep=["rid"], sources={"txns": log}))


def test_windows_need_their_source(spark, log: pl.DataFrame) -> None:
    fitted = fd.compile_file(ROOT / "examples" / "fraud.feat").fit(log, sources={"txns": log})
    rows = spark.createDataFrame(log.head(5).to_arrow())
    with pytest.raises(fd.InputError, match="source `txns`"):
        fds.transform(fitted, rows)
    bad = spark.createDataFrame(log.drop("merchant").head(5).to_arrow())
    with pytest.raises(fd.InputError, match="source `txns`: column `merchant` is missing"):
        fds.transform(fitted, rows, sources={"txns": bad})
