"""Saving the in-process window state and restoring it: a warm restart answers every read as
before, bit for bit; the file is deterministic data; a damaged file or one from another spec
is refused with an ``ArtifactError`` saying what is wrong."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random

import polars as pl
import pytest
from test_windows_oracle import BASE, SPEC, _frame, events, same_bits, spine

import featuredsl as fd
from featuredsl.windows import persist

TYPED = """
input {
  k: string
  t: timestamp
  time t
}
source ev {
  k: string
  t: timestamp
  d: date?
  gap: duration?
  at: timestamp?
  ok: bool?
  key k
  time t
}
feature d_last   = last(ev.d)
feature gap_max  = max(ev.gap, over=1d)
feature at_first = first(ev.at)
feature oks      = count(ev, where=ev.ok)
feature nd       = count_distinct(ev.d, over=30d)
"""


@pytest.fixture(scope="module")
def fitted() -> fd.FittedSpec:
    return fd.compile(SPEC).fit(pl.DataFrame({"k": [1], "t": [BASE]}),
                                sources={"ev": _frame([])})


def _reads(fitted: fd.FittedSpec, state, rows: list[dict]) -> list[dict]:
    evaluate = fitted.row_evaluator(state=state)
    return [evaluate(r) for r in rows]


def _assert_same(got: list[dict], want: list[dict]) -> None:
    for g, w in zip(got, want, strict=True):
        assert all(same_bits(g[f], w[f]) for f in w), (g, w)


@pytest.mark.parametrize("seed", range(4))
def test_restore_answers_every_read_as_before(fitted, tmp_path, seed) -> None:
    rng = random.Random(seed)
    log = events(rng, 80)
    rows = spine(rng, 40)
    state = fitted.online_state()
    state.ingest_batch("ev", log[: len(log) // 2])
    path = tmp_path / "state.json"
    state.save(path)
    restored = fitted.online_state(restore=path)
    _assert_same(_reads(fitted, restored, rows), _reads(fitted, state, rows))
    assert restored.events == state.events
    # and both keep going alike, late events included
    for e in log[len(log) // 2:][::-1]:
        state.ingest("ev", e)
        restored.ingest("ev", e)
    _assert_same(_reads(fitted, restored, rows), _reads(fitted, state, rows))
    # saving is deterministic: the same state gives the same bytes
    state.save(tmp_path / "a.json")
    restored.save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_every_value_type_round_trips(tmp_path) -> None:
    fitted = fd.compile(TYPED).fit(pl.DataFrame({"k": ["a"], "t": [BASE]}), sources={
        "ev": pl.DataFrame(schema={"k": pl.String, "t": pl.Datetime("us"), "d": pl.Date,
                                   "gap": pl.Duration("us"), "at": pl.Datetime("us"),
                                   "ok": pl.Boolean})})
    day = dt.timedelta(days=1)
    log = [{"k": k, "t": BASE + i * day / 7, "d": dt.date(1 + i, 12, 31) if i % 3 else None,
            "gap": dt.timedelta(microseconds=-(2**62) + i) if i % 2 else dt.timedelta(0),
            "at": dt.datetime(9999, 12, 31, 23, 59, 59, 999_999) if i == 1 else
            dt.datetime(1, 1, 1), "ok": [True, False, None][i % 3]}
           for i, k in enumerate(["a", "ü", "a\x00b", "", "a", "日本"] * 3)]
    state = fitted.online_state()
    state.ingest_batch("ev", log)
    state.save(tmp_path / "s.json")
    restored = fitted.online_state(restore=tmp_path / "s.json")
    rows = [{"k": k, "t": BASE + 5 * day} for k in ["a", "ü", "a\x00b", "", "日本", "none"]]
    assert _reads(fitted, restored, rows) == _reads(fitted, state, rows)


def _rewrite(path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    doc["integrity"]["sha256"] = hashlib.sha256(persist._canonical(doc)).hexdigest()
    path.write_text(json.dumps(doc), encoding="utf-8")


def _first_value(doc: dict) -> list:
    return doc["sources"]["ev"]["keys"][0]["values"]


@pytest.mark.parametrize(("damage", "words"), [
    (lambda p: p.write_bytes(p.read_bytes()[:-40]), "not JSON"),
    (lambda p: p.write_text(p.read_text().replace('"events":', '"events": 1, "x":', 1)),
     "integrity hash does not match"),
    (lambda p: p.write_text('{"format": "something else"}'), "not a featuredsl window state"),
    (lambda p: _rewrite(p, lambda d: d.update(version=99)), "version 99"),
    (lambda p: _rewrite(p, lambda d: d.update(fingerprint="0" * 64)),
     "saved by a spec with other sources or windows"),
    (lambda p: _rewrite(p, lambda d: _first_value(d)[0].__setitem__(0, "x")),
     r"is not a `\w+\?` value"),
    (lambda p: _rewrite(p, lambda d: d["sources"]["ev"]["keys"][0].update(times=[5, 1])),
     "not sorted"),
    (lambda p: _rewrite(p, lambda d: d["sources"].update(other={})), "unknown source `other`"),
    (lambda p: p.unlink(), "cannot read it"),
], ids=["truncated", "edited", "format", "version", "other-spec", "bad-value", "unsorted",
        "unknown-source", "missing"])
def test_a_damaged_state_file_is_refused(fitted, tmp_path, damage, words) -> None:
    state = fitted.online_state()
    state.ingest_batch("ev", [{"k": 1, "t": BASE, "x": 1.5}, {"k": 1, "t": BASE, "x": 2.5},
                              {"k": 2, "t": BASE, "x": None}])
    path = tmp_path / "state.json"
    state.save(path)
    damage(path)
    with pytest.raises(fd.ArtifactError, match=words):
        fitted.online_state(restore=path)


def test_a_state_file_from_another_spec_is_refused(fitted, tmp_path) -> None:
    state = fitted.online_state()
    state.save(tmp_path / "s.json")
    other = fd.compile(SPEC.replace("over=10us)", "over=11us)", 1)).fit(
        pl.DataFrame({"k": [1], "t": [BASE]}), sources={"ev": _frame([])})
    with pytest.raises(fd.ArtifactError, match="other sources or windows"):
        other.online_state(restore=tmp_path / "s.json")
    # the same spec compiled again reads it
    again = fd.compile(SPEC).fit(pl.DataFrame({"k": [1], "t": [BASE]}),
                                 sources={"ev": _frame([])})
    assert again.online_state(restore=tmp_path / "s.json").events == 0
