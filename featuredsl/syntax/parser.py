"""Parse `.feat` source text into an AST (:class:`featuredsl.syntax.ast.Module`).

The grammar is ``grammar/featuredsl.lark`` (shipped inside the wheel as
``featuredsl/grammar/featuredsl.lark``). To report *every* syntax error of a file at once, the
source is split into declarations (a declaration starts at a line whose first word is
``input``, ``stat``, ``let`` or ``feature``, all reserved) and each is parsed on its own; the
chunks are padded with newlines so that lark's line numbers are the file's.

The tree-to-AST pass is non-recursive and measures nesting depth, so a pathological input gives
a ``SpecError`` (E210) rather than a ``RecursionError`` in the checker or backends.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path

import lark
from lark import Lark, Token, Transformer_NonRecursive, v_args

from featuredsl.errors import Diagnostic, Span, normalize_source
from featuredsl.syntax import ast

_INT64_MIN = -(2**63)


def _big_int(text: str) -> int:
    """The value of a digit string; a very long one (Python's int() refuses more than 4300
    digits) becomes 10**40, which is out of every range just as well."""
    digits = text.replace("_", "").lstrip("0") or "0"
    return int(digits) if len(digits) <= 40 else 10**40

#: Deepest expression nesting accepted; deeper input is E210 (split it with `let`).
MAX_DEPTH = 200

# `source` is not reserved (a field may be called so): it starts a declaration only when a
# name follows it and then `{` or the end of the line.
_DECL_START = re.compile(r"^[ \t]*((input|stat|let|feature)(?![A-Za-z0-9_])"
                         r"|source[ \t]+([A-Za-z_][A-Za-z0-9_]*|`[^`\n]+`)[ \t]*(\{|$))")
# Strings and backquoted names first, so a `#` inside them is not taken for a comment.
_COMMENT_SCAN = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`\n]*`|(#[^\n]*)')
_DURATION_PART = re.compile(r"([0-9]+)(ms|us|d|h|m|s)")
_DURATION_US = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000,
                "ms": 1_000, "us": 1}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}

_TOKEN_NAMES = {
    "NAME": "a name", "BQNAME": "a name", "INT": "a number", "FLOAT": "a number",
    "STRING": "a string", "DURATION": "a duration", "COMPOP": "a comparison",
    "ADDOP": "`+` or `-`", "MULOP": "an operator", "NEG": "`-`", "QMARK": "`?`",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`",
    "RBRACE": "`}`", "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "$END": "end of input",
}


def grammar_text() -> str:
    """The grammar, from the installed package if present, else from the source tree."""
    packaged = resources.files("featuredsl") / "grammar" / "featuredsl.lark"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source_tree = Path(__file__).resolve().parents[2] / "grammar" / "featuredsl.lark"
    return source_tree.read_text(encoding="utf-8")


@cache
def _lark() -> Lark:
    # cache=True keeps the built LALR tables in the temp directory, keyed by the grammar's
    # hash: the first compile in a fresh process then skips ~100 ms of table building.
    return Lark(
        grammar_text(), parser="lalr", start=["start", "decl"], propagate_positions=True,
        maybe_placeholders=True, cache=True,
    )


def _span_of(tok: Token) -> Span:
    return Span(tok.line or 1, tok.column or 1, tok.end_line or 1, tok.end_column or 1)


def _join(a: Span, b: Span) -> Span:
    return Span(a.line, a.column, b.end_line, b.end_column)


class _Depth:
    """Attach nesting depth to nodes without recursion (kept off the frozen AST)."""

    def __init__(self) -> None:
        self.depth: dict[int, int] = {}

    def of(self, node: object) -> int:
        return self.depth.get(id(node), 0)

    def set(self, node: ast.Node, *children: object) -> ast.Node:
        self.depth[id(node)] = 1 + max((self.of(c) for c in children), default=0)
        return node


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """lark tree -> AST. Literal decoding errors are collected, not raised."""

    def __init__(self, diagnostics: list[Diagnostic], file: str) -> None:
        super().__init__()
        self.diags = diagnostics
        self.file = file
        self.d = _Depth()
        self.too_deep: ast.Node | None = None

    def _node(self, node: ast.Node, *children: object) -> ast.Node:
        self.d.set(node, *children)
        if self.d.of(node) > MAX_DEPTH and self.too_deep is None:
            self.too_deep = node
        return node

    def _error(self, code: str, msg: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic.at(code, msg, span, hint, self.file))

    # -- names and types
    def name(self, meta, children):
        tok: Token = children[0]
        text = str(tok)
        return (text[1:-1] if tok.type == "BQNAME" else text), _span_of(tok)

    def type_expr(self, meta, children):
        name_tok, elem, q = children
        return ast.TypeExpr(_span_of_meta(meta), str(name_tok), elem, q is not None)

    # -- declarations
    def input_field(self, meta, children):
        (name, nspan), texpr = children
        return ast.InputField(_join(nspan, texpr.span), name, texpr)

    def input_block(self, meta, children):
        items = [c for c in children if c is not None]
        return ast.InputBlock(_span_of_meta(meta),
                              tuple(c for c in items if isinstance(c, ast.InputField)),
                              tuple(c for c in items if isinstance(c, ast.Clause)))

    def _clause(self, meta, children) -> ast.Clause:
        (word, wspan), *names = children
        return ast.Clause(_span_of_meta(meta), word, wspan, tuple(names))

    def time_clause(self, meta, children):
        return self._clause(meta, children)

    def source_clause(self, meta, children):
        return self._clause(meta, children)

    def source_decl(self, meta, children):
        (name, nspan), *items = children
        return ast.SourceDecl(_span_of_meta(meta), name, nspan,
                              tuple(c for c in items if isinstance(c, ast.InputField)),
                              tuple(c for c in items if isinstance(c, ast.Clause)))

    def _decl(self, kind: str, meta, name, expr, texpr=None) -> ast.Decl:
        return ast.Decl(_span_of_meta(meta), kind, name[0], name[1], expr, texpr)

    def stat_decl(self, meta, children):
        return self._decl("stat", meta, children[0], children[1])

    def let_decl(self, meta, children):
        return self._decl("let", meta, children[0], children[1])

    def feature_decl(self, meta, children):
        return self._decl("feature", meta, children[0], children[2], children[1])

    # -- literals
    def int_lit(self, meta, children):
        tok = children[0]
        return self._node(ast.Literal(_span_of(tok), "int", _big_int(str(tok))))

    def float_lit(self, meta, children):
        tok = children[0]
        value = float(str(tok).replace("_", ""))
        if value in (float("inf"), float("-inf")):
            self._error("E002", f"float literal `{tok}` is out of the float64 range",
                        _span_of(tok))
        return self._node(ast.Literal(_span_of(tok), "float", value))

    def string_lit(self, meta, children):
        tok = children[0]
        return self._node(ast.Literal(_span_of(tok), "string", self._unescape(tok)))

    def duration_lit(self, meta, children):
        tok = children[0]
        total = sum(_big_int(n) * _DURATION_US[u] for n, u in _DURATION_PART.findall(str(tok)))
        if total > -_INT64_MIN - 1:
            self._error("E004", f"duration literal `{tok}` is out of range", _span_of(tok),
                        "durations hold up to 106751991 days (int64 microseconds)")
            total = 0
        return self._node(ast.Literal(_span_of(tok), "duration", total))

    def true_lit(self, meta, children):
        return self._node(ast.Literal(_span_of_meta(meta), "bool", True))

    def false_lit(self, meta, children):
        return self._node(ast.Literal(_span_of_meta(meta), "bool", False))

    def null_lit(self, meta, children):
        return self._node(ast.Literal(_span_of_meta(meta), "null", None))

    def _unescape(self, tok: Token) -> str:
        raw = str(tok)[1:-1]
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            col = (tok.column or 1) + 1 + i
            span = Span(tok.line or 1, col, tok.line or 1, col + 2)
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt in ("u", "U"):
                width = 4 if nxt == "u" else 8
                digits = raw[i + 2 : i + 2 + width]
                if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                    code = int(digits, 16)
                    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                        self._error("E003", f"`\\{nxt}{digits}` is not a Unicode scalar value",
                                    Span(span.line, col, span.line, col + 2 + width))
                    else:
                        out.append(chr(code))
                    i += 2 + width
                else:
                    self._error("E003", f"`\\{nxt}` needs exactly {width} hex digits",
                                span, f"write `\\{nxt}{'0' * (width - 1)}41` for `A`")
                    i += 2
            else:
                self._error("E003", f"unknown escape `\\{nxt}` in string", span,
                            'valid escapes are \\" \\\\ \\n \\t \\r \\0 \\uXXXX \\UXXXXXXXX')
                i += 2
        return "".join(out)

    # -- expressions
    def list_lit(self, meta, children):
        items = tuple(c for c in children if c is not None)
        return self._node(ast.ListLit(_span_of_meta(meta), items), *items)

    def ref(self, meta, children):
        name, span = children[0]
        return self._node(ast.Ref(span, name))

    def field_ref(self, meta, children):
        (source, sspan), (fld, fspan) = children
        return self._node(ast.FieldRef(_span_of_meta(meta), source, fld, sspan, fspan))

    def kwarg(self, meta, children):
        (name, nspan), value = children
        return ast.Kwarg(name, value, _join(nspan, value.span))

    def call(self, meta, children):
        (name, nspan), *rest = children
        args = tuple(c for c in rest if c is not None and not isinstance(c, ast.Kwarg))
        kwargs = tuple(c for c in rest if isinstance(c, ast.Kwarg))
        node = ast.Call(_span_of_meta(meta), name, nspan, args, kwargs)
        return self._node(node, *args, *(k.value for k in kwargs))

    def neg(self, meta, children):
        _, operand = children
        span = _span_of_meta(meta)
        if isinstance(operand, ast.Literal) and operand.kind in ("int", "float", "duration") \
                and not (operand.kind == "int" and operand.value == _INT64_MIN):
            # `-9223372036854775808` is one literal; `-(-9223372036854775808)` is not a literal
            # out of range but the negation of int64 min, which overflows to null at run time.
            return self._node(ast.Literal(span, operand.kind, -operand.value))  # type: ignore
        return self._node(ast.Unary(span, "neg", operand), operand)

    def not_op(self, meta, children):
        operand = children[0]
        return self._node(ast.Unary(_span_of_meta(meta), "not", operand), operand)

    def _binary(self, meta, op: str, left, right, op_span: Span | None = None) -> ast.Node:
        span = _span_of_meta(meta)
        node = ast.Binary(span, op, left, right, op_span or span)
        return self._node(node, left, right)

    def binop(self, meta, children):
        left, tok, right = children
        return self._binary(meta, str(tok), left, right, _span_of(tok))

    def compare(self, meta, children):
        left, tok, right = children
        return self._binary(meta, str(tok), left, right, _span_of(tok))

    def and_op(self, meta, children):
        return self._binary(meta, "and", *children)

    def or_op(self, meta, children):
        return self._binary(meta, "or", *children)

    def coalesce_op(self, meta, children):
        return self._binary(meta, "??", *children)

    def in_op(self, meta, children):
        a, b = children
        return self._node(ast.In(_span_of_meta(meta), a, b, False), a, b)

    def not_in_op(self, meta, children):
        a, b = children
        return self._node(ast.In(_span_of_meta(meta), a, b, True), a, b)

    def is_null(self, meta, children):
        return self._node(ast.IsNull(_span_of_meta(meta), children[0], False), children[0])

    def is_not_null(self, meta, children):
        return self._node(ast.IsNull(_span_of_meta(meta), children[0], True), children[0])

    def if_expr(self, meta, children):
        c, t, e = children
        return self._node(ast.If(_span_of_meta(meta), c, t, e), c, t, e)

    def when_clause(self, meta, children):
        return (children[0], children[1])

    def case_expr(self, meta, children):
        *whens, otherwise = children
        parts = [x for w in whens for x in w]
        node = ast.Case(_span_of_meta(meta), tuple(whens), otherwise)
        return self._node(node, *parts, otherwise)


def _span_of_meta(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _chunks(source: str) -> list[tuple[int, str]]:
    """Split the source into (first line number, text) per declaration."""
    lines = source.split("\n")
    starts = [i for i, line in enumerate(lines) if _DECL_START.match(line)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = [*starts, len(lines)]
    return [(bounds[k] + 1, "\n".join(lines[bounds[k] : bounds[k + 1]]))
            for k in range(len(starts))]


def _doc_comment(lines: list[str], decl_line: int) -> str | None:
    """The ``##`` lines directly above a declaration, joined, or ``None``."""
    docs: list[str] = []
    i = decl_line - 2
    while i >= 0 and lines[i].lstrip().startswith("##"):
        docs.append(lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(reversed(docs)) if docs else None


def _char_text(ch: str) -> str:
    """A character for a message: itself in backquotes when visible, else its code point and
    name (``U+FEFF ZERO WIDTH NO-BREAK SPACE``), so an invisible character can be found."""
    if ch.isprintable() and not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Mn"):
        return f"`{ch}`"
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


#: A number with a calendar or unknown unit (`1mo`, `2y`, `1w`), so the error can say why.
_BAD_DURATION = re.compile(r"[0-9]+(mo|mon|months?|y|yr|years?|w|wk|weeks?|ns)(?![A-Za-z0-9_])")


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, file: str,
                       text: str = "") -> Diagnostic:
    line, col = max(err.line, 1), max(err.column, 1)
    hint = None
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        ch = err.char
        msg = f"unexpected character {_char_text(ch)}"
        if ch == "'":
            hint = 'strings use double quotes: "..."'
        elif ch == "&" or ch == "|":
            hint = "use `and` / `or`"
        elif ch == "!":
            hint = "use `not x` or `!=`"
        elif ch == "=":
            hint = "use `==` to compare"
        end = col + 1
        bad_unit = _BAD_DURATION.match(text, err.pos_in_stream or 0)
        if bad_unit:
            msg = f"`{bad_unit.group(0)}` is not a duration"
            end = col + len(bad_unit.group(0))
            hint = ("a duration counts d, h, m, s, ms or us (a day is 86,400 s); months and "
                    "years have no fixed length: write 30d or 365d, a week 7d")
        return Diagnostic("E001", msg, line, col, line, end, hint, "error", file)
    if isinstance(err, lark.exceptions.UnexpectedToken):
        tok = err.token
        expected = sorted({_TOKEN_NAMES.get(t, f"`{t.lower()}`") for t in err.expected
                           if not t.startswith("__")})
        if tok.type == "$END":
            msg = "unexpected end of declaration"
            end = col + 1
        else:
            msg = f"unexpected `{tok}`"
            end = (tok.end_column or col + 1) if tok.end_line == tok.line else col + 1
        if tok.type == "EQUAL" or str(tok) == "=":
            hint = "use `==` to compare"
        elif tok.type == "COMPOP" and err.state is not None:
            hint = "comparisons do not chain: write `a < b and b < c`"
        elif expected and len(expected) <= 6:
            hint = "expected " + ", ".join(expected)
        return Diagnostic("E001", msg, line, col, line, end, hint, "error", file)
    return Diagnostic("E001", "syntax error", line, col, line, col + 1, None, "error", file)


