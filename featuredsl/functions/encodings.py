"""Encodings: ``hash``, ``hash_bucket``, ``cross``, ``one_hot``, ``multi_hot``.

One hash everywhere: XXH64 with seed 0 of a documented byte encoding of the value (see
``_hash.py``: UTF-8 for strings, 8 little-endian bytes for ints, the IEEE bits for floats with
-0.0 as 0.0, one byte for bools, dates/timestamps/durations as their day/microsecond count).
``hash(x)`` is the 64-bit result read as a signed int64; ``hash_bucket(x, n)`` is the
*unsigned* 64-bit result modulo ``n``, so it is in ``[0, n)`` and as uniform as XXH64 itself.
The row backend calls the ``xxhash`` C library; the batch backend a vectorized numpy
transcription of XXH64 over whole Arrow columns, once per batch (``map_batches``, element-wise:
the value of a row never depends on how the frame is chunked or streamed).

``cross(a, b, ..., n)``: a hashed feature cross. Each component is hashed as above, the 8-byte
little-endian hashes are concatenated in argument order and hashed again, and the result is
taken modulo ``n``: fixed-width parts, so no separator can collide (``("a|b", "c")`` and
``("a", "b|c")`` differ), and the order matters (``cross(a, b, n) != cross(b, a, n)`` in
general). Any null component makes the cross null. ``n`` is the last argument, positional
only, an int literal > 0; 2 to 6 components of any types.

``one_hot(x, values, oov=0)``: a ``list[int]`` of ``len(values) + oov`` zeros and ones: slot
``i`` is 1 when ``x`` equals ``values[i]`` (its first occurrence, as ``index_of``; -0.0 equals
0.0). A value not in ``values`` gives all zeros when ``oov`` is 0; with ``oov=1`` one extra
last slot says "out of vocabulary"; with ``oov=k > 1`` the value's ``hash_bucket(x, k)`` picks
one of ``k`` extra slots (hashed OOV buckets). A null ``x`` gives null. ``values`` is a
constant list or a fitted ``vocab``. ``multi_hot(xs, values, oov=0)`` is the same over the
elements of a list, combined: 1 in every slot some element falls in (0/1, not counts); null
elements are skipped, an empty list gives all zeros, a null list null. Both build the list
column in one numpy pass per batch (slot lookup by ``replace_strict``, then a scatter); the row
backend binds the value -> slot dict once.

``hash``/``hash_bucket`` also take lists (a list hashes as ``cross`` combines: the elements'
8-byte hashes concatenated, a null element as 0), so every component type of ``cross`` is
hashable.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, cast

import polars as pl

from featuredsl.functions import _hash
from featuredsl.functions.lookups import index_map  # value -> slot, as index_of
from featuredsl.functions.registry import Example, Overload, register
from featuredsl.types import (
    BOOL,
    DATE,
    DURATION,
    FLOAT,
    INT,
    STRING,
    TIMESTAMP,
    Type,
    list_of,
)

if TYPE_CHECKING:
    import numpy as np

ANY = Type("any")
_HASHABLE = (STRING, INT, FLOAT, BOOL, DATE, TIMESTAMP, DURATION, list_of(ANY))

#: Row helper per kind: the unsigned hash of a non-null value.
_ROW_U = {"string": _hash.u_str, "int": _hash.u_int, "float": _hash.u_float,
          "bool": _hash.u_bool, "date": _hash.u_date, "timestamp": _hash.u_timestamp,
          "list": _hash.u_list}


def _row_u(g, kind: str, x: str) -> str:
    """Row code for the unsigned hash of ``x`` (a non-null value of ``kind``)."""
    if kind == "string":  # inline: one C call after the encode
        return f"{g.ref(_hash.xxh64, 'xxh64')}({x}.encode())"
    if kind in ("int", "duration"):  # the row backend holds a duration as int microseconds
        return f"{g.ref(_hash.xxh64, 'xxh64')}({g.ref(_hash.pack_i64, 'pack_i64')}({x}))"
    return f"{g.ref(_ROW_U[kind], 'hash_' + kind)}({x})"


def _np():
    """numpy and the numpy XXH64, imported when a batch first runs: `import featuredsl`
    stays free of numpy (cold start)."""
    import numpy

    from featuredsl.functions import _hash_np

    return numpy, _hash_np


def _signed(u: np.ndarray) -> pl.Series:
    np, _ = _np()
    return pl.Series(u.view(np.int64), dtype=pl.Int64)


def _hash_kernel(s: pl.Series) -> pl.Series:
    _, hnp = _np()
    return hnp.with_nulls(_signed(hnp.hash_series(s)), s)


def _hash_polars(x: pl.Expr) -> pl.Expr:
    return x.map_batches(_hash_kernel, return_dtype=pl.Int64, is_elementwise=True)


def _hash_bool_polars(x: pl.Expr) -> pl.Expr:
    # two possible values: a when/then, no kernel (the backend adds the null check)
    return pl.when(x).then(pl.lit(_hash.to_signed(_hash.U_TRUE), pl.Int64)).otherwise(
        pl.lit(_hash.to_signed(_hash.U_FALSE), pl.Int64))


def _hash_overload(t: Type) -> Overload:
    if t.kind == "bool":
        return Overload("hash_bool", (BOOL,), INT, _hash_bool_polars,
                        lambda g, x: f"{g.lit(_hash.to_signed(_hash.U_TRUE))} if {x} else "
                                     f"{g.lit(_hash.to_signed(_hash.U_FALSE))}",
                        polars_nulls=False)
    return Overload(f"hash_{t.kind}", (t,), INT, _hash_polars,
                    lambda g, x, k=t.kind: f"{g.ref(_hash.to_signed, 'signed')}"
                                           f"({_row_u(g, k, x)})")


register(
    "hash",
    "A stable 64-bit hash: XXH64 (seed 0) of the value's bytes, read as a signed int64. "
    "Bytes: UTF-8 for a string; 8 little-endian bytes for an int; the IEEE-754 bits for a "
    "float (-0.0 as 0.0); one byte 0/1 for a bool; a date, timestamp or duration as the int "
    "of its days / microseconds since 1970-01-01 (so `hash(d)` equals `hash(days)`); a list "
    "as its elements' 8-byte hashes concatenated (a null element as 0). The same "
    "on every platform, process and version; never Python's salted `hash()`.",
    ("x",),
    [_hash_overload(t) for t in _HASHABLE],
    [Example('hash("abc")', {}, 4952883123889572249),  # XXH64("abc") = 0x44bc2cf5ad770999
     Example("hash(s)", {"s": ""}, -1205034819632174695),  # 0xef46db3751d8e999
     Example("hash(s)", {"s": "merchant_1"}, 8404875074128738345),
     Example("hash(s)", {"s": "é"}, 1717938401253289848),
     Example("hash(s)", {"s": None}, None, {"s": "string?"}),
     Example("hash(i)", {"i": 0}, 3803688792395291579),
     Example("hash(i)", {"i": -1}, -8804195676797548855),
     Example("hash(f)", {"f": -0.0}, 3803688792395291579),
     Example("hash(f)", {"f": 1.5}, 5329932555030153977),
     Example("hash(b)", {"b": True}, -8484456787529832656),  # XXH64(b"\x01")
     Example("hash(b)", {"b": None}, None, {"b": "bool?"}),
     Example("hash(d)", {"d": "2024-01-07"}, 3796049650715168276, {"d": "date"}),
     Example("hash(t)", {"t": "1969-12-31T23:59:59.999999Z"}, -8804195676797548855,
             {"t": "timestamp"}),
     Example("hash(u)", {"u": timedelta(days=1)}, -9026871161606549111, {"u": "duration"}),
     Example("hash(xs)", {"xs": ["x", None]}, 9203404312182833404, {"xs": "list[string?]"}),
     Example("hash(xs)", {"xs": []}, -1205034819632174695, {"xs": "list[int]"}),
     Example("hash(xs)", {"xs": None}, None, {"xs": "list[int]?"})],
    category="encoding",
    null_doc="null if x is null",
)


# ---------------------------------------------------------------------------- hash_bucket


def _check_n(consts: Sequence[object]) -> str | None:
    n = consts[-1]
    if isinstance(n, int) and not isinstance(n, bool) and n <= 0:
        return f"the number of buckets must be > 0, not {n}"
    return None


def _bucket_polars(x: pl.Expr, n: int) -> pl.Expr:
    def kernel(s: pl.Series) -> pl.Series:
        np, hnp = _np()
        u = hnp.hash_series(s) % np.uint64(n)
        return hnp.with_nulls(pl.Series(u.astype(np.int64), dtype=pl.Int64), s)

    return x.map_batches(kernel, return_dtype=pl.Int64, is_elementwise=True)


def _bucket_bool_polars(x: pl.Expr, n: int) -> pl.Expr:
    return pl.when(x).then(pl.lit(_hash.U_TRUE % n, pl.Int64)).otherwise(
        pl.lit(_hash.U_FALSE % n, pl.Int64))


def _bucket_overload(t: Type) -> Overload:
    if t.kind == "bool":
        return Overload("hash_bucket_bool", (BOOL, INT), INT, _bucket_bool_polars,
                        lambda g, x, n: f"{g.lit(_hash.U_TRUE % n)} if {x} else "
                                        f"{g.lit(_hash.U_FALSE % n)}",
                        const=frozenset({1}), check_const=_check_n, polars_nulls=False)
    return Overload(f"hash_bucket_{t.kind}", (t, INT), INT, _bucket_polars,
                    lambda g, x, n, k=t.kind: f"{_row_u(g, k, x)} % {g.lit(n)}",
                    const=frozenset({1}), check_const=_check_n)


register(
    "hash_bucket",
    "`hash(x)` reduced to a bucket in [0, n): the unsigned 64-bit XXH64 value modulo `n` "
    "(uniform for any n; n is a constant int > 0).",
    ("x", "n"),
    [_bucket_overload(t) for t in _HASHABLE],
    [Example('hash_bucket(s, 1000)', {"s": "merchant_1"}, 345),
     Example("hash_bucket(s, 1)", {"s": "x"}, 0),
     Example("hash_bucket(s, 1000)", {"s": None}, None, {"s": "string?"}),
     Example("hash_bucket(i, 10)", {"i": 0}, 3803688792395291579 % 10),
     Example("hash_bucket(f, 7)", {"f": -0.0}, 3803688792395291579 % 7),
     Example("hash_bucket(b, 10)", {"b": True}, 9962287286179718960 % 10),
     Example("hash_bucket(d, 100)", {"d": "2024-01-07"}, 3796049650715168276 % 100,
             {"d": "date"}),
     Example("hash_bucket(t, 100)", {"t": "1969-12-31T23:59:59.999999Z"},
             (2**64 - 8804195676797548855) % 100, {"t": "timestamp"}),
     Example("hash_bucket(u, 100)", {"u": timedelta(days=1)},
             (2**64 - 9026871161606549111) % 100, {"u": "duration"}),
     Example("hash_bucket(xs, 100)", {"xs": []}, 0xEF46DB3751D8E999 % 100,
             {"xs": "list[int]"})],
    category="encoding",
    null_doc="null if x is null",
    const_samples={"n": ("1", "2", "10", "1000", "9223372036854775807")},
)


# ---------------------------------------------------------------------------- cross

_CROSS_MAX = 6


def _cross_polars(*args: object) -> pl.Expr:
    *parts, n = args

    def kernel(series: Sequence[pl.Series]) -> pl.Series:
        np, hnp = _np()
        # a literal component arrives as one value next to a column of any height, 0 included
        size = next((len(s) for s in series if len(s) != 1), 1)
        hashes = []
        for s in series:
            h = hnp.hash_series(s)
            hashes.append(np.broadcast_to(h, (size,)) if len(h) == 1 else h)
        u = hnp.combine(hashes) % np.uint64(n)
        out = pl.Series(u.astype(np.int64), dtype=pl.Int64)
        full = [s if len(s) == size else s.new_from_index(0, size) for s in series]
        return hnp.with_nulls(out, *full)

    exprs = cast("list[pl.Expr]", parts)  # the components (only n is a constant)
    return pl.map_batches(exprs, kernel, return_dtype=pl.Int64, is_elementwise=True)


def _cross_row(g, *args: object) -> str:
    *parts, n = args
    # xxh64(pack("<kQ", u(a), u(b), ...)) % n, inline: the same bytes as _hash.combine_row
    pack = g.ref(struct.Struct(f"<{len(parts)}Q").pack, f"pack{len(parts)}q")
    u = g.ref(_hash.u_any, "hash_any")
    inner = ", ".join(f"{u}({p})" for p in parts)
    return f"{g.ref(_hash.xxh64, 'xxh64')}({pack}({inner})) % {g.lit(n)}"


def _check_cross(consts: Sequence[object]) -> str | None:
    if len(consts) > _CROSS_MAX + 1:
        return f"cross takes at most {_CROSS_MAX} components and the number of buckets"
    return _check_n(consts)


register(
    "cross",
    "A hashed feature cross: `cross(a, b, ..., n)` is in [0, n). Each component (2 to 6, "
    "any types) is hashed as by `hash`, the 8-byte little-endian hashes are concatenated in "
    "order and hashed again with XXH64, and the unsigned result is taken modulo n (the last "
    "argument: a constant int > 0, positional). Order matters; any null component gives null.",
    ("a", "b"),
    [Overload(f"cross_{k}", (ANY,) * k + (INT,), INT, _cross_polars, _cross_row,
              const=frozenset({k}), check_const=_check_cross, variadic=k == _CROSS_MAX)
     for k in range(2, _CROSS_MAX + 1)],
    [Example('cross(c, n, 100)', {"c": "US", "n": 3}, 61),
     Example("cross(c, n, 100)", {"c": None, "n": 3}, None, {"c": "string?"}),
     Example("cross(a, b, c, 1)", {"a": "x", "b": 1.5, "c": True}, 0),
     Example("cross(a, b, c, d, 1000)", {"a": "x", "b": 2, "c": False, "d": "2024-01-07"},
             716, {"d": "date"}),
     Example("cross(a, b, c, d, e, 1000)", {"a": "x", "b": 2, "c": False, "d": "y", "e": 0.0},
             187),
     Example("cross(a, b, c, d, e, f, 1000)", {"a": "x", "b": 2, "c": False, "d": "y",
                                              "e": 0.0, "f": "z"}, 663)],
    category="encoding",
    null_doc="null if any component is null",
)


# ---------------------------------------------------------------------------- one_hot, multi_hot
# The slot of a value: its first position in `values` (as index_of); else, with `oov` extra
# slots, the last slot (oov=1) or `k + hash_bucket(value, oov)` (oov > 1); else none.

_VOCAB_KINDS = (STRING, INT, FLOAT, BOOL)


def _check_oov(consts: Sequence[object]) -> str | None:
    oov = consts[2]
    if isinstance(oov, int) and not isinstance(oov, bool) and not 0 <= oov <= 1_000_000:
        return f"oov must be between 0 and 1000000 (extra out-of-vocabulary slots), not {oov}"
    return None


def _slots_of(flat: pl.Series, values: tuple, oov: int) -> np.ndarray:
    """The slot of every (non-null) value of a flat Series; -1 for no slot or null."""
    np, hnp = _np()
    index = index_map(values)
    if index:
        keys = pl.Series(list(index), dtype=flat.dtype)
        idx = flat.replace_strict(keys, pl.Series(list(index.values()), dtype=pl.Int64),
                                  default=-1, return_dtype=pl.Int64)
    else:
        idx = pl.Series(np.full(len(flat), -1, dtype=np.int64))
    slots = idx.fill_null(-1).to_numpy().copy()
    if oov:
        k = len(values)
        missing = (slots < 0) & flat.is_not_null().to_numpy()
        if oov == 1:
            slots[missing] = k
        elif missing.any():
            buckets = (hnp.hash_series(flat) % np.uint64(oov)).astype(np.int64)
            slots[missing] = k + buckets[missing]
    return slots


def _hot_lists(rows: np.ndarray, slots: np.ndarray, n: int, size: int,
               valid: np.ndarray | None) -> pl.Series:
    """An n-row List(Int64) Series of `size` zeros with a 1 at (rows[i], slots[i]) where
    slots[i] >= 0; null where ``valid`` is False."""
    import pyarrow as pa

    np, _ = _np()
    flat = np.zeros(n * size, dtype=np.int64)
    hit = slots >= 0
    flat[rows[hit] * size + slots[hit]] = 1
    offsets = pa.array(np.arange(0, n * size + 1, size, dtype=np.int64) if size else
                       np.zeros(n + 1, dtype=np.int64))
    mask = None if valid is None else pa.array(~valid)
    arr = pa.LargeListArray.from_arrays(offsets, pa.array(flat), mask=mask)
    return pl.Series(pl.from_arrow(arr)).cast(pl.List(pl.Int64))


def _one_hot_polars(x: pl.Expr, values: tuple, oov: int) -> pl.Expr:
    size = len(values) + oov

    def kernel(s: pl.Series) -> pl.Series:
        np, _ = _np()
        slots = _slots_of(s, values, oov)
        valid = s.is_not_null().to_numpy() if s.null_count() else None
        return _hot_lists(np.arange(len(s)), slots, len(s), size, valid)

    return x.map_batches(kernel, return_dtype=pl.List(pl.Int64), is_elementwise=True)


def _one_hot_value(x: object, index: dict, k: int, oov: int, u) -> list[int]:
    out = [0] * (k + oov)
    i = index.get(x)
    if i is not None:
        out[i] = 1
    elif oov:
        out[k if oov == 1 else k + u(x) % oov] = 1
    return out


def _one_hot_overload(t: Type) -> Overload:
    def row(g, x: str, values: tuple, oov: int) -> str:
        return (f"{g.ref(_one_hot_value, 'one_hot')}({x}, {g.ref(index_map(values), 'slots')},"
                f" {len(values)}, {oov}, {g.ref(_ROW_U[t.kind], 'hash_' + t.kind)})")

    return Overload(f"one_hot_{t.kind}", (t, list_of(t), INT), list_of(INT), _one_hot_polars,
                    row, const=frozenset({1, 2}), check_const=_check_oov, fresh_list=True)


register(
    "one_hot",
    "A list[int] of `len(values) + oov` zeros with a 1 in the slot of x: its first position "
    "in `values` (a constant list or a fitted `vocab`; -0.0 equals 0.0). A value not in "
    "`values` gives all zeros when `oov` is 0 (the default), a 1 in the one extra last slot "
    "when `oov=1`, and with `oov=k > 1` a 1 in extra slot `hash_bucket(x, k)` (hashed "
    "out-of-vocabulary buckets).",
    ("x", "values", "oov"),
    [_one_hot_overload(t) for t in _VOCAB_KINDS],
    [Example('one_hot(c, ["a", "b", "c"])', {"c": "b"}, [0, 1, 0]),
     Example('one_hot(c, ["a", "b"])', {"c": "z"}, [0, 0]),
     Example('one_hot(c, ["a", "b"], oov=1)', {"c": "z"}, [0, 0, 1]),
     Example('one_hot(c, ["a", "b"], oov=4)', {"c": "merchant_1"},
             [0, 0] + [int(i == 8404875074128738345 % 4) for i in range(4)]),
     Example('one_hot(c, ["a", "b"], oov=4)', {"c": "a"}, [1, 0, 0, 0, 0, 0]),
     Example('one_hot(c, ["a", "b"])', {"c": None}, None, {"c": "string?"}),
     Example("one_hot(i, [3, 1, 3])", {"i": 3}, [1, 0, 0]),
     Example("one_hot(f, [0.0, 2.5])", {"f": -0.0}, [1, 0]),
     Example("one_hot(b, [true, false], oov=1)", {"b": False}, [0, 1, 0])],
    category="encoding",
    null_doc="null if x is null",
    defaults={"oov": 0},
    const_samples={"oov": ("0", "1", "3")},
)


def _multi_hot_polars(xs: pl.Expr, values: tuple, oov: int) -> pl.Expr:
    size = len(values) + oov

    def kernel(s: pl.Series) -> pl.Series:
        np, hnp = _np()
        offs, elems = hnp.list_parts(s)
        flat = elems[int(offs[0]): int(offs[-1])]
        lengths = np.diff(offs)
        rows = np.repeat(np.arange(len(s)), lengths)
        slots = _slots_of(flat, values, oov)
        valid = s.is_not_null().to_numpy() if s.null_count() else None
        if valid is not None:  # a null list's slots (if any) never count
            slots[~valid[rows]] = -1
        return _hot_lists(rows, slots, len(s), size, valid)

    return xs.map_batches(kernel, return_dtype=pl.List(pl.Int64), is_elementwise=True)


def _multi_hot_value(xs: list, index: dict, k: int, oov: int, u) -> list[int]:
    out = [0] * (k + oov)
    for x in xs:
        if x is None:
            continue
        i = index.get(x)
        if i is None:
            if not oov:
                continue
            i = k if oov == 1 else k + u(x) % oov
        out[i] = 1
    return out


def _multi_hot_overload(t: Type) -> Overload:
    def row(g, xs: str, values: tuple, oov: int) -> str:
        return (f"{g.ref(_multi_hot_value, 'multi_hot')}({xs}, "
                f"{g.ref(index_map(values), 'slots')}, {len(values)}, {oov}, "
                f"{g.ref(_ROW_U[t.kind], 'hash_' + t.kind)})")

    return Overload(f"multi_hot_{t.kind}", (list_of(t), list_of(t), INT), list_of(INT),
                    _multi_hot_polars, row, const=frozenset({1, 2}), check_const=_check_oov,
                    fresh_list=True)


register(
    "multi_hot",
    "`one_hot` of every element of a list, combined: a list[int] of `len(values) + oov` "
    "slots, 1 where some element falls (0/1, not counts). Null elements are skipped; an empty "
    "list gives all zeros; a null list gives null. `oov` as in `one_hot`.",
    ("xs", "values", "oov"),
    [_multi_hot_overload(t) for t in _VOCAB_KINDS],
    [Example('multi_hot(tags, ["a", "b", "c"])', {"tags": ["c", "a", "c"]}, [1, 0, 1],
             {"tags": "list[string]"}),
     Example('multi_hot(tags, ["a", "b"])', {"tags": []}, [0, 0], {"tags": "list[string]"}),
     Example('multi_hot(tags, ["a", "b"], oov=1)', {"tags": ["z", None, "b"]}, [0, 1, 1],
             {"tags": "list[string?]"}),
     Example('multi_hot(tags, ["a"], oov=2)', {"tags": ["merchant_1"]},
             [0] + [int(i == 8404875074128738345 % 2) for i in range(2)],
             {"tags": "list[string]"}),
     Example('multi_hot(tags, ["a"])', {"tags": None}, None, {"tags": "list[string]?"}),
     Example("multi_hot(xs, [1, 2])", {"xs": [2, 2]}, [0, 1], {"xs": "list[int]"}),
     Example("multi_hot(xs, [0.0, 1.5])", {"xs": [-0.0]}, [1, 0], {"xs": "list[float]"}),
     Example("multi_hot(xs, [true])", {"xs": [False, True]}, [1], {"xs": "list[bool]"})],
    category="encoding",
    null_doc="null if the list is null (null elements are skipped)",
    defaults={"oov": 0},
    const_samples={"oov": ("0", "1", "3")},
)
