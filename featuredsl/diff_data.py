"""The data half of :mod:`featuredsl.diff`: both versions over the same rows, streaming.

Without window aggregates, one streaming query runs both versions side by side: each side
reads and checks the data as ``transform`` does (``data.prepare(checks=True)``), computes its
features, and the two are concatenated horizontally batch by batch, so memory is bounded by
a batch whatever the number of rows and the data is never materialized. Each batch costs one
``select`` that counts, for every feature pair, the changed rows and the null transitions
(Polars' ``eq_missing`` is the parity equality on two columns of one non-list dtype once NaN
is ruled out, ``-0.0 == 0.0`` included); only the pairs that changed in the batch then look
for their largest deltas and their old -> new transitions. Pairs whose dtype changed and list
features are compared value by value with the parity equality itself (``same_value``).

A spec with window aggregates needs every row's history: both sides then run ``transform``
in memory and are compared as one batch.

The report is the same whatever the batches: counts add, the largest deltas are the first
:data:`TOP` by (delta descending, row), transitions are counted over all rows and ordered by
(count descending, old, new).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from featuredsl.errors import FeatureDSLError, InputError, first_line

if TYPE_CHECKING:
    from featuredsl.api import Spec

#: How many largest deltas and most frequent transitions each feature reports.
TOP = 5


@dataclass
class _Pair:
    """What one (old feature, new feature) pair has counted so far."""

    changed: int = 0
    became_null: int = 0
    was_null: int = 0
    #: (delta, row, old, new), the first TOP by (delta descending, row)
    deltas: list[tuple[float, int, object, object]] = field(default_factory=list)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add_deltas(self, more: list[tuple[float, int, object, object]]) -> None:
        self.deltas = sorted([*self.deltas, *more], key=lambda t: (-t[0], t[1]))[:TOP]

    def entry(self) -> dict:
        return {"changed": self.changed, "became_null": self.became_null,
                "was_null": self.was_null,
                "largest_deltas": [{"row": i, "old": _json(x), "new": _json(y)}
                                   for _, i, x, y in self.deltas],
                "top_transitions": [{"old": o, "new": n, "rows": k} for (o, n), k in
                                    sorted(self.transitions.items(),
                                           key=lambda t: (-t[1], t[0]))[:TOP]]}


def compare_data(old: Spec, new: Spec, data: object, sources: Mapping[str, object] | None,
                 pairs: list[tuple[str, str]], kinds: Mapping[str, str]) -> dict:
    """Both versions in batch over ``data``; per (old name, new name) pair the changed rows
    under the parity equality, null transitions, largest deltas and top transitions."""
    for spec, side in ((old, "old"), (new, "new")):
        if spec.statistics and not spec.is_fitted:
            raise FeatureDSLError(f"the {side} side uses fitted statistics "
                                  f"({', '.join(spec.statistics)}): pass its artifact to "
                                  "compare values on data")
    windowed = bool(old.bound().windows or new.bound().windows)
    batches = (_in_memory(old, new, data, sources, pairs) if windowed
               else _streaming(old, new, data, pairs))
    acc = [_Pair() for _ in pairs]
    rows = 0
    for batch in batches:
        _count(batch, acc, rows)
        rows += batch.height
    if not windowed:
        _check_rows(old, data, rows)
    report: dict = {"rows": rows, "features": {}}
    for (_, name), pair in zip(pairs, acc, strict=True):
        entry = pair.entry()
        entry["changed_rate"] = entry["changed"] / rows if rows else 0.0
        if entry["changed"] == 0 and kinds.get(name) in ("definition_changed",
                                                         "indirectly_changed", "type_changed"):
            entry["note"] = f"definition changed, same values on these {rows:,} rows"
        report["features"][name] = entry
    return report


# ------------------------------------------------------------------------------ the rows


def _sided(exc: InputError, side: str) -> InputError:
    return InputError(f"{side} side: {exc}", field=exc.field, row=exc.row,
                      expected=exc.expected)


@dataclass
class _Side:
    """One version's reading of the data: its spec, input schema and source."""

    spec: Spec
    tag: str  # "a" (old) or "b" (new): feature i is column f"{tag}{i}" of a compared batch
    side: str
    names: list[str]
    inputs: dict
    src: object  # featuredsl.data.inputs.Source

    def features(self, raw: pl.DataFrame) -> pl.LazyFrame:
        """The side's features of one batch of raw rows, with its check flags."""
        from featuredsl.data import inputs as data_io

        prepared = data_io.prepare(raw.lazy(), self.inputs, [], text=self.src.text,  # type: ignore[attr-defined]
                                   checks=True)
        flags = data_io.flag_columns(prepared.collect_schema())
        lf = self.spec.batch_plan().apply(prepared, [pl.col(f) for f in flags])
        return lf.select([pl.col(n).alias(f"{self.tag}{i}") for i, n in enumerate(self.names)]
                         + [pl.col(f).alias(f"{self.tag}:{f}") for f in flags])


