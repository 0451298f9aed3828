"""The monitor report (SPEC 10, docs/monitoring.md, The report): MONITORING.md's injected drifts on
the reference workload are caught by the intended check, no-drift samples never alarm, the
training rows give PSI 0 exactly, fewer than 1,000 values is insufficient_data.

Snapshots come from ``oracle_snapshot``, an independent counter over the rows in plain Python
(``bisect`` for the bins, ``Counter`` for the values), written from the snapshot contract
alone; ``test_oracle_equals_profile_rows`` holds it to the batch twin once that is present.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import featuredsl as fd
from featuredsl.errors import FeatureDSLError
from featuredsl.monitor import report_stats as st
from featuredsl.monitor.report import Thresholds, monitor_report

ROOT = Path(__file__).parents[1]
SPEC = (ROOT / "benchmarks" / "reference.feat").read_text(encoding="utf-8")
OOV_TRACKED = 1000

COUNTRIES = ["US", "GB", "DE", "FR", "CA", "IN", "BR", "JP", "MX", "ES",
             "IT", "NL", "AU", "SE", "PL", "TR", "KR", "CH", "AR", "ZA"]
CATEGORIES = [f"cat_{i:02d}" for i in range(30)]
# descriptions of 2-6 words from 60: nearly unique, like the reference workload's (a field of
# a few thousand equally likely values would bias its training top: see the docs' limits)
WORDS = ["payment", "order", "refund", "REFUND", "card", "café", "Straße", "日本", "🛒", "",
         "online", "store"] + [f"w{i}" for i in range(48)]
_2024 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
# a diurnal day: traffic peaks in the evening, troughs at night (a 5 h shift moves `hour`)
_HOURS = np.array([1 + 0.9 * math.sin(2 * math.pi * (h - 13) / 24) for h in range(24)])
_HOURS /= _HOURS.sum()


def workload(n: int, seed: int, words: int = 60) -> pl.DataFrame:
    """The reference workload's inputs with a Zipf ``category`` and a diurnal ``ts``
    (``words=12``: descriptions of exactly 3 words of 12, 1,728 equally likely values)."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5, 1.0, n)
    amount_null = rng.random(n) < 0.05
    zipf = 1.0 / np.arange(1, 31) ** 1.1
    c_p = np.full(len(COUNTRIES), 0.60 / (len(COUNTRIES) - 1))
    c_p[0] = 0.40
    country = rng.choice(len(COUNTRIES), n, p=c_p)
    country_null = rng.random(n) < 0.03
    day = rng.integers(0, 366, n)
    hour = rng.choice(24, n, p=_HOURS)
    sec = rng.integers(0, 3600, n)
    us = (day * 86_400 + hour * 3600 + sec) * 1_000_000 + rng.integers(0, 1_000_000, n)
    text = rng.integers(0, words, (n, 6))
    n_words = rng.integers(2, 7, n) if words == len(WORDS) else np.full(n, 3)
    return pl.DataFrame({
        "user_id": rng.integers(1, 100_001, n),
        "amount": [None if z else float(a) for a, z in zip(amount, amount_null, strict=True)],
        "n_items": rng.integers(0, 21, n),
        "ts": pl.Series([_2024 + dt.timedelta(microseconds=int(u)) for u in us],
                        dtype=pl.Datetime("us", "UTC")),
        "country": [None if z else COUNTRIES[c] for c, z in zip(country, country_null,
                                                                 strict=True)],
        "merchant": [f"merchant_{k}" for k in rng.zipf(1.3, n) % 5000],
        "category": [CATEGORIES[i] for i in rng.choice(30, n, p=zipf / zipf.sum())],
        "description": [" ".join(WORDS[w] for w in ws[:k])
                        for ws, k in zip(text, n_words, strict=True)],
    }, schema={"user_id": pl.Int64, "amount": pl.Float64, "n_items": pl.Int64,
               "ts": pl.Datetime("us", "UTC"), "country": pl.String, "merchant": pl.String,
               "category": pl.String, "description": pl.String})


# --- the independent counter (the snapshot contract, in plain Python) -----------------------


