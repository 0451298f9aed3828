"""The serving monitor's snapshot (SPEC 10): the batch twin ``profile_rows``, the row monitor,
``merge_snapshots``.

Every count is checked against :func:`reference`, an independent plain-Python count of the
same rows (the plain row evaluator's features, the inputs normalised by hand: NaN is null,
timestamps in UTC), and the monitor and its twin against each other, byte for byte.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import random
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from harness import frame_for

import featuredsl as fd
from featuredsl.artifact import integrity_digest
from featuredsl.errors import FeatureDSLError
from featuredsl.monitor import OOV_TRACKED, snapshot_json

SPEC = """
input {
  amount: float?, n: int, k: int?, country: string?, ok: bool?, ts: timestamp?, d: date?,
  tags: list[string]?, du: duration?, unused: float?
}
feature a = amount
feature big = amount > 10.0 ?? false
feature nn = n
feature kk = k
feature c = lower(country)
feature h = hour(ts)
feature t = ts
feature dd = d
feature l = tags
feature dur = du
feature o = ok
feature words = split(country, "a")
"""

I64 = (-(2**63), 2**63 - 1)
COUNTRIES = ["US", "FR", "DE", "é", "日本", "", "gb"]
NY = ZoneInfo("America/New_York")


def _row(rnd: random.Random, drift: bool) -> dict:
    base = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
    amount = rnd.choice([None, float("nan"), -0.0, 0.0, float("inf"), -float("inf"),
                         1e300, -1e300]) if rnd.random() < 0.1 else rnd.gauss(20, 15)
    country = rnd.choice([*COUNTRIES, None])
    if drift and rnd.random() < 0.2:
        country = rnd.choice(["ZZ", "Ünseen", "  ", "zz", "ß"])
    ts = base + dt.timedelta(minutes=rnd.randrange(60 * 24 * 3))
    if drift and rnd.random() < 0.1:  # time-zone edges: a DST change in New York, 1970, 9999
        ts = rnd.choice([dt.datetime(2024, 3, 10, 1, 59, tzinfo=NY),
                         dt.datetime(2024, 3, 10, 3, 0, tzinfo=NY),
                         dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NY),
                         dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
                         dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)])
    return {
        "amount": amount * 100 if drift and amount is not None and rnd.random() < 0.05
        else amount,
        "n": rnd.choice(I64) if rnd.random() < 0.02 else rnd.randrange(-500, 500),
        "k": rnd.choice([1, 2, 3, None, 7 if drift else 1]),
        "country": country,
        "ok": rnd.choice([True, False, None, True]),
        "ts": None if rnd.random() < 0.05 else ts,
        "d": None if rnd.random() < 0.05 else (ts.date() if not drift or rnd.random() < 0.9
                                                 else dt.date(1, 1, 1)),
        "tags": None if rnd.random() < 0.1 else [rnd.choice("xyé") for _ in
                                                 range(rnd.randrange(9 if drift else 4))],
        "du": None if rnd.random() < 0.1 else dt.timedelta(seconds=rnd.randrange(-50, 100)),
        "unused": 1.0,
    }


def rows_of(n: int, seed: int, drift: bool = False) -> list[dict]:
    """Random rows; with ``drift`` unseen categories, out-of-range values, zone edges."""
    rnd = random.Random(seed)
    return [_row(rnd, drift) for _ in range(n)]


@pytest.fixture(scope="module")
def fitted() -> fd.FittedSpec:
    spec = fd.compile(SPEC)
    return spec.fit(frame_for(spec, rows_of(3000, 1)))


# ---------------------------------------------------------------------------- the reference


def _plain(v: object) -> object:
    """A value as the reference compares it: NaN is null, timestamps naive UTC."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def _bound(v: object, type_: str) -> object:
    base = type_.rstrip("?")
    if base == "timestamp":
        return _plain(dt.datetime.fromisoformat(str(v)))
    if base == "date":
        return dt.date.fromisoformat(str(v))
    if base == "duration":
        return dt.timedelta(microseconds=int(str(v)))
    return v


