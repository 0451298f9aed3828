"""Time-zone data: both backends agree in every zone Polars knows, from year 1 to 9999.

The row backend reads its offset tables from Polars (featuredsl/functions/zones.py), so these
tests check the *reading*: at random instants (not on the sampling grid), at every transition
and one microsecond before it, at the ends of the range and across the year-2100 boundary
where Polars' zone data stops changing. A separate test checks a few zones against Python's
``zoneinfo`` in recent years, where every tz database agrees, so that a shared mistake in
both backends would not go unseen.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

import featuredsl as fd
from featuredsl.functions.zones import check_zone, known_zone_names, polars_offsets, zone_table
from tests.harness import assert_parity, spec_of

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
FIXED = [dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(1, 1, 1, 14, tzinfo=UTC),
         dt.datetime(9999, 12, 31, 9, 59, 59, 999999, tzinfo=UTC),
         dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
         dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
         dt.datetime(1883, 11, 18, 16, 59, 59, tzinfo=UTC),
         dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC), dt.datetime(2100, 7, 1, tzinfo=UTC),
         dt.datetime(2011, 12, 30, 10, 0, tzinfo=UTC), dt.datetime(1600, 2, 29, tzinfo=UTC)]


def _random_instants(n: int, seed: int) -> list[dt.datetime]:
    """Mostly 1800..2100 (where transitions are), some anywhere; odd microseconds."""
    rnd = random.Random(seed)
    lo_all = (dt.datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    hi_all = (dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) \
        // dt.timedelta(microseconds=1)
    lo = (dt.datetime(1800, 1, 1, tzinfo=UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    hi = (dt.datetime(2101, 1, 1, tzinfo=UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    out = []
    for i in range(n):
        us = rnd.randint(lo, hi) if i % 4 else rnd.randint(lo_all, hi_all)
        out.append(_EPOCH + dt.timedelta(microseconds=us))
    return out


def _chunks(xs: list[str], n: int) -> list[list[str]]:
    return [xs[i:i + n] for i in range(0, len(xs), n)]


ZONES = list(known_zone_names())


def test_polars_knows_the_common_zones() -> None:
    assert len(ZONES) > 400
    for z in ("UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "US/Eastern",
              "Etc/GMT+12", "Pacific/Kiritimati"):
        assert z in ZONES


@pytest.mark.parametrize("chunk", _chunks(ZONES, 120), ids=lambda c: f"{c[0]}..{c[-1]}")
def test_every_zone_same_offset_in_both_backends(chunk: list[str]) -> None:
    # epoch_seconds(ts, z) - epoch_seconds(ts) is the UTC offset (whole seconds); hour and
    # year exercise the wall clock, including year 0 and 10000 at the ends of the range.
    feats = []
    for i, z in enumerate(chunk):
        feats += [f'feature o{i} = epoch_seconds(ts, "{z}")', f'feature y{i} = year(ts, "{z}")']
    spec = fd.compile("input { ts: timestamp }\n" + "\n".join(feats))
    rows = [{"ts": t} for t in FIXED + _random_instants(150, seed=len(chunk[0]))]
    assert_parity(spec, rows)


SAMPLE = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia",
          "America/St_Johns", "Asia/Kathmandu", "Africa/Casablanca", "Europe/Moscow",
          "America/Sao_Paulo", "Pacific/Chatham", "Antarctica/Troll", "Asia/Gaza",
          "Europe/Dublin", "America/Godthab", "Africa/Monrovia", "Pacific/Kiritimati"]


@pytest.mark.parametrize("zone", SAMPLE)
def test_transitions_exact_to_the_microsecond(zone: str) -> None:
    """Every transition instant, 1 µs and 1 s before it: all fields, both backends."""
    table = zone_table(zone)
    assert table.starts_s, f"{zone} has no transitions?"
    rows = []
    for s in table.starts_s:
        t = _EPOCH + dt.timedelta(seconds=s)
        rows += [{"ts": t}, {"ts": t - dt.timedelta(microseconds=1)},
                 {"ts": t - dt.timedelta(seconds=1)}]
    fns = ["year", "month", "day", "hour", "minute", "second", "day_of_week", "day_of_year",
           "week_of_year", "date", "epoch_seconds"]
    spec = spec_of("0", {"ts": "timestamp"},
                   [f'feature {f} = {f}(ts, "{zone}")' for f in fns])
    assert_parity(spec, rows)


@pytest.mark.parametrize("zone", SAMPLE[:6])
def test_table_matches_polars_offsets_at_every_transition(zone: str) -> None:
    """The table's offset on each side of each transition is the one Polars applies."""
    table = zone_table(zone)
    before = polars_offsets(zone, pl.Series([s - 1 for s in table.starts_s])).to_list()
    at = polars_offsets(zone, pl.Series(table.starts_s)).to_list()
    assert before == table.offsets_us[:-1]
    assert at == table.offsets_us[1:]
    assert all(a != b for a, b in zip(before, at, strict=True))


