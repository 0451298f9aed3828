"""The abstract syntax tree of a `.feat` file: plain immutable dataclasses with source spans.

The parser builds it from lark's parse tree; the checker turns it into the typed IR. Nothing
here knows about types or backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from featuredsl.errors import Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span


# ------------------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A literal. ``kind`` is int, float, string, bool, null or duration (value in microseconds)."""

    kind: str
    value: object


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Ref(Node):
    """A reference to an input, a let, or a stat by name."""

    name: str


@dataclass(frozen=True, slots=True)
class Kwarg:
    name: str
    value: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    name_span: Span
    args: tuple[Node, ...]
    kwargs: tuple[Kwarg, ...] = ()


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``-x`` (op ``neg``) or ``not x`` (op ``not``)."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic (``+ - * / // %``), comparison (``== != < <= > >=``), ``and``, ``or``, ``??``."""

    op: str
    left: Node
    right: Node
    op_span: Span


@dataclass(frozen=True, slots=True)
class In(Node):
    """``x in list`` or ``x not in list``."""

    operand: Node
    collection: Node
    negated: bool


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    """``x is null`` or ``x is not null``."""

    operand: Node
    negated: bool


@dataclass(frozen=True, slots=True)
class If(Node):
    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Case(Node):
    whens: tuple[tuple[Node, Node], ...]
    otherwise: Node | None


# ------------------------------------------------------------------------------ declarations


@dataclass(frozen=True, slots=True)
class TypeExpr(Node):
    name: str
    elem: TypeExpr | None
    nullable: bool


@dataclass(frozen=True, slots=True)
class InputField(Node):
    name: str
    type: TypeExpr


@dataclass(frozen=True, slots=True)
class InputBlock(Node):
    fields: tuple[InputField, ...]


@dataclass(frozen=True, slots=True)
class Decl(Node):
    """A ``stat``, ``let`` or ``feature`` declaration."""

    kind: str
    name: str
    name_span: Span
    expr: Node
    type: TypeExpr | None = None
    doc: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A source comment, kept for the formatter."""

    text: str
    line: int
    column: int


@dataclass(slots=True)
class Module:
    """A parsed `.feat` file: its declarations in source order, and its comments."""

    inputs: list[InputBlock] = field(default_factory=list)
    decls: list[Decl] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
