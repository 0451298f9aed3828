"""fd.skew_report: replaying a feature log through the batch backend.

Logs are written by the real row evaluator through ``fd.FeatureLogger``; a skew is injected by
serving a second spec (one feature changed) under the first artifact's hash, and expected
counts are computed independently (both specs in batch over the same rows).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from featuredsl import parity
from featuredsl.backends.row_backend import RowObserver

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import data_gen  # noqa: E402

sys.path.remove(str(ROOT / "benchmarks"))

REFERENCE = (ROOT / "benchmarks" / "reference.feat").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> tuple[fd.FittedSpec, pl.DataFrame]:
    df = data_gen.make_frame(3000)
    return fd.compile(REFERENCE).fit(df), df


def _serve(fitted: fd.Spec, rows: list[dict], directory: Path, **kw: object) -> fd.FeatureLogger:
    log = fd.FeatureLogger(directory, sample_rate=1.0, **kw)  # type: ignore[arg-type]
    evaluate = fitted.row_evaluator(logger=log)
    for i, r in enumerate(rows):
        with log.context(request_id=f"r{i}"):
            try:
                evaluate(r)
            except fd.InputError:
                pass
    log.close()
    return log


def _changed(fitted: fd.FittedSpec, old: str, new: str, df: pl.DataFrame) -> fd.FittedSpec:
    """``fitted``'s spec with one feature's text changed, fitted on ``df``, logging under
    ``fitted``'s artifact hash: a deploy whose code differs from what its artifact says."""
    assert old in fitted.source
    other = fd.compile(fitted.source.replace(old, new)).fit(df)
    other._artifact_hash = fitted.artifact_hash
    return other


def _batch_differences(a: fd.Spec, b: fd.Spec, df: pl.DataFrame) -> dict[str, int]:
    """Per feature, the rows where two specs disagree in batch (the expected skew)."""
    x, y = a.transform(df).to_dicts(), b.transform(df).to_dicts()
    out: dict[str, int] = {}
    for f in a.features:
        n = sum(not parity.same_value(r[f], s[f]) for r, s in zip(x, y, strict=True))
        if n:
            out[f] = n
    return out


def test_the_reference_workload_served_and_replayed_has_no_mismatch(reference, tmp_path) -> None:
    fitted, df = reference
    rows = data_gen.rows_for_serving(df)
    log = _serve(fitted, rows, tmp_path)
    report = fd.skew_report(fitted, tmp_path)
    assert report.rows == len(rows) == log.logged
    assert report.mismatches == {} and report.status == "ok"
    assert all(fs.match == len(rows) for fs in report.features.values())
    assert report.bad_files == [] and report.foreign_artifacts == {}
    assert report.features["amount_z"].smape == 0.0
    assert "skew: ok" in report.to_text()
    doc = json.loads(report.to_json())
    assert doc["status"] == "ok" and doc["rows"] == len(rows)
    assert report.to_json() == fd.skew_report(fitted, tmp_path).to_json()  # deterministic


EDGE_SPEC = """
input { i: int?, f: float?, s: string?, b: bool?, t: timestamp?, d: date?, u: duration?,
        xs: list[float?]?, ss: list[string]? }
feature i2 = i * 2
feature fi = f / 3.0
feature f1 = f + 1.0
feature sq = sqrt(f)
feature s2 = upper(s)
feature slen = length(s)
feature nb = not b
feature h = hour(t)
feature t2 = t
feature d2 = d
feature u2 = u
feature xs2 = xs
feature ss2 = ss
feature n = length(ss)
"""


def test_edge_values_served_and_replayed_have_no_mismatch(tmp_path: Path) -> None:
    spec = fd.compile(EDGE_SPEC)
    rows = parity.edge_case_rows(spec, n=600, seed=3)
    aware = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    for k, r in enumerate(rows[:40]):  # aware timestamps too
        if r["t"] is not None and r["t"].year > 1 and r["t"].year < 9999:
            r["t"] = r["t"].replace(tzinfo=dt.UTC).astimezone(aware)
        rows[k] = r
    log = _serve(spec, rows, tmp_path)
    report = fd.skew_report(spec, tmp_path)
    assert report.rows == log.logged > 500
    assert report.mismatches == {}, report.to_text()
    assert report.status == "ok"


