"""Errors and diagnostics: every message a user sees is built here.

``FeatureDSLError`` is the base of everything featuredsl raises on purpose. ``SpecError`` carries
the full list of :class:`Diagnostic` of a `.feat` file and renders them like a compiler::

    error[E201]: unknown name `amout`
      --> transactions.feat:12:25
       |
    12 | feature x = log1p(amout)
       |                   ^^^^^
       = hint: did you mean `amount`?

The catalogue of diagnostic codes lives in :data:`CODES` and is documented in
``docs/diagnostics.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Every diagnostic code with its one-line title. Errors are ``E``, warnings ``W``.
CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "invalid literal",
    "E003": "invalid string escape",
    "E004": "integer literal out of the int64 range",
    "E101": "missing `input` block",
    "E102": "more than one `input` block",
    "E103": "duplicate declaration",
    "E104": "dependency cycle",
    "E105": "unknown type",
    "E106": "no features declared",
    "E201": "unknown name",
    "E202": "unknown function",
    "E203": "no matching overload",
    "E204": "wrong arguments",
    "E205": "type mismatch",
    "E206": "declared type does not match",
    "E207": "argument must be a constant",
    "E208": "invalid constant argument",
    "E209": "misplaced aggregate",
    "E210": "expression too deeply nested",
    "E211": "grouping option on a statistic that does not take it",
    "E212": "invalid group key",
    "E213": "invalid smoothing",
    "E214": "invalid min_count or top",
    "E301": "invalid event source",
    "E302": "unknown source or source field",
    "E303": "invalid window aggregate argument",
    "E304": "invalid window length",
    "E305": "`where=` reads something other than the source's fields",
    "E306": "misplaced window aggregate",
    "E307": "source key not matched by the input",
    "E308": "row time missing or invalid",
    "W001": "unused input",
    "W002": "unused let",
    "W003": "unused statistic",
    "W004": "feature is null on every row",
    "W005": "division by a literal zero",
    "W006": "condition always true or always false by type",
    "W007": "comparison with `null`",
    "W008": "names differing only by case or `_`",
    "W009": "let or stat named like a function",
    "W010": "`??` default never used",
}


#: What ends a line of spec text: ``\r\n``, a bare ``\r`` or ``\n`` (nothing else: form feed,
#: ``U+2028`` and the other separators ``str.splitlines`` knows are not line ends for positions).
_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


def source_lines(source: str) -> list[str]:
    """The lines of spec text as every position (``line``, ``column``) counts them.

    A UTF-8 byte-order mark at the very start is dropped (it is not a character of the spec,
    so column 1 of line 1 is the character after it); ``\r\n``, ``\r`` and ``\n`` each end a
    line. The parser, the checker, the formatter and :meth:`Diagnostic.render` all split
    source text with this one function, so a caret always sits under what it points at.
    ``"\n".join(source_lines(text))`` is the normalised text they work on.
    """
    if source.startswith(_BOM):
        source = source[1:]
    return _LINE_END.split(source)


def normalize_source(source: str) -> str:
    """Spec text with a leading byte-order mark dropped and every line end written ``\n``.

    Lines and columns are the same in the result as in ``source`` (see :func:`source_lines`).
    """
    return "\n".join(source_lines(source))


_RESET, _BOLD, _BLUE, _CYAN = "\x1b[0m", "\x1b[1m", "\x1b[1;34m", "\x1b[1;36m"
_SEVERITY_COLOR = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m"}


@dataclass(frozen=True, slots=True)
class Span:
    """A source range: 1-based line and column of the first and one past the last character."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a `.feat` file: an error or a warning at a place, with an optional hint."""

    code: str
    message: str
    line: int
    column: int
    end_line: int
    end_column: int
    hint: str | None = None
    severity: str = "error"
    file: str = "<spec>"

    @classmethod
    def at(
        cls, code: str, message: str, span: Span, hint: str | None = None, file: str = "<spec>"
    ) -> Diagnostic:
        """A diagnostic at ``span``: a ``W`` code is a warning, any other an error."""
        severity = "warning" if code.startswith("W") else "error"
        return cls(
            code, message, span.line, span.column, span.end_line, span.end_column,
            hint, severity, file,
        )

    def render(self, source: str | None = None, color: bool = False) -> str:
        """Render as ``severity[code]: message``, the location, the source line and a caret.

        With ``color``, ANSI colours as compilers use them on a terminal (the text is the
        same otherwise). A span over several lines is underlined to the end of its first line.
        """
        sev = _SEVERITY_COLOR.get(self.severity, "") if color else ""

        def paint(text: str, style: str) -> str:
            return f"{style}{text}{_RESET}" if color and style else text

        blue, bold = (_BLUE, _BOLD) if color else ("", "")
        head = paint(f"{self.severity}[{self.code}]", sev) + paint(f": {self.message}", bold)
        loc = f"{self.file}:{self.line}:{self.column}"
        lines = [head, f"  {paint('-->', blue)} {loc}"]
        src_lines = source_lines(source) if source is not None else []
        if 1 <= self.line <= len(src_lines):
            text = src_lines[self.line - 1].expandtabs(1)
            gutter = " " * len(str(self.line))
            width = (
                max(1, self.end_column - self.column) if self.end_line == self.line
                else max(1, len(text) - self.column + 1)
            )
            bar = paint("|", blue)
            lines.append(f"{gutter} {bar}")
            lines.append(f"{paint(str(self.line), blue)} {bar} {text}")
            lines.append(f"{gutter} {bar} {' ' * (self.column - 1)}{paint('^' * width, sev)}")
        if self.hint:
            lines.append(f"  {paint('= hint:', _CYAN if color else '')} {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, for ``--format json`` and tools."""
        return {
            "code": self.code, "severity": self.severity, "message": self.message,
            "file": self.file, "line": self.line, "column": self.column,
            "end_line": self.end_line, "end_column": self.end_column, "hint": self.hint,
        }


class FeatureDSLError(Exception):
    """Base class of every error featuredsl raises on purpose."""


class SpecError(FeatureDSLError):
    """A `.feat` spec is invalid. ``.diagnostics`` lists every error (and warning) found.

    Raised with the diagnostics and, when known, the spec's ``source`` text: the message
    renders every error with its source line and caret, then the error count.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str | None = None) -> None:
        self.diagnostics = list(diagnostics)
        self.source = source
        super().__init__(self._render())

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that are errors (the warnings left out), in order."""
        return [d for d in self.diagnostics if d.severity == "error"]

    def _render(self) -> str:
        errors = self.errors
        body = "\n\n".join(d.render(self.source) for d in errors)
        n = len(errors)
        return f"{body}\n\n{n} error{'s' if n != 1 else ''} in spec"


class InputError(FeatureDSLError):
    """Bad data: names the column or field, the row and the expected type.

    The keyword arguments are kept as attributes for programs: ``field`` (the column or
    field at fault), ``row`` (0-based, batch side), ``expected`` (the declared type, as
    written) and ``fields`` (every field at fault, ``field`` first; defaults to ``[field]``).
    """

    def __init__(
        self, message: str, *, field: str | None = None, row: int | None = None,
        expected: str | None = None, fields: list[str] | None = None,
        element: str | None = None,
    ) -> None:
        self.field = field
        #: The list element at fault, as ``xs[1]`` (``field`` is the list's, ``xs``), or None.
        self.element = element
        #: Every field or column at fault, ``field`` first (a row missing several required
        #: fields names them all).
        self.fields = list(fields) if fields else ([field] if field is not None else [])
        self.row = row
        self.expected = expected
        super().__init__(message)


class ArtifactError(FeatureDSLError):
    """An artifact cannot be loaded: unreadable, tampered or incompatible."""


class NotFittedError(FeatureDSLError):
    """The spec uses statistics that have not been fitted yet (``stats``: their names, sorted)."""

    def __init__(self, stats: Iterable[str]) -> None:
        self.stats = sorted(stats)
        names = ", ".join(f"`{s}`" for s in self.stats)
        super().__init__(
            f"the spec uses fitted statistics ({names}) that are not fitted yet: "
            "call `spec.fit(training_data)` first, or load a fitted artifact"
        )


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or ``None``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def describe_value(value: object) -> str:
    """A short description of a data value for error messages (type and a clipped repr)."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if the message is empty):
    library errors (Polars, pyarrow) quoted in our one-line errors."""
    text = str(exc).strip()
    return text.split("\n")[0] if text else type(exc).__name__