def test_after_2099_polars_keeps_the_last_offset_and_so_does_the_row_backend() -> None:
    """chrono-tz stops at 2099: New York stays on standard time in July 2100 (zoneinfo would
    say daylight time). Both backends follow Polars: the value documented in zones.py."""
    spec = spec_of('hour(ts, "America/New_York")', {"ts": "timestamp"})
    outs = assert_parity(spec, [{"ts": dt.datetime(2099, 7, 1, 12, tzinfo=UTC)},
                                {"ts": dt.datetime(2100, 7, 1, 12, tzinfo=UTC)}])
    assert [o["out"] for o in outs] == [8, 7]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Paris", "Australia/Sydney",
                                  "Asia/Kolkata", "America/Sao_Paulo"])
def test_agrees_with_zoneinfo_in_recent_years(zone: str) -> None:
    """Independent oracle: Python's zoneinfo, 1990..2025 (every tz release agrees there)."""
    zoneinfo = pytest.importorskip("zoneinfo")
    zi = zoneinfo.ZoneInfo(zone)
    rnd = random.Random(7)
    start = dt.datetime(1990, 1, 1, tzinfo=UTC)
    instants = [start + dt.timedelta(seconds=rnd.randrange(36 * 365 * 86400))
                for _ in range(400)]
    spec = spec_of(f'epoch_seconds(ts, "{zone}") - epoch_seconds(ts)', {"ts": "timestamp"},
                   [f'feature h = hour(ts, "{zone}")', f'feature d = date(ts, "{zone}")'])
    outs = assert_parity(spec, [{"ts": t} for t in instants])
    for t, o in zip(instants, outs, strict=True):
        local = t.astimezone(zi)
        assert o["out"] == int(local.utcoffset().total_seconds()), (zone, t)
        assert o["h"] == local.hour and o["d"] == local.date(), (zone, t)


def test_zone_names_are_exact() -> None:
    assert check_zone("Europe/Paris") is None
    assert check_zone("US/Eastern") is None  # IANA backward links are names too
    assert "did you mean `UTC`" in (check_zone("utc") or "")
    assert "did you mean `Europe/Paris`" in (check_zone("Europe/Pariss") or "")
    assert "Etc/GMT-5" in (check_zone("+05:00") or "")
    assert check_zone("") is not None
    assert check_zone("Factory") is not None


@pytest.mark.parametrize("expr", ['hour(ts, "Mars/Olympus")', 'year(ts, zone="utc")',
                                  'date(ts, "+01:00")', 'epoch_seconds(ts, "")',
                                  'day_of_week(d, "Europe/Pariss")', "hour(ts, z)"])
def test_bad_zone_is_a_compile_error(expr: str) -> None:
    with pytest.raises(fd.SpecError) as info:
        fd.compile(f"input {{ ts: timestamp\n d: date\n z: string }}\nfeature f = {expr}")
    codes = {d.code for d in info.value.diagnostics}
    assert codes & {"E207", "E208"}, str(info.value)
