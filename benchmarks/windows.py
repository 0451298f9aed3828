"""Window aggregates (SPEC 13, issue 12): featuredsl vs the Polars plan a user would write.

    python benchmarks/windows.py                 # 1M/10k keys, 200k/10 hot keys, 10M, online
    python benchmarks/windows.py --quick         # smaller sizes, no 10M run (~10 s)
    python benchmarks/windows.py --big-events 0  # skip the 10M-event subprocesses
    python benchmarks/run.py --windows           # run.py's table, then this one

Four features over one event source, 7-day windows (``count``, ``sum``, ``mean``, ``max`` of
``amount``), with the events themselves as the rows (a backfill):

* batch: ``fitted.transform(rows, sources={"txns": events})`` (validation included) vs the
  hand-written plan: sort by (key, time), Int64 time index, ``DataFrame.rolling(period=W,
  closed="left", group_by=key).agg(len, sum, mean, max)``, stacked onto the sorted frame.
  Interleaved repeats in one process; ratio = median of per-repeat ratios. Polars' rolling
  sums are add/subtract running sums, so they are not exact: the table says on how many rows
  they differ from the exact sum (featuredsl's, itself checked against ``math.fsum`` on a
  sample of rows), and that count/max agree (the two plans read the same windows);
* 10M events: the same two plans, each in a fresh process (``ru_maxrss`` of the child, read
  by itself after generating its data and after the plan), time and peak RSS;
* online: ``row_evaluator(state=)`` per row (each call timed alone, minus the timer's cost)
  after ``ingest_batch`` of a history holding ~30 events per key per 7-day window, next to a
  hand-written Python reader (bisect over per-key lists, ``sum``/``max`` of the slice, not
  exact); and ingest throughput (``ingest_batch`` and one ``ingest`` per event).

The data is seeded and generated here: ``user_id`` uniform over the keys, ``ts`` uniform over
the span (µs, UTC), ``amount`` lognormal(3.5, 1.0) with 5% null, as in BENCHMARK.md.
Timings are never asserted (a shared machine): read the ratios.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import gc
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

import featuredsl as fd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is a directory of scripts, not a package
    sys.path.insert(0, str(HERE))

import run  # noqa: E402  (timing helpers and machine info)

SEED = 20240607
DAY_US = 86_400_000_000
WINDOW_US = 7 * DAY_US
T0_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
#: Issue 12: featuredsl batch / hand-written Polars rolling, at most (aim).
BATCH_TARGET, BATCH_AIM = 2.0, 1.5
#: Issue 12: online p99 per row, µs.
ONLINE_P99_AIM = 20.0

SPEC = """
input {
  user_id: int
  ts:      timestamp
  time ts
}

source txns {
  user_id: int
  ts:      timestamp
  amount:  float?
  key  user_id
  time ts
}

