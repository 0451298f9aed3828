"""featuredsl.sklearn.FeatureTransformer: scikit-learn's conventions, checked against
independent computations and scikit-learn's own estimator checks."""

from __future__ import annotations

import math
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xxhash

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError as SkNotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import featuredsl as fd  # noqa: E402
from featuredsl.errors import InputError  # noqa: E402
from featuredsl.matrix import LayoutError  # noqa: E402
from featuredsl.sklearn import FeatureTransformer, TransformerInputError  # noqa: E402

SPEC = """
input { c: string?, x: float?, i: int, b: bool?, y: float? }
feature oh = one_hot(c, ["AA", "é", ""], oov=1)
feature xx = x
feature ii = i
feature bb = b
feature te = mean(y, by=c) ?? -1.0
"""
I64 = [2**63 - 1, -2**63, 2**53 + 1, 0, 7, -1]
DATA = pl.DataFrame({
    "c": ["AA", None, "é", "", "zz", "AA"],
    "x": [1.5, None, math.inf, -math.inf, math.nan, -0.0],
    "i": I64,
    "b": [True, None, False, True, None, False],
    "y": [1.0, 2.0, 4.0, None, 8.0, 3.0],
}, schema={"c": pl.String, "x": pl.Float64, "i": pl.Int64, "b": pl.Boolean, "y": pl.Float64})


def _expected(data: pl.DataFrame, train: pl.DataFrame) -> np.ndarray:
    """The matrix computed by hand from the raw columns: one-hot slots, NaN for nulls (and NaN
    in, which is a null), bools 0/1, the per-group training mean of y or -1."""
    means: dict[str, float] = {}
    for g in set(train["c"].drop_nulls()):
        ys = [y for c, y in zip(train["c"], train["y"], strict=True)
              if c == g and y is not None and not math.isnan(y)]
        if ys:
            means[g] = math.fsum(ys) / len(ys)
    rows = []
    for r in data.to_dicts():
        c = r["c"]
        oh = [math.nan] * 4 if c is None else \
            [float(c == "AA"), float(c == "é"), float(c == ""), float(c not in ("AA", "é", ""))]
        x = r["x"]
        rows.append([*oh, math.nan if x is None else x, float(r["i"]),
                     math.nan if r["b"] is None else float(r["b"]),
                     means.get(c, -1.0) if c is not None else -1.0])
    return np.array(rows, dtype=np.float64)


def test_transform_against_independent_computation() -> None:
    t = FeatureTransformer(SPEC).fit(DATA)
    got = t.transform(DATA)
    assert got.dtype == np.float64 and got.shape == (DATA.height, 8)
    np.testing.assert_array_equal(got, _expected(DATA, DATA))
    assert list(t.get_feature_names_out()) == [
        "oh[AA]", "oh[é]", "oh[]", "oh[<oov>]", "xx", "ii", "bb", "te"]
    assert t.n_features_in_ == 5 and list(t.feature_names_in_) == list(DATA.columns)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_row_equals_the_row_evaluator_vector(dtype: str) -> None:
    t = FeatureTransformer(SPEC, dtype=dtype).fit(DATA)  # type: ignore[arg-type]
    m = t.transform(DATA)
    vec = t.spec_.row_evaluator(layout="vector", dtype=dtype)  # type: ignore[arg-type]
    assert m.dtype == np.dtype(dtype)
    for k, row in enumerate(DATA.to_dicts()):
        assert vec(row).tobytes() == m[k].tobytes()


