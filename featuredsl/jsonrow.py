"""The JSON encoding of rows and feature values: ``featuredsl eval``'s, ``featuredsl serve``'s.

Public API: :func:`encode_row` (a feature dict, as the row evaluator returns it, to JSON text)
and :func:`decode_row` (JSON text or an already parsed dict to a row the evaluator takes), plus
:func:`to_json_value` and :func:`dumps` for single values.

==========  ===================================================================================
timestamp   ISO-8601 string in UTC with microseconds and ``Z``:
            ``"2024-07-06T22:15:00.000000Z"``. Input: any timestamp string the row backend
            accepts (``Z``, ``+00:00``, ``+HH:MM``, no offset = UTC; docs/cli.md)
date        ``"YYYY-MM-DD"``
duration    integer microseconds (input: an integer is microseconds; an ISO-8601 duration
            string such as ``"PT90S"`` is accepted too)
float       shortest round-trip digits (``0.1``, ``-0.0``, ``5e-324``); +-inf and NaN as the
            tokens ``Infinity`` / ``-Infinity`` / ``NaN`` (Python's ``json`` reads and writes
            them; strict JSON has none). featuredsl outputs never hold NaN (NaN is null,
            SPEC 4.4); a NaN input is null.
int         JSON integer (int64; no precision is lost: Python's ``json`` reads big integers
            exactly)
list        JSON array, elements by these rules
null        ``null``
==========  ===================================================================================

Why the standard library's ``json`` and not orjson: orjson writes +-inf and NaN as ``null``
(it would need a second pass over every float) and refuses integers beyond 64 bits only on
output; on a featuredsl row (about 10 values) the encoding is a few microseconds either way,
far below the HTTP stack's cost (docs/serving.md has the measurement).
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from featuredsl.errors import InputError

if TYPE_CHECKING:
    from featuredsl.api import Spec
    from featuredsl.types import Type

__all__ = ["decode_row", "decode_rows", "dumps", "encode_row", "to_json_value"]

_UTC = dt.UTC


def to_json_value(v: object) -> object:
    """A feature or input value as a JSON-ready value (see the module doc): timestamps as
    ISO-8601 ``Z`` strings, dates ISO, durations integer microseconds, lists element-wise."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_UTC).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
    if isinstance(v, list | tuple):
        return [to_json_value(x) for x in v]
    return v