def _open(spec: Spec, data: object, names: list[str], tag: str, side: str) -> _Side:
    """Open ``data`` for one side and check its columns and dtypes now (before any row)."""
    from featuredsl.data import inputs as data_io

    inputs = spec.serving_schema()
    try:
        src = data_io.open_source(data, inputs)
        data_io.prepare(src.lf, inputs, [], text=src.text, checks=True).collect_schema()
    except InputError as exc:
        raise _sided(exc, side) from None
    return _Side(spec, tag, side, names, inputs, src)


def _streaming(old: Spec, new: Spec, data: object, pairs: list[tuple[str, str]]
               ) -> Iterator[pl.DataFrame]:
    """Batches of both sides' features. The raw rows stream once (twice, side by side, when
    a CSV is read with different input columns as text); each raw batch is then computed by
    both sides at once, in memory: the streaming engine would buffer one side of two heavy
    plans concatenated horizontally (measured: 4M rows took 570 MB more than one side)."""
    from featuredsl.data import inputs as data_io
    from featuredsl.data.files import bad_row_error

    a = _open(old, data, [o for o, _ in pairs], "a", "old")
    b = _open(new, data, [n for _, n in pairs], "b", "new")
    shared = not a.src.text or set(a.inputs) == set(b.inputs)  # type: ignore[attr-defined]
    if shared:
        raw: pl.LazyFrame = a.src.lf  # type: ignore[attr-defined]
    else:  # the same file read with other text columns: both readings, side by side
        raw = pl.concat([s.src.lf.select(pl.all().name.prefix(f"{s.tag}:"))  # type: ignore[attr-defined]
                         for s in (a, b)], how="horizontal")

    def part(batch: pl.DataFrame, s: _Side) -> pl.DataFrame:
        if shared:
            return batch
        cols = [c for c in batch.columns if c.startswith(f"{s.tag}:")]
        return batch.select(pl.col(c).alias(c[2:]) for c in cols)

    rows = 0
    try:
        for batch in raw.collect_batches(engine="streaming", maintain_order=True):
            got = pl.collect_all([s.features(part(batch, s)) for s in (a, b)],
                                 engine="in-memory")
            for s, frame in zip((a, b), got, strict=True):
                flags = [c for c in frame.columns if c.startswith(f"{s.tag}:")]
                hit = data_io.first_flagged(frame, flags)
                if hit is not None:
                    flag = hit[1].split(":", 1)[1]
                    raise _sided(bad_row_error(s.src, s.inputs, rows + hit[0], flag),  # type: ignore[arg-type]
                                 s.side)
            rows += batch.height
            if not pairs:  # nothing to compare: the rows still count
                yield pl.DataFrame({"_": pl.repeat(None, batch.height, eager=True)})
                continue
            yield pl.concat([f.select(f"{s.tag}{i}" for i in range(len(pairs)))
                             for s, f in zip((a, b), got, strict=True)], how="horizontal")
    except data_io.READ_ERRORS as exc:
        raise InputError(f"cannot compute the features: {first_line(exc)}") from None


def _in_memory(old: Spec, new: Spec, data: object, sources: Mapping[str, object] | None,
               pairs: list[tuple[str, str]]) -> Iterator[pl.DataFrame]:
    """Both sides by ``transform`` (windowed specs): one batch."""
    out = []
    for spec, tag, side, names in ((old, "a", "old", [o for o, _ in pairs]),
                                   (new, "b", "new", [n for _, n in pairs])):
        try:
            got = spec.transform(data, sources=sources if spec.bound().windows else None)
        except InputError as exc:
            raise _sided(exc, side) from None
        out.append(got.select(pl.col(n).alias(f"{tag}{i}") for i, n in enumerate(names)))
    if out[0].height != out[1].height:  # cannot happen: both keep every row
        raise FeatureDSLError(f"diff: {out[0].height} rows on the old side but "
                              f"{out[1].height} on the new")
    yield pl.concat(out, how="horizontal") if pairs else pl.DataFrame(
        {"n": [None] * out[0].height})


