"""``featuredsl eval SPEC|ARTIFACT [--row JSON]``: the row backend on the command line.

With ``--row``, one JSON object in, one JSON object out. Without, a serving-like pipe: one JSON
object per line on stdin, one feature object per line on stdout, flushed line by line so
another process can talk to it request by request. Blank lines are skipped (and produce no
output). Value encoding (timestamps, durations, infinities) is documented in
:mod:`featuredsl.cli._common` and docs/cli.md.

A bad line (not JSON, not an object, a missing non-nullable field, a wrong type) is reported
on stderr as ``line N: <what>``, naming the field and the expected type. By default the pipe
stops there (exit 2), so a broken producer is noticed at once; with ``--keep-going`` it writes
``null`` for that line instead (so output line N still answers input line N), carries on, and
exits 2 at the end if any line was bad.
"""

from __future__ import annotations

import argparse
import sys

from featuredsl.cli import _common as c

HELP = """\
Evaluate features with the row (serving) backend: one row given with --row, or JSON lines on
stdin to JSON lines on stdout (one output line per input line, flushed per line: a
serving-like pipe). Timestamps are ISO-8601 strings, durations integer microseconds, +-inf the
JSON tokens Infinity/-Infinity (see docs/cli.md).

A bad line is reported as `line N: ...` naming the field; the pipe stops with exit status 2,
or with --keep-going writes `null` for that line and continues (exit 2 at the end).

A spec with window aggregates reads its events from --source NAME=PATH: they are loaded into
an in-process online state, and each row is answered at its own time from the events
before it.

examples:
  featuredsl eval fraud.json --source txns=txns.parquet --row '{"user_id": 7, "ts": ...}'
  featuredsl eval model.json --row '{"amount": 12.5, "ts": "2024-07-06T22:15:00Z", ...}'
  cat requests.jsonl | featuredsl eval model.json > features.jsonl
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the spec and the options of ``featuredsl eval`` on ``p``."""
    p.add_argument("spec", metavar="SPEC|ARTIFACT",
                   help="a .feat spec (without statistics) or a fitted .json artifact")
    p.add_argument("--row", metavar="JSON", help="one row as a JSON object (else: stdin)")
    p.add_argument("--features", metavar="NAME,...", default="",
                   help="output only these features")
    c.add_sources(p)
    p.add_argument("--keep-going", action="store_true",
                   help="on a bad line write null, report it, and continue")


def run(args: argparse.Namespace) -> int:
    """Evaluate ``--row`` (or each stdin line) with the row backend and print the features as
    JSON; the exit status is 0, or 2 after a bad stdin line (the pipe stops there, or carries
    on with ``--keep-going``). Raises ``UsageError`` for an unknown feature and ``InputError``
    for a bad ``--row`` (both exit 2).
    """
    from featuredsl.errors import InputError

    prog = "featuredsl eval"
    spec = c.load_spec(args.spec)
    c.require_fitted(spec, args.spec)
    only = [f.strip() for f in args.features.split(",") if f.strip()]
    unknown = [f for f in only if f not in spec.features]
    if unknown:
        raise c.UsageError(f"unknown feature `{unknown[0]}`; the spec's features are "
                           f"{', '.join(spec.features)}")
    state = c.loaded_state(spec, c.sources_of(args, spec, args.spec))
    evaluate = spec.row_evaluator(state=state)  # type: ignore[arg-type]

    def answer(text: str, where: str) -> str:
        out = evaluate(c.parse_row(text, spec, where))
        if only:
            out = {k: out[k] for k in only}
        return c.dumps_row(out)

    if args.row is not None:
        try:
            sys.stdout.write(answer(args.row, "--row") + "\n")
        except InputError as exc:
            raise InputError(_where("--row", exc)) from None
        return c.OK
    if sys.stdin.isatty():
        sys.stderr.write(f"{prog}: reading JSON lines from the terminal (Ctrl-D to end)\n")
    bad = 0
    write, flush = sys.stdout.write, sys.stdout.flush
    for n, raw in enumerate(sys.stdin.buffer, start=1):
        if not raw.strip():
            continue
        try:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"line {n}: not UTF-8 text ({exc.reason} at byte "
                                 f"{exc.start})") from None
            text = answer(line, f"line {n}")
        except InputError as exc:
            c.error_line(prog, _where(f"line {n}", exc))
            if not args.keep_going:
                return c.USAGE
            bad += 1
            text = "null"
        write(text + "\n")
        flush()
    return c.USAGE if bad else c.OK


def _where(where: str, exc: Exception) -> str:
    """Prefix the location unless the message already starts with it."""
    msg = str(exc)
    return msg if msg.startswith(where) else f"{where}: {msg}"
