"""Conformance cases kept as data (tests/conformance/*.json), run through both backends.

Each case: ``expr`` over inputs ``types`` and ``rows``, with ``expected`` values (JSON; NaN and
Infinity allowed; ``expected_repr`` compares ``str()`` for values JSON cannot hold), or an
``error`` code the compiler must report. Every case asserts the documented values *and*
identical values, types and null positions in the row and batch backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import featuredsl as fd
from tests.harness import assert_parity, same_value, spec_of

CASES = [
    (path.stem, case)
    for path in sorted((Path(__file__).parent / "conformance").glob("*.json"))
    for case in json.loads(path.read_text(encoding="utf-8"))
]


@pytest.mark.parametrize(("suite", "case"), CASES, ids=[f"{s}:{c['name']}" for s, c in CASES])
def test_case(suite: str, case: dict) -> None:
    types = case["types"]
    if case.get("error"):
        with pytest.raises(fd.SpecError) as info:
            spec_of(case["expr"], types)
        codes = [d.code for d in info.value.diagnostics]
        assert case["error"] in codes, str(info.value)
        return
    spec = spec_of(case["expr"], types)
    outs = [o["out"] for o in assert_parity(spec, case["rows"])]
    if "expected_repr" in case:
        assert [str(o) for o in outs] == case["expected_repr"]
        return
    expected = case["expected"]
    assert len(outs) == len(expected)
    for row, got, want in zip(case["rows"], outs, expected, strict=True):
        assert same_value(got, want), f"{case['expr']} on {row}: got {got!r}, want {want!r}"
