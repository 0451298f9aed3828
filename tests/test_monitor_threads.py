"""The monitor under threads and processes, and against its twin on random data.

Counting is exact under threads (one accumulator per thread), windows cut by
``snapshot(reset=True)`` while threads record add up to the whole, and snapshots of other
processes merge into the snapshot one monitor would have taken of every row.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
from harness import frame_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_monitor import SPEC, reference, rows_of

import featuredsl as fd
from featuredsl.monitor import snapshot_json

ROOT = Path(__file__).resolve().parent.parent


def _fitted() -> fd.FittedSpec:
    spec = fd.compile(SPEC)
    return spec.fit(frame_for(spec, rows_of(3000, 1)))


FITTED = _fitted()


def _serve(evaluate, rows: list[dict], start: threading.Barrier | None = None) -> None:
    if start is not None:
        start.wait()
    for r in rows:
        evaluate(r)


def test_eight_threads_lose_no_increment() -> None:
    rows = rows_of(8 * 700, 20, drift=True)
    mon = fd.Monitor(FITTED, sample_every=1)
    evaluate = FITTED.row_evaluator(monitor=mon)
    start = threading.Barrier(8)
    threads = [threading.Thread(target=_serve, args=(evaluate, rows[i::8], start))
               for i in range(8)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    got = mon.snapshot()
    assert mon.record_failures == 0
    assert got == reference(FITTED, rows)
    assert snapshot_json(got) == snapshot_json(fd.profile_rows(FITTED, frame_for(FITTED, rows)))


def test_windows_cut_while_threads_record_add_up_to_the_whole() -> None:
    rows = rows_of(4 * 1500, 21, drift=True)
    mon = fd.Monitor(FITTED, sample_every=1)
    evaluate = FITTED.row_evaluator(monitor=mon)
    threads = [threading.Thread(target=_serve, args=(evaluate, rows[i::4])) for i in range(4)]
    windows = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            windows.append(mon.snapshot(reset=True))
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    windows.append(mon.snapshot(reset=True))
    windows.append(mon.snapshot(reset=True))  # retired accumulators are dropped once read
    assert len(windows) > 3  # the windows were cut while rows were being recorded
    assert sum(w["rows"] for w in windows) == len(rows)
    assert fd.merge_snapshots(windows) == reference(FITTED, rows)
    assert windows[-1] == reference(FITTED, [])
    assert not mon._retired


def test_threads_that_end_are_folded_in() -> None:
    rows = rows_of(40 * 10, 22)
    mon = fd.Monitor(FITTED, sample_every=1)
    evaluate = FITTED.row_evaluator(monitor=mon)
    for i in range(40):  # one short-lived thread per batch, as a thread-per-request server
        t = threading.Thread(target=_serve, args=(evaluate, rows[i * 10:(i + 1) * 10]))
        t.start()
        t.join()
    assert len(mon._live) < 20  # ended threads' counters were added up and let go
    assert mon.snapshot() == reference(FITTED, rows)
    assert not mon._live


_CHILD = """
import sys, polars as pl, featuredsl as fd
from featuredsl.monitor import snapshot_json
fitted = fd.load(sys.argv[1])
mon = fd.Monitor(fitted, sample_every=1)
evaluate = fitted.row_evaluator(monitor=mon)
for row in pl.read_parquet(sys.argv[2]).to_dicts():
    evaluate(row)
