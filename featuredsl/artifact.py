"""The fitted artifact (SPEC section 7): one deterministic JSON document, loaded safely.

``save(fitted, path)`` writes a :class:`~featuredsl.api.FittedSpec` as a single UTF-8 JSON
document; ``load(path)`` reads it back, checks everything and recompiles the spec source with
the current compiler. There is no pickle and no code in an artifact: it is data a server can
load safely. The layout, the encoding and what ``load`` checks are documented in
``docs/artifact.md``; in short::

    {
      "featuredsl_version": "0.1.0",
      "fit_warnings": [{"kind": ..., "message": ..., "subject": ...}, ...],
      "format": "featuredsl-artifact",
      "format_version": 2,              # 1 (no grouped tables, no monitor bins) still reads
      "inputs": [{"name": "amount", "type": "float?"}, ...],      # declaration order
      "integrity": {"sha256": "<hex>"},
      "outputs": [{"name": "z_amount", "type": "float?"}, ...],   # declaration order
      "profile": {...},
      "spec": {"sha256": "<hex of the UTF-8 source>", "source": "input { ... }"},
      "stats": {"m": {"type": "float?", "value": 12.5}, ...}
    }

Encoding: keys sorted, two-space indent, ``", "``/``": "`` separators, non-ASCII text written
as is (UTF-8), a newline at the end. Finite floats are written with Python's ``repr`` (the
shortest text that reads back to the same double: ``-0.0``, ``5e-324`` and 17-digit values
round-trip exactly). JSON has no infinities, so ``inf``/``-inf`` are written as the object
``{"$float": "inf"}`` / ``{"$float": "-inf"}`` (NaN never occurs and is refused). Statistic
values of list types are JSON arrays on disk and tuples in memory.

``integrity.sha256`` is the SHA-256 of the *canonical* serialization of every other field:
``json.dumps(doc_without_integrity, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from featuredsl import ir
from featuredsl.checker import check_source
from featuredsl.errors import ArtifactError, Diagnostic, SpecError
from featuredsl.fit.fitting import FitResult, FitWarning
from featuredsl.fit.rules import profile_problem, statistic_problem
from featuredsl.types import Type


@dataclass(frozen=True, slots=True)
class Contents:
    """What an artifact holds, checked: the spec (its source, recompiled into a program with
    its diagnostics) and the fit result (statistics, profile, warnings)."""

    source: str
    file: str
    program: ir.Program
    diagnostics: list[Diagnostic]
    fit: FitResult

#: The value of the ``format`` field.
FORMAT = "featuredsl-artifact"
#: The format version this featuredsl writes.
FORMAT_VERSION = 2
#: The format versions this featuredsl reads.
READABLE_VERSIONS = (1, 2)

#: Top-level fields and the JSON type each must have.
_FIELDS: dict[str, type] = {
    "featuredsl_version": str,
    "fit_warnings": list,
    "format": str,
    "format_version": int,
    "inputs": list,
    "integrity": dict,
    "outputs": list,
    "profile": dict,
    "spec": dict,
    "stats": dict,
}

_FLOAT_TAG = "$float"
_NONFINITE = {"inf": math.inf, "-inf": -math.inf}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer",
               float: "a number", bool: "a boolean"}


# ---------------------------------------------------------------------------------- encoding
def _encode_float(x: float) -> object:
    if math.isnan(x):
        raise ValueError("NaN cannot be stored (featuredsl never produces NaN)")
    if math.isinf(x):
        return {_FLOAT_TAG: "inf" if x > 0 else "-inf"}
    return x


def _to_json(value: object, where: str) -> object:
    """A JSON-ready copy of a profile value: tuples become arrays, infinities are tagged.

    Iterative (no recursion limit) and strict: only str keys, only JSON scalars.
    """
    root: list[object] = [None]
    # slot: an index into a list parent, a key of a dict one
    stack: list[tuple[object, str, list | dict, Any]] = [(value, where, root, 0)]
    while stack:
        v, at, parent, slot = stack.pop()
        if v is None or isinstance(v, (bool, str)):
            out: object = v
        elif isinstance(v, int):
            out = int(v)
        elif isinstance(v, float):
            try:
                out = _encode_float(float(v))
            except ValueError as exc:
                raise ArtifactError(f"cannot save: {at} is NaN: {exc}") from None
        elif isinstance(v, (list, tuple)):
            out = [None] * len(v)
            for i, item in enumerate(v):
                stack.append((item, f"{at}[{i}]", out, i))
        elif isinstance(v, Mapping):
            if _FLOAT_TAG in v:
                raise ArtifactError(f"cannot save: {at} uses the reserved key {_FLOAT_TAG!r}")
            for k in v:
                if not isinstance(k, str):
                    raise ArtifactError(
                        f"cannot save: {at} has a key {k!r} of type {type(k).__name__}: "
                        "JSON object keys must be strings")
            out = dict.fromkeys(v)
            for k, item in v.items():
                stack.append((item, f"{at}.{k}", out, k))
        else:
            raise ArtifactError(
                f"cannot save: {at} holds a {type(v).__name__} ({v!r:.60}), which is not a "
                "JSON value (use numbers, strings, booleans, null, lists and string-keyed "
                "objects)")
        parent[slot] = out
    return root[0]


def _from_json(value: object) -> object:
    """Undo :func:`_to_json` for the profile: tagged infinities back to floats (iterative)."""
    root: list[object] = [None]
    stack: list[tuple[object, list | dict, Any]] = [(value, root, 0)]  # as in _to_json
    while stack:
        v, parent, slot = stack.pop()
        if isinstance(v, dict):
            if len(v) == 1 and _FLOAT_TAG in v:
                out: object = _decode_float_tag(v)
            else:
                out = dict.fromkeys(v)
                for k, item in v.items():
                    stack.append((item, out, k))
        elif isinstance(v, list):
            out = [None] * len(v)
            for i, item in enumerate(v):
                stack.append((item, out, i))
        else:
            out = v
        parent[slot] = out
    return root[0]


def _decode_float_tag(v: dict) -> float:
    tag = v.get(_FLOAT_TAG)
    if len(v) != 1 or tag not in _NONFINITE:
        raise ValueError(f"{json.dumps(v, ensure_ascii=False)[:60]} is not a valid float "
                         'encoding ({"$float": "inf"} or {"$float": "-inf"})')
    return _NONFINITE[tag]


def canonical_bytes(doc: Mapping[str, object]) -> bytes:
    """The canonical serialization the integrity hash and the signature cover (``integrity``
    and ``signature`` themselves excluded)."""
    body = {k: v for k, v in doc.items() if k not in ("integrity", "signature")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def integrity_digest(doc: Mapping[str, object]) -> str:
    """The hex SHA-256 stored in ``integrity.sha256`` for a document."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def _key_bytes(key: object, what: str) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray) or not key:
        raise ArtifactError(f"{what} must be a non-empty bytes or str key, got "
                            f"{type(key).__name__}")
    return bytes(key)