def _count(entry: dict, values: list) -> dict:
    """The FIELD of a snapshot, counted in plain Python against one profile entry."""
    vals = [v for v in (_plain(x) for x in values) if v is not None]
    out: dict = {"count": len(vals), "nulls": len(values) - len(vals)}
    if "length" in entry:
        out["length"] = _count(entry["length"], [None if x is None else len(x)
                                                 for x in values])
    elif entry.get("kind") == "numeric":
        bins = Counter(bisect.bisect_right(entry["edges"], v) for v in vals)
        out["bins"] = [bins[i] for i in range(len(entry["edges"]) + 1)]
        lo, hi = entry["min"], entry["max"]
        out["below_min"] = sum(lo is not None and v < lo for v in vals)
        out["above_max"] = sum(hi is not None and v > hi for v in vals)
    elif entry.get("kind") == "categorical":
        top = [p[0] for p in entry["top"]]
        seen = Counter(vals)
        out["top"] = [seen[v] for v in top]
        outside = {v: c for v, c in seen.items() if v not in top}
        out["oov"] = sum(outside.values())
        pairs = sorted(outside.items(), key=lambda p: (-p[1], p[0]))[:OOV_TRACKED]
        out["oov_values"] = [list(p) for p in pairs]
    elif entry.get("min") is not None:
        lo, hi = _bound(entry["min"], entry["type"]), _bound(entry["max"], entry["type"])
        out["below_min"] = sum(v < lo for v in vals)
        out["above_max"] = sum(v > hi for v in vals)
    return out


def reference(fitted: fd.FittedSpec, rows: list[dict], sample_every: int = 1) -> dict:
    """The snapshot of ``rows``, computed without featuredsl's monitor or twin."""
    evaluate = fitted.row_evaluator()
    outs = [evaluate(r) for r in rows]
    prof = fitted.profile
    read = fitted.serving_inputs
    return {
        "kind": "featuredsl.monitor.snapshot", "format": 1, "artifact": fitted.artifact_hash,
        "sample_every": sample_every, "rows": len(rows), "input_errors": {},
        "inputs": {n: _count(prof["inputs"][n], [r[n] for r in rows]) for n in read},
        "features": {n: _count(e, [o[n] for o in outs]) for n, e in prof["features"].items()},
    }


def watch(fitted: fd.FittedSpec, rows: list[dict], sample_every: int = 1) -> dict:
    """The snapshot of a monitor that served ``rows``."""
    mon = fd.Monitor(fitted, sample_every=sample_every)
    evaluate = fitted.row_evaluator(monitor=mon)
    for r in rows:
        evaluate(r)
    return mon.snapshot()


# ---------------------------------------------------------------------------- the twin


def test_the_twin_counts_what_the_reference_counts(fitted) -> None:
    rows = rows_of(2500, 2, drift=True)
    twin = fd.profile_rows(fitted, frame_for(fitted, rows))
    assert twin == reference(fitted, rows)
    assert "unused" not in twin["inputs"]  # the evaluator does not read it
    # the drift is there to be seen
    assert twin["inputs"]["country"]["oov"] > 300
    assert {v for v, _ in twin["inputs"]["country"]["oov_values"]} == {"ZZ", "Ünseen", "  ",
                                                                       "zz", "ß"}
    assert twin["features"]["c"]["oov_values"][0][0] == "zz"  # lower("ZZ") and "zz"
    assert twin["inputs"]["d"]["below_min"] > 0 and twin["inputs"]["ts"]["above_max"] > 0


def test_the_twin_of_the_training_rows_is_the_profile(fitted) -> None:
    rows = rows_of(3000, 1)
    twin = fd.profile_rows(fitted, frame_for(fitted, rows))
    for part in ("inputs", "features"):
        for name, got in twin[part].items():
            entry = fitted.profile[part][name]
            if "length" in entry:
                got, entry = got["length"], entry["length"]
            assert (got["count"], got["nulls"]) == (entry["count"], entry["null_count"]), name
            if entry.get("kind") == "numeric":
                assert got["bins"] == entry["bin_counts"], name
                assert got["below_min"] == got["above_max"] == 0
            if entry.get("kind") == "categorical":
                assert got["top"] == [p[1] for p in entry["top"]], name
                assert got["oov"] == entry["other_count"], name
            if "below_min" in got:
                assert got["below_min"] == got["above_max"] == 0, name


