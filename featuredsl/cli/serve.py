"""``featuredsl serve ARTIFACT``: the feature server (SPEC 14, docs/serving.md) under uvicorn.

The app is :func:`featuredsl.serving.app`; this module checks the arguments, loads the artifact
once in the parent (so a bad artifact or an unreachable state is one error line and exit 2, not
a worker crash loop) and hands the app to uvicorn (httptools parser, uvloop event loop, no
access log). With ``--workers N`` uvicorn starts N processes that each build the app from the
settings in an environment variable (:func:`_factory`), and the Prometheus metrics switch to
multiprocess mode in a temporary directory so that ``/metrics`` counts every worker.

``--monitor N`` and ``--log DIR``: each worker builds its own ``fd.Monitor`` and
``fd.FeatureLogger`` (log files are named by process, so workers never share one); with several
workers the monitors publish their snapshots to a temporary directory so that ``/monitor`` and
``/metrics`` count every worker (:mod:`featuredsl.serving.observe`).

SIGTERM and SIGINT: uvicorn stops accepting connections, lets in-flight requests finish (up to
``--graceful-timeout`` seconds), runs the app's shutdown hooks (the monitor publishes its last
counts, the feature log is flushed and closed) and the command exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from typing import Any

from featuredsl.cli import _common as c

HELP = """\
Serve features over HTTP from a fitted artifact: POST /features takes one JSON row (or a JSON
list of rows) in `featuredsl eval`'s encoding and answers exactly what eval answers; GET
/healthz, /readyz, /metadata, /metrics (Prometheus text). Bad requests get a 400 with a JSON
body naming the field, the expected type and the row. SIGTERM/SIGINT finish the requests in
flight and exit 0. Needs the `featuredsl[serve]` extra. See docs/serving.md.

--monitor N counts one request row in N against the training profile (GET /monitor answers the
snapshot for `featuredsl monitor report`; /metrics exports its counts). --log DIR writes the
feature log (inputs and served features, Parquet) for `featuredsl skew`; --log-sample RATE
logs that share of the rows (default 0.01; 1 logs every row). A request's x-request-id header
is its logged request id.

A spec with window aggregates needs its online state: --state redis://HOST:PORT/DB (shared by
all workers and other processes), or --state memory (in this process, filled by POST
/events/SOURCE; one worker only).

examples:
  featuredsl serve model.json
  featuredsl serve model.json --host 0.0.0.0 --port 8080 --workers 2
  featuredsl serve fraud.json --state redis://localhost:6379/0
  featuredsl serve model.json --monitor 64 --log logs/ --log-sample 0.05
  curl -s localhost:8000/features -d '{"amount": 12.5, "ts": "2024-07-06T22:15:00Z", ...}'
"""

_ENV = "FEATUREDSL_SERVE_SETTINGS"
BOARD_ENV = "FEATUREDSL_MONITOR_DIR"  # featuredsl.serving.observe.BOARD_ENV


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the artifact and the options of ``featuredsl serve`` on ``p``."""
    p.add_argument("artifact", metavar="ARTIFACT",
                   help="a fitted .json artifact (or a .feat spec without statistics)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes (default 1); metrics are summed over them")
    p.add_argument("--state", metavar="URL", default=None,
                   help="the online state of window aggregates: redis://HOST:PORT/DB, or "
                        "`memory` (in process, filled by POST /events/SOURCE)")
    p.add_argument("--monitor", type=int, default=None, metavar="N",
                   help="watch one request row in N against the training profile "
                        "(GET /monitor, /metrics); 1 watches every row")
    p.add_argument("--log", metavar="DIR", default=None,
                   help="write the feature log (typed inputs and served features, Parquet) "
                        "under DIR, for `featuredsl skew`")
    p.add_argument("--log-sample", type=float, default=None, metavar="RATE",
                   help="with --log, the share of rows logged (default 0.01)")
    p.add_argument("--max-body", type=int, default=None, metavar="BYTES",
                   help="largest request body accepted (default 1048576); larger gets a 400")
    p.add_argument("--graceful-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="on SIGTERM, how long in-flight requests may take to finish "
                        "(default 30)")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from featuredsl.serving import DEFAULT_MAX_BODY

    if not 0 <= args.port <= 65535:
        raise c.UsageError(f"--port {args.port}: use 0 to 65535")
    if args.workers < 1:
        raise c.UsageError(f"--workers {args.workers}: use 1 or more")
    max_body = DEFAULT_MAX_BODY if args.max_body is None else args.max_body
    if max_body < 1:
        raise c.UsageError(f"--max-body {max_body}: use a positive number of bytes")
    if args.state == "memory" and args.workers > 1:
        raise c.UsageError("--state memory lives in one process: with --workers N use a "
                           "shared state, --state redis://HOST:PORT/DB")
    if args.state is not None and args.state != "memory" \
            and not args.state.startswith(("redis://", "rediss://")):
        raise c.UsageError(f"--state {args.state}: use redis://HOST:PORT/DB or `memory`")
    if args.monitor is not None and args.monitor < 1:
        raise c.UsageError(f"--monitor {args.monitor}: use 1 or more (watch one row in N)")
    if args.log_sample is not None and (args.log is None or not 0 < args.log_sample <= 1):
        raise c.UsageError("--log-sample RATE needs --log DIR and 0 < RATE <= 1")
    return {"artifact": args.artifact, "state": args.state, "max_body": max_body,
            "monitor": args.monitor, "log": args.log,
            "log_sample": 0.01 if args.log_sample is None else args.log_sample}


