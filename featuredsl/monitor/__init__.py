"""Serving monitor (SPEC 10): counts of live traffic against the artifact's training profile.

``Monitor`` counts sampled rows inside the row evaluator (:mod:`.runtime`), ``profile_rows`` is
its batch twin over a table (:mod:`.twin`), and ``merge_snapshots`` adds snapshots of threads,
processes and hosts (:mod:`.snapshot`). docs/monitoring.md describes the snapshot.
"""

from __future__ import annotations

from featuredsl.monitor.runtime import Monitor
from featuredsl.monitor.snapshot import (
    OOV_TRACKED,
    SNAPSHOT_FORMAT,
    SNAPSHOT_KIND,
    check_snapshot,
    layout_of,
    merge_snapshots,
    read_snapshot,
    snapshot_json,
    write_snapshot,
)
from featuredsl.monitor.twin import profile_rows

__all__ = [
    "OOV_TRACKED",
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_KIND",
    "Monitor",
    "check_snapshot",
    "layout_of",
    "merge_snapshots",
    "profile_rows",
    "read_snapshot",
    "snapshot_json",
    "write_snapshot",
]