def signature_digest(doc: Mapping[str, object], key: bytes | str) -> str:
    """The hex HMAC-SHA256 of a document's canonical bytes under ``key`` (``signature``)."""
    return hmac.new(_key_bytes(key, "the signing key"), canonical_bytes(doc),
                    hashlib.sha256).hexdigest()


def dumps(doc: Mapping[str, object]) -> bytes:
    """The exact bytes ``save`` writes for a document (deterministic)."""
    text = json.dumps(doc, sort_keys=True, indent=2, separators=(",", ": "),
                      ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- stat values
def _describe(value: object) -> str:
    if isinstance(value, dict) and len(value) == 1 and _FLOAT_TAG in value:
        return f"float {value[_FLOAT_TAG]}"
    text = json.dumps(value, ensure_ascii=False) if _is_jsonish(value) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            tuple: "array", dict: "object", type(None): "null"}.get(type(value),
                                                                    type(value).__name__)
    return f"{kind} {text}"


def _is_jsonish(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _check_table(value: object, stat: ir.Stat, *, stored: bool) -> tuple[object, str | None]:
    """A grouped statistic's table, to JSON (``stored=False``) or from it: an object of
    ``keys`` (one array of typed keys per group), ``values`` and ``rows`` (docs/artifact.md),
    checked: key types, no duplicate keys, at most ``top`` groups, each with at least
    ``min_count`` rows, most rows first and ties by key ascending, values of the type."""
    agg = stat.expr
    if stored:
        if not isinstance(value, dict) or set(value) != {"keys", "values", "rows"}:
            return (None, "should be a grouped table: an object with `keys`, `values` and "
                          f"`rows`, got {_describe(value)}")
        keys, values, rows = value["keys"], value["values"], value["rows"]
        if not (isinstance(keys, list) and isinstance(values, list) and isinstance(rows, list)
                and len(keys) == len(values) == len(rows)):
            return (None, "is a grouped table whose `keys`, `values` and `rows` are not arrays "
                          "of one length")
    else:
        if not isinstance(value, ir.GroupTable):
            return (None, f"should be a grouped table, got {_describe(value)}")
        keys, values, rows = list(value.keys), list(value.values), list(value.rows)
    out_keys, out_values = [], []
    for i, (k, v, r) in enumerate(zip(keys, values, rows, strict=True)):
        if not isinstance(k, list | tuple) or len(k) != len(agg.by):
            return (None, f"group {i}: the key should hold {len(agg.by)} value(s), got "
                          f"{_describe(k)}")
        conv = []
        for b, part in zip(agg.by, k, strict=True):
            c, err = _check_value(part, b.type.base, stored=stored)
            if err is not None:
                return (None, f"group {i}: key {err}")
            if isinstance(c, float) and (c == 0.0 and math.copysign(1.0, c) < 0):
                return (None, f"group {i}: key is -0.0 (fit groups it with 0.0)")
            conv.append(c)
        cv, err = _check_value(v, agg.type, stored=stored)
        if err is not None:
            return (None, f"group {i}: value {err}")
        if type(r) is not int or r < 1:
            return (None, f"group {i}: rows should be a positive int, got {_describe(r)}")
        out_keys.append(tuple(conv) if stored else list(conv))
        out_values.append(cv)
    plain: list[Any] = ([tuple(_from_json(list(k)))  # type: ignore[arg-type]
                       for k in out_keys] if not stored else out_keys)
    if len(set(plain)) != len(plain):
        return (None, "has duplicate group keys")
    order = [(-r, k) for r, k in zip(rows, plain, strict=True)]
    if order != sorted(order):
        return (None, "is not ordered by rows descending, ties by key ascending")
    top = agg.option("top")
    if top is not None and len(plain) > int(top):  # type: ignore[call-overload]
        return (None, f"holds {len(plain)} groups, more than top={top}")
    min_count = int(agg.option("min_count", 1))  # type: ignore[call-overload]
    if any(r < min_count for r in rows):
        return (None, f"holds a group with fewer than min_count={min_count} rows")
    if stored:
        return (ir.GroupTable(tuple(plain), tuple(out_values), tuple(rows)), None)
    return ({"keys": out_keys, "values": out_values, "rows": rows}, None)


def _check_value(value: object, t: Type, *, stored: bool) -> tuple[object, str | None]:
    """Check a statistic value against its declared type.

    ``stored``: ``value`` is the on-disk JSON form (arrays, tagged infinities), to be decoded;
    otherwise it is the in-memory form (tuples or lists, plain floats), to be encoded.
    Returns ``(converted value, None)`` or ``(None, what is wrong)``.
    """
    if value is None:
        return (None, None) if t.nullable or t.kind == "null" else (
            None, f"is null but its type {t} is not nullable")
    kind = t.kind
    if kind == "float":
        if stored and isinstance(value, dict) and len(value) == 1 and _FLOAT_TAG in value:
            try:
                return (_decode_float_tag(value), None)
            except ValueError as exc:
                return (None, str(exc))
        if type(value) is float:
            if math.isnan(value):
                return (None, "is NaN (featuredsl never produces NaN)")
            if stored:
                return (value, None)
            return (_encode_float(value), None)
        return (None, f"should be a float, got {_describe(value)}")
    if kind == "int":
        if type(value) is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return (None, f"is {value}, outside the int64 range")
            return (value, None)
        return (None, f"should be an int, got {_describe(value)}")
    if kind == "string":
        if type(value) is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return (None, "is a string that is not valid Unicode (a lone surrogate)")
            return (value, None)
        return (None, f"should be a string, got {_describe(value)}")
    if kind == "bool":
        if type(value) is bool:
            return (value, None)
        return (None, f"should be a bool, got {_describe(value)}")
    if kind == "list":
        ok_types = (list,) if stored else (list, tuple)
        if not isinstance(value, ok_types):
            return (None, f"should be a list ({t}), got {_describe(value)}")
        assert t.elem is not None
        items = []
        for i, item in enumerate(value):
            conv, err = _check_value(item, t.elem, stored=stored)
            if err is not None:
                return (None, f"element {i} {err}")
            items.append(conv)
        return ((tuple(items) if stored else items), None)
    return (None, f"has type {t}, which an artifact cannot store")


# ------------------------------------------------------------------------------------ save
def _document(source: str, program: ir.Program, fit: FitResult) -> dict[str, object]:
    stats = dict(fit.stats)
    declared = program.stats
    missing = [n for n in declared if n not in stats]
    extra = [n for n in stats if n not in declared]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"`{n}`" for n in missing))
        if extra:
            parts.append("undeclared " + ", ".join(f"`{n}`" for n in extra))
        raise ArtifactError(f"cannot save: the fitted statistics do not match the spec: "
                            f"{'; '.join(parts)}")
    stats_doc: dict[str, object] = {}
    for name, stat in declared.items():
        t = stat.expr.type
        value, err = (_check_table(stats[name], stat, stored=False) if stat.expr.by
                      else _check_value(stats[name], t, stored=False))
        if err is not None:
            raise ArtifactError(f"cannot save: statistic `{name}` ({t}) {err}")
        stats_doc[name] = {"type": str(t), "value": value}
    profile = fit.profile
    if not isinstance(profile, Mapping):
        raise ArtifactError(f"cannot save: the profile is a {type(profile).__name__}, "
                            "not a dict")
    warnings = []
    for i, w in enumerate(fit.warnings):
        entry = {"kind": getattr(w, "kind", None), "subject": getattr(w, "subject", None),
                 "message": getattr(w, "message", None)}
        if not all(isinstance(v, str) for v in entry.values()):
            raise ArtifactError(f"cannot save: fit_warnings[{i}] is not a FitWarning "
                                "(kind, subject and message strings)")
        warnings.append(entry)
    from featuredsl import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "featuredsl_version": __version__,
        "spec": {"source": source, "sha256": _sha256_text(source)},
        "inputs": [{"name": n, "type": str(t)} for n, t in program.inputs.items()],
        "outputs": [{"name": f.name, "type": str(f.expr.type)} for f in program.features],
        "stats": stats_doc,
        "profile": _to_json(profile, "profile"),
        "fit_warnings": warnings,
    }


