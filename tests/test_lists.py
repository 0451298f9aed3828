"""Lists end to end (inputs, list-valued features, `get`/`length`/`contains`/`in`), the null
functions (`is_null`, `fill_null`, `nullif`), and lookups against fitted vocabularies, on the
row backend, `transform`, `transform_lazy` (in-memory and streaming) and after save/load.

Expected values are computed here in plain Python from the documented rules, independently of
both backends."""

from __future__ import annotations

import random

import polars as pl
import pytest

import featuredsl as fd
from featuredsl import ir
from tests.harness import assert_parity, frame_for, same_value, spec_of

# ------------------------------------------------------------------------------ references


def ref_get(xs: list | None, i: int | None) -> object:
    if xs is None or i is None:
        return None
    return xs[i] if -len(xs) <= i < len(xs) else None


def ref_index(xs: list | None, x: object) -> int | None:
    if xs is None or x is None:
        return None
    return next((k for k, v in enumerate(xs) if v is not None and v == x), None)


def ref_contains(xs: list | None, x: object) -> bool | None:
    if xs is None or x is None:
        return None
    return any(v is not None and v == x for v in xs)


def _all_paths(spec: fd.Spec, rows: list[dict]) -> list[list[dict]]:
    """Outputs of the row backend, transform, and transform_lazy (in-memory, streaming)."""
    ev = spec.row_evaluator()
    frame = frame_for(spec, rows)
    lazy = spec.transform_lazy(frame.lazy())
    return [[ev(r) for r in rows], spec.transform(frame).to_dicts(),
            lazy.collect().to_dicts(), lazy.collect(engine="streaming").to_dicts()]


def _assert_all_equal(spec: fd.Spec, rows: list[dict], want: list[dict] | None = None) -> None:
    paths = _all_paths(spec, rows)
    expected = want if want is not None else paths[0]
    for out in paths:
        assert len(out) == len(expected)
        for i, (got, exp) in enumerate(zip(out, expected, strict=True)):
            for name in spec.features:
                assert same_value(got[name], exp[name]), (i, name, got[name], exp[name], rows[i])


# ------------------------------------------------------------------------------ list functions

SRC = """
input {
  xs: list[int?]?
  ss: list[string]
  fs: list[float?]?
  i: int?
  x: int?
  s: string?
}
feature n = length(xs)
feature g = get(xs, i)
feature gs = get(ss, -1)
feature c = contains(xs, x)
feature ix = index_of(x, xs)
feature ixs = index_of(s, ss) ?? -1
feature m = s in ss
feature out = xs
feature fout = fs
feature lit = [1, 2, 3]
feature pick: list[float?]? = if x > 0 then xs else fs
"""

INT_EDGES = [0, 1, -1, 2, 3, -3, 4, -(2**63), 2**63 - 1, 2**62, -(2**62)]


def _random_rows(rng: random.Random, n: int) -> list[dict]:
    def elem() -> int | None:
        return rng.choice([None, 0, 1, 2, -5, 2**63 - 1, -(2**63)])

    rows = []
    for _ in range(n):
        rows.append({
            "xs": None if rng.random() < 0.2 else [elem() for _ in range(rng.randint(0, 4))],
            "ss": [rng.choice(["", "a", "é", "👍🏽", "A"]) for _ in range(rng.randint(0, 3))],
            "fs": None if rng.random() < 0.2 else [
                rng.choice([None, float("nan"), -0.0, 0.0, 1.5, float("inf")])
                for _ in range(rng.randint(0, 3))],
            "i": None if rng.random() < 0.1 else rng.choice(INT_EDGES),
            "x": rng.choice([None, 0, 1, 2, -5]),
            "s": rng.choice([None, "", "a", "é", "z"]),
        })
    return rows


def _expected(row: dict) -> dict:
    xs, ss, x = row["xs"], row["ss"], row["x"]
    fs = None if row["fs"] is None else [None if v is None or v != v else v for v in row["fs"]]
    pick = ([None if v is None else float(v) for v in xs] if xs is not None else None) \
        if x is not None and x > 0 else fs
    return {"n": None if xs is None else len(xs), "g": ref_get(xs, row["i"]),
            "gs": ref_get(ss, -1), "c": ref_contains(xs, x), "m": ref_contains(ss, row["s"]),
            "ix": ref_index(xs, x), "ixs": -1 if ref_index(ss, row["s"]) is None
            else ref_index(ss, row["s"]),
            "out": xs, "fout": fs, "lit": [1, 2, 3], "pick": pick}


@pytest.mark.parametrize("seed", range(4))
def test_list_functions_agree_everywhere_with_reference(seed: int) -> None:
    spec = fd.compile(SRC)
    rows = _random_rows(random.Random(seed), 40)
    _assert_all_equal(spec, rows, [_expected(r) for r in rows])


def test_one_row_frames_and_empty_frames() -> None:
    spec = fd.compile(SRC)
    rows = _random_rows(random.Random(9), 12)
    for r in rows:
        _assert_all_equal(spec, [r], [_expected(r)])
    assert spec.transform(frame_for(spec, [])).height == 0


