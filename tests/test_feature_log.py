"""fd.FeatureLogger: what a row evaluator served, logged to Parquet off the request path.

Every logged value is checked against an independent source (the rows given, the plain
evaluator's answers), the counters against what was sampled, and the files against a writer
killed mid-run.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import zoneinfo
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from featuredsl.backends.row_backend import RowObserver
from featuredsl.featurelog.layout import artifact_id
from featuredsl.functions._hash import u_any
from featuredsl.parity import same_value

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
input { user: string, amount: float?, n: int, ts: timestamp?, tags: list[string]?,
        day: date?, wait: duration? }
feature big = amount > 10.0 ?? false
feature per_item = amount / n
feature n2 = n + 0
feature hour = hour(ts)
feature t = ts
feature tags2 = tags
feature u = upper(user)
feature d = day
feature w = wait
"""

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))


def _rows() -> list[dict]:
    return [
        {"user": "ann", "amount": 12.5, "n": 3,
         "ts": dt.datetime(2024, 3, 10, 23, 30, tzinfo=PLUS2),
         "tags": ["a", "Ünï", ""], "day": dt.date(2024, 2, 29), "wait": dt.timedelta(seconds=1.5),
         "extra": "not logged"},
        {"user": "", "amount": None, "n": 2**63 - 1, "ts": None, "tags": None, "day": None,
         "wait": None},
        {"user": "日本🛒", "amount": math.nan, "n": -(2**63), "ts": dt.datetime(1970, 1, 1),
         "tags": [], "day": dt.date(1, 1, 1), "wait": dt.timedelta(microseconds=-1)},
        {"user": "bob", "amount": -0.0, "n": 0, "ts": dt.datetime(2024, 1, 1, tzinfo=UTC),
         "tags": ["x"], "day": dt.date(9999, 12, 31), "wait": dt.timedelta(days=-3)},
        {"user": "eve", "amount": math.inf, "n": 7, "ts": dt.datetime(2024, 6, 1, 12),
         "tags": ["y", "z"], "day": dt.date(1970, 1, 1), "wait": dt.timedelta(0)},
        {"user": "eve", "amount": -math.inf, "n": -1, "ts": dt.datetime(2024, 6, 1, 12),
         "tags": ["y"], "day": None, "wait": None},
    ]


