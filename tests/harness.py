"""Shared test machinery: run a spec through both backends and compare (SPEC 4.14)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

import featuredsl as fd
from featuredsl.backends.polars_backend import dtype_of
from featuredsl.parity import same_value  # the one parity rule (SPEC 4.14)


def frame_for(spec: fd.Spec, rows: Sequence[dict]) -> pl.DataFrame:
    """A DataFrame holding ``rows`` with the spec's declared column types.

    Timestamps given as ISO strings stay strings (the batch input layer parses them, as the row
    layer does); NaN stays NaN (the input layer turns it into null).
    """
    cols: dict[str, pl.Series] = {}
    for name, t in spec.program.inputs.items():
        values = [r.get(name) for r in rows]
        if t.kind in ("timestamp", "date") and any(isinstance(v, str) for v in values):
            cols[name] = pl.Series(name, values, dtype=pl.String)
        elif t.kind == "float":
            cols[name] = pl.Series(name, [None if v is None else float(v) for v in values],
                                   dtype=pl.Float64)
        else:
            cols[name] = pl.Series(name, values, dtype=dtype_of(t.base))
    return pl.DataFrame(list(cols.values())) if cols else pl.DataFrame()


def run_both(spec: fd.Spec, rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """(row backend outputs, batch backend outputs) for the same rows."""
    ev = spec.row_evaluator()
    row_out = [ev(r) for r in rows]
    batch_out = spec.transform(frame_for(spec, rows)).to_dicts()
    return row_out, batch_out


def mismatches(spec: fd.Spec, rows: Sequence[dict]) -> list[str]:
    """Every (row, feature) where the backends disagree, described."""
    row_out, batch_out = run_both(spec, rows)
    out = []
    for i, (r, b) in enumerate(zip(row_out, batch_out, strict=True)):
        for f in spec.features:
            if not same_value(r[f], b[f]):
                out.append(f"row {i} {rows[i]!r}: feature `{f}` row={r[f]!r} batch={b[f]!r}")
    return out


def assert_parity(spec: fd.Spec, rows: Sequence[dict]) -> list[dict]:
    """Assert both backends agree on every row; return the row backend's outputs."""
    bad = mismatches(spec, rows)
    assert not bad, "backends disagree:\n" + "\n".join(bad[:20])
    return [spec.row_evaluator()(r) for r in rows]


def spec_of(expr: str, types: dict[str, str], extra: Iterable[str] = ()) -> fd.Spec:
    """A one-feature spec ``feature out = expr`` over the given inputs."""
    fields = "\n".join(f"  {n}: {t}" for n, t in types.items())
    body = "\n".join(extra)
    return fd.compile(f"input {{\n{fields}\n}}\n{body}\nfeature out = {expr}\n")


def infer_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.timedelta):
        return "duration"
    return "string"
