"""The monitor report (SPEC 10): a serving snapshot checked against the artifact's training profile.

``monitor_report(fitted, snapshot)`` reads a snapshot (the counts of ``fd.Monitor`` or of its
batch twin ``fd.profile_rows``; docs/monitoring.md, The report "What the report reads") and runs,
per watched field, the checks calibrated by simulation on the reference workload (why each
threshold: docs/monitoring.md, The report):

==================  ===========================================================================
``null_rate``       two-proportion z: warn at a change of 0.02 with ``|z| >= 4``, alert at 0.10
``oov_rate``        the same rule on the share of values outside the training ``top`` (its
                    values near the top's cutoff counted outside: the winner's curse)
``out_of_range``    share of values below the training min or above its max: warn 0.01,
                    alert 0.05, both with ``z >= 4``
``psi``             PSI on the frozen bins (Jeffreys smoothing), warn ``max(0.10, bound)``,
                    alert ``max(0.25, bound)``, ``bound = chi2_{B-1}(1 - 1e-6) (1/M + 1/N)``
``max_bin_shift``   the largest change of one bin's share: warn 0.075, alert 0.15
``jensen_shannon``  reported, never an alarm
``input_errors``    rejected rows of a field among all rows seen: warn 0.01, alert 0.05
==================  ===========================================================================

Fields are named ``inputs.<name>`` and ``features.<name>``; a list's length checks are
``<field>.length``; row-level input errors (no field) are ``rows``. A check on fewer than
``min_count`` (1,000) values on either side is ``insufficient_data``, never an alarm. The report
is a pure function of its arguments: the same snapshot gives the same JSON, text and HTML bytes.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featuredsl.errors import FeatureDSLError
from featuredsl.monitor import report_stats as st

if TYPE_CHECKING:
    from featuredsl.api import FittedSpec

#: The snapshot's ``kind`` and the format this report reads.
SNAPSHOT_KIND = "featuredsl.monitor.snapshot"
SNAPSHOT_FORMAT = 1
#: The report's own ``kind`` and format (its JSON output).
REPORT_KIND = "featuredsl.monitor.report"
REPORT_FORMAT = 1
#: The levels, from best to worst: a report's status is the worst level of its checks.
LEVELS = ("ok", "insufficient_data", "warn", "alert")
_RANK = {level: i for i, level in enumerate(LEVELS)}
#: How many outside values a finding names.
TOP_NEW = 10
#: What a categorical field's out-of-vocabulary slot is called in charts and findings.
OTHER = "(other)"


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of the checks (defaults: MONITORING.md's calibration; see
    docs/monitoring.md, The report for why each value). Override some with
    ``monitor_report(..., thresholds={"psi_warn": 0.2})`` or a ``Thresholds(...)``."""

    #: A check on fewer values than this on either side is ``insufficient_data``.
    min_count: int = 1000
    #: The |z| a rate change must also reach (null_rate, oov_rate, out_of_range).
    z: float = 4.0
    null_rate_warn: float = 0.02
    null_rate_alert: float = 0.10
    oov_rate_warn: float = 0.02
    oov_rate_alert: float = 0.10
    #: Top values whose training count is within this many Poisson sds of the top's smallest
    #: count are counted as outside values by ``oov_rate`` (the winner's curse; 0: off).
    oov_cutoff_sd: float = 2.0
    out_of_range_warn: float = 0.01
    out_of_range_alert: float = 0.05
    psi_warn: float = 0.10
    psi_alert: float = 0.25
    #: The upper-tail probability of the chi-square noise bound under which PSI never alarms.
    psi_noise_tail: float = 1e-6
    #: PSI is ``insufficient_data`` when its noise bound exceeds this (too few values per bin).
    psi_max_bound: float = 0.10
    #: The additive smoothing of PSI's shares (1/2: Jeffreys).
    psi_smoothing: float = 0.5
    max_bin_shift_warn: float = 0.075
    max_bin_shift_alert: float = 0.15
    input_errors_warn: float = 0.01
    input_errors_alert: float = 0.05

    @classmethod
    def of(cls, value: Thresholds | Mapping[str, object] | None) -> Thresholds:
        """``value`` as thresholds: ``None`` the defaults, a mapping overrides some of them
        (an unknown name or a bad value is a :class:`FeatureDSLError`)."""
        if value is None:
            return cls()
        if isinstance(value, Thresholds):
            got = value
        elif isinstance(value, Mapping):
            names = [f.name for f in dataclasses.fields(cls)]
            for key in value:
                if key not in names:
                    close = difflib.get_close_matches(str(key), names, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise FeatureDSLError(f"unknown threshold {key!r}{hint}; the thresholds are: "
                                          + ", ".join(names))
            got = cls(**{str(k): v for k, v in value.items()})  # type: ignore[arg-type]
        else:
            raise FeatureDSLError("thresholds= must be a dict of threshold names to numbers or "
                                  f"a Thresholds, got {type(value).__name__}")
        got._validate()
        return got

    def _validate(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise FeatureDSLError(f"threshold {f.name!r} must be a finite number, got {v!r}")
            if v < 0:
                raise FeatureDSLError(f"threshold {f.name!r} must be >= 0, got {v!r}")
        if not isinstance(self.min_count, int) or self.min_count < 1:
            raise FeatureDSLError(f"threshold 'min_count' must be an int >= 1, "
                                  f"got {self.min_count!r}")
        if not 0 < self.psi_noise_tail < 1:
            raise FeatureDSLError("threshold 'psi_noise_tail' must be between 0 and 1, got "
                                  f"{self.psi_noise_tail!r}")
        for check in ("null_rate", "oov_rate", "out_of_range", "psi", "max_bin_shift",
                      "input_errors"):
            warn, alert = getattr(self, f"{check}_warn"), getattr(self, f"{check}_alert")
            if warn > alert:
                raise FeatureDSLError(f"threshold '{check}_warn' ({warn!r}) is above "
                                      f"'{check}_alert' ({alert!r})")

    def to_dict(self) -> dict[str, float]:
        """Every threshold by name."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Slot:
    """One bar of a field's chart: a training bin, a ``top`` value or the other values."""

    label: str
    reference: int
    serving: int
    #: numeric bins: the bin's index; categorical: the value (``None`` for the other values).
    value: object = None


@dataclass(frozen=True)
class Finding:
    """The result of one check on one field.

    ``value`` is what is compared with the thresholds (a change of rate, a share, a PSI);
    ``threshold`` is the one reached (``alert_at`` when alerting, else ``warn_at``; ``None``
    for a measure reported without alarm); ``before``/``after`` are the training and serving
    rates or shares the check compares; ``moved`` says what moved (the bin, the new values, the
    rates), also written out in ``message``."""

    field: str
    check: str
    level: str
    value: float | None
    threshold: float | None
    warn_at: float | None = None
    alert_at: float | None = None
    before: float | None = None
    after: float | None = None
    z: float | None = None
    count: int = 0
    reference_count: int = 0
    moved: dict[str, Any] = dataclasses.field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain JSON data."""
        return _jsonable(dataclasses.asdict(self))


@dataclass(frozen=True)
class FieldReport:
    """Everything the report says about one watched field."""

    field: str
    kind: str  # numeric | categorical | range | list
    type: str
    status: str
    reference: dict[str, int]
    serving: dict[str, int]
    slots: tuple[Slot, ...]
    checks: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        """The field as plain JSON data."""
        return _jsonable({
            "field": self.field, "kind": self.kind, "type": self.type, "status": self.status,
            "reference": self.reference, "serving": self.serving,
            "slots": [dataclasses.asdict(s) for s in self.slots],
            "checks": [f.to_dict() for f in self.checks]})


@dataclass(frozen=True)
class MonitorReport:
    """A snapshot checked against the training profile (see :func:`monitor_report`)."""

    status: str
    artifact: str
    rows: int
    sample_every: int | None
    thresholds: Thresholds
    fields: tuple[FieldReport, ...]
    input_errors: dict[str, int] = dataclasses.field(default_factory=dict)
    #: profile fields the snapshot does not hold (not watched by that monitor)
    missing: tuple[str, ...] = ()
    #: ``input_errors`` findings that belong to no watched field (row-level errors: ``rows``)
    row_errors: tuple[Finding, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        """Every check of every field, in field order (``.level`` says which alarm)."""
        return [f for fr in self.fields for f in fr.checks] + list(self.row_errors)

    @property
    def alarms(self) -> list[Finding]:
        """The findings at ``warn`` or ``alert``, worst first, then in field order."""
        found = [f for f in self.findings if f.level in ("warn", "alert")]
        return sorted(found, key=lambda f: -_RANK[f.level])

    def for_field(self, name: str) -> FieldReport:
        """The report of one field (``"inputs.amount"``); ``KeyError`` if it is not watched."""
        for fr in self.fields:
            if fr.field == name:
                return fr
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain, deterministic JSON data."""
        return _jsonable({
            "kind": REPORT_KIND, "format": REPORT_FORMAT, "status": self.status,
            "artifact": self.artifact, "rows": self.rows, "sample_every": self.sample_every,
            "thresholds": self.thresholds.to_dict(), "input_errors": dict(self.input_errors),
            "missing": list(self.missing),
            "fields": [fr.to_dict() for fr in self.fields],
            "row_errors": [f.to_dict() for f in self.row_errors],
            "alarms": [{"field": f.field, "check": f.check, "level": f.level,
                        "message": f.message} for f in self.alarms]})

    def to_json(self) -> str:
        """The report as JSON text: sorted keys, two-space indent, UTF-8, a final newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"

    def to_text(self) -> str:
        """The report for people at a terminal: the alarms, then one line per field."""
        from featuredsl.monitor.report_text import render_text

        return render_text(self)

    def to_html(self) -> str:
        """One self-contained HTML page (inline CSS and SVG; no script, nothing fetched)."""
        from featuredsl.monitor.report_html import render_html

        return render_html(self)


def worst(levels: Sequence[str]) -> str:
    """The worst of ``levels`` (``ok`` when there are none)."""
    return max(levels, key=lambda lv: _RANK[lv], default="ok")


def _jsonable(v: object) -> Any:
    """Plain JSON data: tuples as lists, non-finite floats as strings (JSON has none)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return v


# --- reading the artifact and the snapshot --------------------------------------------------

_SECTIONS = ("inputs", "features")


def monitor_profile(fitted: FittedSpec) -> dict[str, dict[str, dict[str, Any]]]:
    """The artifact's training profile by section, refusing one a monitor cannot use: fitted
    with ``profile=False`` (empty) or written before the monitoring bins (no ``kind``)."""
    profile = getattr(fitted, "profile", None)
    if not isinstance(profile, Mapping):
        raise FeatureDSLError("monitor_report needs a fitted artifact (fd.load(path) or "
                              f"spec.fit(data)), got {type(fitted).__name__}")
    if not profile:
        raise FeatureDSLError(
            "this artifact has no training profile (it was fitted with profile=False), so "
            "there is nothing to compare serving traffic with: refit it with "
            "spec.fit(data) (profile=True, the default)")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    binned = False
    for section in _SECTIONS:
        entries = profile.get(section)
        out[section] = dict(entries) if isinstance(entries, Mapping) else {}
        for entry in out[section].values():
            binned = binned or (isinstance(entry, Mapping) and "kind" in entry)
    if not binned:
        raise FeatureDSLError(
            "this artifact's training profile has no monitoring bins (no `kind`, `edges`, "
            "`bin_counts` or `top` entries: it was written by an older featuredsl, artifact "
            "format 1): refit it with this version of featuredsl to monitor it")
    return out


def _count(v: object, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise FeatureDSLError(f"snapshot: `{where}` must be a count (an int >= 0), got "
                              f"{json.dumps(v, ensure_ascii=False, default=repr)[:60]}")
    return v


def _counts(v: object, n: int, where: str, what: str) -> list[int]:
    if not isinstance(v, list):
        raise FeatureDSLError(f"snapshot: `{where}` must be a list of {n} counts")
    if len(v) != n:
        raise FeatureDSLError(f"snapshot: `{where}` has {len(v)} counts, the training profile "
                              f"has {n} {what}: is it a snapshot of this artifact?")
    return [_count(x, f"{where}[{i}]") for i, x in enumerate(v)]


def _check_snapshot(fitted: FittedSpec, snapshot: object) -> Mapping[str, Any]:
    if not isinstance(snapshot, Mapping):
        raise FeatureDSLError("snapshot must be the dict of a monitor snapshot "
                              f"(mon.snapshot(), fd.profile_rows), got {type(snapshot).__name__}")
    if snapshot.get("kind") != SNAPSHOT_KIND:
        raise FeatureDSLError(f"not a monitor snapshot: `kind` is {snapshot.get('kind')!r}, "
                              f"expected {SNAPSHOT_KIND!r}")
    if snapshot.get("format") != SNAPSHOT_FORMAT:
        raise FeatureDSLError(f"monitor snapshot format {snapshot.get('format')!r} is not "
                              f"readable by this featuredsl (it reads format {SNAPSHOT_FORMAT})")
    want = fitted.artifact_hash
    got = snapshot.get("artifact")
    if got != want:
        raise FeatureDSLError(f"the snapshot was taken against another artifact: snapshot "
                              f"artifact {got}, this artifact {want}")
    _count(snapshot.get("rows"), "rows")
    every = snapshot.get("sample_every")
    if every is not None and (_count(every, "sample_every") < 1):
        raise FeatureDSLError("snapshot: `sample_every` must be an int >= 1 or null")
    errors = snapshot.get("input_errors", {})
    if not isinstance(errors, Mapping):
        raise FeatureDSLError("snapshot: `input_errors` must be an object of counts")
    for k, v in errors.items():
        _count(v, f"input_errors.{k}")
    for section in _SECTIONS:
        if not isinstance(snapshot.get(section, {}), Mapping):
            raise FeatureDSLError(f"snapshot: `{section}` must be an object of fields")
    return snapshot


# --- the checks -----------------------------------------------------------------------------


def _num(v: object) -> str:
    """A number as a chart or message shows it: ints as they are, floats to 6 digits."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "+inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return str(v)


def value_label(v: object) -> str:
    """A categorical value as the report shows it (JSON: strings quoted, so ``""`` shows)."""
    return json.dumps(v, ensure_ascii=False)


def _pct(p: float | None) -> str:
    return "n/a" if p is None else f"{100 * p:.2f}%"


def _bin_labels(edges: Sequence[object]) -> list[str]:
    if not edges:
        return ["all values"]
    labels = [f"< {_num(edges[0])}"]
    labels += [f"[{_num(a)}, {_num(b)})" for a, b in itertools.pairwise(edges)]
    labels.append(f">= {_num(edges[-1])}")
    return labels


class _Field:
    """One watched field: its training entry and serving counts, and the checks on them."""

    def __init__(self, name: str, entry: Mapping[str, Any], snap: Mapping[str, Any],
                 th: Thresholds) -> None:
        self.name, self.entry, self.th = name, entry, th
        if not isinstance(snap, Mapping):
            raise FeatureDSLError(f"snapshot: `{name}` must be an object of counts")
        self.snap = snap
        self.count = _count(snap.get("count"), f"{name}.count")
        self.nulls = _count(snap.get("nulls"), f"{name}.nulls")
        self.ref_count = int(entry.get("count") or 0)
        self.ref_nulls = int(entry.get("null_count") or 0)
        self.kind = str(entry.get("kind") or ("list" if "length" in entry else "range"))
        self.checks: list[Finding] = []
        self.slots: list[Slot] = []

    # the levels of the rules

    def _insufficient(self, *sizes: int) -> bool:
        return min(sizes) < self.th.min_count

    def _level(self, size_ok: bool, value: float, warn: float, alert: float,
               z: float | None = None) -> str:
        if not size_ok:
            return "insufficient_data"
        significant = z is None or abs(z) >= self.th.z
        if significant and abs(value) >= alert:
            return "alert"
        if significant and abs(value) >= warn:
            return "warn"
        return "ok"

    def _add(self, check: str, level: str, value: float | None, warn: float | None,
             alert: float | None, **kw: Any) -> None:
        threshold = alert if level == "alert" else warn
        self.checks.append(Finding(field=kw.pop("field", self.name), check=check, level=level,
                                   value=value, threshold=threshold, warn_at=warn,
                                   alert_at=alert, **kw))

    def _rate(self, check: str, x_ref: int, n_ref: int, x: int, n: int, warn: float,
              alert: float, what: str, moved: dict[str, Any], field: str | None = None) -> None:
        before = x_ref / n_ref if n_ref else None
        after = x / n if n else None
        change = (after or 0.0) - (before or 0.0)
        z = st.two_proportion_z(x_ref, n_ref, x, n)
        level = self._level(not self._insufficient(n_ref, n), change, warn, alert, z)
        moved = {"before": before, "after": after, **moved}
        msg = (f"{what} {_pct(before)} -> {_pct(after)} ({100 * change:+.2f} points, "
               f"z = {z:.1f})")
        if level == "insufficient_data":
            msg += f"; {min(n, n_ref)} values, fewer than {self.th.min_count}"
        extra = moved.pop("_text", "")
        self._add(check, level, change, warn, alert, before=before, after=after, z=z, count=n,
                  reference_count=n_ref, moved=moved, message=msg + extra,
                  **({"field": field} if field else {}))

    def null_rate(self) -> None:
        """Nulls among all rows of the field, against the training null rate."""
        self._rate("null_rate", self.ref_nulls, self.ref_count + self.ref_nulls, self.nulls,
                   self.count + self.nulls, self.th.null_rate_warn, self.th.null_rate_alert,
                   "null rate", {})

    def out_of_range(self, where: str, snap: Mapping[str, Any], entry: Mapping[str, Any],
                     count: int, ref_count: int) -> None:
        """Values below the training min or above its max (none in training, by definition)."""
        if "below_min" not in snap and "above_max" not in snap:
            return
        below = _count(snap.get("below_min", 0), f"{where}.below_min")
        above = _count(snap.get("above_max", 0), f"{where}.above_max")
        lo, hi = entry.get("min"), entry.get("max")
        moved = {"below_min": below, "above_max": above, "training_min": _num(lo),
                 "training_max": _num(hi),
                 "_text": f": {below} below the training min {_num(lo)}, {above} above the "
                          f"max {_num(hi)}"}
        self._rate("out_of_range", 0, ref_count, below + above, count,
                   self.th.out_of_range_warn, self.th.out_of_range_alert,
                   "out of the training range", moved, field=where)

    def distribution(self, where: str, slots: list[Slot]) -> None:
        """PSI, the largest bin shift and Jensen-Shannon on the slots (bins or top + other)."""
        kept = [s for s in slots if s.reference or s.serving]  # empty on both sides: no bin
        ref = [s.reference for s in kept]
        srv = [s.serving for s in kept]
        n, m = sum(ref), sum(srv)
        th = self.th
        enough = not self._insufficient(n, m)
        p, q = st.shares(ref), st.shares(srv)
        diffs = [b - a for a, b in zip(p, q, strict=True)]
        order = sorted(range(len(kept)), key=lambda i: (-abs(diffs[i]), i))
        top: list[dict[str, Any]] = [
            {"slot": kept[i].label, "before": p[i], "after": q[i],
             "reference": kept[i].reference, "serving": kept[i].serving} for i in order[:3]]
        worst_slot = top[0] if top else None
        where_moved = (f"; most moved: {worst_slot['slot']} {_pct(worst_slot['before'])} -> "
                       f"{_pct(worst_slot['after'])}" if worst_slot and enough else "")
        b = len(kept)
        # PSI: never below the noise bound of B - 1 degrees of freedom at these sample sizes
        if b >= 2 and n and m:
            bound = st.chi2_isf(th.psi_noise_tail, b - 1) * (1.0 / m + 1.0 / n)
            value = st.psi(ref, srv, th.psi_smoothing)
        else:
            bound, value = 0.0, 0.0
        warn, alert = max(th.psi_warn, bound), max(th.psi_alert, bound)
        psi_ok = enough and bound <= th.psi_max_bound
        level = self._level(psi_ok, value, warn, alert)
        note = ""
        if not enough:
            note = f"; {min(n, m)} values, fewer than {th.min_count}"
        elif not psi_ok:
            note = f"; noise bound {bound:.3g} above {th.psi_max_bound} (too few values per bin)"
        moved = {"bins": b, "noise_bound": bound, "most_moved": top}
        self._add("psi", level, value, warn, alert, count=m, reference_count=n, field=where,
                  moved=moved, message=f"PSI {value:.4f} on {b} bins (noise bound "
                                       f"{bound:.3g}){where_moved}{note}")
        shift = max((abs(d) for d in diffs), default=0.0)
        level = self._level(enough, shift, th.max_bin_shift_warn, th.max_bin_shift_alert)
        self._add("max_bin_shift", level, shift, th.max_bin_shift_warn, th.max_bin_shift_alert,
                  before=worst_slot["before"] if worst_slot else None,
                  after=worst_slot["after"] if worst_slot else None, count=m,
                  reference_count=n, field=where, moved={"most_moved": top},
                  message=f"largest bin shift {100 * shift:.2f} points{where_moved}"
                          + ("" if enough else f"; {min(n, m)} values, fewer than "
                                               f"{th.min_count}"))
        js = st.jensen_shannon(ref, srv) if n and m else 0.0
        self.checks.append(Finding(
            field=where, check="jensen_shannon", level="ok" if enough else "insufficient_data",
            value=js, threshold=None, count=m, reference_count=n,
            message=f"Jensen-Shannon divergence {js:.4f} bits (reported, no alarm)"))

    # the kinds

    def numeric(self, where: str, snap: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
        """Bins on the training edges, and the training range."""
        edges = list(entry.get("edges") or [])
        ref_bins = [int(c) for c in entry.get("bin_counts") or [0] * (len(edges) + 1)]
        bins = _counts(snap.get("bins"), len(edges) + 1, f"{where}.bins", "bins")
        count = _count(snap.get("count"), f"{where}.count")
        if sum(bins) != count:
            raise FeatureDSLError(f"snapshot: `{where}.bins` add up to {sum(bins)}, not to "
                                  f"its count {count}")
        self.slots = [Slot(label, r, s, i) for i, (label, r, s)
                      in enumerate(zip(_bin_labels(edges), ref_bins, bins, strict=True))]
        ref_count = int(entry.get("count") or 0)
        self.out_of_range(where, snap, entry, count, ref_count)
        self.distribution(where, self.slots)

    def categorical(self, where: str, snap: Mapping[str, Any],
                    entry: Mapping[str, Any]) -> None:
        """The training top values plus one slot for every other value."""
        top = [list(p) for p in entry.get("top") or []]
        counts = _counts(snap.get("top"), len(top), f"{where}.top", "top values")
        oov = _count(snap.get("oov"), f"{where}.oov")
        count = _count(snap.get("count"), f"{where}.count")
        if sum(counts) + oov != count:
            raise FeatureDSLError(f"snapshot: `{where}.top` and `oov` add up to "
                                  f"{sum(counts) + oov}, not to its count {count}")
        new = snap.get("oov_values", [])
        if not isinstance(new, list) or not all(isinstance(p, list) and len(p) == 2
                                                for p in new):
            raise FeatureDSLError(f"snapshot: `{where}.oov_values` must be a list of "
                                  "[value, count] pairs")
        new_top = [[v, _count(c, f"{where}.oov_values")] for v, c in new[:TOP_NEW]]
        other = int(entry.get("other_count") or 0)
        self.slots = [Slot(value_label(v), int(c), s, v)
                      for (v, c), s in zip(top, counts, strict=True)]
        if all(type(v) is int for v, _ in top):  # hours, buckets, codes: drawn in value order
            self.slots.sort(key=lambda sl: sl.value)  # type: ignore[arg-type, return-value]
        self.slots.append(Slot(OTHER, other, oov, None))
        ref_count = int(entry.get("count") or 0)
        shown = ", ".join(f"{value_label(v)} ({c})" for v, c in new_top[:5])
        near = self._near_cutoff([int(c) for _, c in top], other)
        text = f"; most frequent new values: {shown}" if shown else ""
        if near:
            cut = max(int(top[i][1]) for i in near)
            text += (f" (counted with them: the {len(near)} top values of at most {cut} "
                     "training rows, near the top's cutoff)")
        self._rate("oov_rate", other + sum(int(top[i][1]) for i in near), ref_count,
                   oov + sum(counts[i] for i in near), count, self.th.oov_rate_warn,
                   self.th.oov_rate_alert, "share outside the training top",
                   {"new_values": new_top, "near_cutoff": [top[i][0] for i in near],
                    "_text": text}, field=where)
        self.distribution(where, self.slots)

    def _near_cutoff(self, top: list[int], other: int) -> list[int]:
        """The top values whose training counts are within ``oov_cutoff_sd`` Poisson standard
        deviations of the smallest top count, when values were left out of the top.

        The top was chosen as the most frequent values *of the training rows*, so among
        values of similar frequency the ones that made it were the lucky ones: their training
        counts are inflated (the winner's curse) and fresh traffic gives them less, which
        would read as a rise of the outside share with no drift at all (a top of 100 among
        ~2,000 near-equal values: +3.5 points). Counting those values with the outside ones,
        on both sides, removes the selection from the comparison. When the top holds every
        training value (``other_count`` 0) nothing was selected and nothing moves."""
        sd = self.th.oov_cutoff_sd
        if not other or not top or sd <= 0:
            return []
        low = min(top)
        band = low + sd * math.sqrt(low)
        return [i for i, c in enumerate(top) if c <= band]

    def run(self) -> None:
        """Every check of this field's kind."""
        self.null_rate()
        if self.kind == "list":
            length = self.entry.get("length")
            snap = self.snap.get("length")
            if not isinstance(length, Mapping) or not isinstance(snap, Mapping):
                raise FeatureDSLError(f"snapshot: `{self.name}.length` must be an object of "
                                      "counts (a list field is watched by its lengths)")
            self._of_kind(f"{self.name}.length", snap, length, str(length.get("kind", "")))
        else:
            self._of_kind(self.name, self.snap, self.entry, self.kind)

    def _of_kind(self, where: str, snap: Mapping[str, Any], entry: Mapping[str, Any],
                 kind: str) -> None:
        if kind == "numeric":
            self.numeric(where, snap, entry)
        elif kind == "categorical":
            self.categorical(where, snap, entry)
        else:  # timestamps, dates, durations: the training range only
            count = _count(snap.get("count"), f"{where}.count")
            ref = int(entry.get("count") or 0)
            if "below_min" in snap or "above_max" in snap:
                below = _count(snap.get("below_min", 0), f"{where}.below_min")
                above = _count(snap.get("above_max", 0), f"{where}.above_max")
                inside = count - below - above
                if inside < 0:
                    raise FeatureDSLError(f"snapshot: `{where}`: below_min + above_max exceed "
                                          "its count")
                self.slots = [Slot(f"< min {_num(entry.get('min'))}", 0, below, 0),
                              Slot("within the training range", ref, inside, 1),
                              Slot(f"> max {_num(entry.get('max'))}", 0, above, 2)]
                self.out_of_range(where, snap, entry, count, ref)

    def report(self) -> FieldReport:
        """The field's part of the report."""
        return FieldReport(
            field=self.name, kind=self.kind, type=str(self.entry.get("type", "")),
            status=worst([f.level for f in self.checks]),
            reference={"count": self.ref_count, "nulls": self.ref_nulls},
            serving={"count": self.count, "nulls": self.nulls},
            slots=tuple(self.slots), checks=tuple(self.checks))


def _input_error_finding(name: str, errors: int, total: int | None, th: Thresholds) -> Finding:
    """Rows rejected for ``name`` among every row seen (estimated: sampled rows times
    ``sample_every``, plus the rejected rows, which are counted at full rate)."""
    if total is None:
        return Finding(field=name, check="input_errors", level="insufficient_data", value=None,
                       threshold=th.input_errors_warn, warn_at=th.input_errors_warn,
                       alert_at=th.input_errors_alert, count=errors,
                       moved={"errors": errors},
                       message=f"{errors} rows rejected; the rate is unknown (the snapshot "
                               "merges monitors of different sample_every)")
    rate = errors / total if total else 0.0
    if total < th.min_count:
        level = "insufficient_data"
    elif rate >= th.input_errors_alert:
        level = "alert"
    elif rate >= th.input_errors_warn:
        level = "warn"
    else:
        level = "ok"
    return Finding(field=name, check="input_errors", level=level, value=rate,
                   threshold=th.input_errors_alert if level == "alert" else th.input_errors_warn,
                   warn_at=th.input_errors_warn, alert_at=th.input_errors_alert, before=0.0,
                   after=rate, count=errors, reference_count=total, moved={"errors": errors},
                   message=f"{errors} rows rejected with an InputError ({_pct(rate)} of about "
                           f"{total} rows seen)")


def _declared_order(fitted: FittedSpec, section: str, entries: Mapping[str, Any]) -> list[str]:
    """The fields of a section in the spec's declaration order (a loaded artifact's profile
    has sorted keys, a freshly fitted one declaration order: the report must not differ)."""
    declared = list(getattr(fitted, section, None) or [])
    return [n for n in declared if n in entries] + sorted(n for n in entries
                                                          if n not in set(declared))


def monitor_report(fitted: FittedSpec, snapshot: Mapping[str, Any],
                   thresholds: Thresholds | Mapping[str, object] | None = None
                   ) -> MonitorReport:
    """Check a monitor ``snapshot`` against ``fitted``'s training profile.

    ``snapshot`` is the dict of ``fd.Monitor.snapshot()``, ``fd.profile_rows`` or
    ``fd.merge_snapshots``, taken against this artifact (else a :class:`FeatureDSLError` names
    both hashes). ``thresholds`` overrides some of :class:`Thresholds` by name. The report's
    ``status`` is the worst level of its checks: ``ok`` < ``insufficient_data`` < ``warn`` <
    ``alert``."""
    th = Thresholds.of(thresholds)
    profile = monitor_profile(fitted)
    snap = _check_snapshot(fitted, snapshot)
    reports: list[FieldReport] = []
    missing: list[str] = []
    # a monitor watches the inputs the row evaluator reads (not a key kept beside the features)
    read = set(getattr(fitted, "serving_inputs", None) or profile["inputs"])
    for section in _SECTIONS:
        watched = snap.get(section, {})
        for name in _declared_order(fitted, section, profile[section]):
            entry = profile[section][name]
            if not isinstance(entry, Mapping):
                continue
            if name not in watched:
                if section == "features" or name in read:
                    missing.append(f"{section}.{name}")
                continue
            f = _Field(f"{section}.{name}", entry, watched[name], th)
            f.run()
            reports.append(f.report())
    rows = int(snap["rows"])
    every = snap.get("sample_every")
    errors = {str(k): int(v) for k, v in snap.get("input_errors", {}).items()}
    rejected = sum(errors.values())
    total = None if every is None else rows * int(every) + rejected
    row_errors: list[Finding] = []
    by_field = {fr.field: i for i, fr in enumerate(reports)}
    for key in sorted(errors):
        if not errors[key]:
            continue
        name = f"inputs.{key}" if key else "rows"
        finding = _input_error_finding(name, errors[key], total, th)
        if name in by_field:  # shown with the field it rejected
            i = by_field[name]
            fr = reports[i]
            checks = (*fr.checks, finding)
            reports[i] = dataclasses.replace(fr, checks=checks,
                                             status=worst([c.level for c in checks]))
        else:
            row_errors.append(finding)
    status = worst([fr.status for fr in reports] + [f.level for f in row_errors])
    return MonitorReport(status=status, artifact=str(snap["artifact"]), rows=rows,
                         sample_every=None if every is None else int(every), thresholds=th,
                         fields=tuple(reports), input_errors=errors, missing=tuple(missing),
                         row_errors=tuple(row_errors))
