"""Golden tests for the rendered text of diagnostics (tests/golden/diagnostics/*.feat -> .txt).

Regenerate after an intended wording change with ``FEATUREDSL_UPDATE_GOLDEN=1 pytest
tests/test_diagnostics.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import featuredsl as fd
from featuredsl.errors import CODES

GOLDEN = Path(__file__).parent / "golden" / "diagnostics"
FILES = sorted(GOLDEN.glob("*.feat"))
UPDATE = os.environ.get("FEATUREDSL_UPDATE_GOLDEN") == "1"


def render(path: Path) -> str:
    rel = f"tests/golden/diagnostics/{path.name}"
    try:
        spec = fd.compile(path.read_text(encoding="utf-8"), rel)
    except fd.SpecError as err:
        warnings = [d for d in err.diagnostics if d.severity == "warning"]
        text = str(err)
        if warnings:
            text += "\n\n" + "\n\n".join(d.render(err.source) for d in warnings)
        return text + "\n"
    return "\n\n".join(d.render(spec.source) for d in spec.diagnostics) + "\n"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    got = render(path)
    want_path = path.with_suffix(".txt")
    if UPDATE or not want_path.exists():
        want_path.write_text(got, encoding="utf-8")
    assert got == want_path.read_text(encoding="utf-8")


def test_every_code_appears_in_a_golden_file() -> None:
    seen = set()
    for path in FILES:
        text = path.with_suffix(".txt").read_text(encoding="utf-8")
        seen |= {code for code in CODES if f"[{code}]" in text}
    missing = sorted(set(CODES) - seen - {"E210"})  # E210: tests/test_parser.py
    assert not missing, f"diagnostic codes without a golden example: {missing}"


def test_codes_are_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    for code, title in CODES.items():
        assert f"`{code}`" in doc, f"{code} ({title}) missing from docs/diagnostics.md"


def test_all_errors_of_a_file_are_reported_at_once() -> None:
    with pytest.raises(fd.SpecError) as info:
        fd.compile((GOLDEN / "syntax_errors.feat").read_text(encoding="utf-8"))
    lines = {d.line for d in info.value.errors}
    assert len(lines) >= 7


def test_diagnostic_fields() -> None:
    with pytest.raises(fd.SpecError) as info:
        fd.compile("input { amount: float }\nfeature x = log1p(amout)\n", "t.feat")
    (d,) = info.value.errors
    assert (d.code, d.line, d.column, d.end_column) == ("E201", 2, 19, 24)
    assert d.hint == "did you mean `amount`?"
    assert d.file == "t.feat"
    assert "t.feat:2:19" in str(info.value)
    assert d.to_dict()["message"] == "unknown name `amout`"
