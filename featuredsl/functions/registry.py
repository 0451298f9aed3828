"""The function registry: one entry per function, both lowerings side by side.

A :class:`Function` holds the name, the doc, the parameter names and defaults, the typed
:class:`Overload` list, the null policy and worked examples. Each overload holds the Polars
lowering and the row lowering of that signature. The checker picks the overload; both backends
dispatch on that choice. Adding a function is one :func:`register` call plus its tests (the
completeness test runs every example through both backends).

Null policy ``"propagate"`` (the default) means: if any argument is null the result is null, and
the *backends* apply that rule around the lowering, so a lowering only ever sees non-null
values. Functions that handle nulls themselves say ``"aware"``.

Lowerings:

* ``polars(*args) -> pl.Expr``: args are ``pl.Expr`` for ordinary parameters and plain Python
  values for constant parameters (``const`` in the overload).
* ``row(g, *args) -> str``: returns a Python *expression* (source text) computing the result
  from the argument code strings (simple local names or literals). ``g`` is the code generator:
  ``g.ref(obj)`` binds a helper or constant and returns its name. The expression may evaluate to
  ``None`` for a domain error. ``row_nan=True`` asks the code generator to turn a NaN result into
  ``None``; ``int_overflow=True`` to turn an int result outside int64 into ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from featuredsl.types import Type


class RowGen(Protocol):
    """What a row lowering may ask of the code generator."""

    def ref(self, obj: object, hint: str = "k") -> str:
        """Bind a helper function or a constant in the generated module; return its name."""
        ...

    def lit(self, value: object) -> str:
        """A Python literal expression for a constant value."""
        ...


@dataclass(frozen=True)
class Overload:
    """One typed signature of a function, with both lowerings.

    ``params`` are parameter kinds (``Type`` without nullability; kind ``any`` matches every
    type). With ``variadic`` the last parameter repeats (at least once). ``const`` lists the
    indices of parameters that must be constants at compile time (literals or fitted stats);
    their lowerings receive the Python value.
    """

    id: str
    params: tuple[Type, ...]
    result: Type | Callable[[Sequence[Type]], Type]
    polars: Callable[..., Any]
    row: Callable[..., str]
    may_be_null: bool = False
    row_nan: bool = False
    int_overflow: bool = False
    const: frozenset[int] = frozenset()
    variadic: bool = False
    #: False when the Polars lowering does not itself give null for a null argument (when/then
    #: chains, horizontal folds); the backend then adds the null check.
    polars_nulls: bool = True
    #: Float arguments that are the same on every row (literals, statistics) are turned into
    #: per-row columns before the Polars lowering sees them (see ``_pl.per_row``): ``"always"``,
    #: or ``"zero"`` for a scalar that is 0.0 or -0.0 only (``x + 0.0`` is short-cut to ``x``,
    #: which keeps ``-0.0``; other addends are computed exactly).
    per_row_scalars: str = ""
    #: Validates constant arguments at compile time: returns an error message or None.
    check_const: Callable[[Sequence[object]], str | None] | None = None
    #: Given the constant argument values (None where not constant), the id of a more specific
    #: overload of the same function to use instead (e.g. division by a non-zero constant,
    #: which can skip the zero check and is never null), or None.
    specialize: Callable[[Sequence[object]], str | None] | None = None
    #: Only reachable through ``specialize``, never chosen by argument types.
    hidden: bool = False
    #: The row lowering only reads calendar fields of its timestamp arguments, so it works on
    #: an aware UTC datetime as well as a naive one (the row backend can skip normalizing).
    reads_fields_only: bool = False
    #: The row lowering of a list-valued result builds a new list on every call (never an
    #: argument, a constant or a shared one): the row backend hands it out without a copy.
    fresh_list: bool = False

    def result_type(self, args: Sequence[Type]) -> Type:
        """The result type for these argument types."""
        r = self.result(args) if callable(self.result) else self.result
        return r

    def is_const(self, i: int) -> bool:
        """Whether argument ``i`` (0-based; a variadic tail repeats the last parameter) must be
        a compile-time constant, so that its lowerings receive the Python value."""
        return min(i, len(self.params) - 1) in self.const

    def signature(self, name: str) -> str:
        """The overload's signature as shown in diagnostics and docs, ``name(int, float) -> float``
        (``...`` after a variadic parameter, and as the result when it depends on the arguments).
        """
        ps = [str(p) for p in self.params]
        if self.variadic:
            ps[-1] += ", ..."
        res = self.result if isinstance(self.result, Type) else "..."
        return f"{name}({', '.join(ps)}) -> {res}"


@dataclass(frozen=True)
class Example:
    """A worked example: ``expr`` over one row gives ``expected`` in both backends.

    ``row`` maps input names to values; ``types`` gives their declared types where the value
    alone does not say (``None``, or a nullable type).
    """

    expr: str
    row: dict[str, object]
    expected: object
    types: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Function:
    """A registry entry."""

    name: str
    doc: str
    params: tuple[str, ...]
    overloads: tuple[Overload, ...]
    examples: tuple[Example, ...]
    defaults: dict[str, object] = field(default_factory=dict)
    null_policy: str = "propagate"
    kind: str = "scalar"  # "scalar", "operator" or "aggregate"
    category: str = "misc"
    null_doc: str = "null if any argument is null"
    symbol: str | None = None  # the operator spelling, for operators
    #: For constant parameters (by name): a few valid arguments as source text (`"UTC"`,
    #: `"[a-z]+"`), used by the differential test to write calls and by the reference docs.
    const_samples: dict[str, tuple[str, ...]] = field(default_factory=dict)


REGISTRY: dict[str, Function] = {}


def specialized(fn: Function, ov: Overload, const_values: Sequence[object]) -> Overload:
    """The overload to lower for these constant argument values (None where not constant).

    The checker applies this to literals; both backends apply it again once fitted
    statistics are known, through this one function, so they always agree.
    """
    if ov.specialize is None:
        return ov
    special = ov.specialize(const_values)
    return ov if special is None else next(o for o in fn.overloads if o.id == special)


def if_const_list(index: int, special: str) -> Callable[[Sequence[object]], str | None]:
    """A ``specialize`` choosing overload ``special`` when argument ``index`` is a constant
    list (a literal or a fitted statistic such as ``vocab``), e.g. a lookup table bound once."""
    return lambda consts: special if isinstance(consts[index], tuple | list) else None


def register(
    name: str,
    doc: str,
    params: Sequence[str],
    overloads: Sequence[Overload],
    examples: Sequence[Example],
    **kw: Any,
) -> Function:
    """Add a function to the registry (names are unique)."""
    if name in REGISTRY:
        raise ValueError(f"function {name!r} registered twice")
    fn = Function(name, doc.strip(), tuple(params), tuple(overloads), tuple(examples), **kw)
    REGISTRY[name] = fn
    return fn


def lookup(name: str) -> Function | None:
    """The registry entry of a function, or ``None``."""
    _load_all()
    return REGISTRY.get(name)


def all_functions() -> list[Function]:
    """Every registered function, sorted by category then name."""
    _load_all()
    return sorted(REGISTRY.values(), key=lambda f: (f.category, f.name))


_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing the modules registers their functions.
        from featuredsl.functions import (  # noqa: F401
            aggregates,
            construct,
            convert,
            encodings,
            lists,
            lookups,
            mathfns,
            nulls,
            operators,
            regex,
            strings,
            temporal,
            text,
            trig,
        )
