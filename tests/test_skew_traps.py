"""One or more named tests per row of ../shared/SKEW-TRAPS.md, and the traps found since.

Each runs both backends on the trap's input and asserts the one documented answer (README,
semantics table). Every row of the table has a test here: round (near ties, 10,000 values,
return type), division by a literal (many rows, fitted constant), division by zero, domain
errors, NaN (comparison, fill_null), null (`!=`, `>`, Kleene `and`, `or` vs falsy values), ints
(Int32 wrap, UInt32 length), one-row frames with None, strings (`contains(".")`, strip of
U+001F, `lower(U+A7CB)`, float to string), time (ISO weekday, aware to UTC, the local-zone
epoch trap, mixed zones), buckets (value on an edge), hashing (two processes), fitting (ddof,
the sum of many floats) and numpy's log1p.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo

import numpy as np
import polars as pl
import pytest

import featuredsl as fd
from tests.harness import assert_parity, frame_for, spec_of


def outs(expr: str, types: dict[str, str], rows: list[dict]) -> list[object]:
    return [o["out"] for o in assert_parity(spec_of(expr, types), rows)]


def test_round_near_ties_one_definition() -> None:
    assert outs("round(x, 1)", {"x": "float"}, [{"x": 0.35}, {"x": 12.35}]) == [0.4, 12.4]
    assert outs("round(x, 2)", {"x": "float"}, [{"x": 2.675}]) == [2.68]


def test_round_10000_values_k_over_100_plus_005_agree() -> None:
    rows = [{"x": k / 100 + 0.05} for k in range(10_000)]
    outs("round(x, 1)", {"x": "float"}, rows)  # asserts row == batch on every value


def test_round_returns_float_like_polars_not_int_like_python() -> None:
    assert outs("round(x)", {"x": "float"}, [{"x": 2.5}]) == [2.0]
    assert isinstance(outs("round(x)", {"x": "float"}, [{"x": 2.5}])[0], float)


def test_division_by_literal_is_true_division_on_many_rows() -> None:
    rng = np.random.default_rng(7)
    xs = rng.uniform(-1e6, 1e6, 20_000).tolist()
    got = outs("x / 7", {"x": "float"}, [{"x": x} for x in xs])
    assert got == [x / 7 for x in xs]  # Python's (and IEEE's) true division, bit for bit


def test_division_by_a_fitted_like_constant_is_true_division() -> None:
    xs = [0.1 * k for k in range(5000)]
    got = outs("(x - 3.3) / 0.1", {"x": "float"}, [{"x": x} for x in xs])
    assert got == [(x - 3.3) / 0.1 for x in xs]


def test_division_by_zero_is_null_not_inf_nan_or_exception() -> None:
    assert outs("a / b", {"a": "float", "b": "float"},
                [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 0.0}]) == [None, None]
    assert outs("a // b", {"a": "int", "b": "int"}, [{"a": 7, "b": 0}]) == [None]
    assert outs("a % b", {"a": "int", "b": "int"}, [{"a": 7, "b": 0}]) == [None]


def test_domain_errors_are_null() -> None:
    rows = [{"x": -1.0}]
    assert outs("log1p(x)", {"x": "float"}, rows) == [None]
    assert outs("log(x)", {"x": "float"}, rows) == [None]
    assert outs("sqrt(x)", {"x": "float"}, rows) == [None]


def test_nan_is_null_so_it_never_compares_or_sorts_high() -> None:
    assert outs("x > 100", {"x": "float?"}, [{"x": math.nan}]) == [None]
    assert outs("x == y", {"x": "float?", "y": "float?"}, [{"x": math.nan, "y": math.nan}]) \
        == [None]


def test_fill_null_replaces_nan_too() -> None:
    assert outs("x ?? 0.0", {"x": "float?"}, [{"x": math.nan}]) == [0.0]


def test_null_not_equal_is_null_not_true() -> None:
    assert outs('c != "US"', {"c": "string?"}, [{"c": None}]) == [None]


def test_null_greater_than_is_null_not_type_error() -> None:
    assert outs("x > 100", {"x": "int?"}, [{"x": None}]) == [None]


def test_null_and_false_is_false_kleene() -> None:
    assert outs("a and false", {"a": "bool?"}, [{"a": None}]) == [False]


def test_coalesce_replaces_only_null_not_falsy_values() -> None:
    rows = [{"s": ""}, {"s": None}]
    assert outs('s ?? "UNK"', {"s": "string?"}, rows) == ["", "UNK"]
    assert outs("i ?? 9", {"i": "int?"}, [{"i": 0}]) == [0]
    assert outs("f ?? 9.0", {"f": "float?"}, [{"f": 0.0}]) == [0.0]


def test_int32_column_multiplication_does_not_wrap() -> None:
    spec = spec_of("x * x", {"x": "int"})
    df = pl.DataFrame({"x": pl.Series([50000], dtype=pl.Int32)})
    assert spec.transform(df)["out"].to_list() == [2_500_000_000]
    assert spec.row_evaluator()({"x": 50000})["out"] == 2_500_000_000


def test_length_minus_constant_goes_negative_not_wrapping() -> None:
    assert outs("length(s) - 20", {"s": "string"}, [{"s": "short"}]) == [-15]


def test_one_row_frame_with_none_works() -> None:
    spec = spec_of("log1p(x) + length(lower(s))", {"x": "float?", "s": "string?"})
    df = pl.DataFrame([{"x": None, "s": None}])  # both columns have dtype Null
    assert spec.transform(df)["out"].to_list() == [None]


def test_contains_is_literal_not_regex() -> None:
    assert outs('contains(s, ".")', {"s": "string"}, [{"s": "abc"}, {"s": "a.c"}]) \
        == [False, True]


def test_lower_of_unicode_16_character_agrees() -> None:
    assert outs("lower(s)", {"s": "string"}, [{"s": "\ua7cb"}]) == ["\u0264"]


def test_float_to_string_has_one_format() -> None:
    assert outs("to_string(x)", {"x": "float?"}, [{"x": 1e-7}, {"x": math.nan}]) \
        == ["1e-7", None]


def test_strip_of_x1f_keeps_it_unicode_white_space_only() -> None:
    # Python's str.strip() removes U+001C..U+001F, Rust's trim does not: featuredsl strips the
    # Unicode White_Space set in both backends, so "\x1fabc\x1f" is unchanged.
    rows = [{"s": "\x1fabc\x1f"}, {"s": "\x1c\x1d abc \x1e"}, {"s": "\u3000abc\x85"}]
    assert outs("trim(s)", {"s": "string"}, rows) == ["\x1fabc\x1f", "\x1c\x1d abc \x1e", "abc"]


def test_regex_dollar_does_not_match_before_a_trailing_newline() -> None:
    # Python's `$` matches before a final "\n", Rust's does not: featuredsl's `$` is the end.
    assert outs('regex_match(s, "^abc$")', {"s": "string"}, [{"s": "abc\n"}, {"s": "abc"}]) \
        == [False, True]


def test_regex_digit_class_is_ascii_in_both_engines() -> None:
    # Both engines read `\d` as Unicode digits by default, from different Unicode versions.
    assert outs('regex_match(s, "\\\\d")', {"s": "string"}, [{"s": "\u0663"}, {"s": "3"}]) \
        == [False, True]


def test_weekday_is_iso() -> None:
    assert outs("day_of_week(t)", {"t": "timestamp"},
                [{"t": dt.datetime(2024, 1, 7, tzinfo=dt.UTC)}]) == [7]


def test_aware_datetime_is_converted_to_utc() -> None:
    ny = zoneinfo.ZoneInfo("America/New_York")
    t = dt.datetime(2024, 7, 1, 23, 30, tzinfo=ny)
    spec = spec_of("hour(t) * 10 + day_of_week(t)", {"t": "timestamp"})
    assert spec.row_evaluator()({"t": t})["out"] == 32  # 03:30 UTC on Tuesday
    df = pl.DataFrame({"t": pl.Series([t], dtype=pl.Datetime("us", "America/New_York"))})
    assert spec.transform(df)["out"].to_list() == [32]


def test_epoch_seconds_do_not_depend_on_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    t = dt.datetime.fromtimestamp(1719876600, tz=dt.UTC)
    assert outs("hour(t)", {"t": "timestamp"}, [{"t": t}]) == [23]


def test_mixed_zones_in_one_input_are_each_converted() -> None:
    rows = [{"t": "2024-07-01T23:30:00-04:00"}, {"t": "2024-07-01T23:30:00+02:00"}]
    assert outs("hour(t)", {"t": "timestamp"}, rows) == [3, 21]


def test_value_on_a_bucket_edge_goes_up() -> None:
    assert outs("bucketize(x, [10, 50, 100])", {"x": "float"}, [{"x": 10.0}]) == [1]


def test_log1p_is_libm_not_numpy() -> None:
    xs = np.random.default_rng(3).uniform(-0.99, 1e6, 5000).tolist()
    got = outs("log1p(x)", {"x": "float"}, [{"x": x} for x in xs])
    assert got == [math.log1p(x) for x in xs]


def test_batch_input_frame_helper_keeps_nan_for_the_input_layer() -> None:
    spec = spec_of("x", {"x": "float?"})
    assert frame_for(spec, [{"x": math.nan}])["x"].is_nan().to_list() == [True]
    assert spec.transform(frame_for(spec, [{"x": math.nan}]))["out"].to_list() == [None]


def test_spec_compiles_every_trap_expression() -> None:
    fd.compile("input { x: float? }\nfeature f = round(x, 1) + x / 7\n")


_HASH_SCRIPT = """
import json, polars as pl, featuredsl as fd
spec = fd.compile('input { s: string }\\nfeature h = hash(s)\\nfeature b = hash(s) % 1000\\n'
                  'feature k = hash_bucket(s, 1000)\\nfeature c = cross(s, 7, 1000)\\n')