def _is_null(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _range_value(entry: dict, v: object) -> object:
    if isinstance(v, dt.datetime):
        return dt.datetime.fromisoformat(entry)
    if isinstance(v, dt.date):
        return dt.date.fromisoformat(entry)
    if isinstance(v, dt.timedelta):
        return dt.timedelta(microseconds=entry)
    return entry


def oracle_field(entry: dict, values: list) -> dict:
    """One FIELD of a snapshot, counted from ``values`` by the contract."""
    present = [v for v in values if not _is_null(v)]
    out: dict = {"count": len(present), "nulls": len(values) - len(present)}
    kind = entry.get("kind")
    if "length" in entry:
        out["length"] = oracle_field(entry["length"],
                                     [None if _is_null(v) else len(v) for v in values])
    elif kind == "numeric":
        edges = entry["edges"]
        bins = Counter(bisect.bisect_right(edges, v) for v in present)
        out["bins"] = [bins.get(i, 0) for i in range(len(edges) + 1)]
        out["below_min"] = sum(1 for v in present if v < entry["min"])
        out["above_max"] = sum(1 for v in present if v > entry["max"])
    elif kind == "categorical":
        where = {(type(v), v): i for i, (v, _) in enumerate(entry["top"])}
        top = [0] * len(entry["top"])
        oov = 0
        outside: Counter = Counter()  # the first OOV_TRACKED distinct outside values kept
        for v in present:
            i = where.get((type(v), v))
            if i is not None:
                top[i] += 1
                continue
            oov += 1
            if v in outside or len(outside) < OOV_TRACKED:
                outside[v] += 1
        out["top"] = top
        out["oov"] = oov
        pairs = sorted(outside.items(), key=lambda kv: (-kv[1], kv[0]))
        out["oov_values"] = [[v, n] for v, n in pairs]
    elif entry.get("min") is not None and present:
        lo = _range_value(entry["min"], present[0])
        hi = _range_value(entry["max"], present[0])
        out["below_min"] = sum(1 for v in present if v < lo)
        out["above_max"] = sum(1 for v in present if v > hi)
    elif entry.get("min") is not None:
        out["below_min"] = out["above_max"] = 0
    return out


def oracle_snapshot(fitted: fd.FittedSpec, data: pl.DataFrame) -> dict:
    """The snapshot of a sample_every=1 monitor fed ``data`` (features by the batch backend)."""
    feats = fitted.transform(data)
    prof = fitted.profile
    return {
        "kind": "featuredsl.monitor.snapshot", "format": 1, "artifact": fitted.artifact_hash,
        "sample_every": 1, "rows": data.height, "input_errors": {},
        # the inputs the row evaluator reads (a key kept beside the features is not watched)
        "inputs": {n: oracle_field(e, data[n].to_list()) for n, e in prof["inputs"].items()
                   if n in fitted.serving_inputs},
        "features": {n: oracle_field(e, feats[n].to_list())
                     for n, e in prof["features"].items()},
    }


# --- fixtures ---------------------------------------------------------------------------------

TRAIN, SERVE = 20_000, 5_000


@pytest.fixture(scope="module")
def trained() -> tuple[pl.DataFrame, fd.FittedSpec]:
    df = workload(TRAIN, 1)
    return df, fd.compile(SPEC).fit(df)


def _report(fitted: fd.FittedSpec, data: pl.DataFrame, **kw: object):
    return monitor_report(fitted, oracle_snapshot(fitted, data), **kw)  # type: ignore[arg-type]


def _levels(report, field: str) -> dict[str, str]:
    return {f.check: f.level for f in report.findings if f.field == field}


def _finding(report, field: str, check: str):
    (f,) = [f for f in report.findings if f.field == field and f.check == check]
    return f


# --- the statistics -----------------------------------------------------------------------------


@pytest.mark.parametrize(("df", "tail", "table"), [
    (1, 1e-3, 10.828), (10, 1e-3, 29.588), (9, 0.05, 16.919), (30, 0.01, 50.892),
    (1, 1e-6, 23.928), (2, 1e-6, 27.631), (200, 0.05, 233.994), (4, 0.5, 3.357)])
def test_chi2_quantile_matches_the_tables(df: int, tail: float, table: float) -> None:
    assert st.chi2_isf(tail, df) == pytest.approx(table, abs=6e-4)


def test_chi2_quantile_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 9, 24, 100, 101, 500):
        for tail in (1e-9, 1e-6, 1e-3, 0.05, 0.5, 0.99):
            assert st.chi2_isf(tail, df) == pytest.approx(stats.chi2.isf(tail, df), rel=1e-9)
    # 2 degrees of freedom has a closed form: P(X > x) = exp(-x / 2)
    assert st.chi2_isf(1e-6, 2) == pytest.approx(-2 * math.log(1e-6), rel=1e-12)
    assert st.chi2_isf(1e-6, 9) == pytest.approx(44.81, abs=0.01)  # MONITORING.md's 44.8/M


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 10**6), hs.integers(0, 10**6)), min_size=2,
                max_size=40).filter(lambda b: sum(x for x, _ in b) and sum(y for _, y in b)),
       hs.randoms(use_true_random=False))
