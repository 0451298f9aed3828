"""The batch side of ``_hash.py``: XXH64 (seed 0) vectorized in numpy over whole columns.

A transcription of the reference algorithm (xxHash's ``XXH64``) on uint64 arrays: the 32-byte
stripes for the rows that have them, then the tail (8-byte words, a 4-byte word, single bytes)
with per-row masks, then the avalanche. Bytes are read as unaligned little-endian words
straight out of the Arrow data buffer. Checked against the official vectors and against the
``xxhash`` C library in tests/test_hash.py. Imported lazily, by the batch kernels only.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from featuredsl.functions._hash import P1, P2, P3, P4, P5, U_FALSE, U_TRUE

_MASK = (1 << 64) - 1
_U1, _U2, _U3, _U4, _U5 = (np.uint64(p) for p in (P1, P2, P3, P4, P5))


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    acc = acc + lane * _U2
    return _rotl(acc, 31) * _U1


# In-place forms for the hot loops over whole columns: numpy allocates nothing, and a step
# that applies to every row skips the masked copy.


def _rotl_(x: np.ndarray, r: int, tmp: np.ndarray) -> None:
    np.right_shift(x, np.uint64(64 - r), out=tmp)
    np.left_shift(x, np.uint64(r), out=x)
    x |= tmp


def _lane_(k: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """``round(0, k)`` in place."""
    k *= _U2
    _rotl_(k, 31, tmp)
    k *= _U1
    return k


def _mix_(h: np.ndarray, k: np.ndarray, r: int, mul: np.uint64, add: np.uint64 | None,
          mask: np.ndarray | None, tmp: np.ndarray) -> np.ndarray:
    """``rotl(h ^ k, r) * mul + add`` where ``mask`` (everywhere if None); reuses ``k``."""
    k ^= h
    _rotl_(k, r, tmp)
    k *= mul
    if add is not None:
        k += add
    if mask is None:
        return k
    np.copyto(h, k, where=mask)
    return h


def _avalanche(h: np.ndarray) -> np.ndarray:
    tmp = np.empty_like(h)
    for shift, mul in ((33, _U2), (29, _U3), (32, None)):
        np.right_shift(h, np.uint64(shift), out=tmp)
        h ^= tmp
        if mul is not None:
            h *= mul
    return h


def _all_or_mask(mask: np.ndarray) -> np.ndarray | None:
    return None if mask.all() else mask


def xxh64_u64(x: np.ndarray) -> np.ndarray:
    """XXH64 (seed 0) of each 8-byte little-endian word of a uint64 array."""
    with np.errstate(over="ignore"):
        tmp = np.empty(x.shape, dtype=np.uint64)
        k = _lane_(x.astype(np.uint64, copy=True), tmp)
        h = np.full(x.shape, np.uint64((P5 + 8) & _MASK), dtype=np.uint64)
        return _avalanche(_mix_(h, k, 27, _U1, _U4, None, tmp))


def _view(buf: np.ndarray, dtype: str) -> np.ndarray:
    """Every unaligned little-endian word of ``buf``: ``view[i]`` starts at byte ``i``."""
    size = np.dtype(dtype).itemsize
    return np.ndarray((len(buf) - size + 1,), dtype=dtype, buffer=buf, strides=(1,))


def xxh64_strings(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """XXH64 (seed 0) of ``data[starts[i] : starts[i] + lengths[i]]`` for every i.

    ``data`` is uint8 and must have at least 32 bytes of padding after the last string (the
    tail steps read whole 8-byte words). Rows are grouped by length (a stable radix argsort
    of 16-bit lengths): within a group every row takes the same steps, so each step is one
    unmasked numpy operation over the group, with no per-row masks and no work for rows that
    do not have that step (~2x faster than masking over the whole column).
    """
    n = len(starts)
    starts = starts.astype(np.int64, copy=False)
    lengths = lengths.astype(np.int64, copy=False)
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    w64 = _view(data, "<u8")
    lo, hi = int(lengths.min()), int(lengths.max())
    with np.errstate(over="ignore"):
        if lo == hi:  # fixed width (tuples of hashes, lists of one size): one group
            return _xxh64_fixed(w64, starts, lo)
        # numpy's stable sort of <= 16-bit ints is a radix sort: ~10x cheaper than quicksort
        key = lengths - lo
        key = key.astype(np.uint16) if hi - lo < (1 << 16) else key
        order = np.argsort(key, kind="stable")
        sorted_len = lengths[order]
        cuts = np.flatnonzero(sorted_len[1:] != sorted_len[:-1]) + 1
        edges = [0, *cuts.tolist(), n]
        for a, b in itertools.pairwise(edges):
            rows = order[a:b]
            out[rows] = _xxh64_fixed(w64, starts[rows], int(sorted_len[a]))
    return out


def _xxh64_fixed(w64: np.ndarray, p: np.ndarray, length: int) -> np.ndarray:
    """XXH64 of ``length`` bytes at each offset of ``p`` (one step per numpy operation)."""
    m = len(p)
    tmp = np.empty(m, dtype=np.uint64)
    if length >= 32:
        v1 = np.full(m, np.uint64((P1 + P2) & _MASK), dtype=np.uint64)
        v2 = np.full(m, _U2, dtype=np.uint64)
        v3 = np.zeros(m, dtype=np.uint64)
        v4 = np.full(m, np.uint64((-P1) & _MASK), dtype=np.uint64)
        for s in range(length // 32):
            q = p + 32 * s
            for v, off in ((v1, 0), (v2, 8), (v3, 16), (v4, 24)):
                k = w64[q + off]
                k *= _U2
                v += k
                _rotl_(v, 31, tmp)
                v *= _U1
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        for v in (v1, v2, v3, v4):
            h ^= _lane_(v, tmp)
            h *= _U1
            h += _U4
    else:
        h = np.full(m, _U5, dtype=np.uint64)
    h += np.uint64(length)
    rem = length & 31
    q = p + (length - rem)  # the tail: under 32 bytes
    for j in range(rem >> 3):
        h = _mix_(h, _lane_(w64[q + 8 * j], tmp), 27, _U1, _U4, None, tmp)
    if rem & 7:
        # the last 0..7 bytes from one 8-byte read: a 4-byte word if there is one, then
        # single bytes (bytes read past the end of the row are never used)
        tail = w64[q + 8 * (rem >> 3)]
        shift = 0
        if rem & 4:
            k = tail & np.uint64(0xFFFFFFFF)
            k *= _U1
            h = _mix_(h, k, 23, _U2, _U3, None, tmp)
            shift = 32
        for _ in range(rem & 3):
            k = tail >> np.uint64(shift)
            k &= np.uint64(0xFF)
            k *= _U5
            h = _mix_(h, k, 11, _U1, None, None, tmp)
            shift += 8
    return _avalanche(h)


# ---------------------------------------------------------------------------- Polars batches

_PAD = 32


#: Columns at least this long try hashing their distinct values only (see _string_hashes).
DEDUP_MIN_ROWS = 1 << 16
_SAMPLE = 4096


def _string_hashes(s: pl.Series) -> np.ndarray:
    """XXH64 of every string of a column. A column with few distinct values (merchants,
    countries, categories: the usual hash_bucket input) hashes each distinct value once and
    maps it back, ~2x faster; judged from a sample first, because with many distinct values the
    mapping costs more than it saves. Either way each row gets the hash of its own string."""
    if len(s) >= DEDUP_MIN_ROWS and s.head(_SAMPLE).n_unique() * 8 <= _SAMPLE:
        distinct = s.unique().drop_nulls()
        if len(distinct) * 8 <= len(s):
            if not len(distinct):
                return np.zeros(len(s), dtype=np.uint64)
            hashes = _direct_string_hashes(distinct)
            # each row's index in `distinct` by an Enum cast (~3x cheaper than replace_strict
            # with the hashes as the new values); a null row maps to 0: masked later
            codes = s.cast(pl.Enum(distinct)).to_physical().fill_null(0).to_numpy()
            return hashes[codes]
    return _direct_string_hashes(s)


def _direct_string_hashes(s: pl.Series) -> np.ndarray:
    arr = s.cast(pl.String).rechunk().to_arrow()  # LargeUtf8: int64 offsets + data bytes
    import pyarrow as pa

    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    _, offs_buf, data_buf = arr.buffers()
    offs = np.frombuffer(offs_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1] \
        if offs_buf is not None else np.zeros(len(arr) + 1, dtype=np.int64)
    raw = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else \
        np.zeros(0, dtype=np.uint8)
    data = np.zeros(len(raw) + _PAD, dtype=np.uint8)
    data[: len(raw)] = raw
    return xxh64_strings(data, offs[:-1], np.diff(offs))


def _u64_words(s: pl.Series) -> np.ndarray:
    """The int64 each non-string value is hashed as (see the module docstring), as uint64."""
    dt = s.dtype
    if dt == pl.Float64 or dt == pl.Float32:
        f = s.cast(pl.Float64).fill_null(0.0).to_numpy()
        f = np.where(f == 0.0, 0.0, f)  # -0.0 -> 0.0
        return f.view(np.uint64)
    if dt == pl.Boolean:
        return s.fill_null(False).cast(pl.UInt64).to_numpy()
    if dt == pl.Date:
        phys = s.to_physical().cast(pl.Int64)
    elif isinstance(dt, pl.Datetime):
        phys = s.dt.cast_time_unit("us").to_physical()
    elif isinstance(dt, pl.Duration):
        phys = s.dt.cast_time_unit("us").to_physical()
    else:
        phys = s.cast(pl.Int64)
    return phys.fill_null(0).to_numpy().view(np.uint64)


def hash_series(s: pl.Series) -> np.ndarray:
    """The unsigned XXH64 of every value of a Series, by its dtype (nulls: garbage)."""
    if s.dtype == pl.String:
        return _string_hashes(s)
    if s.dtype == pl.Boolean:
        b = s.fill_null(False).to_numpy()
        return np.where(b, np.uint64(U_TRUE), np.uint64(U_FALSE))
    if s.dtype == pl.Null:
        return np.zeros(len(s), dtype=np.uint64)
    if isinstance(s.dtype, pl.List):
        return _list_hashes(s)
    return xxh64_u64(np.ascontiguousarray(_u64_words(s)))


def list_parts(s: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """A List Series as Arrow lays it out: n + 1 int64 offsets into a flat Series of the
    elements (the offsets follow a slice: they need not start at 0)."""
    import pyarrow as pa

    arr = s.rechunk().to_arrow()
    if not pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.large_list(arr.type.value_type))
    return np.asarray(arr.offsets, dtype=np.int64), pl.Series(pl.from_arrow(arr.values))


def _list_hashes(s: pl.Series) -> np.ndarray:
    offs, values = list_parts(s)
    h = hash_series(values)
    if values.null_count():
        h = np.where(values.is_null().to_numpy(), np.uint64(0), h)
    data = np.zeros(8 * len(h) + _PAD, dtype=np.uint8)
    data[: 8 * len(h)] = h.astype("<u8").view(np.uint8)
    return xxh64_strings(data, offs[:-1] * 8, np.diff(offs) * 8)


def with_nulls(values: pl.Series, *sources: pl.Series) -> pl.Series:
    """``values`` with null wherever any source is null."""
    valid = None
    for s in sources:
        if s.null_count():
            m = s.is_not_null()
            valid = m if valid is None else valid & m
    if valid is None:
        return values
    return values.zip_with(valid, pl.Series([None], dtype=values.dtype).extend_constant(
        None, len(values) - 1))


def combine(hashes: list[np.ndarray]) -> np.ndarray:
    """The hash of a tuple: XXH64 of the concatenated 8-byte little-endian hashes of its
    components (fixed width, so no separator can be ambiguous)."""
    n = len(hashes[0])
    buf = np.stack(hashes, axis=1).astype("<u8", copy=False)
    flat = np.zeros(buf.nbytes + _PAD, dtype=np.uint8)
    flat[: buf.nbytes] = np.ascontiguousarray(buf).view(np.uint8).ravel()
    width = 8 * len(hashes)
    starts = np.arange(n, dtype=np.int64) * width
    return xxh64_strings(flat, starts, np.full(n, width, dtype=np.int64))
