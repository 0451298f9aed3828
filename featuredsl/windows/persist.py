"""Saving the in-process window state to a file and loading it back, so a serving process
restarts warm (``state.save(path)``, ``fitted.online_state(restore=path)``).

The file is data, never code (no pickle): one JSON document

.. code-block:: json

    {"format": "featuredsl-window-state", "version": 1,
     "fingerprint": "<sha256 of the spec's sources and windows>",
     "sources": {"txns": {"events": 1234, "columns": ["amount", "where:0"],
                          "keys": [{"key": [42], "times": [...], "values": [[...], [...]]}]}},
     "integrity": {"sha256": "<hex>"}}

holding, per source and key, what the state keeps: the event times (µs since the epoch) in
(time, log order) and the canonical values of the aggregated fields and ``where=`` flags.
Loading rebuilds the exact prefix sums from them, so a loaded state answers every read as
the saved one did, bit for bit. Floats are JSON numbers (Python writes the shortest text
that reads back to the same bits) or ``"inf"`` / ``"-inf"``; timestamps and durations are
ints of µs, dates ISO text. ``integrity.sha256`` covers the canonical serialization of the
rest, as in the artifact: a truncated, edited or corrupted file, or one saved by a spec with
other sources or windows (``fingerprint``), is refused with an ``ArtifactError`` saying what
is wrong; nothing is half-loaded. Writes go to a temporary file renamed into place, so a
crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from featuredsl.errors import ArtifactError
from featuredsl.types import Type

if TYPE_CHECKING:
    from featuredsl import ir
    from featuredsl.windows.online import MemoryState

FORMAT = "featuredsl-window-state"
VERSION = 1
_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def fingerprint(program: ir.BoundProgram) -> str:
    """A hash of what the state's layout depends on: the sources and the windows."""
    parts = [(s.name, sorted((f, str(t)) for f, t in s.fields.items()), s.keys, s.time)
             for s in sorted(program.sources.values(), key=lambda s: s.name)]
    windows = sorted(repr(w.key()) for w in program.windows)
    return hashlib.sha256(repr((parts, windows)).encode()).hexdigest()