def test_psi_and_js_properties(bins: list[tuple[int, int]], rnd) -> None:
    ref, srv = [a for a, _ in bins], [b for _, b in bins]
    value = st.psi(ref, srv)
    assert value >= 0.0 and st.psi(ref, ref) == 0.0
    js = st.jensen_shannon(ref, srv)
    assert 0.0 <= js <= 1.0 + 1e-12
    assert js == pytest.approx(st.jensen_shannon(srv, ref), abs=1e-12)  # symmetric
    order = list(range(len(bins)))
    rnd.shuffle(order)  # the bins' order does not matter
    assert st.psi([ref[i] for i in order], [srv[i] for i in order]) == \
        pytest.approx(value, rel=1e-9, abs=1e-15)


def test_psi_and_js_by_hand() -> None:
    ref, srv = [30, 70], [60, 40]
    p = [(30.5) / 101, 70.5 / 101]
    q = [60.5 / 101, 40.5 / 101]
    want = sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))
    assert st.psi(ref, srv) == pytest.approx(want, rel=1e-15)
    assert st.psi([5, 0, 7], [5, 0, 7]) == 0.0
    assert st.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert st.jensen_shannon([3, 4], [6, 8]) == 0.0
    z = st.two_proportion_z(30, 1000, 60, 1000)
    pooled = 90 / 2000
    assert z == pytest.approx(0.03 / math.sqrt(pooled * (1 - pooled) * 2 / 1000))


# --- the injected drifts of MONITORING.md -------------------------------------------------------


def _serving(seed: int = 2, n: int = SERVE) -> pl.DataFrame:
    return workload(n, seed)


def test_training_rows_reproduce_the_profile(trained) -> None:
    df, fitted = trained
    report = _report(fitted, df)
    assert report.status == "ok"
    assert {f.level for f in report.findings} == {"ok"}
    psis = [f for f in report.findings if f.check == "psi"]
    binned = [e for sec in ("inputs", "features") for n, e in fitted.profile[sec].items()
              if "kind" in e and (sec == "features" or n in fitted.serving_inputs)]
    assert len(psis) == len(binned) == 22 and all(f.value == 0.0 for f in psis)
    assert report.missing == ()  # user_id is read by no feature: not watched, not missing
    assert all(f.value == 0.0 for f in report.findings if f.check != "psi")


@pytest.mark.parametrize("seed", range(100, 120))
def test_no_drift_never_alarms(trained, seed: int) -> None:
    _, fitted = trained
    report = _report(fitted, _serving(seed))
    assert report.alarms == [], report.to_text()
    assert report.status == "ok"


def test_amount_times_100(trained) -> None:
    _, fitted = trained
    report = _report(fitted, _serving().with_columns(pl.col("amount") * 100))
    assert report.status == "alert"
    levels = _levels(report, "inputs.amount")
    assert levels["psi"] == "alert" and levels["out_of_range"] == "alert"
    oor = _finding(report, "inputs.amount", "out_of_range")
    amounts = [a for a in _serving()["amount"].to_list() if a is not None]
    hi = fitted.profile["inputs"]["amount"]["max"]
    assert oor.moved["above_max"] == sum(1 for a in amounts if a * 100 > hi)
    assert oor.after == pytest.approx(oor.moved["above_max"] / len(amounts))
    # the bin that moved most is the top one (>= the last edge)
    psi = _finding(report, "inputs.amount", "psi")
    last = fitted.profile["inputs"]["amount"]["edges"][-1]
    assert psi.moved["most_moved"][0]["slot"] == f">= {last:.6g}"
    assert "most moved: >= " in psi.message


def test_amount_times_1e6_on_8_percent(trained) -> None:
    _, fitted = trained
    df = _serving()
    rng = np.random.default_rng(5)
    hit = pl.Series(rng.random(df.height) < 0.08)
    report = _report(fitted, df.with_columns(
        pl.when(hit).then(pl.col("amount") * 1e6).otherwise(pl.col("amount")).alias("amount")))
    levels = _levels(report, "inputs.amount")
    assert levels["out_of_range"] == "alert"
    assert levels["psi"] == "ok"  # a unit bug on a few rows barely moves PSI
    assert _finding(report, "inputs.amount", "psi").value < 0.1


