"""Eviction in the in-process state: events older than (newest event - longest window -
lateness) are dropped, that changes no allowed read, memory stays bounded, and a read that
would need an evicted event is refused rather than answered wrongly."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_windows_metamorphic import BASE, FITTED, SETTINGS, _event

import featuredsl as fd

S = dt.timedelta(seconds=1)


def _state(lateness: dt.timedelta):
    return FITTED.online_state(lateness=lateness)


@SETTINGS
@given(st.lists(_event, min_size=1, max_size=60), st.integers(0, 8), st.randoms())
def test_eviction_changes_no_allowed_read(log, late_s, rnd) -> None:
    lateness = late_s * S
    order = log[:]
    rnd.shuffle(order)
    kept, full = _state(lateness), _state(dt.timedelta(days=10_000))
    for e in order:
        kept.ingest("ev", e)
        full.ingest("ev", e)
    kept.evict()
    newest = max(e["t"] for e in log)
    a, b = FITTED.row_evaluator(state=kept), FITTED.row_evaluator(state=full)
    for k in (1, 2, 3, 4):
        for back in range(0, late_s + 1):
            for fwd in (0, 1, 5, 20):
                row = {"k": k, "t": newest - back * S + fwd * S}
                assert repr(a(row)) == repr(b(row)), row


def test_memory_is_bounded_by_the_longest_window() -> None:
    state = _state(dt.timedelta(0))
    for i in range(5000):  # one event a second for one key: the longest window is 10 s
        state.ingest("ev", {"k": 1, "t": BASE + i * S, "x": 1.0, "s": "a"})
    log = state._sources["ev"].logs[(1,)]
    assert len(log.times) <= 11
    evaluate = FITTED.row_evaluator(state=state)
    got = evaluate({"k": 1, "t": BASE + 5000 * S})
    assert got["c"] == 10 and got["sx"] == 10.0 and got["gap"] == 1.0


def test_a_read_that_needs_evicted_events_is_refused() -> None:
    state = _state(dt.timedelta(seconds=2))
    for i in range(100):
        state.ingest("ev", {"k": 1, "t": BASE + i * S, "x": float(i), "s": None})
    evaluate = FITTED.row_evaluator(state=state)
    evaluate({"k": 1, "t": BASE + 97 * S})  # within the lateness: exact
    with pytest.raises(fd.InputError, match=r"evicted .*online_state\(lateness=\.\.\.\)"):
        evaluate({"k": 1, "t": BASE + 50 * S})
    # another key never evicted anything: its old reads are fine
    assert evaluate({"k": 2, "t": BASE})["c"] == 0


def test_a_lifetime_window_keeps_every_event() -> None:
    spec = fd.compile("""
input { k: int
  t: timestamp
  time t }
source ev { k: int
  t: timestamp
  key k
  time t }
feature all = count(ev)
feature recent = count(ev, over=1s)
""")
    import polars as pl
    fitted = spec.fit(pl.DataFrame({"k": [1], "t": [BASE]}), sources={"ev": pl.DataFrame(
        schema={"k": pl.Int64, "t": pl.Datetime("us")})})
    state = fitted.online_state(lateness=dt.timedelta(0))
    for i in range(50):
        state.ingest("ev", {"k": 1, "t": BASE + i * S})
    assert fitted.row_evaluator(state=state)({"k": 1, "t": BASE + 60 * S}) == \
        {"all": 50, "recent": 0}
    assert len(state._sources["ev"].logs[(1,)].times) == 50


def test_save_and_restore_keep_the_eviction_horizon(tmp_path) -> None:
    state = _state(dt.timedelta(seconds=1))
    rng = random.Random(3)
    for i in range(200):
        state.ingest("ev", {"k": rng.choice([1, 2]), "t": BASE + i * S, "x": 1.5, "s": "b"})
    state.save(tmp_path / "s.json")
    restored = FITTED.online_state(restore=tmp_path / "s.json", lateness=dt.timedelta(seconds=1))
    evaluate = FITTED.row_evaluator(state=restored)
    with pytest.raises(fd.InputError, match="evicted"):
        evaluate({"k": 1, "t": BASE + 100 * S})
    now = {"k": 1, "t": BASE + 200 * S}
    assert evaluate(now) == FITTED.row_evaluator(state=state)(now)


def test_negative_lateness_is_refused() -> None:
    with pytest.raises(fd.InputError, match="must not be negative"):
        _state(-S)
