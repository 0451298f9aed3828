"""Model-ready output: the features as one numeric matrix, the same layout on both backends.

The layout is decided by the bound program alone (never by the data), once per fitted spec:

* a scalar ``int``, ``float`` or ``bool`` feature is one column: numbers as numbers, a bool as
  ``1.0``/``0.0``;
* a list feature whose length the spec fixes is one column per slot: ``one_hot`` and
  ``multi_hot`` (``len(values) + oov`` slots, named ``name[value]`` for a vocabulary value,
  ``name[<oov>]`` for the single out-of-vocabulary slot and ``name[<oov_0>]`` ...
  ``name[<oov_{k-1}>]`` for hashed ones), and a constant list (``name[0]``, ``name[1]``...);
  a list whose length depends on the row (``split``, an input list, ``if`` between lists) is
  refused, naming the feature;
* strings, dates, timestamps and durations are refused with the conversion to write in the
  spec (``total_seconds(d)``, ``epoch_seconds(ts)``, ``hour(ts)``, ``one_hot(s, vocab(s))``...):
  the unit and origin of a number fed to a model is a modelling choice the spec should show;
* a null (a null scalar, a null list: every slot of it) is ``NaN``, which tree ensembles
  (``HistGradientBoosting*``, LightGBM, XGBoost) read as missing; other models need an
  imputation, best written in the spec (``x ?? 0``).

Conversion: every value goes to float64 first (Python's ``float(int)`` and Polars'
``Int64 -> Float64`` cast are both correctly rounded, so ints beyond 2**53 round the same way on
both sides), then, for ``dtype="float32"``, float64 -> float32 by NumPy. The same two steps on
both sides are what makes ``to_matrix`` and the row evaluator's vector layout equal bit for bit.
Slot labels are made unique: a repeated label (a vocabulary listing a value twice, a string value
spelled ``<oov>``) gets ``#2``, ``#3``... appended in slot order (``name[AA#2]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from featuredsl import ir
from featuredsl.errors import FeatureDSLError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from featuredsl.types import Type

DType = Literal["float32", "float64"]
_NUMERIC = ("int", "float", "bool")
_HOT = ("one_hot", "multi_hot")
_HINTS = {
    "string": "encode it in the spec, e.g. `one_hot(x, vocab(x), oov=1)`, "
              "`hash_bucket(x, 1000)` or `length(x)`",
    "timestamp": "convert it in the spec, e.g. `epoch_seconds(x)`, `hour(x)` or "
                 "`day_of_week(x)`",
    "date": "convert it in the spec, e.g. `year(x)`, `day_of_year(x)` or `day_of_week(x)`",
    "duration": "convert it in the spec, e.g. `total_seconds(x)` or `total_days(x)`",
}


class LayoutError(FeatureDSLError):
    """A feature that has no place in a numeric matrix (a string, a temporal value, a list of
    unfixed length): the message names it and says what to write in the spec instead."""


@dataclass(frozen=True, slots=True)
class Column:
    """One feature's place in the matrix: ``width`` is ``None`` for a scalar (one column),
    else the number of slots of a list feature."""

    feature: str
    width: int | None
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """The columns of every feature, in declaration order."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """The column names, in matrix order."""
        return [n for c in self.columns for n in c.names]

    @property
    def width(self) -> int:
        """The number of matrix columns."""
        return sum(len(c.names) for c in self.columns)


def _slot_label(v: object) -> str:
    """A vocabulary value as it appears in a slot name: text as is, numbers as Python prints
    them (shortest round trip), bools as the language writes them."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else repr(v)


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out: list[str] = []
    for n in names:
        k = seen.get(n, 0) + 1
        seen[n] = k
        out.append(n if k == 1 else f"{n}#{k}")
    # a suffixed name could itself collide with a real one ("a#2" as a value): suffix again
    return tuple(out) if len(set(out)) == len(out) else _unique(out)


def _resolve(e: ir.Expr, values: dict[str, ir.Expr]) -> ir.Expr:
    """Follow let references to the defining expression."""
    seen: set[str] = set()
    while isinstance(e, ir.LetRef) and e.name in values and e.name not in seen:
        seen.add(e.name)
        e = values[e.name]
    return e


def _list_slots(name: str, e: ir.Expr, values: dict[str, ir.Expr]) -> list[str] | None:
    """The slot labels of a list expression of fixed length, or ``None``."""
    e = _resolve(e, values)
    if isinstance(e, ir.Const) and isinstance(e.value, tuple):
        return [str(i) for i in range(len(e.value))]
    if isinstance(e, ir.Call) and e.function.name in _HOT and len(e.args) == 3:
        vals, oov = e.args[1], e.args[2]
        if isinstance(vals, ir.Const) and isinstance(vals.value, tuple) \
                and isinstance(oov, ir.Const) and isinstance(oov.value, int):
            labels = [_slot_label(v) for v in vals.value]
            k = oov.value
            labels += ["<oov>"] if k == 1 else [f"<oov_{i}>" for i in range(k)]
            return labels
    return None


