"""``featuredsl.serving``: the feature server over an artifact (SPEC 14, docs/serving.md).

    import featuredsl.serving
    asgi_app = featuredsl.serving.app("model.json")          # any ASGI server runs it
    # or inside your own service:
    #   Starlette(routes=[Mount("/fd", app=asgi_app)])  /  fastapi_app.mount("/fd", asgi_app)

``featuredsl serve ARTIFACT`` runs the same app under uvicorn. Needs the ``featuredsl[serve]``
extra (prometheus-client for ``/metrics``; uvicorn, httptools and uvloop for the command).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from featuredsl.serving.app import DEFAULT_MAX_BODY, FeatureServer, Hook

__all__ = ["DEFAULT_MAX_BODY", "FeatureServer", "Hook", "app"]


def app(artifact: str | Path | Any, *, state: str | Any | None = None,
        max_body: int = DEFAULT_MAX_BODY, hooks: Iterable[Hook] = (),
        on_shutdown: Iterable[Callable[[], None]] = (), registry: Any = None,
        monitor: Any = None, logger: Any = None,
        monitor_dir: str | Path | None = None) -> FeatureServer:
    """The feature server as an ASGI application.

    ``artifact`` is the path of a fitted artifact (``.json``, from ``featuredsl fit``) or a
    spec object (a ``FittedSpec``, or a ``Spec`` without statistics). ``state`` is the online
    state for window aggregates: an object from ``spec.online_state(...)``, a
    ``"redis://host:port/db"`` URL, or ``"memory"`` (in this process, filled by
    ``POST /events/{source}``). ``max_body`` caps a request body in bytes (a larger one gets a
    400). ``hooks`` are called with ``(rows, outputs)`` after every answered
    ``POST /features``; ``on_shutdown`` when the server stops. ``registry`` is a
    prometheus-client ``CollectorRegistry`` for the metrics (default: the app's own).

    ``monitor`` is an ``fd.Monitor`` of this artifact, or an int N for one watching a row in N:
    ``GET /monitor`` then answers its snapshot and ``/metrics`` exports its counts;
    ``monitor_dir``, a directory shared by the worker processes of one service, makes both
    the merge of every worker's monitor (see :mod:`featuredsl.serving.observe`). ``logger`` is
    an ``fd.FeatureLogger``: every row it samples is logged with the request's
    ``x-request-id``; it is flushed and closed when the server stops.

    Raises ``InputError`` (or ``ArtifactError`` for a bad artifact) for what cannot be served.
    """
    from featuredsl.serving.app import build

    return build(artifact, state=state, max_body=max_body, hooks=hooks,
                 on_shutdown=on_shutdown, registry=registry, monitor=monitor, logger=logger,
                 monitor_dir=monitor_dir)
