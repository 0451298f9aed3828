"""Fitting: compute a spec's statistics and training profile on training data (SPEC section 5).

``fit(spec, data)`` accepts every source ``transform`` accepts. The prepared (validated,
widened) inputs are computed once (collected, or for a file or LazyFrame source streamed to a
temporary Parquet file); the statistics are grouped in dependency levels (``std(x - mean(x))``
needs ``mean(x)`` first). Every statistic and profile entry is a *task* asking for lazy
aggregations (:mod:`featuredsl.fit.passes`); the tasks run side by side, so each pass over the
data is one set of streaming queries serving all of them: the flag check, the levels of
statistics and the inputs' profile in the first passes, then the features (computed once with
the fitted values) and their profile. Moments and order statistics come from
:mod:`featuredsl.fit.select` (one ``group_by`` summary per float column, then a pass or two of
radix selection: no sort), top values from :mod:`featuredsl.fit.top` (counted in hash
partitions of at most ``fit_top.KEYS_PER_PASS`` distinct values, one a pass, when a column has
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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from featuredsl import ir
from featuredsl.backends.polars_backend import PolarsLowering
from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line
from featuredsl.fit.exact import lower_rank, median_of, normalize_zero
from featuredsl.fit.passes import Budget, Frame, Scalar, Task, all_of, drive, one
from featuredsl.fit.select import (
    COLLECT_BUDGET,
    decode_float,
    float_moments,
    float_summary,
    int_moments,
    order_stats,
)
from featuredsl.fit.top import top_values
from featuredsl.fitted import FittedSpec, FitWarning
from featuredsl.types import Type

if TYPE_CHECKING:
    from featuredsl.api import Spec


class FitTimeWarning(UserWarning):
    """A degenerate statistic or feature found while fitting (also on ``fit_warnings``)."""


_DECILES = [(i, 10) for i in range(1, 10)]
_TOP = 20


def _fractions(fractions: list[tuple[int, int]]) -> Callable[[int], list[int]]:
    """0-based ranks of the 'lower' quantiles: ``floor((n - 1) * i / k)``, exact."""
    return lambda n: [lower_rank(n, i, k) for i, k in fractions]


def _scalar(frame: Frame, expr: pl.Expr, key: object) -> Task[object]:
    return (yield from one(Scalar(frame, expr, key)))


def _count(frame: Frame, column: str) -> Task[int]:
    v = yield from one(Scalar(frame, pl.col(column).count().cast(pl.Int64), ("count", column)))
    return int(v)  # type: ignore[call-overload]


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


def _level(program: ir.Program, base: pl.LazyFrame, names: list[str],
           fitted: dict[str, object], budget: Budget) -> tuple[Frame, list[Task]]:
    """The frame (``base`` plus the statistics' argument columns) and the tasks of one level.

    An argument that is an input column as it is (floats are Float64 without NaN after
    ``prepare``) is read by name, so the profile of that input shares its queries."""
    lowering = PolarsLowering(program, fitted)
    stats = [program.stats[n] for n in names]
    columns: dict[tuple, str] = {}  # structural key -> column name
    exprs: list[ir.Expr] = []
    for s in stats:
        arg = s.expr.args[0]
        if arg.key() not in columns:
            columns[arg.key()] = arg.name if isinstance(arg, ir.Input) \
                else f"\x00a{len(exprs)}"  # no identifier holds a NUL: no clash
            exprs.append(arg)
    computed = [e for e in exprs if not isinstance(e, ir.Input)]
    lf = base
    if computed:
        with ir.deep_recursion():
            plan = lowering.lower_exprs(computed)
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
    for s in stats:
        consts = [lowering.const_value(a) for a in s.expr.args[1:]]
        tasks.append(_stat_task(frame, s.expr, columns[s.expr.args[0].key()], consts, budget))
    return frame, tasks


def _fit_level(program: ir.Program, base: pl.LazyFrame, names: list[str],
               fitted: dict[str, object]) -> None:
    """Compute one level of statistics; add them to ``fitted`` (benchmarks time this)."""
    budget = Budget(COLLECT_BUDGET)
    _, tasks = _level(program, base, names, fitted, budget)
    fitted.update(zip(names, drive(all_of(tasks), budget), strict=True))


def _stat_task(frame: Frame, agg: ir.Aggregate, col: str, consts: list[object],
               budget: Budget) -> Task[object]:
    fn = agg.function.name
    c = pl.col(col)
    is_float = agg.args[0].type.kind == "float"
    if fn == "count":
        return (yield from _count(frame, col))
    if fn == "null_fraction":
        nulls, rows = yield [Scalar(frame, c.null_count().cast(pl.Int64), ("nulls", col)),
                             Scalar(frame, pl.len().cast(pl.Int64), "rows")]
        return (nulls / rows) if rows else 0.0  # type: ignore[operator]
    if fn in ("min", "max"):
        if is_float:  # the profile reads these from the summary; -0.0 counts as 0.0
            x = normalize_zero(c)
            return (yield from _scalar(frame, x.min() if fn == "min" else x.max(), (fn, col, 0.0)))
        return (yield from _scalar(frame, c.min() if fn == "min" else c.max(), (fn, col)))
    if fn in ("mean", "var", "std"):
        mom = yield from float_moments(frame, col)
        return getattr(mom, fn)()
    if fn == "median":
        got = yield from order_stats(frame, col, "float", lambda n: [(n - 1) // 2, n // 2],
                                     budget)
        return median_of(*got) if got else None  # type: ignore[arg-type]
    if fn == "quantiles":
        k = consts[0]
        if not isinstance(k, int) or k < 1:
            raise InputError(f"quantiles: k must be a positive int, got {k!r}")
        got = yield from order_stats(frame, col, "float",
                                     _fractions([(i, k) for i in range(1, k)]), budget)
        return _dedupe(got)
    if fn == "vocab":
        top, min_count = consts
        got = yield from top_values(frame, col, agg.args[0].type.kind, int(top),  # type: ignore
                                    int(min_count))  # type: ignore[call-overload]
        return tuple(v for v, _ in got)
    raise AssertionError(f"unknown aggregate {fn}")  # pragma: no cover


def _dedupe(edges: list) -> tuple:
    out: list = []
    for e in edges:
        if e is not None and (not out or e != out[-1]):
            out.append(e)
    return tuple(out)


# ---------------------------------------------------------------------------- profile


def _profile_column(frame: Frame, col: str, t: Type, budget: Budget) -> Task[dict]:
    c = pl.col(col)
    k = t.kind
    parts: dict[str, Task] = {
        "count": _count(frame, col),
        "null_count": _scalar(frame, c.null_count().cast(pl.Int64), ("nulls", col)),
    }
    if k == "float":
        parts["_float"] = _float_profile(frame, col, budget)
    if k == "int":
        parts["_int"] = _int_profile(frame, col, budget)
    if k in ("int", "string"):
        parts["top"] = top_values(frame, col, k, _TOP)
    if k == "bool":
        parts["true_count"] = _scalar(frame, c.sum().cast(pl.Int64), ("true", col))
        parts["false_count"] = _scalar(frame, (~c).sum().cast(pl.Int64), ("false", col))
    if k in ("timestamp", "date", "duration"):
        parts["min"] = _scalar(frame, c.min(), ("min", col))
        parts["max"] = _scalar(frame, c.max(), ("max", col))
    got = dict(zip(parts, (yield from all_of(parts.values())), strict=True))
    out: dict[str, object] = {"type": str(t), "count": int(got.pop("count")),  # type: ignore
                              "null_count": int(got.pop("null_count"))}  # type: ignore
    for part in (got.pop("_float", None), got.pop("_int", None)):
        if part is not None:
            out.update(part)
    if "top" in got:
        got["top"] = [list(p) for p in got["top"]]  # type: ignore[attr-defined]
    out.update((name, _plain(v)) for name, v in got.items())
    return out


def _float_profile(frame: Frame, col: str, budget: Budget) -> Task[dict]:
    """min, max, mean, std and deciles of a Float64 column: one summary query, then the
    selection passes of the deciles."""
    mom, deciles, summary = yield from all_of([
        float_moments(frame, col),
        order_stats(frame, col, "float", _fractions(_DECILES), budget),
        float_summary(frame, col)])
    ranges = summary.ranges()  # type: ignore[attr-defined]
    lo = decode_float(ranges[0][0]) if ranges else None
    hi = decode_float(ranges[-1][1]) if ranges else None
    return {"min": lo, "max": hi, "mean": mom.mean(), "std": mom.std(),  # type: ignore
            "quantiles": deciles or [None] * len(_DECILES)}


def _int_profile(frame: Frame, col: str, budget: Budget) -> Task[dict]:
    """min, max, mean, std and deciles of an Int64 column (moments and deciles of float(x))."""
    c = pl.col(col)
    lo, hi, mom, deciles = yield from all_of([
        _scalar(frame, c.min(), ("min", col)), _scalar(frame, c.max(), ("max", col)),
        int_moments(frame, col),
        order_stats(frame, col, "int", _fractions(_DECILES), budget)])
    return {"min": lo, "max": hi, "mean": mom.mean(), "std": mom.std(),  # type: ignore
            "quantiles": [float(v) for v in deciles] or [None] * len(_DECILES)}  # type: ignore


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


def _profiles(frame: Frame, columns: Iterable[tuple[str, str, Type]],
              budget: Budget) -> Task[dict[str, dict]]:
    """Profiles by name of ``(name, column, type)``."""
    cols = list(columns)
    got = yield from all_of(_profile_column(frame, c, t, budget) for _, c, t in cols)
    return {n: g for (n, _, _), g in zip(cols, got, strict=True)}


# ---------------------------------------------------------------------------- fit


def fit(spec: Spec, data: object) -> FittedSpec:
    """Fit ``spec``'s statistics and training profile on ``data`` (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="featuredsl-fit-") as tmp:
        return _fit(spec, data, _Materializer(data, Path(tmp)))


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
    return int(got[0])  # type: ignore[call-overload]


def _fit(spec: Spec, data: object, materialize: _Materializer) -> FittedSpec:
    program = spec.program
    inputs = program.inputs
    src = data_io.open_source(data, inputs)
    prepared = materialize(data_io.prepare(src.lf, inputs, [], text=src.text, checks=True))
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
        _profiles(frame, ((n, n, t) for n, t in inputs.items()), budget)]), budget)

    out = FittedSpec(spec.source, spec.file, program, spec.diagnostics, fitted)
    features = Frame(materialize(out.batch_plan().apply(prepared, [])))
    feat_prof = drive(_profiles(features, ((f.name, f.name, f.expr.type)
                                           for f in program.features), budget), budget)
    profile = {"rows": rows, "inputs": in_prof, "features": feat_prof}
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