def artifact_digest(source: str, program: ir.Program, fit: FitResult) -> str:
    """``integrity.sha256`` of the artifact :func:`save` writes for this fit."""
    try:
        return integrity_digest(_document(source, program, fit))
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        raise ArtifactError(f"cannot hash the artifact: {exc}") from None


def save(source: str, program: ir.Program, fit: FitResult, path: str | os.PathLike[str],
         sign_key: bytes | str | None = None) -> None:
    """Write the spec ``source`` (checked as ``program``) and its ``fit`` to ``path`` as one
    deterministic JSON document, atomically.

    The document is written to a temporary file in the same directory and moved into place
    with ``os.replace``, so a reader never sees a half-written artifact. Saving the same fitted
    spec twice gives byte-identical files. Raises ``ArtifactError`` if the fitted values do not
    match the spec or cannot be stored, or if the file cannot be written.
    """
    try:
        doc = _document(source, program, fit)
        doc["integrity"] = {"sha256": integrity_digest(doc)}
        if sign_key is not None:
            doc["signature"] = {"hmac_sha256": signature_digest(doc, sign_key)}
        data = dumps(doc)
    except ArtifactError:
        raise
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        raise ArtifactError(f"cannot save: {exc}") from None
    _write_atomically(Path(path), data)


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _write_atomically(path: Path, data: bytes) -> None:
    target = path.resolve() if path.is_symlink() else path
    directory = target.parent
    try:
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=str(directory))
    except OSError as exc:
        raise ArtifactError(f"cannot save the artifact to {path}: {exc.strerror or exc}") \
            from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ArtifactError(f"cannot save the artifact to {path}: {exc.strerror or exc}") \
            from None


