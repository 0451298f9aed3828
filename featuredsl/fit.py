"""Fitting: compute a spec's statistics and training profile on training data (SPEC section 5).

``fit(spec, data)`` accepts every source ``transform`` accepts. The statistics are grouped in
dependency levels (``std(x - mean(x))`` needs ``mean(x)`` first); each level is one
``pl.collect_all`` of lazy aggregation queries over the prepared (validated, widened) inputs,
run on the streaming engine, so a Parquet scan larger than memory fits with bounded memory
(except for ``median``/``quantiles``, which sort the non-null values of their argument: 8 bytes
a row). One more pass computes the features with the fitted values and profiles inputs and
features. A spec without statistics costs that one pass.

Definitions (nulls are skipped everywhere; NaN is null; ``n`` is the number of non-null values)
--------------------------------------------------------------------------------------------
``count``          ``n`` (0 for no rows).
``null_fraction``  null rows / rows, one correctly rounded division (0.0 for no rows).
``mean``           ``sum(x) / n``, computed exactly (see :mod:`featuredsl.fit_exact`) and
                   rounded once to the nearest float. Null when ``n == 0``; +-inf when the
                   data hold +-inf (null when they hold both).
``var``            population variance (ddof=0): ``sum(x*x)/n - (sum(x)/n)**2``, exact, rounded
                   once. Null when ``n == 0`` or the data hold an infinity.
``std``            the correctly rounded square root of the *exact* variance (so it may differ
                   from ``sqrt(var)`` in the last bit, in favour of ``std``).
``min``/``max``    exact (ints, floats, strings by code point); ``-0.0`` counts as ``0.0``.
``median``         the mean of the two middle values (the middle one for odd ``n``), rounded
                   once.
``quantiles(x,k)`` the 'lower' method (numpy ``method="lower"``): edge ``i`` (``i = 1..k-1``)
                   is the value of 0-based rank ``floor((n - 1) * i / k)`` in ascending order,
                   computed in exact integer arithmetic; equal edges are kept once, so the edges
                   are strictly increasing (``bucketize`` needs that). ``-0.0`` counts as
                   ``0.0``. An empty tuple when ``n == 0``.
``vocab(x, top, min_count)``  the values seen at least ``min_count`` times, most frequent
                   first, ties by value ascending (``false < true``), at most ``top``. An empty
                   tuple when none qualify.

Every one of these is a function of the multiset of values alone: the same rows give
bit-identical statistics whatever the row order, chunking, thread count or engine. List-valued
statistics are tuples (as list literals are); everything else is ``int``, ``float``, ``str``,
``bool`` or ``None``.

The profile (``FittedSpec.profile``) is plain JSON data: ``{"rows": n, "inputs": {name: col},
"features": {name: col}}``, each ``col`` with ``type``, ``count``, ``null_count``; numbers
(ints as floats for the moments) add ``min``, ``max``, ``mean``, ``std`` and ``quantiles`` (the
9 deciles by the rule above, not de-duplicated); strings and ints add ``top`` (up to 20
``[value, count]`` pairs, most frequent first, ties by value); bools add ``true_count`` and
``false_count``; timestamps and dates add ``min``/``max`` as ISO strings, durations in µs.

Fit-time warnings (Rule #10) go through :func:`warnings.warn` as :class:`FitTimeWarning` and
onto ``FittedSpec.fit_warnings``: a zero or null ``std``/``var`` or a zero range
(``max - min``) used by a feature that is null on every training row (``zero_spread``), an
empty vocabulary, an input column with no non-null value, a feature that is always null or
constant (no nulls, one distinct value) on the training data.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from featuredsl import data as data_io
from featuredsl import ir
from featuredsl.backends.polars_backend import PolarsLowering
from featuredsl.errors import InputError
from featuredsl.fit_exact import (
    median_of,
    moments_of,
    moments_query,
    normalize_zero,
    order_stats,
)
from featuredsl.fitted import FittedSpec, FitWarning
from featuredsl.types import Type

if TYPE_CHECKING:
    from featuredsl.api import Spec


class FitTimeWarning(UserWarning):
    """A degenerate statistic or feature found while fitting (also on ``fit_warnings``)."""


_DECILES = [(i, 10) for i in range(1, 10)]
_TOP = 20
_Getter = Callable[[list[pl.DataFrame]], object]


class _Batch:
    """The aggregation queries of one pass over a LazyFrame, run with one ``collect_all``."""

    def __init__(self, lf: pl.LazyFrame) -> None:
        self.lf = lf
        self.scalars: list[pl.Expr] = []
        self.queries: list[pl.LazyFrame] = []
        self._moments: dict[str, _Getter] = {}

    def scalar(self, e: pl.Expr) -> _Getter:
        name = f"__fd_s{len(self.scalars)}"
        self.scalars.append(e.alias(name))
        return lambda res: res[0].get_column(name)[0]

    def query(self, q: pl.LazyFrame) -> _Getter:
        self.queries.append(q)
        i = len(self.queries)
        return lambda res: res[i]

    def moments(self, column: str) -> _Getter:
        """Exact moments of a Float64 column (one query per column, shared)."""
        if column not in self._moments:
            get = self.query(moments_query(self.lf, column))
            self._moments[column] = lambda res: moments_of(get(res))  # type: ignore[arg-type]
        return self._moments[column]

    def order_stats(self, column: str, fractions: list[tuple[int, int]]) -> list[_Getter]:
        get = self.scalar(order_stats(normalize_zero(pl.col(column)), fractions,
                                      f"__fd_q{len(self.scalars)}"))
        return [(lambda res, j=j: get(res)[j]) for j in range(len(fractions))]  # type: ignore

    def top(self, column: str, top: int, min_count: int = 1) -> _Getter:
        c = pl.col(column)
        q = (self.lf.select(c).filter(c.is_not_null()).group_by(column)
             .agg(pl.len().cast(pl.Int64).alias("__fd_n"))
             .filter(pl.col("__fd_n") >= min_count)
             .sort(["__fd_n", column], descending=[True, False]).head(top))
        get = self.query(q)
        return lambda res: [tuple(r) for r in get(res).iter_rows()]  # type: ignore[union-attr]

    def run(self) -> list[pl.DataFrame]:
        head = self.lf.select(self.scalars or [pl.len().alias("__fd_len")])
        try:
            return pl.collect_all([head, *self.queries], engine="streaming")
        except data_io.READ_ERRORS as exc:
            raise InputError(f"cannot read the data: {str(exc).strip().splitlines()[0]}") \
                from None


# ---------------------------------------------------------------------------- statistics


def _stats_used(program: ir.Program, *exprs: ir.Expr) -> set[str]:
    """Names of the statistics the expressions use (looking through lets)."""
    used: set[str] = set()
    seen: set[str] = set()
    stack = list(exprs)
    while stack:
        for n in ir.walk(stack.pop()):
            if isinstance(n, ir.StatRef):
                used.add(n.name)
            elif isinstance(n, ir.LetRef) and n.name not in seen:
                seen.add(n.name)
                stack.append(program.values[n.name])
    return used


def stat_levels(program: ir.Program) -> list[list[str]]:
    """Statistics grouped by dependency depth (level 0 reads only the data)."""
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            deps = _stats_used(program, *program.stats[name].expr.args)
            level[name] = 1 + max((depth(d) for d in deps), default=-1)
        return level[name]

    for name in program.stats:
        depth(name)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in program.stats:  # declaration order within a level
        out[level[name]].append(name)
    return out


def _fit_level(program: ir.Program, base: pl.LazyFrame, names: list[str],
               fitted: dict[str, object]) -> None:
    """Compute one level of statistics in one streaming pass; add them to ``fitted``."""
    lowering = PolarsLowering(program, fitted)
    stats = [program.stats[n] for n in names]
    args: dict[tuple, int] = {}  # structural key -> argument column index
    exprs: list[ir.Expr] = []
    for s in stats:
        key = s.expr.args[0].key()
        if key not in args:
            args[key] = len(exprs)
            exprs.append(s.expr.args[0])
    with ir.deep_recursion():
        plan = lowering.lower_exprs(exprs)
    lf = base
    for stage in plan.stages:
        lf = lf.with_columns(stage)
    cols = []
    for i, (e, pe) in enumerate(zip(exprs, plan.features, strict=True)):
        if e.type.kind == "float":
            pe = pe.cast(pl.Float64).fill_nan(None)
        cols.append(pe.alias(f"__fd_a{i}"))
    lf = lf.select(cols)
    batch = _Batch(lf)
    getters: dict[str, Callable[[list[pl.DataFrame]], object]] = {}
    for s in stats:
        col = f"__fd_a{args[s.expr.args[0].key()]}"
        consts = [lowering.const_value(a) for a in s.expr.args[1:]]
        getters[s.name] = _stat_getter(batch, s.expr, col, consts)
    results = batch.run()
    for s in stats:
        fitted[s.name] = getters[s.name](results)


def _stat_getter(batch: _Batch, agg: ir.Aggregate, col: str, consts: list[object]) -> _Getter:
    fn = agg.function.name
    c = pl.col(col)
    is_float = agg.args[0].type.kind == "float"
    if fn == "count":
        get = batch.scalar(c.count().cast(pl.Int64))
        return lambda res: int(get(res))  # type: ignore[call-overload]
    if fn == "null_fraction":
        nulls = batch.scalar(c.null_count().cast(pl.Int64))
        rows = batch.scalar(pl.len().cast(pl.Int64))
        return lambda res: (nulls(res) / rows(res)) if rows(res) else 0.0  # type: ignore
    if fn in ("min", "max"):
        x = normalize_zero(c) if is_float else c
        return batch.scalar(x.min() if fn == "min" else x.max())
    if fn in ("mean", "var", "std"):
        mom = batch.moments(col)
        return lambda res: getattr(mom(res), fn)()
    if fn == "median":
        lo, hi = batch.order_stats(col, [(1, 2)])[0], _upper_middle(batch, col)
        return lambda res: median_of(lo(res), hi(res))  # type: ignore[arg-type]
    if fn == "quantiles":
        k = consts[0]
        if not isinstance(k, int) or k < 1:
            raise InputError(f"quantiles: k must be a positive int, got {k!r}")
        gets = batch.order_stats(col, [(i, k) for i in range(1, k)])
        return lambda res: _dedupe([g(res) for g in gets])
    if fn == "vocab":
        top, min_count = consts
        get = batch.top(col, max(int(top), 0), int(min_count))  # type: ignore[call-overload]
        return lambda res: tuple(v for v, _ in get(res))  # type: ignore[attr-defined]
    raise AssertionError(f"unknown aggregate {fn}")  # pragma: no cover


def _upper_middle(batch: _Batch, col: str) -> _Getter:
    """The value of rank ``n // 2`` (the upper middle): ceil((n - 1) / 2) == n // 2."""
    values = normalize_zero(pl.col(col)).drop_nulls().sort()
    n = pl.col(col).count().cast(pl.Int64)
    return batch.scalar(values.get(n // 2, null_on_oob=True))


def _dedupe(edges: list) -> tuple:
    out: list = []
    for e in edges:
        if e is not None and (not out or e != out[-1]):
            out.append(e)
    return tuple(out)


# ---------------------------------------------------------------------------- profile


def _profile_column(batch: _Batch, col: str, t: Type) -> Callable[[list[pl.DataFrame]], dict]:
    c = pl.col(col)
    k = t.kind
    count = batch.scalar(c.count().cast(pl.Int64))
    nulls = batch.scalar(c.null_count().cast(pl.Int64))
    parts: dict[str, _Getter] = {}
    if k in ("int", "float"):
        fcol = f"{col}__f"  # added by _with_float_columns
        x = normalize_zero(c) if k == "float" else c
        parts["min"] = batch.scalar(x.min())
        parts["max"] = batch.scalar(x.max())
        mom = batch.moments(fcol)
        parts["mean"] = lambda res: mom(res).mean()  # type: ignore[attr-defined]
        parts["std"] = lambda res: mom(res).std()  # type: ignore[attr-defined]
        qs = batch.order_stats(fcol, _DECILES)
        parts["quantiles"] = lambda res: [g(res) for g in qs]
    if k in ("int", "string"):
        top = batch.top(col, _TOP)
        parts["top"] = lambda res: [list(p) for p in top(res)]  # type: ignore[attr-defined]
    if k == "bool":
        parts["true_count"] = batch.scalar(c.sum().cast(pl.Int64))
        parts["false_count"] = batch.scalar((~c).sum().cast(pl.Int64))
    if k in ("timestamp", "date", "duration"):
        lo, hi = batch.scalar(c.min()), batch.scalar(c.max())
        parts["min"] = lambda res: _plain(lo(res))
        parts["max"] = lambda res: _plain(hi(res))

    def get(res: list[pl.DataFrame]) -> dict:
        out: dict[str, object] = {"type": str(t), "count": int(count(res)),  # type: ignore
                                  "null_count": int(nulls(res))}  # type: ignore
        for name, g in parts.items():
            out[name] = _plain(g(res))
        return out
    return get


def _plain(v: object) -> object:
    """A JSON-able value: temporal values as ISO strings, durations in µs."""
    import datetime as dt

    if isinstance(v, dt.timedelta):
        return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


# ---------------------------------------------------------------------------- fit


def fit(spec: Spec, data: object) -> FittedSpec:
    """Fit ``spec``'s statistics and training profile on ``data`` (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="featuredsl-fit-") as tmp:
        return _fit(spec, data, _Materializer(data, Path(tmp)))


class _Materializer:
    """Computes a LazyFrame once for the many queries of a pass.

    Each statistic and profile query would otherwise recompute the widened inputs and the
    features from the source. In-memory data is collected; a file or LazyFrame source is
    streamed to a temporary Parquet file (bounded memory) and scanned back.
    """

    def __init__(self, data: object, tmp: Path) -> None:
        self.in_memory = not isinstance(data, pl.LazyFrame | str | Path)
        self.tmp = tmp
        self.count = 0

    def __call__(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        try:
            if self.in_memory:
                return lf.collect(engine="streaming").lazy()
            self.count += 1
            path = self.tmp / f"pass{self.count}.parquet"
            lf.sink_parquet(path)
            return pl.scan_parquet(path)
        except data_io.READ_ERRORS as exc:
            raise InputError(f"cannot read the data: {str(exc).strip().splitlines()[0]}") \
                from None


def _fit(spec: Spec, data: object, materialize: _Materializer) -> FittedSpec:
    program = spec.program
    inputs = program.inputs
    src = data_io.open_source(data, inputs)
    prepared = data_io.prepare(src.lf, inputs, [], text=src.text, checks=True)
    if program.stats:
        prepared = materialize(prepared)
    flags = [c for c in prepared.collect_schema().names()
             if c.startswith(("__fd_fail_", "__fd_null_"))]
    base = prepared.select(list(inputs))

    fitted: dict[str, object] = {}
    for names in stat_levels(program):
        _fit_level(program, base, names, fitted)

    out = FittedSpec(spec.source, spec.file, program, spec.diagnostics, fitted)
    plan = out.batch_plan()
    kept = [pl.col(n).alias(f"__fd_in_{i}") for i, n in enumerate(inputs)]
    kept += [pl.col(f) for f in flags]
    lf = plan.apply(prepared, kept)
    columns = {f"__fd_in_{i}": t for i, t in enumerate(inputs.values())}
    columns.update((f.name, f.expr.type) for f in program.features)
    batch = _Batch(materialize(lf.with_columns(
        pl.col(c).cast(pl.Float64).fill_nan(None).alias(f"{c}__f")
        for c, t in columns.items() if t.kind in ("int", "float"))))
    bad = [batch.scalar(pl.col(f).any()) for f in flags]
    rows = batch.scalar(pl.len().cast(pl.Int64))
    in_prof = {n: _profile_column(batch, f"__fd_in_{i}", t)
               for i, (n, t) in enumerate(inputs.items())}
    feat_prof = {f.name: _profile_column(batch, f.name, f.expr.type)
                 for f in program.features}
    results = batch.run()
    if any(g(results) for g in bad):
        collected = prepared.collect(engine="streaming")
        data_io.check(collected, src.lf, inputs)  # raises InputError naming the first bad row
    profile = {
        "rows": int(rows(results)),  # type: ignore[call-overload]
        "inputs": {n: g(results) for n, g in in_prof.items()},
        "features": {n: g(results) for n, g in feat_prof.items()},
    }
    found = _fit_warnings(program, fitted, profile)
    for w in found:
        warnings.warn(w.message, FitTimeWarning, stacklevel=3)
    return FittedSpec(spec.source, spec.file, program, spec.diagnostics, fitted, profile,
                      found)


# ---------------------------------------------------------------------------- warnings


def _zero_spread(program: ir.Program, fitted: dict[str, object]) -> dict[str, str]:
    """Statistic name -> why it is degenerate (zero/null std or var, zero range)."""
    out: dict[str, str] = {}
    minmax: dict[tuple, dict[str, str]] = {}
    for name, s in program.stats.items():
        fn = s.expr.function.name
        v = fitted[name]
        if fn in ("std", "var") and (v is None or v == 0):
            out[name] = f"`{s.source}` is {'null' if v is None else 0.0}"
        if fn in ("min", "max"):
            minmax.setdefault(s.expr.args[0].key(), {})[fn] = name
    for pair in minmax.values():
        if len(pair) == 2 and fitted[pair["min"]] == fitted[pair["max"]]:
            lo, hi = program.stats[pair["min"]], program.stats[pair["max"]]
            for n in (pair["min"], pair["max"]):
                out[n] = f"the range `{hi.source} - {lo.source}` is 0"
    return out


def _fit_warnings(program: ir.Program, fitted: dict[str, object],
                  profile: dict) -> list[FitWarning]:
    found: list[FitWarning] = []
    rows = profile["rows"]
    for name, s in program.stats.items():
        if s.expr.function.name == "vocab" and fitted[name] == ():
            found.append(FitWarning("empty_vocab", name, f"statistic `{s.source}`: the "
                                    "vocabulary is empty (no value reaches min_count)"))
    for name, p in profile["inputs"].items():
        if p["count"] == 0:
            found.append(FitWarning("all_null_input", name, f"input `{name}` has no non-null "
                                    f"value in the training data ({rows} rows)"))
    spread = _zero_spread(program, fitted)
    for f in program.features:
        p = profile["features"][f.name]
        if rows and p["count"] == 0:
            why = [spread[s] for s in sorted(_stats_used(program, f.expr)) if s in spread]
            if why:
                found.append(FitWarning("zero_spread", f.name, f"feature `{f.name}` is null on "
                                        f"every training row: {'; '.join(why)}"))
            else:
                found.append(FitWarning("null_feature", f.name, f"feature `{f.name}` is null "
                                        f"on every training row ({rows} rows)"))
        elif rows and p["null_count"] == 0 and _single_value(p) and _reads_input(program, f):
            found.append(FitWarning("constant_feature", f.name, f"feature `{f.name}` has the "
                                    f"same value on every training row ({rows} rows)"))
    return found


def _reads_input(program: ir.Program, f: ir.Feature) -> bool:
    """Whether a feature reads an input at all (one that does not is constant by design)."""
    seen: set[str] = set()
    stack = [f.expr]
    while stack:
        for n in ir.walk(stack.pop()):
            if isinstance(n, ir.Input):
                return True
            if isinstance(n, ir.LetRef) and n.name not in seen:
                seen.add(n.name)
                stack.append(program.values[n.name])
    return False


def _single_value(p: dict) -> bool:
    if "top" in p:
        return len(p["top"]) == 1
    if "true_count" in p:
        return p["true_count"] == 0 or p["false_count"] == 0
    if "min" in p:
        return p["min"] == p["max"]
    return False
