"""The ``skew`` report: what :func:`~featuredsl.featurelog.skew.skew_report` returns, as text
and JSON (deterministic: the same log gives the same bytes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from featuredsl.featurelog.compare import ULP_BUCKETS, FeatureSkew


@dataclass(frozen=True)
class BadFile:
    """A file of the log directory that could not be checked, and why."""

    path: str
    problem: str


@dataclass
class JoinReport:
    """Join mode: the logged rows against the offline rows of the same keys."""

    keys: list[str]
    inputs: list[str]
    features: dict[str, FeatureSkew]
    rows: int = 0  #: logged rows whose key is in the offline table (once)
    missing_offline: int = 0  #: logged rows whose key is not in the offline table
    offline_only: int = 0  #: offline keys never logged (expected under sampling)
    duplicate_offline_keys: int = 0  #: keys on several offline rows: ambiguous, not compared
    rows_with_input_mismatch: int = 0
    input_mismatch: dict[str, int] = field(default_factory=dict)
    #: feature mismatches on rows whose inputs differ (the data) or agree (the code)
    data_mismatch: dict[str, int] = field(default_factory=dict)
    code_mismatch: dict[str, int] = field(default_factory=dict)
    data_samples: list[dict[str, object]] = field(default_factory=list)
    code_samples: list[dict[str, object]] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        """Feature mismatches of matched rows, data and code together."""
        return sum(self.data_mismatch.values()) + sum(self.code_mismatch.values())

    def to_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {
            "keys": self.keys, "rows": self.rows, "missing_offline": self.missing_offline,
            "offline_only": self.offline_only,
            "duplicate_offline_keys": self.duplicate_offline_keys,
            "rows_with_input_mismatch": self.rows_with_input_mismatch,
            "input_mismatch": {n: self.input_mismatch.get(n, 0) for n in self.inputs},
            "data_mismatch": dict(self.data_mismatch), "code_mismatch": dict(self.code_mismatch),
            "data_samples": self.data_samples, "code_samples": self.code_samples,
            "features": [fs.to_dict() for fs in self.features.values()],
        }


@dataclass
class SkewReport:
    """The replay of a feature log: per feature counts, bad files, other artifacts' rows.

    ``rows``: logged rows of this artifact compared; ``mismatches``: {feature: count} for the
    features that mismatched on some row; ``status``: ``"ok"`` when nothing mismatched, no row
    came from another artifact, no file was bad (and in join mode no matched row mismatched),
    else ``"skew"``. Temp files a killed writer left (``temp_files``) are listed, not findings.
    """

    artifact: str
    log_dir: str
    features: dict[str, FeatureSkew]
    rows: int = 0
    files: int = 0
    foreign_artifacts: dict[str, int] = field(default_factory=dict)
    foreign_files: dict[str, list[str]] = field(default_factory=dict)
    bad_files: list[BadFile] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    join: JoinReport | None = None

    @property
    def mismatches(self) -> dict[str, int]:
        """{feature: mismatching rows}, for the features with any (replay)."""
        return {n: fs.mismatch for n, fs in self.features.items() if fs.mismatch}

    @property
    def status(self) -> Literal["ok", "skew"]:
        """``"ok"`` or ``"skew"`` (see the class doc)."""
        bad = (self.mismatches or self.foreign_artifacts or self.bad_files
               or (self.join is not None and self.join.mismatches))
        return "skew" if bad else "ok"

    def to_dict(self) -> dict[str, object]:
        """The JSON form: every count, finding and sample."""
        return {
            "kind": "featuredsl.skew_report", "status": self.status, "artifact": self.artifact,
            "log_dir": self.log_dir, "rows": self.rows, "files": self.files,
            "mismatches": self.mismatches,
            "foreign_artifacts": [
                {"artifact": a, "rows": n, "files": self.foreign_files.get(a, [])}
                for a, n in sorted(self.foreign_artifacts.items())],
            "bad_files": [{"path": b.path, "problem": b.problem} for b in self.bad_files],
            "temp_files": self.temp_files,
            "features": [fs.to_dict() for fs in self.features.values()],
            "join": self.join.to_dict() if self.join is not None else None,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text (deterministic)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """A report for people: the verdict, findings, then one line per feature."""
        lines = [f"skew: {self.status} - {self.rows} logged rows in {self.files} files "
                 f"replayed for artifact {self.artifact[:12]}"]
        for a, n in sorted(self.foreign_artifacts.items()):
            files = self.foreign_files.get(a, [])
            lines.append(f"  ! {n} rows served by another artifact {a[:12]} "
                         f"({len(files)} files, e.g. {files[0] if files else '-'})")
        for b in self.bad_files:
            lines.append(f"  ! bad file {b.path}: {b.problem}")
        if not self.rows and not self.foreign_artifacts and not self.bad_files:
            lines.append("  note: no logged row of this artifact: nothing was compared")
        if self.temp_files:
            lines.append(f"  note: {len(self.temp_files)} unfinished temp files ignored "
                         f"(a writer killed mid-write), e.g. {self.temp_files[0]}")
        lines.extend(_feature_lines(self.features, "recomputed"))
        if self.join is not None:
            lines.extend(_join_lines(self.join))
        return "\n".join(lines) + "\n"


def _feature_lines(features: dict[str, FeatureSkew], other: str) -> list[str]:
    width = max((len(n) for n in features), default=0)
    out = []
    same = [n for n, fs in features.items() if not fs.mismatch]
    if same and len(same) == len(features):
        out.append(f"  = every feature ({len(same)}) matches on every row")
    elif same:
        out.append(f"  = {len(same)} of {len(features)} features match on every row: "
                   + ", ".join(same))
    for name, fs in features.items():
        if not fs.mismatch:
            continue
        parts = [f"{fs.mismatch} mismatch of {fs.match + fs.mismatch}"]
        if fs.served_null_only:
            parts.append(f"served null only {fs.served_null_only}")
        if fs.recomputed_null_only:
            parts.append(f"{other} null only {fs.recomputed_null_only}")
        if fs.ulp:
            parts.append("ulps " + " ".join(f"{k}:{fs.ulp.get(k, 0)}" for k in ULP_BUCKETS))
        if fs.smape is not None:
            parts.append(f"smape {fs.smape:.4g}%")
        out.append(f"  ~ {name:<{width}}  " + ", ".join(parts))
        for s, r, n in fs.top_confusions(3):
            out.append(f"      {n} x served {s} -> {other} {r}")
        for smp in fs.samples:
            out.append(f"      e.g. request {smp['request_id']} ({smp['file']} row "
                       f"{smp['row']}): served {smp['served']}, {other} {smp['recomputed']}")
    return out


def _join_lines(j: JoinReport) -> list[str]:
    lines = [f"join on {', '.join(j.keys)}: {j.rows} logged rows matched offline rows; "
             f"{j.missing_offline} logged keys not offline, {j.offline_only} offline keys not "
             f"logged, {j.duplicate_offline_keys} duplicate offline keys (not compared)",
             f"  inputs differ on {j.rows_with_input_mismatch} rows"
             + (": " + ", ".join(f"{n} {c}" for n, c in j.input_mismatch.items() if c)
                if j.rows_with_input_mismatch else "")]
    for name in j.features:
        d, c = j.data_mismatch.get(name, 0), j.code_mismatch.get(name, 0)
        if d or c:
            lines.append(f"  ~ {name}: {d + c} mismatch ({d} data: inputs differ, "
                         f"{c} code: same inputs)")
    if not j.mismatches:
        lines.append("  = every feature matches the offline rows")
    for smp in j.data_samples:
        lines.append(f"      data e.g. request {smp['request_id']}: inputs "
                     f"{', '.join(map(str, smp['inputs']))} differ")  # type: ignore[call-overload]
    for smp in j.code_samples:
        lines.append(f"      code e.g. request {smp['request_id']}: {smp['feature']}")
    return lines
