"""pandas object columns holding only None are all-null columns (issue 11, defect 4): they fit
every nullable input type, as a Polars Null column does, and a non-nullable input gets the
same null message as the row evaluator gives for a missing value."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

import featuredsl as fd

TYPES = ["float?", "int?", "bool?", "string?", "duration?", "timestamp?", "date?",
         "list[int]?", "list[string?]?"]


@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("rows", [0, 1, 3])
def test_object_column_of_none_is_all_null(t: str, rows: int) -> None:
    spec = fd.compile(f"input {{\n  a: {t}\n  k: int\n}}\nfeature x = a\nfeature n = a is null\n")
    df = pd.DataFrame({"a": pd.Series([None] * rows, dtype=object),
                       "k": pd.Series(range(rows), dtype="int64")})
    out = spec.transform(df)
    assert out.height == rows
    assert out["x"].null_count() == rows
    assert out["n"].to_list() == [True] * rows
    # the same rows through the row evaluator: the same values
    evaluate = spec.row_evaluator()
    assert [evaluate({"a": None, "k": i}) for i in range(rows)] == out.to_dicts()


@pytest.mark.parametrize("t", ["float", "int", "bool", "string", "list[int]"])
def test_object_column_of_none_for_a_non_nullable_input_names_the_null(t: str) -> None:
    spec = fd.compile(f"input {{\n  a: {t}\n}}\nfeature x = a\n")
    with pytest.raises(fd.InputError) as batch:
        spec.transform(pd.DataFrame({"a": pd.Series([None, None], dtype=object)}))
    assert "column `a`, row 0: null" in str(batch.value)
    assert f"declared `{t}` (not nullable)" in str(batch.value)
    with pytest.raises(fd.InputError) as row:
        spec.row_evaluator()({"a": None})
    assert f"declared `{t}` (not nullable)" in str(row.value)


def test_an_object_column_with_values_is_still_typed_by_them() -> None:
    spec = fd.compile("input {\n  a: float?\n}\nfeature x = a\n")
    with pytest.raises(fd.InputError, match="expected float"):
        spec.transform(pd.DataFrame({"a": pd.Series([None, "1.5"], dtype=object)}))
    strings = fd.compile("input {\n  a: string?\n}\nfeature x = a\n")
    got = strings.transform(pd.DataFrame({"a": pd.Series([None, "é"], dtype=object)}))
    assert got["x"].to_list() == [None, "é"]
    assert got.schema["x"] == pl.String
