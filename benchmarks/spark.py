"""featuredsl on Spark (issue 17) against the same features written natively in PySpark.

    python benchmarks/run.py spark               # 1M reference rows, local[2], 3 repeats
    python benchmarks/run.py spark --rows 10000000 --repeat 1
    python benchmarks/run.py spark --quick       # 50k rows, one repeat: a smoke run

Parquet to Parquet on a local Spark session, interleaved, median wall times:

* transform: ``featuredsl.spark.transform`` of reference.feat; the same 16 features as PySpark
  SQL expressions (what a Spark user writes: ``F.log1p``, ``when`` chains, a literal map for
  the vocabulary index, ``try_divide``); featuredsl's local ``transform`` of the same file; and
  an identity ``mapInArrow`` over the same columns (the cost of moving the rows through Arrow
  to Python workers and back, which any Python-side feature code on Spark pays);
* fit: ``featuredsl.spark.fit`` (statistics and profile; and without the profile) against a
  native Spark ``select`` of ``avg``/``stddev_pop`` plus a ``groupBy`` count for the top-100
  vocabulary, and the local fit.

Timings are never asserted; ratios are what to read (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402

import featuredsl as fd  # noqa: E402

SPEC_FILE = HERE / "reference.feat"
EDGES = [10.0, 50.0, 100.0, 500.0]


def native_stats(df) -> dict[str, object]:
    """The constants a Spark user computes natively (Spark's own floating-point sums)."""
    from pyspark.sql import functions as F

    row = df.select(F.avg("amount").alias("m"), F.stddev_pop("amount").alias("s")).first()
    top = (df.where(F.col("category").isNotNull()).groupBy("category").count()
           .orderBy(F.desc("count"), F.asc("category")).limit(100).collect())
    return {"mean": row["m"], "std": row["s"], "vocab": [r["category"] for r in top]}


def native_features(df, stats: dict[str, object]):
    """reference.feat's 16 features as PySpark SQL expressions."""
    from itertools import chain

    from pyspark.sql import functions as F

    amount, country = F.col("amount"), F.col("country")
    dow = F.weekday("ts") + 1  # Monday 1 .. Sunday 7, as day_of_week
    vocab = stats["vocab"]
    assert isinstance(vocab, list)
    index = F.create_map(*chain.from_iterable((F.lit(v), F.lit(i)) for i, v in enumerate(vocab)))
    bucket = F.when(amount < 10, 0)
    for i, e in enumerate(EDGES[1:], 1):
        bucket = bucket.when(amount < e, i)
    bucket = bucket.when(amount >= EDGES[-1], len(EDGES))
    return df.select(
        F.log1p(amount).alias("log_amount"),
        ((amount - F.lit(stats["mean"])) / F.lit(stats["std"])).alias("amount_z"),
        bucket.alias("amount_bucket"),
        F.coalesce(country != "US", F.lit(False)).alias("is_foreign"),
        F.hour("ts").alias("hour"),
        dow.alias("dow"),
        (dow >= 6).alias("is_weekend"),
        F.coalesce(index[F.col("category")], F.lit(-1)).alias("category_idx"),
        F.try_divide(amount, F.col("n_items")).alias("amount_per_item"),
        F.length(F.lower("merchant")).alias("merchant_len"),
        F.lower("description").contains("refund").alias("is_refund"),
        F.least(F.greatest(amount, F.lit(0.0)), F.lit(1000.0)).alias("amount_clipped"),
        F.when((amount > 100) & (country == "US"), 1).otherwise(0).alias("big_us"),
        F.coalesce(country, F.lit("UNK")).alias("country_filled"),
        F.round(amount, 1).alias("amount_round"),
        (F.col("n_items").cast("long") * F.col("n_items")).alias("items_sq"),
    )


def median_times(impls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Interleaved runs (A, B, C, A, B, C...), median seconds of each."""
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="rows (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=None, help="interleaved repeats (default 3)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--quick", action="store_true", help="50,000 rows, one repeat")
    ap.add_argument("--no-fit", action="store_true", help="the transform comparison only")
    args = ap.parse_args(argv)
    rows = args.rows or (50_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    warnings.simplefilter("ignore")
    import featuredsl.spark as fds

    spark = fds.session(args.master)
    spark.sparkContext.setLogLevel("ERROR")
    tmp = Path(tempfile.mkdtemp(prefix="featuredsl-spark-bench-"))
    src = tmp / "rows.parquet"
    frame = data_gen.make_frame(rows)
    frame.write_parquet(src)
    spec = fd.compile_file(SPEC_FILE)
    fitted = spec.fit(frame)
    df = spark.read.parquet(str(src))
    parts = df.rdd.getNumPartitions()
    stats = native_stats(df)
    n_out = iter(range(1_000_000))

    def out() -> str:
        return str(tmp / f"out{next(n_out)}")

    def fd_spark() -> None:
        fds.write_parquet(fds.transform(fitted, spark.read.parquet(str(src))), out())

    def native() -> None:
        native_features(spark.read.parquet(str(src)), stats).write.parquet(out())

    def passthrough() -> None:
        d = spark.read.parquet(str(src)).select(*fitted.serving_inputs)
        def identity(batches: Iterator) -> Iterator:  # nested: shipped by value, not by name
            yield from batches

        d.mapInArrow(identity, d.schema).write.parquet(out())

    def local() -> None:
        from featuredsl.data.files import transform_file

        transform_file(fitted, str(src), out() + ".parquet")

    fd_spark()  # warm the workers (imports, the compiled spec) before timing
    native()
    t = median_times({"featuredsl.spark.transform": fd_spark, "native PySpark": native,
                      "identity mapInArrow": passthrough, "featuredsl local": local}, repeat)
    lines = [f"featuredsl on Spark ({args.master}, {parts} input partitions, "
             f"{rows:,} reference rows, Parquet to Parquet, median of {repeat}, "
             f"pyspark {_version()}, {os.cpu_count()} cores)", "",
             "| what | featuredsl | baseline | ratio |", "|---|---|---|---|"]
    base = t["native PySpark"]
    lines.append(f"| transform: featuredsl.spark vs native PySpark SQL | "
                 f"{t['featuredsl.spark.transform']:.2f} s | {base:.2f} s | "
                 f"{t['featuredsl.spark.transform'] / base:.2f}x |")
    lines.append(f"| transform: featuredsl.spark vs the local backend (file to file) | "
                 f"{t['featuredsl.spark.transform']:.2f} s | {t['featuredsl local']:.2f} s | "
                 f"{t['featuredsl.spark.transform'] / t['featuredsl local']:.2f}x |")
    lines.append(f"| transform: identity mapInArrow (Arrow to Python workers and back) vs "
                 f"native | {t['identity mapInArrow']:.2f} s | {base:.2f} s | "
                 f"{t['identity mapInArrow'] / base:.2f}x |")
    if not args.no_fit:
        def fd_fit() -> None:
            fds.fit(spec, spark.read.parquet(str(src)))

        def fd_fit_stats() -> None:
            fds.fit(spec, spark.read.parquet(str(src)), profile=False)

        def native_fit() -> None:
            native_stats(spark.read.parquet(str(src)))

        def local_fit() -> None:
            spec.fit(str(src))

        f = median_times({"fd": fd_fit, "fd_stats": fd_fit_stats, "native": native_fit,
                          "local": local_fit}, repeat)
        lines.append(f"| fit (statistics + profile): featuredsl.spark vs native Spark "
                     f"aggregates | {f['fd']:.2f} s | {f['native']:.2f} s | "
                     f"{f['fd'] / f['native']:.2f}x |")
        lines.append(f"| fit (statistics only) vs native Spark aggregates | "
                     f"{f['fd_stats']:.2f} s | {f['native']:.2f} s | "
                     f"{f['fd_stats'] / f['native']:.2f}x |")
        lines.append(f"| fit: featuredsl.spark vs the local fit of the file | {f['fd']:.2f} s | "
                     f"{f['local']:.2f} s | {f['fd'] / f['local']:.2f}x |")
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _version() -> str:
    import pyspark

    return str(pyspark.__version__)


if __name__ == "__main__":
    raise SystemExit(main())
