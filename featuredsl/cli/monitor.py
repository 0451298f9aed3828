"""``featuredsl monitor profile|merge|...``: serving-monitor snapshots on the command line.

A dispatcher over subcommands (:data:`SUBCOMMANDS`): each is a module, or an object in one
(``"module:attr"``), exposing ``add_arguments(parser)`` and ``run(args) -> int``, like a
top-level command. Adding one is one row of the table.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from featuredsl.cli import _common as c

HELP = """\
Serving-monitor snapshots (SPEC 10; docs/monitoring.md). A snapshot is a JSON file of counts
against an artifact's training profile: what fd.Monitor counts in a server
(mon.snapshot()), or what `monitor profile` counts over a data file (the batch twin: the
same bytes a sample_every=1 monitor would give for those rows). `featuredsl monitor
SUBCOMMAND --help` describes each subcommand.

examples:
  featuredsl monitor profile model.json --data today.parquet -o today.snap.json
  featuredsl monitor merge host1.snap.json host2.snap.json -o all.snap.json
"""

#: subcommand -> (``module`` or ``module:attr`` with ``add_arguments``/``run``, summary).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "profile": (f"{__name__}:PROFILE", "the snapshot of a data file's rows (the batch twin)"),
    "merge": (f"{__name__}:MERGE", "add snapshots of threads, processes and hosts"),
    "report": ("featuredsl.cli.monitor_report",
               "check snapshots against the training profile, write a report"),
}


def _resolve(target: str) -> Any | None:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None  # a subcommand of another build (listed only when installed)
    return getattr(module, attr) if attr else module


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the subcommands of ``featuredsl monitor``."""
    sub = p.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", title="subcommands",
                           required=True)
    for name, (target, summary) in SUBCOMMANDS.items():
        impl = _resolve(target)
        if impl is None:
            continue
        sp = sub.add_parser(name, help=summary, description=getattr(impl, "HELP", summary),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        impl.add_arguments(sp)
        sp.set_defaults(_monitor_run=impl.run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand."""
    return int(args._monitor_run(args))


def _write(snap: dict, output: str | None, what: str) -> None:
    from featuredsl.monitor import snapshot_json, write_snapshot

    if output in (None, "-"):
        sys.stdout.write(snapshot_json(snap) + "\n")
    else:
        write_snapshot(snap, output)
        sys.stderr.write(f"featuredsl monitor {what}: {snap['rows']:,} rows -> {output}\n")


class _Profile:
    """``featuredsl monitor profile ARTIFACT --data F -o snap.json``."""

    HELP = """\
The monitor snapshot of a data file's rows against ARTIFACT's training profile
(fd.profile_rows): per input and feature, nulls, bins, top values, new values, values out of
the training range. Equal, byte for byte, to the snapshot of a sample_every=1 fd.Monitor that
served the same rows. Bad data stops with exit status 2 and one line naming the column and
the row. Without -o (or with -o -), the snapshot goes to stdout.

example:
  featuredsl monitor profile model.json --data today.parquet -o today.snap.json
"""

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("artifact", metavar="ARTIFACT", help="a fitted .json artifact")
        p.add_argument("--data", required=True, metavar="PATH", help="the rows to count")
        p.add_argument("-o", "--output", metavar="OUT", help="the snapshot file (default stdout)")
        c.add_input_format(p)
        c.add_sources(p)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from featuredsl.monitor import profile_rows

        spec = _artifact(args.artifact)
        sources = c.sources_of(args, spec, args.artifact)
        c.format_of(args.data, args.input_format, "input")
        snap = profile_rows(spec, c.data_path(args.data, args.input_format), sources)
        _write(snap, args.output, "profile")
        return c.OK


class _Merge:
    """``featuredsl monitor merge SNAP... -o out.json``."""

    HELP = """\
Add snapshots (of threads, processes, hosts, days) into one: every count adds up. They must
be of the same artifact and snapshot format; sample_every is kept when all agree, else null.
Without -o (or with -o -), the merged snapshot goes to stdout.

example:
  featuredsl monitor merge host1.snap.json host2.snap.json -o all.snap.json
"""

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("snapshots", nargs="+", metavar="SNAP", help="snapshot files")
        p.add_argument("-o", "--output", metavar="OUT", help="the merged file (default stdout)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from featuredsl.errors import FeatureDSLError
        from featuredsl.monitor import merge_snapshots, read_snapshot

        snaps = [read_snapshot(p) for p in args.snapshots]
        try:
            merged = merge_snapshots(snaps)
        except FeatureDSLError as exc:
            # name the files, not their positions ("snapshot 2" -> its path)
            text = str(exc)
            for i, p in reversed(list(enumerate(args.snapshots, 1))):
                text = text.replace(f"snapshot {i}", p)
            raise c.UsageError(text) from None
        _write(merged, args.output, "merge")
        return c.OK


def _artifact(path: str) -> Any:
    spec = c.load_spec(path)
    if not spec.is_fitted or not hasattr(spec, "profile"):
        raise c.UsageError(f"{path}: the monitor compares against a fitted artifact's training "
                           f"profile: pass the .json artifact written by `featuredsl fit`")
    return spec


PROFILE = _Profile
MERGE = _Merge
