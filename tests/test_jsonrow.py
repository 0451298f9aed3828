"""The public JSON row encoding (featuredsl.jsonrow): round trips of every output type through
the row evaluator, the wire forms checked against independent computations, decode errors."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

import featuredsl as fd

SPEC = """
input {
  i: int?
  f: float?
  s: string?
  b: bool?
  t: timestamp?
  d: date?
  u: duration?
  li: list[int?]?
  lf: list[float?]?
  ls: list[string?]?
  lt: list[timestamp?]?
  ld: list[date?]?
  lu: list[duration?]?
}
feature o_i = i
feature o_f = f
feature o_s = s
feature o_b = b
feature o_t = t
feature o_d = d
feature o_u = u
feature o_li = li
feature o_lf = lf
feature o_ls = ls
feature o_lt = lt
feature o_ld = ld
feature o_lu = lu
"""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UTC = dt.UTC


@pytest.fixture(scope="module")
def spec() -> fd.Spec:
    return fd.compile(SPEC)


ROWS = [
    {k: None for k in ["i", "f", "s", "b", "t", "d", "u", "li", "lf", "ls", "lt", "ld", "lu"]},
    {"i": INT64_MIN, "f": -0.0, "s": "", "b": False,
     "t": dt.datetime(1, 1, 1, tzinfo=UTC), "d": dt.date(1, 1, 1),
     "u": dt.timedelta(microseconds=INT64_MIN + 1),
     "li": [], "lf": [], "ls": [], "lt": [], "ld": [], "lu": []},
    {"i": INT64_MAX, "f": math.inf, "s": "grüße 😀 \u2028 \"q\" \\", "b": True,
     "t": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "d": dt.date(9999, 12, 31),
     "u": dt.timedelta(microseconds=INT64_MAX),
     "li": [INT64_MIN, None, INT64_MAX], "lf": [-math.inf, None, 5e-324, 0.1],
     "ls": ["", None, "ñ"], "lt": [dt.datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC), None],
     "ld": [dt.date(2024, 2, 29), None], "lu": [dt.timedelta(days=-1), None]},
    {"i": 0, "f": 1.7976931348623157e308, "s": "x", "b": None,
     "t": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "d": dt.date(1970, 1, 1),
     "u": dt.timedelta(0), "li": None, "lf": [-0.0], "ls": None, "lt": None, "ld": None,
     "lu": [dt.timedelta(microseconds=-1)]},
]


def _same(a: object, b: object) -> bool:
    """Equal, with -0.0 told from 0.0 (and NaN equal to NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("n", range(len(ROWS)))
def test_round_trip_every_output_type(spec: fd.Spec, n: int) -> None:
    evaluate = spec.row_evaluator()
    out = evaluate(ROWS[n])
    # the features are named o_<input>: their JSON, renamed, is a row of the same inputs
    text = fd.encode_row(out).replace('"o_', '"')
    back = evaluate(fd.decode_row(text, spec))
    assert list(back) == list(out)
    for k in out:
        assert _same(back[k], out[k]), (k, back[k], out[k])
    # decoded values themselves are what the evaluator returned (aware UTC, date, timedelta)
    decoded = fd.decode_row(text, spec)
    for k in out:
        assert _same(decoded[k[2:]], out[k]), (k, decoded[k[2:]], out[k])
    # and from an already parsed dict
    assert fd.decode_row(json.loads(text), spec) == decoded


def test_wire_forms_against_independent_encodings(spec: fd.Spec) -> None:
    out = spec.row_evaluator()(ROWS[2])
    obj = {k[2:]: v for k, v in json.loads(fd.encode_row(out)).items()}
    t = ROWS[2]["t"]
    assert isinstance(t, dt.datetime)
    assert obj["t"] == t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")
    assert obj["d"] == "9999-12-31"
    assert obj["u"] == INT64_MAX
    assert obj["i"] == INT64_MAX and obj["li"] == [INT64_MIN, None, INT64_MAX]
    assert obj["f"] == math.inf and obj["lf"][0] == -math.inf
    assert obj["s"] == ROWS[2]["s"]
    text = fd.encode_row(out)
    assert "Infinity" in text and "-Infinity" in text
    assert "grüße 😀" in text  # not \\u-escaped
    assert obj["lu"] == [-86_400_000_000, None]
    assert fd.encode_row({"x": math.nan}) == '{"x":NaN}'
    assert fd.encode_row({"x": -0.0, "y": 5e-324, "z": 0.1}) == '{"x":-0.0,"y":5e-324,"z":0.1}'
    # a year-1 timestamp keeps four year digits; key order is the feature order
    assert json.loads(fd.encode_row(spec.row_evaluator()(ROWS[1])))["o_t"] == \
        "0001-01-01T00:00:00.000000Z"
    assert ['o_' + k for k in obj] == spec.features


def test_timestamps_in_every_accepted_offset_form(spec: fd.Spec) -> None:
    want = dt.datetime(2024, 7, 6, 20, 15, 0, 500000, tzinfo=UTC)
    for text in ["2024-07-06T20:15:00.5Z", "2024-07-06T20:15:00.500000+00:00",
                 "2024-07-06T22:15:00.5+02:00", "2024-07-06 20:15:00.5",
                 "2024-07-06T15:15:00.5-0500"]:
        got = fd.decode_row({"t": text}, spec)["t"]
        assert got == want and got.tzinfo is not None, text
    # a time-zone edge: the offset moves the instant to the previous UTC day
    assert fd.decode_row({"t": "2024-01-01T00:30:00+01:00"}, spec)["t"] == \
        dt.datetime(2023, 12, 31, 23, 30, tzinfo=UTC)
    assert fd.decode_row({"u": "PT90S"}, spec)["u"] == dt.timedelta(seconds=90)
    assert fd.decode_row({"f": math.nan}, spec)["f"] != fd.decode_row({"f": 0.0}, spec)["f"]


@pytest.mark.parametrize(("text", "field", "expected", "words"), [
    ('{"i": "1"}', "i", "int?", "strings are not converted"),
    ('{"i": 1.0}', "i", "int?", "a float is not an int"),
    ('{"i": 9223372036854775808}', "i", "int?", "int64"),
    ('{"b": 1}', "b", "bool?", "expected bool?"),
    ('{"t": 5}', "t", "timestamp?", "expected timestamp?"),
    ('{"t": "2024-02-30T00:00:00Z"}', "t", "timestamp?", "no such calendar date"),
    ('{"d": "2024-01-07T10:00"}', "d", "date?", "time of day"),
    ('{"u": 1.5}', "u", "duration?", "expected duration?"),
    ('{"u": 9223372036854775808}', "u", "duration?", "outside"),
    ('{"lt": ["2024-01-01", "x"]}', "lt", "list[timestamp?]?", "lt[1]"),
    ('{"li": 3}', "li", "list[int?]?", "expected list[int?]?"),
    ('{"s": 3}', "s", "string?", "expected string?"),
])
def test_decode_errors_name_field_and_type(spec: fd.Spec, text: str, field: str,
                                           expected: str, words: str) -> None:
    with pytest.raises(fd.InputError) as info:
        fd.decode_row(text, spec, "row 4")
    msg = str(info.value)
    assert msg.startswith(f"row 4: field `{field}`"), msg
    assert words in msg, msg
    assert info.value.field == field
    assert info.value.expected is not None and info.value.expected.startswith(
        expected.split("[")[0])


@pytest.mark.parametrize(("text", "words"), [
    ("nope", "not valid JSON"), ("[1, 2]", "got a list"), ('"x"', "got a string"),
    ("null", "got null"), ('{"i": 1, "i": 2}', "appears twice"), ("", "not valid JSON"),
    ("[" * 100_000, "not valid JSON"),
])
def test_decode_shape_errors(spec: fd.Spec, text: str, words: str) -> None:
    with pytest.raises(fd.InputError, match=None) as info:
        fd.decode_row(text, spec)
    assert words in str(info.value)


def test_missing_required_fields_are_left_to_the_evaluator() -> None:
    spec = fd.compile("input {\n  a: int\n  b: string\n  c: float\n}\nfeature x = a + 1\n"
                      "feature y = b\nfeature z = c\n")
    row = fd.decode_row('{"a": 1}', spec)
    with pytest.raises(fd.InputError) as info:
        spec.row_evaluator()(row)
    assert set(info.value.fields) == {"b", "c"}
    # a wrong type with a missing field also names the missing one, as the evaluator does
    with pytest.raises(fd.InputError) as info:
        fd.decode_row('{"a": "1"}', spec)
    assert info.value.fields == ["a", "b", "c"]


def test_unused_and_unknown_keys_pass_through(spec: fd.Spec) -> None:
    row = fd.decode_row('{"zzz": "2024-01-01T00:00:00Z", "i": 3}', spec)
    assert row == {"zzz": "2024-01-01T00:00:00Z", "i": 3}


@pytest.mark.parametrize("n", range(len(ROWS)))
def test_fast_path_gives_the_evaluator_the_same_row(spec: fd.Spec, n: int) -> None:
    """check=False (eval's and serve's path) leaves timestamp/date text to the evaluator:
    the features are the same as from the fully decoded row."""
    evaluate = spec.row_evaluator()
    text = fd.encode_row(evaluate(ROWS[n])).replace('"o_', '"')
    fast = evaluate(fd.decode_row(text, spec, check=False))
    full = evaluate(fd.decode_row(text, spec))
    assert all(_same(fast[k], full[k]) for k in full)


@pytest.mark.parametrize("text", ['{"i": "1"}', '{"t": 5}', '{"lt": ["2024-01-01", "x"]}',
                                  '{"u": 1.5}', '{"lu": [1, "x"]}', '{"d": "2024-01-07T10:00"}'])
def test_fast_path_errors_are_the_checked_ones(spec: fd.Spec, text: str) -> None:
    with pytest.raises(fd.InputError) as full:
        fd.decode_row(text, spec)
    with pytest.raises(fd.InputError) as fast:
        spec.row_evaluator()(fd.decode_row(text, spec, check=False))
    assert str(fast.value) == str(full.value)
