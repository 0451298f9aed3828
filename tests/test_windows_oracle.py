"""Window aggregates against an O(n^2) oracle written straight from SPEC 13, on both backends.

Generated event logs are weighted to what breaks window code: many events at the same
microsecond, gaps of exactly ``over`` and ``over +- 1 µs``, keys with one event, null keys,
all-null windows, NaN, +-inf, -0.0, 1e16 next to 1e-7, subnormals, int64 edges, non-ASCII and
empty strings. Three paths must give the oracle's value on every row, bit for bit:

* the batch backend (``transform(rows, sources=...)``), rows being the events themselves or a
  spine of other (key, time) rows, in any order;
* online replay: the events in time order, each row evaluated just before its event is
  ingested;
* online after ingesting every event in a shuffled order (late events inserted in order),
  then reading the spine.

The online checks run against the in-process state and against a real Redis server
(``redis_url``, tests/redis_server.py).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from fractions import Fraction

import polars as pl
import pytest
from redis_server import fresh_namespace

import featuredsl as fd

BASE = dt.datetime(2024, 3, 31, 0, 59, 59, 999_990)  # near a DST change in Europe: irrelevant
W = 10  # µs: `over=10us`

SPEC = """
input {
  k: int?
  t: timestamp?
  time t
}

source ev {
  k: int?
  t: timestamp
  x: float?
  n: int?
  s: string?
  key k
  time t
}

feature c_all      = count(ev)
feature c_w        = count(ev, over=10us)
feature c_x        = count(ev.x, over=10us)
feature c_where    = count(ev, over=10us, where=ev.x > 0.0)
feature sum_x      = sum(ev.x, over=10us)
feature sum_x_all  = sum(ev.x)
feature sum_n      = sum(ev.n, over=10us)
feature sum_where  = sum(ev.x, where=ev.s == "a")
feature mean_x     = mean(ev.x, over=10us)
feature mean_n     = mean(ev.n)
feature min_x      = min(ev.x, over=10us)
feature max_n      = max(ev.n, over=10us)
feature min_s      = min(ev.s)
feature max_s      = max(ev.s, over=10us)
feature first_s    = first(ev.s, over=10us)
feature last_x     = last(ev.x)
feature last_n_w   = last(ev.n, over=10us, where=ev.n is not null and ev.n > 0)
feature distinct_x = count_distinct(ev.x, over=10us)
feature distinct_s = count_distinct(ev.s)
feature since      = seconds_since_last(ev)
feature since_w    = seconds_since_last(ev, over=10us)
"""

FLOATS = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 2.675, 1e16, 1e-7, -1e16, 5e-324, -5e-324,
          1e308, 1.7976931348623157e308, math.inf, -math.inf, math.nan, None, None, 3.5]
INTS = [0, 1, -1, 7, 2**62, 2**63 - 1, -(2**63), -(2**63) + 1, None, 100]
STRINGS = ["a", "b", "", "Straße", "日本", "🛒", "a\x00", "A", None]
KEYS = [1, 1, 2, 2, 3, None]


def _time(rng: random.Random) -> int:
    """An event time in µs after BASE: mostly a small range (ties, gaps of W and W +- 1)."""
    r = rng.random()
    if r < 0.8:
        return rng.choice([0, 0, 1, 5, 9, 10, 11, 20, 21, 30, 31, 40])
    if r < 0.95:
        return rng.randrange(0, 60)
    return rng.choice([10**9, 86_400 * 10**6 * 365])


def events(rng: random.Random, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        out.append({"k": rng.choice(KEYS), "t": BASE + dt.timedelta(microseconds=_time(rng)),
                    "x": rng.choice(FLOATS), "n": rng.choice(INTS), "s": rng.choice(STRINGS)})
    return out


def spine(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        t = None if rng.random() < 0.05 else BASE + dt.timedelta(microseconds=_time(rng))
        rows.append({"k": rng.choice([*KEYS, 4]), "t": t})
    return rows


# ------------------------------------------------------------------------------ the oracle


def _canon(v: object) -> object:
    if isinstance(v, float):
        if v != v:
            return None
        return 0.0 if v == 0.0 else v
    return v


def _fsum(vals: list[float]) -> float | None:
    if math.inf in vals and -math.inf in vals:
        return None
    if math.inf in vals:
        return math.inf
    if -math.inf in vals:
        return -math.inf
    total = sum((Fraction(v) for v in vals), Fraction(0))
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def oracle(log: list[dict], row: dict) -> dict:
    """Every feature of SPEC's test spec for one row, from SPEC 13's definitions."""
    k, t = row["k"], row["t"]
    ordered = [e for _, e in sorted(enumerate(log), key=lambda p: (p[1]["t"], p[0]))]

    def window(over: int | None, where=lambda e: True) -> list[dict]:
        if k is None or t is None:
            return []
        lo = None if over is None else t - dt.timedelta(microseconds=over)
        return [e for e in ordered if e["k"] == k and e["t"] < t
                and (lo is None or e["t"] >= lo) and where(e)]

    def vals(es: list[dict], f: str) -> list:
        return [v for e in es if (v := _canon(e[f])) is not None]

    def int_sum(vs: list[int]) -> int | None:
        s = sum(vs)
        return s if -(2**63) <= s < 2**63 else None

    def mean(total: float | None, vs: list) -> float | None:
        return None if not vs or total is None else total / float(len(vs))

    def since(es: list[dict]) -> float | None:
        return None if not es else ((t - es[-1]["t"]) // dt.timedelta(microseconds=1)) / 1e6

    w, a = window(W), window(None)
    x_pos = window(W, lambda e: _canon(e["x"]) is not None and e["x"] > 0.0)
    s_a = window(None, lambda e: e["s"] == "a")
    n_pos = window(W, lambda e: e["n"] is not None and e["n"] > 0)
    xw, nw, sw = vals(w, "x"), vals(w, "n"), vals(w, "s")
    return {
        "c_all": len(a), "c_w": len(w), "c_x": len(xw), "c_where": len(x_pos),
        "sum_x": _fsum(xw), "sum_x_all": _fsum(vals(a, "x")), "sum_n": int_sum(nw),
        "sum_where": _fsum(vals(s_a, "x")),
        "mean_x": mean(_fsum(xw), xw), "mean_n": mean(float(sum(vals(a, "n"))), vals(a, "n")),
        "min_x": min(xw, default=None), "max_n": max(nw, default=None),
        "min_s": min(vals(a, "s"), default=None), "max_s": max(sw, default=None),
        "first_s": sw[0] if sw else None,
        "last_x": vals(a, "x")[-1] if vals(a, "x") else None,
        "last_n_w": vals(n_pos, "n")[-1] if vals(n_pos, "n") else None,
        "distinct_x": len(set(xw)), "distinct_s": len(set(vals(a, "s"))),
        "since": since(a), "since_w": since(w),
    }


# ------------------------------------------------------------------------------ comparison


def same_bits(a: object, b: object) -> bool:
    """Equal values of the same type; floats by their bits (-0.0 is not 0.0 here)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b)
    return type(a) is type(b) and a == b


