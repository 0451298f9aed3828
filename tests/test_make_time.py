"""make_date, make_timestamp, parse_timestamp and parse_date on BOTH backends against Python's
``datetime`` (and ``zoneinfo`` for zones) as the oracle.

Every case runs through :func:`tests.harness.assert_parity` (row and batch give identical
values and null positions) and the row values are then compared with an independent
computation written here from the standard library, never with featuredsl's own helpers.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from zoneinfo import ZoneInfo

import pytest

import featuredsl as fd
from tests.harness import assert_parity, same_value, spec_of

UTC = dt.UTC
I64_MAX, I64_MIN = 2**63 - 1, -(2**63)
PARTS = ("y", "m", "d", "h", "mi", "s")
EXTREMES = [I64_MIN, I64_MIN + 1, -1, 0, I64_MAX - 1, I64_MAX]


def _outs(expr: str, types: dict[str, str], rows: list[dict]) -> list[object]:
    if not types:  # a constant call: one (unused) input gives the batch a row
        types, rows = {"unused_": "int?"}, [{"unused_": 1} for _ in rows]
    return [o["out"] for o in assert_parity(spec_of(expr, types), rows)]


def _check(expr: str, types: dict[str, str], rows: list[dict], want: list[object]) -> None:
    got = _outs(expr, types, rows)
    bad = [(r, g, w) for r, g, w in zip(rows, got, want, strict=True) if not same_value(g, w)]
    assert not bad, f"{expr}: {len(bad)} rows differ from the oracle, e.g. {bad[:5]}"


# ------------------------------------------------------------------------------ oracles


def oracle_date(y: int | None, m: int | None, d: int | None) -> dt.date | None:
    """dt.date, or None where it refuses the parts."""
    if y is None or m is None or d is None:
        return None
    try:
        return dt.date(y, m, d)
    except (ValueError, OverflowError):
        return None


def oracle_ts(y, m, d, h, mi, s, zone: str = "UTC") -> dt.datetime | None:
    """The UTC instant of a wall clock: None for impossible parts, in a gap (the wall clock
    does not survive a round trip through UTC) or out of range; the earliest in a fold."""
    if None in (y, m, d, h, mi, s):
        return None
    if isinstance(s, float):
        if s != s or abs(s) == float("inf"):
            return None
        us = round(s * 1e6)  # one IEEE multiply, then ties to even
        if not 0 <= us < 60_000_000:
            return None
        sec, micro = divmod(us, 1_000_000)
    else:
        if not 0 <= s <= 59:
            return None
        sec, micro = s, 0
    try:
        wall = dt.datetime(y, m, d, h, mi, sec, micro)
        z = ZoneInfo(zone)
        early = wall.replace(tzinfo=z, fold=0).astimezone(UTC)
        late = wall.replace(tzinfo=z, fold=1).astimezone(UTC)
        if early.astimezone(z).replace(tzinfo=None) != wall \
                and late.astimezone(z).replace(tzinfo=None) != wall:
            return None
        return min(early, late)
    except (ValueError, OverflowError):
        return None


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                  r"(Z|[+-]\d{2}(?::?\d{2})?)?)?", re.ASCII)


def oracle_parse(s: str | None) -> dt.datetime | None:
    """The documented grammar, written again from the docs (ASCII digits only)."""
    m = None if s is None else _ISO.fullmatch(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, off = m.groups()
    try:
        t = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                        int((frac or "0").ljust(9, "0")[:6]), tzinfo=UTC)
        if off and off != "Z":
            digits = off[1:].replace(":", "")
            oh, om = int(digits[:2]), int(digits[2:] or 0)
            if oh > 23 or om > 59:
                return None
            t -= (1 if off[0] == "+" else -1) * dt.timedelta(hours=oh, minutes=om)
        return t
    except (ValueError, OverflowError):
        return None


def oracle_parse_date(s: str | None) -> dt.date | None:
    """A date text: YYYY-MM-DD, or that at exactly midnight without an offset."""
    if s is None or oracle_parse(s) is None:
        return None
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0{1,9})?)?)?", s, re.ASCII)
    return None if m is None else dt.date(int(m[1]), int(m[2]), int(m[3]))


# ------------------------------------------------------------------------------ make_date


def test_make_date_calendar_grid() -> None:
    """Leap years (1900 not, 2000 yes, 2024 yes), year 1 and 9999, every month and day from
    -1 to 32, against dt.date."""
    rows = [{"y": y, "m": m, "d": d}
            for y in (0, 1, 4, 100, 1900, 2000, 2023, 2024, 9999, 10000)
            for m in range(-1, 14) for d in range(-1, 33)]
    _check("make_date(y, m, d)", {"y": "int", "m": "int", "d": "int"}, rows,
           [oracle_date(r["y"], r["m"], r["d"]) for r in rows])


def test_make_date_int64_extremes_and_nulls_in_each_argument() -> None:
    rows = [{"y": y, "m": m, "d": d} for y in [*EXTREMES, 2024, None]
            for m in [*EXTREMES, 2, None] for d in [*EXTREMES, 29, None]]
    _check("make_date(y, m, d)", {"y": "int?", "m": "int?", "d": "int?"}, rows,
           [oracle_date(r["y"], r["m"], r["d"]) for r in rows])


def test_make_date_type_is_nullable() -> None:
    spec = spec_of("make_date(y, m, d)", {"y": "int", "m": "int", "d": "int"})
    assert str(spec.program.features[0].expr.type) == "date?"


# ------------------------------------------------------------------------- make_timestamp


def _random_parts(rng: random.Random, n: int) -> list[dict]:
    """Mostly plausible parts, some just outside their ranges, some int64 extremes."""
    spans = {"y": (0, 10000), "m": (0, 13), "d": (0, 32), "h": (-1, 24), "mi": (-1, 60),
             "s": (-1, 60)}
    rows = []
    for _ in range(n):
        row: dict[str, object] = {}
        for p in PARTS:
            r = rng.random()
            if r < 0.02:
                row[p] = None
            elif r < 0.05:
                row[p] = rng.choice(EXTREMES)
            else:
                lo, hi = spans[p]
                row[p] = rng.randint(lo, hi) if r < 0.2 else rng.randint(lo + 1, hi - 1)
        rows.append(row)
    return rows


def test_make_timestamp_utc_random_parts() -> None:
    rows = _random_parts(random.Random(13), 3000)
    _check("make_timestamp(y, m, d, h, mi, s)", dict.fromkeys(PARTS, "int?"), rows,
           [oracle_ts(*(r[p] for p in PARTS)) for r in rows])


def test_make_timestamp_range_ends_and_leap_days() -> None:
    rows = [dict(zip(PARTS, p, strict=True)) for p in [
        (1, 1, 1, 0, 0, 0), (9999, 12, 31, 23, 59, 59), (1900, 2, 29, 0, 0, 0),
        (2000, 2, 29, 12, 0, 0), (2024, 2, 29, 23, 59, 59), (2023, 2, 29, 0, 0, 0),
        (1969, 12, 31, 23, 59, 59), (1970, 1, 1, 0, 0, 0)]]
    want = [oracle_ts(*(r[p] for p in PARTS)) for r in rows]
    assert want[0] == dt.datetime(1, 1, 1, tzinfo=UTC) and want[2] is None and want[5] is None
    _check("make_timestamp(y, m, d, h, mi, s)", dict.fromkeys(PARTS, "int"), rows, want)


def test_make_timestamp_float_seconds_round_half_to_even() -> None:
    rng = random.Random(5)
    secs: list[float | None] = [0.0, -0.0, 59.9999994, 59.9999995, 59.9999996, -4e-7, -5e-7,
                                -6e-7, 5e-7, 1.5e-6, 2.5e-6, 1.2345675, 59.0, 60.0, 5e-324,
                                float("inf"), float("-inf"), 1e300, -1e300, float("nan"), None]
    secs += [(rng.randrange(0, 60_000_000) + 0.5) / 1e6 for _ in range(500)]  # near-ties
    secs += [rng.uniform(-1, 61) for _ in range(500)]
    rows = [{"s": s} for s in secs]
    _check("make_timestamp(2024, 2, 29, 23, 59, s)", {"s": "float?"}, rows,
           [oracle_ts(2024, 2, 29, 23, 59, s) for s in secs])


def test_make_timestamp_defaults_and_keywords() -> None:
    rows = [{"y": 2013, "m": 1, "d": 1, "h": 5}]
    want = [dt.datetime(2013, 1, 1, 5, tzinfo=UTC)]
    _check("make_timestamp(y, m, d, h)", {k: "int" for k in "y m d h".split()}, rows, want)
    _check("make_timestamp(y, m, d, s=9, h=h)", {k: "int" for k in "y m d h".split()}, rows,
           [dt.datetime(2013, 1, 1, 5, 0, 9, tzinfo=UTC)])


ZONES = ["America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Apia",
         "Asia/Kathmandu", "America/St_Johns", "Asia/Tokyo", "UTC"]


def _around(t: dt.datetime, hours: int, step_min: int) -> list[dict]:
    out = []
    for k in range(-hours * 60, hours * 60 + 1, step_min):
        w = t + dt.timedelta(minutes=k)
        out.append(dict(zip(PARTS, (w.year, w.month, w.day, w.hour, w.minute, w.second),
                            strict=True)))
    return out


@pytest.mark.parametrize("zone", ZONES)
def test_make_timestamp_in_a_zone_gaps_folds_and_random(zone: str) -> None:
    """Every 5 minutes across each transition of 2011 and 2024 (wall clocks in a gap are
    null, in a fold the earliest instant), plus random wall clocks 1970..2037 (where the
    system zone data and Polars' agree)."""
    z = ZoneInfo(zone)
    rows: list[dict] = []
    for year in (2011, 2024):
        t = dt.datetime(year, 1, 1, tzinfo=UTC)
        prev = t.astimezone(z).utcoffset()
        while t.year == year:  # find the transitions, daily then the wall clock around them
            nxt = t + dt.timedelta(days=1)
            off = nxt.astimezone(z).utcoffset()
            if off != prev:
                rows += _around(nxt.astimezone(z).replace(tzinfo=None), 28, 5)
                prev = off
            t = nxt
    rng = random.Random(zone)
    for _ in range(400):
        w = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=rng.randrange(0, 68 * 365 * 86400))
        rows.append(dict(zip(PARTS, (w.year, w.month, w.day, w.hour, w.minute, w.second),
                             strict=True)))
    rows.append(dict.fromkeys(PARTS))
    want = [oracle_ts(*(r[p] for p in PARTS), zone=zone) for r in rows]
    if zone not in ("UTC", "Asia/Tokyo", "Asia/Kathmandu"):
        assert None in want[:-1], "no gap sampled"
    _check(f'make_timestamp(y, m, d, h, mi, s, "{zone}")', dict.fromkeys(PARTS, "int?"),
           rows, want)


