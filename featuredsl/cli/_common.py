"""Shared plumbing of the commands: errors and exit codes, loading specs, data formats, JSON.

Errors. ``run_command`` runs a command and turns every expected failure into one line on
stderr, ``featuredsl <command>: error: <what>``, and exit status 2: a ``FeatureDSLError``
(bad data names the column or field, the row and the expected type), an ``OSError`` (a missing
or unwritable file), a Polars error, a :class:`UsageError`. A ``SpecError`` prints its rendered
diagnostics (file:line:col, source line, caret, hint) like ``featuredsl check``. Ctrl-C exits
130 and a closed stdout pipe (``featuredsl eval ... | head``) exits quietly. Anything else is a
bug: one line naming it as an internal error (``FEATUREDSL_DEBUG=1`` shows the traceback).

SPEC-or-ARTIFACT arguments: a ``.feat`` file is compiled; a ``.json`` file is loaded as a
fitted artifact (``featuredsl.load``); anything else is a usage error.

JSON values (``eval``, ``explain``, ``parity --format json``): :mod:`featuredsl.jsonrow`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from featuredsl import jsonrow

if TYPE_CHECKING:
    import argparse

    from featuredsl.api import Spec

OK, FINDING, USAGE = 0, 1, 2

#: The data format names (``featuredsl.data.files.FORMATS`` maps them to extensions; not imported
#: here so that building the parsers stays cheap).
FORMAT_NAMES = ("csv", "ipc", "ndjson", "parquet")


class UsageError(Exception):
    """A wrong command line or argument value: reported in one line, exit 2."""


def error_line(prog: str, message: str) -> None:
    """``<prog>: error: <message>`` on stderr, the message folded to one line."""
    text = " ".join(str(message).split("\n")).strip() or "failed"
    sys.stderr.write(f"{prog}: error: {text}\n")


def warn_line(prog: str, message: str) -> None:
    text = " ".join(str(message).split("\n")).strip()
    sys.stderr.write(f"{prog}: warning: {text}\n")


def run_command(prog: str, fn: Callable[[argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    """Run a command; map every expected failure to one line on stderr and exit 2."""
    from featuredsl.errors import FeatureDSLError, SpecError, first_line

    try:
        return fn(args)
    except SpecError as exc:
        sys.stderr.write(str(exc).rstrip() + "\n")
        return USAGE
    except (FeatureDSLError, UsageError) as exc:
        error_line(prog, str(exc))
        return USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{prog}: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not complain again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return OK
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        error_line(prog, f"{where}{exc.strerror or exc}")
        return USAGE
    except MemoryError:
        error_line(prog, "out of memory")
        return USAGE
    except Exception as exc:
        if _is_polars_error(exc):
            error_line(prog, f"cannot process the data: {first_line(exc)}")
            return USAGE
        if os.environ.get("FEATUREDSL_DEBUG"):
            traceback.print_exc()
        error_line(prog, f"internal error: {type(exc).__name__}: {first_line(exc)} (a bug in "
                         "featuredsl; FEATUREDSL_DEBUG=1 shows the traceback)")
        return USAGE


def _is_polars_error(exc: BaseException) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith("polars") or type(exc).__name__ == "PanicException"


# ------------------------------------------------------------------------------ specs


def load_spec(path: str) -> Spec:
    """A ``.feat`` file compiled, or a ``.json`` artifact loaded (fitted)."""
    import featuredsl as fd

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".feat":
        return fd.compile_file(p)
    if suffix == ".json":
        if not p.exists():
            raise UsageError(f"{p}: no such file")
        return fd.load(str(p))
    raise UsageError(f"{p}: expected a .feat spec or a .json artifact (from `featuredsl fit`)")


def require_fitted(spec: Spec, path: str) -> None:
    """A spec with statistics must come as an artifact: say how to get one."""
    if not spec.is_fitted:
        names = ", ".join(f"`{s}`" for s in spec.statistics)
        raise UsageError(f"{path} uses fitted statistics ({names}): fit it first with "
                         f"`featuredsl fit {path} --data TRAIN -o model.json` and pass the "
                         "artifact instead")


# ------------------------------------------------------------------------------ data


def add_input_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-format", choices=FORMAT_NAMES, metavar="FORMAT",
                   help="read --data as this format whatever its extension "
                        f"({', '.join(FORMAT_NAMES)})")


def format_of(path: str | Path, override: str | None, what: str) -> str:
    """The data format of ``path``: ``override``, else by extension (a UsageError if neither)."""
    from featuredsl.data.files import format_of as lib_format_of
    from featuredsl.errors import InputError

    try:
        return lib_format_of(path, override, what)
    except InputError as exc:
        raise UsageError(f"{exc}, or pass --{what}-format") from None


def data_path(path: str, fmt: str | None) -> str:
    """A path the library reads with format ``fmt``.

    The library picks a reader by extension; with an override that disagrees, a symlink with
    the right extension in a temporary directory lets every library entry point (``fit``,
    ``transform``) read the file as asked without a second code path.
    """
    from featuredsl.data.files import FORMATS

    if not fmt:
        return path
    if Path(path).suffix.lower() in FORMATS[fmt]:
        return path
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    tmp = tempfile.mkdtemp(prefix="featuredsl-")
    atexit.register(shutil.rmtree, tmp, True)  # the link only; the data is untouched
    link = Path(tmp) / ("data" + FORMATS[fmt][0])
    link.symlink_to(p.resolve())
    return str(link)


def add_sources(p: argparse.ArgumentParser) -> None:
    """``--source NAME=PATH`` (repeatable): the events of a spec's event sources (SPEC 13)."""
    p.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="the events of source NAME, a Parquet, CSV, Arrow IPC or NDJSON file "
                        "(repeatable; needed by specs with window aggregates)")


