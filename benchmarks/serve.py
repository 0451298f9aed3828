"""``featuredsl serve`` under load on loopback (issue 16), next to a FastAPI baseline.

    python benchmarks/serve.py                # ~1 min: both servers, every measurement
    python benchmarks/serve.py --seconds 2    # shorter runs
    python benchmarks/run.py serve            # the same, from the benchmark runner

Two servers over the same fitted reference spec (``reference.feat``), each one uvicorn worker
with httptools and uvloop, started as subprocesses on 127.0.0.1: ``featuredsl serve`` and a
minimal FastAPI app written the way a user would (a pydantic model of the request, the row
evaluator, a dict returned: :data:`FASTAPI_APP`). Measured side by side, interleaved (A, B per
measurement):

* maximum throughput for single rows: ``wrk`` (Debian's package) with 16 keep-alive
  connections when it is installed, else the asyncio client below closed-loop;
* p50/p99 latency at a fixed 1,000 requests/s and at 80% of the measured maximum: an asyncio
  open-loop client (latency counted from each request's *scheduled* time, so a stalled server
  cannot hide queueing: no coordinated omission). It reports the rate it achieved: a Python
  client on the same 2 cores may fall short of a high target;
* rows/s for 100-row list requests (featuredsl only: the FastAPI app takes one row, as a
  user's first version would).

The load generator shares the machine's cores with the server: the numbers are the whole
system's, on loopback. Timings are never asserted. FastAPI is not a featuredsl dependency:
``pip install fastapi`` for the baseline (skipped, saying so, without it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402

import featuredsl as fd  # noqa: E402

#: The baseline: what a user writes around the same evaluator with FastAPI.
FASTAPI_APP = '''
import datetime as dt
import os

import featuredsl as fd
from fastapi import FastAPI
from pydantic import BaseModel

spec = fd.load(os.environ["BENCH_ARTIFACT"])
evaluate = spec.row_evaluator()
app = FastAPI()


class Transaction(BaseModel):
    user_id: int
    amount: float | None
    n_items: int
    ts: dt.datetime
    country: str | None
    merchant: str
    category: str
    description: str


@app.post("/features")
async def features(row: Transaction) -> dict:
    return evaluate(row.model_dump())
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} not ready in {timeout} s")


def _start(kind: str, artifact: Path, workdir: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "BENCH_ARTIFACT": str(artifact)}
    if kind == "featuredsl":
        cmd = [sys.executable, "-m", "featuredsl", "serve", str(artifact), "--port", str(port)]
        ready = "/readyz"
    else:
        (workdir / "fastapi_app.py").write_text(FASTAPI_APP)
        env["PYTHONPATH"] = str(workdir) + os.pathsep + env["PYTHONPATH"]
        cmd = [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--port", str(port),
               "--http", "httptools", "--loop", "uvloop", "--no-access-log",
               "--log-level", "warning"]
        ready = "/docs"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_ready(port, ready, proc)
    return proc, port


def _request_bytes(port: int, body: bytes) -> bytes:
    return (f"POST /features HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> int:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _open_loop(port: int, bodies: list[bytes], rate: float, seconds: float,
                     conns: int = 32) -> dict[str, float]:
    """Requests scheduled at ``rate``/s for ``seconds``; latency from the scheduled time."""
    reqs = [_request_bytes(port, b) for b in bodies]
    n = int(rate * seconds)
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    lat: list[float] = []
    bad = 0

    async def worker() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            t_sched, req = item
            if await _one(reader, writer, req) != 200:
                bad += 1
            lat.append(time.perf_counter() - t_sched)
        writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(conns)]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i in range(n):
        t_sched = start + i / rate
        delay = t_sched - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((t_sched, reqs[i % len(reqs)]))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    lat.sort()
    return {"achieved": len(lat) / elapsed, "p50_ms": 1e3 * lat[len(lat) // 2],
            "p99_ms": 1e3 * lat[int(len(lat) * 0.99)], "errors": bad}


async def _closed_loop(port: int, bodies: list[bytes], seconds: float,
                       conns: int = 16) -> dict[str, float]:
    reqs = [_request_bytes(port, b) for b in bodies]
    done = 0
    lat: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await _one(reader, writer, reqs[i % len(reqs)])
            lat.append(time.perf_counter() - t)
            i += conns
            done += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    lat.sort()
    return {"rps": done / (time.perf_counter() - start), "p50_ms": 1e3 * lat[len(lat) // 2],
            "p99_ms": 1e3 * lat[int(len(lat) * 0.99)]}


def _wrk(port: int, body: bytes, seconds: float, conns: int, workdir: Path) -> dict[str, float]:
    script = workdir / f"post_{len(body)}.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = [==[{body.decode()}]==]\n"
                      "done = function(summary, latency, requests)\n"
                      '  io.write(string.format("JSON {\\"rps\\": %f, \\"p50_ms\\": %f, '
                      '\\"p99_ms\\": %f, \\"errors\\": %d}\\n", summary.requests / '
                      "(summary.duration / 1e6), latency:percentile(50) / 1e3, "
                      "latency:percentile(99) / 1e3, summary.errors.status + "
                      "summary.errors.connect + summary.errors.read + summary.errors.write + "
                      "summary.errors.timeout))\nend\n")
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/features"], capture_output=True, text=True,
                         timeout=seconds + 30)
    line = next((x for x in out.stdout.splitlines() if x.startswith("JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    return dict(json.loads(line[5:]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurements and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    ap.add_argument("--rate", type=float, default=1000.0, help="the fixed request rate")
    ap.add_argument("--no-wrk", action="store_true", help="the asyncio client even with wrk")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs at the fixed rate "
                    "(the table shows the median p50/p99 and the p99 range)")
    args = ap.parse_args(argv)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    df = data_gen.make_frame(20_000)
    fitted = fd.compile_file(HERE / "reference.feat").fit(df)
    rows = data_gen.rows_for_serving(df.head(1000))
    bodies = [fd.encode_row(r).encode() for r in rows]
    list_body = ("[" + ",".join(b.decode() for b in bodies[:100]) + "]").encode()
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    try:
        import fastapi  # noqa: F401

        kinds = ["featuredsl", "fastapi"]
    except ImportError:
        print("# fastapi not installed: the baseline is skipped (pip install fastapi)",
              file=sys.stderr)
        kinds = ["featuredsl"]
    secs = args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        artifact = workdir / "reference.json"
        fitted.save(str(artifact))
        servers = {k: _start(k, artifact, workdir) for k in kinds}
        res: dict[str, dict[str, dict[str, float]]] = {k: {} for k in kinds}
        try:
            for k in kinds:  # warm-up and a check that both answer the same features
                port = servers[k][1]
                asyncio.run(_closed_loop(port, bodies, 0.5, 4))
            for k in kinds:
                port = servers[k][1]
                print(f"# {k}: max throughput ...", file=sys.stderr)
                res[k]["max"] = (_wrk(port, bodies[0], int(max(secs, 1)), 16, workdir)
                                 if use_wrk else asyncio.run(_closed_loop(port, bodies, secs)))
            fixed: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
            for _ in range(args.repeat):  # interleaved: A, B, A, B, ...
                for k in kinds:
                    port = servers[k][1]
                    print(f"# {k}: {args.rate:.0f} req/s ...", file=sys.stderr)
                    fixed[k].append(asyncio.run(_open_loop(port, bodies, args.rate, secs)))
            for k in kinds:
                runs = fixed[k]
                res[k]["fixed"] = {
                    "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                    "p99_min": min(r["p99_ms"] for r in runs),
                    "p99_max": max(r["p99_ms"] for r in runs),
                    "errors": sum(r["errors"] for r in runs)}
            for k in kinds:
                port = servers[k][1]
                rate80 = 0.8 * res[k]["max"]["rps"]
                print(f"# {k}: {rate80:.0f} req/s (80% of max) ...", file=sys.stderr)
                res[k]["p80"] = asyncio.run(_open_loop(port, bodies, rate80, secs))
                res[k]["p80"]["target"] = rate80
            port = servers["featuredsl"][1]
            res["featuredsl"]["list"] = (_wrk(port, list_body, int(max(secs, 1)), 4, workdir)
                                         if use_wrk else
                                         asyncio.run(_closed_loop(port, [list_body], secs, 4)))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
    gen = "wrk -t1 -c16" if use_wrk else "asyncio client, 16 connections"
    print(f"\n`python benchmarks/serve.py --seconds {secs:g}`: one uvicorn worker each "
          f"(httptools, uvloop), loopback, load generator on the same 2 cores; max throughput "
          f"by {gen}, fixed rates by the asyncio open-loop client (32 connections).\n")
    print("| server | max req/s (single row) | p50 / p99 at max | p50 / p99 at "
          f"{args.rate:.0f} req/s (median of {args.repeat}; p99 range) | p50 / p99 at 80% of "
          "max (achieved) |")
    print("|---|---:|---:|---:|---:|")
    for k in kinds:
        m, f, e = res[k]["max"], res[k]["fixed"], res[k]["p80"]
        name = "featuredsl serve" if k == "featuredsl" else "FastAPI + pydantic (baseline)"
        print(f"| {name} | {m['rps']:,.0f} | {m['p50_ms']:.2f} / {m['p99_ms']:.2f} ms | "
              f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f} ms ({f['p99_min']:.2f}-"
              f"{f['p99_max']:.2f}) | {e['p50_ms']:.2f} / "
              f"{e['p99_ms']:.2f} ms ({e['achieved']:,.0f} of {e['target']:,.0f} req/s) |")
    lst = res["featuredsl"]["list"]
    print(f"\n100-row list requests (featuredsl serve, 4 connections): {lst['rps']:,.0f} req/s "
          f"= {100 * lst['rps']:,.0f} rows/s, p50 {lst['p50_ms']:.2f} ms, p99 "
          f"{lst['p99_ms']:.2f} ms")
    errors = sum(int(r.get("errors", 0)) for k in kinds for r in res[k].values())
    if errors:
        print(f"\n{errors} requests failed", file=sys.stderr)
        return 1
    print(json.dumps(res), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
