"""Batch data in: read any supported source, validate it, widen it to the declared types.

Sources
-------
A polars DataFrame or LazyFrame, a pyarrow Table or RecordBatch, a pandas DataFrame, or a path
(``str`` or ``Path``) to a file, by extension: ``.parquet``/``.pq``, ``.csv``/``.tsv``,
``.arrow``/``.ipc``/``.feather`` (Arrow IPC), ``.ndjson``/``.jsonl``. An unknown extension, a
missing file or an unreadable one is an ``InputError``. Conversions on the way in:

- pyarrow: timestamp columns with a fixed-offset zone (``"+05:30"``), which Polars cannot hold,
  are converted to UTC first (same instants); ``timestamp[s]`` arrives as ms; dictionary
  strings arrive as Categorical, ``large_string`` as String.
- pandas: tz-aware columns are converted to UTC first (same instants, any zone); float NaN,
  ``None``/NaN in object columns, ``pd.NA`` and ``NaT`` become null. A float64 column with a
  null whose other values are all integral is pandas' int column with a missing value: read
  as int for any input but a float one. Dates arrive as datetime64 (``Datetime``), read as
  dates by the rule of the ``date`` row below.
- NDJSON: Polars infers each column's dtype from all rows (a string on one row makes a String
  column of text); for a column that does not fit its input, the JSON itself is read to name
  the first row the row evaluator would reject, and to quote its value.
- CSV: the declared input columns are read as text and parsed by the rules below (so a column
  that is empty in the first rows, or a late ``1.5`` in an int column, is handled and reported
  per row, and ``"02134"`` stays a string); other columns (``keep=``) keep the types Polars
  infers, a kept input column its parsed value. An empty field is null, a quoted empty field
  ``""`` is the empty string.

Widening (SPEC 4.13)
--------------------
Every declared input column is checked (present, of a compatible dtype) and cast to its
canonical dtype before any computation, so narrow types never wrap and the batch backend sees
exactly the values the row backend sees (:mod:`featuredsl.backends.row_input` lists the
equivalent Python values). A column of dtype ``Null`` (all null, e.g. ``pl.DataFrame([row])``
with a ``None``) is a null column of the declared type.

=========  ====================================================================================
int        Int8..Int128, UInt8..UInt128 (a value outside int64 is an error naming the row);
           CSV text: optional sign and ASCII digits
float      Float32 (widened exactly), Float64, every integer type (rounded to nearest, as
           Python's ``float(int)``); NaN becomes null. CSV text: decimal or exponent notation,
           ``inf``, ``-inf``, ``NaN`` (null)
string     String (also pyarrow ``large_string``/``string_view``), Categorical, Enum
bool       Boolean; CSV text: ``true``/``false`` in any case
timestamp  Datetime of any unit; naive = UTC, zoned: converted to UTC; ns floors to µs. Date
           (midnight UTC). Strings in exactly the forms the row backend accepts
           (:data:`~featuredsl.backends.row_input.TIMESTAMP_PATTERN`)::

               YYYY-MM-DD                                   midnight UTC
               YYYY-MM-DD(T| )HH:MM[:SS[.f{1,9}]][offset]    offset: Z, +HH:MM, +HHMM, +HH, -..

           e.g. ``2024-01-07T23:59:59Z``, ``2024-01-07 23:59:59``,
           ``2024-01-07T23:59:59.123456+05:30``, ``2024-01-07``. No offset means UTC; digits
           beyond µs floor; years 1..9999 (after applying the offset). Each string is parsed on
           its own (no format is inferred from the first row), so forms can mix in a column.
date       Date. A *naive* Datetime (any unit; pandas' dates) whose every value is exactly
           midnight, as its dates; a value with a time part (down to the ns) is an error naming
           its row, and a zoned Datetime column is not a date column (even UTC). Strings
           (:func:`~featuredsl.backends.row_input.parse_date`): ``YYYY-MM-DD``, or a timestamp
           string above of exactly midnight with no offset (``2024-01-07 00:00:00``: how Polars
           writes a midnight Datetime to NDJSON and CSV). The row backend decides alike.
duration   Duration of any unit (ns floors to µs, as for Datetime and the row backend). ISO 8601
           strings (:data:`~featuredsl.backends.row_input.DURATION_PATTERN`), the form Polars
           writes a Duration to NDJSON in, so it reads back (and CSV text alike)::

               [-]P[nD][T[nH][nM][n[.f{1,9}]S]]             at least one part; a day is 24 h

           e.g. ``PT86400S``, ``-PT0.000001S``, ``P1DT2H30M``, ``P0D``; the sign applies to the
           whole; digits beyond µs floor; outside int64 µs, years, months, weeks, a sign
           inside a part (pandas' ``P-1DT23H59M59S``) are errors naming the row.
list[T]    List or Array of a dtype accepted for ``T``, element by element
=========  ====================================================================================

Anything else (a String column for an int input, Float64 for int, Int for bool, a zoned
Datetime for date, Decimal, Binary, ...) holds values of the wrong type: no implicit conversion
(SPEC 3). The eager paths name the first row holding one (below); ``transform_lazy``, which
reads no value, raises an ``InputError`` naming the column, its dtype and the expected type.

Validation
----------
The eager paths (``transform``, ``fit``, the file transform, parity) check every value, and
the first bad row raises ``InputError`` with ``.field`` (the column), ``.row`` (0-based row
number in the data) and ``.expected`` (the declared type); in a list, ``.element`` names the
element (``xs[1]``). Bad is:

- a value of the wrong type: in a column whose dtype does not fit, every value that is not
  null (nor NaN), so the first row holding one is named (a column of that dtype with no value
  is no error: all null), worded as the row evaluator words it, by one function
  (:func:`~featuredsl.backends.row_input.wrong_type`)::

      column `x`, row 3: expected int, got str 'a' (strings are not converted to numbers or bools)
      field `x`: expected int, got str 'a' (strings are not converted to numbers or bools)

- a value that does not convert (an unparsable string, a value outside int64, a time part in a
  datetime for a date);
- a null (or NaN) in a non-nullable column, a null element in a list whose elements are not
  nullable.

Among several, the lowest row wins, then the input's position in the spec, then a value (of
the wrong type, or that does not convert) before a null. ``transform_lazy`` checks dtypes
only: it cannot raise while Polars collects, so there a bad value computes as a null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import polars as pl

from featuredsl.backends.polars_backend import dtype_of
from featuredsl.backends.row_input import (
    TIMESTAMP_FORMS,
    TS_MAX_US,
    TS_MIN_US,
    date_text_problem,
    duration_text_problem,
    first_wrong,
    timestamp_text_problem,
    wrong_type,
)
from featuredsl.data.parse import (
    DATE_BOUNDS,
    parse_date_expr,
    parse_duration_expr,
    parse_timestamp_expr,
)
from featuredsl.errors import InputError, describe_value, first_line
from featuredsl.types import Type

_READERS: dict[str, Callable[..., pl.LazyFrame]] = {
    ".parquet": pl.scan_parquet, ".pq": pl.scan_parquet,
    ".csv": pl.scan_csv, ".tsv": lambda p, **kw: pl.scan_csv(p, separator="\t", **kw),
    ".arrow": pl.scan_ipc, ".ipc": pl.scan_ipc, ".feather": pl.scan_ipc,
    ".ndjson": pl.scan_ndjson, ".jsonl": pl.scan_ndjson,
}
_TEXT_FORMATS = (".csv", ".tsv")
_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Int128,
         pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.UInt128)
_MAY_OVERFLOW = (pl.UInt64, pl.Int128, pl.UInt128)
READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException)
#: The physical bounds of years 1..9999 (the row side's range) per Datetime unit.
_TS_BOUNDS = {"us": (TS_MIN_US, TS_MAX_US), "ms": (-(-TS_MIN_US // 1000), TS_MAX_US // 1000),
              "ns": (TS_MIN_US * 1000, TS_MAX_US * 1000 + 999)}
_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_FAIL = "__fd_fail_{}"
_NULL = "__fd_null_{}"
_TYPE = "__fd_type_{}"
#: A String column an NDJSON source carries for an input whose inferred dtype does not fit:
#: on the one row to report, the JSON text of its value; null elsewhere (:func:`_ndjson_marks`).
_TYPE_AT = "__fd_type_at_{}"
#: Order of the flags of one input on one row: a value of the wrong type or that does not
#: convert, then a null (then an output's flag, ``__fd_inf_``, in the file transform).
_RANK = {"type": 0, "fail": 0, "null": 1}


class Source(NamedTuple):
    """A data source opened lazily.

    ``text``: the declared inputs were read as text (CSV) and numbers/bools are parsed from
    strings. ``path``: the file, if the data is one (the eager transform then streams it).
    """

    lf: pl.LazyFrame
    text: bool = False
    path: Path | None = None


# ------------------------------------------------------------------------------ reading


def open_source(data: object, inputs: dict[str, Type] | None = None,
                fmt: str | None = None) -> Source:
    """Any supported data source as a :class:`Source` (nothing is read yet for files).

    With ``inputs``, a CSV file's declared input columns are read as text (``Source.text``),
    to be parsed by :func:`widen`, rather than by Polars' schema inference.
    """
    if isinstance(data, pl.LazyFrame):
        return Source(data)
    if isinstance(data, pl.DataFrame):
        return Source(data.lazy())
    if isinstance(data, str | Path):
        path = Path(data)
        suffix = ("." + fmt.lower().lstrip(".")) if fmt else path.suffix.lower()
        reader = _READERS.get(suffix)
        if reader is None:
            known = ", ".join(sorted(_READERS))
            raise InputError(f"{path}: unknown data format `{suffix or '(no extension)'}`; "
                             f"use a file ending in one of {known}")
        if not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "no such file"
            raise InputError(f"{path}: {what}")
        text = suffix in _TEXT_FORMATS and inputs is not None
        try:
            if text:
                assert inputs is not None
                lf = reader(str(path), schema_overrides={n: pl.String for n in inputs})
            else:
                lf = reader(str(path))
            lf.collect_schema()  # reads only the header / metadata: a corrupt file fails here
        except READ_ERRORS as exc:
            raise InputError(f"{path}: cannot read: {first_line(exc)}") from None
        if suffix in (".ndjson", ".jsonl") and inputs:
            lf = _ndjson_marks(path, lf, inputs)
        return Source(lf, text, path)
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow":
        return Source(_from_arrow(data).lazy())
    if module == "pandas" and type(data).__name__ == "DataFrame":
        return Source(_from_pandas(data, inputs).lazy())
    raise InputError(f"cannot read data of type {type(data).__name__}: pass a polars, pyarrow "
                     "or pandas frame, or a path to a Parquet, CSV, Arrow IPC or NDJSON file")


def _ndjson_marks(path: Path, lf: pl.LazyFrame, inputs: dict[str, Type]) -> pl.LazyFrame:
    """``lf`` with a marker column (:data:`_TYPE_AT`) for each input whose inferred dtype does
    not fit its declared type, holding the JSON text of the value on the lowest row (0-based)
    whose JSON value the row evaluator rejects for its type (the value quoted: Polars' column
    holds it as text).

    NDJSON has no column types: Polars infers one per column from every row, so a column with
    a string on some row is String (its numbers as text) and an int column with a float on
    some row is Float64. The first non-null value of that column (what the type flag names
    for the other sources) may be a good JSON value; the JSON itself tells which row is the
    first bad one, as the row evaluator would see it. Read only for a column that does not
    fit (an error is coming), and only up to the rows it needs.
    """
    import json

    schema = lf.collect_schema()
    bad = {n: t for n, t in inputs.items()
           if n in schema and schema[n] != pl.Null and not fits(t, schema[n])}
    if not bad:
        return lf
    rows: dict[str, tuple[int, str]] = {}
    try:
        with path.open("rb") as fh:
            for row, line in enumerate(ln for ln in fh if ln.strip()):
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    break
                for n, t in bad.items():
                    if n not in rows and first_wrong(rec.get(n), t) is not None:
                        rows[n] = row, json.dumps(rec.get(n))
                if len(rows) == len(bad):
                    break
    except (OSError, ValueError):  # unreadable here: the first non-null value is named
        pass
    if not rows:
        return lf
    index = "__fd_row_index"
    return lf.with_row_index(index).with_columns(
        pl.when(pl.col(index) == r).then(pl.lit(text)).alias(_TYPE_AT.format(n))
        for n, (r, text) in rows.items()).drop(index)


def to_lazy(data: object, fmt: str | None = None) -> pl.LazyFrame:
    """Any supported data source as a LazyFrame, with Polars' own type inference for CSV."""
    return open_source(data, None, fmt).lf


