"""The type system of featuredsl (SPEC section 3).

A :class:`Type` is a kind (``bool``, ``int``, ``float``, ``string``, ``timestamp``, ``date``,
``duration``, ``list``, or ``null`` for the literal ``null``), an element type for lists, and a
``nullable`` flag. The checker tracks nullability precisely so that the row backend only emits
``is None`` checks where a value can really be null.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Kinds a user can write in a `.feat` file.
SCALAR_KINDS = ("bool", "int", "float", "string", "timestamp", "date", "duration")


@dataclass(frozen=True, slots=True)
class Type:
    """A featuredsl type: a kind, an element type for lists, and whether it may be null."""

    kind: str
    nullable: bool = False
    elem: Type | None = None

    def __str__(self) -> str:
        base = f"list[{self.elem}]" if self.kind == "list" else self.kind
        return base + "?" if self.nullable and self.kind != "null" else base

    @property
    def base(self) -> Type:
        """The same type without the nullable flag."""
        return Type(self.kind, False, self.elem) if self.nullable else self

    def with_nullable(self, nullable: bool = True) -> Type:
        """The same type with the given nullability."""
        if self.kind == "null":
            return self
        return Type(self.kind, nullable, self.elem)

    @property
    def is_numeric(self) -> bool:
        """Whether values are numbers (``int`` or ``float``)."""
        return self.kind in ("int", "float")


BOOL = Type("bool")
INT = Type("int")
FLOAT = Type("float")
STRING = Type("string")
TIMESTAMP = Type("timestamp")
DATE = Type("date")
DURATION = Type("duration")
NULL = Type("null", nullable=True)


def list_of(elem: Type, nullable: bool = False) -> Type:
    """The type ``list[elem]``."""
    return Type("list", nullable, elem)


def parse_type_name(name: str) -> Type | None:
    """Map a scalar type name to its type, or ``None`` if the name is unknown."""
    return Type(name) if name in SCALAR_KINDS else None


def unify(a: Type, b: Type) -> Type | None:
    """The common type of two branches (``if``, ``case``, ``??``, lists), or ``None``.

    ``null`` unifies with anything (making it nullable); ``int`` and ``float`` unify to
    ``float``; lists unify element-wise. Nothing else converts implicitly.
    """
    if a.kind == "null":
        return b.with_nullable(True) if b.kind != "null" else a
    if b.kind == "null":
        return a.with_nullable(True)
    nullable = a.nullable or b.nullable
    if a.kind == b.kind:
        if a.kind != "list":
            return Type(a.kind, nullable)
        assert a.elem is not None and b.elem is not None
        elem = unify(a.elem, b.elem)
        return None if elem is None else Type("list", nullable, elem)
    if {a.kind, b.kind} == {"int", "float"}:
        return Type("float", nullable)
    return None


def accepts(param: Type, arg: Type) -> str | None:
    """How an argument of type ``arg`` fits a parameter of kind ``param`` (nullability aside).

    Returns ``"exact"``, ``"promote"`` (int to float), or ``None`` if it does not fit.
    """
    if arg.kind == "null":
        return "exact"
    if param.kind == arg.kind:
        if param.kind != "list":
            return "exact"
        assert param.elem is not None and arg.elem is not None
        if param.elem.kind == "any" or arg.elem.kind == "null":
            return "exact"
        return accepts(param.elem, arg.elem)
    if param.kind == "any":
        return "exact"
    if param.kind == "float" and arg.kind == "int":
        return "promote"
    return None
