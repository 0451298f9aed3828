"""What ``spec.fit`` costs against a hand-written Polars program doing the same work (issue 14).

    python benchmarks/fit_profile.py                  # 1M reference rows, 5 interleaved repeats
    python benchmarks/fit_profile.py --rows 20000 --repeat 1
    python benchmarks/run.py fit-profile [options]    # the same, from the benchmark runner

Two comparisons, each of the same results computed two ways, interleaved (A, B, C, D per
repeat), medians, ranges and the median of the per-repeat ratios (run.py's convention):

1. ``spec.fit(df)`` (the three statistics of ``reference.feat`` and the training profile of
   docs/artifact.md "The training profile") against :func:`hand_profile`: what a user writes
   with Polars to get the same numbers without featuredsl. One ``select`` of every input's
   aggregates (count, null_count; numbers: min, max, mean, std(ddof=0), the 9 deciles by
   ``quantile([0.1, ..., 0.9], "lower")`` (one sort); ints and strings: ``value_counts`` sorted
   by count then value, first 33 or 100; bools: true/false counts; timestamps: min/max), the
   statistics read from it (mean/std of ``amount``, the top-100 of ``category``), the 16
   reference features (``handwritten.polars_exprs``, collected once, as featuredsl does), one
   ``select`` of the features' aggregates, then a second pass (it needs the deciles) of the bin
   counts of every numeric column, by comparisons with the de-duplicated deciles, both frames
   in one ``collect_all``. Target: at most 1.0x.
2. ``spec.fit(df, profile=False)`` against the hand-written ``select`` of the statistics alone
   (``run.hand_fit_frame``: mean, std, the top-100 ``value_counts``). Aim: 1.3x.

The hand-written results are then checked against featuredsl's profile, so the comparison is
of the same work: every input's entry must be equal (counts, nulls, min/max, deciles, top with
its tie order, other_count, edges, bin counts exactly; mean and std within :data:`MAX_ULPS`
ulps, since Polars sums floats in float and featuredsl sums them exactly). A feature's entry
must be equal when the hand-written feature has the same values as featuredsl's on every row;
the features where the hand-written Polars differs from featuredsl (``amount / n_items`` is
+inf for 0 items in Polars, null in featuredsl: ../shared/SKEW-TRAPS.md) are listed with the
rows they differ on, their profiles not compared. A decile where Polars' 'lower' rank
(``floor((n - 1) * q)`` in floats: ``0.7`` is below 7/10) is one below the exact rank
``floor((n - 1) * i / 10)`` is reported as such. The exit status is 1 if an entry differs for
another reason. Timings are never asserted (a shared machine): read the ratios.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is a directory of scripts, not a package
    sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402
import handwritten  # noqa: E402
import run  # noqa: E402

import featuredsl as fd  # noqa: E402

FD_FULL = "featuredsl `spec.fit(df)` (statistics + training profile)"
HAND_FULL = "hand-written Polars: features + the profile's aggregates + bin counts (2 passes)"
FD_STATS = "featuredsl `spec.fit(df, profile=False)` (statistics alone)"
HAND_STATS = "hand-written Polars select of the statistics (mean, std, top-100 value_counts)"
PROFILE_TARGET, STATS_AIM = 1.0, 1.3
#: mean/std of the hand-written program may differ from featuredsl's exact ones by this much
MAX_ULPS = 16
TOP, INT_CATEGORIES = 100, 32  # featuredsl/fit/profile.py (SPEC 10)
_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


# ----------------------------------------------------------------------------- hand-written


def _top(c: pl.Expr, name: str, k: int) -> pl.Expr:
    """The ``k`` most frequent non-null values with their counts, ties by value: a list.

    Sorted inside ``list.eval``: ``counts.sort_by(counts.struct.field(...))`` evaluates
    ``value_counts`` (in hash order, which varies) once for the values and once for the keys,
    so beside other aggregates in a ``select`` it sorts one by the other's order (wrong tops,
    seen with Polars 2.1; alone in a select common-subexpression elimination hides it)."""
    e = pl.element()
    return c.drop_nulls().value_counts(name="__n").implode().list.eval(
        e.sort_by([e.struct.field("__n"), e.struct.field(name)], descending=[True, False])
        .head(k))


def _aggs(schema: pl.Schema) -> list[pl.Expr]:
    """Every column's profile aggregates, as one ``select`` (aliases ``column|what``)."""
    out: list[pl.Expr] = []
    for name, dtype in schema.items():
        c = pl.col(name)
        out += [c.count().alias(f"{name}|count"), c.null_count().alias(f"{name}|null_count")]
        if dtype == pl.Float64 or dtype in _INTS:
            out += [c.min().alias(f"{name}|min"), c.max().alias(f"{name}|max"),
                    c.mean().alias(f"{name}|mean"), c.std(ddof=0).alias(f"{name}|std"),
                    c.quantile([i / 10 for i in range(1, 10)], "lower").alias(f"{name}|q")]
            if dtype in _INTS:
                out.append(_top(c, name, INT_CATEGORIES + 1).alias(f"{name}|top"))
        elif dtype == pl.String:
            out.append(_top(c, name, TOP).alias(f"{name}|top"))
        elif dtype == pl.Boolean:
            out += [c.sum().alias(f"{name}|true"), (~c).sum().alias(f"{name}|false")]
        elif dtype.is_temporal():
            out += [c.min().alias(f"{name}|min"), c.max().alias(f"{name}|max")]
    return out


