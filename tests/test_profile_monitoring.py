"""The training profile's monitoring parts (SPEC 10): bins, top values, lengths, profile=False.

Checked against an independent computation in Python (bisect for bucketize bins, Counter for
the top values) on data with nulls, NaN, +-inf, -0.0, int64 edges, non-ASCII strings."""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from featuredsl.errors import ArtifactError
from featuredsl.fit import profile as prof

SPEC = """
input { x: float?, n: int?, few: int?, s: string?, b: bool?, tags: list[string]? }
feature x2 = x * 2.0
feature s_up = upper(s)
feature words = split(s, "a")
"""


def _data(rows: int = 3000, seed: int = 4) -> pl.DataFrame:
    rnd = random.Random(seed)
    xs = [1.5, -0.0, 0.0, float("inf"), -float("inf"), float("nan"), None, 2.25, -7.0, 1e300]
    words = ["a", "b", "é", "", "日本", None] + [f"w{i}" for i in range(150)]
    return pl.DataFrame({
        "x": [rnd.choice(xs) if rnd.random() < 0.5 else rnd.uniform(-50, 50) for _ in range(rows)],
        "n": [rnd.choice([-(2**63), 2**63 - 1, None]) if rnd.random() < 0.05
              else rnd.randrange(-1000, 1000) for _ in range(rows)],
        "few": [rnd.choice([1, 2, 3, None, -(2**63)]) for _ in range(rows)],
        "s": [rnd.choice(words) for _ in range(rows)],
        "b": [rnd.choice([True, False, None, True]) for _ in range(rows)],
        "tags": [None if rnd.random() < 0.1
                 else [rnd.choice("xyz") for _ in range(rnd.randrange(4))] for _ in range(rows)],
    }, schema={"x": pl.Float64, "n": pl.Int64, "few": pl.Int64, "s": pl.String,
               "b": pl.Boolean, "tags": pl.List(pl.String)})


def _values(col: list) -> list:
    return [v for v in col if v is not None and not (isinstance(v, float) and v != v)]


def _check_numeric(entry: dict, values: list) -> None:
    assert entry["kind"] == "numeric"
    edges = entry["edges"]
    assert edges == sorted(set(edges)) and len(edges) <= 9
    want_edges = sorted({0.0 if q == 0 else q for q in entry["quantiles"] if q is not None})
    assert [float(e) for e in edges] == want_edges
    bins = Counter(bisect.bisect_right(edges, v) for v in values)  # bucketize: edges <= v
    assert entry["bin_counts"] == [bins.get(i, 0) for i in range(len(edges) + 1)]
    assert sum(entry["bin_counts"]) == entry["count"] == len(values)


def _check_top(entry: dict, values: list, limit: int) -> None:
    assert entry["kind"] == "categorical"
    counts = Counter(values)
    want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    assert [tuple(p) for p in entry["top"]] == want
    assert entry["other_count"] == len(values) - sum(n for _, n in want)


@pytest.fixture(scope="module")
def fitted():
    df = _data()
    return df, fd.compile(SPEC).fit(df)


def test_numeric_bins_are_exact_bucketize_counts(fitted):
    df, spec = fitted
    p = spec.profile
    _check_numeric(p["inputs"]["x"], _values(df["x"].to_list()))
    _check_numeric(p["inputs"]["n"], _values(df["n"].to_list()))
    assert all(type(e) is int for e in p["inputs"]["n"]["edges"])  # int bins stay ints
    out = spec.transform(df)
    _check_numeric(p["features"]["x2"], _values(out["x2"].to_list()))


def test_categorical_top_and_other_count(fitted):
    df, spec = fitted
    p = spec.profile
    _check_top(p["inputs"]["s"], _values(df["s"].to_list()), prof.TOP)
    assert p["inputs"]["s"]["other_count"] > 0  # 150 words: some fall outside the top 100
    _check_top(p["inputs"]["few"], _values(df["few"].to_list()), prof.INT_CATEGORIES)
    assert "edges" not in p["inputs"]["few"]
    _check_top(p["inputs"]["b"], _values(df["b"].to_list()), 2)
    _check_top(p["features"]["s_up"], _values(spec.transform(df)["s_up"].to_list()), prof.TOP)


def test_ints_with_33_values_are_numeric():
    df = pl.DataFrame({"k": list(range(33)) * 3})
    spec = fd.compile("input { k: int }\nfeature f = k\n")
    p = spec.fit(df).profile["inputs"]["k"]
    _check_numeric(p, df["k"].to_list())
    p = spec.fit(df.filter(pl.col("k") < 32)).profile["inputs"]["k"]
    _check_top(p, df.filter(pl.col("k") < 32)["k"].to_list(), 32)


def test_lists_are_profiled_by_length(fitted):
    df, spec = fitted
    entry = spec.profile["inputs"]["tags"]
    lengths = [len(v) for v in df["tags"].to_list() if v is not None]
    assert entry["length"]["type"] == "int?" and entry["length"]["count"] == len(lengths)
    _check_top(entry["length"], lengths, prof.INT_CATEGORIES)
    words = [len(v) for v in spec.transform(df)["words"].to_list() if v is not None]
    _check_top(spec.profile["features"]["words"]["length"], words, prof.INT_CATEGORIES)


