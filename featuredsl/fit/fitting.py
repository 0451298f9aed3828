"""Fitting: compute a spec's statistics and training profile on training data (SPEC section 5).

``fit(program, data)`` returns a :class:`FitResult` of plain values (it knows nothing of
``Spec``; ``Spec.fit`` wraps the result) and accepts every source ``transform`` accepts. The
prepared (validated, widened) inputs are computed once (collected, or for a file or LazyFrame
source streamed to a temporary Parquet file); the statistics are grouped in dependency levels
(``std(x - mean(x))`` needs ``mean(x)`` first). Every statistic and profile entry is a *task*
asking for lazy aggregations (:mod:`featuredsl.fit.passes`); the tasks run side by side, so
each pass over the data is one set of streaming queries serving all of them: the flag check,
the levels of statistics and the inputs' profile in the first passes, then the features
(computed once with the fitted values) and their profile. Moments and order statistics come
from :mod:`featuredsl.fit.select` (one ``group_by`` summary per float column, then a pass or
two of radix selection: no sort), top values from :mod:`featuredsl.fit.top` (counted in hash
partitions of at most ``fit.top.KEYS_PER_PASS`` distinct values, one a pass, when a column has
more). Every query runs natively on the streaming engine, in memory bounded by the number of
statistics, not the number of rows nor of distinct values. A typical spec costs 2-3 passes over
the inputs and 2-3 over the features (plus one a partition for a column with more than a few
million distinct values).

Definitions (nulls are skipped everywhere; NaN is null; ``n`` is the number of non-null values)
--------------------------------------------------------------------------------------------
``count``          ``n`` (0 for no rows).
``null_fraction``  null rows / rows, one correctly rounded division (0.0 for no rows).
``mean``           ``sum(x) / n``, computed exactly (see :mod:`featuredsl.fit.exact`) and
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

The profile (``FittedSpec.profile``) is described in :mod:`featuredsl.fit.profile`.

Fit-time warnings (Rule #10) go through :func:`warnings.warn` as :class:`FitTimeWarning` and
onto ``FittedSpec.fit_warnings``: a zero or null ``std``/``var`` or a zero range
(``max - min``) used by a feature that is null on every training row (``zero_spread``), an
empty vocabulary, an input column with no non-null value, a feature that is always null or
constant (no nulls, one distinct value) on the training data.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsInt, cast

import polars as pl

from featuredsl import ir
from featuredsl.backends.polars_backend import PolarsLowering
from featuredsl.bind import bind, windows_read
from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line
from featuredsl.fit.exact import median_of, normalize_zero
from featuredsl.fit.grouped import fit_grouped, key_column
from featuredsl.fit.passes import ENGINE, Budget, Frame, Scalar, Task, all_of, drive
from featuredsl.fit.profile import (
    count_task,
    profiles,
    rank_fractions,
    scalar_task,
    with_lengths,
)
from featuredsl.fit.select import (
    COLLECT_BUDGET,
    float_moments,
    order_stats,
)
from featuredsl.fit.top import top_values
from featuredsl.types import Type
from featuredsl.windows import batch as window_batch
from featuredsl.windows.sources import prepare_sources


class FitTimeWarning(UserWarning):
    """A degenerate statistic or feature found while fitting (also on ``fit_warnings``)."""


@dataclass(frozen=True, slots=True)
class FitWarning:
    """A degenerate statistic or feature found while fitting (Rule #10: no silent failures).

    ``kind`` is one of ``zero_spread`` (a zero or null std/var/range makes a feature null on
    every row), ``empty_vocab``, ``all_null_input``, ``constant_feature``, ``null_feature``;
    ``subject`` names the statistic, input or feature.
    """

    kind: str
    subject: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class FitResult:
    """What fitting produces, as plain values: the statistics by name, the training profile
    (JSON data) and the fit-time warnings. ``Spec.fit`` wraps it in a ``FittedSpec``."""

    stats: dict[str, object]
    profile: dict[str, object]
    warnings: list[FitWarning]


# ---------------------------------------------------------------------------- statistics


def _reads(program: ir.Program, exprs: Iterable[ir.Expr]) -> Iterator[ir.Expr]:
    """Every node of ``exprs`` and of the named values they read."""
    exprs = list(exprs)
    lets = ir.referenced_values(program.values, program.order, exprs)
    for e in [*exprs, *(program.values[n] for n in lets)]:
        yield from ir.walk(e)


def _stats_used(program: ir.Program, *exprs: ir.Expr) -> set[str]:
    """Names of the statistics the expressions use (looking through lets)."""
    return {n.name for n in _reads(program, exprs) if isinstance(n, ir.StatRef)}


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


def _level(program: ir.Program, base: pl.LazyFrame, names: list[str],
           fitted: dict[str, object], budget: Budget) -> tuple[Frame, list[Task]]:
    """The frame (``base`` plus the statistics' argument columns) and the tasks of one level.

    An argument that is an input column as it is (floats are Float64 without NaN after
    ``prepare``) is read by name, so the profile of that input shares its queries."""
    stats = [program.stats[n] for n in names]
    columns: dict[tuple, str] = {}  # structural key -> column name
    exprs: list[ir.Expr] = []
    for s in stats:
        for arg in (s.expr.args[0], *s.expr.by):
            if arg.key() not in columns:
                columns[arg.key()] = arg.name if isinstance(arg, ir.Input) \
                    else f"\x00a{len(exprs)}"  # no identifier holds a NUL: no clash
                exprs.append(arg)
    computed = [e for e in exprs if not isinstance(e, ir.Input)]
    # The constant arguments (quantiles' k, vocab's top) are literals or fitted statistics.
    const_args = [list(s.expr.args[1:]) for s in stats]
    bound_consts = iter(bind(program, fitted, exprs=[a for c in const_args for a in c],
                             features=False).exprs)
    lf = base
    if computed:
        with ir.deep_recursion():
            plan = PolarsLowering(bind(program, fitted, exprs=computed, features=False)
                                  ).lower_exprs()
        for stage in plan.stages:
            lf = lf.with_columns(stage)
        cols = []
        for e, pe in zip(computed, plan.features, strict=True):
            if e.type.kind == "float":
                pe = pe.cast(pl.Float64).fill_nan(None)
            cols.append(pe.alias(columns[e.key()]))
        lf = lf.with_columns(cols)
    frame = Frame(lf)
    tasks = []
    for s, args in zip(stats, const_args, strict=True):
        # bound: a literal or a fitted statistic is a Const by now
        consts = [cast(ir.Const, next(bound_consts)).value for _ in args]
        if s.expr.by:
            tasks.append(_grouped_task(frame, s.expr, columns[s.expr.args[0].key()],
                                       [columns[b.key()] for b in s.expr.by]))
            continue
        tasks.append(_stat_task(frame, s.expr, columns[s.expr.args[0].key()], consts, budget))
    return frame, tasks


def _fit_level(program: ir.Program, base: pl.LazyFrame, names: list[str],
               fitted: dict[str, object]) -> None:
    """Compute one level of statistics; add them to ``fitted`` (benchmarks time this)."""
    budget = Budget(COLLECT_BUDGET)
    _, tasks = _level(program, base, names, fitted, budget)
    fitted.update(zip(names, drive(all_of(tasks), budget), strict=True))


def _grouped_task(frame: Frame, agg: ir.Aggregate, col: str, keys: list[str]
                  ) -> Task[object]:
    """A grouped statistic: its own group_by queries (fit/grouped.py). With ``top=`` and one
    key, the kept groups are first found by the bounded-memory count of ``vocab``
    (fit/top.py: the same order, most rows first, ties by key ascending), so the aggregating
    ``group_by`` holds only ``top`` groups however many distinct keys the data have."""
    top = agg.option("top")
    # on Spark (a pass engine) several keys are grouped by the engine itself
    if top is None or (len(keys) != 1 and ENGINE.get() is not None):
        if False:  # pragma: no cover - a generator that asks the shared passes for nothing
            yield []
        return _fit_grouped(frame.lf, agg, col, keys)
    canons = [key_column(pl.col(k), b.type.kind).alias(f"k{i}")
              for i, (k, b) in enumerate(zip(keys, agg.by, strict=True))]
    if len(keys) == 1:
        kind = agg.by[0].type.kind
        canon = Frame(frame.lf.select(canons[0].alias("__fd_gkey")))
    else:  # the key tuple as one struct, counted the same way (ties by the tuple)
        kind = "struct"
        canon = Frame(frame.lf.select(canons)
                      .filter(pl.all_horizontal(pl.col(f"k{i}").is_not_null()
                                                for i in range(len(keys))))
                      .select(pl.struct(pl.col(f"k{i}") for i in range(len(keys)))
                              .alias("__fd_gkey")))
    found = yield from top_values(canon, "__fd_gkey", kind, int(top),  # type: ignore[call-overload]
                                  int(agg.option("min_count", 1)))  # type: ignore[call-overload]
    return _fit_grouped(frame.lf, agg, col, keys, only=[v for v, _ in found])


def _fit_grouped(lf: pl.LazyFrame, agg: ir.Aggregate, col: str, keys: list[str],
                 only: list[object] | None = None) -> ir.GroupTable:
    """``fit_grouped``, or the pass engine's grouped statistic when one is set (Spark)."""
    engine = ENGINE.get()
    if engine is None:
        return fit_grouped(lf, agg, col, keys, only=only)
    return engine.grouped(lf, agg, col, keys, only)


def _stat_task(frame: Frame, agg: ir.Aggregate, col: str, consts: list[object],
               budget: Budget) -> Task[object]:
    fn = agg.function.name
    c = pl.col(col)
    is_float = agg.args[0].type.kind == "float"
    if fn == "count":
        return (yield from count_task(frame, col))
    if fn == "null_fraction":
        nulls, rows = yield [Scalar(frame, c.null_count().cast(pl.Int64), ("nulls", col)),
                             Scalar(frame, pl.len().cast(pl.Int64), "rows")]
        return (nulls / rows) if rows else 0.0
    if fn in ("min", "max"):
        if is_float:  # the profile reads these from the summary; -0.0 counts as 0.0
            x = normalize_zero(c)
            low = x.min() if fn == "min" else x.max()
            return (yield from scalar_task(frame, low, (fn, col, 0.0)))
        return (yield from scalar_task(frame, c.min() if fn == "min" else c.max(), (fn, col)))
    if fn in ("mean", "var", "std"):
        mom = yield from float_moments(frame, col)
        return getattr(mom, fn)()
    if fn == "median":
        got = yield from order_stats(frame, col, "float", lambda n: [(n - 1) // 2, n // 2],
                                     budget)
        return median_of(*got) if got else None
    if fn == "quantiles":
        k = consts[0]
        if not isinstance(k, int) or k < 1:
            raise InputError(f"quantiles: k must be a positive int, got {k!r}")
        got = yield from order_stats(frame, col, "float",
                                     rank_fractions([(i, k) for i in range(1, k)]), budget)
        return _dedupe(got)
    if fn == "vocab":
        top, min_count = (cast(SupportsInt, v) for v in consts)  # checked int constants
        pairs = yield from top_values(frame, col, agg.args[0].type.kind, int(top),
                                      int(min_count))
        return tuple(v for v, _ in pairs)
    raise AssertionError(f"unknown aggregate {fn}")  # pragma: no cover


def _dedupe(edges: list) -> tuple:
    out: list = []
    for e in edges:
        if e is not None and (not out or e != out[-1]):
            out.append(e)
    return tuple(out)


# ---------------------------------------------------------------------------- fit


def fit(program: ir.Program, data: object, sources: Mapping[str, object] | None = None,
        profile: bool = True) -> FitResult:
    """Fit ``program``'s statistics and training profile on ``data`` (see the module
    docstring). Warnings also go through :func:`warnings.warn` as :class:`FitTimeWarning`.

    Window aggregates (in features or in statistics' arguments) read ``sources``. With
    ``profile=False`` only the statistics are computed (the profile is ``{}``: no monitoring
    against it, and no warnings about features' training values)."""
    with tempfile.TemporaryDirectory(prefix="featuredsl-fit-") as tmp:
        return _fit(program, data, _Materializer(data, Path(tmp)), sources, profile)


def _with_windows(program: ir.Program, prepared: pl.LazyFrame,
                  sources: Mapping[str, object] | None) -> pl.LazyFrame:
    """The prepared rows with every window the program reads computed as a column (the
    windows need no statistics, so they are computed once, before every pass)."""
    windows = windows_read(program)
    if not windows:
        if sources:
            raise InputError(f"sources= given ({', '.join(sources)}) but the spec has no "
                             "window aggregates to read them")
        return prepared
    bound = bind(program, {}, exprs=windows, features=False)
    events = prepare_sources(bound, sources)
    try:
        return window_batch.compute(prepared.collect(), bound, events).lazy()
    except data_io.READ_ERRORS as exc:
        raise InputError(f"cannot compute the windows: {first_line(exc)}") from None


class _Materializer:
    """Computes a LazyFrame once for the many queries and passes over it.

    Each query would otherwise recompute the widened inputs or the features from the source.
    In-memory data is collected; a file or LazyFrame source is streamed to a temporary Parquet
    file (bounded memory) and scanned back.
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
            raise InputError(f"cannot read the data: {first_line(exc)}") from None


def _check_flags(frame: Frame, flags: list[str], prepared: pl.LazyFrame, raw: pl.LazyFrame,
                 inputs: dict[str, Type]) -> Task[int]:
    """The row count; raises ``InputError`` (naming the first bad row) if a flag is set, after
    the first pass, before any further work."""
    got = yield [Scalar(frame, pl.len().cast(pl.Int64), "rows"),
                 *(Scalar(frame, pl.col(f).any(), ("flag", f)) for f in flags)]
    if any(got[1:]):
        data_io.check(prepared.collect(engine="streaming"), raw, inputs)
    return int(got[0])


def _fit(program: ir.Program, data: object, materialize: _Materializer,
         sources: Mapping[str, object] | None = None, with_profile: bool = True) -> FitResult:
    inputs = program.inputs
    src = data_io.open_source(data, inputs)
    prepared = materialize(data_io.prepare(src.lf, inputs, [], text=src.text, checks=True))
    prepared = _with_windows(program, prepared, sources)
    if with_profile:
        prepared = with_lengths(prepared, inputs.items())  # lists are profiled by length
    flags = data_io.flag_columns(prepared.collect_schema().names())
    budget = Budget(COLLECT_BUDGET)
    levels = stat_levels(program)
    fitted: dict[str, object] = {}
    frame, first = _level(program, prepared, levels[0], fitted, budget) if levels \
        else (Frame(prepared), [])

    def statistics() -> Task[None]:
        tasks = first
        for i, names in enumerate(levels):
            if i:
                _, tasks = _level(program, prepared, names, fitted, budget)
            fitted.update(zip(names, (yield from all_of(tasks)), strict=True))

    # Pass by pass: the flag check, every level of statistics and the inputs' profile side by
    # side (the profile of an input shares its summary with the statistics of that input).
    rows, _, in_prof = drive(all_of([
        _check_flags(frame, flags, prepared, src.lf, inputs), statistics(),
        profiles(frame, ((n, n, t) for n, t in inputs.items() if with_profile), budget)]),
        budget)
    if not with_profile:
        found = _fit_warnings(program, fitted, {"rows": rows, "inputs": {}, "features": {}})
        for w in found:
            warnings.warn(w.message, FitTimeWarning, stacklevel=3)
        return FitResult(fitted, {}, found)

    with ir.deep_recursion():
        plan = PolarsLowering(bind(program, fitted)).plan()
    feature_types = [(f.name, f.expr.type) for f in program.features]
    features = Frame(materialize(with_lengths(plan.apply(prepared, []), feature_types)))
    feat_prof = drive(profiles(features, ((n, n, t) for n, t in feature_types), budget), budget)
    profile = {"rows": rows, "inputs": in_prof, "features": feat_prof}
    found = _fit_warnings(program, fitted, profile)
    for w in found:
        warnings.warn(w.message, FitTimeWarning, stacklevel=3)
    return FitResult(fitted, profile, found)


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
        table = fitted[name]
        if isinstance(table, ir.GroupTable) and not table.keys:
            found.append(FitWarning("empty_groups", name, f"statistic `{s.source}`: no group "
                                    "is kept (no row with non-null keys, or none reaches "
                                    "min_count): it is null on every row"))
        if s.expr.function.name == "vocab" and fitted[name] == ():
            found.append(FitWarning("empty_vocab", name, f"statistic `{s.source}`: the "
                                    "vocabulary is empty (no value reaches min_count)"))
    for name, p in profile["inputs"].items():
        if p["count"] == 0:
            found.append(FitWarning("all_null_input", name, f"input `{name}` has no non-null "
                                    f"value in the training data ({rows} rows)"))
    spread = _zero_spread(program, fitted)
    for f in program.features:
        if f.name not in profile["features"]:  # fitted without a profile
            continue
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
    return any(isinstance(n, ir.Input) for n in _reads(program, [f.expr]))


def _single_value(p: dict) -> bool:
    if "top" in p:
        return len(p["top"]) == 1
    if "true_count" in p:
        return p["true_count"] == 0 or p["false_count"] == 0
    if "min" in p:
        return p["min"] == p["max"]
    return False
