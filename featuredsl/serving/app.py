"""The feature server as a plain ASGI application (docs/serving.md).

Why plain ASGI and not a framework's router: the app has six fixed routes and its own work is
about 16 µs a request; the same work behind a Starlette ``Route`` measured about 25 µs
(docs/serving.md), and no framework is needed as a dependency. Being ASGI, it mounts in any
Starlette or FastAPI service (``Mount("/fd", app=featuredsl.serving.app("model.json"))``)
and runs under any ASGI server; ``featuredsl serve`` runs it under uvicorn (httptools, uvloop).

Evaluation of a spec without window aggregates runs inline on the event loop (a few µs a row:
a thread hop would cost more). With an online state the evaluator may wait on Redis, so it
runs in the loop's thread pool and the loop keeps serving other connections.

The monitor and the feature log (``monitor=``, ``logger=``: ``fd.Monitor``, ``fd.FeatureLogger``)
are generated into the server's row evaluator (see :mod:`featuredsl.serving.observe`);
``GET /monitor`` answers the monitor's snapshot. A request's ``x-request-id`` header is the
logged request id. Other plug-ins: every successfully answered ``POST /features`` calls each of
``hooks`` with ``(rows, outputs)`` (the decoded input rows and the feature dicts, in order)
before the answer is sent; ``on_shutdown`` callables run when the server stops (after in-flight
requests have drained), then the monitor publishes its last counts and the log is flushed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from featuredsl import __version__
from featuredsl.errors import FeatureDSLError, InputError
from featuredsl.jsonrow import decode_rows, encode_row

#: A hook: called with the decoded rows and their feature dicts after each answered request.
Hook = Callable[[list[dict[str, object]], list[dict[str, object]]], None]

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: about 5,000 rows of the reference spec

_JSON = [(b"content-type", b"application/json; charset=utf-8")]
_ROUTES = {"/features": ("POST",), "/healthz": ("GET", "HEAD"), "/readyz": ("GET", "HEAD"),
           "/metadata": ("GET", "HEAD"), "/metrics": ("GET", "HEAD"), "/monitor": ("GET", "HEAD")}


class FeatureServer:
    """An ASGI app answering features of one spec (see :func:`featuredsl.serving.app`)."""

    def __init__(self, spec: Any, *, state: Any = None, max_body: int = DEFAULT_MAX_BODY,
                 metadata: Mapping[str, object] | None = None,
                 hooks: Sequence[Hook] = (), on_shutdown: Sequence[Callable[[], None]] = (),
                 registry: Any = None, monitor: Any = None, logger: Any = None,
                 monitor_dir: str | Path | None = None) -> None:
        from featuredsl.serving.metrics import Metrics
        from featuredsl.serving.observe import SnapshotBoard, monitor_collector

        if spec.statistics and not spec.is_fitted:
            raise InputError("this spec uses fitted statistics: serve the artifact written by "
                             "`featuredsl fit` (or spec.fit(...))")
        if spec.program.sources and spec.bound().windows and state is None:
            raise InputError("this spec has window aggregates: pass the online state "
                             "(featuredsl serve --state redis://HOST:PORT/DB, or --state "
                             "memory to fill it with POST /events/{source})")
        self.spec = spec
        self.state = state
        self.features = list(spec.features)
        self.max_body = int(max_body)
        self.monitor, self.logger = monitor, logger
        self.evaluate = spec.row_evaluator(state=state, monitor=monitor, logger=logger)
        self.hooks = list(hooks)
        self.on_shutdown = list(on_shutdown)
        self.board = SnapshotBoard(monitor, monitor_dir) if monitor is not None else None
        self.metrics = Metrics(registry, () if self.board is None
                               else (monitor_collector(self.board),))

        self.metadata_body = json.dumps(dict(metadata or describe(spec)),
                                        ensure_ascii=False).encode()
        self.ready = True
        # a blocking evaluator (state on Redis) goes to the thread pool
        self.threaded = state is not None

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """The ASGI entry point: ``lifespan`` and ``http`` scopes."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        """Stop: ``/readyz`` answers 503 and the ``on_shutdown`` callables run, once. The ASGI
        lifespan shutdown calls it; an app mounted in another service (whose framework does
        not forward the lifespan to mounted apps) should call it from that service's own
        shutdown."""
        if not self.ready:
            return
        self.ready = False
        closers = [*self.on_shutdown, *(o.close for o in (self.board, self.logger)
                                        if o is not None)]
        for fn in closers:
            try:
                fn()
            except Exception as exc:  # one failing hook must not stop the others
                sys.stderr.write(f"featuredsl serve: shutdown hook failed: {exc}\n")

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        start = time.perf_counter()
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):  # mounted under a prefix (Starlette's Mount)
            path = path[len(root):] or "/"
        method = scope["method"]
        endpoint = path if path in _ROUTES else ("/events" if path.startswith("/events/")
                                                 else "other")
        try:
            status, body, headers = await self._route(path, method, scope, receive)
        except Exception as exc:  # a bug: the client gets a JSON 500, the log the traceback
            traceback.print_exc(file=sys.stderr)
            status, body, headers = 500, _error(f"internal error: {type(exc).__name__}: "
                                                f"{exc}"), _JSON
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body",
                    "body": b"" if method == "HEAD" else body})
        self.metrics.observe(endpoint, status, time.perf_counter() - start)

    async def _route(self, path: str, method: str, scope: dict,
                     receive: Callable) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        allowed = _ROUTES.get(path)
        if allowed is None and path.startswith("/events/"):
            allowed = ("POST",)
        if allowed is None:
            return 404, _error(f"no such endpoint {path}; the endpoints are POST /features, "
                               "GET /healthz, /readyz, /metadata, /metrics, /monitor"), _JSON
        if method not in allowed:
            return 405, _error(f"{method} {path}: use {' or '.join(allowed)}"), \
                [*_JSON, (b"allow", ", ".join(allowed).encode())]
        if path == "/features":
            return await self._features(scope, receive)
        if path == "/healthz":
            return 200, b'{"status":"ok"}', _JSON
        if path == "/readyz":
            return await self._readyz()
        if path == "/metadata":
            return 200, self.metadata_body, _JSON
        if path == "/metrics":
            body, ctype = self.metrics.exposition()
            return 200, body, [(b"content-type", ctype.encode())]
        if path == "/monitor":
            if self.board is None:
                return 404, _error("this server has no monitor (featuredsl serve --monitor N, "
                                   "or serving.app(..., monitor=fd.Monitor(...)))"), _JSON
            return 200, json.dumps(self.board.snapshot(), sort_keys=True,
                                   ensure_ascii=False).encode(), _JSON
        return await self._events(path[len("/events/"):], scope, receive)

    # ------------------------------------------------------------------ endpoints

    async def _features(self, scope: dict, receive: Callable
                        ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        try:
            only = self._only(scope)
            body = await self._body(scope, receive)
            rid = None
            if self.logger is not None:
                raw = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"),
                           None)
                rid = raw.decode("latin-1") if raw is not None else None
            if self.threaded:
                text = await asyncio.get_running_loop().run_in_executor(
                    None, self._answer, body, only, rid)
            else:
                text = self._answer(body, only, rid)
        except InputError as exc:
            return 400, _error(str(exc), exc), _JSON
        except FeatureDSLError as exc:  # the state store failing (StateError): not the client
            return 503, _error(str(exc)), _JSON
        return 200, text.encode(), _JSON

    def _answer(self, body: bytes, only: list[str] | None, rid: str | None = None) -> str:
        """The response text for a request body: one feature object, or a list of them.
        With a logger, its rows carry the request id ``rid`` (one made when None): set here,
        in the thread that evaluates (an executor does not carry the caller's context)."""
        if self.logger is None:
            return self._evaluate_body(body, only)
        token = self.logger.set_context(self.logger.bind(rid))
        try:
            return self._evaluate_body(body, only)
        finally:
            self.logger.reset_context(token)

    def _evaluate_body(self, body: bytes, only: list[str] | None) -> str:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the body is not UTF-8 text ({exc.reason} at byte "
                             f"{exc.start})") from None
        rows, is_list = decode_rows(text, self.spec, check=False)
        evaluate = self.evaluate
        outs = []
        for i, row in enumerate(rows):
            try:
                outs.append(evaluate(row))
            except InputError as exc:
                if not is_list:
                    raise
                raise InputError(f"row {i}: {exc}", field=exc.field, row=i,
                                 expected=exc.expected, fields=exc.fields,
                                 element=exc.element) from None
        for hook in self.hooks:
            hook(rows, outs)
        self.metrics.rows.inc(len(outs))
        if only is not None:
            outs = [{k: o[k] for k in only} for o in outs]
        if is_list:
            return "[" + ",".join(encode_row(o) for o in outs) + "]"
        return encode_row(outs[0])

    def _only(self, scope: dict) -> list[str] | None:
        qs = scope.get("query_string") or b""
        if not qs:
            return None
        query = parse_qs(qs.decode("latin-1"), keep_blank_values=True)
        unknown_params = [k for k in query if k != "features"]
        if unknown_params:
            raise InputError(f"unknown query parameter `{unknown_params[0]}`; POST /features "
                             "takes only ?features=a,b")
        names = [n.strip() for v in query.get("features", []) for n in v.split(",")
                 if n.strip()]
        unknown = [n for n in names if n not in self.spec.features]
        if unknown:
            raise InputError(f"?features: unknown feature `{unknown[0]}`; the spec's features "
                             f"are {', '.join(self.features)}")
        return names or None

    async def _body(self, scope: dict, receive: Callable) -> bytes:
        limit = self.max_body
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > limit:
                raise InputError(f"the body is {int(v):,} bytes, over the limit of {limit:,} "
                                 "(featuredsl serve --max-body BYTES)")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InputError("the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise InputError(f"the body is over the limit of {limit:,} bytes "
                                 "(featuredsl serve --max-body BYTES)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _readyz(self) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if not self.ready:
            return 503, b'{"status":"shutting down"}', _JSON
        ping = getattr(self.state, "ping", None)
        if callable(ping):
            try:
                await asyncio.get_running_loop().run_in_executor(None, ping)
            except Exception as exc:
                return 503, _error(f"the online state is not reachable: {exc}"), _JSON
        return 200, b'{"status":"ready"}', _JSON

    async def _events(self, source: str, scope: dict, receive: Callable
                      ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if self.state is None:
            return 404, _error("this server has no online state (the spec has no window "
                               "aggregates, or it was started without --state)"), _JSON
        try:
            if source not in self.spec.program.sources:
                names = ", ".join(self.spec.program.sources)
                raise InputError(f"unknown source `{source}`; the spec's sources: {names}")
            body = await self._body(scope, receive)
            try:
                obj = json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise InputError(f"not valid JSON: {exc}") from None
            events = obj if isinstance(obj, list) else [obj]
            if not all(isinstance(e, dict) for e in events):
                raise InputError("expected a JSON object (an event) or a list of them")
            n = await asyncio.get_running_loop().run_in_executor(
                None, self.state.ingest_batch, source, events)
        except InputError as exc:
            return 400, _error(str(exc), exc), _JSON
        except FeatureDSLError as exc:
            return 503, _error(str(exc)), _JSON
        self.metrics.events.labels(source).inc(n)
        return 200, json.dumps({"ingested": n}).encode(), _JSON


def _error(message: str, exc: InputError | None = None) -> bytes:
    """The JSON body of an error answer: the message, and for bad data what it names."""
    out: dict[str, object] = {"error": message}
    if exc is not None:
        for key in ("field", "fields", "expected", "row", "element"):
            v = getattr(exc, key, None)
            if v not in (None, []):
                out[key] = v
    return json.dumps(out, ensure_ascii=False).encode()


def describe(spec: Any, artifact: dict | None = None) -> dict[str, object]:
    """``GET /metadata``: hashes, version, the inputs (those a request needs marked) and the
    outputs with their types."""
    source = spec.source
    serving = spec.serving_inputs
    integrity = (artifact or {}).get("integrity") or {}
    return {
        "featuredsl_version": __version__,
        "artifact_sha256": integrity.get("sha256") if isinstance(integrity, dict) else None,
        "spec_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "inputs": [{"name": n, "type": t, "required_at_serving": n in serving}
                   for n, t in spec.inputs.items()],
        "outputs": [{"name": n, "type": t} for n, t in spec.output_types.items()],
        "sources": list(spec.program.sources),
    }


def build(artifact: str | Path | Any, *, state: str | Any | None = None,
          max_body: int = DEFAULT_MAX_BODY, hooks: Iterable[Hook] = (),
          on_shutdown: Iterable[Callable[[], None]] = (), registry: Any = None,
          lateness_s: float | None = None, monitor: Any = None, logger: Any = None,
          monitor_dir: str | Path | None = None) -> FeatureServer:
    """See :func:`featuredsl.serving.app`."""
    from featuredsl.api import load

    doc: dict | None = None
    if isinstance(artifact, str | Path):
        path = Path(artifact)
        if path.suffix.lower() != ".json":
            raise InputError(f"{path}: serve a fitted artifact (.json, from `featuredsl fit`)")
        spec = load(str(path))
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # load() read it a moment ago; metadata only
            doc = None
    else:
        spec = artifact
    live = state
    if isinstance(state, str):
        import datetime as dt

        kw: dict[str, Any] = {}
        if lateness_s is not None:
            kw["lateness"] = dt.timedelta(seconds=lateness_s)
        live = spec.online_state(**kw) if state == "memory" else spec.online_state(state, **kw)
    if isinstance(monitor, int):  # a sampling period: the server's own monitor
        from featuredsl.monitor import Monitor

        monitor = Monitor(spec, sample_every=monitor)
    return FeatureServer(spec, state=live, max_body=max_body, metadata=describe(spec, doc),
                         hooks=list(hooks), on_shutdown=list(on_shutdown), registry=registry,
                         monitor=monitor, logger=logger, monitor_dir=monitor_dir)
