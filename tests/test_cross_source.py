"""Cross-source property: every input type, in its good and bad forms (wrong type, null in a
non-nullable input, out of range), fed as dict rows to the row evaluator and as pandas,
pyarrow, Polars eager and lazy, Parquet, NDJSON and IPC files to ``Spec.transform``, gets the
same accept/reject decision, the same field, and (batch sources) the same message once the
source-specific prefix (a file path) is stripped."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

import featuredsl as fd

GOOD = {
    "int": [1, 2], "float": [1.5, 2.5], "bool": [True, False], "string": ["a", "b"],
    "timestamp": [dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1)],
    "date": [dt.date(2020, 1, 1), dt.date(2021, 1, 1)],
    "duration": [dt.timedelta(days=1), dt.timedelta(seconds=5)], "list[int]": [[1], [2, 3]],
}
WRONG = {
    "int": ["a", "b"], "float": ["a", "b"], "bool": [1, 2], "string": [1, 2],
    "timestamp": [1.5, 2.5], "date": [1, 2], "duration": ["a", "b"], "list[int]": ["a", "b"],
}
OUT_OF_RANGE = {"int": [1, 2**63]}

CASES = []
for _ty in GOOD:
    for _null in ("", "?"):
        CASES.append((_ty + _null, "good", GOOD[_ty]))
        CASES.append((_ty + _null, "wrong", WRONG[_ty]))
        CASES.append((_ty + _null, "null", [GOOD[_ty][0], None]))
        CASES.append((_ty + _null, "all_null", [None, None]))
        if _ty in OUT_OF_RANGE:
            CASES.append((_ty + _null, "range", OUT_OF_RANGE[_ty]))

SOURCES = ["rows", "pandas", "pyarrow", "polars", "lazy", "parquet", "ndjson", "ipc"]

#: known disagreements, by case id (decision or message), not fixed yet
_NO_ROW = ("message: a dtype error (a String column for a numeric input) names no row on "
           "pandas/pyarrow/Polars/Parquet/IPC, while NDJSON (defect 6) names the lowest bad row")
_PANDAS_DATE = ("pandas: a date column arrives as datetime64[ms] (to_pandas), a Datetime dtype "
                "that a date input rejects; rows/pyarrow/Polars/files accept it")
_NDJSON_DURATION = ("NDJSON cannot hold a duration: Polars writes it as a string, read back as "
                    "String, which a duration input rejects")
XFAIL: dict[str, str] = {
    "int-wrong": _NO_ROW, "int?-wrong": _NO_ROW, "float-wrong": _NO_ROW,
    "float?-wrong": _NO_ROW,
    "date-good": _PANDAS_DATE, "date-null": _PANDAS_DATE, "date?-good": _PANDAS_DATE,
    "date?-null": _PANDAS_DATE,
    "duration-good": _NDJSON_DURATION, "duration-null": _NDJSON_DURATION,
    "duration?-good": _NDJSON_DURATION, "duration?-null": _NDJSON_DURATION,
}


def _frame(values: list) -> pl.DataFrame:
    return pl.DataFrame({"x": values, "k": [0, 1]}, strict=False)


def _outcome(spec: fd.Spec, source: str, values: list, tmp_path) -> tuple[str, str | None, str]:
    try:
        if source == "rows":
            evaluate = spec.row_evaluator()
            for i, v in enumerate(values):
                evaluate({"x": v, "k": i})
        else:
            frame = _frame(values)
            if source == "pandas":
                data: object = frame.to_pandas()
            elif source == "pyarrow":
                data = frame.to_arrow()
            elif source == "polars":
                data = frame
            elif source == "lazy":
                data = frame.lazy()
            else:
                path = tmp_path / f"data.{source}"
                getattr(frame, f"write_{source}")(path)
                data = path
            spec.transform(data)
    except fd.InputError as exc:
        core = re.sub(r"^\S+\.(parquet|ndjson|ipc): ", "", str(exc))
        return "reject", exc.field, core
    return "accept", None, ""


@pytest.mark.parametrize(("ty", "form", "values"), [
    pytest.param(*c, id=f"{c[0]}-{c[1]}", marks=[pytest.mark.xfail(strict=True, reason=XFAIL[
        f"{c[0]}-{c[1]}"])] if f"{c[0]}-{c[1]}" in XFAIL else []) for c in CASES])
def test_every_source_decides_alike(ty, form, values, tmp_path):
    spec = fd.compile(f"input {{ x: {ty}\n k: int }}\nfeature y = x is null\nfeature j = k\n")
    seen = {}
    for source in SOURCES:
        try:
            frame_ok = source == "rows" or _frame(values) is not None
        except Exception:  # Polars cannot even build the frame: not a source of this case
            frame_ok = False
        if frame_ok:
            seen[source] = _outcome(spec, source, values, tmp_path)
    decisions = {s: o[0] for s, o in seen.items()}
    assert len(set(decisions.values())) == 1, decisions
    fields = {s: o[1] for s, o in seen.items()}
    assert len(set(fields.values())) == 1, fields
    batch = {s: o[2] for s, o in seen.items() if s != "rows"}
    assert len(set(batch.values())) <= 1, batch
