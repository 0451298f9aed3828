"""The typed intermediate representation both backends lower from.

The checker produces it; it is immutable, every node carries its :class:`Type` (nullability
included), and every function call names the registry overload the checker chose, so backends
never re-derive types or overloads. Operators are ordinary registry functions (``add``, ``eq``,
...); only the forms that are not null-propagating or that evaluate lazily have their own node.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from featuredsl.types import Type

if TYPE_CHECKING:
    from featuredsl.functions.registry import Function, Overload


@dataclass(frozen=True, eq=False, slots=True)
class Expr:
    """The base of every IR node: an expression whose value has ``type`` (nullability included)."""

    type: Type

    def children(self) -> tuple[Expr, ...]:
        """The direct sub-expressions, in evaluation order (none for a leaf)."""
        return ()

    def key(self) -> tuple:
        """A structural key: equal keys compute equal values (used for sharing work)."""
        return (type(self).__name__, self.type, *(c.key() for c in self.children()))


@dataclass(frozen=True, eq=False, slots=True)
class Const(Expr):
    """A constant: a literal (ints, floats, strings, bools, None, durations in µs, tuples)."""

    value: object

    def key(self) -> tuple:
        """The structural key; ``repr`` of the value tells -0.0 from 0.0 and 1 from 1.0 and True."""
        return ("Const", self.type, repr(self.value))


@dataclass(frozen=True, eq=False, slots=True)
class Input(Expr):
    """A row input (declared in the ``input`` block), read by ``name``."""

    name: str

    def key(self) -> tuple:
        """An input's key is its name: the same input is the same value everywhere."""
        return ("Input", self.name)


@dataclass(frozen=True, eq=False, slots=True)
class LetRef(Expr):
    """A reference to a ``let`` (or to another feature) by name; backends compute it once."""

    name: str

    def key(self) -> tuple:
        """A let's key is its name (backends compute it once and share it)."""
        return ("LetRef", self.name)


@dataclass(frozen=True, eq=False, slots=True)
class StatRef(Expr):
    """A fitted statistic, inlined as a constant once fitted."""

    name: str

    def key(self) -> tuple:
        """A statistic's key is its name (one fitted value)."""
        return ("StatRef", self.name)


@dataclass(frozen=True, eq=False, slots=True)
class Call(Expr):
    """A call of a registry function with the overload the checker chose.

    ``args`` are the argument expressions in parameter order (defaults filled in).
    """

    function: Function
    overload: Overload
    args: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        """The arguments, in parameter order."""
        return self.args

    def key(self) -> tuple:
        """The chosen overload's id and the arguments' keys (the overload fixes the types)."""
        return ("Call", self.overload.id, *(a.key() for a in self.args))


@dataclass(frozen=True, eq=False, slots=True)
class Cast(Expr):
    """An implicit promotion inserted by the checker (today: int to float)."""

    arg: Expr

    def children(self) -> tuple[Expr, ...]:
        """The promoted expression."""
        return (self.arg,)


@dataclass(frozen=True, eq=False, slots=True)
class If(Expr):
    """``if c then a else b``: the else branch is taken when ``c`` is false *or null*."""

    cond: Expr
    then: Expr
    otherwise: Expr

    def children(self) -> tuple[Expr, ...]:
        """The condition and both branches."""
        return (self.cond, self.then, self.otherwise)


@dataclass(frozen=True, eq=False, slots=True)
class Logic(Expr):
    """Kleene ``and`` / ``or`` (``op`` is ``"and"`` or ``"or"``)."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        """Both operands, left first (``or`` / ``and`` short-circuit left to right)."""
        return (self.left, self.right)

    def key(self) -> tuple:
        """The operator and both operands' keys."""
        return ("Logic", self.op, self.left.key(), self.right.key())


@dataclass(frozen=True, eq=False, slots=True)
class Coalesce(Expr):
    """The first non-null argument (``??`` and ``coalesce``)."""

    args: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        """The arguments, in order of preference."""
        return self.args


@dataclass(frozen=True, eq=False, slots=True)
class IsNull(Expr):
    """``x is null`` (``negated``: ``x is not null``); never null itself."""

    arg: Expr
    negated: bool

    def children(self) -> tuple[Expr, ...]:
        """The tested expression."""
        return (self.arg,)

    def key(self) -> tuple:
        """Whether it is negated and the tested expression's key."""
        return ("IsNull", self.negated, self.arg.key())


@dataclass(frozen=True, eq=False, slots=True)
class Aggregate(Expr):
    """An aggregate over the training data (the body of a ``stat``): fitted, never per row."""

    function: Function
    overload: Overload
    args: tuple[Expr, ...]
    #: The group keys of a grouped statistic (``mean(x, by=g)``; empty: ungrouped).
    by: tuple[Expr, ...] = ()
    #: The grouped options (``min_count``, ``smoothing``, ``top``) as sorted (name, value).
    options: tuple[tuple[str, object], ...] = ()

    def children(self) -> tuple[Expr, ...]:
        """The aggregated arguments, then the group keys."""
        return (*self.args, *self.by)

    def option(self, name: str, default: object = None) -> object:
        """A grouped option's value (``default`` when not written)."""
        return dict(self.options).get(name, default)

    def key(self) -> tuple:
        """The chosen overload's id, the arguments' keys, the group keys and options."""
        base = ("Aggregate", self.overload.id, *(a.key() for a in self.args))
        if not self.by:
            return base
        return (*base, "by", *(b.key() for b in self.by), repr(self.options))


