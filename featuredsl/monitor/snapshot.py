"""The monitor snapshot (SPEC 10): its layout from the training profile, its counts, merging.

A snapshot is a plain JSON-able dict of counts (docs/monitoring.md "The snapshot")::

    {"kind": "featuredsl.monitor.snapshot", "format": 1, "artifact": <artifact hash>,
     "sample_every": n | None, "rows": n, "input_errors": {field: n},
     "inputs": {name: FIELD}, "features": {name: FIELD}}

What a FIELD counts follows the profile entry of that field (:class:`FieldLayout`). Both
counters, the serving monitor (:mod:`.runtime`) and its batch twin (:mod:`.twin`), fill the
same flat list of ints laid out by :class:`Layout` (plus one dict of out-of-vocabulary values
per categorical field) and turn it into the snapshot with :meth:`Layout.snapshot`, so the two
cannot disagree on the shape, only on counts (and the tests hold them equal, byte for byte).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featuredsl.errors import FeatureDSLError

#: ``kind`` and ``format`` of a snapshot: a reader refuses other values.
SNAPSHOT_KIND = "featuredsl.monitor.snapshot"
SNAPSHOT_FORMAT = 1
#: How many distinct out-of-vocabulary values an accumulator (and a merge) keeps with exact
#: counts; past it, a new value is counted in ``oov`` only (memory stays bounded whatever the
#: traffic).
OOV_TRACKED = 1000

_I64_MAX = 2**63 - 1
_REFIT = ("refit it with this featuredsl (`featuredsl fit`, or `spec.fit(data)` without "
          "profile=False)")
_OLD = ("`{}` has no monitoring profile (no `kind` or `length`: the artifact was written by "
        "an older featuredsl, artifact format 1): " + _REFIT)


@dataclass(frozen=True)
class FieldLayout:
    """What one monitored field counts, from its training-profile entry, and where.

    ``kind`` is ``"numeric"``, ``"categorical"``, ``"list"``, ``"range"`` (timestamps, dates,
    durations with a training min/max) or ``"plain"``. Every field's first slot (at
    ``offset`` in the flat counter list) counts its nulls: ``count`` is the rows minus the
    nulls, so a non-null value costs no increment for it. Then, by kind:

    * numeric: one slot per index of ``bisect_right(cuts, x)``, where ``cuts`` are the bin
      ``edges`` between the training ``min`` and the first value above ``max`` (the next
      float, or ``max + 1`` for an int): the first index is below the min, the last above
      the max, the others the bins; so one bisect and one increment count a value's bin and
      range;
    * categorical: one slot per ``top`` value (``slots`` maps a value to its slot), and a
      dict (``oov_index``) of the values outside them; ``oov`` is ``count`` minus the top;
    * list: the ``length`` field's slots follow (its nulls are the list's);
    * range: below the min, above the max.
    """

    name: str
    type: str
    kind: str
    offset: int
    edges: tuple = ()
    #: numeric: ``edges`` with the range bounds (see above); ``has_lo``/``has_hi``: present
    cuts: tuple = ()
    has_lo: bool = False
    has_hi: bool = False
    #: range: the training min and max (naive UTC datetimes, dates, durations in µs)
    lo: Any = None
    hi: Any = None
    top: tuple = ()
    length: FieldLayout | None = None
    oov_index: int = -1
    #: timestamp, date or duration for a range field
    temporal: str = ""
    #: the top value -> its slot (absolute index), for categorical fields
    slots: Mapping[Any, int] = field(default_factory=dict)

    def counts(self, flat: list[int], oovs: list[dict], rows: int,
               nulls: int | None = None) -> dict[str, object]:
        """This field's FIELD dict of the snapshot, from the flat counters."""
        o = self.offset
        nulls = flat[o] if nulls is None else nulls
        count = rows - nulls
        out: dict[str, object] = {"count": count, "nulls": nulls}
        if self.kind == "numeric":
            c = flat[o + 1:o + 2 + len(self.cuts)]
            k = len(self.edges)
            bins = c[int(self.has_lo):int(self.has_lo) + k + 1]
            out["below_min"] = c[0] if self.has_lo else 0
            out["above_max"] = c[-1] if self.has_hi else 0
            bins[0] += out["below_min"]  # type: ignore[operator]
            bins[k] += out["above_max"]  # type: ignore[operator]
            out["bins"] = bins
        elif self.kind == "categorical":
            top = flat[o + 1:o + 1 + len(self.top)]
            out["top"] = top
            out["oov"] = count - sum(top)
            out["oov_values"] = ordered_oov(oovs[self.oov_index].items())
        elif self.kind == "list":
            assert self.length is not None
            out["length"] = self.length.counts(flat, oovs, rows, nulls)
        elif self.kind == "range":
            out["below_min"], out["above_max"] = flat[o + 1], flat[o + 2]
        return out


