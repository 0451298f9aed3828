"""`featuredsl serve` as real server processes on 127.0.0.1 (issue 16): answers equal
`featuredsl eval` byte for byte, every bad-request kind, keep-alive concurrency, /metrics,
graceful SIGTERM, --workers 2. The client is the standard library's http.client."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("uvicorn")
prom_parser = pytest.importorskip("prometheus_client.parser")

import featuredsl as fd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

SPEC = """
input {
  x: float?
  n: int
  s: string?
  t: timestamp
  d: duration?
  tags: list[string?]?
  label: float?
}
feature x_centered = x - mean(x)
feature x_twice = x * 2.0
feature n_out = n
feature s_upper = upper(s)
feature s_len = length(s)
feature hour = hour(t)
feature t_out = t
feature later = t + d
feature d_out = d
feature tags_out = tags
feature big = x > 1e300
"""

ROWS = [
    {"x": 1.5, "n": 1, "s": "abc", "t": "2024-07-06T22:15:00Z", "d": 5, "tags": ["a", None]},
    {"x": -0.0, "n": -9223372036854775808, "s": "", "t": "2024-01-01T00:30:00+01:00",
     "d": None, "tags": []},
    {"x": float("inf"), "n": 9223372036854775807, "s": "grüße 😀", "t": "2024-03-10 06:30:00",
     "d": -1, "tags": None},
    {"x": float("-inf"), "n": 0, "s": None, "t": "1970-01-01T00:00:00.000001Z",
     "d": 86_400_000_000, "tags": ["ñ"]},
    {"x": float("nan"), "n": 7, "t": "2024-02-29T23:59:59.999999-05:00"},
    {"x": None, "n": 3, "s": "x", "t": "2024-07-06", "d": 0, "label": 1.0},
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    times = ["2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z", "2024-01-02T00:00:00Z",
             "2024-01-03T09:00:00Z"]
    train = pl.DataFrame({"x": [1.0, 2.0, None, 4.5], "n": [1, 2, 3, 4],
                          "s": ["a", "b", None, "c"], "t": times,
                          "d": [1, 2, 3, 4], "tags": [["a"], None, [], ["b"]],
                          "label": [0.0, 1.0, 0.0, 1.0]})
    train = train.with_columns(pl.col("t").str.to_datetime(time_zone="UTC"),
                               pl.col("d").cast(pl.Duration("us")))
    path = tmp_path_factory.mktemp("serve") / "model.json"
    fd.compile(SPEC).fit(train).save(str(path))
    return path


class Server:
    """A `featuredsl serve` subprocess at a free port, ready when /readyz answers 200."""

    def __init__(self, artifact: Path, *extra: str) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "featuredsl", "serve", str(artifact), "--port",
             str(self.port), *extra], env=ENV, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: "
                                     f"{self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                status, _ = self.request("GET", "/readyz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("server not ready within 60 s")
            time.sleep(0.1)

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: str | bytes | None = None,
                conn: http.client.HTTPConnection | None = None,
                timeout: float = 10) -> tuple[int, bytes]:
        own = conn is None
        c = conn or self.connection(timeout)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            if own:
                c.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def server(artifact: Path) -> Iterator[Server]:
    s = Server(artifact, "--max-body", "20000")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def eval_lines(artifact: Path) -> list[str]:
    """`featuredsl eval`'s answer to each of ROWS (the reference the server must equal)."""
    text = "".join(json.dumps(r) + "\n" for r in ROWS)
    r = subprocess.run([sys.executable, "-m", "featuredsl", "eval", str(artifact)], input=text,
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(ROWS)
    return lines


def _metrics(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = server.request("GET", "/metrics")
    assert status == 200
    out = {}
    for family in prom_parser.text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_single_and_list_answers_equal_eval(server: Server, eval_lines: list[str]) -> None:
    for row, want in zip(ROWS, eval_lines, strict=True):
        status, body = server.request("POST", "/features", json.dumps(row))
        assert status == 200, body
        assert body.decode() == want
    status, body = server.request("POST", "/features", json.dumps(ROWS))
    assert status == 200
    assert body.decode() == "[" + ",".join(eval_lines) + "]"
    status, body = server.request("POST", "/features?features=hour,s_upper",
                                  json.dumps(ROWS[:2]))
    assert status == 200
    want = [{k: json.loads(line)[k] for k in ("hour", "s_upper")} for line in eval_lines[:2]]
    assert json.loads(body) == want
    status, body = server.request("POST", "/features", "[]")
    assert (status, body) == (200, b"[]")


BAD = [
    ("not JSON", "/features", b"{nope", "not valid JSON", {}),
    ("not UTF-8", "/features", b'{"s": "\xff"}', "not UTF-8", {}),
    ("a number", "/features", b"3", "expected a JSON object", {}),
    ("list of non-objects", "/features", json.dumps([ROWS[0], 5]).encode(), "row 1: expected",
     {"row": 1}),
    ("missing field", "/features", json.dumps({"x": 1.0, "t": "2024-01-01"}).encode(),
     "field `n`: missing or null", {"field": "n", "expected": "int"}),
    ("missing in a list", "/features",
     json.dumps([ROWS[0], ROWS[1], {"x": 1.0, "t": "2024-01-01"}]).encode(),
     "row 2: field `n`: missing or null", {"field": "n", "row": 2}),
    ("wrong type", "/features", json.dumps({**ROWS[0], "n": "7"}).encode(),
     "field `n`: expected int, got str", {"field": "n", "expected": "int"}),
    ("bad timestamp", "/features", json.dumps({**ROWS[0], "t": "2024-02-30"}).encode(),
     "field `t`", {"field": "t", "expected": "timestamp"}),
    ("too large", "/features", json.dumps([ROWS[0]] * 400).encode(), "over the limit", {}),
    ("unknown feature", "/features?features=nope", json.dumps(ROWS[0]).encode(),
     "unknown feature `nope`", {}),
    ("key twice", "/features", b'{"n": 1, "n": 2}', "appears twice", {}),
]


@pytest.mark.parametrize(("kind", "path", "body", "words", "attrs"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_requests_get_400_with_the_input_error(server: Server, kind: str, path: str,
                                                   body: bytes, words: str,
                                                   attrs: dict) -> None:
    status, answer = server.request("POST", path, body)
    assert status == 400, (kind, answer)
    obj = json.loads(answer)
    assert words in obj["error"], obj
    assert "Traceback" not in obj["error"]
    for k, v in attrs.items():
        assert obj[k] == v, (k, obj)
    # and the server keeps serving
    status, _ = server.request("POST", "/features", json.dumps(ROWS[0]))
    assert status == 200


def test_error_message_is_evals(server: Server, artifact: Path) -> None:
    row = json.dumps({**ROWS[0], "n": 1.5})
    r = subprocess.run([sys.executable, "-m", "featuredsl", "eval", str(artifact), "--row", row],
                       env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    status, body = server.request("POST", "/features", row)
    assert status == 400
    assert r.stderr.strip() == f"featuredsl eval: error: --row: {json.loads(body)['error']}"


def test_unknown_paths_and_methods(server: Server) -> None:
    status, body = server.request("GET", "/nope")
    assert status == 404 and "no such endpoint" in json.loads(body)["error"]
    status, body = server.request("GET", "/features")
    assert status == 405 and "use POST" in json.loads(body)["error"]
    status, _ = server.request("POST", "/healthz", "{}")
    assert status == 405
    for path in ("/healthz", "/readyz"):
        assert server.request("GET", path)[0] == 200


def test_metadata(server: Server, artifact: Path) -> None:
    status, body = server.request("GET", "/metadata")
    assert status == 200
    meta = json.loads(body)
    doc = json.loads(artifact.read_text())
    assert meta["artifact_sha256"] == doc["integrity"]["sha256"]
    assert meta["spec_sha256"] == doc["spec"]["sha256"]
    assert meta["featuredsl_version"] == fd.__version__
    assert meta["outputs"] == doc["outputs"]
    assert [{"name": i["name"], "type": i["type"]} for i in meta["inputs"]] == doc["inputs"]
    required = {i["name"] for i in meta["inputs"] if i["required_at_serving"]}
    assert "label" not in required and "n" in required


def test_concurrent_keep_alive_clients(server: Server, eval_lines: list[str]) -> None:
    bodies = [json.dumps(r) for r in ROWS]
    failures: list[str] = []

    def client(k: int) -> None:
        conn = server.connection()
        try:
            for j in range(40):
                i = (k + j) % len(ROWS)
                status, body = server.request("POST", "/features", bodies[i], conn=conn)
                if status != 200 or body.decode() != eval_lines[i]:
                    failures.append(f"client {k} request {j}: {status} {body[:80]!r}")
        except Exception as exc:  # reported below, not lost in the thread
            failures.append(f"client {k}: {exc!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:5]
    assert not any(t.is_alive() for t in threads)


def test_metrics_move_by_the_requests_sent(server: Server) -> None:
    ok = (("endpoint", "/features"), ("status", "200"))
    bad = (("endpoint", "/features"), ("status", "400"))
    before = _metrics(server)
    for _ in range(5):
        assert server.request("POST", "/features", json.dumps(ROWS[0]))[0] == 200
    assert server.request("POST", "/features", json.dumps(ROWS))[0] == 200
    for _ in range(3):
        assert server.request("POST", "/features", "{nope")[0] == 400
    after = _metrics(server)

    def delta(name: str, labels: tuple = ()) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert delta("featuredsl_requests_total", ok) == 6
    assert delta("featuredsl_requests_total", bad) == 3
    assert delta("featuredsl_request_errors_total", bad) == 3
    assert delta("featuredsl_request_errors_total", ok) == 0
    assert delta("featuredsl_rows_evaluated_total") == 5 + len(ROWS)
    count = ("featuredsl_request_duration_seconds_count", (("endpoint", "/features"),))
    assert delta(*count) == 9
    inf = ("featuredsl_request_duration_seconds_bucket",
           (("endpoint", "/features"), ("le", "+Inf")))
    assert delta(*inf) == 9


def test_sigterm_drains_in_flight_requests_and_exits_0(artifact: Path,
                                                       eval_lines: list[str]) -> None:
    s = Server(artifact)
    try:
        body = json.dumps(ROWS).encode()
        socks = []
        for _ in range(3):  # requests in flight: headers and half the body sent
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
            sock.sendall(b"POST /features HTTP/1.1\r\nHost: x\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
            socks.append(sock)
        time.sleep(0.5)  # the server has read the headers
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert s.proc.poll() is None  # still draining
        for sock in socks:
            sock.sendall(body[10:])
        for sock in socks:
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(next(h.split(b":")[1] for h in head.split(b"\r\n")
                              if h.lower().startswith(b"content-length")))
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            assert rest.decode() == "[" + ",".join(eval_lines) + "]"
            sock.close()
        assert s.proc.wait(30) == 0
    finally:
        s.stop()


def test_two_workers(artifact: Path, eval_lines: list[str]) -> None:
    s = Server(artifact, "--workers", "2")
    try:
        conns = [s.connection() for _ in range(4)]  # connections spread over the workers
        for j in range(20):
            i = j % len(ROWS)
            status, body = s.request("POST", "/features", json.dumps(ROWS[i]),
                                     conn=conns[j % 4])
            assert status == 200 and body.decode() == eval_lines[i]
        for c in conns:
            c.close()
        # the metrics are summed over the workers: every request counted once, whichever
        # worker answers the scrape
        for _ in range(3):
            m = _metrics(s)
            assert m[("featuredsl_requests_total",
                      (("endpoint", "/features"), ("status", "200")))] == 20
        assert s.stop() == 0
    finally:
        s.stop()


def test_bad_artifact_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = subprocess.run([sys.executable, "-m", "featuredsl", "serve", str(bad), "--port", "0"],
                       env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("featuredsl serve: error: ") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "featuredsl", "serve", str(bad), "--workers", "0"],
                       env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--workers" in r.stderr


def test_app_mounts_in_a_starlette_service(artifact: Path, eval_lines: list[str]) -> None:
    """The ASGI factory under a Starlette Mount, driven in process (no server): the routes
    are matched below the mount, the answer is eval's."""
    import asyncio

    starlette = pytest.importorskip("starlette.applications")
    from starlette.routing import Mount

    import featuredsl.serving

    seen: list[int] = []
    closed: list[bool] = []
    features = featuredsl.serving.app(str(artifact),
                                      hooks=[lambda rows, outs: seen.append(len(outs))],
                                      on_shutdown=[lambda: closed.append(True)])
    service = starlette.Starlette(routes=[Mount("/fd", app=features)])

    async def call(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        sent: list[dict] = []
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "headers": [], "scheme": "http",
                 "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "http_version": "1.1",
                 "asgi": {"version": "3.0"}}
        await service(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    status, body = asyncio.run(call("POST", "/fd/features", json.dumps(ROWS[0]).encode()))
    assert (status, body.decode()) == (200, eval_lines[0])
    assert seen == [1]  # the hook saw the answered row
    status, body = asyncio.run(call("POST", "/fd/features", json.dumps(ROWS).encode()))
    assert status == 200 and seen == [1, len(ROWS)]
    assert asyncio.run(call("GET", "/fd/healthz", b""))[0] == 200
    assert asyncio.run(call("GET", "/fd/nope", b""))[0] == 404
    features.close()
    features.close()
    assert closed == [True]  # once
    assert asyncio.run(call("GET", "/fd/readyz", b""))[0] == 503


WINDOW_SPEC = """
input {
  user: int
  ts: timestamp
  amount: float?
  time ts
}
source txns {
  user: int
  ts: timestamp
  amount: float?
  key user
  time ts
}
feature n_1d = count(txns, over=1d)
feature s_7d = sum(txns.amount, over=7d)
feature m_all = mean(txns.amount) ?? -1.0
"""


@pytest.fixture(scope="module")
def window_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    import datetime as dt

    d = tmp_path_factory.mktemp("serve_windows")
    spec_path = d / "w.feat"
    spec_path.write_text(WINDOW_SPEC)
    base = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    events = [{"user": i % 3, "ts": (base + dt.timedelta(hours=5 * i)).isoformat(),
               "amount": [1.5, None, -0.0, 1e300, 7.25][i % 5]} for i in range(30)]
    frame = pl.DataFrame(events).with_columns(pl.col("ts").str.to_datetime(time_zone="UTC"))
    events_path = d / "txns.parquet"
    frame.write_parquet(events_path)
    after = base + dt.timedelta(hours=5 * 30)
    rows = [{"user": u, "ts": (after + dt.timedelta(minutes=m)).isoformat(), "amount": 2.0}
            for u, m in [(0, 1), (1, 2), (2, 3), (5, 4), (1, 600)]]
    r = subprocess.run([sys.executable, "-m", "featuredsl", "eval", str(spec_path), "--source",
                        f"txns={events_path}"], input="".join(json.dumps(x) + "\n" for x in rows),
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {"spec": spec_path, "events": events, "rows": rows, "want": r.stdout.splitlines()}


def test_windowed_spec_with_in_process_state(window_files: dict) -> None:
    s = Server(window_files["spec"], "--state", "memory")
    try:
        events = window_files["events"]
        bad = [*events[:3], {"user": "x", "ts": events[0]["ts"], "amount": 1.0}]
        status, body = s.request("POST", "/events/txns", json.dumps(bad))
        assert status == 400 and "user" in json.loads(body)["error"]
        assert s.request("POST", "/events/nope", "{}")[0] == 400
        status, body = s.request("POST", "/events/txns", json.dumps(events))
        assert (status, json.loads(body)) == (200, {"ingested": len(events)})
        for row, want in zip(window_files["rows"], window_files["want"], strict=True):
            status, body = s.request("POST", "/features", json.dumps(row))
            assert status == 200 and body.decode() == want  # the bad batch added nothing
        m = _metrics(s)
        assert m[("featuredsl_events_ingested_total", (("source", "txns"),))] == len(events)
    finally:
        assert s.stop() == 0


def test_windowed_spec_on_redis(window_files: dict, redis_url: str) -> None:
    spec = fd.compile(window_files["spec"].read_text())
    state = spec.online_state(redis_url)  # the default namespace: the server's too
    state.ingest_batch("txns", window_files["events"])
    s = Server(window_files["spec"], "--state", redis_url)
    try:
        assert s.request("GET", "/readyz")[0] == 200
        body = json.dumps(window_files["rows"])
        status, answer = s.request("POST", "/features", body)
        assert status == 200 and answer.decode() == "[" + ",".join(window_files["want"]) + "]"
    finally:
        assert s.stop() == 0


def test_windowed_spec_without_state_is_refused(window_files: dict) -> None:
    r = subprocess.run([sys.executable, "-m", "featuredsl", "serve", str(window_files["spec"]),
                        "--port", "0"], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "window aggregates" in r.stderr and "--state" in r.stderr


def test_the_serving_example_runs_as_written() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "serving" / "serve_example.py"),
                        "--rows", "2000"], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "a bad row -> 400: field `n_items`" in r.stdout
    assert "SIGTERM -> exit 0" in r.stdout
