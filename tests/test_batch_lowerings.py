"""Fast Polars spellings in the batch lowerings, checked equal to the definition they replace.

Each faster form (benchmarks/README.md says how much faster) is only valid because Polars
computes exactly the documented value; these tests pin that down, so that a Polars upgrade
that changes it fails here rather than skewing the backends.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import featuredsl as fd
from featuredsl.functions.text import WHITESPACE
from tests.harness import assert_parity


@pytest.mark.parametrize("method", ["strip_chars", "strip_chars_start", "strip_chars_end"])
def test_default_strip_is_the_white_space_property_on_every_code_point(method: str) -> None:
    cps = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    s = pl.DataFrame({"s": [f"{c}{c}a{c}b{c}{c}" for c in cps] + ["", WHITESPACE, None]})
    fast = s.select(getattr(pl.col("s").str, method)()).to_series()
    spelled = s.select(getattr(pl.col("s").str, method)(WHITESPACE)).to_series()
    assert fast.equals(spelled)
    stripped = {c for c, v in zip(cps, fast.to_list(), strict=False) if v[0] != c or v[-1] != c}
    if method == "strip_chars":
        assert stripped == set(WHITESPACE)


_ZONES = ["America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia",
          "America/St_Johns", "Etc/GMT+12"]


def _instants() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    lo, hi = -62135596800_000000 + 2 * 86400_000000, 253402300799_999999 - 2 * 86400_000000
    v = np.concatenate([rng.integers(lo, hi, 100_000), rng.integers(-3 * 10**15, 3 * 10**15,
                                                                    100_000),
                        np.arange(-10**9, 10**9, 999_983), [-1, 0, 1]])
    return pl.Series(v).cast(pl.Datetime("us", "UTC")).to_frame("ts")


@pytest.mark.parametrize("zone", [None, *_ZONES])
def test_calendar_fields_of_polars_equal_floor_arithmetic_on_the_wall_clock(zone) -> None:
    """hour/minute/second/day_of_week read by Polars' dt fields (UTC: day_of_week only; a
    zone: all four) equal floor arithmetic on the local wall clock's microseconds, before
    1970 and across DST."""
    t = pl.col("ts")
    loc = t if zone is None else t.dt.convert_time_zone(zone)
    us = loc.dt.replace_time_zone(None).to_physical()
    pairs = [(us // 3_600_000_000 % 24, loc.dt.hour()), (us // 60_000_000 % 60, loc.dt.minute()),
             (us // 1_000_000 % 60, loc.dt.second()),
             ((us // 86_400_000_000 + 3) % 7 + 1, loc.dt.weekday())]
    out = _instants().select([a.alias(f"a{i}") for i, (a, _) in enumerate(pairs)]
                             + [b.cast(pl.Int64).alias(f"b{i}") for i, (_, b) in enumerate(pairs)])
    for i in range(len(pairs)):
        assert out.get_column(f"a{i}").equals(out.get_column(f"b{i}")), i


def test_timestamp_shift_that_wraps_int64_is_null() -> None:
    """``ts +- d`` has no int64 overflow test of its own: a wrapped sum lands far outside
    years 1..9999, which the range test turns into null (both backends)."""
    spec = fd.compile("input { t: timestamp\n  d: duration }\n"
                      "feature a = t + d\nfeature b = d + t\nfeature s = t - d\n")
    big, small = dt.timedelta(microseconds=2**63 - 1), dt.timedelta(microseconds=-(2**63))
    lo, hi = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"
    rows = [{"t": hi, "d": big}, {"t": lo, "d": small}, {"t": lo, "d": big},
            {"t": hi, "d": small}, {"t": hi, "d": dt.timedelta(microseconds=-1)}]
    outs = assert_parity(spec, rows)
    assert [(o["a"], o["b"], o["s"]) for o in outs[:4]] == [(None, None, None)] * 4
    assert outs[4]["a"] is not None and outs[4]["s"] is None


@pytest.mark.parametrize(("start", "length"), [(0, 0), (0, 3), (2, 5), (1, 2**63 - 1),
                                               (2**63 - 1, 3), (5, 1), (-2, 3), (-9, 4)])
def test_substring_with_constant_arguments_matches_the_definition(start: int, length: int) -> None:
    """Constant non-negative arguments take Polars' ``str.slice`` directly; the others the
    general form. Both against the row backend and an independent code-point slice."""
    spec = fd.compile(f"input {{ s: string? }}\nfeature o = substring(s, {start}, {length})\n")
    values = ["héllo", "", None, "ab", "👍🏽x", "日本語テキスト"]
    outs = assert_parity(spec, [{"s": v} for v in values])
    for v, o in zip(values, outs, strict=True):
        if v is None:
            assert o["o"] is None
        elif start >= 0:
            assert o["o"] == v[start:start + length]