def test_values_exactly_on_the_edges(fitted) -> None:
    edges = fitted.profile["inputs"]["amount"]["edges"]
    rows = rows_of(len(edges) * 3, 3)
    near = [x for e in edges for x in (e, math.nextafter(e, -math.inf),
                                       math.nextafter(e, math.inf))]
    for r, x in zip(rows, near, strict=True):
        r["amount"] = x
    rows[0]["amount"] = -0.0
    rows[1]["n"] = fitted.profile["inputs"]["n"]["max"]  # the training max: in range
    twin = fd.profile_rows(fitted, frame_for(fitted, rows))
    assert twin == reference(fitted, rows)
    assert snapshot_json(watch(fitted, rows)) == snapshot_json(twin)
    assert twin["inputs"]["amount"]["bins"][0] <= 2  # below the first edge: only its nextafter


def test_the_twin_reads_every_kind_of_data(fitted, tmp_path: Path) -> None:
    rows = rows_of(400, 5, drift=True)
    df = frame_for(fitted, rows)
    want = snapshot_json(fd.profile_rows(fitted, df))
    df.write_parquet(tmp_path / "d.parquet")
    assert snapshot_json(fd.profile_rows(fitted, df.lazy())) == want
    assert snapshot_json(fd.profile_rows(fitted, str(tmp_path / "d.parquet"))) == want
    assert snapshot_json(fd.profile_rows(fitted, tmp_path / "d.parquet")) == want


def test_the_twin_refuses_bad_rows(fitted, tmp_path: Path) -> None:
    df = frame_for(fitted, rows_of(10, 6)).with_columns(n=pl.lit(None, pl.Int64))
    with pytest.raises(fd.InputError, match="`n`"):
        fd.profile_rows(fitted, df)
    # a file is streamed once, the checks' flags with the counts: the error names the row
    good = frame_for(fitted, rows_of(10, 6)).drop("tags", "du")
    spec = fd.compile("input { n: int, amount: float? }\nfeature y = amount\nfeature m = n")
    small = spec.fit(good.select("n", "amount"))
    text = good.select("n", "amount").with_columns(pl.col("n").cast(pl.String))
    text = text.with_columns(n=pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("x"))
                             .otherwise(pl.col("n")))
    text.write_csv(tmp_path / "bad.csv")
    with pytest.raises(fd.InputError, match="row 7") as err:
        fd.profile_rows(small, str(tmp_path / "bad.csv"))
    assert err.value.field == "n"


def test_an_empty_table(fitted) -> None:
    twin = fd.profile_rows(fitted, frame_for(fitted, rows_of(10, 6)).head(0))
    assert twin == reference(fitted, []) == watch(fitted, [])


def test_out_of_vocabulary_values_are_kept_up_to_the_cap(tmp_path: Path) -> None:
    # an accumulator keeps exact counts of the first OOV_TRACKED distinct new values it sees;
    # a value first seen later (however frequent) is counted in `oov` only
    spec = fd.compile("input { s: string }\nfeature t = s")
    fitted = spec.fit(pl.DataFrame({"s": ["a", "b"]}))
    rnd = random.Random(3)
    values = [f"v{i:05d}" for i in range(OOV_TRACKED + 300)]
    late = ["late"] * 50
    rows = values[:OOV_TRACKED] + late + values * 2 + ["a"]
    rnd.shuffle(rows)
    twin = fd.profile_rows(fitted, pl.DataFrame({"s": rows}))
    mon = watch(fitted, [{"s": s} for s in rows])
    assert snapshot_json(twin) == snapshot_json(mon)
    pl.DataFrame({"s": rows}).write_parquet(tmp_path / "s.parquet", row_group_size=500)
    assert fd.profile_rows(fitted, tmp_path / "s.parquet") == twin  # streamed in row groups
    got = twin["inputs"]["s"]
    assert got["oov"] == len(rows) - 1 and got["top"] == [1, 0]
    seen: dict[str, int] = {}
    for s in rows:  # the first OOV_TRACKED distinct outside values, in row order
        if s != "a" and (s in seen or len(seen) < OOV_TRACKED):
            seen[s] = seen.get(s, 0) + 1
    assert got["oov_values"] == [list(p) for p in sorted(seen.items(),
                                                         key=lambda p: (-p[1], p[0]))]
    assert len(got["oov_values"]) == OOV_TRACKED


# ---------------------------------------------------------------------------- refusals


def test_an_artifact_fitted_without_profile_is_refused(fitted) -> None:
    spec = fd.compile(SPEC)
    bare = spec.fit(frame_for(spec, rows_of(50, 1)), profile=False)
    for make in (lambda: fd.profile_rows(bare, frame_for(spec, rows_of(5, 2))),
                 lambda: fd.Monitor(bare)):
        with pytest.raises(FeatureDSLError, match=r"profile=False.*refit"):
            make()


