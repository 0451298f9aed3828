"""The in-process window state under threads: concurrent ingest loses no event, and a read
never sees half of one (every window of one read is computed from the same events)."""

from __future__ import annotations

import datetime as dt
import sys
import threading

import polars as pl

import featuredsl as fd

SPEC = """
input {
  k: int
  t: timestamp
  time t
}
source ev {
  k: int
  t: timestamp
  n: int
  key k
  time t
}
feature c   = count(ev)
feature s   = sum(ev.n)
feature c1  = count(ev, over=1000d)
feature top = max(ev.n)
"""
BASE = dt.datetime(2024, 1, 1)


def test_concurrent_ingest_and_reads() -> None:
    fitted = fd.compile(SPEC).fit(pl.DataFrame({"k": [1], "t": [BASE]}), sources={
        "ev": pl.DataFrame(schema={"k": pl.Int64, "t": pl.Datetime("us"), "n": pl.Int64})})
    state = fitted.online_state()
    evaluate = fitted.row_evaluator(state=state)
    writers, per_writer = 4, 500
    late = dt.datetime(2025, 1, 1)
    torn: list[dict] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                # times interleave across writers, so most inserts are late inserts
                t = BASE + dt.timedelta(seconds=i * writers + w)
                if i % 100 == 0:
                    state.ingest_batch("ev", [{"k": 1, "t": t, "n": 1}])
                else:
                    state.ingest("ev", {"k": 1, "t": t, "n": 1})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        while not done.is_set():
            got = evaluate({"k": 1, "t": late})
            # n is 1 on every event: within one read, sum == count == count over 1000d
            if not (got["c"] == got["s"] == got["c1"]) or got["top"] not in (None, 1):
                torn.append(got)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    try:
        readers = [threading.Thread(target=read) for _ in range(2)]
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in [*readers, *threads]:
            t.start()
        for t in threads:
            t.join()
        done.set()
        for t in readers:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors and not torn, (errors, torn[:3])
    total = writers * per_writer
    assert state.events == total
    assert evaluate({"k": 1, "t": late}) == {"c": total, "s": total, "c1": total, "top": 1}