def _entries(schema: pl.Schema, got: dict[str, object]) -> dict[str, dict]:
    """The aggregates of :func:`_aggs` as profile entries (featuredsl's layout); numeric ones
    carry their ``edges`` (the de-duplicated deciles) for the bin-count pass."""
    out: dict[str, dict] = {}
    for name, dtype in schema.items():
        e: dict[str, object] = {"count": got[f"{name}|count"],
                                "null_count": got[f"{name}|null_count"]}
        if dtype == pl.Float64 or dtype in _INTS:
            deciles = list(got[f"{name}|q"] or [None] * 9)  # type: ignore[call-overload]
            e.update(min=got[f"{name}|min"], max=got[f"{name}|max"],
                     mean=got[f"{name}|mean"], std=got[f"{name}|std"],
                     quantiles=[None if v is None else float(v) for v in deciles])
            top = [[p[name], p["__n"]] for p in got.get(f"{name}|top") or []]
            if dtype in _INTS and len(top) <= INT_CATEGORIES:
                e.update(top=top, kind="categorical")
            else:
                e.update(kind="numeric", edges=sorted({(0.0 if v == 0 else v) for v in deciles
                                                       if v is not None}))
        elif dtype == pl.String:
            e.update(top=[[p[name], p["__n"]] for p in got[f"{name}|top"]], kind="categorical")
        elif dtype == pl.Boolean:
            t, f = int(got[f"{name}|true"]), int(got[f"{name}|false"])  # type: ignore[call-overload]
            e.update(true_count=t, false_count=f, kind="categorical",
                     top=sorted(([v, n] for v, n in ((True, t), (False, f)) if n),
                                key=lambda p: (-p[1], p[0])))
        elif dtype.is_temporal():
            e.update(min=got[f"{name}|min"], max=got[f"{name}|max"])
        if "top" in e:
            e["other_count"] = int(e["count"]) - sum(p[1] for p in e["top"])  # type: ignore
        out[name] = e
    return out


def _bins(entries: dict[str, dict]) -> list[pl.Expr]:
    """The bin counts of every numeric entry: ``len(edges) + 1`` sums of comparisons."""
    out = []
    for name, e in entries.items():
        if e.get("kind") != "numeric":
            continue
        c, bounds = pl.col(name), [None, *e["edges"], None]
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            inside = c.is_not_null()
            if lo is not None:
                inside = inside & (c >= lo)
            if hi is not None:
                inside = inside & (c < hi)
            out.append(inside.sum().alias(f"{name}|bin{i}"))
    return out