feature n_7d      = count(txns, over=7d)
feature sum_7d    = sum(txns.amount, over=7d)
feature mean_7d   = mean(txns.amount, over=7d)
feature max_7d    = max(txns.amount, over=7d)
"""
FEATURES = ["n_7d", "sum_7d", "mean_7d", "max_7d"]

NAIVE = "featuredsl row_evaluator(state=), `ts` a naive UTC datetime"
HAND = "hand-written Polars rolling(closed='left', group_by=key), inexact sums"
FD = "featuredsl transform(rows, sources=), exact"
FD_ONE = "featuredsl, window kernels on one thread"


def make_events(n: int, keys: int, days: float, seed: int = SEED) -> pl.DataFrame:
    """``n`` events of ``keys`` users spread uniformly over ``days`` (deterministic)."""
    rng = np.random.default_rng(seed)
    user_id = rng.integers(1, keys + 1, n, dtype=np.int64)
    ts = T0_US + rng.integers(0, int(days * DAY_US), n, dtype=np.int64)
    amount = pl.Series("amount", rng.lognormal(3.5, 1.0, n)).scatter(
        np.flatnonzero(rng.random(n) < 0.05), None)
    return pl.DataFrame({"user_id": user_id,
                         "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
                         "amount": amount})


def fitted_spec() -> fd.FittedSpec:
    """The four-feature spec, fitted (it has no statistics: fit only binds it)."""
    tiny = make_events(10, 2, 1.0)
    return fd.compile(SPEC).fit(tiny.select("user_id", "ts"), sources={"txns": tiny})


def hand_plan(events: pl.DataFrame) -> pl.DataFrame:
    """What a user writes with Polars: sort, an Int64 µs time index, a left-closed rolling
    window per key (Polars' own running sums: inexact), the results next to the events."""
    s = events.with_columns(pl.col("ts").dt.epoch("us").alias("t")).sort("user_id", "t")
    agg = s.rolling("t", period=f"{WINDOW_US}i", closed="left", group_by="user_id").agg(
        pl.len().alias("n_7d"), pl.col("amount").sum().alias("sum_7d"),
        pl.col("amount").mean().alias("mean_7d"), pl.col("amount").max().alias("max_7d"))
    return s.hstack(agg.drop("user_id", "t"))


def fd_plan(fitted: fd.FittedSpec, events: pl.DataFrame) -> Callable[[], pl.DataFrame]:
    rows = events.select("user_id", "ts")
    return lambda: fitted.transform(rows, sources={"txns": events})


# ----------------------------------------------------------------------------- batch


def batch_checks(fitted: fd.FittedSpec, events: pl.DataFrame, sample: int = 2000,
                 seed: int = SEED) -> dict[str, object]:
    """Where the hand-written plan differs from featuredsl, per feature, and featuredsl's
    sums checked against ``math.fsum`` on ``sample`` random rows."""
    got = fitted.transform(events.select("user_id", "ts"), keep=["user_id", "ts"],
                           sources={"txns": events})
    # rows with the same (key, time) have the same windows: a stable sort aligns the plans
    got = got.with_columns(pl.col("ts").dt.epoch("us").alias("t")).sort(
        "user_id", "t", maintain_order=True)
    hand = hand_plan(events)
    assert got["t"].equals(hand["t"]) and got["user_id"].equals(hand["user_id"])
    differ = {}
    for f in FEATURES:
        a, b = got[f].cast(pl.Float64), hand[f].cast(pl.Float64)
        differ[f] = int((~a.eq_missing(b)).sum())
    rel = ((got["sum_7d"] - hand["sum_7d"]).abs() / got["sum_7d"].abs()).max()
    # math.fsum over the window, straight from SPEC 13, on a sample of rows
    by_key: dict[int, list[tuple[int, float | None]]] = {}
    for k, t, a in zip(events["user_id"].to_list(), events["ts"].dt.epoch("us").to_list(),
                       events["amount"].to_list(), strict=True):
        by_key.setdefault(k, []).append((t, a))
    for v in by_key.values():
        v.sort(key=lambda p: p[0])
    rng = random.Random(seed)
    idx = rng.sample(range(got.height), min(sample, got.height))
    fsum_bad = 0
    for i in idx:
        k, t, s = got["user_id"][i], got["t"][i], got["sum_7d"][i]
        win = [a for te, a in by_key[k] if t - WINDOW_US <= te < t and a is not None]
        fsum_bad += math.fsum(win) != s
    return {"rows": got.height, "differ": differ, "max_rel_sum_error": rel,
            "fsum_sample": len(idx), "fsum_mismatches": fsum_bad,
            "mean_window": float(got["n_7d"].mean()),  # type: ignore[arg-type]
            "max_window": int(got["n_7d"].max())}  # type: ignore[arg-type]


def fd_one_thread(fitted: fd.FittedSpec, events: pl.DataFrame) -> Callable[[], pl.DataFrame]:
    """featuredsl with its window kernels on one thread (internal switch of
    featuredsl/windows/batch.py; Polars' own operations keep their threads)."""
    from featuredsl.windows import batch

    plan = fd_plan(fitted, events)

    def go() -> pl.DataFrame:
        saved = batch._PARALLEL_FROM
        batch._PARALLEL_FROM = 2**62
        try:
            return plan()
        finally:
            batch._PARALLEL_FROM = saved
    return go


def bench_batch(fitted: fd.FittedSpec, events: pl.DataFrame, repeat: int
                ) -> dict[str, list[float]]:
    return run.bench_batch({HAND: lambda: hand_plan(events), FD: fd_plan(fitted, events),
                            FD_ONE: fd_one_thread(fitted, events)}, repeat)


# ----------------------------------------------------------------------------- 10M


def _child(which: str, n: int, keys: int, days: float) -> None:
    """In a fresh process: generate, run one plan once, print times and ``ru_maxrss``."""
    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB

    fitted = fitted_spec()
    t = time.perf_counter()
    events = make_events(n, keys, days)
    gen_s = time.perf_counter() - t
    base = rss()
    size = events.estimated_size("mb")
    plan = (lambda: hand_plan(events)) if which == "hand" else fd_plan(fitted, events)
    t = time.perf_counter()
    out = plan()
    secs = time.perf_counter() - t
    print(json.dumps({"which": which, "seconds": secs, "gen_seconds": gen_s,
                      "rss_after_data_mib": base, "peak_rss_mib": rss(),
                      "input_mb": size, "output_mb": out.estimated_size("mb")}))


def bench_big(n: int, keys: int, days: float, runs: int) -> dict[str, dict[str, object]]:
    """Both plans at ``n`` events, each run in its own fresh process (peak RSS is per
    process), alternating, ``runs`` times each: every run's figures."""
    out: dict[str, dict[str, object]] = {"hand": {"runs": []}, "fd": {"runs": []}}
    for _ in range(runs):
        for which in ("hand", "fd"):
            proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", which,
                                   "--big-events", str(n), "--big-keys", str(keys),
                                   "--days", str(days)],
                                  capture_output=True, text=True, check=True)
            out[which]["runs"].append(  # type: ignore[union-attr]
                json.loads(proc.stdout.strip().splitlines()[-1]))
    for v in out.values():
        got = v["runs"]
        v["seconds"] = statistics.median(x["seconds"] for x in got)  # type: ignore[union-attr]
        for k in ("peak_rss_mib", "rss_after_data_mib", "input_mb", "output_mb"):
            v[k] = max(x[k] for x in got)  # type: ignore[union-attr]
        v["all_seconds"] = [x["seconds"] for x in got]  # type: ignore[union-attr]
    return out