def test_chunked_frames_give_the_same_lists() -> None:
    spec = fd.compile(SRC)
    rows = _random_rows(random.Random(3), 30)
    frame = frame_for(spec, rows)
    chunked = pl.concat([frame.slice(k, 7) for k in range(0, 30, 7)], rechunk=False)
    assert spec.transform(chunked).to_dicts() == spec.transform(frame).to_dicts()


def test_row_outputs_are_fresh_lists() -> None:
    spec = fd.compile("input {\n xs: list[int]\n}\nfeature a = xs\nfeature b = xs\n"
                      "feature c = [1, 2]\n")
    ev = spec.row_evaluator()
    row = {"xs": [1, 2]}
    out = ev(row)
    assert type(out["c"]) is list and out["a"] == [1, 2]
    out["a"].append(99)
    out["c"].append(99)
    assert out["b"] == [1, 2] and row["xs"] == [1, 2]
    assert ev(row)["c"] == [1, 2]


def test_row_accepts_tuples_and_numpy_arrays_as_lists() -> None:
    np = pytest.importorskip("numpy")
    spec = fd.compile("input {\n xs: list[float?]\n}\nfeature n = length(xs)\n"
                      "feature g = get(xs, 0)\n")
    ev = spec.row_evaluator()
    assert ev({"xs": (float("nan"), 2.0)}) == {"n": 2, "g": None}
    assert ev({"xs": np.array([1.5, np.nan])}) == {"n": 2, "g": 1.5}


def test_nan_inside_non_nullable_float_list_is_an_input_error() -> None:
    spec = fd.compile("input {\n xs: list[float]\n}\nfeature n = length(xs)\n")
    with pytest.raises(fd.InputError):
        spec.row_evaluator()({"xs": [1.0, float("nan")]})
    with pytest.raises(fd.InputError):
        spec.transform(pl.DataFrame({"xs": [[1.0, float("nan")]]}))


def test_batch_list_functions_are_vectorized() -> None:
    spec = fd.compile(SRC)
    plan = spec.transform_lazy(frame_for(spec, _random_rows(random.Random(1), 3)).lazy())
    text = plan.explain()
    assert "python" not in text.lower() and "map" not in text.lower(), text


# ------------------------------------------------------------------------------ nulls


@pytest.mark.parametrize(("alias", "operator"), [
    ("fill_null(x, 0)", "x ?? 0"), ("fill_null(x, y)", "x ?? y"),
    ("fill_null(x, 1.5)", "x ?? 1.5"), ("is_null(x)", "x is null"),
    ("is_null(x + y)", "(x + y) is null")])
def test_null_aliases_are_the_same_ir(alias: str, operator: str) -> None:
    types = {"x": "int?", "y": "int?"}
    a, b = spec_of(alias, types), spec_of(operator, types)
    assert a.program.features[0].expr.key() == b.program.features[0].expr.key()
    assert not any(isinstance(n, ir.Call) for n in ir.walk(a.program.features[0].expr)
                   if isinstance(n, ir.Call) and n.function.name in ("fill_null", "is_null"))


def test_fill_null_keeps_non_nullable_type() -> None:
    spec = fd.compile("input {\n x: int?\n}\nfeature y: int = fill_null(x, -1)\n")
    assert spec.row_evaluator()({"x": None}) == {"y": -1}


@pytest.mark.parametrize(("a", "b", "want"), [
    (0.0, -0.0, None), (-0.0, 0.0, None), (1.0, None, 1.0), (None, 1.0, None),
    (float("inf"), float("inf"), None), (float("-inf"), float("inf"), float("-inf")),
    (5e-324, 0.0, 5e-324), (float("nan"), 0.0, None)])
def test_nullif_floats(a: object, b: object, want: object) -> None:
    spec = spec_of("nullif(a, b)", {"a": "float?", "b": "float?"})
    out = assert_parity(spec, [{"a": a, "b": b}])[0]["out"]
    assert same_value(out, want), (a, b, out)


# ------------------------------------------------------------------------------ vocabularies

VOCAB_SRC = """
input {
  merchant: string?
  code: int?
  tags: list[string]?
}
stat merchants = vocab(merchant, top=3)
feature idx = index_of(merchant, merchants) ?? -1
feature known = merchant in merchants
feature unknown = merchant not in vocab(merchant, top=2)
feature code_idx = index_of(code, vocab(code, top=100))
feature code_known = code in vocab(code)
feature via_contains = contains(merchants, merchant)
feature tag_known = get(tags, 0) in merchants
feature literal = index_of(merchant, ["b", "a", "b"])
"""


