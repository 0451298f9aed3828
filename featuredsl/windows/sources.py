"""Reading and validating the event frames of a transform (``sources={"txns": events}``).

Each source is opened like the rows (any frame or file ``transform`` accepts) and validated
against the source's declared fields by the same checks: a missing column, a wrong dtype, a
null in a non-nullable field (the event time included) or an out-of-range value is an
``InputError`` naming the source, the field and the row.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from featuredsl import ir
from featuredsl.data import inputs as data_io
from featuredsl.errors import InputError, first_line


def prepare_sources(program: ir.BoundProgram, sources: Mapping[str, object] | None
                    ) -> dict[str, pl.DataFrame]:
    """The validated, widened events of every source the program's windows read."""
    needed = sorted({w.source for w in program.windows})
    given = dict(sources or {})
    unknown = [s for s in given if s not in program.sources]
    if unknown:
        known = ", ".join(f"`{s}`" for s in program.sources) or "none"
        raise InputError(f"sources= names `{unknown[0]}`, which the spec does not declare "
                         f"(it declares {known})")
    missing = [s for s in needed if s not in given]
    if missing:
        raise InputError(f"the spec's window features read source `{missing[0]}`: pass its "
                         f"events, e.g. transform(rows, sources={{{missing[0]!r}: events}})")
    return {name: prepare_events(program.sources[name], given[name]) for name in needed}


def prepare_events(source: ir.Source, data: object) -> pl.DataFrame:
    """One source's events, validated and widened to its declared field types."""
    try:
        src = data_io.open_source(data, source.fields)
        lf = data_io.prepare(src.lf, source.fields, [], text=src.text, checks=True)
        try:
            frame = lf.collect()
        except data_io.READ_ERRORS as exc:
            raise InputError(f"cannot read the data: {first_line(exc)}") from None
        return data_io.check(frame, src.lf, source.fields)
    except InputError as exc:
        raise InputError(f"source `{source.name}`: {exc}", field=exc.field, row=exc.row,
                         expected=exc.expected) from None
