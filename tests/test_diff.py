"""``fd.diff`` and ``featuredsl diff``: meaning compared on the IR, values compared on data.

Expected kinds come from the edit each test makes (the test knows what it changed); values on
data are checked against both sides' own ``transform`` computed here independently.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from featuredsl.syntax.format import format_source
from tests.test_cli_data import cli
from tests.test_fmt import FILES, _parses, _test_string_specs

ROOT = Path(__file__).parents[1]
EXAMPLE = (ROOT / "examples" / "transactions.feat").read_text(encoding="utf-8")

BASE = """\
input {
  x:    float?
  n:    int
  cat:  string
}
stat x_mean = mean(x)
stat x_std  = std(x)
stat cats   = vocab(cat)
let scaled = x * 2
## doubled x
feature doubled  = scaled
feature plus     = scaled + n
feature z        = (x - x_mean) / x_std
feature cat_idx  = index_of(cat, cats) ?? -1
feature log_n    = log1p(n)
"""


def _kinds(old: str, new: str) -> dict[str, str]:
    return fd.diff(fd.compile(old), fd.compile(new)).features


def _compiles(text: str) -> bool:
    try:
        fd.compile(text)
    except fd.SpecError:
        return False
    return True


# ------------------------------------------------------------------------------ meaning


def test_formatting_only_rewrites_change_nothing() -> None:
    """Every spec of the test suite and the examples, reformatted by fmt: unchanged."""
    texts = [p.read_text(encoding="utf-8") for p in FILES] + _test_string_specs()
    checked = 0
    for text in texts:
        if not _parses(text) or not _compiles(text):
            continue
        d = fd.diff(fd.compile(text), fd.compile(format_source(text)))
        assert set(d.features.values()) <= {"unchanged", "formatting_only"}, (text, d.features)
        assert not d.breaking
        checked += 1
    assert checked >= 20


def test_shuffled_declarations_and_renamed_lets_are_formatting_only() -> None:
    head, rest = BASE.split("stat x_mean")
    decls = ("stat x_mean" + rest).replace("## doubled x\n", "## doubled x\x00").splitlines()
    # lets and statistics moved after the features, features in reverse order, docs kept
    shuffled = head + "\n".join(d.replace("\x00", "\n") for d in
                                 decls[4:][::-1] + decls[:4][::-1]) + "\n"
    d = fd.diff(fd.compile(BASE), fd.compile(shuffled))
    assert set(d.features.values()) == {"unchanged"}
    assert d.order_changed and d.breaking  # a model reads features by position
    renamed_let = BASE.replace("let scaled", "let twice").replace("= scaled", "= twice") \
        .replace("scaled + n", "twice + n")
    kinds = _kinds(BASE, renamed_let)
    assert kinds["doubled"] == kinds["plus"] == "formatting_only"
    assert {kinds[f] for f in ("z", "cat_idx", "log_n")} == {"unchanged"}
    assert not fd.diff(fd.compile(BASE), fd.compile(renamed_let)).breaking
    assert _kinds(BASE, BASE.replace("## doubled x", "## x, doubled"))["doubled"] == "doc_only"


@pytest.mark.parametrize(("old", "new", "feature"), [
    ("feature log_n    = log1p(n)", "feature log_n    = log(n)", "log_n"),
    ("feature plus     = scaled + n", "feature plus     = scaled - n", "plus"),
    ("?? -1", "?? -2", "cat_idx"),
    ("(x - x_mean) / x_std", "(x - x_mean) / x_std / 2", "z"),
])
def test_one_token_edits_change_exactly_one_feature(old: str, new: str, feature: str) -> None:
    assert old in BASE
    kinds = _kinds(BASE, BASE.replace(old, new))
    assert kinds[feature] == "definition_changed"
    assert {k for f, k in kinds.items() if f != feature} == {"unchanged"}


def test_a_let_change_reaches_exactly_its_features() -> None:
    d = fd.diff(fd.compile(BASE), fd.compile(BASE.replace("let scaled = x * 2",
                                                          "let scaled = x * 3")))
    assert d.features == {"doubled": "indirectly_changed", "plus": "indirectly_changed",
                          "z": "unchanged", "cat_idx": "unchanged", "log_n": "unchanged"}
    assert {c.name: c.path for c in d.changes if c.path} == {
        "doubled": ["let scaled"], "plus": ["let scaled"]}
    # a statistic's definition and an input's type are paths too
    kinds = fd.diff(fd.compile(BASE), fd.compile(BASE.replace("stat x_std  = std(x)",
                                                              "stat x_std  = var(x)")))
    assert kinds.features["z"] == "indirectly_changed"
    assert [c.path for c in kinds.changes if c.name == "z"] == [["stat x_std (definition)"]]


def test_type_nullability_and_renames() -> None:
    text = BASE + "feature n2 = n > 0\n"
    d = fd.diff(fd.compile(text), fd.compile(text.replace("  n:    int", "  n:    int?")))
    assert d.features["n2"] == "type_changed"  # bool -> bool?
    assert [c.new_type for c in d.changes if c.name == "n2"] == ["bool?"]
    assert d.features["log_n"] == "indirectly_changed"  # float? either way
    assert [c.path for c in d.changes if c.name == "log_n"] == [["input n: int -> int?"]]
    assert d.features["z"] == "unchanged"
    d = fd.diff(fd.compile(BASE), fd.compile(BASE.replace("feature log_n ", "feature log_count")))
    assert d.features["log_count"] == "renamed"
    assert [c.old_name for c in d.changes if c.kind == "renamed"] == ["log_n"]
    assert "log_n" not in d.features
    d = fd.diff(fd.compile(BASE), fd.compile(BASE + "feature extra = n + 1\n"))
    assert d.features["extra"] == "added" and not d.breaking and d.any_change
    d = fd.diff(fd.compile(BASE), fd.compile(BASE.replace("feature log_n    = log1p(n)\n", "")))
    assert d.features["log_n"] == "removed" and d.breaking


def test_the_input_contract() -> None:
    narrower = BASE.replace("  x:    float?", "  x:    float")
    d = fd.diff(fd.compile(BASE), fd.compile(narrower))
    assert [(i["input"], i["change"], i["narrows"]) for i in d.inputs] == \
        [("x", "now_required", True)]
    assert d.breaking
    wider = fd.diff(fd.compile(narrower), fd.compile(BASE))
    assert [(i["input"], i["change"], i["narrows"]) for i in wider.inputs] == \
        [("x", "now_nullable", False)]
    needs_more = BASE.replace("  cat:  string\n", "  cat:  string\n  y: int\n") \
        + "feature y2 = y * 2\n"
    d = fd.diff(fd.compile(BASE), fd.compile(needs_more))
    assert [(i["input"], i["change"], i["narrows"]) for i in d.inputs] == \
        [("y", "added", True)]
    assert d.breaking  # added features alone would not be; a new required input is


# ------------------------------------------------------------------------------ artifacts


def _train(seed: int, shift: float = 0.0, cats: tuple[str, ...] = ("a", "b", "c")
           ) -> pl.DataFrame:
    rng = random.Random(seed)
    n = 2000
    return pl.DataFrame({
        "x": [None if rng.random() < 0.05 else rng.gauss(10 + shift, 3) for _ in range(n)],
        "n": [rng.randrange(0, 50) for _ in range(n)],
        "cat": [rng.choice(cats) for _ in range(n)],
    })


def test_a_refit_changes_amount_z_values_but_not_log_amount() -> None:
    spec = fd.compile(BASE)
    old = spec.fit(_train(1))
    new = spec.fit(_train(2, shift=3.0, cats=("c", "b", "d", "d")))
    rows = _train(3)
    d = fd.diff(old, new, data=rows)
    assert d.features["z"] == "indirectly_changed"
    assert d.features["log_n"] == "unchanged"
    assert d.features["cat_idx"] == "indirectly_changed"
    # on data, against both sides' own transforms
    a, b = old.transform(rows), new.transform(rows)
    for f in ("z", "log_n", "cat_idx"):
        want = sum(1 for x, y in zip(a[f].to_list(), b[f].to_list(), strict=True) if x != y)
        assert d.data is not None and d.data["features"][f]["changed"] == want
    assert d.changed_rate["log_n"] == 0.0 and d.changed_rate["z"] > 0.9
    stats = {s["stat"]: s for s in d.statistics}
    old_std = old.stats["x_std"]
    assert stats["x_mean"]["shift_in_old_std"] == pytest.approx(
        (new.stats["x_mean"] - old.stats["x_mean"]) / old_std)
    assert stats["x_std"]["ratio"] == pytest.approx(new.stats["x_std"] / old_std)
    # vocabularies: most frequent first; entries added, removed and re-indexed
    vo, vn = list(old.stats["cats"]), list(new.stats["cats"])
    assert set(stats["cats"]["added"]) == set(vn) - set(vo)
    assert set(stats["cats"]["removed"]) == set(vo) - set(vn)
    assert {r["value"] for r in stats["cats"]["reindexed"]} == {
        v for v in vn if v in vo and vo.index(v) != vn.index(v)}
    assert d.breaking


def test_an_equivalent_rewrite_changes_no_value() -> None:
    old = fd.compile(BASE).fit(_train(1))
    new = fd.compile(BASE.replace("let scaled = x * 2", "let scaled = x + x")).fit(_train(1))
    d = fd.diff(old, new, data=_train(4))
    assert d.features["doubled"] == "indirectly_changed"
    assert d.data is not None
    assert d.data["features"]["doubled"]["changed"] == 0
    assert d.data["features"]["doubled"]["note"] == \
        "definition changed, same values on these 2,000 rows"
    assert "definition changed, same values on these 2,000 rows" in d.to_text()


def test_null_transitions_deltas_and_transitions() -> None:
    text = BASE + 'feature label = if x > 10 then "hi" else "lo"\n'
    old = fd.compile(text).fit(_train(1))
    new = fd.compile(text.replace("x > 10", "x > 12").replace(
        "feature log_n    = log1p(n)", "feature log_n    = if n > 40 then null else log1p(n)")
    ).fit(_train(1))
    rows = _train(5)
    d = fd.diff(old, new, data=rows)
    assert d.data is not None
    f = d.data["features"]
    xs = rows["x"].to_list()
    moved = sum(1 for x in xs if x is not None and 10 < x <= 12)
    assert f["label"]["top_transitions"] == [{"old": "hi", "new": "lo", "rows": moved}]
    assert f["log_n"]["became_null"] == sum(1 for n in rows["n"].to_list() if n > 40)
    assert f["log_n"]["changed"] == f["log_n"]["became_null"]


# ------------------------------------------------------------------------------ outputs and CLI


def test_outputs_are_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    old, new = tmp_path / "old.feat", tmp_path / "new.feat"
    old.write_text(BASE, encoding="utf-8")
    new.write_text(BASE.replace("x * 2", "x * 3").replace("feature log_n ", "feature log_c "),
                   encoding="utf-8")
    outs = set()
    for seed in ("0", "1", "12345"):
        for fmt in ("text", "json", "github"):
            r = subprocess.run([sys.executable, "-m", "featuredsl", "diff", str(old), str(new),
                                "--format", fmt], capture_output=True, text=True,
                               env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120)
            assert r.returncode == 1, r.stderr
            outs.add((fmt, r.stdout))
    assert len(outs) == 3
    plan = next(o for f, o in outs if f == "text")
    assert "  ~ doubled" in plan and "  > log_n -> log_c" in plan and "breaking: yes" in plan
    data = json.loads(next(o for f, o in outs if f == "json"))
    assert data["breaking"] is True
    assert "| `>` | `log_n -> log_c` | renamed |" in next(o for f, o in outs if f == "github")


def test_cli_exit_codes(tmp_path: Path) -> None:
    old, added, changed = (tmp_path / f"{n}.feat" for n in ("old", "added", "changed"))
    old.write_text(BASE, encoding="utf-8")
    added.write_text(BASE + "feature extra = n + 1\n", encoding="utf-8")
    changed.write_text(BASE.replace("log1p(n)", "log(n)"), encoding="utf-8")
    assert cli("diff", str(old), str(old), check=0).stdout.count("unchanged") >= 5
    cli("diff", str(old), str(added), check=0)
    cli("diff", str(old), str(added), "--fail-on", "any", check=1)
    cli("diff", str(old), str(changed), check=1)
    cli("diff", str(old), str(changed), "--fail-on", "never", check=0)


def test_cli_with_data_and_artifacts(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text(BASE, encoding="utf-8")
    _train(1).write_parquet(tmp_path / "a.parquet")
    _train(2, shift=1.0).write_parquet(tmp_path / "b.parquet")
    for name in ("a", "b"):
        cli("fit", str(spec), "--data", str(tmp_path / f"{name}.parquet"), "-o",
            str(tmp_path / f"{name}.json"), "-q")
    r = cli("diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--data",
            str(tmp_path / "a.parquet"), "--format", "json", check=1)
    out = json.loads(r.stdout)
    assert out["data"]["rows"] == 2000
    assert out["data"]["features"]["log_n"]["changed"] == 0
    assert out["data"]["features"]["z"]["changed"] > 0
    # a spec against its own artifact: the definitions are the same
    r = cli("diff", str(spec), str(tmp_path / "a.json"), check=0)
    assert "breaking: no" in r.stdout


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "good.feat"
    good.write_text(BASE, encoding="utf-8")
    bad = tmp_path / "bad.feat"
    bad.write_text(BASE.replace("log1p(n)", "log1p(nn)"), encoding="utf-8")
    r = cli("diff", str(good), str(bad), check=2)
    assert "unknown name `nn`" in r.stderr and "bad.feat:" in r.stderr
    r = cli("diff", str(good), str(tmp_path / "missing.feat"), check=2)
    assert "missing.feat" in r.stderr
    pl.DataFrame({"x": [1.0], "n": [1]}).write_parquet(tmp_path / "nocat.parquet")
    r = cli("diff", str(good), str(good), "--data", str(tmp_path / "nocat.parquet"), check=2)
    assert "cat" in r.stderr
    r = cli("diff", str(good), str(tmp_path / "x.txt"), check=2)
    assert ".feat spec or a .json artifact" in r.stderr
    # a spec with statistics has no values without its artifact
    r = cli("diff", str(good), str(good), "--data", str(tmp_path / "nocat.parquet"), check=2)
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("dtype", [pl.Float64, pl.Int64, pl.String, pl.Boolean])
def test_vectorized_comparison_equals_the_parity_equality(dtype: pl.DataType) -> None:
    """Polars' column comparison gives what the value-by-value parity comparison gives:
    nulls, -0.0 against 0.0, +-inf, int64 edges, non-ASCII and empty strings."""
    from featuredsl import diff_data

    rng = random.Random(3)
    pools = {pl.Float64: [None, 0.0, -0.0, 1.5, math.inf, -math.inf, 5e-324, -1e308],
             pl.Int64: [None, 0, -1, 2**63 - 1, -(2**63), 7],
             pl.String: [None, "", "é", "日本", "a", "A"],
             pl.Boolean: [None, True, False]}[dtype]
    a = pl.Series([rng.choice(pools) for _ in range(3000)], dtype=dtype)
    b = pl.Series([x if rng.random() < 0.5 else rng.choice(pools) for x in a.to_list()],
                  dtype=dtype)
    batch = pl.DataFrame({"a0": a, "b0": b})
    fast, slow = diff_data._Pair(), diff_data._Pair()
    diff_data._count(batch, [fast], 0)
    diff_data._compare_values(a, b, slow, 0)
    # in batches of any size (row numbers offset), the same report
    pieces = diff_data._Pair()
    offset = 0
    for size in (1, 7, 0, 500, 3000):
        diff_data._count(batch.slice(offset, size), [pieces], offset)
        offset += min(size, max(0, 3000 - offset))
    fast_e, slow_e, pieces_e = fast.entry(), slow.entry(), pieces.entry()
    for k in ("changed", "became_null", "was_null", "top_transitions"):
        assert fast_e[k] == slow_e[k] == pieces_e[k], k
    assert fast_e["changed"] > 0
    assert fast_e["largest_deltas"] == pieces_e["largest_deltas"]
    if dtype != pl.Float64:  # inf - inf has no order among equal deltas: compare the sets
        assert fast_e["largest_deltas"] == slow_e["largest_deltas"]


def test_diff_on_data_streams_a_file_in_batches(tmp_path: Path) -> None:
    """From a Parquet file (read batch by batch) and from the same rows in memory: the same
    report; a bad value far into the file is named with its row, as transform names it."""
    n = 300_000
    rows = pl.DataFrame({"x": [float(i % 1000) - 500.0 for i in range(n)],
                         "s": [("é", "b", "", None)[i % 4] for i in range(n)]},
                        schema={"x": pl.Float64, "s": pl.String})
    old = fd.compile("input { x: float, s: string? }\nfeature y = x * 2.0\n"
                     "feature t = upper(s)\nfeature z = x > 0.0\n")
    new = fd.compile("input { x: float, s: string? }\nfeature y = x + x + 1.0\n"
                     "feature t = lower(s)\nfeature z = x >= 0.0\n")
    path = tmp_path / "rows.parquet"
    rows.write_parquet(path, row_group_size=20_000)
    in_memory = fd.diff(old, new, data=rows).to_json()
    assert fd.diff(old, new, data=str(path)).to_json() == in_memory
    d = fd.diff(old, new, data=str(path))
    assert d.data is not None and d.data["rows"] == n
    assert d.data["features"]["y"]["changed"] == n
    assert d.data["features"]["z"]["changed"] == n // 1000  # x == 0.0
    # upper("é") "É" against lower("é") "é", "B" against "b"; "" and null are unchanged
    assert d.data["features"]["t"]["changed"] == n // 2
    assert d.data["features"]["t"]["top_transitions"] == [
        {"old": "B", "new": "b", "rows": n // 4}, {"old": "É", "new": "é", "rows": n // 4}]
    bad = rows.with_columns(x=pl.when(pl.int_range(n) == 250_001).then(None)
                            .otherwise(pl.col("x")))
    bad.write_parquet(path, row_group_size=20_000)
    with pytest.raises(fd.InputError) as err:
        fd.diff(old, new, data=str(path))
    assert "row 250001" in str(err.value) and "x" in str(err.value)
    assert str(err.value).startswith("old side:")


def test_lets_that_reuse_each_other_are_hashed_once() -> None:
    """A chain of lets each using the one before twice: fully inlined it would have 2**30
    nodes; the digest hashes each let once. Inlining a let by hand is still no change."""
    chain = "\n".join(f"let a{i} = a{i - 1} + a{i - 1}" for i in range(1, 31))
    text = f"input {{ x: float }}\nlet a0 = x\n{chain}\nfeature f = a30\nfeature g = a1\n"
    d = fd.diff(fd.compile(text), fd.compile(text.replace("let a0 = x", "let a0 = x * 2")))
    assert d.features == {"f": "indirectly_changed", "g": "indirectly_changed"}
    by_hand = text.replace("feature g = a1", "feature g = a0 + a0")
    assert fd.diff(fd.compile(text), fd.compile(by_hand)).features["g"] == "formatting_only"


def test_diff_on_data_with_window_sources() -> None:
    """Windowed specs compare on data with their sources: the changed counts are those of
    the two transforms compared row by row with the parity equality."""
    import datetime as dt

    from featuredsl.parity import same_value

    base = dt.datetime(2024, 5, 1)
    text = ("input {\n u: int\n t: timestamp\n time t\n}\n"
            "source e {\n u: int\n x: float?\n t: timestamp\n key u\n time t\n}\n"
            "feature n = count(e, over=1h)\nfeature s = sum(e.x, over=1h)\n")
    old = fd.compile(text)
    new = fd.compile(text.replace("sum(e.x, over=1h)", "sum(e.x, over=30m)"))
    rng = random.Random(5)
    rows = pl.DataFrame({"u": [rng.randrange(4) for _ in range(300)],
                         "t": [base + dt.timedelta(minutes=rng.randrange(600))
                               for _ in range(300)]})
    events = pl.DataFrame({"u": [rng.randrange(4) for _ in range(2000)],
                           "x": [rng.choice([None, 1.5, -2.0, math.inf]) for _ in range(2000)],
                           "t": [base + dt.timedelta(minutes=rng.randrange(600))
                                 for _ in range(2000)]})
    d = fd.diff(old, new, data=rows, sources={"e": events})
    a = old.transform(rows, sources={"e": events})["s"].to_list()
    b = new.transform(rows, sources={"e": events})["s"].to_list()
    want = sum(not same_value(x, y) for x, y in zip(a, b, strict=True))
    assert d.data is not None and d.data["rows"] == 300
    assert 0 < d.data["features"]["s"]["changed"] == want
    assert d.data["features"]["n"]["changed"] == 0
