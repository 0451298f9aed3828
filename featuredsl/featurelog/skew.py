"""``fd.skew_report``: replay a feature log through the batch backend (SPEC 11, Rule #32).

Every file under the log directory is checked on its own, so a bad one is named and the rest
still compared: it must be Parquet, hold the metadata columns, and for rows of the artifact
being checked every ``in.*`` and ``out.*`` column of that artifact with its declared dtype.
Rows of another artifact are counted and named (a stale deploy), not compared. The logged
inputs of each file go through ``fitted.transform`` and every recomputed feature is compared
with the served one by the parity equality (:mod:`featuredsl.featurelog.compare`). Memory is
bounded by the largest log file (the writer's ``file_rows``), not by the log.

Join mode (``against=``, ``key=``) compares the logged rows with the rows of an offline table
having the same keys: the inputs (validated and widened as ``transform`` does) and the
features ``transform`` computes from the offline inputs; a feature mismatch on a row whose
inputs differ is attributed to the data, on a row with the same inputs to the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from featuredsl.data import inputs as data_io
from featuredsl.errors import FeatureDSLError, InputError, first_line
from featuredsl.featurelog import layout
from featuredsl.featurelog.compare import FeatureSkew, differing
from featuredsl.featurelog.report import BadFile, JoinReport, SkewReport

if TYPE_CHECKING:
    from featuredsl.api import Spec

__all__ = ["SkewReport", "skew_report"]

#: what reading a damaged file may raise (a Polars panic is a BaseException)
_BAD_FILE = (Exception, pl.exceptions.PanicException)
#: rows recomputed per ``transform`` call (bounded memory inside a file)
_SLICE = 100_000


def skew_report(fitted: Spec, log_dir: str | Path, against: object = None,
                key: str | Iterable[str] | None = None, *, samples: int = 3) -> SkewReport:
    """Replay the feature log under ``log_dir`` for ``fitted``'s artifact (see the module doc).

    ``against``: an offline table (any source ``transform`` reads) to join with the log on
    ``key`` (one or more column names: inputs of the spec, or context fields logged as
    ``ctx.<name>``). Raises ``InputError`` for a missing directory, ``FeatureDSLError`` for a
    spec whose window features cannot be replayed from a log."""
    root = Path(log_dir)
    if not root.is_dir():
        raise InputError(f"{root}: no such log directory")
    if fitted.bound().windows:
        raise FeatureDSLError("this spec has window aggregates: a feature log holds no source "
                              "events to replay them from")
    if (against is None) != (key is None):
        raise InputError("join mode needs both against= (the offline table) and key=")
    artifact = layout.artifact_id(fitted)
    expected = layout.schema(fitted)
    report = SkewReport(artifact=artifact, log_dir=str(root),
                        features={f.name: FeatureSkew(f.name, str(f.type))
                                  for f in fitted.bound().features})
    good: list[Path] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            report.temp_files.append(rel)  # a write a killed process did not finish
            continue
        if path.suffix != ".parquet":
            report.bad_files.append(BadFile(rel, "not a feature log file (not .parquet)"))
            continue
        problem = _check_file(fitted, path, rel, artifact, expected, report, samples)
        if problem is not None:
            report.bad_files.append(BadFile(rel, problem))
        else:
            good.append(path)
    if against is not None:
        keys = [key] if isinstance(key, str) else list(key or [])
        report.join = _join(fitted, good, artifact, against, keys, samples)
    return report


def _check_file(fitted: Spec, path: Path, rel: str, artifact: str,
                expected: dict[str, pl.DataType], report: SkewReport,
                samples: int) -> str | None:
    """Validate one file and compare its rows; returns the problem, or None."""
    try:
        schema = pl.read_parquet_schema(path)
    except _BAD_FILE as exc:
        return f"not a readable Parquet file (truncated or corrupt): {first_line(exc)}"
    missing = [c for c in layout.META if c not in schema]
    if missing:
        return f"not a feature log file: no column {', '.join(missing)}"
    wrong = [c for c, t in layout.META.items() if schema[c] != t]
    if wrong:
        return f"column {wrong[0]} is {schema[wrong[0]]}, not {layout.META[wrong[0]]}"
    try:
        frame = pl.read_parquet(path)
    except _BAD_FILE as exc:
        return f"cannot read the rows (truncated or corrupt): {first_line(exc)}"
    counts = frame.group_by(layout.ARTIFACT).len().rows()
    for other, n in counts:
        if other != artifact:
            name = str(other)
            report.foreign_artifacts[name] = report.foreign_artifacts.get(name, 0) + n
            report.foreign_files.setdefault(name, []).append(rel)
    frame = frame.filter(pl.col(layout.ARTIFACT) == artifact)
    if frame.height == 0:
        return None
    problem = _schema_problem(schema, expected)
    if problem is not None:
        return problem
    # recompute the whole file before counting, so a file that fails is not half counted
    try:
        recomputed = [_recompute(fitted, frame.slice(at, _SLICE))
                      for at in range(0, frame.height, _SLICE)]
    except FeatureDSLError as exc:
        return f"logged inputs the spec rejects: {first_line(exc)}"
    ids = frame.get_column(layout.REQUEST_ID)
    for at, out in zip(range(0, frame.height, _SLICE), recomputed, strict=True):
        part = frame.slice(at, _SLICE)
        for name, fs in report.features.items():
            fs.add(part.get_column(layout.OUT + name), out.get_column(name),
                   ids.slice(at, _SLICE), rel, samples)
    report.rows += frame.height
    report.files += 1
    return None


def _schema_problem(schema: Mapping[str, pl.DataType],
                    expected: dict[str, pl.DataType]) -> str | None:
    have = {c for c in schema if c.startswith((layout.IN, layout.OUT))}
    want = {c for c in expected if c.startswith((layout.IN, layout.OUT))}
    if have != want:
        parts = []
        if want - have:
            parts.append("missing " + ", ".join(sorted(want - have)))
        if have - want:
            parts.append("unexpected " + ", ".join(sorted(have - want)))
        return "wrong columns for this artifact: " + "; ".join(parts)
    for c in sorted(want):
        if schema[c] != expected[c]:
            return f"column {c} is {schema[c]}, the artifact declares {expected[c]}"
    bad_ctx = [c for c in schema if c.startswith(layout.CTX) and schema[c] != pl.String()]
    if bad_ctx:
        return f"column {bad_ctx[0]} is {schema[bad_ctx[0]]}, not String"
    return None


def _recompute(fitted: Spec, part: pl.DataFrame) -> pl.DataFrame:
    inputs = [pl.col(layout.IN + n).alias(n) for n in layout.input_types(fitted)]
    frame = part.select(inputs) if inputs else pl.DataFrame(height=part.height)
    return fitted.transform(frame)


# ------------------------------------------------------------------------------ join mode


def _join(fitted: Spec, files: list[Path], artifact: str, against: object,
          keys: list[str], samples: int) -> JoinReport:
    if not keys:
        raise InputError("key= names no column")
    inputs = layout.input_types(fitted)
    log_cols = _key_columns(files, keys)
    jr = JoinReport(keys=keys, inputs=list(inputs),
                    features={f.name: FeatureSkew(f.name, str(f.type))
                              for f in fitted.bound().features})
    offline = _offline(fitted, against, keys)
    key_cols = [f"__key_{i}" for i in range(len(keys))]
    logged = _logged(fitted, files, artifact, log_cols, [offline.schema[k] for k in key_cols])
    dup = offline.group_by(key_cols).len().filter(pl.col("len") > 1)
    jr.duplicate_offline_keys = dup.height
    offline = offline.join(dup.select(key_cols), on=key_cols, how="anti", nulls_equal=True)
    joined = logged.join(offline.with_columns(pl.lit(True).alias("__off")), on=key_cols,
                         how="left", nulls_equal=True, maintain_order="left")
    found = joined.get_column("__off").fill_null(False)
    jr.missing_offline = int((~found).sum())
    jr.offline_only = offline.join(logged.select(key_cols), on=key_cols, how="anti",
                                   nulls_equal=True).height
    matched = joined.filter(found)
    jr.rows = matched.height
    ids = matched.get_column(layout.REQUEST_ID)
    data_rows: set[int] = set()
    for n in inputs:
        bad = differing(matched.get_column(layout.IN + n), matched.get_column("off.in." + n))
        jr.input_mismatch[n] = len(bad)
        data_rows.update(bad)
    jr.rows_with_input_mismatch = len(data_rows)
    for name, fs in jr.features.items():
        bad = fs.add(matched.get_column(layout.OUT + name), matched.get_column("off.out." + name),
                     ids, "(join)", samples)
        code = [i for i in bad if i not in data_rows]
        jr.data_mismatch[name] = len(bad) - len(code)
        jr.code_mismatch[name] = len(code)
        for i in code[: max(0, samples - len(jr.code_samples))]:
            jr.code_samples.append({"request_id": ids[i], "feature": name})
    for i in sorted(data_rows)[:samples]:
        differ = [n for n in inputs if not _same_at(matched, n, i)]
        jr.data_samples.append({"request_id": ids[i], "inputs": differ})
    return jr


def _same_at(frame: pl.DataFrame, n: str, i: int) -> bool:
    a = frame.get_column(layout.IN + n).slice(i, 1)
    b = frame.get_column("off.in." + n).slice(i, 1)
    return not differing(a, b)


def _key_columns(files: list[Path], keys: list[str]) -> list[str]:
    """The log column holding each key: ``in.<key>``, else ``ctx.<key>`` (in any file)."""
    names: set[str] = set()
    for f in files:
        names.update(pl.read_parquet_schema(f))
    cols = []
    for k in keys:
        for c in (layout.IN + k, layout.CTX + k):
            if c in names or (not files and c.startswith(layout.IN)):
                cols.append(c)
                break
        else:
            raise InputError(f"key `{k}` is neither an input the features read nor a logged "
                             f"context field (no in.{k} or ctx.{k} column in the log)", field=k)
    return cols


def _logged(fitted: Spec, files: list[Path], artifact: str, log_cols: list[str],
            key_types: list[pl.DataType]) -> pl.DataFrame:
    """The logged rows of ``artifact``: request id, inputs, features, keys ``__key_<i>``."""
    expected = layout.schema(fitted)
    cols = [c for c in expected if c.startswith((layout.IN, layout.OUT))]
    keys = [pl.col(c).cast(t).alias(f"__key_{i}")
            for i, (c, t) in enumerate(zip(log_cols, key_types, strict=True))]
    if not files:
        empty = pl.DataFrame(schema={layout.REQUEST_ID: pl.String(), **{
            c: expected[c] for c in cols}, **dict.fromkeys(log_cols, pl.String())})
        return empty.select(layout.REQUEST_ID, *cols, *keys)
    lf = pl.scan_parquet(files, missing_columns="insert", extra_columns="ignore")
    return (lf.filter(pl.col(layout.ARTIFACT) == artifact)
            .select(layout.REQUEST_ID, *cols, *keys).collect(engine="streaming"))


def _offline(fitted: Spec, against: object, keys: list[str]) -> pl.DataFrame:
    """The offline rows: keys, inputs as ``transform`` validates them, features computed."""
    inputs = fitted.serving_schema()
    src = data_io.open_source(against, inputs)
    raw = src.lf.collect_schema()
    missing = [k for k in keys if k not in raw]
    if missing:
        raise InputError(f"key column `{missing[0]}` is not in the offline table",
                         field=missing[0])
    # keys as the log holds them: an input key widened like the input, a context key as text
    prepared_lf = data_io.prepare(src.lf, inputs, keys, text=src.text, checks=True)
    try:
        prepared = prepared_lf.collect(engine="streaming")
    except data_io.READ_ERRORS as exc:
        raise InputError(f"cannot read the offline table: {first_line(exc)}") from None
    prepared = data_io.check(prepared, src.lf, inputs)
    feats = fitted.select(prepared.lazy(), []).collect()
    key_exprs = []
    for i, k in enumerate(keys):
        col = pl.col(k) if k in inputs else pl.col(f"__fd_keep_{i}").cast(pl.String)
        key_exprs.append(col.alias(f"__key_{i}"))
    return pl.concat([
        prepared.select(*key_exprs, *(pl.col(n).alias("off.in." + n) for n in inputs)),
        feats.select(pl.all().name.prefix("off.out."))], how="horizontal")