row = spec.row_evaluator()({"s": "merchant_1"})
batch = spec.transform(pl.DataFrame({"s": ["merchant_1"]})).to_dicts()[0]
print(json.dumps([row, batch]))
"""


def test_hash_is_the_same_in_two_processes() -> None:
    """SKEW-TRAPS row "hashing": `hash("merchant_1") % 1000` differs between processes with
    Python's salted `hash()`. featuredsl's hash is seed-free XXH64: two fresh processes with
    different PYTHONHASHSEED values give this process's values, in both backends, and the
    documented golden value."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    results = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-c", _HASH_SCRIPT], env=env, cwd=root,
                              capture_output=True, text=True, timeout=120, check=True)
        results.append(json.loads(done.stdout))
    spec = fd.compile("input { s: string }\nfeature h = hash(s)\nfeature b = hash(s) % 1000\n"
                      "feature k = hash_bucket(s, 1000)\nfeature c = cross(s, 7, 1000)\n")
    here = assert_parity(spec, [{"s": "merchant_1"}])[0]
    for row, batch in results:
        assert row == batch == here
    assert here["h"] == 8404875074128738345 and here["k"] == 345  # XXH64("merchant_1")


# ---------------------------------------------------------------- time rows, with zones


def test_weekday_is_iso_for_dates_and_in_zones() -> None:
    """Sunday 2024-01-07 is 7 (Python's `weekday()` says 6) for dates too; in a zone the
    weekday is the local one: 10:00 UTC Sunday is already Monday in Kiritimati (+14)."""
    t = dt.datetime(2024, 1, 7, 10, tzinfo=dt.UTC)
    assert outs("day_of_week(d)", {"d": "date"}, [{"d": dt.date(2024, 1, 7)}]) == [7]
    assert outs('day_of_week(t, "Pacific/Kiritimati") * 10 + day_of_week(t)',
                {"t": "timestamp"}, [{"t": t}]) == [17]