def _canonical(doc: dict) -> bytes:
    body = {k: v for k, v in doc.items() if k != "integrity"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


# ---------------------------------------------------------------------------- values


def _encode(v: object, t: Type) -> object:
    if v is None or isinstance(v, bool) or t.kind in ("int", "string", "bool"):
        return v
    if t.kind == "float":
        assert isinstance(v, float)
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if t.kind == "timestamp":
        assert isinstance(v, dt.datetime)
        return (v - _EPOCH) // _US
    if t.kind == "duration":  # the row backend holds durations as int µs already
        return v if isinstance(v, int) else v // _US  # type: ignore[operator]
    if t.kind == "date":
        assert isinstance(v, dt.date)
        return v.isoformat()
    raise ArtifactError(f"window state: cannot store a value of type `{t}`")


def _decode(v: object, t: Type, where: str) -> object:
    def bad() -> ArtifactError:
        return ArtifactError(f"window state: {where}: {v!r} is not a `{t}` value")

    if v is None:
        return None
    kind = t.kind
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad()
        return v
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**63:
            raise bad()
        return v
    if kind == "string":
        if not isinstance(v, str):
            raise bad()
        return v
    if kind == "float":
        if v in ("inf", "-inf"):
            return math.inf if v == "inf" else -math.inf
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad()
        return 0.0 if v == 0 else float(v)  # -0.0 and NaN are never stored (canonical)
    if kind in ("timestamp", "duration"):
        if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**63:
            raise bad()
        if kind == "duration":
            return v
        try:
            return _EPOCH + v * _US
        except OverflowError:
            raise bad() from None
    if kind == "date":
        try:
            return dt.date.fromisoformat(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad() from None
    raise bad()


def _column_name(name: object) -> str:
    return f"where:{name[1]}" if isinstance(name, tuple) else str(name)


# ---------------------------------------------------------------------------- save / load


def save(state: MemoryState, path: str | os.PathLike[str]) -> None:
    """Write ``state`` to ``path`` (atomically: a temporary file renamed into place)."""
    sources: dict[str, object] = {}
    with state._lock:
        for name, src in state._sources.items():
            names = src.column_names()
            types = [src.column_type(c) for c in names]
            key_types = [src.source.fields[k] for k in src.source.keys]
            keys = []
            for key, log in src.logs.items():
                keys.append({
                    "key": [_encode(v, kt) for v, kt in zip(key, key_types, strict=True)],
                    "times": list(log.times), "evicted": log.evicted,
                    "values": [[_encode(v, t) for v in log.columns[c]]
                               for c, t in zip(names, types, strict=True)]})
            keys.sort(key=lambda k: json.dumps(k["key"]))
            sources[name] = {"events": src.events, "columns": [_column_name(c) for c in names],
                             "watermark": src.watermark, "keys": keys}
    doc: dict = {"format": FORMAT, "version": VERSION,
                 "fingerprint": fingerprint(state.program), "sources": sources}
    doc["integrity"] = {"sha256": hashlib.sha256(_canonical(doc)).hexdigest()}
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(doc, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False, allow_nan=False).encode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(state: MemoryState, path: str | os.PathLike[str]) -> None:
    """Fill an empty ``state`` from a file written by :func:`save`; ``ArtifactError`` (and
    the state left empty) when the file is unreadable, tampered or from another spec."""
    where = f"window state {os.fspath(path)}"
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{where}: not JSON ({exc}): truncated or not a state file"
                            ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(f"{where}: not a featuredsl window state (no "
                            f"\"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise ArtifactError(f"{where}: version {doc.get('version')!r}; this featuredsl "
                            f"reads version {VERSION}")
    integrity = doc.get("integrity")
    digest = integrity.get("sha256") if isinstance(integrity, dict) else None
    if digest != hashlib.sha256(_canonical(doc)).hexdigest():
        raise ArtifactError(f"{where}: the integrity hash does not match its content: the "
                            "file was edited or corrupted")
    if doc.get("fingerprint") != fingerprint(state.program):
        raise ArtifactError(f"{where}: saved by a spec with other sources or windows; "
                            "load it with the spec that saved it")
    loaded = {name: _read_source(state, name, body, where)
              for name, body in _mapping(doc.get("sources"), where).items()}
    from featuredsl.windows.online import KeyLog

    with state._lock:  # everything decoded: now it cannot fail half-way
        for name, (events, watermark, entries) in loaded.items():
            src = state._sources[name]
            src.events = events
            for key, times, rows, evicted in entries:
                for t, values in zip(times, rows, strict=True):
                    src.add(key, t, values)
                log = src.logs.get(key)
                if log is None:  # every event was evicted before the save
                    log = src.logs[key] = KeyLog(src.column_names(), src.streams)
                if evicted is not None:
                    log.evicted = evicted if log.evicted is None else max(log.evicted, evicted)
            if watermark is not None:
                src.watermark = watermark if src.watermark is None else max(src.watermark,
                                                                            watermark)
            src.evict()
        state.events = sum(events for events, _, _ in loaded.values())


def _mapping(v: object, where: str) -> dict:
    if not isinstance(v, dict):
        raise ArtifactError(f"{where}: `sources` is not an object")
    return v


def _optional_int(v: object, what: str, where: str) -> int | None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
        raise ArtifactError(f"{where}: {what}: {v!r} is not a time in µs")
    return v


def _read_source(state: MemoryState, name: str, body: object, where: str
                 ) -> tuple[int, int | None, list[tuple[tuple, list[int], list[dict], int | None]]]:
    src = state._sources.get(name)
    if src is None or not isinstance(body, dict):
        raise ArtifactError(f"{where}: unknown source `{name}`")
    names = src.column_names()
    if body.get("columns") != [_column_name(c) for c in names]:
        raise ArtifactError(f"{where}: source `{name}` holds other columns than this spec's")
    events = body.get("events")
    if isinstance(events, bool) or not isinstance(events, int) or events < 0:
        raise ArtifactError(f"{where}: source `{name}`: bad event count {events!r}")
    types = [src.column_type(c) for c in names]
    key_types = [src.source.fields[k] for k in src.source.keys]
    entries = []
    keys = body.get("keys")
    if not isinstance(keys, list):
        raise ArtifactError(f"{where}: source `{name}`: `keys` is not a list")
    for i, entry in enumerate(keys):
        at = f"source `{name}`, key entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), list) \
                or len(entry["key"]) != len(key_types):
            raise ArtifactError(f"{where}: {at}: malformed")
        key = tuple(_decode(v, kt, at) for v, kt in zip(entry["key"], key_types, strict=True))
        times, columns = entry.get("times"), entry.get("values")
        if not isinstance(times, list) or not isinstance(columns, list) \
                or len(columns) != len(names) or any(
                    not isinstance(c, list) or len(c) != len(times) for c in columns):
            raise ArtifactError(f"{where}: {at}: malformed")
        if any(isinstance(t, bool) or not isinstance(t, int) for t in times) \
                or times != sorted(times):
            raise ArtifactError(f"{where}: {at}: event times are not sorted integers")
        decoded = [[_decode(v, t, at) for v in col] for col, t in zip(columns, types,
                                                                      strict=True)]
        rows = [dict(zip(names, vals, strict=True)) for vals in zip(*decoded, strict=True)]
        evicted = _optional_int(entry.get("evicted"), at, where)
        entries.append((key, times, rows or [{} for _ in times], evicted))
    watermark = _optional_int(body.get("watermark"), f"source `{name}` watermark", where)
    return events, watermark, entries
