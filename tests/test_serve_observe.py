"""`featuredsl serve --monitor N` (and `--log DIR`) as real server processes on 127.0.0.1:
``GET /monitor`` is the snapshot of the rows served (merged over ``--workers 2``: every
request counted once), equal to a monitor in this process fed the same rows; ``/metrics``
exports its counts; a server without a monitor answers 404 on ``/monitor``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_serve import ROWS, Server, _metrics, artifact  # noqa: F401 (skips without uvicorn)

import featuredsl as fd
from featuredsl.jsonrow import decode_row
from featuredsl.monitor import snapshot_json


def _local_snapshot(path: Path, texts: list[str]) -> dict:
    fitted = fd.load(path)
    mon = fd.Monitor(fitted, sample_every=1)
    evaluate = fitted.row_evaluator(monitor=mon)
    for text in texts:
        evaluate(decode_row(text, fitted))
    return mon.snapshot()


def _poll_monitor(s: Server, rows: int) -> dict:
    """/monitor until it has counted ``rows`` (another worker publishes within 0.5 s)."""
    deadline = time.monotonic() + 20
    while True:
        status, body = s.request("GET", "/monitor")
        assert status == 200
        snap = json.loads(body)
        if snap["rows"] >= rows or time.monotonic() > deadline:
            return snap
        time.sleep(0.1)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_monitor_counts_every_request_once(artifact: Path, workers: str) -> None:  # noqa: F811
    s = Server(artifact, "--monitor", "1", "--workers", workers)
    try:
        texts = [json.dumps(ROWS[j % len(ROWS)]) for j in range(30)]
        conns = [s.connection() for _ in range(4)]  # connections spread over the workers
        for j, text in enumerate(texts):
            status, _ = s.request("POST", "/features", text, conn=conns[j % 4])
            assert status == 200
        status, _ = s.request("POST", "/features", json.dumps({"n": "x"}))  # rejected
        assert status == 400
        for c in conns:
            c.close()
        snap = _poll_monitor(s, 30)
        want = _local_snapshot(artifact, texts)
        errors = snap.pop("input_errors")
        want.pop("input_errors")
        assert snapshot_json(snap) == snapshot_json(want)
        assert sum(errors.values()) == 1
        # a scrape answered by the other worker sees this one's counts once it published
        # them (at most PUBLISH_EVERY = 0.5 s later): poll, bounded
        deadline = time.monotonic() + 20
        while True:
            m = _metrics(s)
            if m[("featuredsl_monitor_rows_sampled", ())] == 30 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert m[("featuredsl_monitor_rows_sampled", ())] == 30
        nulls = snap["inputs"]["s"]["nulls"]
        assert m[("featuredsl_monitor_nulls", (("field", "s"), ("role", "input")))] == nulls
        assert s.stop() == 0
    finally:
        s.stop()


def test_no_monitor_is_a_404(artifact: Path) -> None:  # noqa: F811
    s = Server(artifact)
    try:
        status, body = s.request("GET", "/monitor")
        assert status == 404 and "--monitor" in json.loads(body)["error"]
    finally:
        s.stop()


def test_monitor_option_is_checked(artifact: Path) -> None:  # noqa: F811
    import subprocess
    import sys

    from test_serve import ENV

    r = subprocess.run([sys.executable, "-m", "featuredsl", "serve", str(artifact),
                        "--monitor", "0"], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--monitor 0" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_flushes_the_log_and_skew_replays_it_clean(artifact: Path, tmp_path: Path,  # noqa: F811
                                                           workers: str) -> None:
    """--log with every row sampled: after SIGTERM the server exits 0 and every answered row
    is in the log (with the request's x-request-id), and `skew` over the log finds no
    mismatch; the monitor of the same run counted the same rows."""
    import polars as pl

    log = tmp_path / "log"
    s = Server(artifact, "--monitor", "1", "--log", str(log), "--log-sample", "1",
               "--workers", workers)
    sent = 0
    try:
        conns = [s.connection() for _ in range(4)]
        for j in range(40):
            c = conns[j % 4]
            body = json.dumps(ROWS[j % len(ROWS)] if j % 5 else [ROWS[0], ROWS[1]])
            c.request("POST", "/features", body=body, headers={"x-request-id": f"req-{j}"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
            sent += 1 if j % 5 else 2
        for c in conns:
            c.close()
        snap = _poll_monitor(s, sent)
        assert snap["rows"] == sent
    finally:
        assert s.stop() == 0
    logged = pl.read_parquet(sorted(log.rglob("*.parquet")))
    assert logged.height == sent
    assert set(logged["__request_id"]) == {f"req-{j}" for j in range(40)}
    report = fd.skew_report(fd.load(artifact), log)
    assert report.rows == sent and report.status == "ok"
    assert sum(report.mismatches.values()) == 0