def test_aware_input_in_new_york_read_back_in_new_york() -> None:
    """The aware 2024-07-01 23:30-04:00 is 03:30 UTC on Tuesday (what both backends say with
    no zone); asking for New York's wall clock gives the naive Python reading, 23 on Monday."""
    ny = zoneinfo.ZoneInfo("America/New_York")
    t = dt.datetime(2024, 7, 1, 23, 30, tzinfo=ny)
    expr = 'hour(t, "America/New_York") * 10 + day_of_week(t, "America/New_York")'
    spec = spec_of(expr, {"t": "timestamp"}, ["feature utc = hour(t) * 10 + day_of_week(t)"])
    assert assert_parity(spec, [{"t": t}])[0] == {"out": 231, "utc": 32}
    df = pl.DataFrame({"t": pl.Series([t], dtype=pl.Datetime("us", "America/New_York"))})
    assert spec.transform(df).to_dicts() == [{"out": 231, "utc": 32}]


def test_fromtimestamp_local_zone_is_never_used() -> None:
    """With TZ=America/New_York, `datetime.fromtimestamp(1719876600)` gives hour 19 (the
    process's zone). featuredsl never reads the process zone: hour 23 UTC, 19 only when
    New York is asked for, and the epoch seconds round-trip; in both backends."""
    import os
    import time

    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        assert dt.datetime.fromtimestamp(1719876600).hour == 19  # the trap is live
        naive_local = dt.datetime.fromtimestamp(1719876600)  # a naive input means UTC
        rows = [{"t": dt.datetime.fromtimestamp(1719876600, tz=dt.UTC)}, {"t": naive_local}]
        spec = spec_of("hour(t)", {"t": "timestamp"},
                       ['feature ny = hour(t, "America/New_York")',
                        "feature e = epoch_seconds(t)"])
        got = assert_parity(spec, rows)
        assert got[0] == {"out": 23, "ny": 19, "e": 1719876600}
        assert got[1] == {"out": 19, "ny": 15, "e": 1719876600 - 4 * 3600}
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_mixed_zones_in_one_column_keep_their_instants() -> None:
    """Polars coerces a column of datetimes in mixed zones to the first one's zone (keeping
    the instants); the row backend converts each value to UTC. Same features either way,
    zoned ones included."""
    ny = zoneinfo.ZoneInfo("America/New_York")
    values = [dt.datetime(2024, 7, 1, 23, 30, tzinfo=ny),
              dt.datetime(2024, 7, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
              dt.datetime(2024, 7, 1, 23, 30)]  # naive: UTC
    spec = spec_of("hour(t)", {"t": "timestamp"}, ['feature p = hour(t, "Europe/Paris")',
                                                   "feature d = date(t)"])
    df = pl.DataFrame({"t": values[:2]})  # datetime[μs, America/New_York]
    assert df["t"].dtype == pl.Datetime("us", "America/New_York")
    ev = spec.row_evaluator()
    assert spec.transform(df).to_dicts() == [ev({"t": v}) for v in values[:2]]
    assert [ev({"t": v})["out"] for v in values] == [3, 21, 23]
    assert [ev({"t": v})["p"] for v in values] == [5, 23, 1]


# ------------------------------------------------------------------------------ fitting rows


def test_std_is_population_ddof_0_not_polars_sample_std() -> None:
    """`std([1, 2, 3, 4])`: Polars' `.std()` is 1.291 (ddof=1); featuredsl is numpy's 1.118."""
    spec = fd.compile("input {\n  x: float\n}\nstat s = std(x)\nfeature out = x / s\n")
    fitted = spec.fit(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
    assert fitted.stats["s"] == float(np.std([1.0, 2.0, 3.0, 4.0], ddof=0))
    assert fitted.stats["s"] != pl.Series([1.0, 2.0, 3.0, 4.0]).std()


def test_sum_of_many_floats_is_exact_whatever_the_order() -> None:
    """Python `sum`, numpy's pairwise sum and Polars give different totals for the same
    floats; `mean` is the exact sum divided by n, rounded once, in any row order or chunking."""
    from fractions import Fraction

    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(3.5, 1.0, 150_000), rng.normal(0, 1e12, 50_000),
                             [1e-300, 3.0e300, -3.0e300, 0.1] * 10]).tolist()
    exact = float(sum(map(Fraction, values), Fraction(0)) / len(values))
    naive = {sum(values) / len(values), float(np.sum(values)) / len(values),
             float(pl.Series(values).sum()) / len(values)}
    assert len(naive | {exact}) > 1  # the trap is real on this data
    spec = fd.compile("input {\n  x: float\n}\nstat m = mean(x)\nfeature out = x - m\n")
    order = rng.permutation(len(values))
    shuffled = [values[i] for i in order]
    frames = [pl.DataFrame({"x": values}),
              pl.concat([pl.DataFrame({"x": shuffled[i:i + 7_001]})
                         for i in range(0, len(shuffled), 7_001)], rechunk=False)]
    assert [spec.fit(f).stats["m"] for f in frames] == [exact, exact]