# ----------------------------------------------------------------------------- online


def online_data(keys: int, per_window: int, requests: int, seed: int = SEED
                ) -> tuple[list[dict], list[dict]]:
    """A history of ``keys * per_window`` events over the 7 days before ``T``, in time
    order, and ``requests`` rows of random keys at times in ``[T, T + 1 h)``."""
    n = keys * per_window
    ev = make_events(n, keys, 7.0, seed).sort("ts", maintain_order=True)
    history = ev.to_dicts()
    rng = np.random.default_rng(seed + 1)
    end = T0_US + WINDOW_US
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    ks = rng.integers(1, keys + 1, requests).tolist()
    ts = (end + rng.integers(0, 3600 * 10**6, requests)).tolist()
    rows = [{"user_id": k, "ts": epoch + dt.timedelta(microseconds=t)}
            for k, t in zip(ks, ts, strict=True)]
    return history, rows


def hand_reader(history: list[dict]) -> Callable[[dict], dict]:
    """A hand-written Python reader over the same history: per-key sorted lists of µs times
    and amounts, bisect for the window, ``sum``/``max`` of the slice (inexact float sums)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    us = dt.timedelta(microseconds=1)
    times: dict[int, list[int]] = {}
    amounts: dict[int, list[float | None]] = {}
    for e in history:
        times.setdefault(e["user_id"], []).append((e["ts"] - epoch) // us)
        amounts.setdefault(e["user_id"], []).append(e["amount"])

    def features(row: dict) -> dict:
        k = row["user_id"]
        t = (row["ts"] - epoch) // us
        ts = times.get(k, [])
        hi = bisect.bisect_left(ts, t)
        lo = bisect.bisect_left(ts, t - WINDOW_US)
        vals = [a for a in amounts[k][lo:hi] if a is not None] if hi > lo else []
        s = sum(vals)
        return {"n_7d": hi - lo, "sum_7d": s, "mean_7d": s / len(vals) if vals else None,
                "max_7d": max(vals) if vals else None}

    return features


def bench_online(fitted: fd.FittedSpec, keys: int, per_window: int, requests: int,
                 repeat: int) -> dict[str, object]:
    history, rows = online_data(keys, per_window, requests)
    t = time.perf_counter()
    state = fitted.online_state()
    state.ingest_batch("txns", history)
    batch_s = time.perf_counter() - t
    one = fitted.online_state()
    part = history[: min(len(history), 100_000)]
    t = time.perf_counter()
    for e in part:
        one.ingest("txns", e)
    one_s = time.perf_counter() - t
    evaluate = fitted.row_evaluator(state=state)
    hand = hand_reader(history)
    mismatch = 0
    window = []
    checked = rows[:2000]
    for r in checked:
        a, b = evaluate(r), hand(r)
        window.append(a["n_7d"])
        mismatch += a["n_7d"] != b["n_7d"] or a["max_7d"] != b["max_7d"]
    overhead = run.timer_overhead_ns()
    naive = [dict(r, ts=r["ts"].replace(tzinfo=None)) for r in rows]
    timed = run.bench_rows({"featuredsl row_evaluator(state=)": evaluate,
                            NAIVE: (evaluate, naive),
                            "hand-written Python (bisect, sum/max of the slice)": hand},
                           rows, repeat, overhead)
    return {"history": len(history), "keys": keys, "requests": len(rows),
            "mean_window": statistics.mean(window), "count_max_mismatch": mismatch,
            "checked": len(checked),
            "ingest_batch_events_per_s": len(history) / batch_s,
            "ingest_events_per_s": len(part) / one_s, "timer_overhead_ns": overhead,
            "rows": timed}


# ----------------------------------------------------------------------------- report


def _ms(x: float) -> str:
    return f"{x * 1e3:,.0f} ms" if x < 10 else f"{x:,.1f} s"


def render(r: dict) -> str:
    out = []
    m = r["machine"]
    out.append(f"featuredsl {m['featuredsl']} ({m['commit'] or 'no git'}) · CPython {m['python']}"
               f" · polars {m['polars']} · numpy {m['numpy']} · {m['usable_cores']} cores "
               f"({m['cpu']}), polars threads {m['polars_threads']}")
    out.append(f"batch: {r['config']['repeat']} interleaved repeats, median; ratio = median of "
               "per-repeat ratios; ratio of bests = fastest / fastest (the hand-written plan "
               "runs on both cores and slows most when another job takes one). Rows = the "
               "events themselves; 4 features (count, sum, mean, max of amount over 7d)\n")
    out.append("| case | what | median | min..max | ratio | ratio of bests |")
    out.append("|---|---|---:|---:|---:|---:|")
    for case, v in r["batch"].items():
        for name, times in v["times"].items():
            ratio = run.paired_ratio(times, v["times"][HAND])
            best = min(times) / min(v["times"][HAND])
            out.append(f"| {case} | {name} | {_ms(statistics.median(times))} | "
                       f"{_ms(min(times))}..{_ms(max(times))} | {ratio:.2f} | {best:.2f} |")
    big = r.get("big")
    if big:
        case = r["config"]["big_case"]
        for which, name in (("hand", HAND), ("fd", FD)):
            b = big[which]
            secs = b["all_seconds"]
            out.append(f"| {case} | {name} (fresh processes) | {_ms(b['seconds'])} | "
                       f"{_ms(min(secs))}..{_ms(max(secs))} | "
                       f"{b['seconds'] / big['hand']['seconds']:.2f} | "
                       f"{min(secs) / min(big['hand']['all_seconds']):.2f} |")
    out.append("")
    for case, v in r["batch"].items():
        ratio = run.paired_ratio(v["times"][FD], v["times"][HAND])
        best = min(v["times"][FD]) / min(v["times"][HAND])
        worst = max(ratio, best)
        verdict = ("meets the aim" if worst <= BATCH_AIM else "meets the target"
                   if worst <= BATCH_TARGET else "**misses** the target")
        c = v["checks"]
        d = c["differ"]
        out.append(f"- {case}: featuredsl / hand-written Polars = **{ratio:.2f}x** median, "
                   f"**{best:.2f}x** of bests ({verdict}: "
                   f"<= {BATCH_TARGET}x, aim {BATCH_AIM}x). Windows hold {c['mean_window']:.1f} "
                   f"events on average (max {c['max_window']:,}). Polars' sum differs from "
                   f"the exact sum on **{d['sum_7d']:,} of {c['rows']:,} rows** "
                   f"({d['sum_7d'] / c['rows']:.1%}; largest relative error "
                   f"{c['max_rel_sum_error']:.1e}), its mean on {d['mean_7d']:,}; count and "
                   f"max differ on {d['n_7d']} and {d['max_7d']} rows; featuredsl's sum == "
                   f"math.fsum on {c['fsum_sample'] - c['fsum_mismatches']:,} of "
                   f"{c['fsum_sample']:,} sampled rows")
    if big:
        h, f = big["hand"], big["fd"]
        out.append(f"- {r['config']['big_case']}, each run in a fresh process "
                   f"({len(f['all_seconds'])} each, alternating): featuredsl "
                   f"{_ms(f['seconds'])} vs hand-written {_ms(h['seconds'])} "
                   f"({f['seconds'] / h['seconds']:.2f}x of medians); peak RSS featuredsl "
                   f"**{f['peak_rss_mib']:,.0f} MiB**, hand-written {h['peak_rss_mib']:,.0f} "
                   f"MiB; of which the process with its generated events before the plan "
                   f"{f['rss_after_data_mib']:,.0f} MiB (events {f['input_mb']:,.0f} MB in "
                   f"memory, output {f['output_mb']:,.0f} MB)")
    o = r.get("online")
    if o:
        out.append(f"\nonline: {o['history']:,} events of {o['keys']:,} keys ingested, "
                   f"{o['requests']:,} requests at random keys (`ts` an aware UTC datetime, "
                   "as a server parses it, unless said), windows of "
                   f"{o['mean_window']:.1f} events on average; each call timed alone, minus "
                   f"the timer's {o['timer_overhead_ns']} ns; medians over repeats\n")
        out.append("| online | p50 | p99 | loop mean |")
        out.append("|---|---:|---:|---:|")
        for name, v in o["rows"].items():
            out.append(f"| {name} | {statistics.median(v['median']):.2f} µs | "
                       f"{statistics.median(v['p99']):.2f} µs | "
                       f"{statistics.median(v['loop']):.2f} µs |")
        fd_p99 = statistics.median(o["rows"]["featuredsl row_evaluator(state=)"]["p99"])
        out.append(f"\n- online p99 {fd_p99:.1f} µs per row (aim < {ONLINE_P99_AIM:.0f} µs: "
                   f"{'met' if fd_p99 < ONLINE_P99_AIM else '**missed**'}); count and max "
                   f"equal to the hand-written reader's on "
                   f"{o['checked'] - o['count_max_mismatch']:,} of {o['checked']:,} rows")
        out.append(f"- ingest: `ingest_batch` {o['ingest_batch_events_per_s']:,.0f} events/s, "
                   f"one `ingest` per event {o['ingest_events_per_s']:,.0f} events/s "
                   "(validation included, events in time order)")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, no 10M run")
    ap.add_argument("--events", type=int, help="events of the many-keys case (default 1M)")
    ap.add_argument("--keys", type=int, help="keys of the many-keys case (default 10k)")
    ap.add_argument("--hot-events", type=int, help="events of the hot-keys case (200k)")
    ap.add_argument("--hot-keys", type=int, default=10)
    ap.add_argument("--days", type=float, default=28.0, help="time span of the many-keys "
                    "events (the hot keys' is half of it)")
    ap.add_argument("--big-events", type=int, help="events of the fresh-process run "
                    "(default 10M; 0 skips)")
    ap.add_argument("--big-keys", type=int, help="keys of that run (default 100k)")
    ap.add_argument("--big-runs", type=int, default=3, help="fresh processes per plan")
    ap.add_argument("--online-keys", type=int, help="keys in the online state (10k)")
    ap.add_argument("--per-window", type=int, default=30, help="events per key per window")
    ap.add_argument("--requests", type=int, help="online requests (default 20k)")
    ap.add_argument("--repeat", type=int, help="interleaved repeats (default 7; quick 3)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--child", choices=["hand", "fd"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    if args.child:
        _child(args.child, args.big_events, args.big_keys, args.days)
        return 0
    n = args.events or (200_000 if q else 1_000_000)
    keys = args.keys or (2_000 if q else 10_000)
    hot_n = args.hot_events or (50_000 if q else 200_000)
    big_n = args.big_events if args.big_events is not None else (0 if q else 10_000_000)
    big_keys = args.big_keys or max(1, big_n // 100)
    repeat = args.repeat or (3 if q else 7)
    t0 = time.perf_counter()
    fitted = fitted_spec()
    result: dict[str, object] = {"machine": run.machine_info(), "batch": {}}
    cases = {f"{n:,} events / {keys:,} keys": (n, keys, args.days),
             f"{hot_n:,} events / {args.hot_keys} hot keys": (hot_n, args.hot_keys,
                                                              args.days / 2)}
    for case, (size, k, days) in cases.items():
        events = make_events(size, k, days)
        checks = batch_checks(fitted, events)
        times = bench_batch(fitted, events, repeat)
        result["batch"][case] = {"times": times, "checks": checks}  # type: ignore[index]
        print(f"# batch {case} done", file=sys.stderr)
        del events
        gc.collect()
    big_case = f"{big_n:,} events / {big_keys:,} keys"
    if big_n:
        result["big"] = bench_big(big_n, big_keys, args.days, args.big_runs)
        print(f"# {big_case} done", file=sys.stderr)
    online_keys = args.online_keys or (2_000 if q else 10_000)
    requests = args.requests or (5_000 if q else 20_000)
    result["online"] = bench_online(fitted, online_keys, args.per_window, requests, repeat)
    result["config"] = {"events": n, "keys": keys, "hot_events": hot_n,
                        "hot_keys": args.hot_keys, "days": args.days, "big_events": big_n,
                        "big_case": big_case, "repeat": repeat, "seed": SEED}
    result["seconds"] = time.perf_counter() - t0
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    # exit status 1 when featuredsl's sums are not math.fsum's, or when the plans do not read
    # the same windows (count or max differ): timings are never judged
    bad = sum(c["checks"]["fsum_mismatches"] + c["checks"]["differ"]["n_7d"]
              + c["checks"]["differ"]["max_7d"]
              for c in result["batch"].values())  # type: ignore[attr-defined]
    bad += result["online"]["count_max_mismatch"]  # type: ignore[index]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
