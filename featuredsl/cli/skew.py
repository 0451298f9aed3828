"""``featuredsl skew ARTIFACT --log DIR [--against F --key K]``: replay a feature log."""

from __future__ import annotations

import argparse
import sys

from featuredsl.cli import _common as c

HELP = """\
Replay a feature log (written by fd.FeatureLogger) through the batch backend and compare every
served feature with the recomputed one by the parity equality (SPEC 4.14). Prints, per feature,
match / mismatch / served-null-only / recomputed-null-only counts, the ULP distance of float
mismatches, SMAPE, the most frequent (served -> recomputed) pairs and sample request ids. Rows
served by another artifact, and files that are not readable log files of this artifact, are
findings named in the report (the rest of the log is still checked).

With --against OFFLINE --key K (repeatable, or K1,K2): join mode. Each logged row is compared
with the offline row of the same key, inputs as well as features, and every mismatch is
attributed to the data (inputs differ) or the code (same inputs, different features). A key is
an input the features read, or a context field the logger recorded (ctx.<name>).

exit status: 0 clean, 1 any mismatch, foreign-artifact row or bad file, 2 usage or input error.

examples:
  featuredsl skew model.json --log logs/
  featuredsl skew model.json --log logs/ --against train.parquet --key txn_id --format json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the artifact, the log directory and the join options on ``p``."""
    p.add_argument("artifact", metavar="ARTIFACT",
                   help="the fitted .json artifact (or a .feat spec without statistics)")
    p.add_argument("--log", required=True, metavar="DIR", help="the feature log directory")
    p.add_argument("--against", metavar="F", help="an offline table to join with the log")
    p.add_argument("--key", action="append", metavar="K",
                   help="the join key column(s) (with --against)")
    p.add_argument("--samples", type=int, default=3, metavar="N",
                   help="sample rows shown per feature (default 3)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    """Build the skew report and print it; 1 when its status is ``skew``, else 0."""
    import featuredsl as fd

    if (args.against is None) != (args.key is None):
        raise c.UsageError("join mode needs both --against F and --key K")
    if args.samples < 0:
        raise c.UsageError("--samples must be >= 0")
    spec = c.load_spec(args.artifact)
    c.require_fitted(spec, args.artifact)
    keys = [k for arg in args.key or [] for k in arg.split(",") if k]
    against = None
    if args.against is not None:
        from pathlib import Path

        if not Path(args.against).is_file():
            raise c.UsageError(f"{args.against}: no such file")
        against = args.against
    report = fd.skew_report(spec, args.log, against=against, key=keys or None,
                            samples=args.samples)
    sys.stdout.write(report.to_json() if args.format == "json" else report.to_text())
    return 1 if report.status == "skew" else 0

