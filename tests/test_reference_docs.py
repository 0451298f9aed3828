"""The checked-in language reference (docs/reference.md) is exactly what the registry generates,
and it covers every function, signature and example of the registry."""

from __future__ import annotations

from pathlib import Path

from featuredsl.functions.reference import render_reference, signatures
from featuredsl.functions.registry import all_functions

PAGE = Path(__file__).parent.parent / "docs" / "reference.md"


def test_reference_page_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        "docs/reference.md is stale: run `python tools/gen_reference.py`")


def test_every_function_signature_and_example_is_documented() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for fn in all_functions():
        title = f"`{fn.name}`" if fn.symbol is None else f"`{fn.symbol}` ({fn.name})"
        assert f"### {title}" in page, fn.name
        for sig in signatures(fn):
            assert sig in page, sig
        for ex in fn.examples:
            assert f"`{ex.expr}`" in page, ex.expr
        assert fn.doc and fn.null_doc, f"{fn.name} needs a doc and a null behaviour"