@dataclass(frozen=True, slots=True)
class GroupTable:
    """The fitted value of a grouped statistic: one value per group key (a tuple with one
    element per ``by`` expression), keys in the fit's order (most rows first, ties by key
    ascending). Float keys are never NaN and never -0.0 (NaN is null, -0.0 is 0.0)."""

    keys: tuple[tuple[object, ...], ...]
    values: tuple[object, ...]
    #: training rows of each group (rows whose keys are all non-null)
    rows: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """An event source (SPEC 13): its fields and types, its key fields, its time field."""

    name: str
    fields: dict[str, Type]
    keys: tuple[str, ...]
    time: str
    doc: str | None = None


@dataclass(frozen=True, eq=False, slots=True)
class Window(Expr):
    """A windowed aggregate over an event source: for a row with key ``k`` (the inputs
    ``by``, matched to the source's keys in order) and time ``t`` (the input block's ``time``),
    the aggregate ``function`` of the events of key ``k`` with ``t - over <= time < t``
    (``over`` in µs; ``None``: every earlier event) for which ``where`` is true.

    A leaf of the row expression, like an input: its value comes from the window machinery
    (``featuredsl.windows``), computed by each backend's own half of the registry entry.
    ``field`` is the aggregated source field (``None`` for ``count(src)``); ``where`` is an
    expression over the source's fields (as :class:`Input` nodes named by field)."""

    function: str
    source: str
    field: str | None
    over: int | None
    where: Expr | None
    by: tuple[str, ...]

    def key(self) -> tuple:
        """Everything that decides the window's value: function, type, source, field, ``over``,
        the ``where`` predicate's key and the ``by`` inputs.
        """
        return ("Window", self.function, self.type, self.source, self.field, self.over,
                None if self.where is None else self.where.key(), self.by)

    @property
    def column(self) -> str:
        """The name of the temporary column the batch backend computes this window into:
        derived from the window's structure, so equal windows share one column."""
        import hashlib

        digest = hashlib.sha256(repr(self.key()).encode()).hexdigest()[:16]
        return f"__fd_w_{digest}"


@dataclass(frozen=True, slots=True)
class Feature:
    """A ``feature`` declaration: an output column, its expression and its doc comment."""

    name: str
    expr: Expr
    doc: str | None = None


@dataclass(frozen=True, slots=True)
class Stat:
    """A fitted statistic: its aggregate, and the display text it came from."""

    name: str
    expr: Aggregate
    source: str
    doc: str | None = None
    inline: bool = False


@dataclass(slots=True)
class Program:
    """A checked spec: inputs, statistics, lets and features, all typed."""

    inputs: dict[str, Type] = field(default_factory=dict)
    stats: dict[str, Stat] = field(default_factory=dict)
    #: Every named value (``let`` and ``feature``) by name; other values refer to them by
    #: :class:`LetRef`.
    values: dict[str, Expr] = field(default_factory=dict)
    #: The outputs, in declaration order.
    features: list[Feature] = field(default_factory=list)
    #: Named values in dependency order (dependencies first).
    order: list[str] = field(default_factory=list)
    #: Event sources by name, and the input that is the row's time (SPEC 13).
    sources: dict[str, Source] = field(default_factory=dict)
    time: str | None = None


@dataclass(frozen=True, slots=True)
class BoundFeature:
    """An output: its name, its bound expression and its declared type (the type of the
    checked definition: folding may narrow a bound expression's nullability, never its kind)."""

    name: str
    expr: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class BoundProgram:
    """What the backends lower, made by :func:`featuredsl.bind.bind`: inputs, the needed
    named values (bound), the outputs, and any extra bound expressions asked for (fit's
    statistic arguments)."""

    inputs: dict[str, Type]
    #: The named values the outputs and ``exprs`` read (row-dependent ones only: a value that
    #: folded to a constant is inlined), by name.
    values: dict[str, Expr]
    #: ``values``' names in dependency order.
    order: list[str]
    features: list[BoundFeature]
    exprs: list[Expr]
    #: The distinct windowed aggregates the values read (by structure), the sources they
    #: aggregate and the input that is the row's time: what the window machinery computes
    #: before the backends run.
    windows: list[Window] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    time: str | None = None


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression tree, parents before children (non-recursive)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


def referenced_values(values: Mapping[str, Expr], order: Iterable[str],
                      roots: Iterable[Expr]) -> list[str]:
    """The named values (lets and features) that ``roots`` read, directly or through other
    named values, in ``order`` (dependency order: dependencies first).

    The one walk of "which lets does this need": the bind pass, fit and explain use it."""
    needed: set[str] = set()
    stack = [n.name for e in roots for n in walk(e) if isinstance(n, LetRef)]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(n.name for n in walk(values[name]) if isinstance(n, LetRef))
    return [name for name in order if name in needed]


#: Python frames the checker and backends may need: the parser caps expression nesting at 200
#: levels and each level costs a handful of frames, more than the default limit of 1000.
_RECURSION_LIMIT = 20_000


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Let the checker and backends walk the deepest expressions the parser accepts.

    Python 3.11 keeps pure-Python frames off the C stack, so a higher limit is safe here."""
    old = sys.getrecursionlimit()
    if old < _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)
    try:
        yield
    finally:
        if old < _RECURSION_LIMIT:
            sys.setrecursionlimit(old)