sys.stdout.write(snapshot_json(mon.snapshot()))
"""


def test_snapshots_of_processes_and_threads_merge_into_one_monitor(tmp_path: Path) -> None:
    rows = rows_of(1200, 23, drift=True)
    FITTED.save(tmp_path / "a.json")
    fitted = fd.load(str(tmp_path / "a.json"))
    assert fitted.artifact_hash == FITTED.artifact_hash
    children = []
    for i in range(3):  # three processes, a quarter of the rows each
        frame_for(fitted, rows[i::4]).write_parquet(tmp_path / f"s{i}.parquet")
        children.append(subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path / "a.json"),
             str(tmp_path / f"s{i}.parquet")], stdout=subprocess.PIPE, cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}))
    # the last quarter: two monitors in this process, each served by two threads
    local = [fd.Monitor(fitted, sample_every=1) for _ in range(2)]
    evaluators = [fitted.row_evaluator(monitor=m) for m in local]
    part = rows[3::4]
    threads = [threading.Thread(target=_serve, args=(evaluators[k % 2], part[k::4]))
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snaps = [json.loads(p.communicate(timeout=300)[0]) for p in children]
    snaps += [m.snapshot() for m in local]
    merged = snapshot_json(fd.merge_snapshots(snaps))
    one = fd.Monitor(fitted, sample_every=1)  # one monitor over every row
    evaluate = fitted.row_evaluator(monitor=one)
    for r in rows:
        evaluate(r)
    assert merged == snapshot_json(one.snapshot())
    assert merged == snapshot_json(fd.profile_rows(fitted, frame_for(fitted, rows)))


# ---------------------------------------------------------------------------- random data

SMALL = """
input { x: float?, i: int?, s: string?, b: bool?, xs: list[int]?, t: timestamp? }
feature y = x * 2.0
feature half = i / 2
feature s2 = s ?? "none"
feature nb = not b
feature first = get(xs, 0)
feature bk = bucketize(x, [0.0, 5.0, 10.0])
feature has3 = contains(xs, 3)
feature day = day(t)
"""
_TRAIN = pl.DataFrame({
    "x": [float(v) for v in range(-20, 40)], "i": list(range(60)),
    "s": ["a", "b", "é", ""] * 15, "b": [True, False, True] * 20,
    "xs": [[j] * (j % 4) for j in range(60)],
    "t": [dt.datetime(2024, 1, 1 + j % 28, tzinfo=dt.UTC) for j in range(60)],
}, schema={"x": pl.Float64, "i": pl.Int64, "s": pl.String, "b": pl.Boolean,
           "xs": pl.List(pl.Int64), "t": pl.Datetime("us", "UTC")})
SMALL_FITTED = fd.compile(SMALL).fit(_TRAIN)

_X = SMALL_FITTED.profile["inputs"]["x"]
# the edges, the training min and max, and their neighbours (where bins and ranges turn)
_NEAR = [y for v in [*_X["edges"], _X["min"], _X["max"]]
         for y in (v, math.nextafter(v, -math.inf), math.nextafter(v, math.inf))]
_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([-0.0, 0.0, *_NEAR]))
_ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 70))
_rows = st.lists(st.fixed_dictionaries({
    "x": st.none() | _floats, "i": st.none() | _ints,
    "s": st.none() | st.text(st.characters(exclude_categories=("Cs",)), max_size=3)
    | st.sampled_from(["a", "b", "é", ""]),
    "b": st.none() | st.booleans(),
    "xs": st.none() | st.lists(_ints, max_size=6),
    "t": st.none() | st.datetimes(min_value=dt.datetime(1900, 1, 1),
                                  max_value=dt.datetime(2200, 1, 1),
                                  timezones=st.just(dt.UTC)),
}), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows)
def test_monitor_equals_twin_on_random_rows(rows: list[dict]) -> None:
    mon = fd.Monitor(SMALL_FITTED, sample_every=1)
    evaluate = SMALL_FITTED.row_evaluator(monitor=mon)
    served = []
    for r in rows:
        try:
            evaluate(r)
            served.append(r)
        except fd.InputError:  # e.g. i / 2 of an int64 edge is fine; a bad value is not
            pass
    got = mon.snapshot()
    assert mon.record_failures == 0
    assert sum(got["input_errors"].values()) == len(rows) - len(served)
    got["input_errors"] = {}
    assert snapshot_json(got) == snapshot_json(
        fd.profile_rows(SMALL_FITTED, frame_for(SMALL_FITTED, served)))
    assert got == reference(SMALL_FITTED, served)


def test_the_range_turns_exactly_at_the_training_min_and_max() -> None:
    lo, hi = _X["min"], _X["max"]
    values = [lo, math.nextafter(lo, -math.inf), hi, math.nextafter(hi, math.inf),
              math.inf, -math.inf, -0.0]
    rows = [{"x": v, "i": 59 + k % 2, "s": "a", "b": True, "xs": [], "t": None}
            for k, v in enumerate(values)]
    got = reference(SMALL_FITTED, rows)
    assert got["inputs"]["x"]["below_min"] == 2 and got["inputs"]["x"]["above_max"] == 2
    assert got["inputs"]["i"]["above_max"] == 3  # 60 > the training max 59
    mon = fd.Monitor(SMALL_FITTED, sample_every=1)
    evaluate = SMALL_FITTED.row_evaluator(monitor=mon)
    for r in rows:
        evaluate(r)
    assert mon.snapshot() == got
    assert fd.profile_rows(SMALL_FITTED, frame_for(SMALL_FITTED, rows)) == got
