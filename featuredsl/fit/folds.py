"""Fold assignment for out-of-fold training features (``Spec.fit_transform``).

A row's fold is ``xxh64(key, seed) % folds`` (the ``xxhash`` package, as the library's hash
functions): ``key`` is the row's 0-based index as 8 little-endian bytes, or with ``fold_by``
that input's value (strings as UTF-8, ints as int64, floats as float64 bits with ``-0.0`` as
``0.0``, bools as one byte, a tag byte first so that ``1``, ``1.0``, ``"1"`` and ``true``
differ; null as the tag alone), so rows sharing a value share a fold. Stable across runs,
platforms and chunkings (it depends on the index or the value alone).
"""

from __future__ import annotations

import struct

import xxhash


def _key_bytes(v: object) -> bytes:
    if v is None:
        return b"n"
    if isinstance(v, bool):
        return b"b" + bytes([v])
    if isinstance(v, int):
        return b"i" + struct.pack("<q", v)
    if isinstance(v, float):
        if v != v:
            return b"n"  # NaN is null, as everywhere in fit
        return b"f" + struct.pack("<d", v + 0.0)
    if isinstance(v, str):
        return b"s" + v.encode("utf-8")
    return b"o" + repr(v).encode("utf-8")  # dates and others: their stable repr


def fold_of_index(i: int, folds: int, seed: int) -> int:
    """The fold of row ``i`` (0-based) without ``fold_by``."""
    return xxhash.xxh64_intdigest(struct.pack("<q", i), seed=seed) % folds


def fold_of_value(v: object, folds: int, seed: int) -> int:
    """The fold of every row whose ``fold_by`` value is ``v``."""
    return xxhash.xxh64_intdigest(_key_bytes(v), seed=seed) % folds


def assign(n: int, folds: int, seed: int, values: list[object] | None = None) -> list[int]:
    """The fold of each of ``n`` rows (by index, or by ``values`` when given)."""
    if values is None:
        return [fold_of_index(i, folds, seed) for i in range(n)]
    return [fold_of_value(v, folds, seed) for v in values]
