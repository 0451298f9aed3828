"""The canonical formatter of `.feat` files (`featuredsl fmt`); style: docs/formatting.md.

``format_source(text)`` parses the text and prints it again from the AST, putting every comment
back. Three properties are tested over every spec in the test suite (tests/test_fmt.py):

* meaning is kept: the output parses to the same AST (hence the same IR, docs included);
* it is idempotent: formatting the output again changes nothing;
* no comment is lost.

Style in short: the input block and each ``source`` block one item a line (fields, and the
``key`` and ``time`` clauses where the author put them), indented two spaces, field types
aligned; one declaration a line with single spaces around operators and ``=`` aligned across
a run of declarations of the same kind (a blank line ends a run); a top-level ``case`` one
``when`` a line; window calls as any call, keyword arguments ``name=value`` after the
positional one (``count(txns, over=7d, where=txns.amount > 0)``); ``src.field`` without
spaces; minimal parentheses (exactly those the precedence needs); literals as written
(``1_000``, ``1e-3`` and string escapes are the author's); names backquoted only where needed.
Expressions are never wrapped: a line is as long as its declaration (split a long one with
``let``).

Comments: a comment on its own line stays on its own line before the same code, at that code's
indentation; a comment after code stays at the end of the output line that holds that code. When
several end-of-line comments land on one output line (a declaration written over several lines
and joined), they are joined in order on that line. At most one blank line is kept where the
source had any, between declarations, comments and input fields; ``##`` doc comments stay
directly above their declaration (a ``source`` declaration's too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from featuredsl import ir
from featuredsl.errors import Span, SpecError, normalize_source
from featuredsl.syntax import ast
from featuredsl.syntax.parser import parse

#: Words the grammar reserves: a name spelled like one needs backquotes.
KEYWORDS = frozenset({
    "input", "stat", "let", "feature", "if", "then", "else", "case", "when", "end", "and",
    "or", "not", "in", "is", "null", "true", "false",
})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Precedence levels, loosest first (grammar/featuredsl.lark).
IF, COALESCE, OR, AND, NOT, CMP, SUM, PROD, UNARY, ATOM = range(10)
_BINARY_LEVEL = {"??": COALESCE, "or": OR, "and": AND, "+": SUM, "-": SUM, "*": PROD,
                 "/": PROD, "//": PROD, "%": PROD}
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})

INDENT = "  "
CASE_INDENT = "    "


def format_source(source: str, file: str = "<spec>") -> str:
    """The canonical text of a `.feat` source. Raises ``SpecError`` if it does not parse.

    The output's lines end with ``\n`` whatever the input used (``\r\n``, a bare ``\r``), and a
    leading byte-order mark is dropped.
    """
    source = normalize_source(source)
    module, diagnostics = parse(source, file)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        raise SpecError(errors, source)
    with ir.deep_recursion():
        return _Formatter(module, source).run()


def name_text(name: str) -> str:
    """A name as source: bare where the grammar allows, else in backquotes."""
    return name if _NAME.match(name) and name not in KEYWORDS else f"`{name}`"


def type_text(t: ast.TypeExpr) -> str:
    """A type as written in source: ``list[int?]?``."""
    elem = f"[{type_text(t.elem)}]" if t.elem is not None else ""
    return f"{t.name}{elem}{'?' if t.nullable else ''}"


# ------------------------------------------------------------------------------ expressions


class _Printer:
    """Expressions to text with the fewest parentheses that give back the same tree."""

    def __init__(self, source_lines: list[str]) -> None:
        self.lines = source_lines

    def text(self, node: ast.Node, min_level: int = IF) -> str:
        s, level = self._fmt(node)
        return f"({s})" if level < min_level else s

    def _raw(self, n: ast.Node) -> str:
        sp = n.span
        if sp.line == sp.end_line:
            return self.lines[sp.line - 1][sp.column - 1 : sp.end_column - 1]
        parts = self.lines[sp.line - 1 : sp.end_line]
        parts[0] = parts[0][sp.column - 1 :]
        parts[-1] = parts[-1][: sp.end_column - 1]
        return "\n".join(parts)

    def _literal(self, n: ast.Literal) -> tuple[str, int]:
        if n.kind == "null":
            return "null", ATOM
        if n.kind == "bool":
            return ("true" if n.value else "false"), ATOM
        if n.kind == "string":
            return self._raw(n), ATOM
        # Numbers and durations keep the author's digits (`1_000`, `1e-3`, `1d12h`). A negated
        # literal is folded by the parser and its span covers `-`, `(`, spaces; the sign comes
        # from the value, the digits from the text. That span may also hold comments
        # (`-(  # why\n 5)`): they are placed by the layout, so they are cut here (a number's
        # text has no `#`, so every `#` in it starts a comment).
        code = " ".join(line.split("#", 1)[0] for line in self._raw(n).split("\n"))
        digits = "".join(code.split()).lstrip("-(").rstrip(")")
        v = n.value
        negative = v < 0 if n.kind != "float" else str(v).startswith("-")  # type: ignore
        return (f"-{digits}", UNARY) if negative else (digits, ATOM)

    def _fmt(self, n: ast.Node) -> tuple[str, int]:
        t = self.text
        if isinstance(n, ast.Literal):
            return self._literal(n)
        if isinstance(n, ast.Ref):
            return name_text(n.name), ATOM
        if isinstance(n, ast.FieldRef):
            return f"{name_text(n.source)}.{name_text(n.field)}", ATOM
        if isinstance(n, ast.ListLit):
            return "[" + ", ".join(t(i) for i in n.items) + "]", ATOM
        if isinstance(n, ast.Call):
            args = [t(a) for a in n.args]
            args += [f"{name_text(k.name)}={t(k.value)}" for k in n.kwargs]
            return f"{name_text(n.name)}({', '.join(args)})", ATOM
        if isinstance(n, ast.Unary):
            if n.op == "neg":
                return "-" + t(n.operand, UNARY), UNARY
            return "not " + t(n.operand, NOT), NOT
        if isinstance(n, ast.Binary):
            if n.op in _COMPARISONS:  # non-associative: `a < b < c` does not parse
                return f"{t(n.left, SUM)} {n.op} {t(n.right, SUM)}", CMP
            level = _BINARY_LEVEL[n.op]  # left-associative
            return f"{t(n.left, level)} {n.op} {t(n.right, level + 1)}", level
        if isinstance(n, ast.In):
            op = "not in" if n.negated else "in"
            return f"{t(n.operand, SUM)} {op} {t(n.collection, SUM)}", CMP
        if isinstance(n, ast.IsNull):
            return f"{t(n.operand, SUM)} is {'not ' if n.negated else ''}null", CMP
        if isinstance(n, ast.If):
            return f"if {t(n.cond)} then {t(n.then)} else {t(n.otherwise)}", IF
        if isinstance(n, ast.Case):
            parts = ["case", *(f"when {t(c)} then {t(v)}" for c, v in n.whens)]
            if n.otherwise is not None:
                parts.append(f"else {t(n.otherwise)}")
            return " ".join([*parts, "end"]), IF
        raise TypeError(f"cannot format {type(n).__name__}")  # pragma: no cover


# ------------------------------------------------------------------------------ layout


@dataclass
class _Line:
    """One output line of code: its text, the source line of its first token, the comments
    that end it, and the indentation a comment placed before it takes."""

    text: str
    src: int
    comment_indent: str = ""
    trailing: list[tuple[int, str]] = field(default_factory=list)  # (source line, text)
    end: int = 0  # last source line of its code (0: same as ``src``)
    blank_before: bool = True  # may a source blank line before it be kept


Entry = _Line | tuple[str, str] | None  # code line, (indent, standalone comment), blank line


class _Formatter:
    def __init__(self, module: ast.Module, source: str) -> None:
        self.lines = source.split("\n")
        self.printer = _Printer(self.lines)
        self.items: list[ast.InputBlock | ast.SourceDecl | ast.Decl] = sorted(
            [*module.inputs, *module.sources, *module.decls],
            key=lambda i: (i.span.line, i.span.column))
        # Comments by role (see the module doc).
        self.eol: dict[int, list[str]] = {}  # source line -> end-of-line comments
        self.standalone: list[tuple[int, str]] = []
        for c in module.comments:
            text = c.text.rstrip()
            if self.lines[c.line - 1][: c.column - 1].strip():
                self.eol.setdefault(c.line, []).append(text)
            else:
                self.standalone.append((c.line, text))

    def blank_between(self, a: int, b: int) -> bool:
        """Whether a blank source line lies strictly between lines ``a`` and ``b``."""
        return any(not self.lines[i - 1].strip() for i in range(a + 1, b))

    # -------------------------------------------------------------------- top level
    def run(self) -> str:
        out: list[Entry] = []
        standalone = list(self.standalone)
        prev: int | None = None  # last source line emitted
        widths = self._alignment()
        for k, item in enumerate(self.items):
            first, last = item.span.line, item.span.end_line
            while standalone and standalone[0][0] < first:
                line, text = standalone.pop(0)
                if prev is not None and self.blank_between(prev, line):
                    out.append(None)
                out.append(("", text))
                prev = line
            if prev is not None and self.blank_between(prev, first):
                out.append(None)
            inner = [s for s in standalone if s[0] <= last]
            standalone = standalone[len(inner):]
            if isinstance(item, ast.InputBlock):
                out += self._block("input", item.fields, item.clauses, item.span, inner)
            elif isinstance(item, ast.SourceDecl):
                out += self._block(f"source {name_text(item.name)}", item.fields,
                                   item.clauses, item.span, inner)
            else:
                out += self._place(self._decl(item, widths[k]), inner, first, last)
            prev = last
        for line, text in standalone:  # comments after the last declaration
            if prev is not None and self.blank_between(prev, line):
                out.append(None)
            out.append(("", text))
            prev = line
        return _render(out)

    def _alignment(self) -> list[int]:
        """Per item, the width its declaration head is padded to: the widest head of its run
        (consecutive declarations of one kind with no blank line between them)."""
        heads = [len(self._head(i)) if isinstance(i, ast.Decl) else 0 for i in self.items]
        widths = list(heads)
        start = 0
        for k in range(1, len(self.items) + 1):
            ends = k == len(self.items) or not (
                isinstance(self.items[k], ast.Decl) and isinstance(self.items[k - 1], ast.Decl)
                and self.items[k].kind == self.items[k - 1].kind  # type: ignore[union-attr]
                and not self.blank_between(self.items[k - 1].span.end_line,
                                           self.items[k].span.line))
            if ends:
                w = max(heads[start:k])
                widths[start:k] = [w] * (k - start)
                start = k
        return widths

    # -------------------------------------------------------------------- declarations
    @staticmethod
    def _head(d: ast.Decl) -> str:
        typ = f": {type_text(d.type)}" if d.type is not None else ""
        return f"{d.kind} {name_text(d.name)}{typ}"

    def _decl(self, d: ast.Decl, width: int) -> list[_Line]:
        head = self._head(d).ljust(width)
        t = self.printer.text
        if not isinstance(d.expr, ast.Case):
            return [_Line(f"{head} = {t(d.expr)}", d.span.line, end=d.span.end_line)]
        case = d.expr
        lines = [_Line(f"{head} = case", d.span.line, end=case.span.line)]
        for cond, value in case.whens:
            lines.append(_Line(f"{CASE_INDENT}when {t(cond)} then {t(value)}", cond.span.line,
                               CASE_INDENT, end=value.span.end_line))
        if case.otherwise is not None:
            lines.append(_Line(f"{CASE_INDENT}else {t(case.otherwise)}",
                               case.otherwise.span.line, CASE_INDENT,
                               end=case.otherwise.span.end_line))
        lines.append(_Line(f"{INDENT}end", case.span.end_line, CASE_INDENT))
        return lines

    def _place(self, lines: list[_Line], inner: list[tuple[int, str]], first: int,
               last: int, keep_blank: bool = False) -> list[Entry]:
        """Put the comments of source lines ``first..last`` into an item's layout.

        An end-of-line comment ends the output line holding the code before it. A
        standalone one inside the code of an output line (a declaration written over several
        lines and joined) ends that line too; otherwise it goes on its own line before the
        next output line. With ``keep_blank``, a blank source line between lines is kept."""
        for line in range(first, last + 1):
            if line in self.eol:
                i = max(i for i, ln in enumerate(lines) if ln.src <= line)
                if line > (lines[i].end or lines[i].src) and i + 1 < len(lines):
                    i += 1  # a line holding only a keyword (`when`, `else`) of the next one
                lines[i].trailing += [(line, text) for text in self.eol[line]]
        before: dict[int, list[tuple[int, str]]] = {}
        for line, text in inner:
            i = max(i for i, ln in enumerate(lines) if ln.src <= line)
            if line <= (lines[i].end or lines[i].src) or i + 1 == len(lines):
                lines[i].trailing.append((line, text))  # inside that line's code: it ends it
            else:
                before.setdefault(i + 1, []).append((line, text))
        out: list[Entry] = []
        prev = first
        for i, ln in enumerate(lines):
            for line, text in before.get(i, []):
                if keep_blank and i > 0 and self.blank_between(prev, line):
                    out.append(None)
                out.append((ln.comment_indent, text))
                prev = line
            if keep_blank and i > 0 and ln.blank_before and self.blank_between(prev, ln.src):
                out.append(None)
            out.append(ln)
            prev = max(prev, ln.end or ln.src)
        return out

    def _block(self, head: str, fields: tuple[ast.InputField, ...],
               clauses: tuple[ast.Clause, ...], span: Span,
               inner: list[tuple[int, str]]) -> list[Entry]:
        """An ``input`` or ``source NAME`` block: one field or clause a line, in source
        order, field types aligned one space after the longest ``name:``."""
        first, last = span.line, span.end_line
        items: list[ast.InputField | ast.Clause] = sorted(
            [*fields, *clauses], key=lambda f: (f.span.line, f.span.column))
        if not items and not inner and not any(ln in self.eol for ln in range(first, last)):
            return self._place([_Line(f"{head} {{}}", first, end=last)], [], first, last)
        width = max((len(name_text(f.name)) for f in fields), default=0) + 1
        lines = [_Line(f"{head} {{", first)]
        for f in items:
            if isinstance(f, ast.InputField):
                text = f"{(name_text(f.name) + ':').ljust(width)} {type_text(f.type)}"
            else:
                text = clause_text(f)
            lines.append(_Line(f"{INDENT}{text}", f.span.line, INDENT, end=f.span.end_line))
        # When the last item ends on the `}` line, that line's end-of-line comments are the
        # item's (a `# featuredsl: ignore` there must stay with the field).
        shared = bool(items) and items[-1].span.end_line == last
        lines.append(_Line("}", last + shared, INDENT, blank_before=False))
        return self._place(lines, inner, first, last, keep_blank=True)


def clause_text(clause: ast.Clause) -> str:
    """A ``time t`` or ``key a, b`` clause as source. The word ``source`` is backquoted
    there: at the start of a line, ``source x`` would begin a new declaration."""
    word = "`source`" if clause.word == "source" else name_text(clause.word)
    return f"{word} {', '.join(name_text(n) for n, _ in clause.names)}"


def _render(entries: list[Entry]) -> str:
    """Text of the entries; end-of-line comments aligned across consecutive commented lines."""
    out: list[str] = []
    k = 0
    while k < len(entries):
        e = entries[k]
        if isinstance(e, _Line) and e.trailing:
            run = [e]
            while k + len(run) < len(entries):
                nxt = entries[k + len(run)]
                if not (isinstance(nxt, _Line) and nxt.trailing):
                    break
                run.append(nxt)
            col = max(len(ln.text) for ln in run) + 2
            out += [ln.text.ljust(col) + " ".join(t for _, t in sorted(ln.trailing)) for ln in run]
            k += len(run)
            continue
        if e is None:
            if out and out[-1] != "":
                out.append("")
        elif isinstance(e, _Line):
            out.append(e.text)
        else:
            out.append(e[0] + e[1])
        k += 1
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""
