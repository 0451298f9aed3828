"""The Redis online state against the in-process one, on a real redis-server (no mock).

Bit for bit on generated logs (every stored kind, multi-field keys, late events, eviction and
its refusals, times beyond 2**53 µs); namespaces isolate specs; unusual keys are stored
unambiguously; a bad event writes nothing; eviction changes no allowed read; concurrent
ingest loses no event; one round trip per read; clean errors for bad URLs and a dead
server. tests/test_windows_oracle.py checks both states against the SPEC 13 oracle.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import sys
import threading

import polars as pl
import pytest
from redis_server import _start, _stop, fresh_namespace

import featuredsl as fd
from featuredsl.windows.redis_state import StateError

EPOCH = dt.datetime(1970, 1, 1)
US = dt.timedelta(microseconds=1)
NEVER = dt.timedelta(days=999_999_999)  # a lateness that evicts nothing

SPEC = """
input {
  k: int?
  g: string?
  t: timestamp?
  time t
}

source ev {
  k:  int?
  g:  string?
  t:  timestamp
  x:  float?
  n:  int?
  d:  date?
  ts: timestamp?
  du: duration?
  b:  bool?
  key k, g
  time t
}

feature c     = count(ev, over=10us)
feature sx    = sum(ev.x, over=10us)
feature mn    = mean(ev.n, over=7us)
feature sn    = sum(ev.n, over=10us)
feature lo_d  = min(ev.d, over=10us)
feature hi_ts = max(ev.ts, over=10us)
feature f_du  = first(ev.du, over=10us)
feature l_b   = last(ev.b, over=10us, where=ev.x > 0.0)
feature nd    = count_distinct(ev.ts, over=10us)
feature gap   = seconds_since_last(ev, over=10us)
feature c3    = count(ev.x, over=3us, where=ev.b)
"""

EV_SCHEMA = {"k": pl.Int64, "g": pl.String, "t": pl.Datetime("us"), "x": pl.Float64,
             "n": pl.Int64, "d": pl.Date, "ts": pl.Datetime("us"), "du": pl.Duration("us"),
             "b": pl.Boolean}


def _fit(text: str, schema: dict) -> fd.FittedSpec:
    spec = fd.compile(text)
    rows = pl.DataFrame({n: [] for n in spec.inputs}, schema={
        n: schema.get(n, pl.Datetime("us")) for n in spec.inputs})
    return spec.fit(rows, sources={"ev": pl.DataFrame(schema=schema)})


@pytest.fixture(scope="module")
def fitted() -> fd.FittedSpec:
    return _fit(SPEC, EV_SCHEMA)


FLOATS = [0.0, -0.0, 0.1, 0.2, 1e16, 1e-7, -1e16, 5e-324, 1.7976931348623157e308, math.inf,
          -math.inf, math.nan, None, 2.5]
INTS = [0, 1, -1, 2**63 - 1, -(2**63), None, 7]
KEYS = [(1, "a"), (1, "a"), (1, "b"), (2, "a"), (None, "a"), (2**63 - 1, "a:b"), (1, None)]


def _event(rng: random.Random, t: dt.datetime) -> dict:
    return {"k": (key := rng.choice(KEYS))[0], "g": key[1], "t": t, "x": rng.choice(FLOATS),
            "n": rng.choice(INTS),
            "d": rng.choice([None, dt.date(1, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]),
            "ts": rng.choice([None, t, dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59)]),
            "du": rng.choice([None, dt.timedelta(0), -US, dt.timedelta(days=3), 2**62 * US]),
            "b": rng.choice([None, True, False])}


def _outcome(evaluate, row: dict) -> object:
    try:
        return ("value", repr(evaluate(row)))  # repr: floats by their digits, types shown
    except fd.InputError as exc:
        return ("refused", str(exc))


def _run(fitted: fd.FittedSpec, url: str, centers: list[dt.datetime], lateness: dt.timedelta,
         seed: int, exact_refusals: bool) -> None:
    """Events at random times around ``centers`` (ties, gaps of W and W +- 1), ingested in a
    random order interleaved with reads, on Redis and in process: every read gives the same
    value (or, with ``exact_refusals``, the same refusal) and never differs from a state
    that evicts nothing."""
    rng = random.Random(seed)
    red = fitted.online_state(url, namespace=fresh_namespace("cmp"), lateness=lateness)
    mem = fitted.online_state(lateness=lateness)
    full = fitted.online_state(lateness=NEVER)
    states = (red, mem, full)
    evals = [fitted.row_evaluator(state=s) for s in states]

    def when() -> dt.datetime:
        return rng.choice(centers) + rng.choice([0, 0, 1, 3, 7, 9, 10, 11, 20, 21, 40]) * US

    log = [_event(rng, when()) for _ in range(rng.choice([1, 10, 60, 150]))]
    if rng.random() < 0.5:
        log.sort(key=lambda e: e["t"])  # mostly in order, then a few late ones
        for _ in range(3):
            i, j = rng.randrange(len(log)), rng.randrange(len(log))
            log[i], log[j] = log[j], log[i]
    pos = 0
    while pos < len(log):
        n = rng.choice([1, 1, 1, 5])
        batch = log[pos:pos + n]
        pos += n
        for s in states:
            if n == 1:
                s.ingest("ev", batch[0])
            else:
                s.ingest_batch("ev", batch)
        if rng.random() < 0.1:
            for s in states:
                s.evict()
        for _ in range(3):
            k = rng.choice([*KEYS, (3, "z")])
            row = {"k": k[0], "g": k[1], "t": None if rng.random() < 0.03 else when()}
            r, m, f = (_outcome(e, row) for e in evals)
            assert f[0] == "value", (row, f)
            if r[0] == "value":
                assert r == f, (row, r, f)
            if m[0] == "value":
                assert m == f, (row, m, f)
            if exact_refusals:
                assert r == m, (row, r, m)
            else:
                assert r[0] == "value" or m[0] == "refused", (row, r, m)
    assert red.events == mem.events == len(log)


@pytest.mark.parametrize("seed", range(10))
def test_redis_equals_memory_bit_for_bit(fitted: fd.FittedSpec, redis_url: str,
                                         seed: int) -> None:
    centers = [dt.datetime(2024, 3, 31, 1, 59, 59, 999_990), dt.datetime(1700, 1, 1),
               dt.datetime(2250, 12, 31)]
    lateness = random.Random(seed).choice([dt.timedelta(0), 3 * US, dt.timedelta(hours=1)])
    _run(fitted, redis_url, centers, lateness, seed, exact_refusals=True)


@pytest.mark.parametrize("seed", range(6))
def test_times_beyond_2_53_microseconds_are_exact(fitted: fd.FittedSpec, redis_url: str,
                                                  seed: int) -> None:
    # doubles hold µs exactly only up to 2**53 (years 1685..2255): around and beyond it the
    # scores are rounded, and the state must still order and bound by the exact times
    edge = EPOCH + 2**53 * US
    centers = [edge - 20 * US, edge, EPOCH - 2**53 * US - 5 * US, dt.datetime(1, 1, 1),
               dt.datetime(9999, 12, 31, 23, 59, 59)]
    lateness = random.Random(seed).choice([dt.timedelta(0), NEVER])
    _run(fitted, redis_url, centers, lateness, 100 + seed, exact_refusals=False)


def test_replay_of_an_event_log_matches_batch(fitted: fd.FittedSpec, redis_url: str) -> None:
    rng = random.Random(7)
    base = dt.datetime(2024, 1, 1)
    log = [_event(rng, base + rng.choice([0, 1, 10, 11, 12, 30]) * US) for _ in range(200)]
    log = [e for e in log if e["k"] is not None and e["g"] is not None] or log
    batch = fitted.transform(pl.DataFrame([{"k": e["k"], "g": e["g"], "t": e["t"]}
                                           for e in log]),
                             sources={"ev": pl.DataFrame(log, schema=EV_SCHEMA)}).to_dicts()
    state = fitted.online_state(redis_url, namespace=fresh_namespace("replay"),
                                lateness=dt.timedelta(0))
    evaluate = fitted.row_evaluator(state=state)
    got: list[dict | None] = [None] * len(log)
    for i, e in sorted(enumerate(log), key=lambda p: (p[1]["t"], p[0])):
        got[i] = evaluate({"k": e["k"], "g": e["g"], "t": e["t"]})
        state.ingest("ev", e)
    for i, (g, b) in enumerate(zip(got, batch, strict=True)):
        assert g is not None and g.keys() == b.keys()
        for f in g:  # batch gives aware timestamps as ZoneInfo("UTC"), rows as timezone.utc
            same = repr(g[f]) == repr(b[f]) or (
                isinstance(g[f], dt.datetime) and g[f] == b[f]
                and g[f].utcoffset() == b[f].utcoffset() == dt.timedelta(0))
            assert same, (i, log[i], f, g[f], b[f])


# ------------------------------------------------------------------------------ namespaces

SMALL = """
input {
  k: int
  t: timestamp
  time t
}
source ev {
  k: int
  t: timestamp
  key k
  time t
}
feature c = count(ev, over=1d)
"""
SMALL_SCHEMA = {"k": pl.Int64, "t": pl.Datetime("us")}
T0 = dt.datetime(2024, 5, 1)


def test_namespaces_isolate_two_specs(redis_url: str) -> None:
    a = _fit(SMALL, SMALL_SCHEMA)
    b = _fit(SMALL.replace("over=1d", "over=2d"), SMALL_SCHEMA)
    sa, sb = a.online_state(redis_url), b.online_state(redis_url)
    assert sa.namespace != sb.namespace  # derived from each spec's hash
    sa.ingest("ev", {"k": 1, "t": T0})
    row = {"k": 1, "t": T0 + dt.timedelta(hours=1)}
    assert a.row_evaluator(state=sa)(row)["c"] >= 1
    assert b.row_evaluator(state=sb)(row)["c"] == 0
    # another process serving the same spec (a fresh compile of the same text) shares it
    again = _fit(SMALL, SMALL_SCHEMA)
    shared = again.online_state(redis_url)
    assert shared.namespace == sa.namespace
    assert again.row_evaluator(state=shared)(row) == a.row_evaluator(state=sa)(row)
    # an explicit namespace keeps apart even one spec's states
    x = a.online_state(redis_url, namespace=fresh_namespace("iso"))
    assert a.row_evaluator(state=x)(row)["c"] == 0


def test_a_namespace_holding_another_specs_state_is_refused(redis_url: str) -> None:
    a = _fit(SMALL, SMALL_SCHEMA)
    b = _fit(SMALL.replace("over=1d", "over=2d"), SMALL_SCHEMA)
    ns = fresh_namespace("layout")
    a.online_state(redis_url, namespace=ns)
    with pytest.raises(fd.InputError, match="other sources or windows"):
        b.online_state(redis_url, namespace=ns)
    with pytest.raises(fd.InputError, match="another lateness"):
        a.online_state(redis_url, namespace=ns, lateness=dt.timedelta(0))
    with pytest.raises(fd.InputError, match="namespace"):
        a.online_state(redis_url, namespace="has space")


# ------------------------------------------------------------------------------ keys

KEYED = """
input {
  a: int
  s: string
  d: date
  b: bool
  t: timestamp
  time t
}
source ev {
  a: int
  s: string
  d: date
  b: bool
  t: timestamp
  key a, s, d, b
  time t
}
feature c = count(ev)
"""
KEYED_SCHEMA = {"a": pl.Int64, "s": pl.String, "d": pl.Date, "b": pl.Boolean,
                "t": pl.Datetime("us")}


def test_unusual_keys_are_stored_unambiguously(redis_url: str) -> None:
    fitted = _fit(KEYED, KEYED_SCHEMA)
    red = fitted.online_state(redis_url, namespace=fresh_namespace("keys"))
    mem = fitted.online_state()
    ints = [-(2**63), 2**63 - 1, 0, -1]
    strings = ["", ":", "a:b", "a", "b:c", '"', "[1]", "\\", ",", "Straße", "日本", "🛒", "a\x00b",
               ":e:ev:", "]", "a,b"]
    dates = [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1)]
    rng = random.Random(5)
    keys = [(rng.choice(ints), rng.choice(strings), rng.choice(dates), rng.choice([True, False]))
            for _ in range(60)]
    # pairs that a naive "a:b" joining would confuse
    keys += [(1, "a:b", dates[0], True), (1, "a", dates[0], True)]
    for i, (a, s, d, b) in enumerate(keys):
        e = {"a": a, "s": s, "d": d, "b": b, "t": T0 + i * US}
        red.ingest("ev", e)
        mem.ingest("ev", e)
    er, em = fitted.row_evaluator(state=red), fitted.row_evaluator(state=mem)
    probes = [*keys, (5, "never", dates[0], False), (1, "a:b", dates[0], False)]
    for a, s, d, b in probes:
        row = {"a": a, "s": s, "d": d, "b": b, "t": T0 + dt.timedelta(seconds=1)}
        assert er(row) == em(row), row
    assert sum(er({"a": a, "s": s, "d": d, "b": b, "t": T0 + dt.timedelta(seconds=1)})["c"]
               for a, s, d, b in set(keys)) == len(keys)


# ------------------------------------------------------------------------------ bad events


def _snapshot(state) -> dict:
    client = state._client
    out = {}
    for key in client.scan_iter(match=state.namespace.encode() + b":*"):
        kind = client.type(key)
        out[key] = client.zrange(key, 0, -1, withscores=True) if kind == b"zset" \
            else client.get(key)
    return out


def test_a_bad_event_writes_nothing(fitted: fd.FittedSpec, redis_url: str) -> None:
    state = fitted.online_state(redis_url, namespace=fresh_namespace("bad"))
    good = {"k": 1, "g": "a", "t": T0, "x": 1.5}
    state.ingest("ev", good)
    before, events = _snapshot(state), state.events
    bad = [{"k": 1, "g": "a", "t": None}, {"k": "one", "g": "a", "t": T0},
           {"k": 1, "g": "a", "t": T0, "x": "1.5"}, "not a dict",
           {"k": 1, "g": "a", "t": T0, "d": dt.datetime(2024, 1, 1, 5)}]
    for e in bad:
        with pytest.raises(fd.InputError):
            state.ingest("ev", e)
    for e in bad[:3]:
        with pytest.raises(fd.InputError, match=r"event 2"):
            state.ingest_batch("ev", [good, good, e, good])
    with pytest.raises(fd.InputError, match="unknown source"):
        state.ingest("nope", good)
    assert _snapshot(state) == before
    assert state.events == events


# ------------------------------------------------------------------------------ eviction

EVICT = """
input {
  k: int
  t: timestamp
  time t
}
source ev {
  k: int
  t: timestamp
  x: float?
  key k
  time t
}
feature c  = count(ev, over=10s)
feature sx = sum(ev.x, over=10s)
feature lo = min(ev.x, over=3s)
"""
EVICT_SCHEMA = {"k": pl.Int64, "t": pl.Datetime("us"), "x": pl.Float64}
S = dt.timedelta(seconds=1)


@pytest.fixture(scope="module")
def evicting() -> fd.FittedSpec:
    return _fit(EVICT, EVICT_SCHEMA)


def test_eviction_bounds_the_state_and_changes_no_allowed_read(evicting: fd.FittedSpec,
                                                               redis_url: str) -> None:
    lateness = 2 * S
    red = evicting.online_state(redis_url, namespace=fresh_namespace("ev"), lateness=lateness)
    mem = evicting.online_state(lateness=lateness)
    full = evicting.online_state(lateness=NEVER)
    rng = random.Random(11)
    for i in range(600):  # in order, with some late events within the lateness
        t = T0 + i * S / 2 - rng.choice([0, 0, 0, 1, 2]) * S / 2
        e = {"k": rng.choice([1, 2, 3]), "t": t, "x": rng.choice([0.1, 1e16, None, -2.5])}
        for s in (red, mem, full):
            s.ingest("ev", e)
    newest = T0 + 599 * S / 2
    ev = [evicting.row_evaluator(state=s) for s in (red, mem, full)]
    for k in (1, 2, 3, 4):
        for back in range(0, 5):  # allowed reads: at or after newest - lateness
            row = {"k": k, "t": newest - back * S / 2 + rng.choice([0, 1, 7]) * S}
            r, m, f = (_outcome(e, row) for e in ev)
            assert r == m == f, row
    # bounded: at most the last longest-window + lateness (12 s, two events a second)
    client = red._client
    for k in (1, 2, 3):
        assert client.zcard(red._codecs["ev"].prefix + f"[{k}]".encode()) <= 30
    # a read reaching evicted events is refused, with the in-process message
    row = {"k": 1, "t": newest - 60 * S}
    r, m = _outcome(ev[0], row), _outcome(ev[1], row)
    assert r == m and r[0] == "refused" and "lateness" in r[1]
    # a quiet key is swept by evict(), as in process
    for s in (red, mem):
        s.ingest("ev", {"k": 9, "t": newest + 100 * S, "x": 1.0})
        s.evict()
    for k in (1, 2, 3):
        assert client.zcard(red._codecs["ev"].prefix + f"[{k}]".encode()) == 0
        row = {"k": k, "t": newest + 100 * S}
        assert _outcome(ev[0], row) == _outcome(ev[1], row)


def test_a_lifetime_window_keeps_every_event(redis_url: str) -> None:
    fitted = _fit(SMALL.replace("over=1d", "over=1s") + "feature all = count(ev)\n",
                  SMALL_SCHEMA)
    state = fitted.online_state(redis_url, namespace=fresh_namespace("life"),
                                lateness=dt.timedelta(0))
    # a frame, read and validated like sources= (as in process)
    state.ingest_batch("ev", pl.DataFrame({"k": [1] * 50, "t": [T0 + i * S for i in range(50)]}))
    assert fitted.row_evaluator(state=state)({"k": 1, "t": T0 + 60 * S}) == {"c": 0, "all": 50}


# ------------------------------------------------------------------------------ threads


THREADS = """
input {
  k: int
  k2: int
  t: timestamp
  time t
}
source ev {
  k: int
  t: timestamp
  key k
  time t
}
feature c = count(ev, over=1000d)
feature n = count(ev, over=999d, by=k2)
"""


def test_concurrent_ingest_loses_no_event_and_reads_are_whole(redis_url: str) -> None:
    # `n` reads the same events through another input: two fetches in one read, which must
    # see one snapshot
    fitted = _fit(THREADS, {**SMALL_SCHEMA, "k2": pl.Int64})
    state = fitted.online_state(redis_url, namespace=fresh_namespace("threads"))
    evaluate = fitted.row_evaluator(state=state)
    writers, per = 4, 150
    errors: list[BaseException] = []
    torn: list[dict] = []
    done = threading.Event()

    def write(w: int) -> None:
        try:
            for i in range(per):
                e = {"k": 1, "t": T0 + (i * writers + w) * S}  # interleaved: late inserts
                if i % 10 == 0:
                    state.ingest_batch("ev", [e])
                else:
                    state.ingest("ev", e)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        while not done.is_set():
            got = evaluate({"k": 1, "k2": 1, "t": T0 + dt.timedelta(days=500)})
            if got["c"] != got["n"]:  # both windows hold every event: one snapshot
                torn.append(got)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors and not torn
    assert evaluate({"k": 1, "k2": 1, "t": T0 + dt.timedelta(days=500)}) == {
        "c": writers * per, "n": writers * per}
    assert state.events == writers * per


@pytest.mark.parametrize("start", [0, 250, 65_530, 2**32 - 5, 2**48 - 3])
def test_simultaneous_events_keep_log_order_across_byte_boundaries(
        fitted: fd.FittedSpec, redis_url: str, start: int) -> None:
    # the sequence number is big-endian so that member bytes order like the numbers: start
    # the counter just below a byte boundary and tie every event at one microsecond
    red = fitted.online_state(redis_url, namespace=fresh_namespace("seq"))
    red._client.set(red._codecs["ev"].seq_key, start)
    mem = fitted.online_state()
    events = [{"k": 1, "g": "a", "t": T0, "x": 1.0, "b": True,
               "du": i * US, "ts": T0 + (i % 7) * US} for i in range(12)]
    red.ingest_batch("ev", events[:6])
    mem.ingest_batch("ev", events[:6])
    for e in events[6:]:
        red.ingest("ev", e)
        mem.ingest("ev", e)
    row = {"k": 1, "g": "a", "t": T0 + 5 * US}
    got = fitted.row_evaluator(state=red)(row)
    assert got == fitted.row_evaluator(state=mem)(row)
    assert got["f_du"] == dt.timedelta(0) and got["c"] == 12


# ------------------------------------------------------------------------------ round trips


def test_one_round_trip_per_read(fitted: fd.FittedSpec, redis_url: str) -> None:
    state = fitted.online_state(redis_url, namespace=fresh_namespace("rtt"))
    state.ingest_batch("ev", [{"k": 1, "g": "a", "t": T0 + i * US, "x": 1.0} for i in range(20)])
    evaluate = fitted.row_evaluator(state=state)
    client = state._client
    executed = []
    real = client.pipeline

    def counting(*args, **kwargs):
        pipe = real(*args, **kwargs)
        run = pipe.execute
        pipe.execute = lambda *a, **k: (executed.append(len(pipe.command_stack)), run(*a, **k))[1]
        return pipe

    client.pipeline = counting
    try:
        got = evaluate({"k": 1, "g": "a", "t": T0 + 15 * US})
        assert executed and len(executed) == 1  # one pipeline for 11 windows
        executed.clear()
        assert evaluate({"k": None, "g": "a", "t": T0}) == evaluate({"k": 5, "g": "a", "t": None})
        assert executed == []  # a null key or time needs no round trip
    finally:
        client.pipeline = real
    assert got["c"] == 10


# ------------------------------------------------------------------------------ errors


def test_unreachable_and_bad_urls_are_input_errors(fitted: fd.FittedSpec) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"redis://127.0.0.1:{port}/0"
    with pytest.raises(fd.InputError, match=f"online_state\\('{url}'\\): cannot reach"):
        fitted.online_state(url)
    with pytest.raises(fd.InputError) as info:
        fitted.online_state(f"redis://:hunter2@127.0.0.1:{port}/0")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
    for bad in ["http://127.0.0.1:6379", "localhost:6379", "memory"]:
        with pytest.raises(fd.InputError, match="not a Redis URL"):
            fitted.online_state(bad)
    with pytest.raises(fd.InputError):
        fitted.online_state("redis://127.0.0.1:notaport/0")
    with pytest.raises(fd.InputError, match="pass its url"):
        fitted.online_state(namespace="x")
    with pytest.raises(fd.InputError, match="restore"):
        fitted.online_state(f"redis://127.0.0.1:{port}/0", restore="state.json")


def test_without_redis_py_the_message_says_what_to_install(fitted: fd.FittedSpec,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # `import redis` raises ImportError
    with pytest.raises(fd.InputError, match=r"pip install 'featuredsl\[redis\]'"):
        fitted.online_state("redis://127.0.0.1:1/0")


def test_row_evaluator_takes_either_state_by_interface(fitted: fd.FittedSpec,
                                                       redis_url: str) -> None:
    with pytest.raises(fd.InputError, match="takes an online state"):
        fitted.row_evaluator(state=object())  # type: ignore[arg-type]
    other = _fit(SMALL, SMALL_SCHEMA)
    with pytest.raises(fd.InputError, match="another spec"):
        fitted.row_evaluator(state=other.online_state(redis_url))


def test_a_server_that_goes_away_is_a_state_error(fitted: fd.FittedSpec, redis_url: str,
                                                  tmp_path) -> None:
    import shutil

    exe = shutil.which("redis-server")
    assert exe is not None  # the redis_url fixture would have skipped already
    proc, port = _start(exe, tmp_path)
    try:
        state = fitted.online_state(f"redis://127.0.0.1:{port}/0")
        evaluate = fitted.row_evaluator(state=state)
        state.ingest("ev", {"k": 1, "g": "a", "t": T0})
    finally:
        _stop(proc)
    with pytest.raises(StateError, match="ingest failed"):
        state.ingest("ev", {"k": 1, "g": "a", "t": T0})
    with pytest.raises(StateError, match="read failed"):
        evaluate({"k": 1, "g": "a", "t": T0 + S})
