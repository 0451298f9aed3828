"""The server's monitor and feature log (``featuredsl serve --monitor N --log DIR``).

Both are the library's own (``fd.Monitor``, ``fd.FeatureLogger``), generated into the server's
row evaluator exactly as in a user's service (``row_evaluator(monitor=, logger=)``), so the
server watches and logs what ``eval`` would compute, at the same cost.

``GET /monitor`` answers the monitor's snapshot (SPEC 10) as JSON, the input of
``featuredsl monitor report``. With ``--workers N`` each worker process has its own monitor;
:class:`SnapshotBoard` makes ``/monitor`` (whichever worker answers) the merge of all of them:
every worker publishes its snapshot to a file of a directory the command creates (atomically:
a temporary file, then ``os.replace``) at most every :data:`PUBLISH_EVERY` seconds while it
counts, and once more when it stops; the answering worker merges its own live snapshot with the
other workers' latest files. A snapshot is a few kB, so publishing costs nothing measurable;
the price is that another worker's counts may be up to :data:`PUBLISH_EVERY` seconds old.

``/metrics`` exports the monitor's counts (rows sampled, and per field the nulls, values out of
the training range, values outside the training top and rejected rows) as Prometheus gauges,
from the same merged snapshot.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: How often (seconds) a worker publishes its snapshot for the others while it counts.
PUBLISH_EVERY = 0.5
#: The directory where the workers of one ``featuredsl serve --workers N`` publish.
BOARD_ENV = "FEATUREDSL_MONITOR_DIR"


class SnapshotBoard:
    """The merged snapshot of the monitors of every worker process (see the module doc)."""

    def __init__(self, monitor: Any, directory: str | Path | None) -> None:
        self.monitor = monitor
        self.directory = Path(directory) if directory is not None else None
        self._mine = f"worker-{os.getpid()}.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.directory is not None:
            self._thread = threading.Thread(target=self._publish_loop, daemon=True,
                                            name="featuredsl-monitor-publish")
            self._thread.start()

    def snapshot(self) -> dict:
        """This worker's live snapshot merged with every other worker's latest one."""
        from featuredsl.monitor import merge_snapshots

        mine = self.monitor.snapshot()
        others = list(self._others())
        return merge_snapshots([mine, *others]) if others else mine

    def close(self) -> None:
        """Stop publishing, after publishing the final counts (the server's shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._publish()

    def _others(self) -> Iterator[dict]:
        if self.directory is None:
            return
        for path in sorted(self.directory.glob("worker-*.json")):
            if path.name == self._mine:
                continue
            try:
                yield json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # a worker gone mid-write leaves no partial file
                continue

    def _publish(self) -> None:
        assert self.directory is not None
        tmp = self.directory / f".{self._mine}.tmp"
        tmp.write_text(json.dumps(self.monitor.snapshot(), sort_keys=True,
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.directory / self._mine)

    def _publish_loop(self) -> None:
        last = None
        while not self._stop.wait(PUBLISH_EVERY):
            try:
                snap = self.monitor.snapshot()
                if snap != last:
                    self._publish()
                    last = snap
            except OSError:  # the directory went away (the command is stopping)
                return


def monitor_collector(board: SnapshotBoard) -> Any:
    """A prometheus-client collector of the monitor's counts, read at each scrape."""
    from prometheus_client.core import GaugeMetricFamily

    class MonitorCollector:
        def describe(self) -> list:  # no samples read at registration
            return []

        def collect(self) -> Iterator[Any]:
            snap = board.snapshot()
            rows = GaugeMetricFamily("featuredsl_monitor_rows_sampled",
                                     "rows counted by the serving monitor")
            rows.add_metric([], float(snap.get("rows") or 0))
            yield rows
            families: dict[str, tuple[str, Callable[[dict], int]]] = {
                "nulls": ("null values among the sampled rows", lambda f: f.get("nulls", 0)),
                "out_of_range": ("sampled values below the training min or above the max",
                                 lambda f: f.get("below_min", 0) + f.get("above_max", 0)),
                "oov": ("sampled values outside the training top values",
                        lambda f: f.get("oov", 0)),
            }
            for name, (doc, count) in families.items():
                g = GaugeMetricFamily(f"featuredsl_monitor_{name}", doc,
                                      labels=["role", "field"])
                for role in ("inputs", "features"):
                    for field, entry in sorted((snap.get(role) or {}).items()):
                        if isinstance(entry, dict):
                            g.add_metric([role[:-1], field], float(count(entry)))
                yield g
            errors = GaugeMetricFamily("featuredsl_monitor_input_errors",
                                       "rejected rows by the field they named (all rows)",
                                       labels=["field"])
            for field, n in sorted((snap.get("input_errors") or {}).items()):
                errors.add_metric([field], float(n))
            yield errors

    return MonitorCollector()
