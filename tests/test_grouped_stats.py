"""Grouped statistics (``by=``): against an independent computation, on both backends."""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from fractions import Fraction

import polars as pl
import pytest

import featuredsl as fd
from featuredsl import artifact
from featuredsl.errors import ArtifactError, SpecError
from featuredsl.fit import grouped

SPEC = """
input { g: string?, k: int?, f: float?, b: bool?, y: float? }
feature te = mean(y, by=g)
feature te_fb = mean(y, by=g) ?? mean(y)
feature te2 = mean(y, by=[g, k])
feature tef = mean(y, by=f)
feature teb = mean(y, by=b, min_count=3)
feature sm = mean(y, by=g, smoothing=2.5)
feature cnt = count(by=g)
feature cnty = count(y, by=k)
feature sh = share(by=g, top=2)
feature lo = min(y, by=k)
feature hi = max(y, by=k)
feature sd = std(y, by=g)
feature va = var(y, by=k)
feature nf = null_fraction(y, by=g)
"""


# "wide": exponents too far apart for the fixed-point sums (fit/grouped.py), the general
# per-exponent path; "narrow": the one-group_by fixed-point path, with -0.0 and a subnormal-free
# spread of about 2**40
Y_VALUES = {
    "wide": [1.0, -3.5, 2.25, None, float("nan"), 1e300, -1e-300, 7.0, 0.1],
    "narrow": [1.0, -3.5, 2.25, None, float("nan"), 7.0, 0.1, -0.0, 1234.5678, 3e-6, -8e5],
}


def _data(n: int = 400, seed: int = 1, ys: list | None = None) -> pl.DataFrame:
    rnd = random.Random(seed)
    gs = ["a", "b", "é", "", "日本", None]
    fs = [0.0, -0.0, 1.5, float("nan"), None, float("inf"), -2.0]
    ys = Y_VALUES["wide"] if ys is None else ys
    return pl.DataFrame({
        "g": [rnd.choice(gs) for _ in range(n)],
        "k": [rnd.choice([1, 2, -(2**63), 2**63 - 1, None]) for _ in range(n)],
        "f": [rnd.choice(fs) for _ in range(n)],
        "b": [rnd.choice([True, False, None]) for _ in range(n)],
        "y": [rnd.choice(ys) for _ in range(n)],
    }, schema={"g": pl.String, "k": pl.Int64, "f": pl.Float64, "b": pl.Boolean,
               "y": pl.Float64})


def _key(v):
    if v is None or (isinstance(v, float) and v != v):
        return None
    return 0.0 if isinstance(v, float) and v == 0.0 else v


def _groups(rows, by):
    out = defaultdict(list)
    for r in rows:
        key = tuple(_key(r[c]) for c in by)
        if None in key:
            continue
        y = r["y"]
        out[key].append(None if y is None or y != y else y)
    return out


def _mean(vals):
    v = [x for x in vals if x is not None]
    if not v:
        return None
    return float(sum(Fraction(x) for x in v) / len(v))


def _var(vals):
    v = [Fraction(x) for x in vals if x is not None]
    if not v:
        return None
    m = sum(v) / len(v)
    return sum((x - m) ** 2 for x in v) / len(v)


def _float(f: Fraction) -> float:
    try:
        return float(f)
    except OverflowError:
        return math.inf


def _same(a, b):
    if a is None or b is None:
        return a is b
    return a == b and math.copysign(1, a) == math.copysign(1, b) if isinstance(a, float) \
        else a == b and type(a) is type(b)


@pytest.fixture(scope="module", params=sorted(Y_VALUES))
def fitted(request):
    df = _data(ys=Y_VALUES[request.param])
    lf = df.lazy().with_columns(pl.col("y").fill_nan(None))
    assert (grouped._fixed_point(lf, "y", squares=True) is None) == (request.param == "wide")
    return df, fd.compile(SPEC).fit(df)


@pytest.mark.parametrize("extra", [[], [float("inf")], [float("inf"), -float("inf")]])
def test_fixed_point_path_equals_the_general_path(monkeypatch, tmp_path, extra):
    # the same narrow data through both exact paths: the artifacts are identical, byte for byte
    df = _data(ys=Y_VALUES["narrow"] + extra, n=600, seed=3)
    spec = fd.compile(SPEC)
    spec.fit(df).save(tmp_path / "fast.json")
    monkeypatch.setattr(grouped, "_INT128_BITS", 0)  # no range fits: the general path
    spec.fit(df).save(tmp_path / "general.json")
    fast, general = (tmp_path / "fast.json").read_bytes(), (tmp_path / "general.json").read_bytes()
    assert fast == general


