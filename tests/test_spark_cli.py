"""``featuredsl fit`` and ``transform`` with ``--engine spark``: Parquet in, Parquet out, the
same artifact and values as the local engine, errors in one line with exit status 2."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pandas")

import featuredsl as fd
import featuredsl.spark as fds
from featuredsl.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
import data_gen  # noqa: E402
from test_spark_transform import assert_same  # noqa: E402

SPEC = str(ROOT / "benchmarks" / "reference.feat")


@pytest.fixture(scope="module")
def spark():
    return fds.session("local[2]")


def test_fit_and_transform_on_spark_equal_local(spark, tmp_path: Path, capsys) -> None:
    df = data_gen.make_frame(2000)
    df = df.with_row_index("rid").with_columns(pl.col("rid").cast(pl.Int64))
    data = tmp_path / "train.parquet"
    df.write_parquet(data)
    local_art, spark_art = tmp_path / "local.json", tmp_path / "spark.json"
    assert main(["fit", SPEC, "--data", str(data), "-o", str(local_art), "-q"]) == 0
    assert main(["fit", SPEC, "--data", str(data), "-o", str(spark_art), "-q",
                 "--engine", "spark", "--master", "local[2]"]) == 0
    assert spark_art.read_bytes() == local_art.read_bytes()
    out = tmp_path / "features"
    assert main(["transform", str(spark_art), "--data", str(data), "-o", str(out),
                 "--keep", "rid", "--engine", "spark"]) == 0
    got = pl.read_parquet(out / "*.parquet")
    assert_same(got, fd.load(local_art).transform(df, keep=["rid"]))
    # an existing output directory is refused unless --overwrite
    capsys.readouterr()
    assert main(["transform", str(spark_art), "--data", str(data), "-o", str(out),
                 "--engine", "spark", "-q"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["transform", str(spark_art), "--data", str(data), "-o", str(out),
                 "--engine", "spark", "-q", "--overwrite"]) == 0


def test_errors_are_one_line_exit_2(spark, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text("input {\n  x: float\n}\nstat m = mean(x)\nfeature y = x - m\n")
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"x": [1.0, None]}).write_parquet(bad)
    capsys.readouterr()
    assert main(["fit", str(spec), "--data", str(bad), "-o", str(tmp_path / "a.json"),
                 "--engine", "spark"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "column `x`, row 1" in err[0] and "not nullable" in err[0]
    assert main(["fit", str(spec), "--data", str(tmp_path / "nope.parquet"), "-o",
                 str(tmp_path / "a.json"), "--engine", "spark"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read it as Parquet" in err[0]
    assert main(["fit", str(spec), "--data", str(bad), "-o", str(tmp_path / "a.json"),
                 "--master", "local[2]"]) == 2
    assert "--master goes with --engine spark" in capsys.readouterr().err