def parse(source: str, file: str = "<spec>") -> tuple[ast.Module, list[Diagnostic]]:
    """Parse a whole `.feat` source. Returns the module and every syntax diagnostic.

    A leading byte-order mark is ignored and ``\r\n``, ``\r`` and ``\n`` all end a line
    (:func:`featuredsl.errors.source_lines`): positions are those an editor shows.
    """
    source = normalize_source(source)
    diagnostics: list[Diagnostic] = []
    module = ast.Module()
    lines = source.split("\n")
    for m in _COMMENT_SCAN.finditer(source):
        if m.group(1) is not None:
            line = source.count("\n", 0, m.start(1)) + 1
            col = m.start(1) - (source.rfind("\n", 0, m.start(1)) + 1) + 1
            module.comments.append(ast.Comment(m.group(1), line, col))
    for first_line, text in _chunks(source):
        if not text.strip() or all(
            not ln.strip() or ln.lstrip().startswith("#") for ln in text.split("\n")
        ):
            continue
        padded = "\n" * (first_line - 1) + text
        try:
            tree = _lark().parse(padded, start="decl")
        except lark.exceptions.UnexpectedInput as err:
            diagnostics.append(_syntax_diagnostic(err, file, padded))
            continue
        builder = _ToAst(diagnostics, file)
        node = builder.transform(tree)
        if builder.too_deep is not None:
            diagnostics.append(Diagnostic.at(
                "E210", f"expression nested more than {MAX_DEPTH} levels deep",
                builder.too_deep.span, "split it into named parts with `let`", file))
            continue
        if isinstance(node, ast.InputBlock):
            module.inputs.append(node)
        elif isinstance(node, ast.SourceDecl):
            module.sources.append(ast.SourceDecl(
                node.span, node.name, node.name_span, node.fields, node.clauses,
                _doc_comment(lines, node.span.line)))
        else:
            assert isinstance(node, ast.Decl)
            doc = _doc_comment(lines, node.span.line)
            module.decls.append(ast.Decl(node.span, node.kind, node.name, node.name_span,
                                         node.expr, node.type, doc))
    return module, diagnostics
