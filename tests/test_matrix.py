"""to_matrix / feature_names_out / row_evaluator(layout="vector"): one layout on both sides."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import featuredsl as fd
from featuredsl.matrix import LayoutError

SPEC = '''
input { c: string?, x: float?, i: int, b: bool? }
stat v = vocab(c)
feature oh = one_hot(c, ["AA", "é", "AA"], oov=1)
feature ohv = one_hot(c, v, oov=3)
feature bb = b
feature ii = i
feature xx = x
'''
DATA = pl.DataFrame({"c": ["AA", None, "é", ""], "x": [1.0, None, float("inf"), float("nan")],
                     "i": [2**63 - 1, -2**63, 2**53 + 1, 16777217], "b": [True, None, False, True]})


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matrix_equals_row_vector_bit_for_bit(dtype: str) -> None:
    f = fd.compile(SPEC).fit(DATA)
    m = f.to_matrix(DATA, dtype=dtype)
    vec = f.row_evaluator(layout="vector", dtype=dtype)
    assert m.shape == (DATA.height, len(f.feature_names_out()))
    for k, row in enumerate(DATA.to_dicts()):
        v = vec(row)
        assert v.dtype == m.dtype and v.tobytes() == m[k].tobytes()


def test_columns_against_independent_computation() -> None:
    f = fd.compile(SPEC).fit(DATA)
    names = f.feature_names_out()
    assert names[:4] == ["oh[AA]", "oh[é]", "oh[AA#2]", "oh[<oov>]"]
    m = f.to_matrix(DATA)
    col = {n: m[:, j] for j, n in enumerate(names)}
    c = DATA["c"].to_list()
    exp = [np.nan if v is None else float(v == "AA") for v in c]
    np.testing.assert_array_equal(col["oh[AA]"], exp)
    exp = [np.nan if v is None else float(v not in ("AA", "é")) for v in c]
    np.testing.assert_array_equal(col["oh[<oov>]"], exp)
    np.testing.assert_array_equal(col["ii"], [float(i) for i in DATA["i"]])
    np.testing.assert_array_equal(col["bb"], [1.0, np.nan, 0.0, 1.0])
    np.testing.assert_array_equal(col["xx"], [1.0, np.nan, np.inf, np.nan])  # NaN in = null
    m32 = f.to_matrix(DATA, dtype="float32")
    assert m32[:, names.index("ii")].tolist() == [float(np.float32(float(i))) for i in DATA["i"]]


@pytest.mark.parametrize(("expr", "words"), [
    ("c", "one_hot"), ("t", "epoch_seconds"), ("d", "total_seconds"), ("dt", "year"),
    ('split(c, ",")', "numbers only")])
def test_refused_features_are_named(expr: str, words: str) -> None:
    spec = fd.compile("input { c: string, t: timestamp, d: duration, dt: date }\n"
                      f"feature out_f = {expr}\n")
    with pytest.raises(LayoutError, match=f"`out_f`.*{words}"):
        spec.feature_names_out()


def test_bad_dtype_and_layout() -> None:
    f = fd.compile(SPEC).fit(DATA)
    with pytest.raises(fd.FeatureDSLError, match="dtype"):
        f.to_matrix(DATA, dtype="int8")  # type: ignore[arg-type]
    with pytest.raises(fd.FeatureDSLError, match="layout"):
        f.row_evaluator(layout="rows")
