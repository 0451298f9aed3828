"""Windows over several sources, a two-field key and ``by=``: the batch backend and online
replay agree bit for bit. The reader groups windows by (source, key inputs) to share one
key lookup and bisect per group; the batch backend numbers multi-field keys by a join; this
covers both where the single-source oracle spec cannot."""

from __future__ import annotations

import datetime as dt
import math
import random

import polars as pl
import pytest

import featuredsl as fd

BASE = dt.datetime(2024, 5, 1)

SPEC = """
input {
  u:     int?
  m:     string?
  other: int?
  t:     timestamp
  time t
}

source a {
  u: int?
  m: string?
  x: float?
  t: timestamp
  key u, m
  time t
}

source b {
  uid: int?
  y:   int?
  t:   timestamp
  key uid
  time t
}

feature a_n     = count(a, over=10us)
feature a_sum   = sum(a.x, over=10us)
feature a_mean  = mean(a.x, over=10us)
feature a_max   = max(a.x)
feature a_sum20 = sum(a.x, over=20us)
feature b_u     = count(b, over=20us, by=u)
feature b_other = sum(b.y, over=20us, by=other)
feature b_mean  = mean(b.y, by=other)
feature b_last  = seconds_since_last(b, by=u)
"""


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("parts", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_batch_equals_online_replay_over_groups(seed: int, parts: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if parts:  # the batch backend splits the keys into parts, as it does from 2M events
        from featuredsl.windows import batch

        monkeypatch.setattr(batch, "_PARTITION_FROM", 0)
        monkeypatch.setattr(batch, "_PARTITION_EVENTS", 4)
    rng = random.Random(seed)

    def ts() -> dt.datetime:
        return BASE + dt.timedelta(microseconds=rng.choice([0, 1, 5, 10, 11, 20, 21, 30]))

    us, ms = [1, 2, 3, None], ["p", "q", None]
    xs = [0.1, 0.2, -0.0, 1e16, 1e-7, None, 2.5, math.inf, -math.inf]
    a_log = [{"u": rng.choice(us), "m": rng.choice(ms), "x": rng.choice(xs), "t": ts()}
             for _ in range(rng.choice([0, 3, 40]))]
    b_log = [{"uid": rng.choice(us), "y": rng.choice([1, -7, 2**62, None]), "t": ts()}
             for _ in range(rng.choice([0, 3, 40]))]
    rows = [{"u": rng.choice(us), "m": rng.choice(ms), "other": rng.choice(us), "t": ts()}
            for _ in range(50)]
    a_frame = pl.DataFrame(a_log, schema={"u": pl.Int64, "m": pl.String, "x": pl.Float64,
                                          "t": pl.Datetime("us")})
    b_frame = pl.DataFrame(b_log, schema={"uid": pl.Int64, "y": pl.Int64,
                                          "t": pl.Datetime("us")})
    row_frame = pl.DataFrame(rows, schema={"u": pl.Int64, "m": pl.String, "other": pl.Int64,
                                           "t": pl.Datetime("us")})
    spec = fd.compile(SPEC).fit(row_frame, sources={"a": a_frame, "b": b_frame})
    batch = spec.transform(row_frame, sources={"a": a_frame, "b": b_frame}).to_dicts()

    # online: every event strictly before a row's time is ingested before the row is read
    state = spec.online_state(lateness=dt.timedelta(days=1))
    evaluate = spec.row_evaluator(state=state)
    events = sorted([(e["t"], 0, "a", e) for e in a_log] + [(e["t"], 0, "b", e) for e in b_log]
                    + [(r["t"], -1, "", i) for i, r in enumerate(rows)], key=lambda p: p[:2])
    online: dict[int, dict] = {}
    for _, kind, source, item in events:
        if kind < 0:
            online[item] = evaluate(rows[item])
        else:
            state.ingest(source, item)
    for i, want in enumerate(batch):
        got = online[i]
        bad = {f: (got[f], want[f]) for f in want if not _same(got[f], want[f])}
        assert not bad, f"row {i} {rows[i]}: (online, batch) {bad}"