def test_a_format_1_artifact_is_refused(fitted, tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    fitted.save(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["format_version"] = 1
    for part in ("inputs", "features"):
        for entry in doc["profile"][part].values():
            for k in ("kind", "edges", "bin_counts", "other_count", "length"):
                entry.pop(k, None)
    doc.pop("integrity")
    doc["integrity"] = {"sha256": integrity_digest(doc)}  # the hash load checks
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    old = fd.load(str(path))
    for make in (lambda: fd.profile_rows(old, frame_for(old, rows_of(5, 2))),
                 lambda: fd.Monitor(old)):
        with pytest.raises(FeatureDSLError, match=r"older featuredsl.*format 1.*refit"):
            make()


# ---------------------------------------------------------------------------- merging


def test_merging_parts_equals_the_whole(fitted) -> None:
    rows = rows_of(1500, 7, drift=True)
    parts = [fd.profile_rows(fitted, frame_for(fitted, rows[i:i + 500]))
             for i in range(0, 1500, 500)]
    merged = fd.merge_snapshots(parts)
    assert snapshot_json(merged) == snapshot_json(fd.profile_rows(fitted,
                                                                  frame_for(fitted, rows)))
    assert fd.merge_snapshots([parts[0]]) == parts[0]


def test_merge_adds_input_errors_and_keeps_a_common_sample_rate(fitted) -> None:
    a = fd.profile_rows(fitted, frame_for(fitted, rows_of(20, 8)))
    b = json.loads(json.dumps(a))
    a["input_errors"] = {"n": 2, "": 1}
    b["input_errors"] = {"n": 3, "k": 4}
    merged = fd.merge_snapshots([a, b])
    assert merged["input_errors"] == {"": 1, "k": 4, "n": 5}
    assert merged["sample_every"] == 1 and merged["rows"] == 40
    b["sample_every"] = 64
    assert fd.merge_snapshots([a, b])["sample_every"] is None


def test_merge_refuses_what_does_not_add_up(fitted) -> None:
    a = fd.profile_rows(fitted, frame_for(fitted, rows_of(20, 8)))
    other = dict(a, artifact="0" * 64)
    with pytest.raises(FeatureDSLError, match="different artifacts"):
        fd.merge_snapshots([a, other])
    with pytest.raises(FeatureDSLError, match="format 2"):
        fd.merge_snapshots([a, dict(a, format=2)])
    with pytest.raises(FeatureDSLError, match="not a featuredsl monitor snapshot"):
        fd.merge_snapshots([a, {"rows": 3}])
    with pytest.raises(FeatureDSLError, match="at least one"):
        fd.merge_snapshots([])
    bad = json.loads(json.dumps(a))
    bad["inputs"]["amount"]["bins"].append(0)
    with pytest.raises(FeatureDSLError, match=r"amount.bins"):
        fd.merge_snapshots([a, bad])
    bad["inputs"]["amount"]["bins"] = "many"
    with pytest.raises(FeatureDSLError, match=r"amount.bins is not a list"):
        fd.merge_snapshots([a, bad])


# ---------------------------------------------------------------------------- the monitor


def test_the_monitor_equals_its_twin_byte_for_byte(fitted) -> None:
    rows = rows_of(2500, 2, drift=True)
    mon = fd.Monitor(fitted, sample_every=1)
    evaluate = fitted.row_evaluator(monitor=mon)
    plain = fitted.row_evaluator()
    assert [evaluate(r) for r in rows] == [plain(r) for r in rows]  # serving is unchanged
    got = mon.snapshot()
    assert mon.record_failures == 0
    assert snapshot_json(got) == snapshot_json(fd.profile_rows(fitted, frame_for(fitted, rows)))
    assert got == reference(fitted, rows)
    assert snapshot_json(mon.snapshot()) == snapshot_json(got)  # deterministic, not reset


def test_a_monitor_fed_the_training_rows_reproduces_the_profile(fitted) -> None:
    got = watch(fitted, rows_of(3000, 1))
    for part in ("inputs", "features"):
        for name, field in got[part].items():
            entry = fitted.profile[part][name]
            if "length" in entry:
                field, entry = field["length"], entry["length"]
            assert (field["count"], field["nulls"]) == (entry["count"], entry["null_count"])
            if entry.get("kind") == "numeric":
                assert field["bins"] == entry["bin_counts"], name
            if entry.get("kind") == "categorical":
                assert field["top"] == [p[1] for p in entry["top"]], name
                assert field["oov"] == entry["other_count"] == 0, name
            assert field.get("below_min", 0) == field.get("above_max", 0) == 0, name


def test_sampling_counts_exactly_one_row_in_n(fitted) -> None:
    rows = rows_of(64 * 20 + 5, 9, drift=True)
    for every in (64, 7):
        got = watch(fitted, rows, sample_every=every)
        assert got["rows"] == len(range(0, len(rows), every))
        assert got == reference(fitted, rows[::every], sample_every=every)


def test_input_errors_are_counted_per_field_at_full_rate(fitted) -> None:
    mon = fd.Monitor(fitted, sample_every=64)
    evaluate = fitted.row_evaluator(monitor=mon)
    good = rows_of(10, 10)
    bad = ([dict(good[0], n="twelve")] * 70 + [{k: v for k, v in good[1].items() if k != "n"}]
           * 5 + [dict(good[2], amount="x")] * 3)
    for r in bad:
        with pytest.raises(fd.InputError):
            evaluate(r)
    for r in good:
        evaluate(r)
    snap = mon.snapshot()
    assert snap["input_errors"] == {"amount": 3, "n": 75}
    assert snap["rows"] == 1 and snap["sample_every"] == 64


def test_a_monitor_refuses_another_artifact(fitted) -> None:
    other = fd.compile(SPEC).fit(frame_for(fitted, rows_of(100, 11)))
    mon = fd.Monitor(fitted)
    with pytest.raises(FeatureDSLError, match="this monitor watches artifact"):
        other.row_evaluator(monitor=mon)
    with pytest.raises(FeatureDSLError, match="not fitted"):
        fd.compile(SPEC).row_evaluator(monitor=mon)
    for bad in (0, -1, 1.5, True, "64"):
        with pytest.raises(FeatureDSLError, match="sample_every"):
            fd.Monitor(fitted, sample_every=bad)  # type: ignore[arg-type]


def test_reset_starts_a_new_window(fitted) -> None:
    rows = rows_of(600, 12, drift=True)
    mon = fd.Monitor(fitted, sample_every=1)
    evaluate = fitted.row_evaluator(monitor=mon)
    for r in rows[:250]:
        evaluate(r)
    first = mon.snapshot(reset=True)
    assert first == reference(fitted, rows[:250])
    assert mon.snapshot() == reference(fitted, [])
    for r in rows[250:]:
        evaluate(r)
    second = mon.snapshot(reset=True)
    assert second == reference(fitted, rows[250:])
    assert snapshot_json(fd.merge_snapshots([first, second])) == snapshot_json(
        reference(fitted, rows))


def test_the_record_function_holds_no_user_text(fitted) -> None:
    # every constant (edges, top values, bounds) is bound by reference: the generated source
    # has no literal but slot numbers and the cap
    source = fd.Monitor(fitted)._record.source
    assert "'" not in source and '"' not in source
    assert not {n for n in fitted.profile["features"] if len(n) > 2} & set(
        source.replace("(", " ").replace(")", " ").replace(",", " ").split())


def test_timestamps_read_only_by_calendar_fields_are_counted_in_utc() -> None:
    # `ts` feeds hour() alone: the evaluator lets aware UTC values through unconverted, and
    # the monitor still counts them as the instants they are
    spec = fd.compile("input { ts: timestamp }\nfeature h = hour(ts)")
    base = dt.datetime(2024, 3, 10, 12)
    fitted = spec.fit(pl.DataFrame({"ts": [base + dt.timedelta(hours=i) for i in range(5)]}))
    utc = ZoneInfo("UTC")
    rows = [{"ts": base - dt.timedelta(microseconds=1)}, {"ts": base.replace(tzinfo=dt.UTC)},
            {"ts": (base + dt.timedelta(hours=4)).replace(tzinfo=utc)},
            {"ts": (base + dt.timedelta(hours=4, microseconds=1)).replace(tzinfo=dt.UTC)},
            {"ts": dt.datetime(2024, 3, 10, 9, tzinfo=NY)}]  # 13:00 UTC
    got = watch(fitted, rows)
    assert got["inputs"]["ts"] == {"count": 5, "nulls": 0, "below_min": 1, "above_max": 1}
    assert got == reference(fitted, rows)
    assert "_naive_utc" in fitted.row_evaluator(monitor=fd.Monitor(fitted)).source