def layout_of(program: ir.BoundProgram) -> Layout:
    """The matrix layout of a bound program; ``LayoutError`` naming the first feature that has
    no numeric form (and what to write instead)."""
    cols: list[Column] = []
    for f in program.features:
        t: Type = f.type
        if t.kind in _NUMERIC:
            cols.append(Column(f.name, None, (f.name,)))
            continue
        if t.kind == "list":
            elem = t.elem.kind if t.elem is not None else "null"
            if elem not in _NUMERIC:
                raise LayoutError(
                    f"feature `{f.name}` is a {t.base}: a model matrix holds numbers only; "
                    f"{_HINTS.get(elem, 'compute numbers in the spec')} (per element)")
            slots = _list_slots(f.name, f.expr, program.values)
            if slots is None:
                raise LayoutError(
                    f"feature `{f.name}` is a {t.base} whose length the spec does not fix, so "
                    "it has no fixed columns in a matrix; write it as `one_hot`/`multi_hot` "
                    "(a slot per value) or as scalar features (e.g. `get(xs, 0)`, "
                    "`length(xs)`)")
            names = tuple(f"{f.name}[{s}]" for s in _unique(slots))
            cols.append(Column(f.name, len(names), names))
            continue
        raise LayoutError(f"feature `{f.name}` is a {t.base}: a model matrix holds numbers "
                          f"only; {_HINTS.get(t.kind, 'compute a number in the spec')}")
    return Layout(tuple(cols))


def _np_dtype(dtype: object) -> type:
    import numpy as np

    if dtype == "float64":
        return np.float64
    if dtype == "float32":
        return np.float32
    raise FeatureDSLError(f'dtype must be "float32" or "float64", not {dtype!r}')


def check_dtype(dtype: object) -> None:
    """``FeatureDSLError`` unless ``dtype`` is ``"float32"`` or ``"float64"``."""
    _np_dtype(dtype)


def frame_to_matrix(layout: Layout, out: pl.DataFrame, dtype: DType = "float64") -> np.ndarray:
    """The features of ``out`` (what ``transform`` returned) as a 2-D C-ordered array."""
    import numpy as np
    import polars as pl

    target = _np_dtype(dtype)
    m = np.empty((out.height, layout.width), dtype=np.float64)
    j = 0
    for c in layout.columns:
        s = out.get_column(c.feature)
        if c.width is None:
            m[:, j] = s.cast(pl.Float64).to_numpy()
            j += 1
            continue
        try:
            arr = s.cast(pl.List(pl.Float64)).list.to_array(c.width)
        except pl.exceptions.PolarsError:  # by construction never: refuse, never misalign
            raise FeatureDSLError(f"internal error: feature `{c.feature}` holds a list that is "
                                  f"not {c.width} long") from None
        if c.width:
            m[:, j:j + c.width] = arr.to_numpy().reshape(out.height, c.width)
        j += c.width
    return m if target is np.float64 else m.astype(target)


def row_vectorizer(layout: Layout, evaluate: Callable[[dict], dict],
                   dtype: DType = "float64") -> Callable[[dict], np.ndarray]:
    """A function row -> 1-D array in ``layout`` order, over the dict ``evaluate`` returns:
    the same conversions as :func:`frame_to_matrix` (float first, then the dtype)."""
    import numpy as np

    target = _np_dtype(dtype)
    nan = math.nan
    plan = [(c.feature, c.width) for c in layout.columns]
    width = layout.width
    # one list built per row then one NumPy call: measured faster than filling an array
    # element by element (each element store is a Python -> C round trip)

    def vector(row: dict) -> np.ndarray:
        out = evaluate(row)
        vals: list[float] = []
        add, extend = vals.append, vals.extend
        for name, w in plan:
            v = out[name]
            if w is None:
                add(nan if v is None else float(v))
            elif v is None:
                extend([nan] * w)
            else:
                if len(v) != w:
                    raise FeatureDSLError(f"internal error: feature `{name}` holds a list of "
                                          f"{len(v)} elements, not {w}")
                extend([nan if x is None else float(x) for x in v])
        a = np.array(vals, dtype=np.float64)
        return a if target is np.float64 else a.astype(target)

    vector.names = layout.names  # type: ignore[attr-defined]
    vector.width = width  # type: ignore[attr-defined]
    return vector