# ------------------------------------------------------------------------------------ load
def load(path: str | os.PathLike[str], verify_key: bytes | str | None = None) -> Contents:
    """Read an artifact written by ``save``, check it completely and return its contents
    (``featuredsl.load`` makes a ``FittedSpec`` of them).

    The spec source is recompiled with the current compiler (no pickle, no code in the
    artifact). Every problem raises ``ArtifactError`` with a message that names the file and
    says what is wrong; see ``docs/artifact.md`` for the list of checks.
    """
    try:
        where = os.fspath(path)
    except TypeError:
        raise ArtifactError(
            f"load() takes a path to an artifact, got {type(path).__name__}") from None
    try:
        return _load(Path(where), str(where), verify_key)
    except ArtifactError:
        raise
    except RecursionError:
        raise ArtifactError(f"{where}: the artifact is nested too deeply to be a featuredsl "
                            "artifact") from None
    except MemoryError:
        raise ArtifactError(f"{where}: the artifact is too large to load") from None
    except Exception as exc:  # never let a raw exception escape
        raise ArtifactError(f"{where}: cannot load the artifact: "
                            f"{type(exc).__name__}: {exc}") from exc


def _fail(where: str, message: str) -> ArtifactError:
    return ArtifactError(f"{where}: {message}")


def _read_text(p: Path, where: str) -> str:
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise _fail(where, "no such file: there is no artifact at this path") from None
    except IsADirectoryError:
        raise _fail(where, "is a directory, not an artifact file") from None
    except PermissionError:
        raise _fail(where, "cannot read the artifact: permission denied") from None
    except OSError as exc:
        if p.is_dir():
            raise _fail(where, "is a directory, not an artifact file") from None
        raise _fail(where, f"cannot read the artifact: {exc.strerror or exc}") from None
    if not raw.strip():
        raise _fail(where, "the artifact is empty" + (" (0 bytes)" if not raw else
                                                      " (only whitespace)"))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(where, f"not a featuredsl artifact: the file is not UTF-8 text (invalid "
                           f"byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON (artifacts encode infinities as "
                     '{"$float": "inf"})')


