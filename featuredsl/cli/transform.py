"""``featuredsl transform SPEC|ARTIFACT --data PATH -o OUT``: features, file to file, streaming."""

from __future__ import annotations

import argparse
import sys

from featuredsl.cli import _common as c
from featuredsl.cli import _spark

HELP = """\
Compute the features of a data file into another file, streaming: the input is read and the
output written batch by batch on Polars' streaming engine, so files larger than memory work.
Formats (in and out): Parquet, CSV, Arrow IPC, NDJSON, by extension or --input-format /
--output-format. The output holds the --keep columns (copied from the input) and then the
features, in declaration order, with their declared types.

Bad data (a null in a non-nullable column, a value that does not convert) stops the run with
exit status 2 and one line naming the column, the row (0-based) and the expected type; no
output file is left behind (the output is written to a temporary file and renamed at the
end). --on-bad-data null computes such values as null instead, as Spec.transform_lazy does.

A spec with window aggregates (SPEC 13) reads each event source from --source NAME=PATH;
each row sees exactly its key's events in [time - over, time). Such a transform needs every
key's history at once, so it is computed in memory (not streamed) and then written.

examples:
  featuredsl transform fraud.json --data rows.parquet --source txns=txns.parquet -o out.parquet
  featuredsl transform model.json --data events.parquet -o features.parquet --keep user_id,label
  featuredsl transform spec.feat --data rows.csv -o out.ndjson
  featuredsl transform model.json --engine spark --data hdfs:///rows/ -o hdfs:///features/

With --engine spark (the featuredsl[spark] extra) the features are computed by Spark: --data,
--source and the output are Parquet paths the cluster reads and writes (the output is a
directory of part files; --overwrite replaces it); the values are those of the local
transform (docs/spark.md). Spark does not keep the row order of a windowed transform: keep a
key column.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the spec, the input, the output and the options of ``featuredsl transform``."""
    p.add_argument("spec", metavar="SPEC|ARTIFACT",
                   help="a .feat spec (without statistics) or a fitted .json artifact")
    p.add_argument("--data", required=True, metavar="PATH", help="the input data file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the output file")
    p.add_argument("--keep", metavar="COL,...", default="",
                   help="input columns to copy to the output, before the features")
    c.add_input_format(p)
    c.add_sources(p)
    p.add_argument("--output-format", choices=c.FORMAT_NAMES, metavar="FORMAT",
                   help="write OUT as this format whatever its extension")
    p.add_argument("--on-bad-data", choices=("error", "null"), default="error",
                   help="error (default): stop at the first bad value; null: compute it as null")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress on stderr (default: when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    _spark.add_arguments(p)
    p.add_argument("--overwrite", action="store_true",
                   help="with --engine spark: replace an existing output directory")


def _total_rows(path: str, fmt: str) -> int | None:
    """The row count when the file's metadata says it cheaply (Parquet, IPC), else None."""
    import polars as pl

    try:
        if fmt == "parquet":
            return int(pl.scan_parquet(path).select(pl.len()).collect().item())
        if fmt == "ipc":
            return int(pl.scan_ipc(path).select(pl.len()).collect().item())
    except Exception:  # the transform itself reports an unreadable file properly
        return None
    return None


def run(args: argparse.Namespace) -> int:
    """Compute the features of ``--data`` into ``--output``, streaming batch by batch; exit
    status 0 (bad data or paths raise, exit 2).
    """
    from featuredsl.data.files import transform_file

    spec = c.load_spec(args.spec)
    c.require_fitted(spec, args.spec)
    keep = [k.strip() for k in args.keep.split(",") if k.strip()]
    if _spark.check(args, {"--input-format": bool(args.input_format),
                           "--output-format": bool(args.output_format),
                           "--on-bad-data null": args.on_bad_data != "error",
                           "--progress": bool(args.progress)}):
        _spark.transform(args, spec, keep)
        return c.OK
    if args.overwrite:
        raise c.UsageError("--overwrite goes with --engine spark (a local transform replaces "
                           "its output file)")
    sources = c.sources_of(args, spec, args.spec)
    in_fmt = c.format_of(args.data, args.input_format, "input")
    data: str = args.data
    read_fmt: str | None = in_fmt
    if sources is not None:
        if args.on_bad_data != "error":
            raise c.UsageError("--on-bad-data null is not available for a spec with window "
                               "aggregates: its rows and events are validated whole")
        data, read_fmt = c.data_path(args.data, args.input_format), None  # by extension
    c.format_of(args.output, args.output_format, "output")
    progress = c.Progress(c.Progress.wanted(args.progress), "featuredsl transform")
    if progress.enabled:
        progress.total = _total_rows(args.data, in_fmt)
    rows = transform_file(spec, data, args.output, keep=keep, input_format=read_fmt,
                          output_format_=args.output_format, on_bad_data=args.on_bad_data,
                          on_rows=progress.add, sources=sources)
    progress.finish()
    if not args.quiet:
        sys.stderr.write(f"featuredsl transform: {rows:,} rows, {len(keep)} kept column"
                         f"{'s' if len(keep) != 1 else ''} + {len(spec.features)} features "
                         f"-> {args.output}\n")
    return c.OK
