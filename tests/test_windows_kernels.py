"""The batch window kernels against brute force, on the paths the oracle's small logs do not
reach: long windows, sparse tables over the memory budget, values too wide for Int128."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest

from featuredsl.windows import kernels


def _ranges(rng: np.random.Generator, n: int, m: int, longest: int
            ) -> tuple[np.ndarray, np.ndarray]:
    hi = np.sort(rng.integers(0, n + 1, m))
    lo = np.maximum(hi - rng.integers(0, longest + 1, m), 0)
    return lo, hi


@pytest.mark.parametrize("budget", [1 << 22, 64])  # 64: every chunk answered level by level
@pytest.mark.parametrize("longest", [1, 7, 300, 1500])
def test_range_extreme_is_the_max_of_each_range(budget: int, longest: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "TABLE_BUDGET", budget)
    monkeypatch.setattr(kernels, "CHUNK_ROWS", 50)
    rng = np.random.default_rng(longest)
    arr = rng.integers(-1000, 1000, 2000).astype(np.int64)
    lo, hi = _ranges(rng, len(arr), 400, longest)
    for largest in (True, False):
        got = kernels.range_extreme(arr, lo, hi, largest)
        pick = max if largest else min
        for i in range(len(lo)):
            if hi[i] > lo[i]:
                assert got[i] == pick(arr[lo[i]:hi[i]].tolist()), (i, lo[i], hi[i])


def _fsum_ranges(vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[float]:
    out = []
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        total = sum((Fraction(x) for x in vals[a:b].tolist() if x == x), Fraction(0))
        try:
            out.append(float(total))
        except OverflowError:
            out.append(math.inf if total > 0 else -math.inf)
    return out


VALUE_SETS = {
    "money": lambda r: round(r.lognormvariate(3.5, 1.0), 2) * r.choice([1, 1, 1, -1]),
    "raw lognormal": lambda r: r.lognormvariate(3.5, 1.0),
    "integers as floats": lambda r: float(r.randrange(-10**6, 10**6)),
    "wide: 1e16 with 1e-7": lambda r: r.choice([1e16, -1e16, 1e-7, 3.0, 0.0]),
    "dyadic: 0.5 with 2**100": lambda r: r.choice([0.5, 2.0**100, -(2.0**99), 7.0]),
    "too wide: subnormals and 1e308": lambda r: r.choice([5e-324, 1e308, -1e308, 1.5, 0.0]),
    "zeros": lambda r: 0.0,
}


@pytest.mark.parametrize("kind", VALUE_SETS)
def test_exact_float_sums_are_correctly_rounded(kind: str) -> None:
    r = random.Random(kind)
    vals = np.array([VALUE_SETS[kind](r) for _ in range(500)], dtype=np.float64)
    vals[np.random.default_rng(2).random(len(vals)) < 0.1] = np.nan  # skipped positions
    lo, hi = _ranges(np.random.default_rng(1), len(vals), 300, 120)
    got = kernels.exact_float_sums(vals, lo, hi)
    assert got.tolist() == _fsum_ranges(vals, lo, hi)


def test_stable_argsort_keeps_ties_in_index_order() -> None:
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 50, 5000):
        code = rng.integers(0, max(1, n // 10), n)
        assert np.array_equal(kernels.stable_argsort(code), np.argsort(code, kind="stable"))


def test_chunked_search_is_searchsorted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "SEARCH_CHUNK", 7)
    rng = np.random.default_rng(9)
    for n, m in ((0, 50), (1, 50), (300, 1000), (5000, 200)):
        a = np.sort(rng.integers(0, 100, n))
        v = np.sort(rng.integers(-5, 105, m))
        assert np.array_equal(kernels.search_sorted(a, v), np.searchsorted(a, v))
        shuffled = rng.permutation(v)  # any order is still correct
        assert np.array_equal(kernels.search_sorted(a, shuffled), np.searchsorted(a, shuffled))
