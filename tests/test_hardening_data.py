"""No lost rows, one timestamp range (issue 11, defects 1 and 2).

Out-of-range timestamps (outside years 1..9999, what Python's datetime and so the row
evaluator accept) used to pass batch validation and then make Polars panic inside a streaming
batch: the batch vanished and the CLI reported success for fewer rows. Now batch validation
rejects exactly what the row side rejects, on every path, and the file transform checks that
every row read is a row written."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import featuredsl as fd
from featuredsl.data import files
from featuredsl.data import inputs as data_io

pytestmark = pytest.mark.filterwarnings("ignore::featuredsl.fit.FitTimeWarning")

SOURCE = "input {\n  t: timestamp?\n}\nfeature s = to_string(t)\nfeature d = date(t)\n" \
         "feature y = year(t)\n"
I64_MAX = 2**63 - 1
#: years 1..9999 in µs since the epoch
LO, HI = -62_135_596_800_000_000, 253_402_300_799_999_999


def frame(us: list[int | None], unit: str = "us") -> pl.DataFrame:
    return pl.DataFrame({"t": pl.Series(us, dtype=pl.Int64).cast(pl.Datetime(unit, "UTC"))})


def bad_frame(n: int, at: int, value: int) -> pl.DataFrame:
    us: list[int | None] = [i * 1_000_000 for i in range(n)]
    us[at] = value
    return frame(us)


@pytest.mark.parametrize("value", [I64_MAX, HI + 1, LO - 1, -I64_MAX])
def test_out_of_range_instants_are_rejected_on_every_batch_path(tmp_path: Path,
                                                                value: int) -> None:
    spec = fd.compile(SOURCE)
    df = bad_frame(3000, 2500, value)
    path = tmp_path / "in.parquet"
    df.write_parquet(path)
    expected = f"column `t`, row 2500: cannot convert {value} us since the epoch to " \
               "timestamp (outside the years 1..9999)"
    for data in (df, df.lazy(), path, str(path), df.to_arrow()):
        with pytest.raises(fd.InputError) as err:
            spec.transform(data)
        assert expected in str(err.value), type(data)
        assert err.value.field == "t" and err.value.row == 2500
    with pytest.raises(fd.InputError) as err:
        spec.fit(df)
    assert expected in str(err.value)


def test_the_cli_fails_with_no_output_instead_of_losing_a_batch(tmp_path: Path) -> None:
    # 300,000 rows in several streaming batches; one bad value in a late batch used to vanish
    # with its batch: "200,000 rows ... -> out.parquet", exit 0
    spec_path = tmp_path / "s.feat"
    spec_path.write_text(SOURCE, encoding="utf-8")
    data = tmp_path / "in.parquet"
    bad_frame(300_000, 250_000, I64_MAX).write_parquet(data)
    out = tmp_path / "out.parquet"
    run = subprocess.run([sys.executable, "-m", "featuredsl", "transform", str(spec_path),
                          "--data", str(data), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "column `t`, row 250000" in run.stderr and "outside the years 1..9999" in run.stderr
    assert "panicked" not in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".out.parquet.*"))


def test_the_edges_of_the_range_are_accepted_by_both_backends() -> None:
    spec = fd.compile(SOURCE)
    out = spec.transform(frame([LO, HI, None]))
    evaluate = spec.row_evaluator()
    rows = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999), None]
    assert [evaluate({"t": r}) for r in rows] == out.to_dicts()


@pytest.mark.parametrize(("unit", "value"), [
    ("ms", 253_402_300_800_000), ("ms", -62_135_596_800_001), ("ns", I64_MAX)])
def test_other_units_use_the_same_range(unit: str, value: int) -> None:
    spec = fd.compile(SOURCE)
    df = frame([0, value], unit)
    if unit == "ns":  # every ns instant is inside years 1..9999: accepted, like the row side
        assert spec.transform(df).height == 2
        return
    with pytest.raises(fd.InputError, match=r"row 1: .* \(outside the years 1\.\.9999\)"):
        spec.transform(df)


def test_pyarrow_seconds_far_out_are_rejected() -> None:
    spec = fd.compile(SOURCE)
    table = pa.table({"t": pa.array([0, 10**12], pa.timestamp("s"))})
    with pytest.raises(fd.InputError, match=r"row 1: .*outside the years 1\.\.9999"):
        spec.transform(table)


def test_dates_outside_the_range_are_rejected() -> None:
    spec = fd.compile("input {\n  d: date?\n}\nfeature y = year(d)\n")
    df = pl.DataFrame({"d": pl.Series([0, 2_932_897], dtype=pl.Int32).cast(pl.Date)})
    with pytest.raises(fd.InputError, match=r"column `d`, row 1: .*outside the years 1\.\.9999"):
        spec.transform(df)


@pytest.mark.parametrize(("value", "why"), [
    (dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
     "outside the years 1..9999 in UTC"),
    (dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
     "outside the years 1..9999 in UTC"),
    ("0000-01-01T00:00:00", "outside the years 1..9999"),
    ("9999-12-31T23:00:00-05:00", "outside the years 1..9999 in UTC"),
    ("2024-02-30T00:00:00", "not a timestamp: no such calendar date or time"),
    ("2024-01-01T25:00:00", "not a timestamp: no such calendar date or time"),
    ("2024-01-01T00:00:00+24:00", "not a timestamp: a UTC offset is at most"),
    ("yesterday", "not a timestamp; use"),
])
def test_row_side_says_why_a_timestamp_is_refused(value: object, why: str) -> None:
    evaluate = fd.compile(SOURCE).row_evaluator()
    with pytest.raises(fd.InputError) as err:
        evaluate({"t": value})
    assert why in str(err.value)
    assert err.value.field == "t"


@pytest.mark.parametrize("text", ["0000-01-01T00:00:00", "9999-12-31T23:00:00-05:00",
                                  "2024-02-30T00:00:00"])
def test_text_timestamps_give_the_same_reason_in_batch(tmp_path: Path, text: str) -> None:
    spec = fd.compile(SOURCE)
    csv = tmp_path / "t.csv"
    csv.write_text(f"t\n2024-01-01T00:00:00\n{text}\n", encoding="utf-8")
    with pytest.raises(fd.InputError) as batch:
        spec.transform(csv)
    with pytest.raises(fd.InputError) as row:
        spec.row_evaluator()({"t": text})
    why = str(row.value).rsplit("(", 1)[1]
    assert "row 1" in str(batch.value)
    assert why in str(batch.value)


def test_the_row_count_invariant_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    frame([0, 1, 2]).write_parquet(path)
    src = data_io.open_source(path, {})
    files.check_every_row_read(src, path, 3)  # equal: fine
    with pytest.raises(fd.InputError, match="3 rows read but 2 computed"):
        files.check_every_row_read(src, path, 2)


@pytest.mark.parametrize("t", ["float?", "int?", "string?", "list[int]?", "timestamp?"])
def test_a_frame_whose_only_input_is_all_null_keeps_every_row(t: str) -> None:
    # Regression: an all-null (Null dtype) input was widened to a literal, one row tall.
    spec = fd.compile(f"input {{\n  x: {t}\n}}\nfeature y = x is null\n")
    out = spec.transform(pl.DataFrame({"x": [None, None, None]}))
    assert out["y"].to_list() == [True, True, True]
    assert spec.transform_lazy(pl.DataFrame({"x": [None] * 5}).lazy()).collect().height == 5
