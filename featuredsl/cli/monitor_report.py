"""``featuredsl monitor report ARTIFACT SNAP...``: serving snapshots checked against the
training profile (SPEC 10, docs/monitoring.md, The report).

The ``report`` subcommand of ``featuredsl monitor``: the ``monitor`` command module wires
``add_arguments`` and ``run`` in (they work on their own too, as a command module does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from featuredsl.cli import _common as c

HELP = """\
Check serving snapshots (written by `featuredsl monitor profile`, fd.Monitor.snapshot() or
fd.profile_rows) against the artifact's training profile: per watched field null_rate,
oov_rate, out_of_range, psi, max_bin_shift (with the Jensen-Shannon divergence reported) and
the input errors. Several snapshots are merged first (counts add).

Exit status: 1 when the report reaches the --fail-on level (default alert; warn fails on warn
or alert; never always 0); insufficient_data never fails; 2 for bad input (one line).

examples:
  featuredsl monitor report model.json snap.json
  featuredsl monitor report model.json host-*.json --format html -o report.html
  featuredsl monitor report model.json snap.json --format json --fail-on warn
  featuredsl monitor report model.json snap.json --threshold psi_warn=0.2
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the artifact, the snapshots and the options of ``featuredsl monitor report``."""
    p.add_argument("artifact", metavar="ARTIFACT", help="the fitted .json artifact")
    p.add_argument("snapshots", metavar="SNAP", nargs="+",
                   help="snapshot .json files of that artifact (several are merged)")
    p.add_argument("--fail-on", choices=("warn", "alert", "never"), default="alert",
                   help="the level that makes the exit status 1 (default: alert)")
    p.add_argument("--format", choices=("text", "json", "html"), default="text",
                   help="text (default), json, or html (one self-contained page)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the report to FILE instead of stdout")
    p.add_argument("--threshold", metavar="NAME=VALUE", action="append", default=[],
                   help="override a threshold (repeatable), e.g. psi_warn=0.2; the names are "
                        "in docs/monitoring.md, The report")


def _read_snapshot(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise c.UsageError(f"{path}: not a snapshot (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise c.UsageError(f"{path}: not a snapshot: invalid JSON at line {exc.lineno} column "
                           f"{exc.colno} ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise c.UsageError(f"{path}: not a snapshot (a JSON {type(doc).__name__}, not an object)")
    return doc


def _thresholds(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise c.UsageError(f"--threshold takes NAME=VALUE, got {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise c.UsageError(f"--threshold {name}: {value!r} is not a number") from None
        out[name.strip()] = int(number) if name.strip() == "min_count" and number.is_integer() \
            else number
    return out


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file (a reader never sees half a page)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".",
                               prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    """Print or write the report; 1 when its status reaches ``--fail-on``, else 0."""
    import featuredsl as fd
    from featuredsl.monitor.report import monitor_report

    thresholds = _thresholds(args.threshold)
    fitted = fd.load(args.artifact)
    snaps = [_read_snapshot(p) for p in args.snapshots]
    snap = snaps[0] if len(snaps) == 1 else fd.merge_snapshots(snaps)
    report = monitor_report(fitted, snap, thresholds=thresholds or None)
    out = {"text": report.to_text, "json": report.to_json, "html": report.to_html}[args.format]()
    if args.output:
        _write(args.output, out)
        alarms = len(report.alarms)
        sys.stdout.write(f"monitor report: {report.status} ({alarms} alarm"
                         f"{'' if alarms == 1 else 's'}), {args.format} written to "
                         f"{args.output}\n")
    else:
        sys.stdout.write(out)
    failing = {"alert": ("alert",), "warn": ("warn", "alert"), "never": ()}[args.fail_on]
    return c.FINDING if report.status in failing else c.OK