def hand_profile(df: pl.DataFrame) -> dict[str, object]:
    """The hand-written equivalent of ``spec.fit(df)``: statistics, features, profile."""
    inputs_lf = df.lazy()
    got = inputs_lf.select(_aggs(df.schema)).collect().row(0, named=True)
    inputs = _entries(df.schema, got)
    stats = {"amount_mean": inputs["amount"]["mean"], "amount_std": inputs["amount"]["std"],
             "cat_vocab": [v for v, _ in inputs["category"]["top"]]}
    feats = inputs_lf.select(handwritten.polars_exprs(
        stats["amount_mean"], stats["amount_std"], stats["cat_vocab"])).collect()
    got = feats.lazy().select(_aggs(feats.schema)).collect().row(0, named=True)
    features = _entries(feats.schema, got)
    # the second pass: the bins need the deciles of the first
    ins, fes = (r.row(0, named=True) for r in pl.collect_all(
        [inputs_lf.select(_bins(inputs)), feats.lazy().select(_bins(features))]))
    for entries, binned in ((inputs, ins), (features, fes)):
        for name, e in entries.items():
            if e.get("kind") == "numeric":
                e["bin_counts"] = [binned[f"{name}|bin{i}"] for i in range(len(e["edges"]) + 1)]
    return {"stats": stats, "rows": df.height, "inputs": inputs, "features": features,
            "feature_frame": feats}


# ----------------------------------------------------------------------------- checks


def _ulps(a: object, b: object) -> float:
    """How many ulps of ``a`` apart two floats are (0 when equal, inf when one is None)."""
    if a == b:
        return 0.0
    if not isinstance(a, float | int) or not isinstance(b, float | int):
        return math.inf
    return abs(float(a) - float(b)) / math.ulp(float(a))


def _plain(v: object) -> object:
    """featuredsl's JSON form of a value (temporal values as ISO strings)."""
    return v.isoformat() if hasattr(v, "isoformat") else v


def compare_entry(ours: dict, theirs: dict) -> tuple[list[str], float, list[int]]:
    """The keys whose values differ, the largest mean/std ulp distance, and the deciles that
    differ (1-based) of one featuredsl entry and the hand-written one."""
    keys, worst, deciles = [], 0.0, []
    for key, want in ours.items():
        if key == "type":
            continue
        got = _plain(theirs.get(key))
        if key in ("mean", "std"):
            d = _ulps(want, got)
            worst = max(worst, d)
            if d > MAX_ULPS:
                keys.append(key)
        elif key == "quantiles":
            deciles = [i for i, (a, b) in enumerate(zip(want, got, strict=True), 1) if a != b]
            if deciles:
                keys.append(key)
        elif want != got:
            keys.append(key)
    return keys, worst, deciles


def _feature_diffs(fitted: fd.FittedSpec, df: pl.DataFrame, feats: pl.DataFrame
                   ) -> dict[str, int]:
    """Rows where each hand-written feature differs from featuredsl's (null == null)."""
    ours = fitted.transform(df)
    out = {}
    for name in ours.columns:
        a, b = ours.get_column(name), feats.get_column(name)
        if a.dtype != b.dtype:
            a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        out[name] = int((~a.eq_missing(b)).sum())
    return out


def check(fitted: fd.FittedSpec, df: pl.DataFrame, hand: dict) -> dict[str, object]:
    """Compare the hand-written results with featuredsl's statistics and profile."""
    prof = fitted.profile
    diffs = _feature_diffs(fitted, df, hand["feature_frame"])
    report: dict[str, object] = {"rows_equal": prof["rows"] == hand["rows"], "worst_ulps": 0.0,
                                 "compared": [], "skipped": {}, "unexplained": {},
                                 "rank_rule": {}}
    for section in ("inputs", "features"):
        for name, ours in prof[section].items():
            if section == "features" and diffs[name]:
                report["skipped"][name] = diffs[name]  # type: ignore[index]
                continue
            keys, worst, deciles = compare_entry(ours, hand[section][name])
            report["worst_ulps"] = max(report["worst_ulps"], worst)  # type: ignore[call-overload]
            report["compared"].append(name)  # type: ignore[attr-defined]
            if deciles:
                report["rank_rule"][name] = deciles  # type: ignore[index]
                # a decile one rank below moves the edges and the bins after it
                keys = [k for k in keys if k not in ("quantiles", "edges", "bin_counts")]
            if keys:
                report["unexplained"][name] = keys  # type: ignore[index]
    s, h = fitted.stats, hand["stats"]
    report["stats_ulps"] = max(_ulps(s["mean(amount)"], h["amount_mean"]),
                               _ulps(s["std(amount)"], h["amount_std"]))
    report["vocab_equal"] = list(s["vocab(category, top=100)"]) == h["cat_vocab"]
    return report


