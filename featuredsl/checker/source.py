"""Source text to a checked program: the parser and the checker together, with their
diagnostics merged the way every caller reports them (``fd.compile`` and ``fd.load``)."""

from __future__ import annotations

from featuredsl import ir
from featuredsl.checker.checker import check
from featuredsl.errors import Diagnostic, SpecError
from featuredsl.syntax.parser import parse


def check_source(source: str, file: str = "<spec>") -> tuple[ir.Program, list[Diagnostic]]:
    """Parse and check `.feat` text: the program and every diagnostic, sorted by position.

    Raises ``SpecError`` holding every diagnostic when there is an error."""
    module, syntax = parse(source, file)
    with ir.deep_recursion():
        program, checked = check(module, source, file)
    if any(d.severity == "error" for d in syntax):
        # A declaration that failed to parse may be the missing feature, or use the "unused"
        # names: those findings would be noise.
        checked = [d for d in checked if d.code != "E106" and d.severity != "warning"]
    diagnostics = sorted(syntax + checked, key=lambda d: (d.line, d.column))
    if any(d.severity == "error" for d in diagnostics):
        raise SpecError(diagnostics, source)
    return program, diagnostics
