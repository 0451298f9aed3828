"""Bad event data and bad `sources=` arguments: a clear ``InputError`` naming the source, the
field and the row, on the batch side (frames and files) and the online side (``ingest``,
``ingest_batch``); a bad event changes nothing. Windows inside lets, expressions and fitted
statistics."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import featuredsl as fd

SPEC = """
input {
  user_id: int
  ts: timestamp
  amount: float?
  time ts
}
source txns {
  user_id: int
  ts: timestamp
  amount: float?
  merchant: string
  key user_id
  time ts
}
let m30 = mean(txns.amount, over=30d)
feature n7 = count(txns, over=7d)
feature rel = amount / m30
stat avg_n7 = mean(n7)
feature n7_c = n7 - avg_n7
"""
T = dt.datetime(2024, 1, 1)
DAY = dt.timedelta(days=1)
EVENTS = pl.DataFrame({"user_id": [1, 1, 2], "ts": [T, T + DAY, T], "amount": [1.0, 2.0, 3.0],
                       "merchant": ["a", "b", "c"]})
ROWS = pl.DataFrame({"user_id": [1, 2, 1], "ts": [T + 2 * DAY] * 3, "amount": [1.0, None, 4.0]})


@pytest.fixture(scope="module")
def fitted() -> fd.FittedSpec:
    return fd.compile(SPEC).fit(ROWS, sources={"txns": EVENTS})


def test_windows_in_lets_expressions_and_statistics(fitted: fd.FittedSpec) -> None:
    out = fitted.transform(ROWS, sources={"txns": EVENTS})
    assert out["n7"].to_list() == [2, 1, 2]
    assert out["rel"].to_list() == [1.0 / 1.5, None, 4.0 / 1.5]
    assert fitted.stats["avg_n7"] == 5 / 3
    assert out["n7_c"].to_list() == [2 - 5 / 3, 1 - 5 / 3, 2 - 5 / 3]
    state = fitted.online_state()
    state.ingest_batch("txns", EVENTS.to_dicts())
    evaluate = fitted.row_evaluator(state=state)
    assert [evaluate(r) for r in ROWS.to_dicts()] == out.to_dicts()


@pytest.mark.parametrize(("change", "field", "row", "words"), [
    (lambda e: e.drop("merchant"), "merchant", None, "column `merchant` is missing"),
    (lambda e: e.with_columns(pl.when(pl.col("user_id") == 2).then(None)
                              .otherwise(pl.col("ts")).alias("ts")), "ts", 2, "null"),
    (lambda e: e.with_columns(pl.Series("ts", [0, 2**62, 0]).cast(pl.Datetime("us"))),
     "ts", 1, "outside the years 1..9999"),
    (lambda e: e.with_columns(pl.lit(None, pl.Int64).alias("user_id")), "user_id", 0, "null"),
    (lambda e: e.with_columns(pl.col("amount").cast(pl.String)), "amount", None,
     "expected float"),
], ids=["missing", "null-time", "time-range", "null-key", "wrong-type"])
def test_bad_source_frames_name_source_field_and_row(fitted, tmp_path, change, field, row,
                                                     words) -> None:
    bad = change(EVENTS)
    path = tmp_path / "events.parquet"
    bad.write_parquet(path)
    for data in (bad, bad.lazy(), bad.to_arrow(), path):
        with pytest.raises(fd.InputError) as info:
            fitted.transform(ROWS, sources={"txns": data})
        msg = str(info.value)
        assert "source `txns`" in msg and words in msg, msg
        assert info.value.field == field
        if row is not None:
            assert info.value.row == row, msg


@pytest.mark.parametrize(("sources", "words"), [
    ({}, "read source `txns`: pass its events"),
    (None, "read source `txns`: pass its events"),
    ({"txns": EVENTS, "other": EVENTS}, "names `other`, which the spec does not declare"),
    ({"txns": 5}, "source `txns`: cannot read data of type int"),
])
def test_bad_sources_argument(fitted, sources, words) -> None:
    with pytest.raises(fd.InputError, match=words):
        fitted.transform(ROWS, sources=sources)
    with pytest.raises(fd.InputError, match=words):
        fd.compile(SPEC).fit(ROWS, sources=sources)


@pytest.mark.parametrize(("event", "field", "words"), [
    ({"user_id": 1, "merchant": "a"}, "ts", "missing or null"),
    ({"user_id": "x", "ts": T, "merchant": "a"}, "user_id", "expected int, got str"),
    ({"user_id": 1, "ts": T, "merchant": "a", "amount": "1.5"}, "amount", "expected float"),
    ({"user_id": 1, "ts": T}, "merchant", "missing or null"),
    ({"user_id": 1, "ts": dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
      "merchant": "a"}, "ts", "outside"),
])
def test_a_bad_event_is_refused_and_changes_nothing(fitted, event, field, words) -> None:
    state = fitted.online_state()
    state.ingest_batch("txns", EVENTS.to_dicts())
    evaluate = fitted.row_evaluator(state=state)
    before = [evaluate(r) for r in ROWS.to_dicts()]
    with pytest.raises(fd.InputError) as info:
        state.ingest("txns", event)
    assert "source `txns`" in str(info.value) and words in str(info.value), str(info.value)
    assert info.value.field == field
    # in a batch: every event is checked first, so the good ones before it are not added
    with pytest.raises(fd.InputError) as info:
        state.ingest_batch("txns", [*EVENTS.to_dicts(), event])
    assert info.value.row == 3 and info.value.field == field
    assert [evaluate(r) for r in ROWS.to_dicts()] == before


def test_ingest_refuses_what_is_not_an_event(fitted) -> None:
    state = fitted.online_state()
    with pytest.raises(fd.InputError, match="an event must be a dict"):
        state.ingest("txns", 5)
    with pytest.raises(fd.InputError, match=r"unknown source `nope`.*declares `txns`"):
        state.ingest("nope", {})


def test_ingest_batch_reads_frames_and_files_like_transform(fitted, tmp_path) -> None:
    path = tmp_path / "events.ndjson"
    EVENTS.write_ndjson(path)
    want = None
    for data in (EVENTS, EVENTS.to_arrow(), EVENTS.to_pandas(), path, EVENTS.to_dicts()):
        state = fitted.online_state()
        assert state.ingest_batch("txns", data) == 3
        got = [fitted.row_evaluator(state=state)(r) for r in ROWS.to_dicts()]
        want = want or got
        assert got == want
    bad = tmp_path / "bad.parquet"
    EVENTS.drop("merchant").write_parquet(bad)
    with pytest.raises(fd.InputError, match="source `txns`: column `merchant` is missing"):
        fitted.online_state().ingest_batch("txns", bad)


def test_the_evaluator_needs_this_specs_state(fitted) -> None:
    with pytest.raises(fd.InputError, match="pass the live state"):
        fitted.row_evaluator()
    other = fd.compile(SPEC).fit(ROWS, sources={"txns": EVENTS})
    with pytest.raises(fd.InputError, match="made by another spec"):
        fitted.row_evaluator(state=other.online_state())


def test_string_min_max_when_no_event_has_a_value() -> None:
    # regression: max of a string field whose every event value is null (an empty ranking)
    # raised "gather indices are out of bounds" in the batch backend
    spec = fd.compile(SPEC.replace("feature n7 = count(txns, over=7d)",
                                   "feature n7 = count(txns, over=7d)\n"
                                   "feature top = max(txns.merchant)\n"
                                   "feature low = min(txns.merchant, over=1d)")
                      .replace("merchant: string", "merchant: string?"))
    events = EVENTS.with_columns(pl.lit(None, pl.String).alias("merchant"))
    fitted = spec.fit(ROWS, sources={"txns": events})
    out = fitted.transform(ROWS, sources={"txns": events})
    assert out["top"].to_list() == [None] * 3 and out["low"].to_list() == [None] * 3
    state = fitted.online_state()
    state.ingest_batch("txns", events)
    evaluate = fitted.row_evaluator(state=state)
    assert [evaluate(r) for r in ROWS.to_dicts()] == out.to_dicts()