def _from_arrow(table: object) -> pl.DataFrame:
    import pyarrow as pa

    if not isinstance(table, pa.Table | pa.RecordBatch):
        raise InputError(f"cannot read a pyarrow {type(table).__name__}: pass a pyarrow Table "
                         "or RecordBatch")
    # Polars rejects fixed-offset zones such as "+05:30": convert those columns to UTC first.
    try:
        cols = []
        for field, col in zip(table.schema, table.columns, strict=True):
            if pa.types.is_timestamp(field.type) and field.type.tz not in (None, "UTC"):
                col = col.cast(pa.timestamp(field.type.unit, "UTC"))
            cols.append(col)
        out = pl.from_arrow(pa.table(cols, names=table.schema.names))
    except (*READ_ERRORS, pa.ArrowException, ValueError, TypeError) as exc:
        raise InputError(f"cannot read the pyarrow table: {first_line(exc)}") from None
    assert isinstance(out, pl.DataFrame)
    return out


def _from_pandas(df: object, inputs: dict[str, Type] | None = None) -> pl.DataFrame:
    import pandas as pd

    assert isinstance(df, pd.DataFrame)
    try:
        aware = [i for i, dtype in enumerate(df.dtypes)
                 if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) != "UTC"]
        if aware:  # Polars rejects fixed-offset zones: the same instants in UTC
            df = df.copy(deep=False)
            for i in aware:
                df.isetitem(i, df.iloc[:, i].dt.tz_convert("UTC"))
        out = pl.from_pandas(df, nan_to_null=True)
    except Exception as exc:  # pandas and pyarrow raise many types; all mean bad data
        raise InputError(f"cannot read the pandas DataFrame: {first_line(exc)}") from None
    assert isinstance(out, pl.DataFrame)
    # An object column holding only None (or no rows) says nothing of its type, but Polars
    # reads it as String: it is an all-null column, as a Polars Null column is, and fits any
    # nullable input (a float? column of None in pandas is not "a string column").
    untyped = [name for name, dtype in zip(out.columns, df.dtypes, strict=True)
               if str(dtype) == "object" and out.schema[name] == pl.String
               and out[name].null_count() == out.height]
    if untyped:
        out = out.with_columns(pl.lit(None, dtype=pl.Null).alias(n) for n in untyped)
    # pandas holds an int column with a missing value as float64 (NaN): for an input that is
    # not a float, a float column with a null whose every other value is integral is that int
    # column (without a null it is a float column, rejected like a float on every path). For
    # an int input that is its value (outside int64: named as out of range, as the int column
    # is on the other sources); for any other input it is still an error, quoting the int.
    for n, t in (inputs or {}).items():
        if (t.kind != "float" and n in out.columns and out.schema[n] == pl.Float64
                and out.get_column(n).null_count()):
            col = out.get_column(n)
            ints = col.cast(pl.Int128, strict=False)
            if ints.null_count() == col.null_count() and (ints.cast(pl.Float64) == col).all():
                out = out.with_columns(ints.alias(n))
    return out