def _parse_float(text: str) -> float:
    x = float(text)
    if math.isinf(x):
        raise ValueError(f"the number {text[:40]} is out of the float range")
    return x


#: No value an artifact holds is an integer of more digits than this (int64 has 19).
_MAX_INT_DIGITS = 20


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits ({text[:12]}...): no value of a "
                         f"featuredsl artifact has more than {_MAX_INT_DIGITS}")
    return int(text)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _parse(text: str, where: str) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float,
                          parse_int=_parse_int, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        body = text.strip()
        truncated = (exc.pos >= len(body) or exc.msg.startswith("Unterminated string")
                     or (body.startswith("{") and not body.endswith("}")))
        what = ("not valid JSON: the document ends early, the file looks truncated"
                if truncated else "not valid JSON")
        raise _fail(where, f"{what} (line {exc.lineno}, column {exc.colno}: {exc.msg})") \
            from None
    except RecursionError:
        raise _fail(where, "not a featuredsl artifact: the JSON is nested too deeply") \
            from None
    except ValueError as exc:
        raise _fail(where, f"not a valid artifact: {exc}") from None


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _check_fields(doc: dict, expected: Mapping[str, type], what: str, where: str) -> None:
    """Every expected field present with its JSON type, and no other."""
    for name, typ in expected.items():
        if name not in doc:
            raise _fail(where, f"{what} is missing the field `{name}`")
        value = doc[name]
        if typ is object:
            ok = True
        elif typ is int:
            ok = type(value) is int
        else:
            ok = isinstance(value, typ) and not isinstance(value, bool)
        if not ok:
            raise _fail(where, f"{what}: field `{name}` should be {_JSON_NAMES[typ]}, "
                               f"got {_type_name(value)}")
    extra = sorted(k for k in doc if k not in expected)
    if extra:
        raise _fail(where, f"{what} has an unknown field `{extra[0]}`")


def _check_schema_list(doc: dict, field: str, where: str) -> list[tuple[str, str]]:
    pairs = []
    for i, entry in enumerate(doc[field]):
        if not isinstance(entry, dict):
            raise _fail(where, f"`{field}[{i}]` should be an object, got {_type_name(entry)}")
        _check_fields(entry, {"name": str, "type": str}, f"`{field}[{i}]`", where)
        pairs.append((entry["name"], entry["type"]))
    return pairs


