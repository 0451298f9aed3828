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


def _codes(src: str) -> list[str]:
    return [d.code for d in fd.compile(src).warnings]


def test_always_null_lint_has_no_false_positives() -> None:
    head = "input {\n  a: int?\n  b: bool?\n  n: int\n}\n"
    quiet = [
        "feature f = null ?? a",            # a default
        "feature f = a ?? null",
        "feature f = b and null",           # false and null is false
        "feature f = b or null",            # true or null is true
        "feature f = if b then null else a",
        "feature f: int? = case when b then a end",
        "feature f = (a + null) is null",   # is null is never null
        "feature f = a / 1",
        "feature f = a / 0.5",
        "feature f = n // -1",
    ]
    for body in quiet:
        assert "W004" not in _codes(head + body), body
    noisy = [
        "feature f = a * (1 + null)",
        "let l = n - null\nfeature f = l + 1",       # through a let
        "let l = n - null\nfeature g = 1\nfeature f = if b then l else l",
        "feature f = coalesce(null * 1, n + null)",
        "feature f = abs(null + n)",
    ]
    for body in noisy:
        assert "W004" in _codes(head + body), body


def test_lints_respect_types_and_spelling() -> None:
    head = "input {\n  a: int?\n  n: int\n  s: string\n}\n"
    assert _codes(head + "feature f = a is null\nfeature g = n + length(s)") == []
    # `n + 1` may overflow to null: no warning; `s` is a non-nullable input: always true
    assert _codes(head + "feature f = (n + 1 is not null) and (a ?? 0) > 0 and s is not null"
                  ) == ["W006"]
    assert _codes(head + "feature f = n / (0 + 0) + length(s) + (a ?? 0)") == []  # not literal
    assert _codes(head + "feature f = n % -0.0 + length(s) + (a ?? 0)") == ["W005"]
    # case and `_` confusions, first declaration wins; lets/stats named like functions
    assert _codes(head + "let N_ = n\nfeature f = N_ + length(s) + (a ?? 0)") == ["W008"]
    assert _codes(head + "let lower = s\nfeature f = length(lower) + n + (a ?? 0)") == ["W009"]
    assert _codes(head + "feature lower = s\nfeature f = length(lower) + n + (a ?? 0)") == []


def test_colour_changes_nothing_but_colour() -> None:
    import re

    ansi = re.compile(r"\x1b\[[0-9;]*m")
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        try:
            diags = fd.compile(text).diagnostics
        except fd.SpecError as err:
            diags = err.diagnostics
        for d in diags:
            coloured = d.render(text, color=True)
            assert "\x1b[" in coloured
            assert ansi.sub("", coloured) == d.render(text)


def test_suppressions_survive_formatting() -> None:
    from featuredsl.syntax.format import format_source

    src = ("input {\n  a: int\n  b: int\n}\n"
           "feature x = a +  # featuredsl: ignore[W008]\n"
           "  b / 0  # featuredsl: ignore[W005]\n")
    assert _codes(src) == []
    out = format_source(src)
    assert out.endswith("feature x = a + b / 0  # featuredsl: ignore[W008] "
                        "# featuredsl: ignore[W005]\n")
    assert _codes(out) == []
