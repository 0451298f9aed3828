"""Row backend input and output conversion (SPEC section 6).

The generated evaluator checks the common case inline (``type(v) is float``) and calls these
helpers only for everything else: they convert what is acceptable (an int for a float, numpy
scalars, aware or naive datetimes, ISO-8601 strings for timestamps) and raise ``InputError``
naming the field and the expected type for the rest.

Internal representations: timestamp = int microseconds since the Unix epoch (UTC), date = int
days since 1970-01-01, duration = int microseconds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping

from featuredsl.errors import InputError, describe_value
from featuredsl.types import Type

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def _bad(name: str, expected: str, value: object, why: str = "") -> InputError:
    if value is None:
        return InputError(f"field `{name}`: missing or null, but the input is declared "
                          f"`{expected}` (not nullable)", field=name, expected=expected)
    extra = f" ({why})" if why else ""
    return InputError(f"field `{name}`: expected {expected}, got {describe_value(value)}{extra}",
                      field=name, expected=expected)


def as_mapping(row: object) -> Mapping:
    """The row itself if it is a mapping, else ``InputError``."""
    if isinstance(row, Mapping):
        return row
    raise InputError(f"a row must be a dict of field values, got {type(row).__name__}")


def in_int(v: object, name: str, nullable: bool) -> int | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, "int", v)
    if isinstance(v, bool) or not _is_integral(v):
        raise _bad(name, "int", v, "a bool is not an int" if isinstance(v, bool) else "")
    i = int(v)  # type: ignore[call-overload]
    if not INT64_MIN <= i <= INT64_MAX:
        raise _bad(name, "int", v, "outside the int64 range")
    return i


def _is_integral(v: object) -> bool:
    # numpy integer scalars have __index__ but are not int.
    return isinstance(v, int) or (hasattr(v, "__index__") and type(v).__module__ == "numpy")


def in_float(v: object, name: str, nullable: bool) -> float | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, "float", v)
    if isinstance(v, bool):
        raise _bad(name, "float", v, "a bool is not a number")
    if isinstance(v, float) or (type(v).__module__ == "numpy" and hasattr(v, "__float__")
                                and not _is_integral(v)):
        f = float(v)  # type: ignore[arg-type]
    elif _is_integral(v):
        try:
            f = float(int(v))  # type: ignore[call-overload]
        except OverflowError:
            raise _bad(name, "float", v, "too large for a float") from None
    else:
        raise _bad(name, "float", v)
    if f != f:  # NaN is null (SPEC 4.4)
        if nullable:
            return None
        raise _bad(name, "float", v, "NaN is null")
    return f


def in_str(v: object, name: str, nullable: bool) -> str | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, "string", v)
    if not isinstance(v, str):
        raise _bad(name, "string", v)
    s = str(v)
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(name, "string", v, "not valid Unicode: lone surrogate") from None
    return s


def in_bool(v: object, name: str, nullable: bool) -> bool | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, "bool", v)
    if isinstance(v, bool):
        return v
    if type(v).__module__ == "numpy" and type(v).__name__ == "bool":
        return bool(v)
    raise _bad(name, "bool", v)


def in_timestamp(v: object, name: str, nullable: bool) -> int | None:
    """datetime (naive = UTC, aware converted to UTC) or ISO-8601 string -> int microseconds."""
    if v is None:
        if nullable:
            return None
        raise _bad(name, "timestamp", v)
    if isinstance(v, str):
        try:
            parsed = dt.datetime.fromisoformat(v)
        except ValueError:
            raise _bad(name, "timestamp", v, "not an ISO-8601 date-time") from None
        v = parsed
    if isinstance(v, dt.datetime):
        if v.tzinfo is None or v.tzinfo.utcoffset(v) is None:
            return (v - _EPOCH_NAIVE) // _US
        return (v - _EPOCH) // _US
    raise _bad(name, "timestamp", v, "use a datetime or an ISO-8601 string")


def in_date(v: object, name: str, nullable: bool) -> int | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, "date", v)
    if isinstance(v, str):
        try:
            v = dt.date.fromisoformat(v)
        except ValueError:
            raise _bad(name, "date", v, "not an ISO-8601 date") from None
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return (v - _EPOCH_DATE).days
    raise _bad(name, "date", v, "use a date or an ISO-8601 string")


def in_duration(v: object, name: str, nullable: bool) -> int | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, "duration", v)
    if isinstance(v, dt.timedelta):
        return v // _US
    raise _bad(name, "duration", v, "use a datetime.timedelta")


def in_list(v: object, name: str, nullable: bool, elem: Callable, elem_nullable: bool,
            expected: str) -> list | None:
    if v is None:
        if nullable:
            return None
        raise _bad(name, expected, v)
    if not isinstance(v, list | tuple):
        raise _bad(name, expected, v)
    return [elem(x, f"{name}[{i}]", elem_nullable) for i, x in enumerate(v)]


_CONVERTERS: dict[str, Callable] = {
    "int": in_int, "float": in_float, "string": in_str, "bool": in_bool,
    "timestamp": in_timestamp, "date": in_date, "duration": in_duration,
}


def converter(t: Type) -> Callable:
    """A function ``(value, name, nullable) -> internal value`` for a declared type."""
    if t.kind == "list":
        assert t.elem is not None
        elem_conv, elem_null = converter(t.elem), t.elem.nullable
        return lambda v, name, nullable: in_list(v, name, nullable, elem_conv, elem_null, str(t))
    return _CONVERTERS[t.kind]


# ------------------------------------------------------------------------------------ output


def out_timestamp(us: int | None) -> dt.datetime | None:
    return None if us is None else _EPOCH + dt.timedelta(microseconds=us)


def out_date(days: int | None) -> dt.date | None:
    return None if days is None else _EPOCH_DATE + dt.timedelta(days=days)


def out_duration(us: int | None) -> dt.timedelta | None:
    return None if us is None else dt.timedelta(microseconds=us)


def output_converter(t: Type) -> Callable | None:
    """How to turn an internal value of type ``t`` into the user-facing Python value."""
    if t.kind == "timestamp":
        return out_timestamp
    if t.kind == "date":
        return out_date
    if t.kind == "duration":
        return out_duration
    if t.kind == "list":
        assert t.elem is not None
        inner = output_converter(t.elem)
        if inner is None:
            return None
        return lambda xs: None if xs is None else [inner(x) for x in xs]
    return None


def is_finite(x: float) -> bool:
    return math.isfinite(x)