def _load(p: Path, where: str, verify_key: bytes | str | None = None) -> Contents:
    from featuredsl import __version__

    doc = _parse(_read_text(p, where), where)
    if not isinstance(doc, dict):
        raise _fail(where, f"not a featuredsl artifact: the JSON document is "
                           f"{_type_name(doc)}, not an object")

    # -- what it is, and whether this featuredsl reads it
    if "format" not in doc:
        raise _fail(where, f"not a featuredsl artifact: the field `format` is missing "
                           f"(expected {FORMAT!r})")
    if doc["format"] != FORMAT:
        raise _fail(where, f"not a featuredsl artifact: `format` is "
                           f"{json.dumps(doc['format'], ensure_ascii=False)[:60]}, "
                           f"expected {FORMAT!r}")
    readable = ", ".join(str(v) for v in READABLE_VERSIONS)
    if "format_version" not in doc:
        raise _fail(where, "the artifact is missing the field `format_version`")
    version = doc["format_version"]
    if type(version) is not int:
        raise _fail(where, f"`format_version` should be an integer, got {_type_name(version)} "
                           f"{json.dumps(version, ensure_ascii=False)[:40]}")
    if version not in READABLE_VERSIONS:
        newer = version > max(READABLE_VERSIONS)
        written_by = doc.get("featuredsl_version")
        by = f" (written by featuredsl {written_by})" if isinstance(written_by, str) else ""
        if newer:
            raise _fail(where, f"artifact format version {version}{by} is newer than this "
                               f"featuredsl ({__version__}) can read: it reads format version "
                               f"{readable}; upgrade featuredsl to load this artifact")
        raise _fail(where, f"unknown artifact format version {version}{by}: this featuredsl "
                           f"{__version__} reads format version {readable}")

    # -- shape: every field present with its type
    signature = doc.pop("signature", None)
    _check_fields(doc, _FIELDS, "the artifact", where)
    _check_fields(doc["spec"], {"source": str, "sha256": str}, "`spec`", where)
    _check_fields(doc["integrity"], {"sha256": str}, "`integrity`", where)
    inputs = _check_schema_list(doc, "inputs", where)
    outputs = _check_schema_list(doc, "outputs", where)
    for name, entry in doc["stats"].items():
        if not isinstance(entry, dict):
            raise _fail(where, f"`stats.{name}` should be an object, got {_type_name(entry)}")
        if "value" not in entry:
            raise _fail(where, f"`stats.{name}` is missing the field `value`")
        _check_fields(entry, {"type": str, "value": object}, f"`stats.{name}`", where)
    for i, entry in enumerate(doc["fit_warnings"]):
        if not isinstance(entry, dict):
            raise _fail(where, f"`fit_warnings[{i}]` should be an object, "
                               f"got {_type_name(entry)}")
        _check_fields(entry, {"kind": str, "subject": str, "message": str},
                      f"`fit_warnings[{i}]`", where)

    # -- integrity: nothing changed since it was written
    try:
        digest = integrity_digest(doc)
    except UnicodeEncodeError:
        raise _fail(where, "the artifact holds text that is not valid Unicode (a lone "
                           "surrogate escape): it was not written by featuredsl") from None
    if digest != doc["integrity"]["sha256"]:
        raise _fail(where, "integrity check failed: the content does not match "
                           "`integrity.sha256`, so the file was edited or corrupted after it "
                           "was saved (a number or text changed). Refit and save again rather "
                           "than editing an artifact")

    # -- the keyed signature, when the caller holds the key
    if signature is not None and (not isinstance(signature, dict)
                                  or set(signature) != {"hmac_sha256"}
                                  or not isinstance(signature["hmac_sha256"], str)):
        raise _fail(where, "`signature` should be an object with one field `hmac_sha256`")
    if verify_key is not None:
        if signature is None:
            raise _fail(where, "the artifact is not signed, but a verify_key was given: "
                               "it was saved without sign_key (or the signature was removed)")
        expected = signature_digest(doc, verify_key)
        if not hmac.compare_digest(expected, signature["hmac_sha256"]):
            raise _fail(where, "signature check failed: the artifact was not signed with this "
                               "key, or it was changed after it was signed")

    # -- the spec: its hash, then recompile it with this featuredsl
    source = doc["spec"]["source"]
    if _sha256_text(source) != doc["spec"]["sha256"]:
        raise _fail(where, "the spec source does not match `spec.sha256`: the source was "
                           "changed after the artifact was fitted")
    try:
        program, diagnostics = check_source(source, where)
    except SpecError as exc:
        first = exc.errors[0] if exc.errors else exc.diagnostics[0]
        n = len(exc.errors)
        more = f" (and {n - 1} more error{'s' if n > 2 else ''})" if n > 1 else ""
        hint = f" ({first.hint})" if first.hint else ""
        raise _fail(where, f"the spec source in the artifact no longer compiles with "
                           f"featuredsl {__version__}: line {first.line}, column "
                           f"{first.column}: error[{first.code}]: {first.message}{hint}{more}"
                    ) from exc
    except Exception as exc:
        raise _fail(where, f"the spec source in the artifact cannot be compiled with "
                           f"featuredsl {__version__}: {exc}") from exc

    # -- schemas: the recompiled spec must have the same inputs and outputs
    _compare_schema("inputs", inputs, [(n, str(t)) for n, t in program.inputs.items()], where)
    _compare_schema("outputs", outputs,
                    [(f.name, str(f.expr.type)) for f in program.features], where)

    # -- statistics: exactly the declared ones, each of its declared type
    stored = doc["stats"]
    declared = program.stats
    missing = [n for n in declared if n not in stored]
    if missing:
        raise _fail(where, f"statistic `{missing[0]}` is declared by the spec but missing "
                           f"from `stats`" + _others(missing))
    extra = sorted(n for n in stored if n not in declared)
    if extra:
        raise _fail(where, f"`stats` holds `{extra[0]}`, which the spec does not declare"
                    + _others(extra))
    stats: dict[str, object] = {}
    for name, stat in declared.items():
        t = stat.expr.type
        entry = stored[name]
        if entry["type"] != str(t):
            raise _fail(where, f"statistic `{name}` is stored with type {entry['type']} but the "
                               f"spec declares {t}")
        grouped = bool(stat.expr.by)
        value, err = (_check_table(entry["value"], stat, stored=True) if grouped
                      else _check_value(entry["value"], t, stored=True))
        if err is not None:
            raise _fail(where, f"statistic `{name}` ({t}) {err}")
        problem = None if grouped else statistic_problem(stat, value)
        if problem is not None:
            raise _fail(where, f"statistic `{name}` (`{stat.source}`) {problem}: the artifact "
                               "breaks the rules of the statistic it claims to hold")
        stats[name] = value

    try:
        profile = _from_json(doc["profile"])
    except ValueError as exc:
        raise _fail(where, f"`profile`: {exc}") from None
    bad_profile = profile_problem(profile, program)
    if bad_profile is not None:
        raise _fail(where, f"`{bad_profile[0]}` {bad_profile[1]}")
    warnings = [FitWarning(w["kind"], w["subject"], w["message"]) for w in doc["fit_warnings"]]
    # profile_problem accepted it: a JSON object (its _from_json copy is a dict)
    return Contents(source, where, program, diagnostics,
                    FitResult(stats, cast("dict[str, object]", profile), warnings))


