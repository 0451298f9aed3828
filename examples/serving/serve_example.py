"""`featuredsl serve` end to end: fit, start the server, send requests, read metrics, stop.

    python examples/serving/serve_example.py            # fits on 20k generated rows
    python examples/serving/serve_example.py --rows 2000 --port 8000

1. fit examples/transactions.feat on generated transactions and save the artifact;
2. start `featuredsl serve model.json` (a subprocess) and wait until /readyz answers;
3. POST one row and a list of rows from Python (the standard library's urllib), and print the
   equivalent curl commands;
4. read /metadata and the featuredsl lines of /metrics;
5. stop it with SIGTERM: in-flight requests finish and it exits 0.

Needs the serve extra: pip install 'featuredsl[serve]'. See docs/serving.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import demo  # noqa: E402  (examples/demo.py: the generated transactions)

import featuredsl as fd  # noqa: E402


def post(url: str, body: object) -> tuple[int, object]:
    """POST JSON text, return the status and the decoded answer (400s included)."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main() -> int:
    """Run the example; 0 when every step did what it should."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--port", type=int, default=0, help="default: a free port")
    args = ap.parse_args()
    port = args.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "model.json"
        train = demo.generate(args.rows)
        fd.compile_file(HERE.parent / "transactions.feat").fit(train).save(str(artifact))
        print(f"1. fitted on {args.rows:,} rows: {artifact.name}")

        server = subprocess.Popen([sys.executable, "-m", "featuredsl", "serve", str(artifact),
                                   "--port", str(port)])
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + "/readyz", timeout=1):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print("the server did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.1)
            print(f"2. serving on {base}")

            row = {"user_id": 7, "amount": 12.5, "n_items": 2, "ts": "2024-07-06T22:15:00Z",
                   "country": "FR", "merchant": "Café Zürich", "category": "restaurants",
                   "description": "Online order"}
            status, one = post(base + "/features", row)
            print(f"3. one row -> {status}: {json.dumps(one, ensure_ascii=False)}")
            status, two = post(base + "/features?features=amount_z,is_foreign",
                               [row, {**row, "amount": None, "country": None}])
            print(f"   a list, ?features=amount_z,is_foreign -> {status}: {two}")
            status, bad = post(base + "/features", {**row, "n_items": "two"})
            print(f"   a bad row -> {status}: {bad['error']}")
            print(f"   with curl: curl -s {base}/features -d '{json.dumps(row)}'")

            with urllib.request.urlopen(base + "/metadata") as r:
                meta = json.loads(r.read())
            print(f"4. /metadata: artifact {meta['artifact_sha256'][:12]}..., "
                  f"{len(meta['outputs'])} outputs")
            with urllib.request.urlopen(base + "/metrics") as r:
                for line in r.read().decode().splitlines():
                    if line.startswith(("featuredsl_requests_total",
                                        "featuredsl_rows_evaluated_total")):
                        print("   " + line)
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(30)
        print(f"5. SIGTERM -> exit {code}")
        return 0 if code == 0 and status == 400 else 1


if __name__ == "__main__":
    raise SystemExit(main())