def _read(directory: Path) -> pl.DataFrame:
    files = sorted(directory.rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def _typed(name: str, v: object) -> object:
    """The value the evaluator validated, written independently: NaN is null, timestamps are
    UTC instants."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC)
    return v


def test_logged_rows_hold_the_typed_inputs_and_the_served_features(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    plain = spec.row_evaluator()
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0, context=["tenant"])
    evaluate = spec.row_evaluator(logger=log)
    rows = _rows()
    served = []
    for i, r in enumerate(rows):
        with log.context(request_id=f"req-{i}", tenant="tënant" if i % 2 else None):
            served.append(evaluate(r))
    before = time.time()
    log.close()
    assert served == [plain(r) for r in rows]
    assert log.counters()["logged"] == len(rows) == log.sampled
    got = _read(tmp_path).sort("__request_id")
    # declared dtypes: the batch backend's
    out_types = spec.transform(pl.DataFrame(
        [pl.Series(k, [], dtype=v) for k, v in got.schema.items() if k.startswith("in.")]
    ).rename(lambda c: c[3:])).schema
    for f in spec.features:
        assert got.schema[f"out.{f}"] == out_types[f]
    assert got.schema["in.amount"] == pl.Float64
    assert got.schema["in.ts"] == pl.Datetime("us", "UTC")
    assert got.schema["in.wait"] == pl.Duration("us")
    assert got.schema["in.tags"] == pl.List(pl.String)
    assert "in.extra" not in got.columns and not [c for c in got.columns if "extra" in c]
    assert got.get_column("__request_id").to_list() == [f"req-{i}" for i in range(len(rows))]
    assert got.get_column("ctx.tenant").to_list() == [None, "tënant"] * 3
    assert set(got.get_column("__artifact")) == {artifact_id(spec)}
    assert set(got.get_column("__featuredsl_version")) == {fd.__version__}
    assert set(got.get_column("__sample_rate")) == {1.0}
    stamps = got.get_column("__ts").to_list()
    assert all(s.tzinfo is not None and abs(s.timestamp() - before) < 60 for s in stamps)
    for i, (r, out) in enumerate(zip(rows, served, strict=True)):
        rec = got.row(i, named=True)
        for name in spec.serving_inputs:
            assert same_value(rec[f"in.{name}"], _typed(name, r[name])) or (
                name == "ts" and rec["in.ts"] == _typed(name, r[name])), (i, name)
        for f in spec.features:
            assert same_value(rec[f"out.{f}"], out[f]) or rec[f"out.{f}"] == out[f], (i, f)
    # -0.0 kept as such
    assert math.copysign(1.0, got.row(3, named=True)["in.amount"]) == -1.0


@pytest.mark.filterwarnings("ignore::featuredsl.FitTimeWarning")
def test_files_are_hive_partitioned_by_utc_date_and_named(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    fitted = spec.fit(pl.DataFrame([pl.Series(n, [], dtype=t) for n, t in {
        "user": pl.String, "amount": pl.Float64, "n": pl.Int64, "ts": pl.Datetime("us", "UTC"),
        "tags": pl.List(pl.String), "day": pl.Date, "wait": pl.Duration("us")}.items()]))
    with fd.FeatureLogger(tmp_path, sample_rate=1.0) as log:
        evaluate = fitted.row_evaluator(logger=log)
        for r in _rows():
            evaluate(r)
    files = sorted(tmp_path.rglob("*.parquet"))
    assert files
    pid = os.getpid()
    for f in files:
        day = f.parent.name
        assert day.startswith("date=")
        assert f.name.startswith(f"part-{fitted.artifact_hash[:12]}-{pid}-")
        dates = {t.date().isoformat() for t in pl.read_parquet(f).get_column("__ts")}
        assert dates == {day[len("date="):]}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_generated_request_ids_are_unique_and_contexts_isolated_per_thread(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0, context=["worker"])
    evaluate = spec.row_evaluator(logger=log)
    row = _rows()[0]
    seen: dict[int, str] = {}

    def work(k: int) -> None:
        with log.context(worker=k) as ctx:
            seen[k] = ctx.request_id
            for _ in range(50):
                evaluate(row)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(20):
        evaluate(row)  # outside any context: a generated id per row
    log.close()
    got = _read(tmp_path)
    by_worker = got.group_by("ctx.worker").agg(pl.col("__request_id").unique())
    for worker, ids in by_worker.rows():
        if worker is None:
            assert len(ids) == 20
        else:
            assert ids == [seen[int(worker)]]
    assert len(set(seen.values())) == 4
    with pytest.raises(fd.FeatureDSLError, match="unknown log context field `tenant`"):
        with log.context(tenant="x"):
            pass


def test_eight_threads_lose_no_row_they_did_not_count(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    # a small buffer so that some rows are dropped while the writer works
    log = fd.FeatureLogger(tmp_path, sample_rate=0.5, buffer_rows=300, chunk_rows=64, seed=1)
    evaluate = spec.row_evaluator(logger=log)
    rows = _rows()

    def work(k: int) -> None:
        for i in range(1500):
            with log.context(request_id=f"{k}-{i}"):
                evaluate(rows[i % len(rows)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    c = log.counters()
    got = _read(tmp_path)
    assert c["logged"] == got.height
    assert c["logged"] + c["dropped"] == c["sampled"]
    assert c["lost"] == c["write_errors"] == c["record_errors"] == c["buffered"] == 0
    assert got.get_column("__request_id").n_unique() == got.height  # no row twice
    # Bernoulli(0.5) over 12,000 rows: within 6 sigma
    assert abs(c["sampled"] - 6000) < 6 * math.sqrt(12000 * 0.25)


def test_a_full_buffer_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0, buffer_rows=100, chunk_rows=10)
    gate = threading.Event()
    convert = log._convert

    def stalled(*args: object) -> int:  # a writer that cannot keep up (a slow disk)
        gate.wait(30)
        return convert(*args)  # type: ignore[arg-type]

    log._convert = stalled  # type: ignore[method-assign]
    evaluate = spec.row_evaluator(logger=log)
    plain = spec.row_evaluator()
    row = _rows()[0]
    times = []
    for _ in range(2000):
        t = time.perf_counter()
        evaluate(row)
        times.append(time.perf_counter() - t)
    base = []
    for _ in range(2000):
        t = time.perf_counter()
        plain(row)
        base.append(time.perf_counter() - t)
    c = log.counters()
    assert c["sampled"] == 2000 and c["dropped"] >= 2000 - 100 and c["buffered"] <= 100
    # dropping is a counter increment: the median call stays within a few µs of the plain one
    assert statistics.median(times) < statistics.median(base) + 20e-6
    assert max(times) < 0.5  # never waited on the stalled writer
    gate.set()
    log.close()
    c = log.counters()
    assert c["logged"] + c["dropped"] == c["sampled"] == 2000
    assert c["logged"] == _read(tmp_path).height > 0


def test_record_never_raises_and_write_errors_are_counted(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = fd.compile(SPEC)
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0)
    obs = log.row_observer(spec)
    obs.record(None, None)  # type: ignore[arg-type]  # nonsense: counted, not raised
    assert log.counters()["record_errors"] == 1

    def broken(*a: object, **k: object) -> None:
        raise OSError("disk full")

    from featuredsl.featurelog import logger as logger_module

    monkeypatch.setattr(logger_module.pq, "write_table", broken)
    evaluate = spec.row_evaluator(logger=log)
    for r in _rows():
        evaluate(r)
    log.close()
    c = log.counters()
    assert c["write_errors"] >= 1 and c["lost"] == 6 and c["logged"] == 0
    assert c["logged"] + c["dropped"] + c["lost"] == c["sampled"] == 6
    assert "disk full" in (log.last_error or "")
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.parquet"))
    evaluate(_rows()[0])  # after close: dropped and counted
    assert log.counters()["dropped"] == 1
    with pytest.raises(fd.InputError):
        evaluate({"user": 1})  # rejected rows: counted, not logged
    assert log.counters()["rejected"] == 1 and log.counters()["sampled"] == 7


def test_sample_by_logs_all_or_none_of_a_key_the_same_in_every_process(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    rows = [dict(_rows()[0], user=f"user-{i % 400}") for i in range(4000)]
    kept = []
    for seed in (1, 2):
        d = tmp_path / str(seed)
        with fd.FeatureLogger(d, sample_rate=0.25, sample_by="user", seed=seed) as log:
            evaluate = spec.row_evaluator(logger=log)
            for r in rows:
                evaluate(r)
        got = _read(d)
        counts = dict(got.group_by("in.user").len().rows())
        assert set(counts.values()) == {10}  # all 10 rows of each logged user
        kept.append(set(counts))
    assert kept[0] == kept[1]  # the hash, not the seed, decides
    assert 60 < len(kept[0]) < 140  # about a quarter of 400 users
    # the same keys in another process (no salted hash)
    code = ("import featuredsl as fd, sys\n"
            "from featuredsl.functions._hash import u_any\n"
            "print(sorted(f'user-{i}' for i in range(400)"
            " if u_any(f'user-{i}') < int(0.25 * 2.0**64)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"}, check=True, timeout=60)
    assert out.stdout.strip() == str(sorted(kept[0]))
    # an int key: the language's hash of the int decides, all or none per key
    with fd.FeatureLogger(tmp_path / "int", sample_rate=0.25, sample_by="n") as log:
        evaluate = spec.row_evaluator(logger=log)
        for i in range(4000):
            evaluate(dict(_rows()[0], n=i % 400 - 200))
    counts = dict(_read(tmp_path / "int").group_by("in.n").len().rows())
    assert set(counts.values()) == {10}
    assert set(counts) == {k for k in range(-200, 200) if u_any(k) < int(0.25 * 2.0**64)}
    with pytest.raises(fd.FeatureDSLError, match="sample_by='tags'"):
        fd.FeatureLogger(tmp_path / "x", sample_by="tags").row_observer(spec)
    with pytest.raises(fd.FeatureDSLError, match="sample_rate"):
        fd.FeatureLogger(tmp_path / "x", sample_rate=1.5)


def test_bernoulli_sampling_is_one_c_call_at_about_the_rate(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    log = fd.FeatureLogger(tmp_path, sample_rate=0.01, seed=7)
    sample = log.row_observer(spec).sample
    assert type(sample).__name__ == "method-wrapper"  # a C slot: no Python frame per row
    hits = sum(bool(sample()) for _ in range(100_000))
    assert abs(hits - 1000) < 6 * math.sqrt(100_000 * 0.01 * 0.99)
    assert not any(fd.FeatureLogger(tmp_path, 0.0).row_observer(spec).sample()
                   for _ in range(1000))
    log.close()


_CHILD = """
import sys, time
import featuredsl as fd
spec = fd.compile('input {{ x: int, s: string }}\\nfeature y = x * 2\\nfeature u = upper(s)')
log = fd.FeatureLogger(sys.argv[1], sample_rate=1.0, chunk_rows=50, file_rows=200,
                       flush_seconds=0.05)
evaluate = spec.row_evaluator(logger=log)
i = 0
while True:
    evaluate({{"x": i, "s": "ü" * (i % 7)}})
    i += 1
    {exit}
"""


def test_a_process_killed_mid_write_leaves_every_file_readable(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(exit=""), str(tmp_path)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 60
        while len(list(tmp_path.rglob("*.parquet"))) < 5 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) >= 5
    for f in files:
        frame = pl.read_parquet(f)
        assert frame.height > 0
        assert frame.get_column("out.y").to_list() == [2 * x for x in frame.get_column("in.x")]
    spec = fd.compile("input { x: int, s: string }\nfeature y = x * 2\nfeature u = upper(s)")
    report = fd.skew_report(spec, tmp_path)
    assert report.bad_files == [] and report.rows == sum(pl.read_parquet(f).height for f in files)
    assert report.status == "ok"


def test_interpreter_exit_flushes(tmp_path: Path) -> None:
    code = _CHILD.format(exit="if i == 777: break").replace("flush_seconds=0.05",
                                                             "flush_seconds=600")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert _read(tmp_path).height == 777


def test_aware_utc_timestamps_read_only_for_fields_are_logged_naive_utc(tmp_path: Path) -> None:
    # `ts` feeds only hour(): the evaluator keeps aware UTC values on its fast path, and the
    # observer still gets naive UTC (null too) on sampled rows
    spec = fd.compile("input { ts: timestamp?, k: int }\nfeature h = hour(ts)\nfeature k2 = k")
    seen: list[tuple] = []

    class Keep:
        def row_observer(self, s: fd.Spec) -> RowObserver:
            return RowObserver(lambda: True, lambda i, o: seen.append(i))

    evaluate = spec.row_evaluator(logger=Keep())
    stamps = [dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC), None,
              dt.datetime(2024, 3, 31, 1, 30, tzinfo=zoneinfo.ZoneInfo("UTC")),
              dt.datetime(2024, 3, 31, 3, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))]
    outs = [evaluate({"ts": t, "k": 1}) for t in stamps]
    assert outs == [spec.row_evaluator()({"ts": t, "k": 1}) for t in stamps]
    naive = dt.datetime(2024, 3, 31, 1, 30)
    assert [i[0] for i in seen] == [naive, None, naive, naive]
    with fd.FeatureLogger(tmp_path, sample_rate=1.0) as log:
        logged = spec.row_evaluator(logger=log)
        for t in stamps:
            logged({"ts": t, "k": 1})
    assert fd.skew_report(spec, tmp_path).status == "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_writer(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0)
    evaluate = spec.row_evaluator(logger=log)
    evaluate(_rows()[0])  # buffered in the parent when it forks
    pid = os.fork()
    if pid == 0:  # the child: its rows, its files, its counters
        code = 1
        try:
            for r in _rows():
                evaluate(r)
            log.close()
            code = 0 if log.counters()["logged"] == 6 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.close()
    assert log.counters()["logged"] == 1
    got = _read(tmp_path)
    assert got.height == 7
    names = {f.name[len("part-") + 12:].split("-")[1] for f in tmp_path.rglob("*.parquet")}
    assert names == {str(os.getpid()), str(pid)}


def test_two_loggers_keep_their_own_contexts(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    a = fd.FeatureLogger(tmp_path / "a", sample_rate=1.0, context=["tenant"])
    b = fd.FeatureLogger(tmp_path / "b", sample_rate=1.0, context=["region", "tier"])
    ev_a, ev_b = spec.row_evaluator(logger=a), spec.row_evaluator(logger=b)
    token = b.set_context(b.bind("rb", region="eu", tier=1))
    with a.context(request_id="ra", tenant="t"):
        ev_a(_rows()[0])
        ev_b(_rows()[0])
    b.reset_context(token)
    ev_b(_rows()[0])
    a.close()
    b.close()
    assert _read(tmp_path / "a").select("__request_id", "ctx.tenant").rows() == [("ra", "t")]
    got = _read(tmp_path / "b").select("__request_id", "ctx.region", "ctx.tier").rows()
    assert got[0] == ("rb", "eu", "1") and got[1][1:] == (None, None) and got[1][0] != "rb"


def test_a_value_the_declared_type_cannot_hold_is_counted_not_raised(tmp_path: Path) -> None:
    spec = fd.compile(SPEC)
    log = fd.FeatureLogger(tmp_path, sample_rate=1.0)
    obs = log.row_observer(spec)
    good = spec.row_evaluator(logger=log)
    good(_rows()[0])
    log.flush()
    inputs = ("ann", 1.0, 3, None, None, None, None)
    obs.record(inputs, dict(spec.row_evaluator()(_rows()[0]), n2="not an int"))
    log.close()
    c = log.counters()
    assert c["logged"] == 1 and c["lost"] == 1 and c["write_errors"] == 1
    assert c["logged"] + c["lost"] == c["sampled"] == 2
    assert "cannot convert" in (log.last_error or "")