def _train(n: int = 400) -> pl.DataFrame:
    rng = random.Random(5)
    merchants = [rng.choice(["a", "a", "a", "b", "b", "c", "d", None, "é", ""])
                 for _ in range(n)]
    return pl.DataFrame({
        "merchant": merchants,
        "code": [rng.choice([1, 1, 2, 3, None, -(2**63)]) for _ in range(n)],
        "tags": [None if rng.random() < 0.2 else [rng.choice(["a", "z", "c"])] for _ in range(n)],
    }, schema={"merchant": pl.String, "code": pl.Int64, "tags": pl.List(pl.String)})


def _vocab(values: list, top: int) -> list:
    counts: dict = {}
    for v in values:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:top]


def _vocab_expected(row: dict, train: pl.DataFrame) -> dict:
    m3 = _vocab(train["merchant"].to_list(), 3)
    m2 = _vocab(train["merchant"].to_list(), 2)
    codes = _vocab(train["code"].to_list(), 100)
    codes_all = _vocab(train["code"].to_list(), 1000)
    m, c, tags = row["merchant"], row["code"], row["tags"]
    first = ref_get(tags, 0)
    return {
        "idx": m3.index(m) if m in m3 else -1,
        "known": None if m is None else m in m3,
        "unknown": None if m is None else m not in m2,
        "code_idx": codes.index(c) if c in codes else None,
        "code_known": None if c is None else c in codes_all,
        "via_contains": None if m is None else m in m3,
        "tag_known": None if first is None else first in m3,
        "literal": {"b": 0, "a": 1}.get(m) if m is not None else None,
    }


def test_lookups_against_fitted_vocabularies_after_fit_and_after_load(tmp_path) -> None:
    train = _train()
    fitted = fd.compile(VOCAB_SRC).fit(train)
    rows = [*_train(60).to_dicts(), {"merchant": "zzz", "code": 42, "tags": ["a"]},
            {"merchant": None, "code": None, "tags": None}]
    want = [_vocab_expected(r, train) for r in rows]
    _assert_all_equal(fitted, rows, want)
    path = tmp_path / "vocab.featpack.json"
    fitted.save(path)
    loaded = fd.load(path)
    _assert_all_equal(loaded, rows, want)


def test_constant_lookups_bind_their_table_once() -> None:
    """The row evaluator tests membership against a frozenset / dict bound in its globals (not
    a tuple scanned per row), and the batch plan uses vectorized lookups."""
    fitted = fd.compile(VOCAB_SRC).fit(_train())
    source = fitted.row_evaluator().source
    assert "_index_" in source
    members = [line for line in source.splitlines() if " in _" in line]
    assert len(members) == 5, source  # known, unknown, code_known, via_contains, tag_known
    for line in members:
        assert line.split(" in ")[-1].strip().startswith("_set_"), line
    plan = fitted.transform_lazy(_train(5).lazy()).explain().lower()
    assert "python" not in plan and "map_elements" not in plan


def test_profile_of_list_features_is_count_and_nulls(tmp_path) -> None:
    """The training profile of a list-valued feature holds its count and nulls only (no
    min/max/top of lists); list features survive save and load."""
    spec = fd.compile(SRC)
    rows = _random_rows(random.Random(11), 30)
    fitted = spec.fit(frame_for(spec, rows))
    prof = fitted.profile["features"]["out"]
    assert prof["count"] == sum(r["xs"] is not None for r in rows)
    assert prof["null_count"] == sum(r["xs"] is None for r in rows)
    assert "mean" not in prof and "top" not in prof
    fitted.save(tmp_path / "lists.json")
    _assert_all_equal(fd.load(tmp_path / "lists.json"), rows, [_expected(r) for r in rows])


def test_int_vocab_promoted_to_float_list() -> None:
    """A fitted int vocabulary used where a float list is needed is converted once (row) and
    cast (batch): `(1, 2)` and `(1.0, 2.0)` are different constants to the code generator."""
    spec = fd.compile("input {\n i: int\n f: float?\n}\nfeature a = index_of(f, vocab(i))\n"
                      "feature b = f in vocab(i)\nfeature c = contains(vocab(i), f)\n"
                      "feature d: list[float] = vocab(i)\nfeature e = vocab(i)\n"
                      "feature g = if f > 0 then vocab(i) else [0.5]\n")
    train = pl.DataFrame({"i": [1, 2, 2, 3], "f": [2.0, -0.0, None, 3.5]})
    fitted = spec.fit(train)
    rows = train.to_dicts()
    want = [{"a": {2.0: 0, 1.0: 1, 3.0: 2}.get(r["f"]) if r["f"] is not None else None,
             "b": None if r["f"] is None else r["f"] in (1.0, 2.0, 3.0),
             "c": None if r["f"] is None else r["f"] in (1.0, 2.0, 3.0),
             "d": [2.0, 1.0, 3.0], "e": [2, 1, 3],
             "g": [2.0, 1.0, 3.0] if r["f"] is not None and r["f"] > 0 else [0.5]}
            for r in rows]
    _assert_all_equal(fitted, rows, want)
    out = fitted.row_evaluator()(rows[0])
    assert type(out["d"]) is list and type(out["e"]) is list and type(out["d"][0]) is float
