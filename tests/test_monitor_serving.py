"""The monitor inside ``featuredsl serve`` (``featuredsl.serving.app(..., monitor=N)``):
``GET /monitor`` is the snapshot of the requests served, equal to the batch twin's of the
same rows. The ASGI app is called in process (no socket)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from featuredsl.monitor import snapshot_json

pytest.importorskip("prometheus_client")

SPEC = """
input { x: float?, i: int, s: string?, b: bool?, t: timestamp }
feature y = x * 2.0
feature s2 = lower(s) ?? "none"
feature hour = hour(t)
feature big = i > 40
"""


def _rows(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    base = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
    return [{"x": None if rnd.random() < 0.1 else rnd.uniform(-5, 50),
             "i": rnd.randrange(-10, 80), "s": rnd.choice(["a", "B", "é", "", None, "new"]),
             "b": rnd.choice([True, False, None]),
             "t": base + dt.timedelta(minutes=rnd.randrange(3000))} for _ in range(n)]


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"x": pl.Float64, "i": pl.Int64, "s": pl.String,
                                      "b": pl.Boolean, "t": pl.Datetime("us", "UTC")})


async def _call(app, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": [],
               "query_string": b""}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_the_servers_monitor_snapshot_is_the_twin_of_its_requests(tmp_path: Path) -> None:
    import featuredsl.serving

    fitted = fd.compile(SPEC).fit(_frame(_rows(800, 1)))
    fitted.save(tmp_path / "model.json")
    app = featuredsl.serving.app(str(tmp_path / "model.json"), monitor=1)
    rows = _rows(300, 2)
    body = [{**r, "t": r["t"].isoformat().replace("+00:00", "Z")} for r in rows]

    async def go() -> tuple[int, bytes, int]:
        status, _ = await _call(app, "POST", "/features", json.dumps(body).encode())
        bad, _ = await _call(app, "POST", "/features", json.dumps({"i": "x"}).encode())
        return status, (await _call(app, "GET", "/monitor"))[1], bad

    status, snap_text, bad = asyncio.run(go())
    assert (status, bad) == (200, 400)
    snap = json.loads(snap_text)
    assert snap["input_errors"] == {"i": 1}
    snap["input_errors"] = {}
    assert snapshot_json(snap) == snapshot_json(fd.profile_rows(fitted, _frame(rows)))