def _build(settings: dict[str, Any]) -> Any:
    import featuredsl.serving as serving

    path = settings["artifact"]
    spec: Any = path
    if path.lower().endswith(".feat"):
        spec = c.load_spec(path)
        c.require_fitted(spec, path)
    logger = None
    if settings.get("log") is not None:
        from featuredsl import FeatureLogger

        logger = FeatureLogger(settings["log"], sample_rate=settings["log_sample"])
    return serving.app(spec, state=settings["state"], max_body=settings["max_body"],
                       monitor=settings.get("monitor"), logger=logger,
                       monitor_dir=os.environ.get(BOARD_ENV))


def _server_class() -> type:
    """uvicorn's ``Server`` that, after a graceful shutdown on SIGTERM/SIGINT, returns instead
    of re-raising the signal (uvicorn does, so that the process would die of it): the
    command exits 0 after draining, as SPEC 14 and issue 16 ask."""
    import contextlib
    from collections.abc import Iterator

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()

    return Server


def _factory() -> Any:
    """uvicorn's app factory in each worker process: the app from the parent's settings."""
    return _build(json.loads(os.environ[_ENV]))


def run(args: argparse.Namespace) -> int:
    """Check the arguments, load the artifact, serve until SIGTERM/SIGINT; 0 after a clean
    shutdown, 2 for a usage error, a bad artifact or a port that cannot be bound."""
    if importlib.util.find_spec("uvicorn") is None \
            or importlib.util.find_spec("prometheus_client") is None:
        raise c.UsageError("featuredsl serve needs the serve extra: "
                           "pip install 'featuredsl[serve]'")
    import uvicorn

    settings = _settings(args)
    if args.artifact.lower().endswith(".json") and not os.path.exists(args.artifact):
        raise c.UsageError(f"{args.artifact}: no such file")
    multiproc_dir = board_dir = None
    if args.workers > 1:
        # before any metric exists: every worker writes its values there and /metrics sums them
        multiproc_dir = tempfile.mkdtemp(prefix="featuredsl-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
        if args.monitor is not None:  # the workers' monitor snapshots, merged by /monitor
            board_dir = tempfile.mkdtemp(prefix="featuredsl-monitor-")
            os.environ[BOARD_ENV] = board_dir
    try:
        app = _build(settings)  # fails here, once, for a bad artifact or state
        # Everything loaded so far (Polars, the compiled spec) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it (shorter pauses
        # in the latency tail). Only the command does this; a mounted app leaves the
        # host's collector alone.
        import gc

        gc.collect()
        gc.freeze()
        kw: dict[str, Any] = {
            "host": args.host, "port": args.port, "access_log": False, "log_level": "warning",
            "lifespan": "on", "server_header": False,
            "timeout_graceful_shutdown": args.graceful_timeout,
            "http": "httptools" if importlib.util.find_spec("httptools") else "auto",
            "loop": "uvloop" if importlib.util.find_spec("uvloop") else "auto",
        }
        workers = "worker" if args.workers == 1 else "workers"
        sys.stderr.write(f"featuredsl serve: {args.artifact} on http://{args.host}:{args.port} "
                         f"({args.workers} {workers}; Ctrl-C or SIGTERM to stop)\n")
        sys.stderr.flush()
        try:
            if args.workers == 1:
                server = _server_class()(uvicorn.Config(app, **kw))
                server.run()
                if not server.started:  # could not bind, or the lifespan startup failed
                    raise SystemExit(1)
            else:
                del app  # each worker builds its own
                os.environ[_ENV] = json.dumps(settings)
                uvicorn.run("featuredsl.cli.serve:_factory", factory=True,
                            workers=args.workers, **kw)
        except SystemExit as exc:  # uvicorn exits 1 when it cannot bind or start
            if exc.code in (0, None):
                return c.OK
            raise c.UsageError(f"could not serve on {args.host}:{args.port} (see the message "
                               "above)") from None
        return c.OK
    finally:
        for d in (multiproc_dir, board_dir):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