def test_pandas_pyarrow_and_array_inputs_give_the_same_bytes() -> None:
    t = FeatureTransformer(SPEC).fit(DATA)
    ref = t.transform(DATA).tobytes()
    assert t.transform(DATA.to_pandas()).tobytes() == ref
    assert t.transform(DATA.to_arrow()).tobytes() == ref
    assert t.transform(DATA.lazy()).tobytes() == ref
    lazy = FeatureTransformer(SPEC, target="y").fit(DATA.drop("y").lazy(), DATA["y"])
    assert lazy.transform(DATA).tobytes() == ref and lazy.n_features_in_ == 4
    assert FeatureTransformer(SPEC).fit(DATA.to_pandas()).transform(DATA).tobytes() == ref
    with pytest.raises(InputError, match="column `b`, row 0: expected int, got float"):
        FeatureTransformer("input { b: int }\nfeature t = b\n").fit(np.array([[2.0]]))
    num = "input { a: float?, b: float, c: float? }\nfeature s = a + c\nfeature t = b * 2.0\n"
    arr = np.array([[1.0, 2, 3.5], [np.nan, -4, 0.25]])
    tn = FeatureTransformer(num).fit(arr)  # columns are the declared inputs, in order
    assert not hasattr(tn, "feature_names_in_") and tn.array_inputs_ == ["a", "b", "c"]
    np.testing.assert_array_equal(tn.transform(arr), [[4.5, 4.0], [np.nan, -8.0]])
    with pytest.raises(TransformerInputError, match=r"X has 2 features, but .* expecting 3"):
        tn.transform(arr[:, :2])
    with pytest.raises(ValueError, match="expecting 3"):  # scikit-learn's convention
        tn.transform(arr[:, :2])


