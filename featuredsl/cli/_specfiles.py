"""File arguments of ``check`` and ``fmt``: files as given, directories searched for `.feat`."""

from __future__ import annotations

from pathlib import Path

from featuredsl.cli._common import UsageError


def expand(paths: list[str]) -> list[str]:
    """Each path as given, except a directory: its `.feat` files, recursively, sorted, skipping
    hidden directories (``.git``, ``.venv``). ``-`` (stdin) passes through."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            found = sorted(
                str(f) for f in path.rglob("*.feat")
                if f.is_file() and not any(part.startswith(".")
                                           for part in f.relative_to(path).parts[:-1]))
            if not found:
                raise UsageError(f"{p}: no .feat files in this directory")
            out += found
        else:
            out.append(p)
    return out