def test_default_fill_on_10_percent(trained) -> None:
    _, fitted = trained
    entry = fitted.profile["inputs"]["amount"]
    median = entry["quantiles"][4]
    df = _serving()
    hit = pl.Series(np.random.default_rng(6).random(df.height) < 0.10)
    report = _report(fitted, df.with_columns(
        pl.when(hit & pl.col("amount").is_not_null()).then(pl.lit(median))
        .otherwise(pl.col("amount")).alias("amount")))
    shift = _finding(report, "inputs.amount", "max_bin_shift")
    assert shift.level in ("warn", "alert")
    assert _finding(report, "inputs.amount", "psi").level == "ok"  # PSI misses a point mass
    i = bisect.bisect_right(entry["edges"], median)  # the bin holding the median
    edges = entry["edges"]
    assert shift.moved["most_moved"][0]["slot"] == f"[{edges[i - 1]:.6g}, {edges[i]:.6g})"
    assert shift.after > shift.before + 0.075


def test_country_nulls_3_to_25_percent(trained) -> None:
    _, fitted = trained
    df = _serving()
    hit = pl.Series(np.random.default_rng(7).random(df.height) < 0.23)
    report = _report(fitted, df.with_columns(
        pl.when(hit).then(None).otherwise(pl.col("country")).alias("country")))
    f = _finding(report, "inputs.country", "null_rate")
    assert f.level == "alert"
    want = report.for_field("inputs.country").serving
    assert f.after == pytest.approx(want["nulls"] / (want["nulls"] + want["count"]))
    assert f.before == pytest.approx(0.03, abs=0.005) and f.after > 0.2
    ref = fitted.profile["inputs"]["country"]
    before = ref["null_count"] / (ref["null_count"] + ref["count"])
    assert f.before == before
    assert f.message.startswith(f"null rate {100 * before:.2f}% -> {100 * f.after:.2f}%")
    # the feature hides it (is_foreign never becomes null): only the input shows it
    assert _finding(report, "features.is_foreign", "null_rate").level == "ok"