def assert_rows(got: list[dict], want: list[dict], rows: list[dict], what: str) -> None:
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        bad = {f: (g[f], w[f]) for f in w if not same_bits(g[f], w[f])}
        assert not bad, f"{what}: row {i} {rows[i]}: (got, oracle) {bad}"


@pytest.fixture(scope="module")
def spec() -> fd.FittedSpec:
    return fd.compile(SPEC).fit(pl.DataFrame({"k": [1], "t": [BASE]}),
                                sources={"ev": _frame([])})


def _frame(log: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(log, schema={"k": pl.Int64, "t": pl.Datetime("us"), "x": pl.Float64,
                                     "n": pl.Int64, "s": pl.String})


def _rows_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"k": pl.Int64, "t": pl.Datetime("us")})


@pytest.mark.parametrize("seed", range(12))
def test_batch_and_online_match_the_oracle(spec: fd.FittedSpec, seed: int) -> None:
    rng = random.Random(seed)
    log = events(rng, rng.choice([0, 1, 5, 40, 120]))
    queries = spine(rng, 60)
    want_events = [oracle(log, e) for e in log]
    want_spine = [oracle(log, q) for q in queries]

    # batch: rows are the events themselves, then a spine; shuffled events change nothing
    got = spec.transform(_frame(log).select("k", "t"), sources={"ev": _frame(log)}).to_dicts()
    assert_rows(_python(got), want_events, log, "batch, rows = events")
    got = spec.transform(_rows_frame(queries), sources={"ev": _frame(log)}).to_dicts()
    assert_rows(_python(got), want_spine, queries, "batch, spine")
    shuffled = log[:]
    rng.shuffle(shuffled)
    # a shuffled log: simultaneous events change order, which first/last see; the oracle
    # orders them by their position in the log it is given
    got = spec.transform(_rows_frame(queries), sources={"ev": _frame(shuffled)}).to_dicts()
    assert_rows(_python(got), [oracle(shuffled, q) for q in queries], queries,
                "batch, spine, shuffled log")


@pytest.fixture(params=["memory", "redis"])
def new_state(request: pytest.FixtureRequest, spec: fd.FittedSpec):
    """Makes fresh online states: in process, or on the test Redis server."""
    if request.param == "memory":
        return spec.online_state
    url = request.getfixturevalue("redis_url")
    return lambda: spec.online_state(url, namespace=fresh_namespace("oracle"))