def ordered_oov(items: Iterable[tuple[Any, int]]) -> list[list]:
    """Out-of-vocabulary ``[value, count]`` pairs by (-count, value), the first
    :data:`OOV_TRACKED`."""
    pairs = sorted(((v, int(n)) for v, n in items if n), key=lambda p: (-p[1], p[0]))
    return [list(p) for p in pairs[:OOV_TRACKED]]


@dataclass(frozen=True)
class Layout:
    """The monitored fields of one fitted artifact, laid out in one flat counter list.

    Slot 0 counts the rows; ``inputs`` (the profile's inputs the evaluator reads, in the
    evaluator's order) and ``features`` follow. ``oov_fields`` is how many categorical fields
    keep a dict of outside values.
    """

    artifact: str
    inputs: tuple[FieldLayout, ...]
    features: tuple[FieldLayout, ...]
    size: int
    oov_fields: int

    def empty(self) -> tuple[list[int], list[dict]]:
        """Fresh zero counters: the flat list and the out-of-vocabulary dicts."""
        return [0] * self.size, [{} for _ in range(self.oov_fields)]

    def snapshot(self, flat: list[int], oovs: list[dict], sample_every: int | None,
                 input_errors: Mapping[str, int]) -> dict[str, object]:
        """The snapshot dict of these counters (see the module docstring)."""
        return {
            "kind": SNAPSHOT_KIND, "format": SNAPSHOT_FORMAT, "artifact": self.artifact,
            "sample_every": sample_every, "rows": flat[0],
            "input_errors": {k: int(v) for k, v in sorted(input_errors.items()) if v},
            "inputs": {f.name: f.counts(flat, oovs, flat[0]) for f in self.inputs},
            "features": {f.name: f.counts(flat, oovs, flat[0]) for f in self.features},
        }