def test_20_percent_unseen_categories(trained) -> None:
    _, fitted = trained
    df = _serving()
    rng = np.random.default_rng(8)
    new = [f"new_{i}" for i in rng.integers(0, 50, df.height)]
    hit = rng.random(df.height) < 0.20
    cats = [n if h else c for c, n, h in zip(df["category"].to_list(), new, hit, strict=True)]
    report = _report(fitted, df.with_columns(pl.Series("category", cats)))
    f = _finding(report, "inputs.category", "oov_rate")
    assert f.level == "alert"
    outside = Counter(c for c in cats if not c.startswith("cat_"))
    want = sorted(outside.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [tuple(p) for p in f.moved["new_values"]] == want
    assert json.dumps(want[0][0]) in f.message
    idx = _levels(report, "features.category_idx")
    assert idx["oov_rate"] == "alert" and idx["psi"] == "alert"
    assert _finding(report, "features.category_idx", "oov_rate").moved["new_values"][0][0] == -1


def test_the_training_tops_selection_does_not_read_as_new_values() -> None:
    """A top of 100 among 1,728 equally likely values: its training counts are the lucky
    ones (the winner's curse), so fresh traffic is 'outside the top' more often with no drift.
    Counting the top values near the cutoff with the outside ones removes that; a real rise
    of new values is still caught."""
    fitted = fd.compile(SPEC).fit(workload(TRAIN, 1, words=12))
    serving = workload(SERVE, 2, words=12)
    snap = oracle_snapshot(fitted, serving)
    naive = _finding(monitor_report(fitted, snap, thresholds={"oov_cutoff_sd": 0}),
                     "inputs.description", "oov_rate")
    assert naive.level == "warn" and naive.after - naive.before > 0.02  # the curse, alone
    report = monitor_report(fitted, snap)
    f = _finding(report, "inputs.description", "oov_rate")
    assert f.level == "ok" and report.alarms == []
    entry = fitted.profile["inputs"]["description"]
    low = min(c for _, c in entry["top"])
    near = [v for v, c in entry["top"] if c <= low + 2 * math.sqrt(low)]
    assert f.moved["near_cutoff"] == near
    assert f.before == (entry["other_count"] + sum(c for v, c in entry["top"] if v in near)) \
        / entry["count"]
    assert "near the top's cutoff" in f.message
    # 20% of requests with merchants never seen: still an alert on the merchant input
    rng = np.random.default_rng(3)
    hit = rng.random(SERVE) < 0.20
    merchants = [f"new_{i}" if h else m for i, (m, h)
                 in enumerate(zip(serving["merchant"].to_list(), hit, strict=True))]
    drifted = monitor_report(fitted, oracle_snapshot(
        fitted, serving.with_columns(pl.Series("merchant", merchants))))
    assert _finding(drifted, "inputs.merchant", "oov_rate").level == "alert"
    # the category's top holds every training value: nothing was selected, nothing moves
    assert _finding(report, "inputs.category", "oov_rate").moved["near_cutoff"] == []


def test_timestamps_shifted_5_hours(trained) -> None:
    _, fitted = trained
    report = _report(fitted, _serving().with_columns(pl.col("ts") + pl.duration(hours=5)))
    f = _finding(report, "features.hour", "psi")
    assert f.level == "alert"
    assert f.moved["most_moved"][0]["slot"].isdigit()  # an hour names the bin
    assert _levels(report, "inputs.ts")["out_of_range"] == "ok"  # 5 h in a year: in range


def test_n_items_forced_to_0(trained) -> None:
    _, fitted = trained
    report = _report(fitted, _serving().with_columns(pl.lit(0, pl.Int64).alias("n_items")))
    f = _finding(report, "features.amount_per_item", "null_rate")
    assert f.level == "alert" and f.after == 1.0


def test_fewer_than_1000_values_is_insufficient_never_an_alarm(trained) -> None:
    _, fitted = trained
    report = _report(fitted, _serving(n=600).with_columns(pl.col("amount") * 100))
    assert report.status == "insufficient_data"
    assert report.alarms == []
    assert {f.level for f in report.findings} == {"insufficient_data"}
    assert "fewer than 1000" in _finding(report, "inputs.amount", "psi").message


# --- errors ----------------------------------------------------------------------------------


def test_snapshot_of_another_artifact_names_both_hashes(trained) -> None:
    df, fitted = trained
    other = fd.compile(SPEC).fit(df.head(5000))
    snap = oracle_snapshot(other, df.head(100))
    with pytest.raises(FeatureDSLError) as err:
        monitor_report(fitted, snap)
    assert other.artifact_hash in str(err.value) and fitted.artifact_hash in str(err.value)


def test_artifact_without_profile_is_refused(trained) -> None:
    df, fitted = trained
    bare = fd.compile(SPEC).fit(df.head(100), profile=False)
    with pytest.raises(FeatureDSLError, match="profile=False"):
        monitor_report(bare, oracle_snapshot(fitted, df.head(10)))
    old = fd.compile(SPEC).fit(df.head(100))
    for section in ("inputs", "features"):  # a format-1 profile: no monitoring entries
        for entry in old.profile[section].values():  # type: ignore[attr-defined]
            for key in ("kind", "edges", "bin_counts", "top", "other_count"):
                entry.pop(key, None)
    with pytest.raises(FeatureDSLError, match=r"older featuredsl.*refit"):
        monitor_report(old, {})


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(kind="x"), "not a monitor snapshot"),
    (lambda s: s.update(format=2), "format 2"),
    (lambda s: s["inputs"]["amount"].update(bins=[1, 2]), "has 2 counts.*10 bins"),
    (lambda s: s["inputs"]["amount"].update(count=-1), "inputs.amount.count"),
    (lambda s: s["inputs"]["amount"]["bins"].__setitem__(0, 10**6), "add up to"),
    (lambda s: s["inputs"]["category"].update(oov_values="x"), "oov_values"),
    (lambda s: s["input_errors"].update(amount="3"), "input_errors.amount"),
    (lambda s: s.update(rows=True), "`rows`"),
])
def test_bad_snapshots_are_clear_errors(trained, change, message: str) -> None:
    df, fitted = trained
    snap = oracle_snapshot(fitted, df.head(50))
    change(snap)
    with pytest.raises(FeatureDSLError, match=message):
        monitor_report(fitted, snap)


