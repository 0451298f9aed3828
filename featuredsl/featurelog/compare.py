"""Column comparison for ``skew``: which rows differ under the parity equality, and how.

The verdict on every value is :func:`featuredsl.parity.same_value` (SPEC 4.14), the one
equality of featuredsl. A vectorized pre-test only *skips* pairs it proves equal under that
rule (both null, or equal and neither NaN, in columns of one dtype, whose Python values then
have one type): every other pair goes to ``same_value``. Nested lists and lists of floats are
pre-tested only for NaN-free equality too; anything else the pre-test does not understand is
handed whole to ``same_value``.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from featuredsl.parity import same_value

#: ULP-distance buckets of float mismatches (a 1-ulp bucket points at a reciprocal-division or
#: fused-operation trap; >1000 is a different value, not rounding).
ULP_BUCKETS = ("1", "2-4", "5-1000", ">1000")
_SIGN = 1 << 63


def _has_float(dtype: Any) -> bool:
    if isinstance(dtype, pl.List):
        return _has_float(dtype.inner)
    return dtype.is_float()


def _nan_expr(dtype: Any, e: pl.Expr) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return e.list.eval(_nan_expr(dtype.inner, pl.element())).list.any()
    return e.is_nan()


def _nan_any(s: pl.Series) -> pl.Series:
    """Whether each value holds a NaN (at any list depth); null is not NaN."""
    frame = s.rename("v").to_frame()
    return frame.select(_nan_expr(s.dtype, pl.col("v"))).to_series().fill_null(False)


def differing(a: pl.Series, b: pl.Series) -> list[int]:
    """The positions where ``same_value(a[i], b[i])`` is false (``a``, ``b`` same length)."""
    if a.dtype == b.dtype:
        try:
            maybe = ~a.eq_missing(b)
            if _has_float(a.dtype):
                maybe = maybe | _nan_any(a) | _nan_any(b)
            idx = maybe.arg_true().to_list()
        except Exception:  # a dtype the pre-test does not handle: decide every pair
            idx = list(range(a.len()))
    else:
        idx = list(range(a.len()))
    if not idx:
        return []
    xs, ys = a.gather(idx).to_list(), b.gather(idx).to_list()
    return [i for i, x, y in zip(idx, xs, ys, strict=True) if not same_value(x, y)]


def ulps(a: float, b: float) -> int | None:
    """The distance of two floats in units in the last place (None with a NaN)."""
    if math.isnan(a) or math.isnan(b):
        return None
    return abs(_ordered(a) - _ordered(b))


def _ordered(x: float) -> int:
    """The float's bits as an int that orders like the floats (-0.0 and 0.0 both 0)."""
    u = struct.unpack("<Q", struct.pack("<d", x))[0]
    return -(u & ~_SIGN) if u & _SIGN else u


def ulp_bucket(d: int | None) -> str:
    """The bucket of a ULP distance (a NaN is the farthest)."""
    if d is None or d > 1000:
        return ">1000"
    if d <= 1:
        return "1"
    return "2-4" if d <= 4 else "5-1000"


def show(v: object) -> str:
    """A value as text for reports (the Python repr, timestamps in ISO form)."""
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    return repr(v)


@dataclass
class FeatureSkew:
    """The comparison of one feature, served against recomputed (or offline)."""

    feature: str
    type: str
    match: int = 0
    mismatch: int = 0
    #: served null, recomputed not / recomputed null, served not / both values, different
    served_null_only: int = 0
    recomputed_null_only: int = 0
    value_mismatch: int = 0
    ulp: dict[str, int] = field(default_factory=dict)
    smape_sum: float = 0.0
    smape_rows: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: list[dict[str, object]] = field(default_factory=list)

    @property
    def smape(self) -> float | None:
        """Symmetric mean absolute percentage error over the rows where both values are
        finite numbers (0 when both are 0), in percent; None for non-numeric features."""
        return 100.0 * self.smape_sum / self.smape_rows if self.smape_rows else None

    def top_confusions(self, k: int = 5) -> list[tuple[str, str, int]]:
        """The ``k`` most frequent (served, recomputed) pairs, ties by text."""
        pairs = sorted(self.confusion.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(s, r, n) for (s, r), n in pairs[:k]]

    def add(self, served: pl.Series, other: pl.Series, ids: pl.Series, file: str,
            samples: int = 3, confusions: int = 10_000) -> list[int]:
        """Compare one chunk; returns the mismatching positions."""
        bad = differing(served, other)
        self.match += served.len() - len(bad)
        self.mismatch += len(bad)
        dtype = served.dtype
        if dtype.is_numeric():
            a, b = served.cast(pl.Float64), other.cast(pl.Float64)
            both = (a.is_finite() & b.is_finite()).fill_null(False)
            a, b = a.filter(both), b.filter(both)
            if a.len():
                term = (2.0 * (a - b).abs() / (a.abs() + b.abs())).fill_nan(0.0)
                self.smape_sum += float(term.sum())
                self.smape_rows += a.len()
        if not bad:
            return bad
        xs, ys = served.gather(bad).to_list(), other.gather(bad).to_list()
        rid = ids.gather(bad).to_list()
        for i, x, y, r in zip(bad, xs, ys, rid, strict=True):
            if x is None:
                self.served_null_only += 1
            elif y is None:
                self.recomputed_null_only += 1
            else:
                self.value_mismatch += 1
                if type(x) is float and type(y) is float:
                    key = ulp_bucket(ulps(x, y))
                    self.ulp[key] = self.ulp.get(key, 0) + 1
            # a bounded counter: a feature wrong on every row must not hold every row's text
            pair = (show(x), show(y))
            if pair in self.confusion or len(self.confusion) < confusions:
                self.confusion[pair] += 1
            if len(self.samples) < samples:
                self.samples.append({"request_id": r, "file": file, "row": i,
                                     "served": show(x), "recomputed": show(y)})
        return bad

    def to_dict(self) -> dict[str, object]:
        """The JSON form (deterministic)."""
        out: dict[str, object] = {
            "feature": self.feature, "type": self.type, "match": self.match,
            "mismatch": self.mismatch, "served_null_only": self.served_null_only,
            "recomputed_null_only": self.recomputed_null_only,
            "value_mismatch": self.value_mismatch}
        if self.type.rstrip("?") == "float":
            out["ulp"] = {k: self.ulp.get(k, 0) for k in ULP_BUCKETS}
        smape = self.smape
        if smape is not None:
            out["smape_percent"] = smape
        out["top_confusions"] = [{"served": s, "recomputed": r, "count": n}
                                 for s, r, n in self.top_confusions()]
        out["samples"] = self.samples
        return out
