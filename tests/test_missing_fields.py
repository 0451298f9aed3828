"""A row missing several required fields names them all (issue 11, defect 6):
``InputError.fields`` lists every field at fault, ``field`` stays the first, the message names
each with its declared type; a row with one bad field keeps its exact message."""

from __future__ import annotations

import pytest

import featuredsl as fd

SPEC = fd.compile("input {\n  a: float\n  b: int\n  c: string?\n  d: string\n  e: bool?\n}\n"
                  "feature x = a + b\nfeature y = d\nfeature z = c ?? \"-\"\n")


def error_of(row: dict) -> fd.InputError:
    with pytest.raises(fd.InputError) as err:
        SPEC.row_evaluator()(row)
    return err.value


@pytest.mark.parametrize(("row", "fields"), [
    ({"b": 1, "d": "q"}, ["a"]),
    ({"d": "q"}, ["a", "b"]),
    ({}, ["a", "b", "d"]),
    ({"a": None, "b": None, "d": None, "c": None}, ["a", "b", "d"]),
    ({"a": float("nan"), "d": "q"}, ["a", "b"]),
])
def test_every_missing_required_field_is_named(row: dict, fields: list[str]) -> None:
    err = error_of(row)
    assert err.fields == fields
    assert err.field == fields[0]
    text = str(err)
    assert text.startswith(f"field `{fields[0]}`: ")
    for name in fields[1:]:
        assert f"`{name}` (" in text.split("also missing or null: ", 1)[1]
    if len(fields) == 1:
        assert "also" not in text


def test_a_wrong_type_first_then_the_missing_ones() -> None:
    err = error_of({"a": "x"})
    assert err.fields == ["a", "b", "d"]
    assert str(err) == ("field `a`: expected float, got str 'x' (strings are not converted "
                        "to numbers or bools); also missing or null: "
                        "`b` (int), `d` (string)")


def test_nullable_fields_are_never_listed() -> None:
    err = error_of({"b": 1})
    assert err.fields == ["a", "d"]
    assert "`c`" not in str(err) and "`e`" not in str(err)


def test_a_good_row_is_untouched() -> None:
    assert SPEC.row_evaluator()({"a": 1.0, "b": 2, "d": "q"}) == {"x": 3.0, "y": "q", "z": "-"}


def test_batch_errors_carry_fields_too() -> None:
    import polars as pl

    with pytest.raises(fd.InputError) as err:
        SPEC.transform(pl.DataFrame({"a": [1.0], "b": [None], "d": ["q"], "c": ["x"],
                                     "e": [True]}, schema_overrides={"b": pl.Int64}))
    assert err.value.fields == ["b"]
