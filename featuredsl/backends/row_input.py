"""Row backend input and output conversion (SPEC section 6).

The generated evaluator checks the common case inline (``type(v) is float``) and calls these
helpers only for everything else: they convert what is acceptable and raise ``InputError``
naming the field and the expected type for the rest. No other exception escapes for bad data.

What a row may hold for each declared type (the batch side, :mod:`featuredsl.data`, accepts
the equivalent column dtypes, so both backends see the same values):

=========  ====================================================================================
missing    ``None``, a missing key, a float NaN (also ``numpy.nan``), ``pandas.NA``,
           ``pandas.NaT``, ``numpy.datetime64("NaT")``: null for ``T?``, an error for ``T``.
           (NaN is null everywhere, SPEC 4.4; a pandas record's missing string is a NaN.)
int        ``int`` and numpy integer scalars within int64; never ``bool``, never a float
float      ``float``, numpy floating scalars (float32 widens exactly), ``int``/numpy ints
string     ``str`` (and numpy ``str_``), valid Unicode: a lone surrogate is an error
bool       ``bool``, ``numpy.bool_``
timestamp  ``datetime`` (naive = UTC, aware: converted to UTC; pandas ``Timestamp``
           nanoseconds floor to µs), ``date`` (midnight UTC), ``numpy.datetime64``
           (UTC, floored to µs), or an ISO-8601 string of the form :data:`TIMESTAMP_FORMS`
date       ``date``, a date string (below), or a *naive* ``datetime`` (also a pandas
           ``Timestamp``, a ``numpy.datetime64``) that is exactly midnight: its date. A
           datetime with a time of day (even a nanosecond) or with a time zone (even UTC) is an
           error: a date input never drops a time part or picks a zone
duration   ``timedelta``, ``numpy.timedelta64`` (pandas/numpy nanoseconds floor to µs), or an
           ISO-8601 duration string of the form :data:`DURATION_FORMS`
list[T]    ``list``, ``tuple`` or a 1-D numpy array of values accepted for ``T``
=========  ====================================================================================

Timestamp strings (both backends, one grammar: :data:`TIMESTAMP_PATTERN`)::

    YYYY-MM-DD                                   midnight UTC
    YYYY-MM-DD(T| )HH:MM[:SS[.f{1,9}]][offset]    offset: Z | +HH:MM | +HHMM | +HH (or -)

No offset means UTC. Fractions beyond microseconds floor (like a nanosecond column). The
instant must fall within 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. Anything else
(``20240107``, week dates, ``24:00``, a leap second ``:60``, ``,`` as decimal mark, lowercase
``t``/``z``, surrounding spaces, an offset without a time) is an ``InputError``; note that this
is stricter than Python's ``datetime.fromisoformat``.

Date strings: ``YYYY-MM-DD``, or a timestamp string of the grammar above with no offset and a
time of exactly midnight (``2024-01-07 00:00:00``, the text Polars writes for a naive midnight
datetime): the same rule as for a ``datetime`` value (:func:`parse_date`).

Duration strings (both backends, one grammar: :data:`DURATION_PATTERN`; what Polars writes
for a Duration in NDJSON, and ``pandas.Timedelta.isoformat`` for a non-negative one)::

    [-]P[nD][T[nH][nM][n[.f{1,9}]S]]             at least one part; a day is 24 hours

e.g. ``PT90S``, ``-PT0.5S``, ``P1DT2H30M``, ``P0D``. The sign, if any, comes first and applies to
the whole duration. Fractions beyond microseconds floor. Years, months and weeks (no fixed
length), a sign inside a part (pandas' ``P-1DT23H59M59S`` for -1 s: ambiguous), lowercase
letters, spaces and ``,`` as decimal mark are errors, as is a value outside int64 microseconds.

Internal representations: a timestamp is a *naive* ``datetime`` holding the UTC wall clock
(so calendar functions are attribute reads: ``t.hour``, ``t.isoweekday()``, and a naive input,
the common case, passes through untouched); a date is a ``date``; a duration is an int of
microseconds. Outputs are converted back: timestamps become aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from typing import cast

from featuredsl.errors import InputError, describe_value

# The timestamp/date text grammar and its parsers, shared with the functions parse_timestamp
# and parse_date (re-exported here for the batch reader, data/, which may not import functions/).
from featuredsl.functions.isotext import (  # noqa: F401
    DATE_BOUNDS,
    TIMESTAMP_FORMS,
    TIMESTAMP_PATTERN,
    TS_RE,
    parse_date,
    parse_date_expr,
    parse_timestamp,
    parse_timestamp_expr,
    time_part,
)
from featuredsl.functions.temporal_ops import TS_MAX_US, TS_MIN_US  # years 1..9999, µs
from featuredsl.types import Type

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
_MIDNIGHT = dt.time()
#: Days since the epoch of 0001-01-01 and 9999-12-31 (the dates Python holds).
_DAY_MIN, _DAY_MAX = -719_162, 2_932_896

#: The duration string grammar (``duration`` inputs), shared with the batch side. Groups:
#: sign, days, ``T``, hours, minutes, seconds, fraction. At least one part must be present and
#: a ``T`` must be followed by one (checked by :func:`parse_duration`, not by the pattern, which
#: Rust's ``regex`` must read too: no lookaheads).
DURATION_PATTERN = (
    r"(-)?P(?:([0-9]+)D)?"
    r"(?:(T)(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)(?:\.([0-9]{1,9}))?S)?)?"
)
#: Human-readable form of the accepted duration strings, for messages and docs.
DURATION_FORMS = "ISO 8601 [-]P[nD][T[nH][nM][n[.f]S]], e.g. PT90S, -PT0.5S, P1DT2H30M"

_DURATION_RE = re.compile(DURATION_PATTERN)
_CALENDAR_RE = re.compile(r"-?P[0-9.YMWD]*[YMW][0-9.YMWD]*(?:T.*)?")  # for the message only
_NOT_A_DATE = "only a datetime (or its text) at exactly midnight without a zone is read as a date"


def mismatch_reason(kind: str, value: object) -> str:
    """Why ``value`` is not a value of an input of ``kind`` (``""`` when the types say it all).

    One wording for the row evaluator and every batch source (:func:`wrong_type`)."""
    if isinstance(value, str):
        if kind in ("int", "float", "bool"):
            return "strings are not converted to numbers or bools"
        return ""
    is_bool = isinstance(value, bool) or _is_np_bool(value)
    if kind == "int":
        if is_bool:
            return "a bool is not an int"
        return "a float is not an int" if isinstance(value, float) or _is_numpy(value) else ""
    if kind == "float":
        return "a bool is not a number" if is_bool else ""
    if kind == "timestamp":
        return f"use a datetime, a date or a string {TIMESTAMP_FORMS}"
    if kind == "date":
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                return f"a datetime with a time zone is not a date; {_NOT_A_DATE}"
            return f"a datetime with a time of day is not a date; {_NOT_A_DATE}"
        if _is_numpy(value) and type(value).__name__ == "datetime64":
            return f"a datetime with a time of day is not a date; {_NOT_A_DATE}"
        return "use a date or a YYYY-MM-DD string"
    if kind == "duration":
        return f"use a datetime.timedelta or a string {DURATION_FORMS}"
    return ""


def wrong_type(expected: str, value: object, why: str | None = None) -> str:
    """``expected T, got <value> (<why>)``: the one message for a value that is not of its
    input's type, on the row side (after ``field `x`: ``) and on every batch source (after
    ``column `x`, row N: ``). ``why`` defaults to :func:`mismatch_reason`."""
    if why is None:
        why = mismatch_reason(expected.split("[", 1)[0].rstrip("?"), value)
    extra = f" ({why})" if why else ""
    return f"expected {expected}, got {describe_value(value)}{extra}"


def _bad(name: str, expected: str, value: object, why: str | None = None) -> InputError:
    if _is_missing(value):
        what = "missing or null" if value is None else f"null ({describe_value(value)})"
        return InputError(f"field `{name}`: {what}, but the input is declared "
                          f"`{expected}` (not nullable)", field=name, expected=expected)
    return InputError(f"field `{name}`: {wrong_type(expected, value, why)}",
                      field=name, expected=expected)


def _is_missing(v: object) -> bool:
    """None, a float NaN, ``pandas.NA``/``NaT``, ``numpy.datetime64('NaT')``."""
    if v is None:
        return True
    if isinstance(v, float):
        return v != v
    module = type(v).__module__
    if module.startswith("pandas"):
        return type(v).__name__ in ("NAType", "NaTType")
    if module == "numpy":
        try:
            return bool(v != v)  # NaN, NaT
        except (TypeError, ValueError):  # arrays: not a scalar missing value
            return False
    return False


def _missing(v: object, name: str, nullable: bool, expected: str) -> None:
    """Return (None) for a missing value of a nullable input, else raise."""
    if nullable:
        return None
    raise _bad(name, expected, v)


def with_every_missing_field(error: InputError, row: Mapping,
                             inputs: Mapping[str, Type]) -> InputError:
    """``error`` (the first bad field of a row) completed with every other non-nullable field
    the row lacks or holds null, so that one request names all it must fix.

    Called only on the error path of the generated evaluator: the happy path pays nothing."""
    others = [n for n, t in inputs.items() if not t.nullable and n != error.field
              and _is_missing(row.get(n))]
    if not others:
        return error
    listed = ", ".join(f"`{n}` ({inputs[n]})" for n in others)
    fields = [*([error.field] if error.field is not None else []), *others]
    return InputError(f"{error}; also missing or null: {listed}", field=error.field,
                      expected=error.expected, fields=fields)


def _t(kind: str, nullable: bool) -> str:
    """The declared type as written: ``int`` or ``int?``."""
    return kind + "?" if nullable else kind


def as_mapping(row: object) -> Mapping:
    """The row itself if it is a mapping, else ``InputError``."""
    if isinstance(row, Mapping):
        return row
    raise InputError(f"a row must be a dict of field values, got {type(row).__name__}")


def _is_numpy(v: object) -> bool:
    return type(v).__module__ == "numpy"


def _is_np_int(v: object) -> bool:
    # numpy integer scalars (numpy's timedelta64 also claims to be one: it is not)
    return (_is_numpy(v) and isinstance(v, numbers.Integral)
            and type(v).__name__ != "timedelta64")


def _is_np_bool(v: object) -> bool:
    return _is_numpy(v) and type(v).__name__ == "bool"


def in_int(v: object, name: str, nullable: bool) -> int | None:
    """An ``int`` input: Python and numpy ints within int64 (never a bool, never a float);
    ``None`` for a missing value of a nullable input. Raises ``InputError`` otherwise.
    """
    if isinstance(v, bool) or _is_np_bool(v):
        raise _bad(name, _t("int", nullable), v)
    if isinstance(v, int) or _is_np_int(v):
        i = int(v)  # type: ignore[call-overload]
        if not INT64_MIN <= i <= INT64_MAX:
            raise _bad(name, _t("int", nullable), v, "outside the int64 range")
        return i
    if _is_missing(v):
        _missing(v, name, nullable, "int")  # raises unless nullable
        return None
    raise _bad(name, _t("int", nullable), v)


def in_float(v: object, name: str, nullable: bool) -> float | None:
    """A ``float`` input: Python and numpy floats, or ints (rounded to the nearest float);
    ``None`` for a missing value or NaN of a nullable input. Raises ``InputError`` for a bool,
    an int too large for a float, a missing value of a non-nullable input and anything else.
    """
    if isinstance(v, bool) or _is_np_bool(v):
        raise _bad(name, _t("float", nullable), v)
    if isinstance(v, float) or (_is_numpy(v) and isinstance(v, numbers.Real)
                                and not isinstance(v, numbers.Integral)):
        f = float(v)
    elif isinstance(v, int) or _is_np_int(v):
        try:
            f = float(int(v))  # type: ignore[call-overload]
        except OverflowError:
            raise _bad(name, _t("float", nullable), v, "too large for a float") from None
    elif _is_missing(v):
        _missing(v, name, nullable, "float")  # raises unless nullable
        return None
    else:
        raise _bad(name, _t("float", nullable), v)
    if f != f:  # NaN is null (SPEC 4.4)
        _missing(v, name, nullable, "float")  # raises unless nullable
        return None
    return f


def in_str(v: object, name: str, nullable: bool) -> str | None:
    """A ``string`` input: a ``str`` (subclasses read as plain ``str``) that is valid Unicode;
    ``None`` for a missing value of a nullable input. Raises ``InputError`` otherwise (a lone
    surrogate included).
    """
    if not isinstance(v, str):
        if _is_missing(v):
            _missing(v, name, nullable, "string")  # raises unless nullable
            return None
        raise _bad(name, _t("string", nullable), v)
    s = str.__str__(v)
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(name, _t("string", nullable), v,
                       "not valid Unicode: lone surrogate") from None
    return s


def in_bool(v: object, name: str, nullable: bool) -> bool | None:
    """A ``bool`` input: ``bool`` or ``numpy.bool_``; ``None`` for a missing value of a nullable
    input. Raises ``InputError`` otherwise (ints are not bools).
    """
    if isinstance(v, bool):
        return v
    if _is_np_bool(v):
        return bool(v)
    if _is_missing(v):
        _missing(v, name, nullable, "bool")  # raises unless nullable
        return None
    raise _bad(name, _t("bool", nullable), v)


def timestamp_text_problem(s: str) -> str:
    """Why a string is not an accepted timestamp (for the error message, both backends)."""
    m = TS_RE.fullmatch(s)
    if m is None:
        return f"not a timestamp; use {TIMESTAMP_FORMS}"
    y, mo, d, hh, mi, ss, _frac, _z, sign, oh, om = m.groups()
    if int(y) == 0:
        return "outside the years 1..9999"
    try:
        dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    except ValueError:
        return "not a timestamp: no such calendar date or time"
    if sign and (int(oh) > 23 or int(om or 0) > 59):
        return "not a timestamp: a UTC offset is at most +-23:59"
    return "outside the years 1..9999 in UTC"


def date_text_problem(s: str) -> str:
    """Why a string is not an accepted date (for the error message, both backends)."""
    m = TS_RE.fullmatch(s)
    if m is None:
        return "not a date; use YYYY-MM-DD"
    why = time_part(m)
    if why:
        return f"{why}; {_NOT_A_DATE}"
    return "outside the years 1..9999" if int(m[1]) == 0 else "not a date: no such calendar date"


UTC_ZONES: tuple[dt.tzinfo, ...] = (dt.UTC,)
try:  # Polars and pandas hand out ZoneInfo("UTC"); it is UTC too.
    import zoneinfo

    UTC_ZONES = (dt.UTC, zoneinfo.ZoneInfo("UTC"))
except Exception:  # pragma: no cover - no tz database
    pass


def in_timestamp(v: object, name: str, nullable: bool) -> dt.datetime | None:
    """Any accepted timestamp value -> a naive datetime holding the UTC wall clock."""
    if type(v) is dt.datetime:
        tz = v.tzinfo
        if tz is None:
            return v
        if tz in UTC_ZONES:  # exact datetime arithmetic: 4-8x faster than replace(tzinfo=None)
            return _EPOCH_NAIVE + (v - _EPOCH)
    us = timestamp_us(v, name, nullable)
    return None if us is None else _EPOCH_NAIVE + dt.timedelta(microseconds=us)


def timestamp_us(v: object, name: str, nullable: bool) -> int | None:
    """datetime (naive = UTC, aware converted), date, ISO-8601 string -> int microseconds."""
    if isinstance(v, str):
        us = parse_timestamp(v)
        if us is None:
            raise _bad(name, _t("timestamp", nullable), v, timestamp_text_problem(v))
        return us
    if _is_missing(v):
        _missing(v, name, nullable, "timestamp")  # raises unless nullable
        return None
    if isinstance(v, dt.datetime):
        if type(v).__module__.startswith("pandas"):
            return _pandas_timestamp(v, name)
        if v.tzinfo is None or v.tzinfo.utcoffset(v) is None:
            return (v - _EPOCH_NAIVE) // _US
        us = (v - _EPOCH) // _US  # an aware datetime's UTC instant may leave years 1..9999
        if not TS_MIN_US <= us <= TS_MAX_US:
            raise _bad(name, _t("timestamp", nullable), v, "outside the years 1..9999 in UTC")
        return us
    if isinstance(v, dt.date):
        return (v - _EPOCH_DATE).days * 86_400_000_000
    if _is_numpy(v) and type(v).__name__ == "datetime64":
        try:
            us = int(v.astype("datetime64[us]").astype("int64"))  # type: ignore[attr-defined]
        except (TypeError, ValueError, OverflowError):
            us = TS_MAX_US + 1
        if not TS_MIN_US <= us <= TS_MAX_US:  # floored to µs above; years 1..9999 only
            raise _bad(name, _t("timestamp", nullable), v, "outside the years 1..9999")
        return us
    raise _bad(name, _t("timestamp", nullable), v)


def _pandas_timestamp(v: dt.datetime, name: str) -> int:
    # pandas Timestamps carry nanoseconds: floor them to µs, as the batch side does. ``value``
    # is nanoseconds since the epoch, UTC for an aware Timestamp, the wall clock for a naive one.
    try:
        return int(v.as_unit("ns").value) // 1000  # type: ignore[attr-defined]
    except (AttributeError, OverflowError, ValueError):  # outside the ns range: no ns part
        naive = v.replace(tzinfo=None) if v.tzinfo is None else v
        return (dt.datetime.__sub__(naive, _EPOCH_NAIVE if v.tzinfo is None else _EPOCH)
                // _US)


def in_date(v: object, name: str, nullable: bool) -> dt.date | None:
    """A date, a ``YYYY-MM-DD`` string, or a naive datetime at exactly midnight -> a date.

    The batch side decides a Datetime column alike (:func:`featuredsl.data.inputs.widen`)."""
    if isinstance(v, str):
        days = parse_date(v)
        if days is None:
            raise _bad(name, _t("date", nullable), v, date_text_problem(v))
        return _EPOCH_DATE + dt.timedelta(days=days)
    if isinstance(v, dt.datetime):
        if _is_missing(v):  # pandas.NaT is a datetime
            _missing(v, name, nullable, "date")  # raises unless nullable
            return None
        if v.tzinfo is None and v.time() == _MIDNIGHT and not getattr(v, "nanosecond", 0):
            try:
                return dt.date(v.year, v.month, v.day)  # (a pandas Timestamp's own date())
            except ValueError:
                raise _bad(name, _t("date", nullable), v, "outside the years 1..9999") from None
        raise _bad(name, _t("date", nullable), v)
    if isinstance(v, dt.date):
        return v
    if _is_missing(v):
        _missing(v, name, nullable, "date")  # raises unless nullable
        return None
    if _is_numpy(v) and type(v).__name__ == "datetime64":
        day = v.astype("datetime64[D]")  # type: ignore[attr-defined]
        if day != v:
            raise _bad(name, _t("date", nullable), v)
        days = int(day.astype("int64"))
        if not _DAY_MIN <= days <= _DAY_MAX:
            raise _bad(name, _t("date", nullable), v, "outside the years 1..9999")
        return _EPOCH_DATE + dt.timedelta(days=days)
    raise _bad(name, _t("date", nullable), v)


def parse_duration(s: str) -> int | None:
    """An ISO-8601 duration string of the accepted forms (:data:`DURATION_PATTERN`) as µs,
    floored, or ``None`` (not of the forms, or outside int64 microseconds)."""
    m = _DURATION_RE.fullmatch(s)
    if m is None:
        return None
    sign, d, t, h, mi, sec, frac = m.groups()
    if (d, h, mi, sec) == (None, None, None, None) or (t and (h, mi, sec) == (None, None, None)):
        return None
    seconds = int(d or 0) * 86_400 + int(h or 0) * 3_600 + int(mi or 0) * 60 + int(sec or 0)
    ns = seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0"))
    us = (-ns if sign else ns) // 1000
    return us if INT64_MIN <= us <= INT64_MAX else None


def duration_text_problem(s: str) -> str:
    """Why a string is not an accepted duration (for the error message, both backends)."""
    m = _DURATION_RE.fullmatch(s)
    if m is None and _CALENDAR_RE.fullmatch(s):
        return f"not a fixed duration (years, months, weeks); use {DURATION_FORMS}"
    if m is None or not any(m.group(i) for i in (2, 4, 5, 6)):
        return f"not a duration; use {DURATION_FORMS}"
    if m.group(3) and not any(m.group(i) for i in (4, 5, 6)):
        return f"not a duration: no hours, minutes or seconds after T; use {DURATION_FORMS}"
    return "outside the int64 microsecond range"


def in_duration(v: object, name: str, nullable: bool) -> int | None:
    """A ``duration`` input as int64 microseconds: a ``timedelta`` or ``numpy.timedelta64``
    (nanoseconds floored to µs); ``None`` for a missing value (NaT included) of a nullable
    input. Raises ``InputError`` outside the int64 µs range, for a month/year timedelta64 and
    for anything else.
    """
    if isinstance(v, str):
        us = parse_duration(v)
        if us is None:
            raise _bad(name, _t("duration", nullable), v, duration_text_problem(v))
        return us
    if isinstance(v, dt.timedelta):
        if type(v).__module__.startswith("pandas"):
            try:
                return int(v.as_unit("ns").value) // 1000  # type: ignore[attr-defined]
            except (AttributeError, OverflowError, ValueError):
                pass
        us = v // _US
        if not INT64_MIN <= us <= INT64_MAX:  # a Duration column holds int64 microseconds
            raise _bad(name, _t("duration", nullable), v, "outside the int64 microsecond range")
        return us
    if _is_numpy(v) and type(v).__name__ == "timedelta64":
        if v != v:  # NaT
            _missing(v, name, nullable, "duration")  # raises unless nullable
            return None
        try:  # floors to µs, like the batch cast
            return int(v.astype("timedelta64[us]").astype("int64"))  # type: ignore[attr-defined]
        except (TypeError, ValueError, OverflowError):  # months/years: no fixed length
            raise _bad(name, _t("duration", nullable), v, "not a fixed duration") from None
    if _is_missing(v):
        _missing(v, name, nullable, "duration")  # raises unless nullable
        return None
    raise _bad(name, _t("duration", nullable), v)


def in_list(v: object, name: str, nullable: bool, elem: Callable, elem_nullable: bool,
            expected: str) -> list | None:
    """A ``list[T]`` input: a list, tuple or 1-D numpy array, each element converted by ``elem``
    (named ``name[i]`` in errors); ``None`` for a missing value of a nullable input. Raises
    ``InputError`` otherwise.
    """
    if _is_numpy(v) and type(v).__name__ == "ndarray":
        if getattr(v, "ndim", 0) != 1:
            raise _bad(name, expected, v, "a list must be one-dimensional")
        v = list(cast("Iterable[object]", v))  # numpy scalars: the element converters accept them
    if not isinstance(v, list | tuple):
        if _is_missing(v):
            _missing(v, name, nullable, expected)  # raises unless nullable
            return None
        raise _bad(name, expected, v)
    try:
        return [elem(x, f"{name}[{i}]", elem_nullable) for i, x in enumerate(v)]
    except InputError as e:
        raise _element_error(e, name, expected) from None


def _element_error(e: InputError, name: str, expected: str) -> InputError:
    """An element's error (raised for the field ``xs[1]``) as the list field's:
    ``field `xs`, element `xs[1]`: ...``, with ``.field`` the list's and ``.element`` set (the
    batch side names a bad element alike)."""
    element = e.element or e.field or name
    head = f"field `{e.field}`" + (f", element `{e.element}`" if e.element else "") + ": "
    text = str(e)
    detail = text[len(head):] if text.startswith(head) else text
    return InputError(f"field `{name}`, element `{element}`: {detail}", field=name,
                      expected=expected, element=element)


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


def first_wrong(value: object, t: Type, path: str = "") -> tuple[str, object, Type] | None:
    """The first part of ``value`` the row evaluator rejects as not of type ``t``: ``(path,
    part, its type)``, the path naming a list element as ``[i]`` (``""``: the value itself);
    ``None`` if there is none. A null anywhere is not wrong here (nullability is another
    check). The batch side names the same part (its ``type_error``, the NDJSON scan)."""
    if _is_missing(value):
        return None
    if t.kind == "list" and t.elem is not None and isinstance(value, list | tuple):
        for j, x in enumerate(value):
            found = first_wrong(x, t.elem, f"{path}[{j}]")
            if found is not None:
                return found
        return None
    try:
        converter(t)(value, "", True)
    except InputError:
        return path, value, t
    return None


# ------------------------------------------------------------------------------------ output


def out_timestamp(t: dt.datetime | None) -> dt.datetime | None:
    """A timestamp output: the internal naive UTC wall clock as an aware UTC ``datetime``."""
    return None if t is None else t.replace(tzinfo=dt.UTC)


def out_duration(us: int | None) -> dt.timedelta | None:
    """A duration output: int64 microseconds as a ``timedelta``."""
    return None if us is None else dt.timedelta(microseconds=us)


def output_converter(t: Type) -> Callable | None:
    """How to turn an internal value of type ``t`` into the user-facing Python value."""
    if t.kind == "timestamp":
        return out_timestamp
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
    """Whether ``x`` is neither infinite nor NaN (``math.isfinite``)."""
    return math.isfinite(x)