def _check_rows(spec: Spec, data: object, compared: int) -> None:
    """Rows compared must be the rows of the data (a batch never vanishes silently)."""
    from featuredsl.data import inputs as data_io
    from featuredsl.data.files import check_every_row_read

    check_every_row_read(data_io.open_source(data, spec.serving_schema()), data, compared,
                         "compared", "")


# ------------------------------------------------------------------------------ comparing


def _vectorizable(a: pl.DataType, b: pl.DataType) -> bool:
    """Same dtype, not a list: Polars' equality is the parity equality once NaN is ruled out
    (``-0.0 == 0.0`` there too)."""
    return a == b and not isinstance(a, pl.List)


def _same(a: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    b = pl.col(str(a.meta.output_name()).replace("a", "b", 1))
    same = a.eq_missing(b)
    if dtype.is_float():  # a NaN on either side is never equal (featuredsl makes none)
        same = same & ~(a.is_nan().fill_null(False) | b.is_nan().fill_null(False))
    return same


def _count(batch: pl.DataFrame, acc: list[_Pair], offset: int) -> None:
    """Add one batch's comparisons to ``acc``: first the counts of every vectorizable pair
    in one select, then the details of the pairs that changed."""
    schema = batch.schema
    vec = [i for i in range(len(acc)) if _vectorizable(schema[f"a{i}"], schema[f"b{i}"])]
    counts: dict[str, int] = {}
    if vec and batch.height:
        aggs = []
        for i in vec:
            a, b = pl.col(f"a{i}"), pl.col(f"b{i}")
            changed = ~_same(a, schema[f"a{i}"])
            aggs += [changed.sum().alias(f"c{i}"), (changed & b.is_null()).sum().alias(f"t{i}"),
                     (changed & a.is_null()).sum().alias(f"f{i}")]
        counts = batch.select(aggs).row(0, named=True)
    for i, pair in enumerate(acc):
        if i not in vec:
            _compare_values(batch[f"a{i}"], batch[f"b{i}"], pair, offset)
            continue
        n = counts.get(f"c{i}", 0)
        if not n:
            continue
        pair.changed += n
        pair.became_null += counts[f"t{i}"]
        pair.was_null += counts[f"f{i}"]
        _details(batch, i, schema[f"a{i}"], pair, offset)


def _details(batch: pl.DataFrame, i: int, dtype: pl.DataType, pair: _Pair, offset: int) -> None:
    """The largest deltas (numbers) or the transitions (strings, bools) of a changed pair."""
    a, b = pl.col(f"a{i}"), pl.col(f"b{i}")
    if dtype.is_numeric():
        top = (batch.lazy().select(a, b).with_row_index("row", offset=offset)
               .filter(~_same(a, dtype) & a.is_not_null() & b.is_not_null())
               .with_columns(d=(b.cast(pl.Float64) - a.cast(pl.Float64)).abs().fill_nan(math.inf))
               .sort(["d", "row"], descending=[True, False]).head(TOP).collect())
        pair.add_deltas([(r["d"], r["row"], r[f"a{i}"], r[f"b{i}"])
                         for r in top.iter_rows(named=True)])
    elif dtype in (pl.String, pl.Boolean):
        counts = (batch.lazy().select(a, b).filter(~_same(a, dtype))
                  .group_by(f"a{i}", f"b{i}").len().collect().iter_rows())
        for x, y, k in counts:
            pair.transitions[(_show(x), _show(y))] += k


def _compare_values(a: pl.Series, b: pl.Series, pair: _Pair, offset: int) -> None:
    """One feature's comparison value by value under the parity equality (a type change or
    a list feature)."""
    from featuredsl.parity import same_value

    deltas: list[tuple[float, int, object, object]] = []
    for i, (x, y) in enumerate(zip(a.to_list(), b.to_list(), strict=True), offset):
        if same_value(x, y):
            continue
        pair.changed += 1
        if y is None:
            pair.became_null += 1
        elif x is None:
            pair.was_null += 1
        if _number(x) and _number(y):
            d = abs(float(y) - float(x))
            deltas.append((d if not math.isnan(d) else math.inf, i, x, y))
        elif isinstance(x, str | bool | type(None)) and isinstance(y, str | bool | type(None)):
            pair.transitions[(_show(x), _show(y))] += 1
    pair.add_deltas(deltas)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _show(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _json(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, dt.datetime | dt.date | dt.timedelta):
        return str(v)
    return v