def snapshot_json(snap: Mapping[str, object]) -> str:
    """The canonical text of a snapshot (what byte-identity is checked on, what the CLI
    writes): sorted keys, UTF-8 text as is."""
    return json.dumps(snap, sort_keys=True, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------------------- layout


def layout_of(fitted: Any) -> Layout:
    """The counter layout of a fitted spec's profile; ``FeatureDSLError`` saying what is
    missing for an artifact without a (format-2) profile."""
    profile = getattr(fitted, "profile", None)
    if not isinstance(profile, Mapping) or not profile:
        raise FeatureDSLError(
            "this artifact has no training profile (it was fitted with profile=False), so "
            f"there is nothing to monitor against: {_REFIT}")
    in_prof, feat_prof = profile.get("inputs"), profile.get("features")
    if not isinstance(in_prof, Mapping) or not isinstance(feat_prof, Mapping):
        raise FeatureDSLError("the artifact's training profile has no `inputs` or `features`: "
                              + _REFIT)
    bound = fitted.bound()
    builder = _Builder()
    inputs = tuple(builder.field(f"profile.inputs.{n}", n, in_prof.get(n), t.kind)
                   for n, t in bound.inputs.items() if n in in_prof)
    features = tuple(builder.field(f"profile.features.{f.name}", f.name,
                                   feat_prof.get(f.name), f.type.kind)
                     for f in bound.features)
    return Layout(fitted.artifact_hash, inputs, features, builder.next, builder.oov)


class _Builder:
    """Assigns slots while reading and checking profile entries."""

    def __init__(self) -> None:
        self.next = 1  # slot 0: rows
        self.oov = 0

    def field(self, where: str, name: str, entry: object, kind: str) -> FieldLayout:
        if not isinstance(entry, Mapping):
            raise FeatureDSLError(f"the artifact's training profile has no entry `{where}`: "
                                  + _REFIT)
        typ = str(entry.get("type", ""))
        offset = self.next
        if kind == "list":
            if not isinstance(entry.get("length"), Mapping):
                raise FeatureDSLError(_OLD.format(where))
            self.next += 1
            length = self.field(f"{where}.length", name, entry.get("length"), "int")
            return FieldLayout(name, typ, "list", offset, length=length)
        if kind in ("int", "float", "string", "bool"):
            pkind = entry.get("kind")
            if pkind not in ("numeric", "categorical"):
                raise FeatureDSLError(_OLD.format(where))
            if pkind == "numeric":
                return self._numeric(where, name, typ, entry, kind, offset)
            return self._categorical(where, name, typ, entry, kind, offset)
        lo = hi = None
        if kind in ("timestamp", "date", "duration"):
            lo, hi = (_temporal(where, kind, entry.get(k)) for k in ("min", "max"))
        if lo is not None and hi is not None:
            self.next += 3
            return FieldLayout(name, typ, "range", offset, lo=lo, hi=hi, temporal=kind)
        self.next += 1
        return FieldLayout(name, typ, "plain", offset)

    def _numeric(self, where: str, name: str, typ: str, entry: Mapping, kind: str,
                 offset: int) -> FieldLayout:
        edges = entry.get("edges")
        if kind not in ("int", "float") or not isinstance(edges, list | tuple) \
                or not all(_is_number(e, kind) for e in edges) \
                or any(a >= b for a, b in itertools.pairwise(edges)):
            raise FeatureDSLError(f"`{where}.edges` is not a strictly increasing list of "
                                  f"{kind} values: {_REFIT}")
        lo, hi = entry.get("min"), entry.get("max")
        for k, v in (("min", lo), ("max", hi)):
            if v is not None and not _is_number(v, "float"):
                raise FeatureDSLError(f"`{where}.{k}` is not a number: {_REFIT}")
        # -0.0 edges are 0.0 (bucketize compares them equal); ints stay ints
        edges_t = tuple(0.0 if e == 0 and isinstance(e, float) else e for e in edges)
        lo_cut: tuple = ()
        hi_cut: tuple = ()
        if lo is not None:
            lo_cut = (float(lo) if kind == "float" else lo,)
        if kind == "int" and hi is not None and hi < _I64_MAX:  # x > max is x >= max + 1
            hi_cut = (hi + 1,)
        if kind == "float" and hi is not None and hi < math.inf:  # ... the next float up
            hi_cut = (math.nextafter(float(hi), math.inf),)
        cuts = (*lo_cut, *edges_t, *hi_cut)
        if any(a > b for a, b in itertools.pairwise(cuts)) or (lo is None) != (hi is None):
            raise FeatureDSLError(f"`{where}`: the bin edges are not within the training min "
                                  f"and max: {_REFIT}")
        self.next += 1 + len(cuts) + 1
        return FieldLayout(name, typ, "numeric", offset, edges=edges_t, cuts=cuts,
                           has_lo=bool(lo_cut), has_hi=bool(hi_cut))

    def _categorical(self, where: str, name: str, typ: str, entry: Mapping, kind: str,
                     offset: int) -> FieldLayout:
        top = entry.get("top")
        want = {"int": int, "string": str, "bool": bool}.get(kind)
        ok = want is not None and isinstance(top, list | tuple) and all(
            isinstance(p, list | tuple) and len(p) == 2 and type(p[0]) is want for p in top)
        values = tuple(p[0] for p in top) if ok else ()  # type: ignore[union-attr]
        if not ok or len(set(values)) != len(values):
            raise FeatureDSLError(f"`{where}.top` is not a list of distinct [{kind} value, "
                                  f"count] pairs: {_REFIT}")
        slots = {v: offset + 1 + i for i, v in enumerate(values)}
        index = self.oov
        self.oov += 1
        self.next += 1 + len(values)
        return FieldLayout(name, typ, "categorical", offset, top=values, oov_index=index,
                           slots=slots)


def _is_number(v: object, kind: str) -> bool:
    if kind == "int":
        return type(v) is int
    return type(v) in (int, float) and not (isinstance(v, float) and math.isnan(v))


def _temporal(where: str, kind: str, v: object) -> object:
    """A temporal profile bound as a plain value: a naive UTC datetime, a date, or the
    microseconds of a duration (None stays None)."""
    if v is None:
        return None
    try:
        if kind == "duration" and type(v) is int:
            return v
        if kind == "date" and isinstance(v, str):
            return dt.date.fromisoformat(v)
        if kind == "timestamp" and isinstance(v, str):
            t = dt.datetime.fromisoformat(v)
            return t if t.tzinfo is None else t.astimezone(dt.UTC).replace(tzinfo=None)
    except ValueError:
        pass
    raise FeatureDSLError(f"`{where}`: the training {kind} bound {v!r} cannot be read: "
                          + _REFIT)


# ---------------------------------------------------------------------------- merge


def merge_snapshots(snaps: Iterable[Mapping[str, object]]) -> dict[str, object]:
    """One snapshot whose counts are the sums of ``snaps``' (threads, processes, hosts).

    Every snapshot must be of the same artifact and snapshot format, with the same fields;
    ``sample_every`` is kept when all agree, else ``None``. Out-of-vocabulary values add up
    and the first :data:`OOV_TRACKED` by (-count, value) are kept."""
    snaps = list(snaps)
    if not snaps:
        raise FeatureDSLError("merge_snapshots needs at least one snapshot")
    for i, s in enumerate(snaps):
        check_snapshot(s, f"snapshot {i + 1}")
    first = snaps[0]
    for i, s in enumerate(snaps[1:], 2):
        if s["artifact"] != first["artifact"]:
            raise FeatureDSLError(
                f"snapshot {i} is of artifact {str(s['artifact'])[:12]}..., snapshot 1 of "
                f"{str(first['artifact'])[:12]}...: snapshots of different artifacts do not "
                "merge")
    every = {s["sample_every"] for s in snaps}
    errors: dict[str, int] = {}
    for s in snaps:
        for k, v in s["input_errors"].items():  # type: ignore[attr-defined]
            errors[k] = errors.get(k, 0) + v
    out: dict[str, object] = {
        "kind": SNAPSHOT_KIND, "format": SNAPSHOT_FORMAT, "artifact": first["artifact"],
        "sample_every": every.pop() if len(every) == 1 else None,
        "rows": sum(int(s["rows"]) for s in snaps),  # type: ignore[call-overload]
        "input_errors": dict(sorted(errors.items())),
    }
    for part in ("inputs", "features"):
        names = list(first[part])  # type: ignore[call-overload]
        for i, s in enumerate(snaps[1:], 2):
            if sorted(s[part]) != sorted(names):  # type: ignore[call-overload]
                raise FeatureDSLError(f"snapshot {i} has other {part} than snapshot 1")
        out[part] = {n: _merge_field(f"{part}.{n}",
                                     [s[part][n] for s in snaps])  # type: ignore[index]
                     for n in names}
    return out


def _merge_field(where: str, fields: list[Mapping[str, Any]]) -> dict[str, object]:
    keys = set(fields[0])
    if any(set(f) != keys for f in fields):
        raise FeatureDSLError(f"`{where}` is counted differently in these snapshots")
    out: dict[str, object] = {}
    for k in sorted(keys):
        vals = [f[k] for f in fields]
        if k == "length":
            out[k] = _merge_field(f"{where}.length", vals)
        elif k == "oov_values":
            total: dict[Any, int] = {}
            for pairs in vals:
                for v, n in pairs:
                    total[v] = total.get(v, 0) + n
            out[k] = ordered_oov(total.items())
        elif isinstance(vals[0], list):
            if any(len(v) != len(vals[0]) for v in vals):
                raise FeatureDSLError(f"`{where}.{k}` has a different number of slots in these "
                                      "snapshots")
            out[k] = [sum(c) for c in zip(*vals, strict=True)]
        else:
            out[k] = sum(vals)
    return out


def check_snapshot(snap: object, where: str = "snapshot") -> None:
    """Raise ``FeatureDSLError`` unless ``snap`` looks like a snapshot this featuredsl reads
    (kind, format, artifact, counts)."""
    if not isinstance(snap, Mapping) or snap.get("kind") != SNAPSHOT_KIND:
        raise FeatureDSLError(f"{where} is not a featuredsl monitor snapshot (its `kind` must "
                              f"be {SNAPSHOT_KIND!r})")
    if snap.get("format") != SNAPSHOT_FORMAT:
        raise FeatureDSLError(f"{where} has snapshot format {snap.get('format')!r}; this "
                              f"featuredsl reads format {SNAPSHOT_FORMAT}")
    if not isinstance(snap.get("artifact"), str):
        raise FeatureDSLError(f"{where} names no artifact")
    if type(snap.get("rows")) is not int or not isinstance(snap.get("input_errors"), Mapping):
        raise FeatureDSLError(f"{where} has no `rows` count or `input_errors`")
    for part in ("inputs", "features"):
        fields = snap.get(part)
        if not isinstance(fields, Mapping):
            raise FeatureDSLError(f"{where} has no `{part}`")
        for name, f in fields.items():
            _check_field(f"{where}: {part}.{name}", f)


def _check_field(where: str, f: object) -> None:
    if not isinstance(f, Mapping) or not all(type(f.get(k)) is int for k in ("count", "nulls")):
        raise FeatureDSLError(f"{where} has no `count` and `nulls` counts")
    for k, v in f.items():
        if k == "length":
            _check_field(f"{where}.length", v)
        elif k == "oov_values":
            if not isinstance(v, list) or not all(
                    isinstance(p, list) and len(p) == 2 and type(p[1]) is int for p in v):
                raise FeatureDSLError(f"{where}.oov_values is not a list of [value, count]")
        elif k in ("bins", "top"):
            if not isinstance(v, list) or not all(type(c) is int for c in v):
                raise FeatureDSLError(f"{where}.{k} is not a list of counts")
        elif type(v) is not int:
            raise FeatureDSLError(f"{where}.{k} is not a count")


# ---------------------------------------------------------------------------- files


def read_snapshot(path: str | os.PathLike[str]) -> dict[str, object]:
    """A snapshot written by :func:`write_snapshot` (or any JSON of one), checked; every
    failure is a ``FeatureDSLError`` starting with the path."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FeatureDSLError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise FeatureDSLError(f"{p}: is a directory, not a snapshot file") from None
    except UnicodeDecodeError:
        raise FeatureDSLError(f"{p}: not UTF-8 text: not a snapshot file") from None
    except OSError as exc:
        raise FeatureDSLError(f"{p}: {exc.strerror or exc}") from None

    def constant(name: str) -> object:
        raise ValueError(f"{name} is not a count")

    try:
        snap = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        end = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise FeatureDSLError(f"{p}: not JSON: {exc.msg} at line {exc.lineno} column "
                              f"{exc.colno}{end}") from None
    except (ValueError, RecursionError) as exc:
        raise FeatureDSLError(f"{p}: not a snapshot: {exc}") from None
    check_snapshot(snap, str(p))
    return snap


def write_snapshot(snap: Mapping[str, object], path: str | os.PathLike[str]) -> None:
    """Write ``snap`` as its canonical JSON text (:func:`snapshot_json`) and a newline, to a
    temporary file moved into place (a reader never sees half a snapshot)."""
    check_snapshot(snap)
    p = Path(path)
    data = (snapshot_json(snap) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
