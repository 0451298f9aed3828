"""Fit-only inputs: what serving needs is what the features read.

An input read only by statistics (a label) or by nothing is required by neither the row
evaluator nor ``transform`` (nor the file transform, nor parity); ``fit`` still reads it. The
contract (``Spec.serving_inputs``) is decided by the spec text, never by fitted values.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd

SPEC = """\
input {
  dep_delay: float?
  carrier:   string
  year:      int        # featuredsl: ignore[W001] (read by nothing)
  label:     float      # read only by a statistic
  flag:      bool       # read only by a statistic's condition
}
stat label_mean = mean(label)
stat pos_rate = mean(if flag then 1.0 else 0.0)
feature delay = dep_delay ?? label_mean
feature carrier_uc = upper(carrier)
feature rate = pos_rate
"""

TRAIN = pl.DataFrame({
    "dep_delay": [1.5, None, -3.0, 10.0],
    "carrier": ["aa", "UA", "dl", "é"],
    "year": [2013, 2013, 2014, 2014],
    "label": [1.0, 0.0, 2.0, 5.0],
    "flag": [True, False, False, True],
})


@pytest.fixture(scope="module")
def fitted() -> fd.FittedSpec:
    return fd.compile(SPEC).fit(TRAIN)


def test_serving_inputs_are_what_the_features_read() -> None:
    spec = fd.compile(SPEC)
    assert spec.serving_inputs == {"dep_delay": "float?", "carrier": "string"}
    assert spec.fit_only_inputs == ["label", "flag"]  # `year` is read by nothing
    assert list(spec.inputs) == ["dep_delay", "carrier", "year", "label", "flag"]


def test_row_evaluator_neither_requires_nor_reads_fit_only_inputs(fitted: fd.FittedSpec) -> None:
    row = fitted.row_evaluator()
    mean = sum(TRAIN["label"]) / TRAIN.height
    assert row({"dep_delay": None, "carrier": "x"}) == {"delay": mean, "carrier_uc": "X",
                                                         "rate": 0.5}
    # a wrong-typed fit-only field is not read, so it is no error
    assert row({"dep_delay": 2.0, "carrier": "x", "label": "oops", "year": None})["delay"] == 2.0
    with pytest.raises(fd.InputError) as err:
        row({"dep_delay": 2.0})  # a serving input is still required
    assert err.value.field == "carrier"


def test_batch_transform_needs_only_serving_columns(fitted: fd.FittedSpec, tmp_path: Path
                                                    ) -> None:
    serving = TRAIN.select("dep_delay", "carrier")
    expected = [fitted.row_evaluator()(r) for r in serving.to_dicts()]
    assert fitted.transform(serving).to_dicts() == expected
    assert fitted.transform_lazy(serving.lazy()).collect().to_dicts() == expected
    # the full training frame gives the same values; a kept fit-only column comes out as is
    out = fitted.transform(TRAIN, keep=["label"])
    assert out["label"].to_list() == TRAIN["label"].to_list()
    assert out.drop("label").to_dicts() == expected
    path = tmp_path / "serving.parquet"
    serving.write_parquet(path)
    assert fitted.transform(str(path)).to_dicts() == expected
    with pytest.raises(fd.InputError) as err:
        fitted.transform(serving.drop("carrier"))
    assert err.value.field == "carrier"


def test_fit_still_reads_its_inputs() -> None:
    spec = fd.compile(SPEC)
    with pytest.raises(fd.InputError) as err:
        spec.fit(TRAIN.drop("label"))
    assert err.value.field == "label"


def test_contract_is_the_spec_text_not_the_fitted_values() -> None:
    text = ("input { a: float?\n b: float?\n x: float }\n"
            "feature f = if mean(x) > 0 then a else b\n")
    spec = fd.compile(text)
    assert spec.serving_inputs == {"a": "float?", "b": "float?"}
    for xs in ([1.0, 2.0], [-1.0, -2.0]):
        fitted = spec.fit(pl.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "x": xs}))
        assert fitted.serving_inputs == spec.serving_inputs
        with pytest.raises(fd.InputError):
            fitted.row_evaluator()({"a": 1.0, "b": "not a float"})  # both are read and checked


def test_features_reading_no_input_keep_every_row(tmp_path: Path) -> None:
    spec = fd.compile("input { label: float }\nfeature m = mean(label)\nfeature one = 1\n")
    assert spec.serving_inputs == {}
    fitted = spec.fit(pl.DataFrame({"label": [1.0, 2.0, 6.0]}))
    assert fitted.row_evaluator()({}) == {"m": 3.0, "one": 1}
    other = pl.DataFrame({"anything": ["a", "b", "c", "d", "e"]})
    assert fitted.transform(other).to_dicts() == [{"m": 3.0, "one": 1}] * 5
    assert fitted.transform_lazy(other.lazy()).collect().height == 5
    src = tmp_path / "rows.parquet"
    other.write_parquet(src)
    assert fitted.transform(str(src)).height == 5
    from featuredsl.parity import check_data

    report = check_data(fitted, str(src))
    assert report.rows == 5 and report.ok


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "featuredsl", *args], capture_output=True,
                       text=True, timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_cli_transform_eval_check_and_graph(fitted: fd.FittedSpec, tmp_path: Path) -> None:
    spec_path = tmp_path / "delay.feat"
    spec_path.write_text(SPEC)
    art = tmp_path / "delay.json"
    fitted.save(art)
    data = tmp_path / "serving.parquet"
    TRAIN.select("carrier", "dep_delay").write_parquet(data)
    out = tmp_path / "out.parquet"
    r = _cli("transform", str(art), "--data", str(data), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(out).to_dicts() == fitted.transform(TRAIN).to_dicts()
    r = _cli("eval", str(art), "--row", '{"carrier": "q", "dep_delay": 1}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["carrier_uc"] == "Q"
    r = _cli("check", str(spec_path))
    assert r.returncode == 0 and "fit-only inputs" in r.stdout and "label, flag" in r.stdout
    doc = json.loads(_cli("check", "--format", "json", str(spec_path)).stdout)
    assert doc["files"][0]["fit_only_inputs"] == ["label", "flag"]
    r = _cli("graph", str(spec_path))
    assert "serving inputs: dep_delay, carrier" in r.stdout
    assert "fit-only inputs (read only by statistics; not needed at serving): label, flag" \
        in r.stdout
    doc = json.loads(_cli("graph", "--format", "json", str(spec_path)).stdout)
    assert doc["serving_inputs"] == ["dep_delay", "carrier"]
    assert doc["fit_only_inputs"] == ["label", "flag"]


def test_window_time_and_keys_are_serving_inputs() -> None:
    spec = fd.compile("""\
input {
  user: int
  t:    timestamp
  label: float
  time t
}
source txns { user: int  at: timestamp  amount: float  key user  time at }
feature n7 = count(txns, over=7d)
feature base = mean(label)
""")
    assert spec.serving_inputs == {"user": "int", "t": "timestamp"}
    assert spec.fit_only_inputs == ["label"]
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    events = pl.DataFrame({"user": [1, 1], "at": [t0, t0 + dt.timedelta(hours=1)],
                           "amount": [1.0, 2.0]})
    rows = pl.DataFrame({"user": [1], "t": [t0 + dt.timedelta(days=1)], "label": [4.0]})
    fitted = spec.fit(rows, sources={"txns": events})
    state = fitted.online_state()
    state.ingest_batch("txns", events)
    got = fitted.row_evaluator(state=state)({"user": 1, "t": t0 + dt.timedelta(days=1)})
    assert got == {"n7": 2, "base": 4.0}
    batch = fitted.transform(rows.drop("label"), sources={"txns": events})
    assert batch.to_dicts() == [got]