def test_a_changed_feature_under_the_same_artifact_is_caught(reference, tmp_path) -> None:
    fitted, df = reference
    other = _changed(fitted, "clip(amount, 0, 1000)", "clip(amount, 0, 100)", df)
    rows = data_gen.rows_for_serving(df)
    _serve(other, rows, tmp_path)
    report = fd.skew_report(fitted, tmp_path)
    expected = _batch_differences(fitted, other, df)
    assert list(expected) == ["amount_clipped"] and expected["amount_clipped"] > 10
    assert report.mismatches == expected
    fs = report.features["amount_clipped"]
    assert fs.value_mismatch == fs.mismatch and fs.served_null_only == 0
    assert fs.ulp[">1000"] == fs.mismatch
    # the served value is 900.0 on every such row: the top confusion pair says so
    assert {served for served, _ in fs.confusion} == {"100.0"}
    top = fs.top_confusions(1)[0]
    assert top[2] == max(fs.confusion.values())
    assert len(fs.samples) == 3 and all(str(s["request_id"]).startswith("r") for s in fs.samples)
    served = {int(str(s["request_id"])[1:]) for s in fs.samples}
    truth = fitted.transform(df).get_column("amount_clipped").to_list()
    assert all(truth[i] > 100.0 for i in served)
    assert report.status == "skew"
    assert "amount_clipped" in report.to_text()


def test_one_ulp_and_null_only_mismatches_are_bucketed(reference, tmp_path) -> None:
    fitted, df = reference
    rows = data_gen.rows_for_serving(df.head(500))
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0)
    obs = log.row_observer(fitted)

    def tampered(inputs: tuple, out: dict) -> None:
        out = dict(out)
        k = int(out["items_sq"])
        if out["log_amount"] is not None and k % 3 == 0:
            out["log_amount"] = math.nextafter(out["log_amount"], math.inf)  # 1 ulp
        if k == 4:
            out["amount_round"] = None  # served null, recomputed not (when amount is)
        obs.record(inputs, out)

    class Tamper:
        def row_observer(self, spec: fd.Spec) -> RowObserver:
            return RowObserver(obs.sample, tampered)

    evaluate = fitted.row_evaluator(logger=Tamper())
    outs = [evaluate(r) for r in rows]
    log.close()
    report = fd.skew_report(fitted, tmp_path)
    ulp1 = sum(1 for o in outs if o["log_amount"] is not None and o["items_sq"] % 3 == 0)
    nulls = sum(1 for o in outs if o["items_sq"] == 4 and o["amount_round"] is not None)
    assert report.mismatches == {"log_amount": ulp1, "amount_round": nulls}
    la = report.features["log_amount"]
    assert la.ulp == {"1": ulp1}
    assert 0 < la.smape < 1e-12  # percent: a rounding, not a different value
    ar = report.features["amount_round"]
    assert ar.served_null_only == nulls and ar.recomputed_null_only == ar.value_mismatch == 0


def test_rows_of_another_artifact_are_a_finding_not_compared(reference, tmp_path) -> None:
    fitted, df = reference
    rows = data_gen.rows_for_serving(df.head(300))
    _serve(fitted, rows, tmp_path)
    stale = fd.compile(fitted.source.replace("top=100", "top=10")).fit(df)
    _serve(stale, rows[:120], tmp_path)
    report = fd.skew_report(fitted, tmp_path)
    assert report.rows == 300 and report.mismatches == {}
    assert report.foreign_artifacts == {stale.artifact_hash: 120}
    assert report.status == "skew"
    assert stale.artifact_hash[:12] in report.to_text()


def test_bad_files_are_named_and_the_rest_still_checked(reference, tmp_path) -> None:
    fitted, df = reference
    rows = data_gen.rows_for_serving(df.head(400))
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0, file_rows=100, chunk_rows=100)
    evaluate = fitted.row_evaluator(logger=log)
    for r in rows:
        evaluate(r)
        if log.counters()["buffered"] >= 100:
            log.flush()
    log.close()
    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) >= 4
    truncated, garbage, dropped, retyped = files[:4]
    n_bad = sum(pl.read_parquet(f).height for f in files[:4])
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    garbage.write_bytes(b"not parquet at all")
    pl.read_parquet(dropped).drop("out.hour").write_parquet(dropped)
    frame = pl.read_parquet(retyped)
    frame.with_columns(pl.col("out.hour").cast(pl.String)).write_parquet(retyped)
    (tmp_path / "notes.txt").write_text("hello")
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "other.parquet")
    (truncated.parent / ".part-x.parquet.tmp").write_bytes(b"half")
    report = fd.skew_report(fitted, tmp_path)
    bad = {b.path: b.problem for b in report.bad_files}
    rel = {f: str(f.relative_to(tmp_path)) for f in files[:4]}
    assert set(bad) == {*rel.values(), "notes.txt", "other.parquet"}
    assert "truncated or corrupt" in bad[rel[truncated]]
    assert "truncated or corrupt" in bad[rel[garbage]]
    assert "missing out.hour" in bad[rel[dropped]]
    assert "out.hour is String" in bad[rel[retyped]]
    assert "not .parquet" in bad["notes.txt"]
    assert "not a feature log file" in bad["other.parquet"]
    assert report.temp_files == [str((truncated.parent / ".part-x.parquet.tmp")
                                     .relative_to(tmp_path))]
    assert report.rows == 400 - n_bad and report.mismatches == {}
    assert report.status == "skew"
    text = report.to_text()
    assert all(p in text for p in bad)