def test_thresholds_override_and_unknown_names(trained) -> None:
    _, fitted = trained
    snap = oracle_snapshot(fitted, _serving().with_columns(pl.col("amount") * 1.3))
    assert _finding(monitor_report(fitted, snap), "inputs.amount", "psi").level == "ok"
    strict = monitor_report(fitted, snap, thresholds={"psi_warn": 0.01, "psi_alert": 0.02})
    f = _finding(strict, "inputs.amount", "psi")
    assert f.level == "alert" and f.threshold == f.alert_at == max(0.02, f.moved["noise_bound"])
    assert strict.thresholds == Thresholds(psi_warn=0.01, psi_alert=0.02)
    assert monitor_report(fitted, snap, thresholds=Thresholds(min_count=10**6)).status == \
        "insufficient_data"
    with pytest.raises(FeatureDSLError, match=r"unknown threshold 'psi_wran'.*'psi_warn'"):
        monitor_report(fitted, snap, thresholds={"psi_wran": 0.2})
    with pytest.raises(FeatureDSLError, match="above 'psi_alert'"):
        monitor_report(fitted, snap, thresholds={"psi_warn": 0.5})
    for bad in ({"z": float("nan")}, {"z": True}, {"min_count": 0}, {"psi_noise_tail": 1}):
        with pytest.raises(FeatureDSLError, match="threshold"):
            monitor_report(fitted, snap, thresholds=bad)


def test_input_errors_rate(trained) -> None:
    _, fitted = trained
    snap = oracle_snapshot(fitted, _serving())
    snap["input_errors"] = {"amount": 60, "": 300}
    report = monitor_report(fitted, snap)
    f = _finding(report, "inputs.amount", "input_errors")
    assert f.value == 60 / (SERVE + 360) and f.level == "warn"
    assert f in report.for_field("inputs.amount").checks
    (rows,) = report.row_errors
    assert rows.field == "rows" and rows.level == "alert" and rows.value == 300 / (SERVE + 360)
    assert report.status == "alert"
    snap["sample_every"] = 64  # rejected rows are counted at full rate, the rest sampled
    f = _finding(monitor_report(fitted, snap), "inputs.amount", "input_errors")
    assert f.value == 60 / (SERVE * 64 + 360) and f.level == "ok"
    snap["sample_every"] = None  # a merge of monitors of different rates: no rate
    f = _finding(monitor_report(fitted, snap), "inputs.amount", "input_errors")
    assert f.level == "insufficient_data" and f.value is None


def test_json_is_deterministic_and_plain(trained, tmp_path: Path) -> None:
    _, fitted = trained
    snap = oracle_snapshot(fitted, _serving().with_columns(pl.col("amount") * 100))
    one = monitor_report(fitted, snap).to_json()
    assert one == monitor_report(fitted, json.loads(json.dumps(snap))).to_json()
    # a loaded artifact (its profile's keys sorted) gives the same report, fields in spec order
    fitted.save(tmp_path / "m.json")
    loaded = monitor_report(fd.load(tmp_path / "m.json"), snap)
    assert loaded.to_json() == one and loaded.to_html() == monitor_report(fitted, snap).to_html()
    assert [fr.field for fr in loaded.fields][:3] == ["inputs.amount", "inputs.n_items",
                                                      "inputs.ts"]
    doc = json.loads(one)
    assert doc["kind"] == "featuredsl.monitor.report" and doc["status"] == "alert"
    assert doc["artifact"] == fitted.artifact_hash
    assert {a["field"] for a in doc["alarms"]} >= {"inputs.amount"}
    amount = next(f for f in doc["fields"] if f["field"] == "inputs.amount")
    assert [s["serving"] for s in amount["slots"]] == snap["inputs"]["amount"]["bins"]
    assert [s["reference"] for s in amount["slots"]] == \
        fitted.profile["inputs"]["amount"]["bin_counts"]


# --- every kind of field, with the edge values ----------------------------------------------

EDGE_SPEC = """
input { x: float?, n: int?, s: string?, b: bool?, tags: list[string]?, t: timestamp? }
feature x2 = x * 2.0
feature n1 = n
feature n_tags = length(tags)
feature words = split(s, " ")
feature hour_t = hour(t, "America/New_York")
feature flag = b ?? false
"""