def _others(names: list[str]) -> str:
    return f" (also {', '.join(f'`{n}`' for n in names[1:])})" if len(names) > 1 else ""


def _compare_schema(field: str, stored: list[tuple[str, str]],
                    compiled: list[tuple[str, str]], where: str) -> None:
    if stored == compiled:
        return
    kind = "input" if field == "inputs" else "output"
    s_names = [n for n, _ in stored]
    c_names = [n for n, _ in compiled]
    for name, t in compiled:
        if name not in s_names:
            raise _fail(where, f"`{field}` does not match the recompiled spec: the spec has "
                               f"the {kind} `{name}` ({t}) but the artifact does not")
    for name, t in stored:
        if name not in c_names:
            raise _fail(where, f"`{field}` does not match the recompiled spec: the artifact "
                               f"has the {kind} `{name}` ({t}) but the spec does not")
    s_types = dict(stored)
    for name, t in compiled:
        if s_types[name] != t:
            raise _fail(where, f"`{field}` does not match the recompiled spec: {kind} "
                               f"`{name}` is {s_types[name]} in the artifact but {t} in the "
                               "spec")
    if len(stored) != len(set(s_names)):
        dup = next(n for n in s_names if s_names.count(n) > 1)
        raise _fail(where, f"`{field}` lists `{dup}` more than once")
    raise _fail(where, f"`{field}` does not match the recompiled spec: the order differs "
                       f"(artifact: {', '.join(s_names)}; spec: {', '.join(c_names)})")
