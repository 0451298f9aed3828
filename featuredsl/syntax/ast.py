"""The abstract syntax tree of a `.feat` file: plain immutable dataclasses with source spans.

The parser builds it from lark's parse tree; the checker turns it into the typed IR. Nothing
here knows about types or backends.

Walk an expression with :meth:`Node.children` (or the function :func:`children`): the
sub-expressions of a node in source order. Walks are written with an explicit stack, since a
spec may nest up to ``parser.MAX_DEPTH`` levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from featuredsl.errors import Span


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the tree; ``span`` is where it is in the source."""

    span: Span

    def children(self) -> tuple[Node, ...]:
        """The node's direct sub-expressions in source order (keyword argument values
        included); none for a leaf (literal, name) or a declaration-level node."""
        return ()


# ------------------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A literal. ``kind`` is int, float, string, bool, null or duration (value in microseconds)."""

    kind: str
    value: object


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    """A list literal ``[a, b, ...]``."""

    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        """The items."""
        return self.items


@dataclass(frozen=True, slots=True)
class Ref(Node):
    """A reference to an input, a let, or a stat by name."""

    name: str


@dataclass(frozen=True, slots=True)
class FieldRef(Node):
    """``source.field``: a field of an event source (the argument of a window aggregate, or a
    name in its ``where=`` predicate)."""

    source: str
    field: str
    source_span: Span
    field_span: Span


@dataclass(frozen=True, slots=True)
class Kwarg:
    """``name=value`` in a call (not itself an expression: its ``value`` is a call's child)."""

    name: str
    value: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Call(Node):
    """``name(args..., kw=value, ...)``: a function call (``name_span`` covers the name only).
    A window aggregate is also a call; the checker tells them apart.
    """

    name: str
    name_span: Span
    args: tuple[Node, ...]
    kwargs: tuple[Kwarg, ...] = ()

    def children(self) -> tuple[Node, ...]:
        """The positional arguments, then the keyword arguments' values."""
        return (*self.args, *(k.value for k in self.kwargs))


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``-x`` (op ``neg``) or ``not x`` (op ``not``)."""

    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        """The operand."""
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic (``+ - * / // %``), comparison (``== != < <= > >=``), ``and``, ``or``, ``??``."""

    op: str
    left: Node
    right: Node
    op_span: Span

    def children(self) -> tuple[Node, ...]:
        """The left and right operands."""
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class In(Node):
    """``x in list`` or ``x not in list``."""

    operand: Node
    collection: Node
    negated: bool

    def children(self) -> tuple[Node, ...]:
        """The operand and the collection."""
        return (self.operand, self.collection)


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    """``x is null`` or ``x is not null``."""

    operand: Node
    negated: bool

    def children(self) -> tuple[Node, ...]:
        """The operand."""
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class If(Node):
    """``if cond then a else b``."""

    cond: Node
    then: Node
    otherwise: Node

    def children(self) -> tuple[Node, ...]:
        """The condition and both branches."""
        return (self.cond, self.then, self.otherwise)


@dataclass(frozen=True, slots=True)
class Case(Node):
    """``case when c then v ... [else w] end``."""

    whens: tuple[tuple[Node, Node], ...]
    otherwise: Node | None

    def children(self) -> tuple[Node, ...]:
        """Each condition and its value in order, then the ``else`` value if any."""
        parts = tuple(x for w in self.whens for x in w)
        return parts if self.otherwise is None else (*parts, self.otherwise)


# ------------------------------------------------------------------------------ declarations


@dataclass(frozen=True, slots=True)
class TypeExpr(Node):
    """A written type: ``name`` (``int``, ``list``, ...), the element type of a ``list``, and
    whether it ends in ``?``.
    """

    name: str
    elem: TypeExpr | None
    nullable: bool


@dataclass(frozen=True, slots=True)
class InputField(Node):
    """``name: type`` in an input block."""

    name: str
    type: TypeExpr


@dataclass(frozen=True, slots=True)
class Clause(Node):
    """A clause of an input block or a source: ``time t`` or ``key a, b``: the clause word,
    its span, and the names it lists with their spans."""

    word: str
    word_span: Span
    names: tuple[tuple[str, Span], ...]


@dataclass(frozen=True, slots=True)
class InputBlock(Node):
    """``input { ... }``: the row's fields and its ``time`` clause, if any."""

    fields: tuple[InputField, ...]
    clauses: tuple[Clause, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDecl(Node):
    """``source NAME { fields; key f[, g]; time t }``: an event log (SPEC 13)."""

    name: str
    name_span: Span
    fields: tuple[InputField, ...]
    clauses: tuple[Clause, ...]
    doc: str | None = None


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
    sources: list[SourceDecl] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node`` in source order (:meth:`Node.children`)."""
    return node.children()
