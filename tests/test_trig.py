"""Trigonometry on both backends, bit for bit: random and edge values (signed zeros,
subnormals, +-inf, huge arguments, the [-1, 1] domain edges, nulls, ints promoted), and the
libm agreement between Polars' kernels and CPython's math module that makes it possible."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import featuredsl as fd

EDGES = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 1.0, -1.0, 1.0000000000000002,
         -1.0000000000000002, 0.9999999999999999, math.pi, -math.pi, math.pi / 2, 1e22,
         1e300, -1e300, 1.7976931348623157e308, math.inf, -math.inf, None, 2.0**52 + 0.5,
         710.0, -745.0]


def _values(n: int = 30_000) -> list[float | None]:
    rng = np.random.default_rng(5)
    scale = rng.choice([1e-8, 1.0, 10.0, 1e6, 1e18], n)
    return [*EDGES, *(rng.standard_normal(n) * scale).tolist(), *rng.uniform(-1, 1, n).tolist()]


def _bits(v: object) -> object:
    return None if v is None else (v, math.copysign(1.0, v))  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", ["sin", "cos", "tan", "asin", "acos", "atan"])
def test_unary_trig_row_equals_batch(fn: str) -> None:
    spec = fd.compile(f"input {{ x: float?\n n: int? }}\nfeature f = {fn}(x)\n"
                      f"feature g = {fn}(n)\n")
    xs = _values()
    ns = [None if x is None or not math.isfinite(x) or abs(x) > 2**62 else int(x) for x in xs]
    frame = pl.DataFrame({"x": xs, "n": ns}, schema={"x": pl.Float64, "n": pl.Int64})
    batch = spec.transform(frame).to_dicts()
    evaluate = spec.row_evaluator()
    for row, want in zip(frame.to_dicts(), batch, strict=True):
        got = evaluate(row)
        assert _bits(got["f"]) == _bits(want["f"]) and _bits(got["g"]) == _bits(want["g"]), row
        if row["x"] is not None and ((math.isinf(row["x"]) and fn in ("sin", "cos", "tan"))
                                     or (abs(row["x"]) > 1 and fn in ("asin", "acos"))):
            assert got["f"] is None  # what IEEE answers with NaN is null


def test_atan2_row_equals_batch_with_signed_zeros_and_infinities() -> None:
    spec = fd.compile("input { y: float?\n x: float? }\nfeature a = atan2(y, x)\n"
                      "feature b = atan2(y, -1.0)\nfeature c = atan2(0.0, x)\n")
    ys = _values(5_000)
    xs = list(reversed(ys))
    frame = pl.DataFrame({"y": ys, "x": xs}, schema={"y": pl.Float64, "x": pl.Float64})
    corners = pl.DataFrame({"y": [0.0, -0.0, 0.0, -0.0, math.inf, -math.inf, 1.0],
                            "x": [0.0, 0.0, -0.0, -0.0, math.inf, -math.inf, -math.inf]})
    frame = pl.concat([corners, frame])
    batch = spec.transform(frame).to_dicts()
    evaluate = spec.row_evaluator()
    for row, want in zip(frame.to_dicts(), batch, strict=True):
        got = evaluate(row)
        assert {k: _bits(v) for k, v in got.items()} == {k: _bits(v) for k, v in want.items()}
    assert evaluate({"y": -0.0, "x": -1.0})["a"] == -math.pi


def test_cyclic_hour_encoding_is_the_same_on_both_backends() -> None:
    import datetime as dt
    spec = fd.compile("input { ts: timestamp }\n"
                      "feature hs = sin(2 * pi() * hour(ts) / 24)\n"
                      "feature hc = cos(2 * pi() * hour(ts) / 24)\n")
    times = [dt.datetime(2024, 1, 1) + dt.timedelta(minutes=37 * i) for i in range(2000)]
    batch = spec.transform(pl.DataFrame({"ts": times})).to_dicts()
    evaluate = spec.row_evaluator()
    assert [evaluate({"ts": t}) for t in times] == batch
    assert evaluate({"ts": dt.datetime(2024, 1, 1, 6)})["hs"] == 1.0


def test_polars_trig_kernels_are_libm() -> None:
    # canary: the parity above rests on Polars and CPython calling the same libm
    xs = [x for x in _values() if x is not None]
    s = pl.Series(xs, dtype=pl.Float64)
    for name, py in [("sin", math.sin), ("cos", math.cos), ("tan", math.tan),
                     ("arctan", math.atan)]:
        got = getattr(s, name)().to_list()
        for x, g in zip(xs, got, strict=True):
            if math.isfinite(x):
                assert _bits(g) == _bits(py(x)), (name, x)


def test_pi_is_a_constant() -> None:
    spec = fd.compile("input { x: float }\nfeature p = pi()\nfeature q = x * pi()\n")
    assert spec.row_evaluator()({"x": 2.0}) == {"p": math.pi, "q": 2 * math.pi}
    assert spec.transform(pl.DataFrame({"x": [2.0]})).to_dicts() == [
        {"p": math.pi, "q": 2 * math.pi}]