def sources_of(args: argparse.Namespace, spec: Spec, spec_path: str,
               fitting: bool = False) -> dict[str, str] | None:
    """The ``--source`` files by source name, checked against the spec: every source its
    windows read is given, no unknown or repeated name, each file exists and has a format
    the CLI reads. ``None`` for a spec without window aggregates (and no ``--source``)."""
    given: dict[str, str] = {}
    for item in args.source:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise UsageError(f"--source {item}: expected NAME=PATH, e.g. "
                             "--source txns=txns.parquet")
        if name in given:
            raise UsageError(f"--source {name} is given twice")
        given[name] = path
    from featuredsl.bind import windows_read

    program = spec.program
    declared = list(program.sources)
    unknown = [n for n in given if n not in program.sources]
    if unknown:
        names = ", ".join(f"`{n}`" for n in declared) or "none"
        raise UsageError(f"--source {unknown[0]}: {spec_path} declares no source "
                         f"`{unknown[0]}` (its sources: {names})")
    # Decided on the spec text (a spec need not be fitted yet); fitting also reads the
    # windows inside statistics' arguments (`stat m = mean(count(txns, over=7d))`).
    needed = sorted({w.source for w in windows_read(program, statistics=fitting)})
    if not needed:
        if given:
            raise UsageError(f"--source given, but {spec_path} has no window aggregates to "
                             "read it")
        return None
    missing = [n for n in needed if n not in given]
    if missing:
        raise UsageError(f"{spec_path} has window aggregates over source `{missing[0]}`: pass "
                         f"its events with --source {missing[0]}=PATH")
    from featuredsl.data.files import format_of as lib_format_of
    from featuredsl.errors import InputError

    for name, path in given.items():
        if not Path(path).is_file():
            raise UsageError(f"--source {name}={path}: no such file")
        try:
            lib_format_of(path, None, "source")
        except InputError as exc:
            raise UsageError(f"--source {name}: {exc}") from None
    return {n: given[n] for n in needed}


def loaded_state(spec: Spec, sources: Mapping[str, str] | None) -> object | None:
    """An in-process online state holding every event of the ``--source`` files (nothing
    evicted), for ``eval`` and ``explain``: a row is answered at its own time from the events
    before it, as a server that had received these events would. None without sources."""
    if sources is None:
        return None
    state = spec.online_state(lateness=far_lateness())
    for name, path in sources.items():
        state.ingest_batch(name, path)
    return state


def far_lateness() -> dt.timedelta:
    """A lateness that evicts nothing: for a state loaded from whole files and read at any
    time (``eval``, ``explain``), every event stays readable."""
    return dt.timedelta(days=3_650_000)


# ------------------------------------------------------------------------------ progress


class Progress:
    """A one-line progress display on stderr, redrawn at most 5 times a second (a terminal)
    or written every 5 s (a log).

    Shown only when ``enabled`` (``--progress``, or stderr is a terminal), so logs and pipes
    stay clean. Thread-safe: Polars may call back from its own threads.
    """

    def __init__(self, enabled: bool, label: str, total: int | None = None) -> None:
        self.enabled = enabled
        self.label = label
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()
        self._tty = sys.stderr.isatty()

    @staticmethod
    def wanted(flag: bool | None) -> bool:
        return bool(flag) if flag is not None else sys.stderr.isatty()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            # a terminal line is redrawn in place; a log gets a new line every 5 s at most
            if self.enabled and now - self._last >= (0.2 if self._tty else 5.0):
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        text = f"{self.label}: {self.done:,} rows"
        if self.total:
            text += f" of {self.total:,} ({100 * self.done / self.total:.0f}%)"
        text += f", {elapsed:.1f} s"
        sys.stderr.write("\r" + text + "\x1b[K" if sys.stderr.isatty() else text + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        with self._lock:
            if self.enabled:
                self._draw(time.monotonic())
                if sys.stderr.isatty():
                    sys.stderr.write("\n")


class Ticker:
    """An elapsed-time display for steps that report no row counts (``fit``): a background
    thread redraws ``label: <phase>, 3.2 s`` until stopped."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.phase = "starting"
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Ticker:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        tty = sys.stderr.isatty()
        while not self._stop.wait(0.5 if tty else 10.0):
            self._draw(tty)

    def _draw(self, tty: bool) -> None:
        text = f"{self.label}: {self.phase}, {time.monotonic() - self.start:.1f} s"
        sys.stderr.write("\r" + text + "\x1b[K" if tty else text + "\n")
        sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if sys.stderr.isatty():
                self._draw(True)
                sys.stderr.write("\n")


# ------------------------------------------------------------------------------ JSON
# The encoding is public API now (featuredsl.jsonrow); these names stay for the commands.

to_json_value = jsonrow.to_json_value
dumps = jsonrow.dumps
dumps_row = jsonrow.encode_row


def parse_row(text: str, spec: Spec, where: str) -> dict:
    """A JSON object as a row for the evaluator (:func:`featuredsl.jsonrow.decode_row`).

    Raises ``InputError`` naming ``where`` (e.g. ``line 3``) for text that is not a JSON
    object and for a field of the wrong type (naming the field and the expected type).
    """
    return jsonrow.decode_row(text, spec, where, check=False)
