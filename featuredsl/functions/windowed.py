"""Windowed aggregates over event sources (SPEC 13): the registry entries.

``count(txns, over=7d)``, ``mean(txns.amount, over=30d, where=txns.amount > 0)``: an
aggregate of the events of the row's key whose time is in ``[t - over, t)``. Each entry here
is what the checker types a window call with (which field types it takes, what it gives, how
an empty window reads) and names the two halves that compute it, one per backend:

* ``batch``: the name of the :class:`featuredsl.windows.batch.Group` method computing the
  aggregate for every row at once from the sorted events (prefix sums, range queries);
* ``online``: the name of the :class:`featuredsl.windows.online.KeyLog` method computing it
  for one row from live state.

Both halves share their finishing rules (canonical values, the exact float sum, the mean's
division) in :mod:`featuredsl.windows.exact`, and tests hold them to an oracle written from
SPEC 13 and to each other, bit for bit.

The names ``count``, ``min``, ``max`` and ``mean`` are also fitted statistics (``stat m =
mean(x)``): a call is a window aggregate exactly when its first argument is a source
(``txns``) or a source field (``txns.amount``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from featuredsl.types import DURATION, FLOAT, INT, Type

#: Field kinds an aggregate of values may take.
_ORDERED = frozenset({"int", "float", "string", "timestamp", "date", "duration"})
_SCALAR = frozenset({"int", "float", "string", "bool", "timestamp", "date", "duration"})


@dataclass(frozen=True)
class WindowFunction:
    """A windowed aggregate: its doc, what it takes and gives, and its two halves.

    ``result(field_type)`` is the result type for a field of that type (``None`` for
    ``count(src)``), or ``None`` when the aggregate does not take that type; ``takes``
    describes the accepted arguments for messages. ``empty`` is the value of an empty window
    (SPEC 13: 0 for ``count``/``sum``, else null)."""

    name: str
    doc: str
    result: Callable[[Type | None], Type | None]
    takes: str
    batch: str
    online: str
    empty: str
    null_doc: str
    examples: tuple[str, ...] = ()


WINDOW_FUNCTIONS: dict[str, WindowFunction] = {}

#: The keyword parameters every window aggregate takes.
WINDOW_PARAMS = ("over", "where", "by")


def _register(fn: WindowFunction) -> None:
    WINDOW_FUNCTIONS[fn.name] = fn


def lookup_window(name: str) -> WindowFunction | None:
    """The windowed aggregate of that name, or ``None``."""
    return WINDOW_FUNCTIONS.get(name)


def _count(t: Type | None) -> Type | None:
    return INT if t is None or t.kind in _SCALAR else None


def _sum(t: Type | None) -> Type | None:
    # null when an int sum leaves int64, or a float window holds both +inf and -inf
    return None if t is None or not t.is_numeric else Type(t.kind, True)


def _mean(t: Type | None) -> Type | None:
    return None if t is None or not t.is_numeric else FLOAT.with_nullable()


def _ordered(t: Type | None) -> Type | None:
    return None if t is None or t.kind not in _ORDERED else t.with_nullable()


def _scalar(t: Type | None) -> Type | None:
    return None if t is None or t.kind not in _SCALAR else t.with_nullable()


def _distinct(t: Type | None) -> Type | None:
    return INT if t is not None and t.kind in _SCALAR else None


def _since(t: Type | None) -> Type | None:
    return DURATION.with_nullable() if t is None else None


_register(WindowFunction(
    "count", "Number of events in the window (`count(src)`), or of events whose field is "
    "not null (`count(src.x)`).", _count, "a source or a field of one", "count", "count",
    "0", "never null", ("count(txns, over=7d)", "count(txns.amount, over=1d)")))
_register(WindowFunction(
    "sum", "Sum of the field's non-null values in the window. A float sum is the correctly "
    "rounded exact sum (as `math.fsum`), whatever the order of the events.", _sum,
    "an int or float field", "sum", "sum", "0 (0.0 for floats)",
    "null when an int sum leaves int64, or the window holds both +inf and -inf",
    ("sum(txns.amount, over=1h)",)))
_register(WindowFunction(
    "mean", "Mean of the field's non-null values in the window: the exact sum, rounded, "
    "divided by their count.", _mean, "an int or float field", "mean", "mean", "null",
    "null for a window with no non-null value", ("mean(txns.amount, over=30d)",)))
_register(WindowFunction(
    "min", "Smallest non-null value of the field in the window.", _ordered,
    "an int, float, string, timestamp, date or duration field", "min", "min", "null",
    "null for a window with no non-null value", ("min(txns.amount, over=7d)",)))
_register(WindowFunction(
    "max", "Largest non-null value of the field in the window.", _ordered,
    "an int, float, string, timestamp, date or duration field", "max", "max", "null",
    "null for a window with no non-null value", ("max(txns.amount, over=7d)",)))
_register(WindowFunction(
    "first", "The earliest non-null value of the field in the window (by event time; "
    "simultaneous events in the order they were logged).", _scalar, "a scalar field",
    "first", "first", "null", "null for a window with no non-null value",
    ("first(txns.merchant, over=30d)",)))
_register(WindowFunction(
    "last", "The latest non-null value of the field in the window (by event time; "
    "simultaneous events in the order they were logged).", _scalar, "a scalar field",
    "last", "last", "null", "null for a window with no non-null value",
    ("last(txns.amount)",)))
_register(WindowFunction(
    "count_distinct", "Number of distinct non-null values of the field in the window "
    "(NaN is null; -0.0 and 0.0 are one value).", _distinct, "a scalar field",
    "count_distinct", "count_distinct", "0", "never null",
    ("count_distinct(txns.merchant, over=30d)",)))
_register(WindowFunction(
    "seconds_since_last", "Seconds from the latest earlier event in the window to the "
    "row's time: `total_seconds` of the gap, so always positive.", _since, "a source",
    "since_last", "since_last", "null", "null when the window holds no event",
    ("seconds_since_last(txns)", "seconds_since_last(txns, over=1d)")))
