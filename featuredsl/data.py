"""Batch data in: read any supported source, validate it, widen it to the declared types.

Sources: a polars DataFrame or LazyFrame, a pyarrow Table, a pandas DataFrame, or a path to a
Parquet, CSV, Arrow IPC or NDJSON file (by extension). Every declared input column is checked
(present, of a compatible dtype) and cast to its canonical dtype first (SPEC 4.13), so narrow
types can never wrap and batch computes exactly what the row backend computes:

=========  ====================================================================================
int        Int8..Int64, UInt8..UInt64 (UInt64 above the int64 maximum is an error)
float      Float32, Float64, every integer type; NaN becomes null
string     String, Categorical, Enum (large strings arrive as String)
bool       Boolean
timestamp  Datetime of any unit and zone (naive = UTC; zoned: converted to UTC; ns floors to
           µs), Date (midnight UTC), ISO-8601 strings
date       Date, ISO-8601 strings
duration   Duration of any unit
list[T]    List of a compatible element type
=========  ====================================================================================

``validate`` (used by the eager ``transform``) also finds nulls in non-nullable columns and
values that do not convert, and reports the first bad row.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from featuredsl.backends.polars_backend import dtype_of
from featuredsl.errors import InputError
from featuredsl.types import Type

_READERS = {
    ".parquet": pl.scan_parquet, ".pq": pl.scan_parquet,
    ".csv": pl.scan_csv, ".tsv": lambda p: pl.scan_csv(p, separator="\t"),
    ".arrow": pl.scan_ipc, ".ipc": pl.scan_ipc, ".feather": pl.scan_ipc,
    ".ndjson": pl.scan_ndjson, ".jsonl": pl.scan_ndjson,
}
_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def to_lazy(data: object, fmt: str | None = None) -> pl.LazyFrame:
    """Any supported data source as a LazyFrame (nothing is read yet for files)."""
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, str | Path):
        path = Path(data)
        suffix = ("." + fmt.lstrip(".")) if fmt else path.suffix.lower()
        reader = _READERS.get(suffix)
        if reader is None:
            known = ", ".join(sorted(_READERS))
            raise InputError(f"{path}: unknown data format `{suffix or '(none)'}`; "
                             f"use one of {known}")
        if not path.exists():
            raise InputError(f"{path}: no such file")
        return reader(str(path))
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow":
        return _from_arrow(data).lazy()
    if module == "pandas":
        try:
            return pl.from_pandas(data, nan_to_null=True).lazy()  # type: ignore[arg-type]
        except Exception as exc:  # pyarrow/polars conversion errors name the column
            raise InputError(f"cannot read the pandas DataFrame: {exc}") from None
    raise InputError(f"cannot read data of type {type(data).__name__}: pass a polars, pyarrow "
                     "or pandas frame, or a path to a Parquet, CSV, Arrow IPC or NDJSON file")


def _from_arrow(table: object) -> pl.DataFrame:
    import pyarrow as pa

    assert isinstance(table, pa.Table | pa.RecordBatch)
    # Polars rejects fixed-offset zones such as "+05:30": convert those columns to UTC first.
    cols = []
    for field, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz not in (None, "UTC"):
            col = col.cast(pa.timestamp(field.type.unit, "UTC"))
        cols.append(col)
    fixed = pa.table(cols, names=table.schema.names)
    out = pl.from_arrow(fixed)
    assert isinstance(out, pl.DataFrame)
    return out


def _describe(dtype: pl.DataType) -> str:
    return str(dtype)


def widen(name: str, t: Type, dtype: pl.DataType, col: pl.Expr | None = None) -> pl.Expr:
    """The expression casting a column of ``dtype`` to the canonical dtype of ``t``.

    Raises ``InputError`` when the dtype cannot hold values of ``t``.
    """
    c = pl.col(name) if col is None else col
    k = t.kind
    bad = InputError(f"column `{name}`: expected {t.base}, got dtype {_describe(dtype)}",
                     field=name, expected=str(t))
    if dtype == pl.Null:
        return pl.lit(None, dtype_of(t)).alias(name) if col is None else c.cast(dtype_of(t))
    if k == "int":
        if isinstance(dtype, _INTS):
            return c if dtype == pl.Int64 else c.cast(pl.Int64, strict=False)
        raise bad
    if k == "float":
        if isinstance(dtype, pl.Float32 | pl.Float64):
            c = c if dtype == pl.Float64 else c.cast(pl.Float64)
            return c.fill_nan(None)
        if isinstance(dtype, _INTS):
            return c.cast(pl.Float64)
        raise bad
    if k == "string":
        if isinstance(dtype, pl.String):
            return c
        if isinstance(dtype, pl.Categorical | pl.Enum):
            return c.cast(pl.String)
        raise bad
    if k == "bool":
        if isinstance(dtype, pl.Boolean):
            return c
        raise bad
    if k == "timestamp":
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                c = c.dt.replace_time_zone("UTC")
            elif dtype.time_zone != "UTC":
                c = c.dt.convert_time_zone("UTC")
            return c if dtype.time_unit == "us" else c.dt.cast_time_unit("us")
        if isinstance(dtype, pl.Date):
            return c.cast(pl.Datetime("us", "UTC"))
        if isinstance(dtype, pl.String):
            return c.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        raise bad
    if k == "date":
        if isinstance(dtype, pl.Date):
            return c
        if isinstance(dtype, pl.String):
            return c.str.to_date(strict=False)
        raise bad
    if k == "duration":
        if isinstance(dtype, pl.Duration):
            return c if dtype.time_unit == "us" else c.dt.cast_time_unit("us")
        raise bad
    if k == "list":
        assert t.elem is not None
        if isinstance(dtype, pl.List | pl.Array):
            inner = widen(name, t.elem, dtype.inner, pl.element())  # type: ignore[arg-type]
            return c.list.eval(inner) if isinstance(dtype, pl.List) else (
                c.cast(pl.List(dtype.inner)).list.eval(inner))  # type: ignore[arg-type]
        raise bad
    raise bad  # pragma: no cover


def prepare(lf: pl.LazyFrame, inputs: dict[str, Type], keep: list[str]) -> pl.LazyFrame:
    """Select ``keep`` columns untouched plus every input widened to its canonical dtype."""
    schema = lf.collect_schema()
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
    exprs = [widen(n, t, schema[n]).alias(n) for n, t in inputs.items()]
    kept = [pl.col(k).alias(f"__fd_keep_{i}") for i, k in enumerate(keep)]
    return lf.select(kept + exprs)


def validate(raw: pl.DataFrame, prepared: pl.DataFrame, inputs: dict[str, Type]) -> None:
    """Report the first null in a non-nullable column, or a value that failed to convert."""
    for name, t in inputs.items():
        col = prepared.get_column(name)
        nulls = col.null_count()
        if not nulls:
            continue
        was_null = raw.get_column(name).is_null()
        if raw.schema[name] in (pl.Float32, pl.Float64):
            was_null = was_null | raw.get_column(name).is_nan()
        failed = col.is_null() & ~was_null
        if failed.any():
            row = int(failed.arg_max())  # type: ignore[arg-type]
            value = raw.get_column(name)[row]
            raise InputError(f"column `{name}`, row {row}: cannot convert {value!r} to "
                             f"{t.base}", field=name, row=row, expected=str(t))
        if not t.nullable:
            row = int(col.is_null().arg_max())  # type: ignore[arg-type]
            raise InputError(f"column `{name}`, row {row}: null (or NaN) in a column declared "
                             f"`{t}` (not nullable); declare it `{t}?` to allow nulls",
                             field=name, row=row, expected=str(t))