def test_make_timestamp_fold_and_gap_named_cases() -> None:
    ny = '"America/New_York"'
    _check(f"make_timestamp(2024, 11, 3, 1, 30, 0, {ny})", {}, [{}],
           [dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC)])  # EDT, the earlier of 05:30/06:30
    _check(f"make_timestamp(2024, 3, 10, 2, 30, 0, {ny})", {}, [{}], [None])
    _check('make_timestamp(2011, 12, 30, 12, 0, 0, "Pacific/Apia")', {}, [{}], [None])


def test_make_timestamp_out_of_range_in_a_zone() -> None:
    rows = [{"y": 1, "h": 0}, {"y": 1, "h": 10}, {"y": 9999, "h": 23}]
    _check('make_timestamp(y, 1, 1, h, zone="Asia/Tokyo")', {"y": "int", "h": "int"}, rows,
           [oracle_ts(r["y"], 1, 1, r["h"], 0, 0, "Asia/Tokyo") for r in rows])
    _check('make_timestamp(9999, 12, 31, 23, 59, 59.5, "America/New_York")', {}, [{}], [None])


def test_make_timestamp_int64_extremes_in_every_argument() -> None:
    base = (2024, 2, 29, 12, 30, 15)
    rows = []
    for i in range(6):
        for v in [*EXTREMES, None]:
            parts = list(base)
            parts[i] = v  # type: ignore[call-overload]
            rows.append(dict(zip(PARTS, parts, strict=True)))
    for zone in ("UTC", "Europe/Paris"):
        _check(f'make_timestamp(y, m, d, h, mi, s, "{zone}")', dict.fromkeys(PARTS, "int?"),
               rows, [oracle_ts(*(r[p] for p in PARTS), zone=zone) for r in rows])


