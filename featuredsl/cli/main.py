"""The ``featuredsl`` entry point: an argparse dispatcher over lazily imported commands.

Why argparse and not click/typer: it is in the standard library (no dependency to pin, nothing
extra to import at start-up), it gives ``--help`` for every command, and usage errors exit 2,
which is the exit code the SPEC asks for. Why lazy: a command's module (and through it Polars)
is imported only when that command runs; ``featuredsl --help`` builds the command list from
the table below without importing any command.

A command module ``featuredsl.cli.<name>`` exposes ``HELP`` (its description),
``add_arguments(parser)`` and ``run(args) -> int`` (0 ok, 1 a finding, 2 usage/input error).
A command whose module is not installed yet is listed and reports that it is unavailable.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: command -> (module, one-line summary for ``featuredsl --help``), in the order shown.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("featuredsl.cli.check", "report every error and warning of .feat files"),
    "fmt": ("featuredsl.cli.fmt", "format .feat files canonically (keeps comments)"),
    "fit": ("featuredsl.cli.fit", "fit a spec's statistics on training data, write an artifact"),
    "transform": ("featuredsl.cli.transform",
                  "compute the features of a data file into another file, streaming"),
    "eval": ("featuredsl.cli.eval", "evaluate one row, or JSON lines from stdin to stdout"),
    "explain": ("featuredsl.cli.explain", "show how one row's features are computed, step by step"),
    "graph": ("featuredsl.cli.graph", "show which inputs and statistics feed which features"),
    "parity": ("featuredsl.cli.parity",
               "run both backends over data and edge cases, report any mismatch"),
    "diff": ("featuredsl.cli.diff", "what a change to a spec or an artifact does to each feature"),
    "serve": ("featuredsl.cli.serve", "serve features over HTTP from an artifact (ASGI, uvicorn)"),
    "skew": ("featuredsl.cli.skew",
             "replay a feature log in batch: served against recomputed features, per feature"),
    "monitor": ("featuredsl.cli.monitor",
                "serving-monitor snapshots: profile a data file, merge snapshots"),
}

EPILOG = """\
exit status: 0 success, 1 a finding (failed check, parity mismatch), 2 usage or input error.
Data files: Parquet, CSV, Arrow IPC, NDJSON (by extension; --input-format/--output-format).
A SPEC is a .feat file; an ARTIFACT is the .json file written by `featuredsl fit`.
Run `featuredsl COMMAND --help` for a command's options. Docs: docs/cli.md.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``featuredsl fit: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n"
                         f"(run `{self.prog} --help` for usage)\n")
        raise SystemExit(2)


def _version() -> str:
    # Not importlib.metadata: it costs more start-up time than the rest of --help.
    import featuredsl

    return str(getattr(featuredsl, "__version__", "unknown"))


def _top_parser() -> _Parser:
    p = _Parser(
        prog="featuredsl",
        description="featuredsl: write ML features once, compute them identically in training "
                    "and serving.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"featuredsl {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    return p


def _command_parser(name: str) -> tuple[_Parser, object] | None:
    module_path, summary = COMMANDS[name]
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        if exc.name != module_path:
            raise
        return None
    p = _Parser(prog=f"featuredsl {name}", description=getattr(module, "HELP", summary),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(p)
    return p, module


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args if not a.startswith("-")), None)
    if first not in COMMANDS:
        # No command (or an unknown one): argparse prints the help, the version or the error.
        _top_parser().parse_args(args)
        _top_parser().print_usage(sys.stderr)
        sys.stderr.write("featuredsl: error: a command is required\n")
        return 2
    i = args.index(first)
    if any(a not in ("-h", "--help") for a in args[:i]):
        _top_parser().error(f"options before the command are not supported: {args[:i]}")
    built = _command_parser(first)
    if built is None:
        sys.stderr.write(f"featuredsl {first}: error: this command is not available in this "
                         "build of featuredsl\n")
        return 2
    parser, module = built
    if args[:i]:  # `featuredsl --help check`
        parser.print_help()
        return 0
    ns = parser.parse_args(args[i + 1:])
    from featuredsl.cli._common import run_command

    return run_command(f"featuredsl {first}", module.run, ns)  # type: ignore[attr-defined]


if __name__ == "__main__":
    raise SystemExit(main())