def test_array_after_a_frame_reads_the_frame_columns_and_warns() -> None:
    num = "input { a: float?, b: float? }\nfeature d = a - b\n"
    t = FeatureTransformer(num).fit(pl.DataFrame({"b": [1.0, 2.0], "a": [5.0, 7.0]}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        got = t.transform(np.array([[1.0, 5.0]]))  # columns b, a: those seen at fit
    assert got.tolist() == [[4.0]]


@pytest.mark.parametrize(("X", "words"), [
    ({"a": [1.0]}, "got dict"), ("train.parquet", "pl.scan_parquet"),
    (5, "Expected 2D array"), (np.array([1.0, 2.0]), "Expected 2D array")])
def test_unsupported_x_is_a_clear_value_error(X: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FeatureTransformer("input { a: float? }\nfeature s = a\n").fit(X)


def test_serving_frame_without_the_label() -> None:
    t = FeatureTransformer(SPEC).fit(DATA)
    np.testing.assert_array_equal(t.transform(DATA.drop("y")), _expected(DATA, DATA))


def test_set_output() -> None:
    t = FeatureTransformer(SPEC).fit(DATA)
    names = list(t.get_feature_names_out())
    pdf = DATA.to_pandas()
    pdf.index = pd.Index([10, 11, 12, 13, 14, 15])
    out = t.set_output(transform="pandas").transform(pdf)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    np.testing.assert_array_equal(out.to_numpy(), _expected(DATA, DATA))
    out = t.set_output(transform="polars").transform(DATA)
    assert isinstance(out, pl.DataFrame) and out.columns == names
    np.testing.assert_array_equal(out.to_numpy(), _expected(DATA, DATA))
    ft = FeatureTransformer(SPEC).set_output(transform="polars").fit_transform(DATA)
    assert isinstance(ft, pl.DataFrame) and ft.columns == names
    assert isinstance(t.set_output(transform="default").transform(DATA), np.ndarray)


def test_feature_names_out_input_features() -> None:
    t = FeatureTransformer(SPEC).fit(DATA)
    assert list(t.get_feature_names_out(list(DATA.columns))) == list(t.get_feature_names_out())
    with pytest.raises(ValueError, match="feature_names_in_"):
        t.get_feature_names_out(["c", "x"])


def test_clone_keeps_parameters_and_nothing_else(tmp_path: Path) -> None:
    t = FeatureTransformer(SPEC, folds=3, seed=9, fold_by="i", dtype="float32", target=None)
    t.fit(DATA)
    c = clone(t)
    assert c.get_params() == t.get_params() and not hasattr(c, "spec_")
    with pytest.raises(SkNotFittedError):
        c.transform(DATA)
    assert FeatureTransformer("not a spec").get_params()["spec"] == "not a spec"  # lazy


def test_spec_from_a_path(tmp_path: Path) -> None:
    p = tmp_path / "m.feat"
    p.write_text(SPEC, encoding="utf-8")
    ref = FeatureTransformer(SPEC).fit(DATA).transform(DATA).tobytes()
    assert FeatureTransformer(p).fit(DATA).transform(DATA).tobytes() == ref
    assert FeatureTransformer(str(p)).fit(DATA).transform(DATA).tobytes() == ref
    with pytest.raises(fd.FeatureDSLError, match="no such file"):
        FeatureTransformer(str(tmp_path / "nope.feat")).fit(DATA)


def test_pickle_round_trip_through_the_artifact() -> None:
    t = FeatureTransformer(SPEC).fit(DATA)
    blob = pickle.dumps(t)
    assert b"lambda" not in blob
    back = pickle.loads(blob)
    assert back.transform(DATA).tobytes() == t.transform(DATA).tobytes()
    assert back.get_params() == t.get_params()


def _fold(i: int, folds: int, seed: int) -> int:  # the documented rule, written again
    return xxhash.xxh64_intdigest(struct.pack("<q", i), seed=seed) % folds


def _grouped_data(n: int = 90) -> pl.DataFrame:
    rng = np.random.default_rng(4)
    g = rng.choice(["a", "b", "é", ""], n).tolist()
    g[5] = None
    y = rng.integers(0, 2, n).astype(float).tolist()
    return pl.DataFrame({"g": g, "v": rng.normal(size=n), "y": y},
                        schema={"g": pl.String, "v": pl.Float64, "y": pl.Float64})


TE_SPEC = "input { g: string?, v: float?, y: float? }\n" \
          "feature te = mean(y, by=g) ?? 0.5\nfeature vv = v\n"


def test_fit_transform_out_of_fold_by_recomputation() -> None:
    data = _grouped_data()
    t = FeatureTransformer(TE_SPEC, folds=4, seed=11)
    train = t.fit_transform(data)
    g, y = data["g"].to_list(), data["y"].to_list()
    fold = [_fold(i, 4, 11) for i in range(data.height)]
    for i in range(data.height):
        others = [y[k] for k in range(data.height) if g[k] == g[i] and fold[k] != fold[i]]
        exp = 0.5 if g[i] is None or not others else math.fsum(others) / len(others)
        assert train[i, 0] == exp, i
    # transform on any data uses the statistics of every row
    full = pd.DataFrame({"g": g, "y": y}).groupby("g")["y"].mean().to_dict()
    test = t.transform(data)
    assert test[:, 0].tolist() == [0.5 if v is None else full[v] for v in g]
    # the same as Spec.fit_transform, and stable across runs
    _, out = fd.compile(TE_SPEC).fit_transform(data, folds=4, seed=11)
    assert train.tobytes() == out.to_numpy().astype(np.float64).tobytes()
    assert clone(t).fit_transform(data).tobytes() == train.tobytes()
    # without folds, fit_transform is fit then transform
    plain = FeatureTransformer(TE_SPEC)
    assert plain.fit_transform(data).tobytes() == test.tobytes()


def test_target_joins_y_as_the_label_column() -> None:
    data = _grouped_data()
    X, y = data.drop("y"), data["y"].to_numpy()
    t = FeatureTransformer(TE_SPEC, target="y")
    ref = FeatureTransformer(TE_SPEC).fit(data).transform(X)
    assert t.fit(X, y).transform(X).tobytes() == ref.tobytes()
    assert t.fit(X.to_pandas(), pd.Series(y)).transform(X).tobytes() == ref.tobytes()
    # an array X: the declared inputs without the target
    arr = np.array([[0.0, 1.0]])
    num = "input { a: float?, lab: float? }\nfeature m = a - mean(lab)\n"
    tn = FeatureTransformer(num, target="lab").fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 6.0])
    assert tn.array_inputs_ == ["a"] and tn.transform(arr[:, :1]).tolist() == [[-3.0]]
    with pytest.raises(TransformerInputError, match="pass the label once"):
        t.fit(data, y)
    with pytest.raises(TransformerInputError, match="one value per row"):
        t.fit(X, y[:-1])
    with pytest.raises(InputError, match="read by the features"):
        FeatureTransformer(TE_SPEC, target="v").fit(X, y)
    with pytest.raises(InputError, match="not a declared input"):
        FeatureTransformer(TE_SPEC, target="label").fit(X, y)


def test_parameter_errors_are_clear() -> None:
    data = _grouped_data()
    with pytest.raises(InputError, match="folds= must be"):
        FeatureTransformer(TE_SPEC, folds=1).fit_transform(data)
    with pytest.raises(InputError, match="set folds= too"):
        FeatureTransformer(TE_SPEC, fold_by="g").fit(data)
    with pytest.raises(InputError, match="fold_by=`k` is not a declared input"):
        FeatureTransformer(TE_SPEC, folds=3, fold_by="k").fit(data)
    with pytest.raises(fd.FeatureDSLError, match="dtype"):
        FeatureTransformer(TE_SPEC, dtype="int8").fit(data)  # type: ignore[arg-type]
    with pytest.raises(fd.SpecError):
        FeatureTransformer("feature = ").fit(data)
    with pytest.raises(fd.FeatureDSLError, match="spec's text or a path"):
        FeatureTransformer(3).fit(data)  # type: ignore[arg-type]
    with pytest.raises(LayoutError, match=r"`s`.*one_hot"):  # at fit, not at first transform
        FeatureTransformer("input { g: string? }\nfeature s = g\n").fit(data)
    with pytest.raises(InputError, match="column `v`"):
        FeatureTransformer(TE_SPEC).fit(data.with_columns(pl.col("v").cast(pl.String)))


def test_a_spec_with_window_sources_is_refused_clearly() -> None:
    spec = """
input {
  k: int
  ts: timestamp
  time ts
}
source ev {
  k: int
  ts: timestamp
  key k
  time ts
}
feature n = count(ev, over=7d)
"""
    with pytest.raises(InputError, match=r"event sources \(ev\).*Spec\.transform"):
        FeatureTransformer(spec).fit(pl.DataFrame({"k": [1]}))


def test_fold_by_groups_rows_of_one_key() -> None:
    data = _grouped_data().with_columns(k=pl.Series([i // 3 for i in range(90)]))
    spec = TE_SPEC.replace("y: float? }", "y: float?, k: int }")
    t = FeatureTransformer(spec, folds=3, fold_by="k")
    _, out = fd.compile(spec).fit_transform(data, folds=3, fold_by="k")
    assert t.fit_transform(data).tobytes() == out.to_numpy().astype(np.float64).tobytes()


def _classification(n: int = 240) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    g = rng.choice(["a", "b", "c", "d"], n)
    v = rng.normal(size=n)
    p = np.where(np.isin(g, ["a", "b"]), 0.8, 0.2)
    y = (rng.random(n) < p).astype(float)
    return pd.DataFrame({"g": g, "v": v}), y


def test_pipeline_with_a_real_estimator() -> None:
    X, y = _classification()
    pipe = Pipeline([("features", FeatureTransformer(TE_SPEC, folds=5, target="y")),
                     ("model", LogisticRegression())])
    pipe.fit(X, y)
    # the model was trained on the out-of-fold matrix, and predicts from full statistics
    ft = pipe.named_steps["features"]
    full = pd.DataFrame({"g": X["g"], "y": y}).groupby("g")["y"].mean()
    np.testing.assert_array_equal(ft.transform(X)[:, 0], X["g"].map(full).to_numpy())
    oof = FeatureTransformer(TE_SPEC, folds=5, target="y").fit_transform(X, y)
    assert not np.array_equal(oof, ft.transform(X))  # the folds did change the encodings
    alone = LogisticRegression().fit(oof, y)
    np.testing.assert_array_equal(pipe.named_steps["model"].coef_, alone.coef_)
    proba = pipe.predict_proba(X)[:, 1]
    assert proba.shape == (len(X),) and proba[X["g"].isin(["a", "b"])].mean() > 0.6
    assert list(pipe[:-1].get_feature_names_out()) == ["te", "vv"]
    pipe2 = make_pipeline(FeatureTransformer(TE_SPEC, target="y"), LogisticRegression())
    assert pipe2.fit(pl.from_pandas(X), y).score(pl.from_pandas(X), y) > 0.6


def test_grid_search_over_model_and_transformer_parameters() -> None:
    X, y = _classification()
    pipe = Pipeline([("features", FeatureTransformer(TE_SPEC, target="y")),
                     ("model", LogisticRegression())])
    grid = GridSearchCV(pipe, {"model__C": [0.01, 1.0], "features__folds": [None, 3]}, cv=3)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_params_["features__folds"] in (None, 3)
    assert grid.best_estimator_.named_steps["features"].spec_.is_fitted
    assert grid.score(X, y) > 0.6


def test_import_without_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it now fails
    monkeypatch.delitem(sys.modules, "featuredsl.sklearn")
    with pytest.raises(ImportError, match=r"pip install 'featuredsl\[sklearn\]'"):
        import featuredsl.sklearn  # noqa: F401


# ------------------------------------------------------------------ scikit-learn's checks
#: Checks that build X with a fixed number of columns, and that number. A spec fixes its
#: inputs, so each check runs on a transformer whose spec reads exactly that many (x0..xN-1),
#: and is an expected failure on the others. The checks not listed pass at every width.
CHECK_WIDTH = {
    "check_dict_unchanged": 3, "check_dont_overwrite_parameters": 3,
    "check_estimators_dtypes": 5, "check_estimators_fit_returns_self": 2,
    "check_estimators_overwrite_params": 2, "check_estimators_pickle": 3,
    "check_f_contiguous_array_estimator": 3, "check_fit2d_1feature": 1,
    "check_fit2d_1sample": 10, "check_fit2d_predict1d": 3, "check_fit_check_is_fitted": 2,
    "check_fit_idempotent": 2, "check_fit_score_takes_y": 3,
    "check_methods_sample_order_invariance": 3, "check_methods_subset_invariance": 3,
    "check_n_features_in": 2, "check_n_features_in_after_fitting": 4,
    "check_pipeline_consistency": 3, "check_positive_only_tag_during_fit": 4,
    "check_readonly_memmap_input": 2, "check_transformer_data_not_an_array": 3,
    "check_transformer_general": 3, "check_dtype_object": 10,
}
#: Checks that cannot pass at any width, and why (docs/model-ready.md lists them).
NOT_APPLICABLE = {
    "check_dtype_object": "expects float()'s TypeError for a dict in an object array; "
                          "featuredsl raises InputError naming the column, row and type",
}
WIDTHS = sorted(set(CHECK_WIDTH.values()))


def _numeric_spec(n: int) -> str:
    inputs = ", ".join(f"x{i}: float?" for i in range(n))
    feats = "\n".join(f"feature f{i} = x{i} - mean(x{i})" for i in range(n))
    return f"input {{ {inputs} }}\n{feats}\n"


def _expected_failed(est: FeatureTransformer) -> dict[str, str]:
    width = len(fd.compile(est.spec).inputs)
    out = {c: f"builds X with {w} columns; this spec reads {width}"
           for c, w in CHECK_WIDTH.items() if w != width}
    out.update(NOT_APPLICABLE)
    return out


@parametrize_with_checks([FeatureTransformer(_numeric_spec(n)) for n in WIDTHS],
                         expected_failed_checks=_expected_failed)
def test_sklearn_estimator_checks(estimator: FeatureTransformer, check: object) -> None:
    check(estimator)  # type: ignore[operator]