def test_unknown_zone_is_a_compile_error_with_a_hint() -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of('make_timestamp(y, 1, 1, zone="Europe/Pari")', {"y": "int"})
    d = info.value.diagnostics[0]
    assert d.code == "E208" and "Europe/Paris" in (d.hint or "")


# ------------------------------------------------------------------ parse_timestamp / date


def _random_texts(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        t = dt.datetime(1, 1, 2) + dt.timedelta(microseconds=rng.randrange(0, 315_500_000_000
                                                                           * 1_000_000))
        text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
        if rng.random() < 0.85:
            text += rng.choice("T ") + f"{t.hour:02d}:{t.minute:02d}"
            if rng.random() < 0.8:
                text += f":{t.second:02d}"
                if rng.random() < 0.6:
                    text += "." + "".join(rng.choice("0123456789")
                                          for _ in range(rng.randint(1, 9)))
            r = rng.random()
            if r < 0.25:
                text += "Z"
            elif r < 0.6:
                oh, om = rng.randint(0, 25), rng.choice([0, 30, 45, 61])
                text += rng.choice("+-") + rng.choice([f"{oh:02d}:{om:02d}", f"{oh:02d}{om:02d}",
                                                       f"{oh:02d}"])
        if rng.random() < 0.1:  # a near miss: one character changed
            i = rng.randrange(len(text))
            text = text[:i] + rng.choice(["9", "3", " ", "t", "é", "٣", ""]) + text[i + 1:]
        out.append(text)
    return out


TEXT_EDGES = ["", " ", "\t2013-01-01", "2013-01-01 ", " 2013-01-01T00:00Z", "２０１３-01-01",
              "2013-01-01T05:30:59,5", "2013-01-01t05:30", "2013-01-01T05:30z", "2013-1-1",
              "2013-01-01T05", "2013-01-01T24:00", "2013-01-01T23:60", "2013-01-01T23:59:60",
              "2013-01-01T05:30+24:00", "2013-01-01T05:30+05:60", "2013-01-01T05:30+05:30",
              "2013-01-01T05:30:00.123456789Z", "2013-01-01T05:30:00.1234567890",
              "0001-01-01T00:00:00+00:01", "0001-01-01T00:00:00-00:01",
              "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999-00:01",
              "1900-02-29", "2000-02-29", "2023-02-29", "日本", "é", "2013-01-01T00:00",
              "2013-01-01 00:00:00.000", "2013-01-01T00:00:00Z", None]


def test_parse_timestamp_random_and_edge_texts() -> None:
    texts: list[str | None] = [*_random_texts(random.Random(7), 4000), *TEXT_EDGES]
    rows = [{"s": t} for t in texts]
    want = [oracle_parse(t) for t in texts]
    assert sum(w is not None for w in want) > 1000 and sum(w is None for w in want) > 300
    _check("parse_timestamp(s)", {"s": "string?"}, rows, want)


def test_parse_date_random_and_edge_texts() -> None:
    texts: list[str | None] = [*_random_texts(random.Random(8), 2000), *TEXT_EDGES]
    texts += ["2013-01-01T00:00:00.000000000", "2013-01-01 00:00", "2013-01-01T00:00:00+00:00"]
    rows = [{"s": t} for t in texts]
    _check("parse_date(s)", {"s": "string?"}, rows, [oracle_parse_date(t) for t in texts])


@pytest.mark.parametrize(("kind", "fn"), [("timestamp", "parse_timestamp"),
                                          ("date", "parse_date")])
def test_parse_accepts_exactly_what_an_input_accepts(kind: str, fn: str) -> None:
    """A text the function parses is read as the same value by a `timestamp`/`date` input
    (row side and batch side); a text it gives null for is an InputError there."""
    texts = [t for t in [*_random_texts(random.Random(9), 300), *TEXT_EDGES] if t is not None]
    parsed = _outs(f"{fn}(s)", {"s": "string"}, [{"s": t} for t in texts])
    spec = spec_of("t", {"t": kind})
    ev = spec.row_evaluator()
    for text, value in zip(texts, parsed, strict=True):
        if value is None:
            with pytest.raises(fd.InputError):
                ev({"t": text})
        else:
            assert same_value(ev({"t": text})["out"], value), text
    import polars as pl
    ok = [t for t, v in zip(texts, parsed, strict=True) if v is not None]
    batch = spec.transform(pl.DataFrame({"t": pl.Series(ok, dtype=pl.String)}))["out"].to_list()
    assert all(same_value(b, v) for b, v in zip(batch, [v for v in parsed if v is not None],
                                                strict=True))


def test_parse_types_are_nullable() -> None:
    spec = spec_of("parse_timestamp(s)", {"s": "string"})
    assert str(spec.program.features[0].expr.type) == "timestamp?"


@pytest.mark.parametrize(("expr", "message", "advice"), [
    ('date("2013-01-01")', "no overload of `date` takes (string)",
     'write `parse_date("2013-01-01")`'),
    ("date(s)", "no overload of `date` takes (string)", "write `parse_date(s)`"),
    ("hour(s)", "no overload of `hour` takes (string)", "write `parse_timestamp(s)`"),
    ('t > "2013-01-01"', "no `>` for `timestamp, string`",
     'write `parse_timestamp("2013-01-01")`'),
    ("s - d", "no `-` for `string, date`", "write `parse_date(s)`"),
])
def test_a_string_where_a_time_is_expected_points_to_the_parsers(expr: str, message: str,
                                                                 advice: str) -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of(expr, {"s": "string", "t": "timestamp", "d": "date"})
    diag = info.value.errors[0]
    assert (diag.code, diag.message) == ("E203", message)
    assert advice in (diag.hint or "")
    # the suggested call is itself a valid expression of the right type
    fixed = advice.split("`")[1]
    spec = spec_of(fixed, {"s": "string", "t": "timestamp", "d": "date"})
    assert spec.program.features[0].expr.type.kind in ("date", "timestamp")


SHAPES = ["2013-01-01", "2013-01-01T05:30", "2013-01-01 05:30:59", "2013-01-01T05:30:59Z",
          "2013-01-01T05:30:59.123456Z", "2013-01-01T05:30:59.1+05:30",
          "2013-01-01T05:30:59.123456789-0800", "2013-01-01T05:30-01", "2013-01-01T00:00:00"]


@pytest.mark.parametrize("shape", SHAPES)
def test_parse_one_shape_columns_random_digits(shape: str) -> None:
    """A column of one text shape (the batch side reads its fields at fixed positions) with
    random digits, so months 13..99, Feb 29-31, hour 24+, offsets +24:00 or +05:60 occur:
    both backends against the oracle, for parse_timestamp and parse_date."""
    rng = random.Random(shape)
    texts = []
    for _ in range(3000):
        chars = [rng.choice("0123456789") if c.isdigit() and rng.random() < 0.5 else c
                 for c in shape]
        texts.append("".join(chars))
    rows = [{"s": t} for t in texts]
    want = [oracle_parse(t) for t in texts]
    assert any(w is None for w in want) and any(w is not None for w in want)
    _check("parse_timestamp(s)", {"s": "string"}, rows, want)
    _check("parse_date(s)", {"s": "string"}, rows, [oracle_parse_date(t) for t in texts])


def test_batch_kernel_equals_the_regex_reference() -> None:
    """The NumPy kernel (functions/_isotext_np.py) against the same grammar written with
    Polars' regex groups, on mixed-shape texts (the general path) and on sliced, multi-chunk
    columns (Arrow offsets not starting at 0)."""
    import polars as pl

    from featuredsl.functions import isotext

    texts = [*_random_texts(random.Random(11), 20000), *TEXT_EDGES]
    s = pl.concat([pl.Series("t", texts[:7000], dtype=pl.String),
                   pl.Series("t", texts[7000:], dtype=pl.String)], rechunk=False).slice(3)
    df = pl.DataFrame({"t": s})
    for fast, ref in ((isotext.parse_timestamp_expr, isotext.parse_timestamp_regex_expr),
                      (isotext.parse_date_expr, isotext.parse_date_regex_expr)):
        a = df.select(fast(pl.col("t"))).to_series()
        b = df.select(ref(pl.col("t"))).to_series()
        assert a.equals(b)


def test_parse_a_few_shapes_mixed_row_by_row() -> None:
    """Rows of several shapes interleaved (the batch side parses each text length's rows by
    their own shape), random digits included, against the oracle on both backends."""
    rng = random.Random(21)
    texts: list[str | None] = []
    for _ in range(4000):
        shape = rng.choice([*SHAPES[:6], "2013-01-01T05:30:59.123+05:30"])
        texts.append("".join(rng.choice("0123456789") if c.isdigit() and rng.random() < 0.3
                             else c for c in shape))
    rows = [{"s": t} for t in texts]
    _check("parse_timestamp(s)", {"s": "string"}, rows, [oracle_parse(t) for t in texts])
    _check("parse_date(s)", {"s": "string"}, rows, [oracle_parse_date(t) for t in texts])


def test_batch_kernel_in_chunks_and_groups_equals_the_regex_reference() -> None:
    """More rows than one parsing chunk (the batch side parses 65,536 rows at a time, on
    several threads, each text length's rows apart): shapes mixed row by row, same-length
    texts of different shapes, nulls, junk and edge texts, against the regex reference."""
    import polars as pl

    from featuredsl.functions import _isotext_np, isotext

    rng = random.Random(31)
    pool = [*SHAPES, *(t for t in TEXT_EDGES if t is not None)]
    texts: list[str | None] = []
    for _ in range(_isotext_np._CHUNK * 2 + 5000):
        r = rng.random()
        if r < 0.02:
            texts.append(None)
        elif r < 0.04:
            texts.append(rng.choice(pool))
        else:  # mostly one shape, with the odd digit drawn at random
            shape = SHAPES[4] if r < 0.7 else rng.choice(SHAPES)
            texts.append("".join(rng.choice("0123456789") if c.isdigit() and rng.random() < 0.1
                                 else c for c in shape))
    df = pl.DataFrame({"t": pl.Series(texts, dtype=pl.String)})
    assert len(_isotext_np._groups(_isotext_np._texts(df["t"])) or []) > 5
    for fast, ref in ((isotext.parse_timestamp_expr, isotext.parse_timestamp_regex_expr),
                      (isotext.parse_date_expr, isotext.parse_date_regex_expr)):
        a = df.select(fast(pl.col("t"))).to_series()
        b = df.select(ref(pl.col("t"))).to_series()
        assert a.null_count() < len(a) and a.equals(b)


def test_batch_kernel_after_fork() -> None:
    """The kernel's parsing threads are the process's own: a child forked after the parent
    parsed (a serving worker, a Spark Python worker) makes its own and gives the same
    values, rather than waiting forever on threads fork did not copy."""
    import multiprocessing as mp

    import polars as pl

    from featuredsl.functions import _isotext_np

    texts = pl.Series("t", [f"2013-01-0{1 + i % 9}T05:30:00Z" for i in range(200_000)])
    want = _isotext_np.timestamps(texts)
    with mp.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_isotext_np.timestamps, (texts,)).get(timeout=60)
    assert got.equals(want) and want.null_count() == 0
