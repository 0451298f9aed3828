"""Canaries: the Polars behaviours the batch window engine (featuredsl/windows/batch.py) relies
on, pinned so that a Polars upgrade that changes one fails here, loudly, before it can make
the batch backend disagree with the online state. See ../shared/WINDOWS.md for how each was
found. Each test states what breaks if it fails."""

from __future__ import annotations

import math

import numpy as np
import polars as pl


def test_int128_cum_sum_gather_and_difference_are_exact_beyond_int64() -> None:
    # exact prefix sums of int windows and of scaled floats live in Int128
    big = [2**62, 2**62, 2**62, -(2**63), 7]
    s = pl.Series(big, dtype=pl.Int128)
    prefix = pl.concat([pl.Series([0], dtype=pl.Int128), s.cum_sum()])
    want = [0]
    for v in big:
        want.append(want[-1] + v)
    assert prefix.to_list() == want
    diff = prefix.gather(pl.Series([3, 5])) - prefix.gather(pl.Series([0, 1]))
    assert diff.to_list() == [3 * 2**62, 2**62 + 2**62 - 2**63 + 7]


def test_int128_to_float64_rounds_to_nearest_even() -> None:
    # the batch float sum is one Int128 -> Float64 cast; the online sum is Python's int / int
    values = [2**53 + 1, 2**53 + 3, 2**100 + 2**47, 2**100 + 3 * 2**47, -(2**53 + 1),
              2**126 - 1, 12345678901234567890123]
    got = pl.Series(values, dtype=pl.Int128).cast(pl.Float64).to_list()
    assert got == [float(v) for v in values]


def test_float_to_int128_is_exact_for_integral_floats() -> None:
    # scaled floats (x * 2**k, integral) become Int128 without rounding
    values = [2.0**100, -(2.0**120), 3.0 * 2**70, 1.0, 0.0]
    got = pl.Series(values).cast(pl.Int128).to_list()
    assert got == [int(v) for v in values]


def test_canonicalising_zero_and_nan() -> None:
    # `-0.0` counts as 0.0 and NaN is null (SPEC 13)
    s = pl.Series([-0.0, math.nan, 1.5, None, math.inf])
    got = pl.select(pl.when(s == 0.0).then(0.0).otherwise(s.fill_nan(None))).to_series()
    out = got.to_list()
    assert out[0] == 0.0 and math.copysign(1.0, out[0]) == 1.0
    assert out[1:] == [None, 1.5, None, math.inf]


def test_column_by_column_division_is_correctly_rounded() -> None:
    # `mean = sum / count` must be one IEEE division, as in Python
    pairs = [(20142935.0, 1e6), (1.0, 3.0), (2.0**1023, 3.0), (5e-324, 2.0), (0.1, 10.0)]
    a = pl.Series([p[0] for p in pairs])
    b = pl.Series([p[1] for p in pairs])
    assert (a / b).to_list() == [x / y for x, y in pairs]


def test_string_sort_is_code_point_order() -> None:
    # min/max of strings rank values by Polars' sort; Python compares by code point
    words = ["a", "b", "", "Straße", "日本", "🛒", "a\x00", "A", "ｚ", "é", "e\u0301"]
    assert pl.Series(words).sort().to_list() == sorted(words)


def test_shift_over_groups_by_key_and_value() -> None:
    # count_distinct: each value's previous position within its (key, value) group
    frame = pl.DataFrame({"kid": [0, 0, 0, 1, 0], "v": [1.5, 0.0, 1.5, 1.5, 0.0],
                          "pos": [0, 1, 2, 3, 4]})
    prev = frame.select(pl.col("pos").shift(1).over(["kid", "v"]).fill_null(-1)).to_series()
    assert prev.to_list() == [-1, -1, 0, -1, 1]


def test_datetime_to_epoch_microseconds_is_exact_at_the_edges() -> None:
    # event and row times become Int64 µs; all comparisons are integer comparisons
    import datetime as dt
    times = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999),
             dt.datetime(1969, 12, 31, 23, 59, 59, 999_999), dt.datetime(1970, 1, 1)]
    got = pl.Series(times, dtype=pl.Datetime("us")).dt.epoch("us").to_list()
    epoch = dt.datetime(1970, 1, 1)
    assert got == [(t - epoch) // dt.timedelta(microseconds=1) for t in times]


def test_numpy_searchsorted_sides() -> None:
    # window bounds: `hi` is the first event at or after t, `lo` the first at or after t - W
    times = np.array([1, 3, 3, 3, 7], dtype=np.int64)
    assert np.searchsorted(times, [3, 4, 0, 8], side="left").tolist() == [1, 4, 0, 5]