def test_join_mode_attributes_mismatches_to_the_data_or_the_code(tmp_path: Path) -> None:
    src = """
input { txn: int, amount: float?, country: string? }
feature big = amount > 100.0 ?? false
feature c = country ?? "UNK"
feature half = amount / 2.0
"""
    offline = pl.DataFrame({
        "txn": list(range(10)),
        "amount": [1.0, 200.0, None, 50.0, 150.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        "country": ["US", "GB", None, "FR", "DE", "US", "US", "US", "US", "US"],
    })
    fitted = fd.compile(src).fit(offline)
    # what serving saw: row 1's amount changed upstream (the data), row 4's country missing
    # (the data), rows 0 and 3 served by a changed `half` (the code); txn 99 not offline;
    # txns 8, 9 never logged
    served = offline.head(8).to_dicts()
    served[1]["amount"] = 20.0
    served[4]["country"] = None
    served.append({"txn": 99, "amount": 1.0, "country": "US"})
    code_bug = fd.compile(src.replace("amount / 2.0", "amount * 0.5000001")).fit(offline)
    code_bug._artifact_hash = fitted.artifact_hash
    # `txn` is read by no feature, so the evaluator does not log it: the caller's context does
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0, context=["txn"])
    good, bad = fitted.row_evaluator(logger=log), code_bug.row_evaluator(logger=log)
    for r in served:
        with log.context(request_id=f"t{r['txn']}", txn=r["txn"]):
            (bad if r["txn"] in (0, 3) else good)(r)
    log.close()
    offline_path = tmp_path.parent / "offline.parquet"
    offline.write_parquet(offline_path)
    report = fd.skew_report(fitted, tmp_path, against=str(offline_path), key="txn")
    j = report.join
    assert j is not None
    assert j.rows == 8 and j.missing_offline == 1 and j.offline_only == 2
    assert j.input_mismatch == {"amount": 1, "country": 1}
    assert j.rows_with_input_mismatch == 2
    # row 1: 20 vs 200 -> big and half differ (data); row 4: country null -> c differs (data)
    assert j.data_mismatch == {"big": 1, "c": 1, "half": 1}
    assert j.code_mismatch == {"big": 0, "c": 0, "half": 2}
    assert {s["request_id"] for s in j.code_samples} == {"t0", "t3"}
    assert [sorted(s["inputs"]) for s in j.data_samples] == [["amount"], ["country"]]
    assert report.status == "skew"
    text = report.to_text()
    assert "1 data: inputs differ, 2 code: same inputs" in text
    # replay agrees: only the code bug shows (the data change was served consistently)
    assert report.mismatches == {"half": 2}


def test_usage_errors_are_clear(reference, tmp_path) -> None:
    fitted, _ = reference
    with pytest.raises(fd.InputError, match="no such log directory"):
        fd.skew_report(fitted, tmp_path / "nope")
    with pytest.raises(fd.InputError, match="needs both"):
        fd.skew_report(fitted, tmp_path, against="x.parquet")
    rows = data_gen.rows_for_serving(data_gen.make_frame(20))
    _serve(fitted, rows, tmp_path)
    with pytest.raises(fd.InputError, match="key `user_id` is neither an input"):
        fd.skew_report(fitted, tmp_path, against=data_gen.make_frame(20), key="user_id")


def test_an_empty_log_and_a_join_over_it_compare_nothing(tmp_path: Path) -> None:
    src = "input { txn: int, amount: float? }\nfeature half = amount / 2.0\nfeature t = txn"
    offline = pl.DataFrame({"txn": [1, 2], "amount": [1.0, None]})
    fitted = fd.compile(src).fit(offline)
    report = fd.skew_report(fitted, tmp_path, against=offline, key="txn")
    assert report.rows == 0 and report.status == "ok"
    assert report.join is not None and report.join.offline_only == 2 and report.join.rows == 0
    assert "nothing was compared" in report.to_text()


def test_damaged_bytes_anywhere_never_raise(reference, tmp_path) -> None:
    fitted, df = reference
    source = tmp_path / "source"
    _serve(fitted, data_gen.rows_for_serving(df.head(200)), source)
    (good,) = list(source.rglob("*.parquet"))
    data = good.read_bytes()
    for k, at in enumerate(range(0, len(data), max(1, len(data) // 40))):
        d = tmp_path / f"case{k}"
        d.mkdir()
        damaged = bytearray(data)
        damaged[at:at + 8] = b"\xff\x00\xa5\x5a\xff\x00\xa5\x5a"[: len(damaged) - at]
        (d / "part.parquet").write_bytes(bytes(damaged))
        report = fd.skew_report(fitted, d)  # must not raise, whatever the damage
        assert report.bad_files or report.rows == 200
        if not report.bad_files and report.mismatches:
            assert report.status == "skew"