def test_against_independent_computation(fitted):
    df, spec = fitted
    rows = df.to_dicts()
    out = spec.transform(df).to_dicts()
    by_g, by_k, by_gk = _groups(rows, ["g"]), _groups(rows, ["k"]), _groups(rows, ["g", "k"])
    by_f, by_b = _groups(rows, ["f"]), _groups(rows, ["b"])
    grouped_all = [y for vals in by_g.values() for y in vals if y is not None]
    overall = sum(Fraction(y) for y in grouped_all) / len(grouped_all)
    rows_g = Counter({k: len(v) for k, v in by_g.items()})
    top2 = sorted(rows_g, key=lambda k: (-rows_g[k], k))[:2]
    total_g = sum(rows_g.values())
    full_mean = _mean([None if r["y"] is None or r["y"] != r["y"] else r["y"] for r in rows])
    for r, o in zip(rows, out, strict=True):
        kg, kk = (_key(r["g"]),), (_key(r["k"]),)
        g, k = by_g.get(kg), by_k.get(kk)
        want = {
            "te": _mean(g) if g else None,
            "te_fb": _mean(g) if g and _mean(g) is not None else full_mean,
            "te2": _mean(by_gk[(kg[0], kk[0])]) if (kg[0], kk[0]) in by_gk else None,
            "tef": _mean(by_f[(_key(r["f"]),)]) if (_key(r["f"]),) in by_f else None,
            "teb": _mean(by_b[(r["b"],)]) if (r["b"],) in by_b and len(by_b[(r["b"],)]) >= 3
            else None,
            "cnt": len(g) if g else None,
            "cnty": sum(v is not None for v in k) if k else None,
            "sh": rows_g[kg] / total_g if g and kg in top2 else None,
            "lo": min((v for v in k if v is not None), default=None) if k else None,
            "hi": max((v for v in k if v is not None), default=None) if k else None,
            "nf": sum(v is None for v in g) / len(g) if g else None,
        }
        if g:
            vv = [Fraction(v) for v in g if v is not None]
            want["sm"] = float((sum(vv) + Fraction(2.5) * overall) / (len(vv) + Fraction(2.5)))
            var = _var(g)
            want["sd"] = None if var is None else float(Fraction(
                math.isqrt(var.numerator * 4**700 // var.denominator), 2**700))
        else:
            want["sm"] = want["sd"] = None
        var_k = _var(k) if k else None
        want["va"] = None if var_k is None else _float(var_k)
        for name, w in want.items():
            got = o[name]
            if name == "sd" and w is not None:
                assert got == pytest.approx(w, rel=1e-15), (name, r)
                continue
            assert _same(got, w), (name, r, got, w)


def test_both_backends_agree_on_every_row(fitted):
    df, spec = fitted
    batch = spec.transform(df).to_dicts()
    ev = spec.row_evaluator()
    for r, b in zip(df.to_dicts(), batch, strict=True):
        got = ev(r)
        for name in spec.features:
            assert _same(got[name], b[name]), (name, r, got[name], b[name])


def test_unseen_and_null_groups_are_null(fitted):
    _, spec = fitted
    new = pl.DataFrame({"g": ["zzz", None], "k": [5, None], "f": [9.0, float("nan")],
                        "b": [None, None], "y": [1.0, 1.0]},
                       schema={"g": pl.String, "k": pl.Int64, "f": pl.Float64,
                               "b": pl.Boolean, "y": pl.Float64})
    out = spec.transform(new)
    for c in ("te", "te2", "tef", "cnt", "sh", "lo", "sd"):
        assert out[c].to_list() == [None, None]
    assert out["te_fb"].to_list() == [spec.stats["mean(y)"]] * 2
    ev = spec.row_evaluator()
    assert [ev(r)["te"] for r in new.to_dicts()] == [None, None]


def test_order_and_chunking_independent(tmp_path, fitted):
    df, spec = fitted
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=7)
    path = tmp_path / "d.parquet"
    shuffled.write_parquet(path, row_group_size=17)
    chunked = pl.concat([shuffled.slice(i, 33) for i in range(0, shuffled.height, 33)],
                        rechunk=False)
    for other in (fd.compile(SPEC).fit(shuffled.lazy()), fd.compile(SPEC).fit(str(path)),
                  fd.compile(SPEC).fit(chunked)):
        assert other.stats == spec.stats


def test_artifact_round_trip_and_tampering(tmp_path, fitted):
    df, spec = fitted
    p = tmp_path / "a.json"
    spec.save(p)
    back = fd.load(p)
    assert back.stats == spec.stats
    assert back.transform(df).equals(spec.transform(df))
    doc = json.loads(p.read_text())
    cases = {
        "key": lambda t: t["keys"][0].__setitem__(0, 5),
        "duplicate": lambda t: t["keys"].__setitem__(1, list(t["keys"][0])),
        "order": lambda t: t["rows"].reverse(),
        "rows": lambda t: t["rows"].__setitem__(0, 0),
        "length": lambda t: t["values"].pop(),
        "shape": lambda t: t.pop("rows"),
    }
    for what, change in cases.items():
        bad = json.loads(json.dumps(doc))
        change(bad["stats"]["mean(y, by=g)"]["value"])
        bad["integrity"]["sha256"] = artifact.integrity_digest(bad)
        q = tmp_path / f"{what}.json"
        q.write_text(json.dumps(bad))
        with pytest.raises(ArtifactError, match=r"mean\(y, by=g\)"):
            fd.load(q)
    bad = json.loads(json.dumps(doc))
    t = bad["stats"]["share(by=g, top=2)"]["value"]
    t["keys"].append(["zz"])
    t["values"].append(0.0)
    t["rows"].append(1)
    bad["integrity"]["sha256"] = artifact.integrity_digest(bad)
    q = tmp_path / "top.json"
    q.write_text(json.dumps(bad))
    with pytest.raises(ArtifactError, match="more than top=2"):
        fd.load(q)


@pytest.mark.parametrize(("text", "code", "needle"), [
    ("feature x = mean(y, by=w)", "E212", "list"),
    ("feature x = mean(y, by=mean(y))", "E212", "statistic"),
    ("feature x = mean(y, by=g, smoothing=-1)", "E213", "non-negative"),
    ("feature x = mean(y, by=g, smoothing=y)", "E213", "non-negative"),
    ("feature x = max(y, by=g, smoothing=1)", "E213", "applies to `mean` only"),
    ("feature x = mean(y, by=g, min_count=0)", "E214", "positive int"),
    ("feature x = mean(y, by=g, top=1.5)", "E214", "positive int"),
    ("feature x = median(y, by=g)", "E211", "does not take"),
    ("feature x = vocab(g, by=g)", "E211", "does not take"),
    ("feature x = mean(y, top=3)", "E211", "grouped"),
    ("feature x = share(g)", "E211", "needs `by=`"),
])
def test_checker_diagnostics(text, code, needle):
    src = "input { g: string?, y: float?, w: list[int]? }\n" + text + "\n"
    with pytest.raises(SpecError) as info:
        fd.compile(src)
    d = next(d for d in info.value.diagnostics if d.code.startswith("E"))
    assert d.code == code and needle in d.message + (d.hint or "")


def test_empty_grouped_table_warns():
    spec = fd.compile("input { g: string?, y: float? }\nfeature x = mean(y, by=g)\n")
    df = pl.DataFrame({"g": [None, None], "y": [1.0, 2.0]},
                      schema={"g": pl.String, "y": pl.Float64})
    with pytest.warns(fd.FitTimeWarning if hasattr(fd, "FitTimeWarning") else UserWarning):
        f = spec.fit(df)
    assert any(w.kind == "empty_groups" for w in f.fit_warnings)
    assert f.transform(df)["x"].to_list() == [None, None]


def test_group_keys_are_serving_inputs_and_the_label_is_not():
    spec = fd.compile("input { g: string?, y: float?, z: int? }\n"
                      "let key = g\nfeature te = mean(y, by=key) ?? 0.0\n")
    assert list(spec.serving_inputs) == ["g"]
    df = pl.DataFrame({"g": ["a", "a", "b"], "y": [1.0, 3.0, 5.0], "z": [1, 2, 3]})
    ev = spec.fit(df).row_evaluator()
    assert ev({"g": "a"})["te"] == 2.0
    assert ev({"g": "q"})["te"] == 0.0


def test_many_keys_whose_code_space_passes_int64():
    # 6 keys with 2,000 distinct values each: 2000**6 > 2**63, so the batch lookup must
    # re-code its prefix densely instead of wrapping (a wrapped code could hit another group)
    n = 2000
    spec = fd.compile("input { a: int, b: int, c: int, d: int, e: int, h: int, y: float }\n"
                      "feature te = mean(y, by=[a, b, c, d, e, h])\n")
    cols = {name: [(j * m) % n for j in range(n)]
            for name, m in zip("abcdeh", (1, 7, 11, 13, 17, 19), strict=True)}
    df = pl.DataFrame({**cols, "y": [float(j) for j in range(n)]})
    fitted = spec.fit(df)
    # the training rows, then rows whose every key value was seen but never together
    mixed = pl.DataFrame({**{k: v[1:] + v[:1] if k == "e" else v for k, v in cols.items()},
                          "y": [0.0] * n})
    got = fitted.transform(df)["te"].to_list()
    assert got == df["y"].to_list()
    assert fitted.transform(mixed)["te"].to_list() == [None] * n
    ev = fitted.row_evaluator()
    assert [ev(r)["te"] for r in mixed.head(50).to_dicts()] == [None] * 50
    assert [ev(r)["te"] for r in df.head(50).to_dicts()] == got[:50]


@pytest.mark.parametrize("ys", sorted(Y_VALUES))
@pytest.mark.parametrize("keys_per_pass", [None, 7])
def test_top_is_the_head_of_the_full_table(monkeypatch, ys, keys_per_pass):
    # top= finds its groups by the bounded count of fit/top.py (hash partitions when there are
    # more distinct keys than one pass may hold: forced here with keys_per_pass); the table
    # must be the head of the table without top, and share/smoothing still use every row
    from featuredsl.fit import top as top_mod

    if keys_per_pass is not None:
        monkeypatch.setattr(top_mod, "KEYS_PER_PASS", keys_per_pass)
    rnd = random.Random(5)
    n = 3000
    df = pl.DataFrame({
        "g": [rnd.choice([f"k{i % 40}", "é", None, ""]) for i in range(n)],
        "k": [rnd.choice([1, 2, 3, -(2**63), None]) for _ in range(n)],
        "f": [rnd.choice([0.0, -0.0, 1.5, float("nan"), None, 2.5]) for _ in range(n)],
        "y": [rnd.choice(Y_VALUES[ys]) for _ in range(n)],
    }, schema={"g": pl.String, "k": pl.Int64, "f": pl.Float64, "y": pl.Float64})
    pairs = [("mean(y, by=g, smoothing=2)", "mean(y, by=g, smoothing=2, top=5)"),
             ("share(by=g)", "share(by=g, top=4)"),
             ("std(y, by=g, min_count=60)", "std(y, by=g, min_count=60, top=6)"),
             ("count(by=k)", "count(by=k, top=2)"),
             ("mean(y, by=f)", "mean(y, by=f, top=2)"),
             # several keys: the tuple counted as one struct (ties by the tuple)
             ("count(by=[g, k])", "count(by=[g, k], top=7)"),
             ("mean(y, by=[k, f, g], smoothing=1)", "mean(y, by=[k, f, g], smoothing=1, top=9)"),
             ("share(by=[f, k])", "share(by=[f, k], top=3)")]
    text = "input { g: string?, k: int?, f: float?, y: float? }\n" + "".join(
        f"feature a{i} = {full}\nfeature b{i} = {capped}\n"
        for i, (full, capped) in enumerate(pairs))
    fitted = fd.compile(text).fit(df)
    for full, capped in pairs:
        whole, head = fitted.stats[full], fitted.stats[capped]
        t = int(capped.split("top=")[1].rstrip(")"))
        assert len(head.keys) == min(t, len(whole.keys)) > 0
        assert head.keys == whole.keys[:t] and head.rows == whole.rows[:t]
        assert all(_same(a, b) for a, b in zip(head.values, whole.values, strict=False)), capped


def test_diff_and_explain_show_grouped_tables(tmp_path):
    import subprocess
    import sys

    text = "input { g: string?, y: float? }\nfeature te = mean(y, by=g) ?? mean(y)\n"
    spec = fd.compile(text)
    old = spec.fit(pl.DataFrame({"g": ["a", "b", "a", "c"], "y": [1.0, 2.0, 3.0, None]}))
    new = spec.fit(pl.DataFrame({"g": ["a", "b", "a", "d"], "y": [1.0, 2.0, 7.0, 4.0]}))
    d = fd.diff(old, new)
    (entry,) = [s for s in d.statistics if s["stat"] == "mean(y, by=g)"]
    g = entry["groups"]
    assert (g["old"], g["new"], g["added"], g["removed"]) == (3, 3, ["d"], ["c"])
    assert g["changed_count"] == 1 and g["largest_changes"] == [
        {"group": "a", "old": 2.0, "new": 4.0}]
    assert "3 -> 3 groups, 1 added, 1 removed, 1 changed value (a: 2.0 -> 4.0)" in d.to_text()
    json.loads(d.to_json())  # the table summary is plain JSON
    old.save(tmp_path / "a.json")
    r = subprocess.run([sys.executable, "-m", "featuredsl", "explain", str(tmp_path / "a.json"),
                        "--row", '{"g": "a", "y": 0}'], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "stat  mean(y, by=g) = <a table of 3 groups>" in r.stdout
    assert "=> te = 2.0" in r.stdout
