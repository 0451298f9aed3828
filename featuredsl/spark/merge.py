"""The partial form of each request of the fit's passes and its exact merge rule.

A request of :mod:`featuredsl.fit.passes` is a Polars aggregation of the whole training data.
Run on one partition, most are *partials* that merge exactly: counts and integer sums add
(Python ints: exact at any size), minima and maxima take the extreme, ``any`` ors, and the
summary, split, key-count and refinement histograms of :mod:`featuredsl.fit.select` are
``group_by`` results whose counts and Int128 sums add per group. The top values counts
(``vocab``, a profile's ``top``, a grouped ``top=``) are sent as rows of every value's count in
the partition and aggregated by Spark (:func:`top_results`: an exact sum per value, then the
local query's filter, order and cut), so only the kept rows reach the driver. The requests
that only choose a *route* (the distinct-value estimate and the string sample of
:mod:`featuredsl.fit.top`, the int sample of :mod:`featuredsl.fit.profile`) are answered on
the driver so that the direct count, which gives the same answer as every route, is always
taken. A request of any other kind is refused with an error naming it: never approximated.

Grouped statistics (``mean(y, by=g)``) are partial per-group rows, non-null counts, extremes
and exact :class:`~featuredsl.fit.exact.Moments`, and the table is finished on the driver with
the local definitions (fit/grouped.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, cast

import polars as pl
import pyarrow as pa

from featuredsl import ir
from featuredsl.errors import FeatureDSLError
from featuredsl.fit import passes as fit_passes
from featuredsl.fit.exact import Moments
from featuredsl.fit.grouped import (
    _KEY_DTYPES,
    _moments,
    _smoothed,
    kept_groups,
    key_column,
    plain_values,
)
from featuredsl.fit.passes import Request, Scalar

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_SUM = {"rows", "count", "nulls", "true", "false", "bin", "int_moments", "int_moments_split"}
_MIN, _MAX, _ANY = {"min"}, {"max"}, {"flag"}
_ON_DRIVER = {"top-distinct", "top-sample", "int-sample"}
_QUERIES = {"summary", "split", "keys", "refine", "top"}
_N = "\x00n"


def kind(key: Hashable) -> str:
    """The kind of a request, from its key (``"rows"`` or ``("summary", column)``...)."""
    return key if isinstance(key, str) else str(cast(tuple, key)[0])


def check(requests: Sequence[Request]) -> None:
    """Refuse a pass holding a request with no exact merge rule (before any job runs)."""
    for r in requests:
        k = kind(r.key)
        known = (_SUM | _MIN | _MAX | _ANY | _ON_DRIVER) if isinstance(r, Scalar) \
            else (_QUERIES | _ON_DRIVER)
        if k not in known:
            raise FeatureDSLError(
                f"featuredsl.spark.fit: the aggregate `{k}` of the local fit has no exact "
                "merge rule across partitions, so it is refused rather than approximated; fit "
                "this spec locally (docs/spark.md, What is refused)")


def on_driver(requests: Sequence[Request]) -> list[object]:
    """The answers of the route-choosing requests (``None`` for the others): no distinct
    values estimated and no many-valued sample, so fit/top.py counts directly, in one
    partition of the values, and fit/profile.py counts an int column's values (the same
    answer whatever the route)."""
    out: list[object] = []
    for r in requests:
        k = kind(r.key)
        if k == "top-distinct":
            out.append(0)
        elif k == "top-sample":
            out.append(pl.DataFrame({"d": [0], "n": [1], "b": [0.0]}))
        elif k == "int-sample":  # fit/profile.py: no sample proves many values, so count them
            out.append(pl.DataFrame({"d": [0]}))
        else:
            out.append(None)
    return out


def partials(requests: Sequence[Request]) -> list[object]:
    """This partition's partial result of every request (``None`` for those answered on the
    driver and for the top-value counts, which Spark aggregates: :func:`top_rows`), in
    request order: one ``collect_all`` as the local pass runs."""
    rewritten: list[Request] = []
    where: list[int | None] = []
    for r in requests:
        k = kind(r.key)
        if k in _ON_DRIVER or k == "top":
            where.append(None)
            continue
        where.append(len(rewritten))
        rewritten.append(r)
    got = fit_passes._execute(rewritten) if rewritten else []
    return [None if i is None else got[i] for i in where]


#: The rows a partition sends for the top-value counts of a pass: request index, the value in
#: the column of its kind (the others null), its count in the partition.
TOP_SCHEMA = "i int, s string, l bigint, d double, b boolean, n bigint"
_TOP_COLUMNS = {pl.String: "s", pl.Int64: "l", pl.Float64: "d", pl.Boolean: "b"}


def _top_column(r: Request) -> tuple[str, str]:
    column = cast(tuple, r.key)[1]
    dtype = r.frame.lf.collect_schema()[column]
    slot = next((v for d, v in _TOP_COLUMNS.items() if dtype == d), None)
    if slot is None:
        raise FeatureDSLError(f"featuredsl.spark.fit: top values of a {dtype} column cannot be "
                              "counted by Spark (string, int, float and bool can)")
    return column, slot


def has_tops(requests: Sequence[Request]) -> bool:
    """Whether the pass counts top values (a second job: Spark aggregates the counts)."""
    return any(kind(r.key) == "top" for r in requests)


def top_rows(requests: Sequence[Request]) -> pa.Table:
    """This partition's count of every value of each top-value request (``TOP_SCHEMA``)."""
    plans, meta = [], []
    for i, r in enumerate(requests):
        if kind(r.key) != "top":
            continue
        column, slot = _top_column(r)
        c = pl.col(column)
        plans.append(r.frame.lf.select(c).filter(c.is_not_null()).group_by(column)
                     .agg(pl.len().cast(pl.Int64).alias(_N))
                     # plain names: Arrow's C interface refuses the NUL in fit's names
                     .select(pl.col(column).alias("v"), pl.col(_N).alias("n")))
        meta.append((i, column, slot))
    frames = pl.collect_all(plans, engine="streaming") if plans else []
    parts = []
    for (i, _, slot), df in zip(meta, frames, strict=True):
        n = df.height
        cols = {"i": pa.array([i] * n, pa.int32())}
        for name, t in (("s", pa.string()), ("l", pa.int64()), ("d", pa.float64()),
                        ("b", pa.bool_())):
            cols[name] = df.get_column("v").to_arrow().cast(t) if name == slot \
                else pa.nulls(n, t)
        cols["n"] = df.get_column("n").to_arrow().cast(pa.int64())
        parts.append(pa.table(cols))
    schema = pa.schema([("i", pa.int32()), ("s", pa.string()), ("l", pa.int64()),
                        ("d", pa.float64()), ("b", pa.bool_()), ("n", pa.int64())])
    return pa.concat_tables(parts) if parts else schema.empty_table()