def _edge_data(rows: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rnd = np.random.default_rng(seed)
    xs = [1.5, -0.0, 0.0, float("inf"), -float("inf"), float("nan"), None]
    ns = [-(2**63), 2**63 - 1, None]
    ss = ["", "é", "日本 語", "a b", "ΣΟΦΙΑΣ", None, "x"]
    t0 = dt.datetime(2024, 3, 10, 6, 30, tzinfo=dt.UTC)  # New York's spring-forward day
    return pl.DataFrame({
        "x": [xs[i] if i < len(xs) else float(rnd.normal()) + shift
              for i in rnd.integers(0, 3 * len(xs), rows)],
        "n": [ns[i] if i < 3 else int(i) for i in rnd.integers(0, 60, rows)],
        "s": [ss[i] for i in rnd.integers(0, len(ss), rows)],
        "b": [[True, False, None][i] for i in rnd.integers(0, 3, rows)],
        "tags": [None if i == 0 else ["é"] * int(i) for i in rnd.integers(0, 4, rows)],
        "t": [None if i == 0 else t0 + dt.timedelta(minutes=int(i))
              for i in rnd.integers(0, 600, rows)],
    }, schema={"x": pl.Float64, "n": pl.Int64, "s": pl.String, "b": pl.Boolean,
               "tags": pl.List(pl.String), "t": pl.Datetime("us", "UTC")})


def test_edge_values_every_kind() -> None:
    train = _edge_data(4000, 1)
    fitted = fd.compile(EDGE_SPEC).fit(train)
    same = monitor_report(fitted, oracle_snapshot(fitted, train))
    assert same.status == "ok", same.to_text()
    assert all(f.value == 0.0 for f in same.findings if f.check == "psi")
    kinds = {fr.field: fr.kind for fr in same.fields}
    assert kinds["inputs.x"] == "numeric" and kinds["inputs.s"] == "categorical"
    assert kinds["inputs.tags"] == "list" and kinds["inputs.t"] == "range"
    assert {f.field for f in same.for_field("inputs.tags").checks} == \
        {"inputs.tags", "inputs.tags.length"}
    b = same.for_field("inputs.b")
    assert {s.label for s in b.slots} == {"true", "false", "(other)"}
    s = same.for_field("inputs.s")
    assert '""' in {sl.label for sl in s.slots} and '"日本 語"' in {sl.label for sl in s.slots}
    # serving: x shifted far, t a day later (above the training max), new strings
    serve = _edge_data(3000, 2, shift=1e9).with_columns(
        pl.col("t") + pl.duration(days=1), pl.col("s").fill_null("新しい"))
    report = monitor_report(fitted, oracle_snapshot(fitted, serve))
    # training held +-inf, so nothing is out of its range; the bins show the shift
    assert _finding(report, "inputs.x", "out_of_range").value == 0.0
    assert _levels(report, "inputs.x")["psi"] == "alert"
    assert _levels(report, "features.x2")["psi"] == "alert"
    t = _finding(report, "inputs.t", "out_of_range")
    assert t.level == "alert" and t.moved["above_max"] == serve["t"].count()
    oov = _finding(report, "inputs.s", "oov_rate")
    assert oov.level == "alert" and oov.moved["new_values"][0][0] == "新しい"
    assert _finding(report, "inputs.s", "null_rate").after == 0.0
    json.loads(report.to_json())  # +-inf edges and minima are written as text, valid JSON
    assert "新しい" in report.to_text()


# --- the HTML page ---------------------------------------------------------------------------


class _Page(HTMLParser):
    """The tags of a page, with every chart's bars and the text of each field's section."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter = Counter()
        self.charts: dict[str, list[dict[str, str]]] = {}
        self.chart: str | None = None
        self.attrs: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] += 1
        self.attrs.append(a)
        if tag == "svg":
            self.chart = str(a["data-field"])
            self.charts[self.chart] = []
        if tag == "rect" and self.chart is not None:
            self.charts[self.chart].append({k: str(v) for k, v in a.items()})

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _slot_counts(field: dict, entry: dict) -> tuple[list[int], list[int]]:
    """The training and serving counts of a snapshot FIELD's slots, from the contract."""
    if "length" in field:
        return _slot_counts(field["length"], entry["length"])
    if "bins" in field:
        return list(entry["bin_counts"]), field["bins"]
    if "top" in field:
        pairs = list(zip(entry["top"], field["top"], strict=True))
        if all(type(v) is int for v, _ in entry["top"]):  # int values are drawn in order
            pairs.sort(key=lambda p: p[0][0])
        return ([p[0][1] for p in pairs] + [entry["other_count"]],
                [p[1] for p in pairs] + [field["oov"]])
    inside = field["count"] - field["below_min"] - field["above_max"]
    return [0, entry["count"], 0], [field["below_min"], inside, field["above_max"]]


def test_html_page_one_chart_per_field_with_the_counts(trained) -> None:
    _, fitted = trained
    df = _serving()
    evil = ["<script>alert(1)</script>", 'a"b&c', "日本"]
    cats = [evil[i % 3] if i % 5 == 0 else c for i, c in enumerate(df["category"].to_list())]
    snap = oracle_snapshot(fitted, df.with_columns(pl.Series("category", cats),
                                                   pl.col("amount") * 100))
    page = monitor_report(fitted, snap).to_html()
    assert page == monitor_report(fitted, snap).to_html()  # deterministic
    parsed = _Page()
    parsed.feed(page)
    assert parsed.tags["script"] == 0 and "<script>" not in page
    assert not [a for a in parsed.attrs if any(k in ("src", "onload", "onclick") for k in a)]
    assert "http://" not in page and "https://" not in page
    assert all(str(a.get("href", "#")).startswith("#") for a in parsed.attrs)
    watched = {f"{sec}.{n}": (snap[sec][n], fitted.profile[sec][n])
               for sec in ("inputs", "features") for n in snap[sec]}
    assert set(parsed.charts) == set(watched)  # one chart per field
    assert parsed.tags["svg"] == len(watched)
    for name, (field, entry) in watched.items():
        bars = parsed.charts[name]
        ref, srv = _slot_counts(field, entry)
        assert [int(b["data-count"]) for b in bars if b["data-side"] == "training"] == ref
        assert [int(b["data-count"]) for b in bars if b["data-side"] == "serving"] == srv
    text = "".join(parsed.text)
    assert "<script>alert(1)</script>" in text  # shown as text, never as a tag
    assert '"a\\"b&c"' in text
    assert "inputs.amount" in text and "out of the training range" in text


# --- the independent counter against the batch twin -------------------------------------------


def test_oracle_equals_profile_rows(trained) -> None:
    """The report's tests count with the oracle; the monitor's batch twin gives the same bytes
    (so every drift test above holds for fd.profile_rows snapshots too)."""
    profile_rows = getattr(fd, "profile_rows", None)
    if profile_rows is None:
        pytest.skip("fd.profile_rows is not in this build")
    df, fitted = trained

    def text(snap: dict) -> str:
        return json.dumps(snap, sort_keys=True, ensure_ascii=False)

    serving = _serving().with_columns(pl.col("amount") * 100)
    for data in (df, serving):
        assert text(profile_rows(fitted, data)) == text(oracle_snapshot(fitted, data))
    twin = profile_rows(fitted, serving)
    assert monitor_report(fitted, twin).to_json() == \
        monitor_report(fitted, oracle_snapshot(fitted, serving)).to_json()
    edge = fd.compile(EDGE_SPEC).fit(_edge_data(4000, 1))
    data = _edge_data(3000, 2, shift=1e9)
    assert text(profile_rows(edge, data)) == text(oracle_snapshot(edge, data))


def test_live_monitor_on_the_row_evaluator(trained) -> None:
    """End to end through fd.Monitor: the training rows served one by one reproduce the
    profile (PSI 0 everywhere); rejected requests are counted by field at full rate and
    become the input_errors check."""
    monitor_cls = getattr(fd, "Monitor", None)
    if monitor_cls is None:
        pytest.skip("fd.Monitor is not in this build")
    df, fitted = trained
    mon = monitor_cls(fitted, sample_every=1)
    evaluate = fitted.row_evaluator(monitor=mon)
    rows = df.to_dicts()
    for r in rows:
        evaluate(r)
    report = monitor_report(fitted, mon.snapshot(reset=True))
    assert report.status == "ok" and report.rows == len(rows)
    assert all(f.value == 0.0 for f in report.findings if f.check == "psi")
    sampled = monitor_cls(fitted, sample_every=4)
    evaluate = fitted.row_evaluator(monitor=sampled)
    for r in rows[:8000]:
        evaluate(r)
    bad = 0
    for r in rows[:400]:
        try:
            evaluate({**r, "n_items": "three"})
        except fd.InputError:
            bad += 1
    f = _finding(monitor_report(fitted, sampled.snapshot()), "inputs.n_items", "input_errors")
    assert bad == 400 and f.moved["errors"] == 400
    assert f.value == 400 / (2000 * 4 + 400) and f.level == "warn"
