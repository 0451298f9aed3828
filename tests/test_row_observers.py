"""The observer hook of the row evaluator (what ``fd.Monitor`` and ``fd.FeatureLogger`` use).

Without observers the generated source has no trace of them; with them, each observer's
sampler runs once per row, sampled rows are recorded with the typed inputs and the features
returned, and every rejected row reaches ``input_error`` with the complete error.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

import featuredsl as fd
from featuredsl.backends.row_backend import RowObserver, build_evaluator

SPEC = """
input { amount: float?, country: string, ts: timestamp }
feature big = amount > 10.0 ?? false
feature hour = hour(ts)
feature c = lower(country)
"""


class Recorder:
    """An observer that keeps what it is shown (a test double of a monitor)."""

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.records: list[tuple[tuple, dict]] = []
        self.errors: list[fd.InputError] = []

    def row_observer(self, spec: fd.Spec) -> RowObserver:
        cycle = itertools.cycle([True] + [False] * (self.every - 1))
        return RowObserver(cycle.__next__, lambda i, o: self.records.append((i, dict(o))),
                           self.errors.append)


def test_no_observer_means_no_observer_code() -> None:
    spec = fd.compile(SPEC)
    plain = build_evaluator(spec.bound())
    assert plain.source == build_evaluator(spec.bound(), observers=()).source
    assert spec.row_evaluator() is spec.row_evaluator()  # the cached evaluator is the plain one
    assert spec.row_evaluator().source == plain.source
    for word in ("sample", "record", "input_error"):
        assert word not in plain.source
    watched = spec.row_evaluator(monitor=Recorder())
    assert watched is not spec.row_evaluator()
    assert "_sample_" in watched.source and "_record_" in watched.source


def test_sampled_rows_are_recorded_with_typed_inputs() -> None:
    spec = fd.compile(SPEC)
    rec = Recorder(every=3)
    evaluate = spec.row_evaluator(monitor=rec)
    plain = spec.row_evaluator()
    aware = dt.datetime(2024, 3, 10, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    rows = [{"amount": float(i), "country": "Ünï", "ts": aware, "extra": 1} for i in range(7)]
    rows[1]["amount"] = float("nan")  # NaN is null
    outs = [evaluate(r) for r in rows]
    assert outs == [plain(r) for r in rows]
    assert [o for _, o in rec.records] == [outs[0], outs[3], outs[6]]
    naive_utc = dt.datetime(2024, 3, 10, 7, 30)
    assert [i for i, _ in rec.records] == [(float(k), "Ünï", naive_utc) for k in (0, 3, 6)]
    rec1 = Recorder()
    spec.row_evaluator(monitor=rec1)(rows[1])
    assert rec1.records[0][0][0] is None


def test_input_errors_reach_every_observer_at_full_rate() -> None:
    spec = fd.compile(SPEC)
    mon, log = Recorder(every=1000), Recorder(every=1000)
    evaluate = spec.row_evaluator(monitor=mon, logger=log)
    for _ in range(3):
        with pytest.raises(fd.InputError) as err:
            evaluate({"amount": "x"})
    assert len(mon.errors) == len(log.errors) == 3
    assert mon.errors[0] is err.value or str(mon.errors[0]) == str(err.value)
    # the complete error: every missing required field is named
    assert "country" in str(mon.errors[-1]) and "ts" in str(mon.errors[-1])
    assert mon.records == [] and log.records == []


def test_two_observers_sample_independently() -> None:
    spec = fd.compile(SPEC)
    a, b = Recorder(every=2), Recorder(every=5)
    evaluate = spec.row_evaluator(monitor=a, logger=b)
    for i in range(10):
        evaluate({"amount": float(i), "country": "x", "ts": dt.datetime(2024, 1, 1)})
    assert [r[0][0] for r in a.records] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert [r[0][0] for r in b.records] == [0.0, 5.0]


def test_vector_layout_passes_the_observers_on() -> None:
    spec = fd.compile("input { x: float }\nfeature y = x * 2.0\n")
    rec = Recorder()
    vec = spec.row_evaluator(layout="vector", monitor=rec)
    assert list(vec({"x": 1.5})) == [3.0]
    assert rec.records == [((1.5,), {"y": 3.0})]


def test_artifact_hash_is_the_saved_integrity_hash(tmp_path) -> None:
    import json

    import polars as pl

    spec = fd.compile("input { x: float? }\nfeature z = (x - mean(x)) / std(x)\n")
    fitted = spec.fit(pl.DataFrame({"x": [1.0, 2.0, None, 4.5]}))
    for key in (None, b"secret"):
        path = tmp_path / f"a{key is None}.json"
        fitted.save(path, sign_key=key)
        doc = json.loads(path.read_text())
        assert fitted.artifact_hash == doc["integrity"]["sha256"]
        assert fd.load(path).artifact_hash == fitted.artifact_hash
    other = spec.fit(pl.DataFrame({"x": [1.0, 2.0]}))
    assert other.artifact_hash != fitted.artifact_hash