# ------------------------------------------------------------------------------ widening


def widen(name: str, t: Type, dtype: pl.DataType, col: pl.Expr | None = None,
          text: bool = False, lenient: bool = False) -> pl.Expr:
    """The expression casting a column of ``dtype`` to the canonical dtype of ``t``.

    ``text``: the column was read from CSV, so String may hold numbers and bools. Raises
    ``InputError`` when the dtype cannot hold values of ``t`` (see :func:`fits`), unless
    ``lenient``: then such a column (or list element) is all null, and the eager paths report
    the first row holding a value (the type flag of :func:`prepare`). A value that does not
    convert becomes null (``transform`` reports it, see :func:`check`).
    """
    c = pl.col(name) if col is None else col
    k = t.kind
    if dtype == pl.Null:
        # a cast of the column, not a literal: a literal is one row, and a frame whose only
        # input is all-null came out one row tall (a lost row)
        return c.cast(dtype_of(t))
    if dtype == dtype_of(t) and not _has_float(dtype) and k not in ("timestamp", "date"):
        return c  # (timestamps and dates are range-checked below, canonical dtype or not)
    string = isinstance(dtype, pl.String)
    if k == "int":
        if isinstance(dtype, _INTS):
            return c.cast(pl.Int64, strict=False)  # out of range -> null -> reported
        if string and text:
            return c.str.to_integer(base=10, strict=False)
    elif k == "float":
        if isinstance(dtype, pl.Float32 | pl.Float64):
            return (c if dtype == pl.Float64 else c.cast(pl.Float64)).fill_nan(None)
        if isinstance(dtype, _INTS):
            return c.cast(pl.Float64)
        if string and text:
            return c.cast(pl.Float64, strict=False).fill_nan(None)
    elif k == "string":
        if isinstance(dtype, pl.Categorical | pl.Enum):
            return c.cast(pl.String)
    elif k == "bool":
        if string and text:
            return c.str.to_lowercase().replace_strict(
                {"true": True, "false": False}, default=None, return_dtype=pl.Boolean)
    elif k == "timestamp":
        if isinstance(dtype, pl.Datetime):
            # Years 1..9999 only, as the row side (Python's datetime) accepts: checked on the
            # physical value in the column's own unit, before any conversion can overflow. An
            # instant outside becomes null here, which the checks report as a failed conversion.
            in_range = c.cast(pl.Int64).is_between(*_TS_BOUNDS[dtype.time_unit or "us"])
            if dtype.time_zone is None:
                c = c.dt.replace_time_zone("UTC")
            elif dtype.time_zone != "UTC":
                c = c.dt.convert_time_zone("UTC")
            c = c if dtype.time_unit == "us" else c.dt.cast_time_unit("us")  # ns: floor
            return pl.when(in_range).then(c)
        if isinstance(dtype, pl.Date):
            return pl.when(c.cast(pl.Int32).is_between(*DATE_BOUNDS)).then(
                c.cast(pl.Datetime("us", "UTC")))
        if string:
            return parse_timestamp_expr(c)
    elif k == "date":
        if string:
            return parse_date_expr(c)
        if isinstance(dtype, pl.Date):
            return pl.when(c.cast(pl.Int32).is_between(*DATE_BOUNDS)).then(c)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            # a naive Datetime at exactly midnight is its date (pandas holds dates so); a
            # time part becomes null here, reported naming the row (as the row side does)
            unit = dtype.time_unit or "us"
            phys = c.cast(pl.Int64)
            ok = phys.is_between(*_TS_BOUNDS[unit]) & (phys % _DAY[unit] == 0)
            return pl.when(ok).then((phys // _DAY[unit]).cast(pl.Int32).cast(pl.Date))
    elif k == "duration":
        if isinstance(dtype, pl.Duration):
            if dtype.time_unit == "ns":  # Polars truncates ns -> us toward zero: floor instead
                return (c.cast(pl.Int64) // 1000).cast(pl.Duration("us"))
            return c.dt.cast_time_unit("us")
        if string:  # ISO 8601, as Polars writes a Duration to NDJSON (row side: the same)
            return parse_duration_expr(c)
    elif k == "list":
        assert t.elem is not None
        if isinstance(dtype, pl.List | pl.Array):
            inner_dtype = dtype.inner
            assert isinstance(inner_dtype, pl.DataType)  # a schema's dtypes are instances
            inner = widen(name, t.elem, inner_dtype, pl.element(), text, lenient)
            if isinstance(dtype, pl.Array):
                c = c.cast(pl.List(inner_dtype))
            return c.list.eval(inner)
    if lenient:  # a typed null of the same length (not a one-row literal)
        return pl.when(c.is_null()).then(pl.lit(None, dtype=dtype_of(t)))
    raise InputError(_dtype_message(name, t, dtype, text), field=name, expected=str(t))


def fits(t: Type, dtype: pl.DataType, text: bool = False) -> bool:
    """Whether a column of ``dtype`` can hold values of ``t`` (:func:`widen` accepts it)."""
    try:
        widen("", t, dtype, text=text)
    except InputError:
        return False
    return True


def _dtype_message(name: str, t: Type, dtype: pl.DataType, text: bool) -> str:
    msg = f"column `{name}`: expected {t}, got dtype {dtype}"
    if isinstance(dtype, pl.String) and t.kind in ("int", "float", "bool") and not text:
        msg += " (strings are not converted to numbers or bools; cast the column first)"
    elif isinstance(dtype, pl.Boolean) and t.kind in ("int", "float"):
        msg += " (a bool is not a number)"
    elif isinstance(dtype, pl.Float32 | pl.Float64) and t.kind == "int":
        msg += " (floats are not converted to int; declare it float or cast the column)"
    elif isinstance(dtype, pl.Datetime) and t.kind == "date":
        msg += " (a date input reads a Datetime column only without a time zone)"
    return msg


def _has_float(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.List | pl.Array):
        return _has_float(dtype.inner)  # type: ignore[arg-type]
    return isinstance(dtype, pl.Float32 | pl.Float64)


# ------------------------------------------------------------------------------ checks


def _deep_nulls(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Per row: how many nulls (NaN counting as null) the value holds, at every level."""
    n = e.is_null()
    if isinstance(dtype, pl.Float32 | pl.Float64):
        n = n | e.is_nan().fill_null(False)
    count = n.cast(pl.UInt32)
    if isinstance(dtype, pl.List | pl.Array):
        inner = dtype.inner
        assert isinstance(inner, pl.DataType)  # a schema's dtypes are instances
        lst = e if isinstance(dtype, pl.List) else e.cast(pl.List(inner))
        count = count + lst.list.eval(_deep_nulls(pl.element(), inner)).list.sum().fill_null(0)
    return count


def _may_fail(dtype: pl.DataType, t: Type) -> bool:
    """Whether widening a ``dtype`` column to ``t`` can turn a value into null."""
    if isinstance(dtype, pl.List | pl.Array):
        assert t.elem is not None and isinstance(dtype.inner, pl.DataType)
        return _may_fail(dtype.inner, t.elem)
    if isinstance(dtype, pl.String):
        return t.kind != "string"
    if t.kind in ("timestamp", "date") and isinstance(dtype, pl.Datetime | pl.Date):
        return True  # outside the years 1..9999
    return t.kind == "int" and isinstance(dtype, _MAY_OVERFLOW)


def _strict(t: Type) -> bool:
    """Whether some level of ``t`` is not nullable."""
    return not t.nullable or (t.kind == "list" and t.elem is not None and _strict(t.elem))


def _bad_null(e: pl.Expr, t: Type, raw: pl.DataType | None = None) -> pl.Expr:
    """Per row: a null where ``t`` allows none (at any level of a list).

    ``raw``: ``e`` is the source column of that dtype, one that does not fit ``t`` (widened, it
    is all null): NaN counts as null, and lists are followed only where the dtype has them."""
    null = e.is_null()
    if isinstance(raw, pl.Float32 | pl.Float64):
        null = null | e.is_nan().fill_null(False)
    mask = pl.lit(False) if t.nullable else null
    if t.kind == "list" and t.elem is not None and _strict(t.elem):
        if raw is None:
            inner = e.list.eval(_bad_null(pl.element(), t.elem))
        elif isinstance(raw, pl.List | pl.Array) and isinstance(raw.inner, pl.DataType):
            lst = e if isinstance(raw, pl.List) else e.cast(pl.List(raw.inner))
            inner = lst.list.eval(_bad_null(pl.element(), t.elem, raw.inner))
        else:
            return mask
        mask = mask | inner.list.any().fill_null(False)
    return mask


def _wrong_type(e: pl.Expr, t: Type, dtype: pl.DataType) -> pl.Expr:
    """Per row: ``e`` (of ``dtype``, which does not fit ``t``) holds a value (not null, not
    NaN) at the level where the dtype cannot hold ``t``: a value not of the expected type."""
    if isinstance(dtype, pl.List | pl.Array) and t.kind == "list" and t.elem is not None:
        inner = dtype.inner
        assert isinstance(inner, pl.DataType)  # a schema's dtypes are instances
        lst = e if isinstance(dtype, pl.List) else e.cast(pl.List(inner))
        return lst.list.eval(_wrong_type(pl.element(), t.elem, inner)).list.any() \
            .fill_null(False)
    present = e.is_not_null()
    if isinstance(dtype, pl.Float32 | pl.Float64):  # NaN is null (SPEC 4.4), never "wrong"
        present = present & ~e.is_nan().fill_null(True)
    return present


def _masks(name: str, i: int, t: Type, dtype: pl.DataType, widened: pl.Expr,
           text: bool = False, marked: bool = False) -> list[pl.Expr]:
    """The flag columns of input ``i``: a value of the wrong type (a dtype that does not fit,
    see :func:`fits`; ``marked``: the source carries the row, :data:`_TYPE_AT`), a value that
    does not convert, a null where none is allowed."""
    out = []
    if dtype != pl.Null and not fits(t, dtype, text):
        wrong = pl.col(_TYPE_AT.format(name)).is_not_null() if marked \
            else _wrong_type(pl.col(name), t, dtype)
        out.append(wrong.alias(_TYPE.format(i)))
        if _strict(t):
            out.append(_bad_null(pl.col(name), t, dtype).alias(_NULL.format(i)))
        return out
    if dtype != pl.Null and _may_fail(dtype, t):
        raw_nulls = _deep_nulls(pl.col(name), dtype)
        if t.kind == "float" and isinstance(dtype, pl.String):
            # the text "NaN" parses to NaN, which is null by design, not a failed conversion
            text_nan = pl.col(name).cast(pl.Float64, strict=False).is_nan().fill_null(False)
            raw_nulls = raw_nulls + text_nan.cast(pl.UInt32)
        failed = _deep_nulls(widened, dtype_of(t)) > raw_nulls
        out.append(failed.alias(_FAIL.format(i)))
    if _strict(t):
        out.append(_bad_null(widened, t).alias(_NULL.format(i)))
    return out


#: The column ``prepare`` adds when it selects no input and no kept column (see there).
ROW_ANCHOR = "__fd_rows"
#: A parsed text input's temporary column in ``prepare`` (input position).
_STAGED = "__fd_parsed_{}"


def prepare(lf: pl.LazyFrame, inputs: dict[str, Type], keep: list[str], text: bool = False,
            checks: bool = False) -> pl.LazyFrame:
    """Select ``keep`` columns untouched plus every input widened to its canonical dtype.

    Kept columns are named ``__fd_keep_<i>``. With ``checks``, boolean columns flagging bad
    rows are added for :func:`check`, and a column whose dtype cannot hold its input's type is
    flagged on the first row holding a value (all null, it is no error: no value is of the
    wrong type). Raises ``InputError`` for a missing column, and without ``checks`` (nothing
    looks at the values) for a dtype that does not fit.
    """
    try:
        schema = lf.collect_schema()
    except READ_ERRORS as exc:
        raise InputError(f"cannot read the data: {first_line(exc)}") from None
    missing = [n for n in inputs if n not in schema]
    if missing:
        n = missing[0]
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:4])})" if len(missing) > 1 \
            else ""
        raise InputError(f"column `{n}` is missing: the spec declares `{n}: {inputs[n]}`{more}",
                         field=n, expected=str(inputs[n]))
    for k in keep:
        if k not in schema:
            raise InputError(f"column `{k}` (in keep=) is not in the data", field=k)
    exprs: dict[str, pl.Expr] = {}
    masks: list[pl.Expr] = []
    staged: dict[str, pl.Expr] = {}
    for i, (n, t) in enumerate(inputs.items()):
        widened = widen(n, t, schema[n], text=text, lenient=checks)
        if t.kind in ("timestamp", "date") and isinstance(schema[n], pl.String):
            # text parsed by a NumPy kernel (functions/_isotext_np.py), which Polars would run
            # again for the value and for each check that reads it: parse once, then refer
            staged[_STAGED.format(i)] = widened
            widened = pl.col(_STAGED.format(i))
        exprs[n] = widened.alias(n)
        if checks:
            masks += _masks(n, i, t, schema[n], widened, text, _TYPE_AT.format(n) in schema)
    # A kept input read as CSV text has no dtype of its own: keep its parsed value.
    kept = [(exprs[k] if text and k in exprs else pl.col(k)).alias(f"__fd_keep_{i}")
            for i, k in enumerate(keep)]
    # A spec whose features read no input (constants, statistics) still has one output row
    # per input row: a flag of the data's first column keeps the frame as tall as the data
    # (elementwise, so the plan stays streaming-native; a row number would not be).
    rows: list[pl.Expr] = []
    if not exprs and not kept:
        rows = [pl.first().is_null().alias(ROW_ANCHOR) if lf.collect_schema().len()
                else pl.int_range(pl.len()).alias(ROW_ANCHOR)]
    if staged:
        lf = lf.with_columns(**staged)
    return lf.select(kept + list(exprs.values()) + masks + rows)


def check(prepared: pl.DataFrame, raw: pl.LazyFrame, inputs: dict[str, Type]) -> pl.DataFrame:
    """Raise ``InputError`` for the first bad row flagged by ``prepare(checks=True)``.

    ``raw`` is the source (read again only to quote a bad value). Returns ``prepared`` without
    the flag columns.
    """
    flags = flag_columns(prepared.columns)
    hit = first_flagged(prepared, flags)
    if hit is not None:
        raise flag_error(raw, inputs, *hit)
    return prepared.drop(flags)


def first_flagged(frame: pl.DataFrame, flags: list[str]) -> tuple[int, str] | None:
    """(row, flag) of the error to report among the ``flags`` columns of ``frame``, or None.

    The order every path reports (``transform``, the file transform, parity): the lowest
    row, then the input's position in the spec, then a failed conversion before a null; flags
    on outputs (``__fd_inf_{i}``, the file transform's) come after the inputs' on their row.
    """
    if not flags:
        return None
    hits = frame.select(pl.col(f).arg_true().first().alias(f) for f in flags).row(0)
    found = [(r, _flag_order(f), f) for r, f in zip(hits, flags, strict=True) if r is not None]
    if not found:
        return None
    row, _, flag = min(found)
    return row, flag


def _flag_order(flag: str) -> tuple[bool, int, int]:
    kind, i = flag[len("__fd_"):].rsplit("_", 1)
    return kind == "inf", int(i), _RANK.get(kind, 2)


def flag_columns(names: Iterable[str]) -> list[str]:
    """The per-row check flags (added by ``prepare(checks=True)``) among the column ``names``."""
    return [c for c in names if c.startswith(("__fd_fail_", "__fd_null_", "__fd_type_"))
            and not c.startswith("__fd_type_at_")]


def flag_error(raw: pl.LazyFrame, inputs: dict[str, Type], row: int, flag: str) -> InputError:
    """The ``InputError`` for ``row`` (0-based in the source) flagged by the check column
    ``flag`` of ``prepare(checks=True)``: what ``transform`` raises, whichever path found it.

    ``raw`` (the source) is read again, one row, only to quote a bad value or to tell a null
    list from a null element in it. A null flag on a scalar is always the value itself: its
    raw value may be NaN or the CSV text "NaN", which is null too.
    """
    kind, i = flag[len("__fd_"):].rsplit("_", 1)
    name, t = list(inputs.items())[int(i)]
    if kind == "null" and t.kind != "list":
        return _null_error(name, row, t, True)
    value: object = _outside_python(raw, name, row)  # read first: Polars panics converting it
    if kind == "type":
        value = _marked_value(raw, name, row, value)
    if value is None:
        try:
            one = raw.select(pl.col(name)).slice(row, 1).collect(engine="streaming")
            value = one.to_series().to_list()[0] if one.height else None  # (a list: a list)
        except READ_ERRORS:  # the source changed under us: report without the value
            value = "?"
    if kind == "type":
        return type_error(name, row, t, value)
    if kind == "fail":
        return _conversion_error(name, row, t, value)
    return _null_error(name, row, t, value is None)  # else an element of the list


def _marked_value(raw: pl.LazyFrame, name: str, row: int, value: object) -> object:
    """The JSON value an NDJSON source's marker column (:data:`_TYPE_AT`) holds for ``row``,
    else ``value``."""
    import json

    marker = _TYPE_AT.format(name)
    try:
        if marker not in raw.collect_schema():
            return value
        one = raw.select(pl.col(marker)).slice(row, 1).collect(engine="streaming")
    except READ_ERRORS:
        return value
    text = one.item() if one.height else None
    return value if text is None else json.loads(text)


def _outside_python(raw: pl.LazyFrame, name: str, row: int) -> _Quoted | None:
    """A Datetime or Date value outside years 1..9999 (which Python cannot hold, and Polars
    panics converting), described by its physical value; ``None`` for any other value."""
    try:
        dtype = raw.collect_schema()[name]
        if isinstance(dtype, pl.Datetime):
            bounds, unit = _TS_BOUNDS[dtype.time_unit or "us"], str(dtype.time_unit or "us")
        elif isinstance(dtype, pl.Date):
            bounds, unit = DATE_BOUNDS, "days"
        else:
            return None
        one = raw.select(pl.col(name).cast(pl.Int64)).slice(row, 1).collect(engine="streaming")
        v = one.item() if one.height else None
    except READ_ERRORS:
        return None
    if v is None or bounds[0] <= v <= bounds[1]:
        return None
    return _Quoted(f"{v} {unit} since the epoch")


class _Quoted(str):
    """A description to show as it is (not as a quoted string)."""


def type_error(name: str, row: int, t: Type, value: object) -> InputError:
    """``column `x`, row N: expected T, got V (why)``: a value not of the input's type, the
    same words as the row evaluator's (:func:`~featuredsl.backends.row_input.wrong_type`). In
    a list, the first element the row evaluator would reject is named (`` `x[2]` ``)."""
    found = None if isinstance(value, _Quoted) else first_wrong(value, t)
    path, v, vt = found or ("", value, t)
    where = f"column `{name}`, row {row}" + (f", element `{name}{path}`" if path else "")
    what = f"expected {vt}, got {v}" if isinstance(v, _Quoted) else wrong_type(str(vt), v)
    return InputError(f"{where}: {what}", field=name, row=row, expected=str(t),
                      element=f"{name}{path}" if path else None)


def _conversion_error(name: str, row: int, t: Type, value: object) -> InputError:
    base = t.kind if t.kind != "list" else (t.elem.kind if t.elem else "")
    why = ""
    if base == "date" and not isinstance(value, _Quoted):
        found = first_wrong(value, t)  # a (naive) datetime with a time part: the row side's
        if isinstance(value, dt.datetime) or (found and isinstance(found[1], dt.datetime)):
            return type_error(name, row, t, value)
    if isinstance(value, _Quoted | dt.datetime | dt.date) and base in ("timestamp", "date"):
        shown = str(value) if isinstance(value, _Quoted) else describe_value(value)
        return InputError(f"column `{name}`, row {row}: cannot convert {shown} to {t.base} "
                          "(outside the years 1..9999)", field=name, row=row, expected=str(t))
    if base == "timestamp" and isinstance(value, str):
        why = f" ({timestamp_text_problem(value)})"
    elif base == "timestamp":
        why = f": use {TIMESTAMP_FORMS}"
    elif base == "date" and isinstance(value, str):
        why = f" ({date_text_problem(value)})"
    elif base == "date":
        why = ": use YYYY-MM-DD"
    elif base == "duration" and isinstance(value, str):
        why = f" ({duration_text_problem(value)})"
    elif base == "int" and not isinstance(value, str | list):
        why = " (outside the int64 range)"
    what = "an element of " if t.kind == "list" else ""
    return InputError(f"column `{name}`, row {row}: cannot convert {what}"
                      f"{describe_value(value)} to {t.base}{why}",
                      field=name, row=row, expected=str(t))


def _null_error(name: str, row: int, t: Type, outer: bool) -> InputError:
    if not outer:  # the null is inside the list
        return InputError(f"column `{name}`, row {row}: a null (or NaN) element in a list "
                          f"declared `{t}`, whose elements are not nullable",
                          field=name, row=row, expected=str(t))
    return InputError(f"column `{name}`, row {row}: null (or NaN) in a column declared "
                      f"`{t}` (not nullable); declare it `{t}?` to allow nulls",
                      field=name, row=row, expected=str(t))


def validate(raw: pl.DataFrame, prepared: pl.DataFrame, inputs: dict[str, Type]) -> None:
    """Eager form of the value checks: ``raw`` holds the source columns, ``prepared`` them
    widened (by :func:`prepare`). Raises ``InputError`` for the first bad row."""
    masks = []
    for i, (n, t) in enumerate(inputs.items()):
        masks += _masks(n, i, t, raw.schema[n], pl.col(f"__fd_w_{i}"),
                        marked=_TYPE_AT.format(n) in raw.schema)
    frame = raw.select(list(inputs)).with_columns(
        prepared.get_column(n).alias(f"__fd_w_{i}") for i, n in enumerate(inputs))
    flags = frame.select(masks)
    check(prepared.select(list(inputs)).hstack(flags.get_columns()), raw.lazy(), inputs)
