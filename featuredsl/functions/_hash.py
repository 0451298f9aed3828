"""XXH64 (seed 0), the one hash of featuredsl: a C library per row, numpy per batch.

Why XXH64: a published, seed-free-able 64-bit hash with official test vectors
(xxHash's ``cli/xsum_sanity_check.c``), the same value on every platform, process and
version (unlike Python's salted ``hash()`` and Polars' ``Expr.hash``, whose algorithm may
change between releases: SKEW-TRAPS.md, row "hashing"). The row backend calls the C
implementation of the ``xxhash`` package (~0.1 µs for a short string); the batch backend runs
``_hash_np.py``, a vectorized numpy transcription of the same algorithm over a whole Arrow
column at once (offsets + data bytes), once per batch (imported only when a batch runs:
numpy stays out of ``import featuredsl``). Both are
checked against the official vectors and against each other on random inputs
(tests/test_hash.py).

How a value becomes bytes (the "hash input"), one rule per type, no type tag:

* string: its UTF-8 bytes (so ``hash("abc")`` is XXH64(b"abc"), reproducible anywhere);
* int: its 8 bytes, little-endian two's complement;
* float: its IEEE-754 binary64 bits, little-endian, with -0.0 taken as 0.0 (they are equal);
* bool: one byte, 0x00 or 0x01;
* date: as the int of its day count since 1970-01-01;
* timestamp: as the int of its microseconds since 1970-01-01T00:00:00Z;
* duration: as the int of its microseconds;
* list: the 8-byte little-endian hashes of its elements, concatenated (a null element is the
  word 0; nested lists recurse), so ``hash([a, b])`` is ``cross``'s combination of ``a, b``.

The 64-bit result is read as a signed int64 (the same 64 bits, two's complement). Values of
different types may share a hash (``hash(0)`` and the 8-byte string of NULs); a column has one
type, so that never matters.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from typing import Any

import xxhash

P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5

#: The C implementation (row backend): bytes -> the unsigned 64-bit hash.
xxh64 = xxhash.xxh64_intdigest
pack_i64 = struct.Struct("<q").pack
pack_f64 = struct.Struct("<d").pack


def to_signed(h: int) -> int:
    """The unsigned 64-bit hash read as int64 (two's complement)."""
    return h - (1 << 64) if h >= 1 << 63 else h


# ---------------------------------------------------------------------------- row helpers
# Each returns the *unsigned* hash of a non-null value; callers sign it or reduce it mod n.


def u_str(s: str) -> int:
    return xxh64(s.encode())


def u_int(x: int) -> int:
    return xxh64(pack_i64(x))


def u_float(x: float) -> int:
    return xxh64(pack_f64(x + 0.0))  # -0.0 + 0.0 == 0.0: one hash for the two zeros


U_TRUE, U_FALSE = xxh64(b"\x01"), xxh64(b"\x00")


def u_bool(b: bool) -> int:
    return U_TRUE if b else U_FALSE


_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()


def u_date(d) -> int:
    return xxh64(pack_i64(d.toordinal() - _EPOCH_ORDINAL))


def u_timestamp(t) -> int:
    # t is a naive datetime holding the UTC wall clock (row_input); exact integer arithmetic
    days = t.toordinal() - _EPOCH_ORDINAL
    us = ((days * 24 + t.hour) * 60 + t.minute) * 60 + t.second
    return xxh64(pack_i64(us * 1_000_000 + t.microsecond))


def u_list(xs: list | tuple) -> int:
    """A list: XXH64 of its elements' 8-byte little-endian hashes (a null element is 0)."""
    return combine_row(tuple(0 if e is None else u_any(e) for e in xs))


def _u_datetime(t: dt.datetime) -> int:
    if t.tzinfo is not None:  # an aware UTC value the row backend let through
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return u_timestamp(t)


#: Python type of a row-backend value -> its hash (a duration is an int of microseconds there,
#: hashed as that int; a constant list is a tuple).
_U_BY_TYPE: dict[type, Callable[[Any], int]] = {
    str: u_str, bool: u_bool, int: u_int, float: u_float, dt.datetime: _u_datetime,
    dt.date: u_date, list: u_list, tuple: u_list}


def u_any(v: object) -> int:
    """The hash of a row-backend value of any featuredsl type, by its Python type (``cross``
    and list elements)."""
    return _U_BY_TYPE[type(v)](v)


def combine_row(hashes: tuple[int, ...]) -> int:
    """The row backend's :func:`combine`."""
    return xxh64(struct.pack(f"<{len(hashes)}Q", *hashes))
