"""``featuredsl fmt FILE...``: rewrite `.feat` files in the canonical style (docs/formatting.md).

Files are rewritten in place, atomically, only when they change. ``--check`` writes nothing and
lists the files that would change (exit 1 if any: the CI and pre-commit form); ``--diff``
prints a unified diff instead of writing (exit 1 if any). ``-`` formats stdin to stdout. A file
that does not parse is not touched: its syntax errors are printed and the exit status is 2.
Formatting never changes what a spec means (same AST, same IR; tests/test_fmt.py).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile

from featuredsl.cli._common import FINDING, OK, USAGE
from featuredsl.cli._specfiles import expand

HELP = ("format .feat files canonically, keeping comments (in place; --check / --diff for CI: "
        "exit 1 if a file would change)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the files and the ``--check`` / ``--diff`` / ``--quiet`` options of
    ``featuredsl fmt`` on ``p``."""
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".feat files or directories (searched for .feat); `-` = stdin to stdout")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; list files that would change, exit 1 if any")
    mode.add_argument("--diff", action="store_true",
                      help="write nothing; print a unified diff, exit 1 if any file would change")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.epilog = ("examples:\n  featuredsl fmt specs/*.feat\n  featuredsl fmt --check specs/*.feat"
                "   # in CI\n  featuredsl fmt - < model.feat")


def _write_atomically(path: str, text: str) -> None:
    """Replace ``path`` by ``text`` so a reader never sees half a file; keep its mode (and a
    symlink: its target is rewritten)."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".fmt-", suffix=".feat", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(args: argparse.Namespace) -> int:
    """Format each file (in place, or only report with ``--check`` / ``--diff``); the exit
    status: 2 if a file did not parse or could not be read, 1 if a file would change under
    ``--check`` / ``--diff``, else 0.
    """
    from featuredsl.errors import SpecError
    from featuredsl.syntax.format import format_source

    changed: list[str] = []
    failed = False
    kept = 0
    for path in expand(args.files):
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8", newline="") as fh:
                    text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            sys.stderr.write(f"featuredsl fmt: error: {path}: {why}\n")
            failed = True
            continue
        name = "<stdin>" if path == "-" else path
        try:
            out = format_source(text, name)
        except SpecError as err:
            sys.stderr.write(f"{str(err).rstrip()}\nfeaturedsl fmt: {name} not formatted: it "
                             "does not parse\n")
            failed = True
            continue
        if path == "-" and not (args.check or args.diff):
            sys.stdout.write(out)
            continue
        if out == text:
            kept += 1
            continue
        changed.append(name)
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), out.splitlines(keepends=True),
                f"{name} (original)", f"{name} (formatted)"))
        elif args.check:
            sys.stdout.write(f"would reformat {name}\n")
        else:
            _write_atomically(path, out)
    if not args.quiet and not (args.files == ["-"] and not (args.check or args.diff)):
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        parts = [f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}"]
        parts.append(f"{kept} file{'s' if kept != 1 else ''} already formatted")
        sys.stderr.write(", ".join(parts) + "\n")
    if failed:
        return USAGE
    return FINDING if changed and (args.check or args.diff) else OK
