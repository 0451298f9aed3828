"""``featuredsl parity SPEC|ARTIFACT --data PATH [--edge-cases]``: both backends, compared."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from featuredsl.cli import _common as c

if TYPE_CHECKING:
    from featuredsl.api import Spec

HELP = """\
Run both backends (Polars batch and the per-row serving evaluator) over a dataset and compare
every feature of every row (SPEC 4.14: the same Python value; null == null; -0.0 == 0.0).
With --edge-cases, also over generated rows for the declared schema: nulls, NaN, +-inf,
-0.0, int64 and float extremes, empty and non-ASCII strings, calendar edges, and the spec's
own constants and fitted values with their neighbours (deterministic: --seed).

Prints the number of mismatching rows per feature with example rows; exit status 1 if any
feature disagrees on any row, 0 if none; --format json for scripts.

A spec with window aggregates (SPEC 13) reads its events from --source NAME=PATH. The batch
side computes every row's windows from the files; the serving side replays them through a
live in-process state in time order: each row is evaluated after ingesting exactly the
events before its time, as a server receiving events and requests in order would answer.
With --edge-cases alone the generated rows meet empty sources (every window empty).

examples:
  featuredsl parity model.json --data sample.parquet --edge-cases
  featuredsl parity fraud.json --data rows.parquet --source txns=txns.parquet
  featuredsl parity spec.feat --edge-cases --format json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the spec, the data and the options of ``featuredsl parity`` on ``p``."""
    p.add_argument("spec", metavar="SPEC|ARTIFACT",
                   help="a .feat spec (without statistics) or a fitted .json artifact")
    p.add_argument("--data", metavar="PATH", help="the data to compare over")
    c.add_input_format(p)
    c.add_sources(p)
    p.add_argument("--edge-cases", action="store_true",
                   help="also compare over generated edge-case rows")
    p.add_argument("--edge-rows", type=int, default=1000, metavar="N",
                   help="number of generated rows (default 1000; at least one per edge value)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated rows (default 0)")
    p.add_argument("--examples", type=int, default=3, metavar="K",
                   help="example rows shown per feature (default 3)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress on stderr (default: when stderr is a terminal)")


def run(args: argparse.Namespace) -> int:
    """Compare both backends over ``--data`` and/or generated edge cases and print the report;
    the exit status is 1 on any mismatch, else 0. Raises ``UsageError`` when there is nothing to
    compare or a count is negative.
    """
    from featuredsl import parity

    if args.data is None and not args.edge_cases:
        raise c.UsageError("nothing to compare: give --data PATH, --edge-cases, or both")
    if args.edge_rows < 0 or args.examples < 0:
        raise c.UsageError("--edge-rows and --examples must be >= 0")
    spec = c.load_spec(args.spec)
    c.require_fitted(spec, args.spec)
    sources = _sources(args, spec)
    report = parity.ParityReport(spec.features, limit=args.examples)
    sections: list[tuple[str, int]] = []
    if args.data is not None:
        fmt = c.format_of(args.data, args.input_format, "input")
        progress = c.Progress(c.Progress.wanted(args.progress), "featuredsl parity")
        found = parity.check_data(spec, args.data, fmt=fmt, limit=args.examples,
                                  on_rows=progress.add, sources=sources)
        progress.finish()
        _merge(report, found)
        sections.append(("data", found.rows))
    if args.edge_cases:
        rows = parity.edge_case_rows(spec, args.edge_rows, args.seed)
        before = report.rows
        parity.check_rows(spec, rows, report=report, sources=sources)
        sections.append(("edge-cases", report.rows - before))
    if args.format == "json":
        sys.stdout.write(c.dumps(_as_json(report, sections), indent=2) + "\n")
    else:
        _print_text(report, sections)
    return c.OK if report.ok else c.FINDING


def _sources(args: argparse.Namespace, spec: Spec) -> dict[str, str] | None:
    """The ``--source`` files; edge cases alone run a window spec over empty sources."""
    if not args.source and args.data is None and spec.bound().windows:
        return None
    return c.sources_of(args, spec, args.spec)


def _merge(into: object, found: object) -> None:
    into.rows += found.rows  # type: ignore[attr-defined]
    for f, n in found.counts.items():  # type: ignore[attr-defined]
        into.counts[f] = into.counts.get(f, 0) + n  # type: ignore[attr-defined]
    for f, ex in found.examples.items():  # type: ignore[attr-defined]
        into.examples.setdefault(f, []).extend(ex)  # type: ignore[attr-defined]


def _as_json(report: object, sections: list[tuple[str, int]]) -> dict:
    r = report  # a parity.ParityReport
    return {
        "ok": r.ok,  # type: ignore[attr-defined]
        "rows": dict(sections),
        "mismatches": {f: r.counts.get(f, 0) for f in r.features},  # type: ignore[attr-defined]
        "examples": {f: [{"source": m.source, "row": m.row,
                          "inputs": {k: c.to_json_value(v) for k, v in m.inputs.items()},
                          "row_backend": c.to_json_value(m.row_value),
                          "batch_backend": c.to_json_value(m.batch_value)} for m in ex]
                     for f, ex in r.examples.items()},  # type: ignore[attr-defined]
    }


def _print_text(r: object, sections: list[tuple[str, int]]) -> None:
    w = sys.stdout.write
    what = " + ".join(f"{n:,} {name} rows" for name, n in sections)
    features = r.features  # type: ignore[attr-defined]
    counts = r.counts  # type: ignore[attr-defined]
    width = max((len(f) for f in features), default=7)
    w(f"parity over {what}: both backends, every feature\n\n")
    w(f"  {'feature':<{width}}  mismatches\n")
    for f in features:
        n = counts.get(f, 0)
        w(f"  {f:<{width}}  {n:>10,}{'' if n == 0 else '   <-- MISMATCH'}\n")
    bad = [f for f in features if counts.get(f, 0)]
    if not bad:
        w(f"\nOK: no mismatch in {len(features)} features.\n")
        return
    w(f"\n{len(bad)} of {len(features)} features disagree. Examples:\n")
    for f in bad:
        for m in r.examples.get(f, []):  # type: ignore[attr-defined]
            w(f"\n  {f}, {m.source} row {m.row}:\n"
              f"    row backend:   {c.dumps(c.to_json_value(m.row_value))}\n"
              f"    batch backend: {c.dumps(c.to_json_value(m.batch_value))}\n"
              f"    inputs: {c.dumps_row(m.inputs)}\n")