@pytest.mark.parametrize("seed", range(12))
def test_online_matches_the_oracle(spec: fd.FittedSpec, new_state, seed: int) -> None:
    rng = random.Random(seed)
    log = events(rng, rng.choice([0, 1, 5, 40, 120]))
    queries = spine(rng, 60)

    # online replay: in time order (the log's order among ties), read then ingest
    state = new_state()
    evaluate = spec.row_evaluator(state=state)
    replay = []
    for _, e in sorted(enumerate(log), key=lambda p: (p[1]["t"], p[0])):
        replay.append((e, evaluate({"k": e["k"], "t": e["t"]})))
        state.ingest("ev", e)
    for e, got_row in replay:
        assert_rows([got_row], [oracle(log, e)], [e], "online replay")
    # every event ingested, out of order (late inserts), then the spine
    late = new_state()
    late_eval = spec.row_evaluator(state=late)
    for e in log[::-1]:
        late.ingest("ev", e)
    got = [late_eval(q) for q in queries]
    assert_rows(got, [oracle(log[::-1], q) for q in queries], queries, "online, late events")


def _python(rows: list[dict]) -> list[dict]:
    """Batch output as the row evaluator gives it (durations are float seconds already)."""
    return rows


#: How the batch backend numbers keys and times depends on the data: one dense int key is its
#: own id, any other key goes through a join; times are offsets unless (keys x time span)
#: overflows the int64 codes, then ranks. Each path against the oracle.
_SPARSE = {1: 10**15, 2: -(2**62), 3: 7}
KEY_PATHS = {
    "string key (join)": ("string?", lambda k: None if k is None else f"k{k}é"),
    "sparse int key (join)": ("int?", lambda k: None if k is None else _SPARSE.get(k, k)),
    "time ranks (codes overflow)": ("int?", lambda k: k),
}


@pytest.mark.parametrize("path", KEY_PATHS)
@pytest.mark.parametrize("seed", range(6))
def test_batch_key_and_time_paths_match_the_oracle(path: str, seed: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from featuredsl.windows import kernels

    kind, key = KEY_PATHS[path]
    if path.startswith("time ranks"):
        monkeypatch.setattr(kernels, "CODE_LIMIT", 1)
    spec = fd.compile(SPEC.replace("k: int?", f"k: {kind}"))
    dtype = pl.String if kind.startswith("string") else pl.Int64
    rng = random.Random(1000 + seed)
    log = [dict(e, k=key(e["k"])) for e in events(rng, rng.choice([1, 5, 40, 120]))]
    queries = [dict(q, k=key(q["k"])) for q in spine(rng, 60)]
    schema = {"k": dtype, "t": pl.Datetime("us"), "x": pl.Float64, "n": pl.Int64, "s": pl.String}
    frame = pl.DataFrame(log, schema=schema)
    rows = pl.DataFrame(queries, schema={"k": dtype, "t": pl.Datetime("us")})
    fitted = spec.fit(rows, sources={"ev": frame})
    got = fitted.transform(rows, sources={"ev": frame}).to_dicts()
    assert_rows(got, [oracle(log, q) for q in queries], queries, f"batch, {path}")
    got = fitted.transform(frame.select("k", "t"), sources={"ev": frame}).to_dicts()
    assert_rows(got, [oracle(log, e) for e in log], log, f"batch, rows = events, {path}")


@pytest.mark.parametrize("seed", range(6))
def test_batch_backfill_without_null_keys_matches_the_oracle(spec: fd.FittedSpec,
                                                             seed: int) -> None:
    """Rows that are the events themselves, every key set: the batch backend takes its
    backfill path (the rows in the events' sorted order, ``hi`` from the runs of equal
    (key, time)), which a log with a null key never reaches."""
    rng = random.Random(2000 + seed)
    log = [e for e in events(rng, 150) if e["k"] is not None]
    got = spec.transform(_frame(log).select("k", "t"), sources={"ev": _frame(log)}).to_dicts()
    assert_rows(got, [oracle(log, e) for e in log], log, "batch backfill")


@pytest.mark.parametrize("seed", range(8))
def test_big_transform_paths_match_the_oracle(spec: fd.FittedSpec, seed: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What a big transform does differently, forced on small logs: the keys are split into
    parts computed on two threads, results go back to row order one column at a time,
    Int128 sums are gathered in chunks. The same values."""
    from featuredsl.windows import batch, kernels

    monkeypatch.setattr(batch, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(batch, "_FRAME_GATHER_ROWS", 0)
    monkeypatch.setattr(kernels, "GATHER_ROWS", 7)
    monkeypatch.setattr(batch, "_PARTITION_FROM", 0)  # keys split in parts of ~3 events
    monkeypatch.setattr(batch, "_PARTITION_EVENTS", 3)
    test_batch_and_online_match_the_oracle(spec, seed)
    test_batch_backfill_without_null_keys_matches_the_oracle(spec, seed)