def _fit(spec: fd.Spec, df: pl.DataFrame, profile: bool) -> Callable[[], object]:
    def go() -> object:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fd.FitTimeWarning)
            return spec.fit(df, profile=profile)
    return go


# ----------------------------------------------------------------------------- main


def render(res: dict[str, list[float]], rows: int, rep: dict[str, object]) -> str:
    """The markdown table, the verdicts and the equality check."""
    out = ["| rows | path | median | range | featuredsl / hand-written |",
           "|---|---|---:|---|---:|"]
    for fd_name, hand_name in ((FD_FULL, HAND_FULL), (FD_STATS, HAND_STATS)):
        for name in (hand_name, fd_name):
            v = res[name]
            ratio = run.paired_ratio(v, res[hand_name])
            out.append(f"| {rows:,} | {name} | {run._ms(statistics.median(v))} | "
                       f"{run._ms(min(v))}..{run._ms(max(v))} | {ratio:.2f} |")
    full = run.paired_ratio(res[FD_FULL], res[HAND_FULL])
    alone = run.paired_ratio(res[FD_STATS], res[HAND_STATS])
    share = 1 - statistics.median(res[FD_STATS]) / statistics.median(res[FD_FULL])
    out.append("")
    out.append(f"- fit with the training profile / the hand-written equivalent = **{full:.2f}x** "
               f"(target at most {PROFILE_TARGET}x: "
               f"{'met' if full <= PROFILE_TARGET else '**missed**'})")
    out.append(f"- fit, statistics alone / the hand-written select of the statistics = "
               f"**{alone:.2f}x** (aim {STATS_AIM}x: "
               f"{'met' if alone <= STATS_AIM else '**missed**'}); the profile is ~{share:.0%} "
               "of featuredsl's full fit")
    compared, skipped = rep["compared"], rep["skipped"]
    out.append(f"- same work: {len(compared)} profile entries compared "  # type: ignore[arg-type]
               f"({'equal' if not rep['unexplained'] else 'DIFFERENT: ' + str(rep['unexplained'])}"
               f"; mean/std at most {rep['worst_ulps']:.0f} ulps apart: Polars sums floats in "
               "float, featuredsl exactly); statistics "
               f"{rep['stats_ulps']:.0f} ulps apart, vocabulary equal: {rep['vocab_equal']}")
    if skipped:
        out.append("- not compared (the hand-written feature has other values than "
                   "featuredsl's, rows differing): " + ", ".join(
                       f"`{n}` {k:,}" for n, k in skipped.items()))  # type: ignore[attr-defined]
    if rep["rank_rule"]:
        out.append("- deciles where Polars' `quantile(q, 'lower')` rank `floor((n-1)*q)` in "
                   "floats is one below the exact rank (so edges and bins differ too): " +
                   ", ".join(f"`{n}` decile {d}" for n, d in rep["rank_rule"].items()))  # type: ignore[attr-defined]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both comparisons; print the markdown table; exit 1 if the work is not the same."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved repeats (default 5)")
    ap.add_argument("--seed", type=int, default=data_gen.SEED)
    ap.add_argument("--json", type=Path, help="also write the raw timings and checks here")
    args = ap.parse_args(argv)
    df = data_gen.make_frame(args.rows, args.seed)
    spec = fd.compile_file(run.SPEC_FILE)
    impls = {HAND_FULL: lambda: hand_profile(df), FD_FULL: _fit(spec, df, True),
             HAND_STATS: lambda: run.hand_fit_frame(df), FD_STATS: _fit(spec, df, False)}
    res = run.bench_batch(impls, args.repeat)
    fitted = _fit(spec, df, True)()
    rep = check(fitted, df, hand_profile(df))  # type: ignore[arg-type]
    print(render(res, args.rows, rep))
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "timings": res, "check": rep},
                                        indent=1, default=str))
    return 1 if rep["unexplained"] or not rep["rows_equal"] else 0


if __name__ == "__main__":
    sys.exit(main())
