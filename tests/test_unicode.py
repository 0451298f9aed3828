"""Case mapping agrees between the backends on every Unicode scalar value, and in the
contexts that make it non-local (the Greek final sigma)."""

from __future__ import annotations

import polars as pl

from tests.harness import spec_of

SCALARS = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def _check_all(expr: str, strings: list[str]) -> None:
    spec = spec_of(expr, {"s": "string"})
    batch = spec.transform(pl.DataFrame({"s": strings}))["out"].to_list()
    ev = spec.row_evaluator()
    bad = [(s, ev({"s": s})["out"], b) for s, b in zip(strings, batch, strict=True)
           if ev({"s": s})["out"] != b]
    assert not bad, f"{len(bad)} mismatches, e.g. {[(hex(ord(s[0])), r, b) for s, r, b in bad[:5]]}"


def test_lower_every_code_point() -> None:
    _check_all("lower(s)", SCALARS)


def test_upper_every_code_point() -> None:
    _check_all("upper(s)", SCALARS)


def test_final_sigma_contexts() -> None:
    contexts = ["ΑΣ", "Σ", "ΑΣ Α", "ΑΣ1", "ΑΣ.", "AΣ'", "ΣΑ", "Α\u0345Σ", "Α\u0eceΣ", "ΑΣΣ",
                "Α'Σ'", "ΑΣ\u0301", "ΑΣ\u0301Α", "ὈΔΥΣΣΕΎΣ"]
    _check_all("lower(s)", contexts + [c + "Σ" for c in SCALARS[::97]])


def test_length_of_every_code_point_is_one() -> None:
    spec = spec_of("length(s)", {"s": "string"})
    out = spec.transform(pl.DataFrame({"s": SCALARS}))["out"]
    assert out.min() == out.max() == 1
