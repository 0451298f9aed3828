"""``featuredsl diff OLD NEW [--data F]``: what a change does to every feature (SPEC 12)."""

from __future__ import annotations

import argparse
import sys

from featuredsl.cli import _common as c

HELP = """\
Compare two versions of a spec (.feat files or fitted .json artifacts, in any mix) on their
meaning, not their text: per feature unchanged, formatting_only, doc_only, added, removed,
renamed, definition_changed, indirectly_changed (through a let, a statistic or an input type:
the path is named) or type_changed; the serving input contract; between artifacts, how each
statistic moved. With --data, both versions run in batch on the same rows: per feature the
rows whose value changed, null transitions, the largest deltas, the top transitions.

Exit status (a CI gate): with --fail-on breaking (default) 1 when a feature changes values,
type, name or order or the input contract narrows (added features alone exit 0); --fail-on any
1 on any change of meaning; --fail-on never always 0; 2 for bad input.

examples:
  featuredsl diff main.feat branch.feat
  featuredsl diff v1.json v2.json --data sample.parquet --format github >> $GITHUB_STEP_SUMMARY
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the two sides and the options of ``featuredsl diff`` on ``p``."""
    p.add_argument("old", metavar="OLD", help="the old version: a .feat spec or a .json artifact")
    p.add_argument("new", metavar="NEW", help="the new version: a .feat spec or a .json artifact")
    p.add_argument("--data", metavar="PATH", help="rows to run both versions on")
    c.add_input_format(p)
    c.add_sources(p)
    p.add_argument("--fail-on", choices=("breaking", "any", "never"), default="breaking",
                   help="what makes the exit status 1 (default: breaking)")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text (plan-style), json, or github (a Markdown summary)")


def run(args: argparse.Namespace) -> int:
    """Print the diff; the exit status follows ``--fail-on`` (1 a finding, else 0)."""
    from featuredsl.diff import _load, diff

    sources = None
    data = None
    if args.data is not None:
        c.format_of(args.data, args.input_format, "input")
        data = c.data_path(args.data, args.input_format)
        if args.source:
            new, _ = _load(args.new, "new")
            sources = c.sources_of(args, new, args.new)
    elif args.source:
        raise c.UsageError("--source is read with --data: give the rows to compare on")
    d = diff(args.old, args.new, data=data, sources=sources)
    out = {"text": d.to_text, "json": d.to_json, "github": d.to_markdown}[args.format]()
    sys.stdout.write(out)
    if args.fail_on == "never":
        return c.OK
    finding = d.breaking if args.fail_on == "breaking" else d.any_change
    return c.FINDING if finding else c.OK