def test_the_profile_is_chunk_and_order_independent(fitted, tmp_path: Path):
    df, spec = fitted
    path = tmp_path / "d.parquet"
    df.sample(fraction=1.0, shuffle=True, seed=3).write_parquet(path, row_group_size=101)
    again = fd.compile(SPEC).fit(str(path))
    assert json.dumps(again.profile, sort_keys=True) == json.dumps(spec.profile,
                                                                   sort_keys=True)


def test_fit_without_profile(tmp_path: Path):
    df = _data(500)
    spec = fd.compile(SPEC + "feature z = (x - mean(x)) / std(x)\n")
    full, bare = spec.fit(df), spec.fit(df, profile=False)
    assert bare.profile == {} and bare.stats == full.stats
    bare.save(tmp_path / "a.json")
    back = fd.load(tmp_path / "a.json")
    assert back.profile == {} and back.transform(df).equals(full.transform(df))
    with pytest.raises(fd.InputError, match="profile= must be True or False"):
        spec.fit(df, profile="no")  # type: ignore[arg-type]


def _rewrite(path: Path, change) -> None:
    from featuredsl import artifact

    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    doc.pop("integrity")
    doc["integrity"] = {"sha256": artifact.integrity_digest(doc)}
    path.write_text(json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["inputs"]["x"]["bin_counts"].append(0), "bin_counts"),
    (lambda p: p["inputs"]["x"].update(bin_counts=[1] * len(p["inputs"]["x"]["bin_counts"])),
     "add up"),
    (lambda p: p["inputs"]["x"]["edges"].reverse(), "strictly increasing"),
    (lambda p: p["inputs"]["s"].update(other_count=p["inputs"]["s"]["other_count"] + 1),
     "do not add up"),
    (lambda p: p["inputs"]["s"].update(kind="fancy"), "unknown `kind`"),
    (lambda p: p["inputs"]["tags"]["length"].update(count=-1), "non-negative"),
])
def test_a_tampered_profile_is_refused(fitted, tmp_path: Path, change, message):
    _, spec = fitted
    path = tmp_path / "a.json"
    spec.save(path)
    _rewrite(path, lambda d: change(d["profile"]))
    with pytest.raises(ArtifactError, match=message):
        fd.load(path)


def test_a_format_1_artifact_still_loads(fitted, tmp_path: Path):
    # what featuredsl wrote before the monitoring parts: no kind, bins, other_count or length
    df, spec = fitted
    path = tmp_path / "a.json"
    spec.save(path)

    def strip(d: dict) -> None:
        d["format_version"] = 1
        for part in ("inputs", "features"):
            for entry in d["profile"][part].values():
                for k in ("kind", "edges", "bin_counts", "other_count", "length"):
                    entry.pop(k, None)
    _rewrite(path, strip)
    old = fd.load(path)
    assert "kind" not in old.profile["inputs"]["x"]
    assert old.transform(df).equals(spec.transform(df))


@pytest.mark.parametrize("distinct", [1, 2, 5, 32, 33, 400])
def test_int_deciles_from_the_counts_equal_the_selected_ones(distinct: int):
    """An int column of at most 32 distinct values takes its deciles from its value counts
    (no selection pass), one of more from the selection passes: either way the 'lower'
    deciles of the sorted values, with nulls and int64 extremes among the values."""
    rnd = random.Random(distinct)
    pool = [-(2**63), 2**63 - 1, 0, -1, 7][:distinct] + list(range(100, 100 + distinct - 5))
    vals = [None if rnd.random() < 0.1 else rnd.choice(pool) for _ in range(997)]
    spec = fd.compile("input { k: int? }\nfeature f = k\n")
    p = spec.fit(pl.DataFrame({"k": vals}, schema={"k": pl.Int64})).profile["inputs"]["k"]
    xs = sorted(v for v in vals if v is not None)
    assert p["quantiles"] == [float(xs[(len(xs) - 1) * i // 10]) for i in range(1, 10)]
    assert (p["min"], p["max"]) == (xs[0], xs[-1])
    assert p["kind"] == ("categorical" if len(set(xs)) <= prof.INT_CATEGORIES else "numeric")


def test_an_all_null_int_column_has_no_deciles():
    spec = fd.compile("input { k: int? }\nfeature f = k\n")
    p = spec.fit(pl.DataFrame({"k": [None, None]}, schema={"k": pl.Int64})).profile
    assert p["inputs"]["k"]["quantiles"] == [None] * 9 and p["inputs"]["k"]["count"] == 0


def test_an_int_column_with_few_values_in_its_first_rows_is_still_counted():
    """The first rows only prove many values (fit/profile.py): when they hold few, every
    value is counted, so a column with 5 values in its first 20,000 rows and 40 more after
    them is numeric, and one with 5 values throughout categorical."""
    from featuredsl.fit.top import SAMPLE

    head = [i % 5 for i in range(SAMPLE + 10)]
    tails = (([1000 + i % 40 for i in range(400)], "numeric"), ([3] * 400, "categorical"))
    for tail, kind in tails:
        vals = head + tail
        spec = fd.compile("input { k: int }\nfeature f = k\n")
        p = spec.fit(pl.DataFrame({"k": vals})).profile["inputs"]["k"]
        xs = sorted(vals)
        assert p["kind"] == kind
        assert p["quantiles"] == [float(xs[(len(xs) - 1) * i // 10]) for i in range(1, 10)]
