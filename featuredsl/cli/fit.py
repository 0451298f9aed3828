"""``featuredsl fit SPEC --data PATH -o ARTIFACT``: fit statistics, write the artifact."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from featuredsl.cli import _common as c
from featuredsl.cli import _spark

HELP = """\
Fit a spec's statistics (mean, std, vocab, quantiles, ...) on training data and write the
fitted artifact: one deterministic JSON file that `transform`, `eval`, `explain` and `parity`
(and `featuredsl.load` in a server) accept in place of the .feat file.

Fit-time warnings (a zero std that makes a feature always null, an empty vocabulary, an
all-null input, a constant feature) are printed on stderr; with --strict they make the exit
status 1, so a training pipeline can stop on a degenerate fit.

A spec with window aggregates (SPEC 13) reads each event source's file from --source
NAME=PATH; each training row sees only its key's events before its time.

With --folds K --train-out F, F receives the out-of-fold training features
(`Spec.fit_transform`): each row's grouped statistics (`mean(y, by=g)`) come from the other
K-1 folds only; folds by a stable hash of the row index with --seed, or of --fold-by COL's
value. The artifact holds the statistics of every row, for serving.

examples:
  featuredsl fit transactions.feat --data train.parquet -o model.json
  featuredsl fit delays.feat --data train.parquet -o model.json --folds 5 --train-out oof.parquet
  featuredsl fit fraud.feat --data labels.parquet --source txns=txns.parquet -o model.json
  featuredsl fit transactions.feat --engine spark --data s3a://b/train/ -o model.json

With --engine spark (the featuredsl[spark] extra) --data and --source are Parquet paths read by
Spark (files or directories, any URL the cluster reads); the artifact is byte-identical to a
local fit of the same rows (docs/spark.md).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the spec, the data, the output and the options of ``featuredsl fit`` on ``p``."""
    p.add_argument("spec", metavar="SPEC", help="the .feat file")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="training data: Parquet, CSV, Arrow IPC or NDJSON")
    p.add_argument("-o", "--output", required=True, metavar="ARTIFACT",
                   help="where to write the artifact (.json)")
    c.add_input_format(p)
    c.add_sources(p)
    folds = p.add_argument_group("out-of-fold training features")
    folds.add_argument("--folds", type=int, default=None, metavar="K",
                       help="with --train-out: out-of-fold grouped statistics over K folds")
    folds.add_argument("--seed", type=int, default=0, help="the fold hash's seed (default 0)")
    folds.add_argument("--fold-by", default=None, metavar="COL",
                       help="rows with the same COL value share a fold")
    folds.add_argument("--train-out", default=None, metavar="F",
                       help="write the out-of-fold training features to F")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when fitting gives warnings (the artifact is still written)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress on stderr (default: when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="print warnings only")
    _spark.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Fit the spec's statistics on ``--data`` and write the artifact; the exit status is 1
    with ``--strict`` and fit warnings, else 0. Raises ``UsageError`` for a spec or output path
    of the wrong kind (exit 2).
    """
    import featuredsl as fd

    prog = "featuredsl fit"
    if not args.spec.lower().endswith(".feat"):
        raise c.UsageError(f"{args.spec}: fit takes a .feat spec")
    if not args.output.lower().endswith(".json"):
        raise c.UsageError(f"{args.output}: the artifact is a JSON file; name it *.json")
    parent = Path(args.output).parent
    if not parent.is_dir():  # say so before a long fit, not after
        raise c.UsageError(f"{args.output}: the directory {parent} does not exist")
    if (args.folds is None) != (args.train_out is None):
        raise c.UsageError("--folds and --train-out go together")
    if args.fold_by is not None and args.folds is None:
        raise c.UsageError("--fold-by needs --folds and --train-out")
    spec = fd.compile_file(args.spec)
    if _spark.check(args, {"--folds": args.folds is not None,
                           "--input-format": bool(args.input_format)}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fd.FitTimeWarning)
            fitted = _spark.fit(args, spec)
        return _written(fitted, args, prog)
    sources = c.sources_of(args, spec, args.spec, fitting=True)
    data = c.data_path(args.data, args.input_format)
    with c.Ticker(c.Progress.wanted(args.progress), prog) as ticker:
        ticker.phase = "fitting statistics and the training profile"
        with warnings.catch_warnings():
            # The warnings are printed below from fitted.fit_warnings, once each.
            warnings.simplefilter("ignore", fd.FitTimeWarning)
            if args.folds is None:
                fitted = spec.fit(data, sources)
            else:
                fitted = _fit_out_of_fold(spec, data, sources, args)
        ticker.phase = "writing the artifact"
        fitted.save(args.output)
    return _written(fitted, args, prog, saved=True)


def _written(fitted, args: argparse.Namespace, prog: str, saved: bool = False) -> int:
    """Save (unless done), print the warnings and the summary; the exit status."""
    if not saved:
        fitted.save(args.output)
    for w in fitted.fit_warnings:
        c.warn_line(prog, w.message)
    if not args.quiet:
        n = len(fitted.stats)
        sys.stdout.write(f"fitted {n} statistic{'s' if n != 1 else ''} and the training "
                         f"profile of {len(fitted.features)} features; wrote {args.output}\n")
    return c.FINDING if args.strict and fitted.fit_warnings else c.OK


def _fit_out_of_fold(spec, data, sources, args: argparse.Namespace):
    """``Spec.fit_transform`` with the training features written atomically to
    ``--train-out`` (its format from the extension)."""
    from featuredsl.data import files

    out = Path(args.train_out)
    fmt = files.format_of(out, None, "--train-out")
    fitted, train = spec.fit_transform(data, folds=args.folds, seed=args.seed,
                                       fold_by=args.fold_by, sources=sources)
    files._write_atomic(out, fmt, train.schema, iter([train]), None, lambda _: None)
    return fitted