def top_results(requests: Sequence[Request], counts: DataFrame) -> dict[int, pl.DataFrame]:
    """The top-value requests' results from every partition's counts (a Spark DataFrame of
    ``TOP_SCHEMA``): Spark sums the counts per value (a shuffle: distributed, exact integer
    sums), keeps those seen ``min_count`` times and the ``top`` best of each request, most
    frequent first, ties by value ascending (Spark orders strings by UTF-8 bytes, code point
    order, as Polars does), then the driver builds the frame the local query returns."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    tops = [(i, r) for i, r in enumerate(requests) if kind(r.key) == "top"]
    min_count = top = None
    for i, r in tops:
        _, _, t, mc = cast(tuple, r.key)[:4]
        cond = F.col("i") == i
        min_count = (F.when(cond, F.lit(int(mc))) if min_count is None
                     else min_count.when(cond, F.lit(int(mc))))
        top = F.when(cond, F.lit(int(t))) if top is None else top.when(cond, F.lit(int(t)))
    assert min_count is not None and top is not None
    summed = counts.groupBy("i", "s", "l", "d", "b").agg(F.sum("n").alias("n"))
    order = Window.partitionBy("i").orderBy(F.desc("n"), F.asc("s"), F.asc("l"),
                                            F.asc("d"), F.asc("b"))
    kept = (summed.where(F.col("n") >= min_count)
            .withColumn("r", F.row_number().over(order)).where(F.col("r") <= top)
            .select("i", "r", "s", "l", "d", "b", "n").collect())
    rows = sorted((tuple(x) for x in kept), key=lambda x: (x[0], x[1]))
    out: dict[int, pl.DataFrame] = {}
    for i, r in tops:
        column, slot = _top_column(r)
        at = 2 + "sldb".index(slot)
        mine = [x for x in rows if x[0] == i]
        dtype = r.frame.lf.collect_schema()[column]
        out[i] = pl.DataFrame({column: [x[at] for x in mine], _N: [x[6] for x in mine]},
                              schema={column: dtype, _N: pl.Int64})
    return out


def _frames(parts: list[object]) -> pl.DataFrame:
    return pl.concat([cast(pl.DataFrame, p) for p in parts], how="vertical")


def merge(requests: Sequence[Request], parts: list[list[object]],
          tops: dict[int, pl.DataFrame]) -> list[object]:
    """Every request's result from the partitions' partials (``parts[p][i]``: partition
    ``p``'s partial of request ``i``) and the top-value results (``tops``, by request index):
    what the local pass returns over all the rows."""
    driver = on_driver(requests)
    out: list[object] = []
    for i, r in enumerate(requests):
        k = kind(r.key)
        if k in _ON_DRIVER:
            out.append(driver[i])
            continue
        if k == "top":
            out.append(tops[i])
            continue
        vals = [p[i] for p in parts]
        if isinstance(r, Scalar):
            present = [v for v in vals if v is not None]
            if k in _SUM:
                out.append(sum(int(cast(int, v)) for v in present))
            elif k in _ANY:
                out.append(any(bool(v) for v in present))
            elif k in _MIN:
                out.append(min(present) if present else None)  # type: ignore[type-var]
            else:
                out.append(max(present) if present else None)  # type: ignore[type-var]
            continue
        df = _frames(vals)
        if k == "summary":
            out.append(df.group_by("b").agg(pl.col("n").sum(), pl.col("lo").min(),
                                            pl.col("hi").max(), pl.col("s").sum(),
                                            pl.col("q").sum()))
        elif k == "split":
            out.append(df.select(pl.all().sum()))
        elif k == "keys":
            out.append(df.group_by("k").agg(pl.col("n").sum()))
        else:  # "refine"
            out.append(df.group_by("i", "b").agg(pl.col("n").sum(), pl.col("lo").min(),
                                                 pl.col("hi").max()))
    return out


# ---------------------------------------------------------------------------- grouped


def _aliases(agg: ir.Aggregate) -> list[str]:
    return [f"\x00k{i}" for i in range(len(agg.by))]


def _needs_moments(agg: ir.Aggregate) -> bool:
    return agg.args[0].type.kind in ("float", "int") and agg.function.name in (
        "mean", "var", "std")


def grouped_partial(lf: pl.LazyFrame, agg: ir.Aggregate, col: str, keys: list[str],
                    only: list[object] | None) -> list[object]:
    """One partition's part of a grouped statistic (the arguments of ``fit_grouped``):
    ``[per-group frame, grouped rows, overall moments]``; the frame holds the keys, rows,
    non-null count, extreme (min/max) and exact moments (sums as decimal text)."""
    fn = agg.function.name
    aliases = _aliases(agg)
    lf = lf.with_columns([key_column(pl.col(k), b.type.kind).alias(a)
                          for k, b, a in zip(keys, agg.by, aliases, strict=True)])
    lf = lf.filter(pl.all_horizontal([pl.col(a).is_not_null() for a in aliases]))
    x = pl.col(col)
    aggs = [pl.len().cast(pl.Int64).alias("__rows"), x.count().cast(pl.Int64).alias("__n")]
    if fn in ("min", "max"):
        v = key_column(x, "float") if agg.args[0].type.kind == "float" else x
        aggs.append((v.min() if fn == "min" else v.max()).alias("__v"))
    every = lf
    if only is not None:
        kept = pl.Series(only, dtype=_KEY_DTYPES[agg.by[0].type.kind])
        lf = lf.filter(pl.col(aliases[0]).is_in(kept))
    base = lf.group_by(aliases).agg(aggs).collect(engine="streaming")
    total = int(every.select(pl.len()).collect(engine="streaming").item())
    overall: list[str] = []
    if _needs_moments(agg):
        ms = _moments(lf, col, aliases, need_squares=fn != "mean")
        rows = [ms.get(tuple(k), Moments(0, 0, 0, 0, 0))
                for k in base.select(aliases).iter_rows()]
        base = base.with_columns(
            pl.Series("__mn", [m.n for m in rows], dtype=pl.Int64),
            pl.Series("__mp", [m.pos_inf for m in rows], dtype=pl.Int64),
            pl.Series("__mm", [m.neg_inf for m in rows], dtype=pl.Int64),
            pl.Series("__ms", [str(m.s) for m in rows], dtype=pl.String),
            pl.Series("__mq", [str(m.q) for m in rows], dtype=pl.String))
        if agg.option("smoothing") is not None:
            o = _moments(every, col, [], need_squares=False).get((), Moments(0, 0, 0, 0, 0))
            overall = [str(v) for v in (o.n, o.pos_inf, o.neg_inf, o.s, o.q)]
    return [base, total, overall]


def grouped_merge(agg: ir.Aggregate, parts: list[list[object]]) -> ir.GroupTable:
    """The grouped statistic's table from the partitions' parts: fit/grouped.py's
    definitions on the merged sums (the same exact values, so the same floats)."""
    fn = agg.function.name
    aliases = _aliases(agg)
    nk = len(aliases)
    df = _frames([p[0] for p in parts])
    total_rows = sum(int(cast(int, p[1])) for p in parts)
    aggs = [pl.col("__rows").sum(), pl.col("__n").sum()]
    if fn in ("min", "max"):
        aggs.append(pl.col("__v").min() if fn == "min" else pl.col("__v").max())
    moments = _needs_moments(agg)
    sums: dict[tuple, list[int]] = {}
    if moments:
        aggs += [pl.col("__mn").sum(), pl.col("__mp").sum(), pl.col("__mm").sum()]
        for r in df.select([*aliases, "__ms", "__mq"]).iter_rows():
            acc = sums.setdefault(tuple(r[:nk]), [0, 0])
            acc[0] += int(r[nk])
            acc[1] += int(r[nk + 1])
    merged = df.group_by(aliases).agg(aggs)
    cols, group_keys = kept_groups(merged, agg, aliases)
    values = plain_values(fn, cols, total_rows)
    if values is None:
        ms: list[Moments | None] = []
        for k, n, p, q_ in zip(group_keys, cols["__mn"], cols["__mp"], cols["__mm"],
                               strict=True):
            s, q = sums[tuple(k)]
            m = Moments(n, p, q_, s, q)
            ms.append(m if m.count else None)
        if agg.option("smoothing") is not None:
            acc = [0] * 5  # n, +inf, -inf, sum, sum of squares over every grouped row
            for p in parts:
                for j, v in enumerate(cast(list, p[2])):
                    acc[j] += int(v)
            overall = Moments(*acc)
            weight = float(agg.option("smoothing"))  # type: ignore[arg-type]
            values = [_smoothed(m, overall, weight) for m in ms]
        else:
            values = [None if m is None else getattr(m, fn)() for m in ms]
    return ir.GroupTable(tuple(group_keys), tuple(values), tuple(cols["__rows"]))