def dumps(obj: object, **kw: Any) -> str:
    """JSON text, non-ASCII kept as is, +-inf and NaN as ``Infinity``/``-Infinity``/``NaN``."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=True, **kw)


_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode
_PLAIN = frozenset({int, float, str, bool, type(None)})


def encode_row(outputs: Mapping[str, object]) -> str:
    """A feature dict (what ``spec.row_evaluator()`` returns) as one compact line of JSON, in
    the key order given: exactly what ``featuredsl eval`` prints for the row."""
    plain = _PLAIN
    for v in outputs.values():
        if type(v) not in plain:
            # (a row of numbers, strings and bools, the common case, is encoded as it is)
            return _ENCODE({k: to_json_value(v) for k, v in outputs.items()})
    return _ENCODE(outputs if type(outputs) is dict else dict(outputs))


def decode_row(text_or_dict: str | bytes | Mapping[str, object], spec: Spec,
               where: str | None = None, *, check: bool = True) -> dict[str, object]:
    """A row in the JSON encoding as a dict the row evaluator takes.

    ``text_or_dict`` is JSON text (an object) or a dict already parsed from JSON. The values
    of the spec's serving inputs are converted from their JSON forms: timestamp strings to
    aware UTC ``datetime``, date strings to ``date``, integer microseconds to ``timedelta``
    (also inside lists), and every present value is checked against its declared type. Other
    keys pass through untouched; a missing or null non-nullable field is left for the
    evaluator to report (it names every such field at once).

    Raises :class:`~featuredsl.errors.InputError` for text that is not JSON, a value that is
    not an object, a key given twice, or a value of the wrong type, naming the field and the
    expected type, prefixed with ``where`` (e.g. ``line 3``, ``row 2``) when given.

    ``check=False`` is the serving fast path (``featuredsl eval`` and ``serve`` use it): only
    what the evaluator cannot read as it is gets converted (integer microseconds of duration
    fields to ``timedelta``) and the evaluator checks every value itself, with the same
    messages; strings of timestamps and dates are passed on as text (the evaluator parses them
    by the same grammar).
    """
    pre = f"{where}: " if where else ""
    if isinstance(text_or_dict, str | bytes | bytearray):
        try:
            obj: object = json.loads(text_or_dict, object_pairs_hook=_unique_keys)
        except (json.JSONDecodeError, ValueError) as exc:
            raise InputError(f"{pre}not valid JSON: {exc}") from None
        except RecursionError:
            raise InputError(f"{pre}not valid JSON: nested too deeply") from None
    else:
        obj = text_or_dict
    if not isinstance(obj, Mapping):
        raise InputError(f"{pre}expected a JSON object {{\"field\": value, ...}}, got "
                         f"{_json_kind(obj)}")
    row = dict(obj)
    inputs, durations = _serving_inputs(spec)
    try:
        if check:
            for name, t in inputs.items():
                v = row.get(name)
                if v is not None:
                    row[name] = _decode_value(v, t, name)
        else:
            for name, t in durations:
                v = row.get(name)
                if v is not None and (type(v) is int or type(v) is list):
                    row[name] = _decode_value(v, t, name)
    except InputError as exc:
        raise _prefixed(exc, pre, row, inputs) from None
    return row


def decode_rows(text: str | bytes, spec: Spec, *, check: bool = True
                ) -> tuple[list[dict[str, object]], bool]:
    """A request body: one JSON object, or a JSON list of objects. Returns the decoded rows
    and whether the body was a list. Errors name the row index within a list (``row 2: ...``).
    ``check`` as for :func:`decode_row`.
    """
    try:
        obj = json.loads(text, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, ValueError) as exc:
        raise InputError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply") from None
    if isinstance(obj, list):
        return [decode_row(r, spec, f"row {i}", check=check) if isinstance(r, dict)
                else _not_object(r, i) for i, r in enumerate(obj)], True
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object {\"field\": value, ...} or a list of them, "
                         f"got {_json_kind(obj)}")
    return [decode_row(obj, spec, check=check)], False


def _not_object(v: object, i: int) -> dict[str, object]:
    raise InputError(f"row {i}: expected a JSON object {{\"field\": value, ...}}, got "
                     f"{_json_kind(v)}", row=i)


_Plan = tuple[Mapping[str, "Type"], list[tuple[str, "Type"]]]
_SCHEMAS: weakref.WeakKeyDictionary[Any, _Plan] = weakref.WeakKeyDictionary()


def _serving_inputs(spec: Spec) -> _Plan:
    """The serving inputs, and those holding durations (the fast path converts only them)."""
    # computed once per spec (a spec is immutable): the schema walks the program
    try:
        return _SCHEMAS[spec]
    except (KeyError, TypeError):
        pass
    schema = spec.serving_schema() if hasattr(spec, "serving_schema") else spec.program.inputs
    durations = [(n, t) for n, t in schema.items() if t.kind == "duration"
                 or (t.kind == "list" and t.elem is not None and t.elem.kind == "duration")]
    plan = (schema, durations)
    try:
        _SCHEMAS[spec] = plan
    except TypeError:  # not weak-referenceable: recomputed next time
        pass
    return plan


def _decode_value(v: object, t: Type, name: str) -> object:
    # The row backend's own converters check the value: the same messages as the evaluator
    # (field, expected type, why), and the JSON forms become the values it takes directly.
    # Imported here: the row backend brings Polars, and `import featuredsl.jsonrow` (every
    # command's start-up) should not.
    from featuredsl.backends import row_input as ri

    kind = t.kind
    if kind == "timestamp":
        if type(v) is str:
            us = ri.timestamp_us(v, name, t.nullable)
            return None if us is None else _EPOCH + dt.timedelta(microseconds=us)
        ri.in_timestamp(v, name, t.nullable)  # raises for the wrong JSON type
        return v
    if kind == "date":
        return ri.in_date(v, name, t.nullable)
    if kind == "duration":
        if type(v) is int:
            try:
                td = dt.timedelta(microseconds=v)
            except OverflowError:
                raise InputError(f"field `{name}`: {v} microseconds is outside the duration "
                                 "range", field=name, expected=str(t)) from None
            ri.in_duration(td, name, t.nullable)  # the int64 range, in the evaluator's words
            return td
        us = ri.in_duration(v, name, t.nullable)
        return None if us is None else dt.timedelta(microseconds=us)
    if kind == "list" and t.elem is not None and isinstance(v, list):
        elem = t.elem
        if elem.kind == "duration":
            # JSON integers are microseconds (a Python int is not a duration to the evaluator)
            v = [_decode_value(x, elem, name) if type(x) is int else x for x in v]
        ri.converter(t)(v, name, t.nullable)  # the evaluator's own element messages
        if elem.kind in ("timestamp", "date", "duration"):
            return [None if x is None else _decode_value(x, elem, name) for x in v]
        return v
    ri.converter(t)(v, name, t.nullable)
    return v


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)


def _prefixed(exc: InputError, pre: str, row: Mapping, inputs: Mapping[str, Type]) -> InputError:
    from featuredsl.backends import row_input as ri

    exc = ri.with_every_missing_field(exc, row, inputs)
    if not pre:
        return exc
    return InputError(pre + str(exc), field=exc.field, expected=exc.expected,
                      fields=exc.fields, element=exc.element, row=exc.row)


def _json_kind(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"field `{k}` appears twice")
        out[k] = v
    return out
