"""``featuredsl check FILE...``: every error and warning of `.feat` files, for people and CI.

Text output (stdout) renders each diagnostic like a compiler (``error[E201]: ...``, the
``file:line:col``, the source line, a caret, a hint), then one summary line. ``--format json``
prints one JSON document instead::

    {"version": 1,
     "files": [{"file": "a.feat", "errors": 1, "warnings": 0,
                "fit_only_inputs": ["label"]}, ...],
     "diagnostics": [{"file", "line", "column", "end_line", "end_column",
                      "severity", "code", "message", "hint"}, ...],
     "errors": 1, "warnings": 0}

(``fit_only_inputs``: inputs read only by statistics, which ``fit`` needs and serving does not;
the text format names them in a line per file; a file that cannot be read has
``"unreadable": "<why>"`` in its ``files`` entry).
``--format github`` prints one GitHub Actions annotation per diagnostic
(``::error file=a.feat,line=3,col=5,...::message``). A directory argument means the `.feat`
files below it. Exit status:
0 when no file has an error, 1 when one does (or, with ``--strict``, has a warning), 2 when a
file cannot be read. ``-`` reads the spec from stdin (``--stdin-name`` names it in messages).
"""

from __future__ import annotations

import argparse
import json
import sys

from featuredsl.cli._common import FINDING, OK, USAGE
from featuredsl.cli._specfiles import expand

HELP = ("report every error and warning of .feat files: file:line:col, the source line, a "
        "caret and a hint (exit 1 on an error)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the files and the options of ``featuredsl check`` on ``p``."""
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".feat files or directories (searched for .feat) to check; `-` reads "
                        "stdin")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text for people (default), json for tools, github for GitHub Actions "
                        "annotations")
    p.add_argument("--strict", "--warnings-as-errors", dest="strict", action="store_true",
                   help="exit 1 on warnings too")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="text format: only errors, and no summary line when all is well")
    p.add_argument("--ignore", action="append", default=[], metavar="CODE[,CODE]",
                   help="leave out these warnings (e.g. W009,W010); errors cannot be ignored")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output: auto (default) when stdout is a terminal and "
                        "NO_COLOR is not set")
    p.add_argument("--stdin-name", default="<stdin>", metavar="NAME",
                   help="the file name to show for `-` (default <stdin>)")
    p.epilog = ("examples:\n  featuredsl check specs/*.feat\n"
                "  featuredsl check --strict --format json model.feat > report.json")


def _read(path: str, stdin_name: str) -> tuple[str, str]:
    """(display name, text) of a file argument; raises OSError / UnicodeDecodeError."""
    if path == "-":
        return stdin_name, sys.stdin.read()
    with open(path, encoding="utf-8") as fh:
        return path, fh.read()


def diagnose(text: str, name: str) -> list:
    """Every diagnostic of one spec, errors and warnings, in source order."""
    return _diagnose(text, name)[0]


def _diagnose(text: str, name: str) -> tuple[list, list[str]]:
    """The diagnostics of one spec and, when it compiles, its fit-only inputs (read only by
    statistics: ``fit`` needs them, serving does not)."""
    import featuredsl as fd

    try:
        spec = fd.compile(text, name)
    except fd.SpecError as err:
        return list(err.diagnostics), []
    return list(spec.diagnostics), spec.fit_only_inputs


def run(args: argparse.Namespace) -> int:
    """Check every file and print the diagnostics in the chosen format; the exit status: 1 when
    an error (or, with ``--strict``, a warning) was found, 2 when a file could not be read,
    else 0.
    """
    files: list[dict[str, object]] = []
    rendered: list[str] = []
    found: list = []
    unreadable = False
    color = _use_color(args.color)
    ignored = _ignored(args.ignore)
    for path in expand(args.files):
        try:
            name, text = _read(path, args.stdin_name)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, UnicodeDecodeError):
                why = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
            files.append({"file": path, "unreadable": why})
            sys.stderr.write(f"featuredsl check: error: {path}: {why}\n")
            unreadable = True
            continue
        diags, fit_only = _diagnose(text, name)
        diags = [d for d in diags if d.code not in ignored]
        found += diags
        n_err = sum(d.severity == "error" for d in diags)
        files.append({"file": name, "errors": n_err, "warnings": len(diags) - n_err,
                      "fit_only_inputs": fit_only})
        rendered += [d.render(text, color=color) for d in diags
                     if not (args.quiet and d.severity != "error")]
        if fit_only and not args.quiet:
            rendered.append(f"{name}: fit-only inputs (read only by statistics; serving does "
                            f"not need them): {', '.join(fit_only)}")
    errors = sum(d.severity == "error" for d in found)
    warnings = len(found) - errors
    if args.format == "github":
        sys.stdout.writelines(_github(d) + "\n" for d in found)
    elif args.format == "json":
        doc = {"version": 1, "files": files, "diagnostics": [d.to_dict() for d in found],
               "errors": errors, "warnings": warnings}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        out = "\n\n".join(rendered)
        checked = sum("unreadable" not in f for f in files)
        summary = (f"{_n(errors, 'error')}, {_n(warnings, 'warning')} in "
                   f"{_n(checked, 'file')}" if found else
                   f"{_n(checked, 'file')} checked: no errors, no warnings")
        if not (args.quiet and errors == 0):
            out = f"{out}\n\n{summary}" if out else summary
        if out:
            sys.stdout.write(out + "\n")
    if unreadable:
        return USAGE
    return FINDING if errors or (args.strict and warnings) else OK


def _ignored(values: list[str]) -> set[str]:
    from featuredsl.cli._common import UsageError
    from featuredsl.errors import CODES

    codes = {c.strip().upper() for v in values for c in v.split(",") if c.strip()}
    for c in sorted(codes):
        if c not in CODES:
            raise UsageError(f"--ignore {c}: no such diagnostic code (see docs/diagnostics.md)")
        if not c.startswith("W"):
            raise UsageError(f"--ignore {c}: errors cannot be ignored, only warnings")
    return codes


def _use_color(choice: str) -> bool:
    """``--color``: ``auto`` follows the no-color.org and force-color conventions."""
    import os

    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _github(d) -> str:
    """A GitHub Actions workflow command: the diagnostic as an annotation on the file."""
    def prop(v: object) -> str:
        return _gh_escape(str(v)).replace(":", "%3A").replace(",", "%2C")

    props = ",".join(f"{k}={prop(v)}" for k, v in (
        ("file", d.file), ("line", d.line), ("col", d.column), ("endLine", d.end_line),
        ("endColumn", d.end_column), ("title", f"featuredsl {d.code}")))
    body = d.message + (f" (hint: {d.hint})" if d.hint else "")
    return f"::{d.severity} {props}::{_gh_escape(body)}"


def _gh_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'s' if k != 1 else ''}"
