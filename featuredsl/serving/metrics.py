"""The server's Prometheus metrics (prometheus-client), one registry per app.

=========================================  ===================================================
``featuredsl_requests_total``              counter, labels ``endpoint``, ``status``: every
                                           answered request (``endpoint`` is the route,
                                           ``other`` for an unknown path)
``featuredsl_request_errors_total``        counter, same labels: the answers with status >= 400
``featuredsl_request_duration_seconds``    histogram, label ``endpoint``: from the request's
                                           first byte read by the app to its answer written
``featuredsl_rows_evaluated_total``        counter: rows answered by ``POST /features``
``featuredsl_events_ingested_total``       counter, label ``source``: ``POST /events/{source}``
=========================================  ===================================================

Workers: with ``featuredsl serve --workers N`` the command sets ``PROMETHEUS_MULTIPROC_DIR`` to a
fresh directory before the workers start, and every worker's ``/metrics`` answers the sum over
all workers (prometheus-client's multiprocess mode: each process writes its values to memory
mapped files there). So a scrape, whichever worker answers it, sees every request once. In one
process (the default, or an app mounted in a user's service) the metrics live in memory; a
user's app can pass its own ``registry=``.
"""

from __future__ import annotations

import os
from typing import Any

#: Latency buckets, in seconds: dense below 10 ms, where a feature server should answer.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
           0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The counters and the histogram of one app, and their text exposition."""

    def __init__(self, registry: Any = None, collectors: tuple[Any, ...] = ()) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV)) and registry is None
        # In multiprocess mode the values go to the shared files whatever the registry; a
        # private registry keeps two apps in one process (tests, a mounted app) apart.
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        kw: dict[str, Any] = {"registry": self.registry}
        self.requests = Counter("featuredsl_requests", "HTTP requests answered, by endpoint and "
                                "status", ["endpoint", "status"], **kw)
        self.errors = Counter("featuredsl_request_errors", "HTTP answers with status >= 400, by "
                              "endpoint and status", ["endpoint", "status"], **kw)
        self.latency = Histogram("featuredsl_request_duration_seconds", "time from the request "
                                 "reaching the app to its answer", ["endpoint"], buckets=BUCKETS,
                                 **kw)
        self.rows = Counter("featuredsl_rows_evaluated", "rows answered by POST /features", **kw)
        self.events = Counter("featuredsl_events_ingested", "events added by POST "
                              "/events/{source}", ["source"], **kw)
        #: read at each scrape (the monitor's counts): registered here, and on the merged
        #: registry of a multiprocess scrape
        self.collectors = collectors
        for collector in collectors:
            self.registry.register(collector)
        # children resolved once per label set: a labels() lookup costs a lock and a dict
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (endpoint, status)
        child = self._children.get(key)
        if child is None:
            s = str(status)
            child = (self.requests.labels(endpoint, s),
                     self.errors.labels(endpoint, s) if status >= 400 else None,
                     self.latency.labels(endpoint))
            self._children[key] = child
        child[0].inc()
        if child[1] is not None:
            child[1].inc()
        child[2].observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type (merged over workers when multiprocess)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self.multiprocess:
            from prometheus_client import CollectorRegistry, multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            for collector in self.collectors:
                merged.register(collector)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
